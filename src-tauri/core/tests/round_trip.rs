//! The browser round trip both front ends use (`Auth::begin_round_trip`, `Auth::open_browser`,
//! `LoopbackWait::finish`) against the entra emulator: a real SQLite store, the in-memory
//! keychain, a real loopback listener, and as "browser" either one HTTP client following the
//! redirects or the test suite's system browser `scripts/test-browser.sh` (curl) through `BROWSER`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::auth::{Auth, Purpose};
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{AccountInput, FlowResult, OrgSettingsInput, ReceiveProtocol, RedirectMode};
use exo_setup_core::{ErrorKind, Store};

const TARO: &str = "taro@contoso.example";

struct Env {
    _dir: tempfile::TempDir,
    _emu: Emulator,
    keychain: Arc<MemoryKeychain>,
    auth: Arc<Auth>,
}

async fn env() -> Env {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    exo_setup_core::org::save_exchange_online(
        &store,
        &OrgSettingsInput {
            organization_name: String::new(),
            tenant: DEMO_TENANT_ID.into(),
            client_id: DEMO_CLIENT_ID.into(),
            authority: emu.base_url(),
            redirect_mode: RedirectMode::DeepLink,
        },
    )
    .await
    .unwrap();
    let account = AccountInput {
        login_name: "taro".into(),
        user_display_name: "Taro".into(),
        address: TARO.into(),
        display_name: String::new(),
        receive_protocol: ReceiveProtocol::Imap,
        server_id: 1,
    };
    exo_setup_core::accounts::add(&store, &account).unwrap();
    let keychain = Arc::new(MemoryKeychain::new());
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    Env { _dir: dir, _emu: emu, keychain, auth: Arc::new(Auth::new(store, tokens)) }
}

/// Step 3 through a loopback round trip, so that sign-ins need no consent screen.
async fn consent(e: &Env) {
    let mut trip = e.auth.begin_round_trip(&Purpose::AdminConsent, RedirectMode::Loopback).await.unwrap();
    let wait = trip.take_loopback().unwrap();
    let browser = tokio::spawn(browse_to_loopback(trip.url.to_string()));
    let finished = wait.finish(&e.auth, Duration::from_secs(30)).await.unwrap();
    assert!(matches!(finished.result, FlowResult::AdminConsented { .. }), "{finished:?}");
    assert_eq!(browser.await.unwrap().0, 200);
}

/// A browser: follows the identity platform's redirects up to the loopback redirect, delivers it
/// and returns the status and page the app answered with.
async fn browse_to_loopback(url: String) -> (u16, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut url = url;
    loop {
        let resp = http.get(&url).send().await.unwrap();
        match resp.headers().get("location") {
            Some(l) => url = l.to_str().unwrap().to_owned(),
            None => return (resp.status().as_u16(), resp.text().await.unwrap()),
        }
    }
}

#[tokio::test]
async fn a_loopback_sign_in_completes_answers_the_browser_and_fills_the_keychain() {
    let e = env().await;
    consent(&e).await;
    let mut trip = e.auth.begin_round_trip(&Purpose::SignIn(TARO.into()), RedirectMode::Loopback).await.unwrap();
    assert_eq!(trip.started.redirect_mode, RedirectMode::Loopback);
    assert!(trip.started.redirect_uri.starts_with("http://localhost:"), "{}", trip.started.redirect_uri);
    let wait = trip.take_loopback().expect("a loopback round trip has a listener");
    assert!(trip.take_loopback().is_none(), "one wait per round trip");
    assert_eq!(wait.flow_id(), trip.started.flow_id);

    let browser = tokio::spawn(browse_to_loopback(trip.url.to_string()));
    let finished = wait.finish(&e.auth, Duration::from_secs(30)).await.unwrap();
    assert_eq!(finished.flow_id.as_deref(), Some(trip.started.flow_id.as_str()));
    assert!(matches!(&finished.result, FlowResult::SignedIn { sign_in } if sign_in.address == TARO), "{finished:?}");
    let (status, _) = browser.await.unwrap();
    assert_eq!(status, 200, "the browser is told the sign-in worked");
    assert!(e.keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, TARO)).unwrap().is_some());
    assert!(e.auth.snapshot().pending.is_empty());
}

#[tokio::test]
async fn a_refused_callback_ends_the_flow_and_the_browser_is_told_why() {
    let e = env().await;
    consent(&e).await;
    // The person at the browser signs in as someone else (the emulator's other demo user).
    let mut trip = e.auth.begin_round_trip(&Purpose::SignIn(TARO.into()), RedirectMode::Loopback).await.unwrap();
    let wait = trip.take_loopback().unwrap();
    let other = trip.url.to_string().replace("login_hint=taro", "login_hint=hanako");
    let browser = tokio::spawn(browse_to_loopback(other));
    let finished = wait.finish(&e.auth, Duration::from_secs(30)).await.unwrap();
    let FlowResult::Failed { error } = &finished.result else { panic!("{finished:?}") };
    assert_eq!(error.kind, ErrorKind::WrongAccount);
    let (status, page) = browser.await.unwrap();
    assert_eq!(status, 400, "the browser is told it did not work: {page}");
    assert!(e.keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, TARO)).unwrap().is_none());
}

#[tokio::test]
async fn a_wait_that_times_out_leaves_the_flow_to_the_caller() {
    let e = env().await;
    let mut trip = e.auth.begin_round_trip(&Purpose::AdminConsent, RedirectMode::Loopback).await.unwrap();
    let wait = trip.take_loopback().unwrap();
    let err = wait.finish(&e.auth, Duration::from_millis(200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::FlowTimedOut);
    // Still pending: the CLI cancels it, the wizard lets it expire (its ticker tells the window).
    assert_eq!(e.auth.snapshot().pending.len(), 1);
    assert!(e.auth.cancel(&trip.started.flow_id).is_some());
    assert!(e.auth.snapshot().pending.is_empty());
}

#[tokio::test]
async fn a_deep_link_round_trip_has_no_listener_and_redirects_to_the_scheme() {
    let e = env().await;
    let mut trip = e.auth.begin_round_trip(&Purpose::AdminConsent, RedirectMode::DeepLink).await.unwrap();
    assert_eq!(trip.started.redirect_mode, RedirectMode::DeepLink);
    assert_eq!(trip.started.redirect_uri, exo_setup_core::identity::deep_link_redirect_uri());
    assert!(trip.take_loopback().is_none());
}

#[tokio::test]
async fn the_system_browser_is_opened_recorded_and_comes_back() {
    let e = env().await;
    consent(&e).await;
    let browser = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-browser.sh");
    // The only test of this file that starts a browser, so the only one reading BROWSER.
    std::env::set_var("BROWSER", browser.canonicalize().unwrap());
    let mut trip = e.auth.begin_round_trip(&Purpose::SignIn(TARO.into()), RedirectMode::Loopback).await.unwrap();
    let wait = trip.take_loopback().unwrap();
    assert!(!trip.started.browser_opened);
    e.auth.open_browser(&mut trip).await.unwrap();
    assert!(trip.started.browser_opened);
    let pending = e.auth.snapshot().pending;
    assert!(pending.iter().any(|f| f.flow_id == trip.started.flow_id && f.browser_opened), "{pending:?}");
    let finished = wait.finish(&e.auth, Duration::from_secs(60)).await.unwrap();
    assert!(matches!(finished.result, FlowResult::SignedIn { .. }), "{finished:?}");
}
