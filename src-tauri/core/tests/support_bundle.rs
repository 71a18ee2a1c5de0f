//! The support bundle end to end over a real SQLite store: an organization with accounts, a
//! sign-in in the keychain, log files with token-like strings planted in them (and a FIFO among
//! them); the zip is opened and every entry scanned for the planted secrets and the keychain's
//! values (`common::secrets_in`, the token scan), with mail addresses kept or hashed.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{add_account, secrets_in, store_with_exchange_on, HANAKO, TARO};
use exo_setup_core::keychain::{AccountKey, CachedAccessToken, MemoryKeychain, Secret, TokenStore};
use exo_setup_core::model::ReceiveProtocol;
use exo_setup_core::support::{self, AddressMode};
use exo_setup_core::{logging, ErrorKind, Store};

const TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const TRACE_ID: &str = "0b2c4d6e-8f10-4a2b-9c3d-4e5f60718293";
const CORRELATION_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The keychain's values: a refresh token with no token-like shape (only the exact-value rule can
/// find it) and an access token that is a JWT.
const KEYCHAIN_REFRESH: &str = "kc-refresh-plain-lowercase-value-of-taro";
const KEYCHAIN_ACCESS: &str =
    "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbSJ9.QWNjZXNzU2lnbmF0dXJlMTIz";

/// Planted in the logs, each the way it could get there.
const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ0YXJvIiwibm9uY2UiOiJ4In0.U2lnbmF0dXJlT2ZUaGVJZFRva2Vu";
const REFRESH: &str = "0.AXEAr8Qq1Zb4nE2mO5vR7tY9uI1oP3aS5dF7gH9jK1lZ3xC5vB7nM9qW1eR3tY5uI7oP9aS1dF3gH5j";
const REFRESH_LOWER: &str = "refresh-value-in-a-form-body-lowercase";
const CODE: &str = "M.C552_BAY.2.U.8f1c2d3e-code-value";
const STATE: &str = "st4te-one-time-value-xyz";
const NONCE: &str = "n0nce-one-time-value-abc";
const VERIFIER: &str = "pkce-verifier-value-0123456789-abcdefghijklmno";
const XOAUTH2: &str = "dXNlcj10YXJvQGNvbnRvc28uZXhhbXBsZQFhdXRoPUJlYXJlciBleUpoYmMBAQ==";

fn planted() -> Vec<String> {
    let mut all: Vec<String> =
        [KEYCHAIN_REFRESH, KEYCHAIN_ACCESS, JWT, REFRESH, REFRESH_LOWER, CODE, STATE, NONCE, VERIFIER, XOAUTH2]
            .map(str::to_owned)
            .to_vec();
    // The parts of each JWT: payload and signature alone are secrets too.
    for jwt in [JWT, KEYCHAIN_ACCESS] {
        all.extend(jwt.split('.').skip(1).map(str::to_owned));
    }
    all
}

struct Setup {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    store: Store,
    keychain: MemoryKeychain,
    explicit_log: PathBuf,
    out_dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let t = store_with_exchange_on();
    t.store
        .conn()
        .execute(
            "INSERT INTO org_settings (id, tenant, tenant_id, client_id, authority, redirect_mode, issuer, verified_at, organization_name)
             VALUES (1, 'contoso.example', ?1, '11111111-2222-3333-4444-555555555555', 'https://login.microsoftonline.com',
                     'deep_link', 'https://login.microsoftonline.com/' || ?1 || '/v2.0', '2026-12-01T00:00:00Z', 'Contoso')",
            [TENANT_ID],
        )
        .unwrap();
    add_account(&t.store, TARO, ReceiveProtocol::Imap);
    add_account(&t.store, HANAKO, ReceiveProtocol::Pop3);
    t.store
        .conn()
        .execute_batch(&format!(
            "UPDATE mail_accounts SET status = 'signed_in', status_at = '2026-12-05T10:00:00Z' WHERE address = '{TARO}';
             UPDATE mail_accounts SET status = 'error', status_detail = 'mail_auth_failed',
                    status_at = '2026-12-05T11:00:00Z' WHERE address = '{HANAKO}';"
        ))
        .unwrap();

    let keychain = MemoryKeychain::new();
    let key = AccountKey::new(TENANT_ID, TARO);
    keychain.set_refresh_token(&key, &Secret::new(KEYCHAIN_REFRESH)).unwrap();
    keychain
        .set_access_token(
            &key,
            &CachedAccessToken { token: Secret::new(KEYCHAIN_ACCESS), expires_at: 1_796_000_000, scopes: Vec::new() },
        )
        .unwrap();

    let data_dir = t.dir.path().to_owned();
    let logs = logging::log_dir(&data_dir);
    std::fs::create_dir_all(&logs).unwrap();
    let day = [
        format!("2026-12-05T10:00:00.000001Z  INFO exo_setup_core::auth: flow failed kind=tenant_not_found code=AADSTS90002 traceId={TRACE_ID} correlationId={CORRELATION_ID}"),
        format!("2026-12-05T10:00:01.000001Z DEBUG exo_setup::ipc: what=\"FlowFinished\" payload={{\"address\":\"{TARO}\",\"id_token\":\"{JWT}\"}}"),
        format!("2026-12-05T10:00:02.000001Z DEBUG exo_setup::ipc: callback dev.exosetup.wizard://oauth2/callback?code={CODE}&state={STATE}&session_state=abc nonce={NONCE}"),
        format!("2026-12-05T10:00:03.000001Z DEBUG reqwest: POST /token grant_type=refresh_token&refresh_token={REFRESH_LOWER}&code_verifier={VERIFIER}"),
        format!("2026-12-05T10:00:04.000001Z TRACE async_imap::imap_stream: A0001 AUTHENTICATE XOAUTH2 {XOAUTH2}"),
        format!("2026-12-05T10:00:05.000001Z  WARN exo_setup::upkeep: token refresh failed address={HANAKO} kind=invalid_grant"),
        format!("2026-12-05T10:00:06.000001Z  INFO pasted: {{\"refresh_token\": \"{REFRESH}\"}} and again {REFRESH} and {KEYCHAIN_REFRESH}"),
        format!("2026-12-05T10:00:07.000001Z  INFO mail check: Authorization: Bearer {KEYCHAIN_ACCESS} for {TARO}"),
    ];
    std::fs::write(logs.join("exo-setup-20261205.log"), day.join("\n") + "\n").unwrap();
    std::fs::write(logs.join("exo-setup-20261204.log"), format!("2026-12-04T09:00:00Z  INFO x: signed in {TARO}\n"))
        .unwrap();
    // Newest first: the bundle orders the folder's files by when they were last written.
    let now = std::time::SystemTime::now();
    for (name, ago) in [("exo-setup-20261205.log", 60), ("exo-setup-20261204.log", 86_400)] {
        let f = std::fs::File::options().append(true).open(logs.join(name)).unwrap();
        f.set_modified(now - std::time::Duration::from_secs(ago)).unwrap();
    }
    #[cfg(unix)]
    assert!(std::process::Command::new("mkfifo").arg(logs.join("stuck.log")).status().unwrap().success());
    let explicit_log = t.dir.path().join("cli.log");
    std::fs::write(&explicit_log, format!("2026-12-05T12:00:00Z  INFO cli: token for {TARO} id_token={JWT}\n"))
        .unwrap();

    Setup { data_dir, store: t.store, keychain, explicit_log, out_dir: tempfile::tempdir().unwrap(), _dir: t.dir }
}

fn bundle(
    s: &Setup,
    name: &str,
    hash_addresses: bool,
    overwrite: bool,
) -> Result<exo_setup_core::model::SupportBundle, exo_setup_core::UiError> {
    support::create(support::Request {
        store: &s.store,
        keychain: Some(&s.keychain),
        log_files: support::logs::sources(&s.data_dir, Some(s.explicit_log.clone())),
        out: s.out_dir.path().join(name),
        overwrite,
        hash_addresses,
    })
}

/// Every entry of the zip: name and content, in order.
fn entries(path: &Path) -> Vec<(String, String)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            (f.name().to_owned(), text)
        })
        .collect()
}

fn entry<'a>(all: &'a [(String, String)], name: &str) -> &'a str {
    &all.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}

#[test]
fn a_bundle_holds_the_expected_files_and_no_secret() {
    let s = setup();
    let written = bundle(&s, "bundle.zip", false, false).unwrap();
    let all = entries(Path::new(&written.path));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "README.txt",
            "versions.json",
            "settings.json",
            "accounts.json",
            "audit.json",
            "logs/cli.log",
            "logs/exo-setup-20261205.log",
            "logs/exo-setup-20261204.log",
        ]
    );
    assert_eq!(written.files, names);

    // The token scan: nothing planted, nothing of the keychain, in any entry (and not in the raw zip).
    let secrets = planted();
    for (name, text) in &all {
        assert_eq!(secrets_in(text.as_bytes(), &secrets), Vec::<&str>::new(), "secrets in {name}:\n{text}");
    }
    assert_eq!(secrets_in(&std::fs::read(&written.path).unwrap(), &secrets), Vec::<&str>::new());

    // What support needs is still there.
    let day = entry(&all, "logs/exo-setup-20261205.log");
    for kept in [
        TRACE_ID,
        CORRELATION_ID,
        "code=AADSTS90002",
        "kind=tenant_not_found",
        TARO,
        HANAKO,
        "code=<redacted>&state=<redacted>",
    ] {
        assert!(day.contains(kept), "{kept} missing from:\n{day}");
    }
    assert!(!day.contains("AUTHENTICATE XOAUTH2"), "the wire line was kept:\n{day}");
    let accounts: serde_json::Value = serde_json::from_str(entry(&all, "accounts.json")).unwrap();
    let taro = accounts["accounts"].as_array().unwrap().iter().find(|a| a["address"] == TARO).unwrap();
    assert_eq!((taro["status"].as_str(), taro["keychain"]["refreshToken"].as_bool()), (Some("signed_in"), Some(true)));
    let hanako = accounts["accounts"].as_array().unwrap().iter().find(|a| a["address"] == HANAKO).unwrap();
    assert_eq!(hanako["lastErrorKind"], "mail_auth_failed");
    assert_eq!(accounts["total"], 2);
    let settings: serde_json::Value = serde_json::from_str(entry(&all, "settings.json")).unwrap();
    assert_eq!(settings["organization"]["tenantId"], TENANT_ID);
    assert!(settings["managedPolicy"].is_object());
    let versions: serde_json::Value = serde_json::from_str(entry(&all, "versions.json")).unwrap();
    assert_eq!(versions["app"]["version"], exo_setup_core::identity::VERSION);
    assert_eq!(versions["os"]["family"], std::env::consts::FAMILY);

    let readme = entry(&all, "README.txt");
    assert!(readme.contains("Mail addresses: kept"), "{readme}");
    #[cfg(unix)]
    assert!(readme.contains("stuck.log was not included") && readme.contains("not a regular file"), "{readme}");
    assert!(written.redactions >= 10, "{}", written.redactions);
    assert!(!written.addresses_hashed);
}

#[test]
fn addresses_are_hashed_when_asked_the_same_everywhere() {
    let s = setup();
    let written = bundle(&s, "hashed.zip", true, false).unwrap();
    assert!(written.addresses_hashed);
    let all = entries(Path::new(&written.path));
    for (name, text) in &all {
        for address in [TARO, HANAKO, "taro@", "hanako@"] {
            assert!(!text.to_lowercase().contains(address), "{address} in {name}:\n{text}");
        }
    }
    // One hash per address, shared by accounts.json and the logs; the domain is kept.
    let accounts: serde_json::Value = serde_json::from_str(entry(&all, "accounts.json")).unwrap();
    let hashed: Vec<String> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap().to_owned()).collect();
    assert_eq!(hashed.len(), 2);
    for h in &hashed {
        assert!(h.starts_with("h-") && h.ends_with("@contoso.example"), "{h}");
    }
    assert_ne!(hashed[0], hashed[1]);
    let day = entry(&all, "logs/exo-setup-20261205.log");
    assert!(hashed.iter().all(|h| day.contains(h.as_str())), "{day}");
    assert!(entry(&all, "README.txt").contains("SHA-256"));
    assert_eq!(secrets_in(&std::fs::read(&written.path).unwrap(), &planted()), Vec::<&str>::new());
    // Another bundle, another salt: the hashes do not carry over.
    let again = entries(Path::new(&bundle(&s, "again.zip", true, false).unwrap().path));
    assert!(!hashed.iter().any(|h| entry(&again, "accounts.json").contains(h.as_str())));
}

#[test]
fn an_existing_file_is_replaced_only_when_asked() {
    let s = setup();
    let out = s.out_dir.path().join("taken.zip");
    std::fs::write(&out, "mine").unwrap();
    let e = bundle(&s, "taken.zip", false, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ExportExists);
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    bundle(&s, "taken.zip", false, true).unwrap();
    assert_eq!(entries(&out)[0].0, "README.txt");
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(s.out_dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("taken.zip")]);
}

#[test]
fn the_hash_rule_is_sha256_of_salt_and_address_truncated() {
    use sha2::Digest;
    let salt = [7u8; 16];
    let mode = AddressMode::Hash { salt };
    let digest = sha2::Sha256::new().chain_update(salt).chain_update(TARO.as_bytes()).finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    assert_eq!(mode.show("Taro@Contoso.example"), format!("h-{hex}@contoso.example"));
}
