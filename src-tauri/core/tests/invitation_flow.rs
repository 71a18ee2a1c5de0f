//! Invitations end to end in the core: the admin's store makes them, a fresh user's store opens
//! and accepts one, and the user signs in through the entra emulator (`Auth`, in-memory
//! keychain). Then every refusal — malformed, oversized, unknown version, tampered, and each
//! policy rule — is checked to leave the user's store exactly as it was.

use exo_setup_core::DetailKey;
use std::path::Path;
use std::sync::Arc;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_MULTI_CLIENT_ID, DEMO_OPEN_TENANT_ID, DEMO_TENANT_ID};
use exo_setup_core::auth::Auth;
use exo_setup_core::invite::{self, Invitation, INVITATION_VERSION};
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{
    AccountInput, Endpoint, FlowResult, OrgSettingsInput, ReceiveProtocol, RedirectMode, Security, StepStatus,
};
use exo_setup_core::policy::{self, Policy};
use exo_setup_core::{org, ErrorKind, Store, UiError};

mod common;
use common::browse;

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

struct Admin {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
}

async fn emulator() -> Emulator {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu
}

fn settings(emu: &Emulator, tenant: &str, client: &str) -> OrgSettingsInput {
    OrgSettingsInput {
        organization_name: "コントソ株式会社".into(),
        tenant: tenant.into(),
        client_id: client.into(),
        authority: emu.base_url(),
        redirect_mode: RedirectMode::DeepLink,
    }
}

/// The admin's machine: step 1 saved, taro (IMAP) and hanako (POP3) registered.
async fn admin(emu: &Emulator) -> Admin {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    org::save_exchange_online_with(
        &store,
        &settings(emu, "contoso.onmicrosoft.com", DEMO_CLIENT_ID),
        &Policy::default(),
    )
    .await
    .unwrap();
    for (address, protocol) in [(TARO, ReceiveProtocol::Imap), (HANAKO, ReceiveProtocol::Pop3)] {
        exo_setup_core::accounts::add(
            &store,
            &AccountInput {
                login_name: address.split('@').next().unwrap().into(),
                user_display_name: format!("{} さん", address.split('@').next().unwrap()),
                address: address.into(),
                display_name: String::new(),
                receive_protocol: protocol,
                server_id: 1,
            },
        )
        .unwrap();
    }
    Admin { _dir: dir, store: Arc::new(store) }
}

fn policy_json(json: &str) -> Policy {
    policy::parse(json, Path::new("/etc/exo-setup/policy.json")).unwrap()
}

/// Every row of every table, as text: what "changes nothing" is checked against.
fn dump(store: &Store) -> String {
    let conn = store.conn();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let rows: Vec<String> = st
            .query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|")))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.push_str(&format!("{t}: {rows:?}\n"));
    }
    out
}

fn link_for(admin: &Admin, address: &str) -> String {
    let all = invite::for_accounts(&admin.store.conn(), None).unwrap();
    all.into_iter().find(|(l, _)| l.address == address).unwrap().0.link
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_invitation_sets_up_a_fresh_user_store_and_the_user_signs_in() {
    let emu = emulator().await;
    let admin = admin(&emu).await;
    // Step 3 on the admin's machine: without the tenant-wide consent users could not sign in.
    let admin_auth = Auth::new(admin.store.clone(), Arc::new(MemoryKeychain::new()));
    let (_, url) = admin_auth.begin_admin_consent(&exo_setup_core::identity::deep_link_redirect_uri()).await.unwrap();
    let consented = admin_auth.complete(&browse(url.as_str()).await).await;
    assert!(matches!(consented.result, FlowResult::AdminConsented { .. }), "{consented:?}");

    // The admin makes invitations for everybody: links, files and the mail-merge CSV.
    let all = invite::for_accounts(&admin.store.conn(), None).unwrap();
    assert_eq!(all.iter().map(|(l, _)| l.address.as_str()).collect::<Vec<_>>(), [HANAKO, TARO]);
    let out = tempfile::tempdir().unwrap();
    let files = invite::write_files(&all, out.path()).unwrap();
    assert_eq!(files.len(), 2);
    let mut csv = Vec::new();
    invite::write_csv(&all.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(), &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    for (l, inv) in &all {
        assert!(l.link.len() < 700, "{} chars", l.link.len());
        assert!(csv.contains(&l.link));
        assert_eq!(&invite::parse(&l.link).unwrap(), inv);
        assert_eq!(&invite::read_file(&out.path().join(&l.file_name)).unwrap(), inv);
    }
    let (taro_link, taro_inv) = all.iter().find(|(l, _)| l.address == TARO).unwrap();
    assert_eq!(taro_inv.tenant_id, DEMO_TENANT_ID);
    assert_eq!(taro_inv.organization_name, "コントソ株式会社");
    assert_eq!(taro_inv.endpoints, None, "Exchange Online's own endpoints are not repeated");

    // The user's machine: nothing configured. Opening shows what would happen, stores nothing.
    let user_dir = tempfile::tempdir().unwrap();
    let user = Arc::new(Store::open_in(user_dir.path()).unwrap());
    let before = dump(&user);
    let inv = invite::parse(&taro_link.link).unwrap();
    let p = invite::preview(&user.conn(), &Policy::default(), &inv, "id-1".into()).unwrap();
    assert_eq!(
        (p.organization_name.as_str(), p.tenant.as_str(), p.tenant_id.as_str(), p.client_id.as_str()),
        ("コントソ株式会社", "contoso.onmicrosoft.com", DEMO_TENANT_ID, DEMO_CLIENT_ID)
    );
    assert_eq!((p.address.as_str(), p.receive_protocol), (TARO, ReceiveProtocol::Imap));
    assert_eq!(p.cloud, None, "the emulator on http://127.0.0.1 is not a Microsoft cloud: the screen warns");
    assert!(p.replaces.is_none() && p.overrides.is_empty() && !p.already_registered);
    assert_eq!(p.mail_hosts, ["outlook.office365.com", "smtp.office365.com"], "Exchange Online's, named on the screen");
    assert_eq!(dump(&user), before);

    let accepted = invite::accept(&user, &Policy::default(), &inv, false).await.unwrap();
    assert_eq!(accepted.account.as_ref().unwrap().address, TARO);
    assert_eq!(accepted.org.tenant_id, DEMO_TENANT_ID);
    assert_eq!(accepted.org.organization_name, "コントソ株式会社");
    let admin_org = org::org_settings(&admin.store.conn()).unwrap().unwrap();
    assert_eq!(
        (&accepted.org.tenant, &accepted.org.client_id, &accepted.org.authority, accepted.org.redirect_mode),
        (&admin_org.tenant, &admin_org.client_id, &admin_org.authority, admin_org.redirect_mode)
    );
    let ov = exo_setup_core::overview::overview_with(&user.conn(), &Policy::default()).unwrap();
    assert_eq!(ov.account_count, 1, "only the invited mailbox, not the whole organization");
    assert_eq!(ov.steps[0].status, StepStatus::Done);
    let audit = exo_setup_core::store::list_audit(&user.conn(), 10).unwrap();
    assert!(audit.iter().any(|a| a.action == "invitation.accept" && a.target == TARO), "{audit:?}");

    // Opening it again is harmless: same mailbox, noted as already registered.
    let again = invite::preview(&user.conn(), &Policy::default(), &inv, "id-2".into()).unwrap();
    assert!(again.already_registered && again.replaces.is_none());
    invite::accept(&user, &Policy::default(), &inv, false).await.unwrap();
    assert_eq!(exo_setup_core::accounts::count(&user.conn()).unwrap(), 1);

    // Step 4 on the user's machine, against the emulator.
    let keychain = Arc::new(MemoryKeychain::new());
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let auth = Auth::new(user.clone(), tokens);
    let (_, url) = auth.begin_sign_in(TARO, &exo_setup_core::identity::deep_link_redirect_uri()).await.unwrap();
    let finished = auth.complete(&browse(url.as_str()).await).await;
    match &finished.result {
        FlowResult::SignedIn { sign_in } => assert_eq!(sign_in.address, TARO),
        other => panic!("sign-in failed: {other:?}"),
    }
    let key = AccountKey::new(DEMO_TENANT_ID, TARO);
    assert!(keychain.get_refresh_token(&key).unwrap().is_some(), "refresh token stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_travel_with_the_invitation_when_they_differ() {
    let emu = emulator().await;
    let admin = admin(&emu).await;
    let ep = |h: &str, p, s| Endpoint { host: h.into(), port: p, security: s };
    org::set_server_endpoints(
        &admin.store,
        1,
        &ep("partner.outlook.cn", 993, Security::Tls),
        &ep("partner.outlook.cn", 995, Security::Tls),
        &ep("smtp.partner.outlook.cn", 587, Security::Starttls),
    )
    .unwrap();
    let inv = invite::parse(&link_for(&admin, TARO)).unwrap();
    assert_eq!(inv.endpoints.as_ref().unwrap().smtp.host, "smtp.partner.outlook.cn");
    let user_dir = tempfile::tempdir().unwrap();
    let user = Store::open_in(user_dir.path()).unwrap();
    // The emulator is no Microsoft cloud: its token goes to the invitation's hosts only when IT
    // lists them (what IT does for its own servers).
    let e = invite::accept(&user, &Policy::default(), &inv, false).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InviteMailHostNotAllowed);
    let it = policy_json(r#"{"version": 1, "allowedMailHosts": ["partner.outlook.cn", "smtp.partner.outlook.cn"]}"#);
    invite::accept(&user, &it, &inv, false).await.unwrap();
    let s = org::server(&user.conn(), 1).unwrap();
    assert_eq!((s.imap.host.as_str(), s.smtp.host.as_str()), ("partner.outlook.cn", "smtp.partner.outlook.cn"));
}

/// Runs `refuse` against a user store that may already be configured, and checks the error
/// kind and that nothing changed.
async fn refused(user: &Store, kind: ErrorKind, refuse: impl std::future::Future<Output = Result<(), UiError>>) {
    let before = dump(user);
    let e = refuse.await.expect_err(kind.as_str());
    assert_eq!(e.kind, kind, "{e:?}");
    assert!(!e.message.is_empty());
    assert_eq!(dump(user), before, "{kind} changed the store");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_invitations_change_nothing() {
    let emu = emulator().await;
    let admin = admin(&emu).await;
    let link = link_for(&admin, TARO);
    let inv = invite::parse(&link).unwrap();
    let user_dir = tempfile::tempdir().unwrap();
    let user = Store::open_in(user_dir.path()).unwrap();

    // Malformed, oversized, unknown version, tampered: refused when read.
    let p_at = link.find("&p=").unwrap() + 3;
    let mut flipped = link.clone().into_bytes();
    flipped[p_at + 40] = if flipped[p_at + 40] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let c = &link[link.find("&c=").unwrap()..];
    let mut evil = inv.clone();
    evil.client_id = DEMO_MULTI_CLIENT_ID.into();
    let swapped = format!("{}{c}", &invite::link(&evil)[..invite::link(&evil).find("&c=").unwrap()]);
    for (text, kind) in [
        (swapped, ErrorKind::InviteTampered),
        (link[..link.len() / 2].to_owned(), ErrorKind::InviteMalformed),
        ("https://contoso.example/invite".to_owned(), ErrorKind::InviteMalformed),
        (format!("{link}{}", "x".repeat(5000)), ErrorKind::InviteTooLarge),
        (link.replace(&format!("v={INVITATION_VERSION}"), "v=9"), ErrorKind::InviteVersionUnsupported),
        (flipped, ErrorKind::InviteTampered),
    ] {
        refused(&user, kind, async { invite::parse(&text).map(|_| ()) }).await;
    }

    // The policy forbids invitations.
    let none = policy_json(r#"{"version": 1, "invitations": "none"}"#);
    refused(&user, ErrorKind::InviteRefusedByPolicy, async {
        invite::preview(&user.conn(), &none, &inv, "x".into()).map(|_| ())
    })
    .await;
    refused(&user, ErrorKind::InviteRefusedByPolicy, async {
        invite::accept(&user, &none, &inv, true).await.map(|_| ())
    })
    .await;

    // The policy pins another tenant.
    let pinned = policy_json(&format!(r#"{{"version": 1, "tenant": "{DEMO_OPEN_TENANT_ID}"}}"#));
    refused(&user, ErrorKind::InviteOtherTenant, async {
        invite::accept(&user, &pinned, &inv, true).await.map(|_| ())
    })
    .await;

    // The policy allows only Microsoft's global cloud; the emulator is not it.
    let only_global = policy_json(r#"{"version": 1, "allowedAuthorities": ["https://login.microsoftonline.com"]}"#);
    refused(&user, ErrorKind::InviteAuthorityNotAllowed, async {
        invite::preview(&user.conn(), &only_global, &inv, "x".into()).map(|_| ())
    })
    .await;

    // An invitation whose tenant ID is not what Microsoft says (checksum recomputed by hand:
    // the checksum detects accidents, the discovery check catches this).
    let mut forged = inv.clone();
    forged.tenant_id = DEMO_OPEN_TENANT_ID.into();
    let forged = invite::parse(&invite::link(&forged)).unwrap();
    refused(&user, ErrorKind::IssuerMismatch, async {
        invite::accept(&user, &Policy::default(), &forged, false).await.map(|_| ())
    })
    .await;

    // This computer is set up for fabrikam: another organization is never replaced silently,
    // and "same_tenant" refuses it outright.
    org::save_exchange_online_with(
        &user,
        &settings(&emu, "fabrikam.onmicrosoft.com", DEMO_MULTI_CLIENT_ID),
        &Policy::default(),
    )
    .await
    .unwrap();
    let p = invite::preview(&user.conn(), &Policy::default(), &inv, "x".into()).unwrap();
    assert_eq!(p.replaces.as_ref().map(|o| o.tenant_id.as_str()), Some(DEMO_OPEN_TENANT_ID));
    refused(&user, ErrorKind::InviteReplacesOrg, async {
        invite::accept(&user, &Policy::default(), &inv, false).await.map(|_| ())
    })
    .await;
    let same = policy_json(r#"{"version": 1, "invitations": "same_tenant"}"#);
    refused(&user, ErrorKind::InviteOtherTenant, async { invite::accept(&user, &same, &inv, true).await.map(|_| ()) })
        .await;
    // Confirmed explicitly, it replaces.
    let accepted = invite::accept(&user, &Policy::default(), &inv, true).await.unwrap();
    assert_eq!(accepted.org.tenant_id, DEMO_TENANT_ID);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_wins_over_the_invitation_and_over_step_1() {
    let emu = emulator().await;
    let admin = admin(&emu).await;
    let inv = invite::parse(&link_for(&admin, TARO)).unwrap();
    let user_dir = tempfile::tempdir().unwrap();
    let user = Arc::new(Store::open_in(user_dir.path()).unwrap());

    // IT pins the organization name and loopback; the invitation said otherwise.
    let pol = policy_json(&format!(
        r#"{{"version": 1, "tenant": "{DEMO_TENANT_ID}", "organizationName": "Contoso (IT)", "redirectMode": "loopback",
            "invitations": "same_tenant"}}"#
    ));
    let p = invite::preview(&user.conn(), &pol, &inv, "x".into()).unwrap();
    let fields: Vec<&str> = p.overrides.iter().map(|o| o.field.as_str()).collect();
    assert_eq!(fields, ["organizationName", "redirectMode"]);
    assert_eq!(p.redirect_mode, RedirectMode::Loopback);
    let accepted = invite::accept(&user, &pol, &inv, false).await.unwrap();
    assert_eq!(accepted.org.organization_name, "Contoso (IT)");
    assert_eq!(accepted.org.redirect_mode, RedirectMode::Loopback);

    // Step 1 cannot move away from a locked value…
    let mut fabrikam = settings(&emu, "fabrikam.onmicrosoft.com", DEMO_MULTI_CLIENT_ID);
    fabrikam.organization_name = "Contoso (IT)".into();
    fabrikam.redirect_mode = RedirectMode::Loopback;
    let e = org::save_exchange_online_with(&user, &fabrikam, &pol).await.unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Field].as_str()), (ErrorKind::PolicyLockedField, "tenant"));
    assert_eq!(org::org_settings(&user.conn()).unwrap().unwrap().tenant_id, DEMO_TENANT_ID);

    // …and settings saved before IT deployed a policy that contradicts them block sign-in.
    let later = policy_json(&format!(r#"{{"version": 1, "clientId": "{DEMO_MULTI_CLIENT_ID}"}}"#));
    let ov = exo_setup_core::overview::overview_with(&user.conn(), &later).unwrap();
    assert_eq!(ov.policy_conflicts, ["clientId"]);
    assert_eq!(ov.steps[0].status, StepStatus::Todo);
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let mut auth = Auth::new(user.clone(), tokens);
    auth.set_policy(later);
    let e = auth.begin_sign_in(TARO, "http://localhost:1/").await.unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Fields].as_str()), (ErrorKind::PolicyConflict, "clientId"));
    assert_eq!(auth.redirect_mode().await.unwrap(), RedirectMode::Loopback);
}

#[test]
fn a_hand_made_invitation_with_a_wrong_field_is_refused() {
    let inv = Invitation {
        organization_name: String::new(),
        authority: "https://login.microsoftonline.com".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        tenant_id: "not-a-guid".into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "taro".into(),
        display_name: "Taro".into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: None,
        receipts: None,
    };
    let e = invite::parse(&invite::link(&inv)).unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Field].as_str()), (ErrorKind::InviteMalformed, "tenantId"));
}

#[test]
fn an_invitation_with_invisible_characters_in_a_name_is_refused_naming_them() {
    let good = Invitation {
        organization_name: "Contoso".into(),
        authority: "https://login.microsoftonline.com".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "taro".into(),
        display_name: "Taro".into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: None,
        receipts: None,
    };
    invite::parse(&invite::link(&good)).unwrap();
    type Case = (&'static str, fn(&mut Invitation), &'static str);
    let cases: [Case; 3] = [
        ("organizationName", |i| i.organization_name = "Micro\u{202e}tfos".into(), "U+202E"),
        ("displayName", |i| i.display_name = "Ta\u{200b}ro".into(), "U+200B"),
        ("loginName", |i| i.login_name = "taro\x1b]0;x\x07".into(), "U+001B"),
    ];
    for (field, edit, character) in cases {
        let mut inv = good.clone();
        edit(&mut inv);
        let e = invite::parse(&invite::link(&inv)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TextUnsafeCharacter, "{field}: {e:?}");
        assert_eq!(
            (e.detail[&DetailKey::Field].as_str(), e.detail[&DetailKey::Character].as_str()),
            (field, character)
        );
    }
}
