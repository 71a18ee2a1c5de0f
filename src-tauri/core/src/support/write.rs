//! Writing the zip: into a temporary file in the target folder (private to the user: 0600 on
//! Unix), flushed to disk, then renamed to its name — so the name holds a whole bundle or nothing,
//! and a failure leaves no half-written file behind. An existing file is never replaced unless the
//! caller chose to (`overwrite`), and then only a regular file (never a FIFO, device or folder).

use crate::DetailKey;
use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::{Actor, ErrorKind, UiError};

/// `support_bundle_failed`: the bundle could not be written at `path`.
pub fn failed(path: &Path, reason: impl std::fmt::Display) -> UiError {
    UiError::new(
        ErrorKind::SupportBundleFailed,
        Actor::User,
        format!(
            "The support bundle could not be written to {}: {reason}. Nothing was left there. Choose a folder you can write to (and check the free space), then try again.",
            path.display()
        ),
    )
    .with(DetailKey::Path, path.display())
    .with(DetailKey::Reason, reason)
}

/// `export_exists`: `path` is taken and the caller did not choose to replace it.
fn exists(path: &Path) -> UiError {
    UiError::new(
        ErrorKind::ExportExists,
        Actor::User,
        format!(
            "{} already exists; exo-setup does not replace it unless asked (`--force`). Choose another name, or move that file away, then try again. Nothing was written.",
            path.display()
        ),
    )
    .with(DetailKey::Path, path.display())
}

/// Writes `entries` (name, content) as a deflated zip to `out`, atomically.
pub fn zip_to(
    out: &Path,
    overwrite: bool,
    entries: &[(String, Vec<u8>)],
    modified: zip::DateTime,
) -> Result<(), UiError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(failed(out, format!("{} is not a folder", parent.display()))),
        Err(e) => return Err(failed(out, format!("{}: {e}", parent.display()))),
    }
    if out.file_name().is_none() {
        return Err(failed(out, "no file name"));
    }
    match std::fs::symlink_metadata(out) {
        Ok(_) if !overwrite => return Err(exists(out)),
        Ok(m) if !m.is_file() => return Err(failed(
            out,
            "it exists and is not a regular file (a folder, a link, a named pipe or a device); it is never replaced",
        )),
        _ => {}
    }

    let mut tmp = tempfile::Builder::new()
        .prefix(".exo-setup-support-")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(|e| failed(out, e))?;
    {
        let mut zip = zip::ZipWriter::new(tmp.as_file_mut());
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(modified)
            .unix_permissions(0o600);
        for (name, bytes) in entries {
            zip.start_file(name.as_str(), options).map_err(|e| failed(out, e))?;
            zip.write_all(bytes).map_err(|e| failed(out, e))?;
        }
        zip.finish().map_err(|e| failed(out, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| failed(out, e))?;
    let persisted = if overwrite { tmp.persist(out) } else { tmp.persist_noclobber(out) };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            exists(out)
        } else {
            failed(out, e.error)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<(String, Vec<u8>)> {
        vec![("README.txt".to_owned(), b"hello".to_vec())]
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect()
    }

    #[test]
    fn an_existing_file_is_kept_unless_overwrite_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.zip");
        std::fs::write(&out, "mine").unwrap();
        let e = zip_to(&out, false, &entries(), zip::DateTime::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ExportExists);
        assert_eq!(std::fs::read(&out).unwrap(), b"mine");
        zip_to(&out, true, &entries(), zip::DateTime::default()).unwrap();
        assert!(std::fs::read(&out).unwrap().starts_with(b"PK"));
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_never_replaced_nor_a_file_as_folder_used() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.zip");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(
            zip_to(&fifo, true, &entries(), zip::DateTime::default()).unwrap_err().kind,
            ErrorKind::SupportBundleFailed
        );
        let e = zip_to(&fifo.join("b.zip"), false, &entries(), zip::DateTime::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SupportBundleFailed);
        assert!(e.message.contains("not a folder"), "{}", e.message);
        assert!(leftovers(dir.path()).is_empty());
    }
}
