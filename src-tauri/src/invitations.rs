//! The GUI side of opening an invitation that the OS (deep link, double-click), a drop on the
//! window or the command line handed to the app.
//!
//! Rust reads the link or the file, the core checks it and works out the preview (after the
//! managed policy), and the UI receives only the outcome as the event [`INVITATION_OPENED`]:
//! a preview with an opaque id, or why the invitation was refused. The outcome is also kept
//! until the UI asks for it (`last_opened_invitation`), because at a cold start the event is
//! sent before the web view listens. Nothing is stored until the user accepts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use exo_setup_core::invite::{self, PendingInvitations};
use exo_setup_core::model::{InvitationOpened, InvitationPreview};
use exo_setup_core::{policy, Actor, Store, UiError};
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

/// Where an invitation comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A link, or a file's text (pasted).
    Text(String),
    /// An invitation file.
    File(PathBuf),
}

impl Source {
    /// A link (of the app's scheme), a `file://` URL or a path, or pasted text (JSON).
    pub fn from_arg(source: &str) -> Source {
        let trimmed = source.trim();
        if trimmed.starts_with('{') {
            return Source::Text(source.to_owned());
        }
        match crate::launch::Handover::classify(trimmed, None) {
            Some(crate::launch::Handover::InvitationFile(path)) => Source::File(path),
            Some(crate::launch::Handover::DeepLink(_)) => Source::Text(source.to_owned()),
            None if Path::new(trimmed).is_file() => Source::File(PathBuf::from(trimmed)),
            None => Source::Text(source.to_owned()),
        }
    }
}

/// Reads and checks an invitation and works out what accepting it would do here; keeps it
/// pending under the preview's id. Blocking (file, policy file, SQLite): call it on the
/// blocking pool.
pub fn open(store: &Store, pending: &PendingInvitations, source: &Source) -> Result<InvitationPreview, UiError> {
    let inv = match source {
        Source::Text(text) => invite::parse(text)?,
        Source::File(path) => invite::read_file(path)?,
    };
    let policy = policy::load()?;
    let id = pending.insert(inv.clone());
    let preview = invite::preview(&store.conn(), &policy, &inv, id.clone());
    if preview.is_err() {
        pending.remove(&id);
    }
    preview
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
        let opened = match tauri::async_runtime::spawn_blocking(move || open(&store, &pending, &source)).await {
            Ok(Ok(preview)) => InvitationOpened::Preview { preview },
            Ok(Err(error)) => InvitationOpened::Failed { error },
            Err(e) => InvitationOpened::Failed {
                error: UiError::new("unexpected", Actor::Support, format!("background task failed: {e}")),
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
    fn sources_are_links_files_or_pasted_text() {
        let scheme = exo_setup_core::identity::DEEP_LINK_SCHEME;
        let link = format!("{scheme}://invite?v=1&p=e30&c=x");
        assert_eq!(Source::from_arg(&link), Source::Text(link.clone()));
        assert_eq!(Source::from_arg(&format!("  {link}\n")), Source::Text(format!("  {link}\n")));
        assert_eq!(Source::from_arg("/tmp/a.exoinvite"), Source::File("/tmp/a.exoinvite".into()));
        assert_eq!(Source::from_arg("file:///tmp/a%20b.exoinvite"), Source::File("/tmp/a b.exoinvite".into()));
        let json = "{\"exoSetupInvitation\": 1}";
        assert_eq!(Source::from_arg(json), Source::Text(json.into()));
        // Anything else is parsed as text, which explains what is wrong with it.
        assert_eq!(Source::from_arg("hello"), Source::Text("hello".into()));
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("invitation.txt");
        std::fs::write(&other, "x").unwrap();
        assert_eq!(Source::from_arg(other.to_str().unwrap()), Source::File(other.clone()));
    }

    #[test]
    fn only_invitation_files_among_dropped_ones() {
        let paths: Vec<PathBuf> = vec!["/a/x.exoinvite".into(), "/a/y.csv".into(), "/a/Z.EXOINVITE".into()];
        let found: Vec<_> = dropped_invitations(&paths).collect();
        assert_eq!(found, vec![&paths[0], &paths[2]]);
    }
}
