//! The command-line interface, in the same binary as the GUI: no subcommand opens the wizard;
//! subcommands script the same core (server show/enable/disable, accounts list/add/delete/
//! import/export) for admins with thousands of users, and run steps 3 and 4 from a terminal
//! (`consent`, `login`) with the RFC 8252 loopback redirect and the system browser. `token`
//! prints a mailbox's access token for mail clients (`passwordeval`, `PassCmd`). `invite` makes
//! invitations (links, `.exoinvite` files, a mail-merge CSV) on the admin's computer; `open`
//! shows one in plain words on the user's and, once confirmed, stores it. `keychain orphans`
//! lists (and `--remove` deletes) keychain items whose account is gone.
//!
//! Exit codes (also in the `--help` text and the README): see [`EXIT_CODES_HELP`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use exo_setup_core::auth::loopback::{self, LoopbackListener};
use exo_setup_core::auth::{browser, Auth, AUTH_ERROR_KINDS};
use exo_setup_core::bounded::{self, BoundedError};
use exo_setup_core::csv_io::{self, ExportEncoding};
use exo_setup_core::keychain::OsKeychain;
use exo_setup_core::model::{
    AccountInput, Endpoint, FlowResult, ImportMode, InvitationPreview, MicrosoftCloud, OrgSettingsInput,
    ReceiveProtocol, RedirectMode, Security,
};
use exo_setup_core::oauth::OAUTH_ERROR_KINDS;
// Every untrusted text printed (names, CSV headers and cells in errors, server replies, paths)
// goes through it: control and bidirectional characters come out as `\u{1b}`, never raw.
use exo_setup_core::validate::escape_unsafe as shown;
use exo_setup_core::{accounts, invite, mailcheck, org, overview, policy, Actor, Store, UiError};

use crate::invitations::Source;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  success
  2  usage error
  3  refused: the administrator must fix something (settings, CSV, app registration, consent)
  4  the identity platform or the network failed (retry later)
  5  the local database failed
  6  a --valid-rows-only import skipped some rows
  7  the system keychain is unavailable, locked or refused access
  8  the user must act: sign in (again), finish or retry the sign-in in the browser,
     sign in as the right account, or confirm an invitation (--yes, --replace)
  9  refused for security: an answer did not come from the expected identity provider
     (issuer mismatch or missing, a possible mix-up attack); nothing was stored, do not retry";

/// How long `consent` and `login` wait for the browser by default: a flow's lifetime.
const DEFAULT_FLOW_TIMEOUT_SECS: u64 = 600;

#[derive(Debug, Parser)]
#[command(
    name = "exo-setup",
    version,
    about = "Set up Exchange Online mailboxes with OAuth 2.0. Without a command, opens the wizard.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Data directory (default: the platform's application data directory).
    #[arg(long, global = true, env = exo_setup_core::paths::DATA_DIR_ENV)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The built-in Exchange Online server and the organization settings (step 1).
    #[command(subcommand)]
    Server(ServerCommand),
    /// Users' mail accounts (step 2).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Administrator: invitations that set up a user's mailbox on the user's own computer.
    ///
    /// An invitation carries the organization's settings (authority, tenant, application ID,
    /// redirect mode), the mailbox and its servers; no secret. Without --out or --csv, prints the
    /// link (one account) or `ADDRESS<TAB>LINK` lines (--all).
    Invite(InviteArgs),
    /// User: open an invitation (link or .exoinvite file), check what it sets up, and store it.
    ///
    /// Shows the organization, tenant, application ID, authority and mailbox, then asks
    /// before storing anything (without a terminal, --yes is required). Then sign in with
    /// `exo-setup login ADDRESS`.
    Open(OpenArgs),
    /// Step 3 (administrator): grant tenant-wide admin consent in the browser.
    ///
    /// Listens on 127.0.0.1 for the redirect (http://localhost must be registered under "Mobile and
    /// desktop applications"), opens the system browser and waits for Microsoft's answer.
    Consent(FlowArgs),
    /// Step 4 (user): sign in to a registered mailbox in the browser and store the sign-in in the
    /// system keychain.
    Login {
        /// The registered mailbox, e.g. taro@contoso.example.
        address: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Print the mailbox's access token, and nothing else, on standard output (for mail clients).
    ///
    /// For mutt/msmtp `passwordeval` and isync `PassCmd`. Uses the cached token while it is valid
    /// for more than 5 minutes (no network), else refreshes it. Errors go to standard error.
    Token {
        /// The signed-in mailbox.
        address: String,
    },
    /// Show every account's sign-in state (status, refresh token stored, access token expiry).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Prove the sign-in works: log in to the mailbox's IMAP or POP3 server and its SMTP server
    /// with XOAUTH2, run a harmless command (SELECT INBOX / STAT / NOOP) and record "verified".
    Check {
        /// The signed-in mailbox.
        address: String,
        /// PEM file of a certificate authority to trust in addition to the system's (a private CA).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign a mailbox out on this computer: delete its tokens from the keychain.
    Logout {
        /// The mailbox.
        address: String,
    },
    /// The system keychain items this app wrote.
    #[command(subcommand)]
    Keychain(KeychainCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeychainCommand {
    /// List keychain items whose mailbox is no longer a registered account here (deleted,
    /// renamed, or of an organization that was replaced): TENANT<TAB>ADDRESS<TAB>ITEMS lines.
    Orphans {
        /// Delete them from the keychain (and say so in the audit log).
        #[arg(long)]
        remove: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The registered mailbox to invite, e.g. taro@contoso.example.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    address: Option<String>,
    /// Every registered mailbox.
    #[arg(long)]
    all: bool,
    /// Write one ADDRESS.exoinvite file per mailbox into DIR (created if needed); prints the paths.
    #[arg(long, value_name = "DIR", conflicts_with = "csv")]
    out: Option<PathBuf>,
    /// Write a mail-merge CSV (address, display_name, file_name, link) to FILE, or to standard
    /// output with `-`.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The invitation: a dev.exosetup.wizard://invite?… link or an .exoinvite file.
    invitation: String,
    /// Store it without asking (required when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    /// Allow it to replace the organization already configured on this computer.
    #[arg(long)]
    replace: bool,
    /// Print what was stored as JSON (the confirmation goes to standard error).
    #[arg(long)]
    json: bool,
}

/// Options of the browser round trips (`consent`, `login`).
#[derive(Debug, Clone, Args)]
pub struct FlowArgs {
    /// Do not open a browser: only print the address to open (in a browser on this computer).
    #[arg(long)]
    no_browser: bool,
    /// Seconds to wait for the browser to come back.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_FLOW_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Show the settings, the servers and the state of the four steps.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Check the tenant's discovery document, save the settings and turn Exchange Online on.
    /// Without options, re-checks the saved settings and turns it on.
    Enable(EnableArgs),
    /// Stop the Exchange Online server.
    Disable,
    /// Set where a server's IMAP, POP3 and SMTP endpoints are (national clouds, gateways, tests):
    /// HOST:PORT[:tls|starttls|plain] each (plain only on this computer).
    Endpoints {
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        imap: String,
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        pop3: String,
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        smtp: String,
        /// The server's name.
        #[arg(long, default_value = "Exchange Online")]
        server: String,
    },
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Tenant ID (GUID) or verified domain, e.g. contoso.onmicrosoft.com.
    #[arg(long, requires = "client_id")]
    tenant: Option<String>,
    /// Application (client) ID from Microsoft Entra.
    #[arg(long, requires = "tenant")]
    client_id: Option<String>,
    /// Authority, default https://login.microsoftonline.com.
    #[arg(long, default_value = "")]
    authority: String,
    /// The organization's name as users know it (shown on invitations).
    #[arg(long, value_name = "NAME", default_value = "")]
    organization_name: String,
    #[arg(long, value_enum, default_value_t = CliRedirectMode::DeepLink)]
    redirect_mode: CliRedirectMode,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CliRedirectMode {
    DeepLink,
    Loopback,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List accounts (optionally filtered).
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a mail account for a user (the user is created if needed).
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "imap")]
        protocol: String,
        #[arg(long, default_value = "Exchange Online")]
        server: String,
    },
    /// Delete a mail account by address. A signed-in account is signed out first (its tokens
    /// are removed from the keychain); if the keychain cannot be reached, nothing is deleted.
    Delete { address: String },
    /// Import accounts from CSV (UTF-8, UTF-8 with BOM, Shift_JIS or UTF-16).
    Import {
        file: PathBuf,
        /// Import the valid rows and report the others (default: all or nothing).
        #[arg(long)]
        valid_rows_only: bool,
        /// Only check the file and show what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export all accounts as CSV to FILE, or to standard output with `-`.
    Export {
        #[arg(default_value = "-")]
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = CliEncoding::Utf8Bom)]
        encoding: CliEncoding,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CliEncoding {
    Utf8Bom,
    Utf8,
    ShiftJis,
}

/// Exit code for an error, by who must act and what failed (see [`EXIT_CODES_HELP`]).
pub fn exit_code(e: &UiError) -> u8 {
    let kind = e.kind.as_str();
    match kind {
        "storage" | "data_dir" => 5,
        "issuer_mismatch" | "issuer_missing" => 9,
        _ if kind.starts_with("keychain_") => 7,
        // An invitation waits for the user's explicit yes.
        "confirmation_required" | "invite_replaces_org" => 8,
        "host_unreachable"
        | "dns_failure"
        | "tls_failure"
        | "timeout"
        | "http_status"
        | "identity_error"
        | "not_discovery"
        | "network_error"
        | "service_unavailable"
        | "identity_unreachable"
        | "jwks_unavailable"
        | "identity_answer_too_large" => 4,
        _ if e.actor == Actor::Support => 4,
        // A sign-in matter the user settles: not signed in, declined, cancelled, timed out, wrong account…
        _ if e.actor == Actor::User
            && (OAUTH_ERROR_KINDS.contains(&kind)
                || AUTH_ERROR_KINDS.contains(&kind)
                || mailcheck::MAILCHECK_ERROR_KINDS.contains(&kind)) =>
        {
            8
        }
        _ => 3,
    }
}

/// `HOST:PORT[:tls|starttls|plain]`.
fn parse_endpoint(
    protocol: &str,
    spec: &str,
    default_port: u16,
    default_security: Security,
) -> Result<Endpoint, UiError> {
    let bad = || {
        UiError::new(
            "endpoint_invalid",
            Actor::Admin,
            format!("--{protocol} '{spec}' is not HOST:PORT[:tls|starttls|plain]."),
        )
        .with("protocol", protocol)
        .with("host", spec)
        .with("port", "")
    };
    let mut parts = spec.split(':');
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?.to_owned();
    let port = match parts.next() {
        Some(p) => p.parse::<u16>().map_err(|_| bad())?,
        None => default_port,
    };
    let security = match parts.next() {
        None => default_security,
        Some("tls") => Security::Tls,
        Some("starttls") => Security::Starttls,
        Some("plain") => Security::Plain,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Endpoint { host, port, security })
}

fn print_error(e: &UiError) {
    let who = match e.actor {
        Actor::Admin => "administrator",
        Actor::User => "user",
        Actor::Support => "retry later or contact support",
    };
    eprintln!("error[{}]: {}", e.kind, shown(&e.message));
    eprintln!("  who must act: {who}");
    for (k, v) in &e.detail {
        match k.as_str() {
            "code" => eprintln!("  AADSTS code: {}", shown(v)),
            "traceId" | "correlationId" | "timestamp" => eprintln!("  {k}: {}", shown(v)),
            _ => {}
        }
    }
}

/// Runs a subcommand and returns the process exit code.
pub fn run(data_dir: PathBuf, command: Command) -> ExitCode {
    let result = Store::open_in(&data_dir).map_err(UiError::from).and_then(|store| dispatch(&Arc::new(store), command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            print_error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
}

fn json_out<T: serde::Serialize>(v: &T) -> Result<u8, UiError> {
    // serde_json escapes control characters inside strings (the line breaks left are its own)
    // but writes bidirectional and zero-width ones raw; those can only be inside strings, where
    // `\uXXXX` means the same.
    let json = serde_json::to_string_pretty(v).expect("serializable");
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        if !c.is_control() && exo_setup_core::validate::unsafe_char(c).is_some() {
            safe.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            safe.push(c);
        }
    }
    println!("{safe}");
    Ok(0)
}

fn dispatch(store: &Arc<Store>, command: Command) -> Result<u8, UiError> {
    match command {
        Command::Invite(args) => invite_command(store, args),
        Command::Open(args) => block_on(open_command(store, args)),
        Command::Consent(flow) => block_on(consent(auth(store), flow)),
        Command::Login { address, flow } => block_on(login(auth(store), &address, flow)),
        Command::Token { address } => {
            let t = block_on(auth(store).access_token(&address))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", t.token.expose()).and_then(|_| out.flush()).map_err(|e| {
                UiError::new("output_failed", Actor::User, format!("The token could not be written: {e}"))
            })?;
            Ok(0)
        }
        Command::Status { json } => {
            let rows = block_on(auth(store).status())?;
            if json {
                return json_out(&rows);
            }
            let mut out = std::io::stdout().lock();
            for r in &rows {
                let _ = writeln!(
                    out,
                    "{}\t{}\trefresh token: {}\taccess token expires: {}{}",
                    shown(&r.address),
                    r.status.as_str(),
                    if r.has_refresh_token { "yes" } else { "no" },
                    r.access_token_expires_at.as_deref().unwrap_or("-"),
                    r.status_detail.as_deref().map(|d| format!("\t({})", shown(d))).unwrap_or_default()
                );
            }
            Ok(0)
        }
        Command::Check { address, ca_file, json } => {
            let extra_root_pem = match ca_file {
                Some(f) => Some(bounded::read_string(&f, mailcheck::MAX_CA_FILE_BYTES).map_err(|e| match e {
                    not_regular @ BoundedError::NotRegular { .. } => not_regular.into_ui(Actor::User),
                    e => UiError::new("ca_file_unreadable", Actor::User, format!("{e}")).with("path", f.display()),
                })?),
                None => None,
            };
            let opts = mailcheck::CheckOptions { extra_root_pem, ..Default::default() };
            let report = block_on(async { mailcheck::check_account(&auth(store), &address, &opts).await })?;
            if json {
                json_out(&report)?;
            } else {
                for c in &report.checks {
                    match &c.error {
                        None => println!("{:<5} {}  OK ({} ms)", c.protocol.label(), shown(&c.server), c.duration_ms),
                        Some(e) => {
                            println!("{:<5} {}  FAILED: {}", c.protocol.label(), shown(&c.server), shown(&e.message))
                        }
                    }
                }
                println!("{}", if report.verified { "verified" } else { "not verified" });
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
        Command::Logout { address } => {
            let a = block_on(auth(store).sign_out(&address))?;
            println!("Signed out {} on this computer (its tokens were removed from the keychain).", shown(&a.address));
            Ok(0)
        }
        Command::Keychain(KeychainCommand::Orphans { remove, json }) => {
            let auth = auth(store);
            let orphans =
                if remove { block_on(auth.remove_keychain_orphans())? } else { block_on(auth.keychain_orphans())? };
            if json {
                return json_out(&orphans);
            }
            let mut out = std::io::stdout().lock();
            for o in &orphans {
                let items = match (o.has_refresh_token, o.has_access_token) {
                    (true, true) => "refresh token, access token",
                    (true, false) => "refresh token",
                    (false, true) => "access token",
                    (false, false) => "nothing left",
                };
                let _ = writeln!(
                    out,
                    "{}\t{}\t{items}{}",
                    o.tenant_id,
                    shown(&o.address),
                    if remove { "\tremoved" } else { "" }
                );
            }
            if orphans.is_empty() {
                eprintln!("No orphaned keychain items.");
            } else if !remove {
                eprintln!("Remove them with `exo-setup keychain orphans --remove`.");
            }
            Ok(0)
        }
        Command::Server(ServerCommand::Show { json }) => {
            let o = overview::overview(&store.conn())?;
            if json {
                return json_out(&o);
            }
            for s in &o.servers {
                println!(
                    "{} [{}]{}  IMAP {}:{}  POP3 {}:{}  SMTP {}:{}",
                    shown(&s.name),
                    if s.enabled { "ON" } else { "OFF" },
                    if s.builtin { " (built-in)" } else { "" },
                    shown(&s.imap.host),
                    s.imap.port,
                    shown(&s.pop3.host),
                    s.pop3.port,
                    shown(&s.smtp.host),
                    s.smtp.port
                );
            }
            match &o.org {
                Some(org) => println!(
                    "organization: {}\ntenant: {} ({})\nclient id: {}\nauthority: {}\nredirect: {}\nverified at: {}",
                    if org.organization_name.is_empty() { "-".into() } else { shown(&org.organization_name) },
                    shown(&org.tenant),
                    org.tenant_id,
                    org.client_id,
                    shown(&org.authority),
                    org.redirect_mode.as_str(),
                    org.verified_at
                ),
                None => {
                    println!("organization: not configured (run `exo-setup server enable --tenant … --client-id …`)")
                }
            }
            match &o.consent {
                Some(c) => {
                    let scopes = c.scopes.join(" ");
                    println!(
                        "admin consent: granted by {} at {} ({})",
                        shown(&c.granted_by),
                        c.granted_at,
                        shown(&scopes)
                    )
                }
                None => println!("admin consent: none recorded (run `exo-setup consent`)"),
            }
            if o.consent.is_some() && !o.consent_missing.is_empty() {
                println!("admin consent missing: {}", shown(&o.consent_missing.join(" ")));
            }
            println!("redirect URIs to register under \"Mobile and desktop applications\":");
            for r in &o.redirect_uris {
                println!("  {}", r.uri);
            }
            println!("accounts: {}", o.account_count);
            Ok(0)
        }
        Command::Server(ServerCommand::Enable(args)) => {
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
                    println!("Exchange Online is ON for tenant {} ({}).", shown(&s.tenant), s.tenant_id);
                }
                _ => {
                    block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, true))?;
                    println!("Exchange Online is ON.");
                }
            }
            Ok(0)
        }
        Command::Server(ServerCommand::Endpoints { imap, pop3, smtp, server }) => {
            let id = org::servers(&store.conn())
                .map_err(|e| UiError::from(exo_setup_core::store::StoreError::Sql(e)))?
                .into_iter()
                .find(|s| s.name.eq_ignore_ascii_case(&server))
                .map(|s| s.id)
                .ok_or_else(|| {
                    UiError::new("server_not_found", Actor::Admin, format!("There is no mail server named '{server}'."))
                        .with("server", &server)
                })?;
            let s = org::set_server_endpoints(
                store,
                id,
                &parse_endpoint("imap", &imap, 993, Security::Tls)?,
                &parse_endpoint("pop3", &pop3, 995, Security::Tls)?,
                &parse_endpoint("smtp", &smtp, 587, Security::Starttls)?,
            )?;
            println!(
                "{}: IMAP {}:{}  POP3 {}:{}  SMTP {}:{}",
                shown(&s.name),
                shown(&s.imap.host),
                s.imap.port,
                shown(&s.pop3.host),
                s.pop3.port,
                shown(&s.smtp.host),
                s.smtp.port
            );
            Ok(0)
        }
        Command::Server(ServerCommand::Disable) => {
            block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, false))?;
            println!("Exchange Online is OFF.");
            Ok(0)
        }
        Command::Accounts(AccountsCommand::List { search, json }) => {
            let all = accounts::list_all(&store.conn(), &search, None)?;
            if json {
                return json_out(&all);
            }
            let mut out = std::io::stdout().lock();
            for a in &all {
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    shown(&a.address),
                    shown(&a.login_name),
                    shown(&a.user_display_name),
                    a.receive_protocol.as_str(),
                    shown(&a.server_name),
                    a.status.as_str()
                );
            }
            Ok(0)
        }
        Command::Accounts(AccountsCommand::Add { login, address, name, protocol, server }) => {
            let receive_protocol = ReceiveProtocol::parse(&protocol).ok_or_else(|| {
                UiError::new(
                    "invalid_protocol",
                    Actor::Admin,
                    format!("'{protocol}' is not a receive protocol (imap or pop3)."),
                )
            })?;
            let server_id = server_id_by_name(store, &server)?;
            let a = accounts::add(
                store,
                &AccountInput {
                    login_name: login,
                    user_display_name: name,
                    address,
                    display_name: String::new(),
                    receive_protocol,
                    server_id,
                },
            )?;
            println!("added {} for {}", shown(&a.address), shown(&a.login_name));
            Ok(0)
        }
        Command::Accounts(AccountsCommand::Delete { address }) => {
            let a = accounts::find_by_address(&store.conn(), &address)?.ok_or_else(|| {
                UiError::new("account_not_found", Actor::Admin, format!("There is no mail account {address}."))
                    .with("address", &address)
            })?;
            block_on(auth(store).delete_account(a.id))?;
            println!("deleted {}", shown(&a.address));
            Ok(0)
        }
        Command::Accounts(AccountsCommand::Import { file, valid_rows_only, dry_run }) => {
            let errors = if dry_run {
                let p = csv_io::preview_from(store, open_csv(&file)?)?;
                println!(
                    "{}: {} rows read: {} valid ({} new, {} changed, {} unchanged), {} with errors",
                    p.encoding, p.total_rows, p.valid_rows, p.creates, p.updates, p.unchanged, p.rejected_rows
                );
                p.errors
            } else {
                let mode = if valid_rows_only { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
                let o = match csv_io::import_from(store, open_csv(&file)?, mode) {
                    Ok(o) => o,
                    Err(e) if e.kind == "csv_rejected" => {
                        // Show every bad row, not only the first.
                        let p = csv_io::preview_from(store, open_csv(&file)?)?;
                        print_row_errors(&p.errors);
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                println!(
                    "{} rows read: {} new, {} changed, {} unchanged, {} skipped (rows with errors)",
                    o.total_rows, o.created, o.updated, o.unchanged, o.skipped
                );
                o.errors
            };
            print_row_errors(&errors);
            Ok(if errors.is_empty() {
                0
            } else if dry_run {
                3
            } else {
                6
            })
        }
        Command::Accounts(AccountsCommand::Export { file, encoding }) => {
            let enc = match encoding {
                CliEncoding::Utf8Bom => ExportEncoding::Utf8Bom,
                CliEncoding::Utf8 => ExportEncoding::Utf8,
                CliEncoding::ShiftJis => ExportEncoding::ShiftJis,
            };
            let bytes = csv_io::export(&store.conn(), enc)?;
            let written = if file.as_os_str() == "-" {
                std::io::stdout().lock().write_all(&bytes)
            } else {
                std::fs::write(&file, &bytes)
            };
            written.map_err(|e| {
                UiError::new("export_write", Actor::User, format!("The CSV could not be written: {e}"))
                    .with("reason", e)
            })?;
            Ok(0)
        }
    }
}

/// Opens a CSV to import, a regular file only (a FIFO or a device is refused at once); it is then
/// read as a stream, never whole.
fn open_csv(file: &Path) -> Result<std::fs::File, UiError> {
    exo_setup_core::bounded::open_regular(file).map_err(|e| e.into_ui(Actor::Admin))
}

/// One line per problem, on standard error; cells and headers as read, escaped.
fn print_row_errors(errors: &[exo_setup_core::model::ImportRowError]) {
    for r in errors {
        eprintln!(
            "line {}{}: {} ({})",
            r.line,
            r.column.as_deref().map(|c| format!(", column {}", shown(c))).unwrap_or_default(),
            shown(&r.message),
            r.reason
        );
    }
}

fn write_failed(path: &Path, e: impl std::fmt::Display) -> UiError {
    UiError::new("export_write", Actor::User, format!("{} could not be written: {e}", path.display()))
        .with("path", path.display())
        .with("reason", e)
}

/// `exo-setup invite ADDRESS | --all [--out DIR | --csv FILE]`.
fn invite_command(store: &Store, args: InviteArgs) -> Result<u8, UiError> {
    let invitations = {
        let conn = store.conn();
        let ids = match &args.address {
            Some(address) => {
                let a = accounts::find_by_address(&conn, address)?.ok_or_else(|| {
                    UiError::new(
                        "account_not_found",
                        Actor::Admin,
                        format!("There is no mail account {address}: register it first (`exo-setup accounts add`)."),
                    )
                    .with("address", address)
                })?;
                Some(vec![a.id])
            }
            None => None,
        };
        invite::for_accounts(&conn, ids.as_deref())?
    };
    if invitations.is_empty() {
        return Err(UiError::new(
            "no_accounts",
            Actor::Admin,
            "There are no mail accounts to invite: register them first (`exo-setup accounts add` or `accounts import`).",
        ));
    }
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &args.out {
        for path in invite::write_files(&invitations, dir)? {
            let _ = writeln!(out, "{}", shown(&path.display().to_string()));
        }
    } else if let Some(file) = &args.csv {
        let links: Vec<_> = invitations.into_iter().map(|(link, _)| link).collect();
        if file.as_os_str() == "-" {
            invite::write_csv(&links, &mut out)?;
        } else {
            let f = std::fs::File::create(file).map_err(|e| write_failed(file, e))?;
            let mut w = std::io::BufWriter::new(f);
            invite::write_csv(&links, &mut w)?;
            w.flush().map_err(|e| write_failed(file, e))?;
            let _ = writeln!(out, "{}", shown(&file.display().to_string()));
        }
    } else if args.all {
        for (link, _) in &invitations {
            let _ = writeln!(out, "{}\t{}", shown(&link.address), link.link);
        }
    } else {
        let _ = writeln!(out, "{}", invitations[0].0.link);
    }
    out.flush()
        .map_err(|e| UiError::new("output_failed", Actor::User, format!("The output could not be written: {e}")))?;
    Ok(0)
}

fn cloud_name(cloud: MicrosoftCloud) -> &'static str {
    match cloud {
        MicrosoftCloud::Global => "Microsoft Entra ID, global cloud",
        MicrosoftCloud::UsGovernment => "Microsoft Entra ID for US Government",
        MicrosoftCloud::China => "Microsoft Entra ID operated by 21Vianet (China)",
    }
}

/// The confirmation, in plain words.
fn print_invitation(out: &mut dyn Write, p: &InvitationPreview) -> std::io::Result<()> {
    let or_none = |s: &str| if s.is_empty() { "(not given)".to_owned() } else { shown(s).into_owned() };
    writeln!(out, "This invitation sets up a mailbox on this computer. Check it before you accept:")?;
    writeln!(out, "  organization:             {}", or_none(&p.organization_name))?;
    if p.tenant.eq_ignore_ascii_case(&p.tenant_id) {
        writeln!(out, "  tenant:                   {}", shown(&p.tenant_id))?;
    } else {
        writeln!(out, "  tenant:                   {} (tenant ID {})", shown(&p.tenant), shown(&p.tenant_id))?;
    }
    writeln!(out, "  application (client) ID:  {}", p.client_id)?;
    match p.cloud {
        Some(cloud) => writeln!(out, "  authority:                {} ({})", shown(&p.authority), cloud_name(cloud))?,
        None => writeln!(out, "  authority:                {} (NOT a known Microsoft cloud)", shown(&p.authority))?,
    }
    writeln!(out, "  mailbox:                  {}", shown(&p.address))?;
    writeln!(out, "  display name:             {}", or_none(&p.display_name))?;
    writeln!(out, "  receive protocol:         {}", p.receive_protocol.as_str().to_ascii_uppercase())?;
    let redirect = match p.redirect_mode {
        RedirectMode::DeepLink => format!("the app's link ({})", exo_setup_core::identity::deep_link_redirect_uri()),
        RedirectMode::Loopback => format!("loopback ({})", exo_setup_core::identity::LOOPBACK_REDIRECT_URI),
    };
    writeln!(out, "  sign-in returns through:  {redirect}")?;
    if let Some(ep) = &p.endpoints {
        for (label, e) in [("IMAP", &ep.imap), ("POP3", &ep.pop3), ("SMTP", &ep.smtp)] {
            writeln!(out, "  {label} server:              {}:{} ({})", shown(&e.host), e.port, e.security.as_str())?;
        }
    }
    writeln!(out, "  your sign-in is used only with: {}", p.mail_hosts.join(", "))?;
    for o in &p.overrides {
        let (managed, invited) = (shown(&o.managed), shown(&o.invited));
        writeln!(out, "  managed by policy:        {} = {managed} (the invitation said {invited})", o.field)?;
    }
    if p.already_registered {
        writeln!(out, "  This mailbox is already registered here; accepting keeps its sign-in.")?;
    }
    if let Some(r) = &p.replaces {
        writeln!(
            out,
            "  REPLACES the organization set up on this computer: {} (tenant {}, tenant ID {}, application {}, authority {})",
            or_none(&r.organization_name),
            shown(&r.tenant),
            shown(&r.tenant_id),
            shown(&r.client_id),
            shown(&r.authority)
        )?;
    }
    if p.cloud.is_none() {
        writeln!(
            out,
            "WARNING: {} is not a known Microsoft cloud. Signing in would send your password to that address \
             instead of Microsoft. Accept only if your administrator told you that your organization uses it.",
            shown(&p.authority)
        )?;
    }
    out.flush()
}

/// `exo-setup open LINK|FILE [--yes] [--replace] [--json]`.
async fn open_command(store: &Store, args: OpenArgs) -> Result<u8, UiError> {
    let inv = match Source::from_arg(&args.invitation) {
        Source::Text(text) => invite::parse(&text)?,
        Source::File(path) => invite::read_file(&path)?,
    };
    let policy = policy::load()?;
    let preview = invite::preview(&store.conn(), &policy, &inv, String::new())?;
    // With --json, standard output is for the result only.
    let mut out: Box<dyn Write> =
        if args.json { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    let _ = print_invitation(&mut out, &preview);
    drop(out);
    if let (Some(r), false) = (&preview.replaces, args.replace) {
        return Err(UiError::new(
            "invite_replaces_org",
            Actor::User,
            "This computer is already set up for another organization (see REPLACES above); nothing was changed. \
             If your administrator told you to switch, run the command again with --replace.",
        )
        .with("tenant", &r.tenant));
    }
    if !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(UiError::new(
                "confirmation_required",
                Actor::User,
                "Nothing was changed: there is no terminal to ask for confirmation. Read the invitation above \
                 and run the command again with --yes to set it up.",
            ));
        }
        eprint!("Set up this mailbox? [y/N] ");
        let mut answer = String::new();
        let _ = stdin.lock().read_line(&mut answer);
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("Nothing was changed.");
            return Ok(8);
        }
    }
    let accepted = invite::accept(store, &policy, &inv, args.replace).await?;
    if args.json {
        return json_out(&accepted);
    }
    let org = &accepted.org;
    let name = shown(if org.organization_name.is_empty() { &org.tenant } else { &org.organization_name });
    let address = shown(&accepted.account.address);
    println!("Set up {address} for {name} (tenant {}).", org.tenant_id);
    println!("Next: sign in with `exo-setup login {address}` (or in the wizard's step 4).");
    Ok(0)
}

fn server_id_by_name(store: &Store, name: &str) -> Result<i64, UiError> {
    org::servers(&store.conn())
        .map_err(|e| UiError::from(exo_setup_core::store::StoreError::Sql(e)))?
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| s.id)
        .ok_or_else(|| {
            UiError::new("server_not_found", Actor::Admin, format!("There is no mail server named '{name}'."))
                .with("server", name)
        })
}

fn auth(store: &Arc<Store>) -> Auth {
    Auth::new(Arc::clone(store), Arc::new(OsKeychain::new()))
}

/// `exo-setup consent`: step 3 through the loopback redirect.
async fn consent(auth: Auth, args: FlowArgs) -> Result<u8, UiError> {
    let listener = LoopbackListener::bind().await?;
    let (started, url) = auth.begin_admin_consent(&listener.redirect_uri()).await?;
    let result = browser_round_trip(&auth, listener, &started.flow_id, url, &args).await?;
    match result {
        FlowResult::AdminConsented { consent } => {
            println!("Admin consent granted for tenant {} (application {}).", consent.tenant_id, consent.client_id);
            println!("granted by: {}", shown(&consent.granted_by));
            println!("scopes: {}", shown(&consent.scopes.join(" ")));
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// `exo-setup login ADDRESS`: step 4 through the loopback redirect.
async fn login(auth: Auth, address: &str, args: FlowArgs) -> Result<u8, UiError> {
    let listener = LoopbackListener::bind().await?;
    let (started, url) = auth.begin_sign_in(address, &listener.redirect_uri()).await?;
    let result = browser_round_trip(&auth, listener, &started.flow_id, url, &args).await?;
    match result {
        FlowResult::SignedIn { sign_in } => {
            match &sign_in.name {
                Some(name) => println!("Signed in as {} ({}).", shown(&sign_in.signed_in_as), shown(name)),
                None => println!("Signed in as {}.", shown(&sign_in.signed_in_as)),
            }
            if !sign_in.signed_in_as.eq_ignore_ascii_case(&sign_in.address) {
                println!("mailbox: {}", shown(&sign_in.address));
            }
            println!("scopes: {}", shown(&sign_in.scopes.join(" ")));
            println!(
                "The sign-in is stored in the system keychain; `exo-setup token {}` prints an access token.",
                sign_in.address
            );
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// Opens the browser (unless `--no-browser`), waits for the one loopback request, completes the
/// flow and answers the browser. A failed flow comes back as its error.
async fn browser_round_trip(
    auth: &Auth,
    listener: LoopbackListener,
    flow_id: &str,
    url: url::Url,
    args: &FlowArgs,
) -> Result<FlowResult, UiError> {
    if args.no_browser {
        eprintln!("Open this address in a browser on this computer:\n  {url}");
    } else {
        eprintln!("Opening your browser… if nothing opens, visit:\n  {url}");
        let u = url.to_string();
        let opened = tokio::task::spawn_blocking(move || browser::open(&u))
            .await
            .unwrap_or_else(|e| Err(UiError::new("browser_unavailable", Actor::User, e.to_string())));
        auth.set_browser_opened(flow_id, opened.is_ok());
        if let Err(e) = opened {
            eprintln!(
                "The browser could not be opened ({}); open the address above yourself.",
                shown(e.detail.get("cause").map(String::as_str).unwrap_or(&e.message))
            );
        }
    }
    eprintln!("Waiting for the browser to come back (up to {} seconds; Ctrl-C to stop)…", args.timeout);
    let state = loopback::flow_state(&url).unwrap_or_default();
    let request = match listener.receive(&state, Duration::from_secs(args.timeout)).await {
        Ok(r) => r,
        Err(e) => {
            auth.cancel(flow_id);
            return Err(e);
        }
    };
    let finished = auth.complete(request.callback_url()).await;
    match finished.result {
        FlowResult::Failed { error } => {
            request.respond(false, &error.message).await;
            Err(error)
        }
        ok => {
            request.respond(true, "").await;
            Ok(ok)
        }
    }
}

fn unexpected(r: FlowResult) -> UiError {
    let what = match r {
        FlowResult::AdminConsented { .. } => "an admin consent",
        FlowResult::SignedIn { .. } => "a sign-in",
        FlowResult::Failed { .. } => "a failure",
    };
    UiError::new(
        "unexpected",
        Actor::Support,
        format!("The browser came back with {what}, which this command did not start."),
    )
}
