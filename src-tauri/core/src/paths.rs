//! Where the database lives. The platform data directory by default; tests and scripted use
//! point it elsewhere with `--data-dir` or `EXO_SETUP_DATA_DIR` so they never touch a real
//! installation's data.
//!
//! The data directory and the files the app keeps in it are private to the user (0700 and 0600
//! on Unix, whatever the umask): the database names the organization's tenant, application and
//! every mailbox, and the audit log who did what — nothing other local users should read.
//! Opening tightens what an older version (0755, 0644) left. Files the user exports or saves
//! elsewhere keep the user's umask: where they go is the user's choice.

use std::path::{Path, PathBuf};

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

/// Creates `dir` (and its missing parents) if needed and makes it private: mode 0700 on Unix.
/// An existing directory is tightened only when it is the user's own and not a shared sticky
/// directory (pointing `--data-dir` at `/tmp` must not lock everyone else out of it).
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        let meta = std::fs::metadata(dir)?;
        let own = Some(meta.uid()) == crate::trusted_file::current_uid();
        #[allow(clippy::unnecessary_cast, reason = "mode_t is u16 on macOS, u32 on Linux")]
        let sticky = meta.mode() & libc::S_ISVTX as u32 != 0;
        if meta.mode() & 0o7777 != 0o700 && own && !sticky {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes the file at `path` private (mode 0600 on Unix), creating it empty if it does not exist.
/// A symbolic link there is refused (`O_NOFOLLOW`), never followed.
pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new().write(true).create(true).open(path).map(drop)
    }
}

/// Makes an existing file private (mode 0600 on Unix); nothing when there is none.
pub fn tighten_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => ensure_private_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
