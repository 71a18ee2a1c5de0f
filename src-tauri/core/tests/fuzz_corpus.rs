//! Replays every fuzz corpus (`fuzz/corpus/<target>/`) and every kept crash
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own entry points
//! (`exo_setup_core::fuzzing`), on the stable toolchain, as part of the ordinary test run: an
//! input a fuzzer once found crashing stays fixed without anyone running the fuzzer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use exo_setup_core::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly in `dir` (none when it does not exist), sorted for a stable order.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs one target over its files; returns "<file>: <panic message>" for each that panicked.
fn replay(name: &str, entry: fn(&[u8]), files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| entry(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}/{}: {why}", file.file_name().unwrap_or_default().to_string_lossy()));
        }
    }
    failures
}

#[test]
fn every_target_has_a_seed_corpus() {
    let dir = fuzz_dir().join("corpus");
    for (name, _) in TARGETS {
        assert!(!inputs(&dir.join(name)).is_empty(), "no seed corpus in fuzz/corpus/{name}");
    }
    // And no corpus without a target (a renamed target would silently stop being replayed).
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/corpus/{name} has no target");
    }
}

#[test]
fn seed_corpora_replay_without_a_panic() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, entry) in TARGETS {
        let files = inputs(&fuzz_dir().join("corpus").join(name));
        count += files.len();
        failures.extend(replay(name, *entry, &files));
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "{} of {count} inputs panicked:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn kept_crashes_stay_fixed() {
    let mut failures = Vec::new();
    for (name, entry) in TARGETS {
        failures.extend(replay(name, *entry, &inputs(&fuzz_dir().join("regressions").join(name))));
    }
    assert!(failures.is_empty(), "regressions are back:\n{}", failures.join("\n"));
}

/// The socket targets return without testing anything when no loopback port can be had (the
/// machine's limit, not the input's): make that visible here rather than a silent pass.
#[test]
fn a_loopback_port_can_be_had_for_the_socket_targets() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0));
    assert!(listener.is_ok(), "no loopback port: loopback_request and mail_replies replayed nothing ({listener:?})");
}
