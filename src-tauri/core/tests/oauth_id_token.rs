//! The id_token checks and the wrong-account guard on tokens signed with the emulator's TEST-ONLY
//! key: signature, algorithm, `iss` (with `{tenantid}`), `aud`, `exp`, `nonce`; personal accounts.

use chrono::Utc;
use entra_emulator::tokens::Keys;
use exo_setup_core::oauth::id_token::{check_account, verify, Expect, IdClaims};
use exo_setup_core::oauth::{OAuthError, PERSONAL_ACCOUNT_TENANT};
use exo_setup_core::DetailKey;
use exo_setup_core::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{json, Value};

const TID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const BASE: &str = "https://login.example";

fn jwks(keys: &Keys) -> JwkSet {
    serde_json::from_value(json!({ "keys": [keys.jwk(&format!("{BASE}/{{tenantid}}/v2.0"))] })).unwrap()
}

fn claims() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "aud": CLIENT, "iss": format!("{BASE}/{TID}/v2.0"), "iat": now, "nbf": now, "exp": now + 3600,
        "tid": TID, "oid": "00000000-0000-0000-0000-000000000001", "sub": "s",
        "preferred_username": "taro@contoso.example", "email": "taro@contoso.example", "nonce": "n-1", "ver": "2.0",
    })
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn check(token: &str, keys: &Keys, issuer_template: &str) -> Result<IdClaims, OAuthError> {
    verify(token, &jwks(keys), &Expect { issuer_template, client_id: CLIENT, nonce: "n-1", now: Utc::now() })
}

fn failed_check(r: Result<IdClaims, OAuthError>) -> &'static str {
    match r {
        Err(OAuthError::IdTokenInvalid { check, .. }) => check,
        // A validly signed token naming another issuer: the mix-up refusal.
        Err(OAuthError::IssuerMismatch { .. }) => "iss",
        other => panic!("expected an invalid id_token, got {other:?}"),
    }
}

#[test]
fn a_good_token_passes_with_a_fixed_or_templated_issuer() {
    let keys = Keys::test_only();
    let t = keys.sign(&claims());
    let c = check(&t, &keys, &format!("{BASE}/{TID}/v2.0")).unwrap();
    assert_eq!(c.preferred_username.as_deref(), Some("taro@contoso.example"));
    // `organizations`/`common` discovery: the issuer is a template.
    assert!(check(&t, &keys, &format!("{BASE}/{{tenantid}}/v2.0")).is_ok());
}

#[test]
fn each_claim_is_checked() {
    let keys = Keys::test_only();
    let iss = format!("{BASE}/{TID}/v2.0");
    let sign = |c: Value| keys.sign(&c);
    assert_eq!(failed_check(check(&sign(with(claims(), "aud", json!("someone-else"))), &keys, &iss)), "aud");
    assert_eq!(failed_check(check(&sign(with(claims(), "nonce", json!("n-2"))), &keys, &iss)), "nonce");
    let mut no_nonce = claims();
    no_nonce.as_object_mut().unwrap().remove("nonce");
    assert_eq!(failed_check(check(&sign(no_nonce), &keys, &iss)), "nonce");
    let old = Utc::now().timestamp() - 3600;
    assert_eq!(failed_check(check(&sign(with(claims(), "exp", json!(old))), &keys, &iss)), "exp");
    assert_eq!(
        failed_check(check(&sign(with(claims(), "iss", json!("https://evil.example/x/v2.0"))), &keys, &iss)),
        "iss"
    );
    // A token of another tenant does not match the configured tenant's issuer.
    let other = with(
        with(claims(), "tid", json!("bbbbbbbb-cccc-dddd-eeee-ffffffffffff")),
        "iss",
        json!(format!("{BASE}/bbbbbbbb-cccc-dddd-eeee-ffffffffffff/v2.0")),
    );
    assert_eq!(failed_check(check(&sign(other), &keys, &iss)), "iss");
}

#[test]
fn forged_signatures_and_algorithms_are_refused() {
    let keys = Keys::test_only();
    let iss = format!("{BASE}/{TID}/v2.0");
    let t = keys.sign(&claims());
    // Payload swapped: the signature no longer matches.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let evil = keys.sign(&with(claims(), "preferred_username", json!("admin@contoso.example")));
    parts[1] = evil.split('.').nth(1).unwrap().to_owned();
    parts[2] = t.split('.').nth(2).unwrap().to_owned();
    assert_eq!(failed_check(check(&parts.join("."), &keys, &iss)), "signature");
    // HS256 "signed" with the public key (algorithm confusion) and alg=none.
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(keys.kid.clone());
    let hs = jsonwebtoken::encode(&h, &claims(), &jsonwebtoken::EncodingKey::from_secret(keys.public_pem.as_bytes()))
        .unwrap();
    assert_eq!(failed_check(check(&hs, &keys, &iss)), "signature");
    let none = format!("{}.{}.", base64url(br#"{"alg":"none","typ":"JWT"}"#), t.split('.').nth(1).unwrap());
    assert!(matches!(check(&none, &keys, &iss), Err(OAuthError::IdTokenInvalid { .. })));
    // Unknown kid.
    let mut c = claims();
    c["x"] = json!(1);
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("other-kid".into());
    let t2 = keys.sign(&c).replacen(&t2_header(&keys), &base64url(serde_json::to_string(&h).unwrap().as_bytes()), 1);
    assert_eq!(failed_check(check(&t2, &keys, &iss)), "signature");
}

fn t2_header(keys: &Keys) -> String {
    keys.sign(&claims()).split('.').next().unwrap().to_owned()
}

fn base64url(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn parsed(v: Value) -> IdClaims {
    serde_json::from_value(v).unwrap()
}

#[test]
fn the_wrong_account_guard() {
    let taro = parsed(claims());
    assert_eq!(check_account(&taro, TID, "Taro@Contoso.Example", &[]).unwrap(), "taro@contoso.example");
    assert!(matches!(
        check_account(&taro, TID, "hanako@contoso.example", &[]),
        Err(OAuthError::WrongAccount { ref signed_in_as, ref expected }) if signed_in_as == "taro@contoso.example" && expected == "hanako@contoso.example"
    ));
    // An alias of the registered mailbox.
    assert!(check_account(&taro, TID, "t.yamada@contoso.example", &["taro@contoso.example".into()]).is_ok());
    // `email` alone is enough when `preferred_username` is the UPN of another domain.
    let upn = parsed(with(claims(), "preferred_username", json!("taro@contoso.onmicrosoft.com")));
    assert!(check_account(&upn, TID, "taro@contoso.example", &[]).is_ok());

    let personal = parsed(with(
        with(claims(), "tid", json!(PERSONAL_ACCOUNT_TENANT)),
        "preferred_username",
        json!("taro@outlook.example"),
    ));
    let e = check_account(&personal, TID, "taro@contoso.example", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PersonalAccount);
    let ui = exo_setup_core::UiError::from(e);
    assert_eq!(ui.detail[&DetailKey::SignedInAs], "taro@outlook.example");
    assert_eq!(ui.detail[&DetailKey::Expected], "taro@contoso.example");

    let foreign = parsed(with(claims(), "tid", json!("bbbbbbbb-cccc-dddd-eeee-ffffffffffff")));
    assert_eq!(
        check_account(&foreign, TID, "taro@contoso.example", &[]).unwrap_err().kind(),
        ErrorKind::TenantMismatch
    );
}
