//! Every catalogue text the CLI prints exists in Japanese and in English, with the parameters the
//! CLI gives it: rust-i18n embeds `ui/src/lib/i18n/{ja,en}.json` at compile time but checks no
//! key (a missing one prints the key itself, a missing parameter a raw `%{name}`).
//!
//! The keys are read from the CLI's sources: every string literal naming a key of a catalogue
//! section (`"cli.server.on"`), and every `t!("key", name = …)` call with its parameter names.
//! Keys built at run time are checked here from their closed lists (the error kinds, the redirect
//! modes); `cli.errors.<kind>` must name a real kind.

use std::collections::{BTreeMap, BTreeSet};

use exo_setup_core::ErrorKind;
use serde_json::Value;

const LANGS: [&str; 2] = ["ja", "en"];

/// A catalogue, flattened to `section.key` → text.
fn catalogue(lang: &str) -> BTreeMap<String, String> {
    fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_owned(), s.clone());
            }
            other => panic!("{prefix}: not a text: {other}"),
        }
    }
    let path = format!("{}/../../ui/src/lib/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path);
    let mut out = BTreeMap::new();
    flatten("", &json, &mut out);
    out
}

/// The `%{name}`s of a text.
fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("%{").skip(1).filter_map(|rest| rest.find('}').map(|end| rest[..end].to_owned())).collect()
}

/// The CLI's sources, file name → text.
fn sources() -> Vec<(String, String)> {
    let dir = format!("{}/src", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect(&dir)
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// The string literal at the start of `s` (which starts with `"`) and the rest after it.
fn literal(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((&body[..i], &body[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// Every string literal of the sources that names a key of one of `sections` (dynamic ones such as
/// `"errors.{kind}"` left out).
fn literal_keys(sections: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for (file, src) in sources() {
        for (at, _) in src.match_indices('"') {
            let Some((lit, _)) = literal(&src[at..]) else { continue };
            let Some((section, _)) = lit.split_once('.') else { continue };
            let key_like = lit.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if sections.contains(section) && key_like && !lit.ends_with('.') {
                keys.insert(lit.to_owned(), file.clone());
            }
        }
    }
    keys
}

/// Every `t!("key", name = …, "name" => …)` of the sources: key → (file, parameter names).
fn t_calls() -> Vec<(String, String, BTreeSet<String>)> {
    let mut calls = Vec::new();
    for (file, src) in sources() {
        for (at, _) in src.match_indices("t!(") {
            // rust-i18n's `t!`, not `format!(` or `assert!(`.
            if src[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = src[at + 3..].trim_start();
            let Some((key, mut rest)) = literal(rest) else { continue };
            // The arguments up to the closing parenthesis, split at top-level commas.
            let (mut depth, mut args, mut current) = (0usize, Vec::new(), String::new());
            loop {
                let c = rest.chars().next().expect("unclosed t!(");
                if c == '"' {
                    let (lit, after) = literal(rest).expect("unclosed literal");
                    current.push_str(&format!("\"{lit}\""));
                    rest = after;
                    continue;
                }
                rest = &rest[c.len_utf8()..];
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' if depth == 0 => break,
                    ')' | ']' | '}' => depth -= 1,
                    ',' if depth == 0 => {
                        args.push(std::mem::take(&mut current));
                        continue;
                    }
                    _ => {}
                }
                current.push(c);
            }
            args.push(current);
            let names = args
                .iter()
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .map(|a| match literal(a) {
                    Some((name, _)) => name.to_owned(),
                    None => a.split(['=', ' ']).next().unwrap().trim().to_owned(),
                })
                .filter(|name| name != "locale")
                .collect();
            calls.push((key.to_owned(), file.clone(), names));
        }
    }
    calls
}

#[test]
fn every_key_the_cli_names_exists_in_japanese_and_english() {
    let cats: Vec<_> = LANGS.iter().map(|lang| (*lang, catalogue(lang))).collect();
    let sections: BTreeSet<String> = cats[0].1.keys().map(|k| k.split('.').next().unwrap().to_owned()).collect();
    let mut used = literal_keys(&sections);
    // Keys built at run time, from their closed lists.
    for mode in ["deep_link", "loopback"] {
        used.insert(format!("step1.mode.{mode}"), "server.rs (redirect mode)".into());
    }
    for kind in ErrorKind::ALL {
        used.insert(format!("errors.{}", kind.as_str()), "text.rs (error kind)".into());
    }
    used.insert("list.separator".into(), "text.rs".into());
    // The scan finds what it should (a scan finding nothing would pass).
    for sentinel in ["cli.server.on", "cli.csv.row", "cli.open.prompt", "error.traceId", "invite.cloud.global"] {
        assert!(used.contains_key(sentinel), "the source scan missed {sentinel}: {used:?}");
    }
    let mut missing = Vec::new();
    for (lang, cat) in &cats {
        for (key, file) in &used {
            if cat.get(key).is_none_or(|t| t.trim().is_empty()) {
                missing.push(format!("{lang}.json: {key} (used in {file})"));
            }
        }
    }
    assert!(missing.is_empty(), "catalogue texts the CLI uses are missing:\n{}", missing.join("\n"));
}

#[test]
fn every_t_call_gives_exactly_the_parameters_of_its_text() {
    let cats: Vec<_> = LANGS.iter().map(|lang| (*lang, catalogue(lang))).collect();
    let calls = t_calls();
    assert!(calls.len() > 50, "the t!() scan found only {} calls", calls.len());
    let mut wrong = Vec::new();
    for (key, file, given) in &calls {
        for (lang, cat) in &cats {
            let Some(text) = cat.get(key) else { continue }; // reported by the test above
            let wanted = placeholders(text);
            if &wanted != given {
                wrong.push(format!("{file}: t!(\"{key}\") gives {given:?}, {lang}.json's text has {wanted:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn cli_texts_exist_in_both_languages_and_name_real_kinds() {
    let (ja, en) = (catalogue("ja"), catalogue("en"));
    let cli = |cat: &BTreeMap<String, String>| -> BTreeSet<String> {
        cat.keys().filter(|k| k.starts_with("cli.")).cloned().collect()
    };
    assert_eq!(cli(&ja), cli(&en), "the cli section differs between ja.json and en.json");
    for key in cli(&ja) {
        assert_eq!(placeholders(&ja[&key]), placeholders(&en[&key]), "{key}: ja and en name different parameters");
        if let Some(kind) = key.strip_prefix("cli.errors.") {
            assert!(ErrorKind::ALL.iter().any(|k| k.as_str() == kind), "{key}: no such error kind");
        }
    }
}

#[test]
fn no_catalogue_text_uses_the_old_placeholder_syntax() {
    // i18next's default `{{name}}` would be printed raw by the CLI (rust-i18n reads `%{name}`).
    for lang in LANGS {
        let old: Vec<String> =
            catalogue(lang).into_iter().filter(|(_, t)| t.contains("{{")).map(|(k, t)| format!("{k}: {t}")).collect();
        assert!(old.is_empty(), "{lang}.json still uses {{{{name}}}}:\n{}", old.join("\n"));
    }
}
