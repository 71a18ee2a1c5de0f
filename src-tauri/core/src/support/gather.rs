//! What a bundle says about this installation, read from the store, the managed policy, the OS and
//! (only to know what to remove, and whether a sign-in is stored) the keychain. Nothing here writes.

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::keychain::{AccountKey, Secret, TokenStore};
use crate::model::AccountStatus;
use crate::org::sql;
use crate::{identity, org, policy, Store, UiError};

/// Accounts listed one by one, at most (an administrator's store may hold 200,000; the counts by
/// status cover them all).
pub const MAX_ACCOUNTS: u32 = 5_000;

/// Accounts whose keychain items are looked at, at most (one D-Bus round trip each).
pub const MAX_KEYCHAIN_LOOKUPS: usize = 100;

/// Audit entries carried (the newest).
pub const MAX_AUDIT: u32 = 200;

/// `versions.json`: the app, the OS, the database schema.
pub fn versions(conn: &Connection, now: &str) -> Result<Value, UiError> {
    let schema: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
    Ok(json!({
        "createdAt": now,
        "app": { "name": identity::PRODUCT_NAME, "version": identity::VERSION, "identifier": identity::IDENTIFIER },
        "os": {
            "family": std::env::consts::FAMILY,
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "version": os_version(),
            "kernel": kernel_release(),
        },
        "databaseSchema": schema,
    }))
}

/// `settings.json`: step 1's settings, the servers, the admin consents and the effective managed
/// policy (or why it cannot be used).
pub fn settings(conn: &Connection) -> Result<Value, UiError> {
    let org = org::org_settings(conn).map_err(sql)?;
    let servers = org::servers(conn).map_err(sql)?;
    let origins: Vec<Value> = servers
        .iter()
        .map(|s| match org::endpoints_origin(conn, s.id) {
            Ok(o) => json!({ "server": s.name, "endpointsOrigin": format!("{o:?}") }),
            Err(e) => json!({ "server": s.name, "endpointsOrigin": null, "error": e.kind }),
        })
        .collect();
    let mut stmt = conn
        .prepare("SELECT tenant_id, client_id, scopes, granted_at FROM admin_consents ORDER BY id DESC LIMIT 20")
        .map_err(sql)?;
    let consents: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(json!({
                "tenantId": r.get::<_, String>(0)?,
                "clientId": r.get::<_, String>(1)?,
                "scopes": r.get::<_, String>(2)?,
                "grantedAt": r.get::<_, String>(3)?,
            }))
        })
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(sql)?;
    let managed = match policy::load() {
        Ok(p) => {
            let conflicts = org.as_ref().map(|o| p.conflicts(o)).unwrap_or_default();
            json!({
                "policy": p.view(),
                "allowedMailHosts": p.allowed_mail_hosts,
                "conflictsWithSavedSettings": conflicts,
            })
        }
        Err(e) => json!({ "error": { "kind": e.kind, "message": e.message, "detail": e.detail } }),
    };
    Ok(json!({
        "organization": org,
        "servers": servers,
        "serverEndpointsOrigin": origins,
        "adminConsents": consents,
        "managedPolicy": managed,
    }))
}

/// One account as the bundle lists it.
struct Account {
    address: String,
    status: String,
    detail: Option<String>,
    status_at: Option<String>,
    verified_at: Option<String>,
    verified_protocols: Option<String>,
    protocol: String,
    server: String,
    source: String,
    directory_state: Option<String>,
}

/// `accounts.json` (addresses as they are: the redactor hashes them when asked) and the
/// keychain's values for the listed accounts that have a sign-in, so that they can be removed
/// wherever they might appear.
pub fn accounts(store: &Store, keychain: Option<&dyn TokenStore>) -> Result<(Value, Vec<Secret>), UiError> {
    let (tenant_id, total, by_status, rows) = {
        let conn = store.conn();
        let tenant_id = org::org_settings(&conn).map_err(sql)?.map(|o| o.tenant_id);
        let total: u32 = conn.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0)).map_err(sql)?;
        let mut stmt =
            conn.prepare("SELECT status, count(*) FROM mail_accounts GROUP BY status ORDER BY status").map_err(sql)?;
        let by_status: serde_json::Map<String, Value> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, json!(r.get::<_, u32>(1)?))))
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(sql)?;
        let mut stmt = conn
            .prepare(
                "SELECT a.address, a.status, a.status_detail, a.status_at, a.verified_at, a.verified_protocols,
                        a.receive_protocol, s.name, a.source, a.directory_state
                   FROM mail_accounts a JOIN mail_servers s ON s.id = a.server_id
                  ORDER BY a.address LIMIT ?1",
            )
            .map_err(sql)?;
        let rows: Vec<Account> = stmt
            .query_map([MAX_ACCOUNTS], |r| {
                Ok(Account {
                    address: r.get(0)?,
                    status: r.get(1)?,
                    detail: r.get(2)?,
                    status_at: r.get(3)?,
                    verified_at: r.get(4)?,
                    verified_protocols: r.get(5)?,
                    protocol: r.get(6)?,
                    server: r.get(7)?,
                    source: r.get(8)?,
                    directory_state: r.get(9)?,
                })
            })
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(sql)?;
        (tenant_id, total, by_status, rows)
    };

    let mut secrets = Vec::new();
    let mut lookups = 0;
    let mut keychain_note = Value::Null;
    let mut listed = Vec::with_capacity(rows.len());
    for a in rows {
        let has_sign_in = AccountStatus::parse(&a.status).is_some_and(AccountStatus::has_sign_in);
        let mut stored = Value::Null;
        if let (Some(k), Some(tenant), true) = (keychain, &tenant_id, has_sign_in) {
            if lookups < MAX_KEYCHAIN_LOOKUPS && keychain_note.is_null() {
                lookups += 1;
                let key = AccountKey::new(tenant, &a.address);
                match (k.get_refresh_token(&key), k.get_access_token(&key)) {
                    (Ok(refresh), Ok(access)) => {
                        stored = json!({
                            "refreshToken": refresh.is_some(),
                            "accessTokenExpiresAt": access.as_ref().and_then(|c| chrono::DateTime::from_timestamp(c.expires_at, 0)).map(|d| d.to_rfc3339()),
                        });
                        secrets.extend(refresh);
                        secrets.extend(access.map(|c| c.token));
                    }
                    // A locked or missing keychain: say so once and ask no more.
                    (Err(e), _) | (_, Err(e)) => {
                        keychain_note = json!({ "error": UiError::from(e).kind });
                    }
                }
            }
        }
        listed.push(json!({
            "address": a.address,
            "status": a.status,
            "lastErrorKind": a.detail,
            "statusAt": a.status_at,
            "verifiedAt": a.verified_at,
            "verifiedProtocols": a.verified_protocols,
            "receiveProtocol": a.protocol,
            "server": a.server,
            "source": a.source,
            "directoryState": a.directory_state,
            "keychain": stored,
        }));
    }
    let keychain_asked = match (keychain, keychain_note) {
        (None, _) => json!("not asked"),
        (Some(_), Value::Null) => json!("asked"),
        (Some(_), note) => note,
    };
    let value = json!({
        "total": total,
        "byStatus": by_status,
        "listed": listed.len(),
        "listLimit": MAX_ACCOUNTS,
        "keychain": keychain_asked,
        "accounts": listed,
    });
    Ok((value, secrets))
}

/// `audit.json`: the newest [`MAX_AUDIT`] entries of the audit log.
pub fn audit(conn: &Connection) -> Result<Value, UiError> {
    let entries = crate::store::list_audit(conn, MAX_AUDIT).map_err(sql)?;
    Ok(json!({ "newestFirst": true, "limit": MAX_AUDIT, "entries": entries }))
}

/// The OS's own name and version: `PRETTY_NAME` of `/etc/os-release` on Linux (read through
/// `bounded`: at most 64 KiB of a regular file).
fn os_version() -> Option<String> {
    if cfg!(target_os = "linux") {
        let text = crate::bounded::read_string(std::path::Path::new("/etc/os-release"), 64 * 1024).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
        };
        return field("PRETTY_NAME").or_else(|| field("VERSION_ID"));
    }
    None
}

/// The kernel's release (`uname -r`) on Unix.
fn kernel_release() -> Option<String> {
    #[cfg(unix)]
    {
        // SAFETY: uname fills the zeroed struct we own; its fields are NUL-terminated C strings.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut u) } != 0 {
            return None;
        }
        // SAFETY: as above, `release` is NUL-terminated within its array.
        let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
        Some(release.to_string_lossy().into_owned())
    }
    #[cfg(not(unix))]
    {
        None
    }
}
