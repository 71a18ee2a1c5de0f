//! Tauri build script. tauri-build generates one permission per command of the app's one command
//! list (`src/commands/list.rs`); `capabilities/main.json` then allows exactly those for the main
//! window and nothing else (no filesystem, shell or HTTP access from the web view).

include!("src/commands/list.rs");

/// The command names as strings, for `AppManifest::commands`.
macro_rules! command_names {
    ($($command:ident),* $(,)?) => {
        &[$(stringify!($command)),*]
    };
}

fn main() {
    // Without this, edited capability files are silently ignored by incremental builds.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/src/commands/list.rs");
    let commands: &[&str] = with_app_commands!(command_names);
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build");
}
