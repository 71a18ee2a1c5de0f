//! The mails of the rollout, built with lettre's message builder (MIME structure, encoded words
//! for Japanese names and subjects, base64 for the attachment): the invitation and the reminder
//! (a text part with the link, the `.exoinvite` file attached).
//!
//! Texts come from `locales/{ja,en}.yml` (rust-i18n), in the organization's language. Every mail
//! carries the account's receipt code in an `X-Exo-Setup-Receipt` header, so that a delivery
//! failure notice quoting the headers (RFC 3464 `text/rfc822-headers`) is matched to the account
//! even when its Message-ID is lost.

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};

use crate::error::{Actor, ErrorKind, UiError};
use crate::invite::{self, Invitation, ReceiptRequest};
use crate::model::InvitationLink;
use crate::DetailKey;

use super::outbox::MailKind;
use super::settings::MailLanguage;

/// `X-Exo-Setup-Receipt: <code>` on every mail of the rollout (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCodeHeader(pub String);

/// The header's name, as written and as searched for.
pub const RECEIPT_HEADER: &str = "X-Exo-Setup-Receipt";

impl Header for ReceiptCodeHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(RECEIPT_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let code = s.trim();
        if ReceiptRequest::code_is_valid(code) {
            Ok(Self(code.to_owned()))
        } else {
            Err("not a receipt code".into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// What an invitation mail needs besides the invitation.
pub struct InvitationMail<'a> {
    pub kind: MailKind,
    pub language: MailLanguage,
    /// The administrator's mailbox (From, and where receipts go).
    pub sender: &'a str,
    pub message_id: &'a str,
    pub receipt_code: &'a str,
}

fn mailbox(name: &str, address: &str) -> Result<Mailbox, UiError> {
    let parsed = address.parse().map_err(|e| {
        UiError::new(
            ErrorKind::AddressInvalid,
            Actor::Admin,
            format!("{address} cannot be written in a mail header: {e}"),
        )
        .with(DetailKey::Address, address)
    })?;
    Ok(Mailbox::new((!name.is_empty()).then(|| name.to_owned()), parsed))
}

fn built(e: lettre::error::Error) -> UiError {
    UiError::new(ErrorKind::Unexpected, Actor::Support, format!("The mail could not be built: {e}"))
        .with(DetailKey::Reason, e)
}

/// The invitation of `link`/`inv`, with the receipt request added, as a mail from the sender.
pub fn invitation(mail: &InvitationMail<'_>, link: &InvitationLink, inv: &Invitation) -> Result<Message, UiError> {
    let mut inv = inv.clone();
    inv.receipts = Some(ReceiptRequest { to: mail.sender.to_owned(), code: mail.receipt_code.to_owned() });
    let url = invite::link(&inv);
    let file = invite::file_contents(&inv);
    let locale = mail.language.as_str();
    let org = if inv.organization_name.is_empty() { inv.tenant.clone() } else { inv.organization_name.clone() };
    let name = if inv.display_name.is_empty() { inv.address.clone() } else { inv.display_name.clone() };
    let subject_key = match mail.kind {
        MailKind::Invitation => "mail.invitation.subject",
        MailKind::Reminder => "mail.invitation.reminder_subject",
    };
    let subject = rust_i18n::t!(subject_key, locale = locale, org = org, address = inv.address);
    let mut body = rust_i18n::t!(
        "mail.invitation.body",
        locale = locale,
        name = name,
        sender = mail.sender,
        org = org,
        address = inv.address,
        link = url,
        file = link.file_name,
        login = inv.login_name
    )
    .into_owned();
    if mail.kind == MailKind::Reminder {
        body = format!("{}\n\n{body}", rust_i18n::t!("mail.invitation.reminder_intro", locale = locale));
    }
    Message::builder()
        .from(mailbox(&org, mail.sender)?)
        .to(mailbox(&inv.display_name, &inv.address)?)
        .subject(subject)
        .message_id(Some(mail.message_id.to_owned()))
        .header(ReceiptCodeHeader(mail.receipt_code.to_owned()))
        .multipart(
            MultiPart::mixed().singlepart(SinglePart::plain(body)).singlepart(
                Attachment::new(link.file_name.clone())
                    .body(file, ContentType::parse("application/octet-stream").expect("a valid content type")),
            ),
        )
        .map_err(built)
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders;

    use super::*;

    fn sample() -> (InvitationLink, Invitation) {
        let inv = crate::invite::format::tests_sample();
        let link = InvitationLink {
            account_id: 1,
            address: inv.address.clone(),
            display_name: inv.display_name.clone(),
            link: invite::link(&inv),
            file_name: format!("{}.exoinvite", inv.address),
        };
        (link, inv)
    }

    #[test]
    fn the_mail_carries_a_working_link_and_file_with_the_receipt_request() {
        let (link, inv) = sample();
        let code = "0123456789abcdef0123456789abcdef";
        for (language, greeting) in [(MailLanguage::Ja, "さん"), (MailLanguage::En, "Hello")] {
            let mail = InvitationMail {
                kind: MailKind::Invitation,
                language,
                sender: "admin@contoso.example",
                message_id: "<m1@contoso.example>",
                receipt_code: code,
            };
            let msg = invitation(&mail, &link, &inv).unwrap();
            let raw = String::from_utf8(msg.formatted()).unwrap();
            assert!(raw.contains("X-Exo-Setup-Receipt: 0123456789abcdef0123456789abcdef"), "{raw}");
            assert!(raw.contains("Message-ID: <m1@contoso.example>"), "{raw}");
            let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
            let text = parsed.body_text(0).unwrap();
            assert!(text.contains(greeting), "{text}");
            // The link in the text and the attached file both read back with the receipt request.
            let url = text.split_whitespace().find(|w| w.starts_with("dev.exosetup.wizard://")).unwrap();
            let from_link = invite::parse(url).unwrap();
            let attached = parsed.attachment(0).unwrap();
            assert_eq!(attached.attachment_name(), Some(link.file_name.as_str()));
            let from_file = invite::parse(std::str::from_utf8(attached.contents()).unwrap()).unwrap();
            assert_eq!(from_link, from_file);
            let receipts = from_link.receipts.unwrap();
            assert_eq!((receipts.to.as_str(), receipts.code.as_str()), ("admin@contoso.example", code));
            assert_eq!(from_link.address, inv.address);
        }
    }

    #[test]
    fn a_reminder_says_so_first() {
        let (link, inv) = sample();
        let mail = InvitationMail {
            kind: MailKind::Reminder,
            language: MailLanguage::En,
            sender: "admin@contoso.example",
            message_id: "<m2@contoso.example>",
            receipt_code: "0123456789abcdef0123456789abcdef",
        };
        let raw = invitation(&mail, &link, &inv).unwrap().formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert!(parsed.subject().unwrap().starts_with("Reminder"));
        assert!(parsed.body_text(0).unwrap().starts_with("Your mailbox is not set up yet"));
    }
}
