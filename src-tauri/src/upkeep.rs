//! Token upkeep while the window is open: at start, the repair of account statuses that an
//! interrupted write left disagreeing with the keychain ([`Auth::repair_sign_ins`]); then a
//! round of [`Auth::upkeep`] every few minutes. An account whose refresh failed for good is
//! announced to the UI (event [`NEEDS_REAUTH`]), which shows it in the window and as an OS
//! notification in the user's language, with a button that opens step 4 for that mailbox.
//! Transient failures are only logged: the token is kept and the next round retries.

use std::sync::Arc;
use std::time::Duration;

use exo_setup_core::auth::{Auth, UpkeepPolicy};
use exo_setup_core::model::NeedsReauth;
use tauri::{AppHandle, Emitter, Runtime};

/// Event sent when an account needs the user to sign in again (payload: [`NeedsReauth`]).
pub const NEEDS_REAUTH: &str = "exo://needs-reauth";

/// Seconds between rounds: `EXO_SETUP_UPKEEP_SECS` (tests), else 5 minutes.
fn interval() -> Duration {
    std::env::var("EXO_SETUP_UPKEEP_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(5 * 60))
}

pub fn spawn<R: Runtime>(app: AppHandle<R>, auth: Arc<Auth>) {
    tauri::async_runtime::spawn(async move {
        // An earlier run may have been interrupted between a keychain write and the status.
        match auth.repair_sign_ins().await {
            Ok(repaired) if !repaired.is_empty() => tracing::info!(?repaired, "account status repaired at start"),
            Ok(_) => {}
            Err(e) => tracing::info!(kind = %e.kind, "could not compare the keychain with the account status"),
        }
        // The first round waits a little: start-up belongs to the window.
        let period = interval();
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + period.min(Duration::from_secs(20)), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = match auth.upkeep(UpkeepPolicy::default()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(kind = %e.kind, "upkeep round skipped");
                    continue;
                }
            };
            for (address, error) in &report.transient {
                tracing::info!(%address, kind = %error.kind, "token refresh failed for now; kept, retried next round");
            }
            for (address, error) in &report.failed {
                tracing::warn!(%address, kind = %error.kind, "token refresh failed");
            }
            for (address, error) in report.needs_reauth {
                let payload = NeedsReauth { address, error };
                crate::commands::trace_ipc(NEEDS_REAUTH, &payload);
                if let Err(e) = app.emit(NEEDS_REAUTH, &payload) {
                    tracing::warn!("could not send {NEEDS_REAUTH}: {e}");
                }
            }
        }
    });
}
