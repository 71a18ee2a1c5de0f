//! What the support bundle removes from every text it carries.
//!
//! The app never logs a secret (tokens travel only as [`Secret`], whose `Debug`/`Display` print
//! `<redacted>`, and the log guard of [`crate::logging`] keeps the mail crates' wire out). A log
//! file is still outside text by the time it is bundled: an older version, another subscriber or a
//! user who pasted something may have put a token there. So every entry goes through
//! [`Redactor::scrub`] before it enters the zip, in this order:
//! 1. the exact values the keychain holds for the accounts listed (refresh and access tokens);
//! 2. `key=value` and `"key":"value"` pairs whose key names a secret or a one-time value of the
//!    browser round trip (`code`, `state`, `nonce`, `code_verifier`, `refresh_token`, …); an
//!    AADSTS or a numeric `code` (an error code, not an authorization code) is kept;
//! 3. `Bearer …` credentials;
//! 4. JSON Web Tokens (`eyJ…​.…​.…`);
//! 5. mail addresses, hashed when asked (see [`AddressMode`]);
//! 6. any other run of 32 or more token characters mixing upper case, lower case and digits (a
//!    refresh token's shape; GUIDs, trace and correlation IDs, host names and times do not mix
//!    all three and are kept).
//!
//! Each removal leaves `<redacted>` (the marker `Secret` prints) and is counted by rule, for the
//! bundle's README.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use sha2::{Digest, Sha256};

use crate::keychain::Secret;

/// What stands where something was removed.
pub const MARK: &str = "<redacted>";

/// Keys whose value never enters a bundle.
pub const SECRET_KEYS: &[&str] = &[
    "code",
    "state",
    "session_state",
    "nonce",
    "code_verifier",
    "code_challenge",
    "refresh_token",
    "access_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "token",
];

/// Length of the hash that replaces an address's local part, in hexadecimal digits (48 bits: no
/// collision to expect among a few hundred thousand addresses).
pub const HASH_HEX_DIGITS: usize = 12;

/// How mail addresses appear in the bundle.
#[derive(Debug, Clone)]
pub enum AddressMode {
    /// As they are.
    Keep,
    /// `h-<12 hex digits>@domain`: the first 48 bits of SHA-256(salt ‖ address in lower case),
    /// with a random 128-bit salt made for this bundle and kept nowhere. The same address gets
    /// the same hash everywhere in one bundle (support can follow one mailbox through the logs),
    /// and the domain is kept (it names the organization, which the settings show anyway); the
    /// salt makes trying a list of names against the hash impossible, also across bundles.
    Hash { salt: [u8; 16] },
}

impl AddressMode {
    /// [`AddressMode::Hash`] with a fresh random salt (from the OS's generator, through UUID v4).
    pub fn hashed() -> Self {
        let mut salt = [0u8; 16];
        salt.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        // A v4 UUID has 122 random bits; mix a second one in for the 6 fixed bits.
        for (s, r) in salt.iter_mut().zip(uuid::Uuid::new_v4().as_bytes()) {
            *s ^= r.rotate_left(3);
        }
        Self::Hash { salt }
    }

    pub fn is_hashed(&self) -> bool {
        matches!(self, Self::Hash { .. })
    }

    /// `address` as the bundle shows it.
    pub fn show(&self, address: &str) -> String {
        match self {
            Self::Keep => address.to_owned(),
            Self::Hash { salt } => {
                let lower = address.to_lowercase();
                let domain = lower.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                let digest = Sha256::new().chain_update(salt).chain_update(lower.as_bytes()).finalize();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("h-{}@{domain}", &hex[..HASH_HEX_DIGITS])
            }
        }
    }
}

/// Scrubs texts for the bundle and counts what it removed.
pub struct Redactor {
    secrets: Vec<Secret>,
    addresses: AddressMode,
    counts: BTreeMap<&'static str, u64>,
}

struct Patterns {
    pairs: Regex,
    bearer: Regex,
    jwt: Regex,
    email: Regex,
    opaque: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let keys = SECRET_KEYS.join("|");
        Patterns {
            // key, then `=` or `:` (a JSON key's closing quote and spaces allowed), an optional
            // opening quote, then the value up to a delimiter.
            pairs: Regex::new(&format!(
                r#"(?i)(?P<key>\b(?:{keys})\b"?\s*[=:]\s*"?)(?P<value>[^\s&"',;<>()\[\]{{}}]+)"#
            ))
            .expect("valid pattern"),
            bearer: Regex::new(r"(?i)\b(?P<key>bearer\s+)(?P<value>[A-Za-z0-9._~+/=-]+)").expect("valid pattern"),
            jwt: Regex::new(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*").expect("valid pattern"),
            email: Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").expect("valid pattern"),
            opaque: Regex::new(r"[A-Za-z0-9._~+-]{32,}=*").expect("valid pattern"),
        }
    })
}

/// An error code rather than an authorization code: `AADSTS50011`, `535`, `5.7.139`.
fn is_error_code(v: &str) -> bool {
    let upper = v.to_ascii_uppercase();
    if let Some(digits) = upper.strip_prefix("AADSTS") {
        return !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    }
    v.len() <= 12 && v.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// A run that mixes upper case, lower case and digits: what a token looks like.
fn looks_opaque(run: &str) -> bool {
    run.chars().any(|c| c.is_ascii_uppercase())
        && run.chars().any(|c| c.is_ascii_lowercase())
        && run.chars().any(|c| c.is_ascii_digit())
}

impl Redactor {
    /// `secrets`: values to remove wherever they appear (the keychain's tokens).
    pub fn new(secrets: Vec<Secret>, addresses: AddressMode) -> Self {
        let secrets = secrets.into_iter().filter(|s| s.expose().len() >= 8).collect();
        Self { secrets, addresses, counts: BTreeMap::new() }
    }

    /// How mail addresses are shown.
    pub fn addresses(&self) -> &AddressMode {
        &self.addresses
    }

    /// What was removed so far, by rule.
    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    /// Counts something removed outside [`Redactor::scrub`] (e.g. a log line dropped whole).
    pub fn count(&mut self, rule: &'static str, n: u64) {
        if n > 0 {
            *self.counts.entry(rule).or_default() += n;
        }
    }

    /// `text` with every secret and token-like string replaced by [`MARK`] and the addresses
    /// shown as asked.
    pub fn scrub(&mut self, text: &str) -> String {
        let p = patterns();
        let mut out = text.to_owned();
        let mut found = 0;
        for s in &self.secrets {
            let n = out.matches(s.expose()).count() as u64;
            if n > 0 {
                out = out.replace(s.expose(), MARK);
                found += n;
            }
        }
        self.count("keychain value", found);

        let mut n = 0;
        out = p
            .pairs
            .replace_all(&out, |c: &Captures| {
                if c["key"].to_ascii_lowercase().starts_with("code") && is_error_code(&c["value"]) {
                    return c[0].to_owned();
                }
                n += 1;
                format!("{}{MARK}", &c["key"])
            })
            .into_owned();
        self.count("key=value (code, state, nonce, token…)", n);

        let mut n = 0;
        out = p
            .bearer
            .replace_all(&out, |c: &Captures| {
                n += 1;
                format!("{}{MARK}", &c["key"])
            })
            .into_owned();
        self.count("Bearer credential", n);

        let mut n = 0;
        out = p
            .jwt
            .replace_all(&out, |_: &Captures| {
                n += 1;
                MARK
            })
            .into_owned();
        self.count("JSON Web Token", n);

        if self.addresses.is_hashed() {
            let mut n = 0;
            let mode = self.addresses.clone();
            out = p
                .email
                .replace_all(&out, |c: &Captures| {
                    n += 1;
                    mode.show(&c[0])
                })
                .into_owned();
            self.count("mail address hashed", n);
        }

        let mut n = 0;
        let copy = out.clone();
        out = p
            .opaque
            .replace_all(&copy, |c: &Captures| {
                let m = c.get(0).expect("whole match");
                // An address's local part stays what step 5 made it.
                let next_to_at = copy[m.end()..].starts_with('@') || copy[..m.start()].ends_with('@');
                if next_to_at || !looks_opaque(m.as_str()) {
                    return m.as_str().to_owned();
                }
                n += 1;
                MARK.to_owned()
            })
            .into_owned();
        self.count("long token-like string", n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0YXJvIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    const REFRESH: &str = "0.AXEAr8Qq1Zb-mockRefreshToken_Q2xpZW50SWQ9MTIzNDU2Nzg5";

    fn keep() -> Redactor {
        Redactor::new(Vec::new(), AddressMode::Keep)
    }

    #[test]
    fn one_time_values_and_tokens_are_removed() {
        let mut r = keep();
        let line = format!(
            "GET /?code=M.C5_BAY.2.U.abc-DEF&state=Zm9vYmFy&session_state=s1 nonce=n-123 {{\"refresh_token\":\"{REFRESH}\"}} Authorization: Bearer {JWT} id={JWT}"
        );
        let out = r.scrub(&line);
        for secret in ["M.C5_BAY.2.U.abc-DEF", "Zm9vYmFy", "n-123", REFRESH, JWT, "s1 "] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(out.contains("code=<redacted>&state=<redacted>"), "{out}");
        assert!(r.counts().values().sum::<u64>() >= 6, "{:?}", r.counts());
    }

    #[test]
    fn error_codes_ids_hosts_and_times_are_kept() {
        let mut r = keep();
        let line =
            "2026-12-05T23:55:01.123Z  INFO exo_setup_core::auth: flow failed kind=tenant_not_found code=AADSTS90002 \
                    smtp code=535 5.7.139 traceId=0b2c4d6e-8f10-4a2b-9c3d-4e5f60718293 \
                    correlationId=72F988BF-86F1-41AF-91AB-2D7CD011DB47 host=outlook.office365.com";
        assert_eq!(r.scrub(line), line);
        assert!(r.counts().is_empty(), "{:?}", r.counts());
    }

    #[test]
    fn keychain_values_are_removed_wherever_they_are() {
        let mut r = Redactor::new(vec![Secret::new("plain-secret-without-shape".to_owned())], AddressMode::Keep);
        assert_eq!(r.scrub("x plain-secret-without-shape y"), "x <redacted> y");
        assert_eq!(r.counts()["keychain value"], 1);
    }

    #[test]
    fn addresses_are_kept_or_hashed_consistently() {
        let mut r = keep();
        assert_eq!(
            r.scrub("signed in Taro.Yamada2024Contractor@contoso.example"),
            "signed in Taro.Yamada2024Contractor@contoso.example"
        );
        let mode = AddressMode::hashed();
        let mut r = Redactor::new(Vec::new(), mode.clone());
        let out = r.scrub("taro@contoso.example and TARO@Contoso.example, hanako@contoso.example");
        let a = mode.show("taro@contoso.example");
        assert!(a.starts_with("h-") && a.ends_with("@contoso.example") && a.len() == 2 + HASH_HEX_DIGITS + 16, "{a}");
        assert_eq!(out, format!("{a} and {a}, {}", mode.show("hanako@contoso.example")));
        assert!(!out.contains("taro") && !out.contains("hanako"));
        // Another bundle, another salt.
        assert_ne!(AddressMode::hashed().show("taro@contoso.example"), a);
    }
}
