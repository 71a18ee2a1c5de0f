//! The import pipeline at scale, against real SQLite files: duplicates and the comparison with the
//! store found by SQL over the staged rows, a re-import that changes nothing writes nothing, row
//! errors paged out with their exact total, and all of them streamed in line order.

mod common;

use common::{count, store_with_exchange_on};
use exo_setup_core::csv_io;
use exo_setup_core::import::ERRORS_SHOWN;
use exo_setup_core::model::{ImportAction, ImportMode};
use exo_setup_core::DetailKey;
use exo_setup_core::ErrorKind;

fn rows(n: usize, first: usize) -> String {
    let mut s = String::from("login_name,display_name,mail_address\n");
    for i in first..first + n {
        s.push_str(&format!("u{i},利用者 {i},u{i}@contoso.example\n"));
    }
    s
}

#[test]
fn duplicates_in_the_file_name_the_first_valid_line_whatever_the_case() {
    let t = store_with_exchange_on();
    let csv = "login_name,mail_address\n\
a,bad-address\n\
b,Same@Contoso.example\n\
c,other@contoso.example\n\
d,SAME@contoso.example\n\
e,same@contoso.example\n\
f,other@contoso.example\n";
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    let found: Vec<(u32, &str, Option<&str>)> = p
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str(), e.detail.get(&DetailKey::FirstLine).map(String::as_str)))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, "invalid_address", None),
            (5, "duplicate_in_file", Some("3")),
            (6, "duplicate_in_file", Some("3")),
            (7, "duplicate_in_file", Some("4")),
        ]
    );
    assert_eq!(p.errors[1].column.as_deref(), Some("mail_address"));
    assert_eq!(p.errors[1].message, "Line 5: same@contoso.example already appears on line 3.");
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows, p.error_count), (6, 2, 4, 4));
    let lines: Vec<u32> = p.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4]);
    // Valid rows only: the first of each address goes in, nothing else.
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::ValidRowsOnly).unwrap();
    assert_eq!((o.created, o.skipped), (2, 4));
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts"), 2);
    assert_eq!(
        count(
            &t.store,
            "SELECT count(*) FROM mail_accounts a JOIN users u ON u.id = a.user_id WHERE u.login_name = 'b'"
        ),
        1
    );
}

#[test]
fn a_user_over_several_rows_keeps_its_first_login_and_its_last_display_name() {
    let t = store_with_exchange_on();
    let csv = "login_name,display_name,mail_address\n\
Yamada,山田 一,one@contoso.example\n\
yamada,山田 二,two@contoso.example\n\
YAMADA,山田 三,three@contoso.example\n";
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!(o.created, 3);
    let (login, name): (String, String) = t
        .store
        .conn()
        .query_row("SELECT login_name, display_name FROM users", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((login.as_str(), name.as_str()), ("Yamada", "山田 三"));
    // Rows applied in line order: an update naming the user 山田 一, then a new account naming
    // them 山田 四 — the last one wins, as a row-by-row import would leave it.
    let csv = "login_name,display_name,mail_address\n\
Yamada,山田 一,one@contoso.example\n\
yamada,山田 四,four@contoso.example\n";
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.unchanged), (1, 1, 0));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users WHERE display_name = '山田 四'"), 1);
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 1);
}

#[test]
fn new_and_existing_users_in_one_import_each_end_with_their_last_rows_display_name() {
    let t = store_with_exchange_on();
    let csv = "login_name,display_name,mail_address\nSato,佐藤 一,sato1@contoso.example\n";
    csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    t.store.conn().execute_batch("UPDATE users SET updated_at = 'mark'").unwrap();
    // A user the store has, between the rows of a new one spelt three ways.
    let csv = "login_name,display_name,mail_address\n\
Suzuki,鈴木 一,suzuki1@contoso.example\n\
sato,佐藤 二,sato2@contoso.example\n\
SUZUKI,鈴木 二,suzuki2@contoso.example\n\
suzuki,鈴木 三,suzuki3@contoso.example\n";
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.unchanged), (4, 0, 0));
    let users: Vec<(String, String, bool)> = t
        .store
        .conn()
        .prepare("SELECT login_name, display_name, updated_at = 'mark' FROM users ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        users,
        vec![("Sato".to_owned(), "佐藤 二".to_owned(), false), ("Suzuki".to_owned(), "鈴木 三".to_owned(), false)]
    );
    assert_eq!(
        count(
            &t.store,
            "SELECT count(*) FROM mail_accounts a JOIN users u ON u.id = a.user_id WHERE u.login_name = 'Suzuki'"
        ),
        3
    );
    // The same file again: every row names its user differently from how the user now is (a
    // display name or spelling of an earlier row), so each account counts as updated, but the
    // users already end as the last rows say and are not written.
    t.store.conn().execute_batch("UPDATE users SET updated_at = 'mark'").unwrap();
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated), (0, 4));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users WHERE updated_at <> 'mark'"), 0);
}

#[test]
fn reimporting_an_unchanged_file_counts_every_row_and_writes_no_account() {
    let t = store_with_exchange_on();
    let csv = rows(3000, 0);
    let first = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!(first.created, 3000);
    t.store
        .conn()
        .execute_batch("UPDATE mail_accounts SET updated_at = 'mark'; UPDATE users SET updated_at = 'mark'")
        .unwrap();
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    assert_eq!((p.creates, p.updates, p.unchanged, p.error_count), (0, 0, 3000, 0));
    assert!(p.rows.iter().all(|r| r.action == ImportAction::Unchanged));
    let again = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!((again.created, again.updated, again.unchanged, again.skipped), (0, 0, 3000, 0));
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts WHERE updated_at <> 'mark'"), 0);
    assert_eq!(count(&t.store, "SELECT count(*) FROM users WHERE updated_at <> 'mark'"), 0);
    assert_eq!(count(&t.store, "SELECT count(*) FROM audit_log WHERE action = 'csv.import'"), 2);
    // One change among them is one update; the others stay untouched.
    let changed = csv.replace("u1234,利用者 1234,", "u1234,利用者 千二百三十四,");
    let o = csv_io::import(&t.store, changed.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.unchanged), (0, 1, 2999));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users WHERE updated_at <> 'mark'"), 1);
}

#[test]
fn row_errors_are_paged_with_their_exact_total_and_streamed_in_full() {
    let t = store_with_exchange_on();
    // 2,500 bad rows (each a bad address) among 500 good ones, every sixth row good.
    let mut csv = String::from("login_name,mail_address\n");
    for i in 0..3000 {
        if i % 6 == 0 {
            csv.push_str(&format!("ok{i},ok{i}@contoso.example\n"));
        } else {
            csv.push_str(&format!("bad{i},bad{i}-at-nowhere\n"));
        }
    }
    let mut streamed = Vec::new();
    let p = csv_io::preview_streaming(&t.store, csv.as_bytes(), |e| streamed.push(e.line)).unwrap();
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows, p.error_count), (3000, 500, 2500, 2500));
    assert_eq!(p.errors.len(), ERRORS_SHOWN as usize);
    assert_eq!(streamed.len(), 2500);
    assert!(streamed.windows(2).all(|w| w[0] < w[1]), "errors in line order");
    assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), streamed[..ERRORS_SHOWN as usize]);
    // All or nothing: refused with the exact count, every error handed out, nothing written.
    let mut streamed = 0;
    let e =
        csv_io::import_streaming(&t.store, csv.as_bytes(), ImportMode::AllOrNothing, |_| streamed += 1).unwrap_err();
    assert_eq!(
        (e.kind, e.detail[&DetailKey::Errors].as_str(), e.detail[&DetailKey::FirstLine].as_str()),
        (ErrorKind::CsvRejected, "2500", "3")
    );
    assert_eq!(streamed, 2500);
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts"), 0);
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::ValidRowsOnly).unwrap();
    assert_eq!((o.created, o.skipped, o.error_count, o.errors.len()), (500, 2500, 2500, ERRORS_SHOWN as usize));
}
