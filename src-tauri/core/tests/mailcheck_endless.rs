//! The connection check against servers that never stop talking: for IMAP, POP3 and SMTP, a
//! greeting line that never ends and an endless stream of short lines. Each check must end with
//! a classified error (`mail_protocol_error`, naming the bound) quickly, having read a bounded
//! amount: the server counts what it managed to write before the client hung up.

use exo_setup_core::DetailKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exo_setup_core::audience::{AllowedEndpoint, EndpointsOrigin};
use exo_setup_core::keychain::Secret;
use exo_setup_core::mailcheck::{check_imap, check_pop3, check_smtp, CheckOptions, ProtocolCheck, Timeouts};
use exo_setup_core::model::{Endpoint, Security};
use exo_setup_core::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Endless for any bound of the check, yet finite, so that a client without bounds fails the
/// assertions instead of exhausting the machine's memory.
const ENDLESS: u64 = 64 * 1024 * 1024;

/// What a client may have let into the socket before hanging up: its bounds plus kernel buffers.
const MOST_WRITTEN: u64 = 16 * 1024 * 1024;

/// A server that sends `head`, then `unit` over and over (up to [`ENDLESS`] bytes), reading and
/// discarding whatever the client sends. Returns its port and the count of bytes written.
async fn chatterbox(head: &'static str, unit: &'static str) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let written = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&written);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                let (mut rd, mut wr) = stream.into_split();
                tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
                });
                if wr.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = unit.repeat((16 * 1024 / unit.len()).max(1));
                let mut total = head.len() as u64;
                while total < ENDLESS {
                    if wr.write_all(chunk.as_bytes()).await.is_err() {
                        break;
                    }
                    total += chunk.len() as u64;
                    w.store(total, Ordering::Relaxed);
                }
            });
        }
    });
    (port, written)
}

/// A server on this computer, as if the administrator had set it here (the rule allows it).
fn plain(port: u16) -> AllowedEndpoint {
    let ep = Endpoint { host: "127.0.0.1".into(), port, security: Security::Plain };
    AllowedEndpoint::permit(&ep, "", EndpointsOrigin::Local, &[]).expect("set locally")
}

fn opts() -> CheckOptions {
    CheckOptions { timeouts: Timeouts::all(Duration::from_secs(5)), extra_root_pem: None }
}

/// Asserts a quick `mail_protocol_error` naming `bound`, and a bounded read.
async fn assert_bounded(c: ProtocolCheck, started: Instant, written: &AtomicU64, bound: &str) {
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(!c.ok, "{c:?}");
    let e = c.error.as_ref().expect("an error");
    assert_eq!(e.kind, ErrorKind::MailProtocolError, "{e:?}");
    assert!(e.detail.get(&DetailKey::Reply).is_some_and(|r| r.contains(bound)), "{e:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let w = written.load(Ordering::Relaxed);
    assert!(w < MOST_WRITTEN, "the server wrote {w} bytes before the client hung up");
}

const LINE: &str = "longer than 64 KiB";
const SESSION: &str = "more than 1024 KiB in one session";

async fn run(check: &str, head: &'static str, unit: &'static str, bound: &str) {
    let (port, written) = chatterbox(head, unit).await;
    let token = Secret::new("token");
    let started = Instant::now();
    let c = match check {
        "imap" => check_imap(&plain(port), "taro@contoso.example", &token, &opts()).await,
        "pop3" => check_pop3(&plain(port), "taro@contoso.example", &token, &opts()).await,
        _ => check_smtp(&plain(port), "taro@contoso.example", &token, &opts()).await,
    };
    assert_bounded(c, started, &written, bound).await;
}

#[tokio::test]
async fn imap_an_endless_greeting_line() {
    run("imap", "* OK ", "xxxxxxxx", LINE).await;
}

#[tokio::test]
async fn imap_endless_untagged_lines() {
    run("imap", "* OK IMAP4rev1 ready\r\n", "* OK still here\r\n", SESSION).await;
}

#[tokio::test]
async fn pop3_an_endless_greeting_line() {
    run("pop3", "+OK ", "xxxxxxxx", LINE).await;
}

#[tokio::test]
async fn pop3_an_endless_capability_list() {
    run("pop3", "+OK POP3 ready\r\n", "+OK X-ENDLESS\r\n", SESSION).await;
}

#[tokio::test]
async fn smtp_an_endless_greeting_line() {
    run("smtp", "220 ", "xxxxxxxx", LINE).await;
}

#[tokio::test]
async fn smtp_an_endless_multiline_greeting() {
    // lettre itself refuses a reply over 100,000 bytes; either bound is fine, the kind is the point.
    let (port, written) = chatterbox("", "220-still greeting\r\n").await;
    let started = Instant::now();
    let c = check_smtp(&plain(port), "taro@contoso.example", &Secret::new("token"), &opts()).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let e = c.error.as_ref().expect("an error");
    assert_eq!(e.kind, ErrorKind::MailProtocolError, "{e:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(written.load(Ordering::Relaxed) < MOST_WRITTEN);
}
