//! Authorize: Microsoft's error page for 50011/700016, loopback port rule, error redirects, consent policies
//! ("Need admin approval"), the interactive pages clicked through as a scripted client, prompt handling, XSS safety.

mod common;
use common::*;
use entra_emulator::{AutoConsent, Config, Emulator, DEMO_MULTI_CLIENT_ID, DEMO_OPEN_TENANT_ID};

async fn page(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn redirect_mismatch_and_unknown_app_show_microsofts_page() {
    let emu = consented().await;
    for (extra, code) in [
        (vec![("redirect_uri", "http://127.0.0.1:53682/other")], "50011"),
        (vec![("redirect_uri", "DEV.exosetup.wizard://oauth2/callback")], "50011"),
        (vec![("redirect_uri", "https://127.0.0.1:53682")], "50011"),
        (vec![("redirect_uri", "http://[::1]:53682")], "50011"),
        (vec![("client_id", "99999999-9999-9999-9999-999999999999")], "700016"),
    ] {
        let (s, body) = page(&authorize_url(&emu, &extra)).await;
        assert_eq!(s, 400, "{extra:?}");
        assert!(body.contains(&format!("<span id=\"error-code\">{code}</span>")), "{extra:?}: {body}");
    }
    // A single-tenant app from another tenant is "not found in the directory".
    let url = authorize_url(&emu, &[]).replace(T, DEMO_OPEN_TENANT_ID);
    assert!(page(&url).await.1.contains("700016"));
}

#[tokio::test]
async fn registered_redirects_and_loopback_port() {
    let emu = consented().await;
    for uri in [
        "http://127.0.0.1:1",
        "http://127.0.0.1:65000",
        "http://localhost:4242",
        "dev.exosetup.wizard://oauth2/callback",
    ] {
        let resp = client().get(authorize_url(&emu, &[("redirect_uri", uri)])).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{uri}");
        let loc = resp.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(uri), "{loc}");
        let p = location_params(&resp);
        assert_eq!(p["state"], "st-123");
        assert!(uuid::Uuid::parse_str(&p["session_state"]).is_ok());
        assert!(p["code"].len() > 500);
        assert_eq!(p.keys().count(), 3, "{p:?}");
    }
}

#[tokio::test]
async fn error_redirects() {
    let emu = consented().await;
    let p = authorize(&emu, &[("response_type", "token")]).await;
    assert_eq!(p["error"], "unsupported_response_type");
    let p = authorize(&emu, &[("scope", "")]).await;
    assert_eq!(p["error"], "invalid_request");
    assert!(p["error_description"].starts_with("AADSTS900144: "));
    let p = authorize(&emu, &[("scope", "https://outlook.office.com/Bogus.Scope")]).await;
    assert!(p["error_description"].starts_with("AADSTS650053: "), "{p:?}");
    let p = authorize(&emu, &[("code_challenge_method", "S512")]).await;
    assert_eq!(p["error"], "invalid_request");
    // error_uri and state come back; the description carries the trace lines.
    assert!(p["error_uri"].contains("/error?code="));
    assert_eq!(p["state"], "st-123");
    assert!(p["error_description"].contains("\r\nTrace ID: "));
    // Single-tenant app on /common.
    let url = authorize_url(&emu, &[]).replace(T, "common");
    let r = client().get(url).send().await.unwrap();
    let p = location_params(&r);
    assert!(p["error_description"].starts_with("AADSTS50194: "), "{p:?}");
}

#[tokio::test]
async fn admin_only_tenant_needs_admin_approval() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let p = authorize(&emu, &[]).await;
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["error_subcode"], "cancel");
    assert_eq!(p["state"], "st-123");
    // Interactive: the "Need admin approval" page; its return link is the same redirect.
    emu.set_auto_approve(false);
    let (s, body) = page(&authorize_url(&emu, &[])).await;
    assert_eq!(s, 200);
    assert!(body.contains("Sign in"));
    let flow = attr(&body, "name=\"flow\" value=\"");
    let r = client()
        .post(format!("{}/{T}/login", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("login", "hanako@contoso.example"), ("action", "signin")])
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("Need admin approval"), "{body}");
    let href = attr(&body, "id=\"idBtn_Back\" href=\"").replace("&amp;", "&");
    assert!(
        href.starts_with(REDIRECT) && href.contains("error=access_denied") && href.contains("error_subcode=cancel"),
        "{href}"
    );
}

fn attr(body: &str, prefix: &str) -> String {
    let i = body.find(prefix).unwrap_or_else(|| panic!("{prefix} not in {body}")) + prefix.len();
    body[i..body[i..].find('"').unwrap() + i].to_string()
}

#[tokio::test]
async fn admin_consents_for_the_organization_by_clicking_through() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let http = client();
    let (_, body) = page(&authorize_url(&emu, &[("login_hint", "admin@contoso.example")])).await;
    assert!(body.contains("id=\"i0116\"") && body.contains("value=\"admin@contoso.example\""));
    let flow = attr(&body, "name=\"flow\" value=\"");
    let r = http
        .post(format!("{}/{T}/login", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("login", "admin@contoso.example"), ("action", "signin")])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(body.contains("idChkBx_consentOnBehalf"), "{body}");
    let r = http
        .post(format!("{}/{T}/consent", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("action", "accept"), ("on_behalf", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(location_params(&r).contains_key("code"));
    assert_eq!(emu.admin_consents().len(), 1);
    // Now hanako gets a code without any page, and prompt=none works with the admin's session cookie.
    emu.set_auto_approve(true);
    assert!(authorize(&emu, &[("login_hint", "hanako@contoso.example")]).await.contains_key("code"));
    emu.set_auto_approve(false);
    let r = http
        .get(authorize_url(&emu, &[("prompt", "none"), ("login_hint", "")]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(location_params(&r).contains_key("code"));
    // Without a session prompt=none is login_required.
    let p = authorize(&emu, &[("prompt", "none")]).await;
    assert_eq!(p["error"], "login_required");
    // Cancel on the sign-in page.
    let (_, body) = page(&authorize_url(&emu, &[])).await;
    let flow = attr(&body, "name=\"flow\" value=\"");
    let r = http
        .post(format!("{}/{T}/login", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    let p = location_params(&r);
    assert_eq!((p["error"].as_str(), p["error_subcode"].as_str()), ("access_denied", "cancel"));
}

#[tokio::test]
async fn allowed_tenant_users_consent_for_themselves() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    let url = authorize_url(&emu, &[("client_id", DEMO_MULTI_CLIENT_ID), ("login_hint", "yuki@fabrikam.example")])
        .replace(T, DEMO_OPEN_TENANT_ID);
    let r = client().get(&url).send().await.unwrap();
    assert!(location_params(&r).contains_key("code"));
    let g = emu.grants();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].upn.as_deref(), Some("yuki@fabrikam.example"));
    // Declining gives 65004 access_denied.
    emu.set_auto_consent(AutoConsent::Decline);
    let url = url.replace("yuki%40", "admin%40");
    let p = location_params(&client().get(&url).send().await.unwrap());
    assert_eq!(p["error"], "access_denied");
    assert!(p["error_description"].starts_with("AADSTS65004: "));
    // A multi-tenant app on /organizations works; a user of another tenant on a tenant authority is 50020.
    emu.set_auto_consent(AutoConsent::Accept);
    let r = client()
        .get(url.replace(DEMO_OPEN_TENANT_ID, "organizations").replace("admin%40", "yuki%40"))
        .send()
        .await
        .unwrap();
    assert!(location_params(&r).contains_key("code"));
    let r = client().get(url.replace("admin%40fabrikam", "taro%40contoso")).send().await.unwrap();
    assert!(location_params(&r)["error_description"].starts_with("AADSTS50020: "));
}

#[tokio::test]
async fn blocked_user_and_pages_are_xss_safe() {
    let emu = consented().await;
    let p = authorize(&emu, &[("login_hint", "saburo@contoso.example")]).await;
    assert!(p["error_description"].starts_with("AADSTS53003: "));
    emu.set_auto_approve(false);
    let (_, body) = page(&authorize_url(&emu, &[("login_hint", "\"><script>alert(1)</script>")])).await;
    assert!(!body.contains("<script>") && body.contains("&lt;script&gt;"));
    let (_, body) = page(&authorize_url(&emu, &[("redirect_uri", "http://x/<img src=x onerror=alert(1)>")])).await;
    assert!(!body.contains("<img"));
}

#[tokio::test]
async fn form_post_and_fragment_modes() {
    let emu = consented().await;
    let r = client().get(authorize_url(&emu, &[("response_mode", "form_post")])).send().await.unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("name=\"code\"") && body.contains("action=\"http://127.0.0.1:53682\""));
    let r = client().get(authorize_url(&emu, &[("response_mode", "fragment")])).send().await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("#code="));
}

#[tokio::test]
async fn logout_clears_the_session() {
    let emu = consented().await;
    let r = client()
        .get(format!(
            "{}/{T}/oauth2/v2.0/logout?post_logout_redirect_uri=http://localhost:9000&state=bye",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://localhost:9000?state=bye");
}
