//! The exo-setup wizard: the Tauri window, a thin layer over `exo_setup_core`.
//!
//! Only this crate knows Tauri. Commands (`commands/`) are a few lines each: take the state,
//! move blocking SQLite work off the UI thread, call the core, return its result or its
//! `UiError`. The command line is its own crate (`src-tauri/cli`, `exo-setup-cli`) over the same
//! core; `exo-setup-gui` given a subcommand runs it through that crate's library.

mod commands;
mod flows;
mod gui;
pub mod invitations;
mod rollout_upkeep;
mod upkeep;

pub use gui::{run_app, AppState};
