//! Exchange Online's sending limits for one mailbox, applied to the send queue.
//!
//! Microsoft's "Exchange Online limits": 30 messages a minute and 10,000 recipients a day per
//! mailbox. Going over them gets the administrator's own mailbox throttled or blocked from
//! sending — the mailbox that also reads the receipts. The limits are counted from the queue's
//! `sent_ms` column, not from memory, so that they hold across a quit, a crash and a second
//! sending process.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::org::sql;
use crate::UiError;

/// Sliding windows: at most `max` sent in any `per`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub per: Duration,
}

impl Default for Pacing {
    /// Exchange Online: 30 a minute, 10,000 a day (each mail has one recipient).
    fn default() -> Self {
        Self {
            windows: vec![
                Window { max: 30, per: Duration::from_secs(60) },
                Window { max: 10_000, per: Duration::from_secs(24 * 60 * 60) },
            ],
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Pacing {
    /// How long to wait, from `now_ms`, before the next mail may be sent (0: now).
    ///
    /// For each window: if the `max`-th most recent send is still inside it, the next one may go
    /// only when that send leaves the window.
    pub fn wait_ms(&self, conn: &Connection, now_ms: i64) -> Result<i64, UiError> {
        let mut wait = 0;
        for w in &self.windows {
            if w.max == 0 {
                continue;
            }
            let oldest_counted: Option<i64> = conn
                .query_row(
                    "SELECT sent_ms FROM outbox WHERE sent_ms > ?1 ORDER BY sent_ms DESC LIMIT 1 OFFSET ?2",
                    rusqlite::params![now_ms - ms(w.per), w.max - 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            if let Some(t) = oldest_counted {
                wait = wait.max(t + ms(w.per) - now_ms + 1);
            }
        }
        Ok(wait.max(0))
    }

    /// Roughly how long `remaining` more mails take at the limits (the slowest window decides).
    pub fn estimate_secs(&self, remaining: u64) -> u64 {
        self.windows
            .iter()
            .filter(|w| w.max > 0)
            .map(|w| {
                let per_mail = w.per.as_secs_f64() / f64::from(w.max);
                // The first `max` mails of a window go at once; beyond, one per `per / max`.
                let paced = remaining.saturating_sub(u64::from(w.max)) as f64;
                (paced * per_mail).ceil() as u64
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_with(sent: &[i64]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE outbox (sent_ms INTEGER)").unwrap();
        for t in sent {
            conn.execute("INSERT INTO outbox (sent_ms) VALUES (?1)", [t]).unwrap();
        }
        conn
    }

    #[test]
    fn the_next_mail_waits_until_the_oldest_counted_send_leaves_the_window() {
        let p = Pacing { windows: vec![Window { max: 3, per: Duration::from_secs(10) }] };
        // Two sent in the window: the third may go now.
        assert_eq!(p.wait_ms(&conn_with(&[1_000, 2_000]), 5_000).unwrap(), 0);
        // Three sent at 1, 2 and 4 s: the fourth waits until 1 s + 10 s has passed.
        assert_eq!(p.wait_ms(&conn_with(&[1_000, 2_000, 4_000]), 5_000).unwrap(), 6_001);
        // Sends older than the window do not count.
        assert_eq!(p.wait_ms(&conn_with(&[-20_000, -19_000, -18_000]), 5_000).unwrap(), 0);
    }

    #[test]
    fn the_slowest_window_decides() {
        let p = Pacing {
            windows: vec![
                Window { max: 10, per: Duration::from_secs(1) },
                Window { max: 2, per: Duration::from_secs(100) },
            ],
        };
        assert_eq!(p.wait_ms(&conn_with(&[0, 10]), 20).unwrap(), 100_000 - 20 + 1);
        assert_eq!(Pacing::default().estimate_secs(30), 0);
        assert_eq!(Pacing::default().estimate_secs(1_030), 2_000);
    }
}
