//! The wizard in its real window: start screen, step 1 (Exchange Online + organization settings, against the entra
//! emulator's discovery endpoint) and step 2 (accounts, CSV import), then the SQLite file the app left behind.
//! Selectors are the UI contract (`data-testid`, ids); screenshots go to `target/e2e-screenshots/<test>/`.

use std::time::Duration;

use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID as CLIENT_ID};
use exo_e2e::{open_step1, select_exchange_server, Result, Rig};
use fantoccini::Locator;

/// A verified domain of the emulator's demo tenant.
const TENANT_DOMAIN: &str = "contoso.example";
const SCHEME: &str = "dev.exosetup.wizard";
const DISCOVERY_WAIT: Duration = Duration::from_secs(30);

/// Fills step 1 with `tenant`, the test client ID and the local authority, and presses save.
async fn save_exchange(rig: &mut Rig, tenant: &str, authority: &str) -> Result {
    exo_e2e::save_exchange(rig, tenant, CLIENT_ID, authority).await
}

async fn exchange_enabled(rig: &mut Rig) -> Result<String> {
    Ok(rig.attr("[data-testid=exchange-status]", "data-enabled").await?.unwrap_or_default())
}

/// Japanese text beyond the language switch's own "日本語" label.
fn has_japanese(s: &str) -> bool {
    s.replace("日本語", "").chars().filter(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}')).count()
        >= 10
}

/// Whether the page's Japanese font really draws Japanese, or `Some(reason)`. Without a CJK font every kanji is
/// the same empty box (the missing-glyph shape), so two different kanji drawn in the font the page uses for
/// Japanese (`html:lang(ja)`) give identical pixels; `document.fonts.check` adds the family the stylesheet names.
async fn japanese_not_drawn(rig: &Rig) -> Result<Option<String>> {
    let v = rig
        .client
        .execute(
            r#"const family = getComputedStyle(document.body).fontFamily;
               const draw = (t) => { const c = document.createElement('canvas'); c.width = 64; c.height = 64;
                 const x = c.getContext('2d'); x.font = '40px ' + family; x.fillText(t, 4, 48); return c.toDataURL(); };
               const blank = draw('');
               const a = draw('日'), b = draw('本');
               if (a === blank) return 'nothing drawn for 日 in ' + family;
               if (a === b) return '日 and 本 are the same glyph (empty boxes) in ' + family;
               if (!document.fonts.check('40px ' + family, '日本語')) return 'document.fonts.check is false for ' + family;
               return null;"#,
            vec![],
        )
        .await
        .map_err(|e| format!("font check script: {e}"))?;
    Ok(v.as_str().map(str::to_owned))
}

// ------------------------------------------------------------------------------------------------ a

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_screen_step_indicator_and_language() -> Result {
    let mut rig = Rig::start("a_start_screen").await?;
    rig.wait("[data-testid=start-admin]").await?;
    rig.shot("start").await?;

    rig.click("[data-testid=lang-ja]").await?;
    rig.wait("html[lang=ja]").await?;
    let text = rig.body_text().await?;
    if !has_japanese(&text) {
        return Err(rig.failure("after lang-ja the page shows no Japanese text").await);
    }
    if let Some(why) = japanese_not_drawn(&rig).await? {
        return Err(rig.failure(&format!("Japanese text is not drawn with a CJK font: {why}")).await);
    }
    rig.shot("start-ja").await?;

    rig.click("[data-testid=lang-en]").await?;
    rig.wait("html[lang=en]").await?;
    if has_japanese(&rig.body_text().await?) {
        return Err(rig.failure("after lang-en the page still shows Japanese text").await);
    }

    // The step indicator belongs to the administrator's wizard.
    open_step1(&mut rig).await?;
    rig.wait("[data-testid=step-indicator]").await?;
    for n in 1..=4 {
        let css = format!("[data-testid=step-indicator] [data-testid=nav-step-{n}]");
        let status = rig.attr(&css, "data-status").await?;
        let ok = matches!(status.as_deref(), Some("blocked" | "todo" | "partial" | "done"));
        if !ok {
            return Err(rig.failure(&format!("nav-step-{n} has data-status={status:?}")).await);
        }
    }

    rig.click("[data-testid=lang-ja]").await?;
    rig.wait("html[lang=ja]").await?;
    rig.shot("step1-ja").await?;
    rig.click("[data-testid=lang-en]").await?;
    rig.wait("html[lang=en]").await?;
    rig.shot("step1").await?;
    rig.finish().await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------ b, c (errors)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_step1_unknown_and_multi_tenant_leave_the_server_off() -> Result {
    let emu = Emulator::start(Config::default_demo()).await?;
    let mut rig = Rig::start("b_step1_errors").await?;
    open_step1(&mut rig).await?;
    rig.shot("step1-empty").await?;

    save_exchange(&mut rig, "nosuch.example", &emu.base_url()).await?;
    let e = rig.wait_for("[data-testid=error][data-kind=tenant_not_found]", DISCOVERY_WAIT).await?;
    eprintln!("tenant_not_found shown as: {:?}", e.text().await.unwrap_or_default());
    let enabled = exchange_enabled(&mut rig).await?;
    if enabled != "false" {
        return Err(rig
            .failure(&format!("unknown tenant: exchange-status data-enabled={enabled:?}, want \"false\""))
            .await);
    }
    rig.shot("step1-unknown-tenant").await?;

    save_exchange(&mut rig, "common", &emu.base_url()).await?;
    rig.wait_for("[data-testid=error][data-kind=tenant_multi_tenant]", DISCOVERY_WAIT).await?;
    let enabled = exchange_enabled(&mut rig).await?;
    if enabled != "false" {
        return Err(rig
            .failure(&format!("tenant=common: exchange-status data-enabled={enabled:?}, want \"false\""))
            .await);
    }
    rig.shot("step1-common-refused").await?;

    let data = rig.finish().await?;
    let db = rusqlite::Connection::open(data.path().join("exo-setup.sqlite3"))?;
    let on: i64 = db.query_row("SELECT enabled FROM mail_servers WHERE id = 1", [], |r| r.get(0))?;
    assert_eq!(on, 0, "Exchange Online must stay OFF after failed discovery");
    Ok(())
}

// ------------------------------------------------------------------------------------------------ c, d, e

/// The CSV a Japanese Excel writes: Shift_JIS, CRLF. Header is line 1; line 4 has an invalid address.
/// Japanese column headers (accepted by the core's importer) in a different order from the export's.
const CSV_HEADER: &str = "ログイン名,表示名,メールアドレス,受信プロトコル,メールサーバー,アカウント名";
const CSV_ROWS: &[&str] = &[
    "hanako,佐藤 花子,hanako@contoso.example,IMAP,Exchange Online,佐藤 花子",
    "jiro,鈴木 次郎,jiro@contoso.example,POP3,Exchange Online,鈴木 次郎",
    "broken,高橋 三郎,not-an-address,IMAP,Exchange Online,高橋 三郎",
    "shiro,田中 四郎,shiro@contoso.example,imap,Exchange Online,田中 四郎",
];
const CSV_BAD_LINE: usize = 4;
const CSV_VALID: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_steps_1_and_2_accounts_csv_import_and_store() -> Result {
    let emu = Emulator::start(Config::default_demo()).await?;
    let mut rig = Rig::start("c_steps_1_2").await?;
    // Contract mismatches that do not stop the flow: reported together at the end.
    let mut violations: Vec<String> = Vec::new();
    open_step1(&mut rig).await?;

    // ---- step 1: the known tenant turns Exchange Online on
    save_exchange(&mut rig, TENANT_DOMAIN, &emu.base_url()).await?;
    rig.wait_for("[data-testid=exchange-status][data-enabled=true]", DISCOVERY_WAIT).await?;
    rig.wait("[data-testid=nav-step-1][data-status=done]").await?;
    let uris = rig.client.find_all(Locator::Css("[data-testid=redirect-uri]")).await?;
    let mut texts = Vec::new();
    for u in &uris {
        let mut t = u.text().await.unwrap_or_default();
        if t.trim().is_empty() {
            t = u.prop("value").await?.or(u.attr("data-uri").await?).unwrap_or_default();
        }
        texts.push(t.trim().to_string());
    }
    eprintln!("redirect URIs shown: {texts:?}");
    if !texts.iter().any(|t| t.starts_with(&format!("{SCHEME}://"))) {
        return Err(rig.failure(&format!("no [data-testid=redirect-uri] starts with {SCHEME}:// ({texts:?})")).await);
    }
    rig.shot("step1-saved").await?;

    // ---- step 2: one account by hand
    if rig.exists("[data-testid=next-step]").await {
        rig.click("[data-testid=next-step]").await?;
    } else {
        rig.click("[data-testid=nav-step-2]").await?;
    }
    rig.wait("#login-name").await?;
    rig.shot("step2-empty").await?;

    let taro = "taro@contoso.example";
    rig.fill("#login-name", "taro").await?;
    rig.fill("#user-display-name", "山田 太郎").await?;
    rig.fill("#address", taro).await?;
    if rig.exists("#display-name").await {
        rig.fill("#display-name", "山田 太郎").await?;
    }
    rig.fill("#receive-protocol", "imap").await?;
    select_exchange_server(&mut rig).await?;
    rig.click("[data-testid=add-account]").await?;
    let row = format!("[data-testid=account-row][data-address=\"{taro}\"]");
    rig.wait(&row).await?;
    rig.wait(&format!("{row} [data-testid=account-status][data-status=not_signed_in]")).await?;
    rig.shot("step2-account-added").await?;

    // ---- duplicate address
    rig.fill("#login-name", "taro2").await?;
    rig.fill("#user-display-name", "山田 太郎2").await?;
    rig.fill("#address", taro).await?;
    if rig.exists("#display-name").await {
        rig.fill("#display-name", "山田 太郎2").await?;
    }
    rig.click("[data-testid=add-account]").await?;
    rig.wait("[data-testid=error][data-kind=address_duplicate]").await?;
    rig.shot("step2-duplicate-address").await?;

    // ---- CSV import (Shift_JIS, one bad row), valid rows only
    let csv_dir = tempfile::tempdir()?;
    let text = format!("{CSV_HEADER}\r\n{}\r\n", CSV_ROWS.join("\r\n"));
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable, "the CSV fixture must be representable in Shift_JIS");
    let csv_path = exo_e2e::write_file(csv_dir.path(), "accounts-sjis.csv", &sjis)?;
    let input = rig.wait("#csv-file").await?;
    if let Err(e) = input.send_keys(&csv_path.display().to_string()).await {
        return Err(rig.failure(&format!("WebDriver sendKeys of a file path to #csv-file failed: {e}")).await);
    }
    let preview = rig.wait_for("[data-testid=import-preview][data-errors=\"1\"]", DISCOVERY_WAIT).await;
    if let Err(e) = preview {
        let got = rig.attr("[data-testid=import-preview]", "data-errors").await.ok().flatten();
        return Err(format!("{e}\n  import-preview data-errors = {got:?}").into());
    }
    // The bad row is on line 4 of the file (the header is line 1: ImportRowError.line's contract).
    let bad = format!("[data-testid=import-error][data-line=\"{CSV_BAD_LINE}\"]");
    if !rig.exists(&bad).await {
        let mut lines = Vec::new();
        for e in rig.client.find_all(Locator::Css("[data-testid=import-error]")).await? {
            lines.push(e.attr("data-line").await?);
        }
        violations.push(format!(
            "CSV preview: want [data-testid=import-error][data-line=\"{CSV_BAD_LINE}\"] (file line, header = line 1), \
             found data-line values {lines:?}"
        ));
    }
    rig.scroll_to("[data-testid=import-preview]").await?;
    rig.shot("step2-import-preview").await?;
    rig.click("input[name=import-mode][value=valid_rows_only]").await?;
    rig.click("[data-testid=import-confirm]").await?;
    let created = rig.attr("[data-testid=import-result]", "data-created").await?;
    if created.as_deref() != Some(&CSV_VALID.to_string()) {
        return Err(rig.failure(&format!("import-result data-created={created:?}, want {CSV_VALID}")).await);
    }
    rig.scroll_to("[data-testid=import-result]").await?;
    rig.shot("step2-import-result").await?;

    let total = 1 + CSV_VALID;
    rig.wait(&format!("[data-testid=account-total][data-total=\"{total}\"]")).await?;
    rig.wait("[data-testid=account-row][data-address=\"hanako@contoso.example\"]").await?;
    rig.scroll_to("[data-testid=account-total]").await?;
    rig.shot("step2-list").await?;

    // ---- search narrows the list
    rig.fill("#account-search", "hanako").await?;
    let n = rig
        .wait_until("the search to leave one row", |c| async move {
            let n = c.find_all(Locator::Css("[data-testid=account-row]")).await.ok()?.len();
            (n == 1).then_some(n)
        })
        .await?;
    assert_eq!(n, 1);
    rig.scroll_to("#account-search").await?;
    rig.shot("step2-search").await?;

    // ---- e: what the app stored, after its window closed
    let data = rig.finish().await?;
    let db = rusqlite::Connection::open(data.path().join("exo-setup.sqlite3"))?;
    let on: i64 = db.query_row("SELECT enabled FROM mail_servers WHERE id = 1", [], |r| r.get(0))?;
    assert_eq!(on, 1, "Exchange Online (mail_servers id 1) must be enabled after step 1");
    let accounts: i64 = db.query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get(0))?;
    assert_eq!(accounts as usize, total, "mail_accounts rows");
    let hanako: String = db.query_row(
        "SELECT u.display_name FROM users u JOIN mail_accounts a ON a.user_id = u.id WHERE a.address = ?1",
        ["hanako@contoso.example"],
        |r| r.get(0),
    )?;
    assert_eq!(hanako, "佐藤 花子", "Shift_JIS display name decoded");
    let broken: i64 = db.query_row("SELECT count(*) FROM users WHERE login_name = 'broken'", [], |r| r.get(0))?;
    assert_eq!(broken, 0, "the bad CSV row must not be half-imported");
    if !violations.is_empty() {
        return Err(format!("contract violations:\n  - {}", violations.join("\n  - ")).into());
    }
    Ok(())
}
