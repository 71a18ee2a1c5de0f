//! The support bundle: the core writes it (`exo_setup_core::support`) into the user's Downloads
//! folder (else Documents) under a new name; the UI gets the path and the entries back, never a
//! byte of the content.

use std::sync::Arc;

use exo_setup_core::model::SupportBundle;
use exo_setup_core::{logging, support, UiError};
use tauri::State;

use super::blocking;
use crate::AppState;

#[tauri::command]
pub async fn create_support_bundle(state: State<'_, AppState>, hash_addresses: bool) -> Result<SupportBundle, UiError> {
    let (data_dir, keychain) = (state.data_dir.clone(), Arc::clone(state.auth.token_store()));
    blocking(&state.store, move |store| {
        let explicit = std::env::var_os(logging::LOG_FILE_ENV).filter(|p| !p.is_empty()).map(Into::into);
        support::create(support::Request {
            store,
            keychain: Some(keychain.as_ref()),
            log_files: support::logs::sources(&data_dir, explicit),
            out: support::default_path(&support::default_dir(&data_dir)),
            overwrite: false,
            hash_addresses,
        })
    })
    .await
}
