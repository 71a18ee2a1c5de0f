//! Names the app is known by to the OS and to Microsoft, read from `tauri.conf.json` at build
//! time (see `build.rs`) so that there is exactly one definition of each.

/// Reverse-DNS application identifier (bundle id, D-Bus name, keychain namespace root).
pub const IDENTIFIER: &str = env!("EXO_IDENTIFIER");

/// Private-use URI scheme for the OAuth redirect (RFC 8252 §7.1): the reverse-DNS identifier.
pub const DEEP_LINK_SCHEME: &str = env!("EXO_DEEP_LINK_SCHEME");

/// Product name shown to people.
pub const PRODUCT_NAME: &str = env!("EXO_PRODUCT_NAME");

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The redirect URI that comes back through the custom-scheme deep link.
pub fn deep_link_redirect_uri() -> String {
    format!("{DEEP_LINK_SCHEME}://oauth2/callback")
}

/// The loopback redirect URI as registered with Microsoft. The port is chosen at run time and
/// Microsoft ignores it when matching loopback redirect URIs.
pub const LOOPBACK_REDIRECT_URI: &str = "http://localhost";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_reverse_dns_and_matches_identifier_root() {
        assert!(DEEP_LINK_SCHEME.split('.').count() >= 3, "{DEEP_LINK_SCHEME}");
        assert!(DEEP_LINK_SCHEME.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c.is_ascii_digit()));
        assert_eq!(IDENTIFIER, DEEP_LINK_SCHEME);
        assert!(deep_link_redirect_uri().starts_with("dev.exosetup."));
    }
}
