//! The staged read and its diff against the store, in SQLite.
//!
//! Each page of users is written to `directory_stage` (a TEMP table: a read never writes the
//! database file) as it arrives (one short transaction per page), checked row by row for syntax
//! with the CSV import's checks ([`crate::validate`]). The diff is then a handful of set-based
//! statements over indexed columns — matching accounts by directory object ID, else by address;
//! duplicates; addresses and login names taken; disabled and gone users — so 100,000 users cost a few SQL passes and never a map in memory, and the
//! preview is paged from the table. [`classify`] runs again inside the apply transaction, so
//! what is written is the diff of the store at that moment, not of the store at preview time.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::graph::GraphUser;
use super::login_rule::LoginRule;
use super::model::{DirectoryAction, DirectoryDiffPage, DirectoryDiffQuery, DirectoryDiffRow, DirectoryPreview};
use crate::error::{Actor, ErrorKind, UiError};
use crate::org::sql;

/// Largest diff page.
pub const MAX_DIFF_PAGE: u32 = 1000;

/// What was staged, from `directory_stage_meta`.
#[derive(Debug, Clone)]
pub struct StageMeta {
    pub scope: String,
    pub scope_name: String,
    pub login_rule: LoginRule,
    pub pages: u32,
    pub complete: bool,
}

/// The stage's tables in the connection's TEMP schema, shadowing the main schema's tables of
/// the same names (SQLite resolves an unqualified name in `temp` first): a read, a preview and a
/// discarded read write nothing to the database file, so `--dry-run` leaves it byte for byte as
/// it was, and a stage never outlives the process. Applying reads them in the main transaction.
const TEMP_SCHEMA: &str = "
CREATE TEMP TABLE IF NOT EXISTS directory_stage (
    seq          INTEGER PRIMARY KEY,
    object_id    TEXT NOT NULL,
    upn          TEXT NOT NULL,
    login_name   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    address      TEXT NOT NULL COLLATE NOCASE,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    row_problem  TEXT,
    row_message  TEXT,
    problem      TEXT,
    message      TEXT,
    account_id   INTEGER,
    action       TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS temp.directory_stage_object ON directory_stage (object_id);
CREATE INDEX IF NOT EXISTS temp.directory_stage_address ON directory_stage (address);
CREATE INDEX IF NOT EXISTS temp.directory_stage_login ON directory_stage (login_name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS temp.directory_stage_action ON directory_stage (action, seq);
CREATE TEMP TABLE IF NOT EXISTS directory_stage_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    scope      TEXT NOT NULL,
    scope_name TEXT NOT NULL,
    login_rule TEXT NOT NULL,
    pages      INTEGER NOT NULL,
    complete   INTEGER NOT NULL CHECK (complete IN (0, 1)),
    read_at    TEXT NOT NULL
) STRICT;
";

fn ensure_temp(conn: &Connection) -> Result<(), UiError> {
    conn.execute_batch(TEMP_SCHEMA).map_err(sql)
}

/// Empties the stage and records what is about to be read.
pub fn begin(conn: &mut Connection, scope: &str, scope_name: &str, rule: LoginRule) -> Result<(), UiError> {
    ensure_temp(conn)?;
    let tx = conn.transaction().map_err(sql)?;
    clear_in(&tx)?;
    tx.execute(
        "INSERT INTO directory_stage_meta (id, scope, scope_name, login_rule, pages, complete, read_at)
         VALUES (1, ?1, ?2, ?3, 0, 0, ?4)",
        params![scope, scope_name, rule.as_str(), crate::store::now()],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

/// Empties the stage (after an apply, a failed or cancelled read).
pub fn clear(conn: &mut Connection) -> Result<(), UiError> {
    ensure_temp(conn)?;
    let tx = conn.transaction().map_err(sql)?;
    clear_in(&tx)?;
    tx.commit().map_err(sql)
}

fn clear_in(tx: &Transaction<'_>) -> Result<(), UiError> {
    tx.execute_batch("DELETE FROM directory_stage; DELETE FROM directory_stage_meta;").map_err(sql)
}

/// Writes one page of users (one transaction). Returns how many rows the stage now holds.
pub fn add_page(conn: &mut Connection, users: &[GraphUser], rule: LoginRule) -> Result<u32, UiError> {
    let tx = conn.transaction().map_err(sql)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO directory_stage (object_id, upn, login_name, display_name, address, enabled, row_problem, row_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(sql)?;
        for u in users {
            let row = StagedRow::of(u, rule);
            insert
                .execute(params![
                    u.id,
                    row.upn,
                    row.login_name,
                    row.display_name,
                    row.address,
                    row.enabled,
                    row.problem,
                    row.message
                ])
                .map_err(sql)?;
        }
    }
    tx.execute("UPDATE directory_stage_meta SET pages = pages + 1 WHERE id = 1", []).map_err(sql)?;
    let n: u32 = tx.query_row("SELECT count(*) FROM directory_stage", [], |r| r.get(0)).map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(n)
}

/// A user as staged, with the syntax problem of its row if any.
struct StagedRow {
    upn: String,
    login_name: String,
    display_name: String,
    address: String,
    enabled: bool,
    problem: Option<&'static str>,
    message: Option<String>,
}

impl StagedRow {
    fn of(u: &GraphUser, rule: LoginRule) -> Self {
        let upn = u.user_principal_name.clone().unwrap_or_default();
        let mail = u.mail.clone().unwrap_or_default();
        let mut row = Self {
            login_name: rule.login_name(&upn, &mail),
            display_name: u.display_name.clone().unwrap_or_default().trim().to_owned(),
            address: mail.trim().to_ascii_lowercase(),
            upn,
            enabled: u.account_enabled == Some(true),
            problem: None,
            message: None,
        };
        if mail.trim().is_empty() {
            row.problem = Some("no_mailbox");
            row.message = Some(format!("{} has no mail address (no Exchange Online mailbox).", row.upn));
            return row;
        }
        // The CSV import's checks, with its reasons.
        let checks = [
            crate::validate::login_name(&row.login_name).map(|v| row.login_name.clone_from(&v)).err(),
            crate::validate::address(&mail).err(),
            crate::validate::display_name(&row.display_name).err(),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            row.problem = Some(match e.kind.as_str() {
                "login_name_required" | "address_required" => "required",
                "address_invalid" => "invalid_address",
                "display_name_too_long" | "login_name_invalid" => "too_long",
                "text_unsafe_character" => "unsafe_character",
                _ => "invalid",
            });
            row.message = Some(format!("{}: {}", crate::validate::escape_unsafe(&row.upn), e.message));
            row.login_name = crate::validate::escape_unsafe(&row.login_name).into_owned();
            row.display_name = crate::validate::escape_unsafe(&row.display_name).into_owned();
        }
        if row.display_name.is_empty() {
            row.display_name.clone_from(&row.login_name);
        }
        row
    }
}

/// Computes the diff of the stage against the store (idempotent: run at preview and again in
/// the apply transaction). Needs the stage's scope for "gone".
pub fn classify(tx: &Transaction<'_>, scope: &str) -> Result<(), UiError> {
    tx.execute_batch(
        "DELETE FROM directory_stage WHERE action = 'gone';
         UPDATE directory_stage SET account_id = NULL, action = NULL, problem = row_problem, message = row_message;
         -- the same user listed twice (a member through two groups): the first counts
         UPDATE directory_stage SET action = 'skip', problem = 'listed_twice', message = upn || ' is listed more than once; read once.'
          WHERE seq > (SELECT min(s2.seq) FROM directory_stage s2 WHERE s2.object_id = directory_stage.object_id);
         UPDATE directory_stage SET action = 'skip' WHERE action IS NULL AND problem = 'no_mailbox';
         UPDATE directory_stage SET account_id = (SELECT a.id FROM mail_accounts a WHERE a.directory_id = directory_stage.object_id)
          WHERE action IS NULL;
         UPDATE directory_stage SET account_id = (SELECT a.id FROM mail_accounts a WHERE a.address = directory_stage.address AND a.directory_id IS NULL)
          WHERE action IS NULL AND account_id IS NULL AND problem IS NULL;
         -- disabled in the directory: an existing account is flagged, else the user is not imported
         UPDATE directory_stage SET
            action = CASE WHEN account_id IS NULL THEN 'skip'
                          WHEN (SELECT a.directory_state FROM mail_accounts a WHERE a.id = directory_stage.account_id) = 'disabled' THEN 'unchanged'
                          ELSE 'disable' END,
            problem = 'disabled', message = upn || ' is disabled in the directory.'
          WHERE action IS NULL AND enabled = 0;
         UPDATE directory_stage SET action = 'reject' WHERE action IS NULL AND problem IS NOT NULL;
         UPDATE directory_stage SET action = 'reject', problem = 'duplicate_in_directory',
            message = upn || ': the address ' || address || ' belongs to another directory user read before.'
          WHERE action IS NULL AND EXISTS (SELECT 1 FROM directory_stage s2 WHERE s2.address = directory_stage.address
            AND s2.seq < directory_stage.seq AND s2.row_problem IS NULL AND s2.enabled = 1 AND s2.object_id <> directory_stage.object_id);
         UPDATE directory_stage SET action = 'reject', problem = 'address_taken',
            message = upn || ': the address ' || address || ' is already registered to another account here.'
          WHERE action IS NULL AND EXISTS (SELECT 1 FROM mail_accounts a WHERE a.address = directory_stage.address
            AND a.id IS NOT directory_stage.account_id);
         UPDATE directory_stage SET action = 'reject', problem = 'duplicate_login',
            message = upn || ': the login name ' || login_name || ' is also made for another directory user read before; choose another login-name rule.'
          WHERE action IS NULL AND EXISTS (SELECT 1 FROM directory_stage s2 WHERE s2.login_name = directory_stage.login_name COLLATE NOCASE
            AND s2.seq < directory_stage.seq AND s2.row_problem IS NULL AND s2.enabled = 1 AND s2.object_id <> directory_stage.object_id);
         UPDATE directory_stage SET action = 'reject', problem = 'login_taken',
            message = upn || ': the login name ' || login_name || ' belongs to a user here whose account comes from another directory user.'
          WHERE action IS NULL AND EXISTS (SELECT 1 FROM users u JOIN mail_accounts a ON a.user_id = u.id
            WHERE u.login_name = directory_stage.login_name AND a.directory_id IS NOT NULL AND a.directory_id <> directory_stage.object_id);
         UPDATE directory_stage SET action = 'create' WHERE action IS NULL AND account_id IS NULL;",
    )
    .map_err(sql)?;
    tx.execute(
        "UPDATE directory_stage SET action = CASE WHEN EXISTS (
            SELECT 1 FROM mail_accounts a JOIN users u ON u.id = a.user_id
             WHERE a.id = directory_stage.account_id AND u.login_name = directory_stage.login_name COLLATE BINARY
               AND u.display_name = directory_stage.display_name AND a.display_name = directory_stage.display_name
               AND a.address = directory_stage.address COLLATE BINARY AND a.source = 'directory'
               AND a.directory_id = directory_stage.object_id AND a.directory_scope = ?1
               AND a.directory_state = 'present') THEN 'unchanged' ELSE 'update' END
          WHERE action IS NULL",
        [scope],
    )
    .map_err(sql)?;
    // Accounts read from this scope before whose user is gone from it now.
    tx.execute(
        "INSERT INTO directory_stage (object_id, upn, login_name, display_name, address, enabled, problem, message, account_id, action)
         SELECT a.directory_id, '', u.login_name, u.display_name, a.address, 0, 'gone',
                a.address || ' is no longer in the directory (or in the group).', a.id, 'gone'
           FROM mail_accounts a JOIN users u ON u.id = a.user_id
          WHERE a.source = 'directory' AND a.directory_scope = ?1 AND a.directory_state IS NOT 'gone'
            AND NOT EXISTS (SELECT 1 FROM directory_stage s WHERE s.object_id = a.directory_id)",
        [scope],
    )
    .map_err(sql)?;
    Ok(())
}

/// The staged read's meta data, or the error that there is none to preview or apply.
pub fn meta(conn: &Connection) -> Result<StageMeta, UiError> {
    conn.query_row(
        "SELECT scope, scope_name, login_rule, pages, complete FROM directory_stage_meta WHERE id = 1",
        [],
        |r| {
            Ok(StageMeta {
                scope: r.get(0)?,
                scope_name: r.get(1)?,
                login_rule: LoginRule::parse(&r.get::<_, String>(2)?).unwrap_or_default(),
                pages: r.get(3)?,
                complete: r.get::<_, i64>(4)? == 1,
            })
        },
    )
    .optional()
    .map_err(sql)?
    .filter(|m| m.complete)
    .ok_or_else(|| {
        UiError::new(
            ErrorKind::DirectoryNotRead,
            Actor::Admin,
            "There is no complete directory read to preview or apply (none was made, it was cancelled or failed, or it was applied already). Read the directory again.",
        )
    })
}

/// Marks the read complete and computes its diff.
pub fn finish(conn: &mut Connection) -> Result<DirectoryPreview, UiError> {
    let tx = conn.transaction().map_err(sql)?;
    let scope: String =
        tx.query_row("SELECT scope FROM directory_stage_meta WHERE id = 1", [], |r| r.get(0)).map_err(sql)?;
    classify(&tx, &scope)?;
    tx.execute("UPDATE directory_stage_meta SET complete = 1 WHERE id = 1", []).map_err(sql)?;
    tx.commit().map_err(sql)?;
    summary(conn)
}

/// The counts of the staged diff.
pub fn summary(conn: &Connection) -> Result<DirectoryPreview, UiError> {
    let m = meta(conn)?;
    let mut p = DirectoryPreview {
        scope: m.scope,
        scope_name: m.scope_name,
        login_rule: m.login_rule,
        pages: m.pages,
        users_read: 0,
        creates: 0,
        updates: 0,
        unchanged: 0,
        disables: 0,
        gone: 0,
        rejected: 0,
        skipped: 0,
    };
    let mut stmt = conn.prepare("SELECT action, count(*) FROM directory_stage GROUP BY action").map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let action: Option<String> = r.get(0).map_err(sql)?;
        let n: u32 = r.get(1).map_err(sql)?;
        match action.as_deref().and_then(DirectoryAction::parse) {
            Some(DirectoryAction::Create) => p.creates = n,
            Some(DirectoryAction::Update) => p.updates = n,
            Some(DirectoryAction::Unchanged) => p.unchanged = n,
            Some(DirectoryAction::Disable) => p.disables = n,
            Some(DirectoryAction::Gone) => p.gone = n,
            Some(DirectoryAction::Reject) => p.rejected = n,
            Some(DirectoryAction::Skip) | None => p.skipped += n,
        }
        if action.as_deref() != Some("gone") {
            p.users_read += n;
        }
    }
    Ok(p)
}

/// A page of the diff, in the order read (gone accounts last).
pub fn page(conn: &Connection, q: &DirectoryDiffQuery) -> Result<DirectoryDiffPage, UiError> {
    meta(conn)?;
    let action = q.action.map(DirectoryAction::as_str);
    let filter = "WHERE (?1 IS NULL AND s.action <> 'unchanged') OR s.action = ?1";
    let total: u32 = conn
        .query_row(&format!("SELECT count(*) FROM directory_stage s {filter}"), params![action], |r| r.get(0))
        .map_err(sql)?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT s.seq, s.action, s.upn, s.login_name, s.display_name, s.address, u.login_name, u.display_name,
                    a.address, s.problem, s.message
               FROM directory_stage s LEFT JOIN mail_accounts a ON a.id = s.account_id LEFT JOIN users u ON u.id = a.user_id
               {filter} ORDER BY s.seq LIMIT ?2 OFFSET ?3"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![action, q.limit.min(MAX_DIFF_PAGE), q.offset], |r| {
            let action = DirectoryAction::parse(&r.get::<_, String>(1)?).unwrap_or(DirectoryAction::Skip);
            let problem: Option<String> = r.get(9)?;
            Ok(DirectoryDiffRow {
                seq: r.get(0)?,
                action,
                user_principal_name: r.get(2)?,
                login_name: r.get(3)?,
                display_name: r.get(4)?,
                address: r.get(5)?,
                old_login_name: r.get(6)?,
                old_display_name: r.get(7)?,
                old_address: r.get(8)?,
                reason: problem,
                message: r.get(10)?,
            })
        })
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql)?;
    Ok(DirectoryDiffPage { total, offset: q.offset, rows })
}
