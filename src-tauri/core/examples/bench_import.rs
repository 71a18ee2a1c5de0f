//! Benchmark: CSV import of 10,000 accounts through `csv_io::import` (decode, parse, validate,
//! duplicate checks, upsert, audit) against a raw batched rusqlite insert of the same rows into
//! the same schema. Both run in this process on fresh database files; the median of several runs
//! is printed with the ratio. Target: ≤ 1.5× and under 1 s.
//!
//! `cargo run --release -p exo-setup-core --example bench_import`

use std::time::{Duration, Instant};

use exo_setup_core::csv_io;
use exo_setup_core::model::ImportMode;
use exo_setup_core::Store;

const ROWS: usize = 10_000;
const RUNS: usize = 7;

fn csv() -> String {
    let mut s = String::from("login_name,display_name,mail_address,receive_protocol,server,account_name\r\n");
    for i in 0..ROWS {
        s.push_str(&format!(
            "user{i:05},利用者 {i:05},user{i:05}@contoso.example,{},Exchange Online,\r\n",
            if i % 3 == 0 { "POP3" } else { "IMAP" }
        ));
    }
    s
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    store.conn().execute("UPDATE mail_servers SET enabled = 1 WHERE id = 1", []).unwrap();
    (dir, store)
}

fn ours(bytes: &[u8]) -> Duration {
    let (_dir, store) = fresh();
    let t = Instant::now();
    let o = csv_io::import(&store, bytes, ImportMode::AllOrNothing).unwrap();
    let d = t.elapsed();
    assert_eq!(o.created as usize, ROWS);
    d
}

fn raw(text: &str) -> Duration {
    let (_dir, store) = fresh();
    let t = Instant::now();
    let mut conn = store.conn();
    let tx = conn.transaction().unwrap();
    {
        let mut user = tx
            .prepare("INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)")
            .unwrap();
        let mut acct = tx
            .prepare("INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)")
            .unwrap();
        let now = "2026-01-01T00:00:00Z";
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            user.execute(rusqlite::params![f[0], f[1], now]).unwrap();
            let id = tx.last_insert_rowid();
            acct.execute(rusqlite::params![id, f[2], f[1], f[3].to_ascii_lowercase(), now]).unwrap();
        }
    }
    tx.commit().unwrap();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = csv();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(ours(text.as_bytes()));
        b.push(raw(&text));
    }
    let (a, b) = (median(a), median(b));
    if std::env::var_os("BENCH_DETAIL").is_some() {
        let (_d, store) = fresh();
        let t = Instant::now();
        for _ in 0..5 {
            csv_io::preview(&store, text.as_bytes()).unwrap();
        }
        println!("preview (check only) {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
    }
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    println!(
        "import  exo-setup {:.0} ms  raw rusqlite {:.0} ms  ratio {:.2}x (target ≤ 1.5x, < 1000 ms)  [{ROWS} rows, median of {RUNS}]",
        a.as_secs_f64() * 1000.0,
        b.as_secs_f64() * 1000.0,
        ratio
    );
}
