//! The SMTP server Dovecot's submission service relays to (`submission_relay_host`): it stands where Exchange
//! Online's outbound transport would, so that tests can send mail with the app's own SMTP client and find it in the
//! recipients' mailboxes over IMAP.
//!
//! - Every accepted message is handed to Dovecot over LMTP ([`super::lmtp`]): Dovecot delivers it into the
//!   recipients' Maildirs. The DATA reply comes after that delivery, so when the submitting client has its `250`
//!   the message is already in the INBOX (a real MTA is asynchronous; a test rig that is not needs no polling).
//! - A recipient without a mailbox (neither an emulator user nor a Maildir made by a login) gets
//!   `550 5.1.1 User unknown` at RCPT.
//! - Tests script faults per recipient address ([`RelayFaults`], [`RelayFault`]): a temporary failure the next n
//!   times, a permanent rejection, or a bounce after acceptance (an RFC 3464 report into the sender's mailbox).
//! - Everything accepted is recorded ([`Relayed`]). A message over [`MAX_MESSAGE_BYTES`] is refused with `552`
//!   (advertised as `SIZE`), so memory stays bounded.
//! - SMTP has one DATA reply for all recipients: when LMTP refuses one recipient of several, the relay answers with
//!   that refusal although the others got the message (a client that retries delivers to them twice).
//!
//! Plain threads, one per connection; stopped on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{dsn, lmtp};

/// The largest message the relay accepts (bytes after dot-unstuffing); larger ones get `552 5.3.4`.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
const MAX_COMMAND_LINE: u64 = 4096;

/// What the relay does to one recipient address, as scripted by a test ([`RelayFaults::set`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayFault {
    /// `RCPT` is answered `451 4.3.0 Temporary failure` the next `times` times; after that the address is
    /// accepted again (the fault is then gone).
    Defer { times: u32 },
    /// `RCPT` is answered `550 5.1.1 Recipient address rejected: User unknown`, until cleared.
    Reject,
    /// `RCPT` is accepted (`250`), but instead of a delivery the sender (the `MAIL FROM` address) gets a delivery
    /// status notification saying the recipient failed (`Status: 5.1.1`), until cleared.
    Bounce,
    /// Set on a SENDER (`MAIL FROM`): the end of every `DATA` of theirs is answered as Exchange Online answers a
    /// mailbox that may not send as that address — `550 5.7.60 SMTP; Client does not have permissions to send
    /// as this sender` — until cleared. Nothing is delivered.
    SendAsDenied,
}

/// The faults scripted per recipient address (compared without case). A handle: clones share the faults.
#[derive(Debug, Clone, Default)]
pub struct RelayFaults {
    by_address: Arc<Mutex<HashMap<String, RelayFault>>>,
}

impl RelayFaults {
    /// From now on, `address` gets `fault` (replacing any fault it had).
    pub fn set(&self, address: &str, fault: RelayFault) {
        self.lock().insert(address.to_ascii_lowercase(), fault);
    }

    /// `address` is relayed normally again.
    pub fn clear(&self, address: &str) {
        self.lock().remove(&address.to_ascii_lowercase());
    }

    /// Every address is relayed normally again.
    pub fn clear_all(&self) {
        self.lock().clear();
    }

    /// The fault `address` has now (a `Defer` with the deferrals left).
    pub fn get(&self, address: &str) -> Option<RelayFault> {
        self.lock().get(&address.to_ascii_lowercase()).copied()
    }

    /// The fault that applies to this `RCPT` of `address`; a `Defer` uses up one deferral.
    fn at_rcpt(&self, address: &str) -> Option<RelayFault> {
        let mut faults = self.lock();
        let key = address.to_ascii_lowercase();
        match faults.get_mut(&key) {
            Some(RelayFault::Defer { times }) if *times > 1 => {
                *times -= 1;
                Some(RelayFault::Defer { times: *times + 1 })
            }
            Some(RelayFault::Defer { times }) => {
                let now = (*times == 1).then_some(RelayFault::Defer { times: 1 });
                faults.remove(&key);
                now
            }
            other => other.copied(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RelayFault>> {
        self.by_address.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One message the relay accepted (its DATA got `250`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The envelope sender (`MAIL FROM`), as given.
    pub from: String,
    /// Every recipient accepted at `RCPT`, as given (bounced ones included).
    pub to: Vec<String>,
    /// The recipients of `to` that were scripted to [`RelayFault::Bounce`]: they got no copy; the sender got a DSN.
    pub bounced: Vec<String>,
    /// The message as received (dot-unstuffed, CRLF line ends as sent).
    pub data: Vec<u8>,
}

/// Where the relay delivers: the addresses that have a mailbox and Dovecot's LMTP socket.
#[derive(Debug, Clone)]
pub(super) struct Mailboxes {
    /// `<dir>/mail`: one directory per mailbox, named by the lower-case address.
    pub mail_dir: PathBuf,
    /// The emulator's users' addresses (lower case), whose mailboxes exist from the start.
    pub known: Vec<String>,
    /// Dovecot's LMTP listener.
    pub lmtp_socket: PathBuf,
}

impl Mailboxes {
    /// Whether `address` has a mailbox: an emulator user, or a Maildir Dovecot made at a login.
    fn exists(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        let plain = a.contains('@') && !a.contains('/') && !a.starts_with('.');
        self.known.contains(&a) || (plain && self.mail_dir.join(&a).is_dir())
    }
}

#[derive(Debug)]
struct Shared {
    mailboxes: Mailboxes,
    faults: RelayFaults,
    relayed: Mutex<Vec<Relayed>>,
}

/// The running relay: a loopback port; stopped on drop.
#[derive(Debug)]
pub(super) struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl Relay {
    pub fn start(mailboxes: Mailboxes) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared { mailboxes, faults: RelayFaults::default(), relayed: Mutex::default() });
        let (stopped, sessions) = (Arc::clone(&stop), Arc::clone(&shared));
        std::thread::Builder::new().name("dovecot-relay".into()).spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    let shared = Arc::clone(&sessions);
                    let _ = std::thread::Builder::new().name("dovecot-relay-conn".into()).spawn(move || {
                        let _ = Session { shared: &shared, from: None, rcpts: vec![] }.run(stream);
                    });
                }
            }
        })?;
        Ok(Relay { port, stop, shared })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn faults(&self) -> &RelayFaults {
        &self.shared.faults
    }

    pub fn relayed(&self) -> Vec<Relayed> {
        self.shared.relayed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One accepted recipient of the transaction under way.
struct Rcpt {
    address: String,
    bounce: bool,
}

struct Session<'a> {
    shared: &'a Shared,
    /// `Some` after `MAIL FROM` (`""` for the null sender).
    from: Option<String>,
    rcpts: Vec<Rcpt>,
}

impl Session<'_> {
    fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut wr = stream.try_clone()?;
        let mut rd = BufReader::new(stream);
        wr.write_all(b"220 localhost ESMTP entra-emulator relay\r\n")?;
        loop {
            let Some(line) = read_line(&mut rd, MAX_COMMAND_LINE)? else { return Ok(()) };
            if !line.ends_with(b"\n") {
                wr.write_all(b"500 5.5.2 Line too long\r\n")?;
                return Ok(());
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let answer = match verb.as_str() {
                "EHLO" => {
                    self.reset();
                    format!(
                        "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE {MAX_MESSAGE_BYTES}\r\n\
                         250 ENHANCEDSTATUSCODES"
                    )
                }
                "HELO" => {
                    self.reset();
                    "250 localhost".into()
                }
                "MAIL" => self.mail(&line),
                "RCPT" => self.rcpt(&line),
                "DATA" if self.rcpts.is_empty() => "503 5.5.1 Error: no valid recipients".into(),
                "DATA" => {
                    wr.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                    let data = read_data(&mut rd)?;
                    let answer = match data {
                        Some(data) => self.deliver(data),
                        None => format!("552 5.3.4 Message size exceeds fixed limit ({MAX_MESSAGE_BYTES} bytes)"),
                    };
                    self.reset();
                    answer
                }
                "RSET" => {
                    self.reset();
                    "250 2.0.0 Ok".into()
                }
                "NOOP" => "250 2.0.0 Ok".into(),
                "QUIT" => {
                    wr.write_all(b"221 2.0.0 Bye\r\n")?;
                    return Ok(());
                }
                _ => "502 5.5.2 Error: command not recognized".into(),
            };
            wr.write_all(answer.as_bytes())?;
            wr.write_all(b"\r\n")?;
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    fn mail(&mut self, line: &str) -> String {
        if self.from.is_some() {
            return "503 5.5.1 Error: nested MAIL command".into();
        }
        let Some((from, params)) = path_argument(line, "MAIL FROM:") else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>".into();
        };
        let size = params
            .split_ascii_whitespace()
            .find_map(|p| p.get(..5).filter(|k| k.eq_ignore_ascii_case("SIZE=")).map(|_| &p[5..]))
            .and_then(|s| s.parse::<usize>().ok());
        if size.is_some_and(|s| s > MAX_MESSAGE_BYTES) {
            return "552 5.3.4 Message size exceeds fixed limit".into();
        }
        self.from = Some(from);
        "250 2.1.0 Ok".into()
    }

    fn rcpt(&mut self, line: &str) -> String {
        if self.from.is_none() {
            return "503 5.5.1 Error: need MAIL command".into();
        }
        let Some((address, _)) = path_argument(line, "RCPT TO:") else {
            return "501 5.5.4 Syntax: RCPT TO:<address>".into();
        };
        let bounce = match self.shared.faults.at_rcpt(&address) {
            Some(RelayFault::Defer { .. }) => return "451 4.3.0 Temporary failure".into(),
            Some(RelayFault::Reject) => return "550 5.1.1 Recipient address rejected: User unknown".into(),
            Some(RelayFault::Bounce) => true,
            Some(RelayFault::SendAsDenied) => false,
            None if !self.shared.mailboxes.exists(&address) => return "550 5.1.1 User unknown".into(),
            None => false,
        };
        self.rcpts.push(Rcpt { address, bounce });
        "250 2.1.5 Ok".into()
    }

    /// Delivers the message of the transaction (LMTP), sends the DSN of bounced recipients, records it; the DATA
    /// reply.
    fn deliver(&mut self, data: Vec<u8>) -> String {
        let arrival = chrono::Utc::now();
        let from = self.from.clone().unwrap_or_default();
        if self.shared.faults.get(&from) == Some(RelayFault::SendAsDenied) {
            return "550 5.7.60 SMTP; Client does not have permissions to send as this sender".into();
        }
        let (bounced, delivered): (Vec<&Rcpt>, Vec<&Rcpt>) = self.rcpts.iter().partition(|r| r.bounce);
        let delivered: Vec<String> = delivered.iter().map(|r| r.address.clone()).collect();
        let bounced: Vec<String> = bounced.iter().map(|r| r.address.clone()).collect();
        let lmtp_socket = &self.shared.mailboxes.lmtp_socket;
        if !delivered.is_empty() {
            match lmtp::deliver(lmtp_socket, &from, &delivered, &data) {
                Err(e) => return format!("451 4.4.0 Local delivery failed: {e}"),
                Ok(outcomes) => {
                    if let Some(Err(refusal)) = outcomes.into_iter().find(Result::is_err) {
                        return refusal;
                    }
                }
            }
        }
        // A bounce goes to the sender's mailbox when there is one (a real MTA would send it on; here there is
        // nowhere else). Never to the null sender: bounces are not bounced.
        if !bounced.is_empty() && !from.is_empty() && self.shared.mailboxes.exists(&from) {
            let report = dsn::delivery_status_notification(&from, &bounced, &data, arrival);
            match lmtp::deliver(lmtp_socket, "", &[from.to_ascii_lowercase()], &report) {
                Ok(outcomes) if outcomes.iter().all(Result::is_ok) => {}
                other => eprintln!("dovecot relay: the DSN to {from} was not delivered: {other:?}"),
            }
        }
        let to = self.rcpts.iter().map(|r| r.address.clone()).collect();
        self.shared.relayed.lock().unwrap_or_else(|e| e.into_inner()).push(Relayed { from, to, bounced, data });
        "250 2.0.0 Ok: delivered".into()
    }
}

/// `<address>` and the parameters after it, from `MAIL FROM:<a> BODY=8BITMIME` (`prefix` without case).
fn path_argument(line: &str, prefix: &str) -> Option<(String, String)> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((rest[..end].to_string(), rest[end + 1..].trim().to_string()))
}

/// A line of at most `limit` bytes (with its `\n`; without one when the limit cut it); `None` at the end of input.
fn read_line(rd: &mut impl BufRead, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = rd.take(limit).read_until(b'\n', &mut line)?;
    Ok((n > 0).then_some(line))
}

/// DATA up to the `.` line, dot-unstuffed; `None` when it was larger than [`MAX_MESSAGE_BYTES`] (read to the end
/// all the same, so that the session can go on).
fn read_data(rd: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let Some(line) = read_line(rd, MAX_MESSAGE_BYTES as u64 + 3)? else {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed in DATA"));
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(data));
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if too_big || data.len() + line.len() > MAX_MESSAGE_BYTES {
            too_big = true;
            data = Vec::new();
        } else {
            data.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay whose only mailbox is taro's, with no Dovecot behind it (LMTP socket missing).
    fn relay_without_dovecot() -> (Relay, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mailboxes = Mailboxes {
            mail_dir: dir.path().join("mail"),
            known: vec!["taro@contoso.example".into()],
            lmtp_socket: dir.path().join("run/lmtp"),
        };
        (Relay::start(mailboxes).unwrap(), dir)
    }

    struct Client {
        wr: TcpStream,
        rd: BufReader<TcpStream>,
    }

    impl Client {
        fn connect(relay: &Relay) -> Client {
            let s = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut c = Client { wr: s.try_clone().unwrap(), rd: BufReader::new(s) };
            assert!(c.reply().starts_with("220 "));
            c
        }

        /// Sends `line` and returns the (last line of the) reply.
        fn say(&mut self, line: &str) -> String {
            self.wr.write_all(format!("{line}\r\n").as_bytes()).unwrap();
            self.reply()
        }

        fn reply(&mut self) -> String {
            loop {
                let mut line = String::new();
                self.rd.read_line(&mut line).unwrap();
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_string();
                }
            }
        }
    }

    #[test]
    fn recipients_without_a_mailbox_are_unknown_and_data_needs_a_recipient() {
        let (relay, dir) = relay_without_dovecot();
        std::fs::create_dir_all(dir.path().join("mail/logged-in@contoso.example")).unwrap();
        let mut c = Client::connect(&relay);
        assert!(c.say("EHLO me").contains("ENHANCEDSTATUSCODES"));
        assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "503 5.5.1 Error: need MAIL command");
        assert_eq!(c.say("MAIL FROM:<hanako@contoso.example> BODY=8BITMIME"), "250 2.1.0 Ok");
        assert_eq!(c.say("RCPT TO:<ghost@contoso.example>"), "550 5.1.1 User unknown");
        assert_eq!(c.say("RCPT TO:<../../etc@x>"), "550 5.1.1 User unknown");
        assert_eq!(c.say("DATA"), "503 5.5.1 Error: no valid recipients");
        assert_eq!(c.say("RCPT TO:<Taro@Contoso.Example>"), "250 2.1.5 Ok");
        assert_eq!(c.say("RCPT TO:<logged-in@contoso.example>"), "250 2.1.5 Ok", "a Maildir made at login counts");
        assert_eq!(c.say("QUIT"), "221 2.0.0 Bye");
    }

    #[test]
    fn scripted_faults_answer_rcpt_and_a_deferral_is_used_up() {
        let (relay, _dir) = relay_without_dovecot();
        let faults = relay.faults().clone();
        faults.set("Taro@contoso.example", RelayFault::Defer { times: 2 });
        let mut c = Client::connect(&relay);
        c.say("EHLO me");
        c.say("MAIL FROM:<hanako@contoso.example>");
        assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "451 4.3.0 Temporary failure");
        assert_eq!(faults.get("taro@contoso.example"), Some(RelayFault::Defer { times: 1 }));
        assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "451 4.3.0 Temporary failure");
        assert_eq!(faults.get("taro@contoso.example"), None);
        assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "250 2.1.5 Ok");
        faults.set("taro@contoso.example", RelayFault::Reject);
        for _ in 0..2 {
            assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "550 5.1.1 Recipient address rejected: User unknown");
        }
        faults.set("ghost@contoso.example", RelayFault::Bounce);
        assert_eq!(c.say("RCPT TO:<ghost@contoso.example>"), "250 2.1.5 Ok", "a bounce is accepted first");
        faults.clear("ghost@contoso.example");
        assert_eq!(c.say("RCPT TO:<ghost@contoso.example>"), "550 5.1.1 User unknown");
        faults.set("taro@contoso.example", RelayFault::Defer { times: 0 });
        assert_eq!(c.say("RCPT TO:<taro@contoso.example>"), "250 2.1.5 Ok", "no deferral left");
    }

    #[test]
    fn a_failed_local_delivery_is_a_temporary_failure_and_is_not_recorded() {
        let (relay, _dir) = relay_without_dovecot();
        let mut c = Client::connect(&relay);
        c.say("EHLO me");
        c.say("MAIL FROM:<hanako@contoso.example>");
        c.say("RCPT TO:<taro@contoso.example>");
        assert!(c.say("DATA").starts_with("354 "));
        let answer = c.say("Subject: x\r\n\r\nbody\r\n.");
        assert!(answer.starts_with("451 4.4.0 Local delivery failed"), "{answer}");
        assert!(relay.relayed().is_empty());
    }

    #[test]
    fn a_bounced_message_is_accepted_and_recorded_unstuffed() {
        let (relay, _dir) = relay_without_dovecot();
        relay.faults().set("ghost@contoso.example", RelayFault::Bounce);
        let mut c = Client::connect(&relay);
        c.say("EHLO me");
        c.say("MAIL FROM:<>");
        c.say("RCPT TO:<ghost@contoso.example>");
        c.say("DATA");
        assert_eq!(c.say("Subject: x\r\n\r\n..dot\r\n."), "250 2.0.0 Ok: delivered");
        let relayed = relay.relayed();
        assert_eq!(relayed.len(), 1);
        assert_eq!(relayed[0].from, "");
        assert_eq!(relayed[0].to, ["ghost@contoso.example"]);
        assert_eq!(relayed[0].bounced, ["ghost@contoso.example"]);
        assert_eq!(relayed[0].data, b"Subject: x\r\n\r\n.dot\r\n");
    }

    #[test]
    fn messages_over_the_limit_get_552_and_the_session_goes_on() {
        let (relay, _dir) = relay_without_dovecot();
        relay.faults().set("ghost@contoso.example", RelayFault::Bounce);
        let mut c = Client::connect(&relay);
        c.say("EHLO me");
        let too_big = format!("MAIL FROM:<> SIZE={}", MAX_MESSAGE_BYTES + 1);
        assert!(c.say(&too_big).starts_with("552 5.3.4"));
        c.say("MAIL FROM:<>");
        c.say("RCPT TO:<ghost@contoso.example>");
        c.say("DATA");
        let line = "x".repeat(999);
        let body = format!("{line}\r\n").repeat(MAX_MESSAGE_BYTES / 1000 + 1);
        c.wr.write_all(body.as_bytes()).unwrap();
        assert!(c.say(".").starts_with("552 5.3.4"));
        assert!(relay.relayed().is_empty());
        assert_eq!(c.say("NOOP"), "250 2.0.0 Ok");
    }

    #[test]
    fn the_path_argument_is_the_address_in_angle_brackets() {
        assert_eq!(
            path_argument("mail from: <a@b> BODY=8BITMIME", "MAIL FROM:"),
            Some(("a@b".into(), "BODY=8BITMIME".into()))
        );
        assert_eq!(path_argument("MAIL FROM:<>", "MAIL FROM:"), Some((String::new(), String::new())));
        assert_eq!(path_argument("MAIL FROM:a@b", "MAIL FROM:"), None);
        assert_eq!(path_argument("RCPT TO:<a@b>", "MAIL FROM:"), None);
    }
}
