//! The SQLite store: one file in the data directory, opened with WAL, foreign keys and a busy
//! timeout, migrated with `rusqlite_migration` (schema version in `PRAGMA user_version`).
//!
//! One connection behind a mutex is enough for a wizard and a CLI; front ends call the store from
//! a blocking thread (`spawn_blocking` / `#[tauri::command(async)]`), never from the UI thread.
//! Every change that the admin makes goes through a transaction that also writes the audit log,
//! so an error never leaves half of a change behind.
//!
//! The data directory is made 0700 and the database file 0600 before SQLite opens it (see
//! [`crate::paths`]); SQLite gives its `-wal` and `-shm` files the database file's mode, and
//! those left by an older version are tightened too.

mod audit;
mod migrations;

use crate::DetailKey;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use audit::{audit, list_audit, os_user};
pub use migrations::MIGRATIONS;

use crate::error::{Actor, ErrorKind, UiError};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot create the database {path} or make it private to this user: {source}")]
    Private { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the database {path} could not be migrated: {source}")]
    Migrate { path: PathBuf, source: rusqlite_migration::Error },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::DataDir { .. } => ErrorKind::DataDir,
            StoreError::Private { .. } | StoreError::Open { .. } | StoreError::Migrate { .. } | StoreError::Sql(_) => {
                ErrorKind::Storage
            }
        };
        UiError::new(kind, Actor::Support, e.to_string()).with(DetailKey::Reason, e.to_string())
    }
}

/// The app's database.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) `exo-setup.sqlite3` in `data_dir` and migrates it.
    pub fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        crate::paths::ensure_private_dir(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        Self::open(&data_dir.join(crate::paths::DB_FILE))
    }

    /// Opens (creating if needed) the database file at `path`, private to the user, and migrates
    /// it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        make_private(path).map_err(|source| StoreError::Private { path: path.to_owned(), source })?;
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        MIGRATIONS.to_latest(&mut conn).map_err(|source| StoreError::Migrate { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), conn: Mutex::new(conn) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for one unit of work. Callers hold it briefly.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The database file 0600 (created empty when new: SQLite treats an empty file as a new
/// database), and its `-wal`/`-shm` companions when an older version left them readable.
/// SQLite's in-memory (`:memory:`) and private temporary (empty name) databases have no file.
fn make_private(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    crate::paths::ensure_private_file(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        crate::paths::tighten_if_present(Path::new(&companion))?;
    }
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Current time as RFC 3339 (UTC, seconds), the format of every timestamp in the store.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_wal_foreign_keys_and_builtin_server() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let conn = store.conn();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
        let (name, enabled): (String, i64) = conn
            .query_row("SELECT name, enabled FROM mail_servers WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((name.as_str(), enabled), ("Exchange Online", 0));
    }

    #[test]
    fn builtin_server_cannot_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let err = store.conn().execute("DELETE FROM mail_servers WHERE id = 1", []).unwrap_err();
        assert!(err.to_string().contains("builtin"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_the_database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let files =
            |dir: &Path| ["exo-setup.sqlite3", "exo-setup.sqlite3-wal", "exo-setup.sqlite3-shm"].map(|f| dir.join(f));
        let parent = tempfile::tempdir().unwrap();
        let fresh = parent.path().join("data");
        let store = Store::open_in(&fresh).unwrap();
        audit(&store.conn(), "test", "private files", serde_json::json!({})).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        for f in files(&fresh) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        drop(store);

        // What an older version left (0755 and 0644) is tightened on open.
        let old = parent.path().join("old");
        drop(Store::open_in(&old).unwrap());
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = old.join(crate::paths::DB_FILE);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let wal = old.join("exo-setup.sqlite3-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open_in(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
        for f in files(&old) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn an_in_memory_database_creates_no_file() {
        let store = Store::open(Path::new(":memory:")).unwrap();
        assert_eq!(store.conn().query_row("SELECT count(*) FROM mail_servers", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
        assert!(!Path::new(":memory:").exists());
    }

    #[test]
    fn reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open_in(dir.path()).unwrap());
        let store = Store::open_in(dir.path()).unwrap();
        let n: i64 = store.conn().query_row("SELECT count(*) FROM mail_servers", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
