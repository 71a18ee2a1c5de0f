//! Syntax checks for what the admin types, with errors that say exactly what is wrong.
//! Pure functions: no I/O, so the CLI, the GUI and the CSV importer share them.

use crate::error::{Actor, ErrorKind, UiError};
use crate::DetailKey;

/// Microsoft's fixed tenant of personal accounts (= `consumers`).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The default authority (the worldwide Microsoft cloud).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Maximum length of display names and login names.
pub const MAX_NAME_LEN: usize = 256;

/// A tenant must name one organization: a GUID or a verified domain. `common`, `organizations`
/// and `consumers` would let accounts of other organizations (or personal accounts) sign in.
pub fn tenant(input: &str) -> Result<String, UiError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(UiError::new(
            ErrorKind::TenantRequired,
            Actor::Admin,
            "Enter the tenant ID (GUID) or a verified domain of your organization.",
        ));
    }
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
        return Err(UiError::new(
            ErrorKind::TenantMultiTenant,
            Actor::Admin,
            format!("'{t}' is not one organization: it would let accounts of any organization (or personal accounts) sign in. Enter your tenant ID (GUID) or a verified domain such as contoso.onmicrosoft.com."),
        )
        .with(DetailKey::Tenant, t));
    }
    if let Ok(id) = uuid::Uuid::try_parse(t) {
        let id = id.hyphenated().to_string();
        if id == CONSUMERS_TENANT_ID {
            return Err(UiError::new(ErrorKind::TenantPersonal, Actor::Admin, "This is Microsoft's tenant of personal accounts; Exchange Online accounts of an organization need the organization's own tenant.").with(DetailKey::Tenant, t));
        }
        return Ok(id);
    }
    if is_dns_name(&lower) {
        return Ok(lower);
    }
    Err(UiError::new(
        ErrorKind::TenantMalformed,
        Actor::Admin,
        format!("'{t}' is neither a tenant ID (GUID like aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee) nor a domain name (like contoso.onmicrosoft.com)."),
    )
    .with(DetailKey::Tenant, t))
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !s.rsplit('.').next().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

/// The application (client) ID shown in Microsoft Entra: a GUID.
pub fn client_id(input: &str) -> Result<String, UiError> {
    let t = input.trim();
    uuid::Uuid::try_parse(t).map(|u| u.hyphenated().to_string()).map_err(|_| {
        UiError::new(
            ErrorKind::ClientIdMalformed,
            Actor::Admin,
            format!("The application (client) ID '{t}' is not a GUID. Copy it from the app's Overview page in Microsoft Entra."),
        )
        .with(DetailKey::ClientId, t)
    })
}

/// The authority: `https://host[:port][/path]`, no query or fragment, normalized without a
/// trailing slash. Plain `http` is only accepted for loopback hosts (a local emulator).
pub fn authority(input: &str) -> Result<String, UiError> {
    let t = input.trim();
    let t = if t.is_empty() { DEFAULT_AUTHORITY } else { t };
    let bad = || {
        UiError::new(
            ErrorKind::AuthorityMalformed,
            Actor::Admin,
            format!("'{t}' is not an authority URL like https://login.microsoftonline.com."),
        )
        .with(DetailKey::Authority, t)
    };
    let url = url::Url::parse(t).map_err(|_| bad())?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad());
    }
    let host = url.host_str().ok_or_else(bad)?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(UiError::new(
                ErrorKind::AuthorityInsecure,
                Actor::Admin,
                format!("The authority '{t}' uses plain http; sign-in must use https (http is only allowed for a local emulator on localhost)."),
            )
            .with(DetailKey::Authority, t))
        }
        _ => return Err(bad()),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A mail server's host as step 1 accepts it: an IP address, or dot-separated labels of ASCII
/// letters, digits and `-` (at most 63 each, 253 in all).
pub fn is_mail_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')))
}

/// A mail host named outside step 1 (the managed policy's `allowedMailHosts`): checked like an
/// endpoint's host, trimmed and lowercase.
pub fn mail_host(input: &str) -> Result<String, UiError> {
    let host = input.trim().to_ascii_lowercase();
    if is_mail_host(&host) {
        return Ok(host);
    }
    Err(UiError::new(
        ErrorKind::EndpointInvalid,
        Actor::Admin,
        format!("'{input}' is not a valid mail server host name."),
    )
    .with(DetailKey::Host, input))
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A mail address as Exchange Online accepts it, normalized to lower case.
pub fn address(input: &str) -> Result<String, UiError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(UiError::new(ErrorKind::AddressRequired, Actor::Admin, "Enter the mail address."));
    }
    let ok =
        email_address::EmailAddress::parse_with_options(t, email_address::Options::default().without_display_text())
            .is_ok()
            && t.is_ascii()
            && t.rsplit_once('@').is_some_and(|(_, d)| is_dns_name(&d.to_ascii_lowercase()));
    if !ok {
        return Err(UiError::new(
            ErrorKind::AddressInvalid,
            Actor::Admin,
            format!("'{t}' is not a valid mail address."),
        )
        .with(DetailKey::Address, t));
    }
    Ok(t.to_ascii_lowercase())
}

/// What a character that may not appear in a name is, or `None` for an allowed one. Bidirectional
/// controls make a name read differently from what it is (`exe.txt` shown for `txt.exe`),
/// zero-width characters make two names look the same, control characters rewrite a terminal.
pub fn unsafe_char(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}' => {
            "bidirectional control"
        }
        '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => "zero-width character",
        c if c.is_control() => "control character", // C0, DEL, C1
        _ => return None,
    })
}

/// `U+202E`: how errors and the terminal name a character.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Text from outside (CSV cells, names, server replies, paths) made safe to show: every
/// character of [`unsafe_char`] is written as `\u{1b}`, so it can neither rewrite a terminal
/// nor reorder what is shown around it. The backslash itself is left alone.
pub fn escape_unsafe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| unsafe_char(c).is_some()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c).is_some() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Refuses text a person reads (names, the organization) that holds a character of
/// [`unsafe_char`], naming the first one and its 1-based position in `input`. Every check of
/// such text calls it: step 1's organization, step 2's form and CSV rows, invitations.
pub fn safe_text(input: &str) -> Result<(), UiError> {
    // Spaces, tabs and line breaks around the text are trimmed away, not refused.
    let lead = input.chars().take_while(|c| c.is_whitespace()).count();
    let Some((position, c, what)) =
        input.trim().chars().enumerate().find_map(|(i, c)| unsafe_char(c).map(|what| (lead + i + 1, c, what)))
    else {
        return Ok(());
    };
    let character = code_point(c);
    Err(UiError::new(
        ErrorKind::TextUnsafeCharacter,
        Actor::Admin,
        format!("The text has an invisible {what} ({character}) at character {position}; it can make a name look like another. Delete it (retype the text rather than pasting it) and try again."),
    )
    .with(DetailKey::Character, &character)
    .with(DetailKey::Position, position)
    .with(DetailKey::What, what))
}

/// A login name: visible characters, no spaces at the ends, at most 256 characters.
pub fn login_name(input: &str) -> Result<String, UiError> {
    safe_text(input)?;
    let t = input.trim();
    if t.is_empty() {
        return Err(UiError::new(ErrorKind::LoginNameRequired, Actor::Admin, "Enter the user's login name."));
    }
    if t.chars().count() > MAX_NAME_LEN {
        return Err(UiError::new(
            ErrorKind::LoginNameInvalid,
            Actor::Admin,
            format!("The login name '{t}' is longer than {MAX_NAME_LEN} characters."),
        )
        .with(DetailKey::LoginName, t));
    }
    Ok(t.to_owned())
}

/// A display name (may be empty where a default applies), at most 256 characters.
pub fn display_name(input: &str) -> Result<String, UiError> {
    safe_text(input)?;
    let t = input.trim();
    if t.chars().count() > MAX_NAME_LEN {
        return Err(UiError::new(
            ErrorKind::DisplayNameTooLong,
            Actor::Admin,
            format!("A display name may have at most {MAX_NAME_LEN} characters."),
        )
        .with(DetailKey::Max, MAX_NAME_LEN));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_forms() {
        assert_eq!(tenant(" AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE ").unwrap(), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(tenant("Contoso.onmicrosoft.com").unwrap(), "contoso.onmicrosoft.com");
        for multi in ["common", "Organizations", "consumers"] {
            assert_eq!(tenant(multi).unwrap_err().kind, ErrorKind::TenantMultiTenant, "{multi}");
        }
        assert_eq!(tenant(CONSUMERS_TENANT_ID).unwrap_err().kind, ErrorKind::TenantPersonal);
        assert_eq!(tenant("").unwrap_err().kind, ErrorKind::TenantRequired);
        for bad in ["contoso", "con toso.com", "-a.com", "1.2.3.4", "a..b", "テナント.jp"] {
            assert_eq!(tenant(bad).unwrap_err().kind, ErrorKind::TenantMalformed, "{bad}");
        }
    }

    #[test]
    fn client_id_must_be_guid() {
        assert!(client_id("11111111-2222-3333-4444-555555555555").is_ok());
        let e = client_id("my-app").unwrap_err();
        assert_eq!((e.kind, e.actor), (ErrorKind::ClientIdMalformed, Actor::Admin));
    }

    #[test]
    fn authority_rules() {
        assert_eq!(authority("").unwrap(), DEFAULT_AUTHORITY);
        assert_eq!(authority("https://login.microsoftonline.us/").unwrap(), "https://login.microsoftonline.us");
        assert_eq!(authority("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(authority("http://localhost:1/x/").unwrap(), "http://localhost:1/x");
        assert_eq!(authority("http://login.example.com").unwrap_err().kind, ErrorKind::AuthorityInsecure);
        assert_eq!(authority("https://x.example/?a=b").unwrap_err().kind, ErrorKind::AuthorityMalformed);
        assert_eq!(authority("ftp://x.example").unwrap_err().kind, ErrorKind::AuthorityMalformed);
        assert_eq!(authority("not a url").unwrap_err().kind, ErrorKind::AuthorityMalformed);
    }

    #[test]
    fn addresses() {
        assert_eq!(address(" Taro@Contoso.Example ").unwrap(), "taro@contoso.example");
        for bad in [
            "taro",
            "taro@",
            "@contoso.example",
            "taro@contoso",
            "ta ro@contoso.example",
            "太郎@contoso.example",
            "a@b@c.example",
        ] {
            assert_eq!(address(bad).unwrap_err().kind, ErrorKind::AddressInvalid, "{bad}");
        }
        assert_eq!(address(" ").unwrap_err().kind, ErrorKind::AddressRequired);
    }

    #[test]
    fn names() {
        assert_eq!(login_name(" yamada ").unwrap(), "yamada");
        assert_eq!(login_name("").unwrap_err().kind, ErrorKind::LoginNameRequired);
        assert_eq!(display_name(&"あ".repeat(257)).unwrap_err().kind, ErrorKind::DisplayNameTooLong);
        assert_eq!(display_name(&"あ".repeat(256)).unwrap().chars().count(), 256);
    }

    #[test]
    fn escaping_leaves_no_raw_control_or_bidi_character() {
        assert_eq!(escape_unsafe("山田 太郎"), "山田 太郎");
        assert_eq!(escape_unsafe("a\x1b]0;pwned\x07\u{202e}b\r\n"), "a\\u{1b}]0;pwned\\u{7}\\u{202e}b\\u{d}\\u{a}");
    }

    #[test]
    fn invisible_and_control_characters_are_refused_with_code_point_and_position() {
        for (text, character, position) in [
            ("山田\u{202e}txt.exe", "U+202E", "3"),
            ("a\u{2066}b", "U+2066", "2"),
            ("\u{200f}x", "U+200F", "1"),
            ("x\u{61c}", "U+061C", "2"),
            ("ta\u{200b}ro", "U+200B", "3"),
            ("taro\u{feff}", "U+FEFF", "5"),
            ("\u{2060}", "U+2060", "1"),
            ("ta\x1b]0;pwned\x07ro", "U+001B", "3"),
            ("a\u{7f}", "U+007F", "2"),
            ("a\u{85}b", "U+0085", "2"),
            ("a\tb", "U+0009", "2"),
        ] {
            for e in [login_name(text).unwrap_err(), display_name(text).unwrap_err()] {
                assert_eq!(e.kind, ErrorKind::TextUnsafeCharacter, "{text:?}");
                assert_eq!(
                    (e.detail[&DetailKey::Character].as_str(), e.detail[&DetailKey::Position].as_str()),
                    (character, position)
                );
                assert!(e.message.contains(character), "{}", e.message);
            }
        }
        // Japanese, accents and ordinary punctuation pass; so do spaces around (trimmed).
        assert_eq!(display_name(" 山田 太郎（営業）é ").unwrap(), "山田 太郎（営業）é");
        assert_eq!(login_name("o'brien-2").unwrap(), "o'brien-2");
        assert_eq!(login_name("\tyamada\r\n").unwrap(), "yamada");
        assert_eq!(display_name(" \u{202e}x").unwrap_err().detail[&DetailKey::Position], "2");
    }
}
