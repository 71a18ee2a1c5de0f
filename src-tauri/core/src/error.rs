//! The one shape in which every front end shows an error.
//!
//! Each area has its own `thiserror` enum (`OrgError`, `DiscoveryError`, `AccountError`,
//! `CsvError`, `StoreError`). Each converts into a [`UiError`]: a stable machine `kind` (one of the
//! closed [`ErrorKind`] vocabulary) that the UI maps to Japanese or English text, who must act (`actor`), an English `message` for logs
//! and the CLI, and `detail` parameters for the text (line numbers, the tenant, the AADSTS code).
//! Nothing in an error ever carries a secret.

use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;

pub use crate::detail_key::DetailKey;
pub use crate::error_kind::{ErrorArea, ErrorField, ErrorKind};

/// Who can fix the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Actor {
    /// The organization's administrator (settings, Microsoft Entra app registration, consent).
    Admin,
    /// The person signing in to their own mailbox.
    User,
    /// Nobody at the desk: a network or service problem; retry later or contact support.
    Support,
}

/// An error as the UI and the CLI receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct UiError {
    /// Stable identifier, e.g. `tenant_not_found`; the UI's message catalogue is keyed by it.
    pub kind: ErrorKind,
    /// Who must act.
    pub actor: Actor,
    /// English explanation (what happened and what to do), for the CLI and logs.
    pub message: String,
    /// Parameters for the localized text, e.g. `{"tenant": "contoso.example"}`.
    pub detail: BTreeMap<DetailKey, String>,
}

impl UiError {
    pub fn new(kind: ErrorKind, actor: Actor, message: impl Into<String>) -> Self {
        Self { kind, actor, message: message.into(), detail: BTreeMap::new() }
    }

    pub fn with(mut self, key: DetailKey, value: impl ToString) -> Self {
        self.detail.insert(key, value.to_string());
        self
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UiError {}
