//! Step 2: CSV import (raw file bytes in the IPC body, never decoded in JavaScript) and export
//! (a native save dialog opened from Rust, so the web view needs no filesystem permission).

use exo_setup_core::csv_io::{self, ExportEncoding};
use exo_setup_core::model::{ImportMode, ImportOutcome, ImportPreview};
use exo_setup_core::{Actor, ErrorKind, UiError};
use tauri::ipc::{InvokeBody, Request};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use super::blocking;
use crate::AppState;

fn raw_body(request: &Request<'_>) -> Result<Vec<u8>, UiError> {
    match request.body() {
        InvokeBody::Raw(bytes) => Ok(bytes.clone()),
        InvokeBody::Json(_) => {
            Err(UiError::new(ErrorKind::Unexpected, Actor::Support, "the CSV must be sent as raw bytes"))
        }
    }
}

#[tauri::command]
pub async fn preview_csv_import(state: State<'_, AppState>, request: Request<'_>) -> Result<ImportPreview, UiError> {
    let bytes = raw_body(&request)?;
    blocking(&state.store, move |s| csv_io::preview(s, &bytes)).await
}

#[tauri::command]
pub async fn import_csv(state: State<'_, AppState>, request: Request<'_>) -> Result<ImportOutcome, UiError> {
    let bytes = raw_body(&request)?;
    let mode = match request.headers().get("x-import-mode").and_then(|v| v.to_str().ok()) {
        Some("valid_rows_only") => ImportMode::ValidRowsOnly,
        _ => ImportMode::AllOrNothing,
    };
    blocking(&state.store, move |s| csv_io::import(s, &bytes, mode)).await
}

/// Asks where to save and writes all accounts as UTF-8 CSV with a BOM (what Excel opens
/// correctly). Returns the path, or `None` when the admin cancelled.
#[tauri::command]
pub async fn export_csv<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Result<Option<String>, UiError> {
    blocking(&state.store, move |s| {
        let Some(path) = app
            .dialog()
            .file()
            .set_file_name("exo-setup-accounts.csv")
            .add_filter("CSV", &["csv"])
            .blocking_save_file()
        else {
            return Ok(None);
        };
        let path = path.into_path().map_err(|e| UiError::new(ErrorKind::Unexpected, Actor::Support, e.to_string()))?;
        csv_io::export_to_file(&s.conn(), ExportEncoding::Utf8Bom, &path)?;
        Ok(Some(path.display().to_string()))
    })
    .await
}
