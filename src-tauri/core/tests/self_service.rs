//! Self-service end to end in the core, against the entra emulator: the administrator turns it
//! on and makes the organization invitation (no mailbox); a fresh user's store accepts it (the
//! organization only), the user types an address and signs in. A typed address that is not the
//! signed-in identity stores nothing — no account, no token; the right one registers the mailbox,
//! marked self-registered. A managed policy that pins the organization needs no invitation at
//! all, and one that forbids self-service refuses both ways in.

use std::path::Path;
use std::sync::Arc;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::auth::Auth;
use exo_setup_core::invite;
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{FlowResult, OrgSettingsInput, ReceiveProtocol, RedirectMode, StepStatus};
use exo_setup_core::policy::{self, Policy};
use exo_setup_core::{accounts, identity, org, self_service, ErrorKind, Store};

mod common;
use common::{browse, with_param};

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

async fn emulator() -> Emulator {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu
}

fn settings(emu: &Emulator) -> OrgSettingsInput {
    OrgSettingsInput {
        organization_name: "コントソ株式会社".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        client_id: DEMO_CLIENT_ID.into(),
        authority: emu.base_url(),
        redirect_mode: RedirectMode::DeepLink,
    }
}

/// Step 3 on an administrator's computer: the tenant-wide consent users' sign-ins need.
async fn grant_consent(emu: &Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let admin = Arc::new(Store::open_in(dir.path()).unwrap());
    org::save_exchange_online_with(&admin, &settings(emu), &Policy::default()).await.unwrap();
    // With self-service on, the consent covers IMAP and POP3: users choose.
    self_service::set_enabled(&admin.conn(), &Policy::default(), true).unwrap();
    let auth = Auth::new(admin, Arc::new(MemoryKeychain::new()));
    let (_, url) = auth.begin_admin_consent(&identity::deep_link_redirect_uri()).await.unwrap();
    let f = auth.complete(&browse(url.as_str()).await).await;
    assert!(matches!(f.result, FlowResult::AdminConsented { .. }), "{f:?}");
}

fn self_registered(store: &Store) -> Vec<(String, i64)> {
    store
        .conn()
        .prepare("SELECT address, self_registered FROM mail_accounts ORDER BY address")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn user_auth(store: &Arc<Store>, policy: Policy) -> (Auth, Arc<MemoryKeychain>) {
    let keychain = Arc::new(MemoryKeychain::new());
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let mut auth = Auth::new(store.clone(), tokens);
    auth.set_policy(policy);
    (auth, keychain)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organization_invitation_sets_up_the_typed_mailbox_only_once_microsoft_confirms_it() {
    let emu = emulator().await;
    grant_consent(&emu).await;
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = Store::open_in(admin_dir.path()).unwrap();
    org::save_exchange_online_with(&admin, &settings(&emu), &Policy::default()).await.unwrap();
    // Off until step 1 turns it on: no organization invitation.
    let e = self_service::organization_invitation(&admin.conn(), &Policy::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::SelfServiceNotAllowed);
    self_service::set_enabled(&admin.conn(), &Policy::default(), true).unwrap();
    let (made, inv) = self_service::organization_invitation(&admin.conn(), &Policy::default()).unwrap();
    assert!(inv.is_organization() && inv.address.is_empty(), "{inv:?}");
    assert_eq!(made.receipt_to, None, "no rollout sender chosen: no receipts asked for");
    let inv = invite::parse(&made.link).unwrap();

    // The user's computer: the preview says "organization-wide"; accepting stores the organization only.
    let user_dir = tempfile::tempdir().unwrap();
    let user = Arc::new(Store::open_in(user_dir.path()).unwrap());
    let p = invite::preview(&user.conn(), &Policy::default(), &inv, "id".into()).unwrap();
    assert!(p.organization_wide && p.address.is_empty() && !p.already_registered, "{p:?}");
    let accepted = invite::accept(&user, &Policy::default(), &inv, false).await.unwrap();
    assert!(accepted.account.is_none());
    assert_eq!(accepted.org.tenant_id, DEMO_TENANT_ID);
    assert_eq!(accounts::count(&user.conn()).unwrap(), 0);
    assert!(self_service::state(&user.conn(), &Policy::default()).unwrap().enabled);
    // Step 2 is optional with self-service, and step 4 is open with no mailbox registered yet.
    let ov = exo_setup_core::overview::overview_with(&user.conn(), &Policy::default()).unwrap();
    assert_eq!([ov.steps[1].status, ov.steps[3].status], [StepStatus::Done, StepStatus::Todo]);

    // Hanako types her address but signs in as taro at Microsoft: refused, nothing stored.
    let (auth, keychain) = user_auth(&user, Policy::default());
    let redirect = identity::deep_link_redirect_uri();
    let (_, url) = auth.begin_self_sign_in(HANAKO, ReceiveProtocol::Imap, &redirect).await.unwrap();
    assert_eq!(accounts::count(&user.conn()).unwrap(), 0, "a typed address is not stored before the sign-in");
    let as_taro = with_param(url.as_str(), "login_hint", Some(TARO));
    let f = auth.complete(&browse(&as_taro).await).await;
    match &f.result {
        FlowResult::Failed { error } => assert_eq!(error.kind, ErrorKind::WrongAccount, "{error:?}"),
        other => panic!("expected wrong_account, got {other:?}"),
    }
    assert!(self_registered(&user).is_empty(), "no account for a typed address Microsoft did not confirm");
    assert!(keychain.entries().names().is_empty(), "no token either");

    // Taro types his own address: registered, marked self-registered, token in the keychain.
    let (_, url) = auth.begin_self_sign_in(TARO, ReceiveProtocol::Pop3, &redirect).await.unwrap();
    let f = auth.complete(&browse(url.as_str()).await).await;
    match &f.result {
        FlowResult::SignedIn { sign_in } => {
            assert_eq!(sign_in.address, TARO);
            assert_eq!(sign_in.account.receive_protocol, ReceiveProtocol::Pop3);
        }
        other => panic!("sign-in failed: {other:?}"),
    }
    assert_eq!(self_registered(&user), [(TARO.to_owned(), 1)]);
    assert!(keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, TARO)).unwrap().is_some());
    let audit = exo_setup_core::store::list_audit(&user.conn(), 10).unwrap();
    assert!(audit.iter().any(|a| a.action == "self_service.register" && a.target == TARO), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_that_pins_the_organization_needs_no_invitation() {
    let emu = emulator().await;
    grant_consent(&emu).await;
    let pinned = policy::parse(
        &format!(
            r#"{{"version": 1, "tenant": "contoso.onmicrosoft.com", "clientId": "{DEMO_CLIENT_ID}",
                "authority": "{}", "selfService": true}}"#,
            emu.base_url()
        ),
        Path::new("/etc/exo-setup/policy.json"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let user = Arc::new(Store::open_in(dir.path()).unwrap());
    assert!(org::org_settings(&user.conn()).unwrap().is_none());
    let (auth, keychain) = user_auth(&user, pinned.clone());
    assert!(self_service::state(&user.conn(), &pinned).unwrap().pinned_by_policy);
    let ov = exo_setup_core::overview::overview_with(&user.conn(), &pinned).unwrap();
    assert_eq!(ov.steps[3].status, StepStatus::Todo, "nothing configured, yet the user can start at step 4");
    let (_, url) =
        auth.begin_self_sign_in(TARO, ReceiveProtocol::Imap, &identity::deep_link_redirect_uri()).await.unwrap();
    // Step 1 was done from the policy (discovery checked), nothing else yet.
    assert_eq!(org::org_settings(&user.conn()).unwrap().unwrap().tenant_id, DEMO_TENANT_ID);
    assert_eq!(accounts::count(&user.conn()).unwrap(), 0);
    let f = auth.complete(&browse(url.as_str()).await).await;
    assert!(matches!(f.result, FlowResult::SignedIn { .. }), "{f:?}");
    assert_eq!(self_registered(&user), [(TARO.to_owned(), 1)]);
    assert!(keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, TARO)).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn self_service_is_refused_where_it_is_not_allowed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    org::save_exchange_online_with(&store, &settings(&emu), &Policy::default()).await.unwrap();
    // Step 1 saved, self-service never turned on: a typed address is refused before any browser.
    let (auth, _) = user_auth(&store, Policy::default());
    let redirect = identity::deep_link_redirect_uri();
    let e = auth.begin_self_sign_in(TARO, ReceiveProtocol::Imap, &redirect).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SelfServiceNotAllowed);
    assert!(auth.snapshot().pending.is_empty());
    let ov = exo_setup_core::overview::overview_with(&store.conn(), &Policy::default()).unwrap();
    assert_eq!([ov.steps[1].status, ov.steps[3].status], [StepStatus::Todo, StepStatus::Blocked]);

    // IT forbids it: the organization invitation is refused at once, and step 1's switch is locked.
    let forbid =
        policy::parse(r#"{"version": 1, "selfService": false}"#, Path::new("/etc/exo-setup/policy.json")).unwrap();
    let e = self_service::set_enabled(&store.conn(), &forbid, true).unwrap_err();
    assert_eq!(e.kind, ErrorKind::PolicyLockedField);
    self_service::set_enabled(&store.conn(), &Policy::default(), true).unwrap();
    let (_, inv) = self_service::organization_invitation(&store.conn(), &Policy::default()).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::open_in(other_dir.path()).unwrap();
    let e = invite::preview(&other.conn(), &forbid, &inv, "id".into()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::SelfServiceRefusedByPolicy);
    let e = invite::accept(&other, &forbid, &inv, false).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SelfServiceRefusedByPolicy);
    assert!(org::org_settings(&other.conn()).unwrap().is_none(), "nothing stored");
    // …and a typed address, even where step 1 turned it on.
    let (auth, _) = user_auth(&store, forbid);
    let e = auth.begin_self_sign_in(TARO, ReceiveProtocol::Imap, &redirect).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SelfServiceRefusedByPolicy);
    assert_eq!(accounts::count(&store.conn()).unwrap(), 0);
}
