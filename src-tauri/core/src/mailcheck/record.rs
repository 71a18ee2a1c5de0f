//! What a connection check writes to the store: the account's status and an audit entry, in one
//! transaction. Never a token — times, protocols, servers and error kinds only.

use crate::DetailKey;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use super::{MailCheckReport, MailProtocol};
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{AccountRow, AccountStatus};
use crate::org::sql;
use crate::store::{audit, now, Store};

/// When a mailbox last passed the connection check, and with which protocols.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Verification {
    pub verified_at: String,
    pub protocols: Vec<MailProtocol>,
}

/// Records a check of `address`:
/// - all checked protocols passed → status `verified`, `status_detail` cleared,
///   `verified_at` = the report's `checked_at`, `verified_protocols` = e.g. `imap smtp`;
/// - otherwise → status `error`, `status_detail` = the first failure's kind (the receive
///   protocol's before SMTP's); `verified_at`/`verified_protocols` keep the last success.
///
/// Plus an `account.check` audit entry with every protocol's outcome. Returns the updated row.
pub fn record(store: &Store, address: &str, report: &MailCheckReport) -> Result<AccountRow, UiError> {
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    let ts = now();
    let changed = if report.verified {
        let protocols: Vec<&str> = report.checks.iter().map(|c| c.protocol.as_str()).collect();
        tx.execute(
            "UPDATE mail_accounts SET status = ?1, status_detail = NULL, status_at = ?2, verified_at = ?3,
                    verified_protocols = ?4
             WHERE address = ?5",
            params![AccountStatus::Verified.as_str(), ts, report.checked_at, protocols.join(" "), address.trim()],
        )
    } else {
        let kind = report.first_error().map(|e| e.kind).unwrap_or(ErrorKind::MailProtocolError);
        tx.execute(
            "UPDATE mail_accounts SET status = ?1, status_detail = ?2, status_at = ?3 WHERE address = ?4",
            params![AccountStatus::Error.as_str(), kind.as_str(), ts, address.trim()],
        )
    }
    .map_err(sql)?;
    if changed == 0 {
        return Err(UiError::new(
            ErrorKind::AccountNotRegistered,
            Actor::Admin,
            format!("The mailbox {} is not registered in exo-setup (step 2).", address.trim()),
        )
        .with(DetailKey::Address, address.trim()));
    }
    let checks: Vec<_> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "protocol": c.protocol.as_str(),
                "server": c.server,
                "ok": c.ok,
                "kind": c.error.as_ref().map(|e| e.kind.as_str()),
                "duration_ms": c.duration_ms,
            })
        })
        .collect();
    audit(
        &tx,
        "account.check",
        address.trim(),
        json!({ "verified": report.verified, "checked_at": report.checked_at, "checks": checks }),
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    crate::accounts::find_by_address(&conn, address)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::AccountNotRegistered,
            Actor::Admin,
            format!("The mailbox {address} was removed meanwhile."),
        )
        .with(DetailKey::Address, address)
    })
}

/// The last passed check of `address` (`None`: never verified, or not registered).
pub fn last_verification(conn: &Connection, address: &str) -> Result<Option<Verification>, UiError> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT verified_at, verified_protocols FROM mail_accounts WHERE address = ?1",
            [address.trim()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    Ok(row.and_then(|(at, protocols)| {
        let protocols = protocols
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| match p {
                "imap" => Some(MailProtocol::Imap),
                "pop3" => Some(MailProtocol::Pop3),
                "smtp" => Some(MailProtocol::Smtp),
                _ => None,
            })
            .collect();
        at.map(|verified_at| Verification { verified_at, protocols })
    }))
}
