//! [`KeychainError`] and its translation into a [`UiError`].
//!
//! No variant ever carries a secret: keyring's `BadEncoding(bytes)` (which holds the stored
//! bytes) is turned into [`KeychainError::Corrupt`] without them.

use crate::error::{Actor, ErrorKind, UiError};
use crate::DetailKey;

/// What went wrong talking to the OS keychain. `operation` is `get`, `set` or `delete`;
/// `cause` is the platform's own text (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service could be reached (Linux: no D-Bus session bus, or no Secret Service
    /// provider such as gnome-keyring or KWallet on it, or no default collection).
    #[error("no keychain service is available during {operation}: {cause}")]
    Unavailable { operation: &'static str, service: String, cause: String },
    /// The keychain (collection) is locked and was not unlocked.
    #[error("the keychain is locked ({operation}): {cause}")]
    Locked { operation: &'static str, service: String, cause: String },
    /// The platform refused access (macOS/Windows access rules, a dismissed prompt…).
    #[error("access to the keychain was denied ({operation}): {cause}")]
    Denied { operation: &'static str, service: String, cause: String },
    /// A stored value could not be read back as written (a missing part, a bad header, not
    /// UTF-8). The account has to sign in again.
    #[error("the keychain entry {entry} is damaged: {reason}")]
    Corrupt { service: String, entry: String, reason: String },
    /// Any other failure of the platform store.
    #[error("keychain failure during {operation}: {cause}")]
    Platform { operation: &'static str, service: String, cause: String },
}

impl KeychainError {
    /// The stable `kind` the UI keys its text by.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable { .. } => ErrorKind::KeychainUnavailable,
            Self::Locked { .. } => ErrorKind::KeychainLocked,
            Self::Denied { .. } => ErrorKind::KeychainDenied,
            Self::Corrupt { .. } => ErrorKind::KeychainCorrupt,
            Self::Platform { .. } => ErrorKind::KeychainError,
        }
    }

    /// Classifies a keyring error. Only by the error's category and text, so that this stays
    /// the same code on every OS (the texts matched are those of the Secret Service backend;
    /// on other platforms the category alone decides).
    pub(crate) fn from_keyring(operation: &'static str, service: &str, entry: &str, err: keyring::Error) -> Self {
        let service = service.to_owned();
        match err {
            keyring::Error::NoStorageAccess(inner) => {
                let cause = inner.to_string();
                let lower = cause.to_ascii_lowercase();
                if lower.contains("locked") || lower.contains("prompt") {
                    Self::Locked { operation, service, cause }
                } else if lower.contains("no result") {
                    // Secret Service without a default collection ("login" keyring) to store into.
                    Self::Unavailable { operation, service, cause }
                } else {
                    Self::Denied { operation, service, cause }
                }
            }
            keyring::Error::PlatformFailure(inner) => {
                let cause = inner.to_string();
                let lower = cause.to_ascii_lowercase();
                if lower.contains("locked") {
                    // gnome-keyring: "DBus error: Cannot get secret of a locked object".
                    return Self::Locked { operation, service, cause };
                }
                let unavailable = [
                    "dbus",
                    "d-bus",
                    "secret service provider",
                    "serviceunknown",
                    "autolaunch",
                    "no such file or directory",
                    "connection refused",
                ];
                if unavailable.iter().any(|needle| lower.contains(needle)) {
                    Self::Unavailable { operation, service, cause }
                } else {
                    Self::Platform { operation, service, cause }
                }
            }
            keyring::Error::BadEncoding(mut bytes) => {
                zeroize::Zeroize::zeroize(&mut bytes);
                Self::Corrupt { service, entry: entry.to_owned(), reason: "the stored value is not UTF-8".into() }
            }
            keyring::Error::NoEntry => Self::Platform { operation, service, cause: "no such entry".into() },
            other => Self::Platform { operation, service, cause: other.to_string() },
        }
    }

    fn service(&self) -> &str {
        match self {
            Self::Unavailable { service, .. }
            | Self::Locked { service, .. }
            | Self::Denied { service, .. }
            | Self::Corrupt { service, .. }
            | Self::Platform { service, .. } => service,
        }
    }
}

impl From<KeychainError> for UiError {
    fn from(err: KeychainError) -> Self {
        let kind = err.kind();
        let service = err.service().to_owned();
        let ui = match &err {
            KeychainError::Unavailable { operation, cause, .. } => UiError::new(
                kind,
                Actor::User,
                "The system keychain is not available, so the sign-in cannot be stored safely (it is never \
                 stored in plain text). On Linux a Secret Service provider must be running in your desktop \
                 session — gnome-keyring or KWallet — with its default (\"login\") keyring created and \
                 unlocked; log in to a desktop session (or start gnome-keyring-daemon) and try again.",
            )
            .with(DetailKey::Operation, operation)
            .with(DetailKey::Cause, cause),
            KeychainError::Locked { operation, cause, .. } => UiError::new(
                kind,
                Actor::User,
                "The system keychain is locked. Unlock your login keyring (for example by logging in to the \
                 desktop session again, or in \"Passwords and Keys\" / KWalletManager) and try again.",
            )
            .with(DetailKey::Operation, operation)
            .with(DetailKey::Cause, cause),
            KeychainError::Denied { operation, cause, .. } => UiError::new(
                kind,
                Actor::User,
                "Access to the system keychain was denied. Allow exo-setup to use the keychain when the \
                 system asks, and try again.",
            )
            .with(DetailKey::Operation, operation)
            .with(DetailKey::Cause, cause),
            KeychainError::Corrupt { entry, reason, .. } => UiError::new(
                kind,
                Actor::User,
                "The sign-in stored in the system keychain for this account is damaged. Sign in again to \
                 replace it.",
            )
            .with(DetailKey::Entry, entry)
            .with(DetailKey::Reason, reason),
            KeychainError::Platform { operation, cause, .. } => UiError::new(
                kind,
                Actor::Support,
                format!("The system keychain reported an error ({operation}): {cause}. Try again; if it persists, contact support."),
            )
            .with(DetailKey::Operation, operation)
            .with(DetailKey::Cause, cause),
        };
        ui.with(DetailKey::Service, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(msg: &str) -> Box<dyn std::error::Error + Send + Sync> {
        msg.to_owned().into()
    }

    #[test]
    fn classifies_secret_service_errors() {
        let e = |err| KeychainError::from_keyring("get", "svc", "refresh:t:a", err).kind().as_str();
        assert_eq!(
            e(keyring::Error::PlatformFailure(boxed(
                "DBus error: Unable to autolaunch a dbus-daemon without a $DISPLAY for X11"
            ))),
            "keychain_unavailable"
        );
        assert_eq!(
            e(keyring::Error::PlatformFailure(boxed("No DBus session or Secret Service provider found"))),
            "keychain_unavailable"
        );
        assert_eq!(e(keyring::Error::NoStorageAccess(boxed("Secret Service: object locked"))), "keychain_locked");
        assert_eq!(
            e(keyring::Error::PlatformFailure(boxed("DBus error: Cannot get secret of a locked object"))),
            "keychain_locked"
        );
        assert_eq!(
            e(keyring::Error::NoStorageAccess(boxed("Secret Service: unlock prompt was dismissed"))),
            "keychain_locked"
        );
        assert_eq!(
            e(keyring::Error::NoStorageAccess(boxed("Secret Service: no result found"))),
            "keychain_unavailable"
        );
        assert_eq!(e(keyring::Error::NoStorageAccess(boxed("errSecAuthFailed"))), "keychain_denied");
        assert_eq!(e(keyring::Error::PlatformFailure(boxed("something else"))), "keychain_error");
        let corrupt =
            KeychainError::from_keyring("get", "svc", "x", keyring::Error::BadEncoding(b"SECRET\xff".to_vec()));
        assert_eq!(corrupt.kind(), ErrorKind::KeychainCorrupt);
        assert!(!format!("{corrupt:?}").contains("SECRET"));
    }

    #[test]
    fn converts_to_ui_error() {
        let ui: UiError = KeychainError::Unavailable {
            operation: "set",
            service: "dev.exosetup.wizard".into(),
            cause: "No DBus session or Secret Service provider found".into(),
        }
        .into();
        assert_eq!(ui.kind, ErrorKind::KeychainUnavailable);
        assert_eq!(ui.actor, Actor::User);
        assert!(
            ui.message.contains("gnome-keyring") && ui.message.contains("KWallet") && ui.message.contains("unlocked")
        );
        assert_eq!(ui.detail[&DetailKey::Service], "dev.exosetup.wizard");
        assert_eq!(ui.detail[&DetailKey::Operation], "set");
    }
}
