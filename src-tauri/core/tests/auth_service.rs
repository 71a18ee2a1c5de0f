//! The `Auth` service (steps 3 and 4 put together) against the entra emulator: a real SQLite store
//! in a temporary directory, organization settings saved through `org::save_exchange_online`,
//! accounts added through `accounts::add`, an in-memory keychain whose every entry the tests can
//! read, and a manual clock for the pending flows and the access-token cache.
//!
//! The "browser" is one GET with redirects disabled; its `Location` goes to `Auth::complete`.
//!
//! What is checked besides the happy paths: every failure (including forged, replayed, late,
//! cancelled and foreign callbacks) leaves consents, accounts and the keychain exactly as they
//! were, and no token ever reaches the database files, a returned payload or a log line.

use exo_setup_core::DetailKey;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::{
    AutoConsent, Config, ConsentPolicy, Emulator, Endpoint, Fault, FaultKind, TenantConfig, UserConfig, DEMO_CLIENT_ID,
    DEMO_MULTI_CLIENT_ID, DEMO_TENANT_ID,
};
use exo_setup_core::auth::{Auth, UpkeepPolicy, REFRESH_MARGIN_SECS};
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{
    AccountStatus, FlowFinished, FlowPurpose, FlowResult, FlowStarted, OrgSettingsInput, ReceiveProtocol, RedirectMode,
    StepStatus,
};
use exo_setup_core::oauth::{Backoff, MailScopes, ManualClock, PendingFlows, PERSONAL_ACCOUNT_TENANT};
use exo_setup_core::{Actor, ErrorKind, Store, UiError};

const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const POP: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";
const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const OTHER_TENANT: &str = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff";

fn deep_link() -> String {
    exo_setup_core::identity::deep_link_redirect_uri()
}

// ---------------------------------------------------------------------------------------------
// Log capture: one global subscriber at TRACE (log records of dependencies included) writing
// into a buffer that the token scan reads.

mod common;
use common::{browse, captured_logs, logs, param, with_param};

// ---------------------------------------------------------------------------------------------
// The set-up of every test.

struct Env {
    dir: tempfile::TempDir,
    emu: Emulator,
    store: Arc<Store>,
    keychain: Arc<MemoryKeychain>,
    auth: Arc<Auth>,
    clock: ManualClock,
}

fn short_backoff() -> Backoff {
    Backoff { attempts: 3, initial: Duration::from_millis(10), max: Duration::from_millis(50) }
}

/// An `Auth` over a fresh store and keychain, with the organization saved for `tenant` and the
/// given accounts registered.
async fn env_full(config: Config, tenant: &str, accounts: &[(&str, ReceiveProtocol)]) -> Env {
    logs();
    let emu = Emulator::start(config).await.unwrap();
    emu.set_auto_approve(true);
    let (dir, store) = common::org_store(&emu, tenant, accounts).await;
    let keychain = Arc::new(MemoryKeychain::new());
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let clock = ManualClock::new();
    let mut auth = Auth::with_flows(store.clone(), tokens, PendingFlows::new(Arc::new(clock.clone())));
    auth.set_backoff(short_backoff());
    Env { dir, emu, store, keychain, auth: Arc::new(auth), clock }
}

async fn env() -> Env {
    env_full(Config::default_demo(), DEMO_TENANT_ID, &[(TARO, ReceiveProtocol::Imap), (HANAKO, ReceiveProtocol::Pop3)])
        .await
}

fn key(address: &str) -> AccountKey {
    AccountKey::new(DEMO_TENANT_ID, address)
}

// ---------------------------------------------------------------------------------------------
// Flow helpers.

/// Starts the admin consent and returns what the UI was told and the browser's redirect.
async fn consent_callback(e: &Env) -> (FlowStarted, String) {
    let (started, url) = e.auth.begin_admin_consent(&deep_link()).await.unwrap();
    assert_eq!(started.purpose, FlowPurpose::AdminConsent);
    assert_eq!(started.browser_url, url.to_string());
    let cb = browse(url.as_str()).await;
    (started, cb)
}

async fn grant_consent(e: &Env) {
    let (_, cb) = consent_callback(e).await;
    let f = e.auth.complete(&cb).await;
    assert!(matches!(f.result, FlowResult::AdminConsented { .. }), "{f:?}");
}

/// Starts a sign-in and returns what the UI was told and the browser's redirect; `edit` may
/// change the authorize URL (the person at the browser doing something else).
async fn sign_in_callback_with(e: &Env, address: &str, edit: impl Fn(&str) -> String) -> (FlowStarted, String) {
    let (started, url) = e.auth.begin_sign_in(address, &deep_link()).await.unwrap();
    assert_eq!(started.purpose, FlowPurpose::SignIn);
    assert_eq!(started.address.as_deref(), Some(address));
    let cb = browse(&edit(url.as_str())).await;
    (started, cb)
}

async fn sign_in_callback(e: &Env, address: &str) -> (FlowStarted, String) {
    sign_in_callback_with(e, address, str::to_owned).await
}

async fn sign_in(e: &Env, address: &str) -> FlowFinished {
    let (started, cb) = sign_in_callback(e, address).await;
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert!(matches!(f.result, FlowResult::SignedIn { .. }), "{f:?}");
    f
}

fn failed(f: &FlowFinished) -> &UiError {
    match &f.result {
        FlowResult::Failed { error } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Seconds until the cached access token of `address` expires (by the manual clock).
fn cached_expiry(e: &Env, address: &str) -> i64 {
    e.keychain.get_access_token(&key(address)).unwrap().expect("a cached access token").expires_at
}

/// Moves the manual clock so that the cached access token is within the refresh margin.
fn near_expiry(e: &Env, address: &str) {
    let left = cached_expiry(e, address) - e.auth.flows().now().timestamp();
    assert!(left > REFRESH_MARGIN_SECS, "{left}");
    e.clock.advance(Duration::from_secs((left - 60) as u64));
}

fn refresh_token(e: &Env, address: &str) -> String {
    e.keychain.get_refresh_token(&key(address)).unwrap().expect("a refresh token").expose().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Snapshots of everything a failure must not touch.

#[derive(Debug, Clone, PartialEq)]
struct Snap {
    consents: Vec<(String, String, String)>,
    accounts: Vec<(String, String, Option<String>, Option<String>)>,
    /// (action, target, detail)
    audit: Vec<(String, String, String)>,
    /// (entry name, raw value)
    keychain: Vec<(String, String)>,
    org: String,
}

fn snap(e: &Env) -> Snap {
    let conn = e.store.conn();
    let rows3 = |sql: &str| -> Vec<(String, String, String)> {
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let consents = rows3("SELECT tenant_id, client_id, scopes FROM admin_consents ORDER BY id");
    let audit = rows3("SELECT action, target, detail FROM audit_log ORDER BY id");
    let mut st =
        conn.prepare("SELECT address, status, status_detail, status_at FROM mail_accounts ORDER BY address").unwrap();
    let accounts = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let org: String = conn
        .query_row(
            "SELECT tenant || ' ' || tenant_id || ' ' || client_id || ' ' || authority FROM org_settings",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let entries = e.keychain.entries();
    let keychain =
        entries.names().into_iter().map(|n| (n.clone(), entries.raw(&n).unwrap().expose().to_owned())).collect();
    Snap { consents, accounts, audit, keychain, org }
}

/// Consents, accounts, settings and keychain are as before; the audit log is as before plus
/// exactly `failure_audits` (action, target, kind) — the failure entry `Auth::complete` writes
/// when a callback matched a flow of this `Auth`.
fn assert_untouched(before: &Snap, after: &Snap, failure_audits: &[(&str, &str, &str)]) {
    assert_eq!(before.consents, after.consents, "admin_consents changed");
    assert_eq!(before.accounts, after.accounts, "mail_accounts changed");
    assert_eq!(before.keychain, after.keychain, "keychain changed");
    assert_eq!(before.org, after.org, "org_settings changed");
    let mut expected = before.audit.clone();
    for (action, target, kind) in failure_audits {
        expected.push((action.to_string(), target.to_string(), serde_json::json!({ "kind": kind }).to_string()));
    }
    assert_eq!(after.audit, expected, "audit log");
}

fn audit_actions(e: &Env) -> Vec<(String, String)> {
    snap(e).audit.into_iter().map(|(a, t, _)| (a, t)).collect()
}

fn account_status(e: &Env, address: &str) -> (String, Option<String>) {
    let s = snap(e);
    let a = s.accounts.iter().find(|a| a.0 == address).unwrap();
    (a.1.clone(), a.2.clone())
}

// =============================================================================================
// 1. Admin consent

#[tokio::test]
async fn admin_consent_records_the_scopes_of_the_registered_protocols() {
    let e = env().await;
    let before = exo_setup_core::overview::overview(&e.store.conn()).unwrap();
    assert_eq!(before.steps[2].status, StepStatus::Todo);
    assert_eq!(before.consent_missing.len(), 4);

    let (started, cb) = consent_callback(&e).await;
    // taro reads by IMAP, hanako by POP3: exactly those + SMTP + offline_access are asked for.
    assert_eq!(param(&started.browser_url, "scope").unwrap(), format!("{IMAP} {POP} {SMTP} offline_access"));
    assert_eq!(started.redirect_mode, RedirectMode::DeepLink);
    assert_eq!(e.auth.snapshot().pending, vec![started.clone()]);

    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert_eq!(f.purpose, Some(FlowPurpose::AdminConsent));
    let consent = match &f.result {
        FlowResult::AdminConsented { consent } => consent.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(consent.tenant_id, DEMO_TENANT_ID);
    assert_eq!(consent.client_id, DEMO_CLIENT_ID);
    assert_eq!(consent.scopes, vec![IMAP, POP, SMTP, "offline_access"]);

    let s = snap(&e);
    assert_eq!(
        s.consents,
        vec![(DEMO_TENANT_ID.to_owned(), DEMO_CLIENT_ID.to_owned(), format!("{IMAP} {POP} {SMTP} offline_access"))]
    );
    let grant = s.audit.iter().find(|(a, _, _)| a == "consent.grant").expect("audit entry consent.grant");
    assert_eq!(grant.1, DEMO_TENANT_ID);
    let audit_detail: serde_json::Value = serde_json::from_str(&grant.2).unwrap();
    assert_eq!(audit_detail["client_id"], DEMO_CLIENT_ID);
    assert_eq!(audit_detail["requested"], serde_json::json!([IMAP, POP, SMTP, "offline_access"]));
    assert!(s.keychain.is_empty(), "admin consent issues no token");
    assert_eq!(e.emu.admin_consents().len(), 1);

    let ov = exo_setup_core::overview::overview(&e.store.conn()).unwrap();
    assert_eq!(ov.steps[2].status, StepStatus::Done);
    assert!(ov.consent_missing.is_empty(), "{:?}", ov.consent_missing);
    assert_eq!(ov.consent.as_ref(), Some(&consent));
    assert!(e.auth.snapshot().pending.is_empty());
    assert_eq!(e.auth.snapshot().last, Some(f));
}

#[tokio::test]
async fn admin_consent_declined_by_the_admin_records_nothing() {
    let e = env().await;
    e.emu.set_auto_consent(AutoConsent::Decline);
    let before = snap(&e);
    let (started, cb) = consent_callback(&e).await;
    assert_eq!(param(&cb, "error").as_deref(), Some("access_denied"));
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    let er = failed(&f);
    assert_eq!(er.kind, ErrorKind::AdminConsentDeclined);
    assert_eq!(er.actor, Actor::Admin);
    assert_eq!(er.detail[&DetailKey::Code], "65004");
    assert!(er.detail.contains_key(&DetailKey::TraceId));
    assert_untouched(&before, &snap(&e), &[]);
    assert!(e.emu.admin_consents().is_empty());
    let ov = exo_setup_core::overview::overview(&e.store.conn()).unwrap();
    assert_eq!(ov.steps[2].status, StepStatus::Todo);

    // The error redirect of a cancel on Microsoft's page (no AADSTS code at all).
    e.emu.set_auto_consent(AutoConsent::AcceptForOrganization);
    let before = snap(&e);
    let (_, cb) = consent_callback(&e).await;
    let state = param(&cb, "state").unwrap();
    let cancelled = format!("{}?error=access_denied&error_subcode=cancel&state={state}", deep_link());
    let er = failed(&e.auth.complete(&cancelled).await).clone();
    assert_eq!(er.kind, ErrorKind::AdminConsentCancelled);
    assert_eq!(er.actor, Actor::Admin);
    assert_untouched(&before, &snap(&e), &[]);

    // A non-administrator at the consent page.
    let before = snap(&e);
    let (_, url) = e.auth.begin_admin_consent(&deep_link()).await.unwrap();
    let cb = browse(&with_param(url.as_str(), "login_hint", Some(HANAKO))).await;
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::AdminRoleRequired);
    assert_untouched(&before, &snap(&e), &[]);
}

#[tokio::test]
async fn admin_consent_for_another_tenant_in_the_callback_is_refused() {
    let e = env().await;
    let before = snap(&e);
    let (_, cb) = consent_callback(&e).await;
    assert_eq!(param(&cb, "tenant").as_deref(), Some(DEMO_TENANT_ID));
    let spoofed = with_param(&cb, "tenant", Some(OTHER_TENANT));
    let f = e.auth.complete(&spoofed).await;
    let er = failed(&f);
    assert_eq!(er.kind, ErrorKind::TenantMismatch);
    assert_eq!(er.actor, Actor::Admin);
    assert_eq!(er.detail[&DetailKey::Expected], DEMO_TENANT_ID);
    assert_eq!(er.detail[&DetailKey::Returned], OTHER_TENANT);
    assert_untouched(&before, &snap(&e), &[]);
    // The genuine callback is refused now too: the flow was used up by the spoofed one.
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::StateReplayed);
    assert_eq!(snap(&e).consents, before.consents);
}

// =============================================================================================
// 2. User sign-in

#[tokio::test]
async fn sign_in_stores_both_tokens_and_marks_the_account() {
    // The tenant typed as a domain: the keychain key still uses the tenant GUID.
    let e = env_full(
        Config::default_demo(),
        "contoso.example",
        &[(TARO, ReceiveProtocol::Imap), (HANAKO, ReceiveProtocol::Pop3)],
    )
    .await;
    grant_consent(&e).await;
    let (started, cb) = sign_in_callback(&e, TARO).await;
    assert_eq!(param(&started.browser_url, "login_hint").as_deref(), Some(TARO));
    assert_eq!(
        param(&started.browser_url, "scope").unwrap(),
        format!("{IMAP} {SMTP} offline_access openid profile email")
    );
    assert!(!started.expires_at.is_empty());
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert_eq!(f.purpose, Some(FlowPurpose::SignIn));
    let summary = match &f.result {
        FlowResult::SignedIn { sign_in } => sign_in.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(summary.address, TARO);
    assert_eq!(summary.signed_in_as, TARO);
    assert_eq!(summary.name.as_deref(), Some("山田 太郎"));
    assert!(summary.scopes.iter().any(|s| s == IMAP), "{:?}", summary.scopes);
    assert_eq!(summary.account.status, AccountStatus::SignedIn);
    assert_eq!(summary.account.status_detail.as_deref(), Some(TARO));

    // Keychain: exactly the two entries of taro under the tenant GUID.
    let k = key(TARO);
    assert_eq!(e.keychain.entries().names(), vec![k.access_entry(), k.refresh_entry()]);
    let snapshot = e.emu.snapshot();
    let issued_refresh = &snapshot.refresh_tokens.iter().find(|r| r.upn == TARO).unwrap().token;
    assert_eq!(&refresh_token(&e, TARO), issued_refresh);
    let cached = e.keychain.get_access_token(&k).unwrap().unwrap();
    assert_eq!(cached.token.expose(), snapshot.access_tokens.last().unwrap().access_token);
    assert!(cached.expires_at > e.auth.flows().now().timestamp() + 3000);
    assert!(cached.scopes.iter().any(|s| s == IMAP));

    // Store: status, detail = who signed in, audit entry.
    assert_eq!(account_status(&e, TARO), ("signed_in".to_owned(), Some(TARO.to_owned())));
    assert_eq!(account_status(&e, HANAKO).0, "not_signed_in");
    let s = snap(&e);
    let entry = s.audit.iter().find(|(a, _, _)| a == "account.sign_in").expect("audit account.sign_in");
    assert_eq!(entry.1, TARO);

    // No token anywhere in what the UI receives.
    let json = serde_json::to_string(&f).unwrap();
    assert!(!json.contains(issued_refresh.as_str()) && !json.contains(cached.token.expose()), "{json}");
    for piece in cached.token.expose().split('.') {
        assert!(!json.contains(piece));
    }
    let ov = exo_setup_core::overview::overview(&e.store.conn()).unwrap();
    assert_eq!(ov.steps[3].status, StepStatus::Partial);
}

#[tokio::test]
async fn the_wrong_account_is_refused_and_nothing_is_stored() {
    let e = env().await;
    grant_consent(&e).await;
    let before = snap(&e);
    let (_, cb) = sign_in_callback_with(&e, TARO, |u| with_param(u, "login_hint", Some(HANAKO))).await;
    let f = e.auth.complete(&cb).await;
    let er = failed(&f);
    assert_eq!(er.kind, ErrorKind::WrongAccount);
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::SignedInAs], HANAKO);
    assert_eq!(er.detail[&DetailKey::Expected], TARO);
    assert!(er.message.contains(HANAKO) && er.message.contains(TARO), "{}", er.message);
    assert!(e.keychain.entries().names().is_empty());
    assert_untouched(&before, &snap(&e), &[]);
    assert_eq!(account_status(&e, TARO), ("not_signed_in".to_owned(), None));
}

/// A personal Microsoft account at the browser. Through a tenant authority (the only kind
/// exo-setup uses: `common`/`consumers` are refused in step 1) Microsoft never issues an id_token
/// with the consumers `tid`: it answers AADSTS50020 at /authorize. The emulator does that for a
/// user of another directory, so a "consumers" directory is added to its configuration. The
/// `personal_account` guard itself only runs on a verified id_token, whose issuer would have to
/// be the configured tenant's — unreachable end to end — so it is checked on the claims.
#[tokio::test]
async fn a_personal_account_is_refused() {
    let mut config = Config::default_demo();
    config.tenants.push(TenantConfig {
        id: PERSONAL_ACCOUNT_TENANT.into(),
        display_name: "Microsoft accounts".into(),
        domains: vec!["outlook.com".into()],
        user_consent: ConsentPolicy::Allowed,
        region: "WW".into(),
        users: vec![UserConfig {
            upn: "taro.yamada@outlook.com".into(),
            mail: None,
            aliases: vec![],
            display_name: "Taro (personal)".into(),
            oid: None,
            admin: false,
            mfa_required: false,
            blocked_by_policy: false,
        }],
        apps: vec![],
        admin_consents: vec![],
    });
    let e = env_full(config, DEMO_TENANT_ID, &[(TARO, ReceiveProtocol::Imap)]).await;
    grant_consent(&e).await;
    let before = snap(&e);
    let (_, cb) =
        sign_in_callback_with(&e, TARO, |u| with_param(u, "login_hint", Some("taro.yamada@outlook.com"))).await;
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::WrongOrganizationAccount);
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::Code], "50020");
    assert_untouched(&before, &snap(&e), &[]);

    // The guard on the id_token's claims (as `OAuthClient::complete` applies it).
    let claims: exo_setup_core::oauth::id_token::IdClaims = serde_json::from_value(serde_json::json!({
        "iss": format!("https://login.microsoftonline.com/{PERSONAL_ACCOUNT_TENANT}/v2.0"),
        "exp": 0, "tid": PERSONAL_ACCOUNT_TENANT, "oid": "00000000-0000-0000-0000-000000000009",
        "preferred_username": TARO, "email": TARO,
    }))
    .unwrap();
    let err = exo_setup_core::oauth::id_token::check_account(&claims, DEMO_TENANT_ID, TARO, &[]).unwrap_err();
    let ui = UiError::from(err);
    assert_eq!(ui.kind, ErrorKind::PersonalAccount);
    assert_eq!(ui.actor, Actor::User);
    assert_eq!(ui.detail[&DetailKey::Expected], TARO);
}

#[tokio::test]
async fn need_admin_approval_before_step_3() {
    let e = env().await;
    let before = snap(&e);
    let (_, cb) = sign_in_callback(&e, HANAKO).await;
    assert_eq!(param(&cb, "error_subcode").as_deref(), Some("cancel"));
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::AdminApprovalRequired);
    assert_eq!(er.actor, Actor::Admin);
    assert!(er.message.contains("step 3"));
    assert_untouched(&before, &snap(&e), &[]);

    // Once step 3 is done the same cancel redirect means the user cancelled.
    grant_consent(&e).await;
    let before = snap(&e);
    let (_, cb) = sign_in_callback(&e, HANAKO).await;
    let state = param(&cb, "state").unwrap();
    let cancelled = format!("{}?error=access_denied&error_subcode=cancel&state={state}", deep_link());
    let er = failed(&e.auth.complete(&cancelled).await).clone();
    assert_eq!(er.kind, ErrorKind::SignInCancelled);
    assert_eq!(er.actor, Actor::User);
    assert_untouched(&before, &snap(&e), &[]);
}

#[tokio::test]
async fn mfa_required_at_sign_in_and_at_refresh() {
    let e = env().await;
    grant_consent(&e).await;
    // Conditional Access demands MFA when the code is redeemed.
    e.emu.inject_fault(Fault::aadsts(Endpoint::Token, 50076).for_grant_type("authorization_code").times(1));
    let before = snap(&e);
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::MfaRequired);
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::Code], "50076");
    assert_untouched(&before, &snap(&e), &[]);

    // MFA switched on after the sign-in: the refresh token no longer works.
    sign_in(&e, TARO).await;
    let rt = refresh_token(&e, TARO);
    e.emu.set_mfa_required(TARO, true).unwrap();
    near_expiry(&e, TARO);
    let er = e.auth.access_token(TARO).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::MfaRequired);
    assert_eq!(account_status(&e, TARO), ("needs_reauth".to_owned(), Some("mfa_required".to_owned())));
    assert_eq!(refresh_token(&e, TARO), rt, "the refresh token is kept");
}

#[tokio::test]
async fn a_user_declining_consent_is_explained() {
    // An organization whose users may consent for themselves; taro declines the consent screen.
    let mut config = Config::default_demo();
    config.tenants[0].user_consent = ConsentPolicy::Allowed;
    let e = env_full(config, DEMO_TENANT_ID, &[(TARO, ReceiveProtocol::Imap)]).await;
    e.emu.set_auto_consent(AutoConsent::Decline);
    let before = snap(&e);
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::ConsentDeclined);
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::Code], "65004");
    assert_untouched(&before, &snap(&e), &[]);
    assert!(e.emu.grants().is_empty());
}

// =============================================================================================
// 3. Access tokens and refresh

#[tokio::test]
async fn a_valid_cached_token_needs_no_network() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let cached = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    let before = snap(&e);
    let Env { emu, auth, clock, .. } = &e;
    // Every token request would fail; the cache answers anyway.
    emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }));
    let t = auth.access_token(TARO).await.unwrap();
    assert!(!t.refreshed);
    assert_eq!(t.token.expose(), cached.token.expose());
    assert_eq!(t.expires_at.timestamp(), cached.expires_at);
    // Still valid for more than 5 minutes: no refresh.
    let left = cached.expires_at - auth.flows().now().timestamp();
    clock.advance(Duration::from_secs((left - REFRESH_MARGIN_SECS - 30) as u64));
    let t = auth.access_token(TARO).await.unwrap();
    assert!(!t.refreshed);
    assert_eq!(t.token.expose(), cached.token.expose());
    assert_untouched(&before, &snap(&e), &[]);
    assert_eq!(e.emu.snapshot().access_tokens.len(), 1, "no token request succeeded");
    assert_eq!(e.emu.snapshot().faults.len(), 1);
}

#[tokio::test]
async fn a_cached_token_survives_the_emulator_going_away() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let cached = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    let before = snap(&e);
    let Env { emu, auth, dir, store, keychain, clock } = e;
    emu.shutdown().await;
    let t = auth.access_token(TARO).await.unwrap();
    assert!(!t.refreshed);
    assert_eq!(t.token.expose(), cached.token.expose());
    let e = Env { emu: Emulator::start(Config::default_demo()).await.unwrap(), auth, dir, store, keychain, clock };
    assert_untouched(&before, &snap(&e), &[]);
}

/// `exo-setup token` in a new process while the identity host is down: no discovery before the
/// cache; inside the refresh margin the still-valid cached token is handed out; once it has
/// expired, `identity_unreachable` (retry later) — never "check the authority".
#[tokio::test]
async fn identity_host_down_hands_out_the_cached_token_then_says_unreachable() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let cached = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    near_expiry(&e, TARO);
    let before = snap(&e);
    let Env { emu, dir, store, keychain, clock, .. } = e;
    emu.shutdown().await;
    // A fresh `Auth` (as in a new CLI process): no client, no discovery cached.
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let mut fresh = Auth::with_flows(store.clone(), tokens, PendingFlows::new(Arc::new(clock.clone())));
    fresh.set_backoff(short_backoff());
    let t = fresh.access_token(TARO).await.unwrap();
    assert!(!t.refreshed);
    assert_eq!(t.token.expose(), cached.token.expose());

    clock.advance(Duration::from_secs(61));
    let er = fresh.access_token(TARO).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::IdentityUnreachable, "{er:?}");
    assert_eq!(er.actor, Actor::Support);
    assert_eq!(er.detail[&DetailKey::Retryable], "true");
    assert_eq!(er.detail[&DetailKey::Host], "127.0.0.1");
    assert!(["host_unreachable", "dns_failure", "timeout"].contains(&er.detail[&DetailKey::Cause].as_str()), "{er:?}");
    assert!(
        er.detail[&DetailKey::ExpiresAt].starts_with(
            &chrono::DateTime::from_timestamp(cached.expires_at, 0).unwrap().format("%Y-%m-%dT%H:%M").to_string()
        ),
        "{er:?}"
    );
    assert!(!er.message.contains("Check the authority"), "{}", er.message);
    let e = Env {
        emu: Emulator::start(Config::default_demo()).await.unwrap(),
        auth: Arc::new(fresh),
        dir,
        store,
        keychain,
        clock,
    };
    assert_untouched(&before, &snap(&e), &[]);
    assert_eq!(account_status(&e, TARO).0, "signed_in");
}

#[tokio::test]
async fn near_expiry_refreshes_and_stores_the_rotated_refresh_token() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let rt0 = refresh_token(&e, TARO);
    let at0 = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    near_expiry(&e, TARO);

    let t = e.auth.access_token(TARO).await.unwrap();
    assert!(t.refreshed);
    assert_ne!(t.token.expose(), at0.token.expose());
    assert!(t.expires_at.timestamp() > e.auth.flows().now().timestamp() + REFRESH_MARGIN_SECS);
    let rt1 = refresh_token(&e, TARO);
    assert_ne!(rt1, rt0, "the rotated refresh token replaced the old one");
    let snapshot = e.emu.snapshot();
    let rec = |t: &str| snapshot.refresh_tokens.iter().find(|r| r.token == t).cloned().unwrap();
    assert!(rec(&rt0).superseded_at.is_some());
    assert!(rec(&rt1).superseded_at.is_none());
    let cached = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    assert_eq!(cached.token.expose(), t.token.expose());
    assert_eq!(cached.expires_at, t.expires_at.timestamp());
    assert_eq!(snapshot.access_tokens.last().unwrap().access_token, t.token.expose());
    // Exactly two entries still (no stale generation parts).
    assert_eq!(e.keychain.entries().names().len(), 2);
    // A refresh of a signed-in account changes neither status nor the audit log.
    assert_eq!(account_status(&e, TARO), ("signed_in".to_owned(), Some(TARO.to_owned())));

    // The old one expires with the grace period; the stored (new) one is accepted next time.
    e.emu.advance_clock(Duration::from_secs(11 * 60));
    let client = e.auth.client().await.unwrap();
    let old = client.refresh(&rt0.as_str().into(), MailScopes::for_account(ReceiveProtocol::Imap)).await;
    assert_eq!(old.unwrap_err().kind(), ErrorKind::ReauthorizationRequired);
    near_expiry(&e, TARO);
    let t2 = e.auth.access_token(TARO).await.unwrap();
    assert!(t2.refreshed);
    let rt2 = refresh_token(&e, TARO);
    assert_ne!(rt2, rt1);
    // Right after: the cache.
    let t3 = e.auth.access_token(TARO).await.unwrap();
    assert!(!t3.refreshed);
    assert_eq!(t3.token.expose(), t2.token.expose());
}

#[tokio::test]
async fn after_90_days_the_user_must_sign_in_again_and_the_refresh_token_is_kept() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let rt = refresh_token(&e, TARO);
    let audits = audit_actions(&e).len();
    e.emu.advance_clock(Duration::from_secs(91 * 24 * 3600));
    near_expiry(&e, TARO);
    let er = e.auth.access_token(TARO).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::ReauthorizationRequired);
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::Code], "700082");
    assert_eq!(account_status(&e, TARO), ("needs_reauth".to_owned(), Some("reauthorization_required".to_owned())));
    assert_eq!(refresh_token(&e, TARO), rt, "not deleted");
    assert_eq!(e.keychain.entries().names(), vec![key(TARO).refresh_entry()], "only the stale access token is gone");
    let actions = audit_actions(&e);
    assert_eq!(actions.len(), audits + 1);
    assert_eq!(actions.last().unwrap(), &("account.refresh_failed".to_owned(), TARO.to_owned()));
    let status = e.auth.status().await.unwrap();
    let taro = status.iter().find(|s| s.address == TARO).unwrap();
    assert_eq!(taro.status, AccountStatus::NeedsReauth);
    assert!(taro.has_refresh_token);
    assert_eq!(taro.access_token_expires_at, None);

    // Signing in again brings it back.
    sign_in(&e, TARO).await;
    assert_eq!(account_status(&e, TARO).0, "signed_in");
    assert_ne!(refresh_token(&e, TARO), rt);
}

#[tokio::test]
async fn a_503_is_retried_and_a_persistent_one_keeps_everything() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    near_expiry(&e, TARO);
    // Two 503s, then success: absorbed by the retries (3 attempts).
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }).times(2));
    let rt0 = refresh_token(&e, TARO);
    let t = e.auth.access_token(TARO).await.unwrap();
    assert!(t.refreshed);
    assert!(e.emu.snapshot().faults.is_empty(), "both faults were hit");
    assert_ne!(refresh_token(&e, TARO), rt0);

    // Unavailable for good: the cached token is handed out while it is usable (60 s left), then
    // a transient `identity_unreachable`; tokens and status kept.
    near_expiry(&e, TARO);
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }));
    let before = snap(&e);
    let cached = e.keychain.get_access_token(&key(TARO)).unwrap().unwrap();
    let t = e.auth.access_token(TARO).await.unwrap();
    assert!(!t.refreshed);
    assert_eq!(t.token.expose(), cached.token.expose());
    e.clock.advance(Duration::from_secs(61));
    let er = e.auth.access_token(TARO).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::IdentityUnreachable);
    assert_eq!(er.actor, Actor::Support);
    assert_eq!(er.detail[&DetailKey::Cause], "service_unavailable");
    assert_eq!(er.detail[&DetailKey::Status], "503");
    assert_eq!(er.detail[&DetailKey::Retryable], "true");
    assert!(er.detail.contains_key(&DetailKey::ExpiresAt), "{er:?}");
    assert_untouched(&before, &snap(&e), &[]);
    // Back: the kept refresh token works.
    e.emu.clear_faults();
    let t = e.auth.access_token(TARO).await.unwrap();
    assert!(t.refreshed);
    assert_eq!(account_status(&e, TARO).0, "signed_in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_refresh() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    assert_eq!(e.emu.snapshot().refresh_tokens.len(), 1);
    near_expiry(&e, TARO);
    // A slow token endpoint, so that all requests arrive while the refresh is under way.
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Latency { ms: 400 }));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let auth = e.auth.clone();
            tokio::spawn(async move { auth.access_token(TARO).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    let first = results[0].token.expose().to_owned();
    assert!(results.iter().all(|t| t.token.expose() == first), "all got the same token");
    assert_eq!(results.iter().filter(|t| t.refreshed).count(), 1);
    let snapshot = e.emu.snapshot();
    assert_eq!(snapshot.refresh_tokens.len(), 2, "exactly one refresh reached the emulator");
    assert_eq!(snapshot.access_tokens.len(), 2);
    assert_eq!(snapshot.access_tokens[1].access_token, first);
    let newest = snapshot.refresh_tokens.iter().find(|r| r.superseded_at.is_none()).unwrap();
    assert_eq!(refresh_token(&e, TARO), newest.token, "the rotated token is stored");
    assert_eq!(e.keychain.get_access_token(&key(TARO)).unwrap().unwrap().token.expose(), first);
}

#[tokio::test]
async fn access_token_of_an_account_that_never_signed_in() {
    let e = env().await;
    let before = snap(&e);
    let er = e.auth.access_token(HANAKO).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::NotSignedIn);
    assert_eq!(er.actor, Actor::User);
    let er = e.auth.access_token("nobody@contoso.example").await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::AccountNotRegistered);
    assert_untouched(&before, &snap(&e), &[]);
}

// =============================================================================================
// 4. Callbacks that must be refused without touching anything

#[tokio::test]
async fn a_forged_state_is_refused() {
    let e = env().await;
    grant_consent(&e).await;
    let (started, cb) = sign_in_callback(&e, TARO).await;
    let before = snap(&e);
    let forged = with_param(&cb, "state", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let f = e.auth.complete(&forged).await;
    assert_eq!(f.flow_id, None);
    assert_eq!(f.purpose, None);
    assert_eq!(failed(&f).kind, ErrorKind::StateUnknown);
    let f = e.auth.complete(&with_param(&cb, "state", None)).await;
    assert_eq!(failed(&f).kind, ErrorKind::StateMissing);
    let f = e.auth.complete("dev.exosetup.wizard://oauth2/callback?%%%").await;
    assert!(matches!(f.result, FlowResult::Failed { .. }));
    assert_untouched(&before, &snap(&e), &[]);
    // The genuine flow is still waiting and completes.
    assert_eq!(e.auth.snapshot().pending, vec![started.clone()]);
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert!(matches!(f.result, FlowResult::SignedIn { .. }));
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let e = env().await;
    grant_consent(&e).await;
    let (_, cb) = sign_in_callback(&e, TARO).await;
    assert!(matches!(e.auth.complete(&cb).await.result, FlowResult::SignedIn { .. }));
    let before = snap(&e);
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id, None);
    let er = failed(&f);
    assert_eq!(er.kind, ErrorKind::StateReplayed);
    assert_eq!(er.actor, Actor::User);
    assert_untouched(&before, &snap(&e), &[]);

    // The same for an admin consent callback.
    let (_, cb) = consent_callback(&e).await;
    assert!(matches!(e.auth.complete(&cb).await.result, FlowResult::AdminConsented { .. }));
    let before = snap(&e);
    assert_eq!(failed(&e.auth.complete(&cb).await).kind, ErrorKind::StateReplayed);
    assert_untouched(&before, &snap(&e), &[]);
}

/// A code the token endpoint refuses (here: expired, AADSTS70008 on the code path) is a sign-in
/// that could not be completed — not "the saved sign-in has expired" (the refresh reading).
#[tokio::test]
async fn a_refused_authorization_code_is_not_an_expired_saved_sign_in() {
    let e = env().await;
    grant_consent(&e).await;
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let before = snap(&e);
    e.emu.advance_clock(Duration::from_secs(11 * 60));
    let f = e.auth.complete(&cb).await;
    let er = failed(&f);
    assert_eq!(er.kind, ErrorKind::AuthorizationCodeRejected, "{er:?}");
    assert_eq!(er.actor, Actor::User);
    assert_eq!(er.detail[&DetailKey::Code], "70008");
    assert!(er.message.contains("start the sign-in again"), "{}", er.message);
    assert_untouched(&before, &snap(&e), &[]);
    assert_eq!(account_status(&e, TARO).0, "not_signed_in");
    // A new sign-in works.
    sign_in(&e, TARO).await;
}

#[tokio::test]
async fn a_late_callback_is_refused_after_the_flow_timed_out() {
    let e = env().await;
    grant_consent(&e).await;
    let (started, cb) = sign_in_callback(&e, TARO).await;
    let before = snap(&e);
    e.clock.advance(Duration::from_secs(9 * 60));
    assert!(e.auth.expire_due().is_empty(), "not yet");
    e.clock.advance(Duration::from_secs(61));
    let expired = e.auth.expire_due();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert_eq!(expired[0].purpose, Some(FlowPurpose::SignIn));
    let er = failed(&expired[0]);
    assert_eq!(er.kind, ErrorKind::FlowTimedOut);
    assert_eq!(er.detail[&DetailKey::RedirectUri], deep_link());
    assert!(e.auth.snapshot().pending.is_empty());
    assert_eq!(e.auth.snapshot().last.as_ref(), Some(&expired[0]));
    assert!(e.auth.expire_due().is_empty(), "reported once");

    // The callback arrives afterwards (the code is still valid at Microsoft).
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id, None);
    assert_eq!(failed(&f).kind, ErrorKind::CallbackLate);
    assert_untouched(&before, &snap(&e), &[]);

    // Late without the ticker having run: refused as well.
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let before = snap(&e);
    e.clock.advance(Duration::from_secs(10 * 60 + 1));
    let f = e.auth.complete(&cb).await;
    assert_eq!(failed(&f).kind, ErrorKind::CallbackLate);
    assert_untouched(&before, &snap(&e), &[]);
}

#[tokio::test]
async fn a_cancelled_flow_refuses_its_callback() {
    let e = env().await;
    grant_consent(&e).await;
    let (started, cb) = sign_in_callback(&e, TARO).await;
    let before = snap(&e);
    let f = e.auth.cancel(&started.flow_id).expect("it was pending");
    assert_eq!(f.flow_id.as_deref(), Some(started.flow_id.as_str()));
    assert_eq!(failed(&f).kind, ErrorKind::FlowCancelled);
    assert!(e.auth.cancel(&started.flow_id).is_none(), "only once");
    assert!(e.auth.snapshot().pending.is_empty());
    let f = e.auth.complete(&cb).await;
    assert_eq!(f.flow_id, None);
    assert_eq!(failed(&f).kind, ErrorKind::StateUnknown);
    assert_untouched(&before, &snap(&e), &[]);
    assert!(e.keychain.entries().names().is_empty());
}

#[tokio::test]
async fn foreign_callbacks_are_refused() {
    let e = env().await;
    grant_consent(&e).await;

    // A flow begun by another installation (another Auth, its own flows).
    let tokens: Arc<dyn TokenStore> = e.keychain.clone();
    let other = Auth::with_flows(e.store.clone(), tokens, PendingFlows::new(Arc::new(e.clock.clone())));
    let (_, url) = other.begin_sign_in(TARO, &deep_link()).await.unwrap();
    let cb = browse(url.as_str()).await;
    let before = snap(&e);
    let f = e.auth.complete(&cb).await;
    assert_eq!(failed(&f).kind, ErrorKind::StateUnknown);
    assert_untouched(&before, &snap(&e), &[]);

    // The callback arrives at another redirect target than its flow's.
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let moved = cb.replacen(&deep_link(), "dev.exosetup.wizard://oauth2/elsewhere", 1);
    assert_ne!(moved, cb);
    let before = snap(&e);
    let er = failed(&e.auth.complete(&moved).await).clone();
    assert_eq!(er.kind, ErrorKind::CallbackMismatch);
    assert_untouched(&before, &snap(&e), &[]);
    let moved = cb.replacen(&deep_link(), "http://localhost:9999/", 1);
    assert_eq!(failed(&e.auth.complete(&moved).await).kind, ErrorKind::StateReplayed);

    // The settings changed (another client ID) between the start and the callback.
    let (_, cb) = sign_in_callback(&e, TARO).await;
    let other_client = OrgSettingsInput {
        client_id: DEMO_MULTI_CLIENT_ID.into(),
        ..common::org_input(DEMO_TENANT_ID, &e.emu.base_url())
    };
    exo_setup_core::org::save_exchange_online(&e.store, &other_client).await.unwrap();
    let before = snap(&e);
    let er = failed(&e.auth.complete(&cb).await).clone();
    assert_eq!(er.kind, ErrorKind::ForeignFlow);
    assert_eq!(er.detail[&DetailKey::What], "client ID");
    assert_untouched(&before, &snap(&e), &[]);
    assert!(e.keychain.entries().names().is_empty());
}

/// The authority's discovery issuer no longer names the tenant step 1 verified (it answers for
/// another organization): a security refusal before any browser round trip; nothing stored.
#[tokio::test]
async fn a_discovery_issuer_naming_another_tenant_is_a_security_refusal() {
    let e = env().await;
    grant_consent(&e).await;
    e.store.conn().execute("UPDATE org_settings SET tenant_id = ?1", [OTHER_TENANT]).unwrap();
    let before = snap(&e);
    let tokens: Arc<dyn TokenStore> = e.keychain.clone();
    let fresh = Auth::with_flows(e.store.clone(), tokens, PendingFlows::new(Arc::new(e.clock.clone())));
    let er = fresh.begin_sign_in(TARO, &deep_link()).await.unwrap_err();
    assert_eq!(er.kind, ErrorKind::IssuerMismatch, "{er:?}");
    assert_eq!(er.actor, Actor::Admin);
    assert_eq!(er.detail[&DetailKey::Expected], format!("tenant {OTHER_TENANT}"));
    assert!(er.detail[&DetailKey::Actual].contains(DEMO_TENANT_ID), "{er:?}");
    assert!(fresh.snapshot().pending.is_empty());
    assert_untouched(&before, &snap(&e), &[]);
}

// =============================================================================================
// 5. No token in the database files, the payloads or the logs

fn db_bytes(path: PathBuf) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(b) = std::fs::read(&p) {
            all.extend_from_slice(&b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_token_reaches_the_database_payloads_or_logs() {
    let e = env().await;
    let mut payloads: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    let keep = |e: &Env, secrets: &mut Vec<String>| {
        for n in e.keychain.entries().names() {
            let raw = e.keychain.entries().raw(&n).unwrap().expose().to_owned();
            // The raw entry and the token inside it (`inline:<token>`, or the access token's last line).
            let token = raw.rsplit('\n').next().unwrap().trim_start_matches("inline:").to_owned();
            secrets.push(token);
        }
    };

    let (started, cb) = consent_callback(&e).await;
    payloads.push(serde_json::to_string(&started).unwrap());
    payloads.push(serde_json::to_string(&e.auth.snapshot()).unwrap());
    payloads.push(serde_json::to_string(&e.auth.complete(&cb).await).unwrap());
    for address in [TARO, HANAKO] {
        let (started, cb) = sign_in_callback(&e, address).await;
        payloads.push(serde_json::to_string(&started).unwrap());
        payloads.push(serde_json::to_string(&e.auth.snapshot()).unwrap());
        payloads.push(serde_json::to_string(&e.auth.complete(&cb).await).unwrap());
        keep(&e, &mut secrets);
    }
    // A refused callback and a failed sign-in also go through the logs.
    payloads.push(serde_json::to_string(&e.auth.complete(&cb).await).unwrap());
    let (_, cb) = sign_in_callback_with(&e, TARO, |u| with_param(u, "login_hint", Some(HANAKO))).await;
    payloads.push(serde_json::to_string(&e.auth.complete(&cb).await).unwrap());
    payloads.push(serde_json::to_string(&e.auth.status().await.unwrap()).unwrap());
    for _ in 0..2 {
        near_expiry(&e, TARO);
        let t = e.auth.access_token(TARO).await.unwrap();
        assert!(t.refreshed);
        secrets.push(t.token.expose().to_owned());
        keep(&e, &mut secrets);
        payloads.push(serde_json::to_string(&e.auth.status().await.unwrap()).unwrap());
    }
    // A transient failure (retries are logged) and the snapshot at the end.
    near_expiry(&e, TARO);
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }).times(1));
    assert!(e.auth.access_token(TARO).await.unwrap().refreshed);
    keep(&e, &mut secrets);
    payloads.push(serde_json::to_string(&e.auth.snapshot()).unwrap());
    payloads.push(serde_json::to_string(&e.auth.status().await.unwrap()).unwrap());
    payloads.push(serde_json::to_string(&exo_setup_core::overview::overview(&e.store.conn()).unwrap()).unwrap());

    // Everything the emulator issued: refresh tokens (before and after rotation), access tokens,
    // authorization codes.
    let snapshot = e.emu.snapshot();
    // 2 sign-ins, the refused wrong-account sign-in (Microsoft issued tokens to hanako), 3 refreshes.
    assert_eq!(snapshot.refresh_tokens.len(), 6);
    secrets.extend(snapshot.refresh_tokens.iter().map(|r| r.token.clone()));
    for t in &snapshot.access_tokens {
        secrets.push(t.access_token.clone());
        // The payload and signature of each JWT (the header is the same for every token).
        secrets.extend(t.access_token.split('.').skip(1).map(str::to_owned));
    }
    secrets.extend(snapshot.codes.iter().map(|c| c.code.clone()));
    secrets.retain(|s| s.len() >= 20);
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() > 15, "{}", secrets.len());

    let db = db_bytes(e.store.path().to_owned());
    assert!(contains(&db, "account.sign_in"), "the scan reads the database");
    let logs = captured_logs();
    assert!(logs.contains("flow failed"), "the log capture works");
    for s in &secrets {
        assert!(!contains(&db, s), "a token is in the database files");
        for p in &payloads {
            assert!(!p.contains(s.as_str()), "a token is in a payload: {p}");
        }
        assert!(!logs.contains(s.as_str()), "a token is in the logs");
    }
}

// =============================================================================================
// 6. Status and sign-out

#[tokio::test]
async fn status_lists_the_accounts_and_sign_out_removes_the_tokens() {
    let e = env().await;
    let status = e.auth.status().await.unwrap();
    assert_eq!(status.iter().map(|s| s.address.as_str()).collect::<Vec<_>>(), vec![HANAKO, TARO]);
    assert!(status.iter().all(|s| s.status == AccountStatus::NotSignedIn && !s.has_refresh_token));

    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let expiry = cached_expiry(&e, TARO);
    let status = e.auth.status().await.unwrap();
    let taro = status.iter().find(|s| s.address == TARO).unwrap();
    assert_eq!(taro.status, AccountStatus::SignedIn);
    assert!(taro.has_refresh_token);
    let shown = chrono::DateTime::parse_from_rfc3339(taro.access_token_expires_at.as_deref().unwrap()).unwrap();
    assert_eq!(shown.timestamp(), expiry);
    assert_eq!(taro.status_detail.as_deref(), Some(TARO));
    assert!(taro.status_at.is_some());
    let hanako = status.iter().find(|s| s.address == HANAKO).unwrap();
    assert_eq!(
        (hanako.status, hanako.has_refresh_token, hanako.access_token_expires_at.as_deref()),
        (AccountStatus::NotSignedIn, false, None)
    );

    // Sign-out: both entries gone, status back, audited; the other account untouched.
    sign_in(&e, HANAKO).await;
    let row = e.auth.sign_out(TARO).await.unwrap();
    assert_eq!(row.status, AccountStatus::NotSignedIn);
    assert_eq!(row.status_detail, None);
    let names = e.keychain.entries().names();
    assert!(names.iter().all(|n| !n.contains(TARO)), "{names:?}");
    assert_eq!(names, vec![key(HANAKO).access_entry(), key(HANAKO).refresh_entry()]);
    assert_eq!(account_status(&e, TARO), ("not_signed_in".to_owned(), None));
    assert_eq!(audit_actions(&e).last().unwrap(), &("account.sign_out".to_owned(), TARO.to_owned()));
    let status = e.auth.status().await.unwrap();
    let taro = status.iter().find(|s| s.address == TARO).unwrap();
    assert_eq!(
        (taro.status, taro.has_refresh_token, taro.access_token_expires_at.as_deref()),
        (AccountStatus::NotSignedIn, false, None)
    );
    assert!(status.iter().find(|s| s.address == HANAKO).unwrap().has_refresh_token);
    assert_eq!(e.auth.access_token(TARO).await.unwrap_err().kind, ErrorKind::NotSignedIn);
    // Signing out twice is harmless.
    assert_eq!(e.auth.sign_out(TARO).await.unwrap().status, AccountStatus::NotSignedIn);
}

// ---------------------------------------------------------------------------------------------
// Upkeep while the app runs.

#[tokio::test]
async fn upkeep_refreshes_ahead_of_expiry_and_keeps_tokens_alive_past_90_days() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let policy = UpkeepPolicy::default();
    // Fresh token: nothing to do.
    let r = e.auth.upkeep(policy).await.unwrap();
    assert!(r.refreshed.is_empty() && r.needs_reauth.is_empty(), "{r:?}");
    let rt0 = e.keychain.get_refresh_token(&key(TARO)).unwrap().unwrap();

    // 11 minutes before expiry: not yet; 9 minutes before: refreshed ahead of expiry.
    let left = cached_expiry(&e, TARO) - e.auth.flows().now().timestamp();
    e.clock.advance(Duration::from_secs((left - 11 * 60) as u64));
    let r = e.auth.upkeep(policy).await.unwrap();
    assert!(r.refreshed.is_empty(), "{r:?}");
    e.clock.advance(Duration::from_secs(2 * 60));
    let r = e.auth.upkeep(policy).await.unwrap();
    assert_eq!(r.refreshed, vec![TARO.to_owned()], "{r:?}");
    let rt1 = e.keychain.get_refresh_token(&key(TARO)).unwrap().unwrap();
    assert_ne!(rt0.expose(), rt1.expose(), "the rotated refresh token is stored");

    // Every 80 days for a year (the app running now and then): the refresh token never reaches
    // the 90-day inactivity limit.
    for _ in 0..5 {
        e.clock.advance(Duration::from_secs(80 * 24 * 3600));
        e.emu.advance_clock(Duration::from_secs(80 * 24 * 3600));
        let r = e.auth.upkeep(policy).await.unwrap();
        assert_eq!(r.refreshed, vec![TARO.to_owned()], "{r:?}");
    }
    let status = e.auth.status().await.unwrap();
    let taro = status.iter().find(|s| s.address == TARO).unwrap();
    assert_eq!(taro.status, AccountStatus::SignedIn);
}

#[tokio::test]
async fn upkeep_reports_a_permanent_failure_once_and_keeps_transient_ones_quiet() {
    let e = env().await;
    grant_consent(&e).await;
    sign_in(&e, TARO).await;
    let policy = UpkeepPolicy::default();

    // 503 for every token request: transient, nothing changes.
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }));
    e.clock.advance(Duration::from_secs(2 * 3600));
    let before = e.keychain.get_refresh_token(&key(TARO)).unwrap().unwrap();
    let r = e.auth.upkeep(policy).await.unwrap();
    assert_eq!(r.transient.len(), 1, "{r:?}");
    assert!(r.needs_reauth.is_empty());
    assert_eq!(e.keychain.get_refresh_token(&key(TARO)).unwrap().unwrap().expose(), before.expose());
    e.emu.clear_faults();

    // Revoked by the admin: needs re-authorization, reported once; the next rounds skip it.
    e.emu.revoke_user(TARO).unwrap();
    let r = e.auth.upkeep(policy).await.unwrap();
    assert_eq!(r.needs_reauth.len(), 1, "{r:?}");
    assert_eq!(r.needs_reauth[0].0, TARO);
    let r = e.auth.upkeep(policy).await.unwrap();
    assert!(r.needs_reauth.is_empty() && r.refreshed.is_empty(), "reported once: {r:?}");
    let taro = e.auth.status().await.unwrap().into_iter().find(|s| s.address == TARO).unwrap();
    assert_eq!(taro.status, AccountStatus::NeedsReauth);
    assert!(taro.has_refresh_token, "a failed refresh never deletes the refresh token");
}
