//! Microsoft Graph v1.0: tokens for Graph and the consent they need, paging with `@odata.nextLink`, the
//! consistency-level rules of advanced queries, groups with nested members, Graph's error JSON, throttling and
//! page-failure injection, and a directory that changes between runs.

mod common;
use common::*;
use entra_emulator::{Config, Emulator, Endpoint, Fault, FaultKind, NewPerson, PersonEdit};
use serde_json::Value;
use std::collections::HashSet;

const USERS_ALL: &str = "https://graph.microsoft.com/User.Read.All";
const MEMBERS_ALL: &str = "https://graph.microsoft.com/GroupMember.Read.All";
/// Configured people of the demo tenant (before the generated ones).
const CONFIGURED: usize = 5;

/// Demo directory plus `n` generated people; the admin consented to Graph's directory permissions.
async fn directory(n: u32) -> Emulator {
    let emu = Emulator::start(Config::default_demo().with_generated_users(n, 42)).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(T, C, &[IMAP, SMTP, POP, USERS_ALL, MEMBERS_ALL]);
    emu
}

/// A Graph access token for `user` with `scopes` (signs in with auto-approve, redeems the code).
async fn graph_token_for(emu: &Emulator, user: &str, scopes: &str) -> Result<String, Value> {
    let p =
        authorize(emu, &[("scope", &format!("{scopes} offline_access openid profile")), ("login_hint", user)]).await;
    let Some(code) = p.get("code") else { return Err(serde_json::to_value(&p).unwrap()) };
    let (s, b, _) = post_token(
        emu,
        &[
            ("client_id", C),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("scope", scopes),
        ],
    )
    .await;
    if s == 200 {
        Ok(b["access_token"].as_str().unwrap().to_string())
    } else {
        Err(b)
    }
}

async fn graph_token(emu: &Emulator) -> String {
    graph_token_for(emu, "admin@contoso.example", &format!("{USERS_ALL} {MEMBERS_ALL}")).await.unwrap()
}

async fn get(
    emu: &Emulator,
    token: &str,
    path_or_url: &str,
    eventual: bool,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        format!("{}{path_or_url}", emu.base_url())
    };
    let mut req = client().get(url).bearer_auth(token);
    if eventual {
        req = req.header("ConsistencyLevel", "eventual");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap(), headers)
}

/// Follows `@odata.nextLink` to the end: (items, pages).
async fn all_pages(emu: &Emulator, token: &str, path: &str, eventual: bool) -> (Vec<Value>, usize) {
    let (mut items, mut pages) = (vec![], 0);
    let mut next = Some(path.to_string());
    while let Some(url) = next {
        let (s, b, _) = get(emu, token, &url, eventual).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        items.extend(b["value"].as_array().unwrap().iter().cloned());
        next = b["@odata.nextLink"].as_str().map(String::from);
    }
    (items, pages)
}

/// Graph's error JSON: `error.code`, `message`, `innerError` with date, request-id, client-request-id.
fn assert_graph_error(body: &Value, code: &str) {
    let e = &body["error"];
    assert_eq!(e["code"], code, "{body}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let inner = &e["innerError"];
    for k in ["date", "request-id", "client-request-id"] {
        assert!(inner[k].is_string(), "innerError.{k} missing: {body}");
    }
    let date = inner["date"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok(), "{date}");
}

#[tokio::test]
async fn graph_token_has_graph_audience_and_the_consented_scopes() {
    let emu = directory(0).await;
    let t = graph_token(&emu).await;
    let c = claims(&t);
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    let scp: HashSet<&str> = c["scp"].as_str().unwrap().split(' ').collect();
    assert!(scp.contains("User.Read.All") && scp.contains("GroupMember.Read.All"), "{c}");
}

#[tokio::test]
async fn graph_permissions_need_admin_consent() {
    // Only Exchange consented: a user asking for directory permissions needs an admin.
    let emu = consented().await;
    let p =
        authorize(&emu, &[("scope", &format!("{USERS_ALL} offline_access")), ("login_hint", "hanako@contoso.example")])
            .await;
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["error_subcode"], "cancel");
    // A refresh token of an Exchange sign-in cannot be turned into a Graph token: 65001 consent_required.
    let rt = sign_in(&emu).await["refresh_token"].as_str().unwrap().to_string();
    let (s, b, _) = post_token(
        &emu,
        &[("client_id", C), ("grant_type", "refresh_token"), ("refresh_token", &rt), ("scope", USERS_ALL)],
    )
    .await;
    assert_eq!(s, 400);
    assert_ms_error(&b, "invalid_grant", 65001);
    assert_eq!(b["suberror"], "consent_required");
    // Even where users may consent for themselves (Fabrikam), User.Read.All is an admin's to grant.
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", DEMO_MULTI),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", &format!("{USERS_ALL} offline_access") as &str),
            ("login_hint", "yuki@fabrikam.example"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let r = client()
        .get(format!("{}/{}/oauth2/v2.0/authorize?{q}", emu.base_url(), entra_emulator::DEMO_OPEN_TENANT_ID))
        .send()
        .await
        .unwrap();
    let p = location_params(&r);
    assert_eq!(p["error"], "access_denied", "{p:?}");
    // /adminconsent with Graph scopes records them; then the same user gets a Graph token.
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", C),
            ("scope", &format!("{USERS_ALL} {MEMBERS_ALL}") as &str),
            ("redirect_uri", "http://localhost:8400"),
            ("state", "g1"),
        ])
        .finish();
    let r = client().get(format!("{}/{T}/v2.0/adminconsent?{q}", emu.base_url())).send().await.unwrap();
    let p = location_params(&r);
    assert_eq!(p["admin_consent"], "True", "{p:?}");
    assert_eq!(p["scope"], format!("{USERS_ALL} {MEMBERS_ALL}"));
    assert!(graph_token_for(&emu, "hanako@contoso.example", USERS_ALL).await.is_ok());
}

const DEMO_MULTI: &str = entra_emulator::DEMO_MULTI_CLIENT_ID;

#[tokio::test]
async fn users_page_with_next_link_and_an_opaque_skiptoken() {
    let emu = directory(250).await;
    let t = graph_token(&emu).await;
    let (s, b, h) =
        get(&emu, &t, "/v1.0/users?$select=id,displayName,userPrincipalName,mail,accountEnabled", false).await;
    assert_eq!(s, 200, "{b}");
    assert!(h.get("request-id").is_some());
    assert_eq!(b["value"].as_array().unwrap().len(), 100, "default page size");
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#users(id,displayName,userPrincipalName,mail,accountEnabled)"));
    let next = b["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{}/v1.0/users?", emu.base_url())), "{next}");
    let token = url::Url::parse(next).unwrap().query_pairs().find(|(k, _)| k == "$skiptoken").unwrap().1.to_string();
    assert!(token.parse::<u64>().is_err() && token.len() > 10, "opaque: {token}");
    let first = &b["value"][0];
    let keys: HashSet<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["id", "displayName", "userPrincipalName", "mail", "accountEnabled"]));

    let (items, pages) = all_pages(&emu, &t, "/v1.0/users?$top=100&$select=id,userPrincipalName", false).await;
    assert_eq!(pages, 3);
    assert_eq!(items.len(), CONFIGURED + 250);
    let ids: HashSet<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), items.len(), "no one twice");
    assert!(items.iter().all(|u| u["userPrincipalName"].as_str().unwrap().ends_with("@contoso.example")));

    // Without $select: v1.0's default properties (no accountEnabled).
    let (_, b, _) = get(&emu, &t, "/v1.0/users?$top=1", false).await;
    assert!(b["value"][0].get("accountEnabled").is_none());
    assert!(b["value"][0].get("userPrincipalName").is_some());
    // $top outside 1..999.
    for bad in ["0", "1000", "x"] {
        let (s, b, _) = get(&emu, &t, &format!("/v1.0/users?$top={bad}"), false).await;
        assert_eq!(s, 400);
        assert_graph_error(&b, "Request_BadRequest");
    }
    // A skiptoken replayed with another query is refused.
    let (s, b, _) = get(&emu, &t, &format!("/v1.0/users?$top=7&$skiptoken={token}"), false).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "Request_BadRequest");
}

#[tokio::test]
async fn advanced_filter_needs_consistency_level_and_count() {
    let emu = directory(300).await;
    let t = graph_token(&emu).await;
    let q = "/v1.0/users?$filter=accountEnabled%20eq%20true%20and%20mail%20ne%20null&$select=id,mail,accountEnabled";
    let (s, b, _) = get(&emu, &t, q, false).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "Request_UnsupportedQuery");
    assert!(b["error"]["message"].as_str().unwrap().contains("'mail'"));
    let (s, b, _) = get(&emu, &t, q, true).await;
    assert_eq!(s, 400, "the header alone is not enough: $count=true too");
    assert_graph_error(&b, "Request_UnsupportedQuery");
    let (s, b, _) = get(&emu, &t, &format!("{q}&$count=true"), false).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "Request_BadRequest");

    let (s, first, _) = get(&emu, &t, &format!("{q}&$count=true&$top=120"), true).await;
    assert_eq!(s, 200, "{first}");
    let count = first["@odata.count"].as_u64().unwrap() as usize;
    let (items, pages) = all_pages(&emu, &t, &format!("{q}&$count=true&$top=120"), true).await;
    assert_eq!(items.len(), count);
    assert_eq!(pages, count.div_ceil(120));
    assert!(items.iter().all(|u| u["accountEnabled"] == true && u["mail"].is_string()));
    let everyone = all_pages(&emu, &t, "/v1.0/users?$top=999&$select=id,mail,accountEnabled", false).await.0;
    let expected = everyone.iter().filter(|u| u["accountEnabled"] == true && u["mail"].is_string()).count();
    assert_eq!(count, expected);
    assert!(count < everyone.len(), "some generated people are disabled or have no mailbox");
    // accountEnabled eq false is a default query (no header needed).
    let (s, b, _) =
        get(&emu, &t, "/v1.0/users?$filter=accountEnabled%20eq%20false&$select=accountEnabled", false).await;
    assert_eq!(s, 200, "{b}");
    assert!(!b["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn groups_search_filter_and_nested_transitive_members() {
    let emu = directory(400).await;
    let t = graph_token(&emu).await;
    let search = "/v1.0/groups?$search=%22displayName:%E5%96%B6%E6%A5%AD%E9%83%A8%22&$select=id,displayName";
    let (s, b, _) = get(&emu, &t, search, false).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "Request_UnsupportedQuery");
    assert!(b["error"]["message"].as_str().unwrap().contains("ConsistencyLevel"));
    let (s, b, _) = get(&emu, &t, search, true).await;
    assert_eq!(s, 200, "{b}");
    let names: Vec<&str> = b["value"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.contains("営業部")));
    let (s, b, _) = get(&emu, &t, "/v1.0/groups?$filter=displayName%20eq%20'Managers'", false).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"].as_array().unwrap().len(), 1);

    let id = |name: &str| emu.graph_group_id(T, name).unwrap();
    let members = |gid: String| {
        let emu = &emu;
        let t = &t;
        async move {
            let path = format!("/v1.0/groups/{gid}/transitiveMembers/microsoft.graph.user?$select=id&$top=50");
            let ids: Vec<String> =
                all_pages(emu, t, &path, false).await.0.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
            ids
        }
    };
    let sales = members(id("営業部 (Sales)")).await;
    let tokyo = members(id("営業部 東京 (Sales Tokyo)")).await;
    let osaka = members(id("営業部 大阪 (Sales Osaka)")).await;
    assert!(!tokyo.is_empty() && !osaka.is_empty());
    let union: HashSet<&String> = tokyo.iter().chain(osaka.iter()).collect();
    assert_eq!(sales.iter().collect::<HashSet<_>>(), union, "營業部 has only nested members");
    // All staff nests everything, and people in it directly and through Managers appear once.
    let all = members(id("全社員 (All staff)")).await;
    assert_eq!(all.len(), CONFIGURED + 400);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
    // Unknown group: 404 Request_ResourceNotFound.
    let (s, b, _) = get(
        &emu,
        &t,
        "/v1.0/groups/00000000-0000-0000-0000-000000000000/transitiveMembers/microsoft.graph.user",
        false,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "Request_ResourceNotFound");
}

#[tokio::test]
async fn bad_tokens_and_missing_permissions() {
    let emu = directory(10).await;
    let r = client()
        .get(format!("{}/v1.0/users", emu.base_url()))
        .header("client-request-id", "my-crid")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
    let b: Value = r.json().await.unwrap();
    assert_graph_error(&b, "InvalidAuthenticationToken");
    assert_eq!(b["error"]["innerError"]["client-request-id"], "my-crid");
    // An Exchange token is for another audience.
    let outlook = sign_in(&emu).await["access_token"].as_str().unwrap().to_string();
    let (s, b, _) = get(&emu, &outlook, "/v1.0/users", false).await;
    assert_eq!(s, 401);
    assert_graph_error(&b, "InvalidAuthenticationToken");
    assert!(b["error"]["message"].as_str().unwrap().contains("audience"));
    // A tampered token.
    let t = graph_token(&emu).await;
    let mut forged = t.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    assert_eq!(get(&emu, &forged, "/v1.0/users", false).await.0, 401);
    // Only User.Read.All: users yes, groups no (403).
    let users_only = graph_token_for(&emu, "admin@contoso.example", USERS_ALL).await.unwrap();
    assert_eq!(get(&emu, &users_only, "/v1.0/users", false).await.0, 200);
    let (s, b, _) = get(&emu, &users_only, "/v1.0/groups", false).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "Authorization_RequestDenied");
    // Expired on the emulated clock.
    emu.advance_clock(std::time::Duration::from_secs(2 * 3600));
    let (s, b, _) = get(&emu, &t, "/v1.0/users", false).await;
    assert_eq!(s, 401);
    assert!(b["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn throttling_and_a_failing_page() {
    let emu = directory(250).await;
    let t = graph_token(&emu).await;
    emu.inject_fault(Fault::graph_throttle(429, 2).times(1));
    let (s, b, h) = get(&emu, &t, "/v1.0/users", false).await;
    assert_eq!(s, 429);
    assert_eq!(h["retry-after"], "2");
    assert_graph_error(&b, "TooManyRequests");
    emu.inject_fault(Fault::graph_throttle(503, 7).times(1));
    let (s, b, h) = get(&emu, &t, "/v1.0/users", false).await;
    assert_eq!(s, 503);
    assert_eq!(h["retry-after"], "7");
    assert_graph_error(&b, "serviceNotAvailable");
    assert_eq!(get(&emu, &t, "/v1.0/users", false).await.0, 200, "faults used up");

    // Page 2 fails once with a 500; page 1 and the retry of page 2 succeed.
    emu.inject_fault(Fault::new(Endpoint::Graph, FaultKind::Http { status: 500 }).on_page(2).times(1));
    let (s, b, _) = get(&emu, &t, "/v1.0/users?$select=id", false).await;
    assert_eq!(s, 200);
    let next = b["@odata.nextLink"].as_str().unwrap().to_string();
    let (s, b, _) = get(&emu, &t, &next, false).await;
    assert_eq!(s, 500);
    assert_graph_error(&b, "generalException");
    assert_eq!(get(&emu, &t, &next, false).await.0, 200);

    // The same through the control API.
    let f = serde_json::json!({"endpoint": "graph", "page": 3, "kind": {"type": "throttle", "status": 429, "retry_after_secs": 1}, "times": 1});
    let r = client().post(format!("{}/_emulator/faults", emu.base_url())).json(&f).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (_, b, _) = get(&emu, &t, &next, false).await;
    let third = b["@odata.nextLink"].as_str().unwrap().to_string();
    assert_eq!(get(&emu, &t, &third, false).await.0, 429);
    assert_eq!(get(&emu, &t, &third, false).await.0, 200);
}

#[tokio::test]
async fn the_directory_changes_between_runs() {
    let emu = directory(20).await;
    let t = graph_token(&emu).await;
    let before = all_pages(&emu, &t, "/v1.0/users?$select=id,displayName,mail,accountEnabled", false).await.0;
    let victim = before[CONFIGURED + 3]["id"].as_str().unwrap().to_string();
    let renamed = before[CONFIGURED + 4]["id"].as_str().unwrap().to_string();
    let gone = before[CONFIGURED + 5]["id"].as_str().unwrap().to_string();
    emu.graph_edit_user(&victim, PersonEdit { account_enabled: Some(false), ..Default::default() }).unwrap();
    emu.graph_edit_user(
        &renamed,
        PersonEdit {
            display_name: Some("新しい 名前".into()),
            mail: Some(Some("new@contoso.example".into())),
            ..Default::default()
        },
    )
    .unwrap();
    emu.graph_remove_user(&gone).unwrap();
    let sales = emu.graph_group_id(T, "営業部 東京 (Sales Tokyo)").unwrap();
    let new_id = emu
        .graph_add_user(NewPerson {
            user_principal_name: "newcomer@contoso.example".into(),
            display_name: "新人 一郎".into(),
            mail: Some("newcomer@contoso.example".into()),
            account_enabled: true,
            groups: vec![sales.clone()],
        })
        .unwrap();
    // Through the HTTP control API too: hanako loses her mailbox.
    let r = client()
        .patch(format!("{}/_emulator/graph/users/hanako@contoso.example", emu.base_url()))
        .json(&serde_json::json!({"mail": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let after = all_pages(&emu, &t, "/v1.0/users?$select=id,displayName,mail,accountEnabled", false).await.0;
    let find = |id: &str| after.iter().find(|u| u["id"] == id).cloned();
    assert_eq!(find(&victim).unwrap()["accountEnabled"], false);
    assert_eq!(find(&renamed).unwrap()["displayName"], "新しい 名前");
    assert_eq!(find(&renamed).unwrap()["mail"], "new@contoso.example");
    assert!(find(&gone).is_none());
    assert_eq!(find(&new_id).unwrap()["displayName"], "新人 一郎");
    assert_eq!(after.len(), before.len());
    let hanako = after.iter().find(|u| u["displayName"] == "佐藤 花子").unwrap();
    assert!(hanako["mail"].is_null());
    let path = format!("/v1.0/groups/{sales}/transitiveMembers/microsoft.graph.user?$select=id");
    let members = all_pages(&emu, &t, &path, false).await.0;
    assert!(members.iter().any(|u| u["id"] == new_id.as_str()));
}

#[tokio::test]
async fn a_hundred_thousand_people_page_to_the_end() {
    let emu = directory(100_000).await;
    let t = graph_token(&emu).await;
    let (s, b, _) = get(
        &emu,
        &t,
        "/v1.0/users?$filter=accountEnabled%20eq%20true%20and%20mail%20ne%20null&$count=true&$top=1&$select=id",
        true,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let count = b["@odata.count"].as_u64().unwrap();
    assert!((90_000..100_000).contains(&count), "{count}");
    let (items, pages) = all_pages(&emu, &t, "/v1.0/users?$top=999&$select=id", false).await;
    assert_eq!(items.len(), CONFIGURED + 100_000);
    assert_eq!(pages, (CONFIGURED + 100_000).div_ceil(999));
}
