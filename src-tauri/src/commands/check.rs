//! The connection check: log in to the mailbox's servers with its token.

use exo_setup_core::mailcheck::MailCheckReport;
use exo_setup_core::UiError;
use tauri::{AppHandle, Runtime, State};

use super::traced;
use crate::AppState;

#[tauri::command]
pub async fn check_account<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    address: String,
) -> Result<MailCheckReport, UiError> {
    traced("check_account", crate::flows::check_and_announce(&app, &state.auth, &address).await)
}
