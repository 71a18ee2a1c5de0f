//! Tauri build script. The app's commands are listed here so that tauri-build generates one
//! permission per command; `capabilities/main.json` then allows exactly those for the main window
//! and nothing else (no filesystem, shell or HTTP access from the web view).
fn main() {
    // Without this, edited capability files are silently ignored by incremental builds.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*").app_manifest(
            tauri_build::AppManifest::new().commands(&[
                "app_info",
                "ui_ready",
                "setup_overview",
                "save_exchange_online",
                "set_server_enabled",
                "list_accounts",
                "add_account",
                "update_account",
                "delete_account",
                "preview_csv_import",
                "import_csv",
                "export_csv",
                "begin_admin_consent",
                "begin_sign_in",
                "cancel_flow",
                "flow_snapshot",
                "sign_out",
                "check_account",
                "create_invitations",
                "save_invitation_files",
                "save_invitations_csv",
                "open_invitation_text",
                "open_invitation_file",
                "accept_invitation",
                "discard_invitation",
                "last_opened_invitation",
                "managed_policy",
            ]),
        ),
    )
    .expect("tauri-build");
}
