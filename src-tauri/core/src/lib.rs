//! exo-setup's core: everything the wizard and the CLI do, with no knowledge of Tauri.
//!
//! The Tauri shell (`src-tauri/src`) and the command-line interface are two thin front ends over
//! this crate. Keeping Tauri out of here means every behaviour can be tested with plain
//! `cargo test`, and the CLI gets exactly the same validation and errors as the GUI.
//!
//! Areas (one module each, each with its own error enum):
//! - [`identity`]: identifier, deep-link scheme and redirect URIs, defined once in tauri.conf.json;
//! - [`store`]: the SQLite database (migrations, pragmas, audit log);
//! - [`org`]: step 1, organization settings and the Exchange Online server switch;
//! - [`discovery`]: fetching and classifying the tenant's OpenID discovery document;
//! - [`http_body`]: reading an HTTP answer with a cap per kind of document;
//! - [`accounts`]: step 2, users and their mail accounts;
//! - [`csv_io`]: CSV import (preview, all-or-nothing or valid rows only) and export;
//! - [`directory`]: import and sync of mailboxes from Microsoft Entra ID (Graph);
//! - [`overview`]: the state of the four steps;
//! - [`rollout`]: invitations mailed from the administrator's mailbox, receipts read back, status;
//! - [`registration`]: the app registration (Cloud Shell script and manifest) written out for the admin;
//! - [`bounded`]: reading a named file only if it is a regular file, and only up to a limit;
//! - [`logging`]: the app's log subscriber, which keeps the mail crates' wire (tokens) out;
//! - [`support`]: the support bundle (recent logs, versions, settings, account states; redacted);
//! - [`fault`]: crash points for the crash-consistency tests (debug builds only);
//! - [`error`]: the `{ kind, actor, message, detail }` shape every front end shows;
//! - [`error_kind`]: the closed vocabulary of error kinds, which the UI's texts and the CLI's exit
//!   codes derive from.

pub mod accounts;
pub mod audience;
pub mod auth;
pub mod bounded;
pub mod cloud;
pub mod csv_io;
pub mod detail_key;
pub mod directory;
pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod error_kind;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod http_body;
pub mod identity;
pub mod import;
pub mod invite;
pub mod keychain;
pub mod launch_args;
pub mod logging;
pub mod mailcheck;
pub mod model;
pub mod oauth;
pub mod org;
pub mod overview;
pub mod paths;
pub mod policy;
pub mod process_hardening;
pub mod registration;
pub mod rollout;
pub mod self_service;
pub mod store;
pub mod support;
pub mod trusted_file;
pub mod validate;

pub use error::{Actor, DetailKey, ErrorArea, ErrorField, ErrorKind, UiError};
pub use store::Store;

// The rollout's mail texts (locales/{ja,en}.yml), embedded at compile time.
rust_i18n::i18n!("locales", fallback = "en");
