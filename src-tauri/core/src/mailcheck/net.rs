//! The line transport the three dialogues share: DNS, TCP, TLS (implicit or STARTTLS) with
//! rustls and the platform's root certificates, CRLF lines, and a time limit on every step.
//!
//! Nothing here logs what it reads or writes. Secrets are written with [`Conn::send_secret`],
//! from a buffer that is zeroized afterwards.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

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
const MAX_LINE: u64 = 64 * 1024;

/// A TCP stream, encrypted or not (plain only before STARTTLS, or to a loopback host).
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
        Some(pem) => {
            let mut roots = platform_roots().clone();
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| MailCheckError::Tls { reason: format!("extra root certificate: {e}") })?;
                roots.add(cert).map_err(|e| MailCheckError::Tls { reason: format!("extra root certificate: {e}") })?;
                n += 1;
            }
            if n == 0 {
                return Err(MailCheckError::Tls { reason: "extra root certificate: no certificate in the PEM".into() });
            }
            build(roots)
        }
    }
}

/// A TLS failure: an untrusted or wrong certificate, or anything else.
fn tls_error(e: io::Error) -> MailCheckError {
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

/// Time limit in whole seconds (for messages; at least 1).
fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// One connection to a mail server.
pub(crate) struct Conn {
    io: Option<BufReader<Stream>>,
    host: String,
    security: Security,
    timeouts: Timeouts,
    tls: Option<Arc<ClientConfig>>,
}

impl Conn {
    /// DNS lookup, TCP connect (every address in turn, within [`Timeouts::connect`] in all),
    /// and for [`Security::Tls`] the TLS handshake. Plain connections only to loopback.
    pub(crate) async fn open(ep: &Endpoint, opts: &CheckOptions) -> Result<Conn, MailCheckError> {
        let plain = ep.security == Security::Plain;
        if plain && !is_loopback_host(&ep.host) {
            return Err(MailCheckError::PlainNotAllowed);
        }
        let t = opts.timeouts;
        let deadline = tokio::time::Instant::now() + t.connect;
        let host = bare_host(&ep.host).to_owned();
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), ep.port))).await {
                Err(_) => {
                    return Err(MailCheckError::Dns { reason: format!("no answer within {} s", secs(t.connect)) })
                }
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
        let mut conn =
            Conn { io: Some(BufReader::new(Stream::Plain(tcp))), host, security: ep.security, timeouts: t, tls: None };
        if ep.security != Security::Plain {
            conn.tls = Some(client_config(opts)?);
        }
        if ep.security == Security::Tls {
            conn.handshake().await?;
        }
        Ok(conn)
    }

    /// How the endpoint is secured (the dialogues run STARTTLS for [`Security::Starttls`]).
    pub(crate) fn security(&self) -> Security {
        self.security
    }

    fn io(&mut self) -> &mut BufReader<Stream> {
        self.io.as_mut().expect("the stream is only taken during a TLS handshake")
    }

    /// Upgrades the connection after the server agreed to STARTTLS/STLS. Refuses when the
    /// server already sent more (bytes injected before TLS must not be read as if protected).
    pub(crate) async fn start_tls(&mut self) -> Result<(), MailCheckError> {
        if !self.io().buffer().is_empty() {
            return Err(MailCheckError::Protocol {
                step: Step::Starttls,
                reply: "the server sent data before the TLS handshake".into(),
            });
        }
        self.handshake().await
    }

    async fn handshake(&mut self) -> Result<(), MailCheckError> {
        let config = self.tls.clone().ok_or_else(|| MailCheckError::Tls { reason: "TLS is not configured".into() })?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| MailCheckError::Tls { reason: format!("'{}' is not a valid TLS server name", self.host) })?;
        let Some(io) = self.io.take() else { return Err(MailCheckError::Tls { reason: "no connection".into() }) };
        let Stream::Plain(tcp) = io.into_inner() else {
            return Err(MailCheckError::Protocol { step: Step::Starttls, reply: "TLS is already on".into() });
        };
        let t = self.timeouts.tls;
        let tls = tokio::time::timeout(t, TlsConnector::from(config).connect(name, tcp))
            .await
            .map_err(|_| MailCheckError::Timeout { step: Step::Tls, secs: secs(t) })?
            .map_err(tls_error)?;
        self.io = Some(BufReader::new(Stream::Tls(Box::new(tls))));
        Ok(())
    }

    /// Reads one line (without CRLF), within the step's time limit.
    pub(crate) async fn line(&mut self, step: Step) -> Result<String, MailCheckError> {
        let t = self.timeouts.for_step(step);
        let mut buf = Vec::new();
        let read = async {
            let io = self.io();
            (&mut *io).take(MAX_LINE).read_until(b'\n', &mut buf).await
        };
        let n = tokio::time::timeout(t, read)
            .await
            .map_err(|_| MailCheckError::Timeout { step, secs: secs(t) })?
            .map_err(|e| self.io_error(e, step))?;
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
        let t = self.timeouts.for_step(step);
        let write = async {
            let io = self.io();
            io.get_mut().write_all(data).await?;
            io.get_mut().flush().await
        };
        tokio::time::timeout(t, write)
            .await
            .map_err(|_| MailCheckError::Timeout { step, secs: secs(t) })?
            .map_err(|e| self.io_error(e, step))
    }

    fn io_error(&self, e: io::Error, step: Step) -> MailCheckError {
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

    /// Ends the session politely: sends `command`, waits briefly for any answer, closes. Errors
    /// are ignored — the check has already passed or failed.
    pub(crate) async fn quit(&mut self, command: &str) {
        let short = Timeouts { command: self.timeouts.command.min(Duration::from_secs(3)), ..self.timeouts };
        let saved = std::mem::replace(&mut self.timeouts, short);
        if self.send(command, Step::Logout).await.is_ok() {
            // IMAP answers `* BYE` then the tagged OK; POP3/SMTP one line. Read up to a few lines.
            for _ in 0..4 {
                match self.line(Step::Logout).await {
                    Ok(l) if is_final_logout_line(&l) => break,
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
        if let Some(io) = self.io.as_mut() {
            let _ = tokio::time::timeout(Duration::from_millis(500), io.get_mut().shutdown()).await;
        }
        self.timeouts = saved;
    }
}

fn is_final_logout_line(l: &str) -> bool {
    !l.starts_with('*') && !l.starts_with("221-")
}

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
