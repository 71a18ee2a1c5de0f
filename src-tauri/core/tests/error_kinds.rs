//! Every error kind has Japanese and English text, and the catalogues hold no text for a kind that
//! does not exist: both checked against [`ErrorKind::ALL`], the one list of kinds. The mail check's
//! kinds also need the short text that status badges and notifications show.

use exo_setup_core::error::ErrorArea;
use exo_setup_core::ErrorKind;
use serde_json::Value;

fn catalogue(lang: &str) -> Value {
    let path = format!("{}/../../ui/src/lib/i18n/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

fn japanese(text: &str) -> bool {
    text.chars().any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
}

#[test]
fn every_kind_has_japanese_and_english_text() {
    for lang in ["ja", "en"] {
        let cat = catalogue(lang);
        let mut missing = Vec::new();
        for kind in ErrorKind::ALL {
            let text = cat["errors"][kind.as_str()].as_str().unwrap_or_default();
            if text.trim().is_empty() || japanese(text) != (lang == "ja") {
                missing.push(kind.as_str());
            }
            if kind.area() == ErrorArea::MailCheck && cat["errorShort"][kind.as_str()].as_str().is_none() {
                missing.push(kind.as_str());
            }
        }
        assert!(missing.is_empty(), "{lang}.json: kinds without (right-language) text: {missing:?}");
    }
}

#[test]
fn catalogues_name_no_unknown_kind() {
    for lang in ["ja", "en"] {
        let cat = catalogue(lang);
        for section in ["errors", "errorShort"] {
            let unknown: Vec<&String> = cat[section]
                .as_object()
                .expect(section)
                .keys()
                .filter(|k| !ErrorKind::ALL.iter().any(|kind| kind.as_str() == k.as_str()))
                .collect();
            assert!(unknown.is_empty(), "{lang}.json {section}: texts for kinds that do not exist: {unknown:?}");
        }
    }
}

/// Every parameter an error text names (`%{host}`) is a [`DetailKey`], the closed set of names
/// producers can fill: a text waiting for a parameter that no error can carry shows "—" forever.
#[test]
fn error_texts_name_only_detail_keys() {
    use exo_setup_core::DetailKey;
    let known: Vec<&str> = DetailKey::ALL.iter().map(|k| k.as_str()).collect();
    for lang in ["ja", "en"] {
        let cat = catalogue(lang);
        let mut unknown = Vec::new();
        for section in ["errors", "errorShort"] {
            for (kind, text) in cat[section].as_object().expect(section) {
                let text = text.as_str().unwrap_or_default();
                for param in text.split("%{").skip(1).filter_map(|rest| rest.split('}').next()) {
                    let param = param.trim();
                    if !known.contains(&param) {
                        unknown.push(format!("{section}.{kind}: {param}"));
                    }
                }
            }
        }
        assert!(unknown.is_empty(), "{lang}.json: parameters that are not detail keys: {unknown:?}");
    }
}
