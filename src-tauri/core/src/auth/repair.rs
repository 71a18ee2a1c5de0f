//! Making the account status agree with the keychain after an interrupted write.
//!
//! A sign-in writes, in this order: the ledger row, the refresh token, the access token, then the
//! status with its audit entry (one transaction). A sign-out or removal deletes the keychain
//! items first. A crash between two of these steps leaves the keychain ahead of the status;
//! [`Auth::repair_sign_ins`] (run by `status`, and by the wizard at start) and
//! [`Auth::repair_after_token`] (run by `token`) bring the status in line, with an audit entry,
//! so that `status` never says "not signed in" while `token` works, nor "signed in" without a
//! refresh token.

use serde_json::json;

use super::{ledger, records, Auth};
use crate::error::UiError;
use crate::keychain::AccountKey;
use crate::model::{AccountRow, AccountStatus};
use crate::org::sql;

/// Audit action of a sign-in whose status was saved by the repair.
pub const SIGN_IN_REPAIRED: &str = "account.sign_in_repaired";
/// Audit action of a sign-out (or lost keychain item) whose status was saved by the repair.
pub const SIGN_OUT_REPAIRED: &str = "account.sign_out_repaired";

impl Auth {
    /// Compares every registered account recorded in the keychain ledger with the keychain and
    /// repairs the status where they disagree. Returns the repaired addresses.
    pub async fn repair_sign_ins(&self) -> Result<Vec<String>, UiError> {
        let recorded = self.db(|s| ledger::all(&s.conn()).map_err(sql)).await?;
        let mut repaired = Vec::new();
        for r in recorded {
            let Some(status) = r.status.as_deref().and_then(AccountStatus::parse) else { continue };
            let key = r.key.clone();
            let has_refresh = self.keychain(move |t| t.get_refresh_token(&key)).await?.is_some();
            match (has_refresh, status) {
                (true, AccountStatus::NotSignedIn) => {
                    self.record_repair(&r.key, AccountStatus::SignedIn, SIGN_IN_REPAIRED).await?;
                    repaired.push(r.key.address().to_owned());
                }
                (false, AccountStatus::SignedIn | AccountStatus::Verified) => {
                    self.clear_keychain_and_ledger(&r.key).await?;
                    self.record_repair(&r.key, AccountStatus::NotSignedIn, SIGN_OUT_REPAIRED).await?;
                    repaired.push(r.key.address().to_owned());
                }
                // A sign-in stopped before its first keychain write, or a sign-out after its
                // last: nothing to report, only the ledger row (and a stray cached token) to drop.
                (false, AccountStatus::NotSignedIn) => self.clear_keychain_and_ledger(&r.key).await?,
                _ => {}
            }
        }
        Ok(repaired)
    }

    /// `token` just handed out a token of `account` from the keychain: when the status still says
    /// "not signed in" (a sign-in interrupted before its status was saved), repair it.
    pub(super) async fn repair_after_token(&self, key: &AccountKey, account: &AccountRow) -> Result<(), UiError> {
        if account.status == AccountStatus::NotSignedIn {
            self.record_repair(key, AccountStatus::SignedIn, SIGN_IN_REPAIRED).await?;
        }
        Ok(())
    }

    async fn record_repair(
        &self,
        key: &AccountKey,
        status: AccountStatus,
        action: &'static str,
    ) -> Result<(), UiError> {
        tracing::info!(address = %key.address(), action, "account status repaired to agree with the keychain");
        let address = key.address().to_owned();
        let detail =
            json!({ "status": status.as_str(), "reason": "keychain and status disagreed after an interrupted write" });
        self.db(move |s| records::set_status(s, &address, status, None, Some((action, detail)))).await?;
        Ok(())
    }

    async fn clear_keychain_and_ledger(&self, key: &AccountKey) -> Result<(), UiError> {
        self.forget_access(key);
        let k = key.clone();
        self.keychain(move |t| t.delete_account(&k)).await?;
        let k = key.clone();
        self.db(move |s| ledger::forget(&s.conn(), &k).map_err(sql)).await
    }
}
