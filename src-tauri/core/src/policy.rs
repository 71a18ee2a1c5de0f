//! The managed policy: a JSON file IT deploys machine-wide to pin the organization's settings.
//!
//! Why: on a managed fleet the tenant and application ID are decided centrally; users must not
//! be talked into another tenant's app (consent phishing) by an invitation or a typo. So the
//! policy always wins — over invitations and over edits in step 1 — and the UI shows which
//! fields are managed.
//!
//! Location (the platform's conventional machine-wide place, never the user's profile):
//! - Linux/BSD: `/etc/exo-setup/policy.json`
//! - Windows: `%ProgramData%\exo-setup\policy.json`
//! - macOS: `/Library/Application Support/exo-setup/policy.json`
//!
//! Debug builds (tests, the demo) honour `EXO_SETUP_POLICY_FILE` instead; release builds never
//! do, so a user cannot point the app at a policy of their own.
//!
//! Format (every key optional; unknown keys are an error, so a typo never silently unlocks):
//! ```json
//! {
//!   "version": 1,
//!   "organizationName": "Contoso",
//!   "authority": "https://login.microsoftonline.com",
//!   "tenant": "contoso.onmicrosoft.com",
//!   "clientId": { "value": "11111111-2222-3333-4444-555555555555", "locked": true },
//!   "redirectMode": "loopback",
//!   "invitations": "same_tenant",
//!   "allowedAuthorities": ["https://login.microsoftonline.com"]
//! }
//! ```
//! A field given as a plain value is locked (enforced, read-only in the UI); as
//! `{ "value": …, "locked": false }` it only pre-fills step 1. `invitations` is `any` (default),
//! `same_tenant` or `none`.

use std::path::{Path, PathBuf};

use crate::error::UiError;
use crate::model::{InvitationRule, ManagedPolicy, OrgSettings, OrgSettingsInput, RedirectMode};

/// Every error kind this module sends to the UI.
pub const POLICY_ERROR_KINDS: &[&str] = &["policy_invalid", "policy_locked_field", "policy_conflict"];

/// Overrides the policy file's location in debug builds only.
pub const POLICY_FILE_ENV: &str = "EXO_SETUP_POLICY_FILE";

/// Largest policy file read (anything bigger is `policy_invalid`).
pub const MAX_POLICY_BYTES: u64 = 64 * 1024;

/// One policy field: its value and whether it is enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<T> {
    pub value: T,
    pub locked: bool,
}

/// A parsed, validated policy. `Policy::default()` is "no policy": nothing managed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The file it was read from; `None` when there is none.
    pub source: Option<PathBuf>,
    pub organization_name: Option<Field<String>>,
    /// Normalized like step 1 (`validate::authority`).
    pub authority: Option<Field<String>>,
    /// Normalized like step 1 (`validate::tenant`).
    pub tenant: Option<Field<String>>,
    /// Normalized like step 1 (`validate::client_id`).
    pub client_id: Option<Field<String>>,
    pub redirect_mode: Option<Field<RedirectMode>>,
    pub invitations: InvitationRule,
    /// Normalized authorities; empty = any.
    pub allowed_authorities: Vec<String>,
}

/// The platform's machine-wide policy location.
pub fn default_path() -> PathBuf {
    todo!()
}

/// Where this build reads the policy from: [`default_path`], or `EXO_SETUP_POLICY_FILE` in
/// debug builds.
pub fn path() -> PathBuf {
    todo!()
}

/// Reads the policy at [`path`]. No file = no policy. An unreadable, oversized or invalid file
/// is `policy_invalid` (actor Admin: IT must fix the file) — never silently "no policy".
pub fn load() -> Result<Policy, UiError> {
    load_from(&path())
}

/// Reads the policy at `path` (see [`load`]).
pub fn load_from(path: &Path) -> Result<Policy, UiError> {
    let _ = path;
    todo!()
}

/// Parses policy JSON; `source` is named in errors.
pub fn parse(json: &str, source: &Path) -> Result<Policy, UiError> {
    let _ = (json, source);
    todo!()
}

impl Policy {
    /// What the UI shows (`path` is `source` or [`path`]).
    pub fn view(&self) -> ManagedPolicy {
        todo!()
    }

    /// Step 1 "save": every locked field must equal the input (after the same normalization);
    /// otherwise `policy_locked_field` with `field` and the managed `value`. The authority must
    /// also be in `allowed_authorities` when that is not empty (`policy_locked_field`, field
    /// `authority`).
    pub fn check_settings_input(&self, input: &OrgSettingsInput) -> Result<(), UiError> {
        let _ = input;
        todo!()
    }

    /// Fields of saved settings that differ from a locked value: `authority`, `tenant` (equal
    /// when it matches either `tenant` or `tenant_id`, case-insensitively), `clientId`.
    pub fn conflicts(&self, settings: &OrgSettings) -> Vec<String> {
        let _ = settings;
        todo!()
    }

    /// `policy_conflict` (actor User: open step 1 and save again, or ask IT) when
    /// [`Policy::conflicts`] is not empty; sign-in calls this before starting.
    pub fn require_no_conflict(&self, settings: &OrgSettings) -> Result<(), UiError> {
        let _ = settings;
        todo!()
    }

    /// The redirect mode to use: the locked one, else the saved one.
    pub fn redirect_mode(&self, saved: RedirectMode) -> RedirectMode {
        let _ = saved;
        todo!()
    }

    /// True when `authority` (normalized) may be used.
    pub fn authority_allowed(&self, authority: &str) -> bool {
        let _ = authority;
        todo!()
    }

    /// The locked value of a field, if any (for invitations).
    pub fn locked_tenant(&self) -> Option<&str> {
        self.tenant.as_ref().filter(|f| f.locked).map(|f| f.value.as_str())
    }
}
