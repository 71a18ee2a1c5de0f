//! The connection check against a scripted responder on 127.0.0.1: plain TCP, canned lines, for
//! the replies a real Dovecot cannot produce — Exchange Online's `535 5.7.139` (SMTP AUTH off),
//! `535 5.7.3`, `501 5.5.124`, IMAP `NO AUTHENTICATE failed`, `BAD User is authenticated but
//! not connected`, `* BYE Session invalidated - AccessTokenExpired` — and for the network's
//! failures: silence (timeouts), refused connections, unknown host names, TLS to a plain port,
//! STARTTLS not offered, plain text to a non-loopback host.
//!
//! Every test uses the same fake token; one global TRACE subscriber captures every log line
//! (dependencies' `log` records included), and the token and its XOAUTH2 blob must never appear
//! there, in a report's `Debug` output, an error message or its detail.

use exo_setup_core::DetailKey;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use exo_setup_core::audience::{AllowedEndpoint, EndpointsOrigin};
use exo_setup_core::error::ErrorArea;
use exo_setup_core::keychain::Secret;
use exo_setup_core::mailcheck::{
    check_imap, check_pop3, check_smtp, last_verification, record, xoauth2_blob, CheckOptions, MailCheckReport,
    MailProtocol, ProtocolCheck, Timeouts,
};
use exo_setup_core::model::{AccountInput, AccountStatus, Endpoint, ReceiveProtocol, Security, ServerAuth};
use exo_setup_core::{Actor, ErrorKind, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// `ep` as an endpoint set on this computer (the rule of `exo_setup_core::audience` allows it).
fn local(ep: &Endpoint) -> AllowedEndpoint {
    AllowedEndpoint::permit(ep, "", EndpointsOrigin::Local, &[]).expect("set locally")
}

const TOKEN: &str =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzY3JpcHRlZCI6InRva2VuIn0.c2NyaXB0ZWQtc2lnbmF0dXJlLXNlY3JldA";
const TARO: &str = "taro@contoso.example";

// ---------------------------------------------------------------------------------------------
// Log capture.

mod common;
use common::{captured_logs, logs, LogBuf};

fn token() -> Secret {
    logs();
    Secret::new(TOKEN)
}

fn blob() -> String {
    xoauth2_blob(TARO, &Secret::new(TOKEN)).expose().to_owned()
}

/// Asserts that nothing in the check shows the token or the blob.
fn assert_no_secret(c: &ProtocolCheck) {
    let blob = blob();
    let shown = format!("{c:?} {}", serde_json::to_string(c).unwrap());
    assert!(!shown.contains(TOKEN) && !shown.contains(&blob), "a secret in {shown}");
}

// ---------------------------------------------------------------------------------------------
// The scripted responder.

/// What the server does with a received line.
enum Act {
    /// Answer these lines (CRLF added to each).
    Say(Vec<String>),
    /// Close the connection.
    Close,
}

fn say(lines: &[&str]) -> Act {
    Act::Say(lines.iter().map(|s| s.to_string()).collect())
}

struct Responder {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

/// Listens on 127.0.0.1; per connection sends `greeting` (none: stays silent), then answers each
/// line with `script(line)`. `{tag}` in an answer stands for the first word of the last line that
/// had more than one (an IMAP command's tag, also when answering a continuation line).
async fn responder(greeting: Option<&'static [&'static str]>, script: fn(&str) -> Act) -> Responder {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let rec = Arc::clone(&rec);
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let Some(greeting) = greeting else {
                    // Accept, then never answer (hold the connection until the client leaves).
                    let mut rd = BufReader::new(rd);
                    let mut sink = String::new();
                    let _ = rd.read_line(&mut sink).await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                };
                for g in greeting {
                    if wr.write_all(format!("{g}\r\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
                let mut rd = BufReader::new(rd);
                let mut last_tag = String::new();
                loop {
                    let mut line = String::new();
                    match rd.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let line = line.trim_end_matches(['\r', '\n']).to_owned();
                    rec.lock().unwrap().push(line.clone());
                    if let Some((first, _)) = line.split_once(' ') {
                        last_tag = first.to_owned();
                    }
                    match script(&line) {
                        Act::Say(lines) => {
                            for l in lines {
                                let l = l.replace("{tag}", &last_tag);
                                if wr.write_all(format!("{l}\r\n").as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Act::Close => return,
                    }
                }
            });
        }
    });
    Responder { port, received }
}

fn plain(port: u16) -> Endpoint {
    Endpoint { host: "127.0.0.1".into(), port, security: Security::Plain }
}

fn opts() -> CheckOptions {
    CheckOptions { timeouts: Timeouts::all(Duration::from_secs(5)), extra_root_pem: None }
}

fn failed(c: &ProtocolCheck) -> &exo_setup_core::UiError {
    assert_no_secret(c);
    assert!(!c.ok, "{c:?}");
    let e = c.error.as_ref().expect("an error");
    assert_eq!(e.kind.area(), ErrorArea::MailCheck, "{}", e.kind);
    e
}

/// The first word of an IMAP line (its tag).
fn tag(line: &str) -> &str {
    line.split(' ').next().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// SMTP: Exchange Online's replies.

const SMTP_GREETING: &[&str] = &["220 TYAPR01CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready"];

fn smtp_ehlo() -> Act {
    say(&[
        "250-TYAPR01CA0001.outlook.office365.com Hello [127.0.0.1]",
        "250-SIZE 157286400",
        "250-AUTH LOGIN XOAUTH2",
        "250 SMTPUTF8",
    ])
}

fn smtp_common(line: &str) -> Option<Act> {
    let u = line.to_ascii_uppercase();
    if u.starts_with("EHLO") {
        Some(smtp_ehlo())
    } else if u == "NOOP" {
        Some(say(&["250 2.0.0 OK"]))
    } else if u == "QUIT" {
        Some(say(&["221 2.0.0 Service closing transmission channel"]))
    } else {
        None
    }
}

#[tokio::test]
async fn smtp_login_and_noop_pass_with_a_well_formed_xoauth2_blob() {
    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| {
            if line.starts_with("AUTH XOAUTH2 ") {
                say(&["235 2.7.0 Authentication successful"])
            } else {
                say(&["500 5.3.3 Unrecognized command"])
            }
        })
    })
    .await;
    let c = check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await;
    assert!(c.ok, "{c:?}");
    assert_eq!(c.protocol, MailProtocol::Smtp);
    assert_eq!(c.server, format!("127.0.0.1:{}", r.port));
    assert_no_secret(&c);
    let received = r.received.lock().unwrap().clone();
    let auth = received.iter().find(|l| l.starts_with("AUTH XOAUTH2 ")).expect("AUTH sent");
    let raw = base64::engine::general_purpose::STANDARD.decode(&auth["AUTH XOAUTH2 ".len()..]).unwrap();
    assert_eq!(raw, format!("user={TARO}\x01auth=Bearer {TOKEN}\x01\x01").into_bytes());
    assert!(received.iter().any(|l| l == "NOOP") && received.iter().any(|l| l == "QUIT"), "{received:?}");
    // Nothing else: no MAIL FROM, no message.
    assert!(!received.iter().any(|l| l.to_ascii_uppercase().starts_with("MAIL")), "{received:?}");
}

#[tokio::test]
async fn smtp_5_7_139_is_the_admin_setting_authenticated_smtp_not_oauth() {
    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| {
            say(&["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TYAPR01CA0001.jpnprd01.prod.outlook.com 2026-01-10T01:02:03.000Z 08DC1234567890AB]"])
        })
    })
    .await;
    let c = check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await;
    let e = failed(&c);
    assert_eq!(e.kind, ErrorKind::MailSmtpAuthDisabled);
    assert_eq!(e.actor, Actor::Admin);
    assert_eq!(e.detail[&DetailKey::Scope], "tenant");
    assert!(e.detail[&DetailKey::Reply].starts_with("535 5.7.139 Authentication unsuccessful"), "{e:?}");
    for needle in
        ["Authenticated SMTP", "Set-TransportConfig -SmtpClientAuthenticationDisabled $false", "not a problem"]
    {
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }

    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| {
            say(&["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."])
        })
    })
    .await;
    let e = failed(&check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.detail[&DetailKey::Scope].as_str()), (ErrorKind::MailSmtpAuthDisabled, "mailbox"));
    assert!(e.message.contains(&format!("Set-CASMailbox -Identity {TARO} -SmtpClientAuthenticationDisabled $false")));
}

#[tokio::test]
async fn smtp_5_7_3_is_an_auth_failure_and_5_5_124_a_malformed_blob() {
    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| {
            say(&["535 5.7.3 Authentication unsuccessful [TYAPR01CA0001.jpnprd01.prod.outlook.com]"])
        })
    })
    .await;
    let e = failed(&check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailAuthFailed, Actor::User));
    assert!(e.detail[&DetailKey::Reply].starts_with("535 5.7.3"), "{e:?}");

    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| say(&["501 5.5.124 Invalid XOAUTH2 auth data"]))
    })
    .await;
    let e = failed(&check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailXoauth2Malformed, Actor::Support));
}

#[tokio::test]
async fn a_reply_echoing_the_blob_is_scrubbed() {
    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| Act::Say(vec![format!("535 5.7.3 Authentication unsuccessful: {line}")]))
    })
    .await;
    let c = check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await;
    let e = failed(&c);
    assert_eq!(e.kind, ErrorKind::MailAuthFailed);
    assert!(e.detail[&DetailKey::Reply].contains("<redacted>"), "{e:?}");
}

#[tokio::test]
async fn smtp_without_xoauth2_or_starttls_is_explained() {
    let r = responder(Some(SMTP_GREETING), |line| {
        if line.starts_with("EHLO") {
            say(&["250-mail.example Hello", "250-AUTH PLAIN LOGIN", "250 8BITMIME"])
        } else {
            say(&["221 bye"])
        }
    })
    .await;
    let e = failed(&check_smtp(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!(e.kind, ErrorKind::MailMechanismUnsupported);
    assert_eq!(e.detail[&DetailKey::Offered], "PLAIN LOGIN");
    assert!(!r.received.lock().unwrap().iter().any(|l| l.starts_with("AUTH")), "the token must not be sent");

    // STARTTLS asked for, not offered: the token is never sent in the clear.
    let ep = Endpoint { security: Security::Starttls, ..plain(r.port) };
    let e = failed(&check_smtp(&local(&ep), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailStarttlsUnavailable, Actor::Admin));
}

// ---------------------------------------------------------------------------------------------
// IMAP: Exchange Online's replies.

const IMAP_GREETING: &[&str] =
    &["* OK The Microsoft Exchange IMAP4 service is ready. [VABZAFkAQQBQAFIAMAAxAEMAQQAwADAAMAAxAC4A]"];
const IMAP_CAPS: &str =
    "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";

fn imap_common(line: &str) -> Option<Act> {
    let t = tag(line);
    let cmd = line[t.len()..].trim().to_ascii_uppercase();
    match cmd.as_str() {
        "CAPABILITY" => Some(Act::Say(vec![IMAP_CAPS.into(), format!("{t} OK CAPABILITY completed.")])),
        "LOGOUT" => Some(Act::Say(vec![
            "* BYE Microsoft Exchange Server IMAP4 server signing off.".into(),
            format!("{t} OK LOGOUT completed."),
        ])),
        _ => None,
    }
}

/// The AUTHENTICATE exchange as Exchange runs it: `+ ` to `AUTHENTICATE XOAUTH2`, `done` (with
/// `{tag}`) to the blob line that follows.
fn imap_auth(line: &str, done: &str) -> Option<Act> {
    if line.ends_with(" AUTHENTICATE XOAUTH2") {
        Some(say(&["+ "]))
    } else if line.len() > 40 && !line.contains(' ') {
        Some(say(&[done]))
    } else {
        None
    }
}

fn imap_select_ok(t: &str) -> Act {
    Act::Say(vec![
        "* 3 EXISTS".into(),
        "* 0 RECENT".into(),
        "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)".into(),
        "* OK [UIDVALIDITY 14] UIDVALIDITY value".into(),
        format!("{t} OK [READ-WRITE] SELECT completed."),
    ])
}

#[tokio::test]
async fn imap_login_and_select_pass() {
    let r = responder(Some(IMAP_GREETING), |line| {
        imap_common(line).or_else(|| imap_auth(line, "{tag} OK AUTHENTICATE completed.")).unwrap_or_else(|| {
            let t = tag(line);
            if line.ends_with(" SELECT \"INBOX\"") {
                imap_select_ok(t)
            } else {
                Act::Say(vec![format!("{t} BAD Command Error. 12")])
            }
        })
    })
    .await;
    let c = check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await;
    assert!(c.ok, "{c:?}");
    assert_no_secret(&c);
    let received = r.received.lock().unwrap().clone();
    let commands: Vec<&str> = received.iter().map(|l| l.split_once(' ').map_or(l.as_str(), |(_, c)| c)).collect();
    assert_eq!(commands, ["CAPABILITY", "AUTHENTICATE XOAUTH2", &blob(), "SELECT \"INBOX\"", "LOGOUT"]);
}

#[tokio::test]
async fn imap_answers_a_failure_challenge_with_an_empty_line_and_reports_the_no() {
    // Dovecot's way (and Gmail's): `+ <base64 JSON status>`, the client's empty line, then NO.
    let r = responder(Some(IMAP_GREETING), |line| {
        if line.is_empty() {
            return say(&["{tag} NO [AUTHENTICATIONFAILED] Authentication failed."]);
        }
        imap_common(line)
            .or_else(|| imap_auth(line, "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiIifQ=="))
            .unwrap_or_else(|| Act::Say(vec![format!("{} BAD unexpected", tag(line))]))
    })
    .await;
    let e = failed(&check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailAuthFailed, Actor::User));
    assert!(e.detail[&DetailKey::Reply].ends_with(" NO [AUTHENTICATIONFAILED] Authentication failed."), "{e:?}");
    let received = r.received.lock().unwrap().clone();
    assert_eq!(received[received.len() - 2..], [blob(), String::new()], "the blob, then the empty answer");
}

#[tokio::test]
async fn imap_no_authenticate_failed_is_an_auth_failure() {
    let r = responder(Some(IMAP_GREETING), |line| {
        imap_common(line)
            .or_else(|| imap_auth(line, "{tag} NO AUTHENTICATE failed."))
            .unwrap_or_else(|| Act::Say(vec![format!("{} BAD unexpected", tag(line))]))
    })
    .await;
    let e = failed(&check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailAuthFailed, Actor::User));
    // The server's own line, tag included.
    let reply = &e.detail[&DetailKey::Reply];
    assert!(reply.starts_with('A') && reply.ends_with(" NO AUTHENTICATE failed."), "{reply}");
    assert_eq!(e.detail[&DetailKey::Protocol], "IMAP");
}

#[tokio::test]
async fn imap_authenticated_but_not_connected_is_a_token_of_another_mailbox() {
    let r = responder(Some(IMAP_GREETING), |line| {
        imap_common(line)
            .or_else(|| imap_auth(line, "{tag} OK AUTHENTICATE completed."))
            .unwrap_or_else(|| Act::Say(vec![format!("{} BAD User is authenticated but not connected.", tag(line))]))
    })
    .await;
    let e = failed(&check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailMailboxMismatch, Actor::User));
    assert!(e.message.contains(TARO), "{}", e.message);
}

#[tokio::test]
async fn imap_session_invalidated_by_an_expired_token() {
    let r = responder(Some(IMAP_GREETING), |line| {
        imap_common(line)
            .or_else(|| imap_auth(line, "{tag} OK AUTHENTICATE completed."))
            .unwrap_or_else(|| say(&["* BYE Session invalidated - AccessTokenExpired"]))
    })
    .await;
    let e = failed(&check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!(e.kind, ErrorKind::MailTokenExpired);
}

// ---------------------------------------------------------------------------------------------
// POP3.

const POP_GREETING: &[&str] = &["+OK The Microsoft Exchange POP3 service is ready. [VABZAFkAQQBQAFIA]"];

fn pop_script(auth_reply: &'static str) -> impl Fn(&str) -> Act {
    move |line: &str| match line.to_ascii_uppercase().as_str() {
        "CAPA" => say(&["+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", "."]),
        "AUTH XOAUTH2" => say(&["+ "]),
        "STAT" => say(&["+OK 3 14021"]),
        "QUIT" => say(&["+OK Microsoft Exchange Server POP3 server signing off."]),
        _ => say(&[auth_reply]),
    }
}

#[tokio::test]
async fn pop3_login_stat_quit_and_an_auth_failure() {
    let r = responder(Some(POP_GREETING), |l| pop_script("+OK User successfully authenticated.")(l)).await;
    let c = check_pop3(&local(&plain(r.port)), TARO, &token(), &opts()).await;
    assert!(c.ok, "{c:?}");
    let received = r.received.lock().unwrap().clone();
    assert_eq!(received, ["CAPA", "AUTH XOAUTH2", &blob(), "STAT", "QUIT"]);

    let r = responder(Some(POP_GREETING), |l| {
        pop_script("-ERR Authentication failure: unknown user name or bad password.")(l)
    })
    .await;
    let e = failed(&check_pop3(&local(&plain(r.port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.detail[&DetailKey::Protocol].as_str()), (ErrorKind::MailAuthFailed, "POP3"));
    assert!(!r.received.lock().unwrap().iter().any(|l| l == "STAT"));
}

// ---------------------------------------------------------------------------------------------
// The network.

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_greeting() {
    let r = responder(None, |_| Act::Close).await;
    let o = CheckOptions { timeouts: Timeouts { greeting: Duration::from_millis(300), ..opts().timeouts }, ..opts() };
    let started = std::time::Instant::now();
    let c = check_imap(&local(&plain(r.port)), TARO, &token(), &o).await;
    let e = failed(&c);
    assert_eq!((e.kind, e.detail[&DetailKey::Step].as_str()), (ErrorKind::MailTimeout, "greeting"));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_server_that_goes_silent_after_auth_times_out_at_auth() {
    let r = responder(Some(SMTP_GREETING), |line| smtp_common(line).unwrap_or(Act::Say(vec![]))).await;
    let o = CheckOptions { timeouts: Timeouts { auth: Duration::from_millis(300), ..opts().timeouts }, ..opts() };
    let e = failed(&check_smtp(&local(&plain(r.port)), TARO, &token(), &o).await).clone();
    assert_eq!((e.kind, e.detail[&DetailKey::Step].as_str()), (ErrorKind::MailTimeout, "auth"));
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    token();
    let e = failed(&check_pop3(&local(&plain(port)), TARO, &token(), &opts()).await).clone();
    assert_eq!((e.kind, e.actor), (ErrorKind::MailConnectionRefused, Actor::Support));
}

#[tokio::test]
async fn an_unknown_host_name_is_a_dns_failure() {
    let ep = Endpoint { host: "nosuch.invalid".into(), port: 993, security: Security::Tls };
    let e = failed(&check_imap(&local(&ep), TARO, &token(), &opts()).await).clone();
    assert_eq!(e.kind, ErrorKind::MailDnsFailure);
    assert_eq!(e.detail[&DetailKey::Host], "nosuch.invalid");
}

#[tokio::test]
async fn plain_text_goes_only_to_this_computer() {
    for host in ["mail.contoso.example", "10.0.0.1", "192.0.2.1"] {
        let ep = Endpoint { host: host.into(), port: 143, security: Security::Plain };
        let e = failed(&check_imap(&local(&ep), TARO, &token(), &opts()).await).clone();
        assert_eq!((e.kind, e.actor), (ErrorKind::MailPlainNotAllowed, Actor::Admin), "{host}");
    }
    // localhost is this computer.
    let r = responder(Some(POP_GREETING), |l| pop_script("+OK User successfully authenticated.")(l)).await;
    let ep = Endpoint { host: "localhost".into(), port: r.port, security: Security::Plain };
    let c = check_pop3(&local(&ep), TARO, &token(), &opts()).await;
    assert!(c.ok, "{c:?}");
}

#[tokio::test]
async fn tls_to_a_plain_text_port_fails_as_tls() {
    let r = responder(Some(SMTP_GREETING), |line| smtp_common(line).unwrap_or(Act::Close)).await;
    let ep = Endpoint { host: "127.0.0.1".into(), port: r.port, security: Security::Tls };
    let e = failed(&check_smtp(&local(&ep), TARO, &token(), &opts()).await).clone();
    assert_eq!(e.kind, ErrorKind::MailTlsFailed);
}

// ---------------------------------------------------------------------------------------------
// Recording the outcome.

#[tokio::test]
async fn record_sets_verified_with_time_and_protocols_or_error_with_the_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let ep = plain(1);
    let server = exo_setup_core::org::add_server(&store, "Scripted", &ep, &ep, &ep, ServerAuth::Oauth2).unwrap();
    exo_setup_core::accounts::add(
        &store,
        &AccountInput {
            login_name: "taro".into(),
            user_display_name: "Taro".into(),
            address: TARO.into(),
            display_name: String::new(),
            receive_protocol: ReceiveProtocol::Imap,
            server_id: server.id,
        },
    )
    .unwrap();

    let imap = responder(Some(IMAP_GREETING), |line| {
        imap_common(line)
            .or_else(|| imap_auth(line, "{tag} OK AUTHENTICATE completed."))
            .unwrap_or_else(|| imap_select_ok(tag(line)))
    })
    .await;
    let smtp_ok = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| say(&["235 2.7.0 Authentication successful"]))
    })
    .await;
    let smtp_off = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| {
            say(&["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."])
        })
    })
    .await;

    let t = token();
    let (ai, as_, o) = (local(&plain(imap.port)), local(&plain(smtp_ok.port)), opts());
    let (a, b) = tokio::join!(check_imap(&ai, TARO, &t, &o), check_smtp(&as_, TARO, &t, &o));
    let report = MailCheckReport::new(TARO, "2026-01-10T00:00:00Z".into(), vec![a.clone(), b]);
    assert!(report.verified, "{report:?}");
    let row = record(&store, TARO, &report).unwrap();
    assert_eq!(row.status, AccountStatus::Verified);
    assert_eq!(row.status_detail, None);
    let v = last_verification(&store.conn(), TARO).unwrap().unwrap();
    assert_eq!(v.verified_at, "2026-01-10T00:00:00Z");
    assert_eq!(v.protocols, [MailProtocol::Imap, MailProtocol::Smtp]);

    let b = check_smtp(&local(&plain(smtp_off.port)), TARO, &t, &opts()).await;
    let report = MailCheckReport::new(TARO, "2026-01-11T00:00:00Z".into(), vec![a, b]);
    assert!(!report.verified);
    let row = record(&store, TARO, &report).unwrap();
    assert_eq!(row.status, AccountStatus::Error);
    assert_eq!(row.status_detail.as_deref(), Some("mail_smtp_auth_disabled"));
    // The last success is kept.
    assert_eq!(last_verification(&store.conn(), TARO).unwrap().unwrap().verified_at, "2026-01-10T00:00:00Z");

    let audit = exo_setup_core::store::list_audit(&store.conn(), 100).unwrap();
    let checks: Vec<_> = audit.iter().filter(|e| e.action == "account.check").collect();
    assert_eq!(checks.len(), 2, "{audit:?}");
    let all = format!("{audit:?}");
    assert!(all.contains("mail_smtp_auth_disabled"), "{all}");
    assert!(!all.contains(TOKEN) && !all.contains(&blob()), "{all}");

    let err = record(&store, "nobody@contoso.example", &report).unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccountNotRegistered);
}

// ---------------------------------------------------------------------------------------------
// Logs.

#[tokio::test]
async fn trace_logs_of_checks_never_hold_the_token() {
    let r = responder(Some(SMTP_GREETING), |line| {
        smtp_common(line).unwrap_or_else(|| say(&["535 5.7.3 Authentication unsuccessful"]))
    })
    .await;
    let i = responder(Some(IMAP_GREETING), imap_ok).await;
    let t = token();
    let (as_, ai, o) = (local(&plain(r.port)), local(&plain(i.port)), opts());
    let (a, b) = tokio::join!(check_smtp(&as_, TARO, &t, &o), check_imap(&ai, TARO, &t, &o));
    assert!(!a.ok && b.ok);
    tracing::trace!("marker: the capture works");
    let logs = captured_logs();
    assert!(logs.contains("marker: the capture works"), "the subscriber captures TRACE");
    assert!(logs.contains("mail check failed") && logs.contains("mail_auth_failed"), "{logs}");
    assert!(!logs.contains(TOKEN), "the token is in the logs");
    assert!(!logs.contains(&blob()), "the XOAUTH2 blob is in the logs");
    assert!(i.received.lock().unwrap().contains(&blob()), "the blob went over the wire");
}

/// A whole passing IMAP session.
fn imap_ok(line: &str) -> Act {
    imap_common(line)
        .or_else(|| imap_auth(line, "{tag} OK AUTHENTICATE completed."))
        .unwrap_or_else(|| imap_select_ok(tag(line)))
}

/// Why the app's logging filter (exo_setup_core::logging) is needed: under a plain TRACE
/// subscriber, async-imap logs the AUTHENTICATE continuation — the XOAUTH2 blob, i.e. the token.
#[test]
fn without_the_apps_log_filter_async_imap_would_log_the_token() {
    logs(); // this binary's global subscriber, and with it the `log` → tracing bridge
    let bare_buf = LogBuf::default();
    let writer = bare_buf.clone();
    let bare = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = tracing::subscriber::with_default(bare, || {
        rt.block_on(async {
            let r = responder(Some(IMAP_GREETING), imap_ok).await;
            check_imap(&local(&plain(r.port)), TARO, &token(), &opts()).await
        })
    });
    assert!(c.ok, "{c:?}");
    let bare_logs = String::from_utf8_lossy(&bare_buf.0.lock().unwrap()).into_owned();
    assert!(bare_logs.contains(&blob()), "async-imap no longer logs what it writes: {bare_logs}");
    assert!(!captured_logs().contains(&blob()), "the app's subscriber let the blob through");
}
