//! Opening a file that only the machine's administrator may have written (the managed policy).
//!
//! Why: the policy decides which tenant, application and servers this computer trusts. If anyone
//! but root could write it — the file itself, or any directory on the way to it (whoever can
//! write a directory can rename an entry away and put another one in its place) — anyone could
//! unlock what IT locked. So, as sudo does for sudoers (`sudo_secure_file()` in
//! `lib/util/secure_path.c`: owned by uid 0, not writable by group or others; sudoers(5): "the
//! sudoers file must be owned by root and not world-writable") and OpenSSH's `StrictModes` does
//! for every directory from the file up to `/` (`safe_path()` in `misc.c`), a file is trusted on
//! Unix only when:
//! - it is a regular file (not a FIFO, device, socket or directory), owned by uid 0, writable by
//!   neither its group nor others;
//! - every directory the lookup passes through — from `/` down, including those a symbolic link
//!   leads through — is owned by uid 0 and writable by neither group nor others, except a
//!   root-owned sticky directory such as `/tmp`: there others may add entries but cannot rename or
//!   remove root's (`unlink(2)`, `EPERM` under `S_ISVTX`), and an entry they add is theirs and
//!   refused by the owner check.
//!
//! Only a name that does not exist, looked up through trusted directories only, is "no file". A
//! symbolic link whose target does not exist (dangling), a component that cannot be examined, a
//! loop of links: all are refusals with a reason, never "no file" — an attacker who can make the
//! lookup fail must not be able to switch the policy off.
//!
//! `also_trusted_uid` admits a second owner (debug builds pass the current user, whose own
//! policy file a developer tests with; see `policy::path`). The file is opened with `O_NOFOLLOW`
//! and `O_NONBLOCK`, and the opened file must be the one that was checked (same device and inode).
//!
//! macOS runs the same Unix code (its policy lives in root:wheel `/Library/Application Support`).
//! Windows' equivalent is the file's ACL: owner Administrators or SYSTEM and no write access for
//! anyone else, on the file and on `%ProgramData%\exo-setup` (`GetNamedSecurityInfoW`); that is
//! not implemented: there the file must be a regular file (no reparse point or directory).

use std::fs::File;
use std::path::{Path, PathBuf};

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// Nothing at that name (through trusted directories only).
    Missing,
    /// The trusted, regular file, opened for reading; `path` is where it really is.
    Found { path: PathBuf, file: File },
}

/// Why a file is not trusted: a sentence naming the path and what is wrong with it.
pub type Refusal = String;

/// Opens `path` if, and only if, the file and every directory on the way are trusted (see the
/// module documentation).
pub fn open(path: &Path, also_trusted_uid: Option<u32>) -> Result<Lookup, Refusal> {
    imp::open(path, also_trusted_uid)
}

/// The effective user ID of this process (what debug builds also trust); `None` off Unix.
pub fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(unix)]
mod imp {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::fs::{self, Metadata, OpenOptions};
    use std::io::ErrorKind;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::{Component, Path, PathBuf};

    use super::{kind_of, Lookup, Refusal};

    /// Linux's own limit (`MAXSYMLINKS`), after which a lookup fails with `ELOOP`.
    const MAX_LINKS: usize = 40;

    /// One name still to look up, and the symbolic link it came from (if any).
    struct Part {
        name: OsString,
        via_link: Option<PathBuf>,
    }

    fn parts(path: &Path, via_link: Option<&Path>) -> Vec<Part> {
        path.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some(OsString::from("..")),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
            })
            .map(|name| Part { name, via_link: via_link.map(Path::to_owned) })
            .collect()
    }

    struct Owners(Option<u32>);

    impl Owners {
        fn trusts(&self, uid: u32) -> bool {
            uid == 0 || Some(uid) == self.0
        }

        fn who(&self) -> String {
            match self.0 {
                Some(uid) if uid != 0 => format!("root (uid 0) or uid {uid}"),
                _ => "root (uid 0)".to_owned(),
            }
        }

        /// `path` (a directory, or the file when `is_file`) is trusted.
        fn check(&self, path: &Path, meta: &Metadata, is_file: bool) -> Result<(), Refusal> {
            if !self.trusts(meta.uid()) {
                return Err(format!(
                    "{} is owned by uid {}; only what {} owns is trusted",
                    path.display(),
                    meta.uid(),
                    self.who()
                ));
            }
            let mode = meta.mode();
            #[allow(clippy::unnecessary_cast, reason = "mode_t is u16 on macOS, u32 on Linux")]
            let sticky_root_dir = !is_file && mode & libc::S_ISVTX as u32 != 0 && meta.uid() == 0;
            if mode & 0o022 != 0 && !sticky_root_dir {
                let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
                    (true, true) => "its group and everyone",
                    (true, false) => "its group",
                    _ => "everyone",
                };
                return Err(format!(
                    "{} can be written by {who} (mode {:04o}); only its owner may be able to write it",
                    path.display(),
                    mode & 0o7777
                ));
            }
            Ok(())
        }
    }

    pub(super) fn open(path: &Path, also_trusted_uid: Option<u32>) -> Result<Lookup, Refusal> {
        let owners = Owners(also_trusted_uid);
        let absolute = std::path::absolute(path).map_err(|e| format!("{} cannot be looked up: {e}", path.display()))?;
        let mut dir = PathBuf::from("/");
        let root = fs::metadata(&dir).map_err(|e| format!("/ cannot be examined: {e}"))?;
        owners.check(&dir, &root, false)?;
        let mut pending: VecDeque<Part> = parts(&absolute, None).into();
        let mut links = 0;
        while let Some(part) = pending.pop_front() {
            let last = pending.is_empty();
            if part.name == ".." {
                dir.pop();
                if last {
                    return Err(format!("{} is a directory, not a file", dir.display()));
                }
                continue;
            }
            let here = dir.join(&part.name);
            let meta = match fs::symlink_metadata(&here) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return match part.via_link {
                        Some(link) => Err(format!(
                            "the symbolic link {} leads to {}, which does not exist",
                            link.display(),
                            here.display()
                        )),
                        None => Ok(Lookup::Missing),
                    };
                }
                Err(e) => return Err(format!("{} cannot be examined: {e}", here.display())),
            };
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("{} goes through more than {MAX_LINKS} symbolic links", path.display()));
                }
                let target =
                    fs::read_link(&here).map_err(|e| format!("the link {} cannot be read: {e}", here.display()))?;
                if target.is_absolute() {
                    dir = PathBuf::from("/");
                }
                for p in parts(&target, Some(&here)).into_iter().rev() {
                    pending.push_front(p);
                }
                continue;
            }
            if !last {
                if !meta.is_dir() {
                    return Err(format!("{} is {}, not a directory", here.display(), kind_of(meta.file_type())));
                }
                owners.check(&here, &meta, false)?;
                dir = here;
                continue;
            }
            if !meta.is_file() {
                return Err(format!("{} is {}, not a regular file", here.display(), kind_of(meta.file_type())));
            }
            owners.check(&here, &meta, true)?;
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&here)
                .map_err(|e| format!("{} cannot be opened: {e}", here.display()))?;
            let opened = file.metadata().map_err(|e| format!("{} cannot be examined: {e}", here.display()))?;
            if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
                return Err(format!("{} was replaced while it was being opened", here.display()));
            }
            return Ok(Lookup::Found { path: here, file });
        }
        Err(format!("{} is a directory, not a file", dir.display()))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io::ErrorKind;
    use std::path::Path;

    use super::{kind_of, Lookup, Refusal};

    pub(super) fn open(path: &Path, _also_trusted_uid: Option<u32>) -> Result<Lookup, Refusal> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(e) => return Err(format!("{} cannot be examined: {e}", path.display())),
        };
        if !meta.is_file() {
            return Err(format!("{} is {}, not a regular file", path.display(), kind_of(meta.file_type())));
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{} cannot be opened: {e}", path.display()))?;
        Ok(Lookup::Found { path: path.to_owned(), file })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn refusal(p: &Path) -> String {
        match open(p, None) {
            Err(r) => r,
            Ok(l) => panic!("{} was trusted: {l:?}", p.display()),
        }
    }

    /// A root-owned 0755 directory (tests run as root; elsewhere they say so and stop).
    fn root_dir() -> Option<tempfile::TempDir> {
        if current_uid() != Some(0) {
            eprintln!("skipped: these checks need to run as root (owner uid 0)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        Some(dir)
    }

    #[test]
    fn links_are_followed_through_trusted_directories_and_loops_are_refused() {
        let Some(dir) = root_dir() else { return };
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("policy.json"), "{}").unwrap();
        chmod(&real.join("policy.json"), 0o644);
        symlink("real", dir.path().join("conf")).unwrap();
        match open(&dir.path().join("conf/policy.json"), None).unwrap() {
            Lookup::Found { path, .. } => assert_eq!(path, real.join("policy.json")),
            Lookup::Missing => panic!("not found"),
        }
        // Missing through trusted directories (also behind a link to a directory): no file.
        assert!(matches!(open(&dir.path().join("conf/other.json"), None), Ok(Lookup::Missing)));
        assert!(matches!(open(&dir.path().join("nosuch/policy.json"), None), Ok(Lookup::Missing)));
        symlink("a", dir.path().join("b")).unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        assert!(refusal(&dir.path().join("a")).contains("symbolic links"));
        assert!(refusal(&real).contains("a directory"));
        // A link that leads through an untrusted directory is refused there.
        let open_dir = dir.path().join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::write(open_dir.join("policy.json"), "{}").unwrap();
        chmod(&open_dir, 0o777);
        symlink("open/policy.json", dir.path().join("via-open.json")).unwrap();
        let r = refusal(&dir.path().join("via-open.json"));
        assert!(r.contains("can be written by its group and everyone") && r.contains("open"), "{r}");
    }

    #[test]
    fn a_sticky_root_directory_is_trusted_and_the_other_owner_only_when_named() {
        let Some(dir) = root_dir() else { return };
        let sticky = dir.path().join("tmp");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::write(sticky.join("policy.json"), "{}").unwrap();
        chmod(&sticky.join("policy.json"), 0o644);
        chmod(&sticky, 0o1777);
        assert!(matches!(open(&sticky.join("policy.json"), None), Ok(Lookup::Found { .. })));
        // A sticky directory owned by someone else is not.
        std::os::unix::fs::chown(&sticky, Some(65534), None).unwrap();
        assert!(refusal(&sticky.join("policy.json")).contains("owned by uid 65534"));
        // The second trusted owner (debug builds: the current user).
        chmod(&sticky, 0o755);
        assert!(matches!(open(&sticky.join("policy.json"), Some(65534)), Ok(Lookup::Found { .. })));
    }
}
