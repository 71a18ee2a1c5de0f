//! The RFC 8252 loopback redirect receiver (§7.3, §8.3): the CLI always uses it, the GUI when the
//! administrator chose "loopback" in step 1.
//!
//! **Which address, and why both families.** The redirect URI stays `http://localhost:{port}`:
//! the README tells administrators to register `http://localhost` under "Mobile and desktop
//! applications", Microsoft ignores the port of a loopback redirect URI, and Microsoft's
//! "Redirect URI (reply URL) restrictions" page (while preferring `127.0.0.1` for its own
//! reasons) only lets `http://127.0.0.1` be registered for this platform through the app
//! manifest, not the portal's form — switching would break every existing registration. But
//! RFC 8252 §8.3 warns that `localhost` may resolve to either loopback family: a browser trying
//! `::1` first would hand the code to whoever listens on `[::1]:{port}` (the PKCE verifier keeps
//! the code useless to them, yet the sign-in would fail). So [`LoopbackListener::bind`] holds
//! BOTH `127.0.0.1:{port}` and `[::1]:{port}` (§7.3: "bind to the loopback interface using both
//! IPv4 and IPv6"): a port whose `[::1]` twin is already taken is given up and another one
//! picked; a machine without IPv6 loopback has no `[::1]` anyone could listen on. Never
//! `0.0.0.0`/`::`.
//!
//! **Only the flow's redirect ends the wait.** [`LoopbackListener::receive`] answers every other
//! request — another path, a missing or foreign `state`, another method, a malformed or
//! oversized head — with a small error page (no part of the request reflected, `text/html;
//! charset=utf-8`, `Cache-Control: no-store`) and keeps waiting until its timeout: any local
//! process can connect to the port, and none of them may end (or steal) the sign-in. Only a
//! `GET` of exactly the callback path `/` whose one `state` equals the flow's is handed back —
//! whatever else it carries (a code, or the provider's error with that state, which ends the
//! flow as before).
//!
//! **Every read is bounded.** A request head (request line + headers) must fit in [`MAX_HEAD`]
//! bytes and [`MAX_HEADERS`] headers and arrive within [`HEAD_TIMEOUT`] of its connection being
//! accepted; at most [`MAX_CONNECTIONS`] connections are read at once (more wait in the kernel's
//! backlog), so a slow or endless client costs a slot for at most [`HEAD_TIMEOUT`] and cannot
//! stall the wait. Connections that close or stay silent (browsers' speculative
//! pre-connections) are dropped without an answer.
//!
//! [`LoopbackRequest::callback_url`] is the full redirect URL for [`crate::oauth::OAuthClient::complete`]
//! (built by [`crate::oauth::loopback_callback_url`]); [`LoopbackRequest::respond`] answers the
//! browser with a small self-contained ja/en page and closes the connection.
//!
//! The request target carries the authorization code: it is never logged, echoed in a page, or
//! shown by `Debug`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exo_setup_core::UiError> {
//! use exo_setup_core::auth::loopback::{flow_state, LoopbackListener};
//! let listener = LoopbackListener::bind().await?;
//! let redirect_uri = listener.redirect_uri(); // start the flow with it, open the browser
//! # let browser_url = url::Url::parse("https://login.example/authorize?state=s").unwrap();
//! let state = flow_state(&browser_url).unwrap_or_default();
//! let request = listener.receive(&state, std::time::Duration::from_secs(600)).await?;
//! let _callback = request.callback_url(); // → Auth::complete
//! request.respond(true, "").await;
//! # let _ = redirect_uri; Ok(()) }
//! ```

use crate::DetailKey;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

use crate::error::{Actor, UiError};
use crate::identity::LOOPBACK_REDIRECT_URI;

/// Largest request head accepted (request line + headers). The redirect's URL is a few KiB at
/// most (an authorization code is ~700 characters, an error description a few hundred).
pub const MAX_HEAD: usize = 16 * 1024;

/// Time a connection has, from being accepted, to send its complete request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections read at the same time; further ones wait in the backlog until a slot frees.
pub const MAX_CONNECTIONS: usize = 16;

/// Time allowed for writing the answer page.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most headers accepted in the request head.
pub const MAX_HEADERS: usize = 64;

/// Ports tried before giving up when the `[::1]` twin of the OS-picked port is taken.
const BIND_ATTEMPTS: usize = 8;

/// The path of the redirect URI `http://localhost:{port}` (Microsoft appends the `/`).
const CALLBACK_PATH: &str = "/";

/// The `state` of a flow, read from the authorization URL the browser is sent to (what
/// [`LoopbackListener::receive`] waits for).
pub fn flow_state(browser_url: &Url) -> Option<String> {
    browser_url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned())
}

/// Listening sockets on `127.0.0.1:{port}` and `[::1]:{port}` waiting for the one redirect of a
/// flow.
#[derive(Debug)]
pub struct LoopbackListener {
    v4: TcpListener,
    /// `None` only when the machine has no IPv6 loopback (then nobody can listen there either).
    v6: Option<TcpListener>,
    port: u16,
}

fn unavailable(e: std::io::Error) -> UiError {
    UiError::new(
        crate::ErrorKind::LoopbackUnavailable,
        Actor::Support,
        format!("exo-setup could not listen on 127.0.0.1 and [::1] for the browser's redirect: {e}. Check that the loopback interface is up and that no security software blocks local ports, or use the deep-link redirect."),
    )
    .with(DetailKey::Cause, e)
}

impl LoopbackListener {
    /// Listens on 127.0.0.1 and [::1] (loopback only, never 0.0.0.0), on one port the OS picks
    /// for IPv4 and that is free on IPv6 too.
    ///
    /// Failure → kind `loopback_unavailable`, actor Support, detail `cause`.
    pub async fn bind() -> Result<Self, UiError> {
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            match Self::bind_port(0).await {
                Ok(l) => return Ok(l),
                // The `[::1]` twin is held by someone else: another port.
                Err(e) if e.kind() == ErrorKind::AddrInUse => {
                    tracing::debug!("loopback port taken on [::1]; picking another");
                    last = Some(e);
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(unavailable(last.unwrap_or_else(|| ErrorKind::AddrInUse.into())))
    }

    /// Binds `127.0.0.1:{port}` (0: the OS picks) and `[::1]` on the same port. `AddrInUse` when
    /// the `[::1]` port is taken (the caller tries another port).
    async fn bind_port(port: u16) -> std::io::Result<Self> {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let port = v4.local_addr()?.port();
        let v6 = match TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            Ok(l) => Some(l),
            // No IPv6 (loopback) on this machine: `localhost` cannot lead to `::1` here.
            Err(e) if matches!(e.kind(), ErrorKind::AddrNotAvailable | ErrorKind::Unsupported) => None,
            Err(e) if e.raw_os_error() == Some(libc_eafnosupport()) => None,
            Err(e) => return Err(e),
        };
        Ok(Self { v4, v6, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:{port}` — the registered redirect URI is `http://localhost` (Microsoft
    /// ignores the port for loopback); see [`LOOPBACK_REDIRECT_URI`].
    pub fn redirect_uri(&self) -> String {
        format!("{LOOPBACK_REDIRECT_URI}:{}", self.port)
    }

    /// The bound IPv4 address (always `127.0.0.1`).
    pub fn local_addr(&self) -> SocketAddr {
        self.v4.local_addr().unwrap_or_else(|_| (Ipv4Addr::LOCALHOST, self.port).into())
    }

    /// The bound addresses: `127.0.0.1:{port}` and, when the machine has IPv6, `[::1]:{port}`.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut out = vec![self.local_addr()];
        if let Some(v6) = &self.v6 {
            out.push(v6.local_addr().unwrap_or_else(|_| (Ipv6Addr::LOCALHOST, self.port).into()));
        }
        out
    }

    /// Waits for the flow's redirect — a `GET /` whose one `state` is `expected_state` — stops
    /// listening and returns it. Every other request is answered with an error page and the
    /// wait goes on.
    ///
    /// Nothing matching within `timeout` → kind `flow_timed_out`, actor User (detail `seconds`,
    /// `minutes`, `redirectUri`). The listening sockets are closed when this returns, whatever
    /// the outcome; pending connections are dropped.
    pub async fn receive(self, expected_state: &str, timeout: Duration) -> Result<LoopbackRequest, UiError> {
        let redirect_uri = self.redirect_uri();
        let deadline = tokio::time::Instant::now() + timeout;
        let expected: Arc<str> = expected_state.into();
        let uri: Arc<str> = redirect_uri.as_str().into();
        let mut conns: JoinSet<Option<LoopbackRequest>> = JoinSet::new();
        let take = |accepted: std::io::Result<(TcpStream, SocketAddr)>, conns: &mut JoinSet<_>| match accepted {
            Ok((stream, _peer)) => {
                conns.spawn(serve(stream, Arc::clone(&expected), Arc::clone(&uri)));
                false
            }
            // Per-connection failures (e.g. the peer reset before accept) and running out of
            // descriptors: keep listening, after a short pause for the latter.
            Err(e) => {
                tracing::debug!("loopback accept failed: {e}");
                true
            }
        };
        let outcome = loop {
            let room = conns.len() < MAX_CONNECTIONS;
            let pause = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break Err(timed_out(timeout, &redirect_uri)),
                accepted = self.v4.accept(), if room => take(accepted, &mut conns),
                accepted = accept_opt(self.v6.as_ref()), if room => take(accepted, &mut conns),
                Some(joined) = conns.join_next(), if !conns.is_empty() => match joined {
                    Ok(Some(request)) => break Ok(request),
                    Ok(None) | Err(_) => false,
                },
            };
            if pause {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        // `self` is dropped here: both ports are closed. Pending connections are aborted.
        conns.abort_all();
        outcome
    }
}

/// Accepts on `listener`, or never when there is none.
async fn accept_opt(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// `EAFNOSUPPORT` (IPv6 compiled out of the kernel): 97 on Linux, 47 on macOS/BSD, 10047 on
/// Windows.
fn libc_eafnosupport() -> i32 {
    if cfg!(target_os = "linux") {
        97
    } else if cfg!(windows) {
        10047
    } else {
        47
    }
}

/// Is this request the flow's redirect? `Ok(callback URL)`, or the status and text of the error
/// page to answer with (the wait goes on).
fn check(
    method: &str,
    target: &str,
    expected_state: &str,
    redirect_uri: &str,
) -> Result<String, (&'static str, &'static str)> {
    if method != "GET" {
        return Err(("405 Method Not Allowed", "Only the browser's redirect (a GET request) is expected here."));
    }
    let not_here = ("404 Not Found", "This address only receives exo-setup's sign-in redirect.");
    let callback_url = crate::oauth::loopback_callback_url(redirect_uri, target).map_err(|_| not_here)?;
    let url = Url::parse(&callback_url).map_err(|_| not_here)?;
    if url.path() != CALLBACK_PATH {
        return Err(not_here);
    }
    let mut states = url.query_pairs().filter(|(k, _)| k == "state").map(|(_, v)| v);
    let one = match (states.next(), states.next()) {
        (Some(s), None) => s,
        _ => return Err(("400 Bad Request", "This is not the redirect of the sign-in exo-setup is waiting for.")),
    };
    if expected_state.is_empty() || !same(one.as_bytes(), expected_state.as_bytes()) {
        return Err(("400 Bad Request", "This is not the redirect of the sign-in exo-setup is waiting for."));
    }
    Ok(callback_url)
}

/// Constant-time comparison (the state is a secret of the flow).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one request the listener received.
pub struct LoopbackRequest {
    stream: TcpStream,
    callback_url: String,
}

impl std::fmt::Debug for LoopbackRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the authorization code.
        f.debug_struct("LoopbackRequest").field("callback_url", &"<redacted>").finish()
    }
}

impl LoopbackRequest {
    /// Full callback URL built with [`crate::oauth::loopback_callback_url`] from the redirect URI
    /// and the request target, e.g. `http://localhost:53682/?code=…&state=…`.
    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    /// Answers the browser with a small self-contained page in Japanese and English and closes
    /// the connection. `ok`: done, close the tab and return to exo-setup (HTTP 200). Otherwise:
    /// it did not work, see exo-setup for what to do, plus `message` (English, HTML-escaped;
    /// HTTP 400). The request target is never echoed. Write errors are ignored (the browser may
    /// be gone).
    pub async fn respond(mut self, ok: bool, message: &str) {
        let html = page(ok, message);
        write_response(&mut self.stream, if ok { "200 OK" } else { "400 Bad Request" }, &html).await;
    }
}

/// One accepted connection: its request head read (bounded), then either the flow's redirect
/// (handed back, unanswered) or an error page and `None`. Silent or closed connections get no
/// answer.
async fn serve(mut stream: TcpStream, expected_state: Arc<str>, redirect_uri: Arc<str>) -> Option<LoopbackRequest> {
    match read_head(&mut stream).await {
        Head::Request { method, target } => match check(&method, &target, &expected_state, &redirect_uri) {
            Ok(callback_url) => return Some(LoopbackRequest { stream, callback_url }),
            Err((status, text)) => {
                tracing::debug!(status, "loopback: a request that is not the flow's redirect was refused");
                write_response(&mut stream, status, &page(false, text)).await;
            }
        },
        Head::Bad { status, reason } => {
            tracing::debug!(status, reason, "loopback: an unreadable request was refused");
            write_response(&mut stream, status, &page(false, "The request could not be read.")).await;
        }
        Head::Nothing => {}
    }
    None
}

/// What a connection sent.
enum Head {
    Request {
        method: String,
        target: String,
    },
    Bad {
        status: &'static str,
        reason: String,
    },
    /// Closed or silent without a complete head: ignored.
    Nothing,
}

async fn read_head(stream: &mut TcpStream) -> Head {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    let read = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            let n = match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            len += n;
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[..len]) {
                Ok(httparse::Status::Complete(_)) => {
                    return Some(Ok((
                        req.method.unwrap_or_default().to_owned(),
                        req.path.unwrap_or_default().to_owned(),
                    )));
                }
                Ok(httparse::Status::Partial) if len == buf.len() => {
                    return Some(Err((
                        "431 Request Header Fields Too Large",
                        format!("request head over {MAX_HEAD} bytes"),
                    )));
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Some(Err((
                        "431 Request Header Fields Too Large",
                        format!("more than {MAX_HEADERS} headers"),
                    )));
                }
                Err(e) => return Some(Err(("400 Bad Request", format!("not an HTTP request ({e})")))),
            }
        }
    })
    .await;
    match read {
        Ok(Some(Ok((method, target)))) => Head::Request { method, target },
        Ok(Some(Err((status, reason)))) => Head::Bad { status, reason },
        // Silent, incomplete or closed: not the redirect (e.g. a browser's pre-connection).
        Ok(None) | Err(_) => Head::Nothing,
    }
}

fn timed_out(timeout: Duration, redirect_uri: &str) -> UiError {
    let secs = timeout.as_secs();
    UiError::new(
        crate::ErrorKind::FlowTimedOut,
        Actor::User,
        format!("No answer came back from the browser within {secs} seconds at {redirect_uri}. Finish the sign-in in the browser sooner, or start again. If Microsoft showed an error page instead, AADSTS50011 means http://localhost must be registered under \"Mobile and desktop applications\"."),
    )
    .with(DetailKey::Seconds, secs)
    .with(DetailKey::Minutes, secs.div_ceil(60))
    .with(DetailKey::RedirectUri, redirect_uri)
}

async fn write_response(stream: &mut TcpStream, status: &str, html: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Cache-Control: no-store\r\n\
         Referrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n",
        html.len()
    );
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(html.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

/// The answer page: self-contained (no external resource, no script), Japanese then English.
fn page(ok: bool, message: &str) -> String {
    let (title, body) = if ok {
        (
            "完了しました / Done",
            "<h1>完了しました</h1>\
             <p>このタブを閉じて exo-setup に戻ってください。</p>\
             <h1 lang=\"en\">Signed in — done</h1>\
             <p lang=\"en\">You can close this tab and return to exo-setup.</p>"
                .to_owned(),
        )
    } else {
        let detail = if message.trim().is_empty() {
            String::new()
        } else {
            format!("<p lang=\"en\" class=\"m\">{}</p>", escape(message))
        };
        (
            "うまくいきませんでした / It did not work",
            format!(
                "<h1>うまくいきませんでした</h1>\
                 <p>対処方法は exo-setup の画面をご覧ください。このタブは閉じてかまいません。</p>\
                 <h1 lang=\"en\">It did not work</h1>\
                 <p lang=\"en\">See exo-setup for what to do. You can close this tab.</p>{detail}"
            ),
        )
    };
    format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>exo-setup — {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.6;color:#222}}\
         h1{{font-size:1.3rem;margin:1.5rem 0 .25rem}}.m{{background:#f4f4f4;padding:.5rem .75rem;border-radius:4px}}</style>\
         </head><body>{body}</body></html>"
    )
}

/// HTML-escapes text for element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A browser in a thread: sends `raw` and returns everything the server answered.
    fn client(port: u16, raw: Vec<u8>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // The server may answer (and close) before reading everything of an oversized head.
            let _ = s.write_all(&raw);
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    }

    fn get(target: &str) -> Vec<u8> {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n").into_bytes()
    }

    #[tokio::test]
    async fn one_request_is_received_and_answered() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        assert!(l.local_addr().ip().is_loopback(), "{}", l.local_addr());
        assert_eq!(l.local_addr().ip(), std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(l.redirect_uri(), format!("http://localhost:{port}"));

        let c = client(port, get("/?code=SECRETCODE&state=s1"));
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        assert_eq!(req.callback_url(), format!("http://localhost:{port}/?code=SECRETCODE&state=s1"));
        assert!(!format!("{req:?}").contains("SECRETCODE"));
        req.respond(true, "").await;
        let answer = c.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(lower.contains("content-security-policy: default-src 'none'; style-src 'unsafe-inline'"));
        assert!(lower.contains("cache-control: no-store"));
        assert!(lower.contains("connection: close"));
        assert!(answer.contains("exo-setup に戻って") && answer.contains("return to exo-setup"), "{answer}");
        assert!(!answer.contains("SECRETCODE"));
        assert!(!answer.contains("http://") && !answer.contains("https://") && !answer.contains("<script"));

        // Closed after one request: a second connection is refused.
        let refused = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port));
        assert!(refused.is_err(), "the listener still accepts connections");
    }

    #[tokio::test]
    async fn failure_page_escapes_the_message_and_never_echoes_the_target() {
        let l = LoopbackListener::bind().await.unwrap();
        let c = client(l.port(), get("/?code=SECRETCODE&state=s1"));
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        req.respond(false, "signed in as <b>hanako</b> & \"x\"").await;
        let answer = c.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("signed in as &lt;b&gt;hanako&lt;/b&gt; &amp; &quot;x&quot;"), "{answer}");
        assert!(answer.contains("うまくいきませんでした") && answer.contains("See exo-setup for what to do"));
        assert!(!answer.contains("SECRETCODE") && !answer.contains("<b>"));
    }

    #[tokio::test]
    async fn silent_connections_are_ignored() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        // A pre-connection that never sends anything, and one that closes at once.
        let idle = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        drop(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap());
        let c = client(port, get("/?state=s1&error=access_denied"));
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        assert!(req.callback_url().ends_with("/?state=s1&error=access_denied"));
        req.respond(false, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 400"));
        drop(idle);
    }

    #[tokio::test]
    async fn times_out_without_a_request() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let started = std::time::Instant::now();
        let e = l.receive("s1", Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind, crate::ErrorKind::FlowTimedOut);
        assert_eq!(e.actor, Actor::User);
        assert_eq!(e.detail.get(&DetailKey::RedirectUri).unwrap(), &format!("http://localhost:{port}"));
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "closed after the timeout");
    }

    /// Waits for the flow's redirect (state `s1`) while `strays` are sent first: each gets an
    /// error page with `status`, the wait goes on, and the real redirect afterwards succeeds.
    async fn strays_do_not_end_the_flow(strays: Vec<(Vec<u8>, &'static str)>) {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let waiting = tokio::spawn(l.receive("s1", Duration::from_secs(20)));
        for (raw, status) in strays {
            let answer = tokio::task::spawn_blocking(move || client(port, raw).join().unwrap()).await.unwrap();
            assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
            let lower = answer.to_ascii_lowercase();
            assert!(lower.contains("content-type: text/html; charset=utf-8"), "{answer}");
            assert!(lower.contains("cache-control: no-store"), "{answer}");
            assert!(answer.contains("うまくいきませんでした"), "{answer}");
            for reflected in ["SECRETCODE", "evil", "<script", "wrong-state", "/other"] {
                assert!(!answer.contains(reflected), "{reflected} reflected: {answer}");
            }
            assert!(!waiting.is_finished(), "a stray request ended the flow");
        }
        let c = client(port, get("/?code=REALCODE&state=s1"));
        let req = waiting.await.unwrap().unwrap();
        assert_eq!(req.callback_url(), format!("http://localhost:{port}/?code=REALCODE&state=s1"));
        req.respond(true, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
    }

    #[tokio::test]
    async fn stray_paths_and_foreign_states_keep_the_flow_waiting() {
        strays_do_not_end_the_flow(vec![
            (get("/"), "400"),
            (get("/favicon.ico"), "404"),
            (get("/other?code=SECRETCODE&state=s1"), "404"),
            (get("/?code=SECRETCODE&state=wrong-state"), "400"),
            (get("/?code=SECRETCODE"), "400"),
            (get("/?code=SECRETCODE&state=s1&state=s1"), "400"),
            (get("/?code=SECRETCODE&state=s"), "400"),
            (get("/?error=access_denied&state=wrong-state"), "400"),
            (get("/<script>evil</script>?state=wrong-state"), "404"),
        ])
        .await;
    }

    #[tokio::test]
    async fn malformed_oversized_and_non_get_requests_keep_the_flow_waiting() {
        let mut big =
            format!("GET /?state=s1 HTTP/1.1\r\nHost: localhost\r\nX-Big: {}", "a".repeat(MAX_HEAD)).into_bytes();
        big.extend_from_slice(b"\r\n\r\n");
        let mut many = b"GET /?state=s1 HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        strays_do_not_end_the_flow(vec![
            (big, "431"),
            (many, "431"),
            (
                b"POST /?code=SECRETCODE&state=s1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n".to_vec(),
                "405",
            ),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(), "400"),
            (get("http://evil.example/?code=x&state=s1"), "404"),
        ])
        .await;
    }

    /// A provider's error redirect carrying the flow's state still ends the flow.
    #[tokio::test]
    async fn an_error_redirect_with_the_right_state_ends_the_flow() {
        let l = LoopbackListener::bind().await.unwrap();
        let c = client(l.port(), get("/?error=access_denied&error_subcode=cancel&state=s1"));
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        assert!(req.callback_url().ends_with("/?error=access_denied&error_subcode=cancel&state=s1"));
        req.respond(false, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 400"));
    }

    /// Slow clients hold at most their slot for HEAD_TIMEOUT; filling every slot with silent
    /// connections delays the redirect but cannot stop it.
    #[tokio::test]
    async fn silent_connections_filling_every_slot_do_not_stall_the_wait() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let idle: Vec<_> = (0..MAX_CONNECTIONS + 4)
            .map(|_| std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap())
            .collect();
        let started = std::time::Instant::now();
        let c = client(port, get("/?code=c&state=s1"));
        let req = l.receive("s1", HEAD_TIMEOUT * 3).await.unwrap();
        assert!(started.elapsed() < HEAD_TIMEOUT * 2 + Duration::from_secs(2), "{:?}", started.elapsed());
        req.respond(true, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
        drop(idle);
    }

    /// `localhost` may resolve to `::1` first (RFC 8252 §8.3): the listener holds `[::1]` on the
    /// same port, so no other process can listen there, and the redirect arriving over IPv6 is
    /// received.
    #[tokio::test]
    async fn the_ipv6_loopback_twin_is_held_and_receives_the_redirect() {
        if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
            eprintln!("no IPv6 loopback on this machine: nothing can be planted there");
            return;
        }
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        assert_eq!(
            l.local_addrs(),
            vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port)), SocketAddr::from((Ipv6Addr::LOCALHOST, port))]
        );
        let planted = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, port));
        assert!(planted.is_err(), "another process could listen on [::1]:{port}");
        let c = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
            s.write_all(&get("/?code=c6&state=s1")).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        assert_eq!(req.callback_url(), format!("http://localhost:{port}/?code=c6&state=s1"));
        req.respond(true, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
        assert!(std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port)).is_err(), "[::1] closed after the redirect");
    }

    /// A port whose `[::1]` twin someone already holds is given up.
    #[tokio::test]
    async fn a_port_taken_on_ipv6_is_not_used() {
        let Ok(planted) = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) else { return };
        let port = planted.local_addr().unwrap().port();
        if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            return; // the IPv4 port happens to be taken too: nothing to show
        }
        let e = LoopbackListener::bind_port(port).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        let l = LoopbackListener::bind().await.unwrap();
        assert_ne!(l.port(), port);
    }

    #[tokio::test]
    async fn a_slow_head_arriving_in_pieces_is_assembled() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let c = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            for part in ["GET /?code=a", "&state=s1 HTTP/1.1\r\nHo", "st: localhost\r\n", "\r\n"] {
                s.write_all(part.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        let req = l.receive("s1", Duration::from_secs(10)).await.unwrap();
        assert!(req.callback_url().ends_with("/?code=a&state=s1"));
        req.respond(true, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn escape_covers_html_metacharacters() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
