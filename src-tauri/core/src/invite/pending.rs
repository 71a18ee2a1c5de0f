//! Invitations opened and shown but not yet accepted, by opaque id.
//!
//! The confirmation screen receives a preview and an id; accepting sends back only the id, so
//! what gets stored is exactly what was shown (the UI cannot alter it in between). Entries
//! expire after [`PENDING_TTL`] and are used once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Actor, ErrorKind, UiError};

use super::Invitation;

/// How long an opened invitation waits for the user's decision.
pub const PENDING_TTL: Duration = Duration::from_secs(30 * 60);

/// Most invitations kept open at once (the oldest is dropped).
const MAX_PENDING: usize = 16;

#[derive(Default)]
pub struct PendingInvitations(Mutex<HashMap<String, (Invitation, Instant)>>);

impl PendingInvitations {
    /// Keeps `inv` and returns its id.
    pub fn insert(&self, inv: Invitation) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < PENDING_TTL);
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), (inv, Instant::now()));
        id
    }

    /// The invitation under `id`, still pending (not removed).
    pub fn get(&self, id: &str) -> Result<Invitation, UiError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some((inv, at)) if at.elapsed() < PENDING_TTL => Ok(inv.clone()),
            _ => Err(not_pending()),
        }
    }

    /// Forgets `id` (accepted or discarded).
    pub fn remove(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

fn not_pending() -> UiError {
    UiError::new(
        ErrorKind::InviteNotPending,
        Actor::User,
        "This invitation is no longer open (it was already used, discarded, or left open for more than 30 minutes). Open it again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_opaque_and_removed_ones_are_gone() {
        let p = PendingInvitations::default();
        let inv = super::super::format::tests_sample();
        let a = p.insert(inv.clone());
        let b = p.insert(inv.clone());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(p.get(&a).unwrap(), inv);
        p.remove(&a);
        assert_eq!(p.get(&a).unwrap_err().kind, ErrorKind::InviteNotPending);
        assert!(p.get(&b).is_ok());
        for _ in 0..40 {
            p.insert(inv.clone());
        }
        assert!(p.0.lock().unwrap().len() <= MAX_PENDING);
    }
}
