//! Receipts, both sides, against the real Dovecot rig (`entra_emulator::dovecot`): the
//! administrator's app reads receipts and delivery failure notices from its own mailbox over IMAP
//! with XOAUTH2, records them and moves them out of the inbox; a user's app sends its receipt
//! over its own SMTP session, once.
//!
//! Delivered mail is simulated by writing messages straight into the administrator's Maildir
//! (`<dir>/mail/<address>/Maildir/new/`), as a delivery agent would.
//!
//! Needs the `dovecot` binary (scripts/test.sh installs it); without it the tests FAIL unless
//! `EXO_SKIP_DOVECOT=1` is set.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::dovecot::Dovecot;
use entra_emulator::{Config, Emulator};
use exo_setup_core::auth::Auth;
use exo_setup_core::invite::ReceiptRequest;
use exo_setup_core::keychain::{MemoryKeychain, TokenStore};
use exo_setup_core::mailcheck::{CheckOptions, MailProtocol, Timeouts};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::policy::Policy;
use exo_setup_core::rollout::receipt::{self, Receipt, ReceiptEvent};
use exo_setup_core::rollout::{inbox, outbox, plan_receipts, read_receipts, send_receipt, settings, MailLanguage};
use exo_setup_core::Store;

mod common;

const ADMIN: &str = "admin@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const JIRO: &str = "jiro@contoso.example";
const SABURO: &str = "saburo@contoso.example";
const UNKNOWN_CODE: &str = "ffffffffffffffffffffffffffffffff";
/// The receipt code in the Postfix fixture, replaced by the account's.
const FIXTURE_CODE: &str = "0123456789abcdef0123456789abcdef";
/// The Message-ID the Exchange fixture quotes.
const NDR_MESSAGE_ID: &str = "<9a8b7c6d5e4f40312233445566778899@contoso.example>";

struct Env {
    _dir: tempfile::TempDir,
    _emu: Emulator,
    store: Arc<Store>,
    tokens: Arc<dyn TokenStore>,
    auth: Arc<Auth>,
    dc: Dovecot,
}

impl Env {
    fn opts(&self) -> CheckOptions {
        CheckOptions {
            timeouts: Timeouts::all(Duration::from_secs(10)),
            extra_root_pem: Some(self.dc.ca_pem().to_owned()),
        }
    }

    fn maildir(&self, address: &str) -> PathBuf {
        self.dc.dir().join("mail").join(address).join("Maildir")
    }

    /// Delivers `raw` to `address`'s inbox, as a delivery agent would.
    fn deliver(&self, address: &str, name: &str, raw: &[u8]) {
        let path = self.maildir(address).join("new").join(format!("{name}.exo-test.localhost"));
        std::fs::write(&path, raw).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    fn account_id(&self, address: &str) -> i64 {
        exo_setup_core::accounts::find_by_address(&self.store.conn(), address).unwrap().unwrap().id
    }

    fn code(&self, address: &str) -> String {
        let id = self.account_id(address);
        outbox::receipt_code(&self.store.conn(), id).unwrap()
    }

    /// (verified_at, protocols, signed_out_at, bounced_at, bounce_status, os_family) of `address`.
    fn rollout(&self, address: &str) -> [Option<String>; 6] {
        let id = self.account_id(address);
        self.store
            .conn()
            .query_row(
                "SELECT verified_at, protocols, signed_out_at, bounced_at, bounce_status, os_family
                 FROM rollout WHERE account_id = ?1",
                [id],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]),
            )
            .unwrap()
    }
}

/// Message files in a Maildir folder (`cur` and `new`).
fn messages(folder: &Path) -> Vec<Vec<u8>> {
    ["cur", "new"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(folder.join(sub)).ok())
        .flat_map(|d| d.flatten().map(|e| std::fs::read(e.path()).unwrap()).collect::<Vec<_>>())
        .collect()
}

fn holds(mails: &[Vec<u8>], needle: &str) -> usize {
    mails.iter().filter(|m| common::holds(m, needle)).count()
}

async fn env() -> Option<Env> {
    let bin = common::dovecot_or_skip()?;
    common::logs();
    let (emu, dc) = common::emulator_and_dovecot(&bin, Config::default_demo()).await;
    let accounts: Vec<_> = [ADMIN, HANAKO, JIRO, SABURO].map(|a| (a, ReceiveProtocol::Imap)).into();
    let (dir, store) = common::dovecot_store(&emu, &dc, &accounts).await;
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let auth = Arc::new(Auth::new(store.clone(), tokens.clone()));
    common::sign_in(&auth, ADMIN).await;
    common::sign_in(&auth, HANAKO).await;
    settings::set(&store.conn(), ADMIN, MailLanguage::Ja).unwrap();
    Some(Env { _dir: dir, _emu: emu, store, tokens, auth, dc })
}

fn receipt_mail(code: &str, event: ReceiptEvent, mailbox: &str) -> Vec<u8> {
    let r = Receipt::new(code, event, mailbox, &[MailProtocol::Imap, MailProtocol::Smtp]);
    receipt::compose(&r, mailbox, ADMIN, MailLanguage::Ja).unwrap().formatted()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_bounces_are_recorded_moved_out_and_never_counted_twice() {
    let Some(e) = env().await else { return };
    let opts = e.opts();
    let (hanako, jiro) = (e.code(HANAKO), e.code(JIRO));
    e.code(SABURO);
    let saburo = e.account_id(SABURO);
    // Saburo's invitation was sent with the Message-ID the Exchange NDR quotes.
    e.store
        .conn()
        .execute(
            "INSERT INTO outbox (account_id, recipient, kind, state, message_id, queued_at, sent_at, sent_ms)
             VALUES (?1, ?2, 'invitation', 'sent', ?3, '2024-06-03T01:00:00Z', '2024-06-03T01:00:02Z', ?4)",
            rusqlite::params![saburo, SABURO, NDR_MESSAGE_ID, chrono::Utc::now().timestamp_millis()],
        )
        .unwrap();

    let postfix = include_str!("fixtures/rollout/postfix-bounce.eml").replace(FIXTURE_CODE, &jiro);
    let exchange = include_str!("fixtures/rollout/exchange-ndr.eml");
    // A report about some other mail of the administrator's: not ours, left alone.
    let theirs = include_str!("fixtures/rollout/postfix-bounce.eml")
        .replace(&format!("X-Exo-Setup-Receipt: {FIXTURE_CODE}\n"), "")
        .replace("Message-ID: <4f1c0e2a9b7d4e61a3c5d8e9f0a1b2c3@contoso.example>", "Message-ID: <own@contoso.example>");
    e.deliver(ADMIN, "1", &receipt_mail(&hanako, ReceiptEvent::Verified, HANAKO));
    e.deliver(ADMIN, "2", postfix.as_bytes());
    e.deliver(ADMIN, "3", exchange.as_bytes());
    e.deliver(ADMIN, "4", &receipt_mail(UNKNOWN_CODE, ReceiptEvent::Verified, HANAKO));
    // Hanako's code, but about another mailbox: forged, changes nothing.
    e.deliver(ADMIN, "5", &receipt_mail(&hanako, ReceiptEvent::SignedOut, JIRO));
    e.deliver(ADMIN, "6", theirs.as_bytes());

    let s = read_receipts(&e.auth, &opts).await.unwrap_or_else(|err| panic!("{err:?}\n{}", e.dc.log()));
    assert_eq!(
        s,
        inbox::ReadSummary {
            read: 6,
            verified: 1,
            signed_out: 0,
            bounced: 2,
            unmatched: 2,
            other: 1,
            self_registered: 0
        },
        "{}",
        e.dc.log()
    );

    let [verified, protocols, signed_out, bounced, _, os] = e.rollout(HANAKO);
    assert!(verified.is_some() && signed_out.is_none() && bounced.is_none());
    assert_eq!(protocols.as_deref(), Some("imap smtp"));
    assert!(os.is_some());
    let [verified, _, signed_out, bounced, status, _] = e.rollout(JIRO);
    assert!(verified.is_none() && signed_out.is_none() && bounced.is_some());
    assert!(status.unwrap().starts_with("5.1.1 550 5.1.1 <nobody@contoso.example>"));
    let [_, _, _, bounced, status, _] = e.rollout(SABURO);
    assert!(bounced.is_some());
    assert!(status.unwrap().starts_with("5.1.10 "));
    let st = settings::get(&e.store.conn()).unwrap().unwrap();
    assert_eq!(st.unmatched_receipts, 2);
    assert!(st.last_read_at.is_some());
    let audit = exo_setup_core::store::list_audit(&e.store.conn(), 50).unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "rollout.read").count(), 1);

    // Moved: the five of ours are in the folder; the inbox keeps the welcome mail and theirs.
    let inbox_mails = messages(&e.maildir(ADMIN));
    let folder = messages(&e.maildir(ADMIN).join(format!(".{}", inbox::FOLDER)));
    assert_eq!(folder.len(), 5, "{}", e.dc.log());
    assert_eq!(inbox_mails.len(), 2);
    assert_eq!(holds(&inbox_mails, "<own@contoso.example>"), 1);
    assert_eq!(holds(&folder, UNKNOWN_CODE), 1);
    assert_eq!(holds(&folder, NDR_MESSAGE_ID), 1);

    // Reading again finds only theirs, and counts nothing twice.
    let jiro_bounced_at = e.rollout(JIRO)[3].clone();
    let again = read_receipts(&e.auth, &opts).await.unwrap();
    assert_eq!(again, inbox::ReadSummary { read: 1, other: 1, ..Default::default() });
    assert_eq!(settings::get(&e.store.conn()).unwrap().unwrap().unmatched_receipts, 2);
    assert_eq!(e.rollout(JIRO)[3], jiro_bounced_at);

    // Later, Hanako signs out on her computer.
    e.deliver(ADMIN, "7", &receipt_mail(&hanako, ReceiptEvent::SignedOut, HANAKO));
    let later = read_receipts(&e.auth, &opts).await.unwrap();
    assert_eq!(later, inbox::ReadSummary { read: 2, signed_out: 1, other: 1, ..Default::default() });
    let status =
        exo_setup_core::rollout::status::status(&e.store.conn(), 7, chrono::Utc::now().timestamp_millis()).unwrap();
    let state = |a: &str| status.rows.iter().find(|r| r.address == a).unwrap().state;
    use exo_setup_core::rollout::status::RolloutState;
    assert_eq!(state(HANAKO), RolloutState::SignedOut);
    assert_eq!(state(JIRO), RolloutState::Bounced);
    assert_eq!(state(SABURO), RolloutState::Bounced);
    assert_eq!(status.unmatched_receipts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sends_each_receipt_once_and_only_when_asked_and_allowed() {
    let Some(e) = env().await else { return };
    let opts = e.opts();
    let protocols = [MailProtocol::Imap, MailProtocol::Smtp];
    // No invitation with receipts: nothing to send.
    assert!(!send_receipt(&e.auth, HANAKO, ReceiptEvent::Verified, &protocols, &opts).await.unwrap());

    let hanako = e.account_id(HANAKO);
    let request = ReceiptRequest { to: ADMIN.into(), code: FIXTURE_CODE.into() };
    plan_receipts(&e.store.conn(), hanako, &request).unwrap();
    // The policy says no: nothing is sent, nothing recorded.
    let mut quiet = Auth::new(e.store.clone(), e.tokens.clone());
    quiet.set_policy(Policy { send_receipts: Some(false), ..Policy::default() });
    assert!(!send_receipt(&quiet, HANAKO, ReceiptEvent::Verified, &protocols, &opts).await.unwrap());

    let sent = send_receipt(&e.auth, HANAKO, ReceiptEvent::Verified, &protocols, &opts)
        .await
        .unwrap_or_else(|err| panic!("{err:?}\n{}", e.dc.log()));
    assert!(sent);
    assert!(!send_receipt(&e.auth, HANAKO, ReceiptEvent::Verified, &protocols, &opts).await.unwrap(), "once");
    assert!(send_receipt(&e.auth, HANAKO, ReceiptEvent::SignedOut, &protocols, &opts).await.unwrap());
    let (verified_sent, signed_out_sent): (Option<String>, Option<String>) = e
        .store
        .conn()
        .query_row(
            "SELECT verified_sent_at, signed_out_sent_at FROM receipt_plan WHERE account_id = ?1",
            [hanako],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(verified_sent.is_some() && signed_out_sent.is_some());

    // The same invitation again keeps what was sent; a new one (new code) sends again.
    plan_receipts(&e.store.conn(), hanako, &request).unwrap();
    assert!(!send_receipt(&e.auth, HANAKO, ReceiptEvent::Verified, &protocols, &opts).await.unwrap());
    let renewed = ReceiptRequest { to: ADMIN.into(), code: UNKNOWN_CODE.into() };
    plan_receipts(&e.store.conn(), hanako, &renewed).unwrap();
    assert!(send_receipt(&e.auth, HANAKO, ReceiptEvent::Verified, &protocols, &opts).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_with_the_organization_code_adds_its_mailbox_marked_self_registered() {
    let Some(e) = env().await else { return };
    let opts = e.opts();
    const SHIRO: &str = "shiro@contoso.example";
    const GORO: &str = "goro@contoso.example";
    let policy = Policy::default();
    exo_setup_core::self_service::set_enabled(&e.store.conn(), &policy, true).unwrap();
    let (made, inv) = exo_setup_core::self_service::organization_invitation(&e.store.conn(), &policy).unwrap();
    assert_eq!(made.receipt_to.as_deref(), Some(ADMIN), "receipts go to the rollout sender");
    let org_code = inv.receipts.unwrap().code;

    // Shiro set himself up from the organization invitation; his receipt comes from his mailbox.
    e.deliver(ADMIN, "1", &receipt_mail(&org_code, ReceiptEvent::Verified, SHIRO));
    // Someone else's mailbox (jiro) speaking for goro with the same code: not from the mailbox.
    let forged = Receipt::new(&org_code, ReceiptEvent::Verified, GORO, &[MailProtocol::Imap]);
    e.deliver(ADMIN, "2", &receipt::compose(&forged, JIRO, ADMIN, MailLanguage::Ja).unwrap().formatted());
    let s = read_receipts(&e.auth, &opts).await.unwrap_or_else(|err| panic!("{err:?}\n{}", e.dc.log()));
    assert_eq!((s.self_registered, s.unmatched), (1, 1), "{s:?}");
    let shiro = exo_setup_core::accounts::find_by_address(&e.store.conn(), SHIRO).unwrap().expect("shiro added");
    let flag: i64 = e
        .store
        .conn()
        .query_row("SELECT self_registered FROM rollout WHERE account_id = ?1", [shiro.id], |r| r.get(0))
        .unwrap();
    assert_eq!(flag, 1);
    assert!(e.rollout(SHIRO)[0].is_some(), "verified");
    assert!(exo_setup_core::accounts::find_by_address(&e.store.conn(), GORO).unwrap().is_none());

    // Self-service turned off: the same code adds nobody.
    exo_setup_core::self_service::set_enabled(&e.store.conn(), &policy, false).unwrap();
    e.deliver(ADMIN, "3", &receipt_mail(&org_code, ReceiptEvent::Verified, "rokuro@contoso.example"));
    let s = read_receipts(&e.auth, &opts).await.unwrap();
    assert_eq!((s.self_registered, s.unmatched), (0, 1), "{s:?}");
    assert!(exo_setup_core::accounts::find_by_address(&e.store.conn(), "rokuro@contoso.example").unwrap().is_none());
}
