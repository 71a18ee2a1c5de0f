//! [`Secret`]: a string that never shows itself by accident.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (a refresh token, an access token).
///
/// - `Debug` and `Display` print `<redacted>`, so a secret inside a struct, an error, a log line
///   or a panic message never leaks;
/// - it implements neither `Serialize` nor `ts_rs::TS`, so it cannot cross IPC or reach SQLite;
/// - its memory is overwritten with zeros when it is dropped (`zeroize`);
/// - the value is reachable only through the explicit [`Secret::expose`].
///
/// ```
/// use exo_setup_core::keychain::Secret;
/// let token = Secret::new("1.AXrefresh");
/// assert_eq!(format!("{token:?} {token}"), "<redacted> <redacted>");
/// assert_eq!(token.expose(), "1.AXrefresh");
/// ```
///
/// ```compile_fail
/// fn needs_serialize<T: serde::Serialize>() {}
/// needs_serialize::<exo_setup_core::keychain::Secret>(); // does not compile: no Serialize
/// ```
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Takes ownership of `value`; the `String`'s buffer is the one zeroized on drop.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself. Call it only where the value must leave the program (an HTTP request,
    /// the keychain, the CLI's `token` output).
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Length in bytes (not secret by itself).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new("1.AXsecret-refresh-token");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert!(!format!("{:?}", Some(&secret)).contains("AXsecret"));

        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let shown = format!("{:#?}", Holder { token: secret.clone() });
        assert!(!shown.contains("AXsecret"), "{shown}");
        assert_eq!(secret.expose(), "1.AXsecret-refresh-token");
        assert_eq!(secret.len(), 24);
    }
}
