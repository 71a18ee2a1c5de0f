//! The apply: ONE transaction that compares the staged rows with the store again (so what is
//! written matches the store at that moment, not at preview time), refuses when the mode says so,
//! then writes users and accounts set-based and lets the source add its audit entry.
//!
//! The result is the one a row-by-row apply in line order gives: a user is created with the
//! login name of its first applied row and ends with the display name of its last one; rows that
//! change nothing are not written.
//!
//! Why the new users are one upsert in line order: grouping the rows by login name to find each
//! user's first and last row (an index on the staged rows, two grouped scans, an automatic index
//! and a sort, then an update over every group) took about 5 s of a million-row import; the UNIQUE
//! index that every insert checks anyway does that grouping, and the upsert takes about 0.6 s.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::staging::{Staged, Summary};
use crate::error::UiError;
use crate::model::ImportMode;
use crate::org::sql;

/// Rows that are written: valid, first with their address, and new or changed.
const APPLIED: &str = "duplicate_of IS NULL AND (action IS NULL OR action = 1)";

/// What an apply wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub total_rows: u32,
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Rows not written because they have errors.
    pub skipped: u32,
    /// Every row error (a row may have several), as [`Summary::error_count`].
    pub error_count: u32,
}

impl Staged<'_> {
    /// Applies the import in one transaction. With [`ImportMode::AllOrNothing`] and any row
    /// error, nothing is written and the counts are returned as `Err`-like `Ok(Err(summary))`
    /// for the source to explain. `before_commit` writes the source's audit entry in the same
    /// transaction.
    pub fn apply(
        &self,
        mode: ImportMode,
        before_commit: impl FnOnce(&Connection, &Applied) -> Result<(), UiError>,
    ) -> Result<Result<Applied, Summary>, UiError> {
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate).map_err(sql)?;
        super::compare::with_store(&tx)?;
        let summary = self.summary()?;
        if mode == ImportMode::AllOrNothing && summary.error_count > 0 {
            return Ok(Err(summary)); // the transaction rolls back on drop
        }
        let ts = crate::store::now();
        let (created, updated) = if summary.creates + summary.updates == 0 { (0, 0) } else { write(&tx, &ts)? };
        // The write changes no row's action, so the counts taken before it still hold.
        let applied = Applied {
            total_rows: summary.total_rows,
            created,
            updated,
            unchanged: summary.unchanged,
            skipped: summary.rejected_rows,
            error_count: summary.error_count,
        };
        before_commit(&tx, &applied)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(applied))
    }
}

fn write(tx: &Connection, ts: &str) -> Result<(u32, u32), UiError> {
    // Users already there: the display name of their last row, where it differs. Run before the
    // new users are written, so it visits only the users the store had; a store with none (the
    // first import) skips it and the index it needs.
    let had_users: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM main.users)", [], |r| r.get(0)).map_err(sql)?;
    if had_users {
        tx.execute_batch("CREATE INDEX IF NOT EXISTS temp.import_rows_login ON import_rows (login_name, line)")
            .map_err(sql)?;
        tx.execute(
            &format!(
                "UPDATE main.users SET display_name = l.user_display_name, updated_at = ?1
                 FROM (SELECT login_name, max(line), user_display_name FROM temp.import_rows WHERE {APPLIED}
                       GROUP BY login_name) AS l
                 WHERE users.login_name = l.login_name AND users.display_name <> l.user_display_name"
            ),
            [ts],
        )
        .map_err(sql)?;
    }
    // New users, in one pass over the rows in line order: the first row of a login name creates
    // its user (with that row's spelling and a rowid above every user the store had), each later
    // row of the same name (NOCASE, the UNIQUE index) sets its display name, so the user ends with
    // its last row's. Users the store had are left to the update above.
    let last_user_before: i64 =
        tx.query_row("SELECT coalesce(max(id), 0) FROM main.users", [], |r| r.get(0)).map_err(sql)?;
    tx.execute(
        &format!(
            "INSERT INTO main.users (login_name, display_name, created_at, updated_at)
             SELECT login_name, user_display_name, ?1, ?1 FROM temp.import_rows WHERE {APPLIED} ORDER BY line
             ON CONFLICT (login_name) DO UPDATE SET display_name = excluded.display_name
             WHERE users.id > ?2 AND users.display_name <> excluded.display_name"
        ),
        rusqlite::params![ts, last_user_before],
    )
    .map_err(sql)?;
    let created = tx
        .execute(
            "INSERT INTO main.mail_accounts (user_id, address, display_name, receive_protocol, server_id,
                 created_at, updated_at)
             SELECT u.id, r.address, r.display_name, r.receive_protocol, r.server_id, ?1, ?1
             FROM temp.import_rows AS r JOIN main.users AS u ON u.login_name = r.login_name
             WHERE r.duplicate_of IS NULL AND r.action IS NULL
             ORDER BY r.line",
            [ts],
        )
        .map_err(sql)?;
    let updated = tx
        .execute(
            "UPDATE main.mail_accounts SET user_id = u.id, address = r.address, display_name = r.display_name,
                 receive_protocol = r.receive_protocol, server_id = r.server_id, updated_at = ?1
             FROM temp.import_rows AS r JOIN main.users AS u ON u.login_name = r.login_name
             WHERE r.duplicate_of IS NULL AND r.action = 1 AND mail_accounts.id = r.existing_id",
            [ts],
        )
        .map_err(sql)?;
    Ok((created as u32, updated as u32))
}
