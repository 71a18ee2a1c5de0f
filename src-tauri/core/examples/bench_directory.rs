//! Benchmark: importing a 100,000-user directory from Microsoft Graph (the entra emulator's
//! generated directory) through `directory::read` + `directory::apply` — paging with
//! `@odata.nextLink`, staging each page in SQLite, the diff in SQL, the apply transaction with
//! its audit entry — against the same pages fetched by `curl` (one process per page, the same
//! URLs, headers and token) plus a raw batched rusqlite insert of the users into the same schema.
//! Target: ≤ 2×. Both sides start from a fresh database; the median of `EXO_BENCH_RUNS`
//! (default 3) alternating runs is printed with the ratio.
//!
//! Untimed set-up: the emulator (`--users`, `EXO_BENCH_USERS`, default 100,000) with the admin
//! consent, the admin's directory sign-in through `Auth` (PKCE, in-memory keychain), and for curl
//! an access token redeemed from that sign-in's refresh token.
//!
//! `cargo run --release -p exo-setup-core --example bench_directory`

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::auth::{Auth, DIRECTORY_KEY};
use exo_setup_core::directory::{self, DirectoryReadInput, DirectoryScopeInput, LoginRule, Retry};
use exo_setup_core::keychain::{AccountKey, MemoryKeychain, TokenStore};
use exo_setup_core::model::{FlowResult, ImportMode, OrgSettingsInput, RedirectMode};
use exo_setup_core::Store;

const USERS_ALL: &str = "https://graph.microsoft.com/User.Read.All";
const MEMBERS_ALL: &str = "https://graph.microsoft.com/GroupMember.Read.All";

async fn fresh_store(emu: &Emulator) -> (tempfile::TempDir, Arc<Store>) {
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
    (dir, store)
}

async fn ours(emu: &Emulator, keychain: &Arc<MemoryKeychain>) -> (Duration, u32) {
    let (_dir, store) = fresh_store(emu).await;
    let tokens: Arc<dyn TokenStore> = keychain.clone();
    let auth = Auth::new(store.clone(), tokens);
    let t = Instant::now();
    let graph = auth.directory_graph(Retry::default()).await.unwrap();
    let input = DirectoryReadInput { scope: DirectoryScopeInput::AllUsers, login_rule: LoginRule::UpnLocalPart };
    directory::read(&store, &graph, &input, &AtomicBool::new(false), |_| {}).await.unwrap();
    let s = store.clone();
    let o =
        tokio::task::spawn_blocking(move || directory::apply(&s, ImportMode::ValidRowsOnly)).await.unwrap().unwrap();
    (t.elapsed(), o.created)
}

/// curl per page + serde_json + a raw insert of every user with a mailbox.
async fn baseline(emu: &Emulator, header_file: &std::path::Path, first_url: &str) -> (Duration, u32) {
    let (_dir, store) = fresh_store(emu).await;
    let t = Instant::now();
    let mut next = Some(first_url.to_owned());
    let mut conn = store.conn();
    let tx = conn.transaction().unwrap();
    let mut n = 0u32;
    {
        let mut user = tx
            .prepare("INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)")
            .unwrap();
        let mut acct = tx
            .prepare("INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, created_at, updated_at) VALUES (?1, ?2, ?3, 'imap', 1, ?4, ?4)")
            .unwrap();
        let now = "2026-01-01T00:00:00Z";
        while let Some(url) = next.take() {
            let out = Command::new("curl")
                .args(["-sS", "--fail", "-H"])
                .arg(format!("@{}", header_file.display()))
                .arg(&url)
                .output()
                .unwrap();
            assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
            let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for u in page["value"].as_array().unwrap() {
                let (Some(mail), Some(upn)) = (u["mail"].as_str(), u["userPrincipalName"].as_str()) else { continue };
                if u["accountEnabled"] != serde_json::Value::Bool(true) {
                    continue;
                }
                let login = upn.split('@').next().unwrap();
                let name = u["displayName"].as_str().unwrap_or(login);
                user.execute(rusqlite::params![login, name, now]).unwrap();
                acct.execute(rusqlite::params![tx.last_insert_rowid(), mail.to_ascii_lowercase(), name, now]).unwrap();
                n += 1;
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
    }
    tx.commit().unwrap();
    (t.elapsed(), n)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let users: u32 = std::env::var("EXO_BENCH_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let runs: usize = std::env::var("EXO_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let emu = Emulator::start(Config::default_demo().with_generated_users(users, 1)).await.unwrap();
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[USERS_ALL, MEMBERS_ALL]);

    // The admin's directory sign-in (untimed), kept in an in-memory keychain shared by the runs.
    let keychain = Arc::new(MemoryKeychain::new());
    {
        let (_dir, store) = fresh_store(&emu).await;
        let tokens: Arc<dyn TokenStore> = keychain.clone();
        let auth = Auth::new(store, tokens);
        let redirect = exo_setup_core::identity::deep_link_redirect_uri();
        let (_, url) = auth.begin_directory_sign_in(&redirect, Some("admin@contoso.example")).await.unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let resp = http.get(url.as_str()).send().await.unwrap();
        let cb = resp.headers()["location"].to_str().unwrap().to_owned();
        let f = auth.complete(&cb).await;
        assert!(matches!(f.result, FlowResult::DirectorySignedIn { .. }), "{f:?}");
    }
    // curl's token: redeemed from the same refresh token (untimed).
    let rt = keychain.get_refresh_token(&AccountKey::new(DEMO_TENANT_ID, DIRECTORY_KEY)).unwrap().unwrap();
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.expose()),
            ("scope", &format!("{USERS_ALL} {MEMBERS_ALL}")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The refresh rotated the token: the new one goes back for ours.
    if let Some(new) = resp["refresh_token"].as_str() {
        keychain.set_refresh_token(&AccountKey::new(DEMO_TENANT_ID, DIRECTORY_KEY), &new.into()).unwrap();
    }
    let headers = tempfile::tempdir().unwrap();
    let header_file = headers.path().join("headers");
    std::fs::write(
        &header_file,
        format!("Authorization: Bearer {}\nConsistencyLevel: eventual\n", resp["access_token"].as_str().unwrap()),
    )
    .unwrap();
    let graph =
        exo_setup_core::directory::GraphClient::new(&emu.base_url(), "unused".into(), Retry::default()).unwrap();
    let first_url = graph.all_users_url().to_string();

    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut created, mut inserted) = (0, 0);
    for _ in 0..runs {
        let (d, n) = ours(&emu, &keychain).await;
        a.push(d);
        created = n;
        let (d, n) = baseline(&emu, &header_file, &first_url).await;
        b.push(d);
        inserted = n;
    }
    assert_eq!(created, inserted, "both sides import the same users");
    let (a, b) = (median(a), median(b));
    println!(
        "directory import  exo-setup {:.0} ms  curl + raw rusqlite {:.0} ms  ratio {:.2}x (target ≤ 2x)  [{users} generated users, {created} imported, median of {runs}]",
        a.as_secs_f64() * 1000.0,
        b.as_secs_f64() * 1000.0,
        a.as_secs_f64() / b.as_secs_f64()
    );
}
