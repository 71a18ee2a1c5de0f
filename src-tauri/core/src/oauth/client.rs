//! The OAuth client: admin consent, user sign-in (authorization code + PKCE S256) and refresh,
//! against the endpoints of the tenant's discovery document.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::{classify, classify_code_redemption, MicrosoftError, OAuthError};
use super::flows::{random_token, PendingFlow, PendingFlows, Purpose};
use super::http::{self, HttpError};
use super::id_token::{self, Expect};
use super::scopes::{self, MailScopes};
use super::secret::Secret;
use crate::discovery::{self, Discovery};
#[cfg(test)]
use crate::ErrorKind;

/// `tid` of personal Microsoft accounts (the `consumers` tenant).
pub const PERSONAL_ACCOUNT_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// What step 1 saved: where to sign in and as which app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// e.g. `https://login.microsoftonline.com` (no tenant).
    pub authority: String,
    /// Tenant GUID or verified domain (never `common`/`organizations`/`consumers`).
    pub tenant: String,
    /// Application (client) ID.
    pub client_id: String,
}

/// A user sign-in to start.
#[derive(Debug, Clone)]
pub struct SignInRequest {
    /// The registered mailbox; sent as `login_hint` and required in the id_token.
    pub address: String,
    /// Other addresses accepted as the same person (known aliases, the UPN).
    pub aliases: Vec<String>,
    /// The account's protocols (its receive protocol + SMTP).
    pub scopes: MailScopes,
    /// The redirect URI as registered (`dev.exosetup.wizard://oauth2/callback`, or the loopback
    /// URI with the port actually listened on, e.g. `http://localhost:53682`).
    pub redirect_uri: String,
    /// Whether a tenant-wide admin consent is recorded (see [`Purpose::UserSignIn`]).
    pub admin_consent_known: bool,
}

/// What a completed flow produced.
#[derive(Debug)]
pub enum Outcome {
    AdminConsented(AdminConsentGranted),
    SignedIn(SignedIn),
    /// The administrator signed in for the directory (Microsoft Graph); `address` is who.
    DirectorySignedIn(SignedIn),
}

/// Step 3's result. No token is issued by admin consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConsentGranted {
    /// The configured tenant (the callback's `tenant` only had to equal it).
    pub tenant_id: String,
    pub client_id: String,
    /// What Microsoft says was granted (`scope` of the callback).
    pub scopes: Vec<String>,
    /// What was asked for.
    pub requested: Vec<String>,
    pub at: DateTime<Utc>,
}

/// Step 4's result: a verified sign-in of the registered mailbox. Store the refresh token in the
/// keychain; nothing here may go to SQLite, logs or IPC except the non-secret fields.
#[derive(Debug)]
pub struct SignedIn {
    /// The registered mailbox.
    pub address: String,
    /// `preferred_username` (or `email`) of the id_token.
    pub signed_in_as: String,
    pub name: Option<String>,
    pub tid: String,
    pub oid: String,
    pub refresh_token: Secret,
    pub access_token: Secret,
    pub expires_at: DateTime<Utc>,
    /// Scopes of the access token (as the token endpoint reports them).
    pub scopes: Vec<String>,
}

/// A refresh's result.
#[derive(Debug)]
pub struct Refreshed {
    pub access_token: Secret,
    /// The new refresh token (Microsoft rotates it on every refresh): store it, then drop the old.
    /// When the answer carries none, this is the old one and `rotated` is false.
    pub refresh_token: Secret,
    pub rotated: bool,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

/// Retry policy for transient refresh failures (network, timeouts, 5xx, 429).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Total attempts (≥ 1).
    pub attempts: u32,
    /// First delay; doubled after each failure.
    pub initial: Duration,
    /// Upper bound of one delay (also caps `Retry-After`).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { attempts: 4, initial: Duration::from_secs(1), max: Duration::from_secs(30) }
    }
}

/// Microsoft's extra token-response fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MicrosoftTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_expires_in: Option<u64>,
}
impl ExtraTokenFields for MicrosoftTokenFields {}

pub(super) type MsTokenResponse = StandardTokenResponse<MicrosoftTokenFields, BasicTokenType>;
type MsClient = oauth2::Client<
    MicrosoftError,
    MsTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The OAuth client of one organization's settings.
///
/// Concurrency: `refresh` of one account must be serialized by the caller (one refresh at a time
/// per account, so that a rotated refresh token is never lost), and the caller writes the new
/// refresh token to the keychain before dropping the old one. This type does no storage at all.
#[derive(Debug)]
pub struct OAuthClient {
    pub(super) settings: OAuthSettings,
    pub(super) discovery: Discovery,
    pub(super) tenant_id: String,
    pub(super) http: http::Http,
    pub(super) flows: PendingFlows,
    jwks: Mutex<Option<JwkSet>>,
}

fn normalize_authority(a: &str) -> String {
    a.trim().trim_end_matches('/').to_owned()
}

impl OAuthClient {
    /// Fetches the tenant's discovery document and builds the client.
    pub async fn connect(settings: OAuthSettings, flows: PendingFlows) -> Result<Self, OAuthError> {
        let doc = discovery::fetch(&normalize_authority(&settings.authority), &settings.tenant).await?;
        Self::new(settings, doc, flows)
    }

    /// Builds the client from an already fetched discovery document.
    pub fn new(mut settings: OAuthSettings, discovery: Discovery, flows: PendingFlows) -> Result<Self, OAuthError> {
        settings.authority = normalize_authority(&settings.authority);
        let t = settings.tenant.to_ascii_lowercase();
        if matches!(t.as_str(), "common" | "organizations" | "consumers") || t.is_empty() {
            return Err(OAuthError::InvalidConfig(format!(
                "tenant '{}' does not name one organization",
                settings.tenant
            )));
        }
        let tenant_id = discovery
            .tenant_id()
            .ok_or_else(|| OAuthError::InvalidConfig(format!("issuer '{}' names no tenant", discovery.issuer)))?;
        Ok(Self { settings, discovery, tenant_id, http: http::Http(http::client()?), flows, jwks: Mutex::new(None) })
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The tenant GUID (from the discovery issuer).
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    pub fn flows(&self) -> &PendingFlows {
        &self.flows
    }

    /// `{authority}/{tenant}/v2.0/adminconsent`
    pub fn admin_consent_endpoint(&self) -> String {
        format!("{}/{}/v2.0/adminconsent", self.settings.authority, self.settings.tenant)
    }

    pub(super) fn oauth_client(&self, redirect_uri: Option<&str>) -> Result<MsClient, OAuthError> {
        let bad = |what: &str, e: oauth2::url::ParseError| OAuthError::InvalidConfig(format!("{what}: {e}"));
        let mut c = oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(
                AuthUrl::new(self.discovery.authorization_endpoint.clone())
                    .map_err(|e| bad("authorization_endpoint", e))?,
            )
            .set_token_uri(TokenUrl::new(self.discovery.token_endpoint.clone()).map_err(|e| bad("token_endpoint", e))?);
        if let Some(r) = redirect_uri {
            c = c.set_redirect_uri(RedirectUrl::new(r.to_owned()).map_err(|e| bad("redirect_uri", e))?);
        }
        Ok(c)
    }

    pub(super) fn check_redirect_uri(uri: &str) -> Result<Url, OAuthError> {
        let u = Url::parse(uri).map_err(|e| OAuthError::InvalidConfig(format!("redirect URI '{uri}': {e}")))?;
        let ok = match u.scheme() {
            "http" => matches!(u.host_str(), Some("localhost" | "127.0.0.1")),
            "https" => false,
            _ => u.host_str().is_some(),
        };
        if !ok || u.fragment().is_some() || u.query().is_some() {
            return Err(OAuthError::InvalidConfig(format!(
                "redirect URI '{uri}' is neither the app's private-use scheme nor a loopback URI"
            )));
        }
        Ok(u)
    }

    /// Starts a user sign-in: returns the URL to open in the system browser and the flow's state.
    pub fn begin_sign_in(&self, req: &SignInRequest) -> Result<(Url, String), OAuthError> {
        Self::check_redirect_uri(&req.redirect_uri)?;
        if req.scopes.exchange_scopes().is_empty() {
            return Err(OAuthError::InvalidConfig("no mail protocol to sign in for".into()));
        }
        let client = self.oauth_client(Some(&req.redirect_uri))?;
        let state = random_token();
        let nonce = random_token();
        // S256 only: the `pkce-plain` feature of oauth2 is not enabled, so plain cannot be sent.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(64);
        let st = state.clone();
        let (url, _) = client
            .authorize_url(move || CsrfToken::new(st))
            .add_scopes(req.scopes.sign_in().into_iter().map(|s| Scope::new(s.to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query")
            .add_extra_param("nonce", nonce.clone())
            .add_extra_param("login_hint", req.address.clone())
            .url();
        self.flows.insert(
            state.clone(),
            PendingFlow {
                authority: self.settings.authority.clone(),
                tenant: self.settings.tenant.clone(),
                client_id: self.settings.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                purpose: Purpose::UserSignIn {
                    address: req.address.clone(),
                    aliases: req.aliases.clone(),
                    scopes: req.scopes,
                    admin_consent_known: req.admin_consent_known,
                },
                nonce,
                pkce_verifier: Some(verifier),
                created_at: self.flows.now(),
            },
        );
        Ok((url, state))
    }

    /// Starts step 3's tenant-wide admin consent for exactly the scopes the protocols need
    /// (+ `offline_access`). Returns the URL to open and the state.
    pub fn begin_admin_consent(&self, protocols: MailScopes, redirect_uri: &str) -> Result<(Url, String), OAuthError> {
        self.begin_admin_consent_with(protocols, &[], redirect_uri)
    }

    /// [`Self::begin_admin_consent`] plus `extra` scopes of other resources (the directory's
    /// Microsoft Graph permissions): one consent, every scope listed.
    pub fn begin_admin_consent_with(
        &self,
        protocols: MailScopes,
        extra: &[String],
        redirect_uri: &str,
    ) -> Result<(Url, String), OAuthError> {
        Self::check_redirect_uri(redirect_uri)?;
        if protocols.exchange_scopes().is_empty() {
            return Err(OAuthError::InvalidConfig("no mail protocol to consent for".into()));
        }
        let mut scopes: Vec<String> = protocols.exchange_scopes().into_iter().map(str::to_owned).collect();
        scopes.extend(extra.iter().cloned());
        scopes.push(scopes::OFFLINE_ACCESS.to_owned());
        let state = random_token();
        let mut url = Url::parse(&self.admin_consent_endpoint())
            .map_err(|e| OAuthError::InvalidConfig(format!("admin consent URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &state);
        self.flows.insert(
            state.clone(),
            PendingFlow {
                authority: self.settings.authority.clone(),
                tenant: self.settings.tenant.clone(),
                client_id: self.settings.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                purpose: Purpose::AdminConsent { scopes },
                nonce: random_token(),
                pkce_verifier: None,
                created_at: self.flows.now(),
            },
        );
        Ok((url, state))
    }

    /// Handles the redirect back (custom-scheme deep link or the loopback request's full URL).
    ///
    /// The flow is looked up by `state` and removed whatever the outcome (one-time). Nothing is
    /// stored; on success the caller stores what [`Outcome`] carries.
    pub async fn complete(&self, callback_url: &str) -> Result<Outcome, OAuthError> {
        let url = Url::parse(callback_url.trim()).map_err(|e| OAuthError::CallbackMalformed(e.to_string()))?;
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in url.query_pairs() {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::CallbackMalformed(format!("parameter '{k}' appears twice")));
            }
        }
        let state = params.get("state").filter(|s| !s.is_empty()).ok_or(OAuthError::StateMissing)?;
        let mut flow = self.flows.take(state)?;
        check_target(&flow.redirect_uri, &url)?;
        if flow.authority != self.settings.authority {
            return Err(OAuthError::ForeignFlow { what: "authority" });
        }
        if !flow.tenant.eq_ignore_ascii_case(&self.settings.tenant) {
            return Err(OAuthError::ForeignFlow { what: "tenant" });
        }
        if flow.client_id != self.settings.client_id {
            return Err(OAuthError::ForeignFlow { what: "client ID" });
        }
        // RFC 9207 (mix-up defence), before anything else of the answer is believed — errors too.
        let expected_iss = self.discovery.issuer.replace("{tenantid}", &self.tenant_id);
        match params.get("iss") {
            Some(iss) if *iss != expected_iss => {
                return Err(OAuthError::IssuerMismatch { expected: expected_iss, got: iss.clone() });
            }
            None if self.discovery.authorization_response_iss_parameter_supported => {
                return Err(OAuthError::IssuerMissing { expected: expected_iss });
            }
            _ => {}
        }
        if let Some(error) = params.get("error") {
            let ms = MicrosoftError {
                error: error.clone(),
                error_description: params.get("error_description").cloned(),
                error_uri: params.get("error_uri").cloned(),
                error_subcode: params.get("error_subcode").cloned(),
                suberror: params.get("suberror").cloned(),
                claims: params.get("claims").cloned(),
                trace_id: params.get("trace_id").cloned(),
                correlation_id: params.get("correlation_id").cloned(),
                ..Default::default()
            };
            let known = match &flow.purpose {
                Purpose::UserSignIn { admin_consent_known, .. } => *admin_consent_known,
                Purpose::AdminConsent { .. } => false,
                Purpose::DirectorySignIn { admin_consent_known, .. } => *admin_consent_known,
            };
            return Err(OAuthError::microsoft(classify(&ms, flow.purpose.is_admin(), known), ms));
        }
        match &flow.purpose {
            Purpose::AdminConsent { scopes: requested } => {
                let value = params.get("admin_consent").cloned().unwrap_or_default();
                if !value.eq_ignore_ascii_case("true") {
                    return Err(OAuthError::AdminConsentNotGranted { value });
                }
                // The returned tenant can be spoofed: only compared, never used.
                let returned = params.get("tenant").cloned().unwrap_or_default();
                let same = uuid::Uuid::try_parse(&returned)
                    .ok()
                    .zip(uuid::Uuid::try_parse(&self.tenant_id).ok())
                    .is_some_and(|(a, b)| a == b);
                if !same {
                    return Err(OAuthError::TenantMismatch { expected: self.tenant_id.clone(), returned });
                }
                Ok(Outcome::AdminConsented(AdminConsentGranted {
                    tenant_id: self.tenant_id.clone(),
                    client_id: self.settings.client_id.clone(),
                    scopes: params.get("scope").map(|s| scopes::split(s)).unwrap_or_default(),
                    requested: requested.clone(),
                    at: self.flows.now(),
                }))
            }
            Purpose::UserSignIn { .. } => {
                let code = params.get("code").filter(|c| !c.is_empty()).ok_or(OAuthError::MissingCode)?.clone();
                let verifier = flow
                    .pkce_verifier
                    .take()
                    .ok_or_else(|| OAuthError::InvalidConfig("flow without PKCE verifier".into()))?;
                self.redeem(flow, code, verifier).await.map(Outcome::SignedIn)
            }
            Purpose::DirectorySignIn { .. } => {
                let code = params.get("code").filter(|c| !c.is_empty()).ok_or(OAuthError::MissingCode)?.clone();
                let verifier = flow
                    .pkce_verifier
                    .take()
                    .ok_or_else(|| OAuthError::InvalidConfig("flow without PKCE verifier".into()))?;
                self.redeem_directory(flow, code, verifier).await.map(Outcome::DirectorySignedIn)
            }
        }
    }

    async fn redeem(
        &self,
        flow: PendingFlow,
        code: String,
        verifier: oauth2::PkceCodeVerifier,
    ) -> Result<SignedIn, OAuthError> {
        let Purpose::UserSignIn { address, aliases, scopes, admin_consent_known } = &flow.purpose else {
            return Err(OAuthError::InvalidConfig("not a sign-in flow".into()));
        };
        let client = self.oauth_client(Some(&flow.redirect_uri))?;
        let resp = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .add_extra_param("scope", scopes.with_offline_access().join(" "))
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e, Grant::AuthorizationCode { admin_consent_known: *admin_consent_known }))?;
        let tokens = self.tokens(&resp)?;
        let refresh_token = tokens.refresh.ok_or(OAuthError::NoRefreshToken)?;
        let id_token = resp.extra_fields().id_token.as_deref().ok_or(OAuthError::IdTokenMissing)?;
        let claims = self.verify_id_token(id_token, &flow.nonce).await?;

        let signed_in_as = id_token::check_account(&claims, &self.tenant_id, address, aliases)?;
        let oid = claims
            .oid
            .clone()
            .ok_or(OAuthError::IdTokenInvalid { check: "claims", reason: "claim oid missing".into() })?;
        let tid = claims.tid.clone().unwrap_or_default();
        Ok(SignedIn {
            address: address.clone(),
            signed_in_as,
            name: claims.name,
            tid,
            oid,
            refresh_token,
            access_token: tokens.access,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
        })
    }

    /// Redeems a refresh token for a new access token (and the rotated refresh token) for one
    /// resource's scopes. Transient failures (`OAuthError::is_transient`) leave the saved token
    /// valid; `needs_reauthorization` failures mean the user must sign in again.
    pub async fn refresh(&self, refresh_token: &Secret, scopes: MailScopes) -> Result<Refreshed, OAuthError> {
        let client = self.oauth_client(None)?;
        let rt = RefreshToken::new(refresh_token.expose().to_owned());
        let resp = client
            .exchange_refresh_token(&rt)
            .add_scopes(scopes.with_offline_access().into_iter().map(|s| Scope::new(s.to_owned())))
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e, Grant::RefreshToken))?;
        let tokens = self.tokens(&resp)?;
        let rotated = tokens.refresh.is_some();
        Ok(Refreshed {
            access_token: tokens.access,
            refresh_token: tokens.refresh.unwrap_or_else(|| refresh_token.clone()),
            rotated,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
        })
    }

    /// [`refresh`](Self::refresh) with retries of transient failures (exponential backoff,
    /// `Retry-After` honoured up to `policy.max`). Needs a Tokio runtime (timer).
    pub async fn refresh_with_retry(
        &self,
        refresh_token: &Secret,
        scopes: MailScopes,
        policy: Backoff,
    ) -> Result<Refreshed, OAuthError> {
        let mut delay = policy.initial;
        let mut attempt = 1;
        loop {
            match self.refresh(refresh_token, scopes).await {
                Err(e) if e.is_transient() && attempt < policy.attempts.max(1) => {
                    let wait = e.retry_after().map(Duration::from_secs).unwrap_or(delay).min(policy.max);
                    tracing::info!(
                        kind = e.kind().as_str(),
                        attempt,
                        ?wait,
                        "token refresh failed transiently; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(policy.max);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn host(&self) -> String {
        Url::parse(&self.discovery.token_endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub(super) fn token_error(&self, e: RequestTokenError<HttpError, MicrosoftError>, grant: Grant) -> OAuthError {
        match e {
            RequestTokenError::ServerResponse(ms) => {
                let kind = match grant {
                    Grant::AuthorizationCode { admin_consent_known } => {
                        classify_code_redemption(&ms, admin_consent_known)
                    }
                    Grant::RefreshToken => classify(&ms, false, true),
                };
                OAuthError::microsoft(kind, ms)
            }
            RequestTokenError::Request(h) => http::to_oauth(h, &self.host()),
            // Never include the body: it may hold tokens.
            RequestTokenError::Parse(err, _) => {
                OAuthError::InvalidTokenResponse(format!("not the expected JSON ({})", err.path()))
            }
            RequestTokenError::Other(s) => OAuthError::InvalidTokenResponse(s),
        }
    }

    pub(super) fn tokens(&self, resp: &MsTokenResponse) -> Result<Tokens, OAuthError> {
        match resp.token_type() {
            BasicTokenType::Bearer => {}
            // Microsoft sends "Bearer"; oauth2 v5 parses that as Extension("Bearer").
            BasicTokenType::Extension(t) if t.eq_ignore_ascii_case("bearer") => {}
            other => return Err(OAuthError::InvalidTokenResponse(format!("token_type {other:?}, expected Bearer"))),
        }
        let access = Secret::new(resp.access_token().secret().clone());
        if access.is_empty() {
            return Err(OAuthError::InvalidTokenResponse("empty access_token".into()));
        }
        let lifetime = resp.expires_in().unwrap_or(Duration::from_secs(3600));
        let expires_at = self.flows.now() + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
        Ok(Tokens {
            access,
            refresh: resp.refresh_token().map(|r| Secret::new(r.secret().clone())).filter(|s| !s.is_empty()),
            expires_at,
            scopes: resp.scopes().map(|v| v.iter().map(|s| s.to_string()).collect()).unwrap_or_default(),
        })
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, OAuthError> {
        let resp = self
            .http
            .0
            .get(&self.discovery.jwks_uri)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| OAuthError::JwksUnavailable(http::from_reqwest(&e).to_string()))?;
        let status = resp.status();
        let body = http::read_limited(resp, crate::http_body::MAX_JWKS_BYTES).await.map_err(|e| match e {
            HttpError::TooLarge { limit } => OAuthError::AnswerTooLarge {
                host: Url::parse(&self.discovery.jwks_uri)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                document: "jwks",
                limit_kb: limit / 1024,
            },
            e => OAuthError::JwksUnavailable(e.to_string()),
        })?;
        if !status.is_success() {
            return Err(OAuthError::JwksUnavailable(format!("HTTP {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| OAuthError::JwksUnavailable(format!("not a JWKS ({e})")))
    }

    pub(super) async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<id_token::IdClaims, OAuthError> {
        let kid = id_token::key_id(token)?;
        let cached = self.jwks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let jwks = match cached {
            Some(j) if id_token::has_key(&j, kid.as_deref()) => j,
            // Unknown kid: the keys rolled over (or first use): fetch again.
            _ => {
                let j = self.fetch_jwks().await?;
                *self.jwks.lock().unwrap_or_else(|e| e.into_inner()) = Some(j.clone());
                j
            }
        };
        id_token::verify(
            token,
            &jwks,
            &Expect {
                issuer_template: &self.discovery.issuer,
                client_id: &self.settings.client_id,
                nonce,
                now: self.flows.now(),
            },
        )
    }
}

/// What the token request redeemed: its errors mean different things.
#[derive(Debug, Clone, Copy)]
pub(super) enum Grant {
    AuthorizationCode { admin_consent_known: bool },
    RefreshToken,
}

pub(super) struct Tokens {
    pub(super) access: Secret,
    pub(super) refresh: Option<Secret>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) scopes: Vec<String>,
}

/// The full callback URL of a loopback redirect, from the redirect URI the flow used
/// (`http://localhost:53682`) and the request target of the one HTTP request the listener
/// received (`/?code=…&state=…`). Hand the result to [`OAuthClient::complete`].
pub fn loopback_callback_url(redirect_uri: &str, request_target: &str) -> Result<String, OAuthError> {
    let base = Url::parse(redirect_uri).map_err(|e| OAuthError::InvalidConfig(format!("redirect URI: {e}")))?;
    if !request_target.starts_with('/') {
        // Not echoed: it may carry an authorization code.
        return Err(OAuthError::CallbackMalformed("the request target is not a path".into()));
    }
    let origin = base.origin().ascii_serialization();
    Url::parse(&format!("{origin}{request_target}"))
        .map(String::from)
        .map_err(|e| OAuthError::CallbackMalformed(e.to_string()))
}

/// The callback must arrive where its flow said it would (scheme, host, port, path).
fn check_target(expected: &str, got: &Url) -> Result<(), OAuthError> {
    let mismatch = || OAuthError::CallbackMismatch {
        expected: expected.to_owned(),
        got: format!("{}://{}{}", got.scheme(), got.host_str().unwrap_or(""), got.path()),
    };
    let exp = Url::parse(expected).map_err(|_| mismatch())?;
    let path = |u: &Url| {
        let p = u.path().trim_end_matches('/').to_owned();
        p
    };
    let host = |u: &Url| u.host_str().map(|h| h.to_ascii_lowercase());
    if exp.scheme() != got.scheme()
        || host(&exp) != host(got)
        || exp.port_or_known_default() != got.port_or_known_default()
        || path(&exp) != path(got)
    {
        return Err(mismatch());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::PkceCodeVerifier;

    /// RFC 7636 appendix B.
    #[test]
    fn s256_challenge_matches_rfc7636_vector() {
        let v = PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        let c = PkceCodeChallenge::from_code_verifier_sha256(&v);
        assert_eq!(c.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(c.method().as_str(), "S256");
    }

    /// Tauri commands and the CLI hold the client in shared state and await it on any thread.
    #[allow(dead_code)]
    fn futures_are_send(c: &OAuthClient, s: &Secret) {
        fn is_send<T: Send>(_: T) {}
        fn is_sync<T: Send + Sync>() {}
        is_sync::<OAuthClient>();
        is_sync::<PendingFlows>();
        is_send(c.complete(""));
        is_send(c.refresh(s, MailScopes::all()));
        is_send(c.refresh_with_retry(s, MailScopes::all(), Backoff::default()));
    }

    #[test]
    fn callback_target() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_target(
            "dev.exosetup.wizard://oauth2/callback",
            &u("dev.exosetup.wizard://oauth2/callback?code=1")
        )
        .is_ok());
        assert!(check_target("dev.exosetup.wizard://oauth2/callback", &u("dev.exosetup.wizard://oauth2/other?code=1"))
            .is_err());
        assert!(check_target("http://localhost:5000", &u("http://localhost:5000/?code=1")).is_ok());
        assert!(check_target("http://localhost:5000", &u("http://localhost:5001/?code=1")).is_err());
        assert!(check_target("http://localhost:5000", &u("evil.scheme://localhost:5000/?code=1")).is_err());
        let cb = loopback_callback_url("http://localhost:5000", "/?code=a&state=b").unwrap();
        assert_eq!(cb, "http://localhost:5000/?code=a&state=b");
        assert!(check_target("http://localhost:5000", &u(&cb)).is_ok());
        assert!(loopback_callback_url("http://localhost:5000", "http://evil/?x").is_err());
    }

    /// A client whose token endpoint and JWKS both answer with an endless body.
    async fn client_with_endless_answers() -> (OAuthClient, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        use crate::http_body::tests::{server, ENDLESS};
        let (url, written) = server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", ENDLESS).await;
        let discovery = Discovery {
            issuer: "https://login.microsoftonline.com/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/v2.0".into(),
            authorization_endpoint: format!("{url}/authorize"),
            token_endpoint: format!("{url}/token"),
            jwks_uri: format!("{url}/keys"),
            end_session_endpoint: None,
            device_authorization_endpoint: None,
            authorization_response_iss_parameter_supported: false,
        };
        let settings = OAuthSettings {
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso.example".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
        };
        (OAuthClient::new(settings, discovery, PendingFlows::default()).unwrap(), written)
    }

    #[tokio::test]
    async fn an_endless_token_answer_is_refused_and_keeps_the_sign_in() {
        let (c, written) = client_with_endless_answers().await;
        let started = std::time::Instant::now();
        let Err(e) = c.refresh(&Secret::new("rt"), MailScopes::all()).await else { panic!("refreshed") };
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(matches!(e, OAuthError::AnswerTooLarge { document: "token", limit_kb: 64, .. }), "{e:?}");
        assert!(e.is_transient() && !e.needs_reauthorization());
        let ui = crate::UiError::from(e);
        assert_eq!((ui.kind, ui.actor), (ErrorKind::IdentityAnswerTooLarge, crate::Actor::Admin));
        assert_eq!(ui.detail[&crate::DetailKey::Host], "127.0.0.1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = written.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < 16 * 1024 * 1024, "the server wrote {sent} bytes");
    }

    #[tokio::test]
    async fn an_endless_jwks_is_refused() {
        let (c, _) = client_with_endless_answers().await;
        let e = c.fetch_jwks().await.unwrap_err();
        assert!(matches!(e, OAuthError::AnswerTooLarge { document: "jwks", limit_kb: 256, .. }), "{e:?}");
    }
}
