//! The keychain ledger: in SQLite, every (tenant, mailbox) for which this app may have written
//! keychain items. The `keyring` crate cannot list a service's entries, so without this record
//! the tokens of a deleted account, or of a tenant replaced by an invitation, could never be
//! found again.
//!
//! Rules: a row is written BEFORE the first keychain write of a sign-in (so a crash between the
//! two leaves a row too many, never a secret nobody knows about), and removed only AFTER both
//! items are gone from the keychain. A row names a keychain entry; it never holds a secret.

use rusqlite::{params, Connection};

use crate::keychain::AccountKey;
use crate::store::now;

/// Records that `key` may get keychain items (idempotent).
pub(crate) fn record(conn: &Connection, key: &AccountKey) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO keychain_ledger (tenant_id, address, recorded_at) VALUES (?1, ?2, ?3)")?
        .execute(params![key.tenant(), key.address(), now()])?;
    Ok(())
}

/// Forgets `key`: call only once its keychain items are deleted.
pub(crate) fn forget(conn: &Connection, key: &AccountKey) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM keychain_ledger WHERE tenant_id = ?1 AND address = ?2")?
        .execute(params![key.tenant(), key.address()])?;
    Ok(())
}

/// The keys recorded for one mailbox, under any tenant.
pub(crate) fn for_address(conn: &Connection, address: &str) -> rusqlite::Result<Vec<AccountKey>> {
    let mut stmt = conn.prepare_cached("SELECT tenant_id, address FROM keychain_ledger WHERE address = ?1")?;
    let rows =
        stmt.query_map([address.trim()], |r| Ok(AccountKey::new(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?)))?;
    rows.collect()
}

/// One recorded key with what the store says about it.
pub(crate) struct Recorded {
    pub key: AccountKey,
    pub recorded_at: String,
    /// The registered account's status, when the address is registered under the current tenant.
    pub status: Option<String>,
}

/// Every recorded key. `status` is set when the key belongs to a registered account of the
/// organization currently set up (its tenant and address); otherwise the items are orphans.
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<Recorded>> {
    let mut stmt = conn.prepare(
        "SELECT l.tenant_id, l.address, l.recorded_at, a.status
         FROM keychain_ledger l
         LEFT JOIN org_settings o ON lower(o.tenant_id) = l.tenant_id
         LEFT JOIN mail_accounts a ON a.address = l.address AND o.id IS NOT NULL
         ORDER BY l.address, l.tenant_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Recorded {
            key: AccountKey::new(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?),
            recorded_at: r.get(2)?,
            status: r.get(3)?,
        })
    })?;
    rows.collect()
}
