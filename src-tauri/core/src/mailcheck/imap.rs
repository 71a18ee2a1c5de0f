//! The IMAP check (RFC 9051 subset): greeting, [`STARTTLS`], `CAPABILITY`,
//! `AUTHENTICATE XOAUTH2`, `SELECT INBOX`, `LOGOUT`.
//!
//! Exchange Online: `A1 OK AUTHENTICATE completed.` or `A1 NO AUTHENTICATE failed.`; a token of
//! another mailbox logs in and then gets `BAD User is authenticated but not connected.`; an
//! expired token ends the session with `* BYE Session invalidated - AccessTokenExpired`.
//! Dovecot answers a refused token with a `+ <base64 JSON>` failure challenge, to which the
//! client sends an empty line before the tagged `NO`.
//!
//! Line-based on purpose: none of these commands' answers carries a literal that matters.

use super::error::{clean_reply, not_connected, token_expired, MailCheckError, Step};
use super::net::Conn;
use crate::keychain::Secret;
use crate::model::Security;

/// A tagged completion: `OK`, `NO` or `BAD` and the whole line.
struct Done {
    status: String,
    line: String,
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

fn is_bye(line: &str) -> bool {
    line.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("* BYE"))
}

/// Reads until the line tagged `tag`; untagged lines go to `untagged`.
async fn until_tagged(c: &mut Conn, tag: &str, step: Step, untagged: &mut Vec<String>) -> Result<Done, MailCheckError> {
    loop {
        let line = c.line(step).await?;
        if is_bye(&line) {
            return Err(bye(&line, step));
        }
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            let status = rest.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            return Ok(Done { status, line });
        }
        if line.starts_with("* ") || line == "*" {
            untagged.push(line);
            continue;
        }
        return Err(MailCheckError::Protocol { step, reply: clean_reply(&line) });
    }
}

async fn command(c: &mut Conn, tag: &str, cmd: &str, step: Step) -> Result<(Done, Vec<String>), MailCheckError> {
    c.send(&format!("{tag} {cmd}"), step).await?;
    let mut untagged = Vec::new();
    let done = until_tagged(c, tag, step, &mut untagged).await?;
    Ok((done, untagged))
}

pub(super) async fn session(c: &mut Conn, blob: &Secret) -> Result<(), MailCheckError> {
    let greeting = c.line(Step::Greeting).await?;
    let g = greeting.to_ascii_uppercase();
    if is_bye(&greeting) {
        return Err(bye(&greeting, Step::Greeting));
    }
    if !g.starts_with("* OK") {
        return Err(MailCheckError::Protocol { step: Step::Greeting, reply: clean_reply(&greeting) });
    }
    if c.security() == Security::Starttls {
        let (done, _) = command(c, "S1", "STARTTLS", Step::Starttls).await?;
        if done.status != "OK" {
            return Err(MailCheckError::StarttlsUnavailable { reply: clean_reply(&done.line) });
        }
        c.start_tls().await?;
    }
    // Capabilities change after STARTTLS: always ask (again).
    let (done, untagged) = command(c, "C1", "CAPABILITY", Step::Capabilities).await?;
    if done.status != "OK" {
        return Err(MailCheckError::Protocol { step: Step::Capabilities, reply: clean_reply(&done.line) });
    }
    let caps: Vec<String> = untagged
        .iter()
        .filter(|l| l.to_ascii_uppercase().starts_with("* CAPABILITY "))
        .flat_map(|l| l.split_whitespace().skip(2).map(str::to_ascii_uppercase))
        .collect();
    if !caps.iter().any(|c| c == "AUTH=XOAUTH2") {
        let offered: Vec<&str> = caps.iter().filter_map(|c| c.strip_prefix("AUTH=")).collect();
        let offered = if offered.is_empty() { "none".to_owned() } else { offered.join(" ") };
        return Err(MailCheckError::MechanismUnsupported { offered });
    }
    authenticate(c, blob, caps.iter().any(|c| c == "SASL-IR")).await?;

    let (done, _) = command(c, "C2", "SELECT INBOX", Step::Command).await?;
    match done.status.as_str() {
        "OK" => {}
        _ if not_connected(&done.line) => {
            return Err(MailCheckError::MailboxMismatch { reply: clean_reply(&done.line) })
        }
        _ if token_expired(&done.line) => return Err(MailCheckError::TokenExpired { reply: clean_reply(&done.line) }),
        _ if done.line.to_ascii_uppercase().contains("[UNAVAILABLE]") => {
            return Err(MailCheckError::TemporaryFailure { reply: clean_reply(&done.line) })
        }
        _ => return Err(MailCheckError::CommandFailed { command: "SELECT INBOX", reply: clean_reply(&done.line) }),
    }
    c.quit("C3 LOGOUT").await;
    Ok(())
}

/// `AUTHENTICATE XOAUTH2` with the blob as initial response (SASL-IR) or after the `+`.
async fn authenticate(c: &mut Conn, blob: &Secret, sasl_ir: bool) -> Result<(), MailCheckError> {
    const TAG: &str = "A1";
    let mut untagged = Vec::new();
    if sasl_ir {
        c.send_secret("A1 AUTHENTICATE XOAUTH2 ", blob, Step::Auth).await?;
    } else {
        c.send("A1 AUTHENTICATE XOAUTH2", Step::Auth).await?;
        let line = c.line(Step::Auth).await?;
        if line.starts_with('+') {
            c.send_secret("", blob, Step::Auth).await?;
        } else if let Some(rest) = line.strip_prefix("A1 ") {
            return Err(auth_refused(rest, &line));
        } else {
            return Err(MailCheckError::Protocol { step: Step::Auth, reply: clean_reply(&line) });
        }
    }
    let mut challenged = false;
    loop {
        let line = c.line(Step::Auth).await?;
        if line.starts_with('+') {
            // The failure challenge (base64 JSON with the HTTP-like status): an empty answer
            // gets the tagged NO. A second one is not XOAUTH2.
            if challenged {
                return Err(MailCheckError::Protocol { step: Step::Auth, reply: clean_reply(&line) });
            }
            challenged = true;
            c.send("", Step::Auth).await?;
            continue;
        }
        if is_bye(&line) {
            return Err(bye(&line, Step::Auth));
        }
        if let Some(rest) = line.strip_prefix(TAG).and_then(|r| r.strip_prefix(' ')) {
            let status = rest.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            if status == "OK" {
                return Ok(());
            }
            return Err(auth_refused(rest, &line));
        }
        if line.starts_with('*') {
            untagged.push(line);
            continue;
        }
        return Err(MailCheckError::Protocol { step: Step::Auth, reply: clean_reply(&line) });
    }
}

fn auth_refused(rest: &str, line: &str) -> MailCheckError {
    let reply = clean_reply(line);
    let status = rest.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    if not_connected(line) {
        MailCheckError::MailboxMismatch { reply }
    } else if token_expired(line) {
        MailCheckError::TokenExpired { reply }
    } else if line.to_ascii_uppercase().contains("[UNAVAILABLE]") {
        MailCheckError::TemporaryFailure { reply }
    } else if status == "BAD" {
        MailCheckError::Xoauth2Malformed { reply }
    } else {
        MailCheckError::AuthFailed { reply }
    }
}
