//! Token endpoint: PKCE (RFC 7636 vector), single-use codes, expiry, redirect/scope rules, client-type rules,
//! refresh rotation with grace, 90-day inactivity, revocation, MFA, and the exact success and error shapes.

mod common;
use common::*;
use entra_emulator::{Config, Emulator, DEMO_WEB_CLIENT_ID};
use std::time::Duration;

#[tokio::test]
async fn rfc7636_vector_and_success_shape() {
    assert_eq!(entra_emulator::tokens::s256(VERIFIER), CHALLENGE);
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    let (s, body, headers) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(headers["cache-control"].to_str().unwrap().contains("no-store"));
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["access_token", "expires_in", "ext_expires_in", "id_token", "refresh_token", "scope", "token_type"]
    );
    assert_eq!(body["token_type"], "Bearer");
    let exp = body["expires_in"].as_i64().unwrap();
    assert!((3600..=5399).contains(&exp));
    assert_eq!(body["ext_expires_in"], exp);
    // Every consented Exchange permission is listed, not only the requested one; no OIDC scopes.
    let scope = body["scope"].as_str().unwrap();
    assert!(scope.contains(IMAP) && scope.contains(SMTP) && !scope.contains("openid"), "{scope}");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("1.A"));
}

#[tokio::test]
async fn access_token_and_id_token_claims() {
    let emu = consented().await;
    let body = sign_in(&emu).await;
    let at = body["access_token"].as_str().unwrap();
    let h = jwt_part(at, 0);
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], emu.key_id());
    let c = claims(at);
    assert_eq!(c["aud"], "https://outlook.office.com");
    assert_eq!(c["iss"], emu.access_token_issuer(T));
    assert_eq!(c["email"], "taro@contoso.example");
    assert_eq!(c["upn"], "taro@contoso.example");
    assert_eq!(c["tid"], T);
    assert!(c["scp"].as_str().unwrap().split(' ').any(|s| s == "IMAP.AccessAsUser.All"));
    for k in ["sub", "exp", "oid"] {
        assert!(!c[k].is_null(), "{k}");
    }
    // The id_token verifies against the JWKS and carries the OIDC claims.
    let jwks: serde_json::Value =
        client().get(format!("{}/{T}/discovery/v2.0/keys", emu.base_url())).send().await.unwrap().json().await.unwrap();
    let k = &jwks["keys"][0];
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(k["n"].as_str().unwrap(), k["e"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[C]);
    v.set_issuer(&[emu.issuer(T)]);
    let idt = body["id_token"].as_str().unwrap();
    let data = jsonwebtoken::decode::<serde_json::Value>(idt, &key, &v).expect("id_token validates");
    let ic = data.claims;
    assert_eq!(ic["ver"], "2.0");
    assert_eq!(ic["nonce"], "nonce-456");
    assert_eq!(ic["preferred_username"], "taro@contoso.example");
    assert_eq!(ic["email"], "taro@contoso.example");
    assert_eq!(ic["name"], "山田 太郎");
    assert_eq!(ic["tid"], T);
    for k in ["oid", "sub", "iat", "nbf", "exp"] {
        assert!(!ic[k].is_null(), "{k}");
    }
}

#[tokio::test]
async fn alias_login_hint_signs_in_the_upn() {
    let emu = consented().await;
    let code = code(&emu, &[("login_hint", "t.yamada@contoso.example")]).await;
    let (_, b) = redeem(&emu, &code).await;
    assert_eq!(claims(b["id_token"].as_str().unwrap())["preferred_username"], "taro@contoso.example");
}

#[tokio::test]
async fn refresh_only_with_offline_access_and_id_token_only_with_openid() {
    let emu = consented().await;
    let code = code(&emu, &[("scope", IMAP)]).await;
    let (s, b) = redeem(&emu, &code).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("refresh_token").is_none() && b.get("id_token").is_none(), "{b}");
    // Without profile/email the id_token lacks those claims.
    let code = code_for(&emu, &format!("{IMAP} openid")).await;
    let (_, b) = redeem(&emu, &code).await;
    let ic = claims(b["id_token"].as_str().unwrap());
    assert!(ic.get("preferred_username").is_none() && ic.get("email").is_none() && ic.get("oid").is_none(), "{ic}");
}

async fn code_for(emu: &Emulator, scope: &str) -> String {
    code(emu, &[("scope", scope)]).await
}

#[tokio::test]
async fn code_replay_is_54005() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    assert_eq!(redeem(&emu, &code).await.0, 200);
    let (s, b) = redeem(&emu, &code).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 54005);
}

#[tokio::test]
async fn wrong_verifier_is_501481_and_burns_the_code() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    let wrong = "A".repeat(43);
    let (s, b, _) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong),
            ("scope", IMAP),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 501481);
    assert_ms_error(&redeem(&emu, &code).await.1, "invalid_grant", 54005);
}

#[tokio::test]
async fn plain_and_missing_method_mean_plain() {
    let emu = consented().await;
    for extra in [
        vec![("code_challenge", VERIFIER), ("code_challenge_method", "plain")],
        vec![("code_challenge", VERIFIER), ("code_challenge_method", "")],
    ] {
        let code = code(&emu, &extra).await;
        let (s, b) = redeem(&emu, &code).await;
        assert_eq!(s, 200, "{b}");
    }
    // S256 challenge with the verifier sent as if plain fails.
    let code = code(&emu, &[("code_challenge", VERIFIER), ("code_challenge_method", "")]).await;
    let (s, b, _) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", CHALLENGE),
            ("scope", IMAP),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 501481);
}

#[tokio::test]
async fn code_expires_after_ten_minutes_70008() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    emu.advance_clock(Duration::from_secs(601));
    let (s, b) = redeem(&emu, &code).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 70008);
}

#[tokio::test]
async fn redirect_uri_must_equal_the_authorize_one() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    let (s, b, _) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9999"),
            ("code_verifier", VERIFIER),
            ("scope", IMAP),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 500112);
}

#[tokio::test]
async fn two_resources_is_28000_and_unknown_scope_70011() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    let (s, b, _) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", "https://outlook.office.com/IMAP.AccessAsUser.All User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_scope", 28000);
    let code = common::code(&emu, &[]).await;
    let (_, b, _) = post_token(
        &emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", "https://outlook.office.com/IMAP.Everything"),
        ],
    )
    .await;
    assert_ms_error(&b, "invalid_scope", 70011);
}

#[tokio::test]
async fn origin_header_is_9002326() {
    let emu = consented().await;
    let code = code(&emu, &[]).await;
    let resp = client()
        .post(token_url(&emu))
        .header("Origin", "http://localhost:1420")
        .form(&[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", IMAP),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_ms_error(&resp.json().await.unwrap(), "invalid_request", 9002326);
}

#[tokio::test]
async fn web_redirect_without_secret_is_401_7000218() {
    let emu = consented().await;
    emu.grant_admin_consent(T, DEMO_WEB_CLIENT_ID, &[IMAP, SMTP]);
    let code = code(&emu, &[("client_id", DEMO_WEB_CLIENT_ID), ("redirect_uri", "http://localhost:8080")]).await;
    let (s, b, h) = post_token(
        &emu,
        &[
            ("client_id", DEMO_WEB_CLIENT_ID),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:8080"),
            ("code_verifier", VERIFIER),
            ("scope", IMAP),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert!(h.get("www-authenticate").is_some());
    assert_ms_error(&b, "invalid_client", 7000218);
}

#[tokio::test]
async fn request_errors() {
    let emu = consented().await;
    let (s, b, _) = post_token(&emu, &[("client_id", C), ("grant_type", "authorization_code")]).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_request", 900144);
    let (_, b, _) = post_token(
        &emu,
        &[("client_id", C), ("grant_type", "authorization_code"), ("code", "garbage"), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_ms_error(&b, "invalid_grant", 9002313);
    let (_, b, _) = post_token(
        &emu,
        &[
            ("client_id", "99999999-2222-3333-4444-555555555555"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_ms_error(&b, "unauthorized_client", 700016);
    let (_, b, _) = post_token(&emu, &[("client_id", C), ("grant_type", "password")]).await;
    assert_ms_error(&b, "unsupported_grant_type", 70003);
    // client-request-id is echoed as the correlation ID.
    let resp = client()
        .post(token_url(&emu))
        .header("client-request-id", "11112222-3333-4444-5555-666677778888")
        .form(&[("client_id", C)])
        .send()
        .await
        .unwrap();
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(b["correlation_id"], "11112222-3333-4444-5555-666677778888");
    // Unknown tenant at the token endpoint.
    let resp = client()
        .post(format!("{}/nowhere.example/oauth2/v2.0/token", emu.base_url()))
        .form(&[("client_id", C)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_ms_error(&resp.json().await.unwrap(), "invalid_tenant", 90002);
}

#[tokio::test]
async fn refresh_rotates_and_old_token_has_a_grace_period() {
    let emu = consented().await;
    let first = sign_in(&emu).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let (s, b) = refresh(&emu, &rt1).await;
    assert_eq!(s, 200, "{b}");
    let rt2 = b["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    assert!(b.get("id_token").is_some(), "openid was in the original sign-in");
    // Within the grace period the old one still works...
    emu.advance_clock(Duration::from_secs(300));
    assert_eq!(refresh(&emu, &rt1).await.0, 200);
    // ...after it, not.
    emu.advance_clock(Duration::from_secs(301));
    let (s, b) = refresh(&emu, &rt1).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 70000);
    assert_eq!(refresh(&emu, &rt2).await.0, 200);
}

#[tokio::test]
async fn ninety_days_of_inactivity_is_700082_but_use_slides_it() {
    let emu = consented().await;
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    emu.advance_clock(Duration::from_secs(89 * 86400));
    let (s, b) = refresh(&emu, &rt).await;
    assert_eq!(s, 200);
    let rt2 = b["refresh_token"].as_str().unwrap().to_string();
    emu.advance_clock(Duration::from_secs(89 * 86400));
    let (s, b) = refresh(&emu, &rt2).await;
    assert_eq!(s, 200, "sliding: {b}");
    let rt3 = b["refresh_token"].as_str().unwrap().to_string();
    emu.advance_clock(Duration::from_secs(90 * 86400 + 1));
    let (s, b) = refresh(&emu, &rt3).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 700082);
    assert_eq!(b["suberror"], "bad_token");
}

#[tokio::test]
async fn password_change_revokes_50173() {
    let emu = consented().await;
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    emu.revoke_user("t.yamada@contoso.example").unwrap();
    let (s, b) = refresh(&emu, &rt).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 50173);
    // A fresh sign-in after the change works again.
    emu.advance_clock(Duration::from_secs(2));
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&emu, &rt).await.0, 200);
}

#[tokio::test]
async fn mfa_turned_on_is_50076_with_claims() {
    let emu = consented().await;
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    emu.set_mfa_required("taro@contoso.example", true).unwrap();
    let (s, b) = refresh(&emu, &rt).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 50076);
    assert_eq!(b["suberror"], "basic_action");
    let claims: serde_json::Value = serde_json::from_str(b["claims"].as_str().unwrap()).unwrap();
    assert!(claims["access_token"]["capolids"]["essential"].as_bool().unwrap());
    // Signing in again (with MFA) fixes it.
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&emu, &rt).await.0, 200);
}

#[tokio::test]
async fn conditional_access_block_is_53003() {
    let emu = consented().await;
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    emu.set_blocked("taro@contoso.example", true).unwrap();
    let (s, b) = refresh(&emu, &rt).await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "interaction_required", 53003);
    assert_eq!(b["suberror"], "message_only");
}

#[tokio::test]
async fn refresh_for_another_resource_needs_consent() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(T, C, &[IMAP]);
    let code = code(&emu, &[("scope", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access")]).await;
    let rt = redeem(&emu, &code).await.1["refresh_token"].as_str().unwrap().to_string();
    let (s, b, _) =
        post_token(&emu, &[("client_id", C), ("grant_type", "refresh_token"), ("refresh_token", &rt), ("scope", SMTP)])
            .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 65001);
    assert_eq!(b["suberror"], "consent_required");
}
