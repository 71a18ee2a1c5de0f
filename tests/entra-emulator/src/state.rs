//! The emulator's mutable world behind one mutex: the directory, the clock, issued codes and refresh tokens,
//! consent grants, browser sessions, pending sign-in flows and injected faults. Handlers lock it briefly and never
//! across an `.await`. Records are `Serialize` so the control API and the library handle can show them.

use crate::clock::Clock;
use crate::config::{AppConfig, Config, Platform, Settings};
use crate::directory;
use crate::faults::Fault;
use crate::graph::people::TenantDirectory;
use crate::tokens::Keys;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// An issued authorization code.
#[derive(Debug, Clone, Serialize)]
pub struct CodeRecord {
    pub code: String,
    pub client_id: String,
    pub tenant_id: String,
    pub upn: String,
    pub redirect_uri: String,
    pub platform: Platform,
    /// Scopes as requested at /authorize (normalized `resource/Permission` plus OIDC scopes).
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub redeemed: bool,
    pub mfa_done: bool,
}

/// An issued refresh token.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshRecord {
    pub token: String,
    /// All rotations of one sign-in share a family.
    pub family: String,
    pub client_id: String,
    pub tenant_id: String,
    pub upn: String,
    pub platform: Platform,
    /// Scopes of the original sign-in (normalized) — what later refreshes may ask for.
    pub scopes: Vec<String>,
    /// When the original sign-in happened (compared with the user's TokensValidFrom).
    pub auth_time: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    /// Set when a refresh rotated it; it stays usable for the grace period after this.
    pub superseded_at: Option<DateTime<Utc>>,
    pub mfa_done: bool,
}

/// A consent grant: per user (`upn` Some) or tenant-wide admin consent (`upn` None).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Grant {
    pub tenant_id: String,
    pub client_id: String,
    pub upn: Option<String>,
    pub scopes: Vec<String>,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
}

/// An access token the emulator handed out (for inspection).
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub upn: String,
    pub client_id: String,
    pub audience: String,
    pub scp: String,
    pub expires_at: DateTime<Utc>,
    pub access_token: String,
}

/// A browser session (cookie `ESTSAUTH`), what `prompt=none` relies on.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub upn: String,
    pub created: DateTime<Utc>,
    pub mfa_done: bool,
}

/// Per-user run-time state that the config does not hold.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserState {
    /// Refresh tokens and sessions from before this instant are revoked ("password change").
    pub tokens_valid_from: Option<DateTime<Utc>>,
}

/// A parked interactive flow (between the sign-in page, the consent page and the final redirect).
#[derive(Debug, Clone)]
pub struct Flow {
    pub kind: FlowKind,
    pub tenant_segment: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub platform: Platform,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub login_hint: Option<String>,
    pub upn: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: String,
    pub force_consent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Authorize,
    AdminConsent,
}

/// Everything mutable.
#[derive(Debug)]
pub struct World {
    pub config: Config,
    pub settings: Settings,
    pub clock: Clock,
    pub users: HashMap<String, UserState>,
    pub codes: HashMap<String, CodeRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub grants: Vec<Grant>,
    pub sessions: HashMap<String, Session>,
    pub flows: HashMap<String, Flow>,
    pub faults: Vec<Fault>,
    pub issued: Vec<IssuedToken>,
    /// What Microsoft Graph serves, per tenant (key: lowercase tenant GUID).
    pub graph: HashMap<String, TenantDirectory>,
    /// Key of the tenant that holds the generated people.
    pub graph_tenant: String,
}

/// Shared by all handlers.
#[derive(Debug)]
pub struct Shared {
    pub world: Mutex<World>,
    pub keys: Keys,
    pub base_url: String,
}

impl Shared {
    pub fn new(config: Config, keys: Keys, base_url: String) -> Shared {
        let config = directory::normalize(config);
        let settings = config.settings.clone();
        let now = Utc::now();
        let grants = config
            .tenants
            .iter()
            .flat_map(|t| {
                t.admin_consents.iter().map(move |c| Grant {
                    tenant_id: t.id.clone(),
                    client_id: c.client_id.clone(),
                    upn: None,
                    scopes: c.scopes.clone(),
                    granted_by: "config".into(),
                    granted_at: now,
                })
            })
            .collect();
        let graph_tenant = config
            .graph
            .tenant
            .clone()
            .or_else(|| config.tenants.first().map(|t| t.id.clone()))
            .unwrap_or_default()
            .to_lowercase();
        let graph = config
            .tenants
            .iter()
            .map(|t| {
                let key = t.id.to_lowercase();
                let generated = if key == graph_tenant { config.graph.generated_users } else { 0 };
                (key.clone(), TenantDirectory::new(&key, &t.domains, &t.users, generated, config.graph.seed))
            })
            .collect();
        let world = World {
            config,
            settings,
            clock: Clock::default(),
            users: HashMap::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            grants,
            sessions: HashMap::new(),
            flows: HashMap::new(),
            faults: vec![],
            issued: vec![],
            graph,
            graph_tenant,
        };
        Shared { world: Mutex::new(world), keys, base_url }
    }

    /// Locks the world (a poisoned lock is still used: a panicking handler must not wedge the emulator).
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl World {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Canonical UPN (lowercase) of a user named by UPN or alias.
    pub fn upn_of(&self, login: &str) -> Option<String> {
        directory::find_user(&self.config, login).map(|(_, u)| u.upn.to_lowercase())
    }

    pub fn same_user(&self, a: &str, b: &str) -> bool {
        match (self.upn_of(a), self.upn_of(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a.eq_ignore_ascii_case(b),
        }
    }

    pub fn tokens_valid_from(&self, upn: &str) -> Option<DateTime<Utc>> {
        self.users.get(&upn.to_lowercase()).and_then(|s| s.tokens_valid_from)
    }

    /// Scopes (normalized, lowercase) consented for this user and app: tenant-wide plus the user's own.
    pub fn consented(&self, tenant_id: &str, app: &AppConfig, upn: &str) -> Vec<String> {
        let mut out = vec![];
        for g in &self.grants {
            let mine = g.upn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(upn));
            if mine && g.tenant_id.eq_ignore_ascii_case(tenant_id) && g.client_id.eq_ignore_ascii_case(&app.client_id) {
                out.extend(directory::expand_default(app, &g.scopes).into_iter().map(|s| s.to_lowercase()));
            }
        }
        out
    }

    /// The requested resource scopes not yet consented.
    pub fn missing_consent(&self, tenant_id: &str, app: &AppConfig, upn: &str, requested: &[String]) -> Vec<String> {
        let have = self.consented(tenant_id, app, upn);
        let wanted = directory::expand_default(app, requested);
        wanted.into_iter().filter(|s| s.contains("://") && !have.contains(&s.to_lowercase())).collect()
    }

    /// Records a grant, merging scopes into an existing one for the same (tenant, app, user).
    pub fn record_grant(&mut self, tenant_id: &str, client_id: &str, upn: Option<&str>, scopes: &[String], by: &str) {
        let now = self.now();
        let scopes: Vec<String> = scopes.iter().filter(|s| s.contains("://")).cloned().collect();
        if let Some(g) = self
            .grants
            .iter_mut()
            .find(|g| g.tenant_id == tenant_id && g.client_id == client_id && g.upn.as_deref() == upn)
        {
            for s in scopes {
                if !g.scopes.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                    g.scopes.push(s);
                }
            }
            g.granted_at = now;
            return;
        }
        self.grants.push(Grant {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            upn: upn.map(Into::into),
            scopes,
            granted_by: by.into(),
            granted_at: now,
        });
    }
}
