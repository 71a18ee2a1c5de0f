//! The recent logs a bundle carries: the file `EXO_SETUP_LOG_FILE` names (when set) and the newest
//! files of the data directory's `logs/` folder (where the wizard writes, see
//! [`crate::logging::init_in`]). Each is read through [`crate::bounded`] — only a regular file
//! (a FIFO or a device is skipped, never opened for a blocking read), and only its last
//! [`MAX_LOG_BYTES`] — then scrubbed line by line.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::bounded;
use crate::logging;

use super::redact::Redactor;

/// How many log files a bundle carries at most (the newest).
pub const MAX_LOG_FILES: usize = 5;

/// How much of each log file a bundle carries at most: its last 2 MiB.
pub const MAX_LOG_BYTES: u64 = 2 * 1024 * 1024;

/// How many names of the logs folder are looked at, at most (the folder is ours, but bounded all
/// the same).
const MAX_DIR_ENTRIES: usize = 1_000;

/// The log files to bundle: `explicit` first (the file the current process logs to), then the
/// newest `*.log` files of `<data dir>/logs`, [`MAX_LOG_FILES`] in all.
pub fn sources(data_dir: &Path, explicit: Option<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = explicit.into_iter().collect();
    let dir = logging::log_dir(data_dir);
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .take(MAX_DIR_ENTRIES)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| (std::fs::symlink_metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    for (_, p) in found {
        if out.len() >= MAX_LOG_FILES {
            break;
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.truncate(MAX_LOG_FILES);
    out
}

/// A log file as bundled, or why it was left out.
pub enum Bundled {
    Log {
        /// The name inside the zip (`logs/<file name>`).
        name: String,
        text: String,
        /// Bytes left out at the start (the file was longer than [`MAX_LOG_BYTES`]).
        skipped: u64,
        /// Lines dropped whole: the mail crates' DEBUG/TRACE wire, which the log guard keeps out.
        dropped_lines: u64,
    },
    Skipped {
        path: PathBuf,
        reason: String,
    },
}

/// Reads the last [`MAX_LOG_BYTES`] of `path` (a regular file only) and scrubs each line.
pub fn bundle(path: &Path, redactor: &mut Redactor) -> Bundled {
    let (bytes, skipped) = match tail(path) {
        Ok(t) => t,
        Err(e) => return Bundled::Skipped { path: path.to_owned(), reason: e.to_string() },
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if skipped > 0 {
        // The first line was cut: drop what is left of it.
        text = text.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
    }
    let mut out = String::with_capacity(text.len());
    let mut dropped = 0;
    for line in text.lines() {
        if is_wire_line(line) {
            dropped += 1;
            continue;
        }
        out.push_str(&redactor.scrub(line));
        out.push('\n');
    }
    redactor.count("mail protocol wire line dropped", dropped);
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "log".to_owned());
    Bundled::Log { name: format!("logs/{file}"), text: out, skipped, dropped_lines: dropped }
}

/// The last [`MAX_LOG_BYTES`] of a regular file, and how many bytes came before them.
fn tail(path: &Path) -> Result<(Vec<u8>, u64), bounded::BoundedError> {
    let io = |source| bounded::BoundedError::Io { path: path.to_owned(), source };
    let mut file = bounded::open_regular(path)?;
    let len = file.metadata().map_err(io)?.len();
    let start = len.saturating_sub(MAX_LOG_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    // The file may grow while it is read: take at most the cap, never fail for it.
    bounded::capped(file, MAX_LOG_BYTES)
        .take(MAX_LOG_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| bounded::classify(path, e))?;
    Ok((bytes, start))
}

/// A DEBUG or TRACE line of one of [`logging::WIRE_TARGETS`]: what the log guard never lets
/// through (it would hold the XOAUTH2 string). The app's own files have none; another
/// subscriber's might.
fn is_wire_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(_time), Some(level)) = (words.next(), words.next()) else {
        return false;
    };
    if level != "DEBUG" && level != "TRACE" {
        return false;
    }
    let rest = words.collect::<Vec<_>>().join(" ");
    logging::WIRE_TARGETS.iter().any(|t| {
        rest.starts_with(&format!("{t}:")) || rest.contains(&format!(" {t}::")) || rest.starts_with(&format!("{t}::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::redact::AddressMode;

    #[test]
    fn wire_lines_are_recognized() {
        assert!(is_wire_line("2026-12-05T00:00:00Z TRACE async_imap::imap_stream: A1 AUTHENTICATE XOAUTH2"));
        assert!(is_wire_line("2026-12-05T00:00:00Z DEBUG lettre: >> AUTH XOAUTH2"));
        assert!(!is_wire_line("2026-12-05T00:00:00Z  INFO async_imap::imap_stream: connected"));
        assert!(!is_wire_line("2026-12-05T00:00:00Z DEBUG exo_setup::ipc: payload"));
    }

    #[test]
    fn only_the_tail_of_a_long_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        let line = "2026-12-05T00:00:00Z  INFO x: y\n";
        let n = (MAX_LOG_BYTES as usize / line.len()) + 100;
        std::fs::write(&p, line.repeat(n)).unwrap();
        let mut r = Redactor::new(Vec::new(), AddressMode::Keep);
        match bundle(&p, &mut r) {
            Bundled::Log { text, skipped, .. } => {
                assert!(skipped > 0);
                assert!(text.len() as u64 <= MAX_LOG_BYTES);
                assert!(text.lines().all(|l| l == line.trim_end()), "a cut line was kept");
            }
            Bundled::Skipped { reason, .. } => panic!("{reason}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_skipped_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pipe.log");
        assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
        let mut r = Redactor::new(Vec::new(), AddressMode::Keep);
        assert!(matches!(bundle(&p, &mut r), Bundled::Skipped { .. }));
    }

    #[test]
    fn the_newest_files_of_the_logs_folder_come_after_the_explicit_one() {
        let dir = tempfile::tempdir().unwrap();
        let logs = logging::log_dir(dir.path());
        std::fs::create_dir_all(&logs).unwrap();
        for i in 0..8 {
            std::fs::write(logs.join(format!("exo-setup-2026120{i}.log")), "x").unwrap();
        }
        std::fs::write(logs.join("notes.txt"), "x").unwrap();
        let explicit = dir.path().join("other.log");
        let found = sources(dir.path(), Some(explicit.clone()));
        assert_eq!(found.len(), MAX_LOG_FILES);
        assert_eq!(found[0], explicit);
        assert!(found[1..].iter().all(|p| p.extension().unwrap() == "log" && p.starts_with(&logs)));
    }
}
