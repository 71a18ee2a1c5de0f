//! Unit tests of the keychain logic over in-memory entries.

use crate::DetailKey;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::error::{Actor, ErrorKind, UiError};

fn account() -> AccountKey {
    AccountKey::new("11111111-2222-3333-4444-555555555555", "Alice@Contoso.example")
}

/// A value of `len` ASCII bytes that differs for every `seed`.
fn value(seed: char, len: usize) -> Secret {
    Secret::new((0..len).map(|i| if i % 7 == 0 { seed } else { char::from(b'a' + (i % 26) as u8) }).collect::<String>())
}

/// Memory entries whose writes (and, when `crash`, deletes too) fail once `budget` writes are used
/// up: a platform store failing, or the process dying, in the middle of a multi-entry write.
struct FailAfter {
    inner: MemoryEntries,
    budget: AtomicUsize,
    crash: bool,
}

impl FailAfter {
    fn new(budget: usize, crash: bool) -> Self {
        Self { inner: MemoryEntries::new("failing"), budget: AtomicUsize::new(budget), crash }
    }

    fn refill(&self, budget: usize) {
        self.budget.store(budget, Ordering::SeqCst);
    }

    fn failure() -> KeychainError {
        KeychainError::Platform { operation: "set", service: "failing".into(), cause: "injected failure".into() }
    }

    fn exhausted(&self) -> bool {
        self.budget.load(Ordering::SeqCst) == 0
    }
}

impl EntryStore for FailAfter {
    fn service(&self) -> &str {
        "failing"
    }

    fn get(&self, name: &str) -> Result<Option<Secret>, KeychainError> {
        self.inner.get(name)
    }

    fn set(&self, name: &str, value: &str) -> Result<(), KeychainError> {
        if self.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_err() {
            return Err(Self::failure());
        }
        self.inner.set(name, value)
    }

    fn delete(&self, name: &str) -> Result<bool, KeychainError> {
        if self.crash && self.exhausted() {
            return Err(Self::failure());
        }
        self.inner.delete(name)
    }
}

#[test]
fn account_key_is_lower_cased_and_names_entries() {
    let key = AccountKey::new(" Contoso.Example ", "Alice@Contoso.EXAMPLE");
    assert_eq!(key.refresh_entry(), "refresh:contoso.example:alice@contoso.example");
    assert_eq!(key.access_entry(), "access:contoso.example:alice@contoso.example");
    assert_eq!(key, AccountKey::new("contoso.example", "alice@contoso.example"));
}

#[test]
fn default_service_name_differs_per_build() {
    assert_eq!(default_service_name(), format!("{}.test", crate::identity::IDENTIFIER));
    assert_ne!(default_service_name(), crate::identity::IDENTIFIER);
}

#[test]
fn refresh_token_round_trip_and_delete() {
    let kc = MemoryKeychain::new();
    let acct = account();
    assert!(kc.get_refresh_token(&acct).unwrap().is_none());
    kc.set_refresh_token(&acct, &Secret::new("1.AXfirst")).unwrap();
    assert_eq!(kc.get_refresh_token(&acct).unwrap().unwrap().expose(), "1.AXfirst");
    // The same account spelled differently finds the same token.
    let other_case = AccountKey::new("11111111-2222-3333-4444-555555555555", "ALICE@contoso.example");
    assert_eq!(kc.get_refresh_token(&other_case).unwrap().unwrap().expose(), "1.AXfirst");
    kc.set_refresh_token(&acct, &Secret::new("1.AXrotated")).unwrap();
    assert_eq!(kc.get_refresh_token(&acct).unwrap().unwrap().expose(), "1.AXrotated");
    kc.delete_refresh_token(&acct).unwrap();
    assert!(kc.get_refresh_token(&acct).unwrap().is_none());
    kc.delete_refresh_token(&acct).unwrap(); // absent: fine
    assert!(kc.entries().names().is_empty());
}

#[test]
fn access_token_keeps_expiry_and_scopes() {
    let kc = MemoryKeychain::with_chunk_bytes(64);
    let acct = account();
    let token = CachedAccessToken {
        token: value('X', 2_000),
        expires_at: 1_800_000_000,
        scopes: vec![
            "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
            "https://outlook.office.com/SMTP.Send".into(),
        ],
    };
    kc.set_access_token(&acct, &token).unwrap();
    let back = kc.get_access_token(&acct).unwrap().unwrap();
    assert_eq!(back.token.expose(), token.token.expose());
    assert_eq!(back.expires_at, 1_800_000_000);
    assert_eq!(back.scopes, token.scopes);
    assert!(back.expires_within(1_800_000_000 - 299, 300));
    assert!(!back.expires_within(1_800_000_000 - 301, 300));
    assert!(!format!("{back:?}").contains("XaaaaaaX") && format!("{back:?}").contains("<redacted>"));

    // No scopes round-trips as no scopes; the refresh token is a separate entry.
    kc.set_access_token(&acct, &CachedAccessToken { token: Secret::new("at"), expires_at: 5, scopes: vec![] }).unwrap();
    let back = kc.get_access_token(&acct).unwrap().unwrap();
    assert!(back.scopes.is_empty());
    assert_eq!(back.token.expose(), "at");
    assert!(kc.get_refresh_token(&acct).unwrap().is_none());

    kc.set_refresh_token(&acct, &Secret::new("rt")).unwrap();
    kc.delete_account(&acct).unwrap();
    assert!(kc.entries().names().is_empty(), "{:?}", kc.entries().names());
}

#[test]
fn large_value_is_split_into_parts_and_reassembled() {
    let kc = MemoryKeychain::with_chunk_bytes(100);
    let big = value('Q', 1_050);
    kc.set_value("refresh:t:a", &big).unwrap();

    let names = kc.entries().names();
    assert_eq!(names.len(), 12, "{names:?}"); // header + 11 parts
    assert!(names.contains(&"refresh:t:a".to_owned()));
    for i in 1..=11 {
        assert!(names.contains(&format!("refresh:t:a#g1#{i}")), "{names:?}");
    }
    assert_eq!(kc.entries().raw("refresh:t:a").unwrap().expose(), "v1:chunks:11:1050");
    assert!(kc.entries().raw("refresh:t:a#g1#1").unwrap().len() <= 100);
    assert_eq!(kc.get_value("refresh:t:a").unwrap().unwrap().expose(), big.expose());

    // Multi-byte text is cut at character boundaries and comes back intact.
    let text = Secret::new("トークン😀".repeat(40));
    kc.set_value("k", &text).unwrap();
    assert_eq!(kc.get_value("k").unwrap().unwrap().expose(), text.expose());

    // A small value stays a single entry.
    kc.set_value("small", &Secret::new("tiny")).unwrap();
    assert_eq!(kc.entries().raw("small").unwrap().expose(), "inline:tiny");
}

#[test]
fn overwrite_switches_generation_and_removes_old_parts() {
    let kc = MemoryKeychain::with_chunk_bytes(100);
    kc.set_value("k", &value('A', 350)).unwrap(); // g1, 4 parts
    kc.set_value("k", &value('B', 250)).unwrap(); // g2, 3 parts
    assert_eq!(kc.entries().names(), vec!["k", "k#g2#1", "k#g2#2", "k#g2#3"]);
    assert_eq!(kc.get_value("k").unwrap().unwrap().expose(), value('B', 250).expose());
    kc.set_value("k", &value('C', 20)).unwrap(); // inline
    assert_eq!(kc.entries().names(), vec!["k"]);
    kc.set_value("k", &value('D', 150)).unwrap(); // chunked again
    assert_eq!(kc.entries().names(), vec!["k", "k#g1#1", "k#g1#2"]);
    assert_eq!(kc.get_value("k").unwrap().unwrap().expose(), value('D', 150).expose());
}

#[test]
fn failed_overwrite_keeps_the_old_value_readable() {
    let old = value('O', 450); // 5 parts of 100
    let new = value('N', 650); // 7 parts
                               // Fail at every step of the new write: each part, and the header switch (8th write).
    for budget in 0..=7 {
        let kc = Keychain::with_entries(FailAfter::new(6, false), 100);
        kc.set_value("refresh:t:a", &old).unwrap();
        kc.entries().refill(budget);
        let err = kc.set_value("refresh:t:a", &new).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::KeychainError);
        assert_eq!(
            kc.get_value("refresh:t:a").unwrap().unwrap().expose(),
            old.expose(),
            "old value lost after {budget} successful writes"
        );
        // Once the store works again, the new value is written and nothing else is left.
        kc.entries().refill(usize::MAX);
        kc.set_value("refresh:t:a", &new).unwrap();
        assert_eq!(kc.get_value("refresh:t:a").unwrap().unwrap().expose(), new.expose());
        let names = kc.entries().inner.names();
        assert_eq!(names.len(), 8, "budget {budget}: {names:?}");
    }
}

#[test]
fn crash_in_the_middle_leaves_a_readable_value_and_the_next_write_cleans_up() {
    let old = value('O', 450);
    for budget in 0..=7 {
        // `crash`: once the budget is spent deletes fail too, so no cleanup happens — as if
        // the process had died right there.
        let kc = Keychain::with_entries(FailAfter::new(6, true), 100);
        kc.set_value("k", &old).unwrap();
        kc.entries().refill(budget);
        assert!(kc.set_value("k", &value('N', 650)).is_err());
        assert_eq!(kc.get_value("k").unwrap().unwrap().expose(), old.expose(), "budget {budget}");

        // "Restart": a shorter new value overwrites the orphaned parts and sweeps the rest.
        kc.entries().refill(usize::MAX);
        let newer = value('M', 220);
        kc.set_value("k", &newer).unwrap();
        assert_eq!(kc.get_value("k").unwrap().unwrap().expose(), newer.expose());
        assert_eq!(kc.entries().inner.names(), vec!["k", "k#g2#1", "k#g2#2", "k#g2#3"], "budget {budget}");
    }
}

#[test]
fn delete_removes_every_part() {
    let kc = MemoryKeychain::with_chunk_bytes(100);
    kc.set_value("k", &value('A', 999)).unwrap();
    kc.set_value("other", &value('B', 300)).unwrap();
    kc.delete_value("k").unwrap();
    assert!(kc.get_value("k").unwrap().is_none());
    assert!(kc.entries().names().iter().all(|n| n.starts_with("other")), "{:?}", kc.entries().names());
    kc.delete_value("k").unwrap();
}

#[test]
fn delete_after_a_crash_mid_write_leaves_no_part() {
    // A first write, or an overwrite, dies after some parts and before the header switch; then
    // the account is deleted (sign-out, removal): nothing of the interrupted write may stay.
    for existing in [None, Some(30), Some(450)] {
        for budget in 1..=3 {
            let kc = Keychain::with_entries(FailAfter::new(usize::MAX, true), 100);
            if let Some(len) = existing {
                kc.set_value("k", &value('O', len)).unwrap();
            }
            kc.entries().refill(budget);
            assert!(kc.set_value("k", &value('N', 650)).is_err());
            kc.entries().refill(usize::MAX);
            kc.delete_value("k").unwrap();
            assert_eq!(kc.entries().inner.names(), Vec::<String>::new(), "{existing:?}, budget {budget}");
        }
    }
}

#[test]
fn damaged_values_are_reported_not_guessed() {
    let kc = MemoryKeychain::with_chunk_bytes(100);
    kc.entries().set("bad", "not a header").unwrap();
    assert_eq!(kc.get_value("bad").unwrap_err().kind(), ErrorKind::KeychainCorrupt);

    kc.set_value("k", &value('A', 350)).unwrap();
    kc.entries().delete("k#g1#3").unwrap();
    let err = kc.get_value("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeychainCorrupt);
    let ui: UiError = err.into();
    assert_eq!(ui.actor, Actor::User);
    assert_eq!(ui.detail[&DetailKey::Entry], "k");

    kc.entries().set("access:t:a", "inline:garbage").unwrap();
    let acct = AccountKey::new("t", "a");
    assert_eq!(kc.get_access_token(&acct).unwrap_err().kind(), ErrorKind::KeychainCorrupt);
}

#[test]
fn token_store_is_object_safe() {
    let store: std::sync::Arc<dyn TokenStore> = std::sync::Arc::new(MemoryKeychain::new());
    store.set_refresh_token(&account(), &Secret::new("rt")).unwrap();
    assert_eq!(store.get_refresh_token(&account()).unwrap().unwrap().expose(), "rt");
    assert_eq!(store.service(), "memory");
}

#[test]
fn secret_debug_is_redacted() {
    let secret = Secret::new("eyJ0eXAiOiJKV1QiLCJhbGciOi");
    assert!(!format!("{secret:?}").contains("eyJ0"));
    assert!(!format!("{secret}").contains("eyJ0"));
}
