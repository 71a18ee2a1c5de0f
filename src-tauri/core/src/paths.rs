//! Where the database lives. The platform data directory by default; tests and scripted use
//! point it elsewhere with `--data-dir` or `EXO_SETUP_DATA_DIR` so they never touch a real
//! installation's data.

use std::path::PathBuf;

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "EXO_SETUP_DATA_DIR";

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "exo-setup.sqlite3";

/// Resolves the data directory: explicit flag, then the environment, then the platform default
/// (`~/.local/share/dev.exosetup.wizard` on Linux, `%APPDATA%\…` on Windows,
/// `~/Library/Application Support/…` on macOS).
pub fn data_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from_path(PathBuf::from(crate::identity::IDENTIFIER))
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".").join(crate::identity::IDENTIFIER))
}
