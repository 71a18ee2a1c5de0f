//! The GUI side of steps 3 and 4: where the browser comes back to and what happens then.
//!
//! - Deep link (default): the OS hands `dev.exosetup.wizard://oauth2/callback?…` to the app —
//!   to the running instance through tauri-plugin-single-instance, or by launching it cold —
//!   and tauri-plugin-deep-link's `on_open_url` passes it here.
//! - Loopback (chosen in step 1): a one-request listener on 127.0.0.1 per flow.
//!
//! Either way the URL goes to [`Auth::complete`] and the result to the UI as the event
//! [`FLOW_FINISHED`]. Expired flows are ended by a ticker. Nothing sent to the UI carries a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exo_setup_core::auth::{Auth, Purpose};
use exo_setup_core::bounded;
use exo_setup_core::identity;
use exo_setup_core::mailcheck::{self, CheckOptions, MailCheckReport};
use exo_setup_core::model::{FlowFinished, FlowResult, FlowStarted};
use exo_setup_core::oauth::FLOW_TTL;
use exo_setup_core::UiError;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use url::Url;

/// Event sent to the UI when a flow ends (payload: [`FlowFinished`]).
pub const FLOW_FINISHED: &str = "exo://flow-finished";

/// Event sent to the UI when a connection check ended (payload: [`MailCheckReport`]).
pub const ACCOUNT_CHECKED: &str = "exo://account-checked";

/// Extra certificate authority (PEM file) the connection check trusts besides the system's:
/// an organization's private CA, or the test suite's.
pub const CA_FILE_ENV: &str = "EXO_SETUP_CA_FILE";

/// How the window's mail connections (check, receipts, sending) are made: the system's roots plus
/// [`CA_FILE_ENV`]'s.
pub fn mail_options() -> CheckOptions {
    let extra_root_pem = std::env::var_os(CA_FILE_ENV).and_then(|p| {
        bounded::read_string(p.as_ref(), mailcheck::MAX_CA_FILE_BYTES)
            .map_err(|e| tracing::warn!("{CA_FILE_ENV} ignored: {e}"))
            .ok()
    });
    CheckOptions { extra_root_pem, ..Default::default() }
}

/// Runs the connection check of a mailbox and tells the UI (event [`ACCOUNT_CHECKED`]).
pub async fn check_and_announce<R: Runtime>(
    app: &AppHandle<R>,
    auth: &Arc<Auth>,
    address: &str,
) -> Result<MailCheckReport, UiError> {
    let report = mailcheck::check_account(auth, address, &mail_options()).await?;
    crate::commands::trace_ipc(ACCOUNT_CHECKED, &report);
    if let Err(e) = app.emit(ACCOUNT_CHECKED, &report) {
        tracing::warn!("could not send {ACCOUNT_CHECKED}: {e}");
    }
    Ok(report)
}

/// After a sign-in, proves the token with the connection check (in the background).
fn check_after_sign_in<R: Runtime>(app: &AppHandle<R>, auth: &Arc<Auth>, finished: &FlowFinished) {
    if let FlowResult::SignedIn { sign_in } = &finished.result {
        let (app, auth, address) = (app.clone(), Arc::clone(auth), sign_in.address.clone());
        tauri::async_runtime::spawn(async move {
            if let Err(e) = check_and_announce(&app, &auth, &address).await {
                tracing::info!(kind = %e.kind, "connection check after sign-in could not run");
            }
        });
    }
}

/// Loopback listeners waiting, by flow id (aborted on cancel).
#[derive(Default)]
pub struct LoopbackTasks(Mutex<HashMap<String, tauri::async_runtime::JoinHandle<()>>>);

impl LoopbackTasks {
    fn insert(&self, flow_id: String, task: tauri::async_runtime::JoinHandle<()>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(flow_id, task);
    }
    fn abort(&self, flow_id: &str) {
        if let Some(t) = self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(flow_id) {
            t.abort();
        }
    }
}

/// Sends a flow's end to the UI (and logs the payload for the IPC audit of the test suite).
pub fn emit_finished<R: Runtime>(app: &AppHandle<R>, finished: &FlowFinished) {
    crate::commands::trace_ipc(FLOW_FINISHED, finished);
    if let Err(e) = app.emit(FLOW_FINISHED, finished) {
        tracing::warn!("could not send {FLOW_FINISHED}: {e}");
    }
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// A URL the OS handed over (deep link). An invitation link goes to the confirmation screen
/// ([`crate::invitations`]); only the callback path of our scheme is a redirect; anything else
/// is logged and ignored.
pub fn handle_deep_link<R: Runtime>(app: &AppHandle<R>, auth: &Arc<Auth>, url: &Url) {
    if exo_setup_core::invite::is_invitation_url(url) {
        crate::invitations::open_and_announce(app, exo_setup_core::invite::Source::Text(url.to_string()));
        return;
    }
    let callback = identity::deep_link_redirect_uri();
    let is_callback = Url::parse(&callback)
        .map(|c| c.scheme() == url.scheme() && c.host_str() == url.host_str() && c.path() == url.path())
        .unwrap_or(false);
    if !is_callback {
        tracing::info!(scheme = url.scheme(), path = url.path(), "deep link is not an OAuth callback; ignored");
        return;
    }
    let (app, auth, url) = (app.clone(), Arc::clone(auth), url.to_string());
    tauri::async_runtime::spawn(async move {
        let finished = auth.complete(&url).await;
        emit_finished(&app, &finished);
        check_after_sign_in(&app, &auth, &finished);
    });
}

/// Starts a round trip the way step 1 chose (deep link or loopback), opens the system browser and
/// returns what the UI shows while waiting. A loopback wait runs as a task (aborted on cancel); a
/// deep link comes back through [`handle_deep_link`].
pub async fn start<R: Runtime>(app: &AppHandle<R>, auth: &Arc<Auth>, purpose: Purpose) -> Result<FlowStarted, UiError> {
    let mode = auth.redirect_mode().await?;
    let mut trip = auth.begin_round_trip(&purpose, mode).await?;
    if let Some(wait) = trip.take_loopback() {
        let (app2, auth2) = (app.clone(), Arc::clone(auth));
        let flow_id = wait.flow_id().to_owned();
        let task = tauri::async_runtime::spawn(async move {
            let ttl = FLOW_TTL.to_std().unwrap_or(Duration::from_secs(600));
            match wait.finish(&auth2, ttl).await {
                Ok(finished) => {
                    emit_finished(&app2, &finished);
                    check_after_sign_in(&app2, &auth2, &finished);
                }
                // The flow's own expiry (ticker) reports the timeout.
                Err(e) => tracing::info!(kind = %e.kind, "loopback listener ended"),
            }
        });
        app.state::<LoopbackTasks>().insert(flow_id, task);
    }
    if let Err(e) = auth.open_browser(&mut trip).await {
        tracing::warn!(kind = %e.kind, "no system browser could be opened; the UI offers the link");
    }
    Ok(trip.started)
}

/// Cancels a flow and stops its loopback listener.
pub fn cancel<R: Runtime>(app: &AppHandle<R>, auth: &Auth, flow_id: &str) {
    app.state::<LoopbackTasks>().abort(flow_id);
    if let Some(finished) = auth.cancel(flow_id) {
        emit_finished(app, &finished);
    }
}

/// Ends expired flows every few seconds.
pub fn spawn_expiry_ticker<R: Runtime>(app: AppHandle<R>, auth: Arc<Auth>) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            for finished in auth.expire_due() {
                if let Some(id) = &finished.flow_id {
                    app.state::<LoopbackTasks>().abort(id);
                }
                emit_finished(&app, &finished);
            }
        }
    });
}
