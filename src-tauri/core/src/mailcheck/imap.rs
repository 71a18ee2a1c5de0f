//! The IMAP check with async-imap (tokio): greeting, `STARTTLS`, `CAPABILITY`,
//! `AUTHENTICATE XOAUTH2`, `SELECT INBOX`, `LOGOUT`.
//!
//! Exchange Online: `OK AUTHENTICATE completed.` or `NO AUTHENTICATE failed.`; a token of
//! another mailbox logs in and then gets `BAD User is authenticated but not connected.`; an
//! expired token ends the session with `* BYE Session invalidated - AccessTokenExpired`.
//! Dovecot answers a refused token with a `+ <base64 JSON>` failure challenge, to which the
//! client sends an empty line before the tagged `NO` ([`Xoauth2`] does).
//!
//! async-imap reports a refusal as an error value (`No`/`Bad` with a debug rendering of the
//! response); the server's own line, which messages quote and classification reads, comes from
//! [`Heard`]. async-imap logs every line it writes at TRACE through `log` — with the token in the
//! AUTHENTICATE continuation —, which [`crate::logging`] keeps out of every log.

use async_imap::error::Error as ImapError;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Capability, UnsolicitedResponse};
use async_imap::{Authenticator, Client, Session};
use base64::Engine;
use zeroize::Zeroizing;

use super::error::{clean_reply, not_connected, token_expired, MailCheckError, Step};
use super::net::{self, Heard, Tap};
use super::CheckOptions;
use crate::keychain::Secret;
use crate::model::{Endpoint, Security};

/// XOAUTH2 for async-imap: the first challenge (the empty `+`) gets the raw
/// `user=…\x01auth=Bearer …\x01\x01` (async-imap base64-encodes it, giving the blob); any later
/// one is the failure challenge and gets the empty answer.
struct Xoauth2 {
    raw: Option<Zeroizing<Vec<u8>>>,
}

impl Authenticator for Xoauth2 {
    type Response = Zeroizing<Vec<u8>>;

    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        self.raw.take().unwrap_or_default()
    }
}

fn is_bye(line: &str) -> bool {
    line.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("* BYE"))
}

/// An untagged `* BYE`: the session is over.
fn bye(line: &str, step: Step) -> MailCheckError {
    let reply = clean_reply(line);
    if token_expired(line) {
        MailCheckError::TokenExpired { reply }
    } else {
        MailCheckError::ConnectionClosed { step, reply: Some(reply) }
    }
}

/// A read or write failure, or a line async-imap could not parse.
fn io_failure(e: &std::io::Error, step: Step, heard: &Heard) -> MailCheckError {
    if net::too_large(e).is_some() {
        return net::io_error(e, step);
    }
    match e.kind() {
        std::io::ErrorKind::Other | std::io::ErrorKind::InvalidData
            if !e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) =>
        {
            MailCheckError::Protocol { step, reply: heard.last_line().unwrap_or_else(|| clean_reply(&e.to_string())) }
        }
        _ => net::io_error(e, step),
    }
}

/// Any async-imap failure but a refusal the step classifies itself.
fn failure(e: &ImapError, step: Step, heard: &Heard) -> MailCheckError {
    let line = heard.last_line();
    if let Some(l) = line.as_deref().filter(|l| is_bye(l)) {
        return bye(l, step);
    }
    match e {
        ImapError::Io(io) => io_failure(io, step, heard),
        ImapError::ConnectionLost => MailCheckError::ConnectionClosed { step, reply: None },
        _ => MailCheckError::Protocol { step, reply: line.unwrap_or_else(|| clean_reply(&e.to_string())) },
    }
}

/// The server's `NO`/`BAD` line for a refusal (async-imap's own rendering if none was heard).
fn refusal_line(e: &ImapError, heard: &Heard) -> String {
    heard.last_line().unwrap_or_else(|| clean_reply(&e.to_string()))
}

/// A logged-in IMAP session (over the connection that records what it heard).
pub(crate) type ImapSession = Session<Tap>;

/// The check: login, `SELECT INBOX`, logout.
pub(super) async fn session(ep: &Endpoint, opts: &CheckOptions, blob: &Secret) -> Result<(), MailCheckError> {
    let (mut session, heard) = login(ep, opts, blob).await?;
    select_inbox(&mut session, &heard, opts).await?;
    logout(&mut session, opts).await;
    Ok(())
}

/// An IMAP session logged in with XOAUTH2 (greeting, `STARTTLS` when the endpoint says so,
/// `CAPABILITY`, `AUTHENTICATE XOAUTH2`), for whoever works in the mailbox (the rollout's reading
/// of receipts), with what the connection heard (for messages that quote the server).
pub(crate) async fn login(
    ep: &Endpoint,
    opts: &CheckOptions,
    blob: &Secret,
) -> Result<(ImapSession, Heard), MailCheckError> {
    let t = &opts.timeouts;
    let heard = Heard::default();
    let mut client = Client::new(Tap::new(net::connect(ep, opts).await?, heard.clone()));

    match net::within(t, Step::Greeting, client.read_response()).await? {
        Ok(Some(greeting)) => match greeting.parsed() {
            Response::Data { status: Status::Ok | Status::PreAuth, .. } => {}
            Response::Data { status: Status::Bye, .. } => {
                return Err(bye(&heard.last_line().unwrap_or_default(), Step::Greeting))
            }
            _ => {
                return Err(MailCheckError::Protocol {
                    step: Step::Greeting,
                    reply: heard.last_line().unwrap_or_default(),
                })
            }
        },
        Ok(None) => return Err(MailCheckError::ConnectionClosed { step: Step::Greeting, reply: heard.last_line() }),
        Err(e) => return Err(io_failure(&e, Step::Greeting, &heard)),
    }

    if ep.security == Security::Starttls {
        match net::within(t, Step::Starttls, client.run_command_and_check_ok("STARTTLS", None)).await? {
            Ok(()) => {}
            Err(e @ (ImapError::No(_) | ImapError::Bad(_))) => {
                return Err(MailCheckError::StarttlsUnavailable { reply: refusal_line(&e, &heard) })
            }
            Err(e) => return Err(failure(&e, Step::Starttls, &heard)),
        }
        // Whatever async-imap buffered after the OK is dropped with it, never read as protected.
        let plain = client.into_inner().into_inner();
        client = Client::new(Tap::new(net::start_tls(plain, &ep.host, opts).await?, heard.clone()));
    }

    // Capabilities change after STARTTLS: always ask (again). The untagged answer comes through
    // the channel async-imap hands untagged responses to.
    let (tx, rx) = async_channel::unbounded();
    match net::within(t, Step::Capabilities, client.run_command_and_check_ok("CAPABILITY", Some(tx))).await? {
        Ok(()) => {}
        Err(e @ (ImapError::No(_) | ImapError::Bad(_))) => {
            return Err(MailCheckError::Protocol { step: Step::Capabilities, reply: refusal_line(&e, &heard) })
        }
        Err(e) => return Err(failure(&e, Step::Capabilities, &heard)),
    }
    let mut mechanisms = Vec::new();
    while let Ok(u) = rx.try_recv() {
        if let UnsolicitedResponse::Other(data) = u {
            if let Response::Capabilities(caps) = data.parsed() {
                mechanisms.extend(caps.iter().filter_map(|c| match Capability::from(c) {
                    Capability::Auth(m) => Some(m.to_ascii_uppercase()),
                    _ => None,
                }));
            }
        }
    }
    if !mechanisms.iter().any(|m| m == "XOAUTH2") {
        let offered = if mechanisms.is_empty() { "none".to_owned() } else { mechanisms.join(" ") };
        return Err(MailCheckError::MechanismUnsupported { offered });
    }

    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob.expose())
        .map(Zeroizing::new)
        .map_err(|e| MailCheckError::Xoauth2Malformed { reply: format!("the XOAUTH2 data is not base64: {e}") })?;
    let authenticator = Xoauth2 { raw: Some(raw) };
    let session = match net::within(t, Step::Auth, client.authenticate("XOAUTH2", authenticator)).await? {
        Ok(s) => s,
        Err((e @ (ImapError::No(_) | ImapError::Bad(_)), _)) => {
            let line = refusal_line(&e, &heard);
            return Err(if is_bye(&line) { bye(&line, Step::Auth) } else { auth_refused(&line, &e) });
        }
        Err((e, _)) => return Err(failure(&e, Step::Auth, &heard)),
    };
    Ok((session, heard))
}

/// `SELECT INBOX` on a logged-in session: the first command after the login, where Exchange
/// Online says a token of another mailbox is "authenticated but not connected".
pub(crate) async fn select_inbox(
    session: &mut ImapSession,
    heard: &Heard,
    opts: &CheckOptions,
) -> Result<(), MailCheckError> {
    let t = &opts.timeouts;
    match net::within(t, Step::Command, session.select("INBOX")).await? {
        Ok(_) => {}
        Err(e @ (ImapError::No(_) | ImapError::Bad(_))) => {
            let line = refusal_line(&e, heard);
            return Err(if is_bye(&line) {
                bye(&line, Step::Command)
            } else if not_connected(&line) {
                MailCheckError::MailboxMismatch { reply: line }
            } else if token_expired(&line) {
                MailCheckError::TokenExpired { reply: line }
            } else if line.to_ascii_uppercase().contains("[UNAVAILABLE]") {
                MailCheckError::TemporaryFailure { reply: line }
            } else {
                MailCheckError::CommandFailed { command: "SELECT INBOX", reply: line }
            });
        }
        Err(e) => return Err(failure(&e, Step::Command, heard)),
    }
    Ok(())
}

/// Any later command's failure: a refusal (`NO`/`BAD`) as `command` refused (or the session's
/// end, an expired token, a temporary refusal), anything else as the step's failure.
pub(crate) fn command_failed(e: &ImapError, command: &'static str, heard: &Heard) -> MailCheckError {
    match e {
        ImapError::No(_) | ImapError::Bad(_) => {
            let line = refusal_line(e, heard);
            if is_bye(&line) {
                bye(&line, Step::Command)
            } else if token_expired(&line) {
                MailCheckError::TokenExpired { reply: line }
            } else if line.to_ascii_uppercase().contains("[UNAVAILABLE]") {
                MailCheckError::TemporaryFailure { reply: line }
            } else {
                MailCheckError::CommandFailed { command, reply: line }
            }
        }
        _ => failure(e, Step::Command, heard),
    }
}

/// Ends a session politely (LOGOUT; its answer does not matter).
pub(crate) async fn logout(session: &mut ImapSession, opts: &CheckOptions) {
    let _ = tokio::time::timeout(opts.timeouts.command.min(net::QUIT_WAIT), session.logout()).await;
}

/// A tagged `NO`/`BAD` to AUTHENTICATE.
fn auth_refused(line: &str, e: &ImapError) -> MailCheckError {
    let reply = line.to_owned();
    if not_connected(line) {
        MailCheckError::MailboxMismatch { reply }
    } else if token_expired(line) {
        MailCheckError::TokenExpired { reply }
    } else if line.to_ascii_uppercase().contains("[UNAVAILABLE]") {
        MailCheckError::TemporaryFailure { reply }
    } else if matches!(e, ImapError::Bad(_)) {
        MailCheckError::Xoauth2Malformed { reply }
    } else {
        MailCheckError::AuthFailed { reply }
    }
}
