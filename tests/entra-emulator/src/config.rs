//! The emulator's configuration: the directory it starts with (tenants, users, app registrations, pre-seeded
//! admin consents) and its tunables (code TTL, refresh-token grace, auto-approve).
//!
//! Kept as plain serde structs so the same shape loads from JSON or TOML (`--config FILE`) and can be built in
//! code by tests. [`Config::default_demo`] is the directory used when no file is given.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Who may consent to an app's permissions in a tenant ("User consent settings" in the Entra admin center).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPolicy {
    /// Users may consent for themselves (a per-user grant is recorded).
    Allowed,
    /// Only an administrator may consent (non-admins get "Need admin approval", AADSTS90094).
    AdminOnly,
}

/// Platform a redirect URI is registered under. It changes what the token endpoint demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// "Mobile and desktop applications": public client, no secret, loopback port ignored.
    MobileDesktop,
    /// "Web": confidential client; the token endpoint demands a secret (AADSTS7000218).
    Web,
    /// "Single-page application": the only platform whose token requests may carry an `Origin` header.
    Spa,
}

/// One registered redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectUri {
    pub uri: String,
    pub platform: Platform,
}

/// An app registration (lives in its home tenant; multi-tenant apps are usable from every tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppConfig {
    pub client_id: String,
    #[serde(default)]
    pub display_name: String,
    /// Tenant GUID the app is registered in.
    pub home_tenant: String,
    #[serde(default)]
    pub multi_tenant: bool,
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    /// Client secret accepted for "web" redirects (None: no secret exists, any secret is wrong).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Statically registered API permissions ("resource/permission"), what `.default` expands to.
    #[serde(default = "default_permissions")]
    pub permissions: Vec<String>,
}

fn default_permissions() -> Vec<String> {
    vec![
        "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
        "https://outlook.office.com/POP.AccessAsUser.All".into(),
        "https://outlook.office.com/SMTP.Send".into(),
        "https://graph.microsoft.com/User.Read".into(),
    ]
}

/// A user (work account) of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserConfig {
    pub upn: String,
    /// Primary SMTP address; goes into the `email` claim. Defaults to the UPN.
    #[serde(default)]
    pub mail: Option<String>,
    /// Further SMTP addresses (proxyAddresses). A `login_hint` may name one of them.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub display_name: String,
    /// Object ID (GUID). Generated from the UPN when absent.
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub admin: bool,
    /// Conditional Access demands MFA: sign-in performs it; refreshes of tokens whose session did not do MFA fail
    /// with AADSTS50076.
    #[serde(default)]
    pub mfa_required: bool,
    /// Conditional Access blocks this user (AADSTS53003).
    #[serde(default)]
    pub blocked_by_policy: bool,
}

/// A pre-seeded tenant-wide admin consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentConfig {
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// A tenant (directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantConfig {
    /// Tenant GUID.
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// Verified domains (the first is the initial `*.onmicrosoft.com` one by convention).
    pub domains: Vec<String>,
    pub user_consent: ConsentPolicy,
    /// Value of `tenant_region_scope` in discovery.
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    #[serde(default)]
    pub admin_consents: Vec<ConsentConfig>,
}

fn default_region() -> String {
    "AS".into()
}

/// Tunables. All durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Sign in the `login_hint` user (or `default_user`) without showing pages.
    pub auto_approve: bool,
    /// In auto-approve mode, what an admin answers on the consent screen.
    pub auto_consent: AutoConsent,
    /// Used by auto-approve when the request has no `login_hint`. None: the request fails (login_required).
    pub default_user: Option<String>,
    /// Authorization-code lifetime (Microsoft: about 10 minutes).
    pub code_ttl_secs: i64,
    /// How long a rotated (superseded) refresh token stays redeemable.
    pub refresh_grace_secs: i64,
    /// Sliding inactivity lifetime of refresh tokens (90 days).
    pub refresh_inactivity_secs: i64,
    /// id_token lifetime.
    pub id_token_ttl_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_approve: false,
            auto_consent: AutoConsent::Accept,
            default_user: None,
            code_ttl_secs: 600,
            refresh_grace_secs: 600,
            refresh_inactivity_secs: 90 * 24 * 3600,
            id_token_ttl_secs: 3600,
        }
    }
}

/// What auto-approve answers on a consent screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoConsent {
    /// Consent for oneself (an admin does not tick "Consent on behalf of your organization").
    Accept,
    /// An admin ticks "Consent on behalf of your organization" (non-admins consent for themselves).
    AcceptForOrganization,
    /// Click "Cancel" (AADSTS65004).
    Decline,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub settings: Settings,
    /// People and groups Microsoft Graph serves beyond the configured users.
    #[serde(default)]
    pub graph: GraphConfig,
}

/// The generated part of the directory Graph serves (see `graph/people.rs`): `generated_users` people after the
/// tenant's configured users, derived from `seed` on demand, so 100,000 of them cost no memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphConfig {
    /// Tenant GUID that holds the generated people (default: the first tenant).
    pub tenant: Option<String>,
    pub generated_users: u32,
    pub seed: u64,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig { tenant: None, generated_users: 0, seed: 1 }
    }
}

/// Client ID of the demo app registration (exo-setup's redirect URIs, "Mobile and desktop").
pub const DEMO_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// Client ID of the demo app whose loopback redirect is registered under "Web" (AADSTS7000218 case).
pub const DEMO_WEB_CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
/// Client ID of a multi-tenant demo app in the "allowed" tenant.
pub const DEMO_MULTI_CLIENT_ID: &str = "22222222-3333-4444-5555-666666666666";
/// GUID of the demo tenant (consent policy admin_only).
pub const DEMO_TENANT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
/// GUID of a second demo tenant whose users may consent for themselves.
pub const DEMO_OPEN_TENANT_ID: &str = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff";

fn user(upn: &str, name: &str) -> UserConfig {
    UserConfig {
        upn: upn.into(),
        mail: Some(upn.into()),
        aliases: vec![],
        display_name: name.into(),
        oid: None,
        admin: false,
        mfa_required: false,
        blocked_by_policy: false,
    }
}

fn redirect(uri: &str, platform: Platform) -> RedirectUri {
    RedirectUri { uri: uri.into(), platform }
}

impl Config {
    /// The directory shipped with the emulator (see README "Default directory").
    pub fn default_demo() -> Config {
        let admin = UserConfig { admin: true, ..user("admin@contoso.example", "管理 太郎") };
        let taro = UserConfig {
            aliases: vec!["t.yamada@contoso.example".into()],
            ..user("taro@contoso.example", "山田 太郎")
        };
        let hanako = user("hanako@contoso.example", "佐藤 花子");
        let mfa = UserConfig { mfa_required: true, ..user("jiro@contoso.example", "鈴木 次郎") };
        let blocked = UserConfig { blocked_by_policy: true, ..user("saburo@contoso.example", "高橋 三郎") };
        let app = AppConfig {
            client_id: DEMO_CLIENT_ID.into(),
            display_name: "exo-setup".into(),
            home_tenant: DEMO_TENANT_ID.into(),
            multi_tenant: false,
            redirect_uris: vec![
                redirect("dev.exosetup.wizard://oauth2/callback", Platform::MobileDesktop),
                redirect("http://localhost", Platform::MobileDesktop),
                redirect("http://127.0.0.1", Platform::MobileDesktop),
            ],
            client_secret: None,
            permissions: default_permissions(),
        };
        let web_app = AppConfig {
            client_id: DEMO_WEB_CLIENT_ID.into(),
            display_name: "exo-setup (misregistered as Web)".into(),
            home_tenant: DEMO_TENANT_ID.into(),
            multi_tenant: false,
            redirect_uris: vec![redirect("http://localhost", Platform::Web)],
            client_secret: None,
            permissions: default_permissions(),
        };
        let open_tenant = TenantConfig {
            id: DEMO_OPEN_TENANT_ID.into(),
            display_name: "Fabrikam".into(),
            domains: vec!["fabrikam.onmicrosoft.com".into(), "fabrikam.example".into()],
            user_consent: ConsentPolicy::Allowed,
            region: default_region(),
            users: vec![
                UserConfig { admin: true, ..user("admin@fabrikam.example", "伊藤 管理") },
                user("yuki@fabrikam.example", "田中 由紀"),
            ],
            apps: vec![AppConfig {
                client_id: DEMO_MULTI_CLIENT_ID.into(),
                display_name: "exo-setup (multi-tenant)".into(),
                home_tenant: DEMO_OPEN_TENANT_ID.into(),
                multi_tenant: true,
                redirect_uris: vec![
                    redirect("dev.exosetup.wizard://oauth2/callback", Platform::MobileDesktop),
                    redirect("http://127.0.0.1", Platform::MobileDesktop),
                    redirect("http://localhost:5173/spa", Platform::Spa),
                ],
                client_secret: None,
                permissions: default_permissions(),
            }],
            admin_consents: vec![],
        };
        Config {
            tenants: vec![
                TenantConfig {
                    id: DEMO_TENANT_ID.into(),
                    display_name: "Contoso".into(),
                    domains: vec!["contoso.onmicrosoft.com".into(), "contoso.example".into()],
                    user_consent: ConsentPolicy::AdminOnly,
                    region: default_region(),
                    users: vec![admin, taro, hanako, mfa, blocked],
                    apps: vec![app, web_app],
                    admin_consents: vec![],
                },
                open_tenant,
            ],
            settings: Settings { default_user: Some("taro@contoso.example".into()), ..Settings::default() },
            graph: GraphConfig::default(),
        }
    }

    /// The same directory with `users` generated people (Japanese and English names, some disabled, some
    /// without a mailbox) in the first tenant, deterministic from `seed`.
    pub fn with_generated_users(mut self, users: u32, seed: u64) -> Config {
        self.graph.generated_users = users;
        self.graph.seed = seed;
        self
    }

    /// Loads a config file: TOML if the name ends in `.toml`, JSON otherwise.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}
