//! Invitation files handed to the app by the OS, checked through the app's own IPC log
//! (`exo_setup::ipc=debug` logs every payload sent to the UI), without WebDriver: the app is started as a file
//! manager starts it, with the file as its only argument.
//!
//! - Cold start: `exo-setup <file>` (the CLI launcher, which the desktop entry's `Exec=… %u` runs) hands over to the
//!   wizard, which reads the file in Rust and announces the preview; the UI, once loaded, takes it with
//!   `last_opened_invitation` (the event went out before it listened).
//! - A second start with another file — a path relative to the starter's working directory, then a `file://` URL
//!   as GIO may pass it — is forwarded by single-instance to the running window: one app process, and the event
//!   `exo://invitation-opened` with that invitation.
//! - A tampered file is announced as `failed` / `invite_tampered`; nothing is stored until the user accepts.
//! - Cold start with an invitation LINK, as the OS starts the scheme's handler for a link clicked in a mail:
//!   `exo-setup-gui '<dev.exosetup.wizard://invite?…>'`, the link its only argument (the app started by
//!   WebKitWebDriver with `tauri:options.args`, so that the window can be looked at). The deep-link plugin reads it
//!   from the command line (`get_current()`); the window must show the confirmation screen for the link's mailbox,
//!   which the UI took with `last_opened_invitation` (in the IPC log), one app process, and nothing stored.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_e2e::app::{
    cli, expect_shown, open_db, org_row, profile_env, rig_options, shown_error_kinds, unique_service, FLOW_WAIT, SCHEME,
};
use exo_e2e::{app_binary, app_instances, screenshot_dir, DesktopHome, Result, Rig};
use exo_setup_core::invite::{self, Invitation};
use exo_setup_core::model::{ReceiveProtocol, RedirectMode};

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const WAIT: Duration = Duration::from_secs(45);

/// The CLI launcher next to the wizard binary (`cargo build --features prod --bin exo-setup --bin exo-setup-gui`).
fn launcher() -> PathBuf {
    app_binary().with_file_name("exo-setup")
}

/// Waits until a line of the log satisfies `want`; the log in the error otherwise.
async fn wait_log(log: &Path, what: &str, want: impl Fn(&str) -> bool) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| want(l)) {
            return Ok(line.to_string());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not in the app's log after {WAIT:?}:\n{text}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A second start of the app with `arg` (from `cwd`): it must forward and exit.
async fn second_start(program: &Path, arg: &str, cwd: &Path, env: &[(String, std::ffi::OsString)]) -> Result {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(arg).current_dir(cwd).stdin(Stdio::null()).kill_on_drop(true).envs(env.iter().cloned());
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .map_err(|_| format!("the second start with {arg} did not exit: single-instance did not forward it"))??;
    if !out.status.success() {
        return Err(format!("second start with {arg}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// Ends the process group started for the app (the app and its WebKit children).
fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_invitation_files_at_cold_start_and_forwarded_by_single_instance() -> Result {
    let shots = screenshot_dir("h-handover");
    let emu = Emulator::start(Config::default_demo()).await?;

    // The admin's profile writes one .exoinvite file per account.
    let admin = tempfile::Builder::new().prefix("exo-e2e-handover-admin-").tempdir()?;
    let a = admin.path();
    cli(
        a,
        &[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            DEMO_CLIENT_ID,
            "--authority",
            &emu.base_url(),
        ],
    )
    .await?;
    cli(a, &["accounts", "add", "--login", "yamada", "--address", TARO, "--name", "山田 太郎"]).await?;
    cli(a, &["accounts", "add", "--login", "sato", "--address", HANAKO, "--name", "佐藤 花子"]).await?;
    let files = a.join("invitations");
    cli(a, &["invite", "--all", "--out", files.to_str().unwrap()]).await?;
    let taro_file = files.join(format!("{TARO}.exoinvite"));
    let tampered = files.join("tampered.exoinvite");
    let original = std::fs::read_to_string(&taro_file)?;
    std::fs::write(&tampered, original.replace(DEMO_CLIENT_ID, "99999999-2222-3333-4444-555555555555"))?;

    // The user's computer: cold start with taro's file, as a file manager does.
    let home = DesktopHome::new("h-handover")?;
    let user = tempfile::Builder::new().prefix("exo-e2e-handover-user-").tempdir()?;
    let log = shots.join("app.log");
    let data_dir: (&str, OsString) = ("EXO_SETUP_DATA_DIR", user.path().into());
    let env = profile_env("h-handover", &home, &unique_service("h-handover"), &[data_dir]);
    let mut app = tokio::process::Command::new(launcher());
    app.arg(&taro_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(shots.join("app.stderr"))?)
        .envs(env.iter().cloned())
        .process_group(0)
        .kill_on_drop(true);
    let mut app = app.spawn()?;

    let result = async {
        let line = wait_log(&log, "the UI taking the cold-start invitation", |l| {
            l.contains("last_opened_invitation") && l.contains("\"outcome\":\"preview\"")
        })
        .await?;
        assert!(line.contains(TARO) && line.contains(DEMO_CLIENT_ID), "{line}");

        // Forwarded by a second start: a relative path from the folder the file is in…
        let name = format!("{HANAKO}.exoinvite");
        second_start(&app_binary(), &name, &files, &env).await?;
        let line = wait_log(&log, "hanako's invitation forwarded by single-instance", |l| {
            l.contains("exo://invitation-opened") && l.contains(HANAKO)
        })
        .await?;
        assert!(line.contains("\"outcome\":\"preview\""), "{line}");
        let pids = app_instances(user.path());
        assert_eq!(pids.len(), 1, "one app process after the second start: {pids:?}");

        // …and a file:// URL through the CLI launcher: tampered, refused.
        let url = format!("file://{}", tampered.display()).replace('@', "%40");
        second_start(&launcher(), &url, Path::new("/"), &env).await?;
        let line = wait_log(&log, "the tampered invitation refused", |l| {
            l.contains("exo://invitation-opened") && l.contains("\"outcome\":\"failed\"")
        })
        .await?;
        assert!(line.contains("invite_tampered"), "{line}");

        // Nothing is stored before the user accepts.
        let accounts = cli(user.path(), &["accounts", "list", "--json"]).await?;
        assert_eq!(accounts.trim(), "[]", "{accounts}");
        Ok::<(), exo_e2e::Error>(())
    }
    .await;
    stop(&mut app);
    let _ = tokio::time::timeout(Duration::from_secs(10), app.wait()).await;
    result
}

/// The app's own command line (`/proc/PID/cmdline`), program name first.
fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i_invitation_link_at_cold_start_through_the_deep_link_plugin() -> Result {
    const TEST: &str = "i-cold-link";
    let emu = Emulator::start(Config::default_demo()).await?;
    // The admin's invitation for taro, made with the core's own writer (what `invite` prints).
    let link = invite::link(&Invitation {
        organization_name: "コントソ株式会社".into(),
        authority: emu.base_url(),
        tenant: "contoso.example".into(),
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "yamada".into(),
        display_name: "山田 太郎".into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: None,
        receipts: None,
    });
    assert!(link.starts_with(&format!("{SCHEME}://invite?")), "{link}");
    assert_eq!(invite::parse(&link).map(|i| i.address).ok().as_deref(), Some(TARO), "the link reads back: {link}");

    // The user's computer: the desktop like the other scenarios; the link is the app's only argument.
    let home = DesktopHome::new(TEST)?;
    let env = profile_env(TEST, &home, &unique_service(TEST), &[]);
    let mut opts = rig_options(&env, None);
    opts.args = vec![link.clone()];
    let mut rig = Rig::start_with(TEST, opts).await?;
    let log = rig.shots.join("app.log");

    let pids = app_instances(rig.data_dir.path());
    let [pid] = pids[..] else {
        return Err(rig.failure(&format!("want one app process at cold start, found {pids:?}")).await);
    };
    let args = cmdline(pid);
    if args.len() != 2 || args[1] != link {
        return Err(rig.failure(&format!("the app's command line is {args:?}, want [app, {link}]")).await);
    }

    // The window shows the confirmation screen for the link's mailbox.
    if rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await.is_err() {
        let shown = shown_error_kinds(&rig).await;
        return Err(rig.failure(&format!("no invitation-screen after a cold start with the link ({shown})")).await);
    }
    let mut problems = Vec::new();
    expect_shown(&mut rig, "invitation-mailbox", TARO, &mut problems).await?;
    expect_shown(&mut rig, "invitation-org", "コントソ株式会社", &mut problems).await?;
    expect_shown(&mut rig, "invitation-client-id", DEMO_CLIENT_ID, &mut problems).await?;
    if rig.exists("[data-testid=invitation-error]").await {
        problems.push(format!("invitation-error is shown ({})", shown_error_kinds(&rig).await));
    }
    rig.scroll_to("[data-testid=invitation-screen]").await?;
    rig.shot("invitation-screen").await?;
    if !problems.is_empty() {
        return Err(rig.failure(&format!("confirmation screen:\n  - {}", problems.join("\n  - "))).await);
    }

    // The UI took it with `last_opened_invitation` (the announcement went out before it listened).
    let line = wait_log(&log, "the UI taking the cold-start link", |l| {
        l.contains("last_opened_invitation") && l.contains("\"outcome\":\"preview\"")
    })
    .await;
    let line = match line {
        Ok(line) => line,
        Err(e) => return Err(rig.failure(&e.to_string()).await),
    };
    if !(line.contains(TARO) && line.contains(DEMO_CLIENT_ID)) {
        return Err(rig.failure(&format!("last_opened_invitation is not taro's invitation: {line}")).await);
    }
    // Opened once: the plugin's `get_current()` and the app's own hand-over of the same argument are one link.
    let opened = std::fs::read_to_string(&log)?.lines().filter(|l| l.contains("\"exo://invitation-opened\"")).count();
    if opened != 1 {
        return Err(rig.failure(&format!("exo://invitation-opened announced {opened} times, want once")).await);
    }
    let pids = app_instances(rig.data_dir.path());
    if pids.len() != 1 {
        return Err(rig.failure(&format!("want one app process, found {pids:?}")).await);
    }

    // Nothing is stored before the user accepts.
    if org_row(rig.data_dir.path())?.is_some() {
        return Err(rig.failure("the organization was stored before the invitation was accepted").await);
    }
    let accounts: i64 =
        open_db(rig.data_dir.path())?.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0))?;
    if accounts != 0 {
        return Err(rig.failure(&format!("{accounts} accounts stored before the invitation was accepted")).await);
    }
    let data = rig.finish().await?;
    assert!(org_row(data.path())?.is_none(), "no organization after the window closed without accepting");
    Ok(())
}
