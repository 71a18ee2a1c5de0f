//! Microsoft Graph v1.0, as much of it as reading the directory needs, the way Microsoft
//! documents it:
//! - `GET /v1.0/users` with `$select` (only the five properties used), `$top=999` (the largest
//!   page) and `$filter=mail ne null` — an advanced query, so `$count=true` and the header
//!   `ConsistencyLevel: eventual` go with it ("Advanced query capabilities on Microsoft Entra ID
//!   objects"). Disabled users are read too: their accounts are flagged, not mistaken for gone.
//! - `GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user`: nested groups' members
//!   flattened by Graph; the OData cast is an advanced query as well.
//! - `GET /v1.0/groups?$filter=displayName eq '…'` to find a group by name.
//! - Paging by `@odata.nextLink`, followed only when [`crate::audience::may_send_graph_token`]
//!   allows the link (the token must not follow a link to another host).
//! - 429 and 503 (and 504) are retried after `Retry-After` seconds (Microsoft's throttling
//!   guidance), a bounded number of times; a wait longer than [`Retry::max_wait`] is not slept
//!   but reported.
//! - Graph's error JSON (`error.code`, `error.message`, `error.innerError` with `request-id` and
//!   `date`) becomes a [`UiError`] that shows those IDs, so the admin can quote them to Microsoft.
//! - Every body is read through [`crate::http_body`] with a cap per page.
//!
//! The access token is held as [`Secret`] and written only into the `Authorization` header of a
//! request the audience rule allowed; it is never logged and never part of an error.

use crate::DetailKey;
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;
use url::Url;

use super::model::DirectoryGroup;
use crate::error::{Actor, ErrorKind, UiError};
use crate::http_body::{self, BodyError};
use crate::keychain::Secret;

/// Properties read for each user.
pub const USER_SELECT: &str = "id,displayName,mail,userPrincipalName,accountEnabled";
/// Users per page: Graph's maximum for users and members.
pub const PAGE_SIZE: u32 = 999;
/// Largest page read: 999 users of ~400 bytes are ~400 KB; long names fit many times over.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest error or group-search answer read.
pub const MAX_SMALL_BYTES: usize = 256 * 1024;
/// Groups listed for one search by name.
pub const MAX_GROUP_MATCHES: u32 = 20;
/// Longest group-name prefix searched for (Entra's display names are at most 256 characters).
pub const MAX_GROUP_PREFIX_CHARS: usize = 256;

/// How throttled requests (429, 503, 504) are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Total attempts of one request (≥ 1).
    pub attempts: u32,
    /// Longest wait slept; a longer `Retry-After` is reported instead.
    pub max_wait: Duration,
    /// Wait when the answer has no `Retry-After` (doubled each time).
    pub fallback: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { attempts: 6, max_wait: Duration::from_secs(120), fallback: Duration::from_secs(2) }
    }
}

/// A user as Graph returns it (only the selected properties).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Absent for members that are not users; treated as enabled only when Graph says so.
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    id: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    error: GraphErrorJson,
}

#[derive(Deserialize, Default)]
struct GraphErrorJson {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(rename = "innerError", alias = "innererror", default)]
    inner_error: InnerError,
}

#[derive(Deserialize, Default)]
struct InnerError {
    #[serde(rename = "request-id", default)]
    request_id: Option<String>,
    #[serde(rename = "client-request-id", default)]
    client_request_id: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

/// One page of users and where the next one is.
#[derive(Debug)]
pub struct UsersPage {
    pub users: Vec<GraphUser>,
    pub next: Option<Url>,
}

/// A Graph client for one organization, with one access token.
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    authority: String,
    token: Secret,
    retry: Retry,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

fn answer_invalid(what: String) -> UiError {
    UiError::new(
        ErrorKind::GraphAnswerInvalid,
        Actor::Support,
        format!("Microsoft Graph's answer could not be used: {what}. Nothing was imported; try again later."),
    )
    .with(DetailKey::Reason, what)
}

impl GraphClient {
    /// The client of the organization at `authority` (its cloud's Graph, [`crate::cloud::graph_base`]).
    pub fn new(authority: &str, token: Secret, retry: Retry) -> Result<Self, UiError> {
        let base = crate::cloud::graph_base(authority).ok_or_else(|| {
            UiError::new(
                ErrorKind::GraphAnswerInvalid,
                Actor::Admin,
                format!("No Microsoft Graph is known for the authority '{authority}'; check step 1's authority."),
            )
            .with(DetailKey::Reason, "unknown authority")
        })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("exo-setup/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| answer_invalid(format!("HTTP client: {e}")))?;
        Ok(Self { http, base, authority: authority.trim().trim_end_matches('/').to_owned(), token, retry })
    }

    fn url(&self, path_and_query: &str) -> Url {
        self.base.join(path_and_query).expect("a path joins a base URL")
    }

    /// The first page of every user with a mailbox.
    pub fn all_users_url(&self) -> Url {
        let mut u = self.url("/v1.0/users");
        u.query_pairs_mut()
            .append_pair("$select", USER_SELECT)
            .append_pair("$filter", "mail ne null")
            .append_pair("$count", "true")
            .append_pair("$top", &PAGE_SIZE.to_string());
        u
    }

    /// The first page of a group's transitive user members.
    pub fn group_members_url(&self, group_id: &str) -> Url {
        let mut u = self.url("/v1.0/groups/");
        u.path_segments_mut()
            .expect("http URL")
            .pop_if_empty()
            .push(group_id)
            .extend(["transitiveMembers", "microsoft.graph.user"]);
        u.query_pairs_mut()
            .append_pair("$select", USER_SELECT)
            .append_pair("$count", "true")
            .append_pair("$top", &PAGE_SIZE.to_string());
        u
    }

    /// The group named `name_or_id`: an object ID is taken as it is, a name must match exactly
    /// one group's display name.
    pub async fn find_group(&self, name_or_id: &str) -> Result<(String, String), UiError> {
        let wanted = name_or_id.trim();
        let not_found = || {
            UiError::new(
                ErrorKind::GroupNotFound,
                Actor::Admin,
                format!("No group named '{wanted}' was found in the directory. Check the name (or give the group's object ID from the Entra admin center)."),
            )
            .with(DetailKey::Group, wanted)
        };
        if wanted.is_empty() {
            return Err(not_found());
        }
        if uuid::Uuid::try_parse(wanted).is_ok() {
            // An object ID is used as it is: a group that does not exist answers the members
            // request with 404 Request_ResourceNotFound (see `read`).
            return Ok((wanted.to_ascii_lowercase(), wanted.to_owned()));
        }
        let mut u = self.url("/v1.0/groups");
        u.query_pairs_mut()
            .append_pair("$filter", &format!("displayName eq '{}'", wanted.replace('\'', "''")))
            .append_pair("$select", "id,displayName")
            .append_pair("$top", "10");
        let body = self.get(&u, false, MAX_SMALL_BYTES).await?;
        let page: Page<Group> = serde_json::from_slice(&body).map_err(|e| answer_invalid(e.to_string()))?;
        match page.value.as_slice() {
            [] => Err(not_found()),
            [g] => Ok((g.id.clone(), g.display_name.clone().unwrap_or_else(|| wanted.to_owned()))),
            many => Err(UiError::new(
                ErrorKind::GroupNotFound,
                Actor::Admin,
                format!(
                    "{} groups are named '{wanted}'; give the object ID of the one meant: {}.",
                    many.len(),
                    many.iter().map(|g| g.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .with(DetailKey::Group, wanted)
            .with(DetailKey::Candidates, many.iter().map(|g| g.id.as_str()).collect::<Vec<_>>().join(", "))),
        }
    }

    /// Groups whose display name starts with `prefix` (Graph's `startswith`, a standard query),
    /// at most [`MAX_GROUP_MATCHES`], for the admin to pick one by name.
    pub async fn search_groups(&self, prefix: &str) -> Result<Vec<DirectoryGroup>, UiError> {
        let wanted: String = prefix.trim().chars().take(MAX_GROUP_PREFIX_CHARS).collect();
        let mut u = self.url("/v1.0/groups");
        {
            let mut q = u.query_pairs_mut();
            if !wanted.is_empty() {
                q.append_pair("$filter", &format!("startswith(displayName,'{}')", wanted.replace('\'', "''")));
            }
            q.append_pair("$select", "id,displayName").append_pair("$top", &MAX_GROUP_MATCHES.to_string());
        }
        let body = self.get(&u, false, MAX_SMALL_BYTES).await?;
        let page: Page<Group> = serde_json::from_slice(&body).map_err(|e| answer_invalid(e.to_string()))?;
        Ok(page
            .value
            .into_iter()
            .take(MAX_GROUP_MATCHES as usize)
            .map(|g| DirectoryGroup {
                display_name: crate::validate::escape_unsafe(g.display_name.as_deref().unwrap_or("")).into_owned(),
                id: g.id,
            })
            .collect())
    }

    /// Reads one page of users (`url` from [`Self::all_users_url`], [`Self::group_members_url`]
    /// or a previous page's `next`).
    pub async fn users_page(&self, url: &Url) -> Result<UsersPage, UiError> {
        let body = self.get(url, true, MAX_PAGE_BYTES).await?;
        let page: Page<GraphUser> = serde_json::from_slice(&body)
            .map_err(|e| answer_invalid(format!("a page of users is not Graph's JSON ({e})")))?;
        drop(body);
        let users = page.value;
        let next = match page.next_link {
            None => None,
            Some(link) => {
                let next = Url::parse(&link).map_err(|e| answer_invalid(format!("@odata.nextLink '{link}': {e}")))?;
                if !crate::audience::may_send_graph_token(&next, &self.authority) {
                    return Err(answer_invalid(format!(
                        "@odata.nextLink points to {}, not to Microsoft Graph of this organization's cloud; it was not followed",
                        next.host_str().unwrap_or("?")
                    )));
                }
                Some(next)
            }
        };
        Ok(UsersPage { users, next })
    }

    /// GET with the token, retried while throttled; the body read up to `limit`.
    async fn get(&self, url: &Url, eventual: bool, limit: usize) -> Result<Vec<u8>, UiError> {
        if !crate::audience::may_send_graph_token(url, &self.authority) {
            return Err(answer_invalid(format!(
                "{} is not Microsoft Graph of this organization's cloud",
                url.host_str().unwrap_or("?")
            )));
        }
        let mut fallback = self.retry.fallback;
        let mut attempt = 1;
        loop {
            let mut req = self
                .http
                .get(url.clone())
                .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if eventual {
                req = req.header("ConsistencyLevel", "eventual");
            }
            let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return http_body::read_capped(resp, limit).await.map_err(|e| body_error(url, e));
            }
            let wait = retry_after(resp.headers());
            let body = http_body::read_capped(resp, MAX_SMALL_BYTES).await.unwrap_or_default();
            let throttled = matches!(status, 429 | 503 | 504);
            if throttled && attempt < self.retry.attempts {
                let delay = wait.unwrap_or(fallback);
                if delay <= self.retry.max_wait {
                    tracing::info!(status, attempt, delay_secs = delay.as_secs(), "Microsoft Graph throttled; waiting");
                    tokio::time::sleep(delay).await;
                    fallback = (fallback * 2).min(self.retry.max_wait);
                    attempt += 1;
                    continue;
                }
            }
            return Err(graph_error(status, &body, wait, attempt));
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn unreachable(url: &Url, e: &reqwest::Error) -> UiError {
    let host = url.host_str().unwrap_or("?").to_owned();
    UiError::new(
        ErrorKind::GraphUnreachable,
        Actor::Support,
        format!("Microsoft Graph ({host}) could not be reached: {e}. Nothing was imported; check the network (or a proxy) and try again."),
    )
    .with(DetailKey::Host, host)
    .with(DetailKey::Reason, e.to_string())
}

fn body_error(url: &Url, e: BodyError) -> UiError {
    match e {
        BodyError::TooLarge { limit, .. } => {
            answer_invalid(format!("a page is larger than {} MB", limit / 1024 / 1024))
        }
        BodyError::Transport(e) => unreachable(url, &e),
    }
}

/// Graph's error JSON as the admin sees it: code, message, request-id and date, who acts.
fn graph_error(status: u16, body: &[u8], retry_after: Option<Duration>, attempts: u32) -> UiError {
    let e = serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_default();
    let code = if e.code.is_empty() { format!("HTTP {status}") } else { e.code.clone() };
    let graph_message = crate::validate::escape_unsafe(&e.message.chars().take(500).collect::<String>()).into_owned();
    let (actor, advice) = match status {
        401 => (Actor::Admin, "The directory sign-in is no longer accepted: run `exo-setup directory login` (or sign in again in step 2) and retry."),
        403 => (Actor::Admin, "The signed-in administrator, or the app's consent, lacks the directory permissions (User.Read.All, GroupMember.Read.All): grant admin consent for them, or sign in with an account that may read the directory."),
        404 => (Actor::Admin, "Graph does not know what was asked for (a group deleted?)."),
        429 | 503 | 504 => (Actor::Support, "Microsoft Graph is busy (throttled); nothing was imported. Try again later."),
        _ => (Actor::Support, "Nothing was imported. Try again later; quote the request ID to Microsoft support if it persists."),
    };
    let request_id = e.inner_error.request_id.clone().unwrap_or_default();
    let date = e.inner_error.date.clone().unwrap_or_default();
    let mut err = UiError::new(
        ErrorKind::GraphError,
        actor,
        format!("Microsoft Graph refused the request (HTTP {status}, {code}: {graph_message}; request-id {request_id}, date {date}). {advice}"),
    )
    .with(DetailKey::Status, status)
    .with(DetailKey::Code, &code)
    .with(DetailKey::GraphMessage, graph_message)
    .with(DetailKey::RequestId, request_id)
    .with(DetailKey::Date, date)
    .with(DetailKey::Attempts, attempts);
    if let Some(c) = e.inner_error.client_request_id {
        err = err.with(DetailKey::ClientRequestId, c);
    }
    if let Some(w) = retry_after {
        err = err.with(DetailKey::RetryAfter, w.as_secs());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_json_shows_code_request_id_and_date() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2026-12-05T10:00:00","request-id":"8f6c1c1e-0000-4000-8000-000000000001","client-request-id":"8f6c1c1e-0000-4000-8000-000000000002"}}}"#;
        let e = graph_error(403, body, None, 1);
        assert_eq!(e.kind, ErrorKind::GraphError);
        assert_eq!(e.actor, Actor::Admin);
        assert_eq!(e.detail[&DetailKey::Code], "Authorization_RequestDenied");
        assert_eq!(e.detail[&DetailKey::RequestId], "8f6c1c1e-0000-4000-8000-000000000001");
        assert_eq!(e.detail[&DetailKey::Date], "2026-12-05T10:00:00");
        assert!(e.message.contains("request-id 8f6c1c1e-0000-4000-8000-000000000001"), "{}", e.message);
        // Not JSON at all (a proxy's page): still the status, never a panic.
        let e = graph_error(502, b"<html>bad gateway</html>", None, 1);
        assert_eq!(e.detail[&DetailKey::Code], "HTTP 502");
        assert_eq!(e.actor, Actor::Support);
    }

    #[test]
    fn urls_select_page_and_ask_for_eventual_consistency_where_advanced() {
        let c = GraphClient::new("https://login.microsoftonline.com", Secret::new("t"), Retry::default()).unwrap();
        let all = c.all_users_url();
        assert_eq!(all.host_str(), Some("graph.microsoft.com"));
        let q: Vec<(String, String)> = all.query_pairs().into_owned().collect();
        assert!(q.contains(&("$select".into(), USER_SELECT.into())));
        assert!(q.contains(&("$filter".into(), "mail ne null".into())));
        assert!(q.contains(&("$count".into(), "true".into())));
        assert!(q.contains(&("$top".into(), "999".into())));
        let g = c.group_members_url("0f0e0d0c-0000-4000-8000-000000000001");
        assert_eq!(
            g.path(),
            "/v1.0/groups/0f0e0d0c-0000-4000-8000-000000000001/transitiveMembers/microsoft.graph.user"
        );
    }
}
