//! The admin's side: invitations for one, some or all registered mailboxes (step 2, `exo-setup invite`).

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::UiError;
use crate::model::InvitationLink;

use super::Invitation;

/// The invitation for one account (the organization must be configured: step 1).
pub fn for_account(conn: &Connection, account_id: i64) -> Result<(InvitationLink, Invitation), UiError> {
    let _ = (conn, account_id);
    todo!()
}

/// Invitations for the given accounts, or for every account when `ids` is `None`, in the order of step 2's list.
pub fn for_accounts(conn: &Connection, ids: Option<&[i64]>) -> Result<Vec<(InvitationLink, Invitation)>, UiError> {
    let _ = (conn, ids);
    todo!()
}

/// Mail-merge CSV: `address,display_name,login_name,link` (UTF-8 with BOM so Excel opens it).
pub fn write_csv(links: &[InvitationLink], out: impl Write) -> Result<(), UiError> {
    let _ = (links, out);
    todo!()
}

/// Writes one `.exoinvite` file per invitation into `dir`; returns the paths.
pub fn write_files(invitations: &[(InvitationLink, Invitation)], dir: &Path) -> Result<Vec<PathBuf>, UiError> {
    let _ = (invitations, dir);
    todo!()
}
