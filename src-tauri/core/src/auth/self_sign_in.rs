//! Step 4 for a mailbox the user typed (self-service, see [`crate::self_service`]).
//!
//! The typed address is only a `login_hint` until Microsoft has signed the person in: it is kept
//! here, in memory, with the protocol chosen, and becomes an account only in `store_sign_in`,
//! after the id_token was verified and the wrong-account guard found the signed-in identity to be
//! that address. Any other outcome — another identity, a cancel, an expired flow — stores nothing.

use super::{lock, Auth};
use crate::error::UiError;
use crate::model::{FlowStarted, ReceiveProtocol};
use crate::validate;

impl Auth {
    /// Starts the sign-in of a mailbox the user typed. Where the managed policy pins the
    /// organization and nothing is configured yet, step 1 is done from the policy first (the same
    /// discovery check). A mailbox already registered signs in as usual.
    pub async fn begin_self_sign_in(
        &self,
        address: &str,
        protocol: ReceiveProtocol,
        redirect_uri: &str,
    ) -> Result<(FlowStarted, url::Url), UiError> {
        let policy = self.policy()?;
        let address = validate::address(address)?;
        if self.db(|s| crate::org::org_settings(&s.conn()).map_err(crate::org::sql)).await?.is_none() {
            if let Some(input) = policy.self_service_organization() {
                crate::org::save_exchange_online_with(&self.store, &input, &policy).await?;
            }
        }
        let p = policy.clone();
        let known = {
            let address = address.clone();
            self.db(move |s| {
                let conn = s.conn();
                crate::self_service::require_allowed(&conn, &p)?;
                Ok(crate::accounts::find_by_address(&conn, &address)?.is_some())
            })
            .await?
        };
        if !known {
            lock(&self.self_registrations).insert(address.to_ascii_lowercase(), protocol);
        }
        self.begin_sign_in_as(&address, protocol, redirect_uri).await
    }

    /// The protocol a typed, not yet registered mailbox was started with.
    pub(super) fn pending_self_registration(&self, address: &str) -> Option<ReceiveProtocol> {
        lock(&self.self_registrations).get(&address.to_ascii_lowercase()).copied()
    }

    pub(super) fn forget_self_registration(&self, address: &str) {
        lock(&self.self_registrations).remove(&address.to_ascii_lowercase());
    }
}
