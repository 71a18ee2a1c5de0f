//! All HTTP of the OAuth client: one reqwest client with redirects disabled, and the adapter
//! through which the `oauth2` crate sends its token requests.
//!
//! The adapter turns 5xx and 429 into [`HttpError::Status`] (transient) before `oauth2` sees the
//! answer — `oauth2` would otherwise report an HTML 503 page as a JSON parse error and lose the
//! status. 4xx answers go through unchanged so Microsoft's error JSON is parsed.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};

use super::error::{MicrosoftError, OAuthError, TransientKind};
use crate::http_body::{BodyError, MAX_TOKEN_BYTES};

/// The client every OAuth request goes through: no redirects, bounded time.
pub fn client() -> Result<reqwest::Client, OAuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("exo-setup/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OAuthError::InvalidConfig(format!("HTTP client: {e}")))
}

/// A failed HTTP exchange, as the `oauth2` crate sees it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("timed out")]
    Timeout,
    #[error("network error: {0}")]
    Network(String),
    #[error("HTTP {status}")]
    Status { status: u16, retry_after: Option<u64>, body: Option<Box<MicrosoftError>> },
    #[error("invalid request: {0}")]
    Request(String),
    #[error("the answer is larger than {} KB", limit / 1024)]
    TooLarge { limit: usize },
}

/// The adapter: a reqwest client as the `oauth2` crate's async HTTP client. A named type (not a
/// closure) so that the request futures are `Send` (a closure's higher-ranked borrow is not).
#[derive(Debug, Clone)]
pub struct Http(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

pub(crate) async fn send(client: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let req = reqwest::Request::try_from(request).map_err(|e| HttpError::Request(e.to_string()))?;
    let resp = client.execute(req).await.map_err(|e| from_reqwest(&e))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut builder = oauth2::http::Response::builder().status(status.as_u16());
    for (name, value) in resp.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let body = read_limited(resp, MAX_TOKEN_BYTES).await?;
    if status.is_server_error() || status.as_u16() == 429 {
        let body = serde_json::from_slice::<MicrosoftError>(&body).ok().filter(|b| !b.error.is_empty()).map(Box::new);
        return Err(HttpError::Status { status: status.as_u16(), retry_after, body });
    }
    builder.body(body).map_err(|e| HttpError::Request(e.to_string()))
}

/// The body, at most `limit` bytes (refused early by `Content-Length`, else chunk by chunk).
pub(crate) async fn read_limited(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    crate::http_body::read_capped(resp, limit).await.map_err(|e| match e {
        BodyError::TooLarge { limit, .. } => HttpError::TooLarge { limit },
        BodyError::Transport(e) => from_reqwest(&e),
    })
}

pub(crate) fn from_reqwest(e: &reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else {
        let mut s = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        HttpError::Network(s)
    }
}

/// Turns a transport failure into the taxonomy (`host`: for the message).
pub(crate) fn to_oauth(e: HttpError, host: &str) -> OAuthError {
    let host = host.to_owned();
    match e {
        HttpError::Timeout => OAuthError::Transient { what: TransientKind::Timeout, host, retry_after: None, ms: None },
        HttpError::Network(_) => {
            OAuthError::Transient { what: TransientKind::Network, host, retry_after: None, ms: None }
        }
        HttpError::Status { status, retry_after, body } => {
            OAuthError::Transient { what: TransientKind::Status(status), host, retry_after, ms: body }
        }
        HttpError::Request(r) => OAuthError::InvalidConfig(r),
        HttpError::TooLarge { limit } => OAuthError::AnswerTooLarge { host, document: "token", limit_kb: limit / 1024 },
    }
}
