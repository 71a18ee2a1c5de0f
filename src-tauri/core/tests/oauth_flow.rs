//! The OAuth client against the entra emulator (auto-approve). The "browser" is reqwest with
//! redirects disabled: GET the authorize/adminconsent URL, read `Location`, hand it to `complete`.

use exo_setup_core::DetailKey;
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::{
    AutoConsent, Config, Emulator, Endpoint, Fault, FaultKind, DEMO_CLIENT_ID, DEMO_TENANT_ID, DEMO_WEB_CLIENT_ID,
};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::oauth::*;
use exo_setup_core::{Actor, ErrorKind, UiError};

mod common;
use common::{browse, param, with_param};

const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const POP: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";
const DEEP_LINK: &str = "dev.exosetup.wizard://oauth2/callback";
const OTHER_TENANT: &str = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff";

struct Env {
    emu: Emulator,
    client: OAuthClient,
    clock: ManualClock,
    flows: PendingFlows,
}

async fn env_with(client_id: &str) -> Env {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let clock = ManualClock::new();
    let flows = PendingFlows::new(Arc::new(clock.clone()));
    let client = OAuthClient::connect(
        OAuthSettings { authority: emu.base_url(), tenant: DEMO_TENANT_ID.into(), client_id: client_id.into() },
        flows.clone(),
    )
    .await
    .unwrap();
    Env { emu, client, clock, flows }
}

async fn env() -> Env {
    env_with(DEMO_CLIENT_ID).await
}

fn consent(emu: &Emulator) {
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, POP, SMTP]);
}

fn sign_in(address: &str) -> SignInRequest {
    SignInRequest {
        address: address.into(),
        aliases: vec![],
        scopes: MailScopes::for_account(ReceiveProtocol::Imap),
        redirect_uri: DEEP_LINK.into(),
        admin_consent_known: true,
    }
}

async fn signed_in(e: &Env, address: &str) -> SignedIn {
    let (url, _) = e.client.begin_sign_in(&sign_in(address)).unwrap();
    let cb = browse(url.as_str()).await;
    match e.client.complete(&cb).await {
        Ok(Outcome::SignedIn(s)) => s,
        other => panic!("expected a sign-in, got {other:?}"),
    }
}

fn err<T: std::fmt::Debug>(r: Result<T, OAuthError>) -> OAuthError {
    match r {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test]
async fn sign_in_succeeds_with_a_checked_id_token() {
    let e = env().await;
    consent(&e.emu);
    let (url, state) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let u = url.as_str();
    assert!(u.starts_with(&format!("{}/{}/oauth2/v2.0/authorize?", e.emu.base_url(), DEMO_TENANT_ID)), "{u}");
    assert_eq!(param(u, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(u, "response_mode").as_deref(), Some("query"));
    assert_eq!(param(u, "response_type").as_deref(), Some("code"));
    assert_eq!(param(u, "login_hint").as_deref(), Some("taro@contoso.example"));
    assert_eq!(param(u, "redirect_uri").as_deref(), Some(DEEP_LINK));
    assert_eq!(param(u, "state").as_deref(), Some(state.as_str()));
    assert!(state.len() >= 22, "state carries ≥128 bits");
    assert!(param(u, "nonce").is_some_and(|n| n.len() >= 22));
    assert_eq!(
        param(u, "scope").as_deref(),
        Some("https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid profile email")
    );
    assert_eq!(e.flows.len(), 1);

    let cb = browse(u).await;
    assert!(cb.starts_with(DEEP_LINK), "{cb}");
    let s = match e.client.complete(&cb).await.unwrap() {
        Outcome::SignedIn(s) => s,
        o => panic!("{o:?}"),
    };
    assert_eq!(s.address, "taro@contoso.example");
    assert_eq!(s.signed_in_as, "taro@contoso.example");
    assert_eq!(s.tid, DEMO_TENANT_ID);
    assert!(!s.oid.is_empty());
    assert!(!s.refresh_token.is_empty() && !s.access_token.is_empty());
    assert!(s.scopes.iter().any(|x| x == IMAP), "{:?}", s.scopes);
    assert!(s.expires_at > e.flows.now());
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(s.refresh_token.expose()) && !dbg.contains(s.access_token.expose()));
    assert!(dbg.contains("<redacted>"));
    assert!(e.flows.is_empty(), "the flow is used up");
}

#[tokio::test]
async fn sign_in_with_a_known_alias_is_accepted() {
    let e = env().await;
    consent(&e.emu);
    // The mailbox is registered under its alias; Microsoft signs in the UPN.
    let mut req = sign_in("t.yamada@contoso.example");
    req.aliases = vec!["TARO@contoso.example".into()];
    let (url, _) = e.client.begin_sign_in(&req).unwrap();
    let cb = browse(url.as_str()).await;
    match e.client.complete(&cb).await.unwrap() {
        Outcome::SignedIn(s) => assert_eq!(s.address, "t.yamada@contoso.example"),
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn wrong_account_is_refused_and_says_who() {
    let e = env().await;
    consent(&e.emu);
    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    // The person at the browser picks another account.
    let cb = browse(&with_param(url.as_str(), "login_hint", Some("hanako@contoso.example"))).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::WrongAccount);
    let ui = UiError::from(er);
    assert_eq!(ui.actor, Actor::User);
    assert_eq!(ui.detail[&DetailKey::SignedInAs], "hanako@contoso.example");
    assert_eq!(ui.detail[&DetailKey::Expected], "taro@contoso.example");
    assert!(ui.message.contains("hanako@contoso.example") && ui.message.contains("taro@contoso.example"));
}

#[tokio::test]
async fn replayed_tampered_and_missing_states_are_rejected() {
    let e = env().await;
    consent(&e.emu);
    let (url, state) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;

    let tampered = with_param(&cb, "state", Some(&format!("{state}x")));
    assert_eq!(err(e.client.complete(&tampered).await).kind(), ErrorKind::StateUnknown);
    assert_eq!(err(e.client.complete(&with_param(&cb, "state", None)).await).kind(), ErrorKind::StateMissing);
    assert_eq!(err(e.client.complete("not a url").await).kind(), ErrorKind::CallbackMalformed);
    // The genuine callback still works: forgeries do not consume the flow…
    assert!(matches!(e.client.complete(&cb).await, Ok(Outcome::SignedIn(_))));
    // …but the genuine one does.
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::StateReplayed);
    assert_eq!(er.actor(), Actor::User);
}

#[tokio::test]
async fn late_callbacks_and_flows_that_never_come_back() {
    let e = env().await;
    consent(&e.emu);
    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    e.clock.advance(Duration::from_secs(10 * 60 + 1));
    assert_eq!(err(e.client.complete(&cb).await).kind(), ErrorKind::CallbackLate);
    // Replaying it later still says "late", not "unknown".
    assert_eq!(err(e.client.complete(&cb).await).kind(), ErrorKind::CallbackLate);

    // A flow whose callback never arrives (Microsoft showed its own error page).
    let (_url, state) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    e.clock.advance(Duration::from_secs(10 * 60 + 1));
    let due = e.flows.expire_due();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0, state);
    let ui = UiError::from(due.into_iter().next().unwrap().1);
    assert_eq!(ui.kind, ErrorKind::FlowTimedOut);
    assert_eq!(ui.actor, Actor::Admin);
    assert_eq!(ui.detail[&DetailKey::RedirectUri], "http://localhost:8765");
    assert_eq!(ui.detail[&DetailKey::ClientId], DEMO_CLIENT_ID);
    assert!(ui.message.contains("AADSTS50011") && ui.message.contains("AADSTS700016"));
    assert!(ui.message.contains("Mobile and desktop applications"));
}

#[tokio::test]
async fn a_code_redeemed_twice_is_54005() {
    let e = env().await;
    consent(&e.emu);
    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    let code = param(&cb, "code").unwrap();
    assert!(matches!(e.client.complete(&cb).await, Ok(Outcome::SignedIn(_))));
    // An attacker (or a bug) pairs the old code with a fresh flow.
    let (_url2, state2) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let forged = format!("{DEEP_LINK}?code={}&state={state2}", urlencode(&code));
    let er = err(e.client.complete(&forged).await);
    assert_eq!(er.kind(), ErrorKind::CodeAlreadyRedeemed);
    assert_eq!(er.aadsts(), Some(54005));
    let ui = UiError::from(er);
    assert_eq!(ui.actor, Actor::Support);
    assert!(ui.detail.contains_key(&DetailKey::TraceId) && ui.detail.contains_key(&DetailKey::CorrelationId));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn admin_consent_succeeds_with_exactly_the_needed_scopes() {
    let e = env().await;
    let protocols = MailScopes { imap: true, pop: false, smtp: true };
    let (url, _) = e.client.begin_admin_consent(protocols, "http://localhost:8765").unwrap();
    let u = url.as_str();
    assert!(u.starts_with(&format!("{}/{}/v2.0/adminconsent?", e.emu.base_url(), DEMO_TENANT_ID)), "{u}");
    assert_eq!(param(u, "scope").as_deref(), Some(format!("{IMAP} {SMTP} offline_access").as_str()));
    assert_eq!(param(u, "client_id").as_deref(), Some(DEMO_CLIENT_ID));
    let cb = browse(u).await;
    match e.client.complete(&cb).await.unwrap() {
        Outcome::AdminConsented(g) => {
            assert_eq!(g.tenant_id, DEMO_TENANT_ID);
            assert!(g.scopes.iter().any(|s| s == IMAP) && g.scopes.iter().any(|s| s == SMTP), "{:?}", g.scopes);
            assert!(!g.scopes.iter().any(|s| s == POP));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(e.emu.admin_consents().len(), 1);
    // Afterwards a user of this admin_only tenant can sign in.
    let s = signed_in(&e, "hanako@contoso.example").await;
    assert_eq!(s.signed_in_as, "hanako@contoso.example");
}

#[tokio::test]
async fn admin_consent_for_another_tenant_in_the_callback_is_refused() {
    let e = env().await;
    let (url, _) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    let cb = browse(url.as_str()).await;
    let spoofed = with_param(&cb, "tenant", Some(OTHER_TENANT));
    let er = err(e.client.complete(&spoofed).await);
    assert_eq!(er.kind(), ErrorKind::TenantMismatch);
    let ui = UiError::from(er);
    assert_eq!(ui.detail[&DetailKey::Returned], OTHER_TENANT);
    assert_eq!(ui.detail[&DetailKey::Expected], DEMO_TENANT_ID);

    let (url, _) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    let cb = browse(url.as_str()).await;
    assert_eq!(
        err(e.client.complete(&with_param(&cb, "admin_consent", Some("False"))).await).kind(),
        ErrorKind::AdminConsentNotGranted
    );
}

#[tokio::test]
async fn admin_consent_by_a_non_admin_or_declined() {
    let e = env().await;
    let (url, _) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    let cb = browse(&with_param(url.as_str(), "login_hint", Some("hanako@contoso.example"))).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::AdminRoleRequired, "{er:?}");
    assert_eq!(er.actor(), Actor::Admin);

    // An admin of another organization.
    let (url, _) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    let cb = browse(&with_param(url.as_str(), "login_hint", Some("admin@fabrikam.example"))).await;
    assert_eq!(err(e.client.complete(&cb).await).kind(), ErrorKind::WrongOrganizationAccount);

    e.emu.set_auto_consent(AutoConsent::Decline);
    let (url, _) = e.client.begin_admin_consent(MailScopes::all(), "http://localhost:8765").unwrap();
    let cb = browse(url.as_str()).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::AdminConsentDeclined);
    assert_eq!(er.actor(), Actor::Admin);
    assert!(e.emu.admin_consents().is_empty());
}

#[tokio::test]
async fn need_admin_approval_before_consent() {
    let e = env().await;
    let mut req = sign_in("hanako@contoso.example");
    req.admin_consent_known = false;
    let (url, _) = e.client.begin_sign_in(&req).unwrap();
    let cb = browse(url.as_str()).await;
    assert_eq!(param(&cb, "error_subcode").as_deref(), Some("cancel"));
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::AdminApprovalRequired);
    let ui = UiError::from(er);
    assert_eq!(ui.actor, Actor::Admin);
    assert!(ui.message.contains("step 3"));
    assert!(ui.detail.contains_key(&DetailKey::TraceId));
}

#[tokio::test]
async fn user_declining_consent_is_explained() {
    let e = env().await;
    // Fabrikam lets users consent; its multi-tenant app is not used here, so use Contoso with a
    // consent screen: the admin consent covers IMAP only, the sign-in asks for SMTP too.
    e.emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP]);
    e.emu.set_auto_consent(AutoConsent::Decline);
    let (url, _) = e.client.begin_sign_in(&sign_in("admin@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::ConsentDeclined, "{er:?}");
    assert_eq!(er.actor(), Actor::User);
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    let scopes = MailScopes::for_account(ReceiveProtocol::Imap);
    let r1 = e.client.refresh(&s.refresh_token, scopes).await.unwrap();
    assert!(r1.rotated);
    assert_ne!(r1.refresh_token.expose(), s.refresh_token.expose());
    assert!(!r1.access_token.is_empty());
    assert!(r1.scopes.iter().any(|x| x == IMAP));
    let r2 = e.client.refresh(&r1.refresh_token, scopes).await.unwrap();
    assert!(r2.rotated);
    assert_ne!(r2.refresh_token.expose(), r1.refresh_token.expose());
}

#[tokio::test]
async fn refresh_after_90_days_needs_reauthorization() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    e.emu.advance_clock(Duration::from_secs(91 * 24 * 3600));
    let er = err(e.client.refresh(&s.refresh_token, MailScopes::for_account(ReceiveProtocol::Imap)).await);
    assert_eq!(er.kind(), ErrorKind::ReauthorizationRequired);
    assert_eq!(er.aadsts(), Some(700082));
    assert!(er.needs_reauthorization() && !er.is_transient());
    assert_eq!(er.actor(), Actor::User);
}

#[tokio::test]
async fn revoked_refresh_token_needs_reauthorization() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    e.emu.revoke_user("taro@contoso.example").unwrap();
    let er = err(e.client.refresh(&s.refresh_token, MailScopes::for_account(ReceiveProtocol::Imap)).await);
    assert_eq!(er.kind(), ErrorKind::ReauthorizationRequired);
    assert_eq!(er.aadsts(), Some(50173));
}

#[tokio::test]
async fn a_503_is_transient_and_the_token_is_kept() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    let scopes = MailScopes::for_account(ReceiveProtocol::Imap);
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }).times(1));
    let er = err(e.client.refresh(&s.refresh_token, scopes).await);
    assert_eq!(er.kind(), ErrorKind::ServiceUnavailable);
    assert!(er.is_transient() && !er.needs_reauthorization());
    assert_eq!(UiError::from(er).detail[&DetailKey::Status], "503");
    // The same refresh token still works.
    let r = e.client.refresh(&s.refresh_token, scopes).await.unwrap();

    // With retries, two 503s in a row are absorbed.
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::Http { status: 503 }).times(2));
    let policy = Backoff { attempts: 3, initial: Duration::from_millis(10), max: Duration::from_millis(50) };
    let latest = e.client.refresh_with_retry(&r.refresh_token, scopes, policy).await;
    assert!(latest.is_ok(), "{latest:?}");
}

#[tokio::test]
async fn mfa_required_on_refresh() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    e.emu.set_mfa_required("taro@contoso.example", true).unwrap();
    let er = err(e.client.refresh(&s.refresh_token, MailScopes::for_account(ReceiveProtocol::Imap)).await);
    assert_eq!(er.kind(), ErrorKind::MfaRequired);
    assert_eq!(er.aadsts(), Some(50076));
    assert_eq!(er.actor(), Actor::User);
    assert!(er.needs_reauthorization());
}

#[tokio::test]
async fn conditional_access_and_sign_in_frequency_on_refresh() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    let scopes = MailScopes::for_account(ReceiveProtocol::Imap);
    e.emu.inject_fault(Fault::aadsts(Endpoint::Token, 53003).times(1));
    let er = err(e.client.refresh(&s.refresh_token, scopes).await);
    assert_eq!(er.kind(), ErrorKind::ConditionalAccessBlocked);
    assert_eq!(er.actor(), Actor::Admin);
    e.emu.inject_fault(Fault::aadsts(Endpoint::Token, 70043).times(1));
    assert_eq!(err(e.client.refresh(&s.refresh_token, scopes).await).kind(), ErrorKind::SignInFrequency);
    e.emu.inject_fault(Fault::aadsts(Endpoint::Token, 65001).times(1));
    assert_eq!(err(e.client.refresh(&s.refresh_token, scopes).await).kind(), ErrorKind::ConsentRequired);
}

#[tokio::test]
async fn web_registered_redirect_is_7000218() {
    let e = env_with(DEMO_WEB_CLIENT_ID).await;
    e.emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_WEB_CLIENT_ID, &[IMAP, POP, SMTP]);
    let mut req = sign_in("taro@contoso.example");
    req.redirect_uri = "http://localhost:53682".into();
    let (url, _) = e.client.begin_sign_in(&req).unwrap();
    let cb = browse(url.as_str()).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::RedirectRegisteredAsWeb);
    assert_eq!(er.aadsts(), Some(7000218));
    let ui = UiError::from(er);
    assert_eq!(ui.actor, Actor::Admin);
    assert!(ui.message.contains("Mobile and desktop applications"));
}

#[tokio::test]
async fn a_callback_for_other_settings_or_another_redirect_is_refused() {
    let e = env().await;
    consent(&e.emu);
    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    // The same registry, a client with another client ID (settings changed meanwhile).
    let other = OAuthClient::new(
        OAuthSettings {
            authority: e.emu.base_url(),
            tenant: DEMO_TENANT_ID.into(),
            client_id: entra_emulator::DEMO_MULTI_CLIENT_ID.into(),
        },
        e.client.discovery().clone(),
        e.flows.clone(),
    )
    .unwrap();
    assert_eq!(err(other.complete(&cb).await).kind(), ErrorKind::ForeignFlow);

    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    let moved = cb.replacen(DEEP_LINK, "http://localhost:9999/", 1);
    assert_eq!(err(e.client.complete(&moved).await).kind(), ErrorKind::CallbackMismatch);

    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    assert_eq!(
        err(e.client.complete(&with_param(&cb, "iss", Some("https://evil.example/v2.0"))).await).kind(),
        ErrorKind::IssuerMismatch
    );
}

#[tokio::test]
async fn a_loopback_redirect_works_too() {
    let e = env().await;
    consent(&e.emu);
    let mut req = sign_in("taro@contoso.example");
    req.redirect_uri = "http://localhost:53682".into();
    let (url, _) = e.client.begin_sign_in(&req).unwrap();
    let cb = browse(url.as_str()).await;
    assert!(cb.starts_with("http://localhost:53682"), "{cb}");
    assert!(matches!(e.client.complete(&cb).await, Ok(Outcome::SignedIn(_))));
}

#[tokio::test]
async fn a_token_endpoint_that_answers_garbage_or_drops_the_connection() {
    let e = env().await;
    consent(&e.emu);
    let s = signed_in(&e, "taro@contoso.example").await;
    let scopes = MailScopes::for_account(ReceiveProtocol::Imap);
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::MalformedJson).times(1));
    assert_eq!(err(e.client.refresh(&s.refresh_token, scopes).await).kind(), ErrorKind::InvalidTokenResponse);
    e.emu.inject_fault(Fault::new(Endpoint::Token, FaultKind::DropConnection).times(1));
    let er = err(e.client.refresh(&s.refresh_token, scopes).await);
    assert!(er.is_transient(), "{er:?}");
}

#[tokio::test]
async fn conditional_access_at_sign_in_and_an_unknown_tenant() {
    let e = env().await;
    consent(&e.emu);
    let (url, _) = e.client.begin_sign_in(&sign_in("saburo@contoso.example")).unwrap();
    let cb = browse(url.as_str()).await;
    let er = err(e.client.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::ConditionalAccessBlocked);
    assert_eq!(er.aadsts(), Some(53003));

    let r = OAuthClient::connect(
        OAuthSettings {
            authority: e.emu.base_url(),
            tenant: "nowhere.example".into(),
            client_id: DEMO_CLIENT_ID.into(),
        },
        e.flows.clone(),
    )
    .await;
    let ui = UiError::from(r.unwrap_err());
    assert_eq!(ui.kind, ErrorKind::TenantNotFound);
    assert_eq!(ui.actor, Actor::Admin);

    let r = OAuthClient::connect(
        OAuthSettings { authority: e.emu.base_url(), tenant: "common".into(), client_id: DEMO_CLIENT_ID.into() },
        e.flows.clone(),
    )
    .await;
    assert!(r.is_err(), "common is refused");
}

#[tokio::test]
async fn a_pop_account_asks_for_pop_and_smtp_only() {
    let e = env().await;
    consent(&e.emu);
    let mut req = sign_in("hanako@contoso.example");
    req.scopes = MailScopes::for_account(ReceiveProtocol::Pop3);
    req.redirect_uri = "http://localhost:53682".into();
    let (url, _) = e.client.begin_sign_in(&req).unwrap();
    assert_eq!(
        param(url.as_str(), "scope").as_deref(),
        Some(format!("{POP} {SMTP} offline_access openid profile email").as_str())
    );
    let location = browse(url.as_str()).await;
    // What a loopback listener receives is the request target only.
    // (the browser sends `GET /?code=…`).
    let target = format!("/{}", location["http://localhost:53682".len()..].trim_start_matches('/'));
    let cb = loopback_callback_url(&req.redirect_uri, &target).unwrap();
    match e.client.complete(&cb).await.unwrap() {
        Outcome::SignedIn(s) => {
            assert!(s.scopes.iter().any(|x| x == POP), "{:?}", s.scopes);
            let r = e.client.refresh(&s.refresh_token, req.scopes).await.unwrap();
            assert!(r.scopes.iter().any(|x| x == POP));
        }
        o => panic!("{o:?}"),
    }
}

/// RFC 9207 against a strict provider: the emulator's own discovery document (which, like
/// Microsoft's, does not advertise `authorization_response_iss_parameter_supported`) with the flag
/// added in the test. Then a callback without `iss` is a security refusal, a wrong `iss` too, and
/// the right one passes. Against the emulator as it is (Microsoft's behaviour) `iss` stays optional.
#[tokio::test]
async fn a_provider_advertising_rfc_9207_must_name_itself_in_every_callback() {
    let e = env().await;
    consent(&e.emu);
    assert!(!e.client.discovery().authorization_response_iss_parameter_supported, "Microsoft does not advertise it");
    let mut doc = e.client.discovery().clone();
    doc.authorization_response_iss_parameter_supported = true;
    let strict = OAuthClient::new(
        OAuthSettings { authority: e.emu.base_url(), tenant: DEMO_TENANT_ID.into(), client_id: DEMO_CLIENT_ID.into() },
        doc,
        e.flows.clone(),
    )
    .unwrap();
    let expected_iss = format!("{}/{}/v2.0", e.emu.base_url(), DEMO_TENANT_ID);
    let callback = || async {
        let (url, _) = strict.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
        browse(url.as_str()).await
    };

    // The emulator (like Microsoft) sends no `iss`: refused, as a security matter.
    let cb = callback().await;
    assert_eq!(param(&cb, "iss"), None);
    let er = err(strict.complete(&cb).await);
    assert_eq!(er.kind(), ErrorKind::IssuerMissing);
    assert_eq!(er.actor(), Actor::Admin);
    assert!(!er.is_transient());
    let ui = UiError::from(er);
    assert_eq!(ui.detail[&DetailKey::Expected], expected_iss);
    assert!(ui.message.starts_with("refused for security"), "{}", ui.message);
    // An error redirect without `iss` is refused the same way (RFC 9207 covers error responses).
    let cb = callback().await;
    let denied = with_param(&with_param(&cb, "code", None), "error", Some("access_denied"));
    assert_eq!(err(strict.complete(&denied).await).kind(), ErrorKind::IssuerMissing);

    // Another issuer: a mix-up; a security refusal, not "retry later".
    let cb = callback().await;
    let er = err(strict.complete(&with_param(&cb, "iss", Some("https://evil.example/x/v2.0"))).await);
    assert_eq!(er.kind(), ErrorKind::IssuerMismatch);
    assert_eq!(er.actor(), Actor::Admin);
    assert!(!er.is_transient());

    // The right issuer: signed in.
    let cb = callback().await;
    match strict.complete(&with_param(&cb, "iss", Some(&expected_iss))).await {
        Ok(Outcome::SignedIn(s)) => assert_eq!(s.address, "taro@contoso.example"),
        other => panic!("expected a sign-in, got {other:?}"),
    }
    // Without the flag (Microsoft), a callback without `iss` still signs in.
    let (url, _) = e.client.begin_sign_in(&sign_in("taro@contoso.example")).unwrap();
    let plain = browse(url.as_str()).await;
    assert!(matches!(e.client.complete(&plain).await, Ok(Outcome::SignedIn(_))));
}
