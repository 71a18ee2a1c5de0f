//! Logging set-up of both binaries: stderr, or the file `EXO_SETUP_LOG_FILE` (appended; the test
//! suite scans it for token strings), filtered by `EXO_SETUP_LOG` (default `warn`). The core's
//! subscriber keeps the mail crates' wire tracing (which carries the access token) off whatever
//! the filter says. No log line ever holds a secret. A log file the app creates is private to the
//! user (0600 on Unix): it names mailboxes and servers.

use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXO_SETUP_LOG").unwrap_or_else(|_| "warn".into());
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = std::env::var_os("EXO_SETUP_LOG_FILE").and_then(|p| options.open(p).ok());
    use exo_setup_core::logging::subscriber;
    match file {
        Some(f) => subscriber(filter, std::sync::Mutex::new(f), false).init(),
        None => subscriber(filter, std::io::stderr, true).init(),
    }
}
