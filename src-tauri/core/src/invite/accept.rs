//! The user's side: what an invitation would do here (preview), and doing it (accept).

use rusqlite::Connection;

use crate::error::UiError;
use crate::model::{InvitationAccepted, InvitationPreview};
use crate::policy::Policy;
use crate::store::Store;

use super::Invitation;

/// What accepting `inv` would set up on this computer, after the managed policy; refused
/// invitations (policy: none / other tenant / authority not allowed) are errors here already.
pub fn preview(
    conn: &Connection,
    policy: &Policy,
    inv: &Invitation,
    invitation_id: String,
) -> Result<InvitationPreview, UiError> {
    let _ = (conn, policy, inv, invitation_id);
    todo!()
}

/// Stores the invitation's settings and mailbox: checks the policy again, refuses to replace
/// another organization unless `replace_existing`, fetches the discovery document like step 1,
/// then writes settings, server, endpoints, account and audit entry in one transaction.
pub async fn accept(
    store: &Store,
    policy: &Policy,
    inv: &Invitation,
    replace_existing: bool,
) -> Result<InvitationAccepted, UiError> {
    let _ = (store, policy, inv, replace_existing);
    todo!()
}
