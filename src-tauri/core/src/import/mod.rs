//! The import pipeline every source of accounts goes through (a CSV file today, the directory
//! next): **stage → compare → apply**.
//!
//! Why staging in SQLite: an organization's file or directory can hold a million people, and
//! keeping every row, every row error and every existing account in Rust collections made memory
//! grow with the input (568 MB for a million rows, 892 MB to re-import them). Here a source
//! checks each row on its own as it reads it and hands it to [`Staging`], which writes it to a
//! TEMP table on the store's own connection (a file SQLite deletes itself, with a small page
//! cache), in batched prepared inserts. Everything that needs more than one row — duplicates in
//! the input, the comparison with the store, the counts, the preview, the error list — is then
//! SQL over indexes ([`Staged`]), and the apply is set-based SQL in ONE transaction that first
//! compares again, so what is written is what the store holds at that moment. Memory stays flat
//! whatever the input's size; no row and no row error is ever dropped: the errors stay in the
//! staging table and are paged out ([`Staged::errors`], [`Staged::for_each_error`]).
//!
//! Only one import is staged at a time per connection (the store's connection is behind a mutex
//! held for the whole import); the staging tables are dropped when the [`Staged`] import is.

mod apply;
mod compare;
mod staging;

pub use apply::Applied;
pub use staging::{row_error, Staged, Staging, Summary};

/// Row errors returned in one IPC answer: the first ones, with the exact total beside them.
pub const ERRORS_SHOWN: u32 = 1000;
