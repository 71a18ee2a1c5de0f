//! `exo-setup consent|login|token|status|check|logout`: steps 3 and 4 from a terminal, and what
//! mail clients run (the round trip is shared with `directory consent|login`). The browser round trip is the core's (`Auth::begin_round_trip`); the CLI
//! always takes the loopback redirect and waits for it in the foreground.

use exo_setup_core::DetailKey;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use exo_setup_core::auth::{Auth, Purpose};
use exo_setup_core::bounded::{self, BoundedError};
use exo_setup_core::mailcheck::{self, CheckOptions};
use exo_setup_core::model::{FlowResult, ReceiveProtocol, RedirectMode};
use exo_setup_core::{Actor, ErrorKind, UiError};

use rust_i18n::t;

use crate::args::FlowArgs;
use crate::exit_code;
use crate::output::{json_out, output_failed, print_error, shown};
use crate::text;

/// `exo-setup consent`: step 3.
pub async fn consent(auth: &Auth, args: &FlowArgs) -> Result<u8, UiError> {
    match browser_round_trip(auth, Purpose::AdminConsent, args).await? {
        FlowResult::AdminConsented { consent } => {
            println!("{}", t!("cli.signin.consentGranted", tenant = consent.tenant_id, clientId = consent.client_id));
            println!("{}", t!("cli.signin.grantedBy", by = shown(&consent.granted_by)));
            println!("{}", t!("cli.signin.scopes", scopes = shown(&consent.scopes.join(" "))));
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// `exo-setup login ADDRESS [--protocol imap|pop3]`: step 4; a mailbox not registered here is
/// self-service (`Auth::begin_self_sign_in` decides whether that is allowed).
pub async fn login(auth: &Auth, address: &str, protocol: &str, args: &FlowArgs) -> Result<u8, UiError> {
    let self_service = {
        let conn = auth.store().conn();
        exo_setup_core::accounts::find_by_address(&conn, address)?.is_none()
            && exo_setup_core::self_service::state(&conn, &auth.policy()?)?.enabled
    };
    // Self-service off: an unknown mailbox is `account_not_registered`, as it always was.
    let purpose = if !self_service {
        Purpose::SignIn(address.to_owned())
    } else {
        let protocol = if protocol == "pop3" { ReceiveProtocol::Pop3 } else { ReceiveProtocol::Imap };
        Purpose::SelfSignIn(address.to_owned(), protocol)
    };
    match browser_round_trip(auth, purpose, args).await? {
        FlowResult::SignedIn { sign_in } => {
            let account = shown(&sign_in.signed_in_as);
            match &sign_in.name {
                Some(name) => println!("{}", t!("cli.signin.signedInAsNamed", account = account, name = shown(name))),
                None => println!("{}", t!("cli.signin.signedInAs", account = account)),
            }
            if !sign_in.signed_in_as.eq_ignore_ascii_case(&sign_in.address) {
                println!("{}", t!("cli.signin.mailbox", address = shown(&sign_in.address)));
            }
            println!("{}", t!("cli.signin.scopes", scopes = shown(&sign_in.scopes.join(" "))));
            println!("{}", t!("cli.signin.stored", address = shown(&sign_in.address)));
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// The core's round trip through the loopback redirect: opens the browser (unless
/// `--no-browser`), waits for it to come back and completes the flow. A failed flow comes back
/// as its error; one that never came back is cancelled.
pub(crate) async fn browser_round_trip(auth: &Auth, purpose: Purpose, args: &FlowArgs) -> Result<FlowResult, UiError> {
    let mut trip = auth.begin_round_trip(&purpose, RedirectMode::Loopback).await?;
    let wait = trip.take_loopback().expect("a loopback round trip has a listener");
    let url = trip.url.clone();
    if args.no_browser {
        eprintln!("{}\n  {url}", t!("cli.signin.openAddress"));
    } else {
        eprintln!("{}\n  {url}", t!("cli.signin.opening"));
        if let Err(e) = auth.open_browser(&mut trip).await {
            let cause = shown(e.detail.get(&DetailKey::Cause).map(String::as_str).unwrap_or(&e.message));
            eprintln!("{}", t!("cli.signin.browserFailed", cause = cause));
        }
    }
    eprintln!("{}", t!("cli.signin.waiting", seconds = args.timeout));
    let finished = match wait.finish(auth, Duration::from_secs(args.timeout)).await {
        Ok(f) => f,
        Err(e) => {
            auth.cancel(&trip.started.flow_id);
            return Err(e);
        }
    };
    match finished.result {
        FlowResult::Failed { error } => Err(error),
        ok => Ok(ok),
    }
}

pub(crate) fn unexpected(r: FlowResult) -> UiError {
    let what = match r {
        FlowResult::AdminConsented { .. } => "an admin consent",
        FlowResult::SignedIn { .. } => "a sign-in",
        FlowResult::DirectorySignedIn { .. } => "a directory sign-in",
        FlowResult::Failed { .. } => "a failure",
    };
    UiError::new(
        ErrorKind::Unexpected,
        Actor::Support,
        format!("The browser came back with {what}, which this command did not start."),
    )
}

/// `exo-setup token ADDRESS`: the access token and nothing else on standard output.
pub async fn token(auth: &Auth, address: &str) -> Result<u8, UiError> {
    let t = auth.access_token(address).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", t.token.expose()).and_then(|_| out.flush()).map_err(|e| output_failed("The token", e))?;
    Ok(0)
}

/// `exo-setup status [--json]`.
pub async fn status(auth: &Auth, json: bool) -> Result<u8, UiError> {
    let rows = auth.status().await?;
    if json {
        return json_out(&rows);
    }
    let mut out = std::io::stdout().lock();
    for r in &rows {
        let row = t!(
            "cli.status.row",
            address = shown(&r.address),
            status = r.status.as_str(),
            refresh = if r.has_refresh_token { t!("cli.status.yes") } else { t!("cli.status.no") },
            expires = r.access_token_expires_at.as_deref().unwrap_or("-")
        );
        let detail = r.status_detail.as_deref().map(|d| format!("\t({})", shown(d))).unwrap_or_default();
        let _ = writeln!(out, "{row}{detail}");
    }
    Ok(0)
}

/// `exo-setup check ADDRESS [--ca-file PEM] [--json]`: the connection check; "not verified"
/// exits with its first error's code.
pub async fn check(auth: &Auth, address: &str, ca_file: Option<&Path>, json: bool) -> Result<u8, UiError> {
    let opts = check_options(ca_file)?;
    let report = mailcheck::check_account(auth, address, &opts).await?;
    if json {
        json_out(&report)?;
    } else {
        for c in &report.checks {
            let protocol = format!("{:<5}", c.protocol.label());
            let server = shown(&c.server);
            match &c.error {
                None => println!("{}", t!("cli.check.ok", protocol = protocol, server = server, ms = c.duration_ms)),
                Some(e) => {
                    println!(
                        "{}",
                        t!("cli.check.failed", protocol = protocol, server = server, reason = text::error(e))
                    )
                }
            }
        }
        println!("{}", if report.verified { t!("cli.check.verified") } else { t!("cli.check.notVerified") });
    }
    match report.first_error() {
        Some(e) if !report.verified => {
            if !json {
                print_error(e);
            }
            Ok(exit_code(e))
        }
        _ => Ok(0),
    }
}

/// `exo-setup logout ADDRESS [--ca-file PEM]` (after the "signed out" receipt, if one is due).
pub async fn logout(auth: &Auth, address: &str, ca_file: Option<&Path>) -> Result<u8, UiError> {
    let opts = check_options(ca_file)?;
    let a = exo_setup_core::rollout::receipt_send::sign_out_reporting(auth, address, &opts).await?;
    println!("{}", t!("cli.signin.signedOut", address = shown(&a.address)));
    Ok(0)
}

/// The mail connection options of `--ca-file` (read through `bounded`: a regular file, at most
/// 1 MiB).
pub fn check_options(ca_file: Option<&Path>) -> Result<CheckOptions, UiError> {
    let extra_root_pem = match ca_file {
        Some(f) => Some(bounded::read_string(f, mailcheck::MAX_CA_FILE_BYTES).map_err(|e| {
            match e {
                not_regular @ BoundedError::NotRegular { .. } => not_regular.into_ui(Actor::User),
                e => UiError::new(ErrorKind::CaFileUnreadable, Actor::User, format!("{e}"))
                    .with(DetailKey::Path, f.display()),
            }
        })?),
        None => None,
    };
    Ok(CheckOptions { extra_root_pem, ..Default::default() })
}
