//! The apply: ONE transaction that compares the staged rows with the store again (so what is
//! written matches the store at that moment, not at preview time), refuses when the mode says so,
//! then writes users and accounts set-based and lets the source add its audit entry.
//!
//! The result is the one a row-by-row apply in line order gives: a user is created with the
//! login name of its first applied row and ends with the display name of its last one; rows that
//! change nothing are not written.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::staging::{Staged, Summary, UNCHANGED};
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
        let unchanged: u32 = tx
            .query_row(
                &format!("SELECT count(*) FROM temp.import_rows WHERE duplicate_of IS NULL AND action = {UNCHANGED}"),
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        let applied =
            Applied { total_rows: summary.total_rows, created, updated, unchanged, skipped: summary.rejected_rows };
        before_commit(&tx, &applied)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(applied))
    }
}

fn write(tx: &Connection, ts: &str) -> Result<(u32, u32), UiError> {
    tx.execute_batch("CREATE INDEX IF NOT EXISTS temp.import_rows_login ON import_rows (login_name, line)")
        .map_err(sql)?;
    // New users: the login name as its first row writes it, the display name of its last row.
    tx.execute(
        &format!(
            "INSERT INTO main.users (login_name, display_name, created_at, updated_at)
             SELECT f.login_name, l.user_display_name, ?1, ?1
             FROM (SELECT login_name, min(line) AS first_line FROM temp.import_rows WHERE {APPLIED}
                   GROUP BY login_name) AS f
             JOIN (SELECT login_name, max(line), user_display_name FROM temp.import_rows WHERE {APPLIED}
                   GROUP BY login_name) AS l ON l.login_name = f.login_name
             WHERE NOT EXISTS (SELECT 1 FROM main.users AS u WHERE u.login_name = f.login_name)
             ORDER BY f.first_line"
        ),
        [ts],
    )
    .map_err(sql)?;
    // Users already there: the display name of their last row, where it differs.
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
