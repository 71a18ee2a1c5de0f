//! Admin consent: success redirect shape, non-admin refusal, never on /common, the recorded tenant-wide grant,
//! and the interactive pages.

mod common;
use common::*;
use entra_emulator::{Config, Emulator};

fn url(emu: &Emulator, tenant: &str, hint: Option<&str>) -> String {
    let mut p = vec![
        ("client_id", C),
        ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"),
        ("redirect_uri", "http://localhost:8400"),
        ("state", "ac-1"),
    ];
    if let Some(h) = hint {
        p.push(("login_hint", h));
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(p).finish();
    format!("{}/{tenant}/v2.0/adminconsent?{q}", emu.base_url())
}

#[tokio::test]
async fn auto_approved_admin_consent_then_users_sign_in() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let r = client().get(url(&emu, "contoso.example", None)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://localhost:8400?admin_consent=True&tenant="), "{loc}");
    let p = location_params(&r);
    assert_eq!(p["tenant"], T);
    assert_eq!(p["state"], "ac-1");
    assert_eq!(p["scope"], format!("{IMAP} {SMTP}"));
    let g = emu.admin_consents();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].granted_by, "admin@contoso.example");
    // hanako (non-admin) can now sign in.
    assert!(authorize(&emu, &[("login_hint", "hanako@contoso.example")]).await.contains_key("code"));
}

#[tokio::test]
async fn non_admin_and_wrong_places() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let r = client().get(url(&emu, T, Some("hanako@contoso.example"))).send().await.unwrap();
    let p = location_params(&r);
    assert_eq!(p["error"], "access_denied");
    assert!(p["error_description"].starts_with("AADSTS90093: "));
    assert_eq!(p["state"], "ac-1");
    assert!(!p.contains_key("admin_consent"));
    assert!(emu.admin_consents().is_empty());
    // Never on /common: an error page, no redirect.
    let r = client().get(url(&emu, "common", None)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Unregistered redirect: 50011 page.
    let r = client().get(url(&emu, T, None).replace("localhost%3A8400", "evil.example")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("50011"));
}

#[tokio::test]
async fn interactive_admin_consent() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let body = client().get(url(&emu, T, None)).send().await.unwrap().text().await.unwrap();
    let i = body.find("name=\"flow\" value=\"").unwrap() + 19;
    let flow = &body[i..i + 36];
    let r = client()
        .post(format!("{}/{T}/login", emu.base_url()))
        .form(&[("flow", flow), ("login", "admin@contoso.example"), ("action", "signin")])
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("Accept for your organization"), "{body}");
    let r = client()
        .post(format!("{}/{T}/consent", emu.base_url()))
        .form(&[("flow", flow), ("action", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(location_params(&r)["admin_consent"], "True");
}
