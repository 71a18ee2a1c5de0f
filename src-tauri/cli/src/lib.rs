//! `exo-setup`, the command line over the same core as the wizard: no subcommand opens the
//! wizard (`launch`); subcommands script the core (server show/enable/disable/endpoints, accounts
//! list/add/delete/import/export) for admins with thousands of users, and run steps 3 and 4 from a
//! terminal (`consent`, `login`) with the RFC 8252 loopback redirect and the system browser.
//! `token` prints a mailbox's access token for mail clients (`passwordeval`, `PassCmd`). `invite`
//! makes invitations (links, `.exoinvite` files, a mail-merge CSV) on the admin's computer; `open`
//! shows one in plain words on the user's and, once confirmed, stores it. `keychain orphans`
//! lists (and `--remove` deletes) keychain items whose account is gone. `directory` imports and
//! syncs step 2 from Microsoft Entra ID (the administrator's Graph sign-in, a diff, then apply).
//! `support-bundle` writes a redacted zip for a support ticket.
//!
//! Why a crate of its own: `exo-setup token` runs on every mail client connection and must start
//! in milliseconds, so this crate has no Tauri or WebKit dependency at all — Cargo enforces it
//! (`tests/no_gui_dependency.rs` checks the dependency tree), not the linker. The wizard's
//! binary depends on this library for its own subcommand handling.
//!
//! One module per command group; each handler parses nothing and decides nothing the core could:
//! it calls the core and prints (`output`). Exit codes: [`EXIT_CODES_HELP`], [`exit_code()`].
//!
//! Language: every text a person reads (errors, prompts, results) comes from the wizard's own
//! catalogues, `ui/src/lib/i18n/{ja,en}.json`, embedded at compile time by rust-i18n (below);
//! `lang` chooses Japanese or English once per run (`--lang`, else the locale), `text` looks
//! texts up. `--json` output, exit codes and `--help` (clap's, English) do not change with it.

mod accounts;
mod args;
mod directory;
mod exit_code;
mod invite;
mod keychain;
pub mod lang;
pub mod launch;
mod output;
mod rollout;
mod server;
mod signin;
mod support;
mod text;

// The wizard's catalogues, one file per language (`ja.json` → locale `ja`), nested keys flattened
// to `errors.tenant_not_found`; rust-i18n's `%{name}` is also the catalogues' placeholder syntax
// (the wizard's i18next is configured for it). A key missing in Japanese falls back to English;
// `tests/catalogue_keys.rs` checks that every key used here exists in both. `build.rs` rebuilds
// this crate when a catalogue changes.
rust_i18n::i18n!("../../ui/src/lib/i18n", fallback = "en");

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use exo_setup_core::auth::Auth;
use exo_setup_core::keychain::OsKeychain;
use exo_setup_core::{Store, UiError};

pub use args::{
    AccountsCommand, Cli, CliEncoding, CliRedirectMode, Command, DirectoryCommand, DirectoryImportArgs, EnableArgs,
    FlowArgs, InviteArgs, KeychainCommand, OpenArgs, RolloutCommand, ServerCommand, SupportBundleArgs, EXIT_CODES_HELP,
};
pub use exit_code::exit_code;
pub use lang::Lang;

/// Runs a subcommand in the language `lang` chooses (`--lang`, else the locale) and returns the
/// process exit code.
pub fn run(data_dir: PathBuf, lang: Option<Lang>, command: Command) -> ExitCode {
    lang::init(lang);
    // Printing the registration needs no settings: no data directory is created for it.
    if let Command::Server(ServerCommand::RegistrationScript { manifest }) = command {
        return server::print_registration(manifest);
    }
    let result = Store::open_in(&data_dir)
        .map_err(UiError::from)
        .and_then(|store| dispatch(&Arc::new(store), &data_dir, command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

fn dispatch(store: &Arc<Store>, data_dir: &std::path::Path, command: Command) -> Result<u8, UiError> {
    match command {
        Command::Server(c) => server::run(store, c),
        Command::Accounts(c) => accounts::run(store, c),
        Command::Invite(args) if args.send => block_on(rollout::send(&auth(store), args)),
        Command::Invite(args) => invite::invite(store, args),
        Command::Open(args) => block_on(invite::open(store, args)),
        Command::Consent(flow) => block_on(signin::consent(&auth(store), &flow)),
        Command::Login { address, protocol, flow } => block_on(signin::login(&auth(store), &address, &protocol, &flow)),
        Command::Token { address } => block_on(signin::token(&auth(store), &address)),
        Command::Status { json } => block_on(signin::status(&auth(store), json)),
        Command::Check { address, ca_file, json } => {
            block_on(signin::check(&auth(store), &address, ca_file.as_deref(), json))
        }
        Command::Logout { address, ca_file } => block_on(signin::logout(&auth(store), &address, ca_file.as_deref())),
        Command::Keychain(KeychainCommand::Orphans { remove, json }) => {
            block_on(keychain::orphans(&auth(store), remove, json))
        }
        Command::Directory(c) => directory::run(store, c),
        Command::Rollout(c) => block_on(rollout::run(&auth(store), c)),
        Command::SupportBundle(args) => support::bundle(store, data_dir, args),
    }
}

/// The CLI's async runtime: one thread, one command.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
}

/// The sign-in service over the OS keychain.
fn auth(store: &Arc<Store>) -> Auth {
    Auth::new(Arc::clone(store), Arc::new(OsKeychain::new()))
}
