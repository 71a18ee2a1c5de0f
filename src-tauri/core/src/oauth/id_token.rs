//! Checking the id_token of a sign-in: RS256 signature against the JWKS from discovery's
//! `jwks_uri`, `iss` (the discovery issuer with `{tenantid}` replaced by the token's `tid`),
//! `aud` = client ID, `exp` (5 minutes leeway, against the injectable clock), `nonce`.

use chrono::{DateTime, Utc};
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::client::PERSONAL_ACCOUNT_TENANT;
use super::error::OAuthError;

/// Leeway for `exp` (clock skew).
const LEEWAY_SECS: i64 = 300;

/// The claims exo-setup uses.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
}

/// What the check needs to know.
pub struct Expect<'a> {
    pub issuer_template: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: DateTime<Utc>,
}

fn invalid(check: &'static str, reason: impl Into<String>) -> OAuthError {
    OAuthError::IdTokenInvalid { check, reason: reason.into() }
}

/// The `kid` of the token's header (to pick the key, or to decide to refetch the JWKS).
pub fn key_id(token: &str) -> Result<Option<String>, OAuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid("format", e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid("signature", format!("algorithm {:?}, expected RS256", header.alg)));
    }
    Ok(header.kid)
}

/// Whether `jwks` holds a key for `kid`.
pub fn has_key(jwks: &JwkSet, kid: Option<&str>) -> bool {
    match kid {
        Some(k) => jwks.find(k).is_some(),
        None => jwks.keys.len() == 1,
    }
}

/// Verifies `token` and returns its claims. `tid` is checked by the caller against the tenant.
pub fn verify(token: &str, jwks: &JwkSet, expect: &Expect<'_>) -> Result<IdClaims, OAuthError> {
    let kid = key_id(token)?;
    let jwk = match kid.as_deref() {
        Some(k) => jwks.find(k),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid("signature", format!("no key {} in the JWKS", kid.as_deref().unwrap_or("(no kid)"))))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid("signature", format!("unusable JWK: {e}")))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[expect.client_id]);
    v.validate_exp = false; // checked below against the injectable clock
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    let data = jsonwebtoken::decode::<IdClaims>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidAudience => invalid("aud", format!("audience is not {}", expect.client_id)),
            K::InvalidSignature | K::InvalidRsaKey(_) | K::InvalidAlgorithm => invalid("signature", e.to_string()),
            K::MissingRequiredClaim(c) => invalid("claims", format!("claim {c} missing")),
            _ => invalid("format", e.to_string()),
        }
    })?;
    let c = data.claims;
    if c.exp + LEEWAY_SECS < expect.now.timestamp() {
        return Err(invalid(
            "exp",
            format!("expired at {}", DateTime::<Utc>::from_timestamp(c.exp, 0).unwrap_or_default()),
        ));
    }
    let tid = c.tid.clone().ok_or_else(|| invalid("claims", "claim tid missing"))?;
    let expected_iss = expect.issuer_template.replace("{tenantid}", &tid);
    if c.iss != expected_iss {
        // Validly signed by the provider's keys, yet naming another issuer: a possible mix-up.
        return Err(OAuthError::IssuerMismatch { expected: expected_iss, got: c.iss });
    }
    if c.nonce.as_deref() != Some(expect.nonce) {
        return Err(invalid("nonce", "the nonce is not the one this sign-in sent"));
    }
    Ok(c)
}

/// The wrong-account guard, on verified claims: the account must be of the configured tenant (a
/// personal Microsoft account is refused), and its `preferred_username` or `email` must be the
/// registered mailbox or one of its known aliases (case-insensitive). Returns who signed in.
pub fn check_account(
    claims: &IdClaims,
    tenant_id: &str,
    address: &str,
    aliases: &[String],
) -> Result<String, OAuthError> {
    let tid = claims.tid.clone().unwrap_or_default();
    let signed_in_as = claims
        .preferred_username
        .clone()
        .or_else(|| claims.email.clone())
        .or_else(|| claims.oid.clone())
        .unwrap_or_default();
    if tid.eq_ignore_ascii_case(PERSONAL_ACCOUNT_TENANT) {
        return Err(OAuthError::PersonalAccount { signed_in_as, expected: address.to_owned() });
    }
    if !tid.eq_ignore_ascii_case(tenant_id) {
        return Err(OAuthError::TenantMismatch { expected: tenant_id.to_owned(), returned: tid });
    }
    let wanted: Vec<String> =
        std::iter::once(address).chain(aliases.iter().map(String::as_str)).map(|a| a.trim().to_lowercase()).collect();
    let matches = [claims.preferred_username.as_deref(), claims.email.as_deref()]
        .into_iter()
        .flatten()
        .any(|c| wanted.contains(&c.trim().to_lowercase()));
    if !matches {
        return Err(OAuthError::WrongAccount { signed_in_as, expected: address.to_owned() });
    }
    Ok(signed_in_as)
}
