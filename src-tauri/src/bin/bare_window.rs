//! Benchmark baseline: a bare Tauri window with static HTML, built from this repository with the
//! same Tauri version, features and profile as the app, but no plugins, state, UI framework or
//! data. Its page is served from Tauri's own asset protocol (so it can use IPC) and signals
//! readiness exactly as the app does: after the first paint (`requestAnimationFrame`) it invokes
//! a command, and the process prints `bare-window: ui-ready`.

use std::borrow::Cow;

use tauri::utils::assets::{AssetKey, AssetsIter, CspHash};

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>bare</title></head>
<body><h1>bare window</h1><p>static HTML</p>
<script>requestAnimationFrame(() => window.__TAURI_INTERNALS__.invoke('ui_ready'));</script></body></html>"#;

/// The one static page, in place of the app's embedded `ui/dist`.
struct BarePage;

impl<R: tauri::Runtime> tauri::Assets<R> for BarePage {
    fn get(&self, key: &AssetKey) -> Option<Cow<'_, [u8]>> {
        matches!(key.as_ref(), "/" | "/index.html").then(|| Cow::Borrowed(PAGE.as_bytes()))
    }

    fn iter(&self) -> Box<AssetsIter<'_>> {
        Box::new(std::iter::once((Cow::Borrowed("/index.html"), Cow::Borrowed(PAGE.as_bytes()))))
    }

    fn csp_hashes(&self, _html_path: &AssetKey) -> Box<dyn Iterator<Item = CspHash<'_>> + '_> {
        Box::new(std::iter::empty())
    }
}

/// Named like the app's command so that the app's capability (which this binary shares) allows it.
#[tauri::command]
fn ui_ready() {
    println!("bare-window: ui-ready");
}

fn main() {
    let mut context: tauri::Context<tauri::Wry> = tauri::generate_context!();
    // No CSP (the page's one inline script), no plugins; the same main window as the app.
    context.config_mut().app.security.csp = None;
    context.config_mut().plugins.0.clear();
    context.set_assets(Box::new(BarePage));
    tauri::Builder::default().invoke_handler(tauri::generate_handler![ui_ready]).run(context).expect("bare window");
}
