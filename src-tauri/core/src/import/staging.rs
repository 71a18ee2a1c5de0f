//! Staging: the rows of one import in TEMP tables, written as they are read.
//!
//! `import_rows` holds every row that passed the checks needing only the row itself (keyed by
//! its first line); `import_errors` holds every problem found in the others, in the order found.
//! What depends on other rows or on the store (duplicates, the action, an address taken by
//! another user) is not stored per row by the source: [`super::compare`] derives it with SQL.

use crate::DetailKey;
use rusqlite::{params, Connection, Statement};

use crate::accounts::ValidAccount;
use crate::error::UiError;
use crate::model::{ImportAction, ImportRowError, ImportRowPreview, ReceiveProtocol};
use crate::org::sql;

/// Rows written per transaction while staging: large enough that commits cost nothing, small
/// enough that the TEMP journal stays small.
const BATCH: u32 = 50_000;

const CREATE: &str = "
DROP TABLE IF EXISTS temp.import_rows;
DROP TABLE IF EXISTS temp.import_errors;
CREATE TEMP TABLE import_rows (
    line              INTEGER PRIMARY KEY,
    login_name        TEXT NOT NULL COLLATE NOCASE,
    user_display_name TEXT NOT NULL,
    address           TEXT NOT NULL COLLATE NOCASE,
    display_name      TEXT NOT NULL,
    receive_protocol  TEXT NOT NULL,
    server_id         INTEGER NOT NULL,
    -- Derived by compare.rs:
    duplicate_of      INTEGER,   -- first line with the same address (this row is refused)
    existing_id       INTEGER,   -- the store's account with this address
    action            INTEGER,   -- NULL = create, 1 = update, 2 = unchanged, 3 = address taken
    taken_by          TEXT       -- login name of the user the address belongs to (action 3)
);
CREATE TEMP TABLE import_errors (
    seq     INTEGER PRIMARY KEY,
    line    INTEGER NOT NULL,
    col     TEXT,
    reason  TEXT NOT NULL,
    message TEXT NOT NULL,
    value   TEXT,
    detail  TEXT NOT NULL
);";

/// `import_rows.action` of an update (the values are listed in the table above).
pub(super) const UPDATE: i64 = 1;

/// An import being read: rows and row errors go in as the source finds them.
pub struct Staging<'c> {
    conn: &'c Connection,
    /// `None` once finished (so that [`Drop`] knows the tables are handed on).
    statements: Option<(Statement<'c>, Statement<'c>)>,
    in_batch: u32,
    total_rows: u32,
    rejected_rows: u32,
    address_column: String,
}

impl<'c> Staging<'c> {
    /// Starts staging on `conn` (replacing what an earlier, interrupted import left).
    /// `address_column` names the address where a derived error points (the CSV header as
    /// written).
    pub fn begin(conn: &'c Connection, address_column: &str) -> Result<Self, UiError> {
        conn.execute_batch(CREATE).map_err(sql)?;
        let insert_row = conn
            .prepare(
                "INSERT INTO temp.import_rows (line, login_name, user_display_name, address, display_name,
                     receive_protocol, server_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(sql)?;
        let insert_error = conn
            .prepare(
                "INSERT INTO temp.import_errors (line, col, reason, message, value, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(sql)?;
        conn.execute_batch("BEGIN").map_err(sql)?;
        Ok(Self {
            conn,
            statements: Some((insert_row, insert_error)),
            in_batch: 0,
            total_rows: 0,
            rejected_rows: 0,
            address_column: address_column.to_owned(),
        })
    }

    /// Rows read so far (valid and rejected).
    pub fn total_rows(&self) -> u32 {
        self.total_rows
    }

    /// A row that passed every check of its own, on `line`.
    pub fn row(&mut self, line: u32, a: &ValidAccount, server_id: i64) -> Result<(), UiError> {
        let Some((insert_row, _)) = &mut self.statements else { return Ok(()) };
        insert_row
            .execute(params![
                line,
                a.login_name,
                a.user_display_name,
                a.address,
                a.display_name,
                a.receive_protocol.as_str(),
                server_id
            ])
            .map_err(sql)?;
        self.total_rows += 1;
        self.written()
    }

    /// `rows` rows (one, or the lines an unclosed quote swallowed) refused with `errors`.
    pub fn rejected(&mut self, rows: u32, errors: &[ImportRowError]) -> Result<(), UiError> {
        let Some((_, insert_error)) = &mut self.statements else { return Ok(()) };
        for e in errors {
            let detail = serde_json::to_string(&e.detail).unwrap_or_default();
            insert_error.execute(params![e.line, e.column, e.reason, e.message, e.value, detail]).map_err(sql)?;
        }
        self.total_rows += rows;
        self.rejected_rows += rows;
        self.written()
    }

    fn written(&mut self) -> Result<(), UiError> {
        self.in_batch += 1;
        if self.in_batch >= BATCH {
            self.conn.execute_batch("COMMIT; BEGIN").map_err(sql)?;
            self.in_batch = 0;
        }
        Ok(())
    }

    /// Ends the reading and finds the duplicates in the input. The comparison with the store is
    /// [`Staged::compare`] (a preview) or part of [`Staged::apply`].
    pub fn finish(mut self) -> Result<Staged<'c>, UiError> {
        self.statements = None;
        let staged = Staged {
            conn: self.conn,
            total_rows: self.total_rows,
            rejected_rows: self.rejected_rows,
            address_column: std::mem::take(&mut self.address_column),
        };
        // From here on `staged` owns the tables (its drop removes them).
        self.conn.execute_batch("COMMIT").map_err(sql)?;
        super::compare::duplicates_in_input(self.conn)?;
        Ok(staged)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if self.statements.take().is_none() {
            return; // finished: the tables belong to the `Staged` import
        }
        // Reading failed: nothing is kept.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ =
            self.conn.execute_batch("DROP TABLE IF EXISTS temp.import_rows; DROP TABLE IF EXISTS temp.import_errors");
    }
}

/// What an import would do, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows read: `valid_rows + rejected_rows`.
    pub total_rows: u32,
    pub valid_rows: u32,
    /// Rows with one or more errors.
    pub rejected_rows: u32,
    pub creates: u32,
    pub updates: u32,
    pub unchanged: u32,
    /// Every row error (a row may have several).
    pub error_count: u32,
}

/// An import read to its end and compared with the store, not yet applied.
pub struct Staged<'c> {
    pub(super) conn: &'c Connection,
    pub(super) total_rows: u32,
    pub(super) rejected_rows: u32,
    address_column: String,
}

/// Every row error in line order: those found while reading, then (a row has only one of them)
/// a duplicate of an earlier row or an address that belongs to another user.
const ERRORS: &str = "
SELECT line, 0 AS kind, seq, col, reason, message, value, detail FROM temp.import_errors
UNION ALL
SELECT line, 1, 0, NULL, NULL, address, NULL, duplicate_of FROM temp.import_rows WHERE duplicate_of IS NOT NULL
UNION ALL
SELECT line, 2, 0, NULL, NULL, address, NULL, taken_by FROM temp.import_rows WHERE action = 3
ORDER BY line, seq";

impl Staged<'_> {
    /// Compares the staged rows with the store as it is now (the action of each row, and the
    /// addresses that belong to another user). Before it, every row counts as new.
    pub fn compare(&self) -> Result<(), UiError> {
        super::compare::with_store(self.conn)
    }

    /// The counts (one pass over the staged rows).
    pub fn summary(&self) -> Result<Summary, UiError> {
        let (duplicates, creates, updates, unchanged, taken): (u32, u32, u32, u32, u32) = self
            .conn
            .query_row(
                "SELECT count(duplicate_of),
                        coalesce(sum(duplicate_of IS NULL AND action IS NULL), 0),
                        coalesce(sum(duplicate_of IS NULL AND action = 1), 0),
                        coalesce(sum(duplicate_of IS NULL AND action = 2), 0),
                        coalesce(sum(duplicate_of IS NULL AND action = 3), 0)
                 FROM temp.import_rows",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(sql)?;
        let read_errors: u32 =
            self.conn.query_row("SELECT count(*) FROM temp.import_errors", [], |r| r.get(0)).map_err(sql)?;
        let rejected_rows = self.rejected_rows + duplicates + taken;
        Ok(Summary {
            total_rows: self.total_rows,
            valid_rows: self.total_rows - rejected_rows,
            rejected_rows,
            creates,
            updates,
            unchanged,
            error_count: read_errors + duplicates + taken,
        })
    }

    /// The first `limit` row errors, in line order.
    pub fn errors(&self, limit: u32) -> Result<Vec<ImportRowError>, UiError> {
        let mut out = Vec::new();
        self.each_error(Some(limit), |e| out.push(e))?;
        Ok(out)
    }

    /// Every row error, in line order, one at a time (nothing collected).
    pub fn for_each_error(&self, f: impl FnMut(ImportRowError)) -> Result<(), UiError> {
        self.each_error(None, f)
    }

    fn each_error(&self, limit: Option<u32>, mut f: impl FnMut(ImportRowError)) -> Result<(), UiError> {
        let query = match limit {
            Some(n) => format!("{ERRORS} LIMIT {n}"),
            None => ERRORS.to_owned(),
        };
        let mut stmt = self.conn.prepare(&query).map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let line: u32 = r.get(0).map_err(sql)?;
            let e = match r.get::<_, i64>(1).map_err(sql)? {
                0 => ImportRowError {
                    line,
                    column: r.get(3).map_err(sql)?,
                    reason: r.get(4).map_err(sql)?,
                    message: r.get(5).map_err(sql)?,
                    value: r.get(6).map_err(sql)?,
                    detail: serde_json::from_str(&r.get::<_, String>(7).map_err(sql)?).unwrap_or_default(),
                },
                1 => {
                    let (address, first): (String, i64) = (r.get(5).map_err(sql)?, r.get(7).map_err(sql)?);
                    let mut e = row_error(
                        line,
                        Some(&self.address_column),
                        "duplicate_in_file",
                        format!("Line {line}: {address} already appears on line {first}."),
                        Some(&address),
                    );
                    e.detail.insert(DetailKey::FirstLine, first.to_string());
                    e
                }
                _ => {
                    let (address, owner): (String, String) = (r.get(5).map_err(sql)?, r.get(7).map_err(sql)?);
                    row_error(
                        line,
                        Some(&self.address_column),
                        "address_taken",
                        format!("Line {line}: {address} is already registered to the user '{owner}'."),
                        Some(&address),
                    )
                }
            };
            f(e);
        }
        Ok(())
    }

    /// The first `limit` valid rows in line order, with what importing each does.
    pub fn rows(&self, limit: u32) -> Result<Vec<ImportRowPreview>, UiError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.line, r.login_name, r.user_display_name, r.address, r.display_name, r.receive_protocol,
                        s.name, r.action
                 FROM temp.import_rows r JOIN main.mail_servers s ON s.id = r.server_id
                 WHERE r.duplicate_of IS NULL AND (r.action IS NULL OR r.action <> 3)
                 ORDER BY r.line LIMIT ?1",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(ImportRowPreview {
                    line: r.get(0)?,
                    login_name: r.get(1)?,
                    user_display_name: r.get(2)?,
                    address: r.get(3)?,
                    display_name: r.get(4)?,
                    receive_protocol: ReceiveProtocol::parse(&r.get::<_, String>(5)?).unwrap_or(ReceiveProtocol::Imap),
                    server_name: r.get(6)?,
                    action: match r.get::<_, Option<i64>>(7)? {
                        None => ImportAction::Create,
                        Some(UPDATE) => ImportAction::Update,
                        Some(_) => ImportAction::Unchanged,
                    },
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        Ok(rows)
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        let _ =
            self.conn.execute_batch("DROP TABLE IF EXISTS temp.import_rows; DROP TABLE IF EXISTS temp.import_errors");
    }
}

/// A row error; the value shown as read, with invisible and control characters spelled out.
pub fn row_error(
    line: u32,
    column: Option<&str>,
    reason: &str,
    message: String,
    value: Option<&str>,
) -> ImportRowError {
    ImportRowError {
        line,
        column: column.map(str::to_owned),
        reason: reason.to_owned(),
        message,
        value: value
            .filter(|v| !v.is_empty())
            .map(|v| crate::validate::escape_unsafe(&v.chars().take(200).collect::<String>()).into_owned()),
        detail: Default::default(),
    }
}
