//! Signing keys and token minting.
//!
//! id_tokens and access tokens are RS256 JWTs with a `kid` header, so clients can validate id_tokens against JWKS
//! and a real Dovecot can validate access tokens locally with the PEM public key. Refresh tokens and codes are
//! opaque random strings of Microsoft's length and prefix (`1.A…`), so clients that size storage too small fail here.
//! The signing key is a TEST-ONLY key shipped in `keys/` (instant start in debug builds) unless a fresh one is
//! generated.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The TEST-ONLY signing key shipped with the crate (see keys/README.md). Public; protects nothing.
pub const TEST_ONLY_PRIVATE_KEY_PEM: &str = include_str!("../keys/test-only-signing-key.pem");

/// An RSA signing key with its published forms.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    /// Key ID (alphanumeric, so it is also a safe Dovecot key file name).
    pub kid: String,
    /// base64url modulus and exponent for JWKS.
    pub n: String,
    pub e: String,
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), what Dovecot's key dictionary wants.
    pub public_pem: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Keys, String> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| format!("private key: {e}"))?;
        Self::from_key(key)
    }

    /// The shipped TEST-ONLY key.
    pub fn test_only() -> Keys {
        Self::from_pem(TEST_ONLY_PRIVATE_KEY_PEM).expect("shipped test key parses")
    }

    /// A freshly generated 2048-bit key (slow in unoptimised builds).
    pub fn generate() -> Result<Keys, String> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Keys, String> {
        let pub_key = key.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(pub_key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(pub_key.e().to_bytes_be());
        let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{n}.{e}").as_bytes()));
        let kid: String = thumb.chars().filter(|c| c.is_ascii_alphanumeric()).take(27).collect();
        let public_pem = pub_key.to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        Ok(Keys { encoding, kid, n, e, public_pem })
    }

    /// Signs claims as an RS256 JWT with `typ: "JWT"` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing with a valid key")
    }

    /// The JWKS document entry.
    pub fn jwk(&self, issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.n, "e": self.e, "issuer": issuer,
        })
    }
}

/// Random opaque token in Microsoft's style: `1.A` + base64url of `len` random bytes.
pub fn opaque(len: usize) -> String {
    let mut b = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut b);
    format!("1.A{}", URL_SAFE_NO_PAD.encode(b))
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Pairwise `sub`: stable per (user, app), different across apps.
pub fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let h = Sha256::digest(format!("{oid}|{client_id}").as_bytes());
    STANDARD.encode(&h[..32]).trim_end_matches('=').replace(['+', '/'], "_")[..43].to_string()
}

/// Claims of a v2.0 id_token.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    pub rh: String,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

/// Claims of an access token (v1 shape, as Exchange Online's tokens are).
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub amr: Vec<String>,
    pub appid: String,
    pub email: String,
    pub name: String,
    pub oid: String,
    pub scp: String,
    pub sub: String,
    pub tid: String,
    pub unique_name: String,
    pub upn: String,
    pub uti: String,
    pub ver: String,
}

/// A random `uti` (token identifier) value.
pub fn uti() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}
