//! Each account's rollout status — what step 2 shows next to the account and `exo-setup rollout
//! status` prints — derived from the queue and from what came back (receipts, bounces).

use std::io::Write;

use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::csv_io::formula_safe_cell as cell;
use crate::error::{Actor, ErrorKind, UiError};
use crate::org::sql;
use crate::DetailKey;

use super::outbox::{self, OutboxCounts, OutboxState};
use super::settings;

/// Where an account's rollout is, most advanced first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RolloutState {
    /// Registered; no invitation mailed.
    Registered,
    /// An invitation waits in the queue (or is being sent).
    Queued,
    /// The server refused the invitation for good.
    Failed,
    /// A send was interrupted while the server had it: maybe delivered.
    Unsure,
    /// Mailed; no receipt yet.
    Invited,
    /// Mailed more than the chosen days ago, and no receipt.
    NoNews,
    /// A delivery failure notice came back for the invitation.
    Bounced,
    /// The user's computer verified the mailbox (receipt).
    Verified,
    /// The user signed out on their computer after it was verified (receipt).
    SignedOut,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Queued => "queued",
            Self::Failed => "failed",
            Self::Unsure => "unsure",
            Self::Invited => "invited",
            Self::NoNews => "no_news",
            Self::Bounced => "bounced",
            Self::Verified => "verified",
            Self::SignedOut => "signed_out",
        }
    }
}

/// One account's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RolloutRow {
    #[ts(type = "number")]
    pub account_id: i64,
    pub address: String,
    pub display_name: String,
    pub state: RolloutState,
    pub invited_at: Option<String>,
    pub verified_at: Option<String>,
    /// As the receipt says, e.g. `imap smtp`.
    pub protocols: Option<String>,
    pub signed_out_at: Option<String>,
    pub bounced_at: Option<String>,
    /// The last server reply about this account's mail (a refusal, a deferral, a bounce's status).
    pub reply: Option<String>,
    /// The account was added by a user's receipt (self-service), not by the administrator.
    pub self_registered: bool,
}

/// How many accounts are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RolloutCounts {
    pub total: u32,
    /// Not invited yet (the sender, set up on this computer, is not counted).
    pub registered: u32,
    pub queued: u32,
    pub failed: u32,
    pub unsure: u32,
    pub invited: u32,
    pub no_news: u32,
    pub bounced: u32,
    pub verified: u32,
    pub signed_out: u32,
}

impl RolloutCounts {
    fn add(&mut self, s: RolloutState) {
        self.total += 1;
        let slot = match s {
            RolloutState::Registered => &mut self.registered,
            RolloutState::Queued => &mut self.queued,
            RolloutState::Failed => &mut self.failed,
            RolloutState::Unsure => &mut self.unsure,
            RolloutState::Invited => &mut self.invited,
            RolloutState::NoNews => &mut self.no_news,
            RolloutState::Bounced => &mut self.bounced,
            RolloutState::Verified => &mut self.verified,
            RolloutState::SignedOut => &mut self.signed_out,
        };
        *slot += 1;
    }
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RolloutStatus {
    pub counts: RolloutCounts,
    pub rows: Vec<RolloutRow>,
    pub outbox: OutboxCounts,
    pub sender: Option<String>,
    #[ts(type = "number")]
    pub unmatched_receipts: i64,
    pub last_read_at: Option<String>,
    /// "No news" means invited at least this many days ago without a receipt.
    pub no_news_days: u32,
}

/// Every account's rollout, in step 2's order (address). `no_news_days`: when an invited
/// account without a receipt counts as "no news".
pub fn status(conn: &Connection, no_news_days: u32, now_ms: i64) -> Result<RolloutStatus, UiError> {
    let no_news_before = now_ms - i64::from(no_news_days) * 86_400_000;
    let mut stmt = conn
        .prepare(
            "SELECT a.id, a.address, a.display_name, r.invited_at,
                    -- The sender is set up on this computer: its own check is its receipt.
                    CASE WHEN a.address = st.sender AND a.status = 'verified' THEN COALESCE(r.verified_at, a.status_at)
                         ELSE r.verified_at END,
                    r.protocols, r.signed_out_at,
                    r.bounced_at, r.bounce_status, COALESCE(r.self_registered, 0),
                    o.state, o.reply,
                    (SELECT MAX(sent_ms) FROM outbox s WHERE s.account_id = a.id AND s.state = 'sent')
             FROM mail_accounts a
             LEFT JOIN rollout_settings st ON st.id = 1
             LEFT JOIN rollout r ON r.account_id = a.id
             LEFT JOIN outbox o ON o.id = (SELECT MAX(id) FROM outbox l WHERE l.account_id = a.id)
             ORDER BY a.address",
        )
        .map_err(sql)?;
    let mut counts = RolloutCounts::default();
    let rows = stmt
        .query_map([], |r| {
            let last: Option<String> = r.get(10)?;
            let last = last.as_deref().map(OutboxState::parse);
            let sent_ms: Option<i64> = r.get(12)?;
            let verified_at: Option<String> = r.get(4)?;
            let signed_out_at: Option<String> = r.get(6)?;
            let bounced_at: Option<String> = r.get(7)?;
            let state = if signed_out_at.is_some() && signed_out_at >= verified_at {
                RolloutState::SignedOut
            } else if verified_at.is_some() {
                RolloutState::Verified
            } else if bounced_at.is_some() {
                RolloutState::Bounced
            } else {
                match last {
                    Some(OutboxState::Queued | OutboxState::Sending | OutboxState::Deferred) => RolloutState::Queued,
                    Some(OutboxState::Failed) => RolloutState::Failed,
                    Some(OutboxState::Unsure) => RolloutState::Unsure,
                    _ => match sent_ms {
                        Some(t) if t <= no_news_before => RolloutState::NoNews,
                        Some(_) => RolloutState::Invited,
                        None => RolloutState::Registered,
                    },
                }
            };
            let bounce: Option<String> = r.get(8)?;
            let reply: Option<String> = r.get(11)?;
            Ok(RolloutRow {
                account_id: r.get(0)?,
                address: r.get(1)?,
                display_name: r.get(2)?,
                state,
                invited_at: r.get(3)?,
                verified_at,
                protocols: r.get(5)?,
                signed_out_at,
                bounced_at,
                reply: if state == RolloutState::Bounced { bounce } else { reply },
                self_registered: r.get::<_, i64>(9)? == 1,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    rows.iter().for_each(|r| counts.add(r.state));
    let s = settings::get(conn)?;
    // "Not invited" counts whom "send to those not invited" mails: never the sender itself.
    let sender_waits = |r: &RolloutRow| s.as_ref().is_some_and(|s| s.sender.eq_ignore_ascii_case(&r.address));
    if rows.iter().any(|r| r.state == RolloutState::Registered && sender_waits(r)) {
        counts.registered -= 1;
    }
    Ok(RolloutStatus {
        counts,
        rows,
        outbox: outbox::counts(conn)?,
        sender: s.as_ref().map(|s| s.sender.clone()),
        unmatched_receipts: s.as_ref().map_or(0, |s| s.unmatched_receipts),
        last_read_at: s.and_then(|s| s.last_read_at),
        no_news_days,
    })
}

/// The status as CSV (UTF-8 with BOM, formula-safe cells): one line per account.
pub fn write_csv(rows: &[RolloutRow], out: impl Write) -> Result<(), UiError> {
    let failed = |e: &dyn std::fmt::Display| {
        UiError::new(ErrorKind::ExportWrite, Actor::User, format!("The CSV could not be written: {e}"))
            .with(DetailKey::Reason, e)
    };
    let mut out = out;
    out.write_all("\u{feff}".as_bytes()).map_err(|e| failed(&e))?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "address",
        "display_name",
        "state",
        "invited_at",
        "verified_at",
        "protocols",
        "signed_out_at",
        "bounced_at",
        "reply",
        "self_registered",
    ])
    .map_err(|e| failed(&e))?;
    for r in rows {
        fn o(v: &Option<String>) -> std::borrow::Cow<'_, str> {
            cell(v.as_deref().unwrap_or(""))
        }
        let cells = [
            cell(&r.address),
            cell(&r.display_name),
            r.state.as_str().into(),
            o(&r.invited_at),
            o(&r.verified_at),
            o(&r.protocols),
            o(&r.signed_out_at),
            o(&r.bounced_at),
            o(&r.reply),
            if r.self_registered { "yes" } else { "no" }.into(),
        ];
        w.write_record(cells.iter().map(|c| c.as_bytes())).map_err(|e| failed(&e))?;
    }
    w.flush().map_err(|e| failed(&e))
}
