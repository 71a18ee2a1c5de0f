//! Hands an accepted message to Dovecot's LMTP service (a unix socket in the rig's `run/`), so that Dovecot itself
//! writes it into the recipients' Maildirs: the files are Dovecot's own (names, permissions, indexes), exactly what
//! its IMAP and POP3 then serve. LMTP rather than writing files: a Maildir filled behind Dovecot's back works only
//! until Dovecot's index and the files disagree, and a rig that delivers like a real MTA tests like one.
//!
//! One connection per message: `LHLO`, `MAIL FROM`, one `RCPT TO` per recipient, `DATA`, then one reply per
//! accepted recipient (LMTP's difference from SMTP), `QUIT`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How delivery to one recipient ended: `Ok`, or the LMTP reply that refused it (e.g. `451 4.3.0 …`).
pub(super) type Outcome = Result<(), String>;

/// Delivers `message` (unstuffed, CRLF lines) from `from` (`""` = the null sender) to each of `recipients`.
/// `Err` when LMTP could not be spoken at all (socket, I/O, a refused `MAIL FROM` or `DATA`); otherwise one
/// [`Outcome`] per recipient, in order.
pub(super) fn deliver(
    socket: &Path,
    from: &str,
    recipients: &[String],
    message: &[u8],
) -> std::io::Result<Vec<Outcome>> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut wr = stream.try_clone()?;
    let mut rd = BufReader::new(stream);
    expect(&mut rd, 220, "greeting")?;
    wr.write_all(b"LHLO localhost\r\n")?;
    expect(&mut rd, 250, "LHLO")?;
    wr.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())?;
    expect(&mut rd, 250, "MAIL FROM")?;
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(recipients.len());
    for rcpt in recipients {
        wr.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())?;
        let (code, text) = reply(&mut rd)?;
        outcomes.push(if code == 250 { Ok(()) } else { Err(text) });
    }
    if outcomes.iter().any(Result::is_ok) {
        wr.write_all(b"DATA\r\n")?;
        expect(&mut rd, 354, "DATA")?;
        wr.write_all(&dot_stuffed(message))?;
        // One reply per recipient LMTP accepted at RCPT.
        for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
            let (code, text) = reply(&mut rd)?;
            if code != 250 {
                *outcome = Err(text);
            }
        }
    }
    let _ = wr.write_all(b"QUIT\r\n");
    Ok(outcomes)
}

/// `message` as DATA content: every line starting with `.` gets a second one, the last line is ended, and the
/// terminating `.` line follows.
pub(super) fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn expect(rd: &mut impl BufRead, code: u16, step: &str) -> std::io::Result<()> {
    let (got, text) = reply(rd)?;
    if got == code {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("LMTP {step}: {text}")))
    }
}

/// One (possibly multi-line) reply: its code and its last line.
fn reply(rd: &mut impl BufRead) -> std::io::Result<(u16, String)> {
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "LMTP closed the connection"));
        }
        let line = line.trim_end().to_string();
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
        let Some(code) = code else {
            return Err(std::io::Error::other(format!("LMTP: not a reply: {line}")));
        };
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_and_terminated() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n..\r\nc"), b"a\r\n..b\r\n...\r\nc\r\n.\r\n".to_vec());
        assert_eq!(dot_stuffed(b""), b".\r\n".to_vec());
    }

    #[test]
    fn multi_line_replies_end_at_the_line_without_a_dash() {
        let mut input: &[u8] = b"250-localhost\r\n250-8BITMIME\r\n250 PIPELINING\r\n451 4.3.0 later\r\n";
        assert_eq!(reply(&mut input).unwrap(), (250, "250 PIPELINING".into()));
        assert_eq!(reply(&mut input).unwrap(), (451, "451 4.3.0 later".into()));
        assert!(reply(&mut input).is_err());
    }
}
