//! A token goes only to its audience's hosts. An invitation that names a genuine Microsoft
//! authority but foreign mail hosts is refused before anything is stored; and when foreign hosts
//! are in the store anyway (accepted while IT allowed them, since removed from the policy), the
//! connection check reports `mail_host_not_allowed` and the host — a TCP listener recording what
//! it receives — gets no connection at all, so no token.
//!
//! Real parts: SQLite files, the entra emulator (sign-in, token), a real TCP listener.

use exo_setup_core::DetailKey;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::audience::EndpointsOrigin;
use exo_setup_core::auth::Auth;
use exo_setup_core::invite::{self, Invitation};
use exo_setup_core::keychain::{MemoryKeychain, TokenStore};
use exo_setup_core::mailcheck::{check_account, CheckOptions, Timeouts};
use exo_setup_core::model::{Endpoint, ReceiveProtocol, RedirectMode, Security, ServerEndpoints};
use exo_setup_core::policy::{self, Policy};
use exo_setup_core::{org, ErrorKind, Store};
use tokio::io::AsyncReadExt;

mod common;

const TARO: &str = "taro@contoso.example";
const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";

fn policy_json(json: &str) -> Policy {
    policy::parse(json, Path::new("/etc/exo-setup/policy.json")).unwrap()
}

fn ep(host: &str, port: u16, security: Security) -> Endpoint {
    Endpoint { host: host.into(), port, security }
}

fn foreign_endpoints() -> ServerEndpoints {
    ServerEndpoints {
        imap: ep("imap.mail-sync.example", 993, Security::Tls),
        pop3: ep("imap.mail-sync.example", 995, Security::Tls),
        smtp: ep("smtp.mail-sync.example", 587, Security::Starttls),
    }
}

/// A hand-made invitation (what an attacker can write: the checksum only detects accidents).
fn invitation(authority: &str, endpoints: Option<ServerEndpoints>) -> Invitation {
    let inv = Invitation {
        organization_name: "Contoso".into(),
        authority: authority.into(),
        tenant: "contoso.onmicrosoft.com".into(),
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "taro".into(),
        display_name: "Taro".into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints,
        receipts: None,
    };
    invite::parse(&invite::link(&inv)).expect("a well-formed invitation")
}

/// Every row of every table, as text.
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

#[tokio::test(flavor = "multi_thread")]
async fn a_genuine_authority_with_foreign_mail_hosts_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let user = Store::open_in(dir.path()).unwrap();
    let before = dump(&user);
    let inv = invitation("https://login.microsoftonline.com", Some(foreign_endpoints()));

    let e = invite::preview(&user.conn(), &Policy::default(), &inv, "x".into()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InviteMailHostNotAllowed, "{e:?}");
    assert_eq!(e.detail[&DetailKey::Hosts], "imap.mail-sync.example, smtp.mail-sync.example");
    assert_eq!(e.detail[&DetailKey::Cloud], "Microsoft's worldwide cloud");
    assert!(e.message.contains("imap.mail-sync.example") && e.message.contains("allowedMailHosts"), "{}", e.message);
    let e = invite::accept(&user, &Policy::default(), &inv, true).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InviteMailHostNotAllowed, "{e:?}");
    assert_eq!(dump(&user), before, "a refused invitation stored something");

    // Another cloud's hosts are foreign too; one foreign host among genuine ones is enough.
    let mut mixed = foreign_endpoints();
    mixed.imap.host = "outlook.office365.com".into();
    mixed.pop3.host = "partner.outlook.cn".into();
    let e = invite::preview(
        &user.conn(),
        &Policy::default(),
        &invitation("https://login.microsoftonline.com", Some(mixed)),
        "x".into(),
    )
    .unwrap_err();
    assert_eq!(e.detail[&DetailKey::Hosts], "partner.outlook.cn, smtp.mail-sync.example");

    // The cloud's own hosts pass, and the preview names every host the token would go to.
    let china = ServerEndpoints {
        imap: ep("partner.outlook.cn", 993, Security::Tls),
        pop3: ep("partner.outlook.cn", 995, Security::Tls),
        smtp: ep("partner.outlook.cn", 587, Security::Starttls),
    };
    let p = invite::preview(
        &user.conn(),
        &Policy::default(),
        &invitation("https://login.partner.microsoftonline.cn", Some(china)),
        "x".into(),
    )
    .unwrap();
    assert_eq!(p.mail_hosts, ["partner.outlook.cn"]);
    let p = invite::preview(
        &user.conn(),
        &Policy::default(),
        &invitation("https://login.microsoftonline.com", None),
        "x".into(),
    )
    .unwrap();
    assert_eq!(p.mail_hosts, ["outlook.office365.com", "smtp.office365.com"]);

    // IT lists the hosts: the preview shows them.
    let it = policy_json(r#"{"version": 1, "allowedMailHosts": ["IMAP.mail-sync.example", "smtp.mail-sync.example"]}"#);
    let p = invite::preview(&user.conn(), &it, &inv, "x".into()).unwrap();
    assert_eq!(p.mail_hosts, ["imap.mail-sync.example", "smtp.mail-sync.example"]);
    assert_eq!(dump(&user), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_the_policy_allows_are_accepted_and_stored_as_from_an_invitation() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let user = Store::open_in(dir.path()).unwrap();
    let inv = invitation(&emu.base_url(), Some(foreign_endpoints()));
    let before = dump(&user);
    let e = invite::accept(&user, &Policy::default(), &inv, false).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InviteMailHostNotAllowed);
    assert_eq!(e.detail[&DetailKey::Cloud], "not a known Microsoft cloud", "{e:?}");
    assert_eq!(dump(&user), before);

    let it = policy_json(r#"{"version": 1, "allowedMailHosts": ["imap.mail-sync.example", "smtp.mail-sync.example"]}"#);
    invite::accept(&user, &it, &inv, false).await.unwrap();
    let s = org::server(&user.conn(), org::EXCHANGE_ONLINE_ID).unwrap();
    assert_eq!((s.imap.host.as_str(), s.smtp.host.as_str()), ("imap.mail-sync.example", "smtp.mail-sync.example"));
    assert_eq!(org::endpoints_origin(&user.conn(), s.id).unwrap(), EndpointsOrigin::Invitation);
}

/// Taro signed in through the emulator (auto-approved, deep-link redirect), tokens in memory.
async fn signed_in_as_taro(store: &Arc<Store>) -> (Auth, Arc<dyn TokenStore>) {
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let auth = Auth::new(store.clone(), tokens.clone());
    common::sign_in(&auth, TARO).await;
    (auth, tokens)
}

/// A mail server that records every connection and every byte, and answers nothing.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

async fn listener() -> Listener {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (c, r) = (connections.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    r.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    Listener { port, connections, received }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_check_sends_no_token_to_a_host_that_is_not_allowed() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, SMTP]);
    let fake = listener().await;
    let at_fake = ServerEndpoints {
        imap: ep("127.0.0.1", fake.port, Security::Plain),
        pop3: ep("127.0.0.1", fake.port, Security::Plain),
        smtp: ep("127.0.0.1", fake.port, Security::Plain),
    };
    let inv = invitation(&emu.base_url(), Some(at_fake));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    // Accepted while IT allowed 127.0.0.1…
    let allowing = policy_json(r#"{"version": 1, "allowedMailHosts": ["127.0.0.1"]}"#);
    invite::accept(&store, &allowing, &inv, false).await.unwrap();
    let (_, tokens) = signed_in_as_taro(&store).await;

    // …and IT has since removed it from the policy: the check opens no connection.
    let opts = CheckOptions { timeouts: Timeouts::all(Duration::from_secs(2)), extra_root_pem: None };
    let mut now = Auth::new(store.clone(), tokens.clone());
    now.set_policy(Policy::default());
    let report = check_account(&now, TARO, &opts).await.unwrap();
    assert!(!report.verified);
    assert_eq!(report.checks.len(), 2);
    for c in &report.checks {
        let e = c.error.as_ref().expect("refused");
        assert_eq!((e.kind, e.actor), (ErrorKind::MailHostNotAllowed, exo_setup_core::Actor::Admin), "{c:?}");
        assert_eq!(e.detail[&DetailKey::Host], "127.0.0.1");
        assert_eq!(e.detail[&DetailKey::Authority], emu.base_url());
        assert!(e.message.contains("allowedMailHosts"), "{}", e.message);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.connections.load(Ordering::SeqCst), 0, "the refused host was connected to");
    assert!(fake.received.lock().unwrap().is_empty());
    let status = exo_setup_core::accounts::find_by_address(&store.conn(), TARO).unwrap().unwrap();
    assert!(format!("{status:?}").contains("mail_host_not_allowed"), "{status:?}");

    // The same endpoints written behind the app's back in SQLite are no better.
    store
        .conn()
        .execute("UPDATE mail_servers SET endpoints_origin = 'invitation', smtp_host = 'localhost' WHERE id = 1", [])
        .unwrap();
    let report = check_account(&now, TARO, &opts).await.unwrap();
    assert!(report.checks.iter().all(|c| c.error.as_ref().unwrap().kind == ErrorKind::MailHostNotAllowed));
    assert_eq!(fake.connections.load(Ordering::SeqCst), 0);

    // Control: with the policy allowing it, the check does connect (so the listener would notice).
    let mut allowed = Auth::new(store.clone(), tokens);
    allowed.set_policy(policy_json(r#"{"version": 1, "allowedMailHosts": ["127.0.0.1", "localhost"]}"#));
    let report = check_account(&allowed, TARO, &opts).await.unwrap();
    assert!(
        report.checks.iter().all(|c| c.error.as_ref().unwrap().kind != ErrorKind::MailHostNotAllowed),
        "{report:?}"
    );
    assert!(fake.connections.load(Ordering::SeqCst) >= 1);
}

/// The built-in server's untouched defaults are the worldwide cloud's hosts: nobody chose them for an
/// organization in another Microsoft cloud, so its token is not sent there (and no connection is tried).
#[tokio::test(flavor = "multi_thread")]
async fn the_worldwide_defaults_receive_no_token_of_another_cloud() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, SMTP]);
    let inv = invitation(&emu.base_url(), None);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    invite::accept(&store, &Policy::default(), &inv, false).await.unwrap();
    let (auth, _) = signed_in_as_taro(&store).await;
    assert_eq!(
        org::endpoints_origin(&store.conn(), org::EXCHANGE_ONLINE_ID).unwrap(),
        EndpointsOrigin::BuiltInDefaults
    );

    // The organization is in the China cloud (as if step 1 had named its authority), the servers untouched.
    store.conn().execute("UPDATE org_settings SET authority = 'https://login.partner.microsoftonline.cn'", []).unwrap();
    let opts = CheckOptions { timeouts: Timeouts::all(Duration::from_secs(2)), extra_root_pem: None };
    let report = check_account(&auth, TARO, &opts).await.unwrap();
    assert!(!report.verified);
    for c in &report.checks {
        let e = c.error.as_ref().expect("refused");
        assert_eq!((e.kind, e.actor), (ErrorKind::MailHostOtherCloud, exo_setup_core::Actor::Admin), "{c:?}");
        assert_eq!(c.duration_ms, 0, "no connection was tried: {c:?}");
        assert!(e.message.contains("server endpoints"), "{}", e.message);
    }

    // The worldwide defaults are judged as the defaults even when set again here; another host set here is the
    // administrator's choice.
    let d = org::exchange_online_endpoints();
    org::set_server_endpoints(&store, org::EXCHANGE_ONLINE_ID, &d.imap, &d.pop3, &d.smtp).unwrap();
    assert_eq!(
        org::endpoints_origin(&store.conn(), org::EXCHANGE_ONLINE_ID).unwrap(),
        EndpointsOrigin::BuiltInDefaults
    );
    let mine = ep("127.0.0.1", 1, Security::Plain);
    org::set_server_endpoints(&store, org::EXCHANGE_ONLINE_ID, &mine, &mine, &mine).unwrap();
    assert_eq!(org::endpoints_origin(&store.conn(), org::EXCHANGE_ONLINE_ID).unwrap(), EndpointsOrigin::Local);
}

#[test]
fn endpoints_set_on_this_computer_are_local_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    assert_eq!(
        org::endpoints_origin(&store.conn(), 1).unwrap(),
        EndpointsOrigin::BuiltInDefaults,
        "the built-in defaults"
    );
    store.conn().execute("UPDATE mail_servers SET endpoints_origin = 'invitation' WHERE id = 1", []).unwrap();
    let e = foreign_endpoints();
    org::set_server_endpoints(&store, 1, &e.imap, &e.pop3, &e.smtp).unwrap();
    assert_eq!(org::endpoints_origin(&store.conn(), 1).unwrap(), EndpointsOrigin::Local);
}
