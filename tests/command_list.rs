//! The app's IPC commands are listed once (`src-tauri/src/commands/list.rs`): `build.rs` makes a
//! permission of each and `gui.rs` registers each handler from that list. What cannot be derived
//! from it is checked here against it: the `#[tauri::command]` functions, the window's
//! capability file and the UI's `api.ts`. A command added, renamed or dropped in one place only
//! fails this test with the names that differ.

use std::collections::BTreeSet;
use std::path::Path;

include!("../src-tauri/src/commands/list.rs");

macro_rules! command_names {
    ($($command:ident),* $(,)?) => {
        [$(stringify!($command)),*]
    };
}

fn listed() -> BTreeSet<String> {
    let names = with_app_commands!(command_names);
    let set: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(set.len(), names.len(), "a command is listed twice in commands/list.rs");
    set
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `listed` and `found` hold the same names; otherwise a message naming what each lacks.
fn assert_same(what: &str, listed: &BTreeSet<String>, found: &BTreeSet<String>) {
    let missing: Vec<_> = listed.difference(found).collect();
    let extra: Vec<_> = found.difference(listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} does not match src-tauri/src/commands/list.rs: listed but absent there {missing:?}, \
         there but not listed {extra:?}"
    );
}

/// Every `#[tauri::command]` function under `src-tauri/src/commands/` (a command written but not
/// listed would never be callable; listed but not written does not compile).
fn defined_commands() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src/commands");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "#[tauri::command]" {
                continue;
            }
            let signature = lines.next().expect("a function after #[tauri::command]");
            let name = signature
                .split("fn ")
                .nth(1)
                .and_then(|rest| rest.split(['(', '<']).next())
                .unwrap_or_else(|| panic!("no function name in {signature:?}"));
            names.insert(name.trim().to_owned());
        }
    }
    names
}

/// The app-command permissions (`allow-<name>`, without a plugin prefix) of the window.
fn capability_commands() -> BTreeSet<String> {
    let json: serde_json::Value = serde_json::from_str(&read("src-tauri/capabilities/main.json")).unwrap();
    json["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| !p.contains(':'))
        .map(|p| p.strip_prefix("allow-").unwrap_or_else(|| panic!("not an allow permission: {p}")).replace('-', "_"))
        .collect()
}

/// The command names `api.ts` passes to its one `call` helper (`call<T>('name'…`).
fn api_commands() -> BTreeSet<String> {
    let text = read("ui/src/lib/api.ts");
    assert_eq!(text.matches("invoke<").count(), 1, "api.ts calls invoke only inside `call`");
    text.match_indices("call<")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let args = &rest[rest.find(">(")? + 2..];
            // `call<T>(cmd: string, …)`, the helper itself, names no command.
            let name = args.strip_prefix('\'')?;
            Some(name[..name.find('\'')?].to_owned())
        })
        .collect()
}

#[test]
fn every_command_function_is_listed() {
    assert_same("the #[tauri::command] functions", &listed(), &defined_commands());
}

#[test]
fn the_window_may_call_exactly_the_listed_commands() {
    assert_same("capabilities/main.json", &listed(), &capability_commands());
}

#[test]
fn the_ui_calls_exactly_the_listed_commands() {
    assert_same("ui/src/lib/api.ts", &listed(), &api_commands());
}
