//! The keychain against the REAL Secret Service (gnome-keyring on a private D-Bus session).
//!
//! Run as the test command does:
//! `dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-core --test keychain_secret_service`.
//! Without a session bus these tests fail with a message saying so, unless `EXO_SKIP_KEYRING=1`.
//! Linux only: the Secret Service is the Linux backend.
#![cfg(target_os = "linux")]

use exo_setup_core::DetailKey;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use exo_setup_core::keychain::{AccountKey, CachedAccessToken, OsKeychain, Secret, TokenStore, SERVICE_ENV};
use exo_setup_core::{Actor, ErrorKind, UiError};

/// Marks the child process run of `child_process` (set only by the parent tests).
const CHILD_ENV: &str = "EXO_KEYCHAIN_TEST_CHILD";

/// True when the real Secret Service should be used; panics with instructions when it is missing.
fn secret_service_required() -> bool {
    if std::env::var("EXO_SKIP_KEYRING").as_deref() == Ok("1") {
        eprintln!("EXO_SKIP_KEYRING=1: skipping the real Secret Service test");
        return false;
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        panic!(
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset), so there is no Secret Service to test \
             against. Run: dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-core \
             (or set EXO_SKIP_KEYRING=1 to skip this test knowingly)"
        );
    }
    true
}

fn nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn unique_service(tag: &str) -> String {
    format!("dev.exosetup.wizard.test.{tag}.{}.{}", std::process::id(), nanos())
}

/// `len` characters of token-like text (base64url alphabet) that appear nowhere else.
fn token_like(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = (nanos() as u64) ^ 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize] as char
        })
        .collect()
}

/// Items under `service` as `secret-tool search --all` lists them: their `username` attributes.
fn secret_tool_usernames(service: &str) -> Vec<String> {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", service])
        .output()
        .expect("secret-tool (package libsecret-tools) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    let mut users: Vec<String> =
        all.lines().filter_map(|l| l.trim().strip_prefix("attribute.username = ")).map(str::to_owned).collect();
    let services = all.lines().filter(|l| l.trim() == format!("attribute.service = {service}")).count();
    assert_eq!(services, users.len(), "every item listed has our service attribute:\n{all}");
    users.sort();
    users
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_under(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// Directories where a plaintext copy could end up: the keyring's data directory and, under
/// with-keyring.sh (private HOME), the whole private HOME and the runtime dir.
fn scanned_dirs() -> Vec<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let data = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".local/share"));
    let mut dirs = vec![data.join("keyrings")];
    let private_home = std::env::var_os("EXO_REAL_HOME").is_some_and(|real| real != home.as_os_str());
    if private_home {
        dirs.push(home);
        if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
            dirs.push(PathBuf::from(run));
        }
    }
    dirs
}

fn assert_not_in_plaintext(needle: &str) {
    let mut files = Vec::new();
    for dir in scanned_dirs() {
        files_under(&dir, &mut files);
    }
    assert!(
        files.iter().any(|f| f.extension().is_some_and(|e| e == "keyring")),
        "no *.keyring file found under {:?}: is gnome-keyring storing to disk?",
        scanned_dirs()
    );
    // Any 40-character window of the secret would do; check several.
    let probes: Vec<&str> = (0..needle.len().saturating_sub(40)).step_by(997).map(|i| &needle[i..i + 40]).collect();
    for file in &files {
        let Ok(bytes) = std::fs::read(file) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for probe in &probes {
            assert!(!text.contains(probe), "a plaintext piece of the secret is in {}", file.display());
        }
    }
}

#[test]
fn large_value_round_trips_through_the_real_secret_service() {
    if !secret_service_required() {
        return;
    }
    let service = unique_service("roundtrip");
    let keychain = OsKeychain::with_service(&service, 1_000);
    assert_eq!(keychain.service(), service);
    let account = AccountKey::new("11111111-2222-3333-4444-555555555555", "Alice@Contoso.example");
    let refresh = Secret::new(token_like(6 * 1024));

    assert!(keychain.get_refresh_token(&account).unwrap().is_none());
    keychain.set_refresh_token(&account, &refresh).unwrap();
    assert_eq!(keychain.get_refresh_token(&account).unwrap().unwrap().expose(), refresh.expose());

    // Header + 7 parts of at most 1,000 bytes, all under the service name.
    let entry = account.refresh_entry();
    let mut expected: Vec<String> = (1..=7).map(|i| format!("{entry}#g1#{i}")).collect();
    expected.push(entry.clone());
    expected.sort();
    assert_eq!(secret_tool_usernames(&service), expected);
    assert_not_in_plaintext(refresh.expose());

    // Overwrite: the next generation replaces the parts.
    let rotated = Secret::new(token_like(3 * 1024));
    keychain.set_refresh_token(&account, &rotated).unwrap();
    assert_eq!(keychain.get_refresh_token(&account).unwrap().unwrap().expose(), rotated.expose());
    let mut expected: Vec<String> = (1..=4).map(|i| format!("{entry}#g2#{i}")).collect();
    expected.push(entry.clone());
    expected.sort();
    assert_eq!(secret_tool_usernames(&service), expected);

    // The cached access token (with expiry and scopes) next to it.
    let access = CachedAccessToken {
        token: Secret::new(token_like(2_500)),
        expires_at: 1_900_000_000,
        scopes: vec!["https://outlook.office.com/IMAP.AccessAsUser.All".into()],
    };
    keychain.set_access_token(&account, &access).unwrap();
    let back = keychain.get_access_token(&account).unwrap().unwrap();
    assert_eq!(back.token.expose(), access.token.expose());
    assert_eq!((back.expires_at, back.scopes), (access.expires_at, access.scopes));
    assert_not_in_plaintext(access.token.expose());

    keychain.delete_account(&account).unwrap();
    assert!(keychain.get_refresh_token(&account).unwrap().is_none());
    assert!(keychain.get_access_token(&account).unwrap().is_none());
    assert_eq!(secret_tool_usernames(&service), Vec::<String>::new(), "delete left items behind");
}

#[test]
fn service_name_comes_from_the_environment_override() {
    if !secret_service_required() {
        return;
    }
    let service = unique_service("env");
    let out = run_child(&[(SERVICE_ENV, service.as_str()), ("EXO_KEYCHAIN_CHILD_MODE", "store")], &[]);
    assert!(out.contains("CHILD-OK"), "{out}");
    assert_eq!(secret_tool_usernames(&service), vec!["refresh:contoso.example:bob@contoso.example".to_owned()]);
    OsKeychain::with_service(&service, 1_000).delete_value("refresh:contoso.example:bob@contoso.example").unwrap();
    assert!(secret_tool_usernames(&service).is_empty());
}

/// Runs `child_process` alone in a child process with the given environment.
fn run_child(set: &[(&str, &str)], remove: &[&str]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"]);
    cmd.env(CHILD_ENV, "1");
    for (k, v) in set {
        cmd.env(k, v);
    }
    for k in remove {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("re-run the test binary");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed:\n{text}");
    text
}

#[test]
fn no_secret_service_is_keychain_unavailable_with_instructions() {
    // Needs no Secret Service: the child process is pointed away from any.
    let service = unique_service("unavailable");
    let bad_socket = format!("unix:path=/nonexistent/exo-setup-test-bus-{}", std::process::id());
    let out = run_child(&[(SERVICE_ENV, &service), ("DBUS_SESSION_BUS_ADDRESS", &bad_socket)], &[]);
    assert!(out.contains("CHILD-OK"), "{out}");
    // No session bus at all (and no X display to autolaunch one).
    // (libdbus would otherwise find `$XDG_RUNTIME_DIR/bus` on a desktop.)
    let out = run_child(
        &[(SERVICE_ENV, &service), ("XDG_RUNTIME_DIR", "/nonexistent/exo-setup-test-runtime")],
        &["DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(out.contains("CHILD-OK"), "{out}");
}

#[test]
fn locked_keyring_is_keychain_locked() {
    if !secret_service_required() {
        return;
    }
    // Locking the shared login collection would disturb the other tests: the child gets its own
    // D-Bus session and gnome-keyring through the same script as the test command.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/with-keyring.sh");
    let mut child = Command::new("dbus-run-session")
        .arg("--")
        .arg(&script)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env(SERVICE_ENV, unique_service("locked"))
        .env("EXO_KEYCHAIN_CHILD_MODE", "locked")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dbus-run-session");
    // An unlock prompt nobody answers would wait for a year: bound it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("reading from a locked keyring hung (an unlock prompt?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("CHILD-OK"), "child failed:\n{text}");
}

/// Runs only as the child of the tests above (`--ignored` with `EXO_KEYCHAIN_TEST_CHILD=1`).
#[test]
#[ignore = "child process of the tests above; runs only with EXO_KEYCHAIN_TEST_CHILD=1"]
fn child_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let keychain = OsKeychain::new();
    let expected_service = std::env::var(SERVICE_ENV).expect("parent sets the service");
    assert_eq!(keychain.service(), expected_service, "{SERVICE_ENV} must override the service name");
    let account = AccountKey::new("contoso.example", "Bob@Contoso.example");

    if std::env::var("EXO_KEYCHAIN_CHILD_MODE").as_deref() == Ok("store") {
        keychain.set_refresh_token(&account, &Secret::new("1.AXchild")).unwrap();
        println!("CHILD-OK");
        return;
    }

    if std::env::var("EXO_KEYCHAIN_CHILD_MODE").as_deref() == Ok("locked") {
        // Inside its own D-Bus session and gnome-keyring: store, lock the login collection, read.
        keychain.set_refresh_token(&account, &Secret::new("1.AXbefore-lock")).unwrap();
        let lock = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .expect("dbus-send");
        assert!(lock.status.success(), "locking failed: {}", String::from_utf8_lossy(&lock.stderr));
        let err = keychain.get_refresh_token(&account).unwrap_err();
        let ui: UiError = err.into();
        eprintln!("child: {} {} ({:?})", ui.kind, ui.message, ui.detail);
        assert_eq!(ui.kind, ErrorKind::KeychainLocked);
        assert_eq!(ui.actor, Actor::User);
        assert!(ui.message.contains("Unlock"), "{}", ui.message);
        println!("CHILD-OK");
        return;
    }

    let secret = Secret::new("1.AXmust-not-be-stored-anywhere");
    for err in [
        keychain.get_refresh_token(&account).unwrap_err(),
        keychain.set_refresh_token(&account, &secret).unwrap_err(),
        keychain.delete_refresh_token(&account).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::KeychainUnavailable, "{err:?}");
        let ui: UiError = err.into();
        assert_eq!(ui.kind, ErrorKind::KeychainUnavailable);
        assert_eq!(ui.actor, Actor::User);
        assert!(ui.message.contains("gnome-keyring") && ui.message.contains("KWallet"), "{}", ui.message);
        assert!(ui.message.contains("unlocked"), "{}", ui.message);
        assert_eq!(ui.detail[&DetailKey::Service], expected_service);
        assert!(!format!("{ui:?}").contains("must-not-be-stored"));
        eprintln!("child: {} ({})", ui.message, ui.detail[&DetailKey::Cause]);
    }
    println!("CHILD-OK");
}
