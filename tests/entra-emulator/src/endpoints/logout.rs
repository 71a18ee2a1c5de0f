//! `/{tenant}/oauth2/v2.0/logout`: ends the browser session (the `ESTSAUTH` cookie) and, when
//! `post_logout_redirect_uri` is a registered redirect URI of some app, returns there (with `state`).

use super::{apply_faults, cookie, found, AppState, SESSION_COOKIE};
use crate::directory;
use crate::faults::{transport_response, Endpoint, Probe};
use crate::pages;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use std::collections::HashMap;

pub async fn logout(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) =
        apply_faults(&state, Endpoint::Logout, Probe::default()).await.as_ref().and_then(transport_response)
    {
        return r;
    }
    let target = {
        let mut w = state.lock();
        if let Some(sid) = cookie(&headers, SESSION_COOKIE) {
            w.sessions.remove(&sid);
        }
        q.get("post_logout_redirect_uri")
            .filter(|uri| {
                w.config.tenants.iter().flat_map(|t| t.apps.iter()).any(|a| directory::match_redirect(a, uri).is_some())
            })
            .cloned()
    };
    let mut resp = match target {
        Some(uri) => {
            let loc = match q.get("state") {
                Some(s) => {
                    let enc: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
                    format!("{uri}{}state={enc}", if uri.contains('?') { '&' } else { '?' })
                }
                None => uri,
            };
            found(&loc)
        }
        None => pages::signed_out(),
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, HeaderValue::from_static("ESTSAUTH=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
    resp
}
