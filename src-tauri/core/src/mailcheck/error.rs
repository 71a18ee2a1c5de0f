//! Every way a connection check can fail, who must act and what to do, as a [`UiError`].
//!
//! Messages are English (CLI, logs); the UI's ja/en texts are keyed by `kind`. Every `detail`
//! has `protocol` (`IMAP`/`POP3`/`SMTP`), `server` (`host:port`), `host`, `port` and `address`,
//! plus per kind: `reply` (the server's line, trimmed to 300 characters), `step`, `seconds`,
//! `reason`, `command`, `offered`, `scope`, and for `mail_host_not_allowed` the `authority` and
//! its `cloud`.

use crate::error::{Actor, ErrorKind, UiError};
use crate::model::Endpoint;
use crate::DetailKey;

use super::MailProtocol;

/// A step of a dialogue (where a timeout or a closed connection happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Dns,
    Connect,
    Tls,
    Greeting,
    Starttls,
    Capabilities,
    Auth,
    Command,
    Logout,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Greeting => "greeting",
            Self::Starttls => "starttls",
            Self::Capabilities => "capabilities",
            Self::Auth => "auth",
            Self::Command => "command",
            Self::Logout => "logout",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Dns => "looking up the host name",
            Self::Connect => "connecting",
            Self::Tls => "setting up TLS",
            Self::Greeting => "waiting for the greeting",
            Self::Starttls => "starting TLS",
            Self::Capabilities => "asking for capabilities",
            Self::Auth => "signing in",
            Self::Command => "running the check command",
            Self::Logout => "logging out",
        }
    }
}

/// What went wrong in one protocol's dialogue. Never holds a secret: replies are scrubbed of
/// the token and the XOAUTH2 blob before they reach a [`UiError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailCheckError {
    /// The server refused the token (`NO AUTHENTICATE failed`, `535 5.7.3`, `-ERR`): expired,
    /// revoked, signed by another key, for another audience or another mailbox (Dovecot).
    #[error("the server refused the access token: {reply}")]
    AuthFailed { reply: String },
    /// `535 5.7.139 … SmtpClientAuthentication is disabled for the Tenant/Mailbox`.
    #[error("SMTP AUTH is disabled for the {scope}: {reply}")]
    SmtpAuthDisabled { reply: String, scope: &'static str },
    /// Exchange: login accepted, then `BAD User is authenticated but not connected`.
    #[error("the token belongs to another mailbox: {reply}")]
    MailboxMismatch { reply: String },
    /// `* BYE Session invalidated - AccessTokenExpired` (or the like) during the session.
    #[error("the access token expired during the session: {reply}")]
    TokenExpired { reply: String },
    /// `501 5.5.124 Invalid XOAUTH2 auth data`, IMAP `BAD` to AUTHENTICATE.
    #[error("the server could not read the XOAUTH2 data: {reply}")]
    Xoauth2Malformed { reply: String },
    /// XOAUTH2 not offered.
    #[error("XOAUTH2 is not offered (offered: {offered})")]
    MechanismUnsupported { offered: String },
    /// STARTTLS not offered or refused.
    #[error("STARTTLS is not available: {reply}")]
    StarttlsUnavailable { reply: String },
    #[error("the server's certificate is not trusted: {reason}")]
    TlsCertificate { reason: String },
    #[error("TLS failed: {reason}")]
    Tls { reason: String },
    #[error("the host name could not be resolved: {reason}")]
    Dns { reason: String },
    #[error("connection refused")]
    ConnectionRefused,
    #[error("the server could not be reached: {reason}")]
    Unreachable { reason: String },
    #[error("no answer within {secs} s while {}", step.words())]
    Timeout { step: Step, secs: u64 },
    #[error("the server closed the connection while {}", step.words())]
    ConnectionClosed { step: Step, reply: Option<String> },
    /// 4xx, `[UNAVAILABLE]`, `-ERR [SYS/TEMP]`.
    #[error("temporary failure: {reply}")]
    TemporaryFailure { reply: String },
    /// Logged in, but the harmless command was refused.
    #[error("{command} was refused: {reply}")]
    CommandFailed { command: &'static str, reply: String },
    /// An answer that is not the protocol (wrong port, not a mail server).
    #[error("unexpected answer while {}: {reply}", step.words())]
    Protocol { step: Step, reply: String },
    /// `Security::Plain` towards a host that is not this computer.
    #[error("unencrypted connections are allowed only to this computer")]
    PlainNotAllowed,
    /// The host may not receive this mailbox's token ([`crate::audience`]); nothing connected.
    #[error("the token of {authority} ({cloud}) may not be sent to this host")]
    HostNotAllowed { cloud: String, authority: String },
    /// The built-in server still names the worldwide cloud's hosts, but the organization signs in
    /// at another cloud; nothing connected.
    #[error("the token of {authority} ({cloud}) is not sent to the worldwide cloud's mail servers")]
    HostOfAnotherCloud { cloud: String, authority: String },
}

/// Longest reply text kept in an error.
const MAX_REPLY: usize = 300;

/// A server line as shown to people: control characters out, at most [`MAX_REPLY`] characters.
pub(crate) fn clean_reply(s: &str) -> String {
    let s: String = s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().count() > MAX_REPLY {
        let mut t: String = s.chars().take(MAX_REPLY).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// Replaces any occurrence of the secrets in an error's message and detail (a server that
/// echoes what it was sent must not put the token on the screen or into the log).
pub(crate) fn scrub(mut e: UiError, secrets: &[&str]) -> UiError {
    let hide = |s: &mut String| {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            if s.contains(secret) {
                *s = s.replace(secret, "<redacted>");
            }
            // A reply cut at MAX_REPLY may end with the beginning of a secret.
            let body = s.strip_suffix('…').unwrap_or(s).to_owned();
            let cut =
                (8..secret.len()).rev().filter(|k| secret.is_char_boundary(*k)).find(|k| body.ends_with(&secret[..*k]));
            if let Some(k) = cut {
                *s = format!("{}<redacted>…", &body[..body.len() - k]);
            }
        }
    };
    hide(&mut e.message);
    for v in e.detail.values_mut() {
        hide(v);
    }
    e
}

impl MailCheckError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::AuthFailed { .. } => ErrorKind::MailAuthFailed,
            Self::SmtpAuthDisabled { .. } => ErrorKind::MailSmtpAuthDisabled,
            Self::MailboxMismatch { .. } => ErrorKind::MailMailboxMismatch,
            Self::TokenExpired { .. } => ErrorKind::MailTokenExpired,
            Self::Xoauth2Malformed { .. } => ErrorKind::MailXoauth2Malformed,
            Self::MechanismUnsupported { .. } => ErrorKind::MailMechanismUnsupported,
            Self::StarttlsUnavailable { .. } => ErrorKind::MailStarttlsUnavailable,
            Self::TlsCertificate { .. } => ErrorKind::MailTlsCertificate,
            Self::Tls { .. } => ErrorKind::MailTlsFailed,
            Self::Dns { .. } => ErrorKind::MailDnsFailure,
            Self::ConnectionRefused => ErrorKind::MailConnectionRefused,
            Self::Unreachable { .. } => ErrorKind::MailUnreachable,
            Self::Timeout { .. } => ErrorKind::MailTimeout,
            Self::ConnectionClosed { .. } => ErrorKind::MailConnectionClosed,
            Self::TemporaryFailure { .. } => ErrorKind::MailTemporaryFailure,
            Self::CommandFailed { .. } => ErrorKind::MailCommandFailed,
            Self::Protocol { .. } => ErrorKind::MailProtocolError,
            Self::PlainNotAllowed => ErrorKind::MailPlainNotAllowed,
            Self::HostNotAllowed { .. } => ErrorKind::MailHostNotAllowed,
            Self::HostOfAnotherCloud { .. } => ErrorKind::MailHostOtherCloud,
        }
    }

    pub fn actor(&self) -> Actor {
        match self {
            Self::AuthFailed { .. } | Self::MailboxMismatch { .. } | Self::TokenExpired { .. } => Actor::User,
            Self::SmtpAuthDisabled { .. }
            | Self::MechanismUnsupported { .. }
            | Self::StarttlsUnavailable { .. }
            | Self::TlsCertificate { .. }
            | Self::Tls { .. }
            | Self::Protocol { .. }
            | Self::PlainNotAllowed
            | Self::HostNotAllowed { .. }
            | Self::HostOfAnotherCloud { .. } => Actor::Admin,
            Self::Xoauth2Malformed { .. }
            | Self::Dns { .. }
            | Self::ConnectionRefused
            | Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::ConnectionClosed { .. }
            | Self::TemporaryFailure { .. }
            | Self::CommandFailed { .. } => Actor::Support,
        }
    }

    /// The error as the UI and the CLI receive it, with the protocol, server and mailbox.
    pub fn to_ui(&self, protocol: MailProtocol, endpoint: &Endpoint, address: &str) -> UiError {
        let p = protocol.label();
        let host = endpoint.host.as_str();
        let server = format!("{host}:{}", endpoint.port);
        let message = match self {
            Self::AuthFailed { reply } => format!(
                "{p} at {server} refused the access token of {address} (\"{reply}\"). Sign in again as {address} \
                 (step 4). If it keeps failing, the administrator checks that {p} is enabled for the mailbox \
                 (Microsoft 365 admin center → the user → Mail → Manage email apps) and that the admin consent \
                 (step 3) covers {p}."
            ),
            Self::SmtpAuthDisabled { reply, scope } => {
                let fix = if *scope == "mailbox" {
                    format!("`Set-CASMailbox -Identity {address} -SmtpClientAuthenticationDisabled $false`")
                } else {
                    format!(
                        "`Set-TransportConfig -SmtpClientAuthenticationDisabled $false` (the whole organization) or \
                         `Set-CASMailbox -Identity {address} -SmtpClientAuthenticationDisabled $false` (this mailbox only)"
                    )
                };
                format!(
                    "SMTP at {server} refused to sign in {address} because Authenticated SMTP (SMTP AUTH) is turned \
                     off for the {scope} (\"{reply}\"). This is an Exchange Online setting, not a problem with the \
                     Microsoft sign-in or the token. The administrator turns Authenticated SMTP on: Microsoft 365 \
                     admin center → the user → Mail → Manage email apps → Authenticated SMTP, or in Exchange Online \
                     PowerShell {fix}. The change can take up to an hour."
                )
            }
            Self::MailboxMismatch { reply } => format!(
                "{p} at {server} accepted the token but could not open the mailbox {address} (\"{reply}\"): the \
                 token belongs to another mailbox — most often someone else signed in. Sign in again as {address} \
                 (step 4)."
            ),
            Self::TokenExpired { reply } => format!(
                "The access token of {address} expired during the {p} session at {server} (\"{reply}\"). Check \
                 again: exo-setup gets a fresh token first."
            ),
            Self::Xoauth2Malformed { reply } => format!(
                "{p} at {server} could not read the XOAUTH2 sign-in data of {address} (\"{reply}\"). This points to \
                 exo-setup or to something between it and the server (a proxy or security software that rewrites \
                 mail traffic); report it with this message."
            ),
            Self::MechanismUnsupported { offered } => format!(
                "{p} at {server} does not offer XOAUTH2 (OAuth 2.0) sign-in (it offers: {offered}). Check the host \
                 name and port of the server in step 1; Exchange Online offers XOAUTH2 on outlook.office365.com \
                 (IMAP 993, POP3 995) and smtp.office365.com (SMTP 587)."
            ),
            Self::StarttlsUnavailable { reply } => format!(
                "{p} at {server} did not agree to encrypt the connection with STARTTLS (\"{reply}\"), and exo-setup \
                 never sends a token unencrypted. Check the port and the security setting of the server in step 1."
            ),
            Self::TlsCertificate { reason } => format!(
                "The certificate of {server} ({p}) is not trusted: {reason}. Nothing was sent. The host name in step \
                 1 may be wrong, or something on the network intercepts encrypted connections (a proxy or security \
                 software)."
            ),
            Self::Tls { reason } => format!(
                "An encrypted (TLS) connection to {server} ({p}) could not be set up: {reason}. Check the port and \
                 the security setting of the server in step 1 (TLS: IMAP 993, POP3 995; SMTP 587 uses STARTTLS)."
            ),
            Self::Dns { reason } => format!(
                "The host name {host} ({p}) could not be found: {reason}. Check this computer's network connection \
                 and DNS; if the name was typed for a custom server, the administrator checks it in step 1."
            ),
            Self::ConnectionRefused => format!(
                "{server} refused the {p} connection: nothing accepts connections on that port, or a firewall \
                 rejects them. Check the port in step 1 and that the network allows outgoing connections to it."
            ),
            Self::Unreachable { reason } => {
                format!("{server} ({p}) could not be reached: {reason}. Check this computer's network connection.")
            }
            Self::Timeout { step, secs } => format!(
                "{server} ({p}) did not answer within {secs} s while {}. A firewall may silently drop the \
                 connection, or the server is slow; try again later.",
                step.words()
            ),
            Self::ConnectionClosed { step, reply } => {
                let said = reply.as_deref().map(|r| format!(" (\"{r}\")")).unwrap_or_default();
                format!("{server} ({p}) closed the connection while {}{said}. Try again later.", step.words())
            }
            Self::TemporaryFailure { reply } => {
                format!("{server} ({p}) reported a temporary problem (\"{reply}\"). Try again in a few minutes.")
            }
            Self::CommandFailed { command, reply } => format!(
                "{address} signed in to {p} at {server}, but {command} was refused (\"{reply}\"). Try again later; \
                 if it persists, the administrator checks the mailbox in Exchange."
            ),
            Self::Protocol { step, reply } => format!(
                "{server} did not answer like a {p} server while {} (\"{reply}\"). Check the host name, port and \
                 security setting of the server in step 1.",
                step.words()
            ),
            Self::PlainNotAllowed => format!(
                "The server entry connects to {p} at {server} without encryption; exo-setup sends a token \
                 unencrypted only to this computer (localhost, for tests). Choose TLS or STARTTLS for the server in \
                 step 1."
            ),
            Self::HostNotAllowed { cloud, authority } => format!(
                "exo-setup did not send the access token of {address} to {host} ({p}), and nothing connected to \
                 {server}: {address} signs in at {authority} ({cloud}), {host} is not one of that cloud's mail \
                 servers, it was not set by the administrator on this computer (it came with an invitation), and \
                 the managed policy does not list it. If {host} is your organization's own mail server, the \
                 administrator sets it for the server in step 1 (or `exo-setup server endpoints`) on this \
                 computer, or IT adds it to allowedMailHosts in the managed policy. If nobody expected it, the \
                 invitation may have been forged: tell your administrator."
            ),
            Self::HostOfAnotherCloud { cloud, authority } => format!(
                "exo-setup did not send the access token of {address} to {host} ({p}), and nothing connected to \
                 {server}: {address} signs in at {authority} ({cloud}), but the Exchange Online server still names \
                 the worldwide cloud's mail servers, which are not that cloud's. The administrator sets that \
                 cloud's IMAP, POP3 and SMTP servers for Exchange Online in step 1 (or `exo-setup server \
                 endpoints`) on this computer."
            ),
        };
        let mut e = UiError::new(self.kind(), self.actor(), message)
            .with(DetailKey::Protocol, p)
            .with(DetailKey::Server, &server)
            .with(DetailKey::Host, host)
            .with(DetailKey::Port, endpoint.port)
            .with(DetailKey::Address, address);
        match self {
            Self::AuthFailed { reply }
            | Self::MailboxMismatch { reply }
            | Self::TokenExpired { reply }
            | Self::Xoauth2Malformed { reply }
            | Self::StarttlsUnavailable { reply }
            | Self::TemporaryFailure { reply } => e = e.with(DetailKey::Reply, reply),
            Self::SmtpAuthDisabled { reply, scope } => {
                e = e.with(DetailKey::Reply, reply).with(DetailKey::Scope, scope)
            }
            Self::MechanismUnsupported { offered } => e = e.with(DetailKey::Offered, offered),
            Self::TlsCertificate { reason }
            | Self::Tls { reason }
            | Self::Dns { reason }
            | Self::Unreachable { reason } => e = e.with(DetailKey::Reason, reason),
            Self::Timeout { step, secs } => e = e.with(DetailKey::Step, step.as_str()).with(DetailKey::Seconds, secs),
            Self::ConnectionClosed { step, reply } => {
                e = e.with(DetailKey::Step, step.as_str());
                if let Some(r) = reply {
                    e = e.with(DetailKey::Reply, r);
                }
            }
            Self::CommandFailed { command, reply } => {
                e = e.with(DetailKey::Command, command).with(DetailKey::Reply, reply)
            }
            Self::Protocol { step, reply } => e = e.with(DetailKey::Step, step.as_str()).with(DetailKey::Reply, reply),
            Self::HostNotAllowed { cloud, authority } | Self::HostOfAnotherCloud { cloud, authority } => {
                e = e.with(DetailKey::Cloud, cloud).with(DetailKey::Authority, authority)
            }
            Self::ConnectionRefused | Self::PlainNotAllowed => {}
        }
        e
    }
}

/// Classifies texts every protocol may send: an expired token during the session.
pub(crate) fn token_expired(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("accesstokenexpired") || t.contains("access token expired") || t.contains("token has expired")
}

/// Exchange's answer when the token is valid but for another mailbox.
pub(crate) fn not_connected(text: &str) -> bool {
    text.to_ascii_lowercase().contains("authenticated but not connected")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Security;

    #[test]
    fn every_variant_has_a_listed_kind_and_names_the_server() {
        let ep = Endpoint { host: "outlook.office365.com".into(), port: 993, security: Security::Tls };
        let all = [
            MailCheckError::AuthFailed { reply: "a".into() },
            MailCheckError::SmtpAuthDisabled { reply: "a".into(), scope: "tenant" },
            MailCheckError::MailboxMismatch { reply: "a".into() },
            MailCheckError::TokenExpired { reply: "a".into() },
            MailCheckError::Xoauth2Malformed { reply: "a".into() },
            MailCheckError::MechanismUnsupported { offered: "PLAIN".into() },
            MailCheckError::StarttlsUnavailable { reply: "a".into() },
            MailCheckError::TlsCertificate { reason: "a".into() },
            MailCheckError::Tls { reason: "a".into() },
            MailCheckError::Dns { reason: "a".into() },
            MailCheckError::ConnectionRefused,
            MailCheckError::Unreachable { reason: "a".into() },
            MailCheckError::Timeout { step: Step::Greeting, secs: 1 },
            MailCheckError::ConnectionClosed { step: Step::Auth, reply: None },
            MailCheckError::TemporaryFailure { reply: "a".into() },
            MailCheckError::CommandFailed { command: "STAT", reply: "a".into() },
            MailCheckError::Protocol { step: Step::Greeting, reply: "a".into() },
            MailCheckError::PlainNotAllowed,
            MailCheckError::HostNotAllowed { cloud: "c".into(), authority: "https://a".into() },
            MailCheckError::HostOfAnotherCloud { cloud: "c".into(), authority: "https://a".into() },
        ];
        let mail_check_kinds = ErrorKind::ALL.iter().filter(|k| k.area() == crate::ErrorArea::MailCheck).count();
        assert_eq!(all.len(), mail_check_kinds);
        for e in &all {
            let ui = e.to_ui(MailProtocol::Imap, &ep, "taro@contoso.example");
            assert_eq!(ui.kind.area(), crate::ErrorArea::MailCheck, "{}", ui.kind);
            assert!(ui.message.contains("outlook.office365.com"), "{}", ui.message);
            assert_eq!(ui.detail[&DetailKey::Server], "outlook.office365.com:993");
        }
    }

    #[test]
    fn smtp_auth_disabled_names_the_admin_setting() {
        let ep = Endpoint { host: "smtp.office365.com".into(), port: 587, security: Security::Starttls };
        let ui = MailCheckError::SmtpAuthDisabled { reply: "535 5.7.139".into(), scope: "tenant" }.to_ui(
            MailProtocol::Smtp,
            &ep,
            "taro@contoso.example",
        );
        assert_eq!(ui.actor, Actor::Admin);
        for needle in [
            "Authenticated SMTP",
            "Set-TransportConfig -SmtpClientAuthenticationDisabled $false",
            "Set-CASMailbox -Identity taro@contoso.example -SmtpClientAuthenticationDisabled $false",
            "not a problem with the Microsoft sign-in",
        ] {
            assert!(ui.message.contains(needle), "{needle}: {}", ui.message);
        }
    }

    #[test]
    fn scrub_hides_secrets_and_clean_reply_trims() {
        let e = UiError::new(ErrorKind::MailAuthFailed, Actor::User, "said eyJsecret-token-value")
            .with(DetailKey::Reply, "x eyJsecret-token-value");
        let e = scrub(e, &["eyJsecret-token-value"]);
        assert!(!e.message.contains("eyJ") && !e.detail[&DetailKey::Reply].contains("eyJ"));
        assert_eq!(clean_reply(" a\tb\r\n"), "a b");
        assert_eq!(clean_reply(&"x".repeat(400)).chars().count(), MAX_REPLY + 1);
        // An echo cut in the middle of the secret keeps none of it.
        let secret = "dXNlcj10YXJvQGNvbnRvc28uZXhhbXBsZQFhdXRoPUJlYXJlciBleUpoYkdjaU9pSlNVekkxTmlJcw==";
        let reply = clean_reply(&format!("{} {}", "y".repeat(280), secret));
        let e = scrub(
            UiError::new(ErrorKind::MailAuthFailed, crate::Actor::User, reply.clone()).with(DetailKey::Reply, &reply),
            &[secret],
        );
        assert!(
            !e.message.contains(&secret[..8]) && !e.detail[&DetailKey::Reply].contains(&secret[..8]),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("<redacted>…"), "{}", e.message);
    }
}
