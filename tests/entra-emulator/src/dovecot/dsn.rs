//! The delivery status notification (RFC 3464) the relay returns to the sender of a message whose recipient was
//! scripted to bounce ([`super::RelayFault::Bounce`]): what a real MTA sends when a recipient vanishes after it
//! accepted the message. A real DSN, not a look-alike, so that code parsing bounces (the original Message-ID in the
//! `text/rfc822-headers` part, `Final-Recipient`, `Status`) is tested against the format it will meet.

use chrono::{DateTime, Utc};

/// Where the DSN comes from (`From:`, `Reporting-MTA`).
pub(super) const MAILER_DAEMON: &str = "MAILER-DAEMON@localhost";
const REPORTING_MTA: &str = "localhost";

/// The SMTP reply a bounced recipient gets in its DSN's `Diagnostic-Code`.
pub(super) fn diagnostic(recipient: &str) -> String {
    format!("550 5.1.1 <{recipient}>: Recipient address rejected: User unknown")
}

/// A `multipart/report; report-type=delivery-status` message to `sender` saying that `original` could not be
/// delivered to `recipients` (`Action: failed`, `Status: 5.1.1`): a text/plain part, the `message/delivery-status`
/// part (one block per recipient) and the original's header block as `text/rfc822-headers`.
pub(super) fn delivery_status_notification(
    sender: &str,
    recipients: &[String],
    original: &[u8],
    arrival: DateTime<Utc>,
) -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let boundary = format!("=_dsn_{id}");
    let now = rfc2822(Utc::now());
    let mut human = String::new();
    let mut report = format!("Reporting-MTA: dns; {REPORTING_MTA}\r\nArrival-Date: {}\r\n", rfc2822(arrival));
    for rcpt in recipients {
        let why = diagnostic(rcpt);
        human.push_str(&format!("<{rcpt}>: host {REPORTING_MTA} said: {why}\r\n"));
        report.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\n\
             Status: 5.1.1\r\nDiagnostic-Code: smtp; {why}\r\n"
        ));
    }
    let mut out = format!(
        "From: Mail Delivery System <{MAILER_DAEMON}>\r\nTo: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nDate: {now}\r\nMessage-ID: <dsn.{id}@{REPORTING_MTA}>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n\
         This is a MIME-encapsulated message.\r\n\r\n\
         --{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is the mail system at host {REPORTING_MTA}.\r\n\r\n\
         I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n\
         {human}\r\n\
         --{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
         {report}\r\n\
         --{boundary}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(header_block(original));
    if !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The header block of `message`: everything before the first empty line (all of it when there is none).
fn header_block(message: &[u8]) -> &[u8] {
    let mut start = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            return &message[..start];
        }
        start += line.len();
    }
    message
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dsn_is_a_delivery_status_report_with_the_original_headers() {
        let original = b"From: <taro@contoso.example>\r\nTo: <ghost@contoso.example>\r\nSubject: Invitation\r\n\
            Message-ID: <inv-1@contoso.example>\r\nX-Exo-Invitation: abc\r\n\r\nBODY-SECRET\r\n";
        let dsn = delivery_status_notification(
            "taro@contoso.example",
            &["ghost@contoso.example".into(), "nobody@contoso.example".into()],
            original,
            Utc::now(),
        );
        let dsn = String::from_utf8(dsn).unwrap();
        let boundary = dsn.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"), "{dsn}");
        assert!(dsn.starts_with("From: Mail Delivery System <MAILER-DAEMON@localhost>\r\nTo: <taro@contoso.example>"));
        // Three parts and the closing delimiter, in this order.
        let parts: Vec<&str> = dsn.split(&format!("--{boundary}")).collect();
        assert_eq!(parts.len(), 5, "{dsn}");
        assert!(parts[1].contains("Content-Type: text/plain"));
        assert!(parts[2].contains("Content-Type: message/delivery-status"));
        assert!(parts[3].contains("Content-Type: text/rfc822-headers"));
        assert_eq!(parts[4], "--\r\n");
        let report = parts[2];
        assert!(report.contains("Reporting-MTA: dns; localhost\r\n"), "{report}");
        for rcpt in ["ghost@contoso.example", "nobody@contoso.example"] {
            let block = report.split("\r\n\r\n").find(|b| b.contains(&format!("Final-Recipient: rfc822; {rcpt}")));
            let block = block.unwrap_or_else(|| panic!("no block for {rcpt}: {report}"));
            assert!(block.contains("Action: failed\r\nStatus: 5.1.1\r\n"), "{block}");
            assert!(block.contains(&format!("Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>:")), "{block}");
        }
        assert!(parts[3].contains("Message-ID: <inv-1@contoso.example>\r\nX-Exo-Invitation: abc\r\n"));
        assert!(!dsn.contains("BODY-SECRET"), "the original body is not returned");
    }

    #[test]
    fn the_header_block_ends_at_the_first_empty_line() {
        assert_eq!(header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"), b"A: 1\r\nB: 2\r\n");
        assert_eq!(header_block(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n");
        assert_eq!(header_block(b"A: 1\r\n"), b"A: 1\r\n");
    }
}
