//! The CLI in the same binary: subcommands run the core against a data directory given by
//! `--data-dir`, print what scripts need, and exit with documented codes.

use std::process::{Command, Output};

use entra_emulator::{Config, Emulator};

fn exo(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exo-setup"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("EXO_SETUP_DATA_DIR")
        .output()
        .unwrap()
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
