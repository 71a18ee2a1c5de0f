//! Step 2's rollout: the invitations mailed from the administrator's own mailbox and each
//! account's state. Queuing, sending and the status are the core's (`exo_setup_core::rollout`),
//! as for `exo-setup invite --send` and `exo-setup rollout`; here they are started, the send run's
//! progress is sent to the window as events, and the run can be cancelled. No token crosses IPC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use exo_setup_core::csv_io;
use exo_setup_core::rollout::status::{self, RolloutStatus};
use exo_setup_core::rollout::{
    self, outbox, settings, MailKind, MailLanguage, Queued, ReadSummary, Recipients, RolloutSettings, RolloutUpdated,
    SendOptions, SendProgress, SendSummary,
};
use exo_setup_core::{Actor, ErrorKind, UiError};
use tauri::{AppHandle, Emitter, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use super::{blocking, trace_ipc, traced};
use crate::rollout_upkeep::ROLLOUT_UPDATED;
use crate::{flows, AppState};

/// Event sent after every mail and while waiting for the sending limits (payload: `SendProgress`).
pub const ROLLOUT_PROGRESS: &str = "exo://rollout-progress";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The run with the rollout's mailbox under way — a send run, a read of the receipts, or the
/// timer's round (`rollout_upkeep`) — one at a time: two send runs could pick the same mail, two
/// IMAP sessions would move the same receipts. And the send run's cancel switch.
#[derive(Default)]
pub struct RolloutSends {
    one_run: tokio::sync::Mutex<()>,
    cancel: Mutex<Option<Arc<AtomicBool>>>,
    /// The administrator's send run under way and where it is: a step 2 drawn again (the admin
    /// went to another step and back) picks it up with [`rollout_run`].
    running: Mutex<Option<SendProgress>>,
}

impl RolloutSends {
    /// The timer's turn, unless a run of the administrator's is under way (the round is skipped).
    pub(crate) fn try_one_run(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.one_run.try_lock().ok()
    }

    /// A cancel switch for the run that holds `one_run`; [`Self::finish`] when it ends.
    pub(crate) fn start(&self) -> Arc<AtomicBool> {
        let cancel = Arc::new(AtomicBool::new(false));
        *self.cancel.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&cancel));
        cancel
    }

    pub(crate) fn finish(&self) {
        self.cancel.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn set_running(&self, progress: Option<SendProgress>) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = progress;
    }

    fn cancel(&self) {
        if let Some(c) = self.cancel.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            c.store(true, Ordering::SeqCst);
        }
    }
}

/// Every account's rollout state and the counts; "no news" after `no_news_days` days.
#[tauri::command]
pub async fn rollout_status(state: State<'_, AppState>, no_news_days: u32) -> Result<RolloutStatus, UiError> {
    blocking(&state.store, move |s| status::status(&s.conn(), no_news_days, now_ms())).await
}

/// The sender and the mails' language, or `null` when no sender was chosen yet.
#[tauri::command]
pub async fn rollout_settings(state: State<'_, AppState>) -> Result<Option<RolloutSettings>, UiError> {
    blocking(&state.store, |s| settings::get(&s.conn())).await
}

/// Chooses the sending mailbox (registered, with a sign-in here) and the mails' language.
#[tauri::command]
pub async fn set_rollout_sender(
    state: State<'_, AppState>,
    address: String,
    language: MailLanguage,
) -> Result<RolloutSettings, UiError> {
    blocking(&state.store, move |s| settings::set(&s.conn(), &address, language)).await
}

/// Queues an invitation for each recipient; someone invited before only with `resend`.
#[tauri::command]
pub async fn queue_invitations(
    state: State<'_, AppState>,
    recipients: Recipients,
    resend: bool,
) -> Result<Queued, UiError> {
    blocking(&state.store, move |s| outbox::enqueue(&mut s.conn(), &recipients, MailKind::Invitation, resend)).await
}

/// Queues a reminder for everyone invited at least `after_days` days ago without news.
#[tauri::command]
pub async fn queue_reminders(state: State<'_, AppState>, after_days: u32) -> Result<Queued, UiError> {
    blocking(&state.store, move |s| {
        let mut conn = s.conn();
        let ids = outbox::without_news(&conn, after_days, now_ms())?;
        outbox::enqueue(&mut conn, &Recipients::Accounts(ids), MailKind::Reminder, true)
    })
    .await
}

/// Sends the queue (`exo://rollout-progress` as it goes); fails with `rollout_nothing_to_send`
/// when the queue is empty. A cancelled run resolves with `cancelled: true`: what was sent stays sent.
#[tauri::command]
pub async fn send_invitations<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    sends: State<'_, RolloutSends>,
) -> Result<SendSummary, UiError> {
    let _one_run = sends.one_run.lock().await;
    let pending = blocking(&state.store, |s| outbox::counts(&s.conn()).map(|c| c.pending())).await?;
    if pending == 0 {
        let e = UiError::new(
            ErrorKind::RolloutNothingToSend,
            Actor::Admin,
            "Nothing is waiting in the queue: every chosen mailbox was invited already.",
        );
        return traced("send_invitations", Err(e));
    }
    let opts = SendOptions { check: flows::mail_options(), ..SendOptions::default() };
    let cancel = sends.start();
    sends.set_running(Some(SendProgress { remaining: pending, ..SendProgress::default() }));
    let r = rollout::send_queue(&state.auth, &opts, &cancel, &|p| {
        sends.set_running(Some(*p));
        trace_ipc(ROLLOUT_PROGRESS, p);
        let _ = app.emit(ROLLOUT_PROGRESS, p);
    })
    .await;
    sends.set_running(None);
    sends.finish();
    // A step 2 drawn after the run began did not start it: the event tells it the run ended.
    let updated = RolloutUpdated { retried: r.as_ref().ok().cloned(), ..RolloutUpdated::default() };
    trace_ipc(ROLLOUT_UPDATED, &updated);
    let _ = app.emit(ROLLOUT_UPDATED, &updated);
    traced("send_invitations", r)
}

/// The administrator's send run under way and its last progress, or `null`.
#[tauri::command]
pub fn rollout_run(sends: State<'_, RolloutSends>) -> Option<SendProgress> {
    let running = *sends.running.lock().unwrap_or_else(|e| e.into_inner());
    trace_ipc("rollout_run", &running);
    running
}

/// Stops the send run after the mail under way; it then resolves with `cancelled: true`.
#[tauri::command]
pub fn cancel_sending(sends: State<'_, RolloutSends>) {
    sends.cancel();
}

/// Reads the receipts and bounces that came back to the sender's mailbox (IMAP) and records them
/// (after the run under way, if the timer's round or a send run holds the mailbox).
#[tauri::command]
pub async fn read_receipts(state: State<'_, AppState>, sends: State<'_, RolloutSends>) -> Result<ReadSummary, UiError> {
    let _one_run = sends.one_run.lock().await;
    traced("read_receipts", rollout::read_receipts(&state.auth, &flows::mail_options()).await)
}

/// Asks where to save and writes the status as CSV (UTF-8 with a BOM). The path, or `None` when
/// the administrator cancelled. The dialog is Rust's: the web view needs no filesystem access.
#[tauri::command]
pub async fn export_rollout_csv<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    no_news_days: u32,
) -> Result<Option<String>, UiError> {
    blocking(&state.store, move |s| {
        let Some(path) =
            app.dialog().file().set_file_name("exo-setup-rollout.csv").add_filter("CSV", &["csv"]).blocking_save_file()
        else {
            return Ok(None);
        };
        let path = path.into_path().map_err(|e| UiError::new(ErrorKind::Unexpected, Actor::Support, e.to_string()))?;
        let rows = status::status(&s.conn(), no_news_days, now_ms())?.rows;
        let mut bytes = Vec::new();
        status::write_csv(&rows, &mut bytes)?;
        std::fs::write(&path, bytes).map_err(|e| csv_io::write_failed(&path, e))?;
        Ok(Some(path.display().to_string()))
    })
    .await
}
