//! The language of everything the CLI says to a person, chosen once per run, here and nowhere
//! else: `--lang ja|en` if given, else the locale — on every OS first the POSIX variables, the
//! first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set and not empty (POSIX precedence); on
//! Windows and macOS, where a terminal often sets none of them, then the OS's own setting
//! (`sys-locale`). A locale `ja`, `ja_JP.UTF-8`, `ja-JP`… is Japanese; anything else (`C`,
//! `POSIX`, `en_US.UTF-8`, nothing) is English.
//!
//! The texts are the wizard's catalogues (`ui/src/lib/i18n/{ja,en}.json`, read at compile time by
//! rust-i18n, see `lib.rs`); `--json` output and exit codes do not depend on the language.

use clap::ValueEnum;

/// A language of the catalogues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// 日本語
    Ja,
    /// English
    En,
}

impl Lang {
    /// The catalogue's name (`ja.json`, `en.json`): rust-i18n's locale.
    pub const fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// Chooses the run's language (`--lang`, else the locale) and makes every text of this process
/// use it. Called once, by `run`, before anything is printed.
pub fn init(flag: Option<Lang>) -> Lang {
    let lang = flag.unwrap_or_else(|| from_locale(system_locale().as_deref()));
    rust_i18n::set_locale(lang.code());
    lang
}

/// Japanese for a Japanese locale name, English for anything else.
pub fn from_locale(locale: Option<&str>) -> Lang {
    let locale = locale.unwrap_or_default().trim().to_ascii_lowercase();
    match locale.strip_prefix("ja") {
        Some(rest) if rest.is_empty() || rest.starts_with(['_', '-', '.', '@']) => Lang::Ja,
        _ => Lang::En,
    }
}

/// POSIX: the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set and not empty.
fn posix_locale(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"].into_iter().find_map(|name| var(name).filter(|v| !v.is_empty()))
}

/// The locale this process runs under.
fn system_locale() -> Option<String> {
    let locale = posix_locale(|name| std::env::var(name).ok());
    #[cfg(any(windows, target_os = "macos"))]
    let locale = locale.or_else(sys_locale::get_locale);
    locale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_locales_are_japanese_and_the_rest_english() {
        for ja in ["ja", "ja_JP.UTF-8", "ja_JP.eucJP", "JA-jp", "ja@euro", " ja_JP "] {
            assert_eq!(from_locale(Some(ja)), Lang::Ja, "{ja}");
        }
        for en in ["", "C", "C.UTF-8", "POSIX", "en_US.UTF-8", "jam", "java", "de_DE"] {
            assert_eq!(from_locale(Some(en)), Lang::En, "{en}");
        }
        assert_eq!(from_locale(None), Lang::En);
    }

    #[test]
    fn lc_all_wins_over_lc_messages_over_lang_and_empty_means_unset() {
        fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        }
        let all = [("LC_ALL", "C"), ("LC_MESSAGES", "ja_JP.UTF-8"), ("LANG", "ja_JP.UTF-8")];
        assert_eq!(posix_locale(env(&all)).as_deref(), Some("C"));
        let messages = [("LC_ALL", ""), ("LC_MESSAGES", "ja_JP.UTF-8"), ("LANG", "en_US.UTF-8")];
        assert_eq!(posix_locale(env(&messages)).as_deref(), Some("ja_JP.UTF-8"));
        let lang = [("LANG", "ja_JP.UTF-8")];
        assert_eq!(posix_locale(env(&lang)).as_deref(), Some("ja_JP.UTF-8"));
        assert_eq!(posix_locale(env(&[])), None);
    }
}
