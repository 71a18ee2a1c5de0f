//! The organization most tests start from, built once here instead of in every test file: a store
//! in a temporary directory, step 1 saved against the entra emulator (or Exchange Online simply
//! turned on in SQLite, for tests that never reach the network), accounts on it, the admin consent
//! and a user's sign-in through the test browser ([`super::browse`]).

use std::sync::Arc;

use entra_emulator::{Emulator, DEMO_CLIENT_ID};
use exo_setup_core::auth::Auth;
use exo_setup_core::identity::deep_link_redirect_uri;
use exo_setup_core::model::{AccountInput, FlowResult, OrgSettingsInput, ReceiveProtocol, RedirectMode};
use exo_setup_core::Store;

pub const TARO: &str = "taro@contoso.example";
pub const HANAKO: &str = "hanako@contoso.example";

/// A store and the temporary directory it lives in (removed when dropped).
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

/// A fresh store: Exchange Online off, no settings, no accounts.
pub fn store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    TempStore { dir, store }
}

/// A fresh store with Exchange Online turned on directly in SQLite, as step 1 would leave it (step 1
/// itself is tested against the emulator in `step1_discovery.rs`).
pub fn store_with_exchange_on() -> TempStore {
    let t = store();
    t.store.conn().execute("UPDATE mail_servers SET enabled = 1 WHERE id = 1", []).unwrap();
    t
}

/// The one number `sql` selects.
pub fn count(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Step 1's input: `tenant` at `authority` with the emulator's demo application, deep-link redirect.
pub fn org_input(tenant: &str, authority: &str) -> OrgSettingsInput {
    OrgSettingsInput {
        organization_name: String::new(),
        tenant: tenant.into(),
        client_id: DEMO_CLIENT_ID.into(),
        authority: authority.into(),
        redirect_mode: RedirectMode::DeepLink,
    }
}

/// Step 1 saved for `tenant` against the emulator (discovery fetched, Exchange Online on).
pub async fn save_org(store: &Store, emu: &Emulator, tenant: &str) {
    exo_setup_core::org::save_exchange_online(store, &org_input(tenant, &emu.base_url())).await.unwrap();
}

/// An account for `address`: login name its local part, the user named by the address.
pub fn account_input(address: &str, protocol: ReceiveProtocol, server_id: i64) -> AccountInput {
    AccountInput {
        login_name: address.split('@').next().unwrap().to_owned(),
        user_display_name: address.to_owned(),
        address: address.to_owned(),
        display_name: String::new(),
        receive_protocol: protocol,
        server_id,
    }
}

/// Adds `address` on Exchange Online (server 1) and returns the account's id.
pub fn add_account(store: &Store, address: &str, protocol: ReceiveProtocol) -> i64 {
    exo_setup_core::accounts::add(store, &account_input(address, protocol, 1)).unwrap().id
}

/// A store with step 1 saved for `tenant` against the emulator and `accounts` on Exchange Online.
pub async fn org_store(
    emu: &Emulator,
    tenant: &str,
    accounts: &[(&str, ReceiveProtocol)],
) -> (tempfile::TempDir, Arc<Store>) {
    let t = store();
    save_org(&t.store, emu, tenant).await;
    for (address, protocol) in accounts {
        add_account(&t.store, address, *protocol);
    }
    (t.dir, Arc::new(t.store))
}

/// Step 3 through the test browser (the emulator must approve it: `set_auto_approve(true)`).
pub async fn grant_consent(auth: &Auth) {
    let (_, url) = auth.begin_admin_consent(&deep_link_redirect_uri()).await.unwrap();
    let f = auth.complete(&super::browse(url.as_str()).await).await;
    assert!(matches!(f.result, FlowResult::AdminConsented { .. }), "{f:?}");
}

/// Step 4 for `address` through the test browser (deep-link redirect); the flow must succeed.
pub async fn sign_in(auth: &Auth, address: &str) {
    let (_, url) = auth.begin_sign_in(address, &deep_link_redirect_uri()).await.unwrap();
    let f = auth.complete(&super::browse(url.as_str()).await).await;
    assert!(matches!(f.result, FlowResult::SignedIn { .. }), "{f:?}");
}
