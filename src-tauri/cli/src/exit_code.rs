//! The CLI's exit code for an error: an exhaustive `match` over [`ErrorKind`], so a new kind does
//! not compile until someone decides what a script calling `exo-setup` should see for it. The
//! codes are documented in `EXIT_CODES_HELP` (the `--help` text) and the README.

use exo_setup_core::{Actor, ErrorKind, UiError};

/// Exit code for an error, by what failed and, where the kind alone does not say, who must act.
pub fn exit_code(e: &UiError) -> u8 {
    use ErrorKind::*;
    match e.kind {
        Storage | DataDir => 5,
        // A possible mix-up attack: nothing was stored, do not retry.
        IssuerMismatch | IssuerMissing => 9,
        KeychainUnavailable | KeychainLocked | KeychainDenied | KeychainCorrupt | KeychainError => 7,
        // An invitation waits for the user's explicit yes.
        ConfirmationRequired | InviteReplacesOrg => 8,
        HostUnreachable
        | DnsFailure
        | TlsFailure
        | Timeout
        | HttpStatus
        | IdentityError
        | NotDiscovery
        | NetworkError
        | ServiceUnavailable
        | IdentityUnreachable
        | JwksUnavailable
        | IdentityAnswerTooLarge => 4,
        // A sign-in matter the user settles (not signed in, declined, cancelled, timed out, wrong
        // account…) is 8; the same kinds with the administrator to act are 3.
        TenantNotFound
        | ConsentRequired
        | AdminApprovalRequired
        | AdminRoleRequired
        | ConsentDeclined
        | AdminConsentDeclined
        | SignInCancelled
        | AdminConsentCancelled
        | RedirectUriMismatch
        | AppNotInTenant
        | RedirectRegisteredAsWeb
        | InvalidClient
        | MfaRequired
        | ReauthorizationRequired
        | SignInFrequency
        | ConditionalAccessBlocked
        | WrongOrganizationAccount
        | SingleTenantOnCommon
        | CodeAlreadyRedeemed
        | AuthorizationCodeRejected
        | PkceVerifierMismatch
        | InvalidScope
        | InteractionRequired
        | OauthConfigInvalid
        | CallbackMalformed
        | StateMissing
        | StateUnknown
        | StateReplayed
        | CallbackLate
        | FlowTimedOut
        | CallbackMismatch
        | ForeignFlow
        | AdminConsentNotGranted
        | TenantMismatch
        | MissingCode
        | InvalidTokenResponse
        | NoRefreshToken
        | IdTokenMissing
        | IdTokenInvalid
        | PersonalAccount
        | WrongAccount
        | FlowCancelled
        | AccountNotRegistered
        | NotSignedIn
        | LoopbackUnavailable
        | ServerNotOauth
        | BrowserUnavailable
        | MailAuthFailed
        | MailSmtpAuthDisabled
        | MailMailboxMismatch
        | MailTokenExpired
        | MailXoauth2Malformed
        | MailMechanismUnsupported
        | MailStarttlsUnavailable
        | MailTlsCertificate
        | MailTlsFailed
        | MailDnsFailure
        | MailConnectionRefused
        | MailUnreachable
        | MailTimeout
        | MailConnectionClosed
        | MailTemporaryFailure
        | MailCommandFailed
        | MailProtocolError
        | MailPlainNotAllowed
        | MailHostNotAllowed
        | MailHostOtherCloud => by_actor(e.actor, 8),
        // Refused input, settings, files: the administrator (or whoever chose the file) fixes it.
        TenantRequired
        | TenantMultiTenant
        | TenantPersonal
        | TenantMalformed
        | ClientIdMalformed
        | AuthorityMalformed
        | AuthorityInsecure
        | TenantInvalid
        | OrgNotConfigured
        | ServerNotFound
        | ServerBuiltin
        | ServerDisabled
        | ServerNameRequired
        | ServerDuplicate
        | ServerInUse
        | EndpointInvalid
        | EndpointInsecure
        | AddressRequired
        | AddressInvalid
        | AddressDuplicate
        | LoginNameRequired
        | LoginNameInvalid
        | DisplayNameTooLong
        | TextUnsafeCharacter
        | AccountNotFound
        | FileNotRegular
        | FileTooLarge
        | FileUnreadable
        | CsvEmpty
        | CsvEncoding
        | CsvMissingColumn
        | CsvUnknownColumn
        | CsvTooLarge
        | CsvTooManyRows
        | CsvRecordTooLong
        | CsvEncodingExport
        | CsvRejected
        | CsvMalformed
        | ExportExists
        | ExportWrite
        | SupportBundleFailed
        | InviteMalformed
        | InviteTooLarge
        | InviteVersionUnsupported
        | InviteTampered
        | InviteFileUnreadable
        | InviteRefusedByPolicy
        | InviteOtherTenant
        | InviteAuthorityNotAllowed
        | InviteMailHostNotAllowed
        | InviteNotPending
        | SelfServiceNotAllowed
        | SelfServiceRefusedByPolicy
        | DirectoryNotSignedIn
        | DirectoryNotRead
        | DirectoryRejected
        | DirectoryCancelled
        | GraphError
        | GraphUnreachable
        | GraphAnswerInvalid
        | GroupNotFound
        | RolloutSenderNotSet
        | RolloutSenderNotSignedIn
        | RolloutNothingToSend
        | RolloutCancelled
        | RolloutSenderRefused
        | PolicyInvalid
        | PolicyLockedField
        | PolicyConflict
        | NoAccounts
        | InvalidProtocol
        | CaFileUnreadable
        | OutputFailed
        | Unexpected => by_actor(e.actor, 3),
    }
}

/// 4 when nobody at the desk can fix it (retry later, or support), `user` when the user must act,
/// 3 when the administrator must.
fn by_actor(actor: Actor, user: u8) -> u8 {
    match actor {
        Actor::Support => 4,
        Actor::User => user,
        Actor::Admin => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(kind: ErrorKind, actor: Actor) -> u8 {
        exit_code(&UiError::new(kind, actor, "m"))
    }

    #[test]
    fn codes_by_kind_and_actor() {
        assert_eq!(code(ErrorKind::Storage, Actor::Support), 5);
        assert_eq!(code(ErrorKind::IssuerMismatch, Actor::Admin), 9);
        assert_eq!(code(ErrorKind::KeychainLocked, Actor::User), 7);
        assert_eq!(code(ErrorKind::InviteReplacesOrg, Actor::User), 8);
        assert_eq!(code(ErrorKind::Timeout, Actor::Admin), 4);
        // Sign-in kinds: who must act decides.
        assert_eq!(code(ErrorKind::NotSignedIn, Actor::User), 8);
        assert_eq!(code(ErrorKind::ConsentRequired, Actor::Admin), 3);
        assert_eq!(code(ErrorKind::IdTokenInvalid, Actor::Support), 4);
        // Other kinds: never 8, even when the user chose the file.
        assert_eq!(code(ErrorKind::FileUnreadable, Actor::User), 3);
        assert_eq!(code(ErrorKind::AddressInvalid, Actor::Admin), 3);
        assert_eq!(code(ErrorKind::Unexpected, Actor::Support), 4);
    }

    #[test]
    fn every_code_is_documented() {
        for &kind in ErrorKind::ALL {
            for actor in [Actor::Admin, Actor::User, Actor::Support] {
                let c = code(kind, actor);
                assert!(
                    crate::EXIT_CODES_HELP.contains(&format!("\n  {c}  ")),
                    "{kind} ({actor:?}) exits {c}, not in the help text"
                );
            }
        }
    }
}
