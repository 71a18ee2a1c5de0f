//! The wizard started where there is no display (an SSH session, a service, a container) says so
//! and exits — GTK would otherwise panic at start-up. Both ways in: `exo-setup-gui` itself, and
//! `exo-setup` without a subcommand, which hands over to it.

use std::process::Command;

#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn without_a_display_the_wizard_explains_in_both_languages_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    for bin in [env!("CARGO_BIN_EXE_exo-setup-gui").to_owned(), cli_binary()] {
        let bin = bin.as_str();
        let out = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("EXO_SETUP_DATA_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {stderr}");
        assert!(stderr.contains("there is no display to show the wizard on"), "{bin}: {stderr}");
        assert!(stderr.contains("ウィザードを表示する画面がありません"), "{bin}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bin}: {stderr}");
        assert!(!dir.path().join("data").exists(), "{bin}: nothing is created");
    }
}

/// `exo-setup`, built by the CLI package (`src-tauri/cli`) next to this package's binaries
/// (`cargo test --workspace` builds both before running any test).
#[cfg(all(unix, not(target_os = "macos")))]
fn cli_binary() -> String {
    let name = if cfg!(windows) { "exo-setup.exe" } else { "exo-setup" };
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_exo-setup-gui")).with_file_name(name);
    assert!(path.exists(), "{} is missing: build the CLI first (cargo build -p exo-setup-cli)", path.display());
    path.display().to_string()
}
