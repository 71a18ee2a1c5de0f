//! Fault injection through the library handle and the HTTP control API.

mod common;
use common::*;
use entra_emulator::{Endpoint, Fault, FaultKind};
use std::time::{Duration, Instant};

#[tokio::test]
async fn aadsts_fault_at_token_for_one_user_and_one_time() {
    let emu = consented().await;
    emu.inject_fault(Fault::aadsts(Endpoint::Token, 70043).for_user("t.yamada@contoso.example").times(1));
    let code = code(&emu, &[]).await;
    let (s, b) = redeem(&emu, &code).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 70043);
    // Used up; and hanako was never affected.
    let code = common::code(&emu, &[]).await;
    assert_eq!(redeem(&emu, &code).await.0, 200);
}

#[tokio::test]
async fn aadsts_fault_at_authorize_redirects() {
    let emu = consented().await;
    emu.inject_fault(Fault::aadsts(Endpoint::Authorize, 50076).times(1));
    let p = authorize(&emu, &[]).await;
    assert!(p["error_description"].starts_with("AADSTS50076: "));
    emu.inject_fault(Fault::aadsts(Endpoint::Authorize, 50011).times(1));
    let r = client().get(authorize_url(&emu, &[])).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn transport_faults() {
    let emu = consented().await;
    let disc = format!("{}/{T}/v2.0/.well-known/openid-configuration", emu.base_url());
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::Http { status: 503 }).times(1));
    let r = client().get(&disc).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::MalformedJson).times(1));
    let t = client().get(&disc).send().await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&t).is_err());
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::DropConnection).times(1));
    let r = client().get(&disc).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(failed, "the connection should have been dropped");
    emu.inject_fault(Fault::new(Endpoint::Discovery, FaultKind::Latency { ms: 300 }).times(1));
    let start = Instant::now();
    assert_eq!(client().get(&disc).send().await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(client().get(&disc).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn http_control_api() {
    let emu = consented().await;
    let b = emu.base_url();
    let http = client();
    let f = serde_json::json!({"endpoint": "token", "grant_type": "refresh_token", "kind": {"type": "aadsts", "code": 700082}, "times": 1});
    assert_eq!(http.post(format!("{b}/_emulator/faults")).json(&f).send().await.unwrap().status(), 204);
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    let (_, body) = refresh(&emu, &rt).await;
    assert_ms_error(&body, "invalid_grant", 700082);
    assert_eq!(body["suberror"], "bad_token");
    // Clock, MFA, revoke, settings, state, key.
    let ok = |r: reqwest::Response| assert_eq!(r.status(), 204);
    ok(http
        .post(format!("{b}/_emulator/clock/advance"))
        .json(&serde_json::json!({"seconds": 3600}))
        .send()
        .await
        .unwrap());
    ok(http
        .post(format!("{b}/_emulator/users/taro@contoso.example/mfa"))
        .json(&serde_json::json!({"required": true}))
        .send()
        .await
        .unwrap());
    assert_ms_error(&refresh(&emu, &rt).await.1, "invalid_grant", 50076);
    ok(http.post(format!("{b}/_emulator/users/taro@contoso.example/revoke")).send().await.unwrap());
    ok(http
        .post(format!("{b}/_emulator/settings"))
        .json(&serde_json::json!({"auto_approve": false}))
        .send()
        .await
        .unwrap());
    let s: serde_json::Value = http.get(format!("{b}/_emulator/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["clock_offset_secs"], 3600);
    assert_eq!(s["auto_approve"], false);
    assert_eq!(s["codes"].as_array().unwrap().len(), 1);
    assert_eq!(s["codes"][0]["redeemed"], true);
    assert!(!s["refresh_tokens"].as_array().unwrap().is_empty());
    assert!(!s["access_tokens"].as_array().unwrap().is_empty());
    assert_eq!(s["grants"][0]["upn"], serde_json::Value::Null);
    let pem = http.get(format!("{b}/_emulator/public-key.pem")).send().await.unwrap().text().await.unwrap();
    assert_eq!(pem, emu.public_key_pem());
    assert_eq!(http.post(format!("{b}/_emulator/users/nobody@x.example/revoke")).send().await.unwrap().status(), 404);
    ok(http.delete(format!("{b}/_emulator/faults")).send().await.unwrap());
}
