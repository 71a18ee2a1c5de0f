//! A private Dovecot 2.3 that accepts the emulator's access tokens: IMAP (implicit TLS, and a second port with
//! STARTTLS), POP3 (implicit TLS) and submission (SMTP with STARTTLS) on free loopback ports, validating
//! XOAUTH2/OAUTHBEARER tokens locally with the emulator's public key (Dovecot's `oauth2` passdb, local JWT
//! validation). Mail sent over submission is delivered: one mailbox can invite another, and the test reads the
//! invitation over IMAP, as on Exchange Online.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use entra_emulator::{dovecot::Dovecot, Config, Emulator};
//! let emu = Emulator::start(Config::default_demo()).await?;
//! let Some(dc) = Dovecot::start(&emu)? else { return Ok(()) }; // skipped: message already printed
//! let p = dc.ports();
//! println!("IMAP {}:{} (TLS), CA {}", dc.host(), p.imaps, dc.ca_file().display());
//! # Ok(()) }
//! ```
//!
//! - TLS is real: a test CA and a certificate for `localhost` and 127.0.0.1 are made with rcgen at start; clients
//!   trust [`Dovecot::ca_pem`] / [`Dovecot::ca_file`] (nothing is added to the system's roots).
//! - `issuers` lists the access-token issuer of every tenant of the emulator ([`Emulator::access_token_issuer`]);
//!   the key is the emulator's signing key ([`Emulator::write_dovecot_key`]), so a token signed by any other key,
//!   expired, of another issuer or of another mailbox (`email` claim ≠ XOAUTH2 `user=`) is refused.
//! - Every user of the emulator (primary address, i.e. the `email` claim) gets a Maildir with one welcome message;
//!   other users logging in with a valid token get an empty one.
//! - Submission relays to a small SMTP server of this crate on a loopback port (Dovecot connects to it when a
//!   client logs in; `dovecot/relay.rs`), which hands every accepted message back to Dovecot over LMTP (a
//!   unix socket, `run/lmtp`), so Dovecot itself delivers into the recipients' Maildirs. Recipients without a
//!   mailbox get `550 5.1.1` at RCPT. Tests script per-recipient faults with [`Dovecot::relay_faults`]
//!   ([`RelayFault::Defer`], [`RelayFault::Reject`], [`RelayFault::Bounce`]: an RFC 3464 DSN into the sender's
//!   INBOX) and count what was relayed with [`Dovecot::relayed`]. Dovecot's submission passes the relay's RCPT
//!   replies (451, 550) on to the client at RCPT.
//! - Dovecot's log (`auth_verbose`, with the reason of every refusal): [`Dovecot::log`].
//! - [`Dovecot::start`] returns `Ok(None)` and prints why when `EXO_SKIP_DOVECOT=1` is set or no `dovecot` binary is
//!   found (packages dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-lmtpd); see [`skip_reason`].
//! - Dropping the handle stops Dovecot (SIGTERM, then SIGKILL) and the relay, and removes the directory.
//!
//! Blocking: start-up waits (≈ 50 ms) for the listeners with `std::thread::sleep`; fine in a `#[tokio::test]`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Emulator;

mod dsn;
mod lmtp;
mod relay;

use relay::{Mailboxes, Relay};
pub use relay::{RelayFault, RelayFaults, Relayed, MAX_MESSAGE_BYTES};

/// The environment variable that turns Dovecot tests off (`1`).
pub const SKIP_ENV: &str = "EXO_SKIP_DOVECOT";

/// Where the listeners are (all on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// IMAP over implicit TLS.
    pub imaps: u16,
    /// IMAP in clear text, upgraded with STARTTLS.
    pub imap_starttls: u16,
    /// POP3 over implicit TLS.
    pub pop3s: u16,
    /// Submission (SMTP) with STARTTLS.
    pub submission: u16,
    /// The SMTP server submission relays to (plain, not for clients): it delivers into the mailboxes.
    pub relay: u16,
}

/// The `dovecot` binary: on `PATH`, else in `/usr/sbin` or `/usr/local/sbin`.
pub fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

/// The Dovecot programs the rig's configuration runs, with the Debian package of each.
const SERVICES: [(&str, &str); 4] = [
    ("imap", "dovecot-imapd"),
    ("pop3", "dovecot-pop3d"),
    ("submission", "dovecot-submissiond"),
    ("lmtp", "dovecot-lmtpd"),
];

/// The packages of [`SERVICES`] whose program is missing next to Dovecot's `imap` (in `/usr/lib/dovecot` on
/// Debian). Empty when the layout is unknown: then Dovecot itself reports what it cannot run. Checked before
/// starting, because Dovecot starts without them and fails only at the first connection.
fn missing_packages() -> Vec<&'static str> {
    let dirs = ["/usr/lib/dovecot", "/usr/libexec/dovecot", "/usr/local/libexec/dovecot"].map(Path::new);
    let Some(dir) = dirs.into_iter().find(|d| d.join("imap").is_file() || d.join("imap-login").is_file()) else {
        return vec![];
    };
    SERVICES.iter().filter(|(program, _)| !dir.join(program).is_file()).map(|(_, package)| *package).collect()
}

/// Why [`Dovecot::start`] would skip: `EXO_SKIP_DOVECOT=1`, or no `dovecot` binary. `None` = it would run.
pub fn skip_reason() -> Option<String> {
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        return Some(format!("{SKIP_ENV}=1"));
    }
    if find_binary().is_none() {
        return Some(
            "`dovecot` is not installed (packages dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond \
             dovecot-lmtpd)"
                .into(),
        );
    }
    None
}

/// A running private Dovecot; stopped on drop.
#[derive(Debug)]
pub struct Dovecot {
    child: Option<Child>,
    ports: Ports,
    ca_pem: String,
    mailboxes: Vec<String>,
    relay: Relay,
    // Last: removed after the process has been stopped.
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Starts Dovecot for `emu` ([`Dovecot::start_with`] with the binary [`find_binary`] finds), or returns `Ok(None)`
    /// after printing `SKIPPED (Dovecot): <reason>` to stderr when [`skip_reason`] gives one.
    pub fn start(emu: &Emulator) -> std::io::Result<Option<Dovecot>> {
        if let Some(reason) = skip_reason() {
            eprintln!("SKIPPED (Dovecot): {reason}");
            return Ok(None);
        }
        let bin = find_binary().ok_or_else(|| std::io::Error::other("dovecot disappeared"))?;
        Self::start_with(&bin, emu).map(Some)
    }

    /// Starts `bin` with a fresh configuration for `emu` and waits until all listeners accept connections.
    ///
    /// The free ports are only free when they are chosen: another process may bind one before Dovecot does. A start
    /// that fails is therefore tried twice more with new ports, before its error is returned.
    pub fn start_with(bin: &Path, emu: &Emulator) -> std::io::Result<Dovecot> {
        let missing = missing_packages();
        if !missing.is_empty() {
            return Err(std::io::Error::other(format!(
                "Dovecot lacks programs the rig needs: install {}",
                missing.join(" ")
            )));
        }
        let mut attempt = 1;
        loop {
            match Self::start_once(bin, emu) {
                Err(e) if attempt < 3 => {
                    eprintln!("dovecot start {attempt} failed, trying again with other ports: {e}");
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    fn start_once(bin: &Path, emu: &Emulator) -> std::io::Result<Dovecot> {
        let dir = tempfile::Builder::new().prefix("exo-dovecot-").tempdir()?;
        let d = dir.path();
        // Dovecot's unprivileged processes (dovenull, nobody) must reach the key, the certificate and the mail.
        chmod(d, 0o755)?;
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        chmod(&d.join("mail"), 0o1777)?;
        let key = emu.write_dovecot_key(&d.join("keys"))?;
        for p in [d.join("keys"), d.join("keys/default"), d.join("keys/default/RS256")] {
            chmod(&p, 0o755)?;
        }
        chmod(&key, 0o644)?;

        let (ca_pem, cert_pem, key_pem) = test_pki().map_err(std::io::Error::other)?;
        std::fs::write(d.join("ca.pem"), &ca_pem)?;
        std::fs::write(d.join("cert.pem"), cert_pem)?;
        std::fs::write(d.join("key.pem"), key_pem)?;
        chmod(&d.join("key.pem"), 0o600)?;

        let (tenants, mailboxes) = {
            let world = emu.shared.lock();
            let tenants: Vec<String> = world.config.tenants.iter().map(|t| t.id.clone()).collect();
            let mut boxes: Vec<String> = world
                .config
                .tenants
                .iter()
                .flat_map(|t| t.users.iter())
                .map(|u| u.mail.clone().unwrap_or_else(|| u.upn.clone()).to_ascii_lowercase())
                .collect();
            boxes.sort();
            boxes.dedup();
            (tenants, boxes)
        };
        let issuers: Vec<String> = tenants.iter().map(|t| emu.access_token_issuer(t)).collect();
        for address in &mailboxes {
            make_mailbox(&d.join("mail").join(address), address)?;
        }

        let lmtp_socket = d.join("run/lmtp");
        let relay = Relay::start(Mailboxes {
            mail_dir: d.join("mail"),
            known: mailboxes.clone(),
            lmtp_socket: lmtp_socket.clone(),
        })?;
        let [imaps, imap_starttls, pop3s, submission] = distinct_free_ports()?;
        let ports = Ports { imaps, imap_starttls, pop3s, submission, relay: relay.port() };
        let dir_s = d.display();
        std::fs::write(
            d.join("oauth2.conf.ext"),
            format!(
                "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={dir_s}/keys/\n\
                 username_attribute = email\nissuers = {}\n",
                issuers.join(" ")
            ),
        )?;
        let Ports { imaps, imap_starttls, pop3s, submission, relay: relay_port } = ports;
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                "protocols = imap pop3 submission lmtp\nlisten = 127.0.0.1\nbase_dir = {dir_s}/run\n\
                 state_dir = {dir_s}/state\nlog_path = {dir_s}/dovecot.log\n\
                 ssl = yes\nssl_cert = <{dir_s}/cert.pem\nssl_key = <{dir_s}/key.pem\nssl_min_protocol = TLSv1.2\n\
                 disable_plaintext_auth = no\n\
                 auth_mechanisms = xoauth2 oauthbearer\nauth_failure_delay = 0\nauth_verbose = yes\n\
                 default_internal_user = dovecot\ndefault_login_user = dovenull\nfirst_valid_uid = 1\n\
                 mail_location = maildir:~/Maildir\nhostname = localhost\n\
                 service imap-login {{\n inet_listener imap {{\n  address = 127.0.0.1\n  port = {imap_starttls}\n }}\n \
                   inet_listener imaps {{\n  address = 127.0.0.1\n  port = {imaps}\n  ssl = yes\n }}\n}}\n\
                 service pop3-login {{\n inet_listener pop3 {{\n  port = 0\n }}\n \
                   inet_listener pop3s {{\n  address = 127.0.0.1\n  port = {pop3s}\n  ssl = yes\n }}\n}}\n\
                 service submission-login {{\n inet_listener submission {{\n  address = 127.0.0.1\n  \
                   port = {submission}\n }}\n}}\n\
                 service lmtp {{\n unix_listener lmtp {{\n  mode = 0666\n }}\n}}\n\
                 submission_relay_host = 127.0.0.1\nsubmission_relay_port = {relay_port}\nsubmission_relay_trusted = yes\n\
                 passdb {{\n driver = oauth2\n mechanisms = xoauth2 oauthbearer\n args = {dir_s}/oauth2.conf.ext\n}}\n\
                 userdb {{\n driver = static\n args = uid=nobody gid=nogroup home={dir_s}/mail/%Lu allow_all_users=yes\n}}\n\
                 service anvil {{\n unix_listener anvil-auth-penalty {{\n  path = anvil-auth-penalty-disabled\n }}\n}}\n"
            ),
        )?;
        let stderr = std::fs::File::create(d.join("dovecot.stderr"))?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| std::io::Error::other(format!("cannot start {}: {e}", bin.display())))?;
        let mut dc = Dovecot { child: Some(child), ports, ca_pem, mailboxes, relay, dir };

        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [imaps, imap_starttls, pop3s, submission, 0] {
            loop {
                // 0: the LMTP socket, the relay's way in.
                let up = match port {
                    0 => std::os::unix::net::UnixStream::connect(&lmtp_socket).is_ok(),
                    port => TcpStream::connect(("127.0.0.1", port)).is_ok(),
                };
                if up {
                    break;
                }
                let exited = dc.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || Instant::now() > deadline {
                    let why = match exited {
                        Some(status) => format!("dovecot exited ({status})"),
                        None if port == 0 => format!("no LMTP socket {} after 10 s", lmtp_socket.display()),
                        None => format!("dovecot does not listen on 127.0.0.1:{port} after 10 s"),
                    };
                    return Err(std::io::Error::other(format!("{why}\n{}", dc.log())));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(dc)
    }

    /// The host clients connect to: `127.0.0.1` (the certificate also names `localhost`).
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// PEM of the test CA that issued Dovecot's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The test CA as a file (e.g. for `EXO_SETUP_CA_FILE` or `curl --cacert`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The addresses that have a Maildir with a welcome message (the emulator's users, lower case).
    pub fn mailboxes(&self) -> &[String] {
        &self.mailboxes
    }

    /// The faults scripted per recipient address for the relay behind submission (a handle; clones share them):
    /// `dc.relay_faults().set("ghost@contoso.example", RelayFault::Bounce)`.
    pub fn relay_faults(&self) -> &RelayFaults {
        self.relay.faults()
    }

    /// Every message the relay accepted so far (each delivered, or bounced, before the client got its `250`).
    pub fn relayed(&self) -> Vec<Relayed> {
        self.relay.relayed()
    }

    /// Dovecot's working directory (configuration, keys, mail, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `HOST:PORT:SECURITY` of IMAP, POP3 and SMTP, the form of `exo-setup server endpoints --imap … --pop3 …
    /// --smtp …`.
    pub fn endpoint_specs(&self) -> [String; 3] {
        let h = self.host();
        let p = self.ports;
        [format!("{h}:{}:tls", p.imaps), format!("{h}:{}:tls", p.pop3s), format!("{h}:{}:starttls", p.submission)]
    }

    /// `["--imap", …, "--pop3", …, "--smtp", …]` for `exo-setup server endpoints`.
    pub fn endpoint_args(&self) -> Vec<String> {
        let [imap, pop3, smtp] = self.endpoint_specs();
        vec!["--imap".into(), imap, "--pop3".into(), pop3, "--smtp".into(), smtp]
    }

    /// Dovecot's log so far (and what it wrote to stderr before its log was open).
    pub fn log(&self) -> String {
        let mut log = std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        if let Ok(err) = std::fs::read_to_string(self.dir.path().join("dovecot.stderr")) {
            log.push_str(&err);
        }
        log
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // The master stops its children on SIGTERM.
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn chmod(p: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// `N` loopback ports free at the same moment. Each listener is held until all are chosen: a port freed at once
/// is often handed out again by the next bind, and Dovecot refuses a configuration naming one port twice.
fn distinct_free_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// `<home>/Maildir/{cur,new,tmp}` with one message in `new/`, writable by the mail user (`nobody`): the tree is made
/// world-writable, as `mail/` itself (1777), since the test need not run as root.
fn make_mailbox(home: &Path, address: &str) -> std::io::Result<()> {
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    let message = format!(
        "From: exo-setup tests <postmaster@localhost>\r\nTo: <{address}>\r\nSubject: Welcome\r\nDate: {date}\r\n\
         Message-ID: <welcome.{address}>\r\n\r\nThis mailbox belongs to the test Dovecot of entra-emulator.\r\n"
    );
    let name = format!("{}.welcome.localhost", chrono::Utc::now().timestamp());
    std::fs::write(maildir.join("new").join(name), message)?;
    for p in [home.to_path_buf(), maildir.clone(), maildir.join("cur"), maildir.join("new"), maildir.join("tmp")] {
        chmod(&p, 0o777)?;
    }
    for e in std::fs::read_dir(maildir.join("new"))?.flatten() {
        chmod(&e.path(), 0o666)?;
    }
    Ok(())
}

/// A test CA and a certificate for `localhost` and 127.0.0.1: (CA PEM, certificate PEM, key PEM).
fn test_pki() -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "entra-emulator Dovecot test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.subject_alt_names =
        vec![SanType::DnsName("localhost".try_into()?), SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]))];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_pki_names_localhost_and_the_loopback_address() {
        let (ca, cert, key) = test_pki().unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
        assert_ne!(ca, cert);
    }

    #[test]
    fn the_chosen_ports_are_never_the_same_port_twice() {
        // Choosing one port at a time (bind, read, drop) hands the same port out again now and then; CI once
        // failed with Dovecot's "duplicate listener". Held together, four ports are always four.
        for _ in 0..500 {
            let ports = distinct_free_ports::<4>().unwrap();
            let unique: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
            assert_eq!(unique.len(), 4, "{ports:?}");
        }
    }
}

#[cfg(test)]
mod rig_tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// Starts and stops the real thing (skipped like [`Dovecot::start`]): listeners up, the CA file written, the
    /// demo users' mailboxes made, no error in the log; after drop the ports are closed.
    #[test]
    fn starts_listens_and_stops() {
        let emu = Emulator::start_blocking(crate::Config::default_demo()).unwrap();
        let Some(dc) = Dovecot::start(&emu).unwrap() else { return };
        let p = dc.ports();
        for port in [p.imaps, p.imap_starttls, p.pop3s, p.submission, p.relay] {
            assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "port {port}\n{}", dc.log());
        }
        assert_eq!(std::fs::read_to_string(dc.ca_file()).unwrap(), dc.ca_pem());
        assert!(dc.mailboxes().iter().any(|m| m == "taro@contoso.example"), "{:?}", dc.mailboxes());
        assert!(dc.dir().join("mail/taro@contoso.example/Maildir/new").is_dir());
        let args = dc.endpoint_args();
        assert_eq!(args[0], "--imap");
        assert_eq!(args[1], format!("127.0.0.1:{}:tls", p.imaps));
        assert_eq!(args[5], format!("127.0.0.1:{}:starttls", p.submission));
        let conf = std::fs::read_to_string(dc.dir().join("oauth2.conf.ext")).unwrap();
        assert!(conf.contains(&emu.access_token_issuer(crate::DEMO_TENANT_ID)), "{conf}");
        // Implicit TLS: the IMAP port answers nothing in clear text (a TLS server waits for the ClientHello).
        let mut s = TcpStream::connect(("127.0.0.1", p.imaps)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 16];
        assert!(std::io::Read::read(&mut s, &mut buf).is_err(), "plain greeting on the TLS port");
        // The other IMAP port greets in clear text and offers STARTTLS.
        let mut greeting = String::new();
        BufReader::new(TcpStream::connect(("127.0.0.1", p.imap_starttls)).unwrap()).read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK") && greeting.contains("STARTTLS"), "{greeting}");
        // Submission greets in clear text and offers STARTTLS.
        let s = TcpStream::connect(("127.0.0.1", p.submission)).unwrap();
        let mut wr = s.try_clone().unwrap();
        let mut rd = BufReader::new(s);
        let mut line = String::new();
        rd.read_line(&mut line).unwrap();
        assert!(line.starts_with("220 "), "{line}");
        wr.write_all(b"EHLO me\r\n").unwrap();
        let mut ehlo = String::new();
        while !ehlo.lines().last().unwrap_or("").starts_with("250 ") {
            rd.read_line(&mut ehlo).unwrap();
        }
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        let log = dc.log();
        assert!(!log.contains("Fatal") && !log.contains("Error:"), "{log}");
        let pid = dc.child.as_ref().unwrap().id();
        drop(dc);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat.contains(") Z ")
            }
        );
        assert!(TcpStream::connect(("127.0.0.1", p.imaps)).is_err(), "still listening after drop");
    }
}
