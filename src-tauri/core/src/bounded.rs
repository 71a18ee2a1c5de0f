//! Reading a file the user, the administrator or the OS named, without trusting what it is.
//!
//! Why: every file input (CSV import, `.exoinvite` files, the managed policy) is a path someone
//! else chose. Checking the size from the path's metadata and then reading without a limit lets
//! `/dev/zero` fill memory, a FIFO with no writer hang the process forever, and a file that grows
//! between the check and the read get past the check. So here:
//! - the path is opened without ever blocking (Unix: `O_NONBLOCK | O_NOCTTY`, so a FIFO with no
//!   writer opens at once and a terminal never becomes our controlling one);
//! - the *opened handle's* metadata decides (no time-of-check/time-of-use gap): anything that is
//!   not a regular file (FIFO, character or block device, directory, socket) is refused at once,
//!   before a byte is read;
//! - at most `limit + 1` bytes are ever read, so "too large" is detected by reading one byte past
//!   the limit, never by trusting the size the file system reports (`/proc` files report 0).
//!
//! Callers map [`BoundedError::TooLarge`] and [`BoundedError::Io`] to their own kinds
//! (`csv_too_large`, `invite_too_large`, `policy_invalid`, …); [`BoundedError::into_ui`] gives the
//! generic ones of the [`crate::ErrorArea::File`] area.

use crate::DetailKey;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::{Actor, ErrorKind, UiError};

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    /// The path names something other than a regular file; nothing was read from it.
    #[error("{} is {what}, not a regular file", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    /// The file holds more than `limit` bytes; at most `limit + 1` were read.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        path: PathBuf,
        limit: u64,
        /// The size the file system reports, when it already shows the file is too large.
        size: Option<u64>,
    },
    /// Opening or reading failed (missing, no permission, not UTF-8, …).
    #[error("{} could not be read: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl BoundedError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotRegular { path, .. } | Self::TooLarge { path, .. } | Self::Io { path, .. } => path,
        }
    }

    /// The generic `UiError` (a kind of the [`crate::ErrorArea::File`] area); `actor` is whoever chose the file.
    pub fn into_ui(self, actor: Actor) -> UiError {
        let path = self.path().display().to_string();
        match self {
            Self::NotRegular { what, .. } => UiError::new(
                ErrorKind::FileNotRegular,
                actor,
                format!("{path} is {what}, not a regular file; exo-setup reads only regular files (a named pipe or a device could hang it or never end). Choose the file itself. Nothing was read or changed."),
            )
            .with(DetailKey::Path, path)
            .with(DetailKey::What, what),
            Self::TooLarge { limit, .. } => UiError::new(
                ErrorKind::FileTooLarge,
                actor,
                format!("{path} is larger than {limit} bytes, the most exo-setup reads from such a file; check that it is the right file. Nothing was changed."),
            )
            .with(DetailKey::Path, path)
            .with(DetailKey::Limit, limit),
            Self::Io { source, .. } => UiError::new(
                ErrorKind::FileUnreadable,
                actor,
                format!("{path} could not be read: {source}. Check that the file exists and that you may read it. Nothing was changed."),
            )
            .with(DetailKey::Path, path)
            .with(DetailKey::Error, source),
        }
    }
}

/// Opens `path` for reading if it is a regular file, without blocking on a FIFO or a device.
///
/// The returned `File` is in ordinary blocking mode. Use [`capped`] on it (or [`open_capped`])
/// so that a file that grows after the check is still read only up to a limit.
pub fn open_regular(path: &Path) -> Result<File, BoundedError> {
    let io_err = |source| BoundedError::Io { path: path.to_owned(), source };
    let file = open_nonblocking(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(BoundedError::NotRegular { path: path.to_owned(), what: describe(&meta.file_type()) });
    }
    restore_blocking(&file).map_err(io_err)?;
    Ok(file)
}

/// Opens `path` as [`open_regular`] does and returns a reader that fails once more than `limit`
/// bytes would be read (see [`CappedReader`]); a file whose reported size is already over the
/// limit is refused before reading.
pub fn open_capped(path: &Path, limit: u64) -> Result<CappedReader<File>, BoundedError> {
    let file = open_regular(path)?;
    let size = file.metadata().map_err(|source| BoundedError::Io { path: path.to_owned(), source })?.len();
    if size > limit {
        return Err(BoundedError::TooLarge { path: path.to_owned(), limit, size: Some(size) });
    }
    Ok(capped(file, limit))
}

/// Reads the whole regular file at `path`, at most `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedError> {
    let mut reader = open_capped(path, limit)?;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| classify(path, e))?;
    Ok(bytes)
}

/// Reads the whole regular file at `path` as UTF-8 text, at most `limit` bytes.
pub fn read_string(path: &Path, limit: u64) -> Result<String, BoundedError> {
    let bytes = read_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| BoundedError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")),
    })
}

/// Turns an I/O error from a [`CappedReader`] over `path` into a [`BoundedError`]:
/// [`BoundedError::TooLarge`] when the cap was hit, [`BoundedError::Io`] otherwise.
pub fn classify(path: &Path, e: io::Error) -> BoundedError {
    match limit_exceeded(&e) {
        Some(limit) => BoundedError::TooLarge { path: path.to_owned(), limit, size: None },
        None => BoundedError::Io { path: path.to_owned(), source: e },
    }
}

/// The limit, if `e` is the error a [`CappedReader`] returns when its limit is exceeded.
pub fn limit_exceeded(e: &io::Error) -> Option<u64> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<LimitExceeded>()).map(|l| l.0)
}

/// The error inside the `io::Error` of a [`CappedReader`] past its limit.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} bytes")]
pub struct LimitExceeded(pub u64);

/// Wraps `inner` so that reading more than `limit` bytes fails (see [`CappedReader`]).
pub fn capped<R: Read>(inner: R, limit: u64) -> CappedReader<R> {
    CappedReader { inner: inner.take(limit + 1), limit, delivered: 0 }
}

/// A reader that delivers at most `limit` bytes and then, if the source has more, fails with an
/// `io::Error` carrying [`LimitExceeded`] (never silently truncates: a cut CSV would import half).
/// It reads at most `limit + 1` bytes from the source.
pub struct CappedReader<R> {
    inner: io::Take<R>,
    limit: u64,
    delivered: u64,
}

impl<R> CappedReader<R> {
    /// The limit this reader enforces.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        let after = self.delivered + n as u64;
        if after > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, LimitExceeded(self.limit)));
        }
        self.delivered = after;
        Ok(n)
    }
}

/// What a non-regular file is, in words for the message.
fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one;
    // O_NOCTTY: opening a terminal device never makes it our controlling terminal.
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

/// Clears `O_NONBLOCK` again, so that reads behave as usual (for a regular file it changes
/// nothing the kernel does, but callers get the file they expect).
#[cfg(unix)]
fn restore_blocking(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Windows: opening never blocks on a named pipe the way a Unix FIFO does; the handle's
/// metadata (`is_file`) refuses pipes, devices and folders.
#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(not(unix))]
fn restore_blocking(_file: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` in a thread and fails the test if it has not returned within 5 s (a hang).
    fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("the read did not return within 5 s (it blocked)")
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_bytes(&p, 5).unwrap(), b"hello");
        assert_eq!(read_string(&p, 100).unwrap(), "hello");
        let mut s = String::new();
        open_capped(&p, 5).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn a_file_one_byte_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "hello!").unwrap();
        match read_bytes(&p, 5).unwrap_err() {
            BoundedError::TooLarge { limit: 5, size: Some(6), .. } => {}
            e => panic!("{e:?}"),
        }
        assert_eq!(read_bytes(&p, 5).unwrap_err().into_ui(Actor::User).kind, ErrorKind::FileTooLarge);
    }

    #[test]
    fn a_source_longer_than_it_claims_is_cut_after_limit_plus_one_bytes() {
        // What a file that grows after the size check (or a /proc file reporting 0) looks like.
        let endless = io::repeat(b'x');
        let mut counted = CountingReader { inner: endless, read: 0 };
        let mut buf = Vec::new();
        let e = capped(&mut counted, 1000).read_to_end(&mut buf).unwrap_err();
        assert_eq!(limit_exceeded(&e), Some(1000));
        assert!(counted.read <= 1001, "read {} bytes", counted.read);
        assert!(matches!(classify(Path::new("x"), e), BoundedError::TooLarge { limit: 1000, size: None, .. }));
    }

    #[test]
    fn a_proc_file_reporting_size_zero_is_still_capped() {
        #[cfg(target_os = "linux")]
        {
            let p = Path::new("/proc/self/status");
            assert_eq!(std::fs::metadata(p).unwrap().len(), 0);
            assert!(matches!(read_bytes(p, 10).unwrap_err(), BoundedError::TooLarge { limit: 10, .. }));
            assert!(!read_bytes(p, 1 << 20).unwrap().is_empty());
        }
    }

    struct CountingReader<R> {
        inner: R,
        read: u64,
    }

    impl<R: Read> Read for CountingReader<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused_without_reading() {
        let e = within_5s(|| read_bytes(Path::new("/dev/zero"), 1 << 20).unwrap_err());
        assert!(matches!(e, BoundedError::NotRegular { what: "a character device", .. }), "{e:?}");
        let ui = e.into_ui(Actor::User);
        assert_eq!(ui.kind, ErrorKind::FileNotRegular);
        assert_eq!(ui.detail[&DetailKey::Path], "/dev/zero");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pipe.csv");
        let status = std::process::Command::new("mkfifo").arg(&p).status().expect("mkfifo");
        assert!(status.success());
        let q = p.clone();
        let e = within_5s(move || read_bytes(&q, 1 << 20).unwrap_err());
        assert!(matches!(e, BoundedError::NotRegular { what: "a named pipe (FIFO)", .. }), "{e:?}");
        let q = p.clone();
        assert!(within_5s(move || open_regular(&q).is_err()));
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_bytes(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(e, BoundedError::NotRegular { what: "a folder", .. }), "{e:?}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing");
        let e = read_bytes(&p, 10).unwrap_err();
        assert!(matches!(&e, BoundedError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound));
        let ui = e.into_ui(Actor::Admin);
        assert_eq!(ui.kind, ErrorKind::FileUnreadable);
        assert_eq!(ui.actor, Actor::Admin);
        assert_eq!(ui.detail[&DetailKey::Path], p.display().to_string());
    }

    #[test]
    fn text_that_is_not_utf8_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(read_string(&p, 10).unwrap_err(), BoundedError::Io { .. }));
    }

    #[test]
    fn the_opened_file_reads_normally_after_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "line1\nline2\n").unwrap();
        let mut s = String::new();
        open_regular(&p).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "line1\nline2\n");
    }

    #[test]
    fn every_kind_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "xx").unwrap();
        let kinds = [
            read_bytes(dir.path(), 1).unwrap_err(),
            read_bytes(&f, 1).unwrap_err(),
            read_bytes(&dir.path().join("missing"), 1).unwrap_err(),
        ]
        .map(|e| e.into_ui(Actor::User).kind);
        assert_eq!(kinds, [ErrorKind::FileNotRegular, ErrorKind::FileTooLarge, ErrorKind::FileUnreadable]);
    }
}
