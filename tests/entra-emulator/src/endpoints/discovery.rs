//! OpenID discovery (`/{tenant}/v2.0/.well-known/openid-configuration`) and JWKS (`/{tenant}/discovery/v2.0/keys`).
//!
//! Mirrors Microsoft's document field for field, including its quirks: the issuer of `common`/`organizations` is the
//! literal template `…/{tenantid}/v2.0` (strict OIDC libraries choke on it), endpoints of a tenant named by domain
//! use its GUID, and `code_challenge_methods_supported` is NOT advertised although PKCE works.

use super::{apply_faults, ctx, fault_error, AppState};
use crate::directory::{self, Authority, CONSUMERS_TENANT_ID};
use crate::faults::{transport_response, Endpoint, Probe};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Issuer of id_tokens for a tenant GUID.
pub fn issuer(base: &str, tid: &str) -> String {
    format!("{base}/{tid}/v2.0")
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    endpoint: Endpoint,
) -> Result<Authority, Response> {
    if let Some(kind) = apply_faults(state, endpoint, Probe::default()).await {
        let c = ctx(state, headers);
        return Err(transport_response(&kind).unwrap_or_else(|| c.response(&fault_error(&kind).expect("aadsts fault"))));
    }
    let r = directory::resolve(&state.lock().config, tenant);
    r.map_err(|e| ctx(state, headers).response(&e))
}

pub async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let authority = match resolve(&state, &headers, &tenant, Endpoint::Discovery).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let base = &state.base_url;
    let seg = authority.segment().to_string();
    let (iss, region) = match &authority {
        Authority::Common | Authority::Organizations => (issuer(base, "{tenantid}"), None),
        Authority::Consumers => (issuer(base, CONSUMERS_TENANT_ID), None),
        Authority::Tenant(id) => {
            let region = directory::tenant(&state.lock().config, id).map(|t| t.region.clone());
            (issuer(base, id), region)
        }
    };
    let doc = json!({
        "token_endpoint": format!("{base}/{seg}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{seg}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": iss,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/{seg}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{seg}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{seg}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid",
            "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{seg}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    Json(doc).into_response()
}

pub async fn jwks(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let authority = match resolve(&state, &headers, &tenant, Endpoint::Jwks).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tid = match &authority {
        Authority::Tenant(id) => id.clone(),
        Authority::Consumers => CONSUMERS_TENANT_ID.into(),
        _ => "{tenantid}".into(),
    };
    Json(json!({ "keys": [state.keys.jwk(&issuer(&state.base_url, &tid))] })).into_response()
}
