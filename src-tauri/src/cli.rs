//! The command-line interface, in the same binary as the GUI: no subcommand opens the wizard;
//! subcommands script the same core (server show/enable/disable, accounts list/add/delete/
//! import/export) for admins with thousands of users.
//!
//! Exit codes: 0 success; 2 usage error (clap); 3 the input was refused (the admin must fix it:
//! a bad tenant, a CSV with errors); 4 the identity platform or the network failed; 5 the local
//! database failed; 6 a valid-rows-only import skipped some rows.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use exo_setup_core::csv_io::{self, ExportEncoding};
use exo_setup_core::model::{AccountInput, AccountQuery, ImportMode, OrgSettingsInput, ReceiveProtocol, RedirectMode};
use exo_setup_core::{accounts, org, overview, Actor, Store, UiError};

#[derive(Debug, Parser)]
#[command(
    name = "exo-setup",
    version,
    about = "Set up Exchange Online mailboxes with OAuth 2.0. Without a command, opens the wizard."
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
    /// Delete a mail account by address.
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

/// Exit code for an error, by who must act and what failed.
pub fn exit_code(e: &UiError) -> u8 {
    match e.kind.as_str() {
        "storage" | "data_dir" => 5,
        "host_unreachable" | "dns_failure" | "tls_failure" | "timeout" | "http_status" | "identity_error"
        | "not_discovery" => 4,
        _ if e.actor == Actor::Support => 4,
        _ => 3,
    }
}

fn print_error(e: &UiError) {
    let who = match e.actor {
        Actor::Admin => "administrator",
        Actor::User => "user",
        Actor::Support => "retry later or contact support",
    };
    eprintln!("error[{}]: {}", e.kind, e.message);
    eprintln!("  who must act: {who}");
    for (k, v) in &e.detail {
        if k == "traceId" || k == "correlationId" {
            eprintln!("  {k}: {v}");
        }
    }
}

/// Runs a subcommand and returns the process exit code.
pub fn run(data_dir: PathBuf, command: Command) -> ExitCode {
    let result = Store::open_in(&data_dir).map_err(UiError::from).and_then(|store| dispatch(&store, command));
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
    println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
    Ok(0)
}

fn dispatch(store: &Store, command: Command) -> Result<u8, UiError> {
    match command {
        Command::Server(ServerCommand::Show { json }) => {
            let o = overview::overview(&store.conn())?;
            if json {
                return json_out(&o);
            }
            for s in &o.servers {
                println!(
                    "{} [{}]{}  IMAP {}:{}  POP3 {}:{}  SMTP {}:{}",
                    s.name,
                    if s.enabled { "ON" } else { "OFF" },
                    if s.builtin { " (built-in)" } else { "" },
                    s.imap.host,
                    s.imap.port,
                    s.pop3.host,
                    s.pop3.port,
                    s.smtp.host,
                    s.smtp.port
                );
            }
            match &o.org {
                Some(org) => println!(
                    "tenant: {} ({})\nclient id: {}\nauthority: {}\nredirect: {}\nverified at: {}",
                    org.tenant,
                    org.tenant_id,
                    org.client_id,
                    org.authority,
                    org.redirect_mode.as_str(),
                    org.verified_at
                ),
                None => {
                    println!("organization: not configured (run `exo-setup server enable --tenant … --client-id …`)")
                }
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
                        tenant,
                        client_id,
                        authority: args.authority,
                        redirect_mode: match args.redirect_mode {
                            CliRedirectMode::DeepLink => RedirectMode::DeepLink,
                            CliRedirectMode::Loopback => RedirectMode::Loopback,
                        },
                    };
                    let s = block_on(org::save_exchange_online(store, &input))?;
                    println!("Exchange Online is ON for tenant {} ({}).", s.tenant, s.tenant_id);
                }
                _ => {
                    block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, true))?;
                    println!("Exchange Online is ON.");
                }
            }
            Ok(0)
        }
        Command::Server(ServerCommand::Disable) => {
            block_on(org::set_server_enabled(store, org::EXCHANGE_ONLINE_ID, false))?;
            println!("Exchange Online is OFF.");
            Ok(0)
        }
        Command::Accounts(AccountsCommand::List { search, json }) => {
            let page =
                accounts::list(&store.conn(), &AccountQuery { search, status: None, offset: 0, limit: u32::MAX })?;
            let all = if page.rows.len() as u32 == page.total {
                page.rows
            } else {
                // More than one page: fetch the rest.
                let mut rows = page.rows;
                while (rows.len() as u32) < page.total {
                    let q = AccountQuery {
                        search: String::new(),
                        status: None,
                        offset: rows.len() as u32,
                        limit: accounts::MAX_PAGE,
                    };
                    let next = accounts::list(&store.conn(), &q)?;
                    if next.rows.is_empty() {
                        break;
                    }
                    rows.extend(next.rows);
                }
                rows
            };
            if json {
                return json_out(&all);
            }
            let mut out = std::io::stdout().lock();
            for a in &all {
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    a.address,
                    a.login_name,
                    a.user_display_name,
                    a.receive_protocol.as_str(),
                    a.server_name,
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
            println!("added {} for {}", a.address, a.login_name);
            Ok(0)
        }
        Command::Accounts(AccountsCommand::Delete { address }) => {
            let a = accounts::find_by_address(&store.conn(), &address)?.ok_or_else(|| {
                UiError::new("account_not_found", Actor::Admin, format!("There is no mail account {address}."))
                    .with("address", &address)
            })?;
            accounts::delete(store, a.id)?;
            println!("deleted {}", a.address);
            Ok(0)
        }
        Command::Accounts(AccountsCommand::Import { file, valid_rows_only, dry_run }) => {
            let bytes = std::fs::read(&file).map_err(|e| {
                UiError::new("file_unreadable", Actor::Admin, format!("{} could not be read: {e}", file.display()))
                    .with("path", file.display())
            })?;
            let errors = if dry_run {
                let p = csv_io::preview(store, &bytes)?;
                println!(
                    "{}: {} rows, {} valid ({} new, {} changed, {} unchanged), {} with errors",
                    p.encoding,
                    p.total_rows,
                    p.valid_rows,
                    p.creates,
                    p.updates,
                    p.unchanged,
                    p.errors.len()
                );
                p.errors
            } else {
                let mode = if valid_rows_only { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
                let o = match csv_io::import(store, &bytes, mode) {
                    Ok(o) => o,
                    Err(e) if e.kind == "csv_rejected" => {
                        // Show every bad row, not only the first.
                        let p = csv_io::preview(store, &bytes)?;
                        for r in &p.errors {
                            eprintln!(
                                "line {}{}: {} ({})",
                                r.line,
                                r.column.as_deref().map(|c| format!(", column {c}")).unwrap_or_default(),
                                r.message,
                                r.reason
                            );
                        }
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                println!(
                    "imported: {} new, {} changed, {} unchanged, {} skipped",
                    o.created, o.updated, o.unchanged, o.skipped
                );
                o.errors
            };
            for r in &errors {
                eprintln!(
                    "line {}{}: {} ({})",
                    r.line,
                    r.column.as_deref().map(|c| format!(", column {c}")).unwrap_or_default(),
                    r.message,
                    r.reason
                );
            }
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
