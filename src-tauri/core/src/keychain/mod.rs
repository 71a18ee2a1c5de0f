//! The OS keychain: where a user's refresh token (and the current access token, for fast reuse)
//! live — never in SQLite, logs or IPC payloads, and never in a plaintext fallback.
//!
//! - [`Secret`]: the secret string type (`Debug`/`Display` print `<redacted>`, no `Serialize`,
//!   zeroized on drop, [`Secret::expose`] to read it).
//! - [`TokenStore`]: get/set/delete the refresh token and the cached access token
//!   ([`CachedAccessToken`]: token, expiry as a UNIX timestamp, scopes) of one [`AccountKey`]
//!   (tenant + mailbox address, both lower-cased). Entry names: `refresh:<tenant>:<address>` and
//!   `access:<tenant>:<address>`.
//! - [`OsKeychain`]: the platform store through the `keyring` crate, version 3, with its native
//!   backend named explicitly per OS in `Cargo.toml` (Linux: Secret Service over D-Bus —
//!   gnome-keyring or KWallet — `sync-secret-service` + `crypto-rust`; Windows: Credential
//!   Manager, `windows-native`; macOS: the login keychain, `apple-native`). Those three
//!   dependency lines (and [`DEFAULT_CHUNK_BYTES`]) are the only platform differences.
//!   **Only Linux has been built and run** (against a real gnome-keyring, see
//!   `tests/keychain_secret_service.rs`); Windows and macOS are untested.
//! - [`MemoryKeychain`]: the same logic over an in-memory map, for tests. (keyring's own mock
//!   keeps a value per `Entry` object only, so it cannot stand in for a store.)
//!
//! # Service name
//! Every entry is stored under one service name, [`service_name()`]:
//! - release builds: the app identifier, `dev.exosetup.wizard` ([`crate::identity::IDENTIFIER`]);
//! - debug (dev) builds: `dev.exosetup.wizard.dev`, so a development build never reads or
//!   overwrites the tokens of an installed release;
//! - this crate's unit tests: `dev.exosetup.wizard.test`;
//! - any build: the environment variable `EXO_SETUP_KEYCHAIN_SERVICE` ([`SERVICE_ENV`]) when set
//!   and not empty — integration tests set a unique one per run.
//!
//! # Size limits
//! Windows' Credential Manager holds at most 2,560 bytes per credential, and Entra tokens can be
//! larger. Every value goes through the same splitting logic on all platforms (see the
//! `chunked` module): a value longer than the chunk size is stored as numbered parts plus a
//! header entry, written so that a failure at any step leaves the old value readable.
//!
//! # Blocking
//! Every call blocks (D-Bus round trips on Linux, tens of milliseconds; a keychain prompt on
//! macOS can block indefinitely). Async callers run them in `tokio::task::spawn_blocking`.
//!
//! # Concurrency
//! Writes in one process are serialized; readers retry when a concurrent write
//! switched generations under them. Refreshing one account's tokens must still be serialized by
//! the caller (read–refresh–write is not atomic here).

mod chunked;
mod error;
mod memory;
mod os;
mod secret;

pub use error::KeychainError;
pub use memory::MemoryEntries;
pub use os::OsEntries;
pub use secret::Secret;

use chunked::Chunked;
use zeroize::Zeroizing;

/// Environment variable overriding the service name.
pub const SERVICE_ENV: &str = "EXO_SETUP_KEYCHAIN_SERVICE";

/// Largest part, in UTF-8 bytes, that one keychain entry holds. Windows: 1,000 bytes, i.e. at
/// most 2,000 bytes once stored as UTF-16, under the 2,560-byte limit. Elsewhere the stores have
/// no small limit; 16 KiB keeps ordinary tokens in a single entry.
pub const DEFAULT_CHUNK_BYTES: usize = if cfg!(windows) { 1_000 } else { 16 * 1024 };

/// The service name entries are stored under (see the module documentation).
pub fn service_name() -> String {
    if let Ok(value) = std::env::var(SERVICE_ENV) {
        let value = value.trim();
        if !value.is_empty() {
            return value.to_owned();
        }
    }
    default_service_name()
}

fn default_service_name() -> String {
    if cfg!(test) {
        format!("{}.test", crate::identity::IDENTIFIER)
    } else if cfg!(debug_assertions) {
        format!("{}.dev", crate::identity::IDENTIFIER)
    } else {
        crate::identity::IDENTIFIER.to_owned()
    }
}

/// Identifies one account's tokens: the tenant and the mailbox address, both lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    tenant: String,
    address: String,
}

impl AccountKey {
    pub fn new(tenant: &str, address: &str) -> Self {
        Self { tenant: tenant.trim().to_lowercase(), address: address.trim().to_lowercase() }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Entry name of the refresh token: `refresh:<tenant>:<address>`.
    pub fn refresh_entry(&self) -> String {
        format!("refresh:{}:{}", self.tenant, self.address)
    }

    /// Entry name of the cached access token: `access:<tenant>:<address>`.
    pub fn access_entry(&self) -> String {
        format!("access:{}:{}", self.tenant, self.address)
    }
}

/// An access token kept for reuse until shortly before it expires.
#[derive(Debug, Clone)]
pub struct CachedAccessToken {
    pub token: Secret,
    /// Expiry as a UNIX timestamp (seconds).
    pub expires_at: i64,
    /// The scopes the token was granted (may be empty when unknown).
    pub scopes: Vec<String>,
}

impl CachedAccessToken {
    /// True when the token expires within `margin_secs` of `now` (UNIX seconds) or already has.
    pub fn expires_within(&self, now: i64, margin_secs: i64) -> bool {
        self.expires_at <= now.saturating_add(margin_secs)
    }

    const FORMAT: &'static str = "exo-at1";

    /// `exo-at1\n<expires_at>\n<scopes separated by spaces>\n<token>`.
    fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}\n{}\n{}\n{}",
            Self::FORMAT,
            self.expires_at,
            self.scopes.join(" "),
            self.token.expose()
        ))
    }

    fn decode(raw: &str) -> Option<Self> {
        let mut lines = raw.splitn(4, '\n');
        if lines.next()? != Self::FORMAT {
            return None;
        }
        let expires_at = lines.next()?.parse().ok()?;
        let scopes = lines.next()?.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        let token = Secret::new(lines.next()?);
        Some(Self { token, expires_at, scopes })
    }
}

/// Where an account's tokens are kept. All methods block (see the module documentation).
/// Deleting something absent is not an error.
pub trait TokenStore: Send + Sync {
    /// The service name the entries are stored under.
    fn service(&self) -> &str;

    fn get_refresh_token(&self, account: &AccountKey) -> Result<Option<Secret>, KeychainError>;
    /// Replaces the refresh token; on error the previous one is still stored (so a rotated
    /// refresh token is written before the old one is dropped).
    fn set_refresh_token(&self, account: &AccountKey, token: &Secret) -> Result<(), KeychainError>;
    fn delete_refresh_token(&self, account: &AccountKey) -> Result<(), KeychainError>;

    fn get_access_token(&self, account: &AccountKey) -> Result<Option<CachedAccessToken>, KeychainError>;
    fn set_access_token(&self, account: &AccountKey, token: &CachedAccessToken) -> Result<(), KeychainError>;
    fn delete_access_token(&self, account: &AccountKey) -> Result<(), KeychainError>;

    /// Deletes both tokens of the account (sign-out, removal of the account).
    fn delete_account(&self, account: &AccountKey) -> Result<(), KeychainError> {
        self.delete_access_token(account)?;
        self.delete_refresh_token(account)
    }

    /// Can a sign-in be stored now? Checked before a browser round trip, so that a locked or
    /// missing keychain is reported before Microsoft issues a refresh token that could not be
    /// kept. Writes and removes a probe entry: a read alone does not reveal a locked keychain.
    fn check_writable(&self) -> Result<(), KeychainError> {
        Ok(())
    }
}

/// The entry [`TokenStore::check_writable`] writes and removes at once.
pub const PROBE_ENTRY: &str = "exo-setup.probe";

/// One store of raw keychain entries (name → string) under one service name: what a platform
/// keychain offers. [`Keychain`] builds the size splitting and the token layout on top.
pub trait EntryStore: Send + Sync {
    fn service(&self) -> &str;
    /// The entry's value, or `None` when there is no such entry.
    fn get(&self, name: &str) -> Result<Option<Secret>, KeychainError>;
    /// Creates or replaces the entry.
    fn set(&self, name: &str, value: &str) -> Result<(), KeychainError>;
    /// Removes the entry; `Ok(false)` when there was none.
    fn delete(&self, name: &str) -> Result<bool, KeychainError>;
}

/// A [`TokenStore`] over any [`EntryStore`], splitting values larger than `chunk_bytes`.
pub struct Keychain<E: EntryStore> {
    inner: Chunked<E>,
}

/// The platform keychain.
pub type OsKeychain = Keychain<OsEntries>;
/// An in-memory keychain for tests.
pub type MemoryKeychain = Keychain<MemoryEntries>;

impl OsKeychain {
    /// The platform keychain under [`service_name()`] with [`DEFAULT_CHUNK_BYTES`].
    /// Creating it does not touch the keychain; the first call does.
    pub fn new() -> Self {
        Self::with_service(&service_name(), DEFAULT_CHUNK_BYTES)
    }

    /// The platform keychain under an explicit service name and chunk size (tests).
    pub fn with_service(service: &str, chunk_bytes: usize) -> Self {
        Keychain::with_entries(OsEntries::new(service), chunk_bytes)
    }
}

impl Default for OsKeychain {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryKeychain {
    /// An empty in-memory keychain with [`DEFAULT_CHUNK_BYTES`].
    pub fn new() -> Self {
        Self::with_chunk_bytes(DEFAULT_CHUNK_BYTES)
    }

    /// An empty in-memory keychain splitting values above `chunk_bytes` (at least 16).
    pub fn with_chunk_bytes(chunk_bytes: usize) -> Self {
        Keychain::with_entries(MemoryEntries::new("memory"), chunk_bytes)
    }
}

impl Default for MemoryKeychain {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: EntryStore> Keychain<E> {
    /// Panics if `chunk_bytes` is below 16.
    pub fn with_entries(entries: E, chunk_bytes: usize) -> Self {
        Self { inner: Chunked::new(entries, chunk_bytes) }
    }

    /// The raw entries (tests inspect them).
    pub fn entries(&self) -> &E {
        &self.inner.entries
    }

    pub fn chunk_bytes(&self) -> usize {
        self.inner.chunk_bytes
    }

    /// Reads a logical value (reassembling parts).
    pub fn get_value(&self, key: &str) -> Result<Option<Secret>, KeychainError> {
        self.inner.get(key)
    }

    /// Writes a logical value (splitting it when needed); on error the old value is kept.
    pub fn set_value(&self, key: &str, value: &Secret) -> Result<(), KeychainError> {
        self.inner.set(key, value.expose())
    }

    /// Deletes a logical value and all its parts.
    pub fn delete_value(&self, key: &str) -> Result<(), KeychainError> {
        self.inner.delete(key)
    }
}

impl<E: EntryStore> TokenStore for Keychain<E> {
    fn service(&self) -> &str {
        self.inner.entries.service()
    }

    fn check_writable(&self) -> Result<(), KeychainError> {
        self.inner.entries.set(PROBE_ENTRY, "probe")?;
        self.inner.entries.delete(PROBE_ENTRY).map(|_| ())
    }

    fn get_refresh_token(&self, account: &AccountKey) -> Result<Option<Secret>, KeychainError> {
        self.get_value(&account.refresh_entry())
    }

    fn set_refresh_token(&self, account: &AccountKey, token: &Secret) -> Result<(), KeychainError> {
        self.set_value(&account.refresh_entry(), token)
    }

    fn delete_refresh_token(&self, account: &AccountKey) -> Result<(), KeychainError> {
        self.delete_value(&account.refresh_entry())
    }

    fn get_access_token(&self, account: &AccountKey) -> Result<Option<CachedAccessToken>, KeychainError> {
        let entry = account.access_entry();
        match self.get_value(&entry)? {
            None => Ok(None),
            Some(raw) => CachedAccessToken::decode(raw.expose()).map(Some).ok_or_else(|| KeychainError::Corrupt {
                service: self.service().to_owned(),
                entry,
                reason: "not a cached access token".into(),
            }),
        }
    }

    fn set_access_token(&self, account: &AccountKey, token: &CachedAccessToken) -> Result<(), KeychainError> {
        let encoded = token.encode();
        self.inner.set(&account.access_entry(), &encoded)
    }

    fn delete_access_token(&self, account: &AccountKey) -> Result<(), KeychainError> {
        self.delete_value(&account.access_entry())
    }
}

#[cfg(test)]
mod tests;
