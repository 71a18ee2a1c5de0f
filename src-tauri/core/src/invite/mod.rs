//! Invitations: how the admin's settings and a user's mailbox reach the user's own computer.
//!
//! Why: steps 1–3 happen on the admin's machine, step 4 on each user's. Typing a tenant and an
//! application ID by hand is error-prone and a door for consent phishing ("use this app ID"),
//! so the admin hands each user an invitation instead, and the user's app shows in plain words
//! what it would set up before storing anything.
//!
//! An invitation carries no secret: organization name, authority, tenant, client ID, redirect
//! mode, the mailbox (address, names, receive protocol) and server endpoints where they differ
//! from Exchange Online's. Two forms, one content (`format.rs`):
//! - a deep link `dev.exosetup.wizard://invite?v=1&p=<base64url JSON>&c=<checksum>`, short
//!   enough for chat or mail;
//! - a `.exoinvite` file (readable JSON) opened by double-click, drag-and-drop or the CLI.
//!
//! The checksum (SHA-256 over the canonical content) detects an invitation altered or cut in
//! transit; it is not a signature — what protects the user is the confirmation screen (which
//! warns about authorities that are not a Microsoft cloud) and the managed policy
//! (`crate::policy`), which always wins.

mod accept;
pub(crate) mod format;
mod make;
mod open;
mod pending;

pub use accept::{accept, preview};
pub use format::{
    file_contents, is_invitation_url, link, parse, read_file, Invitation, ReceiptRequest, INVITATION_VERSION,
};
pub use make::{for_account, for_accounts, write_csv, write_csv_file, write_files};
pub(crate) use make::{org_required, organization_invitation};
pub use open::{open, Opened, Source};
pub use pending::PendingInvitations;

/// File extension of invitation files (without the dot).
pub const FILE_EXTENSION: &str = "exoinvite";

/// Longest invitation link accepted.
pub const MAX_LINK_CHARS: usize = 4096;

/// Largest invitation file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
