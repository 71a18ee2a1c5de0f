//! Tokens after sign-in: written to the keychain, handed out while valid, refreshed when not.
//!
//! Order of writes on sign-in and refresh: the refresh token first (the keychain layer keeps the
//! previous value readable until the new one is complete), then the cached access token, then
//! the account's status in the store — after a ledger row that lets the items be found again
//! (see `ledger`). A failure part-way never loses a working refresh token; a crash part-way is
//! repaired on the next run (see `repair`).

use crate::DetailKey;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::{lock, records, Auth};
use crate::error::{Actor, ErrorKind, UiError};
use crate::fault;
use crate::keychain::{AccountKey, CachedAccessToken, Secret};
use crate::model::{AccountRow, AccountStatus, FlowResult, SignInSummary, TokenStatus};
use crate::oauth::{MailScopes, SignedIn};

/// An access token is refreshed when it expires within this many seconds.
pub const REFRESH_MARGIN_SECS: i64 = 5 * 60;

/// While the identity platform cannot be reached, a cached access token with at least this long
/// left is still handed out (by [`Auth::access_token`]; a mail client's connection takes seconds).
pub const MIN_USABLE_SECS: i64 = 30;

/// A valid access token (in memory only; never Serialize).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    /// True when it was obtained by a refresh just now (false: from the keychain cache).
    pub refreshed: bool,
}

fn not_signed_in(address: &str) -> UiError {
    UiError::new(
        ErrorKind::NotSignedIn,
        Actor::User,
        format!("{address} has not signed in on this computer yet (or signed out): sign in first (step 4, or `exo-setup login {address}`)."),
    )
    .with(DetailKey::Address, address)
}

/// Discovery's or the token endpoint's failure kinds that mean "the identity platform could not
/// be reached or is unavailable for now" (DNS, refused, timeout, 5xx, 429).
fn is_unreachable(e: &UiError) -> bool {
    match e.kind {
        ErrorKind::DnsFailure
        | ErrorKind::HostUnreachable
        | ErrorKind::Timeout
        | ErrorKind::NetworkError
        | ErrorKind::ServiceUnavailable => true,
        ErrorKind::HttpStatus => {
            e.detail.get(&DetailKey::Status).and_then(|s| s.parse::<u16>().ok()).is_some_and(|s| s >= 500 || s == 429)
        }
        _ => false,
    }
}

/// The refresh could not reach the identity platform: retry later (the saved sign-in is kept);
/// `cached_until` is when the cached access token expires (or expired), if there is one.
fn identity_unreachable(cause: UiError, cached_until: Option<DateTime<Utc>>) -> UiError {
    let host = cause.detail.get(&DetailKey::Host).cloned().unwrap_or_default();
    let until = match cached_until {
        Some(t) => format!(" The cached access token expires at {} and cannot be renewed before then.", t.to_rfc3339()),
        None => String::new(),
    };
    let mut e = UiError::new(
        ErrorKind::IdentityUnreachable,
        Actor::Support,
        format!("The identity platform ({host}) could not be reached or is unavailable right now ({}), so the access token could not be renewed.{until} The saved sign-in is kept: check the network and try again in a few minutes; if it persists, contact support.", cause.kind),
    )
    .with(DetailKey::Host, host)
    .with(DetailKey::Cause, cause.kind)
    .with(DetailKey::Retryable, true);
    for k in [DetailKey::Status, DetailKey::RetryAfter, DetailKey::Code, DetailKey::TraceId, DetailKey::CorrelationId] {
        if let Some(v) = cause.detail.get(&k) {
            e = e.with(k, v);
        }
    }
    if let Some(t) = cached_until {
        e = e.with(DetailKey::ExpiresAt, t.to_rfc3339());
    }
    e
}

impl Auth {
    pub(super) async fn store_sign_in(&self, s: SignedIn) -> Result<FlowResult, UiError> {
        let tenant_id = self.client().await?.tenant_id().to_owned();
        let key = AccountKey::new(&tenant_id, &s.address);
        let cached = CachedAccessToken {
            token: s.access_token.clone(),
            expires_at: s.expires_at.timestamp(),
            scopes: s.scopes.clone(),
        };
        let refresh = s.refresh_token.clone();
        // A typed mailbox (self-service) becomes an account only now: the wrong-account guard has
        // found the signed-in identity to be that address.
        if let Some(protocol) = self.pending_self_registration(&s.address) {
            let a = s.address.clone();
            self.db(move |st| crate::self_service::register(&mut st.conn(), &a, protocol).map(|_| ())).await?;
            self.forget_self_registration(&s.address);
        }
        // The ledger row first: whatever happens next, these keychain items can be found again.
        let k = key.clone();
        self.db(move |st| super::ledger::record(&st.conn(), &k).map_err(crate::org::sql)).await?;
        fault::point("signin.before_keychain");
        let k = key.clone();
        self.keychain(move |t| t.set_refresh_token(&k, &refresh)).await?;
        fault::point("signin.after_refresh_token");
        self.remember_access(&key, &s.access_token, s.expires_at);
        let k = key.clone();
        if let Err(e) = self.keychain(move |t| t.set_access_token(&k, &cached)).await {
            // Only a cache: the refresh token is stored, the next use refreshes.
            tracing::warn!(kind = %e.kind, "could not cache the access token");
        }
        fault::point("signin.after_keychain");
        let (address, signed_in_as, scopes) = (s.address.clone(), s.signed_in_as.clone(), s.scopes.clone());
        let account = self
            .db(move |st| {
                records::set_status(
                    st,
                    &address,
                    AccountStatus::SignedIn,
                    Some(&signed_in_as),
                    Some(("account.sign_in", json!({ "signed_in_as": signed_in_as, "scopes": scopes }))),
                )
            })
            .await?;
        fault::point("signin.after_status");
        Ok(FlowResult::SignedIn {
            sign_in: SignInSummary {
                address: s.address.clone(),
                signed_in_as: s.signed_in_as.clone(),
                name: s.name.clone(),
                scopes: s.scopes.clone(),
                account,
            },
        })
    }

    fn memory_key(key: &AccountKey) -> String {
        format!("{}\n{}", key.tenant(), key.address())
    }

    fn remember_access(&self, key: &AccountKey, token: &Secret, expires_at: DateTime<Utc>) {
        let t = AccessToken { token: token.clone(), expires_at, refreshed: false };
        lock(&self.access_tokens).insert(Self::memory_key(key), t);
    }

    pub(super) fn forget_access(&self, key: &AccountKey) {
        lock(&self.access_tokens).remove(&Self::memory_key(key));
    }

    pub(super) fn refresh_lock(&self, key: &AccountKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.refresh_locks);
        Arc::clone(locks.entry(format!("{}\n{}", key.tenant(), key.address())).or_default())
    }

    /// A valid access token for the mailbox: the cached one while it has more than
    /// [`REFRESH_MARGIN_SECS`] left (no network, no lock), else a refresh — one at a time per
    /// account; transient failures are retried with backoff and never drop the stored token.
    pub async fn access_token(&self, address: &str) -> Result<AccessToken, UiError> {
        self.access_token_within(address, REFRESH_MARGIN_SECS).await
    }

    /// [`Auth::access_token`] with another margin: the cached token is used only while it has
    /// more than `margin_secs` left (upkeep refreshes ahead of time; `i64::MAX` forces a refresh).
    pub async fn access_token_within(&self, address: &str, margin_secs: i64) -> Result<AccessToken, UiError> {
        let a = address.to_owned();
        let (tenant_id, account) = self.db(move |s| records::token_target(s, &a)).await?;
        let key = AccountKey::new(&tenant_id, &account.address);
        let in_memory = lock(&self.access_tokens).get(&Self::memory_key(&key)).cloned();
        if let Some(t) = in_memory.filter(|t| self.left(t) > margin_secs) {
            self.repair_after_token(&key, &account).await?;
            return Ok(t);
        }
        let first = self.cached(&key).await?;
        if let Some(t) = first.as_ref().filter(|t| self.left(t) > margin_secs) {
            self.repair_after_token(&key, &account).await?;
            return Ok(AccessToken { token: t.token.clone(), expires_at: t.expires_at, refreshed: false });
        }
        let guard = self.refresh_lock(&key);
        let _held = guard.lock().await;
        // Another task may have refreshed while this one waited: use its token.
        if let Some(t) = self.cached(&key).await? {
            let refreshed_meanwhile = first.as_ref().map(|f| f.expires_at) != Some(t.expires_at);
            let left = self.left(&t);
            if left > margin_secs || (refreshed_meanwhile && left > REFRESH_MARGIN_SECS) {
                return Ok(t);
            }
        }
        let k = key.clone();
        let refresh_token =
            self.keychain(move |t| t.get_refresh_token(&k)).await?.ok_or_else(|| not_signed_in(&account.address))?;
        // A usable cached token to fall back on (only for callers that need a token now).
        let fallback =
            first.as_ref().is_some_and(|t| margin_secs <= REFRESH_MARGIN_SECS && self.left(t) >= MIN_USABLE_SECS);
        // Unreachable identity platform (discovery or token endpoint): a caller that needs a
        // token now still gets the cached one while it is usable; otherwise `identity_unreachable`.
        let offline = |cause: UiError| -> Result<AccessToken, UiError> {
            let cached = first.clone();
            if let Some(t) = cached.as_ref().filter(|_| fallback) {
                tracing::warn!(kind = %cause.kind, "identity platform unreachable; handing out the cached access token");
                return Ok(t.clone());
            }
            Err(identity_unreachable(cause, cached.map(|t| t.expires_at)))
        };
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) if is_unreachable(&e) => return offline(e),
            Err(e) => return Err(e),
        };
        let scopes = MailScopes::for_account(account.receive_protocol);
        match client.refresh_with_retry(&refresh_token, scopes, self.backoff).await {
            Ok(r) => {
                if r.rotated {
                    let (k, new) = (key.clone(), r.refresh_token.clone());
                    self.keychain(move |t| t.set_refresh_token(&k, &new)).await?;
                }
                let cached = CachedAccessToken {
                    token: r.access_token.clone(),
                    expires_at: r.expires_at.timestamp(),
                    scopes: r.scopes.clone(),
                };
                let k = key.clone();
                if let Err(e) = self.keychain(move |t| t.set_access_token(&k, &cached)).await {
                    tracing::warn!(kind = %e.kind, "could not cache the access token");
                }
                self.remember_access(&key, &r.access_token, r.expires_at);
                if matches!(
                    account.status,
                    AccountStatus::NeedsReauth | AccountStatus::Error | AccountStatus::NotSignedIn
                ) {
                    let a = account.address.clone();
                    self.db(move |s| records::set_status(s, &a, AccountStatus::SignedIn, None, None)).await?;
                }
                Ok(AccessToken { token: r.access_token, expires_at: r.expires_at, refreshed: true })
            }
            Err(e) => {
                let transient = e.is_transient();
                let reauth = e.needs_reauthorization();
                let ui: UiError = e.into();
                if transient && is_unreachable(&ui) {
                    return offline(ui);
                }
                if !transient {
                    let (a, kind) = (account.address.clone(), ui.kind);
                    let status = if reauth { AccountStatus::NeedsReauth } else { AccountStatus::Error };
                    let k = key.clone();
                    self.forget_access(&key);
                    let _ = self.keychain(move |t| t.delete_access_token(&k)).await;
                    self.db(move |s| {
                        records::set_status(
                            s,
                            &a,
                            status,
                            Some(kind.as_str()),
                            Some(("account.refresh_failed", json!({ "kind": kind }))),
                        )
                    })
                    .await?;
                }
                Err(ui)
            }
        }
    }

    /// Seconds the token has left.
    fn left(&self, t: &AccessToken) -> i64 {
        (t.expires_at - self.flows.now()).num_seconds()
    }

    /// The cached access token, expired or not.
    async fn cached(&self, key: &AccountKey) -> Result<Option<AccessToken>, UiError> {
        let k = key.clone();
        let Some(c) = self.keychain(move |t| t.get_access_token(&k)).await? else { return Ok(None) };
        let expires_at = Utc.timestamp_opt(c.expires_at, 0).single().unwrap_or_else(Utc::now);
        Ok(Some(AccessToken { token: c.token, expires_at, refreshed: false }))
    }

    /// Deletes the mailbox's tokens from the keychain and marks it not signed in.
    pub async fn sign_out(&self, address: &str) -> Result<AccountRow, UiError> {
        let a = address.to_owned();
        let (tenant_id, account) = self.db(move |s| records::token_target(s, &a)).await?;
        let key = AccountKey::new(&tenant_id, &account.address);
        self.forget_access(&key);
        let k = key.clone();
        self.keychain(move |t| t.delete_account(&k)).await?;
        fault::point("signout.after_keychain");
        let a = account.address.clone();
        self.db(move |s| {
            super::ledger::forget(&s.conn(), &key).map_err(crate::org::sql)?;
            records::set_status(s, &a, AccountStatus::NotSignedIn, None, Some(("account.sign_out", json!({}))))
        })
        .await
    }

    /// Every account's status with what the keychain holds (the keychain is only asked about
    /// accounts that signed in at some point, so that an admin's 10,000-account store stays fast).
    /// Repairs first where an interrupted write left the status disagreeing with the keychain.
    pub async fn status(&self) -> Result<Vec<TokenStatus>, UiError> {
        self.repair_sign_ins().await?;
        let (tenant_id, rows) = self
            .db(|s| {
                let tenant = crate::org::org_settings(&s.conn()).map_err(crate::org::sql)?.map(|o| o.tenant_id);
                let conn = s.conn();
                let mut stmt = conn
                    .prepare("SELECT address, status, status_detail, status_at FROM mail_accounts ORDER BY address")
                    .map_err(crate::org::sql)?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            AccountStatus::parse(&r.get::<_, String>(1)?).unwrap_or(AccountStatus::Error),
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                        ))
                    })
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(crate::org::sql)?;
                Ok((tenant, rows))
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (address, status, status_detail, status_at) in rows {
            let (mut has_refresh, mut expires) = (false, None);
            if let (Some(t), true) = (&tenant_id, status != AccountStatus::NotSignedIn) {
                let key = AccountKey::new(t, &address);
                let k = key.clone();
                has_refresh = self.keychain(move |s| s.get_refresh_token(&k)).await?.is_some();
                expires = self
                    .keychain(move |s| s.get_access_token(&key))
                    .await?
                    .and_then(|c| Utc.timestamp_opt(c.expires_at, 0).single())
                    .map(|d| d.to_rfc3339());
            }
            out.push(TokenStatus {
                address,
                status,
                has_refresh_token: has_refresh,
                access_token_expires_at: expires,
                status_detail,
                status_at,
            });
        }
        Ok(out)
    }
}
