//! The `entra-emulator` command: runs the emulator until Ctrl-C / SIGTERM. See README.md.

use clap::{Parser, ValueEnum};
use entra_emulator::{AutoConsent, Config, Emulator, Keys, StartOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A local emulator of the Microsoft identity platform (Entra ID v2.0) for tests and offline demos.
#[derive(Parser, Debug)]
#[command(name = "entra-emulator", version)]
struct Cli {
    /// Address to listen on (port 0 = a free port). Only loopback addresses unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory of tenants, users and app registrations (JSON, or TOML if the name ends in .toml).
    /// Without it the built-in demo directory is used (see --print-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sign in the login_hint user (or the default user) at once, without pages.
    #[arg(long)]
    auto_approve: bool,
    /// What auto-approve answers on consent screens.
    #[arg(long, value_enum, default_value_t = ConsentArg::Accept)]
    auto_consent: ConsentArg,
    /// User auto-approve signs in when a request has no login_hint.
    #[arg(long, value_name = "UPN")]
    default_user: Option<String>,
    /// Write the signing public key (PEM) to this file when ready.
    #[arg(long, value_name = "PEM_PATH")]
    write_public_key: Option<PathBuf>,
    /// Write the public key as Dovecot's keys dictionary wants it: DIR/default/RS256/<kid>.
    #[arg(long, value_name = "DIR")]
    write_dovecot_keys: Option<PathBuf>,
    /// Sign with a freshly generated RSA-2048 key instead of the shipped TEST-ONLY key.
    #[arg(long)]
    generate_key: bool,
    /// Allow a non-loopback --listen address.
    #[arg(long)]
    allow_remote: bool,
    /// Generate this many people (Japanese and English names, some disabled, some without a mailbox) in the
    /// first tenant's directory, served by Microsoft Graph (`/v1.0/users`, groups). Cheap even at 100,000.
    #[arg(long, value_name = "N")]
    users: Option<u32>,
    /// Seed of the generated directory (the same seed gives the same people).
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ConsentArg {
    Accept,
    AcceptForOrganization,
    Decline,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entra-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let mut config = match &cli.config {
        Some(p) => Config::load(p)?,
        None => Config::default_demo(),
    };
    config.settings.auto_approve |= cli.auto_approve;
    config.settings.auto_consent = match cli.auto_consent {
        ConsentArg::Accept => AutoConsent::Accept,
        ConsentArg::AcceptForOrganization => AutoConsent::AcceptForOrganization,
        ConsentArg::Decline => AutoConsent::Decline,
    };
    if let Some(u) = &cli.default_user {
        config.settings.default_user = Some(u.clone());
    }
    if let Some(n) = cli.users {
        config.graph.generated_users = n;
    }
    if let Some(s) = cli.seed {
        config.graph.seed = s;
    }
    if cli.print_config {
        print!("{}", toml::to_string_pretty(&config).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if !cli.listen.ip().is_loopback() && !cli.allow_remote {
        return Err(format!("refusing to listen on non-loopback {} (use --allow-remote)", cli.listen));
    }
    let keys = if cli.generate_key { Some(Keys::generate()?) } else { None };
    let emu = Emulator::start_with(config, StartOptions { listen: cli.listen, keys })
        .map_err(|e| format!("listen on {}: {e}", cli.listen))?;
    if let Some(p) = &cli.write_public_key {
        std::fs::write(p, emu.public_key_pem()).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(d) = &cli.write_dovecot_keys {
        emu.write_dovecot_key(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    println!("entra-emulator listening on {}", emu.base_url());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        emu.shutdown().await;
        Ok::<(), String>(())
    })
}
