//! Benchmark baseline: a bare Tauri window with static HTML, built from this repository with the
//! same Tauri version, features and profile as the app, but no plugins, state, UI framework or
//! IPC. The page is served by a custom URI scheme; when its load has finished the process prints
//! `bare-window: ui-ready` — the baseline for the app's `exo-setup: ui-ready` (which the app
//! prints later, after its wizard has painted), so the measured ratio is, if anything, unfair to
//! the app.

use tauri::webview::PageLoadEvent;

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>bare</title></head>
<body><h1>bare window</h1><p>static HTML</p></body></html>"#;

fn main() {
    let mut context: tauri::Context<tauri::Wry> = tauri::generate_context!();
    // The app's window and plugin configuration do not apply to the baseline.
    context.config_mut().app.windows.clear();
    context.config_mut().plugins.0.clear();
    tauri::Builder::default()
        .register_uri_scheme_protocol("bare", |_ctx, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .body(PAGE.as_bytes().to_vec())
                .expect("static response")
        })
        .setup(|app| {
            let url = if cfg!(windows) { "http://bare.localhost/" } else { "bare://localhost/" };
            tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::CustomProtocol(url.parse().expect("url")))
                .title("bare-window")
                .inner_size(1100.0, 760.0)
                .on_page_load(|_w, payload| {
                    if payload.event() == PageLoadEvent::Finished {
                        println!("bare-window: ui-ready");
                    }
                })
                .build()?;
            Ok(())
        })
        .run(context)
        .expect("bare window");
}
