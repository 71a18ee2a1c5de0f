//! The GUI side of opening an invitation that the OS (deep link, double-click), a drop on the
//! window or the command line handed to the app.
//!
//! Rust reads the link or the file, the core checks it and works out the preview (after the
//! managed policy; `PendingInvitations::open`, the same opening as the CLI's), and the UI
//! receives only the outcome as the event [`INVITATION_OPENED`]: a preview with an opaque id, or
//! why the invitation was refused. The outcome is also kept
//! until the UI asks for it (`last_opened_invitation`), because at a cold start the event is
//! sent before the web view listens. Nothing is stored until the user accepts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use exo_setup_core::invite::{self, Source};
use exo_setup_core::model::InvitationOpened;
use exo_setup_core::{Actor, ErrorKind, UiError};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::AppState;

/// Event sent to the UI when an invitation arrived (payload: [`InvitationOpened`]).
pub const INVITATION_OPENED: &str = "exo://invitation-opened";

/// The last invitation the OS handed over, until the UI takes it.
#[derive(Default)]
pub struct LastOpened(Mutex<Option<InvitationOpened>>);

impl LastOpened {
    pub fn set(&self, opened: InvitationOpened) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(opened);
    }

    /// Returns and forgets it.
    pub fn take(&self) -> Option<InvitationOpened> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Forgets it if it is the invitation `id` (accepted or discarded), so that a reloaded window
    /// does not show it again.
    pub fn forget(&self, id: &str) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(&*slot, Some(InvitationOpened::Preview { preview }) if preview.invitation_id == id) {
            *slot = None;
        }
    }
}

/// Opens `source` off the calling thread, tells the UI ([`INVITATION_OPENED`]), keeps the
/// outcome for `last_opened_invitation` and brings the window forward.
pub fn open_and_announce<R: Runtime>(app: &AppHandle<R>, source: Source) {
    match &source {
        Source::File(path) => tracing::info!(path = %path.display(), "invitation file handed over"),
        Source::Text(_) => tracing::info!("invitation link handed over"),
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let (store, pending) = (Arc::clone(&state.store), Arc::clone(&state.invitations));
        let opened = match tauri::async_runtime::spawn_blocking(move || pending.open(&store.conn(), &source)).await {
            Ok(Ok(preview)) => InvitationOpened::Preview { preview },
            Ok(Err(error)) => InvitationOpened::Failed { error },
            Err(e) => InvitationOpened::Failed {
                error: UiError::new(ErrorKind::Unexpected, Actor::Support, format!("background task failed: {e}")),
            },
        };
        announce(&app, opened);
    });
}

fn announce<R: Runtime>(app: &AppHandle<R>, opened: InvitationOpened) {
    crate::commands::trace_ipc(INVITATION_OPENED, &opened);
    app.state::<AppState>().last_invitation.set(opened.clone());
    if let Err(e) = app.emit(INVITATION_OPENED, &opened) {
        tracing::warn!("could not send {INVITATION_OPENED}: {e}");
    }
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// The invitation files among paths dropped on the window (other files are ignored).
pub fn dropped_invitations(paths: &[PathBuf]) -> impl Iterator<Item = &PathBuf> {
    paths.iter().filter(|p| {
        p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(invite::FILE_EXTENSION))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invitation_files_among_dropped_ones() {
        let paths: Vec<PathBuf> = vec!["/a/x.exoinvite".into(), "/a/y.csv".into(), "/a/Z.EXOINVITE".into()];
        let found: Vec<_> = dropped_invitations(&paths).collect();
        assert_eq!(found, vec![&paths[0], &paths[2]]);
    }
}
