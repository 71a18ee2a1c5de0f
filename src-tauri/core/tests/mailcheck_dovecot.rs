//! The connection check against a real Dovecot 2.3 (IMAP, POP3, submission) that validates the
//! entra emulator's access tokens locally with the emulator's public key: the shared rig
//! `entra_emulator::dovecot` (Dovecot's `oauth2` passdb with local JWT validation).
//!
//! TLS is real: the rig makes a test CA and a `localhost`/127.0.0.1 certificate at start; IMAP and
//! POP3 run on implicit-TLS ports, SMTP (submission) and a second IMAP port use STARTTLS; the
//! checker trusts the test CA through `CheckOptions::extra_root_pem` only. Submission relays to
//! the rig's relay, which delivers into the mailboxes (the check sends nothing).
//!
//! Each test has its own emulator, store, keychain and Dovecot. Needs the `dovecot` binary
//! (packages dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-lmtpd, installed by
//! scripts/test.sh). Without it the tests FAIL, unless `EXO_SKIP_DOVECOT=1` is set (stricter than
//! `Dovecot::start`, which skips when the binary is missing).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entra_emulator::dovecot::Dovecot;
use entra_emulator::{Config, Emulator, Keys};
use exo_setup_core::audience::{AllowedEndpoint, EndpointsOrigin};
use exo_setup_core::auth::Auth;
use exo_setup_core::keychain::{MemoryKeychain, Secret, TokenStore};
use exo_setup_core::mailcheck::{
    check_account, check_imap, check_pop3, check_smtp, last_verification, xoauth2_blob, CheckOptions, MailProtocol,
    ProtocolCheck, Timeouts,
};
use exo_setup_core::model::{AccountStatus, Endpoint, ReceiveProtocol, Security};
use exo_setup_core::{ErrorKind, Store};

/// `ep` as an endpoint set on this computer (the rule of `exo_setup_core::audience` allows it).
fn local(ep: &Endpoint) -> AllowedEndpoint {
    AllowedEndpoint::permit(ep, "", EndpointsOrigin::Local, &[]).expect("set locally")
}

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

// ---------------------------------------------------------------------------------------------
// Log capture (every log line at TRACE, dependencies' `log` records included).

mod common;
use common::{captured_logs, logs};

// ---------------------------------------------------------------------------------------------
// The set-up: emulator, store with a "Dovecot" server, two signed-in accounts, Dovecot.

struct Env {
    _dir: tempfile::TempDir,
    _emu: Emulator,
    store: Arc<Store>,
    auth: Arc<Auth>,
    dc: Dovecot,
}

impl Env {
    fn ep(&self, port: u16, security: Security) -> Endpoint {
        Endpoint { host: "localhost".into(), port, security }
    }
    fn imaps(&self) -> Endpoint {
        self.ep(self.dc.ports().imaps, Security::Tls)
    }
    fn pop3s(&self) -> Endpoint {
        self.ep(self.dc.ports().pop3s, Security::Tls)
    }
    fn submission(&self) -> Endpoint {
        self.ep(self.dc.ports().submission, Security::Starttls)
    }
    fn opts(&self) -> CheckOptions {
        CheckOptions {
            timeouts: Timeouts::all(Duration::from_secs(10)),
            extra_root_pem: Some(self.dc.ca_pem().to_owned()),
        }
    }
    async fn token(&self, address: &str) -> Secret {
        self.auth.access_token(address).await.unwrap().token
    }
    /// The three checks of `address` with `token`.
    async fn all_three(&self, address: &str, token: &Secret) -> [ProtocolCheck; 3] {
        let o = self.opts();
        let (imap, pop, smtp) = (local(&self.imaps()), local(&self.pop3s()), local(&self.submission()));
        let (a, b, c) = tokio::join!(
            check_imap(&imap, address, token, &o),
            check_pop3(&pop, address, token, &o),
            check_smtp(&smtp, address, token, &o)
        );
        [a, b, c]
    }
}

async fn env() -> Option<Env> {
    let bin = common::dovecot_or_skip()?;
    logs();
    let (emu, dc) = common::emulator_and_dovecot(&bin, Config::default_demo()).await;
    let (dir, store) =
        common::dovecot_store(&emu, &dc, &[(TARO, ReceiveProtocol::Imap), (HANAKO, ReceiveProtocol::Pop3)]).await;
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let auth = Arc::new(Auth::new(store.clone(), tokens));
    common::sign_in(&auth, TARO).await;
    common::sign_in(&auth, HANAKO).await;
    Some(Env { _dir: dir, _emu: emu, store, auth, dc })
}

/// Re-signs the claims of `token` (edited by `edit`) with `keys`.
fn resign(token: &Secret, keys: &Keys, edit: impl FnOnce(&mut serde_json::Value)) -> Secret {
    let payload = token.expose().split('.').nth(1).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    edit(&mut claims);
    Secret::new(keys.sign(&claims))
}

fn assert_refused(checks: &[ProtocolCheck], kind: ErrorKind, dc: &Dovecot) {
    for c in checks {
        assert!(!c.ok, "{c:?}\n{}", dc.log());
        assert_eq!(c.error.as_ref().unwrap().kind, kind, "{c:?}\n{}", dc.log());
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_account_verifies_imap_pop3_and_smtp_over_tls_and_records_it() {
    let Some(e) = env().await else { return };
    let opts = e.opts();

    let report = check_account(&e.auth, TARO, &opts).await.unwrap();
    assert!(report.verified, "{report:#?}\n{}", e.dc.log());
    let protocols: Vec<_> = report.checks.iter().map(|c| c.protocol).collect();
    assert_eq!(protocols, [MailProtocol::Imap, MailProtocol::Smtp]);
    assert_eq!(report.checks[0].server, format!("localhost:{}", e.dc.ports().imaps));
    assert_eq!(report.checks[0].security, Security::Tls);
    assert_eq!(report.checks[1].security, Security::Starttls);

    let report = check_account(&e.auth, HANAKO, &opts).await.unwrap();
    assert!(report.verified, "{report:#?}\n{}", e.dc.log());
    let protocols: Vec<_> = report.checks.iter().map(|c| c.protocol).collect();
    assert_eq!(protocols, [MailProtocol::Pop3, MailProtocol::Smtp]);

    // Recorded: status verified, time and protocols, an audit entry without a token.
    let row = exo_setup_core::accounts::find_by_address(&e.store.conn(), HANAKO).unwrap().unwrap();
    assert_eq!(row.status, AccountStatus::Verified);
    assert!(row.has_sign_in && row.can_check, "{row:?}");
    // The report carries the account as recorded, so the UI never works the status out itself.
    assert_eq!(report.account.as_ref(), Some(&row));
    let v = last_verification(&e.store.conn(), HANAKO).unwrap().unwrap();
    assert_eq!(v.verified_at, report.checked_at);
    assert_eq!(v.protocols, [MailProtocol::Pop3, MailProtocol::Smtp]);
    let audit = exo_setup_core::store::list_audit(&e.store.conn(), 50).unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "account.check").count(), 2);

    // No token or XOAUTH2 blob in the report, the audit log, the database file or any log line.
    let (taro, hanako) = (e.token(TARO).await, e.token(HANAKO).await);
    let shown = format!("{report:?} {} {audit:?} {}", serde_json::to_string(&report).unwrap(), captured_logs());
    let db = std::fs::read(e.store.path()).unwrap();
    for (address, t) in [(TARO, &taro), (HANAKO, &hanako)] {
        let blob = xoauth2_blob(address, t);
        assert!(!shown.contains(t.expose()) && !shown.contains(blob.expose()), "a secret was shown");
        assert!(!db.windows(40).any(|w| w == &t.expose().as_bytes()[..40]), "a token in the database file");
    }
    assert!(captured_logs().contains("mail check passed"), "the capture works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_over_starttls_passes_and_an_untrusted_certificate_is_refused() {
    let Some(e) = env().await else { return };
    let token = e.token(TARO).await;
    let starttls = e.ep(e.dc.ports().imap_starttls, Security::Starttls);
    let c = check_imap(&local(&starttls), TARO, &token, &e.opts()).await;
    assert!(c.ok, "{c:?}\n{}", e.dc.log());

    // Without the test CA the certificate is not trusted: nothing is sent.
    let platform_only = CheckOptions { extra_root_pem: None, ..e.opts() };
    for c in [
        check_imap(&local(&e.imaps()), TARO, &token, &platform_only).await,
        check_imap(&local(&starttls), TARO, &token, &platform_only).await,
        check_smtp(&local(&e.submission()), TARO, &token, &platform_only).await,
    ] {
        let err = c.error.as_ref().unwrap_or_else(|| panic!("{c:?}"));
        assert_eq!(err.kind, ErrorKind::MailTlsCertificate, "{c:?}");
        assert!(err.message.contains("not issued by a certificate authority"), "{}", err.message);
    }
    // The right CA but another host name (127.0.0.1 is in the certificate; 127.0.0.2 is not a
    // listener, so use the IP the certificate names and check it passes).
    let by_ip = Endpoint { host: "127.0.0.1".into(), ..e.imaps() };
    assert!(check_imap(&local(&by_ip), TARO, &token, &e.opts()).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_another_mailbox_is_refused_on_all_three() {
    let Some(e) = env().await else { return };
    let taro = e.token(TARO).await;
    let checks = e.all_three(HANAKO, &taro).await;
    assert_refused(&checks, ErrorKind::MailAuthFailed, &e.dc);
    assert!(e.dc.log().contains("did not match"), "{}", e.dc.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_on_all_three() {
    let Some(e) = env().await else { return };
    let now = chrono::Utc::now().timestamp();
    let expired = resign(&e.token(TARO).await, &Keys::test_only(), |c| {
        c["iat"] = (now - 7200).into();
        c["nbf"] = (now - 7200).into();
        c["exp"] = (now - 3600).into();
    });
    let checks = e.all_three(TARO, &expired).await;
    assert_refused(&checks, ErrorKind::MailAuthFailed, &e.dc);
    assert!(e.dc.log().to_ascii_lowercase().contains("expired"), "{}", e.dc.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_or_another_key_is_refused_on_all_three() {
    let Some(e) = env().await else { return };
    let token = e.token(TARO).await;
    // The emulator's claims, signed by a key Dovecot does not know.
    let foreign = resign(&token, &Keys::generate().unwrap(), |_| {});
    assert_refused(&e.all_three(TARO, &foreign).await, ErrorKind::MailAuthFailed, &e.dc);
    // The emulator's token with its signature altered.
    let mut forged: Vec<char> = token.expose().chars().collect();
    let i = forged.len() - 20;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged = Secret::new(forged.into_iter().collect::<String>());
    assert_refused(&e.all_three(TARO, &forged).await, ErrorKind::MailAuthFailed, &e.dc);
    // Dovecot 2.3.19 logs "Bad signature" (later versions "Incorrect JWT signature").
    let log = e.dc.log();
    assert!(
        log.contains("not found") && (log.contains("Bad signature") || log.contains("Incorrect JWT signature")),
        "{log}"
    );
}
