//! How `exo-setup` (the CLI, no Tauri inside) starts the wizard `exo-setup-gui`: the same
//! arguments, the same environment, the same process on Unix (`exec`), a child on Windows.
//! The one place with per-OS process handling.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The wizard binary's file name.
pub const GUI_BINARY: &str = if cfg!(windows) { "exo-setup-gui.exe" } else { "exo-setup-gui" };

/// True when these arguments open the wizard: none (besides `--data-dir`), or a deep link as the
/// only argument (the OS launching the app for a redirect).
pub fn is_gui_launch(args: &[String]) -> bool {
    let scheme = format!("{}:", exo_setup_core::identity::DEEP_LINK_SCHEME);
    match args.len() {
        1 => true,
        2 => args[1].starts_with(&scheme),
        _ => false,
    }
}

fn gui_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.with_file_name(GUI_BINARY))
}

/// Runs the wizard with `args[1..]` and returns its exit code (on Unix it replaces this process).
pub fn run_gui_binary(args: &[String]) -> ExitCode {
    let Some(gui) = gui_path().filter(|p| p.exists()) else {
        eprintln!(
            "exo-setup: the wizard ({GUI_BINARY}) is not installed next to this program; \
             reinstall exo-setup, or build it with `cargo build --features prod --bin exo-setup-gui`."
        );
        return ExitCode::from(5);
    };
    let mut cmd = Command::new(&gui);
    cmd.args(&args[1..]);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        eprintln!("exo-setup: could not start {}: {err}", gui.display());
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
            Err(err) => {
                eprintln!("exo-setup: could not start {}: {err}", gui.display());
                ExitCode::FAILURE
            }
        }
    }
}
