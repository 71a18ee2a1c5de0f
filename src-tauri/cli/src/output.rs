//! What the CLI prints: errors on standard error (kind, the explanation in the run's language,
//! who must act, the identity platform's codes), JSON on standard output, CSV row problems. Every
//! untrusted text (names, CSV headers and cells, server replies, paths) goes through [`shown`]:
//! control and bidirectional characters come out as `\u{1b}`, never raw.

use std::collections::BTreeMap;
use std::io::Write;

use exo_setup_core::model::ImportRowError;
use exo_setup_core::{Actor, ErrorKind, UiError};
use rust_i18n::t;

use crate::text;

/// `text` with control, bidirectional and zero-width characters escaped, fit for a terminal.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    exo_setup_core::validate::escape_unsafe(text)
}

/// An error, as the user reads it on standard error: `error[kind]: ` (the same in every
/// language, for scripts), the kind's catalogue text, who must act, then Microsoft's code and IDs
/// that support asks for.
pub fn print_error(e: &UiError) {
    let who = match e.actor {
        Actor::Admin => t!("cli.actor.admin"),
        Actor::User => t!("cli.actor.user"),
        Actor::Support => t!("cli.actor.support"),
    };
    eprintln!("error[{}]: {}", e.kind, text::error(e));
    eprintln!("  {}", t!("cli.error.whoMustAct", actor = who));
    for (k, v) in &e.detail {
        let label = match k.as_str() {
            "code" => t!("error.code"),
            "traceId" => t!("error.traceId"),
            "correlationId" => t!("error.correlationId"),
            "timestamp" => t!("error.timestamp"),
            _ => continue,
        };
        eprintln!("  {label}: {}", shown(v));
    }
}

/// `v` as pretty JSON on standard output; exit code 0.
pub fn json_out<T: serde::Serialize>(v: &T) -> Result<u8, UiError> {
    println!("{}", json_text(v, true));
    Ok(0)
}

/// `v` as JSON text (pretty or on one line) with no raw bidirectional or zero-width character.
pub fn json_text<T: serde::Serialize>(v: &T, pretty: bool) -> String {
    // serde_json escapes control characters inside strings (the line breaks left are its own)
    // but writes bidirectional and zero-width ones raw; those can only be inside strings, where
    // `\uXXXX` means the same.
    let json = if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) };
    let json = json.expect("serializable");
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        if !c.is_control() && exo_setup_core::validate::unsafe_char(c).is_some() {
            safe.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            safe.push(c);
        }
    }
    safe
}

/// Asks `question` (ending in its `[y/N] `) on the terminal (standard error); true for yes. Without a terminal on
/// standard input it asks nothing: `confirmation_required` (exit 8) with `no_terminal` as the
/// message, so a script learns it needs `--yes`.
pub fn confirm(question: &str, no_terminal: &str) -> Result<bool, UiError> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(UiError::new(ErrorKind::ConfirmationRequired, Actor::User, no_terminal));
    }
    eprint!("{question}");
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// One line per problem, on standard error: line, column and value (as read, escaped), the
/// reason in the run's language and its code.
pub fn print_row_errors(errors: &[ImportRowError]) {
    for r in errors {
        let mut params = BTreeMap::from([
            ("line".to_owned(), r.line.to_string()),
            ("text".to_owned(), text::row_reason(r)),
            ("reason".to_owned(), shown(&r.reason).into_owned()),
        ]);
        let value = r.value.as_deref().filter(|v| !v.is_empty());
        let key = match (&r.column, value) {
            (Some(column), value) => {
                params.insert("column".to_owned(), shown(column).into_owned());
                match value {
                    Some(value) => {
                        params.insert("value".to_owned(), shown(value).into_owned());
                        "cli.csv.rowValue"
                    }
                    None => "cli.csv.row",
                }
            }
            (None, _) => "cli.csv.rowNoColumn",
        };
        eprintln!("{}", text::fill(key, &params));
    }
}

/// Flushes standard output; a closed pipe or a full disk is `output_failed` (`what`: the output,
/// the token, the CSV).
pub fn flushed(out: &mut impl Write, what: &str) -> Result<(), UiError> {
    out.flush().map_err(|e| output_failed(what, e))
}

/// `output_failed`: standard output could not be written.
pub fn output_failed(what: &str, e: impl std::fmt::Display) -> UiError {
    UiError::new(ErrorKind::OutputFailed, Actor::User, format!("{what} could not be written: {e}"))
}
