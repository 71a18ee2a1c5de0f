//! `/{tenant}/oauth2/v2.0/token`: the authorization_code and refresh_token grants of a public client.
//!
//! Strict where Microsoft is strict: single-use codes (54005) with a 10-minute life (70008), the same redirect URI
//! as at /authorize (500112), PKCE verifier (501481), one resource per request (28000), `Origin` only for SPA
//! redirects (9002326), a secret for "Web" redirects (7000218). Refresh tokens rotate on every use; the superseded
//! one stays redeemable for `refresh_grace_secs`, then fails with 70000. Inactivity beyond 90 days gives 700082,
//! a password change 50173, an MFA requirement the session did not satisfy 50076 with a claims challenge.
//! A failed code redemption burns the code (a retry gets 54005): harder on clients than Microsoft may be.

use super::{apply_faults, ctx, fault_error, form_get, parse_form, AppState};
use crate::config::{AppConfig, Platform, UserConfig};
use crate::directory::{self, Authority, GRAPH};
use crate::errors::AadError;
use crate::faults::{transport_response, Endpoint, Probe};
use crate::state::{IssuedToken, RefreshRecord, World};
use crate::tokens::{self, AccessTokenClaims, IdTokenClaims};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;

/// The success body, fields in Microsoft's order.
#[derive(Serialize)]
struct TokenResponse {
    token_type: &'static str,
    scope: String,
    expires_in: i64,
    ext_expires_in: i64,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

/// What a grant resolved to, before minting.
struct Subject {
    app: AppConfig,
    user: UserConfig,
    tenant_id: String,
    platform: Platform,
    /// Original sign-in scopes (normalized).
    granted: Vec<String>,
    nonce: Option<String>,
    auth_time: DateTime<Utc>,
    mfa_done: bool,
    family: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let grant_type = form_get(&form, "grant_type");
    let owner = {
        let w = state.lock();
        form_get(&form, "code")
            .and_then(|c| w.codes.get(c).map(|r| r.upn.clone()))
            .or_else(|| form_get(&form, "refresh_token").and_then(|t| w.refresh.get(t).map(|r| r.upn.clone())))
    };
    let fault = apply_faults(&state, Endpoint::Token, Probe { user: owner.as_deref(), grant_type, page: None }).await;
    if let Some(r) = fault.as_ref().and_then(transport_response) {
        return r;
    }
    let c = ctx(&state, &headers);
    if let Some(e) = fault.as_ref().and_then(fault_error) {
        return c.response(&e);
    }
    match handle(&state, &tenant, &headers, &form) {
        Ok(r) => r,
        Err(e) => c.response(&e),
    }
}

fn handle(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Response, AadError> {
    let mut w = state.lock();
    let authority = directory::resolve(&w.config, tenant)?;
    let basic = basic_auth(headers);
    let client_id = form_get(form, "client_id")
        .map(String::from)
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| AadError::new(900144, &["client_id"]))?;
    let app = directory::find_app(&w.config, &client_id).cloned();
    let app = match (&app, &authority) {
        (Some(a), Authority::Tenant(t)) if directory::app_in_tenant(a, t) => app,
        (Some(_), Authority::Common | Authority::Organizations) => app,
        _ => None,
    }
    .ok_or_else(|| AadError::new(700016, &[&client_id, tenant]))?;
    let secret = form_get(form, "client_secret").map(String::from).or_else(|| basic.map(|b| b.1));
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(String::from);
    let grant_type = form_get(form, "grant_type").ok_or_else(|| AadError::new(900144, &["grant_type"]))?;
    let check_client = |platform: Platform| -> Result<(), AadError> {
        match (platform, &origin) {
            (Platform::Spa, None) => return Err(AadError::new(9002327, &[])),
            (Platform::Spa, Some(_)) => {}
            (_, Some(o)) => return Err(AadError::new(9002326, &[o])),
            _ => {}
        }
        if platform == Platform::Web {
            match (&secret, &app.client_secret) {
                (None, _) => return Err(AadError::new(7000218, &[])),
                (Some(s), Some(real)) if s == real => {}
                (Some(_), _) => return Err(AadError::new(7000215, &[&app.client_id])),
            }
        }
        Ok(())
    };
    let subject = match grant_type {
        "authorization_code" => redeem_code(&mut w, &authority, &app, form, check_client)?,
        "refresh_token" => redeem_refresh(&mut w, &authority, &app, form, check_client)?,
        "client_credentials" if secret.is_none() => return Err(AadError::new(7000218, &[])),
        other => return Err(AadError::new(70003, &[other])),
    };
    let body = mint(&mut w, state, &subject, form_get(form, "scope"))?;
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v.trim()).ok()?;
    let (id, secret) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn user_of(w: &World, upn: &str) -> Result<UserConfig, AadError> {
    directory::find_user(&w.config, upn).map(|(_, u)| u.clone()).ok_or_else(|| AadError::new(70000, &[]))
}

fn redeem_code(
    w: &mut World,
    authority: &Authority,
    app: &AppConfig,
    form: &[(String, String)],
    check_client: impl Fn(Platform) -> Result<(), AadError>,
) -> Result<Subject, AadError> {
    let code = form_get(form, "code").ok_or_else(|| AadError::new(900144, &["code"]))?;
    let now = w.now();
    let ttl = w.settings.code_ttl_secs;
    let rec = w.codes.get(code).cloned().ok_or_else(|| AadError::new(9002313, &[]))?;
    if !rec.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(AadError::new(70000, &[]));
    }
    if let Authority::Tenant(t) = authority {
        if !t.eq_ignore_ascii_case(&rec.tenant_id) {
            return Err(AadError::new(700005, &[]));
        }
    }
    check_client(rec.platform)?;
    if rec.redeemed {
        return Err(AadError::new(54005, &[]));
    }
    if let Some(r) = w.codes.get_mut(code) {
        r.redeemed = true;
    }
    if (now - rec.issued_at).num_seconds() > ttl {
        return Err(AadError::new(70008, &[]));
    }
    let redirect_uri = form_get(form, "redirect_uri").ok_or_else(|| AadError::new(900144, &["redirect_uri"]))?;
    if redirect_uri != rec.redirect_uri {
        return Err(AadError::new(500112, &[redirect_uri, &rec.redirect_uri]));
    }
    if let Some(challenge) = &rec.code_challenge {
        let verifier = form_get(form, "code_verifier").ok_or_else(|| AadError::new(900144, &["code_verifier"]))?;
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
        let computed = match rec.code_challenge_method.as_deref() {
            Some("S256") => tokens::s256(verifier),
            _ => verifier.to_string(),
        };
        if !well_formed || &computed != challenge {
            return Err(AadError::new(501481, &[]));
        }
    }
    let user = user_of(w, &rec.upn)?;
    Ok(Subject {
        app: app.clone(),
        user,
        tenant_id: rec.tenant_id,
        platform: rec.platform,
        granted: rec.scopes,
        nonce: rec.nonce,
        auth_time: rec.issued_at,
        mfa_done: rec.mfa_done,
        family: None,
    })
}

fn dotnet_span(secs: i64) -> String {
    format!("{}.{:02}:{:02}:{:02}", secs / 86400, (secs % 86400) / 3600, (secs % 3600) / 60, secs % 60)
}

fn ms_time(t: DateTime<Utc>) -> String {
    format!("{}0Z", t.format("%Y-%m-%dT%H:%M:%S%.6f"))
}

fn redeem_refresh(
    w: &mut World,
    authority: &Authority,
    app: &AppConfig,
    form: &[(String, String)],
    check_client: impl Fn(Platform) -> Result<(), AadError>,
) -> Result<Subject, AadError> {
    let token = form_get(form, "refresh_token").ok_or_else(|| AadError::new(900144, &["refresh_token"]))?;
    let now = w.now();
    let rec = w.refresh.get(token).cloned().ok_or_else(|| AadError::new(9002313, &[]))?;
    if !rec.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(AadError::new(70000, &[]));
    }
    if let Authority::Tenant(t) = authority {
        if !t.eq_ignore_ascii_case(&rec.tenant_id) {
            return Err(AadError::new(70000, &[]));
        }
    }
    check_client(rec.platform)?;
    if let Some(s) = rec.superseded_at {
        if (now - s).num_seconds() > w.settings.refresh_grace_secs {
            return Err(AadError::new(70000, &[]));
        }
    }
    let idle = (now - rec.last_used).num_seconds();
    if idle > w.settings.refresh_inactivity_secs {
        return Err(AadError::new(700082, &[&ms_time(rec.issued_at), &dotnet_span(idle)]));
    }
    if let Some(valid_from) = w.tokens_valid_from(&rec.upn) {
        if valid_from > rec.auth_time {
            return Err(AadError::new(50173, &[&ms_time(rec.auth_time), &ms_time(valid_from)]));
        }
    }
    let user = user_of(w, &rec.upn)?;
    if user.blocked_by_policy {
        return Err(AadError::new(53003, &[]));
    }
    if user.mfa_required && !rec.mfa_done {
        let claims =
            r#"{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-00000000mfa1"]}}}"#;
        return Err(AadError::new(50076, &[&rec.app_resource()]).with_claims(claims));
    }
    if let Some(r) = w.refresh.get_mut(token) {
        r.superseded_at.get_or_insert(now);
        r.last_used = now;
    }
    Ok(Subject {
        app: app.clone(),
        user,
        tenant_id: rec.tenant_id,
        platform: rec.platform,
        granted: rec.scopes,
        nonce: None,
        auth_time: rec.auth_time,
        mfa_done: rec.mfa_done,
        family: Some(rec.family),
    })
}

impl RefreshRecord {
    fn app_resource(&self) -> String {
        self.scopes.iter().find_map(|s| s.rsplit_once('/').map(|(r, _)| r.to_string())).unwrap_or_else(|| GRAPH.into())
    }
}

/// Checks the requested scope and mints the tokens.
fn mint(w: &mut World, state: &AppState, s: &Subject, scope: Option<&str>) -> Result<TokenResponse, AadError> {
    let requested = match scope {
        Some(raw) => directory::parse_scopes(raw, &s.app.client_id, &s.tenant_id).map_err(|e| {
            if e.code == 650053 {
                AadError::new(70011, &[raw])
            } else {
                e
            }
        })?,
        None => directory::parse_scopes(&s.granted.join(" "), &s.app.client_id, &s.tenant_id)?,
    };
    let resources = requested.resources();
    if resources.len() > 1 {
        return Err(AadError::new(28000, &[scope.unwrap_or("")]));
    }
    let resource = resources.first().cloned().unwrap_or_else(|| GRAPH.into());
    let mut perms: Vec<String> = requested.full_for(&resource);
    if perms.is_empty() {
        perms.push(format!("{GRAPH}/User.Read"));
    }
    let missing = w.missing_consent(&s.tenant_id, &s.app, &s.user.upn, &perms);
    // Graph's User.Read alone is granted with the sign-in (what a scope of only OIDC values asks for).
    let user_read = format!("{GRAPH}/User.Read").to_lowercase();
    if missing.iter().any(|m| m.to_lowercase() != user_read) {
        return Err(AadError::new(65001, &[&s.app.client_id, &s.app.display_name]));
    }
    // Microsoft's `scope` lists every consented permission of the resource, not only the requested ones.
    let consented = w.consented(&s.tenant_id, &s.app, &s.user.upn);
    let mut full: Vec<String> = directory::expand_default(&s.app, &perms);
    for p in &s.app.permissions {
        let same_res = p.rsplit_once('/').is_some_and(|(r, _)| r.eq_ignore_ascii_case(&resource));
        if same_res && consented.contains(&p.to_lowercase()) && !full.iter().any(|x| x.eq_ignore_ascii_case(p)) {
            full.push(p.clone());
        }
    }
    let short: Vec<String> = full.iter().filter_map(|p| p.rsplit_once('/').map(|(_, n)| n.to_string())).collect();
    let scope_out = if resource == GRAPH {
        let mut v = short.clone();
        v.extend(requested.oidc.iter().filter(|o| *o != "offline_access").cloned());
        v.join(" ")
    } else {
        full.join(" ")
    };
    let now = w.now();
    let expires_in = rand::thread_rng().gen_range(3600..=5399);
    let base = &state.base_url;
    let mail = s.user.mail.clone().unwrap_or_else(|| s.user.upn.clone());
    let oid = s.user.oid.clone().unwrap_or_default();
    let at = AccessTokenClaims {
        aud: resource.clone(),
        iss: format!("{base}/{}/", s.tenant_id),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: now.timestamp() + expires_in,
        amr: if s.mfa_done && s.user.mfa_required { vec!["pwd".into(), "mfa".into()] } else { vec!["pwd".into()] },
        appid: s.app.client_id.clone(),
        email: mail.clone(),
        name: s.user.display_name.clone(),
        oid: oid.clone(),
        scp: short.join(" "),
        sub: tokens::pairwise_sub(&oid, &resource),
        tid: s.tenant_id.clone(),
        unique_name: s.user.upn.clone(),
        upn: s.user.upn.clone(),
        uti: tokens::uti(),
        ver: "1.0".into(),
    };
    let access_token = state.keys.sign(&at);
    let granted_has = |o: &str| s.granted.iter().any(|g| g == o) || requested.has(o);
    let id_token = granted_has("openid").then(|| {
        let profile = granted_has("profile");
        state.keys.sign(&IdTokenClaims {
            aud: s.app.client_id.clone(),
            iss: format!("{base}/{}/v2.0", s.tenant_id),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp() + w.settings.id_token_ttl_secs,
            email: granted_has("email").then(|| mail.clone()),
            name: profile.then(|| s.user.display_name.clone()),
            nonce: s.nonce.clone(),
            oid: profile.then(|| oid.clone()),
            preferred_username: profile.then(|| s.user.upn.clone()),
            rh: "0.AAAA".into(),
            sub: tokens::pairwise_sub(&oid, &s.app.client_id),
            tid: s.tenant_id.clone(),
            uti: tokens::uti(),
            ver: "2.0".into(),
        })
    });
    let refresh_token = s.granted.iter().any(|g| g == "offline_access").then(|| {
        let t = tokens::opaque(280);
        w.refresh.insert(
            t.clone(),
            RefreshRecord {
                token: t.clone(),
                family: s.family.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                client_id: s.app.client_id.clone(),
                tenant_id: s.tenant_id.clone(),
                upn: s.user.upn.clone(),
                platform: s.platform,
                scopes: s.granted.clone(),
                auth_time: s.auth_time,
                issued_at: now,
                last_used: now,
                superseded_at: None,
                mfa_done: s.mfa_done,
            },
        );
        t
    });
    w.issued.push(IssuedToken {
        upn: s.user.upn.clone(),
        client_id: s.app.client_id.clone(),
        audience: resource,
        scp: at.scp.clone(),
        expires_at: now + chrono::Duration::seconds(expires_in),
        access_token: access_token.clone(),
    });
    Ok(TokenResponse {
        token_type: "Bearer",
        scope: scope_out,
        expires_in,
        ext_expires_in: expires_in,
        access_token,
        refresh_token,
        id_token,
    })
}
