//! An access token from the emulator logs in to a real Dovecot 2.3 over IMAP with XOAUTH2 (Dovecot validates the
//! JWT locally with the emulator's public key: the `oauth2` passdb's local validation). Dovecot is the
//! crate's shared rig, [`entra_emulator::dovecot::Dovecot`]; this test speaks clear-text IMAP on its STARTTLS port
//! (the rig allows plaintext authentication) without upgrading.
//!
//! Mail goes round too: a message submitted over submission (clear-text SMTP, AUTH XOAUTH2) by one mailbox reaches
//! another's INBOX over IMAP through the rig's relay and Dovecot's LMTP, and the relay's scripted faults reach the
//! submitting client (a deferral as 451 and a rejection as 550 at RCPT; a bounce as a DSN in the sender's INBOX).
//!
//! Needs the `dovecot` binary (packages dovecot-core dovecot-imapd dovecot-submissiond dovecot-lmtpd). Without it
//! the tests FAIL, unless `EXO_SKIP_DOVECOT=1` is set.

mod common;
use base64::Engine;
use common::*;
use entra_emulator::dovecot::{find_binary, Dovecot, RelayFault, SKIP_ENV};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads lines until one starts with `tag` (or a `+` continuation); returns all lines read.
async fn read_until(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, tag: &str) -> Vec<String> {
    let mut lines = vec![];
    loop {
        let mut line = String::new();
        let n =
            tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line)).await.expect("IMAP timeout").unwrap();
        assert!(n > 0, "connection closed after {lines:?}");
        let done = line.starts_with(tag) || line.starts_with('+');
        lines.push(line.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

/// One IMAP session: CAPABILITY, AUTHENTICATE XOAUTH2, SELECT INBOX, LOGOUT. Returns the AUTHENTICATE result line.
async fn imap_login(port: u16, user: &str, token: &str) -> (String, Vec<String>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut greeting = String::new();
    rd.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    wr.write_all(b"a1 CAPABILITY\r\n").await.unwrap();
    let caps = read_until(&mut rd, "a1 ").await;
    assert!(caps.iter().any(|l| l.contains("AUTH=XOAUTH2")), "{caps:?}");
    let blob = base64::engine::general_purpose::STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
    wr.write_all(format!("a2 AUTHENTICATE XOAUTH2 {blob}\r\n").as_bytes()).await.unwrap();
    let mut auth = read_until(&mut rd, "a2 ").await;
    if auth.last().unwrap().starts_with('+') {
        // Failure challenge (base64 JSON); answer with an empty line to get the tagged NO.
        wr.write_all(b"\r\n").await.unwrap();
        auth.extend(read_until(&mut rd, "a2 ").await);
    }
    let result = auth.last().unwrap().clone();
    let mut rest = vec![];
    if result.starts_with("a2 OK") {
        wr.write_all(b"a3 SELECT INBOX\r\n").await.unwrap();
        rest = read_until(&mut rd, "a3 ").await;
    }
    wr.write_all(b"a4 LOGOUT\r\n").await.unwrap();
    (result, rest)
}

/// The `dovecot` binary; `None` (skip) when it is missing and `EXO_SKIP_DOVECOT=1`; panics when it is missing
/// otherwise.
fn dovecot_binary_or_skip() -> Option<PathBuf> {
    let found = find_binary();
    if found.is_none() {
        if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
            eprintln!("SKIPPED: dovecot not installed and {SKIP_ENV}=1");
            return None;
        }
        panic!(
            "`dovecot` is not on PATH: install dovecot-core, dovecot-imapd, dovecot-submissiond and dovecot-lmtpd \
             (scripts/test-emulator.sh does), or set {SKIP_ENV}=1 to skip this test"
        );
    }
    found
}

#[tokio::test]
async fn emulator_access_token_logs_in_to_dovecot_over_imap_xoauth2() {
    let Some(bin) = dovecot_binary_or_skip() else { return };
    let emu = consented().await;
    // Waits until every listener accepts connections; its issuers include `emu.access_token_issuer(T)`.
    let dc = Dovecot::start_with(&bin, &emu).unwrap_or_else(|e| panic!("dovecot did not start: {e}"));
    let port = dc.ports().imap_starttls;

    let token = sign_in(&emu).await["access_token"].as_str().unwrap().to_string();
    let (result, select) = imap_login(port, "taro@contoso.example", &token).await;
    assert!(result.starts_with("a2 OK"), "login refused: {result}\n{}", dc.log());
    assert!(select.last().unwrap().starts_with("a3 OK"), "{select:?}");

    // The same token for another mailbox, and a token signed by another key, are refused.
    let (result, _) = imap_login(port, "hanako@contoso.example", &token).await;
    assert!(result.starts_with("a2 NO"), "{result}");
    let mut forged: Vec<char> = token.chars().collect();
    let i = forged.len() - 20; // inside the signature, away from base64 padding bits
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let (result, _) = imap_login(port, "taro@contoso.example", &forged).await;
    assert!(result.starts_with("a2 NO"), "{result}");
}

// ---------------------------------------------------------------------------------------------
// Mail round trip: submission → relay → LMTP → INBOX.

const ADMIN: &str = "admin@contoso.example";
const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

/// An access token for `user` (auto-approve signs in the `login_hint`).
async fn token_for(emu: &entra_emulator::Emulator, user: &str) -> String {
    let code = code(emu, &[("login_hint", user)]).await;
    let (status, body) = redeem(emu, &code).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A clear-text SMTP session on the submission port, logged in with XOAUTH2 (the rig allows plaintext auth).
struct Submission {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Submission {
    async fn login(dc: &Dovecot, user: &str, token: &str) -> Submission {
        let stream = TcpStream::connect(("127.0.0.1", dc.ports().submission)).await.unwrap();
        let (rd, wr) = stream.into_split();
        let mut s = Submission { rd: BufReader::new(rd), wr };
        assert!(s.reply().await.starts_with("220 "));
        let ehlo = s.say("EHLO client.example").await;
        assert!(ehlo.starts_with("250 "), "{ehlo}");
        let blob =
            base64::engine::general_purpose::STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
        // The token is too long for one command line of Dovecot's SMTP server: the blob follows the 334.
        let go_on = s.say("AUTH XOAUTH2").await;
        assert!(go_on.starts_with("334"), "{go_on}");
        let auth = s.say(&blob).await;
        assert!(auth.starts_with("235 "), "AUTH: {auth}\n{}", dc.log());
        s
    }

    /// Sends `line`; the last line of the reply.
    async fn say(&mut self, line: &str) -> String {
        self.wr.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.reply().await
    }

    async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.rd.read_line(&mut line))
                .await
                .expect("SMTP timeout")
                .unwrap();
            assert!(n > 0, "submission closed the connection");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_string();
            }
        }
    }

    /// DATA with `message` (no line starts with a dot); the final reply.
    async fn data(&mut self, message: &str) -> String {
        let go = self.say("DATA").await;
        assert!(go.starts_with("354 "), "{go}");
        self.say(&format!("{message}\r\n.")).await
    }
}

/// A small invitation from `from` to `to` with its own Message-ID and an `X-` header.
fn invitation(from: &str, to: &[&str], id: &str) -> String {
    let to: Vec<String> = to.iter().map(|a| format!("<{a}>")).collect();
    format!(
        "From: <{from}>\r\nTo: {}\r\nSubject: Invitation {id}\r\nMessage-ID: <{id}@contoso.example>\r\n\
         X-Exo-Invitation: {id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Set up your mailbox: exo-setup://invite/{id}\r\n",
        to.join(", ")
    )
}

/// `user`'s INBOX over IMAP: the number of messages and every message's full text (one raw FETCH response).
async fn inbox(dc: &Dovecot, user: &str, token: &str) -> (usize, String) {
    let stream = TcpStream::connect(("127.0.0.1", dc.ports().imap_starttls)).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut greeting = String::new();
    rd.read_line(&mut greeting).await.unwrap();
    let blob = base64::engine::general_purpose::STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
    wr.write_all(format!("a1 AUTHENTICATE XOAUTH2 {blob}\r\n").as_bytes()).await.unwrap();
    let auth = read_until(&mut rd, "a1 ").await;
    assert!(auth.last().unwrap().starts_with("a1 OK"), "{auth:?}\n{}", dc.log());
    wr.write_all(b"a2 SELECT INBOX\r\n").await.unwrap();
    let select = read_until(&mut rd, "a2 ").await;
    let exists = select
        .iter()
        .find_map(|l| l.strip_prefix("* ").and_then(|l| l.strip_suffix(" EXISTS")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no EXISTS: {select:?}"));
    wr.write_all(b"a3 FETCH 1:* BODY.PEEK[]\r\n").await.unwrap();
    let fetched = read_until(&mut rd, "a3 ").await;
    assert!(fetched.last().unwrap().starts_with("a3 OK"), "{fetched:?}");
    wr.write_all(b"a4 LOGOUT\r\n").await.unwrap();
    (exists, fetched.join("\n"))
}

#[tokio::test]
async fn mail_submitted_with_xoauth2_lands_in_the_recipients_inboxes() {
    let Some(bin) = dovecot_binary_or_skip() else { return };
    let emu = consented().await;
    let dc = Dovecot::start_with(&bin, &emu).unwrap_or_else(|e| panic!("dovecot did not start: {e}"));
    let admin = token_for(&emu, ADMIN).await;

    let mut smtp = Submission::login(&dc, ADMIN, &admin).await;
    assert!(smtp.say(&format!("MAIL FROM:<{ADMIN}>")).await.starts_with("250 "));
    assert!(smtp.say(&format!("RCPT TO:<{TARO}>")).await.starts_with("250 "));
    assert!(smtp.say(&format!("RCPT TO:<{HANAKO}>")).await.starts_with("250 "));
    // No mailbox: refused by the relay, passed on by Dovecot at RCPT; the transaction goes on without it.
    let unknown = smtp.say("RCPT TO:<ghost@contoso.example>").await;
    assert!(unknown.starts_with("550 5.1.1"), "{unknown}");
    let done = smtp.data(&invitation(ADMIN, &[TARO, HANAKO], "inv-1")).await;
    assert!(done.starts_with("250 "), "{done}\n{}", dc.log());
    smtp.say("QUIT").await;

    for user in [TARO, HANAKO] {
        let (count, text) = inbox(&dc, user, &token_for(&emu, user).await).await;
        assert_eq!(count, 2, "the welcome message and the invitation for {user}:\n{text}");
        assert!(text.contains("Message-ID: <inv-1@contoso.example>"), "{text}");
        assert!(text.contains("X-Exo-Invitation: inv-1"), "{text}");
        assert!(text.contains("by localhost with LMTP"), "delivered by Dovecot's LMTP: {text}");
    }
    let relayed = dc.relayed();
    assert_eq!(relayed.len(), 1, "{relayed:?}");
    assert_eq!(relayed[0].from, ADMIN);
    assert_eq!(relayed[0].to, [TARO, HANAKO]);
    assert!(relayed[0].bounced.is_empty());
    assert!(String::from_utf8_lossy(&relayed[0].data).contains("X-Exo-Invitation: inv-1"));
    let log = dc.log();
    assert!(!log.contains("Error:") && !log.contains("Fatal"), "{log}");
}

#[tokio::test]
async fn a_deferred_recipient_gets_a_4xx_at_rcpt_and_the_next_try_delivers() {
    let Some(bin) = dovecot_binary_or_skip() else { return };
    let emu = consented().await;
    let dc = Dovecot::start_with(&bin, &emu).unwrap_or_else(|e| panic!("dovecot did not start: {e}"));
    dc.relay_faults().set(TARO, RelayFault::Defer { times: 1 });
    let admin = token_for(&emu, ADMIN).await;

    let mut smtp = Submission::login(&dc, ADMIN, &admin).await;
    assert!(smtp.say(&format!("MAIL FROM:<{ADMIN}>")).await.starts_with("250 "));
    let deferred = smtp.say(&format!("RCPT TO:<{TARO}>")).await;
    assert!(deferred.starts_with("451 4.3.0"), "{deferred}");
    assert!(smtp.say("DATA").await.starts_with("5"), "no recipient, no DATA");
    assert!(smtp.say("RSET").await.starts_with("250 "));
    assert!(dc.relayed().is_empty());

    // The client tries again (same session): the deferral is used up.
    assert!(smtp.say(&format!("MAIL FROM:<{ADMIN}>")).await.starts_with("250 "));
    assert!(smtp.say(&format!("RCPT TO:<{TARO}>")).await.starts_with("250 "));
    assert!(smtp.data(&invitation(ADMIN, &[TARO], "inv-2")).await.starts_with("250 "));
    smtp.say("QUIT").await;
    let (count, text) = inbox(&dc, TARO, &token_for(&emu, TARO).await).await;
    assert_eq!(count, 2, "{text}");
    assert!(text.contains("Message-ID: <inv-2@contoso.example>"), "{text}");
    assert_eq!(dc.relayed().len(), 1);
}

#[tokio::test]
async fn a_rejected_recipient_gets_a_5xx_at_rcpt() {
    let Some(bin) = dovecot_binary_or_skip() else { return };
    let emu = consented().await;
    let dc = Dovecot::start_with(&bin, &emu).unwrap_or_else(|e| panic!("dovecot did not start: {e}"));
    dc.relay_faults().set(HANAKO, RelayFault::Reject);
    let admin = token_for(&emu, ADMIN).await;

    let mut smtp = Submission::login(&dc, ADMIN, &admin).await;
    assert!(smtp.say(&format!("MAIL FROM:<{ADMIN}>")).await.starts_with("250 "));
    let rejected = smtp.say(&format!("RCPT TO:<{HANAKO}>")).await;
    assert!(rejected.starts_with("550 5.1.1"), "{rejected}");
    assert!(rejected.contains("Recipient address rejected"), "the relay's text is passed on: {rejected}");
    assert!(smtp.say(&format!("RCPT TO:<{TARO}>")).await.starts_with("250 "));
    assert!(smtp.data(&invitation(ADMIN, &[HANAKO, TARO], "inv-3")).await.starts_with("250 "));
    smtp.say("QUIT").await;

    let (count, _) = inbox(&dc, HANAKO, &token_for(&emu, HANAKO).await).await;
    assert_eq!(count, 1, "only the welcome message");
    let relayed = dc.relayed();
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].to, [TARO]);
}

#[tokio::test]
async fn a_bounced_recipient_puts_a_delivery_status_notification_into_the_senders_inbox() {
    let Some(bin) = dovecot_binary_or_skip() else { return };
    let emu = consented().await;
    let dc = Dovecot::start_with(&bin, &emu).unwrap_or_else(|e| panic!("dovecot did not start: {e}"));
    dc.relay_faults().set(HANAKO, RelayFault::Bounce);
    let admin = token_for(&emu, ADMIN).await;

    let mut smtp = Submission::login(&dc, ADMIN, &admin).await;
    assert!(smtp.say(&format!("MAIL FROM:<{ADMIN}>")).await.starts_with("250 "));
    assert!(smtp.say(&format!("RCPT TO:<{HANAKO}>")).await.starts_with("250 "), "a bounce is accepted first");
    assert!(smtp.data(&invitation(ADMIN, &[HANAKO], "inv-4")).await.starts_with("250 "));
    smtp.say("QUIT").await;

    let (count, _) = inbox(&dc, HANAKO, &token_for(&emu, HANAKO).await).await;
    assert_eq!(count, 1, "the bounced recipient got nothing");
    let (count, dsn) = inbox(&dc, ADMIN, &admin).await;
    assert_eq!(count, 2, "the welcome message and the DSN:\n{dsn}");
    for expected in [
        "From: Mail Delivery System <MAILER-DAEMON@localhost>",
        "Return-Path: <>",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status",
        &format!("Final-Recipient: rfc822; {HANAKO}"),
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1",
        "Content-Type: text/rfc822-headers",
        "Message-ID: <inv-4@contoso.example>",
        "X-Exo-Invitation: inv-4",
    ] {
        assert!(dsn.contains(expected), "{expected:?} missing from the DSN:\n{dsn}");
    }
    let relayed = dc.relayed();
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].bounced, [HANAKO]);
}
