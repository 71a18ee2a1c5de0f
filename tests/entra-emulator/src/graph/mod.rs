//! Microsoft Graph v1.0, the part that reads a directory: `GET /v1.0/users`, `GET /v1.0/groups` and
//! `GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user`, answered from the tenant named by the bearer
//! token's `tid`, with Microsoft's query options, paging (`@odata.nextLink` with an opaque `$skiptoken`), the
//! consistency-level rules of advanced queries, its error JSON, and injected throttling and page failures
//! (faults with `Endpoint::Graph`, optionally `page: N`). Served on the emulator's own base URL, so a client's
//! "Graph endpoint" is `{base_url}/v1.0`.

pub mod auth;
pub mod edits;
pub mod errors;
pub mod people;
pub mod query;

use crate::endpoints::{apply_faults, AppState};
use crate::faults::{transport_response, Endpoint, FaultKind, Probe};
use crate::state::World;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use errors::{GraphError, RequestCtx};
use people::{Group, Person, TenantDirectory};
use query::{Clause, Cursor, Query};
use serde_json::{json, Map, Value};

/// Delegated permissions that may read every user's profile (least privileged first).
const READ_USERS: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
/// Delegated permissions that may list groups and their members (least privileged first).
const READ_GROUPS: &[&str] =
    &["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

const USER_PROPS: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "userPrincipalName",
    "mail",
    "accountEnabled",
    "jobTitle",
    "department",
    "preferredLanguage",
    "businessPhones",
    "mobilePhone",
    "officeLocation",
];
/// What v1.0 returns for a user without `$select`.
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];
const GROUP_PROPS: &[&str] =
    &["id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/groups", get(list_groups))
        .route("/v1.0/groups/{id}/transitiveMembers/microsoft.graph.user", get(transitive_users))
}

/// What every listing does before it reads: the caller, its permission, the query, the consistency rules,
/// the cursor, then injected faults for that page.
async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    raw: Option<String>,
    need: &[&str],
    type_name: &str,
    props: &[&str],
    scope: &str,
) -> Result<(RequestCtx, String, Query, Cursor), Response> {
    let now = state.lock().now();
    let ctx = RequestCtx::new(&state.base_url, now, headers);
    let fail = |e: GraphError| e.response(&ctx);
    let caller = auth::caller(headers, &state.keys, &state.base_url, now).map_err(fail)?;
    caller.require(need).map_err(fail)?;
    let q = Query::parse(raw.as_deref().unwrap_or(""), type_name, props).map_err(fail)?;
    let eventual = headers.get("consistencylevel").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "eventual");
    q.check_consistency(eventual).map_err(fail)?;
    let scope = format!("{}:{scope}", caller.tenant_id.to_lowercase());
    let cursor = q.cursor(&scope).map_err(fail)?;
    let probe = Probe { user: None, grant_type: None, page: Some(cursor.page) };
    match apply_faults(state, Endpoint::Graph, probe).await {
        Some(FaultKind::Throttle { status, retry_after_secs }) => {
            return Err(fail(GraphError::throttled(status, retry_after_secs)))
        }
        Some(FaultKind::Http { status: 503 }) => return Err(fail(GraphError::throttled(503, 5))),
        Some(FaultKind::Http { status }) => return Err(fail(GraphError::server(status))),
        Some(k) => {
            if let Some(r) = transport_response(&k) {
                return Err(r);
            }
        }
        None => {}
    }
    Ok((ctx, scope, q, cursor))
}

/// Indices of one page from `start`, and where the next page starts (the next match), if any.
fn page(len: u32, start: u32, top: u32, matches: impl Fn(u32) -> bool) -> (Vec<u32>, Option<u32>) {
    let mut hits = vec![];
    for i in start..len {
        if matches(i) {
            if hits.len() as u32 == top {
                return (hits, Some(i));
            }
            hits.push(i);
        }
    }
    (hits, None)
}

fn text_matches(value: Option<&str>, clause_value: &str, starts: bool) -> bool {
    let Some(v) = value else { return false };
    if starts {
        v.to_lowercase().starts_with(&clause_value.to_lowercase())
    } else {
        v.eq_ignore_ascii_case(clause_value)
    }
}

fn user_prop<'a>(p: &'a Person, name: &str) -> Option<&'a str> {
    match name {
        "id" => Some(&p.id),
        "displayName" => Some(&p.display_name),
        "userPrincipalName" => Some(&p.user_principal_name),
        "mail" => p.mail.as_deref(),
        _ => None,
    }
}

/// Whether person `i` passes the filter and search (cheap flags first; strings only when a clause needs them).
fn user_matches(d: &TenantDirectory, i: u32, q: &Query) -> bool {
    let Some((enabled, has_mail)) = d.flags(i) else { return false };
    for c in &q.filter {
        let ok = match c {
            Clause::AccountEnabled { eq, value } => (enabled == *value) == *eq,
            Clause::MailNull { eq } => has_mail != *eq,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    let needs_text =
        q.search.is_some() || q.filter.iter().any(|c| matches!(c, Clause::Equals { .. } | Clause::StartsWith { .. }));
    if !needs_text {
        return true;
    }
    let Some(p) = d.person(i) else { return false };
    q.filter.iter().all(|c| match c {
        Clause::Equals { property, value } => text_matches(user_prop(&p, property), value, false),
        Clause::StartsWith { property, value } => text_matches(user_prop(&p, property), value, true),
        _ => true,
    }) && q
        .search
        .as_ref()
        .is_none_or(|(prop, term)| user_prop(&p, prop).is_some_and(|v| v.to_lowercase().contains(&term.to_lowercase())))
}

fn user_json(p: &Person, select: Option<&[String]>) -> Value {
    let mut m = Map::new();
    let names: Vec<&str> = match select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => USER_DEFAULT.to_vec(),
    };
    for n in names {
        let v = match n {
            "id" => json!(p.id),
            "displayName" => json!(p.display_name),
            "givenName" => json!(p.given_name),
            "surname" => json!(p.surname),
            "userPrincipalName" => json!(p.user_principal_name),
            "mail" => json!(p.mail),
            "accountEnabled" => json!(p.account_enabled),
            "jobTitle" => json!(p.job_title),
            "department" => json!(p.department),
            "preferredLanguage" => json!(p.preferred_language),
            "businessPhones" => json!([]),
            _ => Value::Null,
        };
        m.insert(n.to_string(), v);
    }
    Value::Object(m)
}

fn group_json(g: &Group, select: Option<&[String]>) -> Value {
    let mut m = Map::new();
    let names: Vec<&str> = match select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => GROUP_PROPS.to_vec(),
    };
    for n in names {
        let v = match n {
            "id" => json!(g.id),
            "displayName" => json!(g.display_name),
            "description" => json!(g.description),
            "mailNickname" => json!(g.mail_nickname),
            "mailEnabled" => json!(false),
            "securityEnabled" => json!(true),
            "groupTypes" => json!([]),
            _ => Value::Null,
        };
        m.insert(n.to_string(), v);
    }
    Value::Object(m)
}

/// The collection body: `@odata.context`, `@odata.count` (first page, when asked), `value`, `@odata.nextLink`.
#[allow(clippy::too_many_arguments)]
fn collection(
    ctx: &RequestCtx,
    entity_set: &str,
    path: &str,
    scope: &str,
    q: &Query,
    cursor: Cursor,
    count: Option<usize>,
    value: Vec<Value>,
    next: Option<u32>,
) -> Response {
    let mut context = format!("{}/v1.0/$metadata#{entity_set}", ctx.base_url);
    if let Some(s) = &q.select {
        context.push_str(&format!("({})", s.join(",")));
    }
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if let Some(n) = count {
        body.insert("@odata.count".into(), json!(n));
    }
    if let Some(n) = next {
        let link =
            q.next_link(&format!("{}{path}", ctx.base_url), scope, Cursor { page: cursor.page + 1, next_index: n });
        body.insert("@odata.nextLink".into(), json!(link));
    }
    body.insert("value".into(), Value::Array(value));
    let mut r = axum::Json(Value::Object(body)).into_response();
    ctx.stamp(r.headers_mut());
    r
}

fn tenant_dir<'a>(w: &'a World, scope: &str) -> Option<&'a TenantDirectory> {
    w.graph.get(scope.split(':').next().unwrap_or(""))
}

async fn list_users(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let (ctx, scope, q, cursor) =
        match prepare(&state, &headers, raw, READ_USERS, "microsoft.graph.user", USER_PROPS, "users").await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let w = state.lock();
    let Some(d) = tenant_dir(&w, &scope) else { return GraphError::server(500).response(&ctx) };
    let (hits, next) = page(d.len(), cursor.next_index, q.top, |i| user_matches(d, i, &q));
    let count = (q.count && cursor.page == 1).then(|| (0..d.len()).filter(|&i| user_matches(d, i, &q)).count());
    let value = hits.iter().filter_map(|&i| d.person(i)).map(|p| user_json(&p, q.select.as_deref())).collect();
    collection(&ctx, "users", "/v1.0/users", &scope, &q, cursor, count, value, next)
}

fn group_matches(g: &Group, q: &Query) -> Result<bool, GraphError> {
    let prop = |name: &str| match name {
        "displayName" => Some(g.display_name.as_str()),
        "id" => Some(g.id.as_str()),
        "mailNickname" => Some(g.mail_nickname.as_str()),
        _ => None,
    };
    for c in &q.filter {
        let ok = match c {
            Clause::Equals { property, value } => text_matches(prop(property), value, false),
            Clause::StartsWith { property, value } => text_matches(prop(property), value, true),
            _ => {
                return Err(GraphError::unsupported_query(
                    "Unsupported or invalid query filter clause specified for property of resource 'Group'.",
                ))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(q.search
        .as_ref()
        .is_none_or(|(p, term)| prop(p).is_some_and(|v| v.to_lowercase().contains(&term.to_lowercase()))))
}

async fn list_groups(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let (ctx, scope, q, cursor) =
        match prepare(&state, &headers, raw, READ_GROUPS, "microsoft.graph.group", GROUP_PROPS, "groups").await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let w = state.lock();
    let Some(d) = tenant_dir(&w, &scope) else { return GraphError::server(500).response(&ctx) };
    let mut keep = vec![];
    for g in d.groups() {
        match group_matches(g, &q) {
            Ok(k) => keep.push(k),
            Err(e) => return e.response(&ctx),
        }
    }
    let (hits, next) = page(d.groups().len() as u32, cursor.next_index, q.top, |i| keep[i as usize]);
    let count = (q.count && cursor.page == 1).then(|| keep.iter().filter(|k| **k).count());
    let value = hits.iter().map(|&i| group_json(&d.groups()[i as usize], q.select.as_deref())).collect();
    collection(&ctx, "groups", "/v1.0/groups", &scope, &q, cursor, count, value, next)
}

async fn transitive_users(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let scope_name = format!("groups/{id}/transitiveMembers/microsoft.graph.user");
    let (ctx, scope, q, cursor) =
        match prepare(&state, &headers, raw, READ_GROUPS, "microsoft.graph.user", USER_PROPS, &scope_name).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let w = state.lock();
    let Some(d) = tenant_dir(&w, &scope) else { return GraphError::server(500).response(&ctx) };
    let Some(g) = d.groups().iter().position(|g| g.id.eq_ignore_ascii_case(&id)) else {
        return GraphError::not_found(&id).response(&ctx);
    };
    let matches = |i: u32| d.transitive_member(g, i) && user_matches(d, i, &q);
    let (hits, next) = page(d.len(), cursor.next_index, q.top, matches);
    let count = (q.count && cursor.page == 1).then(|| (0..d.len()).filter(|&i| matches(i)).count());
    let value = hits.iter().filter_map(|&i| d.person(i)).map(|p| user_json(&p, q.select.as_deref())).collect();
    let path = format!("/v1.0/{scope_name}");
    collection(&ctx, "users", &path, &scope, &q, cursor, count, value, next)
}
