//! # entra-emulator
//!
//! A local stand-in for the Microsoft identity platform (Entra ID v2.0 endpoints) that behaves like the real one,
//! including its quirks and its errors, so that what passes against it works against a real tenant. It serves
//! discovery, JWKS, authorize (with sign-in/consent pages or auto-approve), token (authorization_code with PKCE,
//! refresh_token with rotation), adminconsent and logout at Microsoft's paths, on a loopback port.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use entra_emulator::{Config, Emulator};
//! let emu = Emulator::start(Config::default_demo()).await?; // 127.0.0.1:<free port>
//! emu.set_auto_approve(true);
//! let authority = format!("{}/{}", emu.base_url(), entra_emulator::DEMO_TENANT_ID);
//! # let _ = authority;
//! emu.advance_clock(std::time::Duration::from_secs(91 * 24 * 3600));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The server runs on its own thread with its own Tokio runtime, so the handle works from `#[tokio::test]`
//! (any flavour) and from plain synchronous tests ([`Emulator::start_blocking`]). See README.md for the CLI,
//! the config format and the control API.

#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod directory;
pub mod dovecot;
mod endpoints;
pub mod errors;
pub mod faults;
pub mod graph;
mod pages;
mod state;
pub mod tokens;

pub use config::{
    AppConfig, AutoConsent, Config, ConsentPolicy, Platform, RedirectUri, Settings, TenantConfig, UserConfig,
    DEMO_CLIENT_ID, DEMO_MULTI_CLIENT_ID, DEMO_OPEN_TENANT_ID, DEMO_TENANT_ID, DEMO_WEB_CLIENT_ID,
};
pub use endpoints::control::{SettingsPatch, Snapshot};
pub use errors::ErrorBody;
pub use faults::{Endpoint, Fault, FaultKind};
pub use graph::people::{NewPerson, Person, PersonEdit};
pub use state::{CodeRecord, Grant, IssuedToken, RefreshRecord};
pub use tokens::Keys;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// How to start: where to listen and which key signs.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Default `127.0.0.1:0` (a free loopback port).
    pub listen: SocketAddr,
    /// Default: the shipped TEST-ONLY key.
    pub keys: Option<Keys>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions { listen: SocketAddr::from(([127, 0, 0, 1], 0)), keys: None }
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<state::Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts on a free loopback port (usable from any async runtime; the server has its own).
    pub async fn start(config: Config) -> std::io::Result<Emulator> {
        Self::start_with(config, StartOptions::default())
    }

    /// Same as [`Emulator::start`] for synchronous callers.
    pub fn start_blocking(config: Config) -> std::io::Result<Emulator> {
        Self::start_with(config, StartOptions::default())
    }

    /// Starts with explicit options. The socket is bound before this returns, so the base URL is usable at once.
    pub fn start_with(config: Config, opts: StartOptions) -> std::io::Result<Emulator> {
        let listener = std::net::TcpListener::bind(opts.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let keys = opts.keys.unwrap_or_else(Keys::test_only);
        let shared = Arc::new(state::Shared::new(config, keys, format!("http://{addr}")));
        let router = endpoints::router(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("entra-emulator")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new().name("entra-emulator".into()).spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
        })?;
        Ok(Emulator { shared, addr, stop: Some(stop), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT` — the "authority host"; authorities are `{base_url}/{tenant}`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `iss` of id_tokens for a tenant: `{base}/{tid}/v2.0`.
    pub fn issuer(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/v2.0", self.shared.base_url)
    }

    /// `iss` of access tokens (v1 shape, like Exchange's `https://sts.windows.net/{tid}/`): `{base}/{tid}/`.
    /// This is what Dovecot's `issuers` must list.
    pub fn access_token_issuer(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/", self.shared.base_url)
    }

    /// Sign in the `login_hint` user without pages.
    pub fn set_auto_approve(&self, on: bool) {
        self.patch_settings(SettingsPatch { auto_approve: Some(on), ..Default::default() });
    }

    /// What auto-approve answers on consent screens.
    pub fn set_auto_consent(&self, choice: AutoConsent) {
        self.patch_settings(SettingsPatch { auto_consent: Some(choice), ..Default::default() });
    }

    pub fn patch_settings(&self, patch: SettingsPatch) {
        endpoints::control::patch_settings(&self.shared, patch);
    }

    /// Moves the emulated clock forward (codes, grace periods, inactivity expiry).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.shared.lock().clock.advance(by);
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// "Password change": the user's refresh tokens and sessions are revoked (AADSTS50173).
    pub fn revoke_user(&self, user: &str) -> Result<(), String> {
        endpoints::control::revoke_user(&self.shared, user)
    }

    /// Toggle the MFA requirement; turning it on makes existing refresh tokens fail with AADSTS50076.
    pub fn set_mfa_required(&self, user: &str, required: bool) -> Result<(), String> {
        endpoints::control::set_mfa(&self.shared, user, required)
    }

    /// Toggle a Conditional Access block (AADSTS53003).
    pub fn set_blocked(&self, user: &str, blocked: bool) -> Result<(), String> {
        endpoints::control::set_blocked(&self.shared, user, blocked)
    }

    /// Records a tenant-wide admin consent as if an admin had granted it.
    pub fn grant_admin_consent(&self, tenant_id: &str, client_id: &str, scopes: &[&str]) {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.shared.lock().record_grant(tenant_id, client_id, None, &scopes, "library");
    }

    /// Tenant-wide admin consents recorded so far.
    pub fn admin_consents(&self) -> Vec<Grant> {
        self.shared.lock().grants.iter().filter(|g| g.upn.is_none()).cloned().collect()
    }

    /// All grants (per-user and tenant-wide).
    pub fn grants(&self) -> Vec<Grant> {
        self.shared.lock().grants.clone()
    }

    /// Adds a person to the directory Graph serves (the tenant of the UPN's domain); returns the object id.
    pub fn graph_add_user(&self, person: NewPerson) -> Result<String, String> {
        graph::edits::add(&self.shared, person)
    }

    /// Renames, disables/enables, or changes the mailbox of a person (by object id or UPN).
    pub fn graph_edit_user(&self, id_or_upn: &str, edit: PersonEdit) -> Result<(), String> {
        graph::edits::edit(&self.shared, id_or_upn, edit)
    }

    /// Removes a person from the directory (by object id or UPN).
    pub fn graph_remove_user(&self, id_or_upn: &str) -> Result<(), String> {
        graph::edits::remove(&self.shared, id_or_upn)
    }

    /// A person as Graph would show them now.
    pub fn graph_user(&self, id_or_upn: &str) -> Option<Person> {
        graph::edits::person(&self.shared, id_or_upn)
    }

    /// Object id of a group of a tenant by display name (the fixed tree in `graph/people.rs`).
    pub fn graph_group_id(&self, tenant_id: &str, display_name: &str) -> Option<String> {
        let w = self.shared.lock();
        let d = w.graph.get(&tenant_id.to_lowercase())?;
        d.group_index(display_name).map(|i| d.groups()[i].id.clone())
    }

    /// Everything issued and recorded.
    pub fn snapshot(&self) -> Snapshot {
        endpoints::control::snapshot(&self.shared)
    }

    /// SubjectPublicKeyInfo PEM of the signing key.
    pub fn public_key_pem(&self) -> String {
        self.shared.keys.public_pem.clone()
    }

    /// `kid` header value of issued tokens.
    pub fn key_id(&self) -> String {
        self.shared.keys.kid.clone()
    }

    /// Writes the public key as Dovecot's local-validation dictionary expects it:
    /// `<keys_dir>/default/RS256/<kid>` (PEM). Returns the file path.
    pub fn write_dovecot_key(&self, keys_dir: &Path) -> std::io::Result<std::path::PathBuf> {
        write_dovecot_key(&self.shared.keys, keys_dir)
    }

    /// Stops the server and waits for its thread.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// See [`Emulator::write_dovecot_key`].
pub fn write_dovecot_key(keys: &Keys, keys_dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let dir = keys_dir.join("default").join("RS256");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(&keys.kid);
    std::fs::write(&path, &keys.public_pem)?;
    Ok(path)
}
