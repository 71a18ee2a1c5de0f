//! The IPC commands the web UI calls. Each is a few lines: get the state, run the core on a
//! blocking thread (SQLite) or await it (network), return a `UiError` on failure.
//! No command ever returns a token or any other secret.

mod accounts;
mod csv;
mod setup;

pub use accounts::*;
pub use csv::*;
pub use setup::*;

use std::sync::Arc;

use exo_setup_core::{Actor, Store, UiError};

/// Runs blocking store work off the async runtime's worker and the UI thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    let store = Arc::clone(store);
    tauri::async_runtime::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| UiError::new("unexpected", Actor::Support, format!("background task failed: {e}")))?
}
