//! Fetching a tenant's OpenID discovery document, the check step 1 runs before it saves.
//!
//! Why here and not in the OAuth client: step 1 must tell the admin *what* is wrong before
//! anything is saved — an unknown tenant (HTTP 400 with AADSTS90002), a host that does not
//! answer, a TLS failure, or a URL that does not serve a discovery document — and each of those
//! needs a different fix by a different person. Redirects are not followed: a discovery URL that
//! redirects is not Microsoft's.

use crate::DetailKey;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Actor, ErrorKind, UiError};
use crate::http_body::{self, BodyError};

/// The fields of a discovery document exo-setup relies on.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9207: the provider puts `iss` in every authorization response, so a callback
    /// without it is refused. Microsoft does not advertise it (absent = false).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl Discovery {
    /// The tenant GUID in a v2.0 issuer `https://host/<tenant-id>/v2.0`.
    pub fn tenant_id(&self) -> Option<String> {
        let url = url::Url::parse(&self.issuer).ok()?;
        let mut segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        if segs.last() == Some(&"v2.0") {
            segs.pop();
        }
        let id = uuid::Uuid::try_parse(segs.last()?).ok()?;
        Some(id.hyphenated().to_string())
    }
}

/// Microsoft's error body (token endpoint, discovery), parsed for its AADSTS code and support IDs.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct MicrosoftErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u64>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// Why a discovery document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("tenant '{tenant}' was not found by {host} (AADSTS90002). Check the tenant ID or domain, and that the authority is the cloud your organization is in.")]
    TenantNotFound { tenant: String, host: String, body: MicrosoftErrorBody },
    #[error("tenant '{tenant}' is not a valid tenant identifier for {host} (AADSTS{code}).")]
    TenantInvalid { tenant: String, host: String, code: u64 },
    #[error("the identity platform answered with an error: {}", .body.error_description.lines().next().unwrap_or(&.body.error))]
    Identity { body: MicrosoftErrorBody },
    #[error("the host name {host} could not be resolved (DNS). Check the authority and this computer's network.")]
    Dns { host: String },
    #[error("{host} could not be reached. Check the authority and this computer's network or proxy.")]
    Unreachable { host: String },
    #[error(
        "a secure (TLS) connection to {host} failed: {reason}. A proxy or security software may be intercepting HTTPS."
    )]
    Tls { host: String, reason: String },
    #[error("{host} did not answer in time.")]
    Timeout { host: String },
    #[error("{url} answered HTTP {status}.")]
    HttpStatus { url: String, status: u16 },
    #[error("{url} did not return an OpenID discovery document: {reason}.")]
    NotDiscovery { url: String, reason: String },
    #[error("{}", answer_too_large_message(.host, .limit_kb))]
    AnswerTooLarge { host: String, limit_kb: usize },
}

/// The message of an answer over its cap ([`crate::http_body`]), shared with the OAuth client.
pub(crate) fn answer_too_large_message(host: &str, limit_kb: &usize) -> String {
    format!(
        "{host} sent an answer larger than {limit_kb} KB, far more than Microsoft's identity platform ever sends, so \
         exo-setup stopped reading it. Check that the authority in step 1 is your organization's Microsoft cloud and \
         that no proxy or security software replaces HTTPS answers, then try again. Nothing was saved."
    )
}

impl DiscoveryError {
    /// The kind this failure is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DiscoveryError::TenantNotFound { .. } => ErrorKind::TenantNotFound,
            DiscoveryError::TenantInvalid { .. } => ErrorKind::TenantInvalid,
            DiscoveryError::Identity { .. } => ErrorKind::IdentityError,
            DiscoveryError::Dns { .. } => ErrorKind::DnsFailure,
            DiscoveryError::Unreachable { .. } => ErrorKind::HostUnreachable,
            DiscoveryError::Tls { .. } => ErrorKind::TlsFailure,
            DiscoveryError::Timeout { .. } => ErrorKind::Timeout,
            DiscoveryError::HttpStatus { .. } => ErrorKind::HttpStatus,
            DiscoveryError::NotDiscovery { .. } => ErrorKind::NotDiscovery,
            DiscoveryError::AnswerTooLarge { .. } => ErrorKind::IdentityAnswerTooLarge,
        }
    }
}

impl From<DiscoveryError> for UiError {
    fn from(e: DiscoveryError) -> Self {
        let msg = e.to_string();
        let kind = e.kind();
        match e {
            DiscoveryError::TenantNotFound { tenant, host, body } => with_support_ids(
                UiError::new(kind, Actor::Admin, msg)
                    .with(DetailKey::Tenant, tenant)
                    .with(DetailKey::Host, host)
                    .with(DetailKey::Code, 90002),
                &body,
            ),
            DiscoveryError::TenantInvalid { tenant, host, code } => UiError::new(kind, Actor::Admin, msg)
                .with(DetailKey::Tenant, tenant)
                .with(DetailKey::Host, host)
                .with(DetailKey::Code, code),
            DiscoveryError::Identity { body } => with_support_ids(
                UiError::new(kind, Actor::Admin, msg)
                    .with(DetailKey::Code, body.error_codes.first().map(|c| c.to_string()).unwrap_or_default())
                    .with(DetailKey::Description, body.error_description.lines().next().unwrap_or("").to_owned()),
                &body,
            ),
            DiscoveryError::Dns { host } => UiError::new(kind, Actor::Admin, msg).with(DetailKey::Host, host),
            DiscoveryError::Unreachable { host } => UiError::new(kind, Actor::Admin, msg).with(DetailKey::Host, host),
            DiscoveryError::Tls { host, reason } => {
                UiError::new(kind, Actor::Admin, msg).with(DetailKey::Host, host).with(DetailKey::Reason, reason)
            }
            DiscoveryError::Timeout { host } => UiError::new(kind, Actor::Support, msg).with(DetailKey::Host, host),
            DiscoveryError::HttpStatus { url, status } => {
                UiError::new(kind, Actor::Admin, msg).with(DetailKey::Url, url).with(DetailKey::Status, status)
            }
            DiscoveryError::NotDiscovery { url, reason } => {
                UiError::new(kind, Actor::Admin, msg).with(DetailKey::Url, url).with(DetailKey::Reason, reason)
            }
            DiscoveryError::AnswerTooLarge { host, limit_kb } => UiError::new(kind, Actor::Admin, msg)
                .with(DetailKey::Host, host)
                .with(DetailKey::Limit, limit_kb)
                .with(DetailKey::Document, "discovery"),
        }
    }
}

fn with_support_ids(mut e: UiError, body: &MicrosoftErrorBody) -> UiError {
    if let Some(t) = &body.trace_id {
        e = e.with(DetailKey::TraceId, t);
    }
    if let Some(c) = &body.correlation_id {
        e = e.with(DetailKey::CorrelationId, c);
    }
    e
}

/// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`
pub fn discovery_url(authority: &str, tenant: &str) -> String {
    format!("{}/{}/v2.0/.well-known/openid-configuration", authority.trim_end_matches('/'), tenant)
}

/// Fetches and checks the discovery document of `tenant` at `authority`.
pub async fn fetch(authority: &str, tenant: &str) -> Result<Discovery, DiscoveryError> {
    let url = discovery_url(authority, tenant);
    let host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(8))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("exo-setup/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DiscoveryError::Tls { host: host.clone(), reason: e.to_string() })?;
    let resp = client.get(&url).header("Accept", "application/json").send().await.map_err(|e| classify(&host, &e))?;
    let status = resp.status();
    let bytes = match http_body::read_capped(resp, http_body::MAX_DISCOVERY_BYTES).await {
        Ok(b) => b,
        Err(BodyError::Transport(e)) => return Err(classify(&host, &e)),
        Err(BodyError::TooLarge { limit, .. }) => {
            return Err(DiscoveryError::AnswerTooLarge { host, limit_kb: limit / 1024 })
        }
    };
    if !status.is_success() {
        if let Ok(body) = serde_json::from_slice::<MicrosoftErrorBody>(&bytes) {
            if body.error_codes.contains(&90002) {
                return Err(DiscoveryError::TenantNotFound { tenant: tenant.to_owned(), host, body });
            }
            if let Some(code) = body.error_codes.iter().copied().find(|c| *c == 900023 || *c == 90013) {
                return Err(DiscoveryError::TenantInvalid { tenant: tenant.to_owned(), host, code });
            }
            if !body.error.is_empty() {
                return Err(DiscoveryError::Identity { body });
            }
        }
        return Err(DiscoveryError::HttpStatus { url, status: status.as_u16() });
    }
    let doc: Discovery = serde_json::from_slice(&bytes).map_err(|e| DiscoveryError::NotDiscovery {
        url: url.clone(),
        reason: format!("not the expected JSON ({e})"),
    })?;
    for (name, value) in [
        ("authorization_endpoint", &doc.authorization_endpoint),
        ("token_endpoint", &doc.token_endpoint),
        ("jwks_uri", &doc.jwks_uri),
    ] {
        if url::Url::parse(value).is_err() {
            return Err(DiscoveryError::NotDiscovery { url, reason: format!("{name} is not a URL") });
        }
    }
    if doc.tenant_id().is_none() {
        return Err(DiscoveryError::NotDiscovery {
            url,
            reason: format!("the issuer '{}' does not name one tenant", doc.issuer),
        });
    }
    Ok(doc)
}

fn classify(host: &str, e: &reqwest::Error) -> DiscoveryError {
    let host = host.to_owned();
    if e.is_timeout() {
        return DiscoveryError::Timeout { host };
    }
    let chain = error_chain(e);
    let lower = chain.to_ascii_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup") || lower.contains("name or service not known")
    {
        return DiscoveryError::Dns { host };
    }
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("invalidcontenttype")
    {
        return DiscoveryError::Tls { host, reason: chain };
    }
    if e.is_connect() || e.is_request() {
        return DiscoveryError::Unreachable { host };
    }
    DiscoveryError::NotDiscovery { url: e.url().map(|u| u.to_string()).unwrap_or_default(), reason: chain }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_from_issuer() {
        let d = |iss: &str| Discovery {
            issuer: iss.into(),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            end_session_endpoint: None,
            device_authorization_endpoint: None,
            authorization_response_iss_parameter_supported: false,
        };
        assert_eq!(
            d("https://login.microsoftonline.com/AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee/v2.0").tenant_id().as_deref(),
            Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        );
        assert_eq!(d("https://login.microsoftonline.com/{tenantid}/v2.0").tenant_id(), None);
        assert_eq!(d("not a url").tenant_id(), None);
    }

    #[test]
    fn url_shape() {
        assert_eq!(
            discovery_url("https://login.microsoftonline.com/", "contoso.example"),
            "https://login.microsoftonline.com/contoso.example/v2.0/.well-known/openid-configuration"
        );
    }

    #[tokio::test]
    async fn an_endless_discovery_answer_is_refused_in_bounded_time_and_memory() {
        use crate::http_body::tests::{server, ENDLESS};
        use std::sync::atomic::Ordering;
        let (url, written) = server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", ENDLESS).await;
        let started = std::time::Instant::now();
        let e = fetch(&url, "contoso.example").await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(matches!(&e, DiscoveryError::AnswerTooLarge { host, limit_kb: 256 } if host == "127.0.0.1"), "{e:?}");
        let ui = UiError::from(e);
        assert_eq!((ui.kind, ui.actor), (ErrorKind::IdentityAnswerTooLarge, Actor::Admin));
        assert_eq!(ui.detail[&DetailKey::Limit], "256");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = written.load(Ordering::Relaxed);
        assert!(sent < 16 * 1024 * 1024, "the server wrote {sent} bytes");
    }

    #[tokio::test]
    async fn a_discovery_answer_declaring_a_huge_length_is_refused_before_reading() {
        use crate::http_body::tests::server;
        let (url, _) = server("HTTP/1.1 400 Bad Request\r\nContent-Length: 5000000000\r\n\r\n", 0).await;
        let e = fetch(&url, "contoso.example").await.unwrap_err();
        assert!(matches!(e, DiscoveryError::AnswerTooLarge { .. }), "{e:?}");
    }
}
