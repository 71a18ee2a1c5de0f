//! The rollout loop in the real windows: the administrator mails the invitations from step 2's Rollout section,
//! the invited user opens the link from the mail in their own profile and accepts (one click: the sign-in starts
//! by itself), the app sends the receipt back, and the administrator's window reads it ("Check for receipts").
//!
//! - `i`: two app profiles as in `invitations.rs` `e`. Profile A (the administrator's data directory, keychain
//!   service and desktop home): step 1 against the in-process entra emulator, admin, taro and hanako registered,
//!   Exchange Online's endpoints pointed at the private Dovecot and the administrator signed in, all with the app's
//!   own CLI (`exo-setup-gui --data-dir A … login admin@…` through `scripts/test-browser.sh`). A's window then
//!   opens step 2 and sends the invitations with the Rollout section's buttons; the clicks from "step 2 is open" to
//!   "everyone invited" are counted. The Dovecot's relay bounces hanako's mail (an RFC 3464 DSN into the admin's
//!   INBOX). Profile B (taro): the link is read from the invitation mail in taro's Maildir (the mail with
//!   `X-Exo-Setup-Receipt`, its text part decoded by mail-parser) and handed to B's running window with `gio open`;
//!   the confirmation screen announces the receipt to the admin (`invitation-receipt`); one click on Accept, and
//!   the sign-in through the test browser, the connection check (`verified`) and the receipt mail to the admin over
//!   the Dovecot follow without another click. A's window again: "Check for receipts" reads the admin's mailbox
//!   over IMAP, and the Rollout table shows taro `verified` and hanako `bounced`.
//!
//! Both click counts are printed (`[i_rollout…] clicks …`). Without Dovecot the test cannot run (there is no mail):
//! it fails, unless `EXO_SKIP_DOVECOT=1`, then it says so and passes.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use entra_emulator::dovecot::{Dovecot, RelayFault};
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_e2e::app::{
    check_scheme_handler, check_single_instance, checked_state, expect_dovecot_logins, expect_shown,
    expect_verified_badge, gio_open, profile_env, rig_options, shown_error_kinds, start_dovecot, text_of,
    unique_service, CLI_WAIT, FLOW_WAIT, SCHEME,
};
use exo_e2e::{app_binary, repo_root, DesktopHome, Result, Rig, RigOptions};

const TENANT: &str = "contoso.example";
const ORG_NAME: &str = "コントソ株式会社";
const ADMIN: &str = "admin@contoso.example";
const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";
const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const POP_SCOPE: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
/// The header every rollout mail carries (the core's `rollout::message::RECEIPT_HEADER`).
const RECEIPT_HEADER: &str = "X-Exo-Setup-Receipt";
/// The app's scheme registration after the window opened.
const REGISTER_WAIT: Duration = Duration::from_secs(30);
/// The connection check after a sign-in, on 2 busy cores.
const CHECK_WAIT: Duration = Duration::from_secs(60);
/// Sending two mails (SMTP XOAUTH2 login, pacing), reading the mailbox over IMAP, a delivery through LMTP.
const MAIL_WAIT: Duration = Duration::from_secs(60);
/// The second instance that forwarded a link exiting.
const SINGLE_WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------------ helpers

/// The app's CLI on A's data directory, as the administrator runs it: A's keychain service, the test browser
/// (for `login`), English texts; not the suite's policy or data directory.
async fn admin_cli(data_dir: &Path, service: &str, browser_log: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(app_binary());
    cmd.arg("--data-dir").arg(data_dir).args(args).stdin(Stdio::null()).kill_on_drop(true);
    for var in ["EXO_SETUP_POLICY_FILE", "EXO_SETUP_DATA_DIR", "TEST_BROWSER_LOGIN_HINT", "TEST_BROWSER_DELAY"] {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C")
        .env("BROWSER", repo_root().join("scripts/test-browser.sh"))
        .env("TEST_BROWSER_LOG", browser_log)
        .env("EXO_SETUP_KEYCHAIN_SERVICE", service);
    let shown = format!("exo-setup-gui --data-dir {} {}", data_dir.display(), args.join(" "));
    let out = match tokio::time::timeout(CLI_WAIT, cmd.output()).await {
        Ok(r) => r.map_err(|e| format!("{shown}: cannot run {}: {e}", app_binary().display()))?,
        Err(_) => return Err(format!("{shown}: still running after {CLI_WAIT:?}").into()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{shown}: {}\n--- stdout:\n{stdout}--- stderr:\n{}\n--- browser.log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(browser_log).unwrap_or_default()
        )
        .into());
    }
    eprintln!("[cli] {shown}: ok");
    Ok(stdout)
}

/// The files of a mailbox's Maildir (`new/` and `cur/`) under the Dovecot's directory.
fn maildir_files(dc: &Dovecot, address: &str) -> Vec<PathBuf> {
    let maildir = dc.dir().join("mail").join(address).join("Maildir");
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flat_map(|d| d.filter_map(|e| e.ok().map(|e| e.path())))
        .collect()
}

/// The invitation link in a rollout mail: the mail carries [`RECEIPT_HEADER`], and its decoded text part has a
/// line starting with `dev.exosetup.wizard://invite?`. `None` for any other mail (the welcome message).
fn invitation_link_in(raw: &[u8]) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    msg.header(RECEIPT_HEADER)?;
    let prefix = format!("{SCHEME}://invite?");
    (0..msg.text_body_count()).filter_map(|i| msg.body_text(i)).find_map(|text| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))
            .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
    })
}

/// Waits until the invitation mail is in `address`'s Maildir (delivered by Dovecot over LMTP) and returns its link.
async fn invitation_link_from_maildir(dc: &Dovecot, address: &str) -> Result<String> {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let files = maildir_files(dc, address);
        if let Some(link) = files.iter().filter_map(|f| std::fs::read(f).ok()).find_map(|raw| invitation_link_in(&raw))
        {
            return Ok(link);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no mail with {RECEIPT_HEADER} and a {SCHEME}://invite? line in {address}'s Maildir after \
                 {MAIL_WAIT:?}: {files:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the relay took a mail from `from` to `to` (the receipt) and returns it.
async fn relayed_mail(dc: &Dovecot, from: &str, to: &str) -> Result<Vec<u8>> {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let found = dc
            .relayed()
            .into_iter()
            .find(|r| r.from.eq_ignore_ascii_case(from) && r.to.iter().any(|t| t.eq_ignore_ascii_case(to)));
        if let Some(r) = found {
            return Ok(r.data);
        }
        if Instant::now() > deadline {
            let seen: Vec<(String, Vec<String>)> = dc.relayed().into_iter().map(|r| (r.from, r.to)).collect();
            return Err(format!("no mail from {from} to {to} relayed within {MAIL_WAIT:?}; relayed: {seen:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A click the test counts (what the person in front of the window does).
async fn counted_click(rig: &mut Rig, css: &str, clicks: &mut u32) -> Result {
    rig.click(css).await?;
    *clicks += 1;
    Ok(())
}

/// The Rollout table's row of `address` in `state`.
fn rollout_row(address: &str, state: &str) -> String {
    format!("[data-testid=rollout-row][data-address=\"{address}\"][data-state={state}]")
}

/// The Rollout table's `(address, state)` pairs now (for failure messages).
async fn rollout_states(rig: &Rig) -> String {
    let js = "return [...document.querySelectorAll('[data-testid=rollout-row]')]\
              .map(r => r.getAttribute('data-address') + '=' + r.getAttribute('data-state')).join(', ');";
    match rig.client.execute(js, vec![]).await {
        Ok(v) => v.as_str().unwrap_or_default().to_string(),
        Err(e) => format!("({e})"),
    }
}

/// Waits for every `(address, state)` in the Rollout table; the failure lists what it shows.
async fn expect_rollout_states(rig: &mut Rig, want: &[(&str, &str)], timeout: Duration) -> Result {
    let deadline = Instant::now() + timeout;
    loop {
        let mut missing = Vec::new();
        for (address, state) in want {
            if !rig.exists(&rollout_row(address, state)).await {
                missing.push(format!("{address}={state}"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let shown = rollout_states(rig).await;
            let error = text_of(rig, "[data-testid=rollout] [role=alert]").await;
            let what = format!("the Rollout table does not show {missing:?} after {timeout:?}: {shown} {error}");
            return Err(rig.failure(&what).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A's window from the start screen to step 2's Rollout section (administrator mode, then step 2 in the stepper).
async fn open_rollout(rig: &mut Rig) -> Result {
    rig.wait("[data-testid=start-admin]").await?;
    rig.click("[data-testid=start-admin]").await?;
    rig.wait("[data-testid=nav-step-2]").await?;
    rig.click("[data-testid=nav-step-2]").await?;
    rig.wait_for("[data-testid=rollout]", FLOW_WAIT).await?;
    rig.wait_for("[data-testid=rollout-table]", FLOW_WAIT).await?;
    rig.scroll_to("[data-testid=rollout]").await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------ i

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i_the_rollout_loop_in_the_real_windows() -> Result {
    const TEST_A: &str = "i_rollout_admin";
    const TEST_B: &str = "i_rollout_user";
    let t0 = Instant::now();
    let emu = Emulator::start(Config::default_demo()).await?;
    emu.set_auto_approve(true);
    // Step 3 is not under test here: the tenant-wide consent is recorded in the emulator.
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE]);
    let Some(dc) = start_dovecot(&emu, "the rollout's mails")? else {
        eprintln!("[{TEST_A}] skipped: no Dovecot (EXO_SKIP_DOVECOT=1), so no mail to roll out");
        return Ok(());
    };
    eprintln!("[{TEST_A}] Dovecot: {:?}", dc.endpoint_specs());

    // ---- profile A: steps 1 and 2, the Dovecot's endpoints and the admin's sign-in with the CLI
    let a_dir = tempfile::Builder::new().prefix("exo-e2e-rollout-admin-").tempdir()?;
    let a_service = unique_service(TEST_A);
    let a_home = DesktopHome::new(TEST_A)?;
    let a_shots = exo_e2e::screenshot_dir(TEST_A);
    let a_browser_log = a_shots.join("cli-browser.log");
    let a = |args: Vec<String>| {
        let (dir, service, log) = (a_dir.path().to_path_buf(), a_service.clone(), a_browser_log.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin_cli(&dir, &service, &log, &args).await
        }
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    a(strings(&[
        "server",
        "enable",
        "--tenant",
        TENANT,
        "--client-id",
        DEMO_CLIENT_ID,
        "--authority",
        &emu.base_url(),
        "--redirect-mode",
        "deep-link",
        "--organization-name",
        ORG_NAME,
    ]))
    .await?;
    for (login, address) in [("admin", ADMIN), ("taro", TARO), ("hanako", HANAKO)] {
        a(strings(&["accounts", "add", "--login", login, "--address", address, "--protocol", "imap"])).await?;
    }
    let mut endpoints = strings(&["server", "endpoints"]);
    endpoints.extend(dc.endpoint_args());
    a(endpoints).await?;
    a(strings(&["login", ADMIN, "--timeout", "60"])).await?;
    eprintln!("[{TEST_A}] admin profile ready (CLI) after {:?}", t0.elapsed());
    // Hanako's mail is taken at RCPT, then bounces: a DSN lands in the admin's INBOX.
    dc.relay_faults().set(HANAKO, RelayFault::Bounce);

    // ---- A's window: step 2, the Rollout section sends the invitations
    let ca: OsString = dc.ca_file().into_os_string();
    let a_env = profile_env(TEST_A, &a_home, &a_service, &[("EXO_SETUP_CA_FILE", ca.clone())]);
    // keep_shots: the folder was emptied above and holds the CLI's browser log.
    let opts = RigOptions { keep_shots: true, ..rig_options(&a_env, Some(a_dir)) };
    let mut rig = Rig::start_with(TEST_A, opts).await?;
    open_rollout(&mut rig).await?;
    expect_rollout_states(&mut rig, &[(ADMIN, "registered"), (TARO, "registered"), (HANAKO, "registered")], FLOW_WAIT)
        .await?;
    rig.shot("rollout-before-send").await?;
    let mut admin_clicks = 0u32;
    // The sender: the only signed-in mailbox is pre-chosen; saving it is one click (unless it is saved already).
    rig.wait_for(&format!("[data-testid=rollout-sender-address] option[value=\"{ADMIN}\"]"), FLOW_WAIT).await?;
    if rig.attr("[data-testid=rollout-sender]", "data-sender").await?.as_deref() != Some(ADMIN) {
        let chosen = rig
            .client
            .execute(
                "const s = document.querySelector('[data-testid=rollout-sender-address]'); return s ? s.value : '';",
                vec![],
            )
            .await?;
        if chosen.as_str() != Some(ADMIN) {
            rig.wait("[data-testid=rollout-sender-address]").await?.select_by_value(ADMIN).await?;
            admin_clicks += 1;
        }
        counted_click(&mut rig, "[data-testid=rollout-sender-save]", &mut admin_clicks).await?;
        rig.wait_for(&format!("[data-testid=rollout-sender][data-sender=\"{ADMIN}\"]"), FLOW_WAIT).await?;
    }
    // "Send invitations to N not invited": everyone registered but the sender, who is a registered account too.
    let send_label = text_of(&rig, "[data-testid=rollout-send]").await;
    eprintln!("[{TEST_A}] send button: {send_label:?}");
    counted_click(&mut rig, "[data-testid=rollout-send]", &mut admin_clicks).await?;
    // Taro and hanako invited (the relay took both; hanako's bounce is not known until the receipts are read).
    expect_rollout_states(&mut rig, &[(TARO, "invited"), (HANAKO, "invited")], MAIL_WAIT).await?;
    rig.scroll_to("[data-testid=rollout]").await?;
    rig.shot("rollout-all-invited").await?;
    eprintln!("[{TEST_A}] clicks of the administrator from step 2 open to everyone invited: {admin_clicks}");
    let a_dir = rig.finish().await?;
    let bounced: Vec<String> = dc.relayed().into_iter().flat_map(|r| r.bounced).collect();
    assert!(bounced.iter().any(|b| b.eq_ignore_ascii_case(HANAKO)), "hanako's invitation must bounce: {bounced:?}");

    // ---- the link from the mail in taro's mailbox
    let link = invitation_link_from_maildir(&dc, TARO).await?;
    eprintln!("[{TEST_B}] link from taro's Maildir ({} chars)", link.len());
    let inv = exo_setup_core::invite::parse(&link).map_err(|e| format!("the mailed link does not parse: {e:?}"))?;
    assert_eq!(inv.address, TARO, "the mailed invitation's mailbox");
    let receipts = inv.receipts.as_ref().ok_or("the mailed invitation asks for no receipt")?;
    assert!(receipts.to.eq_ignore_ascii_case(ADMIN), "the receipt goes to the sender: {}", receipts.to);

    // ---- profile B: taro's own data directory, keychain and desktop; IT allows the Dovecot's host
    let b_home = DesktopHome::new(TEST_B)?;
    let b_service = unique_service(TEST_B);
    let policy_dir = tempfile::Builder::new().prefix("exo-e2e-policy-").tempdir()?;
    let policy_file = policy_dir.path().join("policy.json");
    let policy = serde_json::json!({ "version": 1, "allowedMailHosts": [dc.host()] });
    std::fs::write(&policy_file, serde_json::to_vec_pretty(&policy)?)?;
    let b_env = profile_env(
        TEST_B,
        &b_home,
        &b_service,
        &[("EXO_SETUP_CA_FILE", ca.clone()), ("EXO_SETUP_POLICY_FILE", policy_file.into_os_string())],
    );
    let mut rig = Rig::start_with(TEST_B, rig_options(&b_env, None)).await?;
    rig.wait("[data-testid=start-admin]").await?;
    check_scheme_handler(&mut rig, &b_home, REGISTER_WAIT).await?;
    gio_open(&mut rig, &b_env, &link).await?;
    if rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await.is_err() {
        let shown = shown_error_kinds(&rig).await;
        return Err(rig.failure(&format!("no invitation-screen after `gio open <mailed link>` ({shown})")).await);
    }
    check_single_instance(&mut rig, "`gio open <mailed link>`", SINGLE_WAIT).await?;
    let mut problems = Vec::new();
    expect_shown(&mut rig, "invitation-mailbox", TARO, &mut problems).await?;
    expect_shown(&mut rig, "invitation-receipt", ADMIN, &mut problems).await?;
    if !problems.is_empty() {
        return Err(rig.failure(&format!("confirmation screen:\n  - {}", problems.join("\n  - "))).await);
    }
    rig.scroll_to("[data-testid=invitation-receipt]").await?;
    rig.shot("invitation-receipt").await?;

    // ---- one click: Accept; the sign-in starts by itself and the test browser completes it
    let mut user_clicks = 0u32;
    counted_click(&mut rig, "[data-testid=invitation-accept]", &mut user_clicks).await?;
    let taro_panel = format!("[data-testid=step4-account][data-address=\"{TARO}\"]");
    rig.wait_for(&taro_panel, FLOW_WAIT).await?;
    rig.wait_for("[data-testid=step4-signed-in-as]", FLOW_WAIT).await?;
    let signed_in_as = text_of(&rig, "[data-testid=step4-signed-in-as]").await;
    if signed_in_as.trim() != TARO {
        return Err(rig.failure(&format!("step4-signed-in-as shows {signed_in_as:?}, want {TARO}")).await);
    }
    let (status, detail, protocols) = checked_state(&mut rig, TARO, CHECK_WAIT).await?;
    if status != "verified" {
        let what = format!("taro's check ended in {status} ({detail:?}, {protocols:?})\n{}", dc.log());
        return Err(rig.failure(&what).await);
    }
    expect_verified_badge(&mut rig, &taro_panel, TARO, FLOW_WAIT).await?;
    expect_dovecot_logins(&mut rig, &dc, TARO).await?;
    rig.scroll_to(&taro_panel).await?;
    rig.shot("step4-verified").await?;
    eprintln!("[{TEST_B}] clicks of the user from the mail's link to verified: {user_clicks}");
    // The receipt went to the admin through the Dovecot, from taro's mailbox.
    let receipt = relayed_mail(&dc, TARO, ADMIN).await?;
    let receipt = mail_parser::MessageParser::default().parse(&receipt).ok_or("the receipt mail does not parse")?;
    if receipt.header(RECEIPT_HEADER).is_none() {
        return Err(rig.failure(&format!("the receipt mail to {ADMIN} has no {RECEIPT_HEADER}")).await);
    }
    let _b_dir = rig.finish().await?;
    eprintln!("[{TEST_B}] taro verified and the receipt sent after {:?}", t0.elapsed());

    // ---- A's window again: "Check for receipts" reads the admin's mailbox
    let opts = RigOptions { keep_shots: true, ..rig_options(&a_env, Some(a_dir)) };
    let mut rig = Rig::start_with(TEST_A, opts).await?;
    open_rollout(&mut rig).await?;
    rig.click("[data-testid=rollout-read]").await?;
    if rig.wait_for("[data-testid=rollout-read-summary]", MAIL_WAIT).await.is_err() {
        let shown = rollout_states(&rig).await;
        let error = text_of(&rig, "[data-testid=rollout] [role=alert]").await;
        return Err(rig.failure(&format!("no rollout-read-summary after 'Check for receipts': {shown} {error}")).await);
    }
    eprintln!("[{TEST_A}] read summary: {:?}", text_of(&rig, "[data-testid=rollout-read-summary]").await);
    expect_rollout_states(&mut rig, &[(TARO, "verified"), (HANAKO, "bounced")], MAIL_WAIT).await?;
    rig.scroll_to("[data-testid=rollout]").await?;
    rig.shot("rollout-status").await?;
    if rig.exists("[data-testid=rollout-table]").await {
        rig.scroll_to("[data-testid=rollout-table]").await?;
        rig.shot("rollout-table").await?;
    }
    rig.finish().await?;
    eprintln!(
        "[{TEST_A}] clicks: administrator {admin_clicks} (step 2 open → all invited), user {user_clicks} (mail link → \
         verified); passed in {:?}",
        t0.elapsed()
    );
    assert_eq!(user_clicks, 1, "the user's clicks from the mail's link to verified");
    Ok(())
}
