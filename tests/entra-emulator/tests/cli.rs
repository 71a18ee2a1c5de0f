//! The `entra-emulator` binary: prints its base URL when ready, serves, writes the public key, refuses
//! non-loopback addresses, and accepts a TOML config.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_entra-emulator");

#[test]
fn prints_base_url_and_writes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("pub.pem");
    let mut child = Command::new(BIN)
        .args(["--auto-approve", "--listen", "127.0.0.1:0", "--write-public-key"])
        .arg(&pem)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("entra-emulator listening on ").unwrap_or_else(|| panic!("{line}")).to_string();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert!(std::fs::read_to_string(&pem).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{base}/common/v2.0/.well-known/openid-configuration")).await.unwrap().status()
    });
    assert_eq!(status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn refuses_non_loopback_and_round_trips_toml_config() {
    let out = Command::new(BIN).args(["--listen", "0.0.0.0:0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
    let out = Command::new(BIN).arg("--print-config").output().unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, &out.stdout).unwrap();
    let parsed = entra_emulator::Config::load(&cfg).unwrap();
    assert_eq!(parsed.tenants[0].users[1].display_name, "山田 太郎");
}
