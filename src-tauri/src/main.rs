//! exo-setup: without arguments opens the wizard; with a subcommand runs the CLI.
// In release builds on Windows, do not open a console window for the GUI.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser;
use exo_setup::cli::{self, Cli};
use exo_setup_core::{paths, Store};

fn main() -> ExitCode {
    init_logging();
    // A deep link can launch the app cold with the URL as its only argument: that is the GUI.
    let args: Vec<String> = std::env::args().collect();
    let is_deep_link =
        args.len() == 2 && args[1].starts_with(&format!("{}:", exo_setup_core::identity::DEEP_LINK_SCHEME));
    let cli = if is_deep_link { Cli { data_dir: None, command: None } } else { Cli::parse() };
    let data_dir = paths::data_dir(cli.data_dir.clone());
    match cli.command {
        Some(command) => cli::run(data_dir, command),
        None => {
            let store = match Store::open_in(&data_dir) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("exo-setup: {e}");
                    return ExitCode::from(5);
                }
            };
            if let Err(e) = exo_setup::run_app(tauri::Builder::default(), data_dir, store) {
                eprintln!("exo-setup: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}

/// Logs go to stderr, or to the file `EXO_SETUP_LOG_FILE` (appended; the test suite scans it for
/// token strings), filtered by `EXO_SETUP_LOG` (default `warn`). No log line ever holds a secret.
fn init_logging() {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXO_SETUP_LOG").unwrap_or_else(|_| "warn".into());
    let file = std::env::var_os("EXO_SETUP_LOG_FILE")
        .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    // The core's subscriber: whatever EXO_SETUP_LOG says, the mail crates' wire tracing (which
    // carries the access token) stays off.
    use exo_setup_core::logging::subscriber;
    match file {
        Some(f) => subscriber(filter, std::sync::Mutex::new(f), false).init(),
        None => subscriber(filter, std::io::stderr, true).init(),
    }
}
