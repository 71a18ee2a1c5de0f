//! Shared by the core's integration tests.
//!
//! The shared fixtures ([`fixtures`]: store, organization, accounts, consent, sign-in); the test
//! browser ([`browse`]) and URL helpers; and, for the tests that scan logs for tokens, one global subscriber per test
//! binary — the app's own (`exo_setup_core::logging::subscriber`), opened up to TRACE everywhere,
//! dependencies' `log` records included — writing into a buffer the tests read.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

mod dovecot_store;
mod fixtures;
#[allow(unused_imports)] // a test binary that needs no fixture still includes this module
pub use dovecot_store::*;
#[allow(unused_imports)]
pub use fixtures::*;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use url::Url;

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

// ---------------------------------------------------------------------------------------------
// The test browser and URL helpers.

/// The test browser: one GET, the `Location` it answers with.
pub async fn browse(url: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http.get(url).send().await.unwrap();
    let status = resp.status();
    match resp.headers().get("location") {
        Some(l) => l.to_str().unwrap().to_owned(),
        None => panic!("no redirect from {url}: HTTP {status}: {}", resp.text().await.unwrap_or_default()),
    }
}

pub fn with_param(url: &str, key: &str, value: Option<&str>) -> String {
    let mut u = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().filter(|(k, _)| k != key).collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(key, v);
        }
    }
    u.to_string()
}

pub fn param(url: &str, key: &str) -> Option<String> {
    Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

// ---------------------------------------------------------------------------------------------
// Token scans: whether bytes (a file, a zip entry, a payload) hold any of the secrets a test made.

/// `needle` occurs in `haystack` (an empty needle never does).
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The `secrets` that occur in `haystack`.
pub fn secrets_in<'a>(haystack: &[u8], secrets: &'a [String]) -> Vec<&'a str> {
    secrets.iter().filter(|s| holds(haystack, s)).map(String::as_str).collect()
}
