//! The POP3 check (RFC 1939, 2449, 2595, 5034 subset): greeting, [`STLS`], `CAPA`,
//! `AUTH XOAUTH2`, `STAT`, `QUIT` — a minimal client, since no maintained async POP3 crate exists.
//!
//! Microsoft's documented exchange for Exchange Online: `AUTH XOAUTH2` → `+` → the base64 blob
//! on its own line → `+OK User successfully authenticated.` or `-ERR Authentication failure…`.
//! Dovecot answers a refused token with a `+ <base64 JSON>` failure challenge first; the client
//! sends an empty line and gets the `-ERR`.

use super::error::{clean_reply, not_connected, token_expired, MailCheckError, Step};
use super::net::Conn;
use crate::keychain::Secret;
use crate::model::Security;

fn ok(line: &str) -> bool {
    line.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("+OK"))
}

fn err(line: &str) -> bool {
    line.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("-ERR"))
}

/// RFC 3206 `[SYS/TEMP]` / `[IN-USE]`: try again later.
fn temporary(line: &str) -> bool {
    let u = line.to_ascii_uppercase();
    u.contains("[SYS/TEMP]") || u.contains("[IN-USE]")
}

pub(super) async fn session(c: &mut Conn, blob: &Secret) -> Result<(), MailCheckError> {
    let greeting = c.line(Step::Greeting).await?;
    if !ok(&greeting) {
        return Err(if err(&greeting) && temporary(&greeting) {
            MailCheckError::TemporaryFailure { reply: clean_reply(&greeting) }
        } else {
            MailCheckError::Protocol { step: Step::Greeting, reply: clean_reply(&greeting) }
        });
    }
    if c.security() == Security::Starttls {
        c.send("STLS", Step::Starttls).await?;
        let line = c.line(Step::Starttls).await?;
        if !ok(&line) {
            return Err(MailCheckError::StarttlsUnavailable { reply: clean_reply(&line) });
        }
        c.start_tls().await?;
    }
    // CAPA is optional (RFC 2449): when it lists SASL mechanisms without XOAUTH2, stop here.
    c.send("CAPA", Step::Capabilities).await?;
    let line = c.line(Step::Capabilities).await?;
    if ok(&line) {
        let mut sasl: Option<Vec<String>> = None;
        loop {
            let cap = c.line(Step::Capabilities).await?;
            if cap == "." {
                break;
            }
            let mut words = cap.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("SASL")) {
                sasl = Some(words.map(str::to_ascii_uppercase).collect());
            }
        }
        if let Some(mechs) = sasl {
            if !mechs.iter().any(|m| m == "XOAUTH2") {
                let offered = if mechs.is_empty() { "none".to_owned() } else { mechs.join(" ") };
                return Err(MailCheckError::MechanismUnsupported { offered });
            }
        }
    } else if !err(&line) {
        return Err(MailCheckError::Protocol { step: Step::Capabilities, reply: clean_reply(&line) });
    }

    c.send("AUTH XOAUTH2", Step::Auth).await?;
    let line = c.line(Step::Auth).await?;
    if err(&line) {
        return Err(refused(&line, true));
    }
    if !line.starts_with('+') || ok(&line) {
        return Err(MailCheckError::Protocol { step: Step::Auth, reply: clean_reply(&line) });
    }
    c.send_secret("", blob, Step::Auth).await?;
    let mut line = c.line(Step::Auth).await?;
    if line.starts_with('+') && !ok(&line) {
        // The failure challenge: an empty answer gets the -ERR.
        c.send("", Step::Auth).await?;
        line = c.line(Step::Auth).await?;
    }
    if !ok(&line) {
        return Err(if err(&line) {
            refused(&line, false)
        } else {
            MailCheckError::Protocol { step: Step::Auth, reply: clean_reply(&line) }
        });
    }

    c.send("STAT", Step::Command).await?;
    let line = c.line(Step::Command).await?;
    if !ok(&line) {
        let reply = clean_reply(&line);
        return Err(if not_connected(&line) {
            MailCheckError::MailboxMismatch { reply }
        } else if token_expired(&line) {
            MailCheckError::TokenExpired { reply }
        } else if temporary(&line) {
            MailCheckError::TemporaryFailure { reply }
        } else if err(&line) {
            MailCheckError::CommandFailed { command: "STAT", reply }
        } else {
            MailCheckError::Protocol { step: Step::Command, reply }
        });
    }
    c.quit("QUIT").await;
    Ok(())
}

/// `-ERR` to `AUTH XOAUTH2` (`before_blob`: the mechanism itself was refused) or to the blob.
fn refused(line: &str, before_blob: bool) -> MailCheckError {
    let reply = clean_reply(line);
    if not_connected(line) {
        MailCheckError::MailboxMismatch { reply }
    } else if token_expired(line) {
        MailCheckError::TokenExpired { reply }
    } else if temporary(line) {
        MailCheckError::TemporaryFailure { reply }
    } else if before_blob {
        MailCheckError::MechanismUnsupported { offered: format!("unknown (the server answered \"{reply}\")") }
    } else {
        MailCheckError::AuthFailed { reply }
    }
}
