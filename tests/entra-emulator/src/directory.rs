//! The directory at run time: tenant resolution for every `{tenant}` form, user and app look-ups, redirect-URI
//! matching and scope parsing. Pure functions over the [`Config`] data, so the endpoint modules stay about HTTP.

use crate::config::{AppConfig, Config, Platform, TenantConfig, UserConfig};
use crate::errors::AadError;
use sha2::{Digest, Sha256};

/// The tenant of Microsoft personal accounts (what `consumers` stands for).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// What the `{tenant}` path segment named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    Common,
    Organizations,
    Consumers,
    /// A configured tenant, by GUID.
    Tenant(String),
}

impl Authority {
    /// Path segment used in discovery URLs (`common`, `organizations`, `consumers` or the GUID).
    pub fn segment(&self) -> &str {
        match self {
            Authority::Common => "common",
            Authority::Organizations => "organizations",
            Authority::Consumers => "consumers",
            Authority::Tenant(id) => id,
        }
    }

    /// Whether the authority is one of the multi-tenant aliases.
    pub fn is_multi(&self) -> bool {
        matches!(self, Authority::Common | Authority::Organizations | Authority::Consumers)
    }
}

/// Deterministic GUID for a string (user oids when the config gives none).
pub fn guid_from(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn is_dns_name(s: &str) -> bool {
    s.contains('.')
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Normalizes a config: fills oids and mail addresses.
pub fn normalize(mut config: Config) -> Config {
    for t in &mut config.tenants {
        for u in &mut t.users {
            if u.oid.is_none() {
                u.oid = Some(guid_from(&format!("oid:{}", u.upn.to_lowercase())));
            }
            if u.mail.is_none() {
                u.mail = Some(u.upn.clone());
            }
        }
    }
    config
}

/// Resolves the `{tenant}` segment: 90002 for an unknown GUID or domain, 900023 for something that is neither.
pub fn resolve(config: &Config, seg: &str) -> Result<Authority, AadError> {
    match seg.to_ascii_lowercase().as_str() {
        "common" => return Ok(Authority::Common),
        "organizations" => return Ok(Authority::Organizations),
        "consumers" | CONSUMERS_TENANT_ID => return Ok(Authority::Consumers),
        _ => {}
    }
    if let Ok(id) = uuid::Uuid::parse_str(seg) {
        let id = id.to_string();
        return config
            .tenants
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(&id))
            .map(|t| Authority::Tenant(t.id.clone()))
            .ok_or_else(|| AadError::new(90002, &[seg]));
    }
    if !is_dns_name(seg) {
        return Err(AadError::new(900023, &[seg]));
    }
    config
        .tenants
        .iter()
        .find(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(seg)))
        .map(|t| Authority::Tenant(t.id.clone()))
        .ok_or_else(|| AadError::new(90002, &[seg]))
}

pub fn tenant<'a>(config: &'a Config, id: &str) -> Option<&'a TenantConfig> {
    config.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// Finds a user by UPN, primary mail or alias (case-insensitive). Returns (tenant id, user).
pub fn find_user<'a>(config: &'a Config, login: &str) -> Option<(&'a str, &'a UserConfig)> {
    let login = login.trim();
    for t in &config.tenants {
        for u in &t.users {
            let hit = u.upn.eq_ignore_ascii_case(login)
                || u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(login))
                || u.aliases.iter().any(|a| a.eq_ignore_ascii_case(login));
            if hit {
                return Some((&t.id, u));
            }
        }
    }
    None
}

pub fn find_user_mut<'a>(config: &'a mut Config, login: &str) -> Option<&'a mut UserConfig> {
    let upn = find_user(config, login)?.1.upn.clone();
    config.tenants.iter_mut().flat_map(|t| t.users.iter_mut()).find(|u| u.upn == upn)
}

pub fn find_app<'a>(config: &'a Config, client_id: &str) -> Option<&'a AppConfig> {
    config.tenants.iter().flat_map(|t| t.apps.iter()).find(|a| a.client_id.eq_ignore_ascii_case(client_id))
}

/// Whether the app can be used through this authority (single-tenant apps only in their home tenant).
/// `common`/`organizations` are decided later (50194) and `consumers` never has work-account apps.
pub fn app_in_tenant(app: &AppConfig, tenant_id: &str) -> bool {
    app.multi_tenant || app.home_tenant.eq_ignore_ascii_case(tenant_id)
}

/// Matches a redirect URI against the registration: exact and case-sensitive, except that the port of
/// `http://localhost` and `http://127.0.0.1` is ignored. Returns the platform it is registered under.
pub fn match_redirect(app: &AppConfig, uri: &str) -> Option<Platform> {
    if let Some(r) = app.redirect_uris.iter().find(|r| r.uri == uri) {
        return Some(r.platform);
    }
    let strip = |u: &str| -> Option<String> {
        let parsed = url::Url::parse(u).ok()?;
        if parsed.scheme() != "http" {
            return None;
        }
        let host = parsed.host_str()?;
        if host != "localhost" && host != "127.0.0.1" {
            return None;
        }
        // Compare on the raw text so case differences in the path still fail.
        let rest = u.strip_prefix("http://")?;
        let after_host = &rest[rest.find(['/', '?', '#']).unwrap_or(rest.len())..];
        let host_raw = &rest[..rest.len() - after_host.len()];
        let host_only = host_raw.split(':').next()?;
        let path = if after_host.is_empty() { "/" } else { after_host };
        Some(format!("http://{host_only}{path}"))
    };
    let wanted = strip(uri)?;
    app.redirect_uris.iter().find(|r| strip(&r.uri).as_deref() == Some(wanted.as_str())).map(|r| r.platform)
}

pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
pub const EXCHANGE: &str = "https://outlook.office.com";
pub const GRAPH: &str = "https://graph.microsoft.com";

fn known_permissions(resource: &str) -> Option<&'static [&'static str]> {
    match resource {
        EXCHANGE | "https://outlook.office365.com" => Some(&[
            "IMAP.AccessAsUser.All",
            "POP.AccessAsUser.All",
            "SMTP.Send",
            "EWS.AccessAsUser.All",
            "Mail.Read",
            "Mail.Send",
            ".default",
        ]),
        GRAPH => Some(&[
            "User.Read",
            "User.Read.All",
            "Group.Read.All",
            "GroupMember.Read.All",
            "Directory.Read.All",
            "Mail.Read",
            "Mail.Send",
            "Mail.ReadWrite",
            "offline_access",
            ".default",
        ]),
        _ => None,
    }
}

/// Delegated permissions that only an administrator may consent to ("Admin consent required: Yes" in the
/// Microsoft Graph permissions reference): a user's own consent never grants them.
pub fn admin_consent_required(scope: &str) -> bool {
    let Some((resource, perm)) = scope.rsplit_once('/') else { return false };
    resource.eq_ignore_ascii_case(GRAPH)
        && ["User.Read.All", "Group.Read.All", "GroupMember.Read.All", "Directory.Read.All"]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(perm))
}

/// A parsed `scope` parameter: OIDC scopes plus resource permissions, normalized to `resource/Permission`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub oidc: Vec<String>,
    /// (resource, permission) with Microsoft's spelling of the permission.
    pub resource: Vec<(String, String)>,
}

impl Scopes {
    pub fn has(&self, oidc: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc)
    }

    /// Distinct resources, in request order.
    pub fn resources(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for (r, _) in &self.resource {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }

    /// `resource/Permission` strings for one resource.
    pub fn full_for(&self, resource: &str) -> Vec<String> {
        self.resource.iter().filter(|(r, _)| r == resource).map(|(r, p)| format!("{r}/{p}")).collect()
    }
}

/// Parses a scope string. Errors: unknown resource → 500011, unknown permission → 650053 (the authorize form;
/// the token endpoint maps it to 70011), `.default` mixed with named scopes of the same resource → 70011.
pub fn parse_scopes(raw: &str, client_id: &str, tenant_name: &str) -> Result<Scopes, AadError> {
    let mut out = Scopes::default();
    for item in raw.split([' ', '+']).filter(|s| !s.is_empty()) {
        if let Some(o) = OIDC_SCOPES.iter().find(|o| o.eq_ignore_ascii_case(item)) {
            if !out.has(o) {
                out.oidc.push(o.to_string());
            }
            continue;
        }
        let (resource, perm) = match item.rfind('/') {
            Some(i) if item.contains("://") => (item[..i].to_string(), item[i + 1..].to_string()),
            Some(_) => return Err(AadError::new(70011, &[item])),
            None => (GRAPH.to_string(), item.to_string()),
        };
        let resource = resource.trim_end_matches('/').to_ascii_lowercase();
        let Some(known) = known_permissions(&resource) else {
            return Err(AadError::new(500011, &[&resource, tenant_name]));
        };
        let Some(perm) = known.iter().find(|k| k.eq_ignore_ascii_case(&perm)) else {
            return Err(AadError::new(650053, &[client_id, &perm, &resource]));
        };
        if !out.resource.iter().any(|(r, p)| *r == resource && p == perm) {
            out.resource.push((resource, perm.to_string()));
        }
    }
    for r in out.resources() {
        let perms: Vec<_> = out.resource.iter().filter(|(x, _)| *x == r).collect();
        if perms.len() > 1 && perms.iter().any(|(_, p)| p == ".default") {
            return Err(AadError::new(70011, &[&format!("{r}/.default")]));
        }
    }
    Ok(out)
}

/// Expands `.default` of a resource into the app's statically registered permissions for it.
pub fn expand_default(app: &AppConfig, scopes: &[String]) -> Vec<String> {
    let mut out = vec![];
    for s in scopes {
        if let Some(res) = s.strip_suffix("/.default") {
            out.extend(
                app.permissions
                    .iter()
                    .filter(|p| p.rsplit_once('/').is_some_and(|(r, _)| r.eq_ignore_ascii_case(res)))
                    .cloned(),
            );
        } else {
            out.push(s.clone());
        }
    }
    out
}
