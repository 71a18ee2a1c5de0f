//! What depends on more than one row, derived with SQL over indexes instead of Rust maps.
//!
//! - A duplicate in the input: a staged row whose address an earlier staged row already has (the
//!   first one stays, the later ones are refused naming it). One streaming pass over the covering
//!   index `(address, line)` finds the addresses that appear more than once (usually none), and
//!   only their later rows are visited and marked; a window over every row (`min(line) OVER
//!   (PARTITION BY address)`) cost three times as much at a million rows, for the same result.
//! - The comparison with the store: each remaining row's account by address (the store's UNIQUE
//!   NOCASE index) → create, update, unchanged, or refused when the address belongs to another
//!   user. [`with_store`] can run again (it does, inside the apply's transaction).

use rusqlite::Connection;

use crate::error::UiError;
use crate::org::sql;

/// Marks every row whose address appeared on an earlier line.
pub(super) fn duplicates_in_input(conn: &Connection) -> Result<(), UiError> {
    conn.execute_batch(
        "CREATE INDEX temp.import_rows_address ON import_rows (address, line);
         UPDATE temp.import_rows SET duplicate_of = d.first
         FROM (SELECT address, min(line) AS first FROM temp.import_rows GROUP BY address HAVING count(*) > 1) AS d
         WHERE import_rows.address = d.address AND import_rows.line > d.first;",
    )
    .map_err(sql)
}

/// Sets each row's action from the store as it is now.
pub(super) fn with_store(conn: &Connection) -> Result<(), UiError> {
    conn.execute_batch(
        "UPDATE temp.import_rows SET existing_id = NULL, action = NULL, taken_by = NULL WHERE existing_id IS NOT NULL;
         UPDATE temp.import_rows SET
             existing_id = a.id,
             action = CASE
                 WHEN u.login_name <> import_rows.login_name COLLATE NOCASE THEN 3
                 WHEN u.login_name = import_rows.login_name COLLATE BINARY
                      AND u.display_name = import_rows.user_display_name
                      AND a.display_name = import_rows.display_name
                      AND a.receive_protocol = import_rows.receive_protocol
                      AND a.server_id = import_rows.server_id THEN 2
                 ELSE 1 END,
             taken_by = u.login_name
         FROM main.mail_accounts AS a JOIN main.users AS u ON u.id = a.user_id
         WHERE a.address = import_rows.address AND import_rows.duplicate_of IS NULL;",
    )
    .map_err(sql)
}
