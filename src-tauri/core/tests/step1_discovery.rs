//! Step 1 against the identity-platform emulator and against hosts that fail in each way the
//! admin can meet: the settings are saved and Exchange Online turned on only after a good
//! discovery document; every failure leaves the store exactly as it was, with a specific error.

mod common;

use common::{count, org_input as input};
use entra_emulator::{Config, Emulator, Endpoint, Fault, FaultKind, DEMO_TENANT_ID as TENANT_ID};
use exo_setup_core::DetailKey;
use exo_setup_core::{org, overview, Actor, ErrorKind, Store};
use tokio::io::AsyncWriteExt;

fn exchange_enabled(store: &Store) -> bool {
    count(store, "SELECT enabled FROM mail_servers WHERE id = 1") == 1
}

#[tokio::test]
async fn domain_and_guid_tenants_turn_exchange_online_on() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let t = common::store();
    let saved = org::save_exchange_online(&t.store, &input("Contoso.Example", &emu.base_url())).await.unwrap();
    assert_eq!(saved.tenant, "contoso.example");
    assert_eq!(saved.tenant_id, TENANT_ID);
    assert_eq!(saved.issuer, emu.issuer(TENANT_ID));
    assert!(exchange_enabled(&t.store));
    let o = overview::overview(&t.store.conn()).unwrap();
    assert_eq!(o.steps[0].status, exo_setup_core::model::StepStatus::Done);
    assert_eq!(count(&t.store, "SELECT count(*) FROM audit_log WHERE action = 'org.save'"), 1);
    let saved = org::save_exchange_online(&t.store, &input(TENANT_ID, &emu.base_url())).await.unwrap();
    assert_eq!(saved.tenant, TENANT_ID);
}

#[tokio::test]
async fn unknown_tenant_is_aadsts90002_and_changes_nothing() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let t = common::store();
    let e = org::save_exchange_online(&t.store, &input("nosuch.example", &emu.base_url())).await.unwrap_err();
    assert_eq!((e.kind, e.actor), (ErrorKind::TenantNotFound, Actor::Admin));
    assert_eq!(e.detail[&DetailKey::Code], "90002");
    assert!(e.detail.contains_key(&DetailKey::TraceId) && e.detail.contains_key(&DetailKey::CorrelationId), "{e:?}");
    assert!(!exchange_enabled(&t.store));
    assert_eq!(count(&t.store, "SELECT count(*) FROM org_settings"), 0);
    assert_eq!(count(&t.store, "SELECT count(*) FROM audit_log"), 0);
}

#[tokio::test]
async fn a_failed_change_keeps_the_previous_settings_on() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let t = common::store();
    org::save_exchange_online(&t.store, &input("contoso.example", &emu.base_url())).await.unwrap();
    org::save_exchange_online(&t.store, &input("other.example", &emu.base_url())).await.unwrap_err();
    let kept = org::org_settings(&t.store.conn()).unwrap().unwrap();
    assert_eq!(kept.tenant, "contoso.example");
    assert!(exchange_enabled(&t.store));
}

#[tokio::test]
async fn multi_tenant_values_are_refused_before_any_request() {
    let t = common::store();
    // An authority nobody listens on: had a request been made, the error would be another one.
    for tenant in ["common", "organizations", "consumers", "9188040d-6c67-4c5b-b112-36a304b66dad"] {
        let e = org::save_exchange_online(&t.store, &input(tenant, "http://127.0.0.1:9")).await.unwrap_err();
        assert!(e.kind == ErrorKind::TenantMultiTenant || e.kind == ErrorKind::TenantPersonal, "{tenant}: {e:?}");
    }
}

#[tokio::test]
async fn server_errors_and_broken_documents() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let t = common::store();
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::Http { status: 503 }));
    let e = org::save_exchange_online(&t.store, &input("contoso.example", &emu.base_url())).await.unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Status].as_str()), (ErrorKind::HttpStatus, "503"));
    emu.clear_faults();
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::MalformedJson));
    let e = org::save_exchange_online(&t.store, &input("contoso.example", &emu.base_url())).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotDiscovery);
    emu.clear_faults();
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::DropConnection));
    let e = org::save_exchange_online(&t.store, &input("contoso.example", &emu.base_url())).await.unwrap_err();
    assert!([ErrorKind::HostUnreachable, ErrorKind::NotDiscovery].contains(&e.kind), "{e:?}");
    assert!(!exchange_enabled(&t.store));
}

#[tokio::test]
async fn unreachable_host() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let t = common::store();
    let e = org::save_exchange_online(&t.store, &input("contoso.example", &format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Host].as_str()), (ErrorKind::HostUnreachable, "127.0.0.1"));
}

#[tokio::test]
async fn tls_failure() {
    // https to a server that does not speak TLS: the handshake fails.
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let authority = emu.base_url().replace("http://", "https://");
    let t = common::store();
    let e = org::save_exchange_online(&t.store, &input("contoso.example", &authority)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TlsFailure, "{e:?}");
}

#[tokio::test]
async fn a_web_page_is_not_a_discovery_document() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let body = "<html><body>Welcome to our intranet</body></html>";
            let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes()).await;
        }
    });
    let t = common::store();
    let e =
        org::save_exchange_online(&t.store, &input("contoso.example", &format!("http://{addr}"))).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotDiscovery);
}

#[tokio::test]
async fn re_enabling_re_checks_and_disabling_always_works() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let t = common::store();
    let e = org::set_server_enabled(&t.store, 1, true).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::OrgNotConfigured);
    org::save_exchange_online(&t.store, &input("contoso.example", &emu.base_url())).await.unwrap();
    org::set_server_enabled(&t.store, 1, false).await.unwrap();
    assert!(!exchange_enabled(&t.store));
    emu.inject_fault(Fault::aadsts(Endpoint::Discovery, 90002));
    assert_eq!(org::set_server_enabled(&t.store, 1, true).await.unwrap_err().kind, ErrorKind::TenantNotFound);
    assert!(!exchange_enabled(&t.store));
    emu.clear_faults();
    org::set_server_enabled(&t.store, 1, true).await.unwrap();
    assert!(exchange_enabled(&t.store));
    assert_eq!(org::delete_server(&t.store, 1).unwrap_err().kind, ErrorKind::ServerBuiltin);
}
