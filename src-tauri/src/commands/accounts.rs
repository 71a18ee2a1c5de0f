//! Step 2: the account list and single-account changes.

use exo_setup_core::accounts;
use exo_setup_core::model::{AccountInput, AccountPage, AccountQuery, AccountRow};
use exo_setup_core::UiError;
use tauri::State;

use super::blocking;
use crate::AppState;

#[tauri::command]
pub async fn list_accounts(state: State<'_, AppState>, query: AccountQuery) -> Result<AccountPage, UiError> {
    blocking(&state.store, move |s| accounts::list(&s.conn(), &query)).await
}

/// The registered account of `address` (the core's match: trimmed, ASCII case-insensitive), or
/// `None` — so the UI never scans a search page for it.
#[tauri::command]
pub async fn find_account(state: State<'_, AppState>, address: String) -> Result<Option<AccountRow>, UiError> {
    blocking(&state.store, move |s| accounts::find_by_address(&s.conn(), &address)).await
}

#[tauri::command]
pub async fn add_account(state: State<'_, AppState>, input: AccountInput) -> Result<AccountRow, UiError> {
    blocking(&state.store, move |s| accounts::add(s, &input)).await
}

#[tauri::command]
pub async fn update_account(state: State<'_, AppState>, id: i64, input: AccountInput) -> Result<AccountRow, UiError> {
    state.auth.update_account(id, input).await
}

#[tauri::command]
pub async fn delete_account(state: State<'_, AppState>, id: i64) -> Result<(), UiError> {
    state.auth.delete_account(id).await
}
