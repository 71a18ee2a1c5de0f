//! The control API under `/_emulator/` (not a Microsoft endpoint): fault injection, the test clock, "password
//! change" revocation, MFA / Conditional Access toggles, settings, and a JSON snapshot of everything issued.
//! The library handle ([`crate::Emulator`]) calls the same functions, so HTTP and in-process control agree.

use super::AppState;
use crate::config::AutoConsent;
use crate::directory;
use crate::faults::Fault;
use crate::state::{CodeRecord, Grant, IssuedToken, RefreshRecord, Shared};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything the emulator has issued and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub clock_offset_secs: i64,
    pub auto_approve: bool,
    pub codes: Vec<CodeRecord>,
    pub refresh_tokens: Vec<RefreshRecord>,
    pub grants: Vec<Grant>,
    pub access_tokens: Vec<IssuedToken>,
    pub faults: Vec<Fault>,
    pub sessions: usize,
}

pub fn snapshot(s: &Shared) -> Snapshot {
    let w = s.lock();
    let mut codes: Vec<_> = w.codes.values().cloned().collect();
    codes.sort_by_key(|c| c.issued_at);
    let mut refresh: Vec<_> = w.refresh.values().cloned().collect();
    refresh.sort_by_key(|r| r.issued_at);
    Snapshot {
        now: w.now(),
        clock_offset_secs: w.clock.offset_secs(),
        auto_approve: w.settings.auto_approve,
        codes,
        refresh_tokens: refresh,
        grants: w.grants.clone(),
        access_tokens: w.issued.clone(),
        faults: w.faults.clone(),
        sessions: w.sessions.len(),
    }
}

/// "Password change": refresh tokens and sessions from before now stop working (AADSTS50173).
pub fn revoke_user(s: &Shared, user: &str) -> Result<(), String> {
    let mut w = s.lock();
    let upn = w.upn_of(user).ok_or_else(|| format!("no such user: {user}"))?;
    // One second later than now, so tokens issued in this very second are revoked too.
    let at = w.now() + chrono::Duration::seconds(1);
    w.users.entry(upn).or_default().tokens_valid_from = Some(at);
    Ok(())
}

/// Turns the MFA requirement on or off. Turning it on invalidates the MFA claim of existing refresh tokens and
/// sessions, so the next refresh fails with AADSTS50076 (suberror basic_action, with claims).
pub fn set_mfa(s: &Shared, user: &str, required: bool) -> Result<(), String> {
    let mut w = s.lock();
    let upn = w.upn_of(user).ok_or_else(|| format!("no such user: {user}"))?;
    directory::find_user_mut(&mut w.config, &upn).ok_or("no such user")?.mfa_required = required;
    if required {
        w.refresh.values_mut().filter(|r| r.upn.eq_ignore_ascii_case(&upn)).for_each(|r| r.mfa_done = false);
        w.sessions.values_mut().filter(|r| r.upn.eq_ignore_ascii_case(&upn)).for_each(|r| r.mfa_done = false);
    }
    Ok(())
}

/// Conditional Access block on or off (AADSTS53003).
pub fn set_blocked(s: &Shared, user: &str, blocked: bool) -> Result<(), String> {
    let mut w = s.lock();
    let upn = w.upn_of(user).ok_or_else(|| format!("no such user: {user}"))?;
    directory::find_user_mut(&mut w.config, &upn).ok_or("no such user")?.blocked_by_policy = blocked;
    Ok(())
}

/// Settings that can change at run time (absent fields stay).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SettingsPatch {
    #[serde(default)]
    pub auto_approve: Option<bool>,
    #[serde(default)]
    pub auto_consent: Option<AutoConsent>,
    #[serde(default)]
    pub default_user: Option<String>,
    #[serde(default)]
    pub refresh_grace_secs: Option<i64>,
}

pub fn patch_settings(s: &Shared, p: SettingsPatch) {
    let mut w = s.lock();
    if let Some(v) = p.auto_approve {
        w.settings.auto_approve = v;
    }
    if let Some(v) = p.auto_consent {
        w.settings.auto_consent = v;
    }
    if let Some(v) = p.default_user {
        w.settings.default_user = Some(v);
    }
    if let Some(v) = p.refresh_grace_secs {
        w.settings.refresh_grace_secs = v;
    }
}

#[derive(Deserialize)]
struct Seconds {
    seconds: u64,
}

#[derive(Deserialize)]
struct Flag {
    #[serde(alias = "required", alias = "blocked")]
    value: bool,
}

#[derive(Deserialize)]
struct GrantReq {
    tenant_id: String,
    client_id: String,
    scopes: Vec<String>,
}

fn result(r: Result<(), String>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/state", get(|State(s): State<AppState>| async move { Json(snapshot(&s)) }))
        .route(
            "/public-key.pem",
            get(|State(s): State<AppState>| async move {
                ([(header::CONTENT_TYPE, "application/x-pem-file")], s.keys.public_pem.clone())
            }),
        )
        .route(
            "/faults",
            post(|State(s): State<AppState>, Json(f): Json<Fault>| async move {
                s.lock().faults.push(f);
                StatusCode::NO_CONTENT
            })
            .delete(|State(s): State<AppState>| async move {
                s.lock().faults.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/clock/advance",
            post(|State(s): State<AppState>, Json(b): Json<Seconds>| async move {
                s.lock().clock.advance(std::time::Duration::from_secs(b.seconds));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/users/{user}/revoke",
            post(|State(s): State<AppState>, Path(u): Path<String>| async move { result(revoke_user(&s, &u)) }),
        )
        .route(
            "/users/{user}/mfa",
            post(|State(s): State<AppState>, Path(u): Path<String>, Json(f): Json<Flag>| async move {
                result(set_mfa(&s, &u, f.value))
            }),
        )
        .route(
            "/users/{user}/blocked",
            post(|State(s): State<AppState>, Path(u): Path<String>, Json(f): Json<Flag>| async move {
                result(set_blocked(&s, &u, f.value))
            }),
        )
        .route(
            "/settings",
            post(|State(s): State<AppState>, Json(p): Json<SettingsPatch>| async move {
                patch_settings(&s, p);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/grants",
            post(|State(s): State<AppState>, Json(g): Json<GrantReq>| async move {
                s.lock().record_grant(&g.tenant_id, &g.client_id, None, &g.scopes, "control-api");
                StatusCode::NO_CONTENT
            })
            .delete(|State(s): State<AppState>| async move {
                s.lock().grants.clear();
                StatusCode::NO_CONTENT
            }),
        )
}
