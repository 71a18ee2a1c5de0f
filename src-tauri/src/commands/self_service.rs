//! Self-service: step 1's switch and the organization invitation on the administrator's side,
//! the sign-in of a typed mailbox on a user's. The rules are the core's (`exo_setup_core::self_service`,
//! `Auth::begin_self_sign_in`), shared with `exo-setup server self-service`, `invite --organization`
//! and `login`.

use exo_setup_core::auth::Purpose;
use exo_setup_core::model::{FlowStarted, ReceiveProtocol};
use exo_setup_core::self_service::{self, OrganizationInvitation, SelfServiceState};
use exo_setup_core::UiError;
use tauri::{AppHandle, Runtime, State};

use super::{blocking, traced};
use crate::{flows, AppState};

/// Whether users may set up the mailbox they type here, after the managed policy.
#[tauri::command]
pub async fn self_service_state(state: State<'_, AppState>) -> Result<SelfServiceState, UiError> {
    let policy = state.auth.policy()?;
    blocking(&state.store, move |s| self_service::state(&s.conn(), &policy)).await
}

/// Step 1's switch (refused where the managed policy decides).
#[tauri::command]
pub async fn set_self_service(state: State<'_, AppState>, enabled: bool) -> Result<SelfServiceState, UiError> {
    let policy = state.auth.policy()?;
    blocking(&state.store, move |s| self_service::set_enabled(&s.conn(), &policy, enabled)).await
}

/// The organization invitation (one link for everyone; no mailbox).
#[tauri::command]
pub async fn organization_invitation(state: State<'_, AppState>) -> Result<OrganizationInvitation, UiError> {
    let policy = state.auth.policy()?;
    blocking(&state.store, move |s| self_service::organization_invitation(&s.conn(), &policy).map(|(made, _)| made))
        .await
}

/// Step 4 for a mailbox the user typed: registered only once Microsoft confirms the identity.
#[tauri::command]
pub async fn begin_self_sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    address: String,
    protocol: ReceiveProtocol,
) -> Result<FlowStarted, UiError> {
    let r = flows::start(&app, &state.auth, Purpose::SelfSignIn(address, protocol)).await;
    traced("begin_self_sign_in", r)
}
