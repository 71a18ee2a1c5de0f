//! Step 2's single-account operations against a real SQLite file: validation, duplicates, the
//! enabled-server rule, users appearing and disappearing with their accounts, the audit log,
//! and the searchable list at 10,000 accounts.

mod common;

use common::count;
use exo_setup_core::accounts;
use exo_setup_core::csv_io;
use exo_setup_core::model::{AccountInput, AccountQuery, AccountStatus, ImportMode, ReceiveProtocol};
use exo_setup_core::DetailKey;
use exo_setup_core::ErrorKind;

fn input(login: &str, address: &str) -> AccountInput {
    AccountInput {
        login_name: login.into(),
        user_display_name: format!("{login} さん"),
        address: address.into(),
        display_name: String::new(),
        receive_protocol: ReceiveProtocol::Imap,
        server_id: 1,
    }
}

#[test]
fn add_requires_an_enabled_server() {
    let t = common::store();
    let e = accounts::add(&t.store, &input("yamada", "taro@contoso.example")).unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Server].as_str()), (ErrorKind::ServerDisabled, "Exchange Online"));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 0, "no half-written user");
}

#[test]
fn add_change_delete_with_audit() {
    let t = common::store_with_exchange_on();
    let a = accounts::add(&t.store, &input("yamada", " Taro@Contoso.example ")).unwrap();
    assert_eq!(
        (a.address.as_str(), a.display_name.as_str(), a.status),
        ("taro@contoso.example", "yamada さん", AccountStatus::NotSignedIn)
    );
    let dup = accounts::add(&t.store, &input("sato", "TARO@contoso.example")).unwrap_err();
    assert_eq!((dup.kind, dup.detail[&DetailKey::Owner].as_str()), (ErrorKind::AddressDuplicate, "yamada"));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 1, "the refused add left no user behind");

    // Moving the account to another login name moves it to that user; the old user goes away.
    let mut change = input("sato", "taro@contoso.example");
    change.receive_protocol = ReceiveProtocol::Pop3;
    let b = accounts::update(&t.store, a.id, &change).unwrap();
    assert_eq!((b.login_name.as_str(), b.receive_protocol), ("sato", ReceiveProtocol::Pop3));
    assert_eq!(count(&t.store, "SELECT count(*) FROM users WHERE login_name = 'yamada'"), 0);

    assert_eq!(accounts::update(&t.store, 999, &change).unwrap_err().kind, ErrorKind::AccountNotFound);
    accounts::delete(&t.store, a.id).unwrap();
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 0);
    let actions: Vec<String> = {
        let conn = t.store.conn();
        let mut s = conn.prepare("SELECT action FROM audit_log ORDER BY id").unwrap();
        let v = s.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        v
    };
    assert_eq!(actions, ["account.add", "account.update", "account.delete"]);
    let os_user: String = t.store.conn().query_row("SELECT os_user FROM audit_log LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(!os_user.is_empty());
}

#[test]
fn a_new_address_resets_the_sign_in_status() {
    let t = common::store_with_exchange_on();
    let a = accounts::add(&t.store, &input("yamada", "taro@contoso.example")).unwrap();
    t.store.conn().execute("UPDATE mail_accounts SET status = 'verified' WHERE id = ?1", [a.id]).unwrap();
    let same = accounts::update(&t.store, a.id, &input("yamada", "taro@contoso.example")).unwrap();
    assert_eq!(same.status, AccountStatus::Verified);
    let moved = accounts::update(&t.store, a.id, &input("yamada", "t.yamada@contoso.example")).unwrap();
    assert_eq!(moved.status, AccountStatus::NotSignedIn);
}

#[test]
fn invalid_fields_are_refused() {
    let t = common::store_with_exchange_on();
    assert_eq!(
        accounts::add(&t.store, &input("", "a@contoso.example")).unwrap_err().kind,
        ErrorKind::LoginNameRequired
    );
    assert_eq!(accounts::add(&t.store, &input("x", "a@")).unwrap_err().kind, ErrorKind::AddressInvalid);
    let mut i = input("x", "a@contoso.example");
    i.server_id = 77;
    assert_eq!(accounts::add(&t.store, &i).unwrap_err().kind, ErrorKind::ServerNotFound);
}

#[test]
fn list_searches_and_pages_ten_thousand_accounts() {
    let t = common::store_with_exchange_on();
    let mut csv = String::from("login_name,display_name,mail_address\n");
    for i in 0..10_000 {
        csv.push_str(&format!("user{i:05},利用者 {i},user{i:05}@contoso.example\n"));
    }
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    assert_eq!(o.created, 10_000);
    let q = |search: &str, offset, limit| {
        accounts::list(&t.store.conn(), &AccountQuery { search: search.into(), status: None, offset, limit }).unwrap()
    };
    let page = q("", 9_990, 200);
    assert_eq!((page.total, page.rows.len()), (10_000, 10));
    assert_eq!(page.rows[0].login_name, "user09990");
    let hits = q("user0999", 0, 200);
    assert_eq!(hits.total, 10);
    assert_eq!(q("利用者 4242", 0, 10).rows[0].address, "user04242@contoso.example");
    // LIKE wildcards in the search are literal.
    assert_eq!(q("%", 0, 10).total, 0);
    assert_eq!(q("", 0, 5000).rows.len() as u32, accounts::MAX_PAGE);
    let by_status = accounts::list(
        &t.store.conn(),
        &AccountQuery { search: String::new(), status: Some(AccountStatus::Verified), offset: 0, limit: 10 },
    )
    .unwrap();
    assert_eq!(by_status.total, 0);
}
