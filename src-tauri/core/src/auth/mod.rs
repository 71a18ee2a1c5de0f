//! Steps 3 and 4 put together: the OAuth client ([`crate::oauth`]), the store and the keychain.
//!
//! [`Auth`] is what both front ends (Tauri commands and the CLI) call. It
//! - starts a flow (admin consent or a user's sign-in) and remembers it under an opaque
//!   `flow_id` for the UI — the OAuth `state` never leaves Rust except in the browser URL;
//! - completes it from the redirect (deep link or loopback request): on success it records the
//!   consent (store + audit log) or writes the tokens to the keychain and marks the account
//!   signed in; on any failure — forged, replayed, late or foreign callbacks included — it
//!   touches neither the store nor the keychain;
//! - deletes accounts after signing them out, and finds keychain items whose account is gone
//!   (`removal`, through the keychain ledger of `ledger`); repairs an account status that an
//!   interrupted write left disagreeing with the keychain (`repair`);
//! - hands out access tokens: the cached one while it is valid for more than
//!   [`REFRESH_MARGIN_SECS`], else a refresh, serialized per account so that a rotated refresh
//!   token is always written before the old one is dropped.
//!
//! Opening the browser ([`browser`]) and receiving a loopback redirect ([`loopback`]) are here
//! too, put together as one round trip for both front ends (`round_trip`: [`Auth::begin_round_trip`],
//! [`Auth::open_browser`], [`LoopbackWait::finish`]); receiving a deep link is the Tauri shell's
//! job (it passes the URL to [`Auth::complete`]).
//!
//! Every keychain and SQLite call runs on Tokio's blocking pool: callers may be on any runtime
//! thread, never the UI thread.

pub mod browser;
mod directory;
mod ledger;
pub mod loopback;
mod records;
mod removal;
mod repair;
mod round_trip;
mod self_sign_in;
mod tokens;
mod upkeep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

pub use directory::DIRECTORY_KEY;
pub(crate) use records::usable_server;
pub use removal::KeychainOrphan;
pub use repair::{SIGN_IN_REPAIRED, SIGN_OUT_REPAIRED};
pub use round_trip::{LoopbackWait, Purpose, RoundTrip};
pub use tokens::{AccessToken, REFRESH_MARGIN_SECS};
pub use upkeep::{UpkeepPolicy, UpkeepReport};

use crate::error::{Actor, ErrorKind, UiError};
use crate::keychain::TokenStore;
use crate::model::{
    FlowFinished, FlowPurpose, FlowResult, FlowSnapshot, FlowStarted, OrgSettings, ReceiveProtocol, RedirectMode,
};
use crate::oauth::{Backoff, MailScopes, OAuthClient, OAuthSettings, Outcome, PendingFlows, SignInRequest};
use crate::Store;

/// The sign-in service of one installation (one store, one keychain). Cheap to share in an `Arc`.
pub struct Auth {
    store: Arc<Store>,
    tokens: Arc<dyn TokenStore>,
    flows: PendingFlows,
    client: tokio::sync::Mutex<Option<Arc<OAuthClient>>>,
    /// state → what the UI was told.
    started: Mutex<HashMap<String, FlowStarted>>,
    last: Mutex<Option<FlowFinished>>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The current access token of each account, in this process's memory only: a second copy of
    /// the keychain's cache that spares a D-Bus round trip (e.g. the check right after sign-in).
    access_tokens: Mutex<HashMap<String, tokens::AccessToken>>,
    /// The directory (Graph) access token, in memory only.
    directory_access: Mutex<Option<tokens::AccessToken>>,
    backoff: Backoff,
    policy: Option<crate::policy::Policy>,
    /// Typed mailboxes (self-service) waiting for their sign-in, lowercase address → protocol;
    /// registered only once Microsoft confirmed the identity (`self_sign_in`).
    self_registrations: Mutex<HashMap<String, ReceiveProtocol>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("store", &self.store.path()).field("keychain", &self.tokens.service()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn background_failed(e: tokio::task::JoinError) -> UiError {
    UiError::new(ErrorKind::Unexpected, Actor::Support, format!("background task failed: {e}"))
}

impl Auth {
    pub fn new(store: Arc<Store>, tokens: Arc<dyn TokenStore>) -> Self {
        Self::with_flows(store, tokens, PendingFlows::default())
    }

    /// With a given flow registry (tests pass one on a manual clock).
    pub fn with_flows(store: Arc<Store>, tokens: Arc<dyn TokenStore>, flows: PendingFlows) -> Self {
        Self {
            store,
            tokens,
            flows,
            client: tokio::sync::Mutex::new(None),
            started: Mutex::new(HashMap::new()),
            last: Mutex::new(None),
            refresh_locks: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            directory_access: Mutex::new(None),
            backoff: Backoff::default(),
            policy: None,
            self_registrations: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `policy` instead of reading the machine's policy file at each flow (tests).
    pub fn set_policy(&mut self, policy: crate::policy::Policy) {
        self.policy = Some(policy);
    }

    /// The managed policy in force: the one set, or the machine's file read now (IT may deploy
    /// it while the app runs). An invalid file is an error, never "no policy".
    pub fn policy(&self) -> Result<crate::policy::Policy, UiError> {
        match &self.policy {
            Some(p) => Ok(p.clone()),
            None => crate::policy::load(),
        }
    }

    /// The saved settings, refused while they contradict a locked policy field.
    async fn org_under_policy(&self) -> Result<OrgSettings, UiError> {
        let org = self.db(records::org).await?;
        self.policy()?.require_no_conflict(&org)?;
        Ok(org)
    }

    /// Retry policy of transient refresh failures (tests shorten it).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn flows(&self) -> &PendingFlows {
        &self.flows
    }

    /// The keychain this service writes to (the support bundle asks it which values to remove).
    pub fn token_store(&self) -> &Arc<dyn TokenStore> {
        &self.tokens
    }

    /// Runs `f` on the store on the blocking pool.
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, UiError> + Send + 'static,
    ) -> Result<T, UiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store)).await.map_err(background_failed)?
    }

    /// Runs `f` on the keychain on the blocking pool.
    pub(crate) async fn keychain<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn TokenStore) -> Result<T, crate::keychain::KeychainError> + Send + 'static,
    ) -> Result<T, UiError> {
        let tokens = Arc::clone(&self.tokens);
        tokio::task::spawn_blocking(move || f(tokens.as_ref())).await.map_err(background_failed)?.map_err(UiError::from)
    }

    /// The redirect mode step 1 chose, unless the managed policy locks another.
    pub async fn redirect_mode(&self) -> Result<RedirectMode, UiError> {
        let saved = self.db(records::org).await?.redirect_mode;
        Ok(self.policy()?.redirect_mode(saved))
    }

    /// The OAuth client of the saved organization settings (discovery fetched once per settings).
    pub async fn client(&self) -> Result<Arc<OAuthClient>, UiError> {
        let org = self.db(records::org).await?;
        let settings = OAuthSettings { authority: org.authority, tenant: org.tenant, client_id: org.client_id };
        let mut cached = self.client.lock().await;
        if let Some(c) = cached.as_ref() {
            if *c.settings() == normalized(&settings) {
                return Ok(Arc::clone(c));
            }
        }
        let c = Arc::new(OAuthClient::connect(settings, self.flows.clone()).await?);
        // The discovery issuer must still name the tenant step 1 verified: another one now means
        // the authority answers for someone else (a mix-up) — refused, nothing is sent there.
        if !org.tenant_id.is_empty() && !c.tenant_id().eq_ignore_ascii_case(&org.tenant_id) {
            return Err(crate::oauth::OAuthError::IssuerMismatch {
                expected: format!("tenant {}", org.tenant_id),
                got: c.discovery().issuer.clone(),
            }
            .into());
        }
        *cached = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Step 3: starts the tenant-wide admin consent for exactly the scopes the registered
    /// accounts' protocols need. Returns what to tell the UI and the URL to open.
    pub async fn begin_admin_consent(&self, redirect_uri: &str) -> Result<(FlowStarted, Url), UiError> {
        self.org_under_policy().await?;
        let client = self.client().await?;
        let protocols = self.db(|s| crate::overview::consent_protocols(&s.conn())).await?;
        let (url, state) = client.begin_admin_consent(protocols, redirect_uri)?;
        Ok((self.remember(state, FlowPurpose::AdminConsent, None, redirect_uri, &url), url))
    }

    /// Step 4: starts the sign-in of a registered mailbox (`login_hint` = the address).
    ///
    /// The keychain is checked (a probe write) before the URL is made: a locked or missing
    /// keychain is reported before any browser round trip, not after Microsoft issued a refresh
    /// token that could not be kept.
    pub async fn begin_sign_in(&self, address: &str, redirect_uri: &str) -> Result<(FlowStarted, Url), UiError> {
        self.org_under_policy().await?;
        let client = self.client().await?;
        let address = address.to_owned();
        let target = self.db(move |s| records::sign_in_target(s, &address)).await?;
        self.keychain(|t| t.check_writable()).await?;
        let (url, state) = client.begin_sign_in(&SignInRequest {
            address: target.account.address.clone(),
            aliases: Vec::new(),
            scopes: MailScopes::for_account(target.account.receive_protocol),
            redirect_uri: redirect_uri.to_owned(),
            admin_consent_known: target.admin_consent_known,
        })?;
        Ok((self.remember(state, FlowPurpose::SignIn, Some(target.account.address), redirect_uri, &url), url))
    }

    /// [`Auth::begin_sign_in`] for a registered mailbox, else for a typed one not registered yet
    /// (self-service: `begin_self_sign_in` checked it is allowed and remembered it).
    async fn begin_sign_in_as(
        &self,
        address: &str,
        protocol: ReceiveProtocol,
        redirect_uri: &str,
    ) -> Result<(FlowStarted, Url), UiError> {
        if self.pending_self_registration(address).is_none() {
            return self.begin_sign_in(address, redirect_uri).await;
        }
        self.org_under_policy().await?;
        let client = self.client().await?;
        let a = address.to_owned();
        let admin_consent_known = self.db(move |s| records::self_sign_in_target(s, &a, protocol)).await?;
        self.keychain(|t| t.check_writable()).await?;
        let (url, state) = client.begin_sign_in(&SignInRequest {
            address: address.to_owned(),
            aliases: Vec::new(),
            scopes: MailScopes::for_account(protocol),
            redirect_uri: redirect_uri.to_owned(),
            admin_consent_known,
        })?;
        Ok((self.remember(state, FlowPurpose::SignIn, Some(address.to_owned()), redirect_uri, &url), url))
    }

    fn remember(
        &self,
        state: String,
        purpose: FlowPurpose,
        address: Option<String>,
        redirect_uri: &str,
        url: &Url,
    ) -> FlowStarted {
        let expires_at = self.flows.expires_at(&state).map(|t| t.to_rfc3339()).unwrap_or_default();
        let started = FlowStarted {
            flow_id: uuid::Uuid::new_v4().to_string(),
            purpose,
            address,
            redirect_mode: if redirect_uri.starts_with("http:") {
                RedirectMode::Loopback
            } else {
                RedirectMode::DeepLink
            },
            redirect_uri: redirect_uri.to_owned(),
            browser_url: url.to_string(),
            browser_opened: false,
            expires_at,
        };
        lock(&self.started).insert(state, started.clone());
        started
    }

    /// The directory sign-in's scopes listed for the admin (what consent and sign-in ask for).
    pub async fn directory_scopes(&self) -> Result<Vec<String>, UiError> {
        Ok(crate::oauth::directory_sign_in::graph_scopes(&self.db(records::org).await?.authority))
    }

    /// Records whether the browser could be opened for a flow (shown by [`Auth::snapshot`]).
    pub fn set_browser_opened(&self, flow_id: &str, opened: bool) {
        if let Some(f) = lock(&self.started).values_mut().find(|f| f.flow_id == flow_id) {
            f.browser_opened = opened;
        }
    }

    /// Handles a redirect (deep link or loopback URL). Never fails: the outcome, success or
    /// error, is in the result, which is also kept for [`Auth::snapshot`].
    pub async fn complete(&self, callback_url: &str) -> FlowFinished {
        let state = Url::parse(callback_url.trim())
            .ok()
            .and_then(|u| u.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()));
        let meta = state.and_then(|s| lock(&self.started).remove(&s));
        let result = match self.complete_inner(callback_url).await {
            Ok(r) => r,
            // Nothing is written on failure, not even to the audit log: the store and the keychain
            // are exactly as before (the UI and the CLI show the error).
            Err(error) => {
                tracing::info!(kind = %error.kind, "flow failed");
                FlowResult::Failed { error }
            }
        };
        self.finish(meta, result)
    }

    async fn complete_inner(&self, callback_url: &str) -> Result<FlowResult, UiError> {
        let client = self.client().await?;
        match client.complete(callback_url).await? {
            Outcome::AdminConsented(granted) => {
                let consent = self.db(move |s| records::record_consent(s, &granted)).await?;
                Ok(FlowResult::AdminConsented { consent })
            }
            Outcome::SignedIn(signed_in) => self.store_sign_in(signed_in).await,
            Outcome::DirectorySignedIn(signed_in) => self.store_directory_sign_in(signed_in).await,
        }
    }

    fn finish(&self, meta: Option<FlowStarted>, result: FlowResult) -> FlowFinished {
        let finished = FlowFinished {
            flow_id: meta.as_ref().map(|m| m.flow_id.clone()),
            purpose: meta.map(|m| m.purpose),
            result,
        };
        *lock(&self.last) = Some(finished.clone());
        finished
    }

    /// Stops waiting for a flow (the user pressed Cancel). `None` when it had already ended.
    pub fn cancel(&self, flow_id: &str) -> Option<FlowFinished> {
        let state = {
            let started = lock(&self.started);
            started.iter().find(|(_, f)| f.flow_id == flow_id).map(|(s, _)| s.clone())?
        };
        let meta = lock(&self.started).remove(&state);
        self.flows.cancel(&state);
        let error = UiError::new(
            ErrorKind::FlowCancelled,
            Actor::User,
            "The sign-in was cancelled in exo-setup; a redirect arriving for it now is refused. Start again when ready.",
        );
        Some(self.finish(meta, FlowResult::Failed { error }))
    }

    /// Ends the flows whose 10 minutes are over (call every few seconds while any is pending).
    pub fn expire_due(&self) -> Vec<FlowFinished> {
        self.flows
            .expire_due()
            .into_iter()
            .map(|(state, e)| {
                let meta = lock(&self.started).remove(&state);
                self.finish(meta, FlowResult::Failed { error: e.into() })
            })
            .collect()
    }

    /// The flows waiting and the last one that ended.
    pub fn snapshot(&self) -> FlowSnapshot {
        FlowSnapshot { pending: lock(&self.started).values().cloned().collect(), last: lock(&self.last).clone() }
    }
}

fn normalized(s: &OAuthSettings) -> OAuthSettings {
    OAuthSettings {
        authority: s.authority.trim().trim_end_matches('/').to_owned(),
        tenant: s.tenant.clone(),
        client_id: s.client_id.clone(),
    }
}
