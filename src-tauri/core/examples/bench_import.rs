//! Benchmark: CSV import through `csv_io` (decode, parse, validate, stage, SQL duplicate checks,
//! compare, apply, audit) against a raw batched rusqlite insert of the same rows into the same
//! schema, in this process on fresh database files.
//!
//! 1. 10,000 accounts from memory, median of several runs, with the ratio. Target: ≤ 1.5×, < 1 s.
//! 2. Scale: a generated CSV file with Japanese display names (`EXO_BENCH_IMPORT_ROWS`, default
//!    100,000 so CI stays short; 1,000,000 for the figure) imported from the file, then
//!    imported again unchanged; time and peak RSS (VmHWM, reset between phases through
//!    `/proc/self/clear_refs`) of each, and the raw rusqlite insert of the same file as the
//!    baseline. Target at 1,000,000 rows: each under 10 s with a peak under 200 MB.
//! 3. Step 2's account list on that store, as the wizard pages it: the first and the last page,
//!    a search that matches one account and one that matches none (every row looked at), median
//!    of 5 each. Target: each under 200 ms (a click answered without a wait the user notices; the
//!    first page, what opening step 2 shows, well under 100 ms).
//!
//! `cargo run --release -p exo-setup-core --example bench_import`

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use exo_setup_core::model::{AccountQuery, ImportMode};
use exo_setup_core::{accounts, csv_io, Store};

const ROWS: usize = 10_000;
const RUNS: usize = 7;
const HEADER: &str = "login_name,display_name,mail_address,receive_protocol,server,account_name\r\n";

fn row(i: usize) -> String {
    format!(
        "user{i:07},山田 太郎 {i:07},user{i:07}@contoso.example,{},Exchange Online,\r\n",
        if i.is_multiple_of(3) { "POP3" } else { "IMAP" }
    )
}

fn csv() -> String {
    let mut s = String::from(HEADER);
    for i in 0..ROWS {
        s.push_str(&row(i));
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

/// The baseline: split each line at commas and insert user and account, one transaction.
fn raw(lines: impl Iterator<Item = String>) -> Duration {
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
        for line in lines.skip(1) {
            let f: Vec<&str> = line.trim_end().split(',').collect();
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

/// Peak resident set size since the last reset, in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kb / 1024.0
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn phase(name: &str, f: impl FnOnce()) -> (Duration, f64) {
    reset_peak();
    let t = Instant::now();
    f();
    let d = t.elapsed();
    let peak = peak_mb();
    println!("  {name:<26} {:>7.2} s  peak RSS {peak:>6.0} MB", d.as_secs_f64());
    (d, peak)
}

fn scale(rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.csv");
    {
        let mut w = BufWriter::new(std::fs::File::create(&file).unwrap());
        w.write_all(HEADER.as_bytes()).unwrap();
        for i in 0..rows {
            w.write_all(row(i).as_bytes()).unwrap();
        }
    }
    let size = std::fs::metadata(&file).unwrap().len() as f64 / 1e6;
    println!("scale: {rows} rows with Japanese display names, {size:.1} MB (EXO_BENCH_IMPORT_ROWS)");
    let open = |p: &Path| std::fs::File::open(p).unwrap();
    let (_db, store) = fresh();
    let (first, first_peak) = phase("import", || {
        let o = csv_io::import_from(&store, open(&file), ImportMode::AllOrNothing).unwrap();
        assert_eq!(o.created as usize, rows);
    });
    let (again, again_peak) = phase("import again (unchanged)", || {
        let o = csv_io::import_from(&store, open(&file), ImportMode::AllOrNothing).unwrap();
        assert_eq!((o.created, o.unchanged as usize), (0, rows));
    });
    list_times(&store, rows);
    drop(store);
    let (base, base_peak) = phase("raw rusqlite insert", || {
        raw(std::io::BufReader::new(open(&file)).lines().map(Result::unwrap));
    });
    println!(
        "scale  import {:.2}x  re-import {:.2}x of raw rusqlite; peaks {first_peak:.0} / {again_peak:.0} MB (raw {base_peak:.0} MB)  [target at 1,000,000 rows: < 10 s, < 200 MB each]",
        first.as_secs_f64() / base.as_secs_f64(),
        again.as_secs_f64() / base.as_secs_f64(),
    );
}

/// The wizard's page size (`ui/src/lib/accounts/pager.svelte.ts`).
const PAGE: u32 = 200;

fn list_times(store: &Store, rows: usize) {
    let conn = store.conn();
    let time = |search: &str, offset: u32, want: usize| {
        let q = AccountQuery { search: search.to_owned(), status: None, offset, limit: PAGE };
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let page = accounts::list(&conn, &q).unwrap();
                    let d = t.elapsed();
                    assert_eq!(page.rows.len(), want, "{search:?} at {offset}");
                    d
                })
                .collect(),
        )
    };
    let last = (rows as u32).saturating_sub(PAGE);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let first = time("", 0, PAGE as usize);
    let end = time("", last, PAGE as usize);
    let one = time(&format!("user{:07}@", rows / 2), 0, 1);
    let none = time("nobody-at-all", 0, 0);
    println!(
        "list   at {rows} accounts: first page {:.1} ms, last page {:.1} ms, search (1 match) {:.1} ms, search (none) {:.1} ms  [target: each < 200 ms]",
        ms(first),
        ms(end),
        ms(one),
        ms(none)
    );
}

fn main() {
    let text = csv();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(ours(text.as_bytes()));
        b.push(raw(text.lines().map(str::to_owned)));
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
    let rows = std::env::var("EXO_BENCH_IMPORT_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    if rows > 0 {
        scale(rows);
    }
}
