//! Reading an HTTP answer's body with a cap per kind of document.
//!
//! Why: `Response::bytes()` buffers whatever the host sends; a broken proxy or a hostile host
//! that sends an endless body would grow memory until the process is killed (the request's
//! total timeout comes far too late at network speed). Here the declared `Content-Length` is
//! refused before reading when it is over the cap, and the body is read chunk by chunk, stopping
//! (and dropping the connection) as soon as it passes the cap. Each caller names its cap:
//! Microsoft's discovery document is about 1.7 KB, its JWKS a few KB, a token response a few KB.

/// Largest discovery document read.
pub const MAX_DISCOVERY_BYTES: usize = 256 * 1024;
/// Largest JWKS (signing keys) document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Largest token endpoint answer read (tokens included; Microsoft's are a few KB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a body was not had.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is (or declares itself) larger than `limit` bytes; reading stopped there.
    #[error("the answer is larger than {} KB", limit / 1024)]
    TooLarge { limit: usize, declared: Option<u64> },
    /// The transport failed while reading.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads `resp`'s body, at most `limit` bytes; more is [`BodyError::TooLarge`].
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if let Some(declared) = resp.content_length().filter(|n| *n > limit as u64) {
        return Err(BodyError::TooLarge { limit, declared: Some(declared) });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit, declared: None });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every request with `head` and then `body_bytes` of `x` (at most;
    /// it stops when the client hangs up). Returns its URL and the count of body bytes written.
    pub(crate) async fn server(head: &'static str, body_bytes: u64) -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let written = Arc::new(AtomicU64::new(0));
        let w = Arc::clone(&written);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let w = Arc::clone(&w);
                tokio::spawn(async move {
                    let mut req = [0u8; 4096];
                    let _ = s.read(&mut req).await;
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 16 * 1024];
                    let mut left = body_bytes;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if s.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        w.fetch_add(n as u64, Ordering::Relaxed);
                        left -= n as u64;
                    }
                });
            }
        });
        (url, written)
    }

    /// "Endless" for every cap here, and yet bounded, so that code without a cap fails the test
    /// instead of eating the machine's memory.
    pub(crate) const ENDLESS: u64 = 64 * 1024 * 1024;

    #[tokio::test]
    async fn an_endless_body_stops_at_the_cap() {
        let (url, written) = server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", ENDLESS).await;
        let started = Instant::now();
        let resp = reqwest::get(&url).await.unwrap();
        match read_capped(resp, MAX_TOKEN_BYTES).await {
            Err(BodyError::TooLarge { limit: MAX_TOKEN_BYTES, declared: None }) => {}
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // What the server got into the socket before the client hung up: the cap plus buffers.
        let sent = written.load(Ordering::Relaxed);
        assert!(sent < 16 * 1024 * 1024, "the server wrote {sent} bytes");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let (url, _) =
            server("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\nContent-Type: application/json\r\n\r\n", 0).await;
        let resp = reqwest::get(&url).await.unwrap();
        match read_capped(resp, MAX_JWKS_BYTES).await {
            Err(BodyError::TooLarge { declared: Some(1_000_000_000), .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_at_the_cap_is_read_whole() {
        let (url, _) = server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 1024).await;
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(read_capped(resp, 1024).await.unwrap().len(), 1024);
    }
}
