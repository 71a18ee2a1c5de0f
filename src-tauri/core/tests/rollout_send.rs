//! Invitations mailed from the administrator's mailbox through a real Dovecot (submission with
//! XOAUTH2 → the rig's relay → LMTP → the recipients' Maildirs), with the send queue in a real
//! SQLite file: what arrives, that nobody is mailed twice, pacing, 4xx and 5xx answers.
//!
//! Needs Dovecot (see `mailcheck_dovecot.rs`); without it the tests FAIL unless
//! `EXO_SKIP_DOVECOT=1`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use entra_emulator::config::UserConfig;
use entra_emulator::dovecot::{Dovecot, RelayFault};
use entra_emulator::{Config, Emulator, DEMO_TENANT_ID};
use exo_setup_core::auth::Auth;
use exo_setup_core::keychain::{MemoryKeychain, TokenStore};
use exo_setup_core::mailcheck::{CheckOptions, Timeouts};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::rollout::background;
use exo_setup_core::rollout::pacing::Window;
use exo_setup_core::rollout::status::{self, RolloutState};
use exo_setup_core::rollout::{
    outbox, send_queue, settings, MailKind, MailLanguage, Pacing, Recipients, SendOptions, SendSummary,
};
use exo_setup_core::{invite, ErrorKind, Store};

mod common;

const ADMIN: &str = "admin@contoso.example";
const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

struct Env {
    _dir: tempfile::TempDir,
    _emu: Emulator,
    store: Arc<Store>,
    auth: Arc<Auth>,
    dc: Dovecot,
}

fn extra_user(i: usize) -> String {
    format!("user{i:03}@contoso.example")
}

/// Emulator (with `extra` more users), Dovecot, a store with the Dovecot server, the admin, taro,
/// hanako and the extra users registered, the admin signed in and chosen as the sender.
async fn env(extra: usize) -> Option<Env> {
    let bin = common::dovecot_or_skip()?;
    let mut config = Config::default_demo();
    let tenant = config.tenants.iter_mut().find(|t| t.id == DEMO_TENANT_ID).unwrap();
    let template = tenant.users.iter().find(|u| u.upn == TARO).unwrap().clone();
    for i in 0..extra {
        let upn = extra_user(i);
        tenant.users.push(UserConfig { upn: upn.clone(), mail: Some(upn), oid: None, ..template.clone() });
    }
    let (emu, dc) = common::emulator_and_dovecot(&bin, config).await;
    let mut addresses = vec![ADMIN.to_owned(), TARO.to_owned(), HANAKO.to_owned()];
    addresses.extend((0..extra).map(extra_user));
    let accounts: Vec<_> = addresses.iter().map(|a| (a.as_str(), ReceiveProtocol::Imap)).collect();
    let (dir, store) = common::dovecot_store(&emu, &dc, &accounts).await;
    let tokens: Arc<dyn TokenStore> = Arc::new(MemoryKeychain::new());
    let auth = Arc::new(Auth::new(store.clone(), tokens));
    common::sign_in(&auth, ADMIN).await;
    settings::set(&store.conn(), ADMIN, MailLanguage::Ja).unwrap();
    Some(Env { _dir: dir, _emu: emu, store, auth, dc })
}

impl Env {
    fn opts(&self) -> SendOptions {
        SendOptions {
            check: CheckOptions {
                timeouts: Timeouts::all(Duration::from_secs(10)),
                extra_root_pem: Some(self.dc.ca_pem().to_owned()),
            },
            ..SendOptions::default()
        }
    }

    fn queue(&self, recipients: Recipients, resend: bool) -> outbox::Queued {
        outbox::enqueue(&mut self.store.conn(), &recipients, MailKind::Invitation, resend).unwrap()
    }

    async fn send(&self, opts: &SendOptions) -> SendSummary {
        send_queue(&self.auth, opts, &AtomicBool::new(false), &|_| {}).await.unwrap()
    }

    /// The mails in `address`'s INBOX (Maildir `new`) other than the rig's welcome message.
    fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        let new = self.dc.dir().join("mail").join(address).join("Maildir/new");
        let mut mails: Vec<Vec<u8>> = std::fs::read_dir(new)
            .map(|d| d.flatten().map(|e| std::fs::read(e.path()).unwrap()).collect())
            .unwrap_or_default();
        mails.retain(|m| common::holds(m, "X-Exo-Setup-Receipt"));
        mails
    }

    fn states(&self) -> Vec<(String, String, Option<String>)> {
        let conn = self.store.conn();
        let mut s = conn.prepare("SELECT recipient, state, reply FROM outbox ORDER BY id").unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_invitation_arrives_once_with_a_working_link_and_file() {
    let Some(e) = env(0).await else { return };
    let q = e.queue(Recipients::Addresses(vec![TARO.into(), HANAKO.into()]), false);
    assert_eq!((q.added, q.already_invited, q.already_pending), (2, 0, 0));
    let s = e.send(&e.opts()).await;
    assert_eq!((s.sent, s.failed, s.deferred, s.remaining), (2, 0, 0, 0), "{}", e.dc.log());

    for address in [TARO, HANAKO] {
        let mails = e.inbox(address);
        assert_eq!(mails.len(), 1, "{address}: one invitation");
        let mail = mail_parser::MessageParser::default().parse(&mails[0]).unwrap();
        assert_eq!(mail.from().unwrap().first().unwrap().address(), Some(ADMIN));
        // Japanese, as chosen, with the link and the attached file naming the same invitation.
        let text = mail.body_text(0).unwrap();
        assert!(text.contains("招待"), "{text}");
        let url = text.split_whitespace().find(|w| w.starts_with("dev.exosetup.wizard://")).unwrap();
        let inv = invite::parse(url).unwrap();
        assert_eq!(inv.address, address);
        let receipts = inv.receipts.expect("receipts go back to the sender");
        assert_eq!(receipts.to, ADMIN);
        let code: String = e
            .store
            .conn()
            .query_row(
                "SELECT receipt_code FROM rollout r JOIN mail_accounts a ON a.id = r.account_id WHERE a.address = ?1",
                [address],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(receipts.code, code);
    }
    // The admin's own mailbox got nothing, and the status says "invited".
    assert!(e.inbox(ADMIN).is_empty());
    let st = status::status(&e.store.conn(), 7, chrono::Utc::now().timestamp_millis()).unwrap();
    assert_eq!((st.counts.invited, st.counts.registered), (2, 0), "the sender is not one to invite");

    // Asking again mails nobody twice; only --resend does. "Everyone" never includes the sender.
    let q = e.queue(Recipients::All, false);
    assert_eq!((q.added, q.already_invited), (0, 2));
    let q = e.queue(Recipients::NotInvited, false);
    assert_eq!(q.added, 0);
    assert_eq!(e.send(&e.opts()).await.sent, 0);
    assert_eq!(e.inbox(TARO).len(), 1);
    let q = e.queue(Recipients::Addresses(vec![TARO.into()]), true);
    assert_eq!(q.added, 1);
    assert_eq!(e.send(&e.opts()).await.sent, 1);
    assert_eq!(e.inbox(TARO).len(), 2, "resent on request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_refusal_is_retried_and_a_permanent_one_fails_with_the_reply() {
    let Some(e) = env(0).await else { return };
    e.dc.relay_faults().set(TARO, RelayFault::Defer { times: 1 });
    e.dc.relay_faults().set(HANAKO, RelayFault::Reject);
    e.queue(Recipients::Addresses(vec![TARO.into(), HANAKO.into()]), false);

    // First run: taro deferred (its retry not due yet), hanako failed for good.
    let s = e.send(&e.opts()).await;
    assert_eq!((s.sent, s.deferred, s.failed, s.remaining), (0, 1, 1, 1), "{}", e.dc.log());
    let states = e.states();
    assert_eq!(states[0].1, "deferred");
    assert!(states[0].2.as_deref().unwrap().starts_with("451 4.3.0"), "{states:?}");
    assert_eq!(states[1].1, "failed");
    assert!(states[1].2.as_deref().unwrap().contains("5.1.1"), "{states:?}");
    assert!(e.inbox(TARO).is_empty() && e.inbox(HANAKO).is_empty());

    // Once due, the next run delivers taro's; hanako's is not tried again.
    let opts = SendOptions { retry_backoff: vec![], ..e.opts() };
    e.store.conn().execute("UPDATE outbox SET not_before_ms = 0 WHERE state = 'deferred'", []).unwrap();
    let s = e.send(&opts).await;
    assert_eq!((s.sent, s.failed, s.remaining), (1, 0, 0));
    assert_eq!(e.inbox(TARO).len(), 1);
    assert!(e.inbox(HANAKO).is_empty());
    let st = status::status(&e.store.conn(), 7, chrono::Utc::now().timestamp_millis()).unwrap();
    let hanako = st.rows.iter().find(|r| r.address == HANAKO).unwrap();
    assert_eq!(hanako.state, RolloutState::Failed);
    assert!(hanako.reply.as_deref().unwrap().contains("5.1.1"));
    assert_eq!(st.rows.iter().find(|r| r.address == TARO).unwrap().state, RolloutState::Invited);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timer_retries_only_the_deferred_mails_that_are_due_then_reads_the_receipts() {
    let Some(e) = env(0).await else { return };
    e.dc.relay_faults().set(TARO, RelayFault::Defer { times: 1 });
    e.queue(Recipients::Addresses(vec![TARO.into()]), false);
    let before = chrono::Utc::now().timestamp_millis();
    let s = e.send(&e.opts()).await;
    assert_eq!((s.sent, s.deferred), (0, 1), "{}", e.dc.log());
    // Deferred after its first try: due again in a minute.
    let not_before: i64 = e
        .store
        .conn()
        .query_row("SELECT not_before_ms FROM outbox WHERE state = 'deferred'", [], |r| r.get(0))
        .unwrap();
    let wait = not_before - before;
    assert!((60_000..75_000).contains(&wait), "waits {wait} ms");
    // Hanako's is queued, but the administrator did not press send.
    e.queue(Recipients::Addresses(vec![HANAKO.into()]), false);
    let cancel = AtomicBool::new(false);

    // Nothing due, nothing sent yet: the round does nothing.
    let u = background::round(&e.auth, &e.opts(), &cancel, &|_| {}).await;
    assert_eq!(u, background::RolloutUpdated::default());
    assert!(e.inbox(TARO).is_empty());

    // Once due: taro's alone is sent, then the receipts are read (invitations were sent).
    e.store.conn().execute("UPDATE outbox SET not_before_ms = 0 WHERE state = 'deferred'", []).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let u = background::round(&e.auth, &e.opts(), &cancel, &|p| seen.lock().unwrap().push(*p)).await;
    assert!(u.changed());
    let retried = u.retried.expect("the due mail was retried");
    assert_eq!((retried.sent, retried.deferred, retried.failed), (1, 0, 0), "{}", e.dc.log());
    assert_eq!(retried.remaining, 1, "hanako's still waits in the queue");
    assert_eq!(seen.lock().unwrap().last().map(|p| (p.sent, p.remaining)), Some((1, 0)));
    assert_eq!(e.inbox(TARO).len(), 1);
    assert!(e.inbox(HANAKO).is_empty());
    let states: Vec<(String, String)> = e.states().into_iter().map(|(r, s, _)| (r, s)).collect();
    assert_eq!(states, [(TARO.to_owned(), "sent".to_owned()), (HANAKO.to_owned(), "queued".to_owned())]);
    let read = u.read.expect("the receipts were read");
    assert_eq!(read.verified + read.bounced, 0);
    assert!(settings::get(&e.store.conn()).unwrap().unwrap().last_read_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_of_100_keeps_to_a_shortened_limit() {
    let Some(e) = env(100).await else { return };
    let q = e.queue(Recipients::Addresses((0..100).map(extra_user).collect()), false);
    assert_eq!(q.added, 100);
    // 25 a second stands for Exchange Online's 30 a minute.
    let window = Window { max: 25, per: Duration::from_secs(1) };
    let opts = SendOptions { pacing: Pacing { windows: vec![window] }, ..e.opts() };
    let progress_seen = std::sync::Mutex::new(Vec::new());
    let s =
        send_queue(&e.auth, &opts, &AtomicBool::new(false), &|p| progress_seen.lock().unwrap().push(*p)).await.unwrap();
    assert_eq!((s.sent, s.failed, s.remaining), (100, 0, 0), "{}", e.dc.log());
    let sent_ms: Vec<i64> = {
        let conn = e.store.conn();
        let mut q = conn.prepare("SELECT sent_ms FROM outbox ORDER BY sent_ms").unwrap();
        q.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    // In any one second, at most 25 were sent.
    for pair in sent_ms.windows(26) {
        assert!(pair[25] - pair[0] >= 1000, "26 mails within {} ms", pair[25] - pair[0]);
    }
    assert!(sent_ms[99] - sent_ms[0] >= 3000, "100 mails at 25 a second take at least 3 s");
    for i in 0..100 {
        assert_eq!(e.inbox(&extra_user(i)).len(), 1, "{}", extra_user(i));
    }
    // Progress went down to nothing, with an estimate while waiting.
    let seen = progress_seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().sent, 100);
    assert!(seen.iter().any(|p| p.eta_secs > 0), "an estimate while paced");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_signed_in_sender_nothing_is_queued_or_sent() {
    let Some(e) = env(0).await else { return };
    let err = settings::set(&e.store.conn(), TARO, MailLanguage::En).unwrap_err();
    assert_eq!(err.kind, ErrorKind::RolloutSenderNotSignedIn);
    let err = outbox::enqueue(
        &mut e.store.conn(),
        &Recipients::Addresses(vec![TARO.into(), "nobody@contoso.example".into()]),
        MailKind::Invitation,
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccountNotRegistered);
    assert_eq!(e.states().len(), 0, "an unknown address queues nothing");
    assert!(e.dc.relayed().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_of_the_sender_stops_the_run_and_marks_nobody_failed() {
    let Some(e) = env(0).await else { return };
    // Exchange Online's answer when the signed-in mailbox may not send as its From address.
    e.dc.relay_faults().set(ADMIN, RelayFault::SendAsDenied);
    e.queue(Recipients::Addresses(vec![TARO.into(), HANAKO.into()]), false);
    let err = send_queue(&e.auth, &e.opts(), &AtomicBool::new(false), &|_| {}).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RolloutSenderRefused, "{err:?}");
    assert_eq!(err.detail[&exo_setup_core::DetailKey::Address], ADMIN);
    assert!(err.detail[&exo_setup_core::DetailKey::Reply].contains("5.7.60"), "{err:?}");
    // The first mail went back to the queue, the second was never tried: nobody failed.
    let states: Vec<String> = e.states().into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(states, ["queued", "queued"]);
    assert!(e.inbox(TARO).is_empty() && e.inbox(HANAKO).is_empty());
    // Once the administrator fixed it, the same queue goes out.
    e.dc.relay_faults().clear(ADMIN);
    let s = e.send(&e.opts()).await;
    assert_eq!((s.sent, s.failed, s.remaining), (2, 0, 0), "{}", e.dc.log());
    assert_eq!((e.inbox(TARO).len(), e.inbox(HANAKO).len()), (1, 1));
}
