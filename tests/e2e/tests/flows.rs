//! Steps 3 and 4 in the real window, through the real round trip: the app opens the "system browser"
//! (`scripts/test-browser.sh`, via `$BROWSER`), which follows the entra emulator's redirects with curl and hands the
//! final `dev.exosetup.wizard://oauth2/callback?…` to the desktop with `gio open`; gio starts the handler the app
//! registered (`register_all()`), i.e. a second app instance, which forwards the URL to the running one through
//! tauri-plugin-single-instance (D-Bus) and exits. The running app completes the flow and the UI shows it.
//!
//! Then the test checks what was left behind: the consent in SQLite, the refresh token in the real gnome-keyring
//! (redeemed at the emulator), and that no token string is in SQLite (+WAL), the app's log (every IPC payload is
//! logged at debug level under `exo_setup::ipc`) or the page.
//!
//! A second launch on the same data directory, whose browser signs in as another user (`TEST_BROWSER_LOGIN_HINT`,
//! passed through the app's environment to the browser script): a sign-in cancelled while waiting (its late redirect
//! is then refused as `state_unknown`), and a completed one that must end in `wrong_account` naming both addresses.
//! Nothing may be stored by either.
//!
//! The connection check the app runs after every sign-in (IMAP/POP3 + SMTP XOAUTH2 logins) goes to a private Dovecot
//! ([`entra_emulator::dovecot`]: IMAP and POP3 over TLS, submission with STARTTLS, certificates from a test CA,
//! the emulator's key validating the access tokens): the Exchange Online server's endpoints are pointed at it with
//! `exo-setup --data-dir … server endpoints …` before the app starts, and the app trusts the test CA through
//! `EXO_SETUP_CA_FILE`. After taro's sign-in the account must become `verified` in the window and in SQLite.
//! Without Dovecot the test fails, unless `EXO_SKIP_DOVECOT=1` (then only the check's end, `verified` or `error`,
//! is awaited).

use std::{
    ffi::OsString,
    path::Path,
    time::{Duration, Instant},
};

use entra_emulator::dovecot::Dovecot;
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_e2e::app::{
    account_state, badge, check_scheme_handler, check_single_instance, checked_state, choose_mailbox, cli,
    expect_dovecot_logins, expect_verified_badge, profile_env, rig_options, start_dovecot, tokens_of, unique_service,
    FLOW_WAIT, SCHEME,
};
use exo_e2e::{add_account, open_step1, save_exchange, screenshot_path, DesktopHome, Result, Rig, RigOptions, WAIT};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::oauth::{MailScopes, OAuthClient, OAuthSettings, PendingFlows};

const TEST: &str = "d_steps_3_4";
const TENANT: &str = "contoso.example";
const TARO: &str = "taro@contoso.example";
const JIRO: &str = "jiro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
/// The connection check after a sign-in: IMAP and SMTP logins at once (default time limits: 10 s connect, 20 s auth).
const CHECK_WAIT: Duration = Duration::from_secs(45);
/// The app's scheme registration (xdg-mime, update-desktop-database) after the window opened.
const REGISTER_WAIT: Duration = Duration::from_secs(15);
/// The second instance of a deep link forwarding it and exiting.
const SINGLE_WAIT: Duration = Duration::from_secs(10);

/// What the test collects of the screen, to scan for token strings at the end.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn page(&mut self, rig: &Rig) {
        if let Ok(t) = rig.body_text().await {
            self.0.push(t);
        }
        if let Ok(v) = rig.client.execute("return document.documentElement.outerHTML", vec![]).await {
            self.0.push(v.as_str().unwrap_or_default().to_string());
        }
    }
}

/// The app's environment in this test: the profile's ([`profile_env`]), the Dovecot's test CA when there is one,
/// and `extra`.
fn env_for(home: &DesktopHome, service: &str, ca_file: Option<&Path>, extra: &[(&str, &str)]) -> RigOptions {
    let mut more: Vec<(&str, OsString)> = ca_file.map(|ca| ("EXO_SETUP_CA_FILE", ca.into())).into_iter().collect();
    more.extend(extra.iter().map(|(k, v)| (*k, OsString::from(v))));
    rig_options(&profile_env(TEST, home, service, &more), None)
}

/// The last line of the test browser's log: the URL it handed to `gio open`.
fn last_delivered(prefix: &str) -> Option<String> {
    let log = std::fs::read_to_string(screenshot_path(TEST).join("browser.log")).ok()?;
    log.lines().rev().find(|l| l.starts_with(prefix)).map(str::to_string)
}

/// Points the Exchange Online server at the Dovecot with the app's own CLI, on the data directory the app will use.
async fn set_endpoints(data_dir: &Path, dc: &Dovecot) -> Result {
    let mut args = vec!["server", "endpoints"];
    let endpoint_args = dc.endpoint_args();
    args.extend(endpoint_args.iter().map(String::as_str));
    let out = cli(data_dir, &args).await?;
    eprintln!("[{TEST}] exo-setup server endpoints: {}", out.trim());
    let db = rusqlite::Connection::open(data_dir.join("exo-setup.sqlite3"))?;
    let (imap, smtp): (u16, u16) =
        db.query_row("SELECT imap_port, smtp_port FROM mail_servers WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    assert_eq!((imap, smtp), (dc.ports().imaps, dc.ports().submission), "Exchange Online's endpoints in SQLite");
    Ok(())
}

fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_steps_3_and_4_through_the_browser_and_the_deep_link() -> Result {
    let t0 = Instant::now();
    let emu = Emulator::start(Config::default_demo()).await?;
    emu.set_auto_approve(true);
    let home = DesktopHome::new(TEST)?;
    let service = unique_service(TEST);
    let mut seen = Seen::default();

    // ---- the mail server of the connection check, and the Exchange Online server pointed at it
    let dc = start_dovecot(&emu, "the connection check after sign-in")?;
    let data = tempfile::Builder::new().prefix(&format!("exo-e2e-{TEST}-")).tempdir()?;
    if let Some(dc) = &dc {
        set_endpoints(data.path(), dc).await?;
    }
    let ca_file = dc.as_ref().map(|d| d.ca_file());

    // ================================================================ launch 1: steps 1–4 as taro
    // A short delay in the browser keeps the waiting panel on screen long enough to see it.
    let env = env_for(&home, &service, ca_file.as_deref(), &[("TEST_BROWSER_DELAY", "2")]);
    let mut rig = Rig::start_with(TEST, RigOptions { data_dir: Some(data), ..env }).await?;
    open_step1(&mut rig).await?;
    check_scheme_handler(&mut rig, &home, REGISTER_WAIT).await?;

    // ---- step 1 against the emulator, deep-link redirect
    rig.click("input[name=redirect-mode][value=deep_link]").await?;
    save_exchange(&mut rig, TENANT, DEMO_CLIENT_ID, &emu.base_url()).await?;
    rig.wait_for("[data-testid=exchange-status][data-enabled=true]", FLOW_WAIT).await?;

    // ---- step 2: taro, and jiro for the wrong-account sign-in of launch 2
    rig.click("[data-testid=next-step]").await?;
    rig.wait("#login-name").await?;
    add_account(&mut rig, "taro", "山田 太郎", TARO, "imap").await?;
    add_account(&mut rig, "jiro", "鈴木 次郎", JIRO, "imap").await?;

    // ---- step 3: admin consent
    rig.click("[data-testid=next-step]").await?;
    rig.wait("[data-testid=step3-grant]").await?;
    rig.wait("[data-testid=step3-consent-status][data-state=none]").await?;
    for scope in [IMAP_SCOPE, SMTP_SCOPE] {
        rig.wait(&format!("[data-testid=step3-scope][data-scope=\"{scope}\"]")).await?;
    }
    rig.shot("step3-before").await?;
    seen.page(&rig).await;

    rig.click("[data-testid=step3-grant]").await?;
    rig.wait("[data-testid=flow-waiting][data-purpose=admin_consent]").await?;
    let opened = rig.attr("[data-testid=flow-waiting]", "data-browser-opened").await?;
    if opened.as_deref() != Some("true") {
        return Err(rig.failure(&format!("flow-waiting data-browser-opened={opened:?}: $BROWSER not started")).await);
    }
    rig.scroll_to("[data-testid=flow-waiting]").await?;
    rig.shot("step3-waiting").await?;
    seen.page(&rig).await;

    rig.wait_for("[data-testid=flow-success]", FLOW_WAIT).await?;
    rig.wait("[data-testid=step3-consent-status][data-state=complete]").await?;
    if rig.exists("[data-testid=flow-waiting]").await {
        return Err(rig.failure("the waiting panel is still shown after the consent succeeded").await);
    }
    rig.scroll_to("[data-testid=step3-consent-status]").await?;
    rig.shot("step3-consent-recorded").await?;
    rig.scroll_to("[data-testid=flow-success]").await?;
    rig.shot("step3-success").await?;
    seen.page(&rig).await;
    check_single_instance(&mut rig, "the deep link", SINGLE_WAIT).await?;
    let delivered = last_delivered(SCHEME).unwrap_or_default();
    assert!(
        delivered.starts_with(&format!("{SCHEME}://oauth2/callback?")) && delivered.contains("admin_consent=True"),
        "the browser handed over {delivered:?}"
    );
    let consents = emu.admin_consents();
    assert!(
        consents.iter().any(|g| g.tenant_id == DEMO_TENANT_ID
            && g.client_id == DEMO_CLIENT_ID
            && g.scopes.iter().any(|s| s == IMAP_SCOPE)),
        "the emulator recorded no admin consent with IMAP: {consents:?}"
    );
    eprintln!("[{TEST}] step 3 done after {:?}", t0.elapsed());

    // ---- step 4: the user's own sign-in
    rig.click("[data-testid=change-role]").await?;
    rig.click("[data-testid=start-user]").await?;
    rig.wait("[data-testid=step4-address]").await?;
    choose_mailbox(&mut rig, TARO).await?;
    rig.wait(&format!(
        "[data-testid=step4-account][data-address=\"{TARO}\"] [data-testid=account-status][data-status=not_signed_in]"
    ))
    .await?;
    rig.shot("step4-chosen").await?;
    seen.page(&rig).await;

    rig.click("[data-testid=step4-signin]").await?;
    rig.wait("[data-testid=flow-waiting][data-purpose=sign_in]").await?;
    rig.scroll_to("[data-testid=flow-waiting]").await?;
    rig.shot("step4-waiting").await?;
    seen.page(&rig).await;

    rig.wait_for("[data-testid=step4-signed-in-as]", FLOW_WAIT).await?;
    let signed_in_as = rig.wait("[data-testid=step4-signed-in-as]").await?.text().await?;
    if signed_in_as.trim() != TARO {
        return Err(rig.failure(&format!("step4-signed-in-as shows {signed_in_as:?}, want {TARO}")).await);
    }
    // Signed in; the connection check that follows may already have turned it `verified`.
    let taro_panel = format!("[data-testid=step4-account][data-address=\"{TARO}\"]");
    rig.wait(&badge("[data-testid=flow-success]", &["signed_in", "verified"])).await?;
    rig.wait(&badge(&taro_panel, &["signed_in", "verified"])).await?;
    rig.wait("[data-testid=step4-signout]").await?;
    rig.scroll_to("[data-testid=flow-success]").await?;
    rig.shot("step4-signed-in").await?;
    seen.page(&rig).await;
    check_single_instance(&mut rig, "the deep link", SINGLE_WAIT).await?;
    let delivered = last_delivered(SCHEME).unwrap_or_default();
    assert!(delivered.contains("code="), "the browser handed over {delivered:?}");
    eprintln!("[{TEST}] step 4 done after {:?}", t0.elapsed());

    // ---- the connection check after the sign-in: IMAP + SMTP XOAUTH2 against the Dovecot → verified
    let (status, detail, _) = checked_state(&mut rig, TARO, CHECK_WAIT).await?;
    if let Some(dc) = &dc {
        if status != "verified" {
            let what = format!(
                "taro's connection check against the Dovecot ended in {status} ({detail:?})\n--- dovecot log:\n{}",
                dc.log()
            );
            return Err(rig.failure(&what).await);
        }
        expect_verified_badge(&mut rig, &taro_panel, TARO, WAIT).await?;
        // The logins really reached the Dovecot, over TLS, with XOAUTH2 (its log copied to dovecot.log).
        expect_dovecot_logins(&mut rig, dc, TARO).await?;
        let in_success = rig.exists(&badge("[data-testid=flow-success]", &["verified"])).await;
        eprintln!("[{TEST}] the success panel's badge shows verified: {in_success}");
        rig.scroll_to(&taro_panel).await?;
        rig.shot("step4-verified").await?;
        seen.page(&rig).await;
    }
    let data = rig.finish().await?;

    // ---- what launch 1 left: the consent in SQLite, taro's tokens in the real keychain
    {
        let db = rusqlite::Connection::open(data.path().join("exo-setup.sqlite3"))?;
        let (tenant_id, client_id, scopes): (String, String, String) = db.query_row(
            "SELECT tenant_id, client_id, scopes FROM admin_consents ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        assert_eq!(tenant_id, DEMO_TENANT_ID);
        assert_eq!(client_id, DEMO_CLIENT_ID);
        assert!(scopes.contains(IMAP_SCOPE), "admin_consents.scopes = {scopes:?}");
        let (status, protocols, verified_at): (String, Option<String>, Option<String>) = db.query_row(
            "SELECT status, verified_protocols, verified_at FROM mail_accounts WHERE address = ?1",
            [TARO],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if dc.is_some() {
            assert_eq!(status, "verified", "taro's mail_accounts.status");
            assert_eq!(protocols.as_deref(), Some("imap smtp"), "taro's mail_accounts.verified_protocols");
            assert!(verified_at.is_some(), "taro's mail_accounts.verified_at");
            let checks: i64 = db.query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'account.check' AND target = ?1",
                [TARO],
                |r| r.get(0),
            )?;
            assert!(checks >= 1, "no account.check audit entry of taro");
        } else {
            assert!(status == "signed_in" || status == "error", "taro's mail_accounts.status = {status}");
        }
    }
    let (taro_refresh, taro_access) = tokens_of(&service, DEMO_TENANT_ID, TARO).await?;
    let taro_refresh = taro_refresh.filter(|t| !t.is_empty()).ok_or("no refresh token for taro in the keychain")?;
    let taro_access = taro_access.filter(|t| !t.is_empty()).ok_or("no access token for taro in the keychain")?;
    let snap = emu.snapshot();
    assert!(
        snap.refresh_tokens.iter().any(|r| r.token == taro_refresh && r.upn == TARO),
        "the keychain's refresh token is not one the emulator issued to taro"
    );

    // ================================================================ launch 2: cancel, then the wrong account
    // The browser waits 4 s before it starts: time to press Cancel while the flow is pending.
    let env = env_for(
        &home,
        &service,
        ca_file.as_deref(),
        &[("TEST_BROWSER_LOGIN_HINT", HANAKO), ("TEST_BROWSER_DELAY", "4")],
    );
    let mut rig = Rig::start_with(TEST, RigOptions { data_dir: Some(data), keep_shots: true, ..env }).await?;
    rig.click("[data-testid=start-user]").await?;
    rig.wait("[data-testid=step4-address]").await?;
    choose_mailbox(&mut rig, JIRO).await?;

    // ---- cancel while waiting; the redirect that still arrives afterwards is refused
    rig.click("[data-testid=step4-signin]").await?;
    rig.wait("[data-testid=flow-waiting][data-purpose=sign_in]").await?;
    rig.click("[data-testid=flow-cancel]").await?;
    rig.wait("[data-testid=flow-error] [data-testid=error][data-kind=flow_cancelled]").await?;
    if rig.exists("[data-testid=flow-waiting]").await {
        return Err(rig.failure("the waiting panel is still shown after Cancel").await);
    }
    rig.scroll_to("[data-testid=flow-error]").await?;
    rig.shot("step4-cancelled").await?;
    seen.page(&rig).await;
    // The late redirect matches no flow any more (flowId null): state_unknown, nothing redeemed or stored.
    rig.wait_for("[data-testid=flow-error][data-flow-id=\"\"] [data-testid=error][data-kind=state_unknown]", FLOW_WAIT)
        .await?;
    rig.scroll_to("[data-testid=flow-error]").await?;
    rig.shot("step4-late-redirect-refused").await?;
    seen.page(&rig).await;
    check_single_instance(&mut rig, "the deep link", SINGLE_WAIT).await?;

    // ---- the wrong account
    rig.click("[data-testid=step4-signin]").await?;
    let e = rig.wait_for("[data-testid=flow-error] [data-testid=error][data-kind=wrong_account]", FLOW_WAIT).await?;
    let text = e.text().await?;
    if !(text.contains(HANAKO) && text.contains(JIRO)) {
        return Err(rig.failure(&format!("the wrong_account error does not name {HANAKO} and {JIRO}: {text:?}")).await);
    }
    rig.wait(&format!(
        "[data-testid=step4-account][data-address=\"{JIRO}\"] [data-testid=account-status][data-status=not_signed_in]"
    ))
    .await?;
    rig.scroll_to("[data-testid=flow-error]").await?;
    rig.shot("step4-wrong-account").await?;
    seen.page(&rig).await;
    check_single_instance(&mut rig, "the deep link", SINGLE_WAIT).await?;
    let data = rig.finish().await?;

    // ---- nothing stored for the wrong account; taro's sign-in untouched
    let (r, a) = tokens_of(&service, DEMO_TENANT_ID, JIRO).await?;
    assert!(r.is_none() && a.is_none(), "tokens stored for {JIRO} after a wrong-account sign-in");
    let (r, a) = tokens_of(&service, DEMO_TENANT_ID, HANAKO).await?;
    assert!(r.is_none() && a.is_none(), "tokens stored for {HANAKO}");
    let (r, _) = tokens_of(&service, DEMO_TENANT_ID, TARO).await?;
    assert_eq!(r.as_deref(), Some(taro_refresh.as_str()), "taro's refresh token changed");
    let db_path = data.path().join("exo-setup.sqlite3");
    {
        let db = rusqlite::Connection::open(&db_path)?;
        let status: String =
            db.query_row("SELECT status FROM mail_accounts WHERE address = ?1", [JIRO], |r| r.get(0))?;
        assert_eq!(status, "not_signed_in", "jiro's mail_accounts.status after the wrong account");
    }
    if dc.is_some() {
        let (status, _, _) = account_state(data.path(), TARO)?;
        assert_eq!(status, "verified", "taro's mail_accounts.status after launch 2");
    }
    let snap_after = emu.snapshot();
    assert!(
        snap_after.refresh_tokens.iter().any(|r| r.upn == HANAKO),
        "the emulator issued nothing to hanako: the wrong-account round trip did not happen"
    );

    // ================================================================ token scan
    let mut secrets: Vec<(String, String)> =
        vec![("taro's refresh token".into(), taro_refresh.clone()), ("taro's access token".into(), taro_access)];
    for r in &snap_after.refresh_tokens {
        secrets.push((format!("a refresh token of {}", r.upn), r.token.clone()));
    }
    for t in &snap_after.access_tokens {
        secrets.push((format!("an access token of {}", t.upn), t.access_token.clone()));
    }
    let shots = screenshot_path(TEST);
    let app_log = file_bytes(&shots.join("app.log"));
    let ipc_lines = String::from_utf8_lossy(&app_log).lines().filter(|l| l.contains("exo_setup::ipc")).count();
    assert!(ipc_lines >= 5, "the app log has {ipc_lines} exo_setup::ipc lines: the IPC scan would be vacuous");
    let mut wal = db_path.clone().into_os_string();
    wal.push("-wal");
    let places: Vec<(String, Vec<u8>)> = vec![
        ("the SQLite file".into(), file_bytes(&db_path)),
        ("the SQLite WAL".into(), file_bytes(Path::new(&wal))),
        ("the app log".into(), app_log),
        ("the driver/app stderr log".into(), file_bytes(&shots.join("driver-and-app.log"))),
        ("the page".into(), seen.0.join("\n").into_bytes()),
    ];
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        for (place, bytes) in &places {
            if contains(bytes, secret) {
                leaks.push(format!("{what} is in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "token strings found:\n  {}", leaks.join("\n  "));
    // Authorization codes are single-use and PKCE-bound, but still do not belong in a log.
    let mut code_leaks = Vec::new();
    for c in &snap_after.codes {
        for (place, bytes) in &places {
            if contains(bytes, &c.code) {
                code_leaks.push(format!("an authorization code of {} is in {place}", c.upn));
            }
        }
    }
    assert!(code_leaks.is_empty(), "authorization codes found:\n  {}", code_leaks.join("\n  "));

    // ---- the emulator accepts the stored refresh token (last: it rotates it)
    let client = OAuthClient::connect(
        OAuthSettings { authority: emu.base_url(), tenant: TENANT.into(), client_id: DEMO_CLIENT_ID.into() },
        PendingFlows::default(),
    )
    .await?;
    let refreshed = client
        .refresh(&exo_setup_core::oauth::Secret::new(taro_refresh), MailScopes::for_account(ReceiveProtocol::Imap))
        .await?;
    assert!(!refreshed.access_token.is_empty() && refreshed.scopes.iter().any(|s| s == IMAP_SCOPE));
    eprintln!(
        "[{TEST}] passed in {:?}: {} secrets scanned in {} places, {ipc_lines} IPC log lines",
        t0.elapsed(),
        secrets.len(),
        places.len()
    );
    Ok(())
}
