//! Start-up facts, the overview of the four steps, and step 1.

use exo_setup_core::model::{AppInfo, OrgSettingsInput, SetupOverview};
use exo_setup_core::{org, overview, UiError};
use tauri::State;

use super::blocking;
use crate::AppState;

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    overview::app_info(&state.data_dir)
}

/// Called by the UI once the wizard is painted; the benchmark harness times start-up by it.
#[tauri::command]
pub fn ui_ready() {
    tracing::debug!("ui ready");
    if std::env::var_os("EXO_SETUP_BENCH").is_some() {
        println!("exo-setup: ui-ready");
    }
}

/// The app registration (Cloud Shell script and manifest) for step 1's copy buttons.
#[tauri::command]
pub fn app_registration() -> exo_setup_core::registration::AppRegistration {
    exo_setup_core::registration::app_registration()
}

#[tauri::command]
pub async fn setup_overview(state: State<'_, AppState>) -> Result<SetupOverview, UiError> {
    blocking(&state.store, |s| overview::overview(&s.conn())).await
}

#[tauri::command]
pub async fn save_exchange_online(
    state: State<'_, AppState>,
    input: OrgSettingsInput,
) -> Result<SetupOverview, UiError> {
    org::save_exchange_online(&state.store, &input).await?;
    blocking(&state.store, |s| overview::overview(&s.conn())).await
}

#[tauri::command]
pub async fn set_server_enabled(
    state: State<'_, AppState>,
    server_id: i64,
    enabled: bool,
) -> Result<SetupOverview, UiError> {
    org::set_server_enabled(&state.store, server_id, enabled).await?;
    blocking(&state.store, |s| overview::overview(&s.conn())).await
}
