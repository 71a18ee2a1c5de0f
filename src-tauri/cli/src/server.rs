//! `exo-setup server show|enable|disable|endpoints`: step 1 — the organization settings and the
//! built-in Exchange Online server.

use std::sync::Arc;

use exo_setup_core::model::{Endpoint, MailServer, OrgSettingsInput, RedirectMode};
use exo_setup_core::{endpoint, org, overview, Store, UiError};

use rust_i18n::t;

use crate::args::{CliRedirectMode, EnableArgs, ServerCommand};
use crate::block_on;
use std::io::Write;
use std::process::ExitCode;

use crate::output::{flushed, json_out, output_failed, print_error, shown};
use crate::text;

pub fn run(store: &Arc<Store>, command: ServerCommand) -> Result<u8, UiError> {
    match command {
        ServerCommand::Show { json } => show(store, json),
        ServerCommand::Enable(args) => enable(store, args),
        ServerCommand::SelfService { state } => {
            let policy = exo_setup_core::policy::load()?;
            let conn = store.conn();
            let s = match state.as_deref() {
                Some(on_off) => exo_setup_core::self_service::set_enabled(&conn, &policy, on_off == "on")?,
                None => exo_setup_core::self_service::state(&conn, &policy)?,
            };
            println!("{}", if s.enabled { t!("cli.server.selfServiceOn") } else { t!("cli.server.selfServiceOff") });
            if s.managed.is_some() {
                println!("{}", t!("cli.server.selfServiceManaged"));
            }
            Ok(0)
        }
        ServerCommand::Disable => {
            block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, false))?;
            println!("{}", t!("cli.server.off"));
            Ok(0)
        }
        // Handled before the store is opened (`print_registration`).
        ServerCommand::RegistrationScript { manifest } => {
            Ok(u8::from(print_registration(manifest) != ExitCode::SUCCESS))
        }
        ServerCommand::Endpoints { imap, pop3, smtp, server } => {
            let id = org::server_by_name(&store.conn(), &server)?.id;
            let defaults = org::exchange_online_endpoints();
            let parse = |protocol: &str, spec: &str, default: &Endpoint| {
                endpoint::parse_with_defaults(spec, default).map_err(|e| e.into_ui(protocol))
            };
            let s = org::set_server_endpoints(
                store,
                id,
                &parse("imap", &imap, &defaults.imap)?,
                &parse("pop3", &pop3, &defaults.pop3)?,
                &parse("smtp", &smtp, &defaults.smtp)?,
            )?;
            println!("{}: {}", shown(&s.name), endpoints(&s));
            Ok(0)
        }
    }
}

/// `server registration-script [--manifest]`: the Cloud Shell script or the manifest, on standard output.
pub fn print_registration(manifest: bool) -> ExitCode {
    use exo_setup_core::registration;
    let text = if manifest { registration::manifest() + "\n" } else { registration::cloud_shell_script() };
    let mut out = std::io::stdout().lock();
    match out
        .write_all(text.as_bytes())
        .map_err(|e| output_failed("the registration", e))
        .and_then(|()| flushed(&mut out, "the registration"))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(crate::exit_code(&e))
        }
    }
}

/// `IMAP host:port  POP3 host:port  SMTP host:port`.
fn endpoints(s: &MailServer) -> String {
    format!(
        "IMAP {}:{}  POP3 {}:{}  SMTP {}:{}",
        shown(&s.imap.host),
        s.imap.port,
        shown(&s.pop3.host),
        s.pop3.port,
        shown(&s.smtp.host),
        s.smtp.port
    )
}

fn show(store: &Store, json: bool) -> Result<u8, UiError> {
    let o = overview::overview(&store.conn())?;
    if json {
        return json_out(&o);
    }
    for s in &o.servers {
        let state = if s.enabled { t!("cli.server.stateOn") } else { t!("cli.server.stateOff") };
        let builtin = if s.builtin { format!(" ({})", t!("cli.server.builtin")) } else { String::new() };
        println!("{} [{state}]{builtin}  {}", shown(&s.name), endpoints(s));
    }
    match &o.org {
        Some(org) => {
            // The redirect mode in words, with its code (what `server enable --redirect-mode` takes).
            let mode = org.redirect_mode.as_str();
            let lines = [
                (t!("cli.server.organization"), shown(&org.organization_name).into_owned()),
                (t!("cli.server.tenant"), format!("{} ({})", shown(&org.tenant), org.tenant_id)),
                (t!("cli.server.clientId"), org.client_id.clone()),
                (t!("cli.server.authority"), shown(&org.authority).into_owned()),
                (t!("cli.server.redirect"), format!("{} ({mode})", text::text(&format!("step1.mode.{mode}")))),
                (t!("cli.server.verifiedAt"), org.verified_at.clone()),
            ];
            for (label, value) in lines {
                println!("{label}: {}", if value.is_empty() { "-" } else { &value });
            }
        }
        None => println!("{}", t!("cli.server.notConfigured")),
    }
    match &o.consent {
        Some(c) => {
            let scopes = shown(&c.scopes.join(" ")).into_owned();
            println!(
                "{}",
                t!("cli.server.consentGranted", by = shown(&c.granted_by), at = c.granted_at, scopes = scopes)
            );
        }
        None => println!("{}", t!("cli.server.consentNone")),
    }
    if o.consent.is_some() && !o.consent_missing.is_empty() {
        println!("{}", t!("cli.server.consentMissing", scopes = shown(&o.consent_missing.join(" "))));
    }
    println!("{}", t!("cli.server.redirectUris"));
    for r in &o.redirect_uris {
        println!("  {}", r.uri);
    }
    println!("{}", t!("cli.server.accounts", count = o.account_count));
    Ok(0)
}

fn enable(store: &Store, args: EnableArgs) -> Result<u8, UiError> {
    match (args.tenant, args.client_id) {
        (Some(tenant), Some(client_id)) => {
            let input = OrgSettingsInput {
                organization_name: args.organization_name,
                tenant,
                client_id,
                authority: args.authority,
                redirect_mode: match args.redirect_mode {
                    CliRedirectMode::DeepLink => RedirectMode::DeepLink,
                    CliRedirectMode::Loopback => RedirectMode::Loopback,
                },
            };
            let s = block_on(org::save_exchange_online(store, &input))?;
            println!("{}", t!("cli.server.onForTenant", tenant = shown(&s.tenant), tenantId = s.tenant_id));
        }
        _ => {
            block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, true))?;
            println!("{}", t!("cli.server.on"));
        }
    }
    Ok(0)
}
