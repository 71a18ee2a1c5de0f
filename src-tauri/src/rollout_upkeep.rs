//! The rollout's work by timer while the window is open: every few minutes, the core's round
//! ([`rollout::background::round`]) retries the deferred mails that are due and reads the
//! receipts once invitations were sent, so that step 2's list moves without a click. The window
//! hears of what changed (event [`ROLLOUT_UPDATED`]) and reads the status again.
//!
//! A round waits for nothing: when the administrator's send run or read holds the rollout's
//! mailbox ([`RolloutSends`]), it is skipped. Failures are only logged (the core does): the next
//! round tries again, and a timer never interrupts the administrator with an error.

use std::sync::Arc;
use std::time::Duration;

use exo_setup_core::auth::Auth;
use exo_setup_core::rollout::{self, SendOptions};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::commands::{trace_ipc, RolloutSends, ROLLOUT_PROGRESS};
use crate::flows;

/// Event sent after a round that changed something (payload: `RolloutUpdated`).
pub const ROLLOUT_UPDATED: &str = "exo://rollout-updated";

/// Seconds between rounds: `EXO_SETUP_ROLLOUT_SECS` (tests), else 10 minutes.
fn interval() -> Duration {
    std::env::var("EXO_SETUP_ROLLOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10 * 60))
}

pub fn spawn<R: Runtime>(app: AppHandle<R>, auth: Arc<Auth>) {
    tauri::async_runtime::spawn(async move {
        // The first round soon after start (receipts came in overnight), but not during start-up.
        let period = interval();
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + period.min(Duration::from_secs(60)), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sends = app.state::<RolloutSends>();
            let Some(_one_run) = sends.try_one_run() else {
                tracing::info!("rollout round skipped: a send run or a read is under way");
                continue;
            };
            let opts = SendOptions { check: flows::mail_options(), ..SendOptions::default() };
            let cancel = sends.start();
            let updated = rollout::background::round(&auth, &opts, &cancel, &|p| {
                trace_ipc(ROLLOUT_PROGRESS, p);
                let _ = app.emit(ROLLOUT_PROGRESS, p);
            })
            .await;
            sends.finish();
            if updated.changed() {
                trace_ipc(ROLLOUT_UPDATED, &updated);
                if let Err(e) = app.emit(ROLLOUT_UPDATED, &updated) {
                    tracing::warn!("could not send {ROLLOUT_UPDATED}: {e}");
                }
            }
        }
    });
}
