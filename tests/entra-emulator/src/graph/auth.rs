//! Who is calling Graph: the bearer token must be one this emulator signed, for Graph's audience, not expired on
//! the emulated clock, and its delegated `scp` must hold one of the permissions the call needs. Failures are
//! Graph's 401 `InvalidAuthenticationToken` and 403 `Authorization_RequestDenied`.

use super::errors::GraphError;
use crate::directory::GRAPH;
use crate::tokens::Keys;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Graph's application id, the other spelling of its audience.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[derive(Debug, Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    exp: i64,
    nbf: i64,
    tid: String,
    #[serde(default)]
    scp: String,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    pub scopes: Vec<String>,
}

impl Caller {
    /// 403 unless the token carries one of `any_of` (delegated permission names).
    pub fn require(&self, any_of: &[&str]) -> Result<(), GraphError> {
        if self.scopes.iter().any(|s| any_of.iter().any(|a| a.eq_ignore_ascii_case(s))) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }
}

/// Verifies the `Authorization: Bearer` token.
pub fn caller(headers: &HeaderMap, keys: &Keys, base_url: &str, now: DateTime<Utc>) -> Result<Caller, GraphError> {
    let raw = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = raw.strip_prefix("Bearer ").map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(GraphError::invalid_token("Access token is empty."));
    }
    if !token.contains('.') {
        return Err(GraphError::invalid_token("IDX14100: JWT is not well formed, there are no dots (.)."));
    }
    let key = DecodingKey::from_rsa_components(&keys.n, &keys.e)
        .map_err(|_| GraphError::invalid_token("Access token validation failure."))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|_| GraphError::invalid_token("Access token validation failure."))?
        .claims;
    if claims.aud != GRAPH && claims.aud != GRAPH_APP_ID {
        return Err(GraphError::invalid_token("Access token validation failure. Invalid audience."));
    }
    if claims.iss != format!("{base_url}/{}/", claims.tid) {
        return Err(GraphError::invalid_token("Access token validation failure. Invalid issuer."));
    }
    let t = now.timestamp();
    if t >= claims.exp || t < claims.nbf {
        return Err(GraphError::invalid_token("Access token has expired or is not yet valid."));
    }
    Ok(Caller {
        tenant_id: claims.tid,
        scopes: claims.scp.split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}
