//! Helpers shared by the integration tests: a store in a temporary directory with Exchange
//! Online turned on (directly in SQLite, as step 1 would leave it; step 1 itself is tested
//! against the emulator in `discovery_and_step1.rs`).
#![allow(dead_code)]

use exo_setup_core::Store;

pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

pub fn store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    TempStore { dir, store }
}

pub fn store_with_exchange_on() -> TempStore {
    let t = store();
    t.store.conn().execute("UPDATE mail_servers SET enabled = 1 WHERE id = 1", []).unwrap();
    t
}

pub fn count(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}
