//! The SMTP check (RFC 5321, 3207, 4954 subset): greeting, `EHLO`, [`STARTTLS`] + `EHLO`,
//! `AUTH XOAUTH2 <blob>`, `NOOP`, `QUIT`. Nothing is ever sent (no `MAIL FROM`).
//!
//! Exchange Online's answers to the login: `235 2.7.0 Authentication successful`,
//! `535 5.7.3 Authentication unsuccessful` (the token), `535 5.7.139 Authentication
//! unsuccessful, SmtpClientAuthentication is disabled for the Tenant|Mailbox…` (an admin
//! setting, not OAuth), `501 5.5.124 Invalid XOAUTH2 auth data` (the blob). Dovecot (and Gmail)
//! send a `334 <base64 JSON>` failure challenge first; the client answers with an empty line.
//! The blob goes on the AUTH line (initial response, as Exchange documents it); a server whose
//! command line is too short for it (`500 5.5.2 Line too long`, Dovecot) gets it after `334`.

use super::error::{clean_reply, token_expired, MailCheckError, Step};
use super::net::Conn;
use crate::keychain::Secret;
use crate::model::Security;

/// What `EHLO` announces the client as. A literal is always acceptable (RFC 5321 §4.1.4).
const EHLO: &str = "EHLO [127.0.0.1]";

/// One reply: its code and lines (text after the code).
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// The whole reply on one line, for errors.
    fn text(&self) -> String {
        clean_reply(&format!("{} {}", self.code, self.lines.join(" ")))
    }
}

async fn reply(c: &mut Conn, step: Step) -> Result<Reply, MailCheckError> {
    let mut lines = Vec::new();
    loop {
        let line = c.line(step).await?;
        let code = line.get(..3).and_then(|d| d.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
        let sep = line.as_bytes().get(3).copied();
        let (Some(code), Some(b' ' | b'-') | None) = (code, sep) else {
            return Err(MailCheckError::Protocol { step, reply: clean_reply(&line) });
        };
        lines.push(line.get(4..).unwrap_or_default().to_owned());
        if sep != Some(b'-') {
            return Ok(Reply { code, lines });
        }
        if lines.len() > 1000 {
            return Err(MailCheckError::Protocol { step, reply: "an endless reply".into() });
        }
    }
}

/// A non-2xx/3xx reply where none was expected.
fn unexpected(r: &Reply, step: Step) -> MailCheckError {
    if (400..500).contains(&r.code) {
        if token_expired(&r.text()) {
            return MailCheckError::TokenExpired { reply: r.text() };
        }
        return MailCheckError::TemporaryFailure { reply: r.text() };
    }
    MailCheckError::Protocol { step, reply: r.text() }
}

/// `EHLO` and the extension keywords (upper case, one `Vec` of words per line).
async fn ehlo(c: &mut Conn) -> Result<Vec<Vec<String>>, MailCheckError> {
    c.send(EHLO, Step::Capabilities).await?;
    let r = reply(c, Step::Capabilities).await?;
    if r.code != 250 {
        return Err(unexpected(&r, Step::Capabilities));
    }
    Ok(r.lines
        .iter()
        .skip(1)
        .map(|l| l.split([' ', '=']).filter(|w| !w.is_empty()).map(str::to_ascii_uppercase).collect())
        .collect())
}

pub(super) async fn session(c: &mut Conn, blob: &Secret) -> Result<(), MailCheckError> {
    let greeting = reply(c, Step::Greeting).await?;
    if greeting.code != 220 {
        return Err(unexpected(&greeting, Step::Greeting));
    }
    let mut ext = ehlo(c).await?;
    if c.security() == Security::Starttls {
        if !ext.iter().any(|e| e.first().is_some_and(|k| k == "STARTTLS")) {
            return Err(MailCheckError::StarttlsUnavailable { reply: "STARTTLS is not in the EHLO answer".into() });
        }
        c.send("STARTTLS", Step::Starttls).await?;
        let r = reply(c, Step::Starttls).await?;
        if r.code != 220 {
            return Err(MailCheckError::StarttlsUnavailable { reply: r.text() });
        }
        c.start_tls().await?;
        ext = ehlo(c).await?;
    }
    let auth: Vec<String> =
        ext.iter().find(|e| e.first().is_some_and(|k| k == "AUTH")).map(|e| e[1..].to_vec()).unwrap_or_default();
    if !auth.iter().any(|m| m == "XOAUTH2") {
        let offered = if auth.is_empty() { "none".to_owned() } else { auth.join(" ") };
        return Err(MailCheckError::MechanismUnsupported { offered });
    }

    c.send_secret("AUTH XOAUTH2 ", blob, Step::Auth).await?;
    let mut r = reply(c, Step::Auth).await?;
    if r.code == 500 && r.text().to_ascii_lowercase().contains("too long") {
        // A server with a short command-line limit (Dovecot's submission: `500 5.5.2 Line too
        // long`): the RFC 4954 form without initial response, the blob after an empty 334.
        c.send("AUTH XOAUTH2", Step::Auth).await?;
        r = reply(c, Step::Auth).await?;
        if r.code != 334 {
            return Err(auth_refused(&r));
        }
        c.send_secret("", blob, Step::Auth).await?;
        r = reply(c, Step::Auth).await?;
    }
    if r.code == 334 {
        // The failure challenge: an empty answer gets the final 5xx.
        c.send("", Step::Auth).await?;
        r = reply(c, Step::Auth).await?;
    }
    if r.code != 235 {
        return Err(auth_refused(&r));
    }

    c.send("NOOP", Step::Command).await?;
    let r = reply(c, Step::Command).await?;
    if r.code != 250 {
        return Err(if (400..500).contains(&r.code) {
            unexpected(&r, Step::Command)
        } else {
            MailCheckError::CommandFailed { command: "NOOP", reply: r.text() }
        });
    }
    c.quit("QUIT").await;
    Ok(())
}

fn auth_refused(r: &Reply) -> MailCheckError {
    let reply = r.text();
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
