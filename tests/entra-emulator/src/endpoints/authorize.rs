//! `/{tenant}/oauth2/v2.0/authorize` and the two forms behind its pages (`/{tenant}/login`, `/{tenant}/consent`).
//!
//! Validation happens in Microsoft's order: tenant, client and redirect URI failures show Microsoft's own error page
//! (the app never hears back: 90002, 700016, 50011), everything after that comes back as an error redirect.
//! Sign-in is password-less; `--auto-approve` answers the pages at once for the `login_hint` user. A successful
//! sign-in sets the `ESTSAUTH` session cookie that `prompt=none` needs.

use super::{
    apply_faults, cookie, ctx, error_params, fault_error, form_get, parse_form, redirect, AppState, SESSION_COOKIE,
};
use crate::config::{AutoConsent, ConsentPolicy};
use crate::directory::{self, Authority};
use crate::errors::{AadError, ErrorCtx};
use crate::faults::{transport_response, Endpoint, Probe};
use crate::pages;
use crate::state::{CodeRecord, Flow, FlowKind, Session, World};
use crate::tokens;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use std::collections::HashMap;

/// What to do after the user is known.
pub enum Decision {
    Issue,
    Error(AadError, Option<&'static str>),
    AskConsent,
    NeedAdminApproval,
}

pub async fn authorize(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let fault =
        apply_faults(&state, Endpoint::Authorize, Probe { user: get("login_hint"), grant_type: None, page: None })
            .await;
    if let Some(r) = fault.as_ref().and_then(transport_response) {
        return r;
    }
    let c = ctx(&state, &headers);
    let app = {
        let w = state.lock();
        let authority = match directory::resolve(&w.config, &tenant) {
            Ok(a) => a,
            Err(e) => return pages::error_page(&e, &c),
        };
        let Some(client_id) = get("client_id") else {
            return pages::error_page(&AadError::new(900144, &["client_id"]), &c);
        };
        let app = directory::find_app(&w.config, client_id).cloned();
        let visible = match (&app, &authority) {
            (None, _) | (_, Authority::Consumers) => false,
            (Some(a), Authority::Tenant(t)) => directory::app_in_tenant(a, t),
            _ => true,
        };
        match app {
            Some(app) if visible => app,
            _ => return pages::error_page(&AadError::new(700016, &[client_id, &tenant]), &c),
        }
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return pages::error_page(&AadError::new(900144, &["redirect_uri"]), &c);
    };
    let Some(platform) = directory::match_redirect(&app, redirect_uri) else {
        return pages::error_page(&AadError::new(50011, &[redirect_uri, &app.client_id]), &c);
    };
    let st = get("state");
    let mode = get("response_mode").filter(|m| *m == "fragment" || *m == "form_post").unwrap_or("query");
    let fail = |err: AadError| redirect(redirect_uri, &error_params(&c, &err, st, None), mode);
    if let Some(e) = fault.as_ref().and_then(fault_error) {
        if matches!(e.code, 50011 | 700016 | 90002 | 900023) {
            return pages::error_page(&e, &c);
        }
        return fail(e);
    }
    match get("response_type") {
        None => return fail(AadError::new(900144, &["response_type"])),
        Some("code") => {}
        Some(other) => return fail(AadError::new(700051, &[other])),
    }
    let Some(raw_scope) = get("scope") else {
        return fail(AadError::new(900144, &["scope"]));
    };
    let scopes = match directory::parse_scopes(raw_scope, &app.client_id, &tenant) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if !app.multi_tenant && matches!(tenant.to_ascii_lowercase().as_str(), "common" | "organizations") {
        let name = if app.display_name.is_empty() { app.client_id.clone() } else { app.display_name.clone() };
        return fail(AadError::new(50194, &[&app.client_id, &name]));
    }
    let challenge = get("code_challenge").map(String::from);
    let method = get("code_challenge_method").map(String::from);
    if let Some(ch) = &challenge {
        match method.as_deref() {
            None | Some("plain") if (43..=128).contains(&ch.len()) => {}
            Some("S256") if ch.len() == 43 => {}
            None | Some("plain") | Some("S256") => return fail(AadError::new(501491, &[])),
            Some(_) => {
                let mut e = AadError::new(501491, &[]);
                e.message = "Invalid value for code_challenge_method. Supported values are 'plain' and 'S256'.".into();
                return fail(e);
            }
        }
    }
    let prompt = get("prompt").unwrap_or("");
    let mut all_scopes: Vec<String> = scopes.oidc.clone();
    for r in scopes.resources() {
        all_scopes.extend(scopes.full_for(&r));
    }
    let flow = Flow {
        kind: FlowKind::Authorize,
        tenant_segment: tenant.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.into(),
        platform,
        state: st.map(String::from),
        scopes: all_scopes,
        login_hint: get("login_hint").map(String::from),
        upn: None,
        code_challenge: challenge,
        code_challenge_method: method,
        nonce: get("nonce").map(String::from),
        response_mode: mode.into(),
        force_consent: prompt == "consent",
    };
    let flow_id = uuid::Uuid::new_v4().to_string();
    let session = current_session(&state, &headers);
    let auto = state.lock().settings.auto_approve;
    state.lock().flows.insert(flow_id.clone(), flow.clone());

    if prompt == "none" {
        let Some((sid, s)) = session else {
            return finish_error(&state, &c, &flow_id, AadError::new(50058, &[]), None);
        };
        if flow.login_hint.as_deref().is_some_and(|h| !state.lock().same_user(h, &s.upn)) {
            return finish_error(&state, &c, &flow_id, AadError::new(50058, &[]), None);
        }
        return continue_signed_in(&state, &c, &flow_id, &s.upn, Some(sid), true, s.mfa_done);
    }
    if auto {
        let who = flow.login_hint.clone().or_else(|| state.lock().settings.default_user.clone());
        let Some(who) = who else {
            let mut e = AadError::new(50058, &[]);
            e.message = "auto-approve: no login_hint and no default user configured.".into();
            return finish_error(&state, &c, &flow_id, e, None);
        };
        let Some(upn) = state.lock().upn_of(&who) else {
            return pages::error_page(&AadError::new(50034, &[&who, &tenant]), &c);
        };
        return continue_signed_in(&state, &c, &flow_id, &upn, None, false, true);
    }
    if let Some((sid, s)) = session {
        let hint_ok = flow.login_hint.as_deref().is_none_or(|h| state.lock().same_user(h, &s.upn));
        if hint_ok && prompt != "login" && prompt != "select_account" {
            return continue_signed_in(&state, &c, &flow_id, &s.upn, Some(sid), false, s.mfa_done);
        }
    }
    signin_page(&state, &flow_id, None)
}

/// The sign-in page for a parked flow.
pub fn signin_page(state: &AppState, flow_id: &str, error: Option<&str>) -> Response {
    let w = state.lock();
    let Some(flow) = w.flows.get(flow_id) else {
        return pages::signed_out();
    };
    let app_name = directory::find_app(&w.config, &flow.client_id).map(|a| a.display_name.clone()).unwrap_or_default();
    let accounts: Vec<(String, String)> = match directory::resolve(&w.config, &flow.tenant_segment) {
        Ok(Authority::Tenant(t)) => directory::tenant(&w.config, &t)
            .map(|t| t.users.iter().map(|u| (u.upn.clone(), u.display_name.clone())).collect())
            .unwrap_or_default(),
        _ => w
            .config
            .tenants
            .iter()
            .flat_map(|t| t.users.iter())
            .map(|u| (u.upn.clone(), u.display_name.clone()))
            .collect(),
    };
    pages::signin(&flow.tenant_segment, flow_id, &app_name, flow.login_hint.as_deref().unwrap_or(""), &accounts, error)
}

/// The valid session named by the request's cookie, if any.
fn current_session(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let sid = cookie(headers, SESSION_COOKIE)?;
    let w = state.lock();
    let s = w.sessions.get(&sid)?.clone();
    let revoked = w.tokens_valid_from(&s.upn).is_some_and(|t| t > s.created);
    (!revoked && w.upn_of(&s.upn).is_some()).then_some((sid, s))
}

/// Decides what happens once the user of a flow is known.
pub fn decide(w: &World, flow: &Flow, upn: &str, silent: bool, mfa_done: bool) -> Decision {
    let Some((user_tid, user)) = directory::find_user(&w.config, upn) else {
        return Decision::Error(AadError::new(50034, &[upn, &flow.tenant_segment]), None);
    };
    let Some(app) = directory::find_app(&w.config, &flow.client_id) else {
        return Decision::Error(AadError::new(700016, &[&flow.client_id, &flow.tenant_segment]), None);
    };
    let authority = directory::resolve(&w.config, &flow.tenant_segment);
    let foreign = match &authority {
        Ok(Authority::Tenant(t)) => !t.eq_ignore_ascii_case(user_tid),
        _ => !directory::app_in_tenant(app, user_tid),
    };
    if foreign {
        let idp = format!("https://sts.windows.net/{user_tid}/");
        return Decision::Error(
            AadError::new(50020, &[&user.upn, &idp, &flow.tenant_segment, &app.display_name]),
            None,
        );
    }
    if user.blocked_by_policy {
        return Decision::Error(AadError::new(53003, &[]).with_error("access_denied"), None);
    }
    let missing = w.missing_consent(user_tid, app, &user.upn, &flow.scopes);
    if !missing.is_empty() || flow.force_consent {
        if silent {
            return Decision::Error(
                AadError::new(65001, &[&app.client_id, &app.display_name]).with_error("consent_required"),
                None,
            );
        }
        let policy = directory::tenant(&w.config, user_tid).map(|t| t.user_consent);
        let needs_admin = missing.iter().any(|s| directory::admin_consent_required(s));
        if (policy == Some(ConsentPolicy::AdminOnly) || needs_admin) && !user.admin {
            if !missing.is_empty() {
                return Decision::NeedAdminApproval;
            }
        } else {
            return Decision::AskConsent;
        }
    }
    if silent && user.mfa_required && !mfa_done {
        let e = AadError::new(50076, &[&app.client_id]).with_error("interaction_required");
        return Decision::Error(e, None);
    }
    Decision::Issue
}

/// Carries a flow on once the user is signed in (`sid`: existing session, None: a fresh sign-in).
pub fn continue_signed_in(
    state: &AppState,
    c: &ErrorCtx,
    flow_id: &str,
    upn: &str,
    sid: Option<String>,
    silent: bool,
    mfa_done: bool,
) -> Response {
    let (decision, auto, auto_consent) = {
        let mut w = state.lock();
        let Some(flow) = w.flows.get_mut(flow_id) else {
            return pages::signed_out();
        };
        flow.upn = Some(upn.to_string());
        let flow = flow.clone();
        (decide(&w, &flow, upn, silent, mfa_done), w.settings.auto_approve, w.settings.auto_consent)
    };
    let new_session = sid.is_none();
    let resp = match decision {
        Decision::Issue => issue_code(state, flow_id),
        Decision::Error(e, sub) => finish_error(state, c, flow_id, e, sub),
        Decision::NeedAdminApproval => {
            let e = AadError::new(65004, &[]);
            if auto {
                finish_error(state, c, flow_id, e, Some("cancel"))
            } else {
                let w = state.lock();
                let Some(flow) = w.flows.get(flow_id) else {
                    return pages::signed_out();
                };
                let url =
                    redirect_location(&flow.redirect_uri, &error_params(c, &e, flow.state.as_deref(), Some("cancel")));
                let app_name =
                    directory::find_app(&w.config, &flow.client_id).map(|a| a.display_name.clone()).unwrap_or_default();
                pages::need_admin_approval(&app_name, upn, &url)
            }
        }
        Decision::AskConsent if auto => match auto_consent {
            AutoConsent::Decline => finish_error(state, c, flow_id, AadError::new(65004, &[]), None),
            choice => {
                grant_from_flow(state, flow_id, choice == AutoConsent::AcceptForOrganization);
                issue_code(state, flow_id)
            }
        },
        Decision::AskConsent => consent_page(state, flow_id),
    };
    if new_session {
        with_new_session(state, resp, upn)
    } else {
        resp
    }
}

/// The consent page for a flow whose user is known.
pub fn consent_page(state: &AppState, flow_id: &str) -> Response {
    let w = state.lock();
    let Some(flow) = w.flows.get(flow_id) else {
        return pages::signed_out();
    };
    let upn = flow.upn.clone().unwrap_or_default();
    let admin = directory::find_user(&w.config, &upn).is_some_and(|(_, u)| u.admin);
    let app_name = directory::find_app(&w.config, &flow.client_id).map(|a| a.display_name.clone()).unwrap_or_default();
    let scopes: Vec<String> = flow.scopes.iter().filter(|s| s.contains("://")).cloned().collect();
    pages::consent(&flow.tenant_segment, flow_id, &app_name, &upn, &scopes, admin, flow.kind == FlowKind::AdminConsent)
}

/// Records the consent given on a flow (tenant-wide if an admin consents for the organization).
pub fn grant_from_flow(state: &AppState, flow_id: &str, for_org: bool) {
    let mut w = state.lock();
    let Some(flow) = w.flows.get(flow_id).cloned() else { return };
    let upn = flow.upn.clone().unwrap_or_default();
    let Some((tid, user)) = directory::find_user(&w.config, &upn) else { return };
    let (tid, admin, canonical) = (tid.to_string(), user.admin, user.upn.clone());
    if for_org && admin {
        w.record_grant(&tid, &flow.client_id, None, &flow.scopes, &canonical);
    } else {
        w.record_grant(&tid, &flow.client_id, Some(&canonical), &flow.scopes, &canonical);
    }
}

/// Issues the code and redirects: `code`, `state`, `session_state`.
pub fn issue_code(state: &AppState, flow_id: &str) -> Response {
    let mut w = state.lock();
    let Some(flow) = w.flows.remove(flow_id) else {
        return pages::signed_out();
    };
    let upn = flow.upn.clone().unwrap_or_default();
    let (tid, canonical) =
        directory::find_user(&w.config, &upn).map(|(t, u)| (t.to_string(), u.upn.clone())).unwrap_or_default();
    let code = tokens::opaque(512);
    let now = w.now();
    w.codes.insert(
        code.clone(),
        CodeRecord {
            code: code.clone(),
            client_id: flow.client_id.clone(),
            tenant_id: tid,
            upn: canonical,
            redirect_uri: flow.redirect_uri.clone(),
            platform: flow.platform,
            scopes: flow.scopes.clone(),
            code_challenge: flow.code_challenge.clone(),
            code_challenge_method: flow.code_challenge_method.clone(),
            nonce: flow.nonce.clone(),
            issued_at: now,
            redeemed: false,
            mfa_done: true,
        },
    );
    let mut params = vec![("code".to_string(), code)];
    if let Some(s) = &flow.state {
        params.push(("state".into(), s.clone()));
    }
    params.push(("session_state".into(), uuid::Uuid::new_v4().to_string()));
    redirect(&flow.redirect_uri, &params, &flow.response_mode)
}

/// Ends a flow with an error redirect.
pub fn finish_error(state: &AppState, c: &ErrorCtx, flow_id: &str, err: AadError, subcode: Option<&str>) -> Response {
    let Some(flow) = state.lock().flows.remove(flow_id) else {
        return pages::signed_out();
    };
    redirect(&flow.redirect_uri, &error_params(c, &err, flow.state.as_deref(), subcode), &flow.response_mode)
}

fn redirect_location(uri: &str, params: &[(String, String)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    format!("{uri}{}{q}", if uri.contains('?') { '&' } else { '?' })
}

/// Adds a fresh `ESTSAUTH` session for `upn` to a response.
pub fn with_new_session(state: &AppState, mut resp: Response, upn: &str) -> Response {
    let sid = tokens::opaque(24);
    {
        let mut w = state.lock();
        let now = w.now();
        let Some(canonical) = w.upn_of(upn) else { return resp };
        w.sessions.insert(sid.clone(), Session { upn: canonical, created: now, mfa_done: true });
    }
    let cookie = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// POST `/{tenant}/login` — the sign-in form (`flow`, `login`, `action`=signin|cancel).
pub async fn login_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    let c = ctx(&state, &headers);
    let flow_id = form_get(&form, "flow").unwrap_or("").to_string();
    let Some(flow) = state.lock().flows.get(&flow_id).cloned() else {
        return pages::error_page(&AadError::new(90014, &["flow"]), &c);
    };
    if form_get(&form, "action") == Some("cancel") {
        return finish_error(&state, &c, &flow_id, AadError::new(65004, &[]), Some("cancel"));
    }
    let login = form_get(&form, "login").unwrap_or("").to_string();
    let Some(upn) = state.lock().upn_of(&login) else {
        let msg = AadError::new(50034, &[&login, &flow.tenant_segment]);
        return signin_page(&state, &flow_id, Some(&format!("AADSTS50034: {}", msg.message)));
    };
    if flow.kind == FlowKind::AdminConsent {
        let resp = super::adminconsent::after_signin(&state, &c, &flow_id, &upn);
        return with_new_session(&state, resp, &upn);
    }
    continue_signed_in(&state, &c, &flow_id, &upn, None, false, true)
}

/// POST `/{tenant}/consent` — the consent form (`flow`, `action`=accept|cancel, `on_behalf`=1).
pub async fn consent_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    let c = ctx(&state, &headers);
    let flow_id = form_get(&form, "flow").unwrap_or("").to_string();
    let Some(flow) = state.lock().flows.get(&flow_id).cloned() else {
        return pages::error_page(&AadError::new(90014, &["flow"]), &c);
    };
    if flow.upn.is_none() {
        return signin_page(&state, &flow_id, None);
    }
    let accept = form_get(&form, "action") == Some("accept");
    if flow.kind == FlowKind::AdminConsent {
        return super::adminconsent::after_consent(&state, &c, &flow_id, accept);
    }
    if !accept {
        return finish_error(&state, &c, &flow_id, AadError::new(65004, &[]), None);
    }
    grant_from_flow(&state, &flow_id, form_get(&form, "on_behalf") == Some("1"));
    issue_code(&state, &flow_id)
}
