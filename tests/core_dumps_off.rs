//! Both binaries turn core dumps off before anything else (a core would hold the tokens): seen
//! from outside, in `/proc/PID/limits`, while the process is held at its first file open — its
//! log file is a FIFO nobody reads yet. The soft limit is raised first, as a developer's shell
//! with `ulimit -c unlimited` would, so only the app itself can have set it to 0.

#[cfg(target_os = "linux")]
#[test]
fn both_binaries_run_with_no_core_size() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    for bin in [cli_binary(), env!("CARGO_BIN_EXE_exo-setup-gui").to_owned()] {
        let bin = bin.as_str();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        assert!(Command::new("mkfifo").arg(&log).status().unwrap().success());
        let mut child = Command::new("sh")
            .args(["-c", r#"ulimit -S -c unlimited && exec "$0" "$@""#, bin, "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["server", "show"])
            .env("EXO_SETUP_LOG_FILE", &log)
            .env_remove("EXO_SETUP_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let limits = format!("/proc/{}/limits", child.id());
        let core_line = |text: &str| text.lines().find(|l| l.starts_with("Max core file size")).map(str::to_owned);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = String::new();
        // Wait until the program (not the shell) runs: the exec has happened once cmdline names it.
        while Instant::now() < deadline {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
            if cmdline.starts_with(bin.as_bytes()) {
                seen = core_line(&std::fs::read_to_string(&limits).unwrap_or_default()).unwrap_or_default();
                if seen.split_whitespace().nth(4) == Some("0") {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Let it go on: open the FIFO for reading, then end it.
        let _reader = std::fs::File::open(&log).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.split_whitespace().nth(4), Some("0"), "{bin}: {seen}");
    }
}

/// `exo-setup`, built by the CLI package (`src-tauri/cli`) next to this package's binaries
/// (`cargo test --workspace` builds both before running any test).
#[cfg(target_os = "linux")]
fn cli_binary() -> String {
    let name = if cfg!(windows) { "exo-setup.exe" } else { "exo-setup" };
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_exo-setup-gui")).with_file_name(name);
    assert!(path.exists(), "{} is missing: build the CLI first (cargo build -p exo-setup-cli)", path.display());
    path.display().to_string()
}
