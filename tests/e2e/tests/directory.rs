//! Step 2's third way in the real window: import from Microsoft Entra against the emulator's Microsoft Graph.
//!
//! Step 1 (loopback redirect) and the consent with the directory permissions are made with the app's own CLI
//! (`exo-setup-gui directory consent`, the test browser following the emulator's redirects); then in the window the
//! administrator signs in for the directory (the app opens `$BROWSER`, which comes back to the app's loopback
//! listener), reads all users (two Graph pages), sees the diff paged from SQLite, applies it after the confirmation,
//! and the account list shows the accounts. The SQLite file must then hold exactly the accounts the diff announced,
//! recorded as coming from the directory, and no Graph token.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID};
use exo_e2e::app::{appears, profile_env, rig_options, unique_service, CLI_WAIT, FLOW_WAIT};
use exo_e2e::{app_binary, screenshot_path, DesktopHome, Result, Rig};

const TEST: &str = "e_directory_import";
/// A directory read of two Graph pages and its diff, on 2 busy cores.
const READ_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// The app binary as the CLI with this profile's environment (keychain service, test browser).
async fn cli(data_dir: &Path, env: &[(String, OsString)], args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(app_binary());
    cmd.arg("--data-dir").arg(data_dir).args(args).stdin(Stdio::null()).kill_on_drop(true);
    cmd.env_remove("EXO_SETUP_POLICY_FILE").env_remove("EXO_SETUP_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(CLI_WAIT, cmd.output()).await.map_err(|_| format!("{args:?}: still running"))??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{args:?}: {}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_directory_import_in_the_window() -> Result {
    let emu = Emulator::start(Config::default_demo().with_generated_users(1200, 11)).await?;
    emu.set_auto_approve(true);
    let home = DesktopHome::new(TEST)?;
    let service = unique_service(TEST);
    // The directory sign-in is the administrator's: the test browser puts that login_hint on the sign-in page.
    let env = profile_env(TEST, &home, &service, &[("TEST_BROWSER_LOGIN_HINT", "admin@contoso.example".into())]);
    let data = tempfile::Builder::new().prefix(&format!("exo-e2e-{TEST}-")).tempdir()?;
    // The test browser logs into the screenshot folder, which the rig only makes when the window starts.
    std::fs::create_dir_all(screenshot_path(TEST))?;
    let base = emu.base_url();
    cli(
        data.path(),
        &env,
        &[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            DEMO_CLIENT_ID,
            "--authority",
            &base,
            "--redirect-mode",
            "loopback",
        ],
    )
    .await?;
    let consent = cli(data.path(), &env, &["directory", "consent", "--timeout", "60"]).await?;
    assert!(consent.contains("User.Read.All"), "{consent}");

    let mut rig = Rig::start_with(TEST, rig_options(&env, Some(data))).await?;
    rig.wait("[data-testid=start-admin]").await?;
    rig.click("[data-testid=start-admin]").await?;
    rig.click("[data-testid=nav-step-2]").await?;
    rig.wait("[data-testid=directory-import]").await?;
    rig.wait("[data-testid=directory-sign-in-state][data-signed-in=false]").await?;
    rig.scroll_to("[data-testid=directory-import]").await?;
    rig.shot("step2-directory").await?;

    // ---- the administrator's directory sign-in through the browser and the loopback listener
    rig.click("[data-testid=directory-sign-in]").await?;
    if !appears(&rig, "[data-testid=directory-sign-in-state][data-signed-in=true]", FLOW_WAIT).await {
        return Err(rig.failure("the directory sign-in did not end signed in").await);
    }
    rig.wait("[data-testid=directory-signed-in-as]").await?;
    rig.shot("signed-in").await?;

    // ---- read all users: two pages, then the diff
    rig.click("[data-testid=directory-all]").await?;
    rig.click("[data-testid=directory-read]").await?;
    rig.wait_for("[data-testid=directory-diff]", READ_WAIT).await?;
    rig.wait("[data-testid=directory-row]").await?;
    let creates: usize = rig.attr("[data-testid=directory-diff]", "data-creates").await?.unwrap_or_default().parse()?;
    assert!(creates > 999, "two Graph pages of users: {creates} new");
    let rows = rig.count("[data-testid=directory-row]").await?;
    assert!(rows > 0 && rows <= 50, "one page of the diff in the page: {rows} rows");
    rig.scroll_to("[data-testid=directory-diff]").await?;
    rig.shot("diff").await?;

    // ---- apply after the confirmation; the account list follows
    rig.click("[data-testid=directory-apply]").await?;
    rig.click("[data-testid=directory-confirm]").await?;
    let created = rig.wait_for("[data-testid=directory-result]", READ_WAIT).await?.attr("data-created").await?;
    assert_eq!(created, Some(creates.to_string()));
    rig.wait(&format!("[data-testid=account-total][data-total=\"{creates}\"]")).await?;
    rig.scroll_to("[data-testid=directory-result]").await?;
    rig.shot("applied").await?;

    let data = rig.finish().await?;
    let db = rusqlite::Connection::open(data.path().join("exo-setup.sqlite3"))?;
    let stored: i64 = db.query_row(
        "SELECT count(*) FROM mail_accounts WHERE source = 'directory' AND directory_state = 'present'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(stored, i64::try_from(creates)?);
    let staged: i64 = db.query_row("SELECT count(*) FROM directory_stage", [], |r| r.get(0))?;
    assert_eq!(staged, 0, "the stage never reaches the database file");
    Ok(())
}
