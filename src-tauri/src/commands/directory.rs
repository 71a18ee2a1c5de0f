//! Step 2 from Microsoft Entra ID: the administrator's Graph sign-in (the browser round trip of
//! steps 3 and 4), a group search, the directory read with progress events and cancel, the diff
//! paged from SQLite, apply and discard. The work is the core's (`Auth::read_directory`,
//! `exo_setup_core::directory`); no token ever crosses IPC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use exo_setup_core::auth::Purpose;
use exo_setup_core::directory::{
    self, DirectoryDiffPage, DirectoryDiffQuery, DirectoryGroup, DirectoryOutcome, DirectoryPreview, DirectoryReadInput,
};
use exo_setup_core::model::{FlowStarted, ImportMode};
use exo_setup_core::UiError;
use tauri::{AppHandle, Emitter, Runtime, State};

use super::{blocking, trace_ipc, traced};
use crate::{flows, AppState};

/// Event sent after every page read (payload: `DirectoryProgress`).
pub const DIRECTORY_PROGRESS: &str = "exo://directory-progress";

/// The cancel switch of the directory read under way, if any.
#[derive(Default)]
pub struct DirectoryReads(Mutex<Option<Arc<AtomicBool>>>);

impl DirectoryReads {
    /// A new read's switch; a read still under way is cancelled (one read at a time).
    fn start(&self) -> Arc<AtomicBool> {
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(previous) = self.0.lock().unwrap_or_else(|e| e.into_inner()).replace(Arc::clone(&cancel)) {
            previous.store(true, Ordering::Relaxed);
        }
        cancel
    }

    fn cancel(&self) {
        if let Some(c) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            c.store(true, Ordering::Relaxed);
        }
    }
}

#[tauri::command]
pub async fn begin_directory_sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    login_hint: Option<String>,
) -> Result<FlowStarted, UiError> {
    let r = flows::start(&app, &state.auth, Purpose::DirectorySignIn(login_hint)).await;
    traced("begin_directory_sign_in", r)
}

/// Whether an administrator is signed in for the directory on this computer.
#[tauri::command]
pub async fn directory_signed_in(state: State<'_, AppState>) -> Result<bool, UiError> {
    traced("directory_signed_in", state.auth.directory_signed_in().await)
}

/// Forgets the directory sign-in (keychain).
#[tauri::command]
pub async fn directory_sign_out(state: State<'_, AppState>) -> Result<(), UiError> {
    traced("directory_sign_out", state.auth.directory_sign_out().await)
}

#[tauri::command]
pub async fn search_directory_groups(
    state: State<'_, AppState>,
    prefix: String,
) -> Result<Vec<DirectoryGroup>, UiError> {
    traced("search_directory_groups", state.auth.search_directory_groups(&prefix).await)
}

/// Reads the directory into the stage; `exo://directory-progress` after every page.
#[tauri::command]
pub async fn read_directory<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    reads: State<'_, DirectoryReads>,
    input: DirectoryReadInput,
) -> Result<DirectoryPreview, UiError> {
    let cancel = reads.start();
    let r = state
        .auth
        .read_directory(&input, &cancel, |p| {
            trace_ipc(DIRECTORY_PROGRESS, &p);
            let _ = app.emit(DIRECTORY_PROGRESS, p);
        })
        .await;
    traced("read_directory", r)
}

/// Stops the read under way after its current page; it then fails with `directory_cancelled`.
#[tauri::command]
pub fn cancel_directory_read(reads: State<'_, DirectoryReads>) {
    reads.cancel();
}

#[tauri::command]
pub async fn directory_diff(
    state: State<'_, AppState>,
    query: DirectoryDiffQuery,
) -> Result<DirectoryDiffPage, UiError> {
    blocking(&state.store, move |s| directory::preview_page(s, &query)).await
}

#[tauri::command]
pub async fn apply_directory(state: State<'_, AppState>, mode: ImportMode) -> Result<DirectoryOutcome, UiError> {
    blocking(&state.store, move |s| directory::apply(s, mode)).await
}

#[tauri::command]
pub async fn discard_directory(state: State<'_, AppState>) -> Result<(), UiError> {
    blocking(&state.store, directory::discard).await
}
