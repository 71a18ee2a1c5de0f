//! Pending flows: what the app remembers between sending the browser to Microsoft and the
//! redirect coming back.
//!
//! A flow is keyed by its `state` (256 random bits, base64url), is used at most once (taken from
//! the registry when its callback arrives, whatever the outcome), and expires after [`FLOW_TTL`].
//! It is bound to the authority, tenant, client ID and redirect URI it was started with and to its
//! purpose, so a callback can be checked against all of them (mix-up and foreign-flow defence).
//! The PKCE verifier (S256 only) and the nonce never leave this registry except into the token
//! request and the id_token check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use oauth2::PkceCodeVerifier;

use super::clock::{Clock, SystemClock};
use super::error::OAuthError;
use super::scopes::MailScopes;
#[cfg(test)]
use crate::ErrorKind;

/// How long a flow waits for its callback.
pub const FLOW_TTL: Duration = Duration::minutes(10);

/// How long a used or expired state is remembered, to say "replayed"/"late" instead of "unknown".
const REMEMBER: Duration = Duration::hours(24);

/// What a flow is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Step 3: tenant-wide admin consent for these scopes.
    AdminConsent { scopes: Vec<String> },
    /// Step 4: a user signs in to their registered mailbox.
    UserSignIn {
        /// The registered mailbox (the `login_hint`).
        address: String,
        /// Other addresses that identify the same person (known aliases / UPN).
        aliases: Vec<String>,
        /// The mail scopes of this account (one resource: Exchange).
        scopes: MailScopes,
        /// Whether a tenant-wide admin consent is known to be in place (tells a user's cancel
        /// apart from Microsoft's "Need admin approval" page, which returns the same redirect).
        admin_consent_known: bool,
    },
    /// The administrator signs in to read the directory (Microsoft Graph, delegated).
    DirectorySignIn {
        /// The Graph scopes asked for (one resource), without the OIDC ones.
        scopes: Vec<String>,
        /// Whether a tenant-wide admin consent is known to be in place.
        admin_consent_known: bool,
    },
}

impl Purpose {
    pub fn is_admin(&self) -> bool {
        matches!(self, Purpose::AdminConsent { .. })
    }
}

/// One pending flow.
pub struct PendingFlow {
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    /// Exactly as sent at /authorize (the token request must repeat it).
    pub redirect_uri: String,
    pub purpose: Purpose,
    pub nonce: String,
    pub(crate) pkce_verifier: Option<PkceCodeVerifier>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlow")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("purpose", &self.purpose)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<String, PendingFlow>,
    /// state → when it was used (replay detection).
    used: HashMap<String, DateTime<Utc>>,
    /// state → when it expired (late-callback detection).
    expired: HashMap<String, (DateTime<Utc>, bool)>,
}

/// The registry; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct PendingFlows {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl Default for PendingFlows {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl PendingFlows {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { inner: Arc::default(), clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a flow under a fresh state and returns the state.
    pub(crate) fn insert(&self, state: String, flow: PendingFlow) {
        self.lock().pending.insert(state, flow);
    }

    /// Takes the flow of `state` (one-time). Unknown, replayed and late states are told apart.
    pub fn take(&self, state: &str) -> Result<PendingFlow, OAuthError> {
        let now = self.now();
        let mut inner = self.lock();
        Self::prune(&mut inner, now);
        if let Some(flow) = inner.pending.remove(state) {
            if now - flow.created_at > FLOW_TTL {
                inner.expired.insert(state.to_owned(), (now, flow.purpose.is_admin()));
                return Err(OAuthError::CallbackLate {
                    minutes: FLOW_TTL.num_minutes(),
                    admin: flow.purpose.is_admin(),
                });
            }
            inner.used.insert(state.to_owned(), now);
            return Ok(flow);
        }
        if inner.used.contains_key(state) {
            return Err(OAuthError::StateReplayed);
        }
        if let Some((_, admin)) = inner.expired.get(state) {
            return Err(OAuthError::CallbackLate { minutes: FLOW_TTL.num_minutes(), admin: *admin });
        }
        Err(OAuthError::StateUnknown)
    }

    /// Removes the flows that never came back within [`FLOW_TTL`] and returns, for each, the
    /// state and an error that says what to check (redirect URI registration → AADSTS50011,
    /// app not in tenant → AADSTS700016). The UI calls this on a timer.
    pub fn expire_due(&self) -> Vec<(String, OAuthError)> {
        let now = self.now();
        let mut inner = self.lock();
        let due: Vec<String> =
            inner.pending.iter().filter(|(_, f)| now - f.created_at > FLOW_TTL).map(|(s, _)| s.clone()).collect();
        let mut out = Vec::new();
        for state in due {
            if let Some(f) = inner.pending.remove(&state) {
                inner.expired.insert(state.clone(), (now, f.purpose.is_admin()));
                out.push((
                    state,
                    OAuthError::FlowTimedOut {
                        minutes: FLOW_TTL.num_minutes(),
                        redirect_uri: f.redirect_uri,
                        client_id: f.client_id,
                        tenant: f.tenant,
                        admin: f.purpose.is_admin(),
                    },
                ));
            }
        }
        out
    }

    /// Forgets a flow (the user closed the dialog). Returns whether it existed.
    pub fn cancel(&self, state: &str) -> bool {
        self.lock().pending.remove(state).is_some()
    }

    /// Number of flows waiting for their callback.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the flow of `state` expires, if it is pending.
    pub fn expires_at(&self, state: &str) -> Option<DateTime<Utc>> {
        self.lock().pending.get(state).map(|f| f.created_at + FLOW_TTL)
    }

    fn prune(inner: &mut Inner, now: DateTime<Utc>) {
        inner.used.retain(|_, at| now - *at < REMEMBER);
        inner.expired.retain(|_, (at, _)| now - *at < REMEMBER);
    }
}

/// A fresh state or nonce: 32 random bytes, base64url without padding (256 bits).
pub(crate) fn random_token() -> String {
    oauth2::CsrfToken::new_random_len(32).secret().clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clock::ManualClock;

    fn flow(at: DateTime<Utc>) -> PendingFlow {
        PendingFlow {
            authority: "https://login.example".into(),
            tenant: "t".into(),
            client_id: "c".into(),
            redirect_uri: "http://localhost".into(),
            purpose: Purpose::AdminConsent { scopes: vec![] },
            nonce: "n".into(),
            pkce_verifier: None,
            created_at: at,
        }
    }

    #[test]
    fn one_time_and_expiry() {
        let clock = ManualClock::new();
        let flows = PendingFlows::new(Arc::new(clock.clone()));
        flows.insert("a".into(), flow(flows.now()));
        flows.insert("b".into(), flow(flows.now()));
        assert!(flows.take("a").is_ok());
        assert!(matches!(flows.take("a"), Err(OAuthError::StateReplayed)));
        assert!(matches!(flows.take("zzz"), Err(OAuthError::StateUnknown)));
        clock.advance(std::time::Duration::from_secs(601));
        let due = flows.expire_due();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.kind(), ErrorKind::FlowTimedOut);
        assert!(matches!(flows.take("b"), Err(OAuthError::CallbackLate { .. })));
    }

    #[test]
    fn random_tokens_are_long_and_url_safe() {
        let s = random_token();
        assert_eq!(s.len(), 43);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(s, random_token());
    }
}
