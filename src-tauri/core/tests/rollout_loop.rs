//! The whole rollout loop through a real Dovecot (submission → LMTP → IMAP) and the emulator, with
//! two computers — two stores and two keychains: the administrator mails the invitations; the user
//! opens the mailed link, signs in, and the connection check sends the receipt; the administrator
//! reads it and the status turns "verified". Also: a bounce, a forged receipt, and a user whose
//! policy turns receipts off.
//!
//! Needs Dovecot (see `mailcheck_dovecot.rs`); without it the tests FAIL unless
//! `EXO_SKIP_DOVECOT=1`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::dovecot::{Dovecot, RelayFault};
use entra_emulator::{Config, Emulator};
use exo_setup_core::auth::Auth;
use exo_setup_core::keychain::{MemoryKeychain, TokenStore};
use exo_setup_core::mailcheck::{check_account, CheckOptions, MailProtocol, Timeouts};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::policy::{self, Policy};
use exo_setup_core::rollout::status::{self, RolloutState};
use exo_setup_core::rollout::{
    outbox, read_receipts, receipt, send_queue, send_receipt, settings, MailKind, MailLanguage, Receipt, ReceiptEvent,
    Recipients, SendOptions,
};
use exo_setup_core::{invite, Store};

mod common;

const ADMIN: &str = "admin@contoso.example";
const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

struct Rig {
    _dir: tempfile::TempDir,
    emu: Emulator,
    admin_store: Arc<Store>,
    admin: Arc<Auth>,
    dc: Dovecot,
}

fn opts(dc: &Dovecot) -> CheckOptions {
    CheckOptions { timeouts: Timeouts::all(Duration::from_secs(10)), extra_root_pem: Some(dc.ca_pem().to_owned()) }
}

async fn rig() -> Option<Rig> {
    let bin = common::dovecot_or_skip()?;
    let (emu, dc) = common::emulator_and_dovecot(&bin, Config::default_demo()).await;
    let accounts = [ADMIN, TARO, HANAKO].map(|a| (a, ReceiveProtocol::Imap));
    let (dir, store) = common::dovecot_store(&emu, &dc, &accounts).await;
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let admin = Arc::new(Auth::new(store.clone(), tokens));
    common::sign_in(&admin, ADMIN).await;
    settings::set(&store.conn(), ADMIN, MailLanguage::En).unwrap();
    Some(Rig { _dir: dir, emu, admin_store: store, admin, dc })
}

/// The user's computer: its own store and keychain, and the policy IT deployed there (which lists
/// the test mail host: an invitation's servers are never trusted by themselves).
struct UserComputer {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    auth: Arc<Auth>,
    policy: Policy,
}

fn user_computer(receipts: bool) -> UserComputer {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    let json = format!(r#"{{"version": 1, "allowedMailHosts": ["localhost"], "sendReceipts": {receipts}}}"#);
    let policy = policy::parse(&json, std::path::Path::new("/etc/exo-setup/policy.json")).unwrap();
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let mut auth = Auth::new(store.clone(), tokens);
    auth.set_policy(policy.clone());
    let auth = Arc::new(auth);
    UserComputer { _dir: dir, store, auth, policy }
}

impl Rig {
    async fn mail_invitations(&self, to: &[&str]) {
        let r = Recipients::Addresses(to.iter().map(|s| s.to_string()).collect());
        outbox::enqueue(&mut self.admin_store.conn(), &r, MailKind::Invitation, false).unwrap();
        let o = SendOptions { check: opts(&self.dc), ..SendOptions::default() };
        let s = send_queue(&self.admin, &o, &AtomicBool::new(false), &|_| {}).await.unwrap();
        assert_eq!(s.sent as usize, to.len(), "{}", self.dc.log());
    }

    /// The link in the newest invitation in `address`'s INBOX, as the user clicks it.
    fn mailed_link(&self, address: &str) -> String {
        let new = self.dc.dir().join("mail").join(address).join("Maildir/new");
        let mail = std::fs::read_dir(new)
            .unwrap()
            .flatten()
            .map(|e| std::fs::read(e.path()).unwrap())
            .find(|m| common::holds(m, "X-Exo-Setup-Receipt"))
            .expect("an invitation arrived");
        let parsed = mail_parser::MessageParser::default().parse(&mail).unwrap();
        let text = parsed.body_text(0).unwrap().into_owned();
        text.split_whitespace().find(|w| w.starts_with("dev.exosetup.wizard://")).unwrap().to_owned()
    }

    fn state_of(&self, address: &str) -> status::RolloutRow {
        let st = status::status(&self.admin_store.conn(), 7, chrono::Utc::now().timestamp_millis()).unwrap();
        st.rows.into_iter().find(|r| r.address == address).unwrap()
    }
}

/// The user's side of step 4: open the mailed link, accept, sign in, check.
async fn set_up(rig: &Rig, user: &UserComputer, address: &str) -> bool {
    let inv = invite::parse(&rig.mailed_link(address)).unwrap();
    let preview = invite::preview(&user.store.conn(), &user.policy, &inv, "inv-1".into()).unwrap();
    invite::accept(&user.store, &user.policy, &inv, false).await.unwrap();
    common::sign_in(&user.auth, address).await;
    let report = check_account(&user.auth, address, &opts(&rig.dc)).await.unwrap();
    assert!(report.verified, "{report:#?}\n{}", rig.dc.log());
    preview.receipt_to.is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mailed_invitation_comes_back_as_verified_on_the_admins_screen() {
    let Some(rig) = rig().await else { return };
    rig.mail_invitations(&[TARO]).await;
    assert_eq!(rig.state_of(TARO).state, RolloutState::Invited);

    let user = user_computer(true);
    assert!(set_up(&rig, &user, TARO).await, "the confirmation screen announced the receipt");
    // The check sent the receipt to the admin's mailbox; a second check sends nothing more.
    let receipts_in_inbox = || {
        std::fs::read_dir(rig.dc.dir().join("mail").join(ADMIN).join("Maildir/new"))
            .map(|d| {
                d.flatten().filter(|e| common::holds(&std::fs::read(e.path()).unwrap(), "exo-setup-receipt")).count()
            })
            .unwrap_or(0)
    };
    assert_eq!(receipts_in_inbox(), 1);
    check_account(&user.auth, TARO, &opts(&rig.dc)).await.unwrap();
    assert_eq!(receipts_in_inbox(), 1, "one receipt per event");

    let read = read_receipts(&rig.admin, &opts(&rig.dc)).await.unwrap();
    assert_eq!((read.verified, read.unmatched, read.bounced), (1, 0, 0), "{read:?}");
    let row = rig.state_of(TARO);
    assert_eq!(row.state, RolloutState::Verified);
    assert_eq!(row.protocols.as_deref(), Some("imap smtp"));
    assert!(row.verified_at.is_some());
    // Read again: nothing new, nothing counted twice.
    let again = read_receipts(&rig.admin, &opts(&rig.dc)).await.unwrap();
    assert_eq!((again.verified, again.read), (0, 0));
    let _ = &rig.emu;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounce_and_a_forged_receipt_are_told_apart() {
    let Some(rig) = rig().await else { return };
    rig.dc.relay_faults().set(HANAKO, RelayFault::Bounce);
    rig.mail_invitations(&[TARO, HANAKO]).await;

    // A forged receipt: taro's mailbox sends one with a made-up code.
    let user = user_computer(true);
    set_up(&rig, &user, TARO).await;
    let forged = Receipt::new("ffffffffffffffffffffffffffffffff", ReceiptEvent::Verified, TARO, &[MailProtocol::Imap]);
    let mail = receipt::compose(&forged, TARO, ADMIN, MailLanguage::En).unwrap();
    // Delivered like any mail (the rig's Maildir; Dovecot serves it over IMAP).
    let forged_path = rig.dc.dir().join("mail").join(ADMIN).join("Maildir/new/1700000000.forged.localhost");
    std::fs::write(&forged_path, mail.formatted()).unwrap();
    std::fs::set_permissions(
        &forged_path,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666),
    )
    .unwrap();
    let o = opts(&rig.dc);

    let read = read_receipts(&rig.admin, &o).await.unwrap();
    assert_eq!((read.verified, read.bounced, read.unmatched), (1, 1, 1), "{read:?}");
    assert_eq!(rig.state_of(HANAKO).state, RolloutState::Bounced);
    assert!(rig.state_of(HANAKO).reply.unwrap().contains("5.1.1"));
    assert_eq!(rig.state_of(TARO).state, RolloutState::Verified);
    let unmatched: i64 =
        rig.admin_store.conn().query_row("SELECT unmatched_receipts FROM rollout_settings", [], |r| r.get(0)).unwrap();
    assert_eq!(unmatched, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_receipts_off_by_policy_nothing_is_sent_on_the_users_behalf() {
    let Some(rig) = rig().await else { return };
    rig.mail_invitations(&[TARO]).await;
    let user = user_computer(false);
    assert!(!set_up(&rig, &user, TARO).await, "no receipt announced");
    assert!(!send_receipt(&user.auth, TARO, ReceiptEvent::Verified, &[MailProtocol::Imap], &opts(&rig.dc))
        .await
        .unwrap());
    let relayed_from_taro = rig.dc.relayed().iter().filter(|r| r.from.eq_ignore_ascii_case(TARO)).count();
    assert_eq!(relayed_from_taro, 0);
    let read = read_receipts(&rig.admin, &opts(&rig.dc)).await.unwrap();
    assert_eq!(read.verified, 0);
    assert_eq!(rig.state_of(TARO).state, RolloutState::Invited);
}
