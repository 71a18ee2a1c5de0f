//! The SQLite file itself: migrations from an empty file, a database of an older version
//! upgraded in place, constraints that keep bad data out even if code forgets a check, and
//! that no secret-looking column exists.

mod common;

use exo_setup_core::store::MIGRATIONS;
use exo_setup_core::Store;

#[test]
fn fresh_file_reaches_the_latest_version() {
    let t = common::store();
    let v: i64 = t.store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert!(v >= 1);
    assert!(t.dir.path().join("exo-setup.sqlite3").exists());
}

#[test]
fn an_old_version_is_migrated_in_place_keeping_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exo-setup.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES ('yamada', '山田', 'x', 'x')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(common::count(&store, "SELECT count(*) FROM users"), 1);
}

#[test]
fn a_newer_database_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exo-setup.sqlite3");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 999).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("migrated"), "{err}");
    let v: i64 =
        rusqlite::Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, 999);
}

#[test]
fn constraints_hold_without_the_code() {
    let t = common::store_with_exchange_on();
    let conn = t.store.conn();
    conn.execute(
        "INSERT INTO users (id, login_name, display_name, created_at, updated_at) VALUES (1, 'a', 'A', 'x', 'x')",
        [],
    )
    .unwrap();
    let ins = |addr: &str, status: &str, user: i64| {
        conn.execute(
            "INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, status, created_at, updated_at) VALUES (?1, ?2, 'A', 'imap', 1, ?3, 'x', 'x')",
            rusqlite::params![user, addr, status],
        )
    };
    ins("a@contoso.example", "not_signed_in", 1).unwrap();
    assert!(ins("A@CONTOSO.EXAMPLE", "not_signed_in", 1).is_err(), "addresses are unique case-insensitively");
    assert!(ins("b@contoso.example", "bogus", 1).is_err(), "status is checked");
    assert!(ins("c@contoso.example", "verified", 42).is_err(), "foreign keys are on");
    assert!(conn.execute("INSERT INTO org_settings (id, tenant, tenant_id, client_id, authority, redirect_mode, issuer, verified_at) VALUES (2,'t','t','c','a','deep_link','i','v')", []).is_err());
    conn.execute("DELETE FROM users WHERE id = 1", []).unwrap();
    drop(conn);
    assert_eq!(common::count(&t.store, "SELECT count(*) FROM mail_accounts"), 0, "accounts go with their user");
}

#[test]
fn no_column_could_hold_a_secret() {
    let t = common::store();
    let conn = t.store.conn();
    let mut stmt = conn
        .prepare("SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'")
        .unwrap();
    let cols: Vec<String> = stmt
        .query_map([], |r| Ok(format!("{}.{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(cols.len() > 20);
    for c in cols {
        let l = c.to_lowercase();
        assert!(!["token", "secret", "password", "verifier"].iter().any(|w| l.contains(w)), "{c}");
    }
}

#[test]
fn accounts_signed_in_before_the_keychain_ledger_are_recorded_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exo-setup.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut conn, 3).unwrap();
        conn.execute_batch(
            "INSERT INTO org_settings (id, tenant, tenant_id, client_id, authority, redirect_mode, issuer, verified_at)
               VALUES (1, 'contoso.example', 'AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee', 'c', 'a', 'deep_link', 'i', 'v');
             INSERT INTO users (id, login_name, display_name, created_at, updated_at) VALUES (1, 'y', 'Y', 'x', 'x');
             INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, status, created_at, updated_at)
               VALUES (1, 'Taro@Contoso.example', 'T', 'imap', 1, 'verified', 'x', 'x'),
                      (1, 'hanako@contoso.example', 'H', 'imap', 1, 'not_signed_in', 'x', 'x');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let rows: Vec<(String, String)> = store
        .conn()
        .prepare("SELECT tenant_id, address FROM keychain_ledger")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Lower-cased as in the keychain entry names; the never-signed-in account has no items.
    assert_eq!(rows, [("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".to_owned(), "taro@contoso.example".to_owned())]);
}
