//! The audit log: what changed, when, and by which OS user. Written in the same transaction as
//! the change it describes. `detail` is JSON and never contains a secret.

use rusqlite::{params, Connection};

use crate::model::AuditEntry;

/// The OS account running this process, as the audit log records it.
pub fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_owned())
}

/// Appends an entry. Call inside the transaction of the change.
pub fn audit(conn: &Connection, action: &str, target: &str, detail: serde_json::Value) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO audit_log (at, os_user, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![super::now(), os_user(), action, target, detail.to_string()])?;
    Ok(())
}

/// The newest entries first.
pub fn list_audit(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt =
        conn.prepare("SELECT id, at, os_user, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            os_user: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    rows.collect()
}
