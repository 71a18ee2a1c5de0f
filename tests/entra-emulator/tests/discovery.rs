//! Discovery and JWKS for every tenant form, the issuer template, 90002 and 900023.

mod common;
use common::*;
use entra_emulator::{Config, Emulator};

#[tokio::test]
async fn discovery_for_every_tenant_form() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let b = emu.base_url();
    let cases = [
        ("common", format!("{b}/{{tenantid}}/v2.0"), "common"),
        ("organizations", format!("{b}/{{tenantid}}/v2.0"), "organizations"),
        ("consumers", format!("{b}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"), "consumers"),
        (T, format!("{b}/{T}/v2.0"), T),
        ("contoso.onmicrosoft.com", format!("{b}/{T}/v2.0"), T),
        ("CONTOSO.example", format!("{b}/{T}/v2.0"), T),
    ];
    for (tenant, issuer, seg) in cases {
        let resp = client().get(format!("{b}/{tenant}/v2.0/.well-known/openid-configuration")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{tenant}");
        let d: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(d["issuer"], issuer, "{tenant}");
        assert_eq!(d["authorization_endpoint"], format!("{b}/{seg}/oauth2/v2.0/authorize"));
        assert_eq!(d["token_endpoint"], format!("{b}/{seg}/oauth2/v2.0/token"));
        assert_eq!(d["jwks_uri"], format!("{b}/{seg}/discovery/v2.0/keys"));
        assert_eq!(d["device_authorization_endpoint"], format!("{b}/{seg}/oauth2/v2.0/devicecode"));
        assert_eq!(d["end_session_endpoint"], format!("{b}/{seg}/oauth2/v2.0/logout"));
        assert_eq!(d["response_modes_supported"], serde_json::json!(["query", "fragment", "form_post"]));
        assert_eq!(d["scopes_supported"], serde_json::json!(["openid", "profile", "email", "offline_access"]));
        assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
        assert_eq!(d["subject_types_supported"], serde_json::json!(["pairwise"]));
        for k in ["token_endpoint_auth_methods_supported", "tenant_region_scope", "cloud_instance_name", "msgraph_host"]
        {
            assert!(d.get(k).is_some(), "{k}");
        }
        assert!(d.get("code_challenge_methods_supported").is_none());
        assert!(d.get("authorization_response_iss_parameter_supported").is_none());
    }
}

#[tokio::test]
async fn unknown_tenant_is_90002_and_malformed_900023() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    for (tenant, code, error) in [
        ("nosuch.onmicrosoft.com", 90002, "invalid_tenant"),
        ("12345678-1234-1234-1234-123456789012", 90002, "invalid_tenant"),
        ("not_a_tenant!", 900023, "invalid_request"),
    ] {
        let resp = client()
            .get(format!("{}/{tenant}/v2.0/.well-known/openid-configuration", emu.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_ms_error(&body, error, code);
        assert!(body["error_description"].as_str().unwrap().contains(tenant));
        let resp = client().get(format!("{}/{tenant}/discovery/v2.0/keys", emu.base_url())).send().await.unwrap();
        assert_eq!(resp.status(), 400);
    }
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let emu = Emulator::start(Config::default_demo()).await.unwrap();
    let j: serde_json::Value = client()
        .get(format!("{}/common/discovery/v2.0/keys", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k = &j["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["kid"], emu.key_id());
    assert_eq!(k["e"], "AQAB");
    assert!(emu.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
}
