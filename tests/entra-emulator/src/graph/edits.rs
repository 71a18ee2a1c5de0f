//! Run-time changes to the directory Graph serves — people joining, renamed, disabled, losing their mailbox or
//! leaving — through the library handle and the control API (`/_emulator/graph/users…`), so a sync can be tested
//! against a directory that moves.

use super::people::{NewPerson, Person, PersonEdit};
use crate::endpoints::AppState;
use crate::state::{Shared, World};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};

/// (tenant key, index) of a person named by object id or UPN, in any tenant.
fn locate(w: &World, id_or_upn: &str) -> Option<(String, u32)> {
    w.graph.iter().find_map(|(t, d)| d.find(id_or_upn).map(|i| (t.clone(), i)))
}

/// Adds a person to the tenant whose verified domain the UPN uses (else the generated people's tenant).
pub fn add(s: &Shared, p: NewPerson) -> Result<String, String> {
    let mut w = s.lock();
    let domain = p.user_principal_name.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    let tenant = w
        .config
        .tenants
        .iter()
        .find(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
        .map(|t| t.id.to_lowercase())
        .unwrap_or_else(|| w.graph_tenant.clone());
    let d = w.graph.get_mut(&tenant).ok_or("no such tenant")?;
    d.add(p)
}

pub fn edit(s: &Shared, id_or_upn: &str, e: PersonEdit) -> Result<(), String> {
    let mut w = s.lock();
    let (t, i) = locate(&w, id_or_upn).ok_or_else(|| format!("no such user: {id_or_upn}"))?;
    w.graph.get_mut(&t).ok_or("no such tenant")?.edit(i, e);
    Ok(())
}

pub fn remove(s: &Shared, id_or_upn: &str) -> Result<(), String> {
    let mut w = s.lock();
    let (t, i) = locate(&w, id_or_upn).ok_or_else(|| format!("no such user: {id_or_upn}"))?;
    w.graph.get_mut(&t).ok_or("no such tenant")?.remove(i);
    Ok(())
}

pub fn person(s: &Shared, id_or_upn: &str) -> Option<Person> {
    let w = s.lock();
    let (t, i) = locate(&w, id_or_upn)?;
    w.graph.get(&t)?.person(i)
}

fn result(r: Result<(), String>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

/// Routes under `/_emulator`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/graph/users",
            post(|State(s): State<AppState>, Json(p): Json<NewPerson>| async move {
                match add(&s, p) {
                    Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
                    Err(e) => (StatusCode::CONFLICT, e).into_response(),
                }
            }),
        )
        .route(
            "/graph/users/{user}",
            patch(|State(s): State<AppState>, Path(u): Path<String>, Json(e): Json<PersonEdit>| async move {
                result(edit(&s, &u, e))
            })
            .delete(|State(s): State<AppState>, Path(u): Path<String>| async move { result(remove(&s, &u)) }),
        )
}
