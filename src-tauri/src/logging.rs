//! Logging set-up of both binaries: stderr, or the file `EXO_SETUP_LOG_FILE` (appended; the test
//! suite scans it for token strings), filtered by `EXO_SETUP_LOG` (default `warn`). The core's
//! subscriber keeps the mail crates' wire tracing (which carries the access token) off whatever
//! the filter says. No log line ever holds a secret.

use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXO_SETUP_LOG").unwrap_or_else(|_| "warn".into());
    let file = std::env::var_os("EXO_SETUP_LOG_FILE")
        .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    use exo_setup_core::logging::subscriber;
    match file {
        Some(f) => subscriber(filter, std::sync::Mutex::new(f), false).init(),
        None => subscriber(filter, std::io::stderr, true).init(),
    }
}
