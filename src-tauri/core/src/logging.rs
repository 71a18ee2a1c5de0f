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
}
