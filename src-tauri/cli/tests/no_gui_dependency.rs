//! The CLI crate depends on no GUI toolkit: `exo-setup token` runs on every mail client
//! connection and must not load Tauri, WebKit or GTK. Cargo enforces it (nothing here names them);
//! this checks the resolved dependency tree (for the platform the tests run on: offline, only its
//! crates are sure to be downloaded), so that a dependency pulling one in transitively fails here
//! rather than in a start-up benchmark.

use std::process::Command;

/// Packages that are (or bring) a GUI toolkit or web view.
const GUI_PACKAGES: &[&str] = &["tauri", "tauri-runtime", "tauri-runtime-wry", "wry", "webkit2gtk", "gtk", "tao"];

/// The names of the packages `package` depends on when built normally (no dev or build
/// dependencies) for this platform.
fn normal_dependencies(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn gui_packages(deps: &[String]) -> Vec<&String> {
    deps.iter().filter(|d| GUI_PACKAGES.contains(&d.as_str()) || d.starts_with("webkit2gtk")).collect()
}

#[test]
fn the_cli_depends_on_no_tauri_webkit_or_gtk() {
    let deps = normal_dependencies("exo-setup-cli");
    assert!(deps.iter().any(|d| d == "exo-setup-core"), "the tree was read: {deps:?}");
    assert_eq!(gui_packages(&deps), Vec::<&String>::new());
}

#[test]
fn the_check_sees_the_wizards_tauri() {
    // The same check on the wizard's package finds what it looks for, so it can fail.
    let deps = normal_dependencies("exo-setup");
    let found = gui_packages(&deps);
    assert!(found.iter().any(|d| *d == "tauri") && found.iter().any(|d| d.starts_with("webkit2gtk")), "{found:?}");
}
