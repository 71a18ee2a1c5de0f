//! `exo-setup`: the command line, and the launcher of the wizard.
//!
//! With a subcommand it runs the CLI and never loads the GUI: this crate does not depend on Tauri
//! or WebKit, so `exo-setup token <address>` — what mail clients run on every connection — starts
//! in a few milliseconds. Without one (or with a deep link or an invitation file as the only
//! argument: the OS opening something with the app) it hands over to the wizard,
//! `exo-setup-gui` next to it, with the same arguments (see [`exo_setup_cli::launch`]).

use std::process::ExitCode;

use clap::Parser;
use exo_setup_cli::{launch, Cli};
use exo_setup_core::paths;

fn main() -> ExitCode {
    // Before any secret exists: a core dump would hold the tokens (see process_hardening).
    if let Err(e) = exo_setup_core::process_hardening::disable_core_dumps() {
        eprintln!("exo-setup: warning: core dumps could not be turned off: {e}");
    }
    let args: Vec<String> = std::env::args().collect();
    if launch::is_gui_launch(&args) {
        return launch::run_gui_binary(&args);
    }
    exo_setup_core::logging::init();
    let cli = Cli::parse();
    let data_dir = paths::data_dir(cli.data_dir.clone());
    match cli.command {
        Some(command) => exo_setup_cli::run(data_dir, cli.lang, command),
        None => launch::run_gui_binary(&args),
    }
}
