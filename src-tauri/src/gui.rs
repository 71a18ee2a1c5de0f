//! Builds and runs the Tauri application: plugins, state, commands, the main window. Only the
//! wizard's binary (`gui_main.rs`) calls [`run_app`], with the default (Wry) runtime.

use std::path::PathBuf;
use std::sync::Arc;

use exo_setup_core::auth::Auth;
use exo_setup_core::invite::PendingInvitations;
use exo_setup_core::keychain::{OsKeychain, TokenStore};
use exo_setup_core::Store;
use tauri::{DragDropEvent, Manager, Runtime, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::flows;
use crate::invitations::{self, LastOpened};
use exo_setup_core::invite::Source;
use exo_setup_core::launch_args::{self as launch, Handover};

/// The invoke handler of the app's one command list (`commands/list.rs`).
macro_rules! app_handlers {
    ($($command:ident),* $(,)?) => {
        tauri::generate_handler![$(crate::commands::$command),*]
    };
}

/// Shared state of the running app.
pub struct AppState {
    pub store: Arc<Store>,
    pub auth: Arc<Auth>,
    pub data_dir: PathBuf,
    /// Invitations shown for confirmation, by opaque id.
    pub invitations: Arc<PendingInvitations>,
    /// The last invitation the OS handed over, until the UI asks (cold start).
    pub last_invitation: LastOpened,
}

/// Registers plugins, state and commands on `builder` and runs the app. `handover` is what the
/// OS launched the app with (a deep link or an invitation file), if anything.
pub fn run_app<R: Runtime>(
    builder: tauri::Builder<R>,
    data_dir: PathBuf,
    store: Store,
    handover: Option<Handover>,
) -> tauri::Result<()> {
    let store = Arc::new(store);
    let keychain: Arc<dyn TokenStore> = Arc::new(OsKeychain::new());
    let auth = Arc::new(Auth::new(Arc::clone(&store), keychain));
    let auth_for_instances = Arc::clone(&auth);
    builder
        // Single instance first: a second launch (e.g. the OS handing over a deep link or an
        // invitation file) focuses the running window instead of starting another app with its
        // own state. Deep links given alone reach `on_open_url` through the plugin's deep-link
        // feature; files (and links after --data-dir) are handled here.
        .plugin(tauri_plugin_single_instance::init(move |app, argv, cwd| {
            let cwd = PathBuf::from(cwd);
            match launch::gui_launch(&argv, Some(&cwd)).and_then(|l| l.handover) {
                Some(Handover::InvitationFile(path)) => invitations::open_and_announce(app, Source::File(path)),
                Some(Handover::DeepLink(link)) if argv.len() > 2 => {
                    if let Ok(url) = url::Url::parse(&link) {
                        flows::handle_deep_link(app, &auth_for_instances, &url);
                    }
                }
                _ => {}
            }
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(AppState {
            store,
            auth: Arc::clone(&auth),
            data_dir,
            invitations: Arc::default(),
            last_invitation: LastOpened::default(),
        })
        .manage(flows::LoopbackTasks::default())
        .manage(crate::commands::DirectoryReads::default())
        .manage(crate::commands::RolloutSends::default())
        .setup(move |app| {
            let handle = app.handle().clone();
            // Linux and Windows register the scheme at run time (macOS: by the bundle's Info.plist).
            // It runs xdg-mime/update-desktop-database (tens of ms): off the main thread, so the
            // window does not wait for it.
            #[cfg(any(target_os = "linux", windows))]
            {
                let h = handle.clone();
                std::thread::spawn(move || {
                    if let Err(e) = h.deep_link().register_all() {
                        tracing::warn!(
                            "could not register the {} scheme: {e}",
                            exo_setup_core::identity::DEEP_LINK_SCHEME
                        );
                    }
                });
            }
            // Listener first, then the URL that launched the app cold, so that none is missed.
            let (h, a) = (handle.clone(), Arc::clone(&auth));
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    flows::handle_deep_link(&h, &a, &url);
                }
            });
            let current = app.deep_link().get_current().ok().flatten().unwrap_or_default();
            for url in &current {
                flows::handle_deep_link(&handle, &auth, url);
            }
            // What the plugin does not read itself: an invitation file, or a link after --data-dir.
            match handover {
                Some(Handover::InvitationFile(path)) => invitations::open_and_announce(&handle, Source::File(path)),
                Some(Handover::DeepLink(link)) => {
                    if let Some(url) = url::Url::parse(&link).ok().filter(|u| !current.contains(u)) {
                        flows::handle_deep_link(&handle, &auth, &url);
                    }
                }
                None => {}
            }
            flows::spawn_expiry_ticker(handle.clone(), Arc::clone(&auth));
            crate::upkeep::spawn(handle.clone(), Arc::clone(&auth));
            crate::rollout_upkeep::spawn(handle, Arc::clone(&auth));
            Ok(())
        })
        // Invitation files dropped on the window: Rust reads them; the UI gets only the outcome.
        .on_window_event(|window, event| {
            if let WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) = event {
                for path in invitations::dropped_invitations(paths) {
                    invitations::open_and_announce(window.app_handle(), Source::File(path.clone()));
                }
            }
        })
        .on_page_load(|_webview, payload| {
            // Diagnostic for the benchmark harness: web view loaded, before the UI has painted.
            if payload.event() == tauri::webview::PageLoadEvent::Finished
                && std::env::var_os("EXO_SETUP_BENCH").is_some()
            {
                println!("exo-setup: page-loaded");
            }
        })
        .invoke_handler(crate::with_app_commands!(app_handlers))
        .run(tauri::generate_context!())
}
