//! The RFC 8252 loopback redirect receiver (§7.3, §8.3): the CLI always uses it, the GUI when the
//! administrator chose "loopback" in step 1.
//!
//! - [`LoopbackListener::bind`] listens on `127.0.0.1` — the loopback interface only, never
//!   `0.0.0.0` — on a port the OS picks. The redirect URI sent to Microsoft is
//!   `http://localhost:{port}`: the registered URI is [`crate::identity::LOOPBACK_REDIRECT_URI`]
//!   and Microsoft ignores the port of a loopback redirect URI. (A browser resolving `localhost`
//!   to `::1` first falls back to `127.0.0.1`, where we listen.)
//! - [`LoopbackListener::receive`] waits for ONE HTTP request, parses its head with `httparse`,
//!   closes the listening socket (a second connection is refused) and hands back the request.
//!   Connections that close or stay silent without sending a byte (browsers' speculative
//!   pre-connections) are ignored; a request head must arrive within [`HEAD_TIMEOUT`] of its
//!   connection and fit in [`MAX_HEAD`] bytes.
//! - [`LoopbackRequest::callback_url`] is the full redirect URL for [`crate::oauth::OAuthClient::complete`]
//!   (built by [`crate::oauth::loopback_callback_url`]); [`LoopbackRequest::respond`] answers the
//!   browser with a small self-contained ja/en page and closes the connection.
//!
//! The request target carries the authorization code: it is never logged, echoed in a page, or
//! shown by `Debug`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exo_setup_core::UiError> {
//! use exo_setup_core::auth::loopback::LoopbackListener;
//! let listener = LoopbackListener::bind().await?;
//! let redirect_uri = listener.redirect_uri(); // start the flow with it, open the browser
//! let request = listener.receive(std::time::Duration::from_secs(600)).await?;
//! let _callback = request.callback_url(); // → Auth::complete
//! request.respond(true, "").await;
//! # let _ = redirect_uri; Ok(()) }
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::error::{Actor, UiError};
use crate::identity::LOOPBACK_REDIRECT_URI;

/// Largest request head accepted (request line + headers). The redirect's URL is a few KiB at
/// most (an authorization code is ~700 characters, an error description a few hundred).
pub const MAX_HEAD: usize = 16 * 1024;

/// Time a connection has, from being accepted, to send its complete request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for writing the answer page.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most headers accepted in the request head.
const MAX_HEADERS: usize = 64;

/// Error kinds produced here (`flow_timed_out` and `callback_malformed` are the OAuth client's
/// kinds, reused; `loopback_unavailable` is listed in `auth::AUTH_ERROR_KINDS`).
pub const ERROR_KINDS: &[&str] = &["loopback_unavailable", "flow_timed_out", "callback_malformed"];

/// A listening socket on `127.0.0.1:{random port}` waiting for the one redirect of a flow.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

impl LoopbackListener {
    /// Listens on 127.0.0.1 (loopback interface only, never 0.0.0.0), random port.
    ///
    /// Failure → kind `loopback_unavailable`, actor Support, detail `cause`.
    pub async fn bind() -> Result<Self, UiError> {
        let unavailable = |e: std::io::Error| {
            UiError::new(
                "loopback_unavailable",
                Actor::Support,
                format!("exo-setup could not listen on 127.0.0.1 for the browser's redirect: {e}. Check that the loopback interface is up and that no security software blocks local ports, or use the deep-link redirect."),
            )
            .with("cause", e)
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(unavailable)?;
        let port = listener.local_addr().map_err(unavailable)?.port();
        Ok(Self { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:{port}` — the registered redirect URI is `http://localhost` (Microsoft
    /// ignores the port for loopback); see [`LOOPBACK_REDIRECT_URI`].
    pub fn redirect_uri(&self) -> String {
        format!("{LOOPBACK_REDIRECT_URI}:{}", self.port)
    }

    /// The bound address (always a loopback address).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| (Ipv4Addr::LOCALHOST, self.port).into())
    }

    /// Waits for ONE HTTP request, stops listening and returns it.
    ///
    /// - Nothing within `timeout` → kind `flow_timed_out`, actor User (detail `seconds`,
    ///   `minutes`, `redirectUri`).
    /// - A request that is not `GET` → answered with a 405 page, kind `callback_malformed`.
    /// - A head larger than [`MAX_HEAD`], with too many headers, not HTTP, or whose target is not a
    ///   path → answered with 431/400, kind `callback_malformed`.
    ///
    /// The listening socket is closed when this returns, whatever the outcome; pending idle
    /// connections are dropped.
    pub async fn receive(self, timeout: Duration) -> Result<LoopbackRequest, UiError> {
        let redirect_uri = self.redirect_uri();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut conns: JoinSet<Head> = JoinSet::new();
        let outcome = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break Err(timed_out(timeout, &redirect_uri)),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        conns.spawn(read_head(stream));
                    }
                    // Per-connection failures (e.g. the peer reset before accept) and running out
                    // of descriptors: keep listening, after a short pause for the latter.
                    Err(e) => {
                        tracing::debug!("loopback accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(joined) = conns.join_next(), if !conns.is_empty() => match joined {
                    Ok(Head::Request { stream, method, target }) => {
                        break finish(stream, &method, &target, &redirect_uri).await;
                    }
                    Ok(Head::Bad { mut stream, status, reason }) => {
                        let html = page(false, "The request could not be read.");
                        write_response(&mut stream, status, &html).await;
                        break Err(malformed(&reason));
                    }
                    Ok(Head::Nothing) | Err(_) => {}
                },
            }
        };
        // `self.listener` is dropped here: the port is closed. Idle connections are aborted.
        conns.abort_all();
        outcome
    }
}

/// Checks the received request: GET with a path target.
async fn finish(
    mut stream: TcpStream,
    method: &str,
    target: &str,
    redirect_uri: &str,
) -> Result<LoopbackRequest, UiError> {
    if method != "GET" {
        let html = page(false, "Only the browser's redirect (a GET request) is expected here.");
        write_response(&mut stream, "405 Method Not Allowed", &html).await;
        return Err(malformed(&format!("the redirect arrived as a {method} request, not GET")));
    }
    match crate::oauth::loopback_callback_url(redirect_uri, target) {
        Ok(callback_url) => Ok(LoopbackRequest { stream, callback_url }),
        Err(e) => {
            let html = page(false, "The request could not be read.");
            write_response(&mut stream, "400 Bad Request", &html).await;
            Err(e.into())
        }
    }
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

/// What one accepted connection produced.
enum Head {
    Request {
        stream: TcpStream,
        method: String,
        target: String,
    },
    Bad {
        stream: TcpStream,
        status: &'static str,
        reason: String,
    },
    /// Closed or silent without a complete head: ignored.
    Nothing,
}

async fn read_head(mut stream: TcpStream) -> Head {
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
        Ok(Some(Ok((method, target)))) => Head::Request { stream, method, target },
        Ok(Some(Err((status, reason)))) => Head::Bad { stream, status, reason },
        // Silent, incomplete or closed: not the redirect (e.g. a browser's pre-connection).
        Ok(None) | Err(_) => Head::Nothing,
    }
}

fn timed_out(timeout: Duration, redirect_uri: &str) -> UiError {
    let secs = timeout.as_secs();
    UiError::new(
        "flow_timed_out",
        Actor::User,
        format!("No answer came back from the browser within {secs} seconds at {redirect_uri}. Finish the sign-in in the browser sooner, or start again. If Microsoft showed an error page instead, AADSTS50011 means http://localhost must be registered under \"Mobile and desktop applications\"."),
    )
    .with("seconds", secs)
    .with("minutes", secs.div_ceil(60))
    .with("redirectUri", redirect_uri)
}

fn malformed(reason: &str) -> UiError {
    UiError::new("callback_malformed", Actor::Support, format!("the sign-in callback could not be read: {reason}"))
        .with("reason", reason)
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
        let req = l.receive(Duration::from_secs(10)).await.unwrap();
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
        let req = l.receive(Duration::from_secs(10)).await.unwrap();
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
        let c = client(port, get("/?state=s2&error=access_denied"));
        let req = l.receive(Duration::from_secs(10)).await.unwrap();
        assert!(req.callback_url().ends_with("/?state=s2&error=access_denied"));
        req.respond(false, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 400"));
        drop(idle);
    }

    #[tokio::test]
    async fn times_out_without_a_request() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let started = std::time::Instant::now();
        let e = l.receive(Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind, "flow_timed_out");
        assert_eq!(e.actor, Actor::User);
        assert_eq!(e.detail.get("redirectUri").unwrap(), &format!("http://localhost:{port}"));
        assert!(crate::oauth::OAUTH_ERROR_KINDS.contains(&e.kind.as_str()));
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "closed after the timeout");
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let l = LoopbackListener::bind().await.unwrap();
        let mut raw =
            format!("GET /?state=s3 HTTP/1.1\r\nHost: localhost\r\nX-Big: {}", "a".repeat(MAX_HEAD)).into_bytes();
        raw.extend_from_slice(b"\r\n\r\n");
        let c = client(l.port(), raw);
        let e = l.receive(Duration::from_secs(10)).await.unwrap_err();
        assert_eq!(e.kind, "callback_malformed");
        assert!(c.join().unwrap().starts_with("HTTP/1.1 431 "));
    }

    #[tokio::test]
    async fn non_get_is_refused_with_405() {
        let l = LoopbackListener::bind().await.unwrap();
        let raw = b"POST /?code=SECRETCODE&state=s4 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n".to_vec();
        let c = client(l.port(), raw);
        let e = l.receive(Duration::from_secs(10)).await.unwrap_err();
        assert_eq!(e.kind, "callback_malformed");
        assert!(!format!("{e:?}").contains("SECRETCODE"));
        let answer = c.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        assert!(!answer.contains("SECRETCODE"));
    }

    #[tokio::test]
    async fn garbage_and_absolute_targets_are_refused() {
        let l = LoopbackListener::bind().await.unwrap();
        let c = client(l.port(), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec());
        assert_eq!(l.receive(Duration::from_secs(10)).await.unwrap_err().kind, "callback_malformed");
        assert!(c.join().unwrap().starts_with("HTTP/1.1 400 "));

        let l = LoopbackListener::bind().await.unwrap();
        let c = client(l.port(), get("http://evil.example/?code=x&state=y"));
        assert_eq!(l.receive(Duration::from_secs(10)).await.unwrap_err().kind, "callback_malformed");
        assert!(c.join().unwrap().starts_with("HTTP/1.1 400 "));
    }

    #[tokio::test]
    async fn a_slow_head_arriving_in_pieces_is_assembled() {
        let l = LoopbackListener::bind().await.unwrap();
        let port = l.port();
        let c = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            for part in ["GET /?code=a", "&state=b HTTP/1.1\r\nHo", "st: localhost\r\n", "\r\n"] {
                s.write_all(part.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        let req = l.receive(Duration::from_secs(10)).await.unwrap();
        assert!(req.callback_url().ends_with("/?code=a&state=b"));
        req.respond(true, "").await;
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn escape_covers_html_metacharacters() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
