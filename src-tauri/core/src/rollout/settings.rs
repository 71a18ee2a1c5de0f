//! Which mailbox the rollout runs through, and the language of its mails.
//!
//! The sender must be a mailbox registered here (step 2) and signed in on this computer (step 4):
//! its token is what sends the invitations and reads the receipts. It is also the address every
//! invitation names for receipts, so it is kept (one row) for the reading side.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Actor, ErrorKind, UiError};
use crate::org::sql;
use crate::DetailKey;

/// The language of the mails the organization receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MailLanguage {
    Ja,
    En,
}

impl MailLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ja => "ja",
            Self::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ja" => Some(Self::Ja),
            "en" => Some(Self::En),
            _ => None,
        }
    }
}

/// The rollout's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RolloutSettings {
    /// The administrator's mailbox: sends invitations, receives receipts.
    pub sender: String,
    pub language: MailLanguage,
    /// Receipts read that matched no account (ignored, counted).
    #[ts(type = "number")]
    pub unmatched_receipts: i64,
    pub last_read_at: Option<String>,
}

/// The settings, if the rollout was ever set up here.
pub fn get(conn: &Connection) -> Result<Option<RolloutSettings>, UiError> {
    conn.query_row(
        "SELECT sender, language, unmatched_receipts, last_read_at FROM rollout_settings WHERE id = 1",
        [],
        |r| {
            Ok(RolloutSettings {
                sender: r.get(0)?,
                language: MailLanguage::parse(&r.get::<_, String>(1)?).unwrap_or(MailLanguage::En),
                unmatched_receipts: r.get(2)?,
                last_read_at: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// The settings, or the error that says how to set them.
pub fn required(conn: &Connection) -> Result<RolloutSettings, UiError> {
    get(conn)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::RolloutSenderNotSet,
            Actor::Admin,
            "Choose the mailbox that sends the invitations first: your own mailbox, registered in step 2 and signed in on this computer in step 4.",
        )
    })
}

/// The sender is not registered here, or has no sign-in on this computer.
pub fn not_signed_in(address: &str) -> UiError {
    UiError::new(
        ErrorKind::RolloutSenderNotSignedIn,
        Actor::Admin,
        format!("{address} cannot send the invitations: register it in step 2 and sign in with it on this computer in step 4, or choose another mailbox as the sender."),
    )
    .with(DetailKey::Address, address)
}

/// Sets the sender (a registered mailbox that has a sign-in here) and the mails' language.
pub fn set(conn: &Connection, sender: &str, language: MailLanguage) -> Result<RolloutSettings, UiError> {
    let sender = sender.trim();
    let account = crate::accounts::find_by_address(conn, sender)?.ok_or_else(|| not_signed_in(sender))?;
    if !account.status.has_sign_in() {
        return Err(not_signed_in(&account.address));
    }
    conn.execute(
        "INSERT INTO rollout_settings (id, sender, language) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET sender = excluded.sender, language = excluded.language",
        rusqlite::params![account.address, language.as_str()],
    )
    .map_err(sql)?;
    crate::store::audit(conn, "rollout.sender", &account.address, serde_json::json!({ "language": language.as_str() }))
        .map_err(sql)?;
    required(conn)
}
