//! Fault injection: make an endpoint (optionally only for one user or grant type) answer with any AADSTS error,
//! an HTTP 500/503, a delay, malformed JSON or a dropped connection — the failures a client must survive and
//! that the real service produces only rarely.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Discovery,
    Jwks,
    Authorize,
    Token,
    AdminConsent,
    Logout,
    /// Microsoft Graph (`/v1.0/…`): answers are Graph's error JSON, not AADSTS.
    Graph,
}

/// What happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// A Microsoft error from the catalog (JSON at token/discovery, redirect at authorize/adminconsent).
    /// `error`/`suberror`/`claims` override the catalog's values.
    Aadsts {
        code: u32,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        suberror: Option<String>,
        #[serde(default)]
        claims: Option<String>,
    },
    /// A bare HTTP status (500, 503, …) with Microsoft's generic HTML body.
    Http { status: u16 },
    /// Wait this long, then answer normally (combines with other faults).
    Latency { ms: u64 },
    /// 200 with `application/json` and a truncated body.
    MalformedJson,
    /// Close the connection without a complete response.
    DropConnection,
    /// Graph throttling: 429 `TooManyRequests` or 503 `serviceNotAvailable`, with `Retry-After: retry_after_secs`.
    Throttle { status: u16, retry_after_secs: u64 },
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// None: every endpoint.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// Only requests concerning this user (UPN or alias; at authorize: login_hint / the signing-in user;
    /// at token: the owner of the code or refresh token).
    #[serde(default)]
    pub user: Option<String>,
    /// Only token requests of this grant type (`authorization_code`, `refresh_token`).
    #[serde(default)]
    pub grant_type: Option<String>,
    pub kind: FaultKind,
    /// Only this page of a Graph listing (1 = the request without `$skiptoken`, 2 = the first `nextLink`, …).
    #[serde(default)]
    pub page: Option<u32>,
    /// How many requests it applies to (None: until cleared).
    #[serde(default)]
    pub times: Option<u32>,
}

impl Fault {
    /// A fault for every request to `endpoint`, forever.
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Fault {
        Fault { endpoint: Some(endpoint), user: None, grant_type: None, kind, page: None, times: None }
    }

    /// An AADSTS error at `endpoint`.
    pub fn aadsts(endpoint: Endpoint, code: u32) -> Fault {
        Fault::new(endpoint, FaultKind::Aadsts { code, error: None, suberror: None, claims: None })
    }

    /// Graph throttling (429 or 503) with `Retry-After` seconds.
    pub fn graph_throttle(status: u16, retry_after_secs: u64) -> Fault {
        Fault::new(Endpoint::Graph, FaultKind::Throttle { status, retry_after_secs })
    }

    /// Only page `n` (1-based) of a Graph listing.
    pub fn on_page(mut self, n: u32) -> Fault {
        self.page = Some(n);
        self
    }

    pub fn for_user(mut self, user: &str) -> Fault {
        self.user = Some(user.into());
        self
    }

    pub fn for_grant_type(mut self, grant_type: &str) -> Fault {
        self.grant_type = Some(grant_type.into());
        self
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }
}

/// What a request tells the fault matcher about itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe<'a> {
    pub user: Option<&'a str>,
    pub grant_type: Option<&'a str>,
    /// Page number of a Graph listing.
    pub page: Option<u32>,
}

/// Takes the faults matching a request (decrementing their counters, dropping exhausted ones).
pub fn take(
    faults: &mut Vec<Fault>,
    endpoint: Endpoint,
    probe: Probe<'_>,
    same_user: impl Fn(&str, &str) -> bool,
) -> Vec<FaultKind> {
    let mut hits = vec![];
    for f in faults.iter_mut() {
        if f.endpoint.is_some_and(|e| e != endpoint) {
            continue;
        }
        if let Some(u) = &f.user {
            match probe.user {
                Some(p) if same_user(u, p) => {}
                _ => continue,
            }
        }
        if let Some(g) = &f.grant_type {
            if probe.grant_type != Some(g.as_str()) {
                continue;
            }
        }
        if f.page.is_some() && f.page != probe.page {
            continue;
        }
        if f.times == Some(0) {
            continue;
        }
        if let Some(t) = f.times.as_mut() {
            *t -= 1;
        }
        hits.push(f.kind.clone());
    }
    faults.retain(|f| f.times != Some(0));
    hits
}

/// Latency to apply before answering.
pub fn latency(hits: &[FaultKind]) -> Option<std::time::Duration> {
    let ms: u64 = hits.iter().map(|k| if let FaultKind::Latency { ms } = k { *ms } else { 0 }).sum();
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

/// The first fault that replaces the answer (anything but latency).
pub fn decisive(hits: &[FaultKind]) -> Option<&FaultKind> {
    hits.iter().find(|k| !matches!(k, FaultKind::Latency { .. }))
}

/// Responses for the transport-level faults (HTTP status, malformed JSON, dropped connection).
pub fn transport_response(kind: &FaultKind) -> Option<Response> {
    match kind {
        FaultKind::Http { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!(
                "<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>{}</h1>\
                 <p>Sorry, but we're having trouble signing you in. Please try again later.</p></body></html>",
                status.as_u16()
            );
            let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                r.headers_mut().insert(header::RETRY_AFTER, "5".parse().expect("static header"));
            }
            Some(r)
        }
        FaultKind::MalformedJson => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"token_type":"Bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All","expires_in":43"#,
            )
                .into_response(),
        ),
        FaultKind::DropConnection => {
            // A body stream that fails at once: hyper aborts the connection without a complete response.
            let stream = futures_util::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected: connection dropped"))
            });
            Some(Response::new(Body::from_stream(stream)))
        }
        _ => None,
    }
}
