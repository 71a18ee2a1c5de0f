//! Data that crosses the IPC boundary to the UI, and the CLI's JSON output.
//!
//! Every type here derives `ts_rs::TS`; `cargo test -p exo-setup-core` regenerates
//! `ui/src/bindings/*.ts` and the test command fails when the committed files are stale, so the
//! UI and Rust cannot drift apart. Nothing here may ever hold a token or any other secret.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Facts about this installation the UI shows or needs.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppInfo {
    pub product_name: String,
    pub version: String,
    pub identifier: String,
    pub deep_link_scheme: String,
    pub data_dir: String,
    /// BCP 47 tag of the OS locale, e.g. `ja-JP`; the UI starts in Japanese when it begins with `ja`.
    pub system_locale: String,
    pub os_user: String,
    /// Set by `scripts/wizard.sh --demo`: step 1's values for the bundled emulator, which the
    /// form offers instead of empty fields (and the UI says it is not Microsoft).
    pub demo: Option<OrgSettingsInput>,
}

/// How the Microsoft sign-in comes back to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RedirectMode {
    /// `dev.exosetup.wizard://oauth2/callback` through the OS URL handler.
    DeepLink,
    /// `http://localhost:<port>` served once by the app on 127.0.0.1.
    Loopback,
}

impl RedirectMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectMode::DeepLink => "deep_link",
            RedirectMode::Loopback => "loopback",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deep_link" => Some(Self::DeepLink),
            "loopback" => Some(Self::Loopback),
            _ => None,
        }
    }
}

/// The organization's Microsoft Entra settings (step 1), as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OrgSettings {
    /// The organization's name as people know it (shown on invitations); may be empty.
    pub organization_name: String,
    /// What the admin typed: a tenant GUID or a verified domain.
    pub tenant: String,
    /// The tenant GUID read from the discovery document's issuer.
    pub tenant_id: String,
    pub client_id: String,
    /// e.g. `https://login.microsoftonline.com`, no trailing slash.
    pub authority: String,
    pub redirect_mode: RedirectMode,
    /// The discovery document's issuer, checked when saving.
    pub issuer: String,
    /// RFC 3339 time of the successful discovery check.
    pub verified_at: String,
}

/// What the admin submits in step 1.
#[derive(Debug, Clone, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OrgSettingsInput {
    /// The organization's name as people know it (shown on invitations); may be empty.
    #[serde(default)]
    pub organization_name: String,
    pub tenant: String,
    pub client_id: String,
    /// Empty means the default `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority: String,
    pub redirect_mode: RedirectMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Security {
    Tls,
    Starttls,
    Plain,
}

impl Security {
    /// The value stored in SQLite.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Starttls => "starttls",
            Self::Plain => "plain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ServerAuth {
    Oauth2,
    Password,
}

/// A mail server accounts can be registered on. Id 1 is the built-in "Exchange Online".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MailServer {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub enabled: bool,
    pub imap: Endpoint,
    pub pop3: Endpoint,
    pub smtp: Endpoint,
    pub auth: ServerAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReceiveProtocol {
    Imap,
    Pop3,
}

impl ReceiveProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
        }
    }
    /// Accepts what people write in spreadsheets: `IMAP`, `imap4`, `POP`, `pop3`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "imap" | "imap4" => Some(Self::Imap),
            "pop" | "pop3" => Some(Self::Pop3),
            _ => None,
        }
    }
}

/// Where a mail account stands (shown in step 2's list and step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum AccountStatus {
    NotSignedIn,
    SignedIn,
    Verified,
    NeedsReauth,
    Error,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSignedIn => "not_signed_in",
            Self::SignedIn => "signed_in",
            Self::Verified => "verified",
            Self::NeedsReauth => "needs_reauth",
            Self::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "not_signed_in" => Self::NotSignedIn,
            "signed_in" => Self::SignedIn,
            "verified" => Self::Verified,
            "needs_reauth" => Self::NeedsReauth,
            "error" => Self::Error,
            _ => return None,
        })
    }

    /// The keychain may hold a sign-in of the mailbox (any status but `not_signed_in`): signing
    /// in replaces it, signing out or deleting the account removes it.
    pub fn has_sign_in(self) -> bool {
        self != Self::NotSignedIn
    }

    /// A token to log in with is expected in the keychain, so the connection check can run:
    /// signed in, verified, or a check or refresh that failed without ending the sign-in.
    pub fn can_check(self) -> bool {
        matches!(self, Self::SignedIn | Self::Verified | Self::Error)
    }
}

/// One row of step 2's list: a mail account with its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AccountRow {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub user_id: i64,
    pub login_name: String,
    pub user_display_name: String,
    pub address: String,
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
    #[ts(type = "number")]
    pub server_id: i64,
    pub server_name: String,
    pub status: AccountStatus,
    pub status_detail: Option<String>,
    pub status_at: Option<String>,
    /// [`AccountStatus::has_sign_in`] of `status`, so the UI never derives it.
    pub has_sign_in: bool,
    /// [`AccountStatus::can_check`] of `status`, so the UI never derives it.
    pub can_check: bool,
}

/// Add or change a mail account (and its user, found or created by login name).
#[derive(Debug, Clone, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AccountInput {
    pub login_name: String,
    pub user_display_name: String,
    pub address: String,
    /// Empty means "same as the user's display name".
    #[serde(default)]
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
    #[ts(type = "number")]
    pub server_id: i64,
}

/// A page of the account list, filtered by a search text and optionally a status.
#[derive(Debug, Clone, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AccountQuery {
    #[serde(default)]
    pub search: String,
    #[serde(default)]
    pub status: Option<AccountStatus>,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AccountPage {
    /// Rows matching the query in all (not only this page).
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<AccountRow>,
}

/// What to do with a CSV that has some bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ImportMode {
    /// Import nothing unless every row is valid.
    AllOrNothing,
    /// Import the valid rows, report the others.
    ValidRowsOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ImportAction {
    Create,
    Update,
    Unchanged,
}

/// A valid CSV row and what importing it would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ImportRowPreview {
    pub line: u32,
    pub login_name: String,
    pub user_display_name: String,
    pub address: String,
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
    pub server_name: String,
    pub action: ImportAction,
}

/// A CSV row that cannot be imported, with the exact place and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ImportRowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u32,
    /// Column header as written in the file, when the problem is in one column.
    pub column: Option<String>,
    /// Stable reason, e.g. `invalid_address`; the UI maps it to text.
    pub reason: String,
    /// English text for the CLI.
    pub message: String,
    /// The offending value, if any.
    pub value: Option<String>,
    /// Parameters for the localized text, e.g. `{"firstLine": "3"}` for `duplicate_in_file`.
    pub detail: std::collections::BTreeMap<crate::DetailKey, String>,
}

/// Result of reading a CSV without importing it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ImportPreview {
    /// `UTF-8`, `UTF-8 (BOM)`, `Shift_JIS`, `UTF-16LE`…
    pub encoding: String,
    /// Rows read (blank lines aside; every line an unclosed quote swallowed counts as a row):
    /// always `valid_rows + rejected_rows`.
    pub total_rows: u32,
    pub valid_rows: u32,
    /// Rows with one or more row errors.
    pub rejected_rows: u32,
    pub creates: u32,
    pub updates: u32,
    pub unchanged: u32,
    /// Every row error (a row may have several); `errors` holds the first 1,000 of them.
    pub error_count: u32,
    pub errors: Vec<ImportRowError>,
    /// The first valid rows (at most 500) for the preview table.
    pub rows: Vec<ImportRowPreview>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ImportOutcome {
    pub mode: ImportMode,
    /// Rows read: always `created + updated + unchanged + skipped`.
    pub total_rows: u32,
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Rows not imported because they have errors (valid-rows-only mode); a row with several
    /// errors counts once.
    pub skipped: u32,
    /// Every row error (a row may have several); `errors` holds the first 1,000 of them.
    pub error_count: u32,
    pub errors: Vec<ImportRowError>,
}

/// The tenant-wide admin consent recorded by step 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AdminConsent {
    pub tenant_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_by: String,
    pub granted_at: String,
}

/// A redirect URI the admin must register in Microsoft Entra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RedirectUri {
    pub uri: String,
    pub mode: RedirectMode,
    /// Always "Mobile and desktop applications": a "Web" registration makes Microsoft demand a
    /// client secret (AADSTS7000218).
    pub platform: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum StepStatus {
    /// Cannot start yet: an earlier step is missing.
    Blocked,
    Todo,
    /// Started, not finished (e.g. some accounts signed in).
    Partial,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StepState {
    /// 1 to 4.
    pub step: u8,
    pub status: StepStatus,
}

/// Everything the wizard needs to draw itself.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupOverview {
    pub org: Option<OrgSettings>,
    pub exchange: MailServer,
    pub servers: Vec<MailServer>,
    pub account_count: u32,
    pub consent: Option<AdminConsent>,
    /// The scopes step 3 asks for: those of the protocols the registered accounts use (IMAP
    /// and/or POP, SMTP always) plus `offline_access`.
    pub consent_scopes: Vec<String>,
    /// Scopes of `consent_scopes` the recorded consent does not cover (all of them when there is
    /// no consent): step 3 is done only when this is empty.
    pub consent_missing: Vec<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub steps: Vec<StepState>,
    /// Fields of the saved settings (`authority`, `tenant`, `clientId`) that the managed policy
    /// locks to another value: step 1 must be saved again, and sign-in waits until it is.
    pub policy_conflicts: Vec<String>,
}

/// One audit-log entry.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub id: i64,
    pub at: String,
    pub os_user: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// What a browser round trip (steps 3 and 4) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum FlowPurpose {
    /// Step 3: the administrator grants tenant-wide consent.
    AdminConsent,
    /// Step 4: a user signs in to their registered mailbox.
    SignIn,
    /// Step 2's directory import: the administrator signs in to Microsoft Graph.
    DirectorySignIn,
}

/// A flow waiting for the browser to come back. Carries no secret: `browser_url` is the
/// authorization request the browser was sent to (shown so the user can copy it into another
/// browser when none opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FlowStarted {
    /// Opaque id that the matching [`FlowFinished`] repeats (not the OAuth `state`).
    pub flow_id: String,
    pub purpose: FlowPurpose,
    /// The mailbox (sign-in only).
    pub address: Option<String>,
    pub redirect_mode: RedirectMode,
    /// The redirect URI the browser will come back to.
    pub redirect_uri: String,
    pub browser_url: String,
    /// False when no browser could be started (the UI then offers the URL to copy).
    pub browser_opened: bool,
    /// When the flow stops waiting (RFC 3339).
    pub expires_at: String,
}

/// A signed-in mailbox, as the UI may see it (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SignInSummary {
    pub address: String,
    /// Who Microsoft says signed in (`preferred_username`), may be an alias of `address`.
    pub signed_in_as: String,
    pub name: Option<String>,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    pub account: AccountRow,
}

/// How a flow ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[ts(export)]
pub enum FlowResult {
    AdminConsented {
        consent: AdminConsent,
    },
    SignedIn {
        sign_in: SignInSummary,
    },
    /// The administrator signed in for the directory (who, and the Graph scopes granted).
    DirectorySignedIn {
        signed_in_as: String,
        name: Option<String>,
        scopes: Vec<String>,
    },
    Failed {
        error: crate::UiError,
    },
}

/// Sent to the UI (event `exo://flow-finished`) when a redirect came back, a flow expired or
/// was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FlowFinished {
    /// The [`FlowStarted::flow_id`], or `None` when the redirect matched no flow of this app
    /// (forged, replayed, late).
    pub flow_id: Option<String>,
    pub purpose: Option<FlowPurpose>,
    pub result: FlowResult,
}

/// What the CLI's `status` and the UI's step 4 show for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TokenStatus {
    pub address: String,
    pub status: AccountStatus,
    /// A refresh token is in the keychain.
    pub has_refresh_token: bool,
    /// Expiry (RFC 3339) of the cached access token, when there is one.
    pub access_token_expires_at: Option<String>,
    pub status_detail: Option<String>,
    pub status_at: Option<String>,
}

/// The browser round trip in progress and the last one that ended, for a UI that (re)opens
/// step 3 or 4 — e.g. after a deep link launched the app cold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FlowSnapshot {
    pub pending: Vec<FlowStarted>,
    pub last: Option<FlowFinished>,
}

/// Sent to the UI (event `exo://needs-reauth`) when upkeep found that an account's refresh token
/// no longer works: the user must sign in again (step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NeedsReauth {
    pub address: String,
    pub error: crate::UiError,
}

/// Where an invitation's mailbox reads and sends mail, when that differs from Exchange Online's
/// defaults (outlook.office365.com 993/995, smtp.office365.com 587): national clouds, gateways, tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct ServerEndpoints {
    pub imap: Endpoint,
    pub pop3: Endpoint,
    pub smtp: Endpoint,
}

/// A Microsoft cloud the authority belongs to; `None` in a preview means "not a known Microsoft
/// cloud" (the confirmation screen warns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MicrosoftCloud {
    /// login.microsoftonline.com
    Global,
    /// login.microsoftonline.us
    UsGovernment,
    /// login.partner.microsoftonline.cn (operated by 21Vianet)
    China,
}

/// A field of an invitation that the machine's managed policy replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PolicyOverride {
    /// `authority`, `clientId`, `redirectMode` or `organizationName`.
    pub field: String,
    pub invited: String,
    pub managed: String,
}

/// An opened invitation as the confirmation screen shows it, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct InvitationPreview {
    /// Opaque id to accept or discard this invitation with; the content itself stays in Rust, so
    /// what is accepted is exactly what was shown.
    pub invitation_id: String,
    pub organization_name: String,
    /// Effective values (after the managed policy).
    pub authority: String,
    pub cloud: Option<MicrosoftCloud>,
    pub tenant: String,
    pub tenant_id: String,
    pub client_id: String,
    pub redirect_mode: RedirectMode,
    pub address: String,
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
    /// Set when the mailbox's servers differ from Exchange Online's defaults.
    pub endpoints: Option<ServerEndpoints>,
    /// Every mail host the mailbox's sign-in (its token) would be sent to: the receive
    /// protocol's, then SMTP's, lowercase, each once. The confirmation screen names them.
    pub mail_hosts: Vec<String>,
    /// Fields the managed policy decided instead of the invitation.
    pub overrides: Vec<PolicyOverride>,
    /// The organization configured on this computer that accepting would replace (the user must
    /// confirm that explicitly); `None` when none is configured or it is the same one.
    pub replaces: Option<OrgSettings>,
    /// The mailbox is already registered on this computer (accepting keeps its sign-in state).
    pub already_registered: bool,
    /// The organization invitation: no mailbox (`address` is empty); after accepting, the user
    /// types their own address and signs in (self-service).
    pub organization_wide: bool,
    /// Where this computer will send its one receipt once the mailbox is verified (the
    /// administrator who mailed the invitation); `None` when the invitation asks for none or the
    /// managed policy turns receipts off. The confirmation screen says so beforehand.
    pub receipt_to: Option<String>,
}

/// What accepting an invitation stored: the user goes on to step 4 for this account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct InvitationAccepted {
    /// `None` for the organization invitation: the user types their address next.
    pub account: Option<AccountRow>,
    pub org: OrgSettings,
}

/// One invitation made by the admin (step 2): the deep link, and the file name to save it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct InvitationLink {
    #[ts(type = "number")]
    pub account_id: i64,
    pub address: String,
    pub display_name: String,
    /// `dev.exosetup.wizard://invite?v=1&p=…&c=…` — carries no secret.
    pub link: String,
    /// Suggested file name, e.g. `taro@contoso.example.exoinvite`.
    pub file_name: String,
}

/// Which invitations a managed policy lets this computer open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum InvitationRule {
    /// Any tenant (the confirmation screen still shows which).
    #[default]
    Any,
    /// Only for the tenant the policy pins, or else the one already configured here.
    SameTenant,
    /// No invitations at all.
    None,
}

/// One field of the managed policy, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ManagedField {
    pub value: String,
    /// Locked: the value is enforced and shown read-only; otherwise it only pre-fills the form.
    pub locked: bool,
}

/// The machine-wide policy IT deployed (see `policy.rs`), as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ManagedPolicy {
    /// Where the policy is read from (whether or not the file exists).
    pub path: String,
    /// A policy file exists there.
    pub present: bool,
    pub organization_name: Option<ManagedField>,
    pub authority: Option<ManagedField>,
    pub tenant: Option<ManagedField>,
    pub client_id: Option<ManagedField>,
    /// `deep_link` or `loopback`.
    pub redirect_mode: Option<ManagedField>,
    pub invitations: InvitationRule,
    /// Authorities sign-in may use; empty means any (unknown clouds are warned about).
    pub allowed_authorities: Vec<String>,
    /// `selfService`: `false` forbids it, `true` allows it, `null` leaves it to step 1.
    pub self_service: Option<bool>,
}

/// An invitation the OS, a drop or a file handed to the app: shown for confirmation, or why not
/// (event `exo://invitation-opened`; also kept for a window that opens later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[ts(export)]
#[allow(clippy::large_enum_variant)] // one event at a time; boxing buys nothing
pub enum InvitationOpened {
    Preview { preview: InvitationPreview },
    Failed { error: crate::UiError },
}

/// Files written by the app where the user chose (invitation files, mail-merge CSV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SavedFiles {
    pub count: u32,
    /// The folder (several files) or the file written.
    pub path: String,
}

/// A support bundle written (`exo-setup support-bundle`, the wizard's "support bundle" button):
/// where, and what it holds. The zip itself holds no token, authorization code, state, nonce or
/// PKCE verifier (see `support`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SupportBundle {
    /// The zip file written.
    pub path: String,
    /// The entries of the zip, in order (`README.txt`, `versions.json`, …, `logs/…`).
    pub files: Vec<String>,
    /// Mail addresses are hashed (`h-<12 hex>@domain`) rather than kept.
    pub addresses_hashed: bool,
    /// How many secrets or token-like strings were removed from the texts.
    pub redactions: u32,
}

#[cfg(test)]
mod tests {
    use super::AccountStatus::{self, *};

    #[test]
    fn what_each_account_status_allows() {
        let table: [(AccountStatus, bool, bool); 5] = [
            // status, has_sign_in (sign in again / sign out), can_check (a token to check with)
            (NotSignedIn, false, false),
            (SignedIn, true, true),
            (Verified, true, true),
            (NeedsReauth, true, false),
            (Error, true, true),
        ];
        for (status, has_sign_in, can_check) in table {
            assert_eq!((status.has_sign_in(), status.can_check()), (has_sign_in, can_check), "{status:?}");
        }
    }
}
