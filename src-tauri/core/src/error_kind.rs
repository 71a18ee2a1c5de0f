//! The closed vocabulary of error kinds: every `UiError.kind` the core or a front end can produce.
//!
//! One list, here, is the only place a kind is written. Everything else derives from it: the wire
//! string (serde, unchanged from the strings the UI always received), the TypeScript union
//! `ui/src/bindings/ErrorKind.ts` (ts-rs), the table `ui/src/bindings/errorKinds.ts` with each kind's
//! area and form field (written by this module's `export_bindings_error_kinds` test, so the
//! stale-bindings check covers it), the CLI's exit codes (an exhaustive `match` in the shell) and
//! the "every kind has Japanese and English text" test. Adding a kind is adding one line below;
//! the compiler then points at every `match` that must say what the new kind means.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Which part of the app produces a kind (the UI groups texts by it; the mail check's kinds also
/// have a short text for badges and notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorArea {
    /// Step 1: organization settings and mail servers.
    Settings,
    /// Fetching the tenant's discovery document (step 1) and its answers.
    Discovery,
    /// Step 2: users and mail accounts.
    Accounts,
    /// A file someone named (opened through `core::bounded`).
    File,
    /// CSV import and export, and files written for the administrator.
    Csv,
    /// The local database.
    Storage,
    /// Steps 3 and 4: consent, sign-in, tokens.
    SignIn,
    /// The OS keychain.
    Keychain,
    /// The connection check (IMAP/POP3/SMTP with XOAUTH2).
    MailCheck,
    /// Invitations, opened on the user's computer.
    Invitation,
    /// The directory import (Microsoft Graph).
    Directory,
    /// The rollout loop: invitations mailed, receipts read.
    Rollout,
    /// The managed policy IT deploys.
    Policy,
    /// The command line's own refusals.
    CommandLine,
    /// A bug or a failed background task.
    Internal,
}

/// The form field an error belongs to, when it is obvious (the UI marks that field). The wire
/// strings are the fields' element ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum ErrorField {
    Tenant,
    ClientId,
    Authority,
    Address,
    LoginName,
    Server,
}

/// Declares [`ErrorKind`] with its wire string, area and optional form field, and the derived
/// `ALL`, `as_str`, `area` and `field`, from one row per kind.
macro_rules! error_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal in $area:ident $(=> $field:ident)?; )*) => {
        /// A stable error identifier; the UI's message catalogues are keyed by its wire string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
        #[ts(export)]
        pub enum ErrorKind {
            $( $(#[$doc])* #[serde(rename = $wire)] $variant, )*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),*];

            /// The wire string (`tenant_not_found`), as serde writes it.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorKind::$variant => $wire,)* }
            }

            /// The part of the app that produces this kind.
            pub const fn area(self) -> ErrorArea {
                match self { $(ErrorKind::$variant => ErrorArea::$area,)* }
            }

            /// The form field this kind belongs to, if any.
            pub const fn field(self) -> Option<ErrorField> {
                match self { $(ErrorKind::$variant => error_kinds!(@field $($field)?),)* }
            }
        }
    };
    (@field) => { None };
    (@field $field:ident) => { Some(ErrorField::$field) };
}

error_kinds! {
    // step 1: the organization's settings (validation before anything is fetched)
    TenantRequired = "tenant_required" in Settings => Tenant;
    TenantMultiTenant = "tenant_multi_tenant" in Settings => Tenant;
    TenantPersonal = "tenant_personal" in Settings => Tenant;
    TenantMalformed = "tenant_malformed" in Settings => Tenant;
    ClientIdMalformed = "client_id_malformed" in Settings => ClientId;
    AuthorityMalformed = "authority_malformed" in Settings => Authority;
    AuthorityInsecure = "authority_insecure" in Settings => Authority;
    // the discovery document and the identity platform's answers
    TenantNotFound = "tenant_not_found" in Discovery => Tenant;
    TenantInvalid = "tenant_invalid" in Discovery => Tenant;
    IdentityError = "identity_error" in Discovery;
    HostUnreachable = "host_unreachable" in Discovery;
    DnsFailure = "dns_failure" in Discovery;
    TlsFailure = "tls_failure" in Discovery;
    Timeout = "timeout" in Discovery;
    NotDiscovery = "not_discovery" in Discovery;
    IdentityAnswerTooLarge = "identity_answer_too_large" in Discovery;
    HttpStatus = "http_status" in Discovery;
    IssuerMismatch = "issuer_mismatch" in Discovery;
    IssuerMissing = "issuer_missing" in Discovery;
    // mail servers
    OrgNotConfigured = "org_not_configured" in Settings;
    ServerNotFound = "server_not_found" in Settings => Server;
    ServerBuiltin = "server_builtin" in Settings;
    ServerDisabled = "server_disabled" in Settings => Server;
    ServerNameRequired = "server_name_required" in Settings;
    ServerDuplicate = "server_duplicate" in Settings;
    ServerInUse = "server_in_use" in Settings;
    EndpointInvalid = "endpoint_invalid" in Settings;
    EndpointInsecure = "endpoint_insecure" in Settings;
    // step 2: users and mail accounts
    AddressRequired = "address_required" in Accounts => Address;
    AddressInvalid = "address_invalid" in Accounts => Address;
    AddressDuplicate = "address_duplicate" in Accounts => Address;
    LoginNameRequired = "login_name_required" in Accounts => LoginName;
    LoginNameInvalid = "login_name_invalid" in Accounts => LoginName;
    DisplayNameTooLong = "display_name_too_long" in Accounts;
    TextUnsafeCharacter = "text_unsafe_character" in Accounts;
    AccountNotFound = "account_not_found" in Accounts;
    // a named file (CSV, invitation, CA file)
    FileNotRegular = "file_not_regular" in File;
    FileTooLarge = "file_too_large" in File;
    FileUnreadable = "file_unreadable" in File;
    // CSV import and export, files written
    CsvEmpty = "csv_empty" in Csv;
    CsvEncoding = "csv_encoding" in Csv;
    CsvMissingColumn = "csv_missing_column" in Csv;
    CsvUnknownColumn = "csv_unknown_column" in Csv;
    CsvTooLarge = "csv_too_large" in Csv;
    CsvTooManyRows = "csv_too_many_rows" in Csv;
    CsvRecordTooLong = "csv_record_too_long" in Csv;
    CsvEncodingExport = "csv_encoding_export" in Csv;
    CsvRejected = "csv_rejected" in Csv;
    CsvMalformed = "csv_malformed" in Csv;
    ExportExists = "export_exists" in Csv;
    ExportWrite = "export_write" in Csv;
    /// The support bundle could not be written (`path`, `reason`).
    SupportBundleFailed = "support_bundle_failed" in Csv;
    // the local database
    Storage = "storage" in Storage;
    DataDir = "data_dir" in Storage;
    // OAuth (steps 3 and 4): Microsoft's answers, the browser round trip, the tokens
    ConsentRequired = "consent_required" in SignIn;
    AdminApprovalRequired = "admin_approval_required" in SignIn;
    AdminRoleRequired = "admin_role_required" in SignIn;
    ConsentDeclined = "consent_declined" in SignIn;
    AdminConsentDeclined = "admin_consent_declined" in SignIn;
    SignInCancelled = "sign_in_cancelled" in SignIn;
    AdminConsentCancelled = "admin_consent_cancelled" in SignIn;
    RedirectUriMismatch = "redirect_uri_mismatch" in SignIn;
    AppNotInTenant = "app_not_in_tenant" in SignIn;
    RedirectRegisteredAsWeb = "redirect_registered_as_web" in SignIn;
    InvalidClient = "invalid_client" in SignIn;
    MfaRequired = "mfa_required" in SignIn;
    ReauthorizationRequired = "reauthorization_required" in SignIn;
    SignInFrequency = "sign_in_frequency" in SignIn;
    ConditionalAccessBlocked = "conditional_access_blocked" in SignIn;
    WrongOrganizationAccount = "wrong_organization_account" in SignIn;
    SingleTenantOnCommon = "single_tenant_on_common" in SignIn;
    CodeAlreadyRedeemed = "code_already_redeemed" in SignIn;
    AuthorizationCodeRejected = "authorization_code_rejected" in SignIn;
    PkceVerifierMismatch = "pkce_verifier_mismatch" in SignIn;
    InvalidScope = "invalid_scope" in SignIn;
    InteractionRequired = "interaction_required" in SignIn;
    ServiceUnavailable = "service_unavailable" in SignIn;
    OauthConfigInvalid = "oauth_config_invalid" in SignIn;
    CallbackMalformed = "callback_malformed" in SignIn;
    StateMissing = "state_missing" in SignIn;
    StateUnknown = "state_unknown" in SignIn;
    StateReplayed = "state_replayed" in SignIn;
    CallbackLate = "callback_late" in SignIn;
    FlowTimedOut = "flow_timed_out" in SignIn;
    CallbackMismatch = "callback_mismatch" in SignIn;
    ForeignFlow = "foreign_flow" in SignIn;
    AdminConsentNotGranted = "admin_consent_not_granted" in SignIn;
    TenantMismatch = "tenant_mismatch" in SignIn => Tenant;
    MissingCode = "missing_code" in SignIn;
    NetworkError = "network_error" in SignIn;
    IdentityUnreachable = "identity_unreachable" in SignIn;
    InvalidTokenResponse = "invalid_token_response" in SignIn;
    NoRefreshToken = "no_refresh_token" in SignIn;
    IdTokenMissing = "id_token_missing" in SignIn;
    IdTokenInvalid = "id_token_invalid" in SignIn;
    JwksUnavailable = "jwks_unavailable" in SignIn;
    PersonalAccount = "personal_account" in SignIn;
    WrongAccount = "wrong_account" in SignIn;
    // the OS keychain
    KeychainUnavailable = "keychain_unavailable" in Keychain;
    KeychainLocked = "keychain_locked" in Keychain;
    KeychainDenied = "keychain_denied" in Keychain;
    KeychainCorrupt = "keychain_corrupt" in Keychain;
    KeychainError = "keychain_error" in Keychain;
    // steps 3 and 4 around the flow
    FlowCancelled = "flow_cancelled" in SignIn;
    AccountNotRegistered = "account_not_registered" in SignIn;
    NotSignedIn = "not_signed_in" in SignIn;
    LoopbackUnavailable = "loopback_unavailable" in SignIn;
    ServerNotOauth = "server_not_oauth" in SignIn;
    BrowserUnavailable = "browser_unavailable" in SignIn;
    // the connection check (IMAP/POP3/SMTP with XOAUTH2)
    MailAuthFailed = "mail_auth_failed" in MailCheck;
    MailSmtpAuthDisabled = "mail_smtp_auth_disabled" in MailCheck;
    MailMailboxMismatch = "mail_mailbox_mismatch" in MailCheck;
    MailTokenExpired = "mail_token_expired" in MailCheck;
    MailXoauth2Malformed = "mail_xoauth2_malformed" in MailCheck;
    MailMechanismUnsupported = "mail_mechanism_unsupported" in MailCheck;
    MailStarttlsUnavailable = "mail_starttls_unavailable" in MailCheck;
    MailTlsCertificate = "mail_tls_certificate" in MailCheck;
    MailTlsFailed = "mail_tls_failed" in MailCheck;
    MailDnsFailure = "mail_dns_failure" in MailCheck;
    MailConnectionRefused = "mail_connection_refused" in MailCheck;
    MailUnreachable = "mail_unreachable" in MailCheck;
    MailTimeout = "mail_timeout" in MailCheck;
    MailConnectionClosed = "mail_connection_closed" in MailCheck;
    MailTemporaryFailure = "mail_temporary_failure" in MailCheck;
    MailCommandFailed = "mail_command_failed" in MailCheck;
    MailProtocolError = "mail_protocol_error" in MailCheck;
    MailPlainNotAllowed = "mail_plain_not_allowed" in MailCheck;
    MailHostNotAllowed = "mail_host_not_allowed" in MailCheck;
    MailHostOtherCloud = "mail_host_other_cloud" in MailCheck;
    // invitations (opening one on the user's computer)
    InviteMalformed = "invite_malformed" in Invitation;
    InviteTooLarge = "invite_too_large" in Invitation;
    InviteVersionUnsupported = "invite_version_unsupported" in Invitation;
    InviteTampered = "invite_tampered" in Invitation;
    InviteFileUnreadable = "invite_file_unreadable" in Invitation;
    InviteRefusedByPolicy = "invite_refused_by_policy" in Invitation;
    InviteOtherTenant = "invite_other_tenant" in Invitation;
    InviteAuthorityNotAllowed = "invite_authority_not_allowed" in Invitation;
    InviteMailHostNotAllowed = "invite_mail_host_not_allowed" in Invitation;
    InviteReplacesOrg = "invite_replaces_org" in Invitation;
    InviteNotPending = "invite_not_pending" in Invitation;
    // self-service: a user sets up the mailbox they type (organization invitation, managed policy)
    SelfServiceNotAllowed = "self_service_not_allowed" in Invitation;
    SelfServiceRefusedByPolicy = "self_service_refused_by_policy" in Invitation;
    // the directory import (Microsoft Graph)
    DirectoryNotSignedIn = "directory_not_signed_in" in Directory;
    DirectoryNotRead = "directory_not_read" in Directory;
    DirectoryRejected = "directory_rejected" in Directory;
    DirectoryCancelled = "directory_cancelled" in Directory;
    GraphError = "graph_error" in Directory;
    GraphUnreachable = "graph_unreachable" in Directory;
    GraphAnswerInvalid = "graph_answer_invalid" in Directory;
    GroupNotFound = "group_not_found" in Directory;
    // the rollout loop (invitations mailed from the administrator's mailbox, receipts read)
    RolloutSenderNotSet = "rollout_sender_not_set" in Rollout;
    RolloutSenderNotSignedIn = "rollout_sender_not_signed_in" in Rollout => Address;
    RolloutNothingToSend = "rollout_nothing_to_send" in Rollout;
    RolloutCancelled = "rollout_cancelled" in Rollout;
    RolloutSenderRefused = "rollout_sender_refused" in Rollout => Address;
    // the managed policy IT deploys
    PolicyInvalid = "policy_invalid" in Policy;
    PolicyLockedField = "policy_locked_field" in Policy;
    PolicyConflict = "policy_conflict" in Policy;
    // the command line's own refusals
    ConfirmationRequired = "confirmation_required" in CommandLine;
    NoAccounts = "no_accounts" in CommandLine;
    InvalidProtocol = "invalid_protocol" in CommandLine;
    CaFileUnreadable = "ca_file_unreadable" in CommandLine;
    OutputFailed = "output_failed" in CommandLine;
    // a bug or a failed background task
    Unexpected = "unexpected" in Internal;
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn wire_strings_are_serdes_and_unique() {
        let mut seen = HashSet::new();
        for kind in ErrorKind::ALL {
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&format!("\"{kind}\"")).unwrap(), *kind);
            assert!(seen.insert(kind.as_str()), "{kind} twice");
        }
        assert!(serde_json::from_str::<ErrorKind>("\"no_such_kind\"").is_err());
    }

    /// Writes `ui/src/bindings/errorKinds.ts` next to ts-rs's files (named like ts-rs's tests, so
    /// the test command's `export_bindings` run regenerates it and the stale check compares it).
    #[test]
    fn export_bindings_error_kinds() {
        let mut ts = String::from(
            "// Generated by exo-setup-core (src-tauri/core/src/error_kind.rs, test export_bindings_error_kinds). \
             Do not edit.\n\
             import type { ErrorArea } from './ErrorArea';\n\
             import type { ErrorField } from './ErrorField';\n\
             import type { ErrorKind } from './ErrorKind';\n\n\
             /** Every error kind with the area that produces it and the form field it belongs to. */\n\
             export const ERROR_KIND_INFO: Record<ErrorKind, { area: ErrorArea; field: ErrorField | null }> = {\n",
        );
        for kind in ErrorKind::ALL {
            let json = |v| serde_json::to_string(&v).unwrap().replace('"', "'");
            let field = kind.field().map_or("null".to_owned(), |f| json(serde_json::to_value(f).unwrap()));
            let area = json(serde_json::to_value(kind.area()).unwrap());
            writeln!(ts, "  {kind}: {{ area: {area}, field: {field} }},").unwrap();
        }
        ts.push_str("};\n");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/bindings/errorKinds.ts");
        if std::fs::read_to_string(path).ok().as_deref() != Some(ts.as_str()) {
            std::fs::write(path, ts).expect("write ui/src/bindings/errorKinds.ts");
        }
    }
}
