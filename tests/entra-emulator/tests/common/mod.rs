//! Helpers shared by the emulator's own tests: a started emulator, an HTTP client that does not follow redirects,
//! one-call sign-ins and token redemptions, and JWT payload decoding.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use serde_json::Value;
use std::collections::HashMap;

pub const T: &str = DEMO_TENANT_ID;
pub const C: &str = DEMO_CLIENT_ID;
pub const REDIRECT: &str = "http://127.0.0.1:53682";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
pub const SMTP: &str = "https://outlook.office.com/SMTP.Send";
pub const POP: &str = "https://outlook.office.com/POP.AccessAsUser.All";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Demo directory, auto-approve on, with the exo-setup app admin-consented for IMAP+SMTP+POP.
pub async fn consented() -> Emulator {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(T, C, &[IMAP, SMTP, POP]);
    emu
}

/// Query (or fragment) parameters of a Location header.
pub fn location_params(resp: &reqwest::Response) -> HashMap<String, String> {
    let loc = resp.headers().get("location").expect("a Location header").to_str().unwrap();
    let url = url::Url::parse(loc).unwrap();
    let q = url.query().or(url.fragment()).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub fn authorize_url(emu: &Emulator, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", C),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid profile email"),
        ("state", "st-123"),
        ("nonce", "nonce-456"),
        ("login_hint", "taro@contoso.example"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("{}/{T}/oauth2/v2.0/authorize?{q}", emu.base_url())
}

/// GET /authorize and return the redirect parameters (panics when there is no redirect).
pub async fn authorize(emu: &Emulator, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let resp = client().get(authorize_url(emu, extra)).send().await.unwrap();
    assert_eq!(resp.status(), 302, "authorize did not redirect: {}", resp.text().await.unwrap());
    location_params(&resp)
}

pub async fn code(emu: &Emulator, extra: &[(&str, &str)]) -> String {
    let p = authorize(emu, extra).await;
    p.get("code").unwrap_or_else(|| panic!("no code: {p:?}")).clone()
}

pub fn token_url(emu: &Emulator) -> String {
    format!("{}/{T}/oauth2/v2.0/token", emu.base_url())
}

pub async fn post_token(emu: &Emulator, form: &[(&str, &str)]) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = client().post(token_url(emu)).form(form).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    (status, body, headers)
}

pub async fn redeem(emu: &Emulator, code: &str) -> (u16, Value) {
    let (s, b, _) = post_token(
        emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
        ],
    )
    .await;
    (s, b)
}

pub async fn refresh(emu: &Emulator, rt: &str) -> (u16, Value) {
    let (s, b, _) = post_token(
        emu,
        &[
            ("client_id", C),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
        ],
    )
    .await;
    (s, b)
}

/// Signs in taro with auto-approve and redeems the code: the token response.
pub async fn sign_in(emu: &Emulator) -> Value {
    let code = code(emu, &[]).await;
    let (s, b) = redeem(emu, &code).await;
    assert_eq!(s, 200, "{b}");
    b
}

pub fn jwt_part(jwt: &str, i: usize) -> Value {
    let part = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn claims(jwt: &str) -> Value {
    jwt_part(jwt, 1)
}

/// Asserts Microsoft's error JSON shape and returns the AADSTS code.
pub fn assert_ms_error(body: &Value, error: &str, code: u32) {
    let obj = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(
        desc.contains("\r\nTrace ID: ") && desc.contains("\r\nCorrelation ID: ") && desc.contains("\r\nTimestamp: "),
        "{desc}"
    );
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(obj.get(k).is_some_and(|v| v.is_string()), "missing {k}: {body}");
    }
    assert!(body["error_uri"].as_str().unwrap().ends_with(&format!("/error?code={code}")));
    let allowed = [
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
        "suberror",
        "claims",
    ];
    for k in obj.keys() {
        assert!(allowed.contains(&k.as_str()), "unexpected key {k}");
    }
}
