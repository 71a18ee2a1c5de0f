//! Crash points for the crash-consistency tests: [`point`] aborts the process on the spot when
//! the environment variable [`FAULT_ENV`] names it (several names: comma-separated).
//!
//! Why abort and not panic: a panic unwinds, runs destructors and rolls transactions back
//! politely; `abort` is what a power cut or `kill -9` does — nothing after it runs. The points
//! sit at each write boundary (SQLite transaction, keychain write) of sign-in, sign-out,
//! account removal, CSV import and invitation accept, so that a test can stop the CLI there and
//! check that what is left is consistent and repaired on the next run.
//!
//! Only debug builds have the hook: in release builds [`point`] is an empty inline function, so
//! an installed app can never be aborted through its environment.

/// The environment variable naming the point(s) to abort at.
pub const FAULT_ENV: &str = "EXO_SETUP_FAULT";

/// Every point, in the order of the writes they separate (the tests iterate over them).
pub const POINTS: &[&str] = &[
    // Sign-in: ledger row → refresh token → access token → status + audit.
    "signin.before_keychain",
    "signin.after_refresh_token",
    "signin.after_keychain",
    "signin.after_status",
    // Sign-out: keychain items deleted → status + audit.
    "signout.after_keychain",
    // Account removal: keychain items deleted → account row, ledger rows + audit.
    "delete.after_keychain",
    "delete.before_commit",
    // CSV import: all rows written, transaction not committed / committed.
    "csv.before_commit",
    "csv.after_commit",
    // Invitation accept: settings, servers, mailbox written, not committed / committed.
    "invite.before_commit",
    "invite.after_commit",
    // Rollout: the server took a mail, its row not marked sent yet.
    "rollout.after_data",
];

/// Aborts the process when [`FAULT_ENV`] names `name` (debug builds only).
#[cfg(debug_assertions)]
pub fn point(name: &'static str) {
    debug_assert!(POINTS.contains(&name), "unknown fault point {name}");
    let Ok(wanted) = std::env::var(FAULT_ENV) else { return };
    if wanted.split(',').any(|w| w.trim() == name) {
        eprintln!("exo-setup: fault point {name} reached: aborting ({FAULT_ENV})");
        std::process::abort();
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &'static str) {}
