//! `exo-setup directory consent|login|import|logout` end to end: the CLI binary against the
//! emulator's identity platform and Microsoft Graph, `BROWSER=scripts/test-browser.sh` for the
//! browser round trips and the REAL Secret Service for the Graph sign-in. Run as the test command
//! does: `dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-cli --test directory`
//! (without a session bus it fails saying so, unless `EXO_SKIP_KEYRING=1`).
//!
//! Checked: reading before signing in is explained (exit 3); one consent lists the mail and Graph
//! scopes; a dry run prints the diff (JSON) and leaves the SQLite file byte for byte as it was;
//! without a terminal and without --yes nothing is applied (exit 8); --yes adds the accounts and
//! adopts a hand-made one; a second run is a no-op sync that writes nothing; someone leaving is
//! flagged, never deleted; a group's members (nested groups included) are imported; logout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// True when the real Secret Service should be used; panics with instructions when it is missing.
fn secret_service_required() -> bool {
    if std::env::var("EXO_SKIP_KEYRING").as_deref() == Ok("1") {
        eprintln!("EXO_SKIP_KEYRING=1: skipping the directory CLI test against the real Secret Service");
        return false;
    }
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session bus: run dbus-run-session -- scripts/with-keyring.sh cargo test -p exo-setup-cli \
         --test directory (or set EXO_SKIP_KEYRING=1 to skip knowingly)"
    );
    true
}

/// A data directory of its own, the test browser and a keychain service of its own.
struct Env {
    dir: tempfile::TempDir,
    service: String,
}

impl Env {
    /// Step 1 against the emulator (loopback redirect, the built-in server on).
    fn new(emu: &Emulator) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
            service: format!("dev.exosetup.wizard.test.cli-directory.{}.{nanos}", std::process::id()),
        };
        e.ok(&[
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
        e
    }

    /// Runs the CLI with standard input from /dev/null (no terminal).
    fn run(&self, args: &[&str]) -> Output {
        let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-browser.sh");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_exo-setup"));
        cmd.arg("--data-dir").arg(self.dir.path()).args(args).env_remove("EXO_SETUP_DATA_DIR");
        for var in ["TEST_BROWSER_LOGIN_HINT", "TEST_BROWSER_DELAY", "EXO_SETUP_POLICY_FILE"] {
            cmd.env_remove(var);
        }
        cmd.env("BROWSER", browser)
            .env("TEST_BROWSER_LOG", self.dir.path().join("browser.log"))
            .env("EXO_SETUP_KEYCHAIN_SERVICE", &self.service)
            .stdin(Stdio::null());
        cmd.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: exit {:?}\n{}\n{}\nbrowser: {}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("browser.log")).unwrap_or_default()
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{}\n{}", text(&out.stdout), text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
    }

    fn accounts(&self) -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&self.ok(&["accounts", "list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("exo-setup.sqlite3")
    }

    fn login(&self) {
        let login = self.ok(&["directory", "login", "--login-hint", "admin@contoso.example", "--timeout", "60"]);
        assert!(login.contains("Signed in to the directory as admin@contoso.example"), "{login}");
        assert!(login.contains("User.Read.All") && login.contains("GroupMember.Read.All"), "{login}");
    }
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn count(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn consent_login_dry_run_import_sync_and_logout() {
    if !secret_service_required() {
        return;
    }
    let emu = Emulator::start_blocking(Config::default_demo().with_generated_users(30, 5)).unwrap();
    emu.set_auto_approve(true);
    let e = Env::new(&emu);
    // A mailbox registered by hand before the directory import, under another login name.
    e.ok(&["accounts", "add", "--login", "yamada", "--address", "taro@contoso.example"]);

    // Not signed in to the directory: explained, the administrator acts (exit 3).
    let out = e.run(&["directory", "import", "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[directory_not_signed_in]"), "{}", text(&out.stderr));

    // One consent lists the mail scopes and Graph's.
    let consent = e.ok(&["directory", "consent", "--timeout", "60"]);
    assert!(consent.contains(&format!("Admin consent granted for tenant {DEMO_TENANT_ID}")), "{consent}");
    assert!(consent.contains("User.Read.All") && consent.contains("GroupMember.Read.All"), "{consent}");
    assert!(consent.contains("IMAP.AccessAsUser.All"), "{consent}");
    e.login();

    // Dry run, JSON: the diff, and the database file byte for byte as it was.
    let before = bytes(&e.db());
    let dry = e.json(&["directory", "import", "--dry-run", "--json"], 0);
    assert_eq!(bytes(&e.db()), before, "a dry run wrote to the SQLite file");
    let p = &dry["preview"];
    assert_eq!(p["scope"], "all", "{p}");
    assert!(count(p, "creates") > 20, "{p}");
    assert_eq!((count(p, "updates"), count(p, "gone"), count(p, "rejected")), (1, 0, 0), "{p}");
    assert!(dry["outcome"].is_null(), "{dry}");
    let changes = dry["changes"].as_array().unwrap();
    assert_eq!(changes.len() as u64, count(p, "creates") + count(p, "updates"), "{dry}");
    let adopted = changes.iter().find(|c| c["action"] == "update").unwrap();
    assert_eq!(
        (adopted["address"].as_str(), adopted["loginName"].as_str(), adopted["oldLoginName"].as_str()),
        (Some("taro@contoso.example"), Some("taro"), Some("yamada")),
        "the hand-made account is adopted with the rule's login name: {adopted}"
    );
    assert!(changes.iter().any(|c| c["action"] == "create" && c["address"] == "hanako@contoso.example"), "{dry}");
    assert_eq!(e.accounts().len(), 1);

    // The text diff: one line per change.
    let text_diff = e.ok(&["directory", "import", "--dry-run"]);
    assert!(text_diff.starts_with("All users: "), "{text_diff}");
    assert!(text_diff.contains("~ yamada → taro\t"), "{text_diff}");
    assert!(text_diff.contains("+ hanako\t佐藤 花子\thanako@contoso.example"), "{text_diff}");
    assert!(text_diff.contains("Dry run: nothing was written."), "{text_diff}");

    // No terminal and no --yes: nothing applied, the confirmation is required (exit 8).
    let out = e.run(&["directory", "import"]);
    assert_eq!(out.status.code(), Some(8), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("error[confirmation_required]"), "{}", text(&out.stderr));
    assert_eq!(bytes(&e.db()), before, "declined import wrote to the SQLite file");

    let applied = e.json(&["directory", "import", "--yes", "--json"], 0);
    let o = &applied["outcome"];
    assert_eq!((count(o, "created"), count(o, "updated")), (count(p, "creates"), 1), "{o}");
    let accounts = e.accounts();
    assert_eq!(accounts.len() as u64, count(p, "creates") + 1);
    let taro = accounts.iter().find(|a| a["address"] == "taro@contoso.example").unwrap();
    assert_eq!(taro["loginName"], "taro", "{taro}");

    // A second run is a sync with nothing to do: nothing applied, nothing written.
    let synced = bytes(&e.db());
    let again = e.json(&["directory", "import", "--yes", "--json"], 0);
    assert_eq!(again["preview"]["creates"], 0, "{again}");
    assert_eq!(again["preview"]["updates"], 0, "{again}");
    assert_eq!(again["changes"].as_array().unwrap().len(), 0, "{again}");
    assert!(again["outcome"].is_null(), "{again}");
    assert_eq!(bytes(&e.db()), synced, "a no-op sync wrote to the SQLite file");

    // Someone leaves the directory: flagged, not deleted.
    emu.graph_remove_user("hanako@contoso.example").unwrap();
    let left = e.ok(&["directory", "import", "--yes"]);
    assert!(
        left.contains("- gone from the directory (flagged, not deleted): hanako\thanako@contoso.example"),
        "{left}"
    );
    assert!(left.contains("applied: 0 new, 0 changed,"), "{left}");
    assert!(left.contains("1 flagged gone"), "{left}");
    assert_eq!(e.accounts().len(), accounts.len());

    // Logout removes the Graph sign-in from the keychain: reading is refused again.
    let out = e.ok(&["directory", "logout"]);
    assert!(out.contains("removed"), "{out}");
    let out = e.run(&["directory", "import", "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[directory_not_signed_in]"), "{}", text(&out.stderr));
}

#[test]
fn a_group_is_imported_with_its_nested_groups_and_an_unknown_one_is_explained() {
    if !secret_service_required() {
        return;
    }
    let emu = Emulator::start_blocking(Config::default_demo().with_generated_users(60, 9)).unwrap();
    emu.set_auto_approve(true);
    let e = Env::new(&emu);
    e.ok(&["directory", "consent", "--timeout", "60"]);
    e.login();

    let out = e.run(&["directory", "import", "--group", "存在しない部署", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[group_not_found]"), "{}", text(&out.stderr));

    let tokyo = e.json(&["directory", "import", "--group", "営業部 東京 (Sales Tokyo)", "--dry-run", "--json"], 0);
    let sales_id = emu.graph_group_id(DEMO_TENANT_ID, "営業部 (Sales)").unwrap();
    let sales = e.json(&["directory", "import", "--group", &sales_id, "--yes", "--json"], 0);
    let (tp, sp) = (&tokyo["preview"], &sales["preview"]);
    assert_eq!(tp["scopeName"], "営業部 東京 (Sales Tokyo)", "{tp}");
    assert_eq!(sp["scope"], format!("group:{sales_id}"), "{sp}");
    assert!(count(tp, "creates") > 0, "{tp}");
    assert!(count(sp, "creates") > count(tp, "creates"), "the parent group has the nested group's members: {sp}");
    let imported: Vec<String> = e.accounts().iter().map(|a| a["address"].as_str().unwrap().to_owned()).collect();
    assert_eq!(imported.len() as u64, count(sp, "creates"));
    for c in tokyo["changes"].as_array().unwrap() {
        let address = c["address"].as_str().unwrap();
        assert!(imported.iter().any(|a| a == address), "{address} of the nested group was not imported");
    }
}
