//! Step 2: users and their mail accounts.
//!
//! A user (login name, display name) has one or more mail accounts (address, display name,
//! receive protocol, server). Users exist only through their accounts: one is created with its
//! first account and removed with its last, so there is nothing for the admin to clean up.
//! Every write validates first, then changes the rows and the audit log in one transaction.

use crate::DetailKey;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde_json::json;

use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{AccountInput, AccountPage, AccountQuery, AccountRow, AccountStatus, ReceiveProtocol};
use crate::org::{server, sql};
use crate::store::{audit, now, Store};
use crate::validate;

/// Largest page `list` returns.
pub const MAX_PAGE: u32 = 1000;

const ROW_SELECT: &str = "SELECT a.id, a.user_id, u.login_name, u.display_name, a.address, a.display_name,
        a.receive_protocol, a.server_id, s.name, a.status, a.status_detail, a.status_at
    FROM mail_accounts a JOIN users u ON u.id = a.user_id JOIN mail_servers s ON s.id = a.server_id";

fn row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let status = AccountStatus::parse(&r.get::<_, String>(9)?).unwrap_or(AccountStatus::Error);
    Ok(AccountRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        login_name: r.get(2)?,
        user_display_name: r.get(3)?,
        address: r.get(4)?,
        display_name: r.get(5)?,
        receive_protocol: ReceiveProtocol::parse(&r.get::<_, String>(6)?).unwrap_or(ReceiveProtocol::Imap),
        server_id: r.get(7)?,
        server_name: r.get(8)?,
        status,
        status_detail: r.get(10)?,
        status_at: r.get(11)?,
        has_sign_in: status.has_sign_in(),
        can_check: status.can_check(),
    })
}

/// A page of accounts matching a search over login name, names and address.
pub fn list(conn: &Connection, q: &AccountQuery) -> Result<AccountPage, UiError> {
    let pattern = format!("%{}%", q.search.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let status = q.status.map(|s| s.as_str());
    let filter = "WHERE (?1 = '%%' OR u.login_name LIKE ?1 ESCAPE '\\' OR u.display_name LIKE ?1 ESCAPE '\\'
                    OR a.address LIKE ?1 ESCAPE '\\' OR a.display_name LIKE ?1 ESCAPE '\\')
                   AND (?2 IS NULL OR a.status = ?2)";
    let total: u32 = conn
        .prepare_cached(&format!("SELECT count(*) FROM mail_accounts a JOIN users u ON u.id = a.user_id {filter}"))
        .and_then(|mut s| s.query_row(params![pattern, status], |r| r.get(0)))
        .map_err(sql)?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "{ROW_SELECT} {filter} ORDER BY u.login_name COLLATE NOCASE, a.address LIMIT ?3 OFFSET ?4"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![pattern, status, q.limit.min(MAX_PAGE), q.offset], row)
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql)?;
    Ok(AccountPage { total, offset: q.offset, rows })
}

/// Every account `list` would show for `search` and `status`, one page after another with the
/// same filter (what `exo-setup accounts list` prints; the wizard pages through [`list`] itself).
pub fn list_all(conn: &Connection, search: &str, status: Option<AccountStatus>) -> Result<Vec<AccountRow>, UiError> {
    let mut q = AccountQuery { search: search.to_owned(), status, offset: 0, limit: MAX_PAGE };
    let mut rows = Vec::new();
    loop {
        let page = list(conn, &q)?;
        let got = page.rows.len() as u32;
        rows.extend(page.rows);
        if got == 0 || rows.len() as u32 >= page.total {
            return Ok(rows);
        }
        q.offset += got;
    }
}

/// One account.
pub fn get(conn: &Connection, id: i64) -> Result<AccountRow, UiError> {
    conn.query_row(&format!("{ROW_SELECT} WHERE a.id = ?1"), [id], row).optional().map_err(sql)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::AccountNotFound,
            Actor::Admin,
            format!("There is no mail account with id {id}; it may have been deleted."),
        )
        .with(DetailKey::Id, id)
    })
}

/// An account by address (case-insensitive).
pub fn find_by_address(conn: &Connection, address: &str) -> Result<Option<AccountRow>, UiError> {
    conn.query_row(&format!("{ROW_SELECT} WHERE a.address = ?1"), [address.trim()], row).optional().map_err(sql)
}

/// An [`AccountInput`] after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAccount {
    pub login_name: String,
    pub user_display_name: String,
    pub address: String,
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
}

/// Checks the fields of an account (syntax only; the server and duplicates are checked against
/// the store). Empty display names default to the login name / the user's display name.
pub fn validate_fields(input: &AccountInput) -> Result<ValidAccount, UiError> {
    let login_name = validate::login_name(&input.login_name)?;
    let user_display_name = validate::display_name(&input.user_display_name)?;
    let user_display_name = if user_display_name.is_empty() { login_name.clone() } else { user_display_name };
    let address = validate::address(&input.address)?;
    let display_name = validate::display_name(&input.display_name)?;
    let display_name = if display_name.is_empty() { user_display_name.clone() } else { display_name };
    Ok(ValidAccount { login_name, user_display_name, address, display_name, receive_protocol: input.receive_protocol })
}

fn require_enabled_server(conn: &Connection, server_id: i64) -> Result<(), UiError> {
    let s = server(conn, server_id)?;
    if !s.enabled {
        return Err(UiError::new(
            ErrorKind::ServerDisabled,
            Actor::Admin,
            format!("The mail server '{}' is not in use. Turn it on first (step 1).", s.name),
        )
        .with(DetailKey::Server, &s.name));
    }
    Ok(())
}

/// Finds the user by login name or creates it; updates the display name when it differs.
/// One statement (upsert with RETURNING): CSV import calls it once per row.
pub(crate) fn upsert_user(tx: &Connection, login_name: &str, display_name: &str, ts: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (login_name) DO UPDATE SET display_name = excluded.display_name,
           updated_at = CASE WHEN users.display_name IS excluded.display_name THEN users.updated_at ELSE excluded.updated_at END
         RETURNING id",
    )?
    .query_row(params![login_name, display_name, ts], |r| r.get(0))
}

pub(crate) fn remove_orphan_users(tx: &Connection) -> rusqlite::Result<usize> {
    tx.execute("DELETE FROM users WHERE NOT EXISTS (SELECT 1 FROM mail_accounts a WHERE a.user_id = users.id)", [])
}

fn duplicate(conn: &Connection, address: &str, except_id: Option<i64>) -> Result<(), UiError> {
    let owner: Option<(i64, String)> = conn
        .query_row(
            "SELECT a.id, u.login_name FROM mail_accounts a JOIN users u ON u.id = a.user_id WHERE a.address = ?1",
            [address],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    match owner {
        Some((id, owner)) if Some(id) != except_id => Err(UiError::new(
            ErrorKind::AddressDuplicate,
            Actor::Admin,
            format!("The address {address} is already registered (user '{owner}')."),
        )
        .with(DetailKey::Address, address)
        .with(DetailKey::Owner, owner)),
        _ => Ok(()),
    }
}

/// Adds a mail account (creating its user if needed).
pub fn add(store: &Store, input: &AccountInput) -> Result<AccountRow, UiError> {
    let v = validate_fields(input)?;
    let mut conn = store.conn();
    require_enabled_server(&conn, input.server_id)?;
    duplicate(&conn, &v.address, None)?;
    let tx = conn.transaction().map_err(sql)?;
    let id = insert_account(&tx, &v, input.server_id, &now()).map_err(sql)?;
    audit(&tx, "account.add", &v.address, json!({ "login": v.login_name, "server": input.server_id })).map_err(sql)?;
    tx.commit().map_err(sql)?;
    get(&conn, id)
}

pub(crate) fn insert_account(
    tx: &Transaction<'_>,
    v: &ValidAccount,
    server_id: i64,
    ts: &str,
) -> rusqlite::Result<i64> {
    let user_id = upsert_user(tx, &v.login_name, &v.user_display_name, ts)?;
    insert_account_for(tx, user_id, v, server_id, ts)
}

/// Inserts an account for a known user.
/// `(user_id, address, display_name, receive_protocol, server_id, timestamp)`
pub(crate) const INSERT_ACCOUNT: &str =
    "INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";

/// `(id, user_id, address, display_name, receive_protocol, server_id, timestamp)`
pub(crate) const UPDATE_ACCOUNT: &str =
    "UPDATE mail_accounts SET user_id = ?2, address = ?3, display_name = ?4, receive_protocol = ?5, server_id = ?6,
       updated_at = ?7 WHERE id = ?1";

pub(crate) fn insert_account_for(
    tx: &Transaction<'_>,
    user_id: i64,
    v: &ValidAccount,
    server_id: i64,
    ts: &str,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(INSERT_ACCOUNT)?.execute(params![
        user_id,
        v.address,
        v.display_name,
        v.receive_protocol.as_str(),
        server_id,
        ts
    ])?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn update_account_row(
    tx: &Transaction<'_>,
    id: i64,
    v: &ValidAccount,
    server_id: i64,
    ts: &str,
) -> rusqlite::Result<()> {
    let user_id = upsert_user(tx, &v.login_name, &v.user_display_name, ts)?;
    update_account_for(tx, id, user_id, v, server_id, ts)
}

/// Updates an account, attaching it to a known user.
pub(crate) fn update_account_for(
    tx: &Transaction<'_>,
    id: i64,
    user_id: i64,
    v: &ValidAccount,
    server_id: i64,
    ts: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(UPDATE_ACCOUNT)?.execute(params![
        id,
        user_id,
        v.address,
        v.display_name,
        v.receive_protocol.as_str(),
        server_id,
        ts
    ])?;
    Ok(())
}

/// Checks a change of a mail account without writing: the account before and the new fields.
pub(crate) fn check_update(
    conn: &Connection,
    id: i64,
    input: &AccountInput,
) -> Result<(AccountRow, ValidAccount), UiError> {
    let v = validate_fields(input)?;
    let before = get(conn, id)?;
    if before.server_id != input.server_id {
        require_enabled_server(conn, input.server_id)?;
    } else {
        server(conn, input.server_id)?;
    }
    duplicate(conn, &v.address, Some(id))?;
    Ok((before, v))
}

/// Changes a mail account. Moving it to another login name moves it to that user.
/// The store part only: front ends call [`crate::auth::Auth::update_account`], which removes the
/// old address's keychain items first when the address changes.
pub fn update(store: &Store, id: i64, input: &AccountInput) -> Result<AccountRow, UiError> {
    let mut conn = store.conn();
    let (before, v) = check_update(&conn, id, input)?;
    let tx = conn.transaction().map_err(sql)?;
    update_account_row(&tx, id, &v, input.server_id, &now()).map_err(sql)?;
    // A new address is a new mailbox: whatever sign-in state the old one had does not apply.
    if !before.address.eq_ignore_ascii_case(&v.address) {
        tx.execute(
            "UPDATE mail_accounts SET status = 'not_signed_in', status_detail = NULL, status_at = NULL WHERE id = ?1",
            [id],
        )
        .map_err(sql)?;
    }
    remove_orphan_users(&tx).map_err(sql)?;
    audit(&tx, "account.update", &v.address, json!({ "id": id, "before": before.address, "login": v.login_name }))
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    get(&conn, id)
}

/// Deletes a mail account's row (and its user when it was the user's last account). The store
/// part only: front ends call [`crate::auth::Auth::delete_account`], which signs the account out
/// of the keychain first. Called alone, its keychain items stay recorded in the keychain ledger
/// (and are listed as orphans).
pub fn delete(store: &Store, id: i64) -> Result<(), UiError> {
    delete_with(store, id, json!({}), |_| Ok(()))
}

/// [`delete`] with more audit detail and more writes (`also`) in the same transaction.
pub(crate) fn delete_with(
    store: &Store,
    id: i64,
    detail: serde_json::Value,
    also: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
) -> Result<(), UiError> {
    let mut conn = store.conn();
    let before = get(&conn, id)?;
    let tx = conn.transaction().map_err(sql)?;
    tx.execute("DELETE FROM mail_accounts WHERE id = ?1", [id]).map_err(sql)?;
    remove_orphan_users(&tx).map_err(sql)?;
    also(&tx).map_err(sql)?;
    let mut d = json!({ "id": id, "login": before.login_name });
    if let (Some(d), serde_json::Value::Object(extra)) = (d.as_object_mut(), detail) {
        d.extend(extra);
    }
    audit(&tx, "account.delete", &before.address, d).map_err(sql)?;
    crate::fault::point("delete.before_commit");
    tx.commit().map_err(sql)
}

/// Number of accounts.
pub fn count(conn: &Connection) -> Result<u32, UiError> {
    conn.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0)).map_err(sql)
}
