//! No core dumps: a core taken while the app checks a mailbox or hands out a token would hold the
//! access token (and while signing in, the refresh token) in plain text, written to a file or to
//! a crash collector (systemd-coredump, apport) that other people read.
//!
//! Both binaries call [`disable_core_dumps`] first thing in `main`, before any secret exists.
//! On Linux `prctl(PR_SET_DUMPABLE, 0)` stops the kernel from writing a core at all (also one
//! piped to a crash collector by `core_pattern`, which ignores `RLIMIT_CORE`) and, as a side
//! effect, stops other processes of the same user from attaching with `ptrace` or reading
//! `/proc/<pid>/mem`; it is reset by `execve`, so `exo-setup-gui` calls it again after the CLI
//! hands over. The soft `RLIMIT_CORE` = 0 covers other Unixes (macOS: the same `setrlimit`; its
//! ReportCrash writes reports without memory); the hard limit stays, so a program started from
//! here (the browser) may raise its own. Windows needs its own measures, see ARCHITECTURE.md
//! ("Platforms").

/// Turns core dumps off for this process. An error (only on a kernel without these calls) says
/// which call failed; `main` reports it on stderr and carries on: the app stays usable.
pub fn disable_core_dumps() -> std::io::Result<()> {
    let failed = |call: &str| {
        let e = std::io::Error::last_os_error();
        std::io::Error::new(e.kind(), format!("{call} failed: {e}"))
    };
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into, and setrlimit reads, the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } != 0 {
            return Err(failed("getrlimit(RLIMIT_CORE)"));
        }
        limit.rlim_cur = 0;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) } != 0 {
            return Err(failed("setrlimit(RLIMIT_CORE, 0)"));
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: PR_SET_DUMPABLE takes one integer argument; the rest are ignored.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(failed("prctl(PR_SET_DUMPABLE, 0)"));
        }
    }
    #[cfg(not(unix))]
    let _ = failed;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn after_the_call_no_core_can_be_written() {
        disable_core_dumps().unwrap();
        let mut limit = libc::rlimit { rlim_cur: 1, rlim_max: 1 };
        // SAFETY: getrlimit writes into the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!(limit.rlim_cur, 0);
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_GET_DUMPABLE takes no argument and returns the flag.
            assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
        }
    }
}
