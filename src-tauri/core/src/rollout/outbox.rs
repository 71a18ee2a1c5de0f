//! The durable send queue: one row per mail to one person, in SQLite.
//!
//! Why durable: 1,000 invitations at Exchange Online's 30 a minute take over half an hour; the
//! administrator may quit, the computer may sleep or crash. The queue is the truth, the sender
//! only works through it, and a second run continues where the first stopped.
//!
//! Never twice: at most one pending mail per account (a partial unique index), an account already
//! invited is skipped unless the administrator asks to resend, and a row caught in `sending` by a
//! crash — the server may or may not have taken the mail — becomes `unsure` and is not sent again
//! by itself (the status says so; resending is the administrator's choice).

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Actor, ErrorKind, UiError};
use crate::org::sql;
use crate::store::{audit, now};
use crate::DetailKey;

use super::settings;

/// What a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MailKind {
    Invitation,
    /// The same invitation again, with a reminder's words, to someone with no news.
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Reminder => "reminder",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "reminder" {
            Self::Reminder
        } else {
            Self::Invitation
        }
    }
}

/// Where a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OutboxState {
    Queued,
    /// Handed to the server right now (or when a crash stopped the sender).
    Sending,
    Sent,
    /// A temporary refusal (4xx) or a lost connection: tried again later.
    Deferred,
    /// A permanent refusal (5xx), or too many temporary ones.
    Failed,
    /// Interrupted while the server had it: maybe delivered, never sent again by itself.
    Unsure,
    Cancelled,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Deferred => "deferred",
            Self::Failed => "failed",
            Self::Unsure => "unsure",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "deferred" => Self::Deferred,
            "failed" => Self::Failed,
            "unsure" => Self::Unsure,
            "cancelled" => Self::Cancelled,
            _ => Self::Queued,
        }
    }
}

/// Whom to queue a mail for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
#[ts(export)]
pub enum Recipients {
    /// These registered mailboxes.
    Addresses(Vec<String>),
    /// These accounts (step 2's selection).
    #[ts(type = "number[]")]
    Accounts(Vec<i64>),
    /// Every registered mailbox.
    All,
    /// Every registered mailbox never invited by mail (nor waiting in the queue).
    NotInvited,
}

/// What queuing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Queued {
    /// New mails in the queue.
    pub added: u32,
    /// Skipped: a mail for them is already waiting.
    pub already_pending: u32,
    /// Skipped: invited before (resend to mail them again).
    pub already_invited: u32,
}

/// A mail waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: i64,
    pub recipient: String,
    pub kind: MailKind,
    pub message_id: String,
    pub attempts: u32,
}

/// How many mails are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OutboxCounts {
    pub queued: u32,
    pub deferred: u32,
    pub sent: u32,
    pub failed: u32,
    pub unsure: u32,
}

impl OutboxCounts {
    /// Mails still to send (queued and deferred).
    pub fn pending(&self) -> u32 {
        self.queued + self.deferred
    }
}

/// The account's receipt code, made on first use. Random, no secret: it matches receipts and
/// bounces to the account.
pub fn receipt_code(conn: &Connection, account_id: i64) -> Result<String, UiError> {
    let code = uuid::Uuid::new_v4().simple().to_string();
    conn.execute(
        "INSERT INTO rollout (account_id, receipt_code) VALUES (?1, ?2) ON CONFLICT (account_id) DO NOTHING",
        params![account_id, code],
    )
    .map_err(sql)?;
    conn.query_row("SELECT receipt_code FROM rollout WHERE account_id = ?1", [account_id], |r| r.get(0)).map_err(sql)
}

fn account_ids(conn: &Connection, recipients: &Recipients) -> Result<Vec<i64>, UiError> {
    let all = |q: &str| -> Result<Vec<i64>, UiError> {
        conn.prepare(q).and_then(|mut s| s.query_map([], |r| r.get(0))?.collect()).map_err(sql)
    };
    match recipients {
        // The sender is set up on this computer already: "everyone" never includes it.
        Recipients::All => all("SELECT id FROM mail_accounts
             WHERE address <> COALESCE((SELECT sender FROM rollout_settings WHERE id = 1), '') ORDER BY id"),
        Recipients::NotInvited => all("SELECT a.id FROM mail_accounts a
             WHERE a.address <> COALESCE((SELECT sender FROM rollout_settings WHERE id = 1), '')
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account_id = a.id
                               AND o.state IN ('queued', 'sending', 'deferred', 'sent', 'unsure'))
             ORDER BY a.id"),
        Recipients::Accounts(ids) => {
            for &id in ids {
                crate::accounts::get(conn, id)?;
            }
            Ok(ids.clone())
        }
        Recipients::Addresses(addresses) => addresses
            .iter()
            .map(|a| {
                crate::accounts::find_by_address(conn, a)?.map(|row| row.id).ok_or_else(|| {
                    UiError::new(
                        ErrorKind::AccountNotRegistered,
                        Actor::Admin,
                        format!("{} is not registered in step 2: nothing was queued.", a.trim()),
                    )
                    .with(DetailKey::Address, a.trim())
                })
            })
            .collect(),
    }
}

/// Queues one mail of `kind` for each of `recipients`, in one transaction: an unknown address
/// queues nothing. Someone with a mail waiting is skipped; someone invited before is skipped
/// unless `resend` (a reminder is always a resend).
pub fn enqueue(
    conn: &mut Connection,
    recipients: &Recipients,
    kind: MailKind,
    resend: bool,
) -> Result<Queued, UiError> {
    let sender = settings::required(conn)?.sender;
    let domain = sender.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_else(|| "exo-setup.invalid".into());
    let tx = conn.transaction().map_err(sql)?;
    let ids = account_ids(&tx, recipients)?;
    let mut q = Queued::default();
    let resend = resend || kind == MailKind::Reminder;
    for id in ids {
        let (pending, invited): (bool, bool) = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE account_id = ?1 AND state IN ('queued', 'sending', 'deferred')),
                        EXISTS (SELECT 1 FROM outbox WHERE account_id = ?1 AND state IN ('sent', 'unsure'))",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        if pending {
            q.already_pending += 1;
            continue;
        }
        if invited && !resend {
            q.already_invited += 1;
            continue;
        }
        receipt_code(&tx, id)?;
        let address: String =
            tx.query_row("SELECT address FROM mail_accounts WHERE id = ?1", [id], |r| r.get(0)).map_err(sql)?;
        let message_id = format!("<{}@{domain}>", uuid::Uuid::new_v4().simple());
        tx.execute(
            "INSERT INTO outbox (account_id, recipient, kind, state, message_id, queued_at)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5)",
            params![id, address, kind.as_str(), message_id, now()],
        )
        .map_err(sql)?;
        q.added += 1;
    }
    if q.added > 0 {
        audit(&tx, "rollout.queue", kind.as_str(), serde_json::json!({ "added": q.added, "resend": resend }))
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    Ok(q)
}

/// Accounts invited at least `after_days` days before `now_ms` that sent no receipt, did not
/// bounce and have no mail waiting: whom "remind" mails.
pub fn without_news(conn: &Connection, after_days: u32, now_ms: i64) -> Result<Vec<i64>, UiError> {
    let before = now_ms - i64::from(after_days) * 86_400_000;
    conn.prepare(
        "SELECT a.id FROM mail_accounts a JOIN rollout r ON r.account_id = a.id
         WHERE r.verified_at IS NULL AND r.bounced_at IS NULL
           AND (SELECT MAX(sent_ms) FROM outbox o WHERE o.account_id = a.id AND o.state = 'sent') <= ?1
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account_id = a.id AND o.state IN ('queued', 'sending', 'deferred'))
         ORDER BY a.id",
    )
    .and_then(|mut s| s.query_map([before], |r| r.get(0))?.collect())
    .map_err(sql)
}

/// Which mails a send run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendScope {
    /// Queued mails and deferred ones that are due: the administrator pressed send.
    #[default]
    Queue,
    /// Only deferred mails that are due: the retry by timer while the window is open. A mail the
    /// administrator queued but did not send stays queued, and the run stops rather than wait for
    /// the sending limits (the next round tries again).
    DueDeferred,
}

/// How long a mail deferred for the `attempts`-th time waits before its next try: 1, 5, 15, then
/// 60 minutes. Exchange Online's 4xx (throttling, a busy mailbox) pass in minutes; waiting longer
/// each time keeps a mail that keeps being refused from hammering the server until it fails
/// (`SendOptions::max_attempts`).
pub const RETRY_BACKOFF: [Duration; 4] =
    [Duration::from_secs(60), Duration::from_secs(5 * 60), Duration::from_secs(15 * 60), Duration::from_secs(60 * 60)];

/// When a mail deferred at `now_ms` after its `attempts`-th try is due again, by `backoff` (the
/// last step repeats; an empty backoff means at once).
pub fn next_try_ms(now_ms: i64, attempts: u32, backoff: &[Duration]) -> i64 {
    let step = (attempts.max(1) as usize - 1).min(backoff.len().saturating_sub(1));
    let wait = backoff.get(step).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
    now_ms.saturating_add(wait)
}

/// The next mail of `scope` to send at `now_ms`, oldest first.
pub fn next_due(conn: &Connection, now_ms: i64, scope: SendScope) -> Result<Option<OutboxRow>, UiError> {
    let queued = if scope == SendScope::Queue { "state = 'queued' OR" } else { "" };
    conn.query_row(
        &format!(
            "SELECT id, account_id, recipient, kind, message_id, attempts FROM outbox
             WHERE {queued} (state = 'deferred' AND COALESCE(not_before_ms, 0) <= ?1)
             ORDER BY id LIMIT 1"
        ),
        [now_ms],
        |r| {
            Ok(OutboxRow {
                id: r.get(0)?,
                account_id: r.get(1)?,
                recipient: r.get(2)?,
                kind: MailKind::parse(&r.get::<_, String>(3)?),
                message_id: r.get(4)?,
                attempts: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// How many deferred mails are due at `now_ms`.
pub fn due_deferred(conn: &Connection, now_ms: i64) -> Result<u32, UiError> {
    conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE state = 'deferred' AND COALESCE(not_before_ms, 0) <= ?1",
        [now_ms],
        |r| r.get(0),
    )
    .map_err(sql)
}

/// When the earliest deferred mail is due, if any.
pub fn next_deferred_ms(conn: &Connection) -> Result<Option<i64>, UiError> {
    conn.query_row("SELECT MIN(COALESCE(not_before_ms, 0)) FROM outbox WHERE state = 'deferred'", [], |r| r.get(0))
        .map_err(sql)
}

pub fn counts(conn: &Connection) -> Result<OutboxCounts, UiError> {
    let mut c = OutboxCounts::default();
    let mut stmt = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state").map_err(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))).map_err(sql)?;
    for row in rows {
        let (state, n) = row.map_err(sql)?;
        match OutboxState::parse(&state) {
            OutboxState::Queued => c.queued += n,
            OutboxState::Deferred => c.deferred += n,
            OutboxState::Sent => c.sent += n,
            OutboxState::Failed => c.failed += n,
            OutboxState::Unsure | OutboxState::Sending => c.unsure += n,
            OutboxState::Cancelled => {}
        }
    }
    Ok(c)
}

/// Just before the SMTP transaction.
pub fn mark_sending(conn: &Connection, id: i64) -> Result<(), UiError> {
    conn.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1", [id])
        .map(drop)
        .map_err(sql)
}

/// The server took the mail.
pub fn mark_sent(conn: &mut Connection, id: i64, reply: &str, now_ms: i64) -> Result<(), UiError> {
    let tx = conn.transaction().map_err(sql)?;
    let at = now();
    tx.execute(
        "UPDATE outbox SET state = 'sent', reply = ?2, sent_at = ?3, sent_ms = ?4, not_before_ms = NULL WHERE id = ?1",
        params![id, reply, at, now_ms],
    )
    .map_err(sql)?;
    tx.execute(
        "UPDATE rollout SET invited_at = ?2, bounced_at = NULL, bounce_status = NULL
         WHERE account_id = (SELECT account_id FROM outbox WHERE id = ?1)",
        params![id, at],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

/// A temporary refusal: due again at `not_before_ms`, or failed after `max_attempts`.
pub fn mark_deferred(
    conn: &Connection,
    id: i64,
    reply: &str,
    not_before_ms: i64,
    max_attempts: u32,
) -> Result<OutboxState, UiError> {
    let attempts: u32 = conn.query_row("SELECT attempts FROM outbox WHERE id = ?1", [id], |r| r.get(0)).map_err(sql)?;
    let state = if attempts >= max_attempts { OutboxState::Failed } else { OutboxState::Deferred };
    conn.execute(
        "UPDATE outbox SET state = ?2, reply = ?3, not_before_ms = ?4 WHERE id = ?1",
        params![id, state.as_str(), reply, not_before_ms],
    )
    .map_err(sql)?;
    Ok(state)
}

/// A permanent refusal.
pub fn mark_failed(conn: &Connection, id: i64, reply: &str) -> Result<(), UiError> {
    conn.execute("UPDATE outbox SET state = 'failed', reply = ?2 WHERE id = ?1", params![id, reply])
        .map(drop)
        .map_err(sql)
}

/// The sender did not start the transaction after all (cancelled, or the login failed): back to
/// the queue, the attempt not counted.
pub fn unmark_sending(conn: &Connection, id: i64) -> Result<(), UiError> {
    conn.execute(
        "UPDATE outbox SET state = CASE WHEN attempts > 1 THEN 'deferred' ELSE 'queued' END,
         attempts = attempts - 1 WHERE id = ?1 AND state = 'sending'",
        [id],
    )
    .map(drop)
    .map_err(sql)
}

/// After a crash: a mail left in `sending` may have been delivered; it becomes `unsure`.
pub fn recover_interrupted(conn: &Connection) -> Result<usize, UiError> {
    conn.execute(
        "UPDATE outbox SET state = 'unsure',
         reply = 'interrupted while the server had it: maybe delivered, not sent again' WHERE state = 'sending'",
        [],
    )
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// An outbox with one row per `(state, not_before_ms)`, ids from 1.
    fn outbox_with(rows: &[(&str, Option<i64>)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY, account_id INTEGER, recipient TEXT, kind TEXT,
             state TEXT, message_id TEXT, attempts INTEGER DEFAULT 0, not_before_ms INTEGER)",
        )
        .unwrap();
        for (i, (state, not_before)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO outbox (account_id, recipient, kind, state, message_id, attempts, not_before_ms)
                 VALUES (?1, ?2, 'invitation', ?3, ?4, 1, ?5)",
                params![i as i64, format!("u{i}@contoso.example"), state, format!("<{i}@contoso.example>"), not_before],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn a_deferred_mail_waits_longer_after_each_try() {
        let now = 1_000_000;
        let waits: Vec<i64> = (1..=6).map(|n| (next_try_ms(now, n, &RETRY_BACKOFF) - now) / MIN).collect();
        assert_eq!(waits, [1, 5, 15, 60, 60, 60]);
        // No try counted yet is the first; no backoff means at once.
        assert_eq!(next_try_ms(now, 0, &RETRY_BACKOFF), now + MIN);
        assert_eq!(next_try_ms(now, 3, &[]), now);
    }

    #[test]
    fn a_retry_by_timer_takes_only_deferred_mails_that_are_due() {
        let now = 100 * MIN;
        let conn = outbox_with(&[
            ("queued", None),
            ("deferred", Some(now + MIN)),
            ("sent", None),
            ("deferred", Some(now - MIN)),
            ("deferred", Some(now)),
        ]);
        assert_eq!(due_deferred(&conn, now).unwrap(), 2);
        assert_eq!(due_deferred(&conn, now - 2 * MIN).unwrap(), 0);
        // The timer skips the queued mail and the deferred one not yet due.
        assert_eq!(next_due(&conn, now, SendScope::DueDeferred).unwrap().map(|r| r.id), Some(4));
        assert_eq!(next_due(&conn, now - 2 * MIN, SendScope::DueDeferred).unwrap(), None);
        // A send run of the administrator's takes the queue in order.
        assert_eq!(next_due(&conn, now, SendScope::Queue).unwrap().map(|r| r.id), Some(1));
        conn.execute("UPDATE outbox SET state = 'sent' WHERE id IN (1, 4, 5)", []).unwrap();
        assert_eq!(next_due(&conn, now, SendScope::Queue).unwrap(), None);
        assert_eq!(next_due(&conn, now + MIN, SendScope::DueDeferred).unwrap().map(|r| r.id), Some(2));
    }
}
