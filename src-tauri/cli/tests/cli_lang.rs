//! The command line in Japanese or English: the locale (`LC_ALL` > `LC_MESSAGES` > `LANG`) or
//! `--lang` chooses, and every text comes from the wizard's catalogues. The expected texts are
//! read from `ui/src/lib/i18n/{ja,en}.json` here, never written out: a text that is not the
//! catalogue's (or a wrong language's) fails.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const BAD_TENANT: &str = "not a tenant!";

fn catalogue(lang: &str) -> Value {
    let path = format!("{}/../../ui/src/lib/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

/// The text at a dotted key of a catalogue.
fn text(lang: &str, key: &str) -> String {
    key.split('.').fold(&catalogue(lang), |v, k| &v[k]).as_str().unwrap_or_else(|| panic!("{lang}: {key}")).to_owned()
}

/// The fixed parts of a text (between its `%{name}`s), each long enough to say something.
fn fragments(template: &str) -> Vec<String> {
    let mut parts = vec![template.split("%{").next().unwrap().to_owned()];
    parts.extend(template.split("%{").skip(1).filter_map(|p| p.split_once('}').map(|(_, rest)| rest.to_owned())));
    parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| p.chars().count() >= 4).collect()
}

/// `exo-setup --data-dir DIR ARGS` with exactly the locale variables given (the others removed).
fn exo(dir: &Path, args: &[&str], locale: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exo-setup"));
    cmd.arg("--data-dir").arg(dir).args(args);
    for var in ["LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE", "EXO_SETUP_DATA_DIR", "EXO_SETUP_POLICY_FILE"] {
        cmd.env_remove(var);
    }
    cmd.envs(locale.iter().copied());
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `server enable` with a tenant that is not one: refused before any network, exit 3.
fn enable_bad_tenant(dir: &Path, extra: &[&str], locale: &[(&str, &str)]) -> String {
    let mut args = vec!["server", "enable", "--tenant", BAD_TENANT, "--client-id", CLIENT];
    args.extend_from_slice(extra);
    let out = exo(dir, &args, locale);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    stderr(&out)
}

/// The error is the catalogue's `errors.tenant_malformed` in `lang` (each fixed part, and the
/// tenant), with the kind code and who must act; and none of the other language's text.
fn assert_tenant_error_in(lang: &str, err: &str) {
    let other = if lang == "ja" { "en" } else { "ja" };
    assert!(err.contains("error[tenant_malformed]: "), "{err}");
    for part in fragments(&text(lang, "errors.tenant_malformed")) {
        assert!(err.contains(&part), "{lang}: {part:?} missing from:\n{err}");
    }
    for part in fragments(&text(other, "errors.tenant_malformed")) {
        assert!(!err.contains(&part), "{other} text {part:?} in a {lang} error:\n{err}");
    }
    assert!(err.contains(BAD_TENANT), "{err}");
    let who = text(lang, "cli.error.whoMustAct").replace("%{actor}", &text(lang, "cli.actor.admin"));
    assert!(err.contains(&who), "{who:?} missing from:\n{err}");
}

#[test]
fn a_japanese_locale_gets_japanese_errors_and_c_english_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ja = enable_bad_tenant(dir.path(), &[], &[("LANG", "ja_JP.UTF-8")]);
    assert_tenant_error_in("ja", &ja);
    let en = enable_bad_tenant(dir.path(), &[], &[("LANG", "C")]);
    assert_tenant_error_in("en", &en);
    // No locale at all is English too.
    assert_tenant_error_in("en", &enable_bad_tenant(dir.path(), &[], &[]));
}

#[test]
fn lang_option_overrides_the_locale() {
    let dir = tempfile::tempdir().unwrap();
    let ja_locale = [("LANG", "ja_JP.UTF-8"), ("LC_ALL", "ja_JP.UTF-8")];
    assert_tenant_error_in("en", &enable_bad_tenant(dir.path(), &["--lang", "en"], &ja_locale));
    assert_tenant_error_in("ja", &enable_bad_tenant(dir.path(), &["--lang", "ja"], &[("LANG", "C")]));
    // Global: also before the subcommand.
    let out = exo(
        dir.path(),
        &["--lang", "en", "server", "enable", "--tenant", BAD_TENANT, "--client-id", CLIENT],
        &ja_locale,
    );
    assert_tenant_error_in("en", &stderr(&out));
    let bad = exo(dir.path(), &["--lang", "fr", "server", "show"], &[]);
    assert_eq!(bad.status.code(), Some(2), "a language that is not ja or en is a usage error");
}

#[test]
fn lc_all_wins_over_lc_messages_over_lang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_tenant_error_in("en", &enable_bad_tenant(d, &[], &[("LC_ALL", "C"), ("LANG", "ja_JP.UTF-8")]));
    assert_tenant_error_in("ja", &enable_bad_tenant(d, &[], &[("LC_ALL", "ja_JP.UTF-8"), ("LANG", "C")]));
    let messages = [("LC_MESSAGES", "ja_JP.UTF-8"), ("LANG", "en_US.UTF-8")];
    assert_tenant_error_in("ja", &enable_bad_tenant(d, &[], &messages));
    let messages_c = [("LC_ALL", ""), ("LC_MESSAGES", "C"), ("LANG", "ja_JP.UTF-8")];
    assert_tenant_error_in("en", &enable_bad_tenant(d, &[], &messages_c));
}

#[test]
fn results_are_in_the_chosen_language_and_json_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ja = [("LANG", "ja_JP.UTF-8")];
    let off = exo(d, &["server", "disable"], &ja);
    assert!(off.status.success(), "{}", stderr(&off));
    assert_eq!(stdout(&off).trim(), text("ja", "cli.server.off"));
    let off_en = exo(d, &["server", "disable"], &[("LANG", "C")]);
    assert_eq!(stdout(&off_en).trim(), text("en", "cli.server.off"));

    let show = stdout(&exo(d, &["server", "show"], &ja));
    let state = format!("[{}] ({})", text("ja", "cli.server.stateOff"), text("ja", "cli.server.builtin"));
    assert!(show.contains(&format!("Exchange Online {state}")), "{show}");
    assert!(show.contains(&text("ja", "cli.server.notConfigured")), "{show}");
    assert!(show.contains(&text("ja", "cli.server.redirectUris")), "{show}");

    // --json is for programs: the same bytes whatever the language.
    let json_ja = exo(d, &["server", "show", "--json"], &ja);
    let json_en = exo(d, &["server", "show", "--json", "--lang", "en"], &ja);
    assert!(json_ja.status.success());
    assert_eq!(json_ja.stdout, json_en.stdout);
    serde_json::from_slice::<Value>(&json_ja.stdout).expect("JSON");
}

#[test]
fn csv_row_problems_are_in_the_chosen_language() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("accounts.csv");
    std::fs::write(
        &csv,
        "login_name,display_name,mail_address,receive_protocol,server\nsato,佐藤,not-an-address,IMAP,Exchange Online\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let ja = exo(d, &["accounts", "import", csv, "--dry-run"], &[("LANG", "ja_JP.UTF-8")]);
    assert_eq!(ja.status.code(), Some(3), "{}", stderr(&ja));
    let err = stderr(&ja);
    let row = text("ja", "cli.csv.rowValue")
        .replace("%{line}", "2")
        .replace("%{column}", "mail_address")
        .replace("%{value}", "not-an-address")
        .replace("%{text}", &text("ja", "csvReasons.invalid_address"))
        .replace("%{reason}", "invalid_address");
    assert!(err.contains(&row), "{row:?} missing from:\n{err}");
    let en = stderr(&exo(d, &["accounts", "import", csv, "--dry-run"], &[("LANG", "C")]));
    let row_en =
        format!("line 2, column mail_address, value 'not-an-address': {}", text("en", "csvReasons.invalid_address"));
    assert!(en.contains(&row_en), "{en}");
    // The summary line too.
    let summary = stdout(&ja);
    let wanted = fragments(&text("ja", "cli.accounts.preview"));
    assert!(wanted.iter().all(|part| summary.contains(part)), "{wanted:?} not all in {summary}");
}

#[test]
fn untrusted_text_stays_escaped_in_japanese() {
    let dir = tempfile::tempdir().unwrap();
    let spoof = "contoso\u{202e}moc.example";
    let out =
        exo(dir.path(), &["server", "enable", "--tenant", spoof, "--client-id", CLIENT], &[("LANG", "ja_JP.UTF-8")]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{202e}'), "a raw bidirectional character reached the terminal: {err:?}");
    assert!(err.contains("\\u{202e}"), "{err}");
}

/// `text` with its `%{name}`s filled.
fn filled(lang: &str, key: &str, params: &[(&str, &str)]) -> String {
    params.iter().fold(text(lang, key), |t, (name, value)| t.replace(&format!("%{{{name}}}"), value))
}

/// The administrator's and the user's side in Japanese, against the emulator: step 1's and
/// step 2's result lines, an invitation's confirmation (labels aligned in terminal columns, the
/// unknown-cloud warning), the refusal without a terminal, and the accepted invitation.
#[test]
fn invitation_round_trip_in_japanese() {
    use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
    let emu = Emulator::start_blocking(Config::default_demo()).unwrap();
    let ja = [("LANG", "ja_JP.UTF-8")];
    let admin = tempfile::tempdir().unwrap();
    let a = admin.path();
    let base = emu.base_url();
    let on = exo(
        a,
        &["server", "enable", "--tenant", "contoso.example", "--client-id", DEMO_CLIENT_ID, "--authority", &base],
        &ja,
    );
    assert!(on.status.success(), "{}", stderr(&on));
    let want = filled("ja", "cli.server.onForTenant", &[("tenant", "contoso.example"), ("tenantId", DEMO_TENANT_ID)]);
    assert_eq!(stdout(&on).trim(), want);
    let taro = "taro@contoso.example";
    let add = exo(a, &["accounts", "add", "--login", "yamada", "--address", taro, "--name", "山田 太郎"], &ja);
    assert_eq!(stdout(&add).trim(), filled("ja", "cli.accounts.added", &[("address", taro), ("login", "yamada")]));
    let link = stdout(&exo(a, &["invite", taro], &ja)).trim().to_owned();
    assert!(link.starts_with("dev.exosetup.wizard://invite?"), "{link}");

    let user = tempfile::tempdir().unwrap();
    let u = user.path();
    let asked = exo(u, &["open", &link], &ja);
    assert_eq!(asked.status.code(), Some(8), "{}", stderr(&asked));
    let shown = stdout(&asked);
    assert!(shown.starts_with(&text("ja", "cli.open.intro")), "{shown}");
    assert!(shown.contains(&filled("ja", "cli.open.warning", &[("authority", &base)])), "{shown}");
    // `label: value` lines: every value starts in the same terminal column.
    let columns: Vec<usize> = shown
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(": "))
        .map(|l| {
            let (label, value) = l.split_once(": ").unwrap();
            let before_value = format!("{label}: {}", &value[..value.len() - value.trim_start().len()]);
            before_value.chars().map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 }).sum::<usize>()
        })
        .collect();
    assert!(columns.len() >= 8 && columns.windows(2).all(|w| w[0] == w[1]), "{columns:?}\n{shown}");
    let mailbox = format!("{}:", text("ja", "cli.open.mailbox"));
    assert!(shown.lines().any(|l| l.trim_start().starts_with(&mailbox) && l.ends_with(taro)), "{shown}");
    let err = stderr(&asked);
    assert!(err.contains("error[confirmation_required]"), "{err}");
    for part in fragments(&text("ja", "errors.confirmation_required")) {
        assert!(err.contains(&part), "{part:?} missing from:\n{err}");
    }

    let opened = exo(u, &["open", &link, "--yes"], &ja);
    assert!(opened.status.success(), "{}", stderr(&opened));
    let out = stdout(&opened);
    assert!(out.contains(&filled("ja", "cli.open.next", &[("address", taro)])), "{out}");
}
