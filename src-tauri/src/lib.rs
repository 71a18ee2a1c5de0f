//! The exo-setup application shell: the Tauri window and the command-line interface, both thin
//! layers over `exo_setup_core`.
//!
//! Only this crate knows Tauri. Commands (`commands/`) are a few lines each: take the state,
//! move blocking SQLite work off the UI thread, call the core, return its result or its
//! `UiError`. The CLI (`cli.rs`) calls the same core functions.

pub mod cli;
mod commands;
mod flows;
mod gui;
pub mod invitations;
pub mod launch;
pub mod logging;
mod upkeep;

pub use gui::{run_app, AppState};
