//! The transport the three dialogues share: DNS, TCP, TLS (implicit or STARTTLS) with rustls and
//! the platform's root certificates (plus [`CheckOptions::extra_root_pem`]), a time limit on every
//! step, and [`Heard`], the tail of what the server sent (for error messages).
//!
//! IMAP (async-imap) and SMTP (lettre) run over a [`Tap`]ped [`Stream`]; POP3 uses [`Conn`], a
//! small CRLF line reader over one too. Nothing here logs what it reads or writes.
//!
//! Every byte a server sends passes a [`Tap`], which bounds the session: a line longer than
//! [`MAX_LINE`] or more than [`MAX_SESSION`] bytes in one session (STARTTLS included) fails the
//! read with [`ReplyTooLarge`], reported as a protocol error. Without it an endless reply would
//! grow memory until the step's timeout (async-imap buffers up to 512 MiB per response, lettre
//! reads a whole line before checking its length), or, as endless short lines, never end. POP3 writes secrets with
//! [`Conn::send_secret`], from a buffer that is zeroized afterwards.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

use super::error::{clean_reply, MailCheckError, Step};
use super::{CheckOptions, Timeouts};
use crate::keychain::Secret;
use crate::model::{Endpoint, Security};

/// Longest line accepted from a server (a longer one is a protocol error, not a memory hog).
pub(crate) const MAX_LINE: u64 = 64 * 1024;

/// Most bytes accepted from a server in one session: the check reads a greeting, capabilities
/// and a few short replies (a few KB from Exchange Online or Dovecot).
pub(crate) const MAX_SESSION: u64 = 1024 * 1024;

/// A server sent more than a check ever needs; the read fails with this inside its `io::Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplyTooLarge {
    #[error("the server sent a line longer than {} KiB", MAX_LINE / 1024)]
    Line,
    #[error("the server sent more than {} KiB in one session", MAX_SESSION / 1024)]
    Session,
}

/// A TCP stream, encrypted or not (plain only before STARTTLS, or to a loopback host).
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(s) => s.peer_addr(),
            Stream::Tls(s) => s.get_ref().0.peer_addr(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How much of the server's output [`Heard`] keeps.
const HEARD_TAIL: usize = 8 * 1024;

/// The tail of what a server sent (never what the client wrote, so never a secret of ours): the
/// crates report a refusal as an error value, this keeps the server's own line for the message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Heard(Arc<Mutex<HeardInner>>);

#[derive(Debug, Default)]
struct HeardInner {
    tail: Vec<u8>,
    total: u64,
    /// Bytes since the last LF.
    line: u64,
}

impl Heard {
    /// Records what the server sent; fails once the session is over its bounds.
    fn push(&self, data: &[u8]) -> Result<(), ReplyTooLarge> {
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        h.total += data.len() as u64;
        h.line = match data.iter().rposition(|b| *b == b'\n') {
            Some(i) => (data.len() - i - 1) as u64,
            None => h.line + data.len() as u64,
        };
        h.tail.extend_from_slice(data);
        if h.tail.len() > HEARD_TAIL {
            let cut = h.tail.len() - HEARD_TAIL;
            h.tail.drain(..cut);
        }
        if h.line > MAX_LINE {
            return Err(ReplyTooLarge::Line);
        }
        if h.total > MAX_SESSION {
            return Err(ReplyTooLarge::Session);
        }
        Ok(())
    }

    /// Whether the server sent anything at all.
    pub(crate) fn anything(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).total > 0
    }

    /// The last complete, non-empty line the server sent (cleaned for messages).
    pub(crate) fn last_line(&self) -> Option<String> {
        let h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&h.tail);
        let complete = &text[..text.rfind('\n')? + 1];
        complete.lines().map(str::trim).rfind(|l| !l.is_empty()).map(clean_reply)
    }
}

/// A stream that copies what it reads into a [`Heard`].
#[derive(Debug)]
pub(crate) struct Tap {
    inner: Stream,
    heard: Heard,
}

impl Tap {
    pub(crate) fn new(inner: Stream, heard: Heard) -> Self {
        Self { inner, heard }
    }

    pub(crate) fn into_inner(self) -> Stream {
        self.inner
    }
}

impl AsyncRead for Tap {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if let Err(e) = this.heard.push(&buf.filled()[before..]) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
        r
    }
}

impl AsyncWrite for Tap {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// lettre takes any boxed tokio stream that can name its peer.
impl lettre::transport::smtp::client::AsyncTokioStream for Tap {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

/// True for `localhost` and loopback IP literals: the only hosts a plain connection may go to.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = bare_host(host);
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `[::1]` → `::1`.
fn bare_host(host: &str) -> &str {
    host.trim().trim_start_matches('[').trim_end_matches(']')
}

/// The platform's root certificates, loaded once.
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(errors = found.errors.len(), "some platform root certificates could not be loaded");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "platform root certificates");
        roots
    })
}

fn client_config(opts: &CheckOptions) -> Result<Arc<ClientConfig>, MailCheckError> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let build = |roots: RootCertStore| {
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| MailCheckError::Tls { reason: e.to_string() })
    };
    match &opts.extra_root_pem {
        None => {
            if let Some(c) = DEFAULT.get() {
                return Ok(Arc::clone(c));
            }
            let c = build(platform_roots().clone())?;
            Ok(Arc::clone(DEFAULT.get_or_init(|| c)))
        }
        Some(_) => {
            let mut roots = platform_roots().clone();
            for cert in extra_roots(opts)?.unwrap_or_default() {
                roots.add(cert).map_err(|e| MailCheckError::Tls { reason: format!("extra root certificate: {e}") })?;
            }
            build(roots)
        }
    }
}

/// The extra root certificates of [`CheckOptions::extra_root_pem`] (`None`: there are none).
fn extra_roots(opts: &CheckOptions) -> Result<Option<Vec<CertificateDer<'static>>>, MailCheckError> {
    let Some(pem) = &opts.extra_root_pem else { return Ok(None) };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MailCheckError::Tls { reason: format!("extra root certificate: {e}") })?;
    if certs.is_empty() {
        return Err(MailCheckError::Tls { reason: "extra root certificate: no certificate in the PEM".into() });
    }
    Ok(Some(certs))
}

/// lettre's TLS settings for SMTP STARTTLS: its rustls (ring) with the platform's roots
/// (`rustls-native-certs`, as [`client_config`]) plus the extra ones, TLS 1.2 at least.
pub(crate) fn smtp_tls(host: &str, opts: &CheckOptions) -> Result<TlsParameters, MailCheckError> {
    let mut b = TlsParameters::builder(bare_host(host).to_owned()).certificate_store(CertificateStore::Default);
    for cert in extra_roots(opts)?.unwrap_or_default() {
        let cert = Certificate::from_der(cert.to_vec())
            .map_err(|e| MailCheckError::Tls { reason: format!("extra root certificate: {e}") })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| MailCheckError::Tls { reason: e.to_string() })
}

/// A TLS failure: an untrusted or wrong certificate, or anything else.
pub(crate) fn tls_error(e: &io::Error) -> MailCheckError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => MailCheckError::TlsCertificate { reason: cert_reason(c) },
        Some(other) => MailCheckError::Tls { reason: other.to_string() },
        None => match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                MailCheckError::Tls { reason: "the server closed the connection during the TLS handshake".into() }
            }
            _ => MailCheckError::Tls { reason: e.to_string() },
        },
    }
}

fn cert_reason(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match c {
        C::UnknownIssuer => "it is not issued by a certificate authority this computer trusts".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => "it is not valid for this host name".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet (check this computer's clock)".into(),
        C::Revoked => "it has been revoked".into(),
        other => format!("{other:?}"),
    }
}

/// The bound a read ran into, if it failed because the server sent too much.
pub(crate) fn too_large(e: &io::Error) -> Option<ReplyTooLarge> {
    e.get_ref().and_then(|i| i.downcast_ref::<ReplyTooLarge>()).copied()
}

/// A read or write failure of an established connection.
pub(crate) fn io_error(e: &io::Error, step: Step) -> MailCheckError {
    if let Some(t) = too_large(e) {
        return MailCheckError::Protocol { step, reply: t.to_string() };
    }
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return tls_error(e);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => MailCheckError::ConnectionClosed { step, reply: None },
        _ => MailCheckError::Unreachable { reason: e.to_string() },
    }
}

/// Time limit in whole seconds (for messages; at least 1).
pub(crate) fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Runs `f` within the step's time limit.
pub(crate) async fn within<T>(
    timeouts: &Timeouts,
    step: Step,
    f: impl std::future::Future<Output = T>,
) -> Result<T, MailCheckError> {
    let t = timeouts.for_step(step);
    tokio::time::timeout(t, f).await.map_err(|_| MailCheckError::Timeout { step, secs: secs(t) })
}

/// DNS lookup, TCP connect (every address in turn, within [`Timeouts::connect`] in all), and for
/// [`Security::Tls`] the TLS handshake. Plain connections only to loopback.
pub(crate) async fn connect(ep: &Endpoint, opts: &CheckOptions) -> Result<Stream, MailCheckError> {
    let plain = ep.security == Security::Plain;
    if plain && !is_loopback_host(&ep.host) {
        return Err(MailCheckError::PlainNotAllowed);
    }
    let t = opts.timeouts;
    let deadline = tokio::time::Instant::now() + t.connect;
    let host = bare_host(&ep.host);
    let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, ep.port))).await
    {
        Err(_) => return Err(MailCheckError::Dns { reason: format!("no answer within {} s", secs(t.connect)) }),
        Ok(Err(e)) => return Err(MailCheckError::Dns { reason: dns_reason(&e) }),
        Ok(Ok(a)) => a.filter(|a| !plain || a.ip().is_loopback()).collect(),
    };
    if addrs.is_empty() {
        return Err(MailCheckError::Dns { reason: "the name has no usable address".into() });
    }
    let mut last = MailCheckError::Unreachable { reason: "no address could be reached".into() };
    let mut tcp = None;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(MailCheckError::Timeout { step: Step::Connect, secs: secs(t.connect) }),
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => {
                let refused = e.kind() == io::ErrorKind::ConnectionRefused;
                // A refusal says more than "unreachable" (e.g. ::1 unreachable, 127.0.0.1 refused).
                if refused || !matches!(last, MailCheckError::ConnectionRefused) {
                    last = if refused {
                        MailCheckError::ConnectionRefused
                    } else if e.kind() == io::ErrorKind::TimedOut {
                        MailCheckError::Timeout { step: Step::Connect, secs: secs(t.connect) }
                    } else {
                        MailCheckError::Unreachable { reason: e.to_string() }
                    };
                }
            }
        }
    }
    let Some(tcp) = tcp else { return Err(last) };
    let _ = tcp.set_nodelay(true);
    if ep.security == Security::Tls {
        return start_tls(Stream::Plain(tcp), &ep.host, opts).await;
    }
    Ok(Stream::Plain(tcp))
}

/// The TLS handshake on a plain connection (implicit TLS, or after the server agreed to
/// STARTTLS/STLS), within [`Timeouts::tls`], trusting the platform's roots and the extra ones.
pub(crate) async fn start_tls(stream: Stream, host: &str, opts: &CheckOptions) -> Result<Stream, MailCheckError> {
    let Stream::Plain(tcp) = stream else {
        return Err(MailCheckError::Protocol { step: Step::Starttls, reply: "TLS is already on".into() });
    };
    let config = client_config(opts)?;
    let host = bare_host(host).to_owned();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| MailCheckError::Tls { reason: format!("'{host}' is not a valid TLS server name") })?;
    let tls = within(&opts.timeouts, Step::Tls, TlsConnector::from(config).connect(name, tcp))
        .await?
        .map_err(|e| tls_error(&e))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// One POP3 connection: CRLF lines, each read and write within its step's time limit.
pub(crate) struct Conn {
    io: Option<BufReader<Tap>>,
    heard: Heard,
    host: String,
    security: Security,
    opts: CheckOptions,
}

impl Conn {
    /// [`connect`], then lines.
    pub(crate) async fn open(ep: &Endpoint, opts: &CheckOptions) -> Result<Conn, MailCheckError> {
        let heard = Heard::default();
        let stream = Tap::new(connect(ep, opts).await?, heard.clone());
        Ok(Conn {
            io: Some(BufReader::new(stream)),
            heard,
            host: ep.host.clone(),
            security: ep.security,
            opts: opts.clone(),
        })
    }

    /// How the endpoint is secured (the dialogue runs STLS for [`Security::Starttls`]).
    pub(crate) fn security(&self) -> Security {
        self.security
    }

    fn io(&mut self) -> &mut BufReader<Tap> {
        self.io.as_mut().expect("the stream is only taken during a TLS handshake")
    }

    /// Upgrades the connection after the server agreed to STLS. Refuses when the server already
    /// sent more (bytes injected before TLS must not be read as if protected).
    pub(crate) async fn start_tls(&mut self) -> Result<(), MailCheckError> {
        if !self.io().buffer().is_empty() {
            return Err(MailCheckError::Protocol {
                step: Step::Starttls,
                reply: "the server sent data before the TLS handshake".into(),
            });
        }
        let Some(io) = self.io.take() else { return Err(MailCheckError::Tls { reason: "no connection".into() }) };
        let tls = start_tls(io.into_inner().into_inner(), &self.host, &self.opts).await?;
        // The same Heard: the session's bounds span STLS.
        self.io = Some(BufReader::new(Tap::new(tls, self.heard.clone())));
        Ok(())
    }

    /// Reads one line (without CRLF), within the step's time limit.
    pub(crate) async fn line(&mut self, step: Step) -> Result<String, MailCheckError> {
        let timeouts = self.opts.timeouts;
        let mut buf = Vec::new();
        let read = async {
            let io = self.io();
            (&mut *io).take(MAX_LINE).read_until(b'\n', &mut buf).await
        };
        let n = within(&timeouts, step, read).await?.map_err(|e| io_error(&e, step))?;
        if n == 0 {
            return Err(MailCheckError::ConnectionClosed { step, reply: None });
        }
        if !buf.ends_with(b"\n") {
            if n as u64 >= MAX_LINE {
                return Err(MailCheckError::Protocol { step, reply: "a line longer than 64 KiB".into() });
            }
            return Err(MailCheckError::ConnectionClosed {
                step,
                reply: Some(clean_reply(&String::from_utf8_lossy(&buf))),
            });
        }
        let s = String::from_utf8_lossy(&buf);
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Writes `line` + CRLF. Never pass a secret here: see [`Conn::send_secret`].
    pub(crate) async fn send(&mut self, line: &str, step: Step) -> Result<(), MailCheckError> {
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.write(&data, step).await
    }

    /// Writes `prefix` + the secret + CRLF from a buffer zeroized afterwards.
    pub(crate) async fn send_secret(
        &mut self,
        prefix: &str,
        secret: &Secret,
        step: Step,
    ) -> Result<(), MailCheckError> {
        let mut data = Zeroizing::new(Vec::with_capacity(prefix.len() + secret.len() + 2));
        data.extend_from_slice(prefix.as_bytes());
        data.extend_from_slice(secret.expose().as_bytes());
        data.extend_from_slice(b"\r\n");
        self.write(&data, step).await
    }

    async fn write(&mut self, data: &[u8], step: Step) -> Result<(), MailCheckError> {
        let timeouts = self.opts.timeouts;
        let write = async {
            let io = self.io();
            io.get_mut().write_all(data).await?;
            io.get_mut().flush().await
        };
        within(&timeouts, step, write).await?.map_err(|e| io_error(&e, step))
    }

    /// Ends the session politely: sends `command`, waits briefly for its answer, closes. Errors
    /// are ignored — the check has already passed or failed.
    pub(crate) async fn quit(&mut self, command: &str) {
        let short = Timeouts { command: self.opts.timeouts.command.min(QUIT_WAIT), ..self.opts.timeouts };
        let saved = std::mem::replace(&mut self.opts.timeouts, short);
        if self.send(command, Step::Logout).await.is_ok() {
            let _ = self.line(Step::Logout).await;
        }
        if let Some(io) = self.io.as_mut() {
            let _ = tokio::time::timeout(Duration::from_millis(500), io.get_mut().shutdown()).await;
        }
        self.opts.timeouts = saved;
    }
}

/// The longest wait for the answer to a logout (`LOGOUT`, `QUIT`).
pub(crate) const QUIT_WAIT: Duration = Duration::from_secs(3);

fn dns_reason(e: &io::Error) -> String {
    let s = e.to_string();
    // "failed to lookup address information: Name or service not known" → the part after ": ".
    s.rsplit_once(": ").map(|(_, r)| r.to_owned()).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["outlook.office365.com", "10.0.0.1", "localhost.example", "0.0.0.0", "::"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
