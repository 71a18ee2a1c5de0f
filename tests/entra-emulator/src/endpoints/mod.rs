//! HTTP endpoints at Microsoft's paths, one module per endpoint, plus the helpers they share: error context,
//! fault application, redirects in the three response modes, and the session cookie.

pub mod adminconsent;
pub mod authorize;
pub mod control;
pub mod discovery;
pub mod logout;
pub mod token;

use crate::errors::{AadError, ErrorCtx};
use crate::faults::{self, Endpoint, FaultKind, Probe};
use crate::pages;
use crate::state::Shared;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub type AppState = Arc<Shared>;

/// Name of the browser-session cookie (Microsoft's is also called ESTSAUTH).
pub const SESSION_COOKIE: &str = "ESTSAUTH";

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/{tenant}/login", post(authorize::login_form))
        .route("/{tenant}/consent", post(authorize::consent_form))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/v2.0/adminconsent", get(adminconsent::adminconsent))
        .route("/{tenant}/oauth2/v2.0/logout", get(logout::logout).post(logout::logout))
        .route("/error", get(error_lookup))
        .nest("/_emulator", control::router().merge(crate::graph::edits::routes()))
        .merge(crate::graph::routes())
        .with_state(state)
}

async fn error_lookup(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    pages::error_code(q.get("code").map(String::as_str).unwrap_or(""))
}

/// Error context for this request (echoes `client-request-id` as the correlation ID).
pub fn ctx(shared: &Shared, headers: &HeaderMap) -> ErrorCtx {
    let now = shared.lock().now();
    let crid = headers.get("client-request-id").and_then(|v| v.to_str().ok()).map(String::from);
    ErrorCtx::new(&shared.base_url, now, crid)
}

/// Takes matching faults, sleeps for injected latency, and returns the fault that replaces the answer, if any.
pub async fn apply_faults(shared: &Shared, endpoint: Endpoint, probe: Probe<'_>) -> Option<FaultKind> {
    let hits = {
        let mut w = shared.lock();
        let mut list = std::mem::take(&mut w.faults);
        let hits = faults::take(&mut list, endpoint, probe, |a, b| w.same_user(a, b));
        w.faults = list;
        hits
    };
    if let Some(d) = faults::latency(&hits) {
        tokio::time::sleep(d).await;
    }
    faults::decisive(&hits).cloned()
}

/// The AADSTS error a fault injects, if it is one.
pub fn fault_error(kind: &FaultKind) -> Option<AadError> {
    match kind {
        FaultKind::Aadsts { code, error, suberror, claims } => {
            let mut e = AadError::new(*code, &[]);
            if let Some(x) = error {
                e = e.with_error(x);
            }
            if suberror.is_some() {
                e = e.with_suberror(suberror.as_deref());
            }
            if let Some(c) = claims {
                e = e.with_claims(c);
            }
            Some(e)
        }
        _ => None,
    }
}

/// Appends parameters to a redirect URI (query or fragment) or renders a form_post page.
pub fn redirect(uri: &str, params: &[(String, String)], mode: &str) -> Response {
    if mode == "form_post" {
        return pages::form_post(uri, params);
    }
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let location = if mode == "fragment" {
        format!("{uri}#{encoded}")
    } else if uri.contains('?') {
        format!("{uri}&{encoded}")
    } else {
        format!("{uri}?{encoded}")
    };
    found(&location)
}

/// A 302 to `location`.
pub fn found(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    r
}

/// Error redirect params with an optional `error_subcode` (e.g. `cancel`).
pub fn error_params(
    ctx: &ErrorCtx,
    err: &AadError,
    state: Option<&str>,
    subcode: Option<&str>,
) -> Vec<(String, String)> {
    let mut p = ctx.redirect_params(err, None);
    if let Some(s) = subcode {
        p.push(("error_subcode".into(), s.into()));
    }
    if let Some(s) = state {
        p.push(("state".into(), s.into()));
    }
    p
}

/// Reads a cookie value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Parses an `application/x-www-form-urlencoded` body into pairs (first occurrence wins on look-up).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub fn form_get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}
