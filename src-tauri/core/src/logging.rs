//! The app's logging set-up, shared by the binary and the tests: whatever `EXO_SETUP_LOG` asks
//! for, the wire tracing of the mail crates stays off.
//!
//! async-imap logs every command it writes at TRACE (target `async_imap::imap_stream`, through
//! `log`) — including the `AUTHENTICATE XOAUTH2` continuation, i.e. the access token. lettre logs
//! its wire at DEBUG when its `tracing` feature is on (it is off here, but another crate could turn
//! it on). So these targets are capped at INFO twice: the user's filter gets directives for them
//! ([`secure_filter`]), and a second filter ([`wire_guard`]) sits on top of the whole subscriber —
//! a more specific directive (`async_imap::imap_stream=trace`) or a span directive in
//! `EXO_SETUP_LOG` can override the first, never the second.

use tracing_subscriber::filter::{Directive, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Crates whose DEBUG/TRACE output is what goes over the wire of a mail check (secrets included).
pub const WIRE_TARGETS: &[&str] = &["async_imap", "imap_proto", "lettre"];

fn caps() -> impl Iterator<Item = Directive> {
    WIRE_TARGETS.iter().map(|t| format!("{t}=info").parse().expect("a valid directive"))
}

/// `base` with every [`WIRE_TARGETS`] capped at INFO.
pub fn secure_filter(base: EnvFilter) -> EnvFilter {
    caps().fold(base, EnvFilter::add_directive)
}

/// A filter that lets everything through but the [`WIRE_TARGETS`] above INFO. Added as a layer,
/// it turns those events off for the whole subscriber, whatever the other filters say.
pub fn wire_guard() -> EnvFilter {
    caps().fold(EnvFilter::new("trace"), EnvFilter::add_directive)
}

/// The subscriber the app logs through: `base` (from `EXO_SETUP_LOG`) made secure, written by
/// `writer`. Install it with `tracing_subscriber::util::SubscriberInitExt::init`/`try_init`
/// (which also routes `log` records, async-imap's included, through it).
pub fn subscriber<W>(base: EnvFilter, writer: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(secure_filter(base))
        .with_ansi(ansi)
        .with_writer(writer)
        .finish()
        .with(wire_guard())
}

/// Environment variable naming the file to log to (appended; the test suite scans it for token
/// strings).
pub const LOG_FILE_ENV: &str = "EXO_SETUP_LOG_FILE";

/// The folder inside the data directory where the wizard writes its logs (what a support bundle
/// carries; see `support`).
pub const LOG_DIR: &str = "logs";

/// How many of the wizard's daily log files are kept in [`log_dir`].
pub const KEEP_LOG_FILES: usize = 10;

/// `<data dir>/logs`.
pub fn log_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join(LOG_DIR)
}

/// The logging of both binaries (`exo-setup`, `exo-setup-gui`): stderr, or the file
/// `EXO_SETUP_LOG_FILE` (appended; the test suite scans it for token strings), filtered by
/// `EXO_SETUP_LOG` (default `warn`), through [`subscriber`]. No log line ever holds a secret. A
/// log file the app creates is private to the user (0600 on Unix): it names mailboxes and servers.
pub fn init() {
    init_with(None);
}

/// The wizard's logging: as [`init`], but without `EXO_SETUP_LOG_FILE` it writes to
/// `<data dir>/logs/exo-setup-YYYYMMDD.log` (one file a day, the newest [`KEEP_LOG_FILES`] kept,
/// default level `info`) rather than to a standard error nobody sees; that is what a support
/// bundle carries. When the folder cannot be written, standard error as before.
pub fn init_in(data_dir: &std::path::Path) {
    init_with(Some(data_dir));
}

fn init_with(data_dir: Option<&std::path::Path>) {
    use tracing_subscriber::util::SubscriberInitExt;
    let explicit = std::env::var_os(LOG_FILE_ENV).filter(|p| !p.is_empty());
    let default_level = if explicit.is_none() && data_dir.is_some() { "info" } else { "warn" };
    let filter = EnvFilter::try_from_env("EXO_SETUP_LOG").unwrap_or_else(|_| default_level.into());
    let file = match (explicit, data_dir) {
        (Some(p), _) => open_log(std::path::Path::new(&p)).ok(),
        (None, Some(dir)) => crate::paths::ensure_private_dir(dir).ok().and_then(|()| daily_file(&log_dir(dir))),
        (None, None) => None,
    };
    match file {
        Some(f) => subscriber(filter, std::sync::Mutex::new(f), false).init(),
        None => subscriber(filter, std::io::stderr, true).init(),
    }
}

/// Opens `path` for appending, private to the user.
fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Today's file in `dir` (created private), after removing all but the newest
/// [`KEEP_LOG_FILES`] - 1 older ones.
fn daily_file(dir: &std::path::Path) -> Option<std::fs::File> {
    crate::paths::ensure_private_dir(dir).ok()?;
    let name = format!("exo-setup-{}.log", chrono::Local::now().format("%Y%m%d"));
    let mut old: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .take(1_000)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("exo-setup-") && n.ends_with(".log"))
                && !p.ends_with(&name)
        })
        .collect();
    // The names sort by date.
    old.sort();
    let excess = (old.len() + 1).saturating_sub(KEEP_LOG_FILES);
    for p in old.iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
    open_log(&dir.join(name)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_targets_are_capped_in_both_filters() {
        let shown = secure_filter(EnvFilter::new("trace,async_imap=trace")).to_string();
        for t in WIRE_TARGETS {
            assert!(shown.contains(&format!("{t}=info")), "{shown}");
        }
        assert!(!shown.contains("async_imap=trace"), "{shown}");
        assert!(wire_guard().to_string().contains("async_imap=info"));
    }

    #[test]
    fn the_wizard_keeps_only_its_newest_daily_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = log_dir(dir.path());
        std::fs::create_dir_all(&logs).unwrap();
        for day in 1..=12 {
            std::fs::write(logs.join(format!("exo-setup-202511{day:02}.log")), "x").unwrap();
        }
        std::fs::write(logs.join("other.txt"), "x").unwrap();
        assert!(daily_file(&logs).is_some());
        let mut names: Vec<String> =
            std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let today = format!("exo-setup-{}.log", chrono::Local::now().format("%Y%m%d"));
        assert!(names.contains(&today) && names.contains(&"other.txt".to_owned()), "{names:?}");
        assert_eq!(names.iter().filter(|n| n.ends_with(".log")).count(), KEEP_LOG_FILES, "{names:?}");
        assert!(!names.contains(&"exo-setup-20251101.log".to_owned()), "the oldest was kept: {names:?}");
    }
}
