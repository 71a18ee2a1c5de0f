//! An access token from the emulator logs in to a real Dovecot 2.3 over IMAP with XOAUTH2 (Dovecot validates the
//! JWT locally with the emulator's public key; recipe in shared/reference/platform-recipes.md).
//! Needs the `dovecot` binary (packages dovecot-core dovecot-imapd). Without it the test FAILS, unless
//! `EXO_SKIP_DOVECOT=1` is set.

mod common;
use base64::Engine;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn find_dovecot() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private Dovecot instance; stopped (SIGTERM) on drop.
struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Dovecot {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn start_dovecot(bin: &Path, issuer: &str, emu: &entra_emulator::Emulator) -> Dovecot {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["run", "state", "mail"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::set_permissions(d.join("mail"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let key = emu.write_dovecot_key(&d.join("keys")).unwrap();
    for p in [d.join("keys"), d.join("keys/default"), d.join("keys/default/RS256")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let dir_s = d.display();
    std::fs::write(
        d.join("oauth2.conf.ext"),
        format!(
            "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={dir_s}/keys/\n\
             username_attribute = email\nissuers = {issuer}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("dovecot.conf"),
        format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {dir_s}/run\nstate_dir = {dir_s}/state\n\
             log_path = {dir_s}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = xoauth2 oauthbearer\nauth_failure_delay = 0\n\
             default_internal_user = dovecot\ndefault_login_user = dovenull\nfirst_valid_uid = 1\n\
             mail_location = maildir:~/Maildir\nhostname = localhost\n\
             service imap-login {{\n inet_listener imap {{\n  address = 127.0.0.1\n  port = {port}\n }}\n inet_listener imaps {{\n  port = 0\n }}\n}}\n\
             passdb {{\n driver = oauth2\n mechanisms = xoauth2 oauthbearer\n args = {dir_s}/oauth2.conf.ext\n}}\n\
             userdb {{\n driver = static\n args = uid=nobody gid=nogroup home={dir_s}/mail/%u\n}}\n\
             service anvil {{\n unix_listener anvil-auth-penalty {{\n  path = anvil-auth-penalty-disabled\n }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(d.join("dovecot.conf"))
        .arg("-F")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dovecot");
    Dovecot { child, dir, port }
}

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
    let Some(bin) = find_dovecot() else {
        if std::env::var("EXO_SKIP_DOVECOT").as_deref() == Ok("1") {
            eprintln!("SKIPPED: dovecot not installed and EXO_SKIP_DOVECOT=1");
            return;
        }
        panic!(
            "`dovecot` is not on PATH: install dovecot-core and dovecot-imapd (scripts/test-emulator.sh does), \
             or set EXO_SKIP_DOVECOT=1 to skip this test"
        );
    };
    let emu = consented().await;
    let dc = start_dovecot(&bin, &emu.access_token_issuer(T), &emu);
    let mut ready = false;
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", dc.port)).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "dovecot did not listen on {}: {}", dc.port, dc.log());

    let token = sign_in(&emu).await["access_token"].as_str().unwrap().to_string();
    let (result, select) = imap_login(dc.port, "taro@contoso.example", &token).await;
    assert!(result.starts_with("a2 OK"), "login refused: {result}\n{}", dc.log());
    assert!(select.last().unwrap().starts_with("a3 OK"), "{select:?}");

    // The same token for another mailbox, and a token signed by another key, are refused.
    let (result, _) = imap_login(dc.port, "hanako@contoso.example", &token).await;
    assert!(result.starts_with("a2 NO"), "{result}");
    let mut forged: Vec<char> = token.chars().collect();
    let i = forged.len() - 20; // inside the signature, away from base64 padding bits
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let (result, _) = imap_login(dc.port, "taro@contoso.example", &forged).await;
    assert!(result.starts_with("a2 NO"), "{result}");
}
