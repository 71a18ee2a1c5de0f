//! Microsoft's error shapes and the AADSTS catalog.
//!
//! Every failure the emulator produces goes through [`AadError`] so that the JSON body (token, discovery) and the
//! redirect parameters (authorize, adminconsent) look exactly like Microsoft's: `error`, an `error_description`
//! starting with `AADSTSnnnnn:` and ending with the Trace ID / Correlation ID / Timestamp lines, `error_codes`,
//! `timestamp`, `trace_id`, `correlation_id`, `error_uri`, and optionally `suberror` and `claims`.
//! Texts are Microsoft's where known; `{0}`, `{1}` are filled by the caller (missing arguments become `…`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// (code, OAuth `error`, HTTP status, suberror, text template)
type Entry = (u32, &'static str, u16, Option<&'static str>, &'static str);

/// The catalog: every AADSTS code the emulator knows (and that faults may inject).
pub const CATALOG: &[Entry] = &[
    (28000, "invalid_scope", 400, None, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {0} is not valid."),
    (50011, "invalid_request", 400, None, "The redirect URI '{0}' specified in the request does not match the redirect URIs configured for the application '{1}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
    (50020, "access_denied", 400, None, "User account '{0}' from identity provider '{1}' does not exist in tenant '{2}' and cannot access the application '{3}' in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."),
    (50034, "invalid_grant", 400, None, "The user account {0} does not exist in the {1} directory. To sign into this application, the account must be added to the directory."),
    (50055, "invalid_grant", 400, Some("user_password_expired"), "The password is expired."),
    (50058, "login_required", 400, None, "A silent sign-in request was sent but no user is signed in."),
    (50076, "invalid_grant", 400, Some("basic_action"), "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{0}'."),
    (50079, "invalid_grant", 400, Some("basic_action"), "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '{0}'."),
    (50126, "invalid_grant", 400, None, "Error validating credentials due to invalid username or password."),
    (50148, "invalid_grant", 400, None, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."),
    (50173, "invalid_grant", 400, Some("bad_token"), "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{0}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{1}'."),
    (50194, "invalid_request", 400, None, "Application '{0}'({1}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."),
    (50199, "interaction_required", 400, None, "For security reasons, user confirmation is required for this request. Please repeat the request allowing user interaction."),
    (53003, "interaction_required", 400, Some("message_only"), "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."),
    (54005, "invalid_grant", 400, None, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."),
    (65001, "invalid_grant", 400, Some("consent_required"), "The user or administrator has not consented to use the application with ID '{0}' named '{1}'. Send an interactive authorization request for this user and resource."),
    (65004, "access_denied", 400, None, "User declined to consent to access the app."),
    (70000, "invalid_grant", 400, None, "Provided grant is invalid or malformed."),
    (70003, "unsupported_grant_type", 400, None, "The app requested an unsupported grant type '{0}'."),
    (70008, "invalid_grant", 400, Some("bad_token"), "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."),
    (70011, "invalid_scope", 400, None, "The provided value for the input parameter 'scope' is not valid. The scope {0} is not valid."),
    (70043, "invalid_grant", 400, Some("bad_token"), "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on {0} and the maximum allowed lifetime for this request is {1}."),
    (90002, "invalid_tenant", 400, None, "Tenant '{0}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
    (90014, "invalid_request", 400, None, "The required field '{0}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."),
    (90100, "invalid_request", 400, None, "The parameter '{0}' is empty or not valid."),
    (90093, "access_denied", 400, None, "Calling principal cannot consent due to lack of permissions."),
    (90094, "access_denied", 400, None, "Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin."),
    (90095, "access_denied", 400, None, "Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin."),
    (500011, "invalid_resource", 400, None, "The resource principal named {0} was not found in the tenant named {1}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
    (500112, "invalid_grant", 400, None, "The reply address '{0}' does not match the reply address '{1}' provided when requesting Authorization code."),
    (500200, "access_denied", 400, None, "User account '{0}' is a personal Microsoft account. Personal Microsoft accounts are not supported for this application unless explicitly invited to an organization. Try signing out and signing back in with an organizational account."),
    (501481, "invalid_grant", 400, None, "The Code_Verifier does not match the code_challenge supplied in the authorization request."),
    (501491, "invalid_request", 400, None, "Invalid size of Code_Challenge parameter."),
    (650053, "invalid_client", 400, None, "The application '{0}' asked for scope '{1}' that doesn't exist on the resource '{2}'. Contact the app vendor."),
    (700005, "invalid_grant", 400, None, "Provided Authorization Code is intended to use against other tenant, thus rejected."),
    (700016, "unauthorized_client", 400, None, "Application with identifier '{0}' was not found in the directory '{1}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
    (700051, "unsupported_response_type", 400, None, "response_type '{0}' is not enabled for the application."),
    (700082, "invalid_grant", 400, Some("bad_token"), "The refresh token has expired due to inactivity. The token was issued on {0} and was inactive for {1}."),
    (700084, "invalid_grant", 400, Some("bad_token"), "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of {0}, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on {1}."),
    (900023, "invalid_request", 400, None, "Specified tenant identifier '{0}' is neither a valid DNS name, nor a valid external domain."),
    (900144, "invalid_request", 400, None, "The request body must contain the following parameter: '{0}'."),
    (7000215, "invalid_client", 401, None, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{0}'."),
    (7000218, "invalid_client", 401, None, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
    (9002313, "invalid_grant", 400, None, "Invalid request. Request is malformed or invalid."),
    (9002327, "invalid_request", 400, None, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests."),
    (9002326, "invalid_request", 400, None, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '{0}'."),
];

/// One Microsoft error, before it is rendered as JSON or as redirect parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    pub code: u32,
    /// OAuth `error` value (`invalid_grant`, `access_denied`, …).
    pub error: String,
    /// Text after `AADSTSnnnnn: `.
    pub message: String,
    pub suberror: Option<String>,
    /// `claims` challenge (JSON text), sent with MFA / Conditional Access errors.
    pub claims: Option<String>,
    pub status: u16,
}

impl AadError {
    /// Builds the catalog entry `code` with its `{n}` placeholders filled from `args`.
    /// An unknown code gives `invalid_request` with a generic text (so faults can inject anything).
    pub fn new(code: u32, args: &[&str]) -> AadError {
        let (error, status, suberror, template) = CATALOG
            .iter()
            .find(|e| e.0 == code)
            .map(|e| (e.1, e.2, e.3, e.4))
            .unwrap_or(("invalid_request", 400, None, "Injected error."));
        let mut message = template.to_string();
        for i in 0..4 {
            let arg = args.get(i).copied().unwrap_or("…");
            message = message.replace(&format!("{{{i}}}"), arg);
        }
        AadError { code, error: error.into(), message, suberror: suberror.map(Into::into), claims: None, status }
    }

    /// Replaces the OAuth `error` value (the same AADSTS code comes back differently at different endpoints).
    pub fn with_error(mut self, error: &str) -> Self {
        self.error = error.into();
        self
    }

    pub fn with_suberror(mut self, suberror: Option<&str>) -> Self {
        self.suberror = suberror.map(Into::into);
        self
    }

    pub fn with_claims(mut self, claims: &str) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

/// Per-request facts every rendered error carries.
#[derive(Debug, Clone)]
pub struct ErrorCtx {
    pub base_url: String,
    pub now: DateTime<Utc>,
    pub trace_id: String,
    pub correlation_id: String,
}

impl ErrorCtx {
    /// `correlation_id`: the client's `client-request-id` header when it sent one (Microsoft echoes it).
    pub fn new(base_url: &str, now: DateTime<Utc>, client_request_id: Option<String>) -> ErrorCtx {
        ErrorCtx {
            base_url: base_url.into(),
            now,
            trace_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: client_request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        }
    }

    /// Microsoft's timestamp format: `2024-05-01 12:34:56Z`.
    pub fn timestamp(&self) -> String {
        self.now.format("%Y-%m-%d %H:%M:%SZ").to_string()
    }

    pub fn error_uri(&self, code: u32) -> String {
        format!("{}/error?code={code}", self.base_url)
    }

    /// `AADSTSnnnnn: text\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …`
    pub fn description(&self, err: &AadError) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            err.code,
            err.message,
            self.trace_id,
            self.correlation_id,
            self.timestamp()
        )
    }

    /// The JSON body (field order as Microsoft sends it).
    pub fn body(&self, err: &AadError) -> ErrorBody {
        ErrorBody {
            error: err.error.clone(),
            error_description: self.description(err),
            error_codes: vec![err.code],
            timestamp: self.timestamp(),
            trace_id: self.trace_id.clone(),
            correlation_id: self.correlation_id.clone(),
            error_uri: self.error_uri(err.code),
            suberror: err.suberror.clone(),
            claims: err.claims.clone(),
        }
    }

    /// The HTTP response: status 400 (401 for invalid_client), JSON, `Cache-Control: no-store`.
    pub fn response(&self, err: &AadError) -> Response {
        let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(self.body(err))).into_response();
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        if err.status == 401 {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        resp
    }

    /// Parameters of an error redirect: `error`, `error_description`, `error_uri`, then `state` if any.
    pub fn redirect_params(&self, err: &AadError, state: Option<&str>) -> Vec<(String, String)> {
        let mut p = vec![
            ("error".to_string(), err.error.clone()),
            ("error_description".to_string(), self.description(err)),
            ("error_uri".to_string(), self.error_uri(err.code)),
        ];
        if let Some(s) = state {
            p.push(("state".into(), s.into()));
        }
        p
    }
}

/// Microsoft's error JSON.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
    pub error_codes: Vec<u32>,
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
    pub error_uri: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suberror: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub claims: Option<String>,
}

/// Whether `code` is in the catalog.
pub fn is_known(code: u32) -> bool {
    CATALOG.iter().any(|e| e.0 == code)
}
