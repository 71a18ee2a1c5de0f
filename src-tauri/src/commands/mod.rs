//! The IPC commands the web UI calls. Each is a few lines: get the state, run the core on a
//! blocking thread (SQLite) or await it (network), return a `UiError` on failure.
//! No command ever returns a token or any other secret.

mod accounts;
mod auth;
mod check;
mod csv;
mod directory;
mod invite;
/// The one list of command names (`with_app_commands!`), shared with `build.rs`.
mod list;
mod rollout;
mod self_service;
mod setup;
mod support;

pub use accounts::*;
pub use auth::*;
pub use check::*;
pub use csv::*;
pub use directory::*;
pub use invite::*;
pub use rollout::*;
pub use self_service::*;
pub use setup::*;
pub use support::*;

use std::sync::Arc;

use exo_setup_core::{Actor, ErrorKind, Store, UiError};

/// Runs blocking store work off the async runtime's worker and the UI thread.
async fn blocking<T: serde::Serialize + Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    let store = Arc::clone(store);
    let r = tauri::async_runtime::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| UiError::new(ErrorKind::Unexpected, Actor::Support, format!("background task failed: {e}")))?;
    traced(std::any::type_name::<T>(), r)
}

/// Logs what goes to the UI at debug level under the target `exo_setup::ipc`, so that the test
/// suite can scan every IPC payload of a run for token strings (there must be none).
pub(crate) fn trace_ipc<T: serde::Serialize>(what: &str, payload: &T) {
    if tracing::enabled!(target: "exo_setup::ipc", tracing::Level::DEBUG) {
        let json = serde_json::to_string(payload).unwrap_or_default();
        tracing::debug!(target: "exo_setup::ipc", what, payload = %json);
    }
}

/// [`trace_ipc`] of a command's result, passed through.
pub(crate) fn traced<T: serde::Serialize>(command: &str, r: Result<T, UiError>) -> Result<T, UiError> {
    match &r {
        Ok(v) => trace_ipc(command, v),
        Err(e) => trace_ipc(command, e),
    }
    r
}
