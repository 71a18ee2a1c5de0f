//! [`OsEntries`]: raw entries in the platform keychain through `keyring` 3.
//!
//! Each entry is a keyring `Entry` with service = the service name and user = the entry name.
//! Which backend keyring uses is decided by the features in `Cargo.toml`, one line per OS.

use super::{EntryStore, KeychainError, Secret};

/// The platform keychain's entries under one service name. Every call blocks.
pub struct OsEntries {
    service: String,
}

impl OsEntries {
    pub fn new(service: &str) -> Self {
        Self { service: service.to_owned() }
    }

    fn entry(&self, operation: &'static str, name: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(&self.service, name)
            .map_err(|e| KeychainError::from_keyring(operation, &self.service, name, e))
    }
}

impl EntryStore for OsEntries {
    fn service(&self) -> &str {
        &self.service
    }

    fn get(&self, name: &str) -> Result<Option<Secret>, KeychainError> {
        match self.entry("get", name)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(KeychainError::from_keyring("get", &self.service, name, e)),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<(), KeychainError> {
        self.entry("set", name)?
            .set_password(value)
            .map_err(|e| KeychainError::from_keyring("set", &self.service, name, e))
    }

    fn delete(&self, name: &str) -> Result<bool, KeychainError> {
        match self.entry("delete", name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(KeychainError::from_keyring("delete", &self.service, name, e)),
        }
    }
}
