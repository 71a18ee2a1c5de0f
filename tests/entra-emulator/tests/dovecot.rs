//! An access token from the emulator logs in to a real Dovecot 2.3 over IMAP with XOAUTH2 (Dovecot validates the
//! JWT locally with the emulator's public key: the `oauth2` passdb's local validation). Dovecot is the
//! crate's shared rig, [`entra_emulator::dovecot::Dovecot`]; this test speaks clear-text IMAP on its STARTTLS port
//! (the rig allows plaintext authentication) without upgrading.
//! Needs the `dovecot` binary (packages dovecot-core dovecot-imapd). Without it the test FAILS, unless
//! `EXO_SKIP_DOVECOT=1` is set.

mod common;
use base64::Engine;
use common::*;
use entra_emulator::dovecot::{find_binary, Dovecot, SKIP_ENV};
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

#[tokio::test]
async fn emulator_access_token_logs_in_to_dovecot_over_imap_xoauth2() {
    let Some(bin) = find_binary() else {
        if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
            eprintln!("SKIPPED: dovecot not installed and {SKIP_ENV}=1");
            return;
        }
        panic!(
            "`dovecot` is not on PATH: install dovecot-core and dovecot-imapd (scripts/test-emulator.sh does), \
             or set {SKIP_ENV}=1 to skip this test"
        );
    };
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
