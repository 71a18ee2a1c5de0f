//! Entry points of the fuzz targets (`fuzz/fuzz_targets/*.rs`) and of their corpus replay
//! (`tests/fuzz_corpus.rs`, stable toolchain, part of the test command), so that a fuzzer's find
//! becomes a regression file that the ordinary tests keep replaying.
//!
//! Each entry takes arbitrary bytes and feeds them to the code that reads untrusted input —
//! through the same public functions the app calls, over a real socket where the app reads one —
//! and must never panic, hang or allocate without bound. Where an input is accepted, it also
//! checks a property that must hold for every input (a parsed invitation survives its own link,
//! a decoded keychain value survives being written back, no reply puts the token in an error).
//!
//! Not an API: hidden from the docs, used only by the fuzzing crate and the replay test.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::keychain::{AccountKey, EntryStore, Keychain, MemoryEntries, Secret, TokenStore};
use crate::mailcheck::{CheckOptions, Timeouts};
use crate::model::{Endpoint, Security};
use crate::ErrorKind;
use crate::UiError;

/// A target's entry point: arbitrary bytes in, never a panic.
pub type Entry = fn(&[u8]);

/// Every target: its name (the directory of its corpus) and its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("invitation", invitation),
    ("policy", policy),
    ("csv_preview", csv_preview),
    ("loopback_request", loopback_request),
    ("launch_args", launch_args),
    ("decoders", decoders),
    ("mail_replies", mail_replies),
];

/// One runtime for the entries that talk over sockets (the app's own code is async).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime for fuzzing")
    })
}

/// Every error a user may see is a complete sentence with a kind.
fn check_error(e: &UiError) {
    assert!(!e.message.trim().is_empty(), "an error without a message: {e:?}");
}

/// Invitation links and files: the first byte picks how the rest arrives — as text the user
/// pasted or the OS handed over (`invite::parse`) or as a file (`invite::read_file`). Whatever
/// parses must come back unchanged through its own link and its own file.
pub fn invitation(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else { return };
    let parsed = if how % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        crate::invite::parse(text)
    } else {
        let path = scratch_dir().join(format!("{}.exoinvite", std::process::id()));
        if std::fs::write(&path, rest).is_err() {
            return;
        }
        let read = crate::invite::read_file(&path);
        let _ = std::fs::remove_file(&path);
        read
    };
    match parsed {
        Ok(inv) => {
            let link = crate::invite::link(&inv);
            assert_eq!(crate::invite::parse(&link).expect("its own link parses"), inv);
            let file = crate::invite::file_contents(&inv);
            assert_eq!(crate::invite::parse(&file).expect("its own file parses"), inv);
        }
        Err(e) => check_error(&e),
    }
}

/// One directory for the files the entries must write (shared by all fuzzing processes, so that
/// the many short-lived processes of a fork-mode run leave nothing behind but one small store).
fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("exo-setup-fuzz");
        std::fs::create_dir_all(&dir).expect("a scratch directory for fuzzing");
        dir
    })
}

/// The managed policy's JSON → `Policy` (not the file's trust checks): accepted or a
/// `policy_invalid` error; an accepted policy answers every question without panicking.
pub fn policy(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else { return };
    match crate::policy::parse(json, Path::new("/etc/exo-setup/policy.json")) {
        Ok(p) => {
            let _ = p.view();
            let _ = p.locked_tenant();
            for authority in ["https://login.microsoftonline.com", "https://login.microsoftonline.us", json] {
                let _ = p.authority_allowed(authority);
            }
            for field in ["tenant", "clientId", "authority", "redirectMode", "organizationName"] {
                let _ = p.locked(field);
            }
        }
        Err(e) => {
            check_error(&e);
            assert_eq!(e.kind, ErrorKind::PolicyInvalid, "{e:?}");
        }
    }
}

/// CSV preview (decoding UTF-8/BOM/Shift_JIS/UTF-16, header mapping, every row's checks) against
/// a real, empty SQLite store (a file in the scratch directory; preview writes nothing).
pub fn csv_preview(data: &[u8]) {
    thread_local! {
        static STORE: crate::Store = crate::Store::open_in(&scratch_dir().join("store")).expect("a store");
    }
    STORE.with(|store| match crate::csv_io::preview(store, data) {
        Ok(preview) => {
            let _ = serde_json::to_string(&preview).expect("a preview serializes");
        }
        Err(e) => check_error(&e),
    });
}

/// The loopback redirect listener, over a real socket on 127.0.0.1: a client sends the bytes as
/// its request and closes its side; a second client then sends the flow's redirect, so that a
/// listener that (rightly) refused or ignored the first one still ends. A request the listener
/// hands on must be a URL of its own origin carrying the flow's state.
pub fn loopback_request(data: &[u8]) {
    const STATE: &str = "fuzz-end";
    const END: &[u8] = b"GET /?code=fuzz-end&state=fuzz-end HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let data = data.to_vec();
    runtime().block_on(async move {
        // No port (every ephemeral port in TIME_WAIT after a long run): the machine's limit, not the input's.
        let Ok(listener) = crate::auth::loopback::LoopbackListener::bind().await else { return };
        let port = listener.port();
        let client = tokio::spawn(async move {
            for request in [&data[..], END] {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else { return };
                let _ = s.write_all(request).await;
                let _ = s.shutdown().await;
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
            }
        });
        match listener.receive(STATE, Duration::from_secs(20)).await {
            Ok(request) => {
                let origin = format!("http://localhost:{port}/");
                let url = request.callback_url();
                assert!(url.starts_with(&origin), "a callback outside {origin}");
                let parsed = url::Url::parse(url).expect("a URL");
                let state = parsed.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
                assert_eq!(state.as_deref(), Some(STATE), "another flow's redirect");
                request.respond(false, "fuzz").await;
            }
            Err(e) => check_error(&e),
        }
        let _ = client.await;
    });
}

/// argv classification (which command lines open the wizard, what the OS handed over) and the
/// deep links among them. Arguments are separated by NUL bytes.
pub fn launch_args(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = std::iter::once("exo-setup").chain(text.split('\0')).map(str::to_owned).collect();
    let launch = crate::launch_args::gui_launch(&args, Some(Path::new("/home/u")));
    assert_eq!(crate::launch_args::is_gui_launch(&args), crate::launch_args::gui_launch(&args, None).is_some());
    for arg in &args[1..] {
        match crate::launch_args::Handover::classify(arg, None) {
            Some(crate::launch_args::Handover::DeepLink(link)) => {
                if let Ok(url) = url::Url::parse(&link) {
                    if crate::invite::is_invitation_url(&url) {
                        let _ = crate::invite::parse(&link);
                    }
                }
            }
            Some(crate::launch_args::Handover::InvitationFile(path)) => {
                assert!(path.extension().is_some(), "{path:?}");
            }
            None => {}
        }
    }
    if let Some(crate::launch_args::GuiLaunch {
        handover: Some(crate::launch_args::Handover::InvitationFile(p)), ..
    }) = launch
    {
        assert!(p.is_absolute(), "a relative invitation path left unresolved: {p:?}");
    }
}

/// The keychain's decoders: the chunk header and its parts (`keychain/chunked.rs`) and the cached
/// access token (`CachedAccessToken`), as read back from a keychain whose entries hold the
/// bytes (records separated by 0x1E: the header, then parts 1, 2, … of the generation the header
/// names). A value that reads back is written again and must read back the same; and the bytes
/// as a value must survive splitting into parts of every size.
pub fn decoders(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut records = text.split('\u{1e}');
    let header = records.next().unwrap_or_default();
    let generation =
        header.strip_prefix('v').and_then(|r| r.split(':').next()).and_then(|g| g.parse::<u64>().ok()).unwrap_or(1);
    let account = AccountKey::new("00000000-0000-0000-0000-000000000001", "taro@contoso.example");
    let keychain = Keychain::with_entries(MemoryEntries::new("fuzz"), 64);
    for entry in [account.refresh_entry(), account.access_entry()] {
        keychain.entries().set(&entry, header).expect("a memory entry");
        for (i, part) in records.clone().enumerate() {
            keychain.entries().set(&format!("{entry}#g{generation}#{}", i + 1), part).expect("a memory entry");
        }
    }
    if let Ok(Some(refresh)) = keychain.get_refresh_token(&account) {
        keychain.set_refresh_token(&account, &refresh).expect("a memory write");
        let again = keychain.get_refresh_token(&account).expect("readable").expect("present");
        assert_eq!(again.expose(), refresh.expose());
    }
    if let Ok(Some(cached)) = keychain.get_access_token(&account) {
        keychain.set_access_token(&account, &cached).expect("a memory write");
        let again = keychain.get_access_token(&account).expect("readable").expect("present");
        assert_eq!(again.expires_at, cached.expires_at);
        assert_eq!(again.token.expose(), cached.token.expose());
        let _ = cached.expires_within(chrono::Utc::now().timestamp(), i64::MAX);
        let _ = cached.expires_within(i64::MAX, i64::MAX);
    }
    let value = Secret::new(text.as_ref());
    for chunk_bytes in [16, 17, 64] {
        let k = Keychain::with_entries(MemoryEntries::new("fuzz"), chunk_bytes);
        k.set_value("v", &value).expect("a memory write");
        assert_eq!(k.get_value("v").expect("readable").expect("present").expose(), value.expose());
    }
}

/// The IMAP, POP3 and SMTP dialogues and the explanation of every reply: a fake server on
/// 127.0.0.1 sends the bytes (after the first, which picks the protocol) as everything it says,
/// then closes; the real check talks to it. Whatever the server says, the outcome is an explained
/// error or a pass, and no error carries the token or the XOAUTH2 string.
pub fn mail_replies(data: &[u8]) {
    const TOKEN: &str = "fuzz-access-token-3b9f1c";
    let Some((&which, replies)) = data.split_first() else { return };
    let replies = replies.to_vec();
    runtime().block_on(async move {
        // No port (every ephemeral port in TIME_WAIT after a long run): the machine's limit, not the input's.
        let Ok(server) = TcpListener::bind(("127.0.0.1", 0)).await else { return };
        let Ok(port) = server.local_addr().map(|a| a.port()) else { return };
        let fake = tokio::spawn(async move {
            let Ok((mut s, _)) = server.accept().await else { return };
            let _ = s.write_all(&replies).await;
            let _ = s.shutdown().await;
            // Read what the client sends until it closes (closing with unread data would reset
            // the connection and drop replies not yet read).
            let mut sink = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(20), async {
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        });
        let endpoint = Endpoint { host: "127.0.0.1".into(), port, security: Security::Plain };
        // A server of the fuzzer's own, as if the administrator had set it on this computer.
        let endpoint =
            crate::audience::AllowedEndpoint::permit(&endpoint, "", crate::audience::EndpointsOrigin::Local, &[])
                .expect("endpoints set locally are allowed");
        let opts = CheckOptions { timeouts: Timeouts::all(Duration::from_secs(10)), extra_root_pem: None };
        let token = Secret::new(TOKEN);
        let address = "taro@contoso.example";
        let check = match which % 3 {
            0 => crate::mailcheck::check_imap(&endpoint, address, &token, &opts).await,
            1 => crate::mailcheck::check_pop3(&endpoint, address, &token, &opts).await,
            _ => crate::mailcheck::check_smtp(&endpoint, address, &token, &opts).await,
        };
        let _ = fake.await;
        if let Some(e) = &check.error {
            check_error(e);
            let blob = crate::mailcheck::xoauth2_blob(address, &token);
            let shown = serde_json::to_string(e).expect("an error serializes");
            assert!(!shown.contains(TOKEN) && !shown.contains(blob.expose()), "the token in an error: {shown}");
            assert_eq!(e.kind.area(), crate::ErrorArea::MailCheck, "{}", e.kind);
        }
    });
}
