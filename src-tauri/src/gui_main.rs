//! `exo-setup-gui`: the wizard window (also reached through `exo-setup` without a subcommand, and
//! launched by the OS for a deep link or an invitation file). Given a subcommand it runs the CLI
//! like `exo-setup`. Without a display (Linux: neither `DISPLAY` nor `WAYLAND_DISPLAY`) it says
//! so in Japanese and English and exits with 1 instead of letting GTK panic.
// In release builds on Windows, do not open a console window for the GUI.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use clap::Parser;
use exo_setup_cli::Cli;
use exo_setup_core::launch_args as launch;
use exo_setup_core::{paths, Store};

fn main() -> ExitCode {
    // Before any secret exists: a core dump would hold the tokens (see process_hardening).
    if let Err(e) = exo_setup_core::process_hardening::disable_core_dumps() {
        eprintln!("exo-setup: warning: core dumps could not be turned off: {e}");
    }
    // The OS may launch the app cold with a deep link or an invitation file as the only argument:
    // that is the GUI, and clap must not read it as a subcommand.
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().ok();
    let gui = match launch::gui_launch(&args, cwd.as_deref()) {
        Some(gui) => gui,
        None => {
            let cli = Cli::parse();
            let data_dir = paths::data_dir(cli.data_dir.clone());
            match cli.command {
                Some(command) => {
                    exo_setup_core::logging::init();
                    return exo_setup_cli::run(data_dir, cli.lang, command);
                }
                None => launch::GuiLaunch { data_dir: Some(data_dir), handover: None },
            }
        }
    };
    if !display_available() {
        eprintln!("{NO_DISPLAY}");
        return ExitCode::FAILURE;
    }
    let data_dir = paths::data_dir(gui.data_dir);
    // The wizard logs to the data folder's logs/ (what a support bundle carries), unless
    // EXO_SETUP_LOG_FILE names a file.
    exo_setup_core::logging::init_in(&data_dir);
    let store = match Store::open_in(&data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("exo-setup: {e}");
            return ExitCode::from(5);
        }
    };
    if let Err(e) = exo_setup::run_app(tauri::Builder::default(), data_dir, store, gui.handover) {
        eprintln!("exo-setup: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// What the wizard says, in both languages (its window's language is chosen in the window), when
/// it has no display to open its window on.
const NO_DISPLAY: &str = "exo-setup: ウィザードを表示する画面がありません (DISPLAY も WAYLAND_DISPLAY も設定されていません)。デスクトップのセッションから起動するか、コマンドライン (exo-setup --help) を使用してください。
exo-setup: there is no display to show the wizard on (neither DISPLAY nor WAYLAND_DISPLAY is set). Start it from a desktop session, or use the command line (exo-setup --help).";

/// On Linux and the BSDs the window needs an X11 or Wayland display, and GTK panics at start-up
/// without one; Windows and macOS always have their window server.
fn display_available() -> bool {
    if cfg!(any(windows, target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}
