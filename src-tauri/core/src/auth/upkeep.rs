//! Token upkeep while the app runs: every signed-in account's access token is refreshed ahead of
//! its expiry, which also exercises the refresh token long before Microsoft's 90-day inactivity
//! limit (a token that expired while the app was closed is refreshed at the next round).
//!
//! A refresh that fails for good turns the account "needs re-authorization" (done by
//! [`Auth::access_token_within`]) and is reported so that the shell can notify the user; a
//! transient failure keeps everything and is retried at the next round.

use crate::DetailKey;
use chrono::Utc;

use super::Auth;
use crate::error::{ErrorKind, UiError};
use crate::model::AccountStatus;

/// When upkeep refreshes.
#[derive(Debug, Clone, Copy)]
pub struct UpkeepPolicy {
    /// Refresh when the access token has less than this left (or none is cached).
    pub refresh_ahead_secs: i64,
}

impl Default for UpkeepPolicy {
    fn default() -> Self {
        Self { refresh_ahead_secs: 10 * 60 }
    }
}

/// What one round did.
#[derive(Debug, Default)]
pub struct UpkeepReport {
    /// Accounts whose token was refreshed.
    pub refreshed: Vec<String>,
    /// Accounts that now need the user to sign in again, with why.
    pub needs_reauth: Vec<(String, UiError)>,
    /// Accounts whose refresh failed for now (network, 5xx): nothing changed, retried next round.
    pub transient: Vec<(String, UiError)>,
    /// Accounts that failed otherwise (keychain, configuration).
    pub failed: Vec<(String, UiError)>,
}

impl Auth {
    /// One upkeep round over the accounts that are signed in on this machine.
    pub async fn upkeep(&self, policy: UpkeepPolicy) -> Result<UpkeepReport, UiError> {
        let addresses = self
            .db(|s| {
                let conn = s.conn();
                let mut stmt = conn
                    .prepare("SELECT address FROM mail_accounts WHERE status IN ('signed_in', 'verified', 'error') ORDER BY address")
                    .map_err(crate::org::sql)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(crate::org::sql)?;
                Ok(rows)
            })
            .await?;
        let mut report = UpkeepReport::default();
        for address in addresses {
            match self.access_token_within(&address, policy.refresh_ahead_secs).await {
                Ok(t) if t.refreshed => report.refreshed.push(address),
                Ok(_) => {}
                Err(e) => {
                    let status = self
                        .db({
                            let a = address.clone();
                            move |s| Ok(crate::accounts::find_by_address(&s.conn(), &a)?.map(|r| r.status))
                        })
                        .await
                        .ok()
                        .flatten();
                    if status == Some(AccountStatus::NeedsReauth) {
                        report.needs_reauth.push((address, e));
                    } else if e.detail.get(&DetailKey::Retryable).is_some_and(|v| v == "true")
                        || is_transient_kind(e.kind)
                    {
                        report.transient.push((address, e));
                    } else {
                        report.failed.push((address, e));
                    }
                }
            }
        }
        tracing::debug!(at = %Utc::now(), refreshed = report.refreshed.len(), "upkeep round");
        Ok(report)
    }
}

fn is_transient_kind(kind: ErrorKind) -> bool {
    use ErrorKind::*;
    matches!(kind, NetworkError | Timeout | ServiceUnavailable | HostUnreachable | DnsFailure | IdentityUnreachable)
}
