//! Writing a staged directory read: the same row checks, one transaction and the audit entry
//! of the CSV import, with the source recorded as "directory".
//!
//! All-or-nothing unless the admin chose valid rows only (then rejected users are left out and
//! counted). New users get accounts on the built-in Exchange Online server (IMAP; the admin can
//! change it per account); changed ones get the directory's name and address; accounts whose
//! user is disabled or gone are flagged (`directory_state`), never deleted.

use crate::DetailKey;
use rusqlite::{params, Connection};
use serde_json::json;

use super::model::DirectoryOutcome;
use super::stage;
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::ImportMode;
use crate::org::sql;
use crate::store::audit;

/// The server directory accounts are created on: the built-in Exchange Online.
const BUILTIN_SERVER: i64 = 1;

/// Applies the staged read. The diff is computed again inside the transaction.
pub fn apply(conn: &mut Connection, mode: ImportMode) -> Result<DirectoryOutcome, UiError> {
    let m = stage::meta(conn)?;
    let enabled: bool = conn
        .query_row("SELECT enabled FROM mail_servers WHERE id = ?1", [BUILTIN_SERVER], |r| r.get(0))
        .map_err(sql)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
    stage::classify(&tx, &m.scope)?;
    let count = |action: &str| -> Result<u32, UiError> {
        tx.query_row("SELECT count(*) FROM directory_stage WHERE action = ?1", [action], |r| r.get(0)).map_err(sql)
    };
    let (creates, updates, unchanged, disables, gone, rejected) =
        (count("create")?, count("update")?, count("unchanged")?, count("disable")?, count("gone")?, count("reject")?);
    if !enabled && creates > 0 {
        return Err(UiError::new(
            ErrorKind::ServerDisabled,
            Actor::Admin,
            "The mail server 'Exchange Online' is not in use. Turn it on first (step 1).",
        )
        .with(DetailKey::Server, "Exchange Online"));
    }
    if mode == ImportMode::AllOrNothing && rejected > 0 {
        let (first, message): (u32, String) = tx
            .query_row(
                "SELECT seq, coalesce(message, problem) FROM directory_stage WHERE action = 'reject' ORDER BY seq LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        return Err(UiError::new(
            ErrorKind::DirectoryRejected,
            Actor::Admin,
            format!("Nothing was imported: {rejected} directory users fail a check (first, user {first}: {message}). Fix them in the directory, choose another login-name rule, or import the valid users only."),
        )
        .with(DetailKey::Errors, rejected)
        .with(DetailKey::FirstRow, first));
    }
    let ts = crate::store::now();
    tx.execute(
        "INSERT INTO users (login_name, display_name, created_at, updated_at)
         SELECT login_name, display_name, ?1, ?1 FROM directory_stage WHERE action IN ('create', 'update')
         ON CONFLICT (login_name) DO UPDATE SET display_name = excluded.display_name,
           updated_at = CASE WHEN users.display_name IS excluded.display_name THEN users.updated_at ELSE excluded.updated_at END",
        [&ts],
    )
    .map_err(sql)?;
    tx.execute(
        "INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, created_at, updated_at,
                                    source, directory_id, directory_scope, directory_state)
         SELECT u.id, s.address, s.display_name, 'imap', ?1, ?2, ?2, 'directory', s.object_id, ?3, 'present'
           FROM directory_stage s JOIN users u ON u.login_name = s.login_name
          WHERE s.action = 'create' ORDER BY s.seq",
        params![BUILTIN_SERVER, ts, m.scope],
    )
    .map_err(sql)?;
    tx.execute(
        "UPDATE mail_accounts SET user_id = u.id, address = s.address, display_name = s.display_name, updated_at = ?1,
                source = 'directory', directory_id = s.object_id, directory_scope = ?2, directory_state = 'present'
           FROM directory_stage s JOIN users u ON u.login_name = s.login_name
          WHERE s.action = 'update' AND mail_accounts.id = s.account_id",
        params![ts, m.scope],
    )
    .map_err(sql)?;
    for (action, state) in [("disable", "disabled"), ("gone", "gone")] {
        tx.execute(
            "UPDATE mail_accounts SET directory_state = ?1, updated_at = ?2
               FROM directory_stage s WHERE s.action = ?3 AND mail_accounts.id = s.account_id",
            params![state, ts, action],
        )
        .map_err(sql)?;
    }
    crate::accounts::remove_orphan_users(&tx).map_err(sql)?;
    audit(
        &tx,
        "directory.import",
        &m.scope_name,
        json!({ "source": "directory", "scope": m.scope, "loginRule": m.login_rule.as_str(), "mode": mode,
                "created": creates, "updated": updates, "unchanged": unchanged, "disabled": disables,
                "gone": gone, "skipped": rejected }),
    )
    .map_err(sql)?;
    tx.execute_batch("DELETE FROM directory_stage; DELETE FROM directory_stage_meta;").map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(DirectoryOutcome {
        mode,
        created: creates,
        updated: updates,
        unchanged,
        disabled: disables,
        gone,
        skipped: rejected,
    })
}
