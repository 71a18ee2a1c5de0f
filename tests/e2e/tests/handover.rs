//! Invitation files handed to the app by the OS (issue 6), checked through the app's own IPC log
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

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID};
use exo_e2e::{app_binary, app_instances, screenshot_dir, DesktopHome, Result};

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const WAIT: Duration = Duration::from_secs(45);

/// The CLI launcher next to the wizard binary (both built by `cargo build --features prod --bin exo-setup …`).
fn launcher() -> PathBuf {
    app_binary().with_file_name("exo-setup")
}

/// Runs the app binary as the CLI on `data_dir`; stdout, or an error with both outputs.
async fn cli(data_dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(app_binary());
    cmd.arg("--data-dir").arg(data_dir).args(args).stdin(Stdio::null()).kill_on_drop(true);
    cmd.env_remove("EXO_SETUP_POLICY_FILE").env_remove("EXO_SETUP_DATA_DIR");
    let out =
        tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.map_err(|_| format!("{args:?} hangs"))??;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The environment of the user's app: data directory, desktop home, keychain service, IPC log.
fn user_env(home: &DesktopHome, data_dir: &Path, log: &Path) -> Vec<(String, std::ffi::OsString)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut env = home.env();
    env.push(("EXO_SETUP_DATA_DIR".into(), data_dir.into()));
    env.push(("EXO_SETUP_KEYCHAIN_SERVICE".into(), format!("dev.exosetup.wizard.e2e-handover-{nanos}").into()));
    env.push(("EXO_SETUP_LOG".into(), "info,exo_setup::ipc=debug".into()));
    env.push(("EXO_SETUP_LOG_FILE".into(), log.into()));
    env
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
    let env = user_env(&home, user.path(), &log);
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
