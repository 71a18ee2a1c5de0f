//! The Dovecot rig as the mail tests start from it: the binary (or a knowing skip), the emulator
//! with the demo tenant's consent, Dovecot for it, and a store whose server "Dovecot" points at it.

use std::path::PathBuf;
use std::sync::Arc;

use entra_emulator::dovecot::{self, Dovecot};
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::model::{Endpoint, ReceiveProtocol, Security, ServerAuth};
use exo_setup_core::Store;

/// The mail scopes the emulator's admin consent grants.
pub const MAIL_SCOPES: &[&str] = &[
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
];

/// The `dovecot` binary, or `None` (skip) when EXO_SKIP_DOVECOT=1; panics when it is missing otherwise.
pub fn dovecot_or_skip() -> Option<PathBuf> {
    let found = dovecot::find_binary();
    if std::env::var(dovecot::SKIP_ENV).as_deref() == Ok("1") {
        let why = if found.is_none() { "dovecot not installed and " } else { "" };
        eprintln!("SKIPPED: {why}{}=1", dovecot::SKIP_ENV);
        return None;
    }
    if found.is_none() {
        panic!(
            "`dovecot` is not on PATH: install dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond \
             dovecot-lmtpd (scripts/test.sh does), or set EXO_SKIP_DOVECOT=1 to skip these tests"
        );
    }
    found
}

/// The emulator of `config` (auto-approving, the demo tenant's admin consent granted) and its Dovecot.
pub async fn emulator_and_dovecot(bin: &std::path::Path, config: Config) -> (Emulator, Dovecot) {
    let emu = Emulator::start(config).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, MAIL_SCOPES);
    // Start-up blocks (it waits for the listeners): off the runtime's worker, which the emulator shares.
    let dc = tokio::task::block_in_place(|| Dovecot::start_with(bin, &emu)).expect("start dovecot");
    (emu, dc)
}

/// A store with step 1 saved against `emu`, a server "Dovecot" on `dc`'s ports (set here: its
/// hosts may receive tokens) and `accounts` on it with `protocol`.
pub async fn dovecot_store(
    emu: &Emulator,
    dc: &Dovecot,
    accounts: &[(&str, ReceiveProtocol)],
) -> (tempfile::TempDir, Arc<Store>) {
    let (dir, store) = super::org_store(emu, DEMO_TENANT_ID, &[]).await;
    let ep = |port, security| Endpoint { host: "localhost".into(), port, security };
    let server = exo_setup_core::org::add_server(
        &store,
        "Dovecot",
        &ep(dc.ports().imaps, Security::Tls),
        &ep(dc.ports().pop3s, Security::Tls),
        &ep(dc.ports().submission, Security::Starttls),
        ServerAuth::Oauth2,
    )
    .unwrap();
    for (address, protocol) in accounts {
        exo_setup_core::accounts::add(&store, &super::account_input(address, *protocol, server.id)).unwrap();
    }
    (dir, store)
}
