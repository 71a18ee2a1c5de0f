//! The OAuth client's error taxonomy: every way a consent, a sign-in or a refresh can fail, with
//! who must act and what to do, turned into a [`UiError`].
//!
//! Microsoft's answers (token-endpoint JSON and redirect parameters) are parsed into
//! [`MicrosoftError`], which keeps what the `oauth2` crate's standard error drops — `error_codes`,
//! `suberror`, `trace_id`, `correlation_id`, `claims` — and classified by [`classify`]: on the
//! AADSTS code first (it carries the explanation), then on the OAuth `error` value.
//!
//! Messages are English (logs, CLI); the UI's ja/en catalogs are keyed by `kind` (an
//! [`ErrorKind`]). Discovery failures keep the kinds of [`crate::discovery`] (`tenant_not_found`,
//! `dns_failure`, …).

use crate::DetailKey;
use serde::{Deserialize, Serialize};

use crate::discovery::DiscoveryError;
use crate::error::{Actor, ErrorKind, UiError};

/// Microsoft's error JSON (token endpoint) or the same fields from an error redirect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrosoftError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
    /// A claims challenge (JSON text) sent with MFA / Conditional Access errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    /// `error_subcode` of a redirect (`cancel`); never in token JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<String>,
}

impl std::fmt::Display for MicrosoftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = self.description_line() {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for MicrosoftError {}

impl MicrosoftError {
    /// The AADSTS code: `error_codes[0]`, else the `AADSTSnnnn:` prefix of the description.
    pub fn code(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let d = self.error_description.as_deref()?;
            let rest = &d[d.find("AADSTS")? + 6..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
    }

    /// First line of the description (the rest is Trace ID / Correlation ID / Timestamp).
    pub fn description_line(&self) -> Option<&str> {
        self.error_description.as_deref().and_then(|d| d.lines().next()).map(str::trim).filter(|s| !s.is_empty())
    }

    /// Trace ID: the JSON field, else the `Trace ID:` line of the description (redirects).
    pub fn trace_id(&self) -> Option<String> {
        self.trace_id.clone().or_else(|| self.description_field("Trace ID:"))
    }

    pub fn correlation_id(&self) -> Option<String> {
        self.correlation_id.clone().or_else(|| self.description_field("Correlation ID:"))
    }

    fn description_field(&self, prefix: &str) -> Option<String> {
        self.error_description
            .as_deref()?
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// What Microsoft's error means, as far as the user or admin is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsKind {
    /// 65001: consent missing.
    ConsentRequired,
    /// 90094 / 90095, or a cancel when no admin consent is known: "Need admin approval".
    AdminApprovalRequired,
    /// 90093: the person who tried admin consent is not an administrator.
    AdminRoleRequired,
    /// 65004: declined on the consent screen (`by_admin`: during step 3).
    ConsentDeclined { by_admin: bool },
    /// `access_denied` + `error_subcode=cancel`.
    Cancelled { by_admin: bool },
    /// 50011.
    RedirectUriMismatch,
    /// 700016.
    AppNotInTenant,
    /// 7000218 / 7000215: the redirect URI is registered as "Web".
    RedirectRegisteredAsWeb,
    /// Other `invalid_client`.
    InvalidClient,
    /// 50076 / 50079.
    MfaRequired,
    /// 700082 / 70008 / 50173 and other `invalid_grant` on a refresh token.
    ReauthorizationRequired,
    /// 70043.
    SignInFrequency,
    /// 53003.
    ConditionalAccessBlocked,
    /// 50020 / 500200.
    WrongOrganizationAccount,
    /// 50194.
    SingleTenantOnCommon,
    /// 90002 (outside discovery).
    TenantNotFound,
    /// 54005.
    CodeAlreadyRedeemed,
    /// The authorization code was refused when redeemed (`invalid_grant`: expired — 70008 —,
    /// issued for another redirect URI, client or tenant, or by a provider that sends no AADSTS
    /// code): this sign-in cannot be completed, a new one can. Never "the saved sign-in has
    /// expired": no saved sign-in was involved.
    AuthorizationCodeRejected,
    /// 501481 / 50148.
    PkceMismatch,
    /// 70011 / 28000.
    InvalidScope,
    /// `interaction_required` / `login_required` without a more specific code.
    InteractionRequired,
    /// `server_error` / `temporarily_unavailable` (in a redirect or JSON).
    ServiceUnavailable,
    /// Anything else.
    Other,
}

impl MsKind {
    pub fn kind(self) -> ErrorKind {
        match self {
            MsKind::ConsentRequired => ErrorKind::ConsentRequired,
            MsKind::AdminApprovalRequired => ErrorKind::AdminApprovalRequired,
            MsKind::AdminRoleRequired => ErrorKind::AdminRoleRequired,
            MsKind::ConsentDeclined { by_admin: false } => ErrorKind::ConsentDeclined,
            MsKind::ConsentDeclined { by_admin: true } => ErrorKind::AdminConsentDeclined,
            MsKind::Cancelled { by_admin: false } => ErrorKind::SignInCancelled,
            MsKind::Cancelled { by_admin: true } => ErrorKind::AdminConsentCancelled,
            MsKind::RedirectUriMismatch => ErrorKind::RedirectUriMismatch,
            MsKind::AppNotInTenant => ErrorKind::AppNotInTenant,
            MsKind::RedirectRegisteredAsWeb => ErrorKind::RedirectRegisteredAsWeb,
            MsKind::InvalidClient => ErrorKind::InvalidClient,
            MsKind::MfaRequired => ErrorKind::MfaRequired,
            MsKind::ReauthorizationRequired => ErrorKind::ReauthorizationRequired,
            MsKind::SignInFrequency => ErrorKind::SignInFrequency,
            MsKind::ConditionalAccessBlocked => ErrorKind::ConditionalAccessBlocked,
            MsKind::WrongOrganizationAccount => ErrorKind::WrongOrganizationAccount,
            MsKind::SingleTenantOnCommon => ErrorKind::SingleTenantOnCommon,
            MsKind::TenantNotFound => ErrorKind::TenantNotFound,
            MsKind::CodeAlreadyRedeemed => ErrorKind::CodeAlreadyRedeemed,
            MsKind::AuthorizationCodeRejected => ErrorKind::AuthorizationCodeRejected,
            MsKind::PkceMismatch => ErrorKind::PkceVerifierMismatch,
            MsKind::InvalidScope => ErrorKind::InvalidScope,
            MsKind::InteractionRequired => ErrorKind::InteractionRequired,
            MsKind::ServiceUnavailable => ErrorKind::ServiceUnavailable,
            MsKind::Other => ErrorKind::IdentityError,
        }
    }

    pub fn actor(self) -> Actor {
        match self {
            MsKind::ConsentRequired
            | MsKind::AdminApprovalRequired
            | MsKind::AdminRoleRequired
            | MsKind::ConsentDeclined { by_admin: true }
            | MsKind::Cancelled { by_admin: true }
            | MsKind::RedirectUriMismatch
            | MsKind::AppNotInTenant
            | MsKind::RedirectRegisteredAsWeb
            | MsKind::InvalidClient
            | MsKind::ConditionalAccessBlocked
            | MsKind::SingleTenantOnCommon
            | MsKind::TenantNotFound => Actor::Admin,
            MsKind::ConsentDeclined { by_admin: false }
            | MsKind::Cancelled { by_admin: false }
            | MsKind::MfaRequired
            | MsKind::ReauthorizationRequired
            | MsKind::SignInFrequency
            | MsKind::WrongOrganizationAccount
            | MsKind::AuthorizationCodeRejected
            | MsKind::InteractionRequired => Actor::User,
            MsKind::CodeAlreadyRedeemed
            | MsKind::PkceMismatch
            | MsKind::InvalidScope
            | MsKind::ServiceUnavailable
            | MsKind::Other => Actor::Support,
        }
    }

    /// What to do, in English.
    pub fn advice(self) -> &'static str {
        match self {
            MsKind::ConsentRequired => "The app has no consent for mail access in this organization. The user can sign in again; if users may not consent, the administrator must grant consent in step 3.",
            MsKind::AdminApprovalRequired => "Microsoft asked for admin approval: in this organization only an administrator can grant the app access. The administrator must grant consent in step 3, then sign in again.",
            MsKind::AdminRoleRequired => "The account used for admin consent is not an administrator. Sign in with a Global Administrator, Privileged Role Administrator or Cloud Application Administrator account.",
            MsKind::ConsentDeclined { by_admin: false } => "Consent was declined. The app needs your consent to access your mailbox; sign in again and accept.",
            MsKind::ConsentDeclined { by_admin: true } => "Admin consent was declined. Run step 3 again and accept on behalf of the organization.",
            MsKind::Cancelled { by_admin: false } => "The sign-in was cancelled in the browser. Sign in again when ready.",
            MsKind::Cancelled { by_admin: true } => "The admin consent was cancelled in the browser. Run step 3 again when ready.",
            MsKind::RedirectUriMismatch => "The redirect URI is not registered for the app (AADSTS50011). In Microsoft Entra, register it exactly as shown in step 1, under \"Mobile and desktop applications\".",
            MsKind::AppNotInTenant => "The application ID was not found in this tenant (AADSTS700016). Check the client ID and the tenant in step 1, and grant admin consent in step 3.",
            MsKind::RedirectRegisteredAsWeb => "Microsoft demands a client secret (AADSTS7000218): the redirect URI is registered under \"Web\". Register it under \"Mobile and desktop applications\" instead, and remove the Web entry.",
            MsKind::InvalidClient => "Microsoft rejected the app's client ID. Check the app registration and the client ID in step 1.",
            MsKind::MfaRequired => "Multi-factor authentication is required. Sign in again interactively and complete the MFA prompt.",
            MsKind::ReauthorizationRequired => "The saved sign-in has expired or was revoked (for example after a password change). Sign in again.",
            MsKind::SignInFrequency => "A sign-in frequency policy requires signing in again. Sign in again; the administrator may relax the policy.",
            MsKind::ConditionalAccessBlocked => "Access was blocked by a Conditional Access policy (AADSTS53003). Retrying will not help: contact your IT administrator.",
            MsKind::WrongOrganizationAccount => "The account used does not belong to the configured organization. Sign in with an account of the organization.",
            MsKind::SingleTenantOnCommon => "The app is single-tenant and cannot be used with 'common'. Use the organization's tenant ID or domain in step 1.",
            MsKind::TenantNotFound => "The tenant was not found (AADSTS90002). Check the tenant ID or domain in step 1.",
            MsKind::AuthorizationCodeRejected => "The sign-in could not be completed: the identity platform refused its authorization code (it had expired, was already used, or did not belong to this sign-in). Nothing was stored; start the sign-in again and finish it in the browser without a long pause.",
            MsKind::CodeAlreadyRedeemed => "The authorization code had already been used (AADSTS54005). This is a bug in the app: sign in again and report it with the trace ID.",
            MsKind::PkceMismatch => "The PKCE verifier did not match (AADSTS501481). This is a bug in the app: sign in again and report it with the trace ID.",
            MsKind::InvalidScope => "Microsoft rejected the requested scopes (AADSTS70011/28000). This is a bug in the app: report it with the trace ID.",
            MsKind::InteractionRequired => "Microsoft needs the user to sign in interactively. Sign in again.",
            MsKind::ServiceUnavailable => "Microsoft's sign-in service is temporarily unavailable. Try again in a few minutes.",
            MsKind::Other => "Microsoft's identity platform returned an error. Report it with the trace and correlation IDs.",
        }
    }
}

/// Maps an error from Microsoft to its meaning. `by_admin`: the flow is step 3's admin consent.
/// `admin_consent_known`: the caller knows a tenant-wide consent is in place (a cancel then means
/// the user cancelled; otherwise it most likely came from the "Need admin approval" page).
pub fn classify(e: &MicrosoftError, by_admin: bool, admin_consent_known: bool) -> MsKind {
    let by_code = match e.code() {
        Some(65001) => Some(MsKind::ConsentRequired),
        Some(90094 | 90095) => Some(MsKind::AdminApprovalRequired),
        Some(90093) => Some(MsKind::AdminRoleRequired),
        Some(50011) => Some(MsKind::RedirectUriMismatch),
        Some(700016) => Some(MsKind::AppNotInTenant),
        Some(7000218 | 7000215) => Some(MsKind::RedirectRegisteredAsWeb),
        Some(50076 | 50079) => Some(MsKind::MfaRequired),
        Some(700082 | 70008 | 50173) => Some(MsKind::ReauthorizationRequired),
        Some(70043) => Some(MsKind::SignInFrequency),
        Some(53003) => Some(MsKind::ConditionalAccessBlocked),
        Some(50020 | 500200) => Some(MsKind::WrongOrganizationAccount),
        Some(50194) => Some(MsKind::SingleTenantOnCommon),
        Some(90002) => Some(MsKind::TenantNotFound),
        Some(54005) => Some(MsKind::CodeAlreadyRedeemed),
        Some(501481 | 50148) => Some(MsKind::PkceMismatch),
        Some(70011 | 28000) => Some(MsKind::InvalidScope),
        _ => None,
    };
    // A cancel: "Need admin approval" returns access_denied + cancel with AADSTS65004 in the text,
    // exactly like a user pressing Cancel. Tell them apart by what the caller knows.
    if e.error == "access_denied" && e.error_subcode.as_deref() == Some("cancel") {
        return match by_code {
            Some(MsKind::AdminApprovalRequired) => MsKind::AdminApprovalRequired,
            _ if !by_admin && !admin_consent_known => MsKind::AdminApprovalRequired,
            _ => MsKind::Cancelled { by_admin },
        };
    }
    if let Some(k) = by_code {
        return k;
    }
    if e.code() == Some(65004) {
        return MsKind::ConsentDeclined { by_admin };
    }
    match e.error.as_str() {
        "access_denied" => MsKind::ConsentDeclined { by_admin },
        "invalid_client" | "unauthorized_client" => MsKind::InvalidClient,
        "invalid_grant" => MsKind::ReauthorizationRequired,
        "interaction_required" | "login_required" => MsKind::InteractionRequired,
        "consent_required" => MsKind::ConsentRequired,
        "invalid_scope" => MsKind::InvalidScope,
        "server_error" | "temporarily_unavailable" => MsKind::ServiceUnavailable,
        _ => MsKind::Other,
    }
}

/// Maps an error of the token endpoint answering an authorization-code redemption. The refresh
/// reading of `invalid_grant` ("the saved sign-in has expired or was revoked") is wrong here: what
/// was refused is this sign-in's code, so every `invalid_grant` that [`classify`] would call
/// [`MsKind::ReauthorizationRequired`] (70008 = the code expired, 70000, 500112, 700005, 9002313,
/// or no AADSTS code at all) is [`MsKind::AuthorizationCodeRejected`]. Codes with their own meaning
/// (54005 reused, 501481 verifier, 65001 consent, 50076 MFA, 53003 …) keep it.
pub fn classify_code_redemption(e: &MicrosoftError, admin_consent_known: bool) -> MsKind {
    match classify(e, false, admin_consent_known) {
        MsKind::ReauthorizationRequired => MsKind::AuthorizationCodeRejected,
        k => k,
    }
}

/// Why the network part failed (all transient: the tokens are kept, retry with backoff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransientKind {
    Timeout,
    Network,
    /// 5xx or 429.
    Status(u16),
}

/// Every way the OAuth client can fail.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Microsoft said no; `kind` tells what it means.
    #[error("{}{}", .kind.advice(), .ms.code().map(|c| format!(" (AADSTS{c})")).unwrap_or_default())]
    Microsoft { kind: MsKind, ms: Box<MicrosoftError> },

    /// The discovery document could not be had (kinds of `crate::discovery`).
    #[error(transparent)]
    Discovery(Box<DiscoveryError>),

    /// A setting or argument the client cannot work with (a bug or an unchecked setting).
    #[error("invalid OAuth configuration: {0}")]
    InvalidConfig(String),

    /// The callback URL could not be understood.
    #[error("the sign-in callback could not be read: {0}")]
    CallbackMalformed(String),

    /// The callback has no `state`.
    #[error("the sign-in callback carries no state; it was not started by this app. Start again from the app.")]
    StateMissing,

    /// The state is not one this app issued (forged, tampered, or from another installation).
    #[error("the sign-in callback does not belong to a sign-in started by this app (unknown state). Start again from the app.")]
    StateUnknown,

    /// The state was already used: a replayed callback.
    #[error("this sign-in callback was already used. Start again from the app.")]
    StateReplayed,

    /// The callback came after the flow's 10 minutes.
    #[error("the sign-in took longer than {minutes} minutes and was abandoned. Start again from the app.")]
    CallbackLate { minutes: i64, admin: bool },

    /// A flow never came back within its lifetime (Microsoft showed its own error page).
    #[error("no answer came back from Microsoft within {minutes} minutes. If Microsoft showed an error page: AADSTS50011 means the redirect URI {redirect_uri} must be registered under \"Mobile and desktop applications\" exactly as shown in step 1; AADSTS700016 means the application {client_id} is not in tenant {tenant} (check the client ID and tenant, and run step 3).")]
    FlowTimedOut { minutes: i64, redirect_uri: String, client_id: String, tenant: String, admin: bool },

    /// The callback arrived at a different redirect URI than its flow used.
    #[error("the sign-in callback arrived at {got}, but its sign-in used {expected}. Start again from the app.")]
    CallbackMismatch { expected: String, got: String },

    /// The flow was started for other settings (authority, tenant or client changed meanwhile).
    #[error("the sign-in callback belongs to a sign-in started with other settings ({what} changed). Start again from the app.")]
    ForeignFlow { what: &'static str },

    /// An answer names another issuer than the authority's (RFC 9207 `iss` of the callback, or
    /// the id_token's `iss`): a possible mix-up attack. A security refusal, never "retry later".
    #[error("refused for security: the answer names issuer {got}, but this sign-in was sent to {expected} (a possible mix-up attack, or a misconfigured identity provider). Nothing was stored. Do not retry: tell your administrator, who must check the authority in step 1.")]
    IssuerMismatch { expected: String, got: String },

    /// The provider advertises RFC 9207 (`authorization_response_iss_parameter_supported`) but
    /// the callback carries no `iss`: it may come from another provider (mix-up).
    #[error("refused for security: the identity provider {expected} always names itself in its answers (RFC 9207), but this answer does not (a possible mix-up attack). Nothing was stored. Do not retry: tell your administrator.")]
    IssuerMissing { expected: String },

    /// Admin consent callback without `admin_consent=True`.
    #[error("Microsoft did not confirm the admin consent (admin_consent={value}). Run step 3 again.")]
    AdminConsentNotGranted { value: String },

    /// The tenant in a callback or token is not the configured one.
    #[error("the answer is for tenant {returned}, but the configured tenant is {expected}. Sign in with an administrator or user of the configured organization.")]
    TenantMismatch { expected: String, returned: String },

    /// A sign-in callback without `code`.
    #[error("the sign-in callback carries no authorization code. Start again from the app.")]
    MissingCode,

    /// Network, timeout, 5xx, 429: retry later; nothing was lost.
    #[error("{}", transient_message(.what, .host))]
    Transient { what: TransientKind, host: String, retry_after: Option<u64>, ms: Option<Box<MicrosoftError>> },

    /// The token endpoint answered something that is not a token response.
    #[error("the token endpoint returned an answer that could not be read: {0}")]
    InvalidTokenResponse(String),

    /// No refresh token although `offline_access` was requested.
    #[error("Microsoft issued no refresh token (offline_access was not granted). Check the app's API permissions and grant admin consent in step 3.")]
    NoRefreshToken,

    /// No id_token although `openid` was requested.
    #[error("Microsoft issued no id_token; the signed-in account cannot be checked.")]
    IdTokenMissing,

    /// The id_token failed a check.
    #[error("the id_token failed its {check} check: {reason}")]
    IdTokenInvalid { check: &'static str, reason: String },

    /// A token or JWKS answer over its cap ([`crate::http_body`]); reading stopped there.
    #[error("{}", crate::discovery::answer_too_large_message(.host, .limit_kb))]
    AnswerTooLarge { host: String, document: &'static str, limit_kb: usize },

    /// The signing keys could not be fetched.
    #[error("the signing keys (JWKS) could not be fetched: {0}. Try again.")]
    JwksUnavailable(String),

    /// A personal Microsoft account signed in.
    #[error("{signed_in_as} is a personal Microsoft account. Sign in with {expected}, the organization's account.")]
    PersonalAccount { signed_in_as: String, expected: String },

    /// Someone else signed in than the registered mailbox.
    #[error("signed in as {signed_in_as}, but this mailbox is {expected}. Sign out of {signed_in_as} in the browser (or choose another account) and sign in as {expected}.")]
    WrongAccount { signed_in_as: String, expected: String },
}

fn transient_message(what: &TransientKind, host: &str) -> String {
    match what {
        TransientKind::Timeout => format!("{host} did not answer in time. The saved sign-in is kept; try again."),
        TransientKind::Network => {
            format!("{host} could not be reached. The saved sign-in is kept; check the network and try again.")
        }
        TransientKind::Status(429) => {
            format!("{host} is throttling requests (HTTP 429). The saved sign-in is kept; try again later.")
        }
        TransientKind::Status(s) => {
            format!("{host} is temporarily unavailable (HTTP {s}). The saved sign-in is kept; try again later.")
        }
    }
}

impl From<DiscoveryError> for OAuthError {
    fn from(e: DiscoveryError) -> Self {
        OAuthError::Discovery(Box::new(e))
    }
}

impl OAuthError {
    pub(crate) fn microsoft(kind: MsKind, ms: MicrosoftError) -> Self {
        OAuthError::Microsoft { kind, ms: Box::new(ms) }
    }

    /// The stable kind the UI's catalogs are keyed by.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OAuthError::Microsoft { kind, .. } => kind.kind(),
            OAuthError::Discovery(d) => d.kind(),
            OAuthError::InvalidConfig(_) => ErrorKind::OauthConfigInvalid,
            OAuthError::CallbackMalformed(_) => ErrorKind::CallbackMalformed,
            OAuthError::StateMissing => ErrorKind::StateMissing,
            OAuthError::StateUnknown => ErrorKind::StateUnknown,
            OAuthError::StateReplayed => ErrorKind::StateReplayed,
            OAuthError::CallbackLate { .. } => ErrorKind::CallbackLate,
            OAuthError::FlowTimedOut { .. } => ErrorKind::FlowTimedOut,
            OAuthError::CallbackMismatch { .. } => ErrorKind::CallbackMismatch,
            OAuthError::ForeignFlow { .. } => ErrorKind::ForeignFlow,
            OAuthError::IssuerMismatch { .. } => ErrorKind::IssuerMismatch,
            OAuthError::IssuerMissing { .. } => ErrorKind::IssuerMissing,
            OAuthError::AdminConsentNotGranted { .. } => ErrorKind::AdminConsentNotGranted,
            OAuthError::TenantMismatch { .. } => ErrorKind::TenantMismatch,
            OAuthError::MissingCode => ErrorKind::MissingCode,
            OAuthError::Transient { what: TransientKind::Timeout, .. } => ErrorKind::Timeout,
            OAuthError::Transient { what: TransientKind::Network, .. } => ErrorKind::NetworkError,
            OAuthError::Transient { what: TransientKind::Status(_), .. } => ErrorKind::ServiceUnavailable,
            OAuthError::InvalidTokenResponse(_) => ErrorKind::InvalidTokenResponse,
            OAuthError::NoRefreshToken => ErrorKind::NoRefreshToken,
            OAuthError::IdTokenMissing => ErrorKind::IdTokenMissing,
            OAuthError::IdTokenInvalid { .. } => ErrorKind::IdTokenInvalid,
            OAuthError::JwksUnavailable(_) => ErrorKind::JwksUnavailable,
            OAuthError::AnswerTooLarge { .. } => ErrorKind::IdentityAnswerTooLarge,
            OAuthError::PersonalAccount { .. } => ErrorKind::PersonalAccount,
            OAuthError::WrongAccount { .. } => ErrorKind::WrongAccount,
        }
    }

    /// Who must act.
    pub fn actor(&self) -> Actor {
        match self {
            OAuthError::Microsoft { kind, .. } => kind.actor(),
            OAuthError::Discovery(_) => Actor::Admin,
            OAuthError::FlowTimedOut { .. }
            | OAuthError::AdminConsentNotGranted { .. }
            | OAuthError::NoRefreshToken => Actor::Admin,
            OAuthError::TenantMismatch { .. } | OAuthError::AnswerTooLarge { .. } => Actor::Admin,
            OAuthError::IssuerMismatch { .. } | OAuthError::IssuerMissing { .. } => Actor::Admin,
            OAuthError::CallbackLate { admin: true, .. } => Actor::Admin,
            OAuthError::StateMissing
            | OAuthError::StateUnknown
            | OAuthError::StateReplayed
            | OAuthError::CallbackLate { .. }
            | OAuthError::CallbackMismatch { .. }
            | OAuthError::ForeignFlow { .. }
            | OAuthError::MissingCode
            | OAuthError::PersonalAccount { .. }
            | OAuthError::WrongAccount { .. } => Actor::User,
            OAuthError::InvalidConfig(_)
            | OAuthError::CallbackMalformed(_)
            | OAuthError::Transient { .. }
            | OAuthError::InvalidTokenResponse(_)
            | OAuthError::IdTokenMissing
            | OAuthError::IdTokenInvalid { .. }
            | OAuthError::JwksUnavailable(_) => Actor::Support,
        }
    }

    /// Microsoft's error, when there is one (for its code and support IDs).
    pub fn microsoft_error(&self) -> Option<&MicrosoftError> {
        match self {
            OAuthError::Microsoft { ms, .. } => Some(ms),
            OAuthError::Transient { ms, .. } => ms.as_deref(),
            _ => None,
        }
    }

    /// The AADSTS code, if Microsoft sent one.
    pub fn aadsts(&self) -> Option<u64> {
        self.microsoft_error().and_then(MicrosoftError::code)
    }

    /// A network/service failure: keep the tokens and retry with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OAuthError::Transient { .. }
                | OAuthError::JwksUnavailable(_)
                | OAuthError::AnswerTooLarge { .. }
                | OAuthError::Microsoft { kind: MsKind::ServiceUnavailable, .. }
        )
    }

    /// The saved refresh token is of no further use: the user must sign in again (interactively).
    pub fn needs_reauthorization(&self) -> bool {
        matches!(
            self,
            OAuthError::Microsoft {
                kind: MsKind::ReauthorizationRequired
                    | MsKind::SignInFrequency
                    | MsKind::MfaRequired
                    | MsKind::InteractionRequired
                    | MsKind::ConsentRequired,
                ..
            }
        )
    }

    /// Seconds to wait before retrying, from a `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            OAuthError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<OAuthError> for UiError {
    fn from(e: OAuthError) -> Self {
        if let OAuthError::Discovery(d) = e {
            return (*d).into();
        }
        let mut ui = UiError::new(e.kind(), e.actor(), e.to_string());
        if let Some(ms) = e.microsoft_error() {
            if let Some(c) = ms.code() {
                ui = ui.with(DetailKey::Code, c);
            }
            ui = ui.with(DetailKey::Error, &ms.error);
            if let Some(s) = &ms.suberror {
                ui = ui.with(DetailKey::Suberror, s);
            }
            if let Some(d) = ms.description_line() {
                ui = ui.with(DetailKey::Description, d);
            }
            if let Some(t) = ms.trace_id() {
                ui = ui.with(DetailKey::TraceId, t);
            }
            if let Some(c) = ms.correlation_id() {
                ui = ui.with(DetailKey::CorrelationId, c);
            }
            if let Some(t) = &ms.timestamp {
                ui = ui.with(DetailKey::Timestamp, t);
            }
        }
        match &e {
            OAuthError::WrongAccount { signed_in_as, expected }
            | OAuthError::PersonalAccount { signed_in_as, expected } => {
                ui = ui.with(DetailKey::SignedInAs, signed_in_as).with(DetailKey::Expected, expected);
            }
            OAuthError::TenantMismatch { expected, returned } => {
                ui = ui.with(DetailKey::Expected, expected).with(DetailKey::Returned, returned);
            }
            OAuthError::FlowTimedOut { minutes, redirect_uri, client_id, tenant, .. } => {
                ui = ui
                    .with(DetailKey::Minutes, minutes)
                    .with(DetailKey::RedirectUri, redirect_uri)
                    .with(DetailKey::ClientId, client_id)
                    .with(DetailKey::Tenant, tenant)
                    .with(DetailKey::Codes, "50011,700016");
            }
            OAuthError::CallbackLate { minutes, .. } => ui = ui.with(DetailKey::Minutes, minutes),
            OAuthError::CallbackMismatch { expected, got } | OAuthError::IssuerMismatch { expected, got } => {
                ui = ui.with(DetailKey::Expected, expected).with(DetailKey::Actual, got);
            }
            OAuthError::ForeignFlow { what } => ui = ui.with(DetailKey::What, what),
            OAuthError::IssuerMissing { expected } => ui = ui.with(DetailKey::Expected, expected),
            OAuthError::AdminConsentNotGranted { value } => ui = ui.with(DetailKey::Value, value),
            OAuthError::Transient { what, host, retry_after, .. } => {
                ui = ui.with(DetailKey::Host, host).with(DetailKey::Retryable, true);
                if let TransientKind::Status(s) = what {
                    ui = ui.with(DetailKey::Status, s);
                }
                if let Some(r) = retry_after {
                    ui = ui.with(DetailKey::RetryAfter, r);
                }
            }
            OAuthError::IdTokenInvalid { check, reason } => {
                ui = ui.with(DetailKey::Check, check).with(DetailKey::Reason, reason)
            }
            OAuthError::AnswerTooLarge { host, document, limit_kb } => {
                ui =
                    ui.with(DetailKey::Host, host).with(DetailKey::Document, document).with(DetailKey::Limit, limit_kb);
            }
            OAuthError::InvalidConfig(r)
            | OAuthError::CallbackMalformed(r)
            | OAuthError::InvalidTokenResponse(r)
            | OAuthError::JwksUnavailable(r) => {
                ui = ui.with(DetailKey::Reason, r);
            }
            _ => {}
        }
        ui
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(error: &str, code: u64) -> MicrosoftError {
        MicrosoftError {
            error: error.into(),
            error_description: Some(format!(
                "AADSTS{code}: text.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: x"
            )),
            error_codes: vec![code],
            ..Default::default()
        }
    }

    /// Every row of the reference's AADSTS table has its own explanation.
    #[test]
    fn aadsts_table_is_covered() {
        let rows: &[(&str, u64, &str, Actor)] = &[
            ("invalid_grant", 65001, "consent_required", Actor::Admin),
            ("access_denied", 90094, "admin_approval_required", Actor::Admin),
            ("access_denied", 90095, "admin_approval_required", Actor::Admin),
            ("access_denied", 65004, "consent_declined", Actor::User),
            ("invalid_request", 50011, "redirect_uri_mismatch", Actor::Admin),
            ("unauthorized_client", 700016, "app_not_in_tenant", Actor::Admin),
            ("invalid_client", 7000218, "redirect_registered_as_web", Actor::Admin),
            ("invalid_grant", 50076, "mfa_required", Actor::User),
            ("interaction_required", 50079, "mfa_required", Actor::User),
            ("invalid_grant", 700082, "reauthorization_required", Actor::User),
            ("invalid_grant", 70008, "reauthorization_required", Actor::User),
            ("invalid_grant", 50173, "reauthorization_required", Actor::User),
            ("invalid_grant", 70043, "sign_in_frequency", Actor::User),
            ("interaction_required", 53003, "conditional_access_blocked", Actor::Admin),
            ("access_denied", 50020, "wrong_organization_account", Actor::User),
            ("access_denied", 500200, "wrong_organization_account", Actor::User),
            ("invalid_request", 50194, "single_tenant_on_common", Actor::Admin),
            ("invalid_tenant", 90002, "tenant_not_found", Actor::Admin),
            ("invalid_grant", 54005, "code_already_redeemed", Actor::Support),
            ("invalid_grant", 501481, "pkce_verifier_mismatch", Actor::Support),
            ("invalid_scope", 70011, "invalid_scope", Actor::Support),
            ("invalid_scope", 28000, "invalid_scope", Actor::Support),
            ("access_denied", 90093, "admin_role_required", Actor::Admin),
        ];
        for (error, code, kind, actor) in rows {
            let e = OAuthError::microsoft(classify(&ms(error, *code), false, true), ms(error, *code));
            assert_eq!(e.kind().as_str(), *kind, "AADSTS{code}");
            assert_eq!(e.actor(), *actor, "AADSTS{code}");
            let ui = UiError::from(e);
            assert_eq!(ui.detail.get(&DetailKey::Code).map(String::as_str), Some(code.to_string().as_str()));
            assert_eq!(ui.detail.get(&DetailKey::TraceId).map(String::as_str), Some("t-1"));
            assert_eq!(ui.detail.get(&DetailKey::CorrelationId).map(String::as_str), Some("c-1"));
        }
    }

    /// A refused authorization code is not an expired saved sign-in.
    #[test]
    fn code_redemption_errors_are_not_refresh_errors() {
        let plain = MicrosoftError { error: "invalid_grant".into(), ..Default::default() };
        for (e, at_redeem, at_refresh) in [
            (plain.clone(), "authorization_code_rejected", "reauthorization_required"),
            (ms("invalid_grant", 70008), "authorization_code_rejected", "reauthorization_required"),
            (ms("invalid_grant", 500112), "authorization_code_rejected", "reauthorization_required"),
            (ms("invalid_grant", 9002313), "authorization_code_rejected", "reauthorization_required"),
            (ms("invalid_grant", 54005), "code_already_redeemed", "code_already_redeemed"),
            (ms("invalid_grant", 501481), "pkce_verifier_mismatch", "pkce_verifier_mismatch"),
            (ms("invalid_grant", 50076), "mfa_required", "mfa_required"),
            (ms("invalid_grant", 65001), "consent_required", "consent_required"),
        ] {
            let redeem = OAuthError::microsoft(classify_code_redemption(&e, true), e.clone());
            assert_eq!(redeem.kind().as_str(), at_redeem, "{e:?}");
            assert_eq!(classify(&e, false, true).kind().as_str(), at_refresh, "{e:?}");
        }
        let e = OAuthError::microsoft(classify_code_redemption(&plain, true), plain);
        assert_eq!(e.actor(), Actor::User);
        assert!(!e.needs_reauthorization() && !e.is_transient());
        assert!(e.to_string().contains("start the sign-in again"), "{e}");
    }

    #[test]
    fn cancel_is_told_apart() {
        let mut e = ms("access_denied", 65004);
        e.error_subcode = Some("cancel".into());
        assert_eq!(classify(&e, false, false), MsKind::AdminApprovalRequired);
        assert_eq!(classify(&e, false, true), MsKind::Cancelled { by_admin: false });
        assert_eq!(classify(&e, true, false), MsKind::Cancelled { by_admin: true });
        let mut e = ms("access_denied", 90094);
        e.error_subcode = Some("cancel".into());
        assert_eq!(classify(&e, false, true), MsKind::AdminApprovalRequired);
        assert_eq!(classify(&ms("access_denied", 65004), true, true), MsKind::ConsentDeclined { by_admin: true });
    }

    #[test]
    fn code_from_description_when_no_error_codes() {
        let e = MicrosoftError {
            error: "access_denied".into(),
            error_description: Some("AADSTS65004: User declined.\r\nTrace ID: abc\r\nCorrelation ID: def".into()),
            ..Default::default()
        };
        assert_eq!(e.code(), Some(65004));
        assert_eq!(e.trace_id().as_deref(), Some("abc"));
        assert_eq!(e.correlation_id().as_deref(), Some("def"));
        assert_eq!(e.description_line(), Some("AADSTS65004: User declined."));
    }
}
