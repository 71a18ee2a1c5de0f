//! Shared by the integration tests that scan logs for tokens: one global subscriber per test
//! binary — the app's own (`exo_setup_core::logging::subscriber`), opened up to TRACE everywhere,
//! dependencies' `log` records included — writing into a buffer the tests read.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub struct LogBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capture (once per test binary) and returns its buffer.
pub fn logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let app = exo_setup_core::logging::subscriber(
            tracing_subscriber::EnvFilter::new("trace"),
            move || writer.clone(),
            false,
        );
        tracing_subscriber::util::SubscriberInitExt::try_init(app).expect("the only subscriber of this test binary");
        buf
    })
}

/// Everything logged so far.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}
