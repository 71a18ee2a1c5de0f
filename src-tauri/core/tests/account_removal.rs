//! Deleting an account signs it out first; keychain items whose account is gone are found
//! through the keychain ledger and removed; a status left behind the keychain by an interrupted
//! write is repaired. Against the entra emulator, a real SQLite store and an in-memory keychain
//! whose every entry the tests read.

mod common;

use exo_setup_core::DetailKey;
use std::sync::Arc;

use common::{add_account, grant_consent, org_store, HANAKO, TARO};
use entra_emulator::{Config, Emulator, DEMO_TENANT_ID};
use exo_setup_core::auth::{Auth, SIGN_IN_REPAIRED, SIGN_OUT_REPAIRED};
use exo_setup_core::keychain::{AccountKey, KeychainError, MemoryKeychain, Secret, TokenStore};
use exo_setup_core::model::{AccountInput, AccountStatus, ReceiveProtocol};
use exo_setup_core::{accounts, ErrorKind, Store};

struct Env {
    _dir: tempfile::TempDir,
    _emu: Emulator,
    store: Arc<Store>,
    keychain: Arc<MemoryKeychain>,
    auth: Auth,
}

/// Taro and hanako registered, step 3 done (so that users may sign in).
async fn env() -> Env {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let accounts = [(TARO, ReceiveProtocol::Imap), (HANAKO, ReceiveProtocol::Imap)];
    let (dir, store) = org_store(&emu, DEMO_TENANT_ID, &accounts).await;
    let keychain = Arc::new(MemoryKeychain::new());
    let auth = Auth::new(store.clone(), keychain.clone());
    grant_consent(&auth).await;
    Env { _dir: dir, _emu: emu, store, keychain, auth }
}

fn add(store: &Store, address: &str) -> i64 {
    add_account(store, address, ReceiveProtocol::Imap)
}

async fn sign_in(e: &Env, address: &str) {
    common::sign_in(&e.auth, address).await;
}

fn key(address: &str) -> AccountKey {
    AccountKey::new(DEMO_TENANT_ID, address)
}

fn id_of(e: &Env, address: &str) -> i64 {
    accounts::find_by_address(&e.store.conn(), address).unwrap().unwrap().id
}

fn entries_for(e: &Env, address: &str) -> Vec<String> {
    e.keychain.entries().names().into_iter().filter(|n| n.contains(address)).collect()
}

fn audit_actions(e: &Env) -> Vec<(String, String)> {
    let conn = e.store.conn();
    let mut st = conn.prepare("SELECT action, target FROM audit_log ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test]
async fn deleting_a_signed_in_account_removes_its_keychain_items_first() {
    let e = env().await;
    sign_in(&e, TARO).await;
    sign_in(&e, HANAKO).await;
    assert!(!entries_for(&e, TARO).is_empty());

    e.auth.delete_account(id_of(&e, TARO)).await.unwrap();
    assert_eq!(entries_for(&e, TARO), Vec::<String>::new(), "taro's tokens stayed in the keychain");
    assert!(accounts::find_by_address(&e.store.conn(), TARO).unwrap().is_none());
    assert!(e.keychain.get_refresh_token(&key(HANAKO)).unwrap().is_some(), "hanako's sign-in was touched");
    assert!(e.auth.keychain_orphans().await.unwrap().is_empty());
    let del = audit_actions(&e).into_iter().filter(|(a, _)| a == "account.delete").count();
    assert_eq!(del, 1);

    // Registered again, the mailbox has no sign-in: nothing of the old one is handed out.
    add(&e.store, TARO);
    let err = e.auth.access_token(TARO).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotSignedIn, "{err:?}");
}

#[tokio::test]
async fn a_new_address_removes_the_old_addresses_keychain_items_and_a_refused_change_removes_nothing() {
    let e = env().await;
    sign_in(&e, TARO).await;
    let id = id_of(&e, TARO);
    let mut input = AccountInput {
        login_name: "taro".into(),
        user_display_name: String::new(),
        address: HANAKO.into(),
        display_name: String::new(),
        receive_protocol: ReceiveProtocol::Imap,
        server_id: 1,
    };
    // Refused (hanako is registered): taro stays signed in.
    let err = e.auth.update_account(id, input.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AddressDuplicate);
    assert!(e.keychain.get_refresh_token(&key(TARO)).unwrap().is_some());

    // A display name only: the sign-in stays.
    input.address = TARO.into();
    input.display_name = "Taro".into();
    e.auth.update_account(id, input.clone()).await.unwrap();
    assert!(e.keychain.get_refresh_token(&key(TARO)).unwrap().is_some());

    input.address = "taro.yamada@contoso.example".into();
    let row = e.auth.update_account(id, input).await.unwrap();
    assert_eq!(row.status, AccountStatus::NotSignedIn);
    assert_eq!(entries_for(&e, TARO), Vec::<String>::new(), "the old address's tokens stayed");
    assert!(e.auth.keychain_orphans().await.unwrap().is_empty());
}

/// A keychain that refuses every call (locked).
struct Locked;

impl TokenStore for Locked {
    fn service(&self) -> &str {
        "locked"
    }
    fn get_refresh_token(&self, _: &AccountKey) -> Result<Option<Secret>, KeychainError> {
        Err(locked())
    }
    fn set_refresh_token(&self, _: &AccountKey, _: &Secret) -> Result<(), KeychainError> {
        Err(locked())
    }
    fn delete_refresh_token(&self, _: &AccountKey) -> Result<(), KeychainError> {
        Err(locked())
    }
    fn get_access_token(
        &self,
        _: &AccountKey,
    ) -> Result<Option<exo_setup_core::keychain::CachedAccessToken>, KeychainError> {
        Err(locked())
    }
    fn set_access_token(
        &self,
        _: &AccountKey,
        _: &exo_setup_core::keychain::CachedAccessToken,
    ) -> Result<(), KeychainError> {
        Err(locked())
    }
    fn delete_access_token(&self, _: &AccountKey) -> Result<(), KeychainError> {
        Err(locked())
    }
}

fn locked() -> KeychainError {
    KeychainError::Locked { operation: "delete", service: "locked".into(), cause: "the collection is locked".into() }
}

#[tokio::test]
async fn an_unreachable_keychain_refuses_the_deletion_of_a_signed_in_account_and_deletes_nothing() {
    let e = env().await;
    sign_in(&e, TARO).await;
    // The same store, now with a keychain that cannot be reached.
    let locked = Auth::new(e.store.clone(), Arc::new(Locked));
    let err = locked.delete_account(id_of(&e, TARO)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::KeychainLocked, "{err:?}");
    assert_eq!(err.detail.get(&DetailKey::Address).map(String::as_str), Some(TARO));
    assert!(accounts::find_by_address(&e.store.conn(), TARO).unwrap().is_some(), "the account was deleted");
    assert!(e.keychain.get_refresh_token(&key(TARO)).unwrap().is_some());

    // An account that never signed in here needs no keychain to be deleted.
    locked.delete_account(id_of(&e, HANAKO)).await.unwrap();
    assert!(accounts::find_by_address(&e.store.conn(), HANAKO).unwrap().is_none());
}

#[tokio::test]
async fn orphaned_items_are_listed_and_removed() {
    let e = env().await;
    sign_in(&e, TARO).await;
    sign_in(&e, HANAKO).await;
    // The store alone (as before deletion signed out): taro's items stay, recorded in the ledger.
    accounts::delete(&e.store, id_of(&e, TARO)).unwrap();
    let orphans = e.auth.keychain_orphans().await.unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!((orphans[0].address.as_str(), orphans[0].tenant_id.as_str()), (TARO, DEMO_TENANT_ID));
    assert!(orphans[0].has_refresh_token && orphans[0].has_access_token, "{orphans:?}");
    // Listing removes nothing.
    assert!(!entries_for(&e, TARO).is_empty());

    let removed = e.auth.remove_keychain_orphans().await.unwrap();
    assert_eq!(removed, orphans);
    assert_eq!(entries_for(&e, TARO), Vec::<String>::new());
    assert!(e.keychain.get_refresh_token(&key(HANAKO)).unwrap().is_some());
    assert!(e.auth.keychain_orphans().await.unwrap().is_empty());
    assert!(audit_actions(&e).contains(&("keychain.orphan_removed".into(), TARO.into())));
}

#[tokio::test]
async fn a_status_behind_the_keychain_is_repaired_with_an_audit_entry() {
    let e = env().await;
    sign_in(&e, TARO).await;
    sign_in(&e, HANAKO).await;
    // As after a crash between the keychain writes and the status transaction.
    e.store.conn().execute("UPDATE mail_accounts SET status = 'not_signed_in' WHERE address = ?1", [TARO]).unwrap();
    // And hanako's refresh token lost while the status says signed in.
    e.keychain.delete_account(&key(HANAKO)).unwrap();

    let rows = e.auth.status().await.unwrap();
    let taro = rows.iter().find(|r| r.address == TARO).unwrap();
    assert_eq!((taro.status, taro.has_refresh_token), (AccountStatus::SignedIn, true), "{taro:?}");
    let hanako = rows.iter().find(|r| r.address == HANAKO).unwrap();
    assert_eq!((hanako.status, hanako.has_refresh_token), (AccountStatus::NotSignedIn, false), "{hanako:?}");
    let audit = audit_actions(&e);
    assert!(audit.contains(&(SIGN_IN_REPAIRED.into(), TARO.into())), "{audit:?}");
    assert!(audit.contains(&(SIGN_OUT_REPAIRED.into(), HANAKO.into())), "{audit:?}");

    // Repaired once: a second look changes nothing.
    let n = audit.len();
    e.auth.status().await.unwrap();
    assert_eq!(audit_actions(&e).len(), n);
}

#[tokio::test]
async fn a_token_handed_out_repairs_a_not_signed_in_status() {
    let e = env().await;
    sign_in(&e, TARO).await;
    e.store.conn().execute("UPDATE mail_accounts SET status = 'not_signed_in' WHERE address = ?1", [TARO]).unwrap();
    // A fresh process: nothing in memory, the cached access token comes from the keychain.
    let fresh = Auth::new(e.store.clone(), e.keychain.clone());
    fresh.access_token(TARO).await.unwrap();
    let taro = accounts::find_by_address(&e.store.conn(), TARO).unwrap().unwrap();
    assert_eq!(taro.status, AccountStatus::SignedIn);
    assert!(audit_actions(&e).contains(&(SIGN_IN_REPAIRED.into(), TARO.into())));
}
