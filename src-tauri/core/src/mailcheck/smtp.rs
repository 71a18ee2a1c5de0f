//! The SMTP check with lettre's SMTP connection ([`AsyncSmtpConnection`]): greeting and `EHLO`,
//! `STARTTLS` + `EHLO` (lettre's rustls, the platform's roots and the extra ones), `AUTH XOAUTH2
//! <blob>`, `NOOP`, `QUIT`. Nothing is ever sent (no `MAIL FROM`).
//!
//! Exchange Online's answers to the login: `235 2.7.0 Authentication successful`,
//! `535 5.7.3 Authentication unsuccessful` (the token), `535 5.7.139 Authentication
//! unsuccessful, SmtpClientAuthentication is disabled for the Tenant|Mailbox…` (an admin
//! setting, not OAuth), `501 5.5.124 Invalid XOAUTH2 auth data` (the blob). Dovecot (and Gmail)
//! send a `334 <base64 JSON>` failure challenge first, to which the client answers with an empty
//! line (RFC 7628 §3.2.3; Google's and Microsoft's XOAUTH2 descriptions) to get the final `535`.
//!
//! lettre's own `auth()` cannot be used: its XOAUTH2 gives up with a client error on that
//! challenge (the server's real `535` is lost), and it needs the token in a plain-`String`
//! `Credentials`. So the login goes through lettre's `command()` with [`AuthLine`], whose text is
//! written straight from our [`Secret`]; lettre parses every reply. The blob goes on the AUTH line
//! (initial response, as Exchange documents it); a server whose command line is too short for it
//! (`500 5.5.2 Line too long`, Dovecot's submission) gets it after an empty `334`.

use std::fmt;
use std::net::Ipv4Addr;

use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Noop;
use lettre::transport::smtp::extension::{ClientId, Extension};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error as SmtpError;

use super::error::{clean_reply, token_expired, MailCheckError, Step};
use super::net::{self, Heard, Tap};
use super::{CheckOptions, Timeouts};
use crate::keychain::Secret;
use crate::model::{Endpoint, Security};

/// What `EHLO` announces the client as: `[127.0.0.1]`. A literal is always acceptable (RFC 5321
/// §4.1.4) and names nothing about this computer.
const HELLO: ClientId = ClientId::Ipv4(Ipv4Addr::LOCALHOST);

/// The lines of the XOAUTH2 exchange, written by lettre's `command()`. The blob is formatted
/// straight from the [`Secret`] (lettre's `tracing` feature, which would log it, is off).
enum AuthLine<'a> {
    /// `AUTH XOAUTH2 <blob>` (RFC 4954 initial response).
    Initial(&'a Secret),
    /// `AUTH XOAUTH2`, the blob to follow after `334`.
    Start,
    /// The blob on its own line.
    Blob(&'a Secret),
    /// The empty answer to the failure challenge.
    Empty,
}

impl fmt::Display for AuthLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initial(blob) => write!(f, "AUTH XOAUTH2 {}\r\n", blob.expose()),
            Self::Start => f.write_str("AUTH XOAUTH2\r\n"),
            Self::Blob(blob) => write!(f, "{}\r\n", blob.expose()),
            Self::Empty => f.write_str("\r\n"),
        }
    }
}

/// A reply: its code and its text (code and lines on one line, for errors).
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn of(r: &Response) -> Self {
        let code = r.code().to_string().parse().unwrap_or_default();
        let lines: Vec<&str> = r.message().collect();
        Self { code, text: clean_reply(&format!("{code} {}", lines.join(" "))) }
    }

    /// A negative reply as lettre reports it (code + every line of the text).
    fn of_error(e: &SmtpError) -> Option<Self> {
        let code = e.status()?.to_string();
        let text = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
        Some(Self { code: code.parse().unwrap_or_default(), text: clean_reply(&format!("{code} {text}")) })
    }
}

/// The `io::Error` under a lettre error, if any.
fn io_source(e: &SmtpError) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// A lettre error that is not a server's reply.
fn transport_error(e: &SmtpError, step: Step, heard: &Heard) -> MailCheckError {
    if let Some(io) = io_source(e) {
        return if e.is_tls() || (step == Step::Starttls && io.get_ref().is_some_and(|i| i.is::<rustls::Error>())) {
            net::tls_error(io)
        } else {
            net::io_error(io, step)
        };
    }
    if e.is_tls() {
        return MailCheckError::Tls { reason: e.to_string() };
    }
    if e.is_response() && e.to_string().contains("incomplete response") {
        // lettre's end of stream: the server closed the connection.
        return MailCheckError::ConnectionClosed { step, reply: None };
    }
    MailCheckError::Protocol { step, reply: heard.last_line().unwrap_or_else(|| clean_reply(&e.to_string())) }
}

/// A failure where no negative reply was expected (greeting, EHLO, NOOP).
fn unexpected(e: &SmtpError, step: Step, heard: &Heard) -> MailCheckError {
    match Reply::of_error(e) {
        Some(r) if (400..500).contains(&r.code) => {
            if token_expired(&r.text) {
                MailCheckError::TokenExpired { reply: r.text }
            } else {
                MailCheckError::TemporaryFailure { reply: r.text }
            }
        }
        Some(r) => MailCheckError::Protocol { step, reply: r.text },
        None => transport_error(e, step, heard),
    }
}

/// The sum of steps' limits, for a lettre call that runs several steps.
async fn within_sum<T>(
    limit: std::time::Duration,
    step: Step,
    f: impl std::future::Future<Output = T>,
) -> Result<T, MailCheckError> {
    tokio::time::timeout(limit, f).await.map_err(|_| MailCheckError::Timeout { step, secs: net::secs(limit) })
}

pub(super) async fn session(ep: &Endpoint, opts: &CheckOptions, blob: &Secret) -> Result<(), MailCheckError> {
    let t: &Timeouts = &opts.timeouts;
    let (mut conn, heard) = login(ep, opts, blob).await?;
    match net::within(t, Step::Command, conn.command(Noop)).await? {
        Ok(c) if c.has_code(250) => {}
        Ok(c) => return Err(MailCheckError::CommandFailed { command: "NOOP", reply: Reply::of(&c).text }),
        Err(e) => {
            return Err(match Reply::of_error(&e) {
                Some(r) if (500..600).contains(&r.code) => {
                    MailCheckError::CommandFailed { command: "NOOP", reply: r.text }
                }
                _ => unexpected(&e, Step::Command, &heard),
            })
        }
    }
    // QUIT; its answer does not matter.
    let _ = tokio::time::timeout(t.command.min(net::QUIT_WAIT), conn.quit()).await;
    Ok(())
}

/// An SMTP session logged in with XOAUTH2, for whoever sends mail over it (the rollout's sender),
/// with what the connection heard (for messages that quote the server).
pub(crate) async fn login(
    ep: &Endpoint,
    opts: &CheckOptions,
    blob: &Secret,
) -> Result<(AsyncSmtpConnection, Heard), MailCheckError> {
    let t: &Timeouts = &opts.timeouts;
    let heard = Heard::default();
    let stream = Tap::new(net::connect(ep, opts).await?, heard.clone());

    // lettre reads the greeting and sends EHLO in one call: the greeting's limit plus EHLO's.
    let first = |heard: &Heard| if heard.anything() { Step::Capabilities } else { Step::Greeting };
    let connecting = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &HELLO);
    let mut conn = match tokio::time::timeout(t.greeting + t.command, connecting).await {
        Err(_) => {
            let step = first(&heard);
            return Err(MailCheckError::Timeout { step, secs: net::secs(t.for_step(step)) });
        }
        Ok(Err(e)) => return Err(unexpected(&e, first(&heard), &heard)),
        Ok(Ok(c)) => c,
    };

    if ep.security == Security::Starttls {
        if !conn.server_info().supports_feature(Extension::StartTls) {
            return Err(MailCheckError::StarttlsUnavailable { reply: "STARTTLS is not in the EHLO answer".into() });
        }
        let tls = net::smtp_tls(&ep.host, opts)?;
        // STARTTLS, the handshake and EHLO again.
        let upgrading = conn.starttls(tls, &HELLO);
        if let Err(e) = within_sum(t.command + t.tls + t.command, Step::Starttls, upgrading).await? {
            return Err(if conn.is_encrypted() {
                unexpected(&e, Step::Capabilities, &heard)
            } else if let Some(r) = Reply::of_error(&e) {
                MailCheckError::StarttlsUnavailable { reply: r.text }
            } else {
                transport_error(&e, Step::Starttls, &heard)
            });
        }
    }

    if !conn.server_info().supports_auth_mechanism(Mechanism::Xoauth2) {
        let offered: Vec<String> = [Mechanism::Plain, Mechanism::Login]
            .into_iter()
            .filter(|m| conn.server_info().supports_auth_mechanism(*m))
            .map(|m| m.to_string())
            .collect();
        let offered = if offered.is_empty() { "none".to_owned() } else { offered.join(" ") };
        return Err(MailCheckError::MechanismUnsupported { offered });
    }

    let auth = net::within(t, Step::Auth, conn.command(AuthLine::Initial(blob))).await?;
    let mut r = match auth {
        Err(e)
            if Reply::of_error(&e)
                .is_some_and(|r| r.code == 500 && r.text.to_ascii_lowercase().contains("too long")) =>
        {
            // A short command-line limit: the RFC 4954 form without initial response.
            match net::within(t, Step::Auth, conn.command(AuthLine::Start)).await? {
                Ok(c) if c.has_code(334) => net::within(t, Step::Auth, conn.command(AuthLine::Blob(blob))).await?,
                other => other,
            }
        }
        other => other,
    };
    if r.as_ref().is_ok_and(|c| c.has_code(334)) {
        // The failure challenge: an empty answer gets the final 5xx.
        r = net::within(t, Step::Auth, conn.command(AuthLine::Empty)).await?;
    }
    match r {
        Ok(c) if c.has_code(235) => {}
        Ok(c) => return Err(auth_refused(Reply::of(&c))),
        Err(e) => match Reply::of_error(&e) {
            Some(reply) => return Err(auth_refused(reply)),
            None => return Err(transport_error(&e, Step::Auth, &heard)),
        },
    }
    Ok((conn, heard))
}

/// How the server answered one mail of [`send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// `250`: the server took it; its reply.
    Accepted(String),
    /// A `4xx` (try again later) or a lost connection; the reply or what happened.
    Temporary(String),
    /// A `5xx`: this mail will never be taken as it is.
    Permanent(String),
}

/// Sends one mail (MAIL FROM, RCPT TO, DATA) on a logged-in session, within the command time
/// limit (DATA gets the auth limit too: a server may scan the message before it answers).
pub(crate) async fn send(
    conn: &mut AsyncSmtpConnection,
    heard: &Heard,
    opts: &CheckOptions,
    envelope: &lettre::address::Envelope,
    message: &[u8],
) -> SendOutcome {
    let t = &opts.timeouts;
    let limit = t.command + t.command + t.auth;
    match tokio::time::timeout(limit, conn.send(envelope, message)).await {
        Err(_) => SendOutcome::Temporary(format!("no answer within {} s", limit.as_secs())),
        Ok(Ok(r)) => SendOutcome::Accepted(Reply::of(&r).text),
        Ok(Err(e)) => match Reply::of_error(&e) {
            Some(r) if (500..600).contains(&r.code) => SendOutcome::Permanent(r.text),
            Some(r) => SendOutcome::Temporary(r.text),
            None => SendOutcome::Temporary(heard.last_line().unwrap_or_else(|| clean_reply(&e.to_string()))),
        },
    }
}

/// Ends a session politely (QUIT; its answer does not matter).
pub(crate) async fn quit(conn: &mut AsyncSmtpConnection, opts: &CheckOptions) {
    let _ = tokio::time::timeout(opts.timeouts.command.min(net::QUIT_WAIT), conn.quit()).await;
}

fn auth_refused(r: Reply) -> MailCheckError {
    let reply = r.text;
    let lower = reply.to_ascii_lowercase();
    if lower.contains("5.7.139") && lower.contains("smtpclientauthentication is disabled") {
        let scope = if lower.contains("for the mailbox") { "mailbox" } else { "tenant" };
        return MailCheckError::SmtpAuthDisabled { reply, scope };
    }
    if token_expired(&reply) {
        return MailCheckError::TokenExpired { reply };
    }
    match r.code {
        400..=499 => MailCheckError::TemporaryFailure { reply },
        // 504: mechanism not supported (though announced).
        504 => MailCheckError::MechanismUnsupported { offered: format!("unknown (the server answered \"{reply}\")") },
        // 501 5.5.124 Invalid XOAUTH2 auth data; 500: the line was not understood.
        500 | 501 => MailCheckError::Xoauth2Malformed { reply },
        _ => MailCheckError::AuthFailed { reply },
    }
}
