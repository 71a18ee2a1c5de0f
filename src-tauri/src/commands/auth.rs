//! Steps 3 and 4: start, cancel and inspect browser round trips; sign out.

use exo_setup_core::auth::Purpose;
use exo_setup_core::model::{AccountRow, FlowSnapshot, FlowStarted};
use exo_setup_core::UiError;
use tauri::{AppHandle, Runtime, State};

use super::traced;
use crate::{flows, AppState};

#[tauri::command]
pub async fn begin_admin_consent<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<FlowStarted, UiError> {
    let r = flows::start(&app, &state.auth, Purpose::AdminConsent).await;
    traced("begin_admin_consent", r)
}

#[tauri::command]
pub async fn begin_sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    address: String,
) -> Result<FlowStarted, UiError> {
    let r = flows::start(&app, &state.auth, Purpose::SignIn(address)).await;
    traced("begin_sign_in", r)
}

#[tauri::command]
pub fn cancel_flow<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, flow_id: String) {
    flows::cancel(&app, &state.auth, &flow_id);
}

#[tauri::command]
pub fn flow_snapshot(state: State<'_, AppState>) -> FlowSnapshot {
    let snapshot = state.auth.snapshot();
    super::trace_ipc("flow_snapshot", &snapshot);
    snapshot
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>, address: String) -> Result<AccountRow, UiError> {
    let opts = crate::flows::mail_options();
    traced("sign_out", exo_setup_core::rollout::receipt_send::sign_out_reporting(&state.auth, &address, &opts).await)
}
