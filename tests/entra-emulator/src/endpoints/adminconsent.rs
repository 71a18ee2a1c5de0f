//! `/{tenant}/v2.0/adminconsent`: an administrator grants the app's permissions for the whole tenant.
//!
//! Not on `common`/`consumers` (error page). Client and redirect failures show Microsoft's error page; afterwards
//! the outcome is a redirect: `admin_consent=True&tenant=<guid>&scope=…&state=…` or
//! `error=…&error_description=…&state=…` (no code). Auto-approve signs in `login_hint` or the tenant's first admin.

use super::authorize::{consent_page, signin_page};
use super::{apply_faults, ctx, fault_error, redirect, AppState};
use crate::config::AutoConsent;
use crate::directory::{self, Authority};
use crate::errors::{AadError, ErrorCtx};
use crate::faults::{transport_response, Endpoint, Probe};
use crate::pages;
use crate::state::{Flow, FlowKind};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::HashMap;

fn error_redirect(c: &ErrorCtx, flow: &Flow, err: &AadError) -> Response {
    let mut p = vec![("error".to_string(), err.error.clone()), ("error_description".to_string(), c.description(err))];
    if let Some(s) = &flow.state {
        p.push(("state".into(), s.clone()));
    }
    redirect(&flow.redirect_uri, &p, "query")
}

pub async fn adminconsent(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let fault =
        apply_faults(&state, Endpoint::AdminConsent, Probe { user: get("login_hint"), grant_type: None, page: None })
            .await;
    if let Some(r) = fault.as_ref().and_then(transport_response) {
        return r;
    }
    let c = ctx(&state, &headers);
    let (authority, app) = {
        let w = state.lock();
        let authority = match directory::resolve(&w.config, &tenant) {
            Ok(Authority::Common | Authority::Consumers) => {
                return pages::error_page(&AadError::new(90100, &["tenant"]), &c);
            }
            Ok(a) => a,
            Err(e) => return pages::error_page(&e, &c),
        };
        let Some(client_id) = get("client_id") else {
            return pages::error_page(&AadError::new(900144, &["client_id"]), &c);
        };
        let app = directory::find_app(&w.config, client_id).cloned();
        match (app, &authority) {
            (Some(a), Authority::Tenant(t)) if directory::app_in_tenant(&a, t) => (authority, a),
            (Some(a), Authority::Organizations) => (authority, a),
            _ => return pages::error_page(&AadError::new(700016, &[client_id, &tenant]), &c),
        }
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return pages::error_page(&AadError::new(900144, &["redirect_uri"]), &c);
    };
    let Some(platform) = directory::match_redirect(&app, redirect_uri) else {
        return pages::error_page(&AadError::new(50011, &[redirect_uri, &app.client_id]), &c);
    };
    let mut flow = Flow {
        kind: FlowKind::AdminConsent,
        tenant_segment: tenant.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.into(),
        platform,
        state: get("state").map(String::from),
        scopes: vec![],
        login_hint: get("login_hint").map(String::from),
        upn: None,
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        response_mode: "query".into(),
        force_consent: true,
    };
    if let Some(e) = fault.as_ref().and_then(fault_error) {
        return error_redirect(&c, &flow, &e);
    }
    let Some(raw) = get("scope") else {
        return error_redirect(&c, &flow, &AadError::new(900144, &["scope"]));
    };
    match directory::parse_scopes(raw, &app.client_id, &tenant) {
        Ok(s) => {
            flow.scopes = s.resources().iter().flat_map(|r| s.full_for(r)).collect();
        }
        Err(e) => return error_redirect(&c, &flow, &e),
    }
    let flow_id = uuid::Uuid::new_v4().to_string();
    let auto = state.lock().settings.auto_approve;
    state.lock().flows.insert(flow_id.clone(), flow.clone());
    if !auto {
        return signin_page(&state, &flow_id, None);
    }
    let who = {
        let w = state.lock();
        let home = match &authority {
            Authority::Tenant(t) => t.clone(),
            _ => app.home_tenant.clone(),
        };
        flow.login_hint.clone().or_else(|| {
            directory::tenant(&w.config, &home).and_then(|t| t.users.iter().find(|u| u.admin)).map(|u| u.upn.clone())
        })
    };
    let Some(upn) = who.and_then(|w| state.lock().upn_of(&w)) else {
        return pages::error_page(&AadError::new(50034, &[flow.login_hint.as_deref().unwrap_or(""), &tenant]), &c);
    };
    let resp = after_signin(&state, &c, &flow_id, &upn);
    if state.lock().flows.contains_key(&flow_id) {
        // Auto-approve answers the consent page too.
        let accept = state.lock().settings.auto_consent != AutoConsent::Decline;
        return after_consent(&state, &c, &flow_id, accept);
    }
    resp
}

/// After the sign-in page: the user must be an admin of the tenant the consent is for.
pub fn after_signin(state: &AppState, c: &ErrorCtx, flow_id: &str, upn: &str) -> Response {
    let (flow, err) = {
        let mut w = state.lock();
        let Some(flow) = w.flows.get_mut(flow_id) else {
            return pages::signed_out();
        };
        flow.upn = Some(upn.to_string());
        let flow = flow.clone();
        let err = match directory::find_user(&w.config, upn) {
            None => Some(AadError::new(50034, &[upn, &flow.tenant_segment])),
            Some((tid, user)) => match directory::resolve(&w.config, &flow.tenant_segment) {
                Ok(Authority::Tenant(t)) if !t.eq_ignore_ascii_case(tid) => {
                    let idp = format!("https://sts.windows.net/{tid}/");
                    Some(AadError::new(50020, &[&user.upn, &idp, &flow.tenant_segment, &flow.client_id]))
                }
                _ if !user.admin => Some(AadError::new(90093, &[])),
                _ => None,
            },
        };
        (flow, err)
    };
    if let Some(e) = err {
        state.lock().flows.remove(flow_id);
        return error_redirect(c, &flow, &e);
    }
    consent_page(state, flow_id)
}

/// After the admin-consent page: record the tenant-wide grant and redirect.
pub fn after_consent(state: &AppState, c: &ErrorCtx, flow_id: &str, accept: bool) -> Response {
    let Some(flow) = state.lock().flows.remove(flow_id) else {
        return pages::signed_out();
    };
    if !accept {
        let mut e = AadError::new(65004, &[]);
        e.message = "The resource owner or authorization server denied the request.".into();
        return error_redirect(c, &flow, &e);
    }
    let upn = flow.upn.clone().unwrap_or_default();
    let tid = {
        let mut w = state.lock();
        let Some((tid, user)) = directory::find_user(&w.config, &upn).map(|(t, u)| (t.to_string(), u.upn.clone()))
        else {
            return pages::signed_out();
        };
        w.record_grant(&tid, &flow.client_id, None, &flow.scopes, &user);
        tid
    };
    let mut p = vec![
        ("admin_consent".to_string(), "True".to_string()),
        ("tenant".to_string(), tid),
        ("scope".to_string(), flow.scopes.join(" ")),
    ];
    if let Some(s) = &flow.state {
        p.push(("state".into(), s.clone()));
    }
    redirect(&flow.redirect_uri, &p, "query")
}
