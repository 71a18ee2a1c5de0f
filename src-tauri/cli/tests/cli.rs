//! The CLI in the same binary: subcommands run the core against a data directory given by
//! `--data-dir`, print what scripts need, and exit with documented codes.
//!
//! The sign-in commands (`consent`, `login`, `token`, `status`, `logout`) run against the entra
//! emulator (auto-approve) with `BROWSER=scripts/test-browser.sh` and the REAL Secret Service:
//! run as the test command does, `dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-cli --test cli`.
//! Without a session bus those tests fail saying so, unless `EXO_SKIP_KEYRING=1`.
//!
//! Invitations (`invite`, `open`): from an admin's data directory to a fresh user's, with every
//! refusal leaving the user's store exactly as it was.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use entra_emulator::{
    Config, Emulator, Endpoint, Fault, FaultKind, DEMO_CLIENT_ID, DEMO_MULTI_CLIENT_ID, DEMO_OPEN_TENANT_ID,
    DEMO_TENANT_ID,
};

fn exo(dir: &std::path::Path, args: &[&str]) -> Output {
    exo_env(dir, args, &[])
}

fn exo_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exo-setup"));
    cmd.arg("--data-dir").arg(dir).args(args).env_remove("EXO_SETUP_DATA_DIR");
    for var in ["TEST_BROWSER_LOGIN_HINT", "TEST_BROWSER_DELAY", "TEST_BROWSER_LOG", "EXO_SETUP_POLICY_FILE"] {
        cmd.env_remove(var);
    }
    // These tests read the English texts, whatever the locale of the machine (tests/cli_lang.rs
    // covers the choice of language).
    cmd.env("LC_ALL", "C");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn server_enable_import_export_round_trip() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let show = exo(d, &["server", "show"]);
    assert!(show.status.success());
    assert!(text(&show.stdout).contains("Exchange Online [OFF] (built-in)"), "{}", text(&show.stdout));
    assert!(text(&show.stdout).contains("dev.exosetup.wizard://oauth2/callback"));

    // Accounts need an enabled server: refused with exit code 3 (the admin must act).
    let csv = d.join("users.csv");
    std::fs::write(&csv, "login_name,display_name,mail_address\nyamada,山田 太郎,taro@contoso.example\nsato,佐藤 花子,hanako@contoso.example\n").unwrap();
    let refused = exo(d, &["accounts", "import", csv.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("server_disabled"), "{}", text(&refused.stderr));

    let bad = exo(
        d,
        &[
            "server",
            "enable",
            "--tenant",
            "nosuch.example",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--authority",
            &emu.base_url(),
        ],
    );
    assert_eq!(bad.status.code(), Some(3));
    assert!(text(&bad.stderr).contains("error[tenant_not_found]"), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("who must act: administrator"));

    let on = exo(
        d,
        &[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--authority",
            &emu.base_url(),
        ],
    );
    assert!(on.status.success(), "{}", text(&on.stderr));
    assert!(text(&on.stdout).contains("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));

    let dry = exo(d, &["accounts", "import", "--dry-run", csv.to_str().unwrap()]);
    assert!(dry.status.success());
    assert!(text(&dry.stdout).contains("2 valid (2 new"), "{}", text(&dry.stdout));
    let list = exo(d, &["accounts", "list"]);
    assert_eq!(text(&list.stdout), "", "dry run wrote nothing");

    let imported = exo(d, &["accounts", "import", csv.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let list = exo(d, &["accounts", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["status"], "not_signed_in");

    let export = exo(d, &["accounts", "export", "--encoding", "shift-jis"]);
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&export.stdout);
    assert!(!bad);
    assert!(decoded.contains("sato,佐藤 花子,hanako@contoso.example,IMAP,Exchange Online,佐藤 花子"), "{decoded}");

    let del = exo(d, &["accounts", "delete", "HANAKO@contoso.example"]);
    assert!(del.status.success(), "{}", text(&del.stderr));
    let gone = exo(d, &["accounts", "delete", "hanako@contoso.example"]);
    assert_eq!(gone.status.code(), Some(3));

    let off = exo(d, &["server", "disable"]);
    assert!(off.status.success());
    assert!(text(&exo(d, &["server", "show"]).stdout).contains("Exchange Online [OFF]"));
}

#[test]
fn csv_errors_are_listed_per_line_and_partial_import_exits_6() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(exo(
        d,
        &[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--authority",
            &emu.base_url()
        ]
    )
    .status
    .success());
    let csv = d.join("users.csv");
    std::fs::write(&csv, "login_name,mail_address\nok,ok@contoso.example\nbad,bad@\n").unwrap();
    let all = exo(d, &["accounts", "import", csv.to_str().unwrap()]);
    assert_eq!(all.status.code(), Some(3));
    assert!(text(&all.stderr).contains("line 3, column mail_address"), "{}", text(&all.stderr));
    assert!(text(&all.stderr).contains("error[csv_rejected]"));
    let some = exo(d, &["accounts", "import", "--valid-rows-only", csv.to_str().unwrap()]);
    assert_eq!(some.status.code(), Some(6));
    assert!(text(&some.stdout).contains("1 new"), "{}", text(&some.stdout));
}

#[cfg(unix)]
#[test]
fn the_data_directory_database_and_log_file_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let log = parent.path().join("exo-setup.log");
    let out = exo_env(
        &data,
        &["server", "show"],
        &[("EXO_SETUP_LOG_FILE", log.to_str().unwrap()), ("EXO_SETUP_LOG", "debug")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("exo-setup.sqlite3")), 0o600);
    assert_eq!(mode(&log), 0o600);
}

#[test]
fn unreachable_authority_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = exo(
        dir.path(),
        &[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--authority",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("host_unreachable"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(exo(dir.path(), &["server", "enable", "--tenant", "x.example"]).status.code(), Some(2));
    assert_eq!(exo(dir.path(), &["frobnicate"]).status.code(), Some(2));
}

/// True when the real Secret Service should be used; panics with instructions when it is missing.
fn secret_service_required() -> bool {
    if std::env::var("EXO_SKIP_KEYRING").as_deref() == Ok("1") {
        eprintln!("EXO_SKIP_KEYRING=1: skipping the CLI sign-in test against the real Secret Service");
        return false;
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        panic!(
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset), so there is no Secret Service to store \
             sign-ins in. Run: dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-cli --test cli \
             (or set EXO_SKIP_KEYRING=1 to skip these tests knowingly)"
        );
    }
    true
}

/// Environment of one sign-in test: the test browser, its log, a keychain service of its own.
struct SignInEnv {
    dir: tempfile::TempDir,
    browser_log: std::path::PathBuf,
    service: String,
}

impl SignInEnv {
    /// A data directory with nothing in it (a user's computer before an invitation).
    fn fresh() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        SignInEnv {
            browser_log: dir.path().join("browser.log"),
            service: format!("dev.exosetup.wizard.test.cli.{}.{nanos}", std::process::id()),
            dir,
        }
    }

    fn new(emu: &Emulator) -> Self {
        let env = Self::fresh();
        let on = env.run(&[
            "server",
            "enable",
            "--tenant",
            "contoso.example",
            "--client-id",
            DEMO_CLIENT_ID,
            "--authority",
            &emu.base_url(),
            "--redirect-mode",
            "loopback",
        ]);
        assert!(on.status.success(), "{}", text(&on.stderr));
        for (login, address) in [("yamada", "taro@contoso.example"), ("sato", "hanako@contoso.example")] {
            let add = env.run(&["accounts", "add", "--login", login, "--address", address]);
            assert!(add.status.success(), "{}", text(&add.stderr));
        }
        env
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-browser.sh");
        let log = self.browser_log.to_str().unwrap();
        let mut env: Vec<(&str, &str)> =
            vec![("BROWSER", browser), ("TEST_BROWSER_LOG", log), ("EXO_SETUP_KEYCHAIN_SERVICE", &self.service)];
        env.extend_from_slice(extra);
        exo_env(self.dir.path(), args, &env)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out.stdout)))
    }

    fn account_status(&self, address: &str) -> serde_json::Value {
        let all = self.status();
        all.as_array().unwrap().iter().find(|r| r["address"] == address).cloned().unwrap_or_else(|| panic!("{all}"))
    }

    fn browser_log(&self) -> String {
        std::fs::read_to_string(&self.browser_log).unwrap_or_default()
    }
}

/// The claims of a JWT (no signature check: the emulator's own record is checked separately).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut bytes = Vec::new();
    for c in payload.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            bytes.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn consent_login_token_status_logout_through_the_browser_and_the_keychain() {
    if !secret_service_required() {
        return;
    }
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    emu.set_auto_approve(true);
    let env = SignInEnv::new(&emu);

    // Step 3: admin consent through the loopback redirect.
    let consent = env.run(&["consent"]);
    assert!(consent.status.success(), "{}\nbrowser: {}", text(&consent.stderr), env.browser_log());
    let out = text(&consent.stdout);
    assert!(out.contains(&format!("Admin consent granted for tenant {DEMO_TENANT_ID}")), "{out}");
    assert!(out.contains("IMAP.AccessAsUser.All") && out.contains("SMTP.Send"), "{out}");
    assert!(text(&consent.stderr).contains("if nothing opens, visit:"));
    let visited = env.browser_log();
    assert!(visited.contains("/v2.0/adminconsent?"), "{visited}");
    assert!(
        visited.lines().any(|l| l.starts_with("http://localhost:") && l.contains("admin_consent=True")),
        "{visited}"
    );
    assert!(emu.admin_consents().iter().any(|g| g.client_id == DEMO_CLIENT_ID));
    let show = env.run(&["server", "show"]);
    assert!(text(&show.stdout).contains("admin consent: granted by"), "{}", text(&show.stdout));
    let show = env.run(&["server", "show", "--json"]);
    let o: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(o["consent"]["tenantId"], DEMO_TENANT_ID, "{o}");

    // The wrong person signs in: refused, nothing stored.
    let wrong = env.run_with(
        &["login", "taro@contoso.example", "--timeout", "60"],
        &[("TEST_BROWSER_LOGIN_HINT", "hanako@contoso.example")],
    );
    assert_eq!(wrong.status.code(), Some(8), "{}\nbrowser: {}", text(&wrong.stderr), env.browser_log());
    let err = text(&wrong.stderr);
    assert!(err.contains("error[wrong_account]"), "{err}");
    assert!(err.contains("hanako@contoso.example") && err.contains("who must act: user"), "{err}");
    assert_eq!(text(&wrong.stdout), "");
    let taro = env.account_status("taro@contoso.example");
    assert_eq!(taro["status"], "not_signed_in", "{taro}");
    assert_eq!(taro["hasRefreshToken"], false, "{taro}");
    let token = env.run(&["token", "taro@contoso.example"]);
    assert_eq!(token.status.code(), Some(8), "{}", text(&token.stderr));
    assert!(text(&token.stderr).contains("error[not_signed_in]"));
    assert_eq!(text(&token.stdout), "");

    // Step 4: the right person.
    let login = env.run(&["login", "taro@contoso.example"]);
    assert!(login.status.success(), "{}\nbrowser: {}", text(&login.stderr), env.browser_log());
    assert!(text(&login.stdout).contains("Signed in as taro@contoso.example"), "{}", text(&login.stdout));
    let taro = env.account_status("taro@contoso.example");
    assert_eq!(taro["status"], "signed_in", "{taro}");
    assert_eq!(taro["hasRefreshToken"], true, "{taro}");
    assert!(taro["accessTokenExpiresAt"].is_string(), "{taro}");
    assert_eq!(env.account_status("hanako@contoso.example")["status"], "not_signed_in");
    let plain = env.run(&["status"]);
    assert!(
        text(&plain.stdout).contains("taro@contoso.example\tsigned_in\trefresh token: yes"),
        "{}",
        text(&plain.stdout)
    );

    // `token`: only the token on stdout, one the emulator issued to taro for Exchange.
    let first = env.run(&["token", "taro@contoso.example"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{out:?}");
    let tok = out.trim_end().to_owned();
    let claims = jwt_claims(&tok);
    assert_eq!(claims["aud"], "https://outlook.office.com", "{claims}");
    assert_eq!(claims["upn"], "taro@contoso.example", "{claims}");
    let issued = emu.snapshot().access_tokens;
    assert!(
        issued.iter().any(|t| t.access_token == tok && t.upn == "taro@contoso.example"),
        "the token is not one the emulator issued"
    );

    // The second call is served from the keychain: with every endpoint failing it still works.
    for endpoint in [Endpoint::Discovery, Endpoint::Jwks, Endpoint::Token, Endpoint::Authorize] {
        emu.inject_fault(Fault::new(endpoint, FaultKind::Http { status: 503 }));
    }
    let second = env.run(&["token", "taro@contoso.example"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout).trim_end(), tok);
    assert_eq!(emu.snapshot().access_tokens.len(), issued.len(), "no token was issued for the second call");
    emu.clear_faults();

    // Sign out: the keychain is emptied; `token` then asks to sign in.
    let out = env.run(&["logout", "taro@contoso.example"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let taro = env.account_status("taro@contoso.example");
    assert_eq!(taro["status"], "not_signed_in", "{taro}");
    assert_eq!(taro["hasRefreshToken"], false, "{taro}");
    let token = env.run(&["token", "taro@contoso.example"]);
    assert_eq!(token.status.code(), Some(8));
    assert!(text(&token.stderr).contains("not_signed_in"));
}

#[test]
fn sign_in_commands_refuse_without_the_keychain_being_needed() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let env = SignInEnv::new(&emu);

    // No browser, nobody comes back: the flow times out (the user must act).
    let out = env.run(&["login", "taro@contoso.example", "--no-browser", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("Open this address in a browser on this computer"), "{err}");
    assert!(err.contains("/oauth2/v2.0/authorize?") && err.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"), "{err}");
    assert!(err.contains("error[flow_timed_out]"), "{err}");
    assert_eq!(env.browser_log(), "", "--no-browser opened a browser");

    // Unknown mailbox: the administrator must register it first.
    let out = env.run(&["login", "nobody@contoso.example", "--no-browser", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[account_not_registered]"));
    let out = env.run(&["token", "nobody@contoso.example"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");

    // Help lists the exit codes.
    let help = env.run(&["--help"]);
    assert!(text(&help.stdout).contains("8  the user must act"), "{}", text(&help.stdout));
}

/// `login` checks the keychain before the browser round trip: with no Secret Service on the bus
/// (the address points nowhere) it stops with exit 7 and the browser is never started — no
/// refresh token is issued only to be thrown away.
#[test]
fn login_reports_a_missing_keychain_before_opening_the_browser() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let env = SignInEnv::new(&emu);
    let nowhere = format!("unix:path={}", env.dir.path().join("no-bus").display());
    let out =
        env.run_with(&["login", "taro@contoso.example", "--timeout", "5"], &[("DBUS_SESSION_BUS_ADDRESS", &nowhere)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("error[keychain_"), "{err}");
    assert!(!err.contains("Opening your browser"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.browser_log(), "", "the browser was started although the keychain was unavailable");
    let issued = emu.snapshot();
    assert!(issued.codes.is_empty() && issued.refresh_tokens.is_empty(), "a code or refresh token was issued");
}

/// The authority's discovery document now names another tenant than step 1 verified: exit 9
/// (refused for security), not 4 ("retry later"); no browser.
#[test]
fn an_issuer_naming_another_tenant_exits_9() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let env = SignInEnv::new(&emu);
    let db = rusqlite::Connection::open(env.dir.path().join("exo-setup.sqlite3")).unwrap();
    db.execute("UPDATE org_settings SET tenant_id = 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff'", []).unwrap();
    drop(db);
    let out = env.run(&["login", "taro@contoso.example", "--timeout", "5"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(err.contains("error[issuer_mismatch]") && err.to_lowercase().contains("refused for security"), "{err}");
    assert_eq!(env.browser_log(), "");
    let help = env.run(&["--help"]);
    assert!(text(&help.stdout).contains("9  refused for security"), "{}", text(&help.stdout));
}

// ------------------------------------------------------------------------------------------ invitations

const TARO: &str = "taro@contoso.example";
const HANAKO: &str = "hanako@contoso.example";

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json_of(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = exo(dir, args);
    let s = stdout_of(&out);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{args:?}: {e}: {s}"))
}

/// What a data directory holds, as the CLI shows it (settings, servers, accounts).
fn store_view(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let mut show = json_of(dir, &["server", "show", "--json"]);
    // Derived on every call; not part of what is stored.
    show.as_object_mut().unwrap().remove("steps");
    (show, json_of(dir, &["accounts", "list", "--json"]))
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("exo-setup.sqlite3")).unwrap()
}

/// An admin's data directory: step 1 against the emulator (`tenant`, `client_id`, `name`) and accounts.
fn admin_store(
    emu: &Emulator,
    tenant: &str,
    client_id: &str,
    name: &str,
    accounts: &[(&str, &str, &str)],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout_of(&exo(
        d,
        &[
            "server",
            "enable",
            "--tenant",
            tenant,
            "--client-id",
            client_id,
            "--authority",
            &emu.base_url(),
            "--organization-name",
            name,
        ],
    ));
    for (login, address, display) in accounts {
        stdout_of(&exo(d, &["accounts", "add", "--login", login, "--address", address, "--name", display]));
    }
    dir
}

fn contoso(emu: &Emulator) -> tempfile::TempDir {
    admin_store(
        emu,
        "contoso.example",
        DEMO_CLIENT_ID,
        "Contoso 株式会社",
        &[("yamada", TARO, "山田 太郎"), ("sato", HANAKO, "佐藤 花子")],
    )
}

/// `link` with its content changed (another application ID) but the original checksum.
fn tampered(link: &str) -> String {
    let mut inv = exo_setup_core::invite::parse(link).unwrap();
    inv.client_id = "99999999-2222-3333-4444-555555555555".into();
    let forged = exo_setup_core::invite::link(&inv);
    let original_checksum = &link[link.rfind("&c=").unwrap()..];
    format!("{}{original_checksum}", &forged[..forged.rfind("&c=").unwrap()])
}

#[test]
fn invite_then_open_into_a_fresh_store_and_every_refusal_changes_nothing() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let admin = contoso(&emu);
    let a = admin.path();
    // The mailboxes' servers differ from Exchange Online's (a gateway): the invitation carries them.
    stdout_of(&exo(
        a,
        &[
            "server",
            "endpoints",
            "--imap",
            "127.0.0.1:10143:plain",
            "--pop3",
            "127.0.0.1:10110:plain",
            "--smtp",
            "127.0.0.1:10587:plain",
        ],
    ));

    // The admin's side: a link on one line; unknown mailboxes explained.
    let unknown = exo(a, &["invite", "nobody@contoso.example"]);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown.stderr));
    assert!(text(&unknown.stderr).contains("error[account_not_found]"), "{}", text(&unknown.stderr));
    assert_eq!(exo(a, &["invite"]).status.code(), Some(2), "an address or --all is required");
    let out = stdout_of(&exo(a, &["invite", TARO]));
    assert_eq!(out.lines().count(), 1, "{out}");
    let link = out.trim_end().to_owned();
    assert!(link.starts_with("dev.exosetup.wizard://invite?v=1&p="), "{link}");
    let inv = exo_setup_core::invite::parse(&link).unwrap();
    assert_eq!((inv.address.as_str(), inv.tenant_id.as_str()), (TARO, DEMO_TENANT_ID));
    assert!(inv.endpoints.is_some(), "the gateway's endpoints travel with the invitation");

    // A user's computer: nothing configured yet.
    let user = tempfile::tempdir().unwrap();
    let u = user.path();
    let empty = store_view(u);
    assert!(empty.0["org"].is_null());
    let bytes = db_bytes(u);

    // The gateway on 127.0.0.1 is no Microsoft cloud's: without IT allowing it, the invitation is
    // refused before anything is shown or stored; the user's IT lists it in the managed policy.
    let refused = exo(u, &["open", &link, "--yes"]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("error[invite_mail_host_not_allowed]"), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("127.0.0.1"), "{}", text(&refused.stderr));
    assert_eq!(db_bytes(u), bytes, "the SQLite file changed");
    let it_dir = tempfile::tempdir().unwrap();
    let policy = it_dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"version": 1, "allowedMailHosts": ["127.0.0.1"]}"#).unwrap();
    let it = [("EXO_SETUP_POLICY_FILE", policy.to_str().unwrap())];

    // No terminal and no --yes: the confirmation is shown, nothing is stored, exit 8.
    let asked = exo_env(u, &["open", &link], &it);
    assert_eq!(asked.status.code(), Some(8), "{}", text(&asked.stderr));
    assert!(text(&asked.stderr).contains("error[confirmation_required]"), "{}", text(&asked.stderr));
    let shown = text(&asked.stdout);
    for expected in [
        "Contoso 株式会社",
        "contoso.example (tenant ID aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)",
        DEMO_CLIENT_ID,
        &emu.base_url(),
        TARO,
        "山田 太郎",
        "IMAP",
        "127.0.0.1:10143 (plain)",
        "your sign-in is used only with: 127.0.0.1",
        "WARNING:",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing from the confirmation:\n{shown}");
    }
    assert!(shown.contains(&format!("WARNING: {} is not a known Microsoft cloud", emu.base_url())), "{shown}");
    assert!(!shown.contains("REPLACES"), "{shown}");
    assert_eq!(store_view(u), empty);
    assert_eq!(db_bytes(u), bytes, "the SQLite file changed");

    // Tampered, cut off, oversized, not an invitation: refused with an explanation, nothing written.
    let cut = &link[..link.len() - 20];
    let huge = format!("{link}{}", "A".repeat(5000));
    let refusals: [(&str, &str); 5] = [
        (&tampered(&link), "invite_tampered"),
        (cut, "invite_malformed"),
        (&huge, "invite_too_large"),
        ("https://example.com/invite", "invite_malformed"),
        (&link.replace("v=1", "v=9"), "invite_version_unsupported"),
    ];
    for (bad, kind) in refusals {
        let out = exo_env(u, &["open", bad, "--yes"], &it);
        assert_eq!(out.status.code(), Some(3), "{kind}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(&format!("error[{kind}]")), "{kind}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("Nothing was changed"), "{}", text(&out.stderr));
        assert_eq!(db_bytes(u), bytes, "{kind}: the SQLite file changed");
    }
    let missing = exo_env(u, &["open", "/nonexistent/taro.exoinvite", "--yes"], &it);
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing.stderr).contains("error[invite_file_unreadable]"), "{}", text(&missing.stderr));
    assert_eq!(store_view(u), empty);
    assert_eq!(db_bytes(u), bytes);

    // Accepted: the organization, the servers and the mailbox; then the next step.
    let opened = exo_env(u, &["open", &link, "--yes"], &it);
    let out = stdout_of(&opened);
    assert!(out.contains("Next: sign in with `exo-setup login taro@contoso.example`"), "{out}");
    let (show, accounts) = store_view(u);
    assert_eq!(show["org"]["organizationName"], "Contoso 株式会社", "{show}");
    assert_eq!(show["org"]["tenantId"], DEMO_TENANT_ID, "{show}");
    assert_eq!(show["org"]["clientId"], DEMO_CLIENT_ID, "{show}");
    assert_eq!(show["org"]["authority"], emu.base_url(), "{show}");
    assert_eq!(show["exchange"]["enabled"], true, "{show}");
    assert_eq!(show["exchange"]["imap"]["port"], 10143, "{show}");
    let rows = accounts.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{accounts}");
    assert_eq!(rows[0]["address"], TARO);
    assert_eq!(rows[0]["status"], "not_signed_in");

    // Opening it again (twice clicked) keeps what is there; --json prints what was stored.
    let again = exo_env(u, &["open", &link, "--yes", "--json"], &it);
    let stored: serde_json::Value = serde_json::from_str(&stdout_of(&again)).unwrap();
    assert_eq!(stored["account"]["address"], TARO, "{stored}");
    assert!(text(&again.stderr).contains("already registered here"), "{}", text(&again.stderr));
    assert_eq!(json_of(u, &["accounts", "list", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn invite_all_as_lines_csv_and_files_that_open() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let admin = contoso(&emu);
    let a = admin.path();

    let lines = stdout_of(&exo(a, &["invite", "--all"]));
    let pairs: Vec<(&str, &str)> = lines.lines().map(|l| l.split_once('\t').expect("ADDRESS<TAB>LINK")).collect();
    assert_eq!(pairs.iter().map(|p| p.0).collect::<Vec<_>>(), [HANAKO, TARO], "{lines}");
    for (address, link) in &pairs {
        assert_eq!(exo_setup_core::invite::parse(link).unwrap().address, *address);
    }

    // The mail-merge CSV: BOM, header, one row per account whose link reads back.
    let csv = a.join("invitations.csv");
    let out = stdout_of(&exo(a, &["invite", "--all", "--csv", csv.to_str().unwrap()]));
    assert_eq!(out.trim_end(), csv.to_str().unwrap());
    let content = std::fs::read_to_string(&csv).unwrap();
    let content = content.strip_prefix('\u{feff}').expect("UTF-8 with BOM");
    let mut rows = content.lines();
    assert_eq!(rows.next(), Some("address,display_name,file_name,link"));
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{content}");
    for r in &rows {
        let inv = exo_setup_core::invite::parse(r[3]).unwrap_or_else(|e| panic!("{e:?}: {r:?}"));
        assert_eq!(inv.address, r[0]);
        assert_eq!(r[2], format!("{}.exoinvite", r[0]));
    }
    let stdout_csv = stdout_of(&exo(a, &["invite", TARO, "--csv", "-"]));
    assert_eq!(stdout_csv.lines().count(), 2, "{stdout_csv}");

    // Files: one per account, paths printed; each opens on a fresh computer.
    let dir = a.join("out");
    let out = stdout_of(&exo(a, &["invite", "--all", "--out", dir.to_str().unwrap()]));
    let files: Vec<&str> = out.lines().collect();
    assert_eq!(files.len(), 2, "{out}");
    for file in files {
        assert!(file.ends_with(".exoinvite") && Path::new(file).is_file(), "{file}");
        let user = tempfile::tempdir().unwrap();
        let opened = stdout_of(&exo(user.path(), &["open", file, "--yes"]));
        assert!(opened.contains("Next: sign in with `exo-setup login "), "{opened}");
        let accounts = json_of(user.path(), &["accounts", "list", "--json"]);
        assert!(file.ends_with(&format!("{}.exoinvite", accounts[0]["address"].as_str().unwrap())), "{accounts}");
    }
    // A file URL, as a file manager hands it over, opens too.
    let user = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.join(format!("{TARO}.exoinvite")).display()).replace('@', "%40");
    stdout_of(&exo(user.path(), &["open", &url, "--yes"]));

    assert_eq!(exo(a, &["invite", "--all", "--out", "x", "--csv", "y"]).status.code(), Some(2));
    // Without step 1 there is nothing to invite to.
    let empty = tempfile::tempdir().unwrap();
    let none = exo(empty.path(), &["invite", "--all"]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none.stderr));
    assert!(text(&none.stderr).contains("who must act: administrator"), "{}", text(&none.stderr));
}

#[cfg(unix)]
#[test]
fn invite_out_never_follows_a_planted_link_nor_overwrites() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let admin = contoso(&emu);
    let a = admin.path();
    let target = a.join("precious.txt");
    std::fs::write(&target, "keep me").unwrap();
    let out_dir = a.join("shared");
    std::fs::create_dir(&out_dir).unwrap();
    let planted = out_dir.join(format!("{TARO}.exoinvite"));
    std::os::unix::fs::symlink(&target, &planted).unwrap();

    let refused = exo(a, &["invite", "--all", "--out", out_dir.to_str().unwrap()]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error[export_exists]") && stderr.contains(planted.to_str().unwrap()), "{stderr}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(!out_dir.join(format!("{HANAKO}.exoinvite")).exists(), "nothing is written");

    // An ordinary file of the same name is not overwritten either.
    std::fs::remove_file(&planted).unwrap();
    std::fs::write(&planted, "mine").unwrap();
    assert_eq!(exo(a, &["invite", "--all", "--out", out_dir.to_str().unwrap()]).status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "mine");
}

#[test]
fn another_organization_is_replaced_only_with_replace() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let contoso = contoso(&emu);
    let fabrikam = admin_store(
        &emu,
        "fabrikam.example",
        DEMO_MULTI_CLIENT_ID,
        "Fabrikam",
        &[("yuki", "yuki@fabrikam.example", "田中 由紀")],
    );
    let taro = stdout_of(&exo(contoso.path(), &["invite", TARO])).trim_end().to_owned();
    let yuki = stdout_of(&exo(fabrikam.path(), &["invite", "yuki@fabrikam.example"])).trim_end().to_owned();

    let user = tempfile::tempdir().unwrap();
    let u = user.path();
    stdout_of(&exo(u, &["open", &taro, "--yes"]));
    let before = store_view(u);
    let bytes = db_bytes(u);

    let refused = exo(u, &["open", &yuki, "--yes"]);
    assert_eq!(refused.status.code(), Some(8), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("error[invite_replaces_org]"), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--replace"), "{}", text(&refused.stderr));
    let shown = text(&refused.stdout);
    assert!(shown.contains("REPLACES the organization set up on this computer: Contoso 株式会社"), "{shown}");
    assert!(shown.contains("Fabrikam") && shown.contains(DEMO_OPEN_TENANT_ID), "{shown}");
    assert_eq!(store_view(u), before);
    assert_eq!(db_bytes(u), bytes);

    let replaced = stdout_of(&exo(u, &["open", &yuki, "--yes", "--replace"]));
    assert!(replaced.contains("Set up yuki@fabrikam.example for Fabrikam"), "{replaced}");
    let (show, _) = store_view(u);
    assert_eq!(show["org"]["tenantId"], DEMO_OPEN_TENANT_ID, "{show}");
    assert_eq!(show["org"]["clientId"], DEMO_MULTI_CLIENT_ID, "{show}");
}

/// Runs the CLI; a run still going after 10 s is killed and fails the test (it hung).
fn exo_within_10s(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exo-setup"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("EXO_SETUP_DATA_DIR")
        .env_remove("EXO_SETUP_POLICY_FILE")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exo-setup {args:?} hung for 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_given_as_a_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("taro.exoinvite");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = d.join("zero.exoinvite");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let empty = store_view(d);
    for args in [
        vec!["open", fifo.to_str().unwrap()],
        vec!["open", zero.to_str().unwrap()],
        vec!["check", TARO, "--ca-file", fifo.to_str().unwrap()],
        vec!["check", TARO, "--ca-file", "/dev/zero"],
    ] {
        let out = exo_within_10s(d, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("error[file_not_regular]"), "{args:?}: {err}");
    }
    assert_eq!(store_view(d), empty);
}

#[test]
fn a_managed_policy_refuses_invitations() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let admin = contoso(&emu);
    let link = stdout_of(&exo(admin.path(), &["invite", TARO])).trim_end().to_owned();
    let user = tempfile::tempdir().unwrap();
    let u = user.path();
    let empty = store_view(u);
    let bytes = db_bytes(u);
    let policy = u.join("policy.json");

    std::fs::write(&policy, r#"{"version": 1, "invitations": "none"}"#).unwrap();
    let env = [("EXO_SETUP_POLICY_FILE", policy.to_str().unwrap())];
    let refused = exo_env(u, &["open", &link, "--yes"], &env);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("error[invite_refused_by_policy]"), "{}", text(&refused.stderr));

    // Another tenant pinned: refused as well.
    std::fs::write(&policy, r#"{"version": 1, "tenant": "fabrikam.example", "invitations": "same_tenant"}"#).unwrap();
    let other = exo_env(u, &["open", &link, "--yes"], &env);
    assert_eq!(other.status.code(), Some(3), "{}", text(&other.stderr));
    assert!(text(&other.stderr).contains("error[invite_other_tenant]"), "{}", text(&other.stderr));

    // A broken policy file is never "no policy".
    std::fs::write(&policy, r#"{"version": 1, "invitations": "sometimes"}"#).unwrap();
    let broken = exo_env(u, &["open", &link, "--yes"], &env);
    assert_eq!(broken.status.code(), Some(3), "{}", text(&broken.stderr));
    assert!(text(&broken.stderr).contains("error[policy_invalid]"), "{}", text(&broken.stderr));

    // Nor is a policy someone else could have written, or a dangling link where the policy should be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&policy, r#"{"version": 1}"#).unwrap();
        std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o666)).unwrap();
        let writable = exo_env(u, &["open", &link, "--yes"], &env);
        assert!(text(&writable.stderr).contains("error[policy_invalid]"), "{}", text(&writable.stderr));
        std::fs::remove_file(&policy).unwrap();
        std::os::unix::fs::symlink(u.join("gone.json"), &policy).unwrap();
        let dangling = exo_env(u, &["open", &link, "--yes"], &env);
        assert_eq!(dangling.status.code(), Some(3), "{}", text(&dangling.stderr));
        assert!(text(&dangling.stderr).contains("error[policy_invalid]"), "{}", text(&dangling.stderr));
        assert!(text(&dangling.stderr).contains("which does not exist"), "{}", text(&dangling.stderr));
        std::fs::remove_file(&policy).unwrap();
    }

    assert_eq!(store_view(u), empty);
    assert_eq!(db_bytes(u), bytes);

    // The policy's own tenant opens, with the policy's client ID in place of the invitation's.
    std::fs::write(
        &policy,
        format!(r#"{{"version": 1, "tenant": "contoso.example", "clientId": "{DEMO_MULTI_CLIENT_ID}"}}"#),
    )
    .unwrap();
    let managed = exo_env(u, &["open", &link, "--yes"], &env);
    let out = stdout_of(&managed);
    let managed_line = format!("clientId = {DEMO_MULTI_CLIENT_ID}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("managed by policy:") && l.contains(&managed_line)),
        "{out}"
    );
    let (show, _) = store_view(u);
    assert_eq!(show["org"]["clientId"], DEMO_MULTI_CLIENT_ID, "{show}");
}

#[test]
fn invitation_to_sign_in_on_a_fresh_computer() {
    if !secret_service_required() {
        return;
    }
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    emu.set_auto_approve(true);
    // The admin: step 1, accounts, admin consent; then taro's invitation.
    let admin = SignInEnv::new(&emu);
    let consent = admin.run(&["consent"]);
    assert!(consent.status.success(), "{}\nbrowser: {}", text(&consent.stderr), admin.browser_log());
    let link = stdout_of(&admin.run(&["invite", TARO])).trim_end().to_owned();

    // Taro's computer: another data directory and keychain service.
    let user = SignInEnv::fresh();
    stdout_of(&user.run(&["open", &link, "--yes"]));
    let before = user.status();
    assert_eq!(before.as_array().unwrap().len(), 1, "{before}");
    assert_eq!(user.account_status(TARO)["status"], "not_signed_in");
    let login = user.run(&["login", TARO]);
    assert!(login.status.success(), "{}\nbrowser: {}", text(&login.stderr), user.browser_log());
    let taro = user.account_status(TARO);
    assert_eq!(taro["status"], "signed_in", "{taro}");
    assert_eq!(taro["hasRefreshToken"], true, "{taro}");
    let show = json_of(user.dir.path(), &["server", "show", "--json"]);
    assert_eq!(show["org"]["tenantId"], DEMO_TENANT_ID, "{show}");
    // The admin's computer did not sign taro in.
    assert_eq!(admin.account_status(TARO)["status"], "not_signed_in");
    let token = user.run(&["token", TARO]);
    assert!(token.status.success(), "{}", text(&token.stderr));
}

#[test]
fn the_organization_invitation_sets_up_the_address_the_user_types() {
    if !secret_service_required() {
        return;
    }
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    emu.set_auto_approve(true);
    let admin = SignInEnv::new(&emu);
    // Off by default: no organization invitation.
    let off = admin.run(&["invite", "--organization"]);
    assert_eq!(off.status.code(), Some(3), "{}", text(&off.stderr));
    assert!(text(&off.stderr).contains("error[self_service_not_allowed]"), "{}", text(&off.stderr));
    assert!(stdout_of(&admin.run(&["server", "self-service", "on"])).contains("Self-service is ON"));
    // The consent now covers IMAP and POP3: self-service users choose.
    let consent = admin.run(&["consent"]);
    assert!(consent.status.success(), "{}\nbrowser: {}", text(&consent.stderr), admin.browser_log());
    let link = stdout_of(&admin.run(&["invite", "--organization"])).trim_end().to_owned();
    assert!(exo_setup_core::invite::parse(&link).unwrap().is_organization(), "{link}");

    // A user's computer: accepting stores the organization only.
    let user = SignInEnv::fresh();
    let opened = user.run(&["open", &link, "--yes"]);
    let out = stdout_of(&opened);
    assert!(out.contains("(yours: you type it after accepting)"), "{out}");
    assert!(out.contains("exo-setup login YOUR-ADDRESS"), "{out}");
    assert_eq!(user.status().as_array().unwrap().len(), 0, "no mailbox before the sign-in");
    // The user types their own address; Microsoft confirms it; then it is registered.
    let login = user.run(&["login", HANAKO, "--protocol", "pop3"]);
    assert!(login.status.success(), "{}\nbrowser: {}", text(&login.stderr), user.browser_log());
    let hanako = user.account_status(HANAKO);
    assert_eq!(
        (&hanako["status"], &hanako["hasRefreshToken"]),
        (&serde_json::json!("signed_in"), &serde_json::json!(true)),
        "{hanako}"
    );
    let accounts = json_of(user.dir.path(), &["accounts", "list", "--json"]);
    assert!(accounts.to_string().contains("\"receiveProtocol\":\"pop3\""), "{accounts}");
}

/// No raw ESC, BEL, C1 or bidirectional control byte in what the CLI printed.
fn assert_no_raw_controls(out: &str) {
    let bad: Vec<char> = out
        .chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || ('\u{202a}'..='\u{202e}').contains(c)
                || ('\u{2066}'..='\u{2069}').contains(c)
        })
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{out:?}");
}

#[test]
fn csv_text_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("hostile.csv");
    std::fs::write(&csv, "login_name,mail_address,\x1b]0;pwned\x07\u{202e}evil\nx,x@contoso.example,1\n").unwrap();
    let out = exo(d, &["accounts", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[csv_unknown_column]"), "{stderr}");
    assert!(stderr.contains(r"\u{1b}]0;pwned\u{7}\u{202e}evil"), "{stderr}");
    assert_no_raw_controls(&stderr);
    // Cells echoed in row errors, and names refused with the character and its position.
    std::fs::write(
        &csv,
        "login_name,display_name,mail_address,server\n\
         a,A,a@contoso.example,\x1b[2J\x1b]0;pwned\x07\n\
         b,B\u{202e}gpj.exe,b@contoso.example,\n\
         c\u{200b},C,c@contoso.example,\n",
    )
    .unwrap();
    for args in [&["accounts", "import", "--dry-run"][..], &["accounts", "import"][..]] {
        let out = exo(d, &[args, &[csv.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(stderr.contains(r"line 2, column server, value '\u{1b}[2J\u{1b}]0;pwned\u{7}'"), "{stderr}");
        assert!(
            stderr.contains("line 3, column display_name") && stderr.contains("(U+202E) at character 2"),
            "{stderr}"
        );
        assert!(stderr.contains("line 4, column login_name") && stderr.contains("(U+200B) at character 2"), "{stderr}");
        assert!(stderr.contains("(unsafe_character)"), "{stderr}");
        assert_no_raw_controls(&stdout);
        assert_no_raw_controls(&stderr);
    }
}

#[test]
fn names_with_invisible_characters_are_refused_by_accounts_add() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (login, name, character) in [
        ("taro", "山田\u{202e}太郎", "U+202E"),
        ("ta\u{200b}ro", "山田", "U+200B"),
        ("taro", "\x1b]0;pwned\x07", "U+001B"),
    ] {
        let out = exo(d, &["accounts", "add", "--login", login, "--name", name, "--address", "taro@contoso.example"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("error[text_unsafe_character]") && stderr.contains(character), "{stderr}");
        assert_no_raw_controls(&stderr);
    }
    // Step 1's organization name, refused before any network call (the authority is a closed port).
    let out = exo(
        d,
        &[
            "server",
            "enable",
            "--organization-name",
            "Contoso\u{202e}gpj.exe",
            "--tenant",
            "contoso.example",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--authority",
            "http://127.0.0.1:9",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error[text_unsafe_character]") && stderr.contains("U+202E"), "{stderr}");
}

#[test]
fn csv_import_refuses_fifos_and_devices_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("users.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_exo-setup"))
            .arg("--data-dir")
            .arg(d)
            .args(["accounts", "import"])
            .arg(path)
            .env("LC_ALL", "C")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("`accounts import {}` still running after 20 s", path.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}: {}", path.display(), text(&out.stderr));
        assert!(text(&out.stderr).contains("error[file_not_regular]"), "{}", text(&out.stderr));
    }
}

#[test]
fn json_output_spells_out_bidirectional_characters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Stored before names were checked (an older version, or a hand-edited database).
    assert_eq!(exo(d, &["server", "show"]).status.code(), Some(0));
    let db = rusqlite::Connection::open(d.join("exo-setup.sqlite3")).unwrap();
    db.execute(
        "INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES ('taro', 'a\u{202e}b\x1b', 'x', 'x')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO mail_accounts (user_id, address, display_name, receive_protocol, server_id, created_at, updated_at)
         VALUES (1, 'taro@contoso.example', 'T\u{200b}', 'imap', 1, 'x', 'x')",
        [],
    )
    .unwrap();
    drop(db);
    let json = exo(d, &["accounts", "list", "--json"]);
    let out = text(&json.stdout);
    assert_no_raw_controls(&out.replace('\n', ""));
    assert!(!out.contains('\u{200b}'), "{out}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["userDisplayName"], "a\u{202e}b\x1b", "the JSON still means the same text");
    let list = text(&exo(d, &["accounts", "list"]).stdout);
    assert!(list.contains(r"a\u{202e}b\u{1b}"), "{list}");
    assert_no_raw_controls(&list.replace(['\n', '\t'], ""));
}

/// `accounts list --search` with more matches than one page returns every match and nothing else: the following
/// pages are asked with the same search as the first.
#[test]
fn accounts_list_search_beyond_one_page_returns_only_matches() {
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let dir = admin_store(&emu, "contoso.example", DEMO_CLIENT_ID, "Contoso", &[]);
    let d = dir.path();
    let matches = 1_100;
    let mut csv = String::from("login_name,display_name,mail_address\n");
    for i in 0..matches {
        csv.push_str(&format!("match{i:04},Match {i},match{i:04}@contoso.example\n"));
    }
    for i in 0..50 {
        csv.push_str(&format!("other{i:02},Other {i},other{i:02}@contoso.example\n"));
    }
    let file = d.join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let imported = exo(d, &["accounts", "import", file.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));

    let listed = exo(d, &["accounts", "list", "--search", "match"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let out = text(&listed.stdout);
    let lines: Vec<&str> = out.lines().collect();
    let strays: Vec<&&str> = lines.iter().filter(|l| !l.starts_with("match")).collect();
    assert!(strays.is_empty(), "accounts that do not match the search: {:?}", &strays[..strays.len().min(5)]);
    assert_eq!(lines.len(), matches, "every match once");

    let json = json_of(d, &["accounts", "list", "--search", "other", "--json"]);
    assert_eq!(json.as_array().map(Vec::len), Some(50));
}

/// `server registration-script` prints the Cloud Shell script and `--manifest` the same registration as JSON,
/// both with the app's own redirect URIs, and touch nothing on disk.
#[test]
fn registration_script_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("never-created");
    let script = exo(&d, &["server", "registration-script"]);
    assert!(script.status.success(), "{}", text(&script.stderr));
    let out = text(&script.stdout);
    assert_eq!(out, exo_setup_core::registration::cloud_shell_script());
    assert!(out.contains("New-MgApplication") && out.contains("'dev.exosetup.wizard://oauth2/callback'"), "{out}");
    let manifest = exo(&d, &["server", "registration-script", "--manifest"]);
    assert!(manifest.status.success(), "{}", text(&manifest.stderr));
    let m: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    assert_eq!(
        m["publicClient"]["redirectUris"],
        serde_json::json!(["dev.exosetup.wizard://oauth2/callback", "http://localhost"])
    );
    assert_eq!(m["isFallbackPublicClient"], true);
    assert!(!d.exists(), "printing the registration must not create the data directory");
}
