//! [`MemoryEntries`]: raw entries in a map, for tests of everything above the platform store.

use std::collections::BTreeMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::{EntryStore, KeychainError, Secret};

/// An in-memory [`EntryStore`]; values are zeroized when replaced, removed or dropped.
pub struct MemoryEntries {
    service: String,
    entries: Mutex<BTreeMap<String, Zeroizing<String>>>,
}

impl MemoryEntries {
    pub fn new(service: &str) -> Self {
        Self { service: service.to_owned(), entries: Mutex::new(BTreeMap::new()) }
    }

    /// The names of all entries, sorted (tests check which parts exist).
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The raw value of one entry (tests check the header format).
    pub fn raw(&self, name: &str) -> Option<Secret> {
        self.lock().get(name).map(|v| Secret::new(v.as_str()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Zeroizing<String>>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EntryStore for MemoryEntries {
    fn service(&self) -> &str {
        &self.service
    }

    fn get(&self, name: &str) -> Result<Option<Secret>, KeychainError> {
        Ok(self.raw(name))
    }

    fn set(&self, name: &str, value: &str) -> Result<(), KeychainError> {
        self.lock().insert(name.to_owned(), Zeroizing::new(value.to_owned()));
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool, KeychainError> {
        Ok(self.lock().remove(name).is_some())
    }
}
