//! Removing what sign-ins left in the keychain: an account's items before the account itself
//! ([`Auth::delete_account`], what the wizard and `exo-setup accounts delete` call) or before
//! its address changes ([`Auth::update_account`]: a new address is a new mailbox), and items
//! whose account is gone ([`Auth::keychain_orphans`], `exo-setup keychain orphans`), found
//! through the keychain ledger ([`super::ledger`]).
//!
//! Order: keychain first, then SQLite. A keychain that cannot be reached refuses the deletion
//! (nothing deleted, the error says why); a crash between the two leaves a registered account
//! without tokens, which [`Auth::repair_sign_ins`] reports as not signed in on the next run.

use crate::DetailKey;
use serde::Serialize;
use serde_json::json;

use super::{ledger, Auth};
use crate::error::UiError;
use crate::keychain::{AccountKey, KeychainError, TokenStore};
use crate::model::{AccountInput, AccountRow, AccountStatus};
use crate::org::sql;
use crate::{accounts, fault, store};

/// Keychain items of a (tenant, mailbox) that is not a registered account of the organization
/// set up on this computer. Names an entry only; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeychainOrphan {
    pub tenant_id: String,
    pub address: String,
    /// When the first keychain write for it was about to happen.
    pub recorded_at: String,
    pub has_refresh_token: bool,
    pub has_access_token: bool,
}

fn present<T>(r: Result<Option<T>, KeychainError>) -> Result<bool, KeychainError> {
    match r {
        Ok(v) => Ok(v.is_some()),
        // A damaged value is still an item to remove.
        Err(KeychainError::Corrupt { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// The keys under which `account` may have keychain items: those the ledger recorded (any
/// tenant) and, when its status says it signed in, the current tenant's.
fn keys_of(conn: &rusqlite::Connection, account: &AccountRow) -> Result<Vec<AccountKey>, UiError> {
    let mut keys = ledger::for_address(conn, &account.address).map_err(sql)?;
    if account.status != AccountStatus::NotSignedIn {
        if let Some(org) = crate::org::org_settings(conn).map_err(sql)? {
            let current = AccountKey::new(&org.tenant_id, &account.address);
            if !keys.contains(&current) {
                keys.push(current);
            }
        }
    }
    Ok(keys)
}

impl Auth {
    /// Deletes a mail account (and its user when it was the user's last account), signing it
    /// out first: its keychain items, under every tenant the ledger knows, are deleted before
    /// the row. When the keychain cannot be reached, nothing is deleted and the keychain's
    /// error says what to do. An account that never signed in here does not touch the keychain.
    pub async fn delete_account(&self, id: i64) -> Result<(), UiError> {
        let (address, keys) = self
            .db(move |s| {
                let conn = s.conn();
                let account = accounts::get(&conn, id)?;
                let keys = keys_of(&conn, &account)?;
                Ok((account.address, keys))
            })
            .await?;
        self.delete_items(&address, &keys).await?;
        fault::point("delete.after_keychain");
        let signed_out = !keys.is_empty();
        self.db(move |s| {
            accounts::delete_with(s, id, json!({ "signed_out": signed_out }), |tx| {
                keys.iter().try_for_each(|k| ledger::forget(tx, k))
            })
        })
        .await
    }

    /// Changes a mail account. A new address is a new mailbox (its status starts again at "not
    /// signed in"), so the old address's keychain items are removed first, as for a deletion;
    /// the change is checked before, so a refused change signs nothing out.
    pub async fn update_account(&self, id: i64, input: AccountInput) -> Result<AccountRow, UiError> {
        let checked = input.clone();
        let (before, keys) = self
            .db(move |s| {
                let conn = s.conn();
                let (before, v) = accounts::check_update(&conn, id, &checked)?;
                let renamed = !before.address.eq_ignore_ascii_case(&v.address);
                let keys = if renamed { keys_of(&conn, &before)? } else { Vec::new() };
                Ok((before, keys))
            })
            .await?;
        self.delete_items(&before.address, &keys).await?;
        self.db(move |s| {
            let row = accounts::update(s, id, &input)?;
            let conn = s.conn();
            keys.iter().try_for_each(|k| ledger::forget(&conn, k)).map_err(sql)?;
            Ok(row)
        })
        .await
    }

    /// Deletes the keychain items of `keys` (one mailbox); the error names the mailbox.
    async fn delete_items(&self, address: &str, keys: &[AccountKey]) -> Result<(), UiError> {
        if keys.is_empty() {
            return Ok(());
        }
        for key in keys {
            self.forget_access(key);
        }
        let to_delete = keys.to_vec();
        self.keychain(move |t| to_delete.iter().try_for_each(|k| t.delete_account(k)))
            .await
            .map_err(|e| e.with(DetailKey::Address, address))
    }

    /// Keychain items recorded in the ledger whose tenant or mailbox is no longer a registered
    /// account here (deleted before deletion signed out, renamed, or an organization replaced).
    /// Only recorded keys are asked about: the keychain cannot be listed.
    pub async fn keychain_orphans(&self) -> Result<Vec<KeychainOrphan>, UiError> {
        let recorded = self.db(|s| ledger::all(&s.conn()).map_err(sql)).await?;
        let mut out = Vec::new();
        for r in recorded.into_iter().filter(|r| r.status.is_none()) {
            let key = r.key.clone();
            let (has_refresh_token, has_access_token) = self
                .keychain(move |t: &dyn TokenStore| {
                    Ok((present(t.get_refresh_token(&key))?, present(t.get_access_token(&key))?))
                })
                .await?;
            out.push(KeychainOrphan {
                tenant_id: r.key.tenant().to_owned(),
                address: r.key.address().to_owned(),
                recorded_at: r.recorded_at,
                has_refresh_token,
                has_access_token,
            });
        }
        Ok(out)
    }

    /// Deletes every orphan's keychain items, then its ledger row (with an audit entry).
    /// Returns what was removed. Stops at the first keychain error (what was removed stays removed).
    pub async fn remove_keychain_orphans(&self) -> Result<Vec<KeychainOrphan>, UiError> {
        let orphans = self.keychain_orphans().await?;
        for o in &orphans {
            let key = AccountKey::new(&o.tenant_id, &o.address);
            self.forget_access(&key);
            let k = key.clone();
            self.keychain(move |t| t.delete_account(&k)).await.map_err(|e| e.with(DetailKey::Address, &o.address))?;
            let detail = json!({ "tenant_id": o.tenant_id, "refresh_token": o.has_refresh_token, "access_token": o.has_access_token });
            self.db(move |s| {
                let mut conn = s.conn();
                let tx = conn.transaction().map_err(sql)?;
                ledger::forget(&tx, &key).map_err(sql)?;
                store::audit(&tx, "keychain.orphan_removed", key.address(), detail).map_err(sql)?;
                tx.commit().map_err(sql)
            })
            .await?;
        }
        Ok(orphans)
    }
}
