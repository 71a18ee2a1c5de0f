//! Invitations in the real window: from the admin's profile to a user's, and what a user's app refuses.
//!
//! - `e`: round trip admin → user with two app profiles. Profile A (the admin's data directory) gets step 1
//!   against the in-process entra emulator and taro's account with the app's own CLI
//!   (`exo-setup-gui --data-dir A server enable … / accounts add …`), and the invitation link from
//!   `exo-setup-gui --data-dir A invite taro@…`. Profile B is another data directory, another keychain service
//!   and another private HOME; the test starts the app on B, waits until it registered its scheme there, and hands
//!   the link to the desktop with `gio open` (as the test browser delivers OAuth redirects in `flows.rs`): a second
//!   instance forwards it through single-instance, and the running window shows the confirmation screen (org name,
//!   tenant, client ID, authority, mailbox; the "not a known Microsoft cloud" warning, since the emulator's
//!   authority is `http://127.0.0.1:PORT`). Accepting goes to step 4 with taro chosen; taro signs in through
//!   `scripts/test-browser.sh`; the refresh token must be in B's keychain service and the organization and the
//!   account in B's SQLite.
//!   The mailbox's servers travel in the invitation, as they would for an organization behind a gateway or in a
//!   national cloud: a private Dovecot ([`entra_emulator::dovecot`], as in `flows.rs`) is started first and A's
//!   Exchange Online endpoints are pointed at it with `exo-setup-gui --data-dir A server endpoints --imap
//!   127.0.0.1:P:tls --pop3 … --smtp …:starttls` before the link is made. The link must carry those endpoints, the
//!   confirmation screen must show them (`invitation-endpoints`), accepting must write them to B's `mail_servers`
//!   row 1, and B's app gets `EXO_SETUP_CA_FILE` (the Dovecot's test CA), so the connection check after taro's
//!   sign-in logs in over XOAUTH2 and turns taro `verified` (`verified_protocols` with `imap` and `smtp`) in B's
//!   SQLite and in step 4. Without Dovecot the test fails, unless `EXO_SKIP_DOVECOT=1`: then the endpoints stay
//!   Exchange Online's, the invitation carries none and the check after the sign-in is not awaited.
//! - `f`: refusals in the window on a configured profile: a tampered link pasted into the box is
//!   `invite_tampered` and leaves the SQLite file's bytes as they were; an invitation of another organization shows
//!   the "replaces" block and keeps Accept disabled until the replacement is confirmed (then discarded).
//! - `g`: a managed policy (`EXO_SETUP_POLICY_FILE`, honoured by debug builds) that locks tenant and client ID,
//!   pre-fills the authority and allows only same-tenant invitations: step 1 shows the locked inputs read-only with
//!   their badges and the authority editable and pre-filled; an invitation of another tenant is
//!   `invite_other_tenant`, one of the policy's tenant opens.
//!
//! - `h`: a hostile invitation — the emulator's genuine tenant and app, but a fake mail server of the sender's
//!   (a TCP listener on 127.0.0.1 recording what it receives): pasted, it is `invite_mail_host_not_allowed` naming
//!   the host, nothing is stored, and the fake server receives no connection at all (so no token). In `e`, B's
//!   managed policy lists the Dovecot's host in `allowedMailHosts` (what IT does for its own servers).
//!
//! Selectors are the UI contract of the invitation screens (`data-testid=…`); screenshots go to `target/e2e-screenshots/<test>/`,
//! a failed wait saves `NN-FAILED.png` and puts the page text in the error.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use entra_emulator::dovecot::Dovecot;
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_MULTI_CLIENT_ID, DEMO_OPEN_TENANT_ID, DEMO_TENANT_ID};
use exo_e2e::app::{
    check_scheme_handler, check_single_instance, checked_state, cli, expect_dovecot_logins, expect_shown,
    expect_verified_badge, gio_open, open_db, org_row, profile_env, rig_options, shown_error_kinds, start_dovecot,
    text_of, tokens_of, unique_service, FLOW_WAIT, SCHEME,
};
use exo_e2e::{open_step1, DesktopHome, Result, Rig};
use exo_setup_core::invite::{self, Invitation};
use exo_setup_core::model::{Endpoint, ReceiveProtocol, RedirectMode, Security, ServerEndpoints};
use exo_setup_core::ErrorKind;

const TENANT: &str = "contoso.example";
const ORG_NAME: &str = "コントソ株式会社";
const TARO: &str = "taro@contoso.example";
const TARO_NAME: &str = "山田 太郎";
const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const POP_SCOPE: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
/// The app's scheme registration (xdg-mime, update-desktop-database) after the window opened.
const REGISTER_WAIT: Duration = Duration::from_secs(30);
/// The connection check after a sign-in (IMAP and SMTP logins; the app's own limits: 10 s connect, 20 s auth), on 2
/// busy cores.
const CHECK_WAIT: Duration = Duration::from_secs(60);
/// The second instance that forwarded a link exiting.
const SINGLE_WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------------ helpers

/// Step 1 on a data directory with the CLI: the emulator's tenant and app, deep-link redirect, the organization's
/// name. The CLI checks the tenant's discovery document at the emulator, as step 1 does.
async fn configure_org(data_dir: &Path, authority: &str, organization_name: &str) -> Result {
    cli(
        data_dir,
        &[
            "server",
            "enable",
            "--tenant",
            TENANT,
            "--client-id",
            DEMO_CLIENT_ID,
            "--authority",
            authority,
            "--redirect-mode",
            "deep-link",
            "--organization-name",
            organization_name,
        ],
    )
    .await
    .map_err(|e| format!("step 1 with the CLI (is `server enable --organization-name` there?): {e}"))?;
    Ok(())
}

/// The admin's profile: step 1 and taro's account with the CLI, the Exchange Online server's endpoints pointed at
/// `dc` when there is one, then taro's invitation link from `invite`.
async fn admin_profile(emu: &Emulator, dc: Option<&Dovecot>) -> Result<(tempfile::TempDir, String)> {
    let a = tempfile::Builder::new().prefix("exo-e2e-invite-admin-").tempdir()?;
    configure_org(a.path(), &emu.base_url(), ORG_NAME).await?;
    cli(
        a.path(),
        &["accounts", "add", "--login", "taro", "--address", TARO, "--name", TARO_NAME, "--protocol", "imap"],
    )
    .await?;
    if let Some(dc) = dc {
        let mut args = vec!["server", "endpoints"];
        let endpoint_args = dc.endpoint_args();
        args.extend(endpoint_args.iter().map(String::as_str));
        let out =
            cli(a.path(), &args).await.map_err(|e| format!("pointing A's Exchange Online at the Dovecot: {e}"))?;
        eprintln!("[cli] server endpoints: {}", out.trim());
        let stored = server_endpoints(a.path())?;
        assert_eq!(stored, dovecot_endpoints(dc), "A's Exchange Online endpoints (mail_servers id 1) after the CLI");
    }
    let out = cli(a.path(), &["invite", TARO]).await.map_err(|e| format!("the CLI's `invite` command: {e}"))?;
    let prefix = format!("{SCHEME}://invite?");
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .ok_or_else(|| format!("`invite {TARO}` printed no {prefix}… link:\n{out}"))?
        .to_string();
    // The link the admin sends must read back as taro's invitation to this organization.
    let inv = invite::parse(&link).map_err(|e| format!("the CLI's link does not parse: {e:?}\n{link}"))?;
    assert_eq!(inv.organization_name, ORG_NAME, "invitation organizationName");
    assert_eq!(inv.tenant, TENANT, "invitation tenant");
    assert_eq!(inv.tenant_id, DEMO_TENANT_ID, "invitation tenantId");
    assert_eq!(inv.client_id, DEMO_CLIENT_ID, "invitation clientId");
    assert_eq!(inv.authority, emu.base_url(), "invitation authority");
    assert_eq!(inv.address, TARO, "invitation address");
    assert_eq!(inv.redirect_mode, RedirectMode::DeepLink, "invitation redirectMode");
    match dc {
        // The servers the admin set travel with the invitation.
        Some(dc) => assert_eq!(
            inv.endpoints.as_ref(),
            Some(&dovecot_endpoints(dc)),
            "the invitation must carry A's endpoints (the Dovecot's)"
        ),
        None => assert!(inv.endpoints.is_none(), "Exchange Online's default endpoints must not be in the invitation"),
    }
    eprintln!("[cli] invitation link ({} chars): {link}", link.len());
    Ok((a, link))
}

/// An invitation of the emulator's second tenant (Fabrikam, multi-tenant app), made with the core's own writer.
fn fabrikam_invitation(authority: &str) -> String {
    invite::link(&Invitation {
        organization_name: "Fabrikam".into(),
        authority: authority.into(),
        tenant: "fabrikam.example".into(),
        tenant_id: DEMO_OPEN_TENANT_ID.into(),
        client_id: DEMO_MULTI_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: "yuki@fabrikam.example".into(),
        login_name: "yuki".into(),
        display_name: "田中 由紀".into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: None,
        receipts: None,
    })
}

/// An invitation of the emulator's main tenant for taro, made with the core's own writer.
fn contoso_invitation(authority: &str) -> String {
    invite::link(&Invitation {
        organization_name: ORG_NAME.into(),
        authority: authority.into(),
        tenant: TENANT.into(),
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "taro".into(),
        display_name: TARO_NAME.into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: None,
        receipts: None,
    })
}

/// A hostile invitation: the emulator's genuine tenant and app, but mail servers of the sender's own (`host:port`),
/// which would receive the XOAUTH2 token after a real sign-in.
fn hostile_invitation(authority: &str, host: &str, port: u16) -> String {
    let ep = |security| Endpoint { host: host.into(), port, security };
    invite::link(&Invitation {
        organization_name: ORG_NAME.into(),
        authority: authority.into(),
        tenant: TENANT.into(),
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
        redirect_mode: RedirectMode::DeepLink,
        address: TARO.into(),
        login_name: "taro".into(),
        display_name: TARO_NAME.into(),
        receive_protocol: ReceiveProtocol::Imap,
        endpoints: Some(ServerEndpoints {
            imap: ep(Security::Plain),
            pop3: ep(Security::Plain),
            smtp: ep(Security::Plain),
        }),
        receipts: None,
    })
}

/// `link` with one character inside `p=` changed so that the content still reads as an invitation but no longer
/// matches the checksum (a changed letter of a name or an ID): what the core's parser calls `invite_tampered`.
fn tamper(link: &str) -> Result<String> {
    let start = link.find("&p=").ok_or("no p= in the link")? + 3;
    let end = start + link[start..].find('&').ok_or("no parameter after p=")?;
    let p = &link.as_bytes()[start..end];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // From the middle outwards: the middle of the JSON is field values, not its braces and keys.
    let mid = p.len() / 2;
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by_key(|i| i.abs_diff(mid));
    for i in order {
        for &c in alphabet {
            if c == p[i] {
                continue;
            }
            let mut q = p.to_vec();
            q[i] = c;
            let candidate = format!("{}{}{}", &link[..start], String::from_utf8(q)?, &link[end..]);
            if matches!(invite::parse(&candidate), Err(e) if e.kind == ErrorKind::InviteTampered) {
                return Ok(candidate);
            }
        }
    }
    Err(format!("no one-character change of p= reads as a tampered invitation: {link}").into())
}

/// The invitation error of `kind`: `data-kind` on `invitation-error` itself or on the error block inside it.
fn invitation_error(kind: &str) -> String {
    format!("[data-testid=invitation-error][data-kind={kind}], [data-testid=invitation-error] [data-kind={kind}]")
}

/// Waits for the invitation error of `kind`; the failure names the kinds that are shown instead.
async fn expect_invitation_error(rig: &mut Rig, kind: &str) -> Result {
    let css = invitation_error(kind);
    let deadline = Instant::now() + FLOW_WAIT;
    while Instant::now() < deadline {
        if rig.exists(&css).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let shown = shown_error_kinds(rig).await;
    Err(rig.failure(&format!("want invitation-error with data-kind={kind}; {shown}")).await)
}

/// Opens the paste box: from the start screen (`start-invitation`), going back to it with `change-role` if needed.
async fn open_paste_box(rig: &mut Rig) -> Result {
    if rig.exists("[data-testid=invite-open-text]").await {
        return Ok(());
    }
    if !rig.exists("[data-testid=start-invitation]").await && rig.exists("[data-testid=change-role]").await {
        rig.click("[data-testid=change-role]").await?;
    }
    rig.click("[data-testid=start-invitation]").await?;
    rig.wait("[data-testid=invite-open-text]").await?;
    Ok(())
}

/// Pastes `text` into the invitation box and submits it.
async fn paste_invitation(rig: &mut Rig, text: &str) -> Result {
    open_paste_box(rig).await?;
    rig.fill("[data-testid=invite-open-text]", text).await?;
    rig.click("[data-testid=invite-open-submit]").await?;
    Ok(())
}

/// `(readOnly, disabled, value)` of an input, `None` when it is not there.
async fn input_state(rig: &Rig, css: &str) -> Result<Option<(bool, bool, String)>> {
    let v = rig
        .client
        .execute(
            "const e = document.querySelector(arguments[0]); \
             return e ? [!!e.readOnly, !!e.disabled, String(e.value ?? '')] : null;",
            vec![serde_json::Value::from(css)],
        )
        .await?;
    Ok(v.as_array().map(|a| {
        (a[0].as_bool().unwrap_or(false), a[1].as_bool().unwrap_or(false), a[2].as_str().unwrap_or("").to_string())
    }))
}

async fn is_disabled(rig: &mut Rig, css: &str) -> Result<bool> {
    let e = rig.wait(css).await?;
    let disabled = e.prop("disabled").await?.is_some_and(|v| v == "true");
    let aria = e.attr("aria-disabled").await?.is_some_and(|v| v == "true");
    Ok(disabled || aria)
}

/// The SQLite file and its WAL, byte for byte (read without opening the database).
fn sqlite_bytes(data_dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let db = data_dir.join("exo-setup.sqlite3");
    let mut wal: OsString = db.clone().into_os_string();
    wal.push("-wal");
    (std::fs::read(&db).unwrap_or_default(), std::fs::read(PathBuf::from(wal)).unwrap_or_default())
}

/// Waits until the data directory's SQLite bytes stop changing (the app's start-up writes are over).
async fn settled_sqlite_bytes(data_dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut last = sqlite_bytes(data_dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(750)).await;
        let now = sqlite_bytes(data_dir);
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

// ------------------------------------------------------------------------------------------------ mail servers

/// The Dovecot's endpoints as the app stores and invites them: IMAP and POP3 over TLS, submission with STARTTLS.
fn dovecot_endpoints(dc: &Dovecot) -> ServerEndpoints {
    let (host, p) = (dc.host(), dc.ports());
    let ep = |port, security| Endpoint { host: host.into(), port, security };
    ServerEndpoints {
        imap: ep(p.imaps, Security::Tls),
        pop3: ep(p.pop3s, Security::Tls),
        smtp: ep(p.submission, Security::Starttls),
    }
}

/// The built-in Exchange Online server's endpoints (`mail_servers` row id 1) of a profile.
fn server_endpoints(data_dir: &Path) -> Result<ServerEndpoints> {
    let db = open_db(data_dir)?;
    let row: [(String, u16, String); 3] = db.query_row(
        "SELECT imap_host, imap_port, imap_security, pop3_host, pop3_port, pop3_security, \
                smtp_host, smtp_port, smtp_security FROM mail_servers WHERE id = 1",
        [],
        |r| {
            Ok([
                (r.get(0)?, r.get(1)?, r.get(2)?),
                (r.get(3)?, r.get(4)?, r.get(5)?),
                (r.get(6)?, r.get(7)?, r.get(8)?),
            ])
        },
    )?;
    let [imap, pop3, smtp] = row.map(|(host, port, security)| {
        serde_json::from_value::<Security>(serde_json::Value::String(security.clone()))
            .map(|security| Endpoint { host, port, security })
            .map_err(|e| format!("mail_servers id 1 has the security {security:?}: {e}"))
    });
    Ok(ServerEndpoints { imap: imap?, pop3: pop3?, smtp: smtp? })
}

/// What the confirmation screen's `invitation-endpoints` list must show for each server, in its order: the
/// protocol in the label (`受信 (IMAP)` / `Incoming (IMAP)`, …) and `HOST:PORT · SECURITY` (language-independent).
fn endpoint_rows(ep: &ServerEndpoints) -> Vec<(&'static str, String, &'static str)> {
    let security = |s: Security| match s {
        Security::Tls => "TLS",
        Security::Starttls => "STARTTLS",
        // Localized ("no encryption" / "暗号化なし"): not compared.
        Security::Plain => "",
    };
    [("IMAP", &ep.imap), ("POP3", &ep.pop3), ("SMTP", &ep.smtp)]
        .into_iter()
        .map(|(protocol, e)| (protocol, format!("{}:{}", e.host, e.port), security(e.security)))
        .collect()
}

/// Checks the confirmation screen's `invitation-endpoints` list (visible text of each `dt`/`dd` pair) against `ep`.
async fn expect_endpoints_shown(rig: &mut Rig, ep: &ServerEndpoints, problems: &mut Vec<String>) -> Result {
    let css = "[data-testid=invitation-endpoints]";
    if !rig.exists(css).await {
        problems.push(format!("{css} is missing: the invitation's mail servers are not shown"));
        return Ok(());
    }
    let rows = rig
        .client
        .execute(
            "const l = document.querySelector(arguments[0]); \
             return [...l.querySelectorAll('dt')].map(dt => [dt.innerText, dt.nextElementSibling ? \
                 dt.nextElementSibling.innerText : '']);",
            vec![serde_json::Value::from(css)],
        )
        .await?;
    let shown: Vec<(String, String)> = rows
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let cell = |i: usize| r.get(i).and_then(|v| v.as_str()).unwrap_or_default().trim().to_string();
                    (cell(0), cell(1))
                })
                .collect()
        })
        .unwrap_or_default();
    let want = endpoint_rows(ep);
    let ok = shown.len() == want.len()
        && shown.iter().zip(&want).all(|((label, value), (protocol, host_port, security))| {
            // The value is "HOST:PORT · SECURITY"; "TLS" must not be a "STARTTLS".
            let words: Vec<&str> =
                value.split(|c: char| c.is_whitespace() || c == '·').filter(|w| !w.is_empty()).collect();
            label.contains(protocol)
                && words.first() == Some(&host_port.as_str())
                && (security.is_empty() || words.contains(security))
        });
    if !ok {
        let want: Vec<String> = want.iter().map(|(p, hp, s)| format!("{p}: {hp} · {s}")).collect();
        problems.push(format!("{css} shows {shown:?}, want (label with, value) {want:?}"));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------ e

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_invitation_from_the_admin_profile_to_a_user_profile_through_gio_open() -> Result {
    const TEST: &str = "e_invite_round_trip";
    let t0 = Instant::now();
    let emu = Emulator::start(Config::default_demo()).await?;
    emu.set_auto_approve(true);
    // Step 3 is the admin's and not under test here: the tenant-wide consent is recorded in the emulator.
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE]);

    // ---- the mailbox's servers: a private Dovecot, as in flows.rs (its test CA is given to B's app)
    let dc = start_dovecot(&emu, "the connection check after the invited user's sign-in")?;
    let dc_endpoints = dc.as_ref().map(dovecot_endpoints);
    if let Some(dc) = &dc {
        eprintln!("[{TEST}] Dovecot: {:?}", dc.endpoint_specs());
    }

    // ---- profile A: the admin's data directory, steps 1 and 2 with the CLI, the endpoints, taro's invitation link
    let (admin, link) = admin_profile(&emu, dc.as_ref()).await?;
    eprintln!("[{TEST}] admin profile ready after {:?}", t0.elapsed());

    // ---- profile B: another data directory, keychain service and desktop home; it trusts the Dovecot's test CA
    let home = DesktopHome::new(TEST)?;
    let service = unique_service(TEST);
    let mut extra: Vec<(&str, OsString)> =
        dc.iter().map(|d| ("EXO_SETUP_CA_FILE", d.ca_file().into_os_string())).collect();
    // The Dovecot is no Microsoft cloud's mail server: B's IT allows its host, as it would its own gateway.
    let policy_dir = tempfile::Builder::new().prefix("exo-e2e-policy-").tempdir()?;
    if let Some(dc) = &dc {
        let policy_file = policy_dir.path().join("policy.json");
        let policy = serde_json::json!({ "version": 1, "allowedMailHosts": [dc.host()] });
        std::fs::write(&policy_file, serde_json::to_vec_pretty(&policy)?)?;
        extra.push(("EXO_SETUP_POLICY_FILE", policy_file.into_os_string()));
    }
    let env = profile_env(TEST, &home, &service, &extra);
    let mut rig = Rig::start_with(TEST, rig_options(&env, None)).await?;
    if rig.data_dir.path() == admin.path() {
        return Err("profile B must not use the admin's data directory".into());
    }
    rig.wait("[data-testid=start-admin]").await?;
    check_scheme_handler(&mut rig, &home, REGISTER_WAIT).await?;
    rig.shot("user-start").await?;

    // ---- the invitation arrives as a link handed to the desktop
    gio_open(&mut rig, &env, &link).await?;
    if rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await.is_err() {
        let shown = shown_error_kinds(&rig).await;
        return Err(rig.failure(&format!("no invitation-screen after `gio open <invitation>` ({shown})")).await);
    }
    check_single_instance(&mut rig, "`gio open <invitation>`", SINGLE_WAIT).await?;
    let mut problems = Vec::new();
    expect_shown(&mut rig, "invitation-org", ORG_NAME, &mut problems).await?;
    expect_shown(&mut rig, "invitation-tenant", TENANT, &mut problems).await?;
    expect_shown(&mut rig, "invitation-client-id", DEMO_CLIENT_ID, &mut problems).await?;
    expect_shown(&mut rig, "invitation-authority", &emu.base_url(), &mut problems).await?;
    expect_shown(&mut rig, "invitation-mailbox", TARO, &mut problems).await?;
    // The mail servers the invitation carries (none: Exchange Online's own, not listed).
    match &dc_endpoints {
        Some(ep) => expect_endpoints_shown(&mut rig, ep, &mut problems).await?,
        None if rig.exists("[data-testid=invitation-endpoints]").await => {
            problems.push("invitation-endpoints is shown for an invitation without endpoints".into())
        }
        None => {}
    }
    // http://127.0.0.1:PORT is not a Microsoft cloud: the user must be warned.
    if !rig.exists("[data-testid=invitation-cloud-warning]").await {
        problems.push(format!("no invitation-cloud-warning for the authority {}", emu.base_url()));
    }
    // A fresh profile has no organization to replace, and there is no policy to override anything.
    for absent in ["invitation-replace", "invitation-overrides", "invitation-error"] {
        if rig.exists(&format!("[data-testid={absent}]")).await {
            problems.push(format!("{absent} is shown on a fresh profile without a policy"));
        }
    }
    rig.scroll_to("[data-testid=invitation-screen]").await?;
    rig.shot("invitation-screen").await?;
    if dc_endpoints.is_some() && rig.exists("[data-testid=invitation-endpoints]").await {
        rig.scroll_to("[data-testid=invitation-endpoints]").await?;
        rig.shot("invitation-endpoints").await?;
    }
    if !problems.is_empty() {
        return Err(rig.failure(&format!("confirmation screen:\n  - {}", problems.join("\n  - "))).await);
    }
    // Nothing is stored before the user accepts.
    if org_row(rig.data_dir.path())?.is_some() {
        return Err(rig.failure("the organization was stored before the invitation was accepted").await);
    }
    if is_disabled(&mut rig, "[data-testid=invitation-accept]").await? {
        return Err(rig.failure("invitation-accept is disabled on a fresh profile").await);
    }

    // ---- accept: step 4 with taro chosen
    rig.click("[data-testid=invitation-accept]").await?;
    let taro_panel = format!("[data-testid=step4-account][data-address=\"{TARO}\"]");
    rig.wait_for(&taro_panel, FLOW_WAIT).await?;
    rig.wait("[data-testid=step4-signin]").await?;
    rig.shot("step4-after-accept").await?;
    // Accepting wrote the invitation's servers (or kept Exchange Online's) into B's built-in server.
    let b_servers = server_endpoints(rig.data_dir.path())?;
    let want_servers = dc_endpoints.clone().unwrap_or_else(exo_setup_core::org::exchange_online_endpoints);
    if b_servers != want_servers {
        let what = format!(
            "B's mail_servers id 1 after accepting: {b_servers:?}\nwant the invitation's {want_servers:?} (Dovecot: {})",
            dc.is_some()
        );
        return Err(rig.failure(&what).await);
    }

    // ---- taro signs in through the test browser; the redirect comes back by `gio open` too
    rig.click("[data-testid=step4-signin]").await?;
    rig.wait_for("[data-testid=step4-signed-in-as]", FLOW_WAIT).await?;
    let signed_in_as = text_of(&rig, "[data-testid=step4-signed-in-as]").await;
    if signed_in_as.trim() != TARO {
        return Err(rig.failure(&format!("step4-signed-in-as shows {signed_in_as:?}, want {TARO}")).await);
    }
    rig.scroll_to("[data-testid=flow-success]").await?;
    rig.shot("step4-signed-in").await?;
    check_single_instance(&mut rig, "the sign-in's redirect", SINGLE_WAIT).await?;
    eprintln!("[{TEST}] signed in after {:?}", t0.elapsed());

    // ---- the connection check after the sign-in, against the invitation's servers (the Dovecot) → verified
    if let Some(dc) = &dc {
        let (status, detail, protocols) = checked_state(&mut rig, TARO, CHECK_WAIT).await?;
        let protocols = protocols.unwrap_or_default();
        let verified_both = ["imap", "smtp"].iter().all(|p| protocols.split_whitespace().any(|w| w == *p));
        if status != "verified" || !verified_both {
            let what = format!(
                "taro's connection check in B against the invitation's servers ended in {status} ({detail:?}), \
                 verified_protocols {protocols:?}; want verified with imap and smtp\n--- dovecot log:\n{}",
                dc.log()
            );
            return Err(rig.failure(&what).await);
        }
        expect_verified_badge(&mut rig, &taro_panel, TARO, FLOW_WAIT).await?;
        // The logins reached the Dovecot (not Microsoft's hosts), over TLS, with XOAUTH2 (log copied to dovecot.log).
        expect_dovecot_logins(&mut rig, dc, TARO).await?;
        rig.scroll_to(&taro_panel).await?;
        rig.shot("step4-verified").await?;
    }
    let data = rig.finish().await?;

    // ---- what B holds: taro's refresh token in B's keychain service, the organization and taro in B's SQLite
    let refresh = tokens_of(&service, DEMO_TENANT_ID, TARO).await?.0.filter(|t| !t.is_empty());
    let refresh = refresh.ok_or_else(|| format!("no refresh token for {TARO} in keychain service {service}"))?;
    assert!(
        emu.snapshot().refresh_tokens.iter().any(|r| r.token == refresh && r.upn == TARO),
        "B's keychain holds a refresh token the emulator did not issue to taro"
    );
    let org = org_row(data.path())?.ok_or("B's SQLite has no org_settings after the invitation was accepted")?;
    assert_eq!(
        org,
        (ORG_NAME.into(), TENANT.into(), DEMO_TENANT_ID.into(), DEMO_CLIENT_ID.into(), emu.base_url()),
        "B's org_settings (organization_name, tenant, tenant_id, client_id, authority)"
    );
    let db = open_db(data.path())?;
    let (display_name, protocol, status): (String, String, String) = db.query_row(
        "SELECT display_name, receive_protocol, status FROM mail_accounts WHERE address = ?1",
        [TARO],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    assert_eq!((display_name.as_str(), protocol.as_str()), (TARO_NAME, "imap"), "taro's account in B");
    if dc.is_some() {
        assert_eq!(status, "verified", "taro's status in B after the sign-in and the connection check");
    } else {
        assert!(
            matches!(status.as_str(), "signed_in" | "verified" | "error"),
            "taro's status in B after the sign-in: {status}"
        );
    }
    assert_eq!(
        server_endpoints(data.path())?,
        dc_endpoints.clone().unwrap_or_else(exo_setup_core::org::exchange_online_endpoints),
        "B's mail_servers id 1 at the end"
    );
    let accounts: i64 = db.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0))?;
    assert_eq!(accounts, 1, "B holds taro's account only");
    drop(admin);
    drop(dc);
    eprintln!("[{TEST}] passed in {:?}", t0.elapsed());
    Ok(())
}

// ------------------------------------------------------------------------------------------------ i

/// Self-service in the real window: the admin turns it on and makes the organization invitation with the CLI
/// (`server self-service on`, `invite --organization`); profile B receives it through `gio open`, the confirmation
/// names no mailbox (the user types theirs), accepting stores the organization only and opens step 4 on the
/// typed-mailbox form; hanako types her address, chooses POP3 and signs in through the test browser. Only then is
/// her account in B's SQLite — marked self-registered, POP3 — with her refresh token in B's keychain service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i_self_service_from_the_organization_invitation() -> Result {
    const TEST: &str = "i_self_service";
    const HANAKO: &str = "hanako@contoso.example";
    let emu = Emulator::start(Config::default_demo()).await?;
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE]);

    // ---- profile A (the admin's): step 1, self-service on, the organization invitation
    let admin = tempfile::Builder::new().prefix("exo-e2e-self-admin-").tempdir()?;
    configure_org(admin.path(), &emu.base_url(), ORG_NAME).await?;
    cli(admin.path(), &["server", "self-service", "on"]).await?;
    let out = cli(admin.path(), &["invite", "--organization"]).await?;
    let prefix = format!("{SCHEME}://invite?");
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .ok_or_else(|| format!("`invite --organization` printed no {prefix}… link:\n{out}"))?
        .to_string();
    assert!(invite::parse(&link).map_err(|e| format!("{e:?}"))?.is_organization(), "an organization invitation");

    // ---- profile B: the organization invitation arrives as a link handed to the desktop
    let home = DesktopHome::new(TEST)?;
    let service = unique_service(TEST);
    let env = profile_env(TEST, &home, &service, &[]);
    let mut rig = Rig::start_with(TEST, rig_options(&env, None)).await?;
    rig.wait("[data-testid=start-admin]").await?;
    check_scheme_handler(&mut rig, &home, REGISTER_WAIT).await?;
    gio_open(&mut rig, &env, &link).await?;
    rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await?;
    let mut problems = Vec::new();
    expect_shown(&mut rig, "invitation-org", ORG_NAME, &mut problems).await?;
    let mailbox = rig.wait("[data-testid=invitation-mailbox]").await?;
    if mailbox.attr("data-organization-wide").await?.as_deref() != Some("true") {
        problems.push("invitation-mailbox is not marked organization-wide".into());
    }
    if text_of(&rig, "[data-testid=invitation-mailbox]").await.contains('@') {
        problems.push("the organization invitation's mailbox row shows an address".into());
    }
    rig.scroll_to("[data-testid=invitation-screen]").await?;
    rig.shot("organization-invitation").await?;
    if !problems.is_empty() {
        return Err(rig.failure(&format!("confirmation screen:\n  - {}", problems.join("\n  - "))).await);
    }

    // ---- accept: the organization only; step 4 on the typed-mailbox form
    rig.click("[data-testid=invitation-accept]").await?;
    rig.wait_for("[data-testid=step4-self]", FLOW_WAIT).await?;
    if org_row(rig.data_dir.path())?.is_none() {
        return Err(rig.failure("the organization was not stored after accepting").await);
    }
    let db = open_db(rig.data_dir.path())?;
    let before: i64 = db.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0))?;
    if before != 0 {
        return Err(rig.failure(&format!("{before} account(s) stored before the sign-in")).await);
    }
    rig.fill("[data-testid=step4-self-address]", HANAKO).await?;
    rig.click("[data-testid=step4-self-pop3]").await?;
    rig.scroll_to("[data-testid=step4-self]").await?;
    rig.shot("step4-self-service-form").await?;

    // ---- the sign-in: the test browser signs in as the login_hint, the redirect comes back by `gio open`
    rig.click("[data-testid=step4-self-signin]").await?;
    rig.wait_for("[data-testid=step4-signed-in-as]", FLOW_WAIT).await?;
    let signed_in_as = text_of(&rig, "[data-testid=step4-signed-in-as]").await;
    if signed_in_as.trim() != HANAKO {
        return Err(rig.failure(&format!("step4-signed-in-as shows {signed_in_as:?}, want {HANAKO}")).await);
    }
    rig.scroll_to("[data-testid=flow-success]").await?;
    rig.shot("step4-self-signed-in").await?;
    let data = rig.finish().await?;

    let db = open_db(data.path())?;
    let (protocol, self_registered): (String, i64) = db.query_row(
        "SELECT receive_protocol, self_registered FROM mail_accounts WHERE address = ?1",
        [HANAKO],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    assert_eq!((protocol.as_str(), self_registered), ("pop3", 1), "hanako's account in B");
    let refresh = tokens_of(&service, DEMO_TENANT_ID, HANAKO).await?.0.filter(|t| !t.is_empty());
    assert!(refresh.is_some(), "no refresh token for {HANAKO} in keychain service {service}");
    drop(admin);
    Ok(())
}

// ------------------------------------------------------------------------------------------------ h

/// A fake mail server: a TCP listener on 127.0.0.1 that counts connections and keeps every byte it receives.
struct FakeMailServer {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    received: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

async fn fake_mail_server() -> Result<FakeMailServer> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, r) = (connections.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    r.lock().expect("not poisoned").extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    Ok(FakeMailServer { port, connections, received })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_a_hostile_invitation_sends_the_token_nowhere() -> Result {
    const TEST: &str = "h_invite_hostile_mail_hosts";
    let emu = Emulator::start(Config::default_demo()).await?;
    let fake = fake_mail_server().await?;
    let hostile = hostile_invitation(&emu.base_url(), "127.0.0.1", fake.port);

    let home = DesktopHome::new(TEST)?;
    let env = profile_env(TEST, &home, &unique_service(TEST), &[]);
    let mut rig = Rig::start_with(TEST, rig_options(&env, None)).await?;
    rig.wait("[data-testid=start-admin]").await?;
    let before = settled_sqlite_bytes(rig.data_dir.path()).await;

    // The invitation names the real tenant but another mail server: refused when opened, naming the host.
    paste_invitation(&mut rig, &hostile).await?;
    expect_invitation_error(&mut rig, "invite_mail_host_not_allowed").await?;
    let shown = text_of(&rig, "[data-testid=invitation-error]").await;
    if !shown.contains("127.0.0.1") {
        return Err(rig.failure(&format!("the refusal does not name the mail server 127.0.0.1: {shown:?}")).await);
    }
    if rig.exists("[data-testid=invitation-accept]").await {
        return Err(rig.failure("a hostile invitation offers invitation-accept").await);
    }
    rig.scroll_to("[data-testid=invitation-error]").await?;
    rig.shot("hostile-refused").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if sqlite_bytes(rig.data_dir.path()) != before {
        return Err(rig.failure("the SQLite file changed after a hostile invitation").await);
    }
    if org_row(rig.data_dir.path())?.is_some() {
        return Err(rig.failure("a hostile invitation stored the organization").await);
    }
    rig.finish().await?;
    // The fake server heard nothing: no connection, so no greeting answered and no AUTH, no token.
    let connections = fake.connections.load(std::sync::atomic::Ordering::SeqCst);
    let received = fake.received.lock().expect("not poisoned").clone();
    assert_eq!(connections, 0, "the hostile invitation's mail server was connected to");
    assert!(received.is_empty(), "the hostile mail server received {} bytes", received.len());
    Ok(())
}

// ------------------------------------------------------------------------------------------------ f

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_tampered_and_other_organization_invitations_are_refused_or_confirmed() -> Result {
    const TEST: &str = "f_invite_refusals";
    let emu = Emulator::start(Config::default_demo()).await?;
    // A user's profile that already has its organization (Contoso) configured.
    let data = tempfile::Builder::new().prefix(&format!("exo-e2e-{TEST}-")).tempdir()?;
    configure_org(data.path(), &emu.base_url(), "Contoso").await?;
    let tampered = tamper(&contoso_invitation(&emu.base_url()))?;
    let other_org = fabrikam_invitation(&emu.base_url());

    let home = DesktopHome::new(TEST)?;
    let env = profile_env(TEST, &home, &unique_service(TEST), &[]);
    let mut rig = Rig::start_with(TEST, rig_options(&env, Some(data))).await?;
    rig.wait("[data-testid=start-admin]").await?;
    open_paste_box(&mut rig).await?;
    rig.shot("paste-box").await?;

    // ---- a tampered link: invite_tampered, nothing written
    let before = settled_sqlite_bytes(rig.data_dir.path()).await;
    paste_invitation(&mut rig, &tampered).await?;
    expect_invitation_error(&mut rig, "invite_tampered").await?;
    if rig.exists("[data-testid=invitation-screen] [data-testid=invitation-accept]").await {
        return Err(rig.failure("a tampered invitation offers invitation-accept").await);
    }
    rig.scroll_to("[data-testid=invitation-error]").await?;
    rig.shot("tampered").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = sqlite_bytes(rig.data_dir.path());
    if before != after {
        return Err(rig
            .failure(&format!(
                "the SQLite file changed after a tampered invitation (main {} → {} bytes, WAL {} → {} bytes)",
                before.0.len(),
                after.0.len(),
                before.1.len(),
                after.1.len()
            ))
            .await);
    }

    // ---- another organization: the replacement must be confirmed before Accept is possible
    paste_invitation(&mut rig, &other_org).await?;
    if rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await.is_err() {
        let shown = shown_error_kinds(&rig).await;
        return Err(rig
            .failure(&format!("no invitation-screen for another organization's invitation ({shown})"))
            .await);
    }
    rig.wait("[data-testid=invitation-replace]").await?;
    rig.wait("[data-testid=invitation-replace-confirm]").await?;
    let replace_text = text_of(&rig, "[data-testid=invitation-replace]").await;
    eprintln!("[{TEST}] invitation-replace says: {replace_text:?}");
    rig.scroll_to("[data-testid=invitation-replace]").await?;
    rig.shot("other-org-replace").await?;
    if !is_disabled(&mut rig, "[data-testid=invitation-accept]").await? {
        return Err(rig.failure("invitation-accept is enabled before invitation-replace-confirm is ticked").await);
    }
    rig.click("[data-testid=invitation-replace-confirm]").await?;
    let enabled = rig
        .wait_until("invitation-accept to become enabled", |c| async move {
            let e = c.find(fantoccini::Locator::Css("[data-testid=invitation-accept]")).await.ok()?;
            let disabled = e.prop("disabled").await.ok()?.is_some_and(|v| v == "true");
            let aria = e.attr("aria-disabled").await.ok()?.is_some_and(|v| v == "true");
            (!disabled && !aria).then_some(())
        })
        .await;
    enabled?;
    rig.shot("other-org-confirmed").await?;
    // Not accepted: discarded.
    rig.click("[data-testid=invitation-discard]").await?;
    let gone = rig
        .wait_until("the confirmation screen to close after discard", |c| async move {
            c.find(fantoccini::Locator::Css("[data-testid=invitation-screen]")).await.is_err().then_some(())
        })
        .await;
    gone?;
    rig.shot("discarded").await?;
    let data = rig.finish().await?;

    // ---- the configured organization is still Contoso, no account was added
    let org = org_row(data.path())?.ok_or("the configured organization disappeared")?;
    assert_eq!(
        (org.0.as_str(), org.1.as_str(), org.3.as_str()),
        ("Contoso", TENANT, DEMO_CLIENT_ID),
        "org_settings after a tampered and a discarded invitation"
    );
    let accounts: i64 = open_db(data.path())?.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0))?;
    assert_eq!(accounts, 0, "no account may be stored by refused or discarded invitations");
    Ok(())
}

// ------------------------------------------------------------------------------------------------ g

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_managed_policy_locks_step1_fields_and_refuses_other_tenants() -> Result {
    const TEST: &str = "g_managed_policy";
    let emu = Emulator::start(Config::default_demo()).await?;
    let policy_dir = tempfile::Builder::new().prefix("exo-e2e-policy-").tempdir()?;
    let policy = serde_json::json!({
        "version": 1,
        "tenant": TENANT,
        "clientId": DEMO_CLIENT_ID,
        "authority": { "value": emu.base_url(), "locked": false },
        "invitations": "same_tenant",
    });
    let policy_file = policy_dir.path().join("policy.json");
    std::fs::write(&policy_file, serde_json::to_vec_pretty(&policy)?)?;

    let home = DesktopHome::new(TEST)?;
    let env = profile_env(TEST, &home, &unique_service(TEST), &[("EXO_SETUP_POLICY_FILE", policy_file.clone().into())]);
    let mut rig = Rig::start_with(TEST, rig_options(&env, None)).await?;
    std::fs::write(rig.shots.join("policy.json"), serde_json::to_vec_pretty(&policy)?)?;

    // ---- step 1 as the admin: tenant and client ID locked, authority pre-filled and editable
    open_step1(&mut rig).await?;
    if rig.exists("[data-testid=policy-error]").await {
        let text = text_of(&rig, "[data-testid=policy-error]").await;
        return Err(rig.failure(&format!("policy-error shown for a valid policy: {text:?}")).await);
    }
    for badge in ["managed-tenant", "managed-clientId"] {
        rig.wait(&format!("[data-testid={badge}]")).await?;
    }
    if !rig.exists("#authority").await {
        rig.click("[data-testid=show-advanced]").await?;
        rig.wait("#authority").await?;
    }
    let mut problems = Vec::new();
    for (css, want) in [("#tenant", TENANT), ("#client-id", DEMO_CLIENT_ID)] {
        match input_state(&rig, css).await? {
            None => problems.push(format!("{css} is missing")),
            Some((read_only, disabled, value)) => {
                if !read_only {
                    problems.push(format!("{css} is not read-only (readOnly=false, disabled={disabled})"));
                }
                if !value.eq_ignore_ascii_case(want) {
                    problems.push(format!("{css} shows {value:?}, want the policy's {want:?}"));
                }
            }
        }
    }
    match input_state(&rig, "#authority").await? {
        None => problems.push("#authority is missing".into()),
        Some((read_only, disabled, value)) => {
            if read_only || disabled {
                problems.push(format!("#authority is not editable (readOnly={read_only}, disabled={disabled})"));
            }
            if value.trim_end_matches('/') != emu.base_url() {
                problems.push(format!("#authority shows {value:?}, want the policy's pre-fill {}", emu.base_url()));
            }
        }
    }
    if rig.exists("[data-testid=managed-authority]").await {
        eprintln!("[{TEST}] note: an unlocked (pre-fill only) authority also has a managed-authority badge");
    }
    if rig.exists("[data-testid=policy-conflict]").await {
        problems.push("policy-conflict shown on a profile without saved settings".into());
    }
    rig.scroll_to("#tenant").await?;
    rig.shot("step1-managed").await?;
    if !problems.is_empty() {
        return Err(rig.failure(&format!("step 1 under the policy:\n  - {}", problems.join("\n  - "))).await);
    }

    // ---- an invitation for another tenant is refused by the policy
    paste_invitation(&mut rig, &fabrikam_invitation(&emu.base_url())).await?;
    expect_invitation_error(&mut rig, "invite_other_tenant").await?;
    if rig.exists("[data-testid=invitation-accept]").await {
        return Err(rig.failure("an invitation the policy refuses offers invitation-accept").await);
    }
    rig.scroll_to("[data-testid=invitation-error]").await?;
    rig.shot("other-tenant-refused").await?;

    // ---- one for the policy's tenant opens (the refusal above is about the tenant, not every invitation)
    paste_invitation(&mut rig, &contoso_invitation(&emu.base_url())).await?;
    if rig.wait_for("[data-testid=invitation-screen]", FLOW_WAIT).await.is_err() {
        let shown = shown_error_kinds(&rig).await;
        return Err(rig.failure(&format!("no invitation-screen for the policy's own tenant ({shown})")).await);
    }
    rig.shot("same-tenant-opens").await?;
    rig.click("[data-testid=invitation-discard]").await?;
    let data = rig.finish().await?;
    assert!(org_row(data.path())?.is_none(), "nothing may be stored by a refused or discarded invitation");
    Ok(())
}
