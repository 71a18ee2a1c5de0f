//! How `exo-setup` (the CLI, no Tauri inside) starts the wizard `exo-setup-gui`: the same
//! arguments, the same environment, the same process on Unix (`exec`), a child on Windows.
//! The one place with per-OS process handling.
//!
//! Which command lines open the wizard (rather than a subcommand) is decided in the core,
//! `exo_setup_core::launch_args`, re-exported here. The wizard's package builds `exo-setup-gui`;
//! both are installed side by side.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use rust_i18n::t;

pub use exo_setup_core::launch_args::{gui_launch, is_gui_launch, GuiLaunch, Handover};

/// The wizard binary's file name.
pub const GUI_BINARY: &str = if cfg!(windows) { "exo-setup-gui.exe" } else { "exo-setup-gui" };

fn gui_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.with_file_name(GUI_BINARY))
}

/// Runs the wizard with `args[1..]` and returns its exit code (on Unix it replaces this process).
pub fn run_gui_binary(args: &[String]) -> ExitCode {
    let Some(gui) = gui_path().filter(|p| p.exists()) else {
        // No subcommand was parsed, so no --lang: the locale's language.
        crate::lang::init(None);
        eprintln!("{}", t!("cli.launch.noWizard", binary = GUI_BINARY));
        return ExitCode::from(5);
    };
    let mut cmd = Command::new(&gui);
    cmd.args(&args[1..]);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        crate::lang::init(None);
        eprintln!(
            "{}",
            t!("cli.launch.startFailed", path = crate::output::shown(&gui.display().to_string()), error = err)
        );
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
            Err(err) => {
                crate::lang::init(None);
                eprintln!(
                    "{}",
                    t!("cli.launch.startFailed", path = crate::output::shown(&gui.display().to_string()), error = err)
                );
                ExitCode::FAILURE
            }
        }
    }
}
