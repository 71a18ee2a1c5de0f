//! Benchmark baseline: a bare Tauri window with static HTML, built from this repository with the
//! same Tauri version and profile as the app. It prints `bare-window: ui-ready` when its page has
//! painted (the page calls the `ready` command from a requestAnimationFrame callback), the same
//! signal the app gives with `exo-setup: ui-ready`.

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>bare</title></head>
<body><h1>bare window</h1><script>
requestAnimationFrame(() => setTimeout(() => window.__TAURI_INTERNALS__.invoke('ready'), 0));
</script></body></html>"#;

#[tauri::command]
fn ready() {
    println!("bare-window: ui-ready");
}

fn main() {
    let mut context: tauri::Context<tauri::Wry> = tauri::generate_context!();
    // Same config as the app, but no CSP (the inline script) and a data: URL page.
    context.config_mut().app.security.csp = None;
    context.config_mut().app.windows.clear();
    context.config_mut().plugins.0.clear();
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![ready])
        .setup(|app| {
            let url = format!("data:text/html,{}", urlencode(PAGE));
            tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::External(url.parse().expect("data url")))
                .title("bare-window")
                .inner_size(1100.0, 760.0)
                .build()?;
            Ok(())
        })
        .run(context)
        .expect("bare window");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
