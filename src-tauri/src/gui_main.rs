//! `exo-setup-gui`: the wizard window (also reached through `exo-setup` without a subcommand, and
//! launched by the OS for the deep link). Given a subcommand it runs the CLI like `exo-setup`.
// In release builds on Windows, do not open a console window for the GUI.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser;
use exo_setup::cli::{self, Cli};
use exo_setup_core::{paths, Store};

fn main() -> ExitCode {
    exo_setup::logging::init();
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
