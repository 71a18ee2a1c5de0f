//! The rollout's work by timer while the wizard's window is open: the receipts read again, and the
//! deferred mails tried again once due, so that the administrator's list moves without a click.
//!
//! Why a round of its own: a mail the server deferred (a `4xx`) would otherwise wait until the
//! administrator sends again, and receipts until they press "read". The round takes only what is
//! due: the receipts once invitations were sent, the deferred mails whose time has come
//! ([`SendScope::DueDeferred`]) — never a mail the administrator queued but did not send.
//!
//! The caller keeps time and makes sure no other send run or read is under way (two IMAP sessions
//! would move the same mails, two senders could pick the same mail). A failure is logged and left
//! to the next round: the administrator is not interrupted by what a timer did.

use std::sync::atomic::AtomicBool;

use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::auth::Auth;
use crate::error::UiError;

use super::inbox::{self, ReadSummary};
use super::outbox::{self, SendScope};
use super::send::{self, SendOptions, SendProgress, SendSummary};
use super::settings;

/// What a round has to do at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundPlan {
    /// A sender is set and invitations were sent: receipts may be waiting.
    pub read_receipts: bool,
    /// Deferred mails whose next try is due.
    pub due_deferred: u32,
}

/// What is due at `now_ms`: nothing until a sender is chosen.
pub fn plan(conn: &Connection, now_ms: i64) -> Result<RoundPlan, UiError> {
    if settings::get(conn)?.is_none() {
        return Ok(RoundPlan::default());
    }
    Ok(RoundPlan { read_receipts: outbox::counts(conn)?.sent > 0, due_deferred: outbox::due_deferred(conn, now_ms)? })
}

/// What a round changed (event `exo://rollout-updated`): the status is worth reading again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RolloutUpdated {
    /// The deferred mails tried again, if any were due.
    pub retried: Option<SendSummary>,
    /// The receipts read (the time of the last read changes even when none came back).
    pub read: Option<ReadSummary>,
    /// What stopped the round when the administrator must act (the sender refused, SMTP AUTH
    /// off, the sign-in expired): shown in step 2 rather than only logged. Passing trouble (the
    /// network) is only logged; the next round tries again.
    pub problem: Option<UiError>,
}

impl RolloutUpdated {
    pub fn changed(&self) -> bool {
        self.retried.is_some() || self.read.is_some() || self.problem.is_some()
    }

    /// Keeps `e` when the administrator must act on it.
    fn note(&mut self, e: UiError) {
        if e.actor == crate::error::Actor::Admin && self.problem.is_none() {
            self.problem = Some(e);
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One round: the deferred mails that are due are sent again (`opts`, its scope narrowed to
/// them; `progress` as for a send run), then the receipts are read if invitations were sent.
/// Failures are logged and leave that part to the next round.
pub async fn round(
    auth: &Auth,
    opts: &SendOptions,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&SendProgress) + Send + Sync),
) -> RolloutUpdated {
    let mut updated = RolloutUpdated::default();
    let due = match auth.db(|store| plan(&store.conn(), now_ms())).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(kind = %e.kind, "rollout round skipped: the queue could not be read");
            return updated;
        }
    };
    if due.due_deferred > 0 {
        let opts = SendOptions { scope: SendScope::DueDeferred, ..opts.clone() };
        match send::send_queue(auth, &opts, cancel, progress).await {
            Ok(s) => updated.retried = Some(s),
            Err(e) => {
                tracing::info!(kind = %e.kind, "deferred rollout mails not retried; next round tries again");
                updated.note(e);
            }
        }
    }
    // A retry may have sent the first invitation: ask again.
    let read = due.read_receipts || auth.db(|store| plan(&store.conn(), now_ms())).await.is_ok_and(|p| p.read_receipts);
    if read {
        match inbox::read_receipts(auth, &opts.check).await {
            Ok(s) => updated.read = Some(s),
            Err(e) => {
                tracing::info!(kind = %e.kind, "rollout receipts not read; next round tries again");
                updated.note(e);
            }
        }
    }
    updated
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;

    fn conn(sender: Option<&str>, states: &[(&str, Option<i64>)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE rollout_settings (id INTEGER PRIMARY KEY, sender TEXT, language TEXT,
                 unmatched_receipts INTEGER DEFAULT 0, last_read_at TEXT);
             CREATE TABLE outbox (id INTEGER PRIMARY KEY, state TEXT, not_before_ms INTEGER);",
        )
        .unwrap();
        if let Some(s) = sender {
            conn.execute("INSERT INTO rollout_settings (id, sender, language) VALUES (1, ?1, 'ja')", [s]).unwrap();
        }
        for (state, not_before) in states {
            conn.execute("INSERT INTO outbox (state, not_before_ms) VALUES (?1, ?2)", params![state, not_before])
                .unwrap();
        }
        conn
    }

    #[test]
    fn receipts_are_read_once_a_sender_sent_something() {
        let admin = Some("admin@contoso.example");
        assert_eq!(plan(&conn(None, &[("sent", None)]), 0).unwrap(), RoundPlan::default());
        assert!(!plan(&conn(admin, &[("queued", None), ("failed", None)]), 0).unwrap().read_receipts);
        assert!(plan(&conn(admin, &[("sent", None)]), 0).unwrap().read_receipts);
    }

    #[test]
    fn only_due_deferred_mails_are_retried_and_never_queued_ones() {
        let admin = Some("admin@contoso.example");
        let c = conn(admin, &[("queued", None), ("deferred", Some(500)), ("deferred", Some(2_000))]);
        assert_eq!(plan(&c, 1_000).unwrap(), RoundPlan { read_receipts: false, due_deferred: 1 });
        assert_eq!(plan(&c, 2_000).unwrap().due_deferred, 2);
        assert_eq!(plan(&c, 0).unwrap().due_deferred, 0, "queued mails wait for the administrator");
    }

    #[test]
    fn only_what_the_administrator_must_act_on_is_shown() {
        use crate::error::{Actor, ErrorKind};
        let mut u = RolloutUpdated::default();
        u.note(UiError::new(ErrorKind::Unexpected, Actor::Support, "the network went away"));
        assert!(u.problem.is_none() && !u.changed(), "passing trouble is only logged");
        u.note(UiError::new(ErrorKind::RolloutSenderRefused, Actor::Admin, "550 5.7.60"));
        u.note(UiError::new(ErrorKind::RolloutSenderNotSet, Actor::Admin, "later"));
        assert_eq!(u.problem.as_ref().map(|e| e.kind), Some(ErrorKind::RolloutSenderRefused), "the first one is kept");
        assert!(u.changed());
    }
}
