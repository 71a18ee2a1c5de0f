//! Invitations (the admin makes them in step 2; the user opens, accepts or discards
//! one) and the managed policy. Pickers are native dialogs opened from Rust on the blocking pool,
//! so the web view needs no filesystem permission and never sends a path.

use std::sync::Arc;

use exo_setup_core::invite::{self, Source};
use exo_setup_core::model::{
    InvitationAccepted, InvitationLink, InvitationOpened, InvitationPreview, ManagedPolicy, SavedFiles,
};
use exo_setup_core::{policy, Actor, ErrorKind, UiError};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::{DialogExt, FilePath};

use super::{blocking, trace_ipc, traced};
use crate::AppState;

fn local_path(p: FilePath) -> Result<std::path::PathBuf, UiError> {
    p.into_path().map_err(|e| UiError::new(ErrorKind::Unexpected, Actor::Support, e.to_string()))
}

/// The managed policy (a small file: read on the blocking pool all the same).
async fn load_policy() -> Result<policy::Policy, UiError> {
    tauri::async_runtime::spawn_blocking(policy::load)
        .await
        .map_err(|e| UiError::new(ErrorKind::Unexpected, Actor::Support, format!("background task failed: {e}")))?
}

/// The invitation links of the given accounts (`null`: every account).
#[tauri::command]
pub async fn create_invitations(
    state: State<'_, AppState>,
    account_ids: Option<Vec<i64>>,
) -> Result<Vec<InvitationLink>, UiError> {
    blocking(&state.store, move |s| {
        Ok(invite::for_accounts(&s.conn(), account_ids.as_deref())?.into_iter().map(|(link, _)| link).collect())
    })
    .await
}

/// Asks for a folder and writes one `.exoinvite` file per account there; `None` when cancelled.
#[tauri::command]
pub async fn save_invitation_files<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account_ids: Option<Vec<i64>>,
) -> Result<Option<SavedFiles>, UiError> {
    blocking(&state.store, move |s| {
        let invitations = invite::for_accounts(&s.conn(), account_ids.as_deref())?;
        let Some(dir) = app.dialog().file().blocking_pick_folder() else {
            return Ok(None);
        };
        let dir = local_path(dir)?;
        let written = invite::write_files(&invitations, &dir)?;
        Ok(Some(SavedFiles { count: written.len() as u32, path: dir.display().to_string() }))
    })
    .await
}

/// Asks where to save and writes the mail-merge CSV (one link per account); `None` when cancelled.
#[tauri::command]
pub async fn save_invitations_csv<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    account_ids: Option<Vec<i64>>,
) -> Result<Option<SavedFiles>, UiError> {
    blocking(&state.store, move |s| {
        let links: Vec<_> =
            invite::for_accounts(&s.conn(), account_ids.as_deref())?.into_iter().map(|(link, _)| link).collect();
        let Some(path) = app
            .dialog()
            .file()
            .set_file_name("exo-setup-invitations.csv")
            .add_filter("CSV", &["csv"])
            .blocking_save_file()
        else {
            return Ok(None);
        };
        let path = local_path(path)?;
        invite::write_csv_file(&links, &path)?;
        Ok(Some(SavedFiles { count: links.len() as u32, path: path.display().to_string() }))
    })
    .await
}

/// A pasted link or file text, shown for confirmation.
#[tauri::command]
pub async fn open_invitation_text(state: State<'_, AppState>, text: String) -> Result<InvitationPreview, UiError> {
    let pending = Arc::clone(&state.invitations);
    blocking(&state.store, move |s| pending.open(&s.conn(), &Source::Text(text))).await
}

/// Asks for an invitation file and shows it for confirmation; `None` when cancelled.
#[tauri::command]
pub async fn open_invitation_file<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Option<InvitationPreview>, UiError> {
    let pending = Arc::clone(&state.invitations);
    blocking(&state.store, move |s| {
        let Some(path) =
            app.dialog().file().add_filter("exo-setup invitation", &[invite::FILE_EXTENSION]).blocking_pick_file()
        else {
            return Ok(None);
        };
        pending.open(&s.conn(), &Source::File(local_path(path)?)).map(Some)
    })
    .await
}

/// Stores what the confirmation screen showed under `invitation_id` (settings and mailbox).
#[tauri::command]
pub async fn accept_invitation(
    state: State<'_, AppState>,
    invitation_id: String,
    replace_existing: bool,
) -> Result<InvitationAccepted, UiError> {
    let r = async {
        let inv = state.invitations.get(&invitation_id)?;
        let policy = load_policy().await?;
        let accepted = invite::accept(&state.store, &policy, &inv, replace_existing).await?;
        state.invitations.remove(&invitation_id);
        state.last_invitation.forget(&invitation_id);
        Ok(accepted)
    }
    .await;
    traced("accept_invitation", r)
}

/// Forgets an opened invitation (the user declined it).
#[tauri::command]
pub fn discard_invitation(state: State<'_, AppState>, invitation_id: String) {
    trace_ipc("discard_invitation", &invitation_id);
    state.invitations.remove(&invitation_id);
    state.last_invitation.forget(&invitation_id);
}

/// The invitation the OS handed over before the UI listened (cold start), once.
#[tauri::command]
pub fn last_opened_invitation(state: State<'_, AppState>) -> Option<InvitationOpened> {
    let opened = state.last_invitation.take();
    trace_ipc("last_opened_invitation", &opened);
    opened
}

/// The machine-wide policy, for the managed-field badges of step 1.
#[tauri::command]
pub async fn managed_policy() -> Result<ManagedPolicy, UiError> {
    traced("managed_policy", load_policy().await.map(|p| p.view()))
}
