//! The directory import against the emulator's Microsoft Graph: a real SQLite store, the admin's
//! Graph sign-in through `Auth` (PKCE, the emulator's consent rules), an in-memory keychain.
//!
//! Checked: a directory of three pages; a group with nested groups (transitive, by name and by
//! ID); a sync with adds, changes, disables and removals (flagged, never deleted) and a second
//! run that changes nothing; 429 with `Retry-After` honoured, and Graph's error JSON when the
//! throttling outlasts the retries; a directory sign-in without consent; a page that fails
//! halfway (nothing but the emptied stage is written); the Graph token only in the keychain.

use exo_setup_core::DetailKey;
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_emulator::{
    Config, Emulator, Endpoint, Fault, FaultKind, NewPerson, PersonEdit, DEMO_CLIENT_ID, DEMO_TENANT_ID,
};
use exo_setup_core::auth::{Auth, DIRECTORY_KEY};
use exo_setup_core::directory::{
    self, DirectoryAction, DirectoryDiffQuery, DirectoryDiffRow, DirectoryPreview, DirectoryReadInput,
    DirectoryScopeInput, LoginRule, Retry,
};
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{FlowPurpose, FlowResult, ImportMode, OrgSettingsInput, RedirectMode};
use exo_setup_core::{ErrorKind, Store, UiError};

mod common;
use common::browse;

const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";
const POP: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const USERS_ALL: &str = "https://graph.microsoft.com/User.Read.All";
const MEMBERS_ALL: &str = "https://graph.microsoft.com/GroupMember.Read.All";
const ADMIN: &str = "admin@contoso.example";

struct Env {
    _dir: tempfile::TempDir,
    emu: Emulator,
    store: Arc<Store>,
    keychain: Arc<MemoryKeychain>,
    auth: Arc<Auth>,
}

fn quick_retry() -> Retry {
    Retry { attempts: 3, max_wait: Duration::from_secs(5), fallback: Duration::from_millis(50) }
}

/// The demo tenant plus `generated` people; the organization saved in a fresh store with the
/// built-in server on; consent to the directory permissions when `consented`.
async fn env(generated: u32, consented: bool) -> Env {
    let emu = Emulator::start(Config::default_demo().with_generated_users(generated, 7)).await.unwrap();
    emu.set_auto_approve(true);
    if consented {
        emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, SMTP, POP, USERS_ALL, MEMBERS_ALL]);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_in(dir.path()).unwrap());
    exo_setup_core::org::save_exchange_online(
        &store,
        &OrgSettingsInput {
            organization_name: String::new(),
            tenant: DEMO_TENANT_ID.into(),
            client_id: DEMO_CLIENT_ID.into(),
            authority: emu.base_url(),
            redirect_mode: RedirectMode::DeepLink,
        },
    )
    .await
    .unwrap();
    let keychain = Arc::new(MemoryKeychain::new());
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let auth = Arc::new(Auth::new(store.clone(), tokens));
    Env { _dir: dir, emu, store, keychain, auth }
}

/// The admin (or `who`) signs in for the directory; the flow's result.
async fn directory_sign_in(e: &Env, who: &str) -> FlowResult {
    let redirect = exo_setup_core::identity::deep_link_redirect_uri();
    let (started, url) = e.auth.begin_directory_sign_in(&redirect, Some(who)).await.unwrap();
    assert_eq!(started.purpose, FlowPurpose::DirectorySignIn);
    let scope = common::param(url.as_str(), "scope").unwrap();
    assert!(scope.contains(USERS_ALL) && scope.contains(MEMBERS_ALL) && scope.contains("offline_access"), "{scope}");
    e.auth.complete(&browse(url.as_str()).await).await.result
}

async fn signed_in_env(generated: u32) -> Env {
    let e = env(generated, true).await;
    match directory_sign_in(&e, ADMIN).await {
        FlowResult::DirectorySignedIn { signed_in_as, scopes, .. } => {
            assert_eq!(signed_in_as, ADMIN);
            assert!(scopes.iter().any(|s| s.ends_with("User.Read.All")), "{scopes:?}");
        }
        other => panic!("{other:?}"),
    }
    e
}

async fn read(e: &Env, scope: DirectoryScopeInput) -> Result<(DirectoryPreview, Vec<(u32, u32)>), UiError> {
    let graph = e.auth.directory_graph(quick_retry()).await?;
    let mut progress = Vec::new();
    let input = DirectoryReadInput { scope, login_rule: LoginRule::UpnLocalPart };
    let p = directory::read(&e.store, &graph, &input, &AtomicBool::new(false), |p| progress.push((p.pages, p.users)))
        .await?;
    Ok((p, progress))
}

fn diff(e: &Env, action: Option<DirectoryAction>) -> Vec<DirectoryDiffRow> {
    let mut q = DirectoryDiffQuery { action, offset: 0, limit: 1000 };
    let mut rows = Vec::new();
    loop {
        let page = directory::preview_page(&e.store, &q).unwrap();
        let n = page.rows.len() as u32;
        rows.extend(page.rows);
        if n == 0 || q.offset + n >= page.total {
            return rows;
        }
        q.offset += n;
    }
}

fn count(e: &Env, sql: &str) -> i64 {
    e.store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn accounts(e: &Env) -> i64 {
    count(e, "SELECT count(*) FROM mail_accounts")
}

#[tokio::test]
async fn a_three_page_directory_is_staged_page_by_page_previewed_and_applied() {
    // 5 configured people + 2,200 generated: over 1,998, so Graph's 999-user pages make three.
    let e = signed_in_env(2200).await;
    // The Graph refresh token is in the keychain under the directory's own entry, nowhere else.
    let key = AccountKey::new(DEMO_TENANT_ID, DIRECTORY_KEY);
    assert!(e.keychain.get_refresh_token(&key).unwrap().is_some());
    let (p, progress) = read(&e, DirectoryScopeInput::AllUsers).await.unwrap();
    assert_eq!(p.pages, 3, "{p:?}");
    assert_eq!(progress.len(), 3);
    assert_eq!(progress.iter().map(|(pages, _)| *pages).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(progress[0].1, 999, "the first page is staged before the second is fetched");
    // Every user with a mailbox was read once (the filter `mail ne null` is Graph's).
    assert_eq!(p.users_read, progress[2].1);
    assert!(p.users_read > 1998 && p.users_read < 2205, "{p:?}");
    assert_eq!(p.creates + p.skipped + p.rejected, p.users_read, "{p:?}");
    assert!(p.skipped > 0, "disabled users without an account are not imported: {p:?}");
    assert_eq!((p.updates, p.unchanged, p.disables, p.gone), (0, 0, 0, 0));
    assert_eq!(accounts(&e), 0, "a preview writes no account");
    // The preview is paged from SQLite: the first page of new accounts, in the order read.
    let first = directory::preview_page(
        &e.store,
        &DirectoryDiffQuery { action: Some(DirectoryAction::Create), offset: 0, limit: 10 },
    )
    .unwrap();
    assert_eq!(first.total, p.creates);
    assert_eq!(first.rows.len(), 10);
    assert!(first.rows.windows(2).all(|w| w[0].seq < w[1].seq));
    let taro =
        diff(&e, Some(DirectoryAction::Create)).into_iter().find(|r| r.address == "taro@contoso.example").unwrap();
    assert_eq!(taro.login_name, "taro", "default rule: the UPN's local part");

    let o = directory::apply(&e.store, ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.disabled, o.gone, o.skipped), (p.creates, 0, 0, 0, 0));
    assert_eq!(accounts(&e), i64::from(p.creates));
    assert_eq!(count(&e, "SELECT count(*) FROM mail_accounts WHERE source = 'directory' AND directory_state = 'present' AND directory_id IS NOT NULL AND directory_scope = 'all'"), i64::from(p.creates));
    let audit: String = e
        .store
        .conn()
        .query_row("SELECT detail FROM audit_log WHERE action = 'directory.import'", [], |r| r.get(0))
        .unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["source"], "directory");
    assert_eq!(audit["created"], p.creates);
    assert_eq!(count(&e, "SELECT count(*) FROM directory_stage"), 0, "the stage is emptied after applying");
    // Applying twice is refused: the read was consumed.
    assert_eq!(directory::apply(&e.store, ImportMode::AllOrNothing).unwrap_err().kind, ErrorKind::DirectoryNotRead);
}

#[tokio::test]
async fn a_sync_shows_and_applies_adds_changes_disables_and_removals_and_then_nothing() {
    let e = signed_in_env(40).await;
    read(&e, DirectoryScopeInput::AllUsers).await.unwrap();
    let first = directory::apply(&e.store, ImportMode::AllOrNothing).unwrap();
    let before = accounts(&e);
    assert_eq!(before, i64::from(first.created));

    // Between the two runs: one person renamed, one given another address, one disabled, one
    // removed, one added.
    let enabled: Vec<String> = {
        let conn = e.store.conn();
        let mut s = conn.prepare("SELECT a.address FROM mail_accounts a ORDER BY a.id").unwrap();
        s.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let (renamed, readdressed, disabled, removed) = (&enabled[1], &enabled[2], &enabled[3], &enabled[4]);
    let id_of = |addr: &str| -> String {
        e.store
            .conn()
            .query_row("SELECT directory_id FROM mail_accounts WHERE address = ?1", [addr], |r| r.get(0))
            .unwrap()
    };
    e.emu
        .graph_edit_user(&id_of(renamed), PersonEdit { display_name: Some("改名 花子".into()), ..Default::default() })
        .unwrap();
    e.emu
        .graph_edit_user(
            &id_of(readdressed),
            PersonEdit { mail: Some(Some("new.address@contoso.example".into())), ..Default::default() },
        )
        .unwrap();
    e.emu.graph_edit_user(&id_of(disabled), PersonEdit { account_enabled: Some(false), ..Default::default() }).unwrap();
    e.emu.graph_remove_user(&id_of(removed)).unwrap();
    e.emu
        .graph_add_user(NewPerson {
            user_principal_name: "shinnyu.shain@contoso.example".into(),
            display_name: "新入 社員".into(),
            mail: Some("shinnyu.shain@contoso.example".into()),
            account_enabled: true,
            groups: vec![],
        })
        .unwrap();

    let (p, _) = read(&e, DirectoryScopeInput::AllUsers).await.unwrap();
    assert_eq!((p.creates, p.updates, p.disables, p.gone, p.rejected), (1, 2, 1, 1, 0), "{p:?}");
    let changes = diff(&e, None);
    let find = |a: DirectoryAction| changes.iter().filter(move |r| r.action == a);
    let created = find(DirectoryAction::Create).next().unwrap();
    assert_eq!((created.login_name.as_str(), created.display_name.as_str()), ("shinnyu.shain", "新入 社員"));
    let rename = find(DirectoryAction::Update).find(|r| r.address == *renamed).unwrap();
    assert_eq!(rename.display_name, "改名 花子");
    assert_ne!(rename.old_display_name.as_deref(), Some("改名 花子"));
    let moved = find(DirectoryAction::Update).find(|r| r.address == "new.address@contoso.example").unwrap();
    assert_eq!(moved.old_address.as_deref(), Some(readdressed.as_str()));
    assert_eq!(find(DirectoryAction::Disable).next().unwrap().address, *disabled);
    assert_eq!(find(DirectoryAction::Gone).next().unwrap().old_address.as_deref(), Some(removed.as_str()));

    let o = directory::apply(&e.store, ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.disabled, o.gone), (1, 2, 1, 1));
    assert_eq!(accounts(&e), before + 1, "nothing is deleted: the gone and the disabled are flagged");
    let state = |addr: &str| -> String {
        e.store
            .conn()
            .query_row("SELECT directory_state FROM mail_accounts WHERE address = ?1", [addr], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(state(disabled), "disabled");
    assert_eq!(state(removed), "gone");
    assert_eq!(state("new.address@contoso.example"), "present");
    let name: String = e
        .store
        .conn()
        .query_row(
            "SELECT u.display_name FROM users u JOIN mail_accounts a ON a.user_id = u.id WHERE a.address = ?1",
            [renamed],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "改名 花子");

    // The third run is a sync with nothing to do.
    let (p, _) = read(&e, DirectoryScopeInput::AllUsers).await.unwrap();
    assert_eq!((p.creates, p.updates, p.disables, p.gone, p.rejected), (0, 0, 0, 0, 0), "{p:?}");
    assert!(diff(&e, None).iter().all(|r| r.action == DirectoryAction::Skip), "only skipped users remain listed");
}

#[tokio::test]
async fn a_group_is_read_with_its_nested_groups_by_name_or_by_id() {
    let e = signed_in_env(300).await;
    let addresses = |e: &Env| -> HashSet<String> {
        diff(e, Some(DirectoryAction::Create)).into_iter().map(|r| r.address).collect()
    };
    let missing = read(&e, DirectoryScopeInput::Group { name_or_id: "存在しない部署".into() }).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::GroupNotFound);
    let unknown_id = "0badc0de-0000-4000-8000-000000000000";
    let missing = read(&e, DirectoryScopeInput::Group { name_or_id: unknown_id.into() }).await.unwrap_err();
    assert_eq!((missing.kind, missing.detail[&DetailKey::Group].as_str()), (ErrorKind::GroupNotFound, unknown_id));

    let tokyo_name = "営業部 東京 (Sales Tokyo)";
    let (tokyo, _) = read(&e, DirectoryScopeInput::Group { name_or_id: tokyo_name.into() }).await.unwrap();
    assert_eq!(tokyo.scope_name, tokyo_name);
    let tokyo_addresses = addresses(&e);
    assert!(!tokyo_addresses.is_empty());
    let sales_id = e.emu.graph_group_id(DEMO_TENANT_ID, "営業部 (Sales)").unwrap();
    let (sales, _) = read(&e, DirectoryScopeInput::Group { name_or_id: sales_id.clone() }).await.unwrap();
    assert_eq!(sales.scope, format!("group:{sales_id}"));
    let sales_addresses = addresses(&e);
    assert!(tokyo_addresses.is_subset(&sales_addresses), "members of a nested group are members of its parent");
    assert!(sales_addresses.len() > tokyo_addresses.len());
    let (by_name, _) = read(&e, DirectoryScopeInput::Group { name_or_id: "営業部 (Sales)".into() }).await.unwrap();
    assert_eq!((by_name.scope, by_name.users_read), (sales.scope.clone(), sales.users_read));

    // Applied from the parent group; then someone of the nested group leaves the directory.
    directory::apply(&e.store, ImportMode::AllOrNothing).unwrap();
    let leaver = tokyo_addresses.iter().next().unwrap();
    let id: String = e
        .store
        .conn()
        .query_row("SELECT directory_id FROM mail_accounts WHERE address = ?1", [leaver], |r| r.get(0))
        .unwrap();
    e.emu.graph_remove_user(&id).unwrap();
    let (again, _) = read(&e, DirectoryScopeInput::Group { name_or_id: sales_id.clone() }).await.unwrap();
    assert_eq!((again.creates, again.updates, again.gone), (0, 0, 1), "{again:?}");
    // Read from the nested group instead, the accounts of the parent's import are not "gone" from it.
    let (nested, _) = read(&e, DirectoryScopeInput::Group { name_or_id: tokyo_name.into() }).await.unwrap();
    assert_eq!(nested.gone, 0, "{nested:?}");
}

#[tokio::test]
async fn throttling_is_waited_out_as_retry_after_says() {
    let e = signed_in_env(1200).await;
    e.emu.inject_fault(Fault::graph_throttle(429, 1).on_page(2).times(1));
    let started = Instant::now();
    let (p, _) = read(&e, DirectoryScopeInput::AllUsers).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not waited for");
    assert_eq!(p.pages, 2);

    // Throttled on every attempt: Graph's error with its code and request ID, nothing staged.
    e.emu.inject_fault(Fault::graph_throttle(503, 1).on_page(1));
    let err = read(&e, DirectoryScopeInput::AllUsers).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::GraphError, "{err:?}");
    assert_eq!(err.detail[&DetailKey::Status], "503");
    assert_eq!(err.detail[&DetailKey::Attempts], "3");
    assert!(!err.detail[&DetailKey::RequestId].is_empty(), "{err:?}");
    assert!(!err.detail[&DetailKey::Date].is_empty(), "{err:?}");
    assert_eq!(count(&e, "SELECT count(*) FROM directory_stage"), 0);
}

#[tokio::test]
async fn a_page_failing_halfway_writes_nothing() {
    let e = signed_in_env(2200).await;
    let stored_before = accounts(&e);
    e.emu.inject_fault(Fault::new(Endpoint::Graph, FaultKind::Http { status: 500 }).on_page(3));
    let err = read(&e, DirectoryScopeInput::AllUsers).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::GraphError, "{err:?}");
    assert_eq!(err.detail[&DetailKey::Status], "500");
    assert_eq!(accounts(&e), stored_before);
    assert_eq!(count(&e, "SELECT count(*) FROM directory_stage"), 0, "the two pages staged are dropped");
    assert_eq!(directory::apply(&e.store, ImportMode::ValidRowsOnly).unwrap_err().kind, ErrorKind::DirectoryNotRead);
    assert_eq!(count(&e, "SELECT count(*) FROM audit_log WHERE action = 'directory.import'"), 0);
}

#[tokio::test]
async fn without_consent_the_directory_sign_in_is_explained_and_stores_nothing() {
    let e = env(0, false).await;
    // A user who is no admin asks for admin-only permissions: Microsoft's "Need admin approval".
    match directory_sign_in(&e, "hanako@contoso.example").await {
        FlowResult::Failed { error } => assert_eq!(error.kind, ErrorKind::AdminApprovalRequired, "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert!(e.keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, DIRECTORY_KEY)).unwrap().is_none());
    // No sign-in at all: reading says who must sign in.
    let err = e.auth.directory_graph(quick_retry()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::DirectoryNotSignedIn);
    // A refresh token Graph was never consented for (an Exchange sign-in's): AADSTS65001 explained.
    let key = AccountKey::new(DEMO_TENANT_ID, DIRECTORY_KEY);
    e.emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, SMTP]);
    let rt = exchange_refresh_token(&e).await;
    e.keychain.set_refresh_token(&key, &rt).unwrap();
    let err = e.auth.directory_graph(quick_retry()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConsentRequired, "{err:?}");
    assert_eq!(err.detail.get(&DetailKey::Code).map(String::as_str), Some("65001"), "{err:?}");
}

/// A mailbox sign-in's refresh token (Exchange scopes only).
async fn exchange_refresh_token(e: &Env) -> exo_setup_core::keychain::Secret {
    let taro = "taro@contoso.example";
    exo_setup_core::accounts::add(
        &e.store,
        &exo_setup_core::model::AccountInput {
            login_name: "taro".into(),
            user_display_name: String::new(),
            address: taro.into(),
            display_name: String::new(),
            receive_protocol: exo_setup_core::model::ReceiveProtocol::Imap,
            server_id: 1,
        },
    )
    .unwrap();
    let redirect = exo_setup_core::identity::deep_link_redirect_uri();
    let (_, url) = e.auth.begin_sign_in(taro, &redirect).await.unwrap();
    let f = e.auth.complete(&browse(url.as_str()).await).await;
    assert!(matches!(f.result, FlowResult::SignedIn { .. }), "{f:?}");
    e.keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, taro)).unwrap().unwrap()
}
