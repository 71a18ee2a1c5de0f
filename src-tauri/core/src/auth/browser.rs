//! Opens the SYSTEM browser for a sign-in or an admin consent — never a web view (RFC 8252 §8.12:
//! the user's own browser, where their session, password manager and MFA live).
//!
//! Uses the `webbrowser` crate (1.x, feature `hardened`: anything but `http`/`https` is refused by
//! the crate too) with its default browser. What it does per OS (read from its source, 1.2):
//! - **Linux / BSD**: first `$BROWSER`. It is split on `:` into candidate command lines, tried in
//!   order; each is split on whitespace, `%s` is replaced by the URL (and the URL is appended as
//!   the last argument when no `%s` appears), `%c` becomes `:` and `%%` becomes `%`. A command with
//!   a `/` must be an existing executable file; otherwise it is looked up on `PATH`. The first
//!   candidate that starts wins. Then `xdg-settings get default-web-browser` and that `.desktop`
//!   file's `Exec`, then desktop-specific openers (`gio open`, `kde-open`, `exo-open`, … by
//!   `XDG_CURRENT_DESKTOP`; WSL and Flatpak are handled), finally `x-www-browser`.
//!   A graphical browser is spawned in the background (stdin/stdout/stderr to /dev/null) and NOT
//!   waited for: success means "started", not "the page loaded". Text browsers (`lynx`, `w3m`,
//!   `links`, `elinks`, `curl`, …) run in the foreground and are waited for.
//! - **Windows**: asks the shell for the command registered for `http` (`AssocQueryStringW`) and
//!   runs it with the URL.
//! - **macOS**: asks Launch Services (`NSWorkspace`) for the default `https` handler and opens the
//!   URL with it.
//!
//! `open` blocks (it may start processes and, for text browsers, wait for them): call it off the
//! async runtime, e.g. `tokio::task::spawn_blocking(move || browser::open(&url))` at the call site.
//!
//! Failure → kind `browser_unavailable`, actor User, detail `cause`: the UI (or the CLI) then shows
//! the URL for the user to copy into a browser themselves.
//!
//! Tests set `BROWSER=/abs/path/scripts/test-browser.sh`, a curl-based browser that follows the
//! redirects and delivers the final redirect like the OS does.

use crate::error::{Actor, ErrorKind, UiError};
use crate::DetailKey;

/// Opens `url` (http or https only) in the system's default browser. Blocking; see the module doc.
pub fn open(url: &str) -> Result<(), UiError> {
    check_url(url)?;
    tracing::debug!("opening the system browser");
    webbrowser::open(url).map_err(|e| unavailable(&e.to_string()))
}

/// Defence in depth: only an absolute `http`/`https` URL with a host is ever handed to a browser
/// launcher (no `file:`, `javascript:`, custom schemes or something that looks like an option).
fn check_url(url: &str) -> Result<(), UiError> {
    let parsed = url::Url::parse(url).map_err(|e| unavailable(&format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(unavailable(&format!(
            "refusing to open a {} URL: only http and https are opened",
            parsed.scheme()
        )));
    }
    if url.trim() != url || url.chars().any(char::is_control) {
        return Err(unavailable("refusing to open a URL with spaces or control characters around it"));
    }
    Ok(())
}

fn unavailable(cause: &str) -> UiError {
    UiError::new(
        ErrorKind::BrowserUnavailable,
        Actor::User,
        format!("The browser could not be opened ({cause}). Copy the address shown and open it in your browser."),
    )
    .with(DetailKey::Cause, cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_opened() {
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "dev.exosetup.wizard://oauth2/callback?code=x",
            "-remote http://x",
            "not a url",
            "http://",
            " http://localhost:1/",
            "http://localhost:1/\n",
        ] {
            let e = open(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BrowserUnavailable, "{bad}");
            assert_eq!(e.actor, Actor::User);
            assert!(e.detail.contains_key(&DetailKey::Cause));
        }
        assert!(check_url("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/authorize?x=1").is_ok());
        assert!(check_url("http://127.0.0.1:8400/a/v2.0/adminconsent").is_ok());
    }

    /// `$BROWSER` is honoured (`%s` and `:`-separated candidates). Runs in a child process so
    /// that changing the environment does not race the other tests.
    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn browser_env_is_used() {
        const CHILD: &str = "EXO_BROWSER_TEST_CHILD";
        if let Some(out) = std::env::var_os(CHILD) {
            let url = "http://127.0.0.1:9/callback?x=1";
            open(url).unwrap();
            let log = std::path::Path::new(&out);
            for _ in 0..100 {
                if std::fs::read_to_string(log).is_ok_and(|s| s.ends_with('\n')) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert_eq!(std::fs::read_to_string(log).unwrap(), format!("{url}\n"));
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-browser");
        let log = dir.path().join("opened");
        std::fs::write(&script, "#!/bin/sh\nprintf '%s\\n' \"$2\" > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The first candidate does not exist; the second gets the log path and the URL via %s.
        let browser = format!("/nonexistent/browser:{} {} %s", script.display(), log.display());
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "auth::browser::tests::browser_env_is_used", "--nocapture"])
            .env(CHILD, &log)
            .env("BROWSER", browser)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
