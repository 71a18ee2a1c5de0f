//! What the scenarios of `flows.rs`, `invitations.rs` and `handover.rs` share about one app profile beyond the
//! window itself: its environment (private desktop home, keychain service, test browser, IPC log), the app's own
//! CLI on a data directory, the scheme registration and single-instance checks, what the app left in SQLite and in
//! the real keychain, step 4's mailbox picker and badges, and the private Dovecot of the connection check.

use std::{
    ffi::OsString,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use entra_emulator::dovecot::{self, Dovecot};
use entra_emulator::Emulator;
use exo_setup_core::keychain::{AccountKey, OsKeychain, TokenStore, DEFAULT_CHUNK_BYTES};

use crate::{app_binary, app_instances, repo_root, screenshot_path, DesktopHome, Result, Rig, RigOptions};

/// The app's URL scheme (OAuth redirects and invitation links).
pub const SCHEME: &str = "dev.exosetup.wizard";
/// An invitation or a redirect through `gio open`, a second instance and single-instance; a whole sign-in
/// (discovery against the emulator, curl hops, gio, second instance, token call).
pub const FLOW_WAIT: Duration = Duration::from_secs(45);
/// How long step 4's badge may take to turn `verified` by itself once SQLite says so, before the test chooses the
/// mailbox again (which lists the accounts anew).
pub const BADGE_WAIT: Duration = Duration::from_secs(5);
/// A CLI run against the emulator (discovery check) on 2 busy cores.
pub const CLI_WAIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------------ environment

/// A keychain service of its own for one app profile: `dev.exosetup.wizard.e2e-<test>-<pid>-<nanos>`.
pub fn unique_service(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{SCHEME}.e2e-{test}-{}-{nanos}", std::process::id())
}

/// The environment of one app profile: its private desktop home, keychain service, the test browser
/// (`BROWSER=scripts/test-browser.sh`, logging to `<screenshots>/browser.log`) and the IPC log
/// (`EXO_SETUP_LOG=info,exo_setup::ipc=debug` into `<screenshots>/app.log`), then `extra` (later entries win).
pub fn profile_env(
    test: &str,
    home: &DesktopHome,
    service: &str,
    extra: &[(&str, OsString)],
) -> Vec<(String, OsString)> {
    let shots = screenshot_path(test);
    let mut env = home.env();
    env.push(("BROWSER".into(), repo_root().join("scripts/test-browser.sh").into()));
    env.push(("TEST_BROWSER_LOG".into(), shots.join("browser.log").into()));
    env.push(("EXO_SETUP_KEYCHAIN_SERVICE".into(), service.into()));
    env.push(("EXO_SETUP_LOG".into(), "info,exo_setup::ipc=debug".into()));
    env.push(("EXO_SETUP_LOG_FILE".into(), shots.join("app.log").into()));
    for (k, v) in extra {
        env.push((k.to_string(), v.clone()));
    }
    env
}

/// [`RigOptions`] with `env` and, when given, an existing data directory.
pub fn rig_options(env: &[(String, OsString)], data_dir: Option<tempfile::TempDir>) -> RigOptions {
    let mut o = RigOptions { data_dir, ..RigOptions::default() };
    for (k, v) in env {
        o = o.env(k, v.clone());
    }
    o
}

/// Runs the app binary as the CLI on `data_dir` (on tokio's process driver: an emulator it talks to may run in
/// this process), without the suite's `EXO_SETUP_POLICY_FILE` / `EXO_SETUP_DATA_DIR`. Returns stdout; an error with
/// stdout and stderr when it fails or is still running after [`CLI_WAIT`].
pub async fn cli(data_dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(app_binary());
    cmd.arg("--data-dir").arg(data_dir).args(args).stdin(Stdio::null()).kill_on_drop(true);
    // The CLI must not see a profile's keychain or policy from the suite's environment.
    cmd.env_remove("EXO_SETUP_POLICY_FILE").env_remove("EXO_SETUP_DATA_DIR");
    let shown = format!("exo-setup-gui --data-dir {} {}", data_dir.display(), args.join(" "));
    let out = match tokio::time::timeout(CLI_WAIT, cmd.output()).await {
        Ok(r) => r.map_err(|e| format!("{shown}: cannot run {}: {e}", app_binary().display()))?,
        Err(_) => return Err(format!("{shown}: still running after {CLI_WAIT:?}").into()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{shown}: {}\n--- stdout:\n{stdout}--- stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    eprintln!("[cli] {shown}: ok");
    Ok(stdout)
}

// ------------------------------------------------------------------------------------------------ desktop

/// Waits up to `timeout` until the handler file `register_all()` writes exists and gio names it as the scheme's
/// default handler in this home, then checks that its `Exec=` starts the app binary with `%u`. Returns that line.
pub async fn check_scheme_handler(rig: &mut Rig, home: &DesktopHome, timeout: Duration) -> Result<String> {
    let file = home.handler_file();
    let deadline = Instant::now() + timeout;
    let mut mime = String::new();
    loop {
        if file.is_file() {
            mime = home.gio_mime(SCHEME).unwrap_or_else(|e| e.to_string());
            let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if mime.lines().next().is_some_and(|l| l.contains(&name)) {
                break;
            }
        }
        if Instant::now() > deadline {
            let what = format!(
                "the app did not register itself for {SCHEME}: {} exists: {}; gio mime says:\n{mime}",
                file.display(),
                file.is_file()
            );
            return Err(rig.failure(&what).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let desktop = std::fs::read_to_string(&file)?;
    let exec = desktop.lines().find(|l| l.starts_with("Exec=")).unwrap_or_default().to_string();
    if !(exec.contains(&*app_binary().to_string_lossy()) && exec.trim_end().ends_with("%u")) {
        return Err(rig.failure(&format!("handler Exec must start the app binary with %u: {exec:?}")).await);
    }
    if !desktop.contains(&format!("x-scheme-handler/{SCHEME}")) {
        return Err(rig.failure(&format!("handler MimeType without x-scheme-handler/{SCHEME}:\n{desktop}")).await);
    }
    eprintln!(
        "[{}] scheme handler: {} ({exec}); gio mime: {}",
        rig.test,
        file.display(),
        mime.lines().next().unwrap_or("")
    );
    Ok(exec)
}

/// Waits up to `timeout` for exactly one app process on the rig's data directory: whatever was handed over
/// (`after`: a deep link, `gio open <invitation>`) started a second instance, which forwarded it and exited.
pub async fn check_single_instance(rig: &mut Rig, after: &str, timeout: Duration) -> Result {
    let deadline = Instant::now() + timeout;
    loop {
        let pids = app_instances(rig.data_dir.path());
        if pids.len() == 1 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(rig.failure(&format!("want one app process after {after}, found {pids:?}")).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ------------------------------------------------------------------------------------------------ the page

/// Polls for `css` without a failure screenshot; true when it appeared within `timeout`.
pub async fn appears(rig: &Rig, css: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if rig.exists(css).await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Visible text of the first element matching `css` (empty when there is none).
pub async fn text_of(rig: &Rig, css: &str) -> String {
    match rig.client.find(fantoccini::Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The `data-kind` values shown in `invitation-error` now (for failure messages).
pub async fn shown_error_kinds(rig: &Rig) -> String {
    let js = "const e = document.querySelector('[data-testid=invitation-error]'); if (!e) return 'no invitation-error'; \
              const ks = [e, ...e.querySelectorAll('[data-kind]')].map(x => x.getAttribute('data-kind')).filter(Boolean); \
              return 'invitation-error data-kind: ' + JSON.stringify(ks) + ' text: ' + e.innerText;";
    match rig.client.execute(js, vec![]).await {
        Ok(v) => v.as_str().unwrap_or_default().to_string(),
        Err(e) => format!("({e})"),
    }
}

/// The confirmation screen shows `want` in `testid` (text of the element, case-insensitive); a problem otherwise.
pub async fn expect_shown(rig: &mut Rig, testid: &str, want: &str, problems: &mut Vec<String>) -> Result {
    let css = format!("[data-testid={testid}]");
    if !rig.exists(&css).await {
        problems.push(format!("{css} is missing on the confirmation screen"));
        return Ok(());
    }
    let text = text_of(rig, &css).await;
    if !text.to_lowercase().contains(&want.to_lowercase()) {
        problems.push(format!("{css} shows {text:?}, which does not contain {want:?}"));
    }
    Ok(())
}

/// `{prefix} [data-testid=account-status]` showing one of `statuses` (a CSS selector list).
pub fn badge(prefix: &str, statuses: &[&str]) -> String {
    statuses
        .iter()
        .map(|s| format!("{prefix} [data-testid=account-status][data-status={s}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Chooses a mailbox in step 4's type-ahead.
pub async fn choose_mailbox(rig: &mut Rig, address: &str) -> Result {
    let local = address.split('@').next().unwrap_or(address);
    rig.fill("[data-testid=step4-address]", local).await?;
    rig.click(&format!("[data-testid=\"step4-option-{address}\"]")).await?;
    rig.wait(&format!("[data-testid=step4-account][data-address=\"{address}\"]")).await?;
    Ok(())
}

/// Chooses a mailbox in step 4's type-ahead once its suggestion shows `status` (waiting up to `timeout` for it).
/// The picker keeps the rows of its last search and searches again 150 ms after typing, so a quick click could
/// choose a stale row.
pub async fn rechoose_mailbox(rig: &mut Rig, address: &str, status: &str, timeout: Duration) -> Result {
    let local = address.split('@').next().unwrap_or(address);
    rig.fill("[data-testid=step4-address]", local).await?;
    let option = format!("[data-testid=\"step4-option-{address}\"]");
    rig.wait_for(&badge(&option, &[status]), timeout).await?;
    rig.click(&option).await?;
    rig.wait(&format!("[data-testid=step4-account][data-address=\"{address}\"]")).await?;
    Ok(())
}

/// Step 4's badge of `address` in `panel` turns `verified`: by itself (the UI refreshing on
/// `exo://account-checked`) within [`BADGE_WAIT`], else after choosing the mailbox again, which lists the accounts
/// anew (said on stderr); `timeout` bounds each wait of that second way.
pub async fn expect_verified_badge(rig: &mut Rig, panel: &str, address: &str, timeout: Duration) -> Result {
    let verified = badge(panel, &["verified"]);
    if appears(rig, &verified, BADGE_WAIT).await {
        eprintln!("[{}] the step 4 badge turned verified by itself (exo://account-checked)", rig.test);
    } else {
        eprintln!(
            "[{}] the step 4 badge did not turn verified by itself within {BADGE_WAIT:?}: re-selecting",
            rig.test
        );
        rechoose_mailbox(rig, address, "verified", timeout).await?;
        rig.wait_for(&verified, timeout).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------ SQLite

/// The profile's SQLite file opened read-only with a busy timeout (the app may be running: WAL).
pub fn open_db(data_dir: &Path) -> Result<rusqlite::Connection> {
    let db = rusqlite::Connection::open_with_flags(
        data_dir.join("exo-setup.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    db.busy_timeout(Duration::from_secs(5))?;
    Ok(db)
}

/// `(status, status_detail, verified_protocols)` of a mailbox.
pub type AccountState = (String, Option<String>, Option<String>);

/// [`AccountState`] of a mailbox, read while the app may be running (WAL).
pub fn account_state(data_dir: &Path, address: &str) -> Result<AccountState> {
    Ok(open_db(data_dir)?.query_row(
        "SELECT status, status_detail, verified_protocols FROM mail_accounts WHERE address = ?1",
        [address],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// Waits up to `timeout` until the connection check after the sign-in has recorded its end (`verified` or `error`)
/// in SQLite, and says on stderr how long that took.
pub async fn checked_state(rig: &mut Rig, address: &str, timeout: Duration) -> Result<AccountState> {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let state = account_state(rig.data_dir.path(), address)?;
        if state.0 == "verified" || state.0 == "error" {
            let (status, detail, protocols) = &state;
            eprintln!(
                "[{}] connection check recorded after {:?}: {status} {detail:?} {protocols:?}",
                rig.test,
                started.elapsed()
            );
            return Ok(state);
        }
        if Instant::now() > deadline {
            let what = format!("the connection check of {address} did not end within {timeout:?}: {state:?}");
            return Err(rig.failure(&what).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(organization_name, tenant, tenant_id, client_id, authority)` of a profile's `org_settings`.
pub type OrgRow = (String, String, String, String, String);

/// The profile's organization, `None` when none is configured.
pub fn org_row(data_dir: &Path) -> Result<Option<OrgRow>> {
    let db = open_db(data_dir)?;
    let mut st =
        db.prepare("SELECT organization_name, tenant, tenant_id, client_id, authority FROM org_settings WHERE id = 1")?;
    let mut rows = st.query([])?;
    Ok(match rows.next()? {
        Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        None => None,
    })
}

// ------------------------------------------------------------------------------------------------ keychain

/// The real keychain (Secret Service) under a profile's keychain service.
pub fn keychain(service: &str) -> OsKeychain {
    OsKeychain::with_service(service, DEFAULT_CHUNK_BYTES)
}

/// `(refresh token, access token)` of a mailbox of `tenant_id` in a keychain service, read on the blocking pool.
pub async fn tokens_of(service: &str, tenant_id: &str, address: &str) -> Result<(Option<String>, Option<String>)> {
    let (service, tenant_id, address) = (service.to_string(), tenant_id.to_string(), address.to_string());
    let r = tokio::task::spawn_blocking(move || -> Result<(Option<String>, Option<String>)> {
        let kc = keychain(&service);
        let key = AccountKey::new(&tenant_id, &address);
        let refresh = kc.get_refresh_token(&key)?.map(|s| s.expose().to_string());
        let access = kc.get_access_token(&key)?.map(|a| a.token.expose().to_string());
        Ok((refresh, access))
    })
    .await??;
    Ok(r)
}

// ------------------------------------------------------------------------------------------------ Dovecot

/// The private Dovecot of the connection check after a sign-in, validating `emu`'s access tokens. Without a
/// `dovecot` binary: an error saying what to install (`for_what` names the check), unless `EXO_SKIP_DOVECOT=1`,
/// then `None`.
pub fn start_dovecot(emu: &Emulator, for_what: &str) -> Result<Option<Dovecot>> {
    let dc = Dovecot::start(emu)?;
    if dc.is_none() && std::env::var(dovecot::SKIP_ENV).as_deref() != Ok("1") {
        return Err(format!(
            "no Dovecot for {for_what}: {}; install dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond \
             (scripts/test.sh does) or set {}=1",
            dovecot::skip_reason().unwrap_or_default(),
            dovecot::SKIP_ENV
        )
        .into());
    }
    Ok(dc)
}

/// The check's logins of `address` reached the Dovecot over TLS with XOAUTH2 (IMAP and submission). Copies the
/// Dovecot's log to `<screenshots>/dovecot.log` and returns it.
pub async fn expect_dovecot_logins(rig: &mut Rig, dc: &Dovecot, address: &str) -> Result<String> {
    let log = dc.log();
    std::fs::write(rig.shots.join("dovecot.log"), &log)?;
    for service in ["imap-login", "submission-login"] {
        let login = log.lines().find(|l| l.contains(&format!("{service}: Info: Login: user=<{address}>")));
        if !login.is_some_and(|l| l.contains("method=XOAUTH2") && l.contains("TLS")) {
            let what = format!("no {service} XOAUTH2 login of {address} over TLS in the Dovecot log:\n{log}");
            return Err(rig.failure(&what).await);
        }
    }
    Ok(log)
}

/// `gio open '<link>'` in the profile's desktop (its HOME, XDG dirs and data directory), as the OS would deliver
/// a link clicked in a mail: gio starts the registered handler, a second app instance, which forwards it.
pub async fn gio_open(rig: &mut Rig, env: &[(String, OsString)], link: &str) -> Result {
    let mut cmd = tokio::process::Command::new("gio");
    cmd.arg("open").arg(link).stdin(Stdio::null()).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("EXO_SETUP_DATA_DIR", rig.data_dir.path());
    let out = match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
        Ok(r) => r?,
        Err(_) => return Err(rig.failure("`gio open <invitation>` still running after 30 s").await),
    };
    if !out.status.success() {
        let what = format!(
            "`gio open <invitation>`: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(rig.failure(&what).await);
    }
    Ok(())
}
