//! The catalogue texts the CLI prints, the wizard's `ui/src/lib/i18n/{ja,en}.json` (embedded at
//! compile time by rust-i18n, see `lib.rs`), in the language `lang` chose. Literal keys with
//! fixed parameters use rust-i18n's `t!`; what is looked up by a key built at run time (an
//! error's kind, a CSV row's reason, a code shown as a word) goes through here.
//!
//! [`error`] is the CLI's copy of the wizard's `ui/src/lib/errors/messages.ts` `errorText`: the
//! kind's text (`cli.errors.<kind>` where the command line needs other advice than the wizard's,
//! else `errors.<kind>`) with the error's `detail` as parameters — codes shown as words,
//! and a parameter Rust did not send shown as "—", never as a raw `%{name}`. Every detail value
//! is untrusted and escaped ([`shown`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use exo_setup_core::model::ImportRowError;
use exo_setup_core::UiError;

use crate::output::shown;

/// Detail values that are codes, shown as words: for kinds starting with the prefix, parameter →
/// catalogue section. In order: a word may use the ones before it (an invitation's `reason`
/// names its `field`). A list (`fields: "tenant, clientId"`) is shown word by word.
const WORDS: &[(&str, &[(&str, &str)])] = &[
    ("mail_", &[("step", "mailStep"), ("scope", "mailScope")]),
    ("invite_malformed", &[("field", "fieldNames"), ("reason", "inviteReason")]),
    ("policy_locked_field", &[("field", "fieldNames")]),
    ("policy_conflict", &[("fields", "fieldNames")]),
];

/// What a placeholder without a value shows.
const MISSING: &str = "—";

/// The text of `key` in the run's language, the English one where Japanese has none; `None`
/// when neither catalogue has it.
pub fn get(key: &str) -> Option<Cow<'static, str>> {
    let backend = crate::_RUST_I18N_BACKEND.as_ref();
    backend.translate(&rust_i18n::locale(), key).or_else(|| backend.translate("en", key))
}

/// [`get`], or the key itself (as rust-i18n's `t!` shows a missing text).
pub fn text(key: &str) -> String {
    get(key).map(Cow::into_owned).unwrap_or_else(|| key.to_owned())
}

/// The `%{name}`s of a catalogue text, in order.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split("%{").skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('}')?];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
    })
}

/// `key`'s text with its `%{name}`s filled from `params` (values used as given: escape untrusted
/// ones first); one without a value is "—".
pub fn fill(key: &str, params: &BTreeMap<String, String>) -> String {
    let Some(template) = get(key) else { return key.to_owned() };
    let names: Vec<&str> = placeholders(&template).collect();
    let values: Vec<String> =
        names.iter().map(|name| params.get(*name).cloned().unwrap_or_else(|| MISSING.to_owned())).collect();
    rust_i18n::replace_patterns(&template, &names, &values)
}

/// The explanation of an error in the run's language (see the module's documentation).
pub fn error(e: &UiError) -> String {
    kind_text(e.kind.as_str(), &named(&e.detail))
}

/// The detail keyed by its wire names, as the catalogue's parameters are.
fn named(detail: &BTreeMap<exo_setup_core::DetailKey, String>) -> BTreeMap<String, String> {
    detail.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect()
}

fn kind_text(kind: &str, detail: &BTreeMap<String, String>) -> String {
    let Some(key) = [format!("cli.errors.{kind}"), format!("errors.{kind}")].into_iter().find(|key| get(key).is_some())
    else {
        return text("errors.unexpected");
    };
    let mut params: BTreeMap<String, String> = detail.iter().map(|(k, v)| (k.clone(), shown(v).into_owned())).collect();
    // A managed redirect mode is a code too.
    if params.get("field").map(String::as_str) == Some("redirectMode") {
        if let Some(word) = params.get("value").and_then(|v| get(&format!("step1.mode.{v}"))) {
            params.insert("value".to_owned(), word.into_owned());
        }
    }
    for &(_, words) in WORDS.iter().filter(|(prefix, _)| kind.starts_with(*prefix)) {
        for &(name, section) in words {
            let Some(value) = params.get(name) else { continue };
            let keys: Vec<String> = value.split(',').map(|item| format!("{section}.{}", item.trim())).collect();
            if keys.iter().all(|key| get(key).is_some()) {
                let shown: Vec<String> = keys.iter().map(|key| fill(key, &params)).collect();
                params.insert(name.to_owned(), shown.join(&text("list.separator")));
            }
        }
    }
    fill(&key, &params)
}

/// The reason of a CSV row problem in the run's language (the wizard's `rowReasonText`); Rust's
/// English message when the catalogue has no text for the reason.
pub fn row_reason(r: &ImportRowError) -> String {
    let mut params: BTreeMap<String, String> = BTreeMap::from([
        ("column".to_owned(), shown(r.column.as_deref().unwrap_or_default()).into_owned()),
        ("value".to_owned(), shown(r.value.as_deref().unwrap_or_default()).into_owned()),
    ]);
    params.extend(r.detail.iter().map(|(k, v)| (k.as_str().to_owned(), shown(v).into_owned())));
    let key = match r.reason.as_str() {
        "duplicate_in_file" if !params.contains_key("firstLine") => "csvReasons.duplicate_in_file_unknown".to_owned(),
        reason => format!("csvReasons.{reason}"),
    };
    match get(&key) {
        Some(_) => fill(&key, &params),
        None => shown(&r.message).into_owned(),
    }
}

/// Terminal columns of a text: East Asian wide characters (kana, kanji, fullwidth forms) take two.
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_read_in_order() {
        let names: Vec<&str> = placeholders("%{a} and %{b_2}, 100% %{} %{x y} %{c}").collect();
        assert_eq!(names, ["a", "b_2", "c"]);
    }

    fn detail(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    // The unit tests run in the default language, English (`lang::init` is never called here).

    #[test]
    fn an_error_is_its_kinds_text_with_the_detail_escaped_and_missing_parameters_dashed() {
        let text = kind_text("tenant_malformed", &detail(&[("tenant", "a\u{202e}b")]));
        let want = get("errors.tenant_malformed").unwrap().replace("%{tenant}", "a\\u{202e}b");
        assert_eq!(text, want);
        let missing = kind_text("tenant_malformed", &detail(&[]));
        assert_eq!(missing, get("errors.tenant_malformed").unwrap().replace("%{tenant}", MISSING));
        assert!(!missing.contains("%{"), "{missing}");
    }

    #[test]
    fn codes_are_shown_as_words_and_the_cli_may_say_it_otherwise() {
        let malformed = kind_text("invite_malformed", &detail(&[("reason", "invalid_field"), ("field", "tenant")]));
        let field = get("fieldNames.tenant").unwrap().into_owned();
        let reason = fill("inviteReason.invalid_field", &detail(&[("field", &field)]));
        assert!(malformed.contains(&reason), "{reason:?} not in {malformed:?}");
        let list = kind_text("policy_conflict", &detail(&[("fields", "tenant, clientId")]));
        let words =
            [get("fieldNames.tenant").unwrap(), get("fieldNames.clientId").unwrap()].join(&text("list.separator"));
        assert!(list.contains(&words), "{words:?} not in {list:?}");
        let replaces = kind_text("invite_replaces_org", &detail(&[("current", "a.example"), ("invited", "b.example")]));
        assert_eq!(
            replaces,
            fill("cli.errors.invite_replaces_org", &detail(&[("current", "a.example"), ("invited", "b.example")]))
        );
        assert_eq!(kind_text("no_such_kind", &detail(&[])), text("errors.unexpected"));
    }

    #[test]
    fn width_counts_wide_characters_twice() {
        assert_eq!(width("tenant"), 6);
        assert_eq!(width("テナント ID"), 11);
    }
}
