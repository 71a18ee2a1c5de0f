//! `exo-setup support-bundle` end to end: the binary against a data directory with accounts and
//! log files holding planted token-like strings; the zip it writes is opened and scanned. No
//! account is signed in, so the keychain is never asked (no Secret Service needed).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

const TARO: &str = "taro@contoso.example";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0YXJvQGNvbnRvc28uZXhhbXBsZSJ9.U2lnbmF0dXJlT2ZUaGVUb2tlbjEyMw";
const CODE: &str = "M.C552_BAY.2.U.authorization-code-value";
const STATE: &str = "state-one-time-value-0123";
const NONCE: &str = "nonce-one-time-value-4567";
const REFRESH: &str = "1.AXEAq2Wb8Zc4nE2mO5vR7tY9uI1oP3aS5dF7gH9jK1lZ3xC5vB7nM9qW1eR3t";
const TRACE_ID: &str = "0b2c4d6e-8f10-4a2b-9c3d-4e5f60718293";

fn exo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exo-setup"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("EXO_SETUP_DATA_DIR")
        .env_remove("EXO_SETUP_POLICY_FILE")
        .env_remove("EXO_SETUP_LOG_FILE")
        .env("EXO_SETUP_KEYCHAIN_SERVICE", "dev.exosetup.wizard.test.support-bundle")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exo-setup {args:?} hung for 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A data directory with Exchange Online on, two accounts, a day's log in `logs/` and a log file
/// named by `EXO_SETUP_LOG_FILE` (returned), each with secrets planted.
fn data_dir(d: &Path) -> std::path::PathBuf {
    let shown = exo(d, &["server", "show"], &[]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let db = rusqlite::Connection::open(d.join("exo-setup.sqlite3")).unwrap();
    db.execute("UPDATE mail_servers SET enabled = 1 WHERE id = 1", []).unwrap();
    drop(db);
    for (login, address) in [("taro", TARO), ("hanako", "hanako@contoso.example")] {
        let added = exo(d, &["accounts", "add", "--login", login, "--address", address], &[]);
        assert!(added.status.success(), "{}", text(&added.stderr));
    }
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("exo-setup-20261205.log"),
        format!(
            "2026-12-05T10:00:00Z  INFO exo_setup_core::auth: flow failed kind=state_unknown traceId={TRACE_ID}\n\
             2026-12-05T10:00:01Z DEBUG exo_setup::ipc: callback ?code={CODE}&state={STATE} nonce={NONCE} for {TARO}\n\
             2026-12-05T10:00:02Z  INFO pasted: {{\"refresh_token\":\"{REFRESH}\"}} id={JWT}\n"
        ),
    )
    .unwrap();
    let explicit = d.join("cli.log");
    std::fs::write(&explicit, format!("2026-12-05T11:00:00Z  INFO cli: Authorization: Bearer {JWT}\n")).unwrap();
    explicit
}

fn entries(path: &Path) -> Vec<(String, String)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().to_owned(), s)
        })
        .collect()
}

fn assert_no_secret(all: &[(String, String)]) {
    let jwt_parts: Vec<&str> = JWT.split('.').skip(1).collect();
    for (name, content) in all {
        for s in [JWT, CODE, STATE, NONCE, REFRESH].iter().chain(&jwt_parts) {
            assert!(!content.contains(s), "{s} in {name}:\n{content}");
        }
    }
}

#[test]
fn writes_the_zip_and_lists_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = data_dir(d);
    let out_path = d.join("bundle.zip");
    let out = exo(
        d,
        &["support-bundle", "--out", out_path.to_str().unwrap()],
        &[("EXO_SETUP_LOG_FILE", log.to_str().unwrap()), ("EXO_SETUP_LOG", "debug")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(out_path.to_str().unwrap()));
    let listed: Vec<String> = lines.map(|l| l.trim().to_owned()).collect();
    assert_eq!(
        listed,
        [
            "README.txt",
            "versions.json",
            "settings.json",
            "accounts.json",
            "audit.json",
            "logs/cli.log",
            "logs/exo-setup-20261205.log"
        ]
    );
    assert!(text(&out.stderr).contains("mail addresses kept"), "{}", text(&out.stderr));
    let all = entries(&out_path);
    assert_eq!(all.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), listed);
    assert_no_secret(&all);
    let day = &all.iter().find(|(n, _)| n == "logs/exo-setup-20261205.log").unwrap().1;
    assert!(day.contains(TRACE_ID) && day.contains(TARO) && day.contains("code=<redacted>"), "{day}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out_path).unwrap().permissions().mode() & 0o077, 0, "the zip is private");
    }
}

#[test]
fn an_existing_file_is_an_error_unless_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    data_dir(d);
    let out_path = d.join("taken.zip");
    std::fs::write(&out_path, "mine").unwrap();
    let refused = exo(d, &["support-bundle", "--out", out_path.to_str().unwrap()], &[]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("error[export_exists]"), "{}", text(&refused.stderr));
    assert_eq!(std::fs::read(&out_path).unwrap(), b"mine");
    let forced = exo(d, &["support-bundle", "--out", out_path.to_str().unwrap(), "--force"], &[]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(entries(&out_path)[0].0, "README.txt");
    // --force alone (without --out) is a usage error.
    assert_eq!(exo(d, &["support-bundle", "--force"], &[]).status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn a_fifo_as_the_folder_or_the_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    data_dir(d);
    let fifo = d.join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let inside = fifo.join("bundle.zip");
    let out = exo(d, &["support-bundle", "--out", inside.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[support_bundle_failed]"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is not a folder"), "{}", text(&out.stderr));
    let out = exo(d, &["support-bundle", "--out", fifo.to_str().unwrap(), "--force"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a regular file"), "{}", text(&out.stderr));
    let out = exo(d, &["support-bundle", "--out", fifo.to_str().unwrap()], &[]);
    assert!(text(&out.stderr).contains("error[export_exists]"), "{}", text(&out.stderr));
    // Nothing else was left in the folder (no temporary file).
    let mut left: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert!(left.iter().all(|n| !n.ends_with(".part")), "{left:?}");
}

#[test]
fn json_output_and_hashed_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    data_dir(d);
    let out_path = d.join("hashed.zip");
    let out = exo(d, &["support-bundle", "--out", out_path.to_str().unwrap(), "--hash-addresses", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], out_path.to_str().unwrap());
    assert_eq!(v["addressesHashed"], true);
    assert!(v["redactions"].as_u64().unwrap() >= 4, "{v}");
    let all = entries(&out_path);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(v["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect::<Vec<_>>(), names);
    assert_no_secret(&all);
    for (name, content) in &all {
        assert!(!content.contains("taro@") && !content.contains("hanako@"), "an address in {name}:\n{content}");
    }
    let accounts = &all.iter().find(|(n, _)| n == "accounts.json").unwrap().1;
    assert!(accounts.contains("@contoso.example\"") && accounts.contains("\"h-"), "{accounts}");
}
