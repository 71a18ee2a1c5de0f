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
//! Trust: the file is read only when nobody but root could have written it — the file and every
//! directory on the way to it owned by root and writable by nobody else (see [`crate::trusted_file`],
//! which follows sudo and OpenSSH). A dangling symbolic link, an unreadable file, a FIFO, device or
//! directory, a file or directory someone else could write: each is `policy_invalid` with the
//! reason in `detail.problem`, never "no policy"; only a name that does not exist is "no policy".
//! Debug builds also trust files (and directories) owned by the current user, so that a developer
//! who is not root can test with `EXO_SETUP_POLICY_FILE`: they may name any file there anyway.
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
//!   "allowedAuthorities": ["https://login.microsoftonline.com"],
//!   "allowedMailHosts": ["mail.contoso.example"],
//!   "sendReceipts": false,
//!   "selfService": true
//! }
//! ```
//! A field given as a plain value is locked (enforced, read-only in the UI); as
//! `{ "value": …, "locked": false }` it only pre-fills step 1. `invitations` is `any` (default),
//! `same_tenant` or `none`. `allowedMailHosts` names mail hosts (IMAP/POP3/SMTP, host names or IP
//! addresses, stored lowercase) that a mailbox's token may be sent to even when an invitation
//! brought them and they are not the Microsoft cloud's own (see [`crate::audience`]).
//! `sendReceipts` (default `true`): whether a mailbox set up from a mailed invitation sends its
//! receipt back to the administrator who invited it (see [`crate::rollout`]); `false` keeps the
//! computers of this fleet silent.
//! `selfService`: `false` forbids setting up a mailbox by typing its address (organization
//! invitations are refused); `true` allows it, and where the policy also locks `tenant` and
//! `clientId` a user needs no invitation at all (see [`crate::self_service`]); not said, step 1
//! (and an organization invitation) decide.

use crate::DetailKey;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bounded;
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{InvitationRule, ManagedField, ManagedPolicy, OrgSettings, OrgSettingsInput, RedirectMode};
use crate::trusted_file::{self, Lookup};
use crate::validate;

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
    /// Mail hosts a token may also be sent to (lowercase); empty = only the rule's others.
    pub allowed_mail_hosts: Vec<String>,
    /// `sendReceipts` as the file says; `None` (not said, or no policy) sends them.
    pub send_receipts: Option<bool>,
    /// `selfService` as the file says; `None` leaves it to step 1 and invitations.
    pub self_service: Option<bool>,
}

/// The platform's machine-wide policy location.
pub fn default_path() -> PathBuf {
    #[cfg(windows)]
    {
        let base =
            std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        base.join("exo-setup").join("policy.json")
    }
    #[cfg(target_os = "macos")]
    {
        PathBuf::from("/Library/Application Support/exo-setup/policy.json")
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        PathBuf::from("/etc/exo-setup/policy.json")
    }
}

/// Where this build reads the policy from: [`default_path`], or `EXO_SETUP_POLICY_FILE` in
/// debug builds.
pub fn path() -> PathBuf {
    if cfg!(debug_assertions) {
        if let Some(p) = std::env::var_os(POLICY_FILE_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
    }
    default_path()
}

/// Reads the policy at [`path`]. No file = no policy. An unreadable, oversized or invalid file
/// is `policy_invalid` (actor Admin: IT must fix the file) — never silently "no policy".
pub fn load() -> Result<Policy, UiError> {
    load_from(&path())
}

fn invalid(source: &Path, problem: impl std::fmt::Display) -> UiError {
    UiError::new(
        ErrorKind::PolicyInvalid,
        Actor::Admin,
        format!(
            "The managed policy {} cannot be used: {problem}. Until IT fixes or removes it, exo-setup changes no settings and starts no sign-in.",
            source.display()
        ),
    )
    .with(DetailKey::Path, source.display())
    .with(DetailKey::Problem, problem)
}

/// Reads the policy at `path` (see [`load`]): only a trusted file (see the module documentation),
/// at most [`MAX_POLICY_BYTES`] of it (through [`bounded::capped`]).
pub fn load_from(path: &Path) -> Result<Policy, UiError> {
    let also_trusted = if cfg!(debug_assertions) { trusted_file::current_uid() } else { None };
    let file = match trusted_file::open(path, also_trusted) {
        Ok(Lookup::Missing) => return Ok(Policy::default()),
        Ok(Lookup::Found { file, .. }) => file,
        Err(refusal) => return Err(invalid(path, refusal)),
    };
    let mut bytes = Vec::new();
    bounded::capped(file, MAX_POLICY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(path, bounded::classify(path, e)))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(path, "the file is not UTF-8 text"))?;
    parse(&text, path)
}

/// A field as written in the file: a plain value (locked) or `{ "value": …, "locked": bool }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawField<T> {
    Locked(T),
    Detailed(DetailedField<T>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailedField<T> {
    value: T,
    #[serde(default = "yes")]
    locked: bool,
}

fn yes() -> bool {
    true
}

impl<T> RawField<T> {
    fn into_field(self) -> Field<T> {
        match self {
            RawField::Locked(value) => Field { value, locked: true },
            RawField::Detailed(DetailedField { value, locked }) => Field { value, locked },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    organization_name: Option<RawField<String>>,
    authority: Option<RawField<String>>,
    tenant: Option<RawField<String>>,
    client_id: Option<RawField<String>>,
    redirect_mode: Option<RawField<RedirectMode>>,
    #[serde(default)]
    invitations: InvitationRule,
    #[serde(default)]
    allowed_authorities: Vec<String>,
    #[serde(default)]
    allowed_mail_hosts: Vec<String>,
    #[serde(default)]
    send_receipts: Option<bool>,
    #[serde(default)]
    self_service: Option<bool>,
}

/// The one policy format version this app reads.
pub const POLICY_VERSION: u32 = 1;

/// Parses policy JSON; `source` is named in errors.
pub fn parse(json: &str, source: &Path) -> Result<Policy, UiError> {
    let raw: RawPolicy = serde_json::from_str(json).map_err(|e| invalid(source, e))?;
    if raw.version != POLICY_VERSION {
        return Err(invalid(
            source,
            format!("version {} is not supported (this app reads version {POLICY_VERSION})", raw.version),
        ));
    }
    let checked = |name: &str, f: Option<RawField<String>>, check: fn(&str) -> Result<String, UiError>| {
        f.map(|f| {
            let f = f.into_field();
            check(&f.value)
                .map(|value| Field { value, locked: f.locked })
                .map_err(|e| invalid(source, format!("{name}: {}", e.message)))
        })
        .transpose()
    };
    let allowed_authorities = raw
        .allowed_authorities
        .iter()
        .map(|a| validate::authority(a).map_err(|e| invalid(source, format!("allowedAuthorities: {}", e.message))))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_mail_hosts = raw
        .allowed_mail_hosts
        .iter()
        .map(|h| validate::mail_host(h).map_err(|e| invalid(source, format!("allowedMailHosts: {}", e.message))))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = Policy {
        source: Some(source.to_owned()),
        organization_name: checked("organizationName", raw.organization_name, validate::display_name)?,
        authority: checked("authority", raw.authority, validate::authority)?,
        tenant: checked("tenant", raw.tenant, validate::tenant)?,
        client_id: checked("clientId", raw.client_id, validate::client_id)?,
        redirect_mode: raw.redirect_mode.map(RawField::into_field),
        invitations: raw.invitations,
        allowed_authorities,
        allowed_mail_hosts,
        send_receipts: raw.send_receipts,
        self_service: raw.self_service,
    };
    if let Some(a) = policy.authority.as_ref() {
        if !policy.authority_allowed(&a.value) {
            return Err(invalid(source, format!("authority {} is not among allowedAuthorities", a.value)));
        }
    }
    Ok(policy)
}

fn locked_field(field: &str, value: &str) -> UiError {
    UiError::new(
        ErrorKind::PolicyLockedField,
        Actor::User,
        format!("Your organization's IT manages {field} on this computer: it must be {value}. Use that value, or ask IT to change the policy."),
    )
    .with(DetailKey::Field, field)
    .with(DetailKey::Value, value)
}

impl Policy {
    /// Whether this computer mails receipts back to an inviting administrator (`sendReceipts`,
    /// default yes).
    pub fn sends_receipts(&self) -> bool {
        self.send_receipts.unwrap_or(true)
    }

    /// What the UI shows (`path` is `source` or [`path`]).
    pub fn view(&self) -> ManagedPolicy {
        let show =
            |f: &Option<Field<String>>| f.as_ref().map(|f| ManagedField { value: f.value.clone(), locked: f.locked });
        ManagedPolicy {
            path: self.source.clone().unwrap_or_else(path).display().to_string(),
            present: self.source.is_some(),
            organization_name: show(&self.organization_name),
            authority: show(&self.authority),
            tenant: show(&self.tenant),
            client_id: show(&self.client_id),
            redirect_mode: self
                .redirect_mode
                .as_ref()
                .map(|f| ManagedField { value: f.value.as_str().to_owned(), locked: f.locked }),
            invitations: self.invitations,
            allowed_authorities: self.allowed_authorities.clone(),
            self_service: self.self_service,
        }
    }

    /// Step 1 "save": every locked field must equal the input (after the same normalization);
    /// otherwise `policy_locked_field` with `field` and the managed `value`. The authority must
    /// also be in `allowed_authorities` when that is not empty (`policy_locked_field`, field
    /// `authority`).
    pub fn check_settings_input(&self, input: &OrgSettingsInput) -> Result<(), UiError> {
        let norm = |f: fn(&str) -> Result<String, UiError>, v: &str| f(v).unwrap_or_else(|_| v.trim().to_owned());
        let pairs = [
            ("organizationName", &self.organization_name, norm(validate::display_name, &input.organization_name)),
            ("authority", &self.authority, norm(validate::authority, &input.authority)),
            ("tenant", &self.tenant, norm(validate::tenant, &input.tenant)),
            ("clientId", &self.client_id, norm(validate::client_id, &input.client_id)),
        ];
        for (name, field, given) in pairs {
            if let Some(f) = field.as_ref().filter(|f| f.locked) {
                if !f.value.eq_ignore_ascii_case(&given) {
                    return Err(locked_field(name, &f.value));
                }
            }
        }
        if let Some(f) = self.redirect_mode.as_ref().filter(|f| f.locked) {
            if f.value != input.redirect_mode {
                return Err(locked_field("redirectMode", f.value.as_str()));
            }
        }
        let authority = norm(validate::authority, &input.authority);
        if !self.authority_allowed(&authority) {
            return Err(locked_field("authority", &self.allowed_authorities.join(", ")));
        }
        Ok(())
    }

    /// Fields of saved settings that differ from a locked value: `authority`, `tenant` (equal
    /// when it matches either `tenant` or `tenant_id`, case-insensitively), `clientId`.
    pub fn conflicts(&self, settings: &OrgSettings) -> Vec<String> {
        let mut out = Vec::new();
        let locked = |f: &Option<Field<String>>| f.as_ref().filter(|f| f.locked).map(|f| f.value.clone());
        if let Some(a) = locked(&self.authority) {
            if !a.eq_ignore_ascii_case(&settings.authority) {
                out.push("authority".to_owned());
            }
        } else if !self.authority_allowed(&settings.authority) {
            out.push("authority".to_owned());
        }
        if let Some(t) = locked(&self.tenant) {
            if !t.eq_ignore_ascii_case(&settings.tenant) && !t.eq_ignore_ascii_case(&settings.tenant_id) {
                out.push("tenant".to_owned());
            }
        }
        if let Some(c) = locked(&self.client_id) {
            if !c.eq_ignore_ascii_case(&settings.client_id) {
                out.push("clientId".to_owned());
            }
        }
        out
    }

    /// `policy_conflict` (actor User: open step 1 and save again, or ask IT) when
    /// [`Policy::conflicts`] is not empty; sign-in calls this before starting.
    pub fn require_no_conflict(&self, settings: &OrgSettings) -> Result<(), UiError> {
        let fields = self.conflicts(settings);
        if fields.is_empty() {
            return Ok(());
        }
        Err(UiError::new(
            ErrorKind::PolicyConflict,
            Actor::User,
            format!(
                "The settings saved on this computer differ from your organization's managed policy ({}). Open step 1 and save it again (the policy's values are filled in), or ask IT.",
                fields.join(", ")
            ),
        )
        .with(DetailKey::Fields, fields.join(", ")))
    }

    /// The redirect mode to use: the locked one, else the saved one.
    pub fn redirect_mode(&self, saved: RedirectMode) -> RedirectMode {
        self.redirect_mode.as_ref().filter(|f| f.locked).map(|f| f.value).unwrap_or(saved)
    }

    /// True when `authority` (normalized) may be used.
    pub fn authority_allowed(&self, authority: &str) -> bool {
        self.allowed_authorities.is_empty()
            || self.allowed_authorities.iter().any(|a| a.eq_ignore_ascii_case(authority))
    }

    /// The locked tenant, if any (for invitations).
    pub fn locked_tenant(&self) -> Option<&str> {
        self.tenant.as_ref().filter(|f| f.locked).map(|f| f.value.as_str())
    }

    /// The organization a user may set up their own mailbox in with no invitation: the policy says
    /// `selfService: true` and locks `tenant` and `clientId` (the rest as the policy says, else
    /// step 1's defaults).
    pub fn self_service_organization(&self) -> Option<OrgSettingsInput> {
        if self.self_service != Some(true) {
            return None;
        }
        Some(OrgSettingsInput {
            organization_name: self.organization_name.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
            tenant: self.locked_tenant()?.to_owned(),
            client_id: self.locked("clientId")?.to_owned(),
            authority: self.authority.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
            redirect_mode: self.redirect_mode.as_ref().map_or(RedirectMode::DeepLink, |f| f.value),
        })
    }

    /// A locked string field by its UI name (`authority`, `clientId`, `organizationName`).
    pub fn locked(&self, field: &str) -> Option<&str> {
        let f = match field {
            "authority" => &self.authority,
            "clientId" => &self.client_id,
            "organizationName" => &self.organization_name,
            "tenant" => &self.tenant,
            _ => return None,
        };
        f.as_ref().filter(|f| f.locked).map(|f| f.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

    fn p(json: &str) -> Result<Policy, UiError> {
        parse(json, Path::new("/etc/exo-setup/policy.json"))
    }

    fn input(authority: &str, tenant: &str, client: &str, mode: RedirectMode) -> OrgSettingsInput {
        OrgSettingsInput {
            organization_name: "Contoso".into(),
            tenant: tenant.into(),
            client_id: client.into(),
            authority: authority.into(),
            redirect_mode: mode,
        }
    }

    fn saved(authority: &str, tenant: &str, client: &str) -> OrgSettings {
        OrgSettings {
            organization_name: String::new(),
            tenant: tenant.into(),
            tenant_id: TENANT_ID.into(),
            client_id: client.into(),
            authority: authority.into(),
            redirect_mode: RedirectMode::DeepLink,
            issuer: String::new(),
            verified_at: String::new(),
        }
    }

    #[test]
    fn no_file_is_no_policy_and_a_broken_file_is_an_error_never_no_policy() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("policy.json");
        assert_eq!(load_from(&missing).unwrap(), Policy::default());
        assert!(!Policy::default().view().present);
        std::fs::write(&missing, "{ not json").unwrap();
        let e = load_from(&missing).unwrap_err();
        assert_eq!((e.kind, e.actor), (ErrorKind::PolicyInvalid, Actor::Admin));
        assert_eq!(e.detail[&DetailKey::Path], missing.display().to_string());
        std::fs::write(&missing, vec![b' '; MAX_POLICY_BYTES as usize + 1]).unwrap();
        assert!(load_from(&missing).unwrap_err().detail[&DetailKey::Problem].contains("bytes"));
        // A typo must not silently unlock anything.
        for bad in [
            r#"{"version": 1, "tenantt": "contoso.onmicrosoft.com"}"#,
            r#"{"version": 1, "tenant": {"value": "contoso.onmicrosoft.com", "lockd": false}}"#,
            r#"{"version": 2}"#,
            r#"{"tenant": "contoso.onmicrosoft.com"}"#,
            r#"{"version": 1, "tenant": "common"}"#,
            r#"{"version": 1, "clientId": "not-a-guid"}"#,
            r#"{"version": 1, "authority": "http://login.example.com"}"#,
            r#"{"version": 1, "redirectMode": "webview"}"#,
            r#"{"version": 1, "invitations": "sometimes"}"#,
            r#"{"version": 1, "authority": "https://login.microsoftonline.us", "allowedAuthorities": ["https://login.microsoftonline.com"]}"#,
        ] {
            assert_eq!(p(bad).unwrap_err().kind, ErrorKind::PolicyInvalid, "{bad}");
        }
    }

    /// The problem `load_from` reports for `path`, which must be `policy_invalid`.
    #[cfg(unix)]
    fn refused(path: &Path) -> String {
        let e = load_from(path).unwrap_err();
        assert_eq!((e.kind, e.actor), (ErrorKind::PolicyInvalid, Actor::Admin), "{e:?}");
        assert_eq!(e.detail[&DetailKey::Path], path.display().to_string());
        e.detail[&DetailKey::Problem].clone()
    }

    #[cfg(unix)]
    #[test]
    fn a_policy_is_honoured_only_when_nobody_but_root_could_have_written_it() {
        use std::os::unix::fs::{chown, symlink, PermissionsExt};
        let chmod = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        if trusted_file::current_uid() != Some(0) {
            eprintln!(
                "skipped: run as root to check ownership (files of the current user are trusted in debug builds)"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let policy = dir.path().join("policy.json");
        std::fs::write(&policy, r#"{"version": 1, "invitations": "none"}"#).unwrap();
        chmod(&policy, 0o644);
        // Root's 0644 file in root's 0755 directory: honoured.
        assert_eq!(load_from(&policy).unwrap().invitations, InvitationRule::None);

        // World-writable file.
        chmod(&policy, 0o666);
        let problem = refused(&policy);
        assert!(problem.contains("can be written by its group and everyone (mode 0666)"), "{problem}");
        chmod(&policy, 0o644);

        // Owned by someone else.
        chown(&policy, Some(65534), None).unwrap();
        assert!(refused(&policy).contains("is owned by uid 65534"));
        chown(&policy, Some(0), None).unwrap();

        // A group-writable parent directory (its group could swap the file).
        chmod(dir.path(), 0o775);
        let problem = refused(&policy);
        assert!(problem.contains(&dir.path().display().to_string()) && problem.contains("its group"), "{problem}");
        chmod(dir.path(), 0o755);

        // A dangling symbolic link is not "no policy".
        let dangling = dir.path().join("dangling.json");
        symlink(dir.path().join("gone.json"), &dangling).unwrap();
        assert!(refused(&dangling).contains("which does not exist"));
        // A link to the trusted file is honoured.
        let link = dir.path().join("link.json");
        symlink("policy.json", &link).unwrap();
        assert_eq!(load_from(&link).unwrap().invitations, InvitationRule::None);

        // Not a regular file: refused at once (a FIFO would block a reader forever).
        assert!(refused(dir.path()).contains("is a directory"));
        let fifo = dir.path().join("fifo.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(refused(&fifo).contains("FIFO"));
        assert!(refused(Path::new("/dev/zero")).contains("a device"));

        // Unreadable: a component that is not a directory.
        assert!(refused(&policy.join("x.json")).contains("not a directory"));
    }

    #[test]
    fn allowed_mail_hosts_are_checked_and_lowercase() {
        let pol = p(r#"{"version": 1, "allowedMailHosts": [" Mail.Contoso.Example ", "127.0.0.1"]}"#).unwrap();
        assert_eq!(pol.allowed_mail_hosts, ["mail.contoso.example", "127.0.0.1"]);
        assert!(p(r#"{"version": 1}"#).unwrap().allowed_mail_hosts.is_empty());
        for bad in [r#"["mail contoso"]"#, r#"[""]"#, r#"["imap.example/x"]"#, r#""mail.contoso.example""#] {
            let e = p(&format!(r#"{{"version": 1, "allowedMailHosts": {bad}}}"#)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::PolicyInvalid, "{bad}");
        }
    }

    #[test]
    fn send_receipts_defaults_to_yes_and_must_be_a_bool() {
        assert!(Policy::default().sends_receipts());
        assert!(p(r#"{"version": 1}"#).unwrap().sends_receipts());
        assert!(p(r#"{"version": 1, "sendReceipts": true}"#).unwrap().sends_receipts());
        assert!(!p(r#"{"version": 1, "sendReceipts": false}"#).unwrap().sends_receipts());
        for bad in [r#""no""#, "0", "null", r#"{"value": false}"#] {
            let e = p(&format!(r#"{{"version": 1, "sendReceipts": {bad}}}"#));
            // `null` reads as "not said"; anything else that is not a bool is refused.
            if bad == "null" {
                assert!(e.unwrap().sends_receipts());
            } else {
                assert_eq!(e.unwrap_err().kind, ErrorKind::PolicyInvalid, "{bad}");
            }
        }
    }

    #[test]
    fn each_field_parses_locked_or_as_a_default_and_shows_in_the_view() {
        let pol = p(&format!(
            r#"{{"version": 1, "organizationName": {{"value": "コントソ", "locked": false}},
                "authority": "https://login.microsoftonline.com/", "tenant": "Contoso.onmicrosoft.com",
                "clientId": {{"value": "{CLIENT}"}}, "redirectMode": "loopback", "invitations": "same_tenant",
                "allowedAuthorities": ["https://login.microsoftonline.com"]}}"#
        ))
        .unwrap();
        let v = pol.view();
        assert!(v.present);
        assert_eq!(v.path, "/etc/exo-setup/policy.json");
        assert_eq!(v.organization_name, Some(ManagedField { value: "コントソ".into(), locked: false }));
        assert_eq!(v.authority, Some(ManagedField { value: "https://login.microsoftonline.com".into(), locked: true }));
        assert_eq!(v.tenant.as_ref().unwrap().value, "contoso.onmicrosoft.com");
        assert_eq!(v.client_id, Some(ManagedField { value: CLIENT.into(), locked: true }));
        assert_eq!(v.redirect_mode, Some(ManagedField { value: "loopback".into(), locked: true }));
        assert_eq!(v.invitations, InvitationRule::SameTenant);
        assert_eq!(pol.locked_tenant(), Some("contoso.onmicrosoft.com"));
        assert_eq!(pol.locked("organizationName"), None);
        assert_eq!(pol.redirect_mode(RedirectMode::DeepLink), RedirectMode::Loopback);
        let unlocked = p(r#"{"version": 1, "redirectMode": {"value": "loopback", "locked": false}}"#).unwrap();
        assert_eq!(unlocked.redirect_mode(RedirectMode::DeepLink), RedirectMode::DeepLink);
        assert_eq!(p(r#"{"version": 1}"#).unwrap().invitations, InvitationRule::Any);
    }

    #[test]
    fn locked_fields_win_over_step_1_edits_and_unlocked_ones_do_not() {
        let pol = p(&format!(
            r#"{{"version": 1, "tenant": "contoso.onmicrosoft.com", "clientId": "{CLIENT}",
                "authority": {{"value": "https://login.microsoftonline.com", "locked": false}},
                "redirectMode": "deep_link"}}"#
        ))
        .unwrap();
        let ok = input("", "CONTOSO.onmicrosoft.com ", CLIENT, RedirectMode::DeepLink);
        pol.check_settings_input(&ok).unwrap();
        let unlocked_changed =
            input("https://login.microsoftonline.us", "contoso.onmicrosoft.com", CLIENT, RedirectMode::DeepLink);
        pol.check_settings_input(&unlocked_changed).unwrap();
        let e = pol
            .check_settings_input(&input("", "fabrikam.onmicrosoft.com", CLIENT, RedirectMode::DeepLink))
            .unwrap_err();
        assert_eq!(
            (e.kind, e.detail[&DetailKey::Field].as_str(), e.detail[&DetailKey::Value].as_str()),
            (ErrorKind::PolicyLockedField, "tenant", "contoso.onmicrosoft.com")
        );
        let e = pol
            .check_settings_input(&input(
                "",
                "contoso.onmicrosoft.com",
                "99999999-2222-3333-4444-555555555555",
                RedirectMode::DeepLink,
            ))
            .unwrap_err();
        assert_eq!(e.detail[&DetailKey::Field], "clientId");
        let e = pol
            .check_settings_input(&input("", "contoso.onmicrosoft.com", CLIENT, RedirectMode::Loopback))
            .unwrap_err();
        assert_eq!(e.detail[&DetailKey::Field], "redirectMode");
        let only = p(r#"{"version": 1, "allowedAuthorities": ["https://login.microsoftonline.us"]}"#).unwrap();
        let e = only
            .check_settings_input(&input("", "contoso.onmicrosoft.com", CLIENT, RedirectMode::DeepLink))
            .unwrap_err();
        assert_eq!(e.detail[&DetailKey::Field], "authority");
    }

    #[test]
    fn saved_settings_that_contradict_a_locked_field_are_conflicts() {
        let pol = p(&format!(r#"{{"version": 1, "tenant": "{TENANT_ID}", "clientId": "{CLIENT}"}}"#)).unwrap();
        // The tenant may be saved as its domain: the GUID from discovery matches.
        assert!(pol
            .conflicts(&saved("https://login.microsoftonline.com", "contoso.onmicrosoft.com", CLIENT))
            .is_empty());
        let other = saved(
            "https://login.microsoftonline.com",
            "fabrikam.onmicrosoft.com",
            "99999999-2222-3333-4444-555555555555",
        );
        let mut s = other.clone();
        s.tenant_id = "00000000-0000-0000-0000-000000000001".into();
        assert_eq!(pol.conflicts(&s), vec!["tenant", "clientId"]);
        let e = pol.require_no_conflict(&s).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Fields].as_str()), (ErrorKind::PolicyConflict, "tenant, clientId"));
        assert!(Policy::default().require_no_conflict(&s).is_ok());
        let allowed = p(r#"{"version": 1, "allowedAuthorities": ["https://login.microsoftonline.us"]}"#).unwrap();
        assert_eq!(allowed.conflicts(&other), vec!["authority"]);
    }

    #[test]
    fn the_policy_file_location_is_machine_wide() {
        let d = default_path();
        assert!(d.ends_with("exo-setup/policy.json") || d.ends_with(r"exo-setup\policy.json"), "{}", d.display());
        #[cfg(target_os = "linux")]
        assert!(d.starts_with("/etc"));
    }
}
