//! The two forms of an invitation — deep link and `.exoinvite` file — and reading them back.
//!
//! Reading is strict and explains every refusal: too large, not an invitation, cut off, a newer
//! version, altered (checksum), or a field that is not valid. Parsing changes nothing anywhere.

use crate::DetailKey;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bounded::{self, BoundedError};
use crate::error::{Actor, ErrorKind, UiError};
use crate::identity::DEEP_LINK_SCHEME;
use crate::model::{ReceiveProtocol, RedirectMode, ServerEndpoints};
use crate::validate;

use super::{FILE_EXTENSION, MAX_FILE_BYTES, MAX_LINK_CHARS};

/// The invitation format this app writes and reads.
pub const INVITATION_VERSION: u32 = 1;

/// Host part of invitation links: `dev.exosetup.wizard://invite?…`.
const LINK_HOST: &str = "invite";

/// What an invitation says. No secret: everything here is also visible in Microsoft Entra to
/// anyone in the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invitation {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organization_name: String,
    pub authority: String,
    /// As the admin typed it (GUID or domain)…
    pub tenant: String,
    /// …and the GUID the admin's discovery check found.
    pub tenant_id: String,
    pub client_id: String,
    pub redirect_mode: RedirectMode,
    /// The mailbox; all three empty in the organization invitation (self-service: the user types
    /// their own address, see [`crate::self_service`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub login_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    pub receive_protocol: ReceiveProtocol,
    /// Only when the servers differ from Exchange Online's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<ServerEndpoints>,
    /// Only in an invitation mailed by the app: where the user's app sends its receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<ReceiptRequest>,
}

/// Where receipts go and the code that matches them to the account. No secret: a receipt says
/// only that a mailbox was set up, and the code only lets the administrator's app find the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptRequest {
    /// The administrator's mailbox.
    pub to: String,
    /// 32 lower-case hex digits.
    pub code: String,
}

impl Invitation {
    /// The organization invitation: no mailbox, for everyone who has it.
    pub fn is_organization(&self) -> bool {
        self.address.is_empty()
    }
}

impl ReceiptRequest {
    /// A code is 32 lower-case hex digits (a v4 UUID, simple form).
    pub fn code_is_valid(code: &str) -> bool {
        code.len() == 32 && code.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

/// The file form: readable JSON around the same content.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvitationFile {
    exo_setup_invitation: u32,
    invitation: serde_json::Value,
    checksum: String,
}

fn canonical(inv: &Invitation) -> Vec<u8> {
    serde_json::to_vec(inv).expect("an invitation always serializes")
}

fn checksum(inv: &Invitation) -> String {
    let digest = Sha256::digest(canonical(inv));
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// The deep link (`…://invite?v=1&p=…&c=…`; the checksum last, so a link cut short is noticed).
pub fn link(inv: &Invitation) -> String {
    format!(
        "{DEEP_LINK_SCHEME}://{LINK_HOST}?v={INVITATION_VERSION}&p={}&c={}",
        URL_SAFE_NO_PAD.encode(canonical(inv)),
        checksum(inv)
    )
}

/// The `.exoinvite` file's text.
pub fn file_contents(inv: &Invitation) -> String {
    let file = InvitationFile {
        exo_setup_invitation: INVITATION_VERSION,
        invitation: serde_json::to_value(inv).expect("an invitation always serializes"),
        checksum: checksum(inv),
    };
    let mut s = serde_json::to_string_pretty(&file).expect("serializes");
    s.push('\n');
    s
}

/// True for a URL of this app's scheme that is an invitation (not an OAuth redirect).
pub fn is_invitation_url(url: &url::Url) -> bool {
    url.scheme() == DEEP_LINK_SCHEME && url.host_str() == Some(LINK_HOST)
}

fn malformed(reason: &str, message: &str) -> UiError {
    UiError::new(
        ErrorKind::InviteMalformed,
        Actor::User,
        format!("This is not a complete exo-setup invitation ({message}). Copy the whole link or file again, or ask your administrator to send a new one. Nothing was changed."),
    )
    .with(DetailKey::Reason, reason)
}

fn too_large(size: usize, max: usize) -> UiError {
    UiError::new(
        ErrorKind::InviteTooLarge,
        Actor::User,
        format!("This invitation is {size} bytes, more than the {max} an invitation can be; it is not an exo-setup invitation. Nothing was changed."),
    )
    .with(DetailKey::Size, size)
    .with(DetailKey::Max, max)
}

fn version_unsupported(version: &str) -> UiError {
    UiError::new(
        ErrorKind::InviteVersionUnsupported,
        Actor::User,
        format!("This invitation uses format version {version}, which this version of exo-setup cannot read (it reads version {INVITATION_VERSION}). Update exo-setup, or ask your administrator for an invitation from the same version. Nothing was changed."),
    )
    .with(DetailKey::Version, version)
    .with(DetailKey::Supported, INVITATION_VERSION)
}

fn tampered() -> UiError {
    UiError::new(
        ErrorKind::InviteTampered,
        Actor::User,
        "This invitation was changed after your administrator made it (its checksum does not match its content). Do not use it; ask your administrator for a new one. Nothing was changed.",
    )
}

/// Reads an invitation from what the user pasted, the OS handed over, or a file's text: a link,
/// or the file's JSON.
pub fn parse(text: &str) -> Result<Invitation, UiError> {
    let text = text.trim();
    if text.starts_with('{') {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(text.len(), MAX_FILE_BYTES as usize));
        }
        return parse_file(text);
    }
    if text.len() > MAX_LINK_CHARS {
        return Err(too_large(text.len(), MAX_LINK_CHARS));
    }
    let url = url::Url::parse(text).map_err(|_| malformed("not_a_link", "it is neither a link nor a file"))?;
    if !is_invitation_url(&url) {
        return Err(malformed("not_an_invitation", "it is not an exo-setup invitation link"));
    }
    let (mut v, mut p, mut c) = (None, None, None);
    for (k, val) in url.query_pairs() {
        let slot = match k.as_ref() {
            "v" => &mut v,
            "p" => &mut p,
            "c" => &mut c,
            _ => return Err(malformed("unknown_parameter", "it has a part exo-setup does not know")),
        };
        if slot.replace(val.into_owned()).is_some() {
            return Err(malformed("duplicate_parameter", "a part appears twice"));
        }
    }
    let v = v.ok_or_else(|| malformed("incomplete", "the link is cut off"))?;
    if v != INVITATION_VERSION.to_string() {
        return Err(version_unsupported(&v));
    }
    let (p, c) = match (p, c) {
        (Some(p), Some(c)) => (p, c),
        _ => return Err(malformed("incomplete", "the link is cut off")),
    };
    // With its checksum present, content that does not even decode was changed on the way.
    let bytes = URL_SAFE_NO_PAD.decode(p.as_bytes()).map_err(|_| tampered())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| tampered())?;
    finish(value, &c)
}

fn parse_file(text: &str) -> Result<Invitation, UiError> {
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|_| malformed("not_json", "the file is damaged or not an invitation"))?;
    match raw.get("exoSetupInvitation") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(INVITATION_VERSION as u64) => {}
        Some(serde_json::Value::Number(n)) => return Err(version_unsupported(&n.to_string())),
        _ => return Err(malformed("not_an_invitation", "the file is not an exo-setup invitation")),
    }
    let file: InvitationFile = serde_json::from_value(raw)
        .map_err(|_| malformed("unknown_field", "the file has parts exo-setup does not know"))?;
    finish(file.invitation, &file.checksum)
}

fn finish(value: serde_json::Value, claimed: &str) -> Result<Invitation, UiError> {
    let inv: Invitation = serde_json::from_value(value)
        .map_err(|e| malformed("unknown_field", &format!("its content is not what exo-setup expects: {e}")))?;
    if checksum(&inv) != claimed {
        return Err(tampered());
    }
    check_fields(&inv)?;
    Ok(inv)
}

/// Every field must pass the same checks step 1 and step 2 apply; values must already be
/// normalized (an admin's app writes them so), anything else means hand-editing.
fn check_fields(inv: &Invitation) -> Result<(), UiError> {
    let bad = |field: &str, e: UiError| {
        UiError::new(
            ErrorKind::InviteMalformed,
            Actor::User,
            format!("This invitation's {field} is not valid ({}). Ask your administrator for a new invitation. Nothing was changed.", e.message),
        )
        .with(DetailKey::Reason, "invalid_field")
        .with(DetailKey::Field, field)
    };
    let same = |field: &str, given: &str, normalized: Result<String, UiError>| match normalized {
        Ok(n) if n == given => Ok(()),
        Ok(_) => {
            Err(malformed("invalid_field", &format!("its {field} is not in normal form")).with(DetailKey::Field, field))
        }
        // Which character, where: the same specific error as everywhere else names are taken.
        Err(e) if e.kind == ErrorKind::TextUnsafeCharacter => Err(e.with(DetailKey::Field, field)),
        Err(e) => Err(bad(field, e)),
    };
    same("authority", &inv.authority, validate::authority(&inv.authority))?;
    same("tenant", &inv.tenant, validate::tenant(&inv.tenant))?;
    same("tenantId", &inv.tenant_id, validate::tenant(&inv.tenant_id))?;
    if uuid::Uuid::try_parse(&inv.tenant_id).is_err() {
        return Err(malformed("invalid_field", "its tenant ID is not a GUID").with(DetailKey::Field, "tenantId"));
    }
    same("clientId", &inv.client_id, validate::client_id(&inv.client_id))?;
    if inv.is_organization() {
        // No mailbox means none at all: a name without an address is hand-editing.
        if !inv.login_name.is_empty() || !inv.display_name.is_empty() {
            return Err(
                malformed("invalid_field", "it names a person but no mailbox").with(DetailKey::Field, "address")
            );
        }
    } else {
        same("address", &inv.address, validate::address(&inv.address))?;
        same("loginName", &inv.login_name, validate::login_name(&inv.login_name))?;
        same("displayName", &inv.display_name, validate::display_name(&inv.display_name))?;
    }
    same("organizationName", &inv.organization_name, validate::display_name(&inv.organization_name))?;
    if let Some(ep) = &inv.endpoints {
        for (protocol, e) in [("imap", &ep.imap), ("pop3", &ep.pop3), ("smtp", &ep.smtp)] {
            crate::org::check_endpoint(protocol, e).map_err(|e| bad("endpoints", e))?;
        }
    }
    if let Some(r) = &inv.receipts {
        same("receipts", &r.to, validate::address(&r.to))?;
        if !ReceiptRequest::code_is_valid(&r.code) {
            return Err(malformed("invalid_field", "its receipt code is not valid").with(DetailKey::Field, "receipts"));
        }
    }
    Ok(())
}

/// Reads an invitation file (at most [`MAX_FILE_BYTES`]; only a regular file — a FIFO or a
/// device named `*.exoinvite` is refused before anything is read, see [`crate::bounded`]).
pub fn read_file(path: &Path) -> Result<Invitation, UiError> {
    let text = bounded::read_string(path, MAX_FILE_BYTES).map_err(|e| match e {
        BoundedError::TooLarge { limit, size, .. } => {
            // Unknown size (the file grew, or reports none): it is at least one byte over.
            too_large(size.unwrap_or(limit + 1) as usize, limit as usize)
        }
        BoundedError::Io { source, .. } => UiError::new(
            ErrorKind::InviteFileUnreadable,
            Actor::User,
            format!("The invitation file {} could not be read: {source}. Nothing was changed.", path.display()),
        )
        .with(DetailKey::Path, path.display())
        .with(DetailKey::Error, source),
        not_regular @ BoundedError::NotRegular { .. } => not_regular.into_ui(Actor::User),
    })?;
    let _ = FILE_EXTENSION;
    parse(&text)
}

/// A sample invitation for unit tests.
#[cfg(test)]
pub(crate) fn tests_sample() -> Invitation {
    tests::sample()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Security};

    pub(crate) fn sample() -> Invitation {
        Invitation {
            organization_name: "コントソ株式会社".into(),
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            redirect_mode: RedirectMode::DeepLink,
            address: "taro@contoso.example".into(),
            login_name: "taro".into(),
            display_name: "山田 太郎".into(),
            receive_protocol: ReceiveProtocol::Imap,
            endpoints: None,
            receipts: None,
        }
    }

    #[test]
    fn link_and_file_round_trip_and_the_link_is_short() {
        let inv = sample();
        let l = link(&inv);
        assert!(l.starts_with("dev.exosetup.wizard://invite?v=1&p="), "{l}");
        assert!(l.len() < 600, "{} chars: {l}", l.len());
        assert_eq!(parse(&l).unwrap(), inv);
        assert_eq!(parse(&format!("  {l}\n")).unwrap(), inv);
        let f = file_contents(&inv);
        assert!(f.contains("\"tenant\": \"contoso.onmicrosoft.com\""), "{f}");
        assert_eq!(parse(&f).unwrap(), inv);
        let mut with_ep = inv.clone();
        let ep = |h: &str, p, s| Endpoint { host: h.into(), port: p, security: s };
        with_ep.endpoints = Some(ServerEndpoints {
            imap: ep("partner.outlook.cn", 993, Security::Tls),
            pop3: ep("partner.outlook.cn", 995, Security::Tls),
            smtp: ep("smtp.partner.outlook.cn", 587, Security::Starttls),
        });
        assert_eq!(parse(&link(&with_ep)).unwrap(), with_ep);
    }

    #[test]
    fn altered_cut_and_foreign_invitations_are_refused_with_a_reason() {
        let inv = sample();
        let l = link(&inv);
        // Cut in transit (mail wrapping): the checksum at the end is gone.
        let cut = &l[..l.find("&c=").unwrap()];
        let e = parse(cut).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Reason].as_str()), (ErrorKind::InviteMalformed, "incomplete"));
        let e = parse(&l[..l.len() - 60]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InviteMalformed);
        // Another tenant's ID swapped in by hand.
        let mut evil = inv.clone();
        evil.client_id = "99999999-2222-3333-4444-555555555555".into();
        let forged = format!("{}&c={}", &link(&evil)[..link(&evil).find("&c=").unwrap()], checksum(&inv));
        assert_eq!(parse(&forged).unwrap_err().kind, ErrorKind::InviteTampered);
        let f = file_contents(&inv).replace("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com");
        assert_eq!(parse(&f).unwrap_err().kind, ErrorKind::InviteTampered);
        // Newer format.
        let e = parse(&l.replace("?v=1&", "?v=2&")).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Version].as_str()), (ErrorKind::InviteVersionUnsupported, "2"));
        let e =
            parse(&file_contents(&inv).replace("\"exoSetupInvitation\": 1", "\"exoSetupInvitation\": 7")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InviteVersionUnsupported);
        // Oversized.
        let huge = format!("{l}{}", "A".repeat(MAX_LINK_CHARS));
        assert_eq!(parse(&huge).unwrap_err().kind, ErrorKind::InviteTooLarge);
        let huge_file = format!("{{\"x\": \"{}\"}}", "A".repeat(MAX_FILE_BYTES as usize));
        assert_eq!(parse(&huge_file).unwrap_err().kind, ErrorKind::InviteTooLarge);
        // Not ours.
        for other in ["https://evil.example/invite?v=1", "dev.exosetup.wizard://oauth2/callback?code=x", "hello", "{}"]
        {
            assert_eq!(parse(other).unwrap_err().kind, ErrorKind::InviteMalformed, "{other}");
        }
        assert_eq!(parse(&format!("{l}&x=1")).unwrap_err().kind, ErrorKind::InviteMalformed);
    }

    #[test]
    fn the_organization_invitation_has_no_mailbox_at_all() {
        let mut org = sample();
        org.address.clear();
        org.login_name.clear();
        org.display_name.clear();
        let l = link(&org);
        assert!(!String::from_utf8(
            URL_SAFE_NO_PAD.decode(l.split("p=").nth(1).unwrap().split('&').next().unwrap()).unwrap()
        )
        .unwrap()
        .contains("address"));
        let back = parse(&l).unwrap();
        assert!(back.is_organization());
        assert_eq!(back, org);
        assert!(!sample().is_organization());
        // A person's name without a mailbox is not an organization invitation.
        let mut half = org.clone();
        half.display_name = "山田 太郎".into();
        let e = parse(&link(&half)).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Field].as_str()), (ErrorKind::InviteMalformed, "address"));
    }

    #[test]
    fn fields_must_be_valid_even_with_a_matching_checksum() {
        let mut inv = sample();
        inv.authority = "http://login.example.com".into();
        let e = parse(&link(&inv)).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Field].as_str()), (ErrorKind::InviteMalformed, "authority"));
        let mut inv = sample();
        inv.tenant = "common".into();
        assert_eq!(parse(&link(&inv)).unwrap_err().detail[&DetailKey::Field], "tenant");
        let mut inv = sample();
        inv.endpoints = Some(ServerEndpoints {
            imap: Endpoint { host: "imap.example".into(), port: 143, security: Security::Plain },
            pop3: Endpoint { host: "pop.example".into(), port: 995, security: Security::Tls },
            smtp: Endpoint { host: "smtp.example".into(), port: 587, security: Security::Starttls },
        });
        assert_eq!(parse(&link(&inv)).unwrap_err().detail[&DetailKey::Field], "endpoints");
    }

    #[test]
    fn files_are_size_checked_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.exoinvite");
        std::fs::write(&p, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(read_file(&p).unwrap_err().kind, ErrorKind::InviteTooLarge);
        assert_eq!(read_file(&dir.path().join("missing")).unwrap_err().kind, ErrorKind::InviteFileUnreadable);
        let ok = dir.path().join("ok.exoinvite");
        std::fs::write(&ok, file_contents(&sample())).unwrap();
        assert_eq!(read_file(&ok).unwrap(), sample());
    }

    /// Runs `read_file` in a thread; a read that has not returned within 5 s is a hang.
    fn read_file_within_5s(p: &Path) -> Result<Invitation, UiError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = p.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(read_file(&p));
        });
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("read_file blocked for 5 s")
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_named_as_an_invitation_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("taro.exoinvite");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let e = read_file_within_5s(&fifo).unwrap_err();
        assert_eq!((e.kind, e.actor), (ErrorKind::FileNotRegular, Actor::User));
        assert_eq!(e.detail[&DetailKey::Path], fifo.display().to_string());
        let e = read_file_within_5s(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FileNotRegular);
    }

    #[test]
    fn a_folder_named_as_an_invitation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("taro.exoinvite");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(read_file_within_5s(&folder).unwrap_err().kind, ErrorKind::FileNotRegular);
    }

    #[test]
    fn an_invitation_file_that_is_not_utf8_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin.exoinvite");
        std::fs::write(&p, [0xff, 0xfe, 0x7b]).unwrap();
        assert_eq!(read_file(&p).unwrap_err().kind, ErrorKind::InviteFileUnreadable);
    }
}
