//! The receipt: the one short mail a user's computer sends back to the administrator who invited
//! it, and the reading of what comes back to the administrator's mailbox.
//!
//! Why a mail: the administrator's list must learn that a mailbox was set up on a computer the
//! administrator never sees, and the only channel both sides already have is the mailboxes being
//! set up. The receipt says what the administrator needs and nothing more — the code of the
//! invitation, the event, the address, the protocols that work, the time, the app's version and
//! the kind of computer (never its name, never a token) — as a JSON attachment a program reads,
//! next to a text a person reads.
//!
//! Reading ([`classify`]): the administrator's mailbox is a real mailbox, so whatever is in it is
//! hostile until proven otherwise. A receipt is only the JSON attachment, strictly checked
//! (version, code, event, address, sizes); a delivery failure notice is only an RFC 3464
//! `multipart/report; report-type=delivery-status` with an `Action: failed` recipient, matched
//! by the receipt code or the Message-ID its quoted headers carry. Everything else is
//! [`Incoming::Other`] and is left alone. Nothing here panics on any input (a test feeds garbage
//! and every truncation of real mails).

use std::borrow::Cow;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Actor, ErrorKind, UiError};
use crate::invite::ReceiptRequest;
use crate::mailcheck::MailProtocol;
use crate::DetailKey;

use super::message::{ReceiptCodeHeader, RECEIPT_HEADER};
use super::settings::MailLanguage;

/// The receipt format this app writes and reads.
pub const RECEIPT_VERSION: u32 = 1;

/// The attachment's file name.
pub const ATTACHMENT_NAME: &str = "exo-setup-receipt.json";

/// Largest receipt JSON read (a real one is about 300 bytes).
pub const MAX_RECEIPT_JSON_BYTES: usize = 16 * 1024;

/// Largest mail [`classify`] looks at (a receipt is about 2 KiB, a bounce rarely over 100 KiB).
pub const MAX_MAIL_BYTES: usize = 256 * 1024;

/// Longest server text kept from a bounce (its status line and diagnostic).
const MAX_DIAGNOSTIC_CHARS: usize = 300;

/// The kinds of computer a receipt names.
pub const OS_FAMILIES: [&str; 4] = ["linux", "windows", "macos", "other"];

/// What happened on the user's computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReceiptEvent {
    /// The mail check passed: the mailbox works there.
    Verified,
    /// The user signed out of the mailbox there.
    SignedOut,
}

impl ReceiptEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::SignedOut => "signed_out",
        }
    }
}

/// The receipt, as the JSON attachment holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_VERSION`].
    pub exo_setup_receipt: u32,
    /// The invitation's receipt code (32 lower-case hex digits).
    pub code: String,
    pub event: ReceiptEvent,
    /// The mailbox the receipt is about.
    pub mailbox: String,
    /// The protocols that work (for `verified`).
    pub protocols: Vec<MailProtocol>,
    /// RFC 3339, when it happened.
    pub at: String,
    pub app_version: String,
    /// One of [`OS_FAMILIES`].
    pub os_family: String,
}

/// This computer's kind, as a receipt names it.
pub fn os_family() -> &'static str {
    match std::env::consts::OS {
        "linux" => "linux",
        "windows" => "windows",
        "macos" => "macos",
        _ => "other",
    }
}

impl Receipt {
    /// A receipt of this computer, now.
    pub fn new(code: &str, event: ReceiptEvent, mailbox: &str, protocols: &[MailProtocol]) -> Self {
        Self {
            exo_setup_receipt: RECEIPT_VERSION,
            code: code.to_owned(),
            event,
            mailbox: mailbox.trim().to_owned(),
            protocols: protocols.to_vec(),
            at: crate::store::now(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            os_family: os_family().to_owned(),
        }
    }

    /// Why it is not a receipt this app accepts, if it is not.
    pub fn problem(&self) -> Option<&'static str> {
        if self.exo_setup_receipt != RECEIPT_VERSION {
            return Some("unsupported version");
        }
        if !ReceiptRequest::code_is_valid(&self.code) {
            return Some("malformed code");
        }
        if self.mailbox.len() > 254 || crate::validate::address(&self.mailbox).ok().as_deref() != Some(&self.mailbox) {
            return Some("malformed mailbox");
        }
        let mut seen = Vec::new();
        for p in &self.protocols {
            if seen.contains(p) {
                return Some("repeated protocol");
            }
            seen.push(*p);
        }
        if self.at.len() > 40 || chrono::DateTime::parse_from_rfc3339(&self.at).is_err() {
            return Some("malformed time");
        }
        let version_ok = |v: &str| {
            (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".+-_".contains(&b))
        };
        if !version_ok(&self.app_version) {
            return Some("malformed app version");
        }
        if !OS_FAMILIES.contains(&self.os_family.as_str()) {
            return Some("unknown os family");
        }
        None
    }

    /// `imap smtp`: the protocols as the rollout table keeps them.
    pub fn protocols_text(&self) -> String {
        self.protocols.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no auto-reply answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AutoGenerated;

impl Header for AutoGenerated {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(Self)
        } else {
            Err("not auto-generated".into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

fn not_built(why: impl std::fmt::Display) -> UiError {
    UiError::new(ErrorKind::Unexpected, Actor::Support, format!("The receipt could not be built: {why}"))
        .with(DetailKey::Reason, why)
}

fn mailbox(address: &str) -> Result<Mailbox, UiError> {
    let parsed = address.trim().parse().map_err(|e| {
        UiError::new(
            ErrorKind::AddressInvalid,
            Actor::Admin,
            format!("{address} cannot be written in a mail header: {e}"),
        )
        .with(DetailKey::Address, address)
    })?;
    Ok(Mailbox::new(None, parsed))
}

/// The receipt mail from `from_address` (the user's mailbox) to `to_address` (the administrator's):
/// a text in `language` and the receipt attached as JSON, with the receipt code in
/// `X-Exo-Setup-Receipt` and `Auto-Submitted: auto-generated`. Its Message-ID names the sender's
/// domain, never this computer.
pub fn compose(
    receipt: &Receipt,
    from_address: &str,
    to_address: &str,
    language: MailLanguage,
) -> Result<Message, UiError> {
    if let Some(problem) = receipt.problem() {
        return Err(not_built(problem));
    }
    let json = serde_json::to_string_pretty(receipt).map_err(not_built)?;
    if json.len() > MAX_RECEIPT_JSON_BYTES {
        return Err(not_built("too large"));
    }
    let locale = language.as_str();
    let subject = match receipt.event {
        ReceiptEvent::Verified => {
            rust_i18n::t!("mail.receipt.verified_subject", locale = locale, address = receipt.mailbox)
        }
        ReceiptEvent::SignedOut => {
            rust_i18n::t!("mail.receipt.signed_out_subject", locale = locale, address = receipt.mailbox)
        }
    };
    let body = rust_i18n::t!(
        "mail.receipt.body",
        locale = locale,
        address = receipt.mailbox,
        event = receipt.event.as_str(),
        at = receipt.at
    );
    let domain = from_address.rsplit_once('@').map_or("exo-setup.invalid", |(_, d)| d.trim());
    Message::builder()
        .from(mailbox(from_address)?)
        .to(mailbox(to_address)?)
        .subject(subject)
        .message_id(Some(format!("<{}@{domain}>", uuid::Uuid::new_v4().simple())))
        .header(ReceiptCodeHeader(receipt.code.clone()))
        .header(AutoGenerated)
        .multipart(
            MultiPart::mixed().singlepart(SinglePart::plain(body.into_owned())).singlepart(
                Attachment::new(ATTACHMENT_NAME.to_owned())
                    .body(json, ContentType::parse("application/json").expect("a valid content type")),
            ),
        )
        .map_err(not_built)
}

/// What a mail in the administrator's mailbox is, for the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A valid receipt (its code may still match no account).
    Receipt(Receipt),
    /// It carries the receipt attachment, but that is not a receipt this app accepts (forged,
    /// damaged, another version).
    MalformedReceipt { reason: Cow<'static, str> },
    /// A delivery failure notice (RFC 3464, `Action: failed`) that quotes a receipt code or a
    /// Message-ID of the failed mail.
    Bounce {
        /// The `X-Exo-Setup-Receipt` of the failed mail, when its headers were quoted.
        code: Option<String>,
        /// The failed mail's Message-ID, `<…>`.
        message_id: Option<String>,
        /// The recipient that failed (`Final-Recipient`).
        recipient: Option<String>,
        /// The RFC 3463 status, e.g. `5.1.1`.
        status: String,
        /// The remote server's words (`Diagnostic-Code`), cleaned and shortened.
        diagnostic: Option<String>,
    },
    /// Anything else: not the rollout's, left alone.
    Other,
}

/// Whether headers (`BODY[HEADER.FIELDS (CONTENT-TYPE SUBJECT X-EXO-SETUP-RECEIPT)]` or the whole
/// header) say the mail may be the rollout's: it has a receipt code, its subject is a receipt's
/// (`exo-setup: …`, in case a server dropped the custom header), or it is a report. Cheap: the
/// reader fetches whole mails only for these.
pub fn may_be_ours(headers: &[u8]) -> bool {
    let Some(h) = MessageParser::default().parse_headers(headers.get(..MAX_MAIL_BYTES).unwrap_or(headers)) else {
        return false;
    };
    h.header(RECEIPT_HEADER).is_some()
        || h.subject().is_some_and(|s| s.trim_start().get(..10).is_some_and(|p| p.eq_ignore_ascii_case("exo-setup:")))
        || h.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
}

/// Reads a mail (raw RFC 5322 bytes) as a receipt, a bounce or something else. Never panics; a
/// mail over [`MAX_MAIL_BYTES`] is [`Incoming::Other`].
pub fn classify(raw: &[u8]) -> Incoming {
    if raw.len() > MAX_MAIL_BYTES {
        return Incoming::Other;
    }
    let Some(msg) = MessageParser::default().parse(raw) else { return Incoming::Other };
    let is_report = msg.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|r| {
                r.eq_ignore_ascii_case("delivery-status") || r.eq_ignore_ascii_case("global-delivery-status")
            })
    });
    if is_report {
        return bounce(&msg).unwrap_or(Incoming::Other);
    }
    receipt(&msg).unwrap_or(Incoming::Other)
}

fn is_type<'x>(part: &impl MimeHeaders<'x>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct.subtype().is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
    })
}

/// The receipt attachment, if the mail has one (its own parts only, not a forwarded mail's).
fn receipt(msg: &mail_parser::Message<'_>) -> Option<Incoming> {
    let part = msg
        .parts
        .iter()
        .find(|p| !p.is_multipart() && p.attachment_name().is_some_and(|n| n.eq_ignore_ascii_case(ATTACHMENT_NAME)))?;
    let malformed = |reason: &'static str| Some(Incoming::MalformedReceipt { reason: Cow::Borrowed(reason) });
    if !part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("application") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("json"))
    }) {
        return malformed("the attachment is not JSON");
    }
    let json = part.contents();
    if json.len() > MAX_RECEIPT_JSON_BYTES {
        return malformed("the attachment is too large");
    }
    let r: Receipt = match serde_json::from_slice(json) {
        Ok(r) => r,
        Err(_) => return malformed("the attachment is not a receipt"),
    };
    if let Some(problem) = r.problem() {
        return Some(Incoming::MalformedReceipt { reason: Cow::Borrowed(problem) });
    }
    if let Some(code) = msg.header_raw(RECEIPT_HEADER) {
        if code.trim() != r.code {
            return malformed("the header and the attachment name different codes");
        }
    }
    // A receipt is sent by the mailbox it is about (its own SMTP sign-in): one that comes from
    // anyone else speaks for a mailbox it does not own.
    let from = msg.from().and_then(|f| f.first()).and_then(|a| a.address());
    if !from.is_some_and(|f| f.eq_ignore_ascii_case(&r.mailbox)) {
        return malformed("the receipt does not come from the mailbox it is about");
    }
    Some(Incoming::Receipt(r))
}

/// Control characters out, runs of white space as one space, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    let words: Vec<&str> = s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
    words.join(" ").chars().take(max).collect()
}

/// RFC 3463: `class.subject.detail`, class 2, 4 or 5.
fn status_is_valid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && ["2", "4", "5"].contains(&parts[0])
        && parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// One per-recipient group of a `message/delivery-status` body: lower-case names, unfolded values.
fn dsn_groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in body.lines().take(2000) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if groups.last().is_some_and(|g| !g.is_empty()) {
                groups.push(Vec::new());
            }
            continue;
        }
        let Some(group) = groups.last_mut() else { continue };
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = group.last_mut() {
                if v.len() < 2000 {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// `rfc822; user@example.com` → `user@example.com`.
fn typed_value(v: &str) -> &str {
    v.split_once(';').map_or(v, |(_, rest)| rest).trim()
}

/// What the quoted headers of the failed mail say: its receipt code and Message-ID.
fn quoted_ids(msg: &mail_parser::Message<'_>) -> (Option<String>, Option<String>) {
    for part in &msg.parts {
        let headers = if let PartType::Message(original) = &part.body {
            Some(Cow::Borrowed(original.raw_message()))
        } else if is_type(part, "text", &["rfc822-headers"]) || is_type(part, "message", &["global-headers"]) {
            Some(Cow::Borrowed(part.contents()))
        } else {
            None
        };
        let Some(headers) = headers else { continue };
        let Some(quoted) = MessageParser::default().parse_headers(headers.as_ref()) else { continue };
        let code = quoted
            .header_raw(RECEIPT_HEADER)
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| ReceiptRequest::code_is_valid(c));
        let message_id = quoted
            .message_id()
            .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
            .filter(|id| {
                (3..=250).contains(&id.len())
                    && id.contains('@')
                    && id.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"\\".contains(&b))
            })
            .map(|id| format!("<{id}>"));
        if code.is_some() || message_id.is_some() {
            return (code, message_id);
        }
    }
    (None, None)
}

fn bounce(msg: &mail_parser::Message<'_>) -> Option<Incoming> {
    let status_part =
        msg.parts.iter().find(|p| is_type(*p, "message", &["delivery-status", "global-delivery-status"]))?;
    let body = String::from_utf8_lossy(status_part.contents());
    let groups = dsn_groups(&body);
    // The first group is about the message; the failed recipient is in a later one.
    let failed = groups.iter().skip(1).find(|g| {
        g.iter()
            .any(|(n, v)| n == "action" && v.split(['(', ' ']).next().is_some_and(|a| a.eq_ignore_ascii_case("failed")))
    })?;
    let field = |name: &str| failed.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let status = field("status").and_then(|s| s.split_whitespace().next()).filter(|s| status_is_valid(s))?;
    let recipient = field("final-recipient")
        .or_else(|| field("original-recipient"))
        .map(|v| clean(typed_value(v), 254))
        .filter(|r| !r.is_empty());
    let diagnostic =
        field("diagnostic-code").map(|v| clean(typed_value(v), MAX_DIAGNOSTIC_CHARS)).filter(|d| !d.is_empty());
    let (code, message_id) = quoted_ids(msg);
    if code.is_none() && message_id.is_none() {
        return None;
    }
    Some(Incoming::Bounce { code, message_id, recipient, status: status.to_owned(), diagnostic })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "0123456789abcdef0123456789abcdef";
    const POSTFIX_DSN: &str = include_str!("../../tests/fixtures/rollout/postfix-bounce.eml");
    const EXCHANGE_NDR: &str = include_str!("../../tests/fixtures/rollout/exchange-ndr.eml");

    fn sample(event: ReceiptEvent) -> Receipt {
        Receipt::new(CODE, event, "taro@contoso.example", &[MailProtocol::Imap, MailProtocol::Smtp])
    }

    fn raw(r: &Receipt, language: MailLanguage) -> Vec<u8> {
        compose(r, "taro@contoso.example", "admin@contoso.example", language).unwrap().formatted()
    }

    #[test]
    fn a_composed_receipt_reads_back_in_both_languages() {
        for (language, words) in [(MailLanguage::Ja, "受領通知"), (MailLanguage::En, "automatic receipt")] {
            for event in [ReceiptEvent::Verified, ReceiptEvent::SignedOut] {
                let r = sample(event);
                let mail = raw(&r, language);
                assert_eq!(classify(&mail), Incoming::Receipt(r.clone()));
                assert!(may_be_ours(&mail));
                let text = String::from_utf8(mail.clone()).unwrap();
                assert!(text.contains(&format!("X-Exo-Setup-Receipt: {CODE}")), "{text}");
                assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
                assert!(text.contains("@contoso.example>"), "the Message-ID names the mailbox's domain: {text}");
                let parsed = MessageParser::default().parse(&mail).unwrap();
                assert!(parsed.body_text(0).unwrap().contains(words), "{text}");
                let subject = parsed.subject().unwrap();
                assert!(subject.contains("taro@contoso.example"), "{subject}");
                assert_eq!(parsed.attachment(0).unwrap().attachment_name(), Some(ATTACHMENT_NAME));
                assert!(mail.len() < 8 * 1024, "{}", mail.len());
            }
        }
    }

    #[test]
    fn the_receipt_names_no_computer_and_no_secret() {
        let r = sample(ReceiptEvent::Verified);
        let json = serde_json::to_value(&r).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys.iter().map(|k| k.as_str()).collect::<std::collections::BTreeSet<_>>(),
            ["appVersion", "at", "code", "event", "exoSetupReceipt", "mailbox", "osFamily", "protocols"].into()
        );
        assert_eq!(json["protocols"], serde_json::json!(["imap", "smtp"]));
        assert!(OS_FAMILIES.contains(&r.os_family.as_str()));
    }

    #[test]
    fn an_invalid_receipt_is_not_composed() {
        let mut r = sample(ReceiptEvent::Verified);
        r.code = "not-a-code".into();
        assert!(compose(&r, "taro@contoso.example", "admin@contoso.example", MailLanguage::En).is_err());
    }

    /// A mail with a receipt attachment made of `json`.
    fn forged(json: &str, header_code: &str) -> Vec<u8> {
        format!(
            "From: <taro@contoso.example>\r\nTo: <admin@contoso.example>\r\nSubject: receipt\r\n\
             X-Exo-Setup-Receipt: {header_code}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
             --b\r\nContent-Type: application/json\r\nContent-Disposition: attachment; filename=\"exo-setup-receipt.json\"\r\n\r\n\
             {json}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn forged_and_damaged_receipts_are_told_apart_from_real_ones() {
        let good = serde_json::to_string(&sample(ReceiptEvent::Verified)).unwrap();
        assert!(matches!(classify(&forged(&good, CODE)), Incoming::Receipt(_)));
        // Sent by another mailbox than the one it is about: it speaks for a mailbox it does not own.
        let other_sender = String::from_utf8(forged(&good, CODE)).unwrap().replace("From: <taro@", "From: <jiro@");
        match classify(other_sender.as_bytes()) {
            Incoming::MalformedReceipt { reason } => {
                assert_eq!(reason, "the receipt does not come from the mailbox it is about")
            }
            other => panic!("{other:?}"),
        }
        // An unknown but well-formed code is a receipt: matching it is the reader's job.
        let other = good.replace(CODE, "ffffffffffffffffffffffffffffffff");
        assert!(matches!(classify(&forged(&other, "ffffffffffffffffffffffffffffffff")), Incoming::Receipt(_)));
        let cases = [
            (good.replace(CODE, "0123456789ABCDEF0123456789ABCDEF"), CODE, "malformed code"),
            (good.replace(CODE, "'; DROP TABLE rollout; --"), CODE, "malformed code"),
            (good.replace("\"exoSetupReceipt\":1", "\"exoSetupReceipt\":2"), CODE, "unsupported version"),
            (good.replace("taro@contoso.example", "taro@contoso example"), CODE, "malformed mailbox"),
            (good.replace("\"verified\"", "\"hacked\""), CODE, "the attachment is not a receipt"),
            (good.replace("\"code\"", "\"hostName\":\"pc-01\",\"code\""), CODE, "the attachment is not a receipt"),
            (good.clone(), "ffffffffffffffffffffffffffffffff", "the header and the attachment name different codes"),
            ("{".repeat(100), CODE, "the attachment is not a receipt"),
            (format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECEIPT_JSON_BYTES)), CODE, "the attachment is too large"),
        ];
        for (json, header, reason) in cases {
            match classify(&forged(&json, header)) {
                Incoming::MalformedReceipt { reason: r } => assert_eq!(r, reason, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_postfix_bounce_names_the_code_the_message_id_and_the_status() {
        assert!(may_be_ours(POSTFIX_DSN.as_bytes()));
        assert_eq!(
            classify(POSTFIX_DSN.as_bytes()),
            Incoming::Bounce {
                code: Some(CODE.into()),
                message_id: Some("<4f1c0e2a9b7d4e61a3c5d8e9f0a1b2c3@contoso.example>".into()),
                recipient: Some("nobody@contoso.example".into()),
                status: "5.1.1".into(),
                diagnostic: Some(
                    "550 5.1.1 <nobody@contoso.example>: Recipient address rejected: User unknown in local recipient table"
                        .into()
                ),
            }
        );
    }

    #[test]
    fn an_exchange_ndr_quoting_the_original_mail_is_matched_by_its_message_id() {
        match classify(EXCHANGE_NDR.as_bytes()) {
            Incoming::Bounce { code, message_id, recipient, status, diagnostic } => {
                assert_eq!(code, None);
                assert_eq!(message_id.as_deref(), Some("<9a8b7c6d5e4f40312233445566778899@contoso.example>"));
                assert_eq!(recipient.as_deref(), Some("jiro@contoso.example"));
                assert_eq!(status, "5.1.10");
                assert!(diagnostic.unwrap().contains("RESOLVER.ADR.RecipientNotFound"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delay_notice_or_a_report_about_nothing_of_ours_is_not_a_bounce() {
        let delayed =
            POSTFIX_DSN.replace("Action: failed", "Action: delayed").replace("Status: 5.1.1", "Status: 4.4.1");
        assert_eq!(classify(delayed.as_bytes()), Incoming::Other);
        let theirs = POSTFIX_DSN
            .replace("X-Exo-Setup-Receipt: 0123456789abcdef0123456789abcdef\n", "")
            .replace("Message-ID: <4f1c0e2a9b7d4e61a3c5d8e9f0a1b2c3@contoso.example>\n", "");
        assert_eq!(classify(theirs.as_bytes()), Incoming::Other);
        let bad_status = POSTFIX_DSN.replace("Status: 5.1.1", "Status: 5.1.1.1");
        assert_eq!(classify(bad_status.as_bytes()), Incoming::Other);
        // A plain mail is nothing of ours.
        let plain = b"From: <a@b.example>\r\nSubject: hello\r\n\r\nX-Exo-Setup-Receipt: in the body\r\n";
        assert_eq!(classify(plain), Incoming::Other);
        assert!(!may_be_ours(plain));
        assert!(may_be_ours(b"Subject: exo-setup: taro@contoso.example is set up\r\n\r\n"));
        assert!(!may_be_ours(b"Subject: Re: exo-setup: taro@contoso.example is set up\r\n\r\n"));
    }

    /// xorshift64*: repeatable noise without a dependency.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn garbage_truncations_and_mutations_never_panic() {
        let receipt = raw(&sample(ReceiptEvent::Verified), MailLanguage::Ja);
        let mails: [&[u8]; 3] = [&receipt, POSTFIX_DSN.as_bytes(), EXCHANGE_NDR.as_bytes()];
        for mail in mails {
            for cut in (0..mail.len()).step_by(7) {
                let _ = classify(&mail[..cut]);
                let _ = may_be_ours(&mail[..cut]);
            }
        }
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let mut bytes: Vec<u8> = if round % 3 == 0 {
                (0..noise.next() % 4096).map(|_| noise.next() as u8).collect()
            } else {
                mails[round % 3].to_vec()
            };
            for _ in 0..(noise.next() % 16) {
                if bytes.is_empty() {
                    break;
                }
                let at = (noise.next() as usize) % bytes.len();
                bytes[at] = [b'\r', b'\n', b'-', b':', b';', b'"', b'=', 0xff, 0, b' '][(noise.next() % 10) as usize];
            }
            let _ = classify(&bytes);
            let _ = may_be_ours(&bytes);
        }
        assert_eq!(classify(&vec![b'a'; MAX_MAIL_BYTES + 1]), Incoming::Other);
        assert_eq!(classify(b""), Incoming::Other);
    }
}
