//! CSV import and export of mail accounts (step 2, thousands of users at a time).
//!
//! Files come from spreadsheets, so the importer accepts what they write: UTF-8 with or without
//! a BOM, Shift_JIS (what Japanese Excel saves as "CSV"), UTF-16 with a BOM (Excel's "Unicode
//! text", tab-separated), English or Japanese column headers in any order. Every problem is
//! reported with its line, column and reason, and nothing is written unless the admin chose
//! "valid rows only" — then the valid rows go in one transaction and the rest are listed.
//! Preview and import run the same checks, so the preview never promises what import refuses.
//!
//! Nothing is lost without a word: every row read is either valid or reported (a malformed
//! record too — a wrong number of fields, bytes that are not text, every line an unclosed quote
//! swallowed), and the counts are of rows, so rows read = rows imported + rows reported. The
//! file is read as a stream ([`stream`]) with limits on rows and on each record, never whole,
//! and each row goes to the import pipeline ([`crate::import`]) as soon as it is checked, so
//! memory stays flat whatever the file's size (duplicates, the comparison with the store, the
//! counts and the error list are SQL over the staged rows).
//! Every CSV the app writes goes through [`formula_safe_cell`], which the importer undoes.

use crate::DetailKey;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use rusqlite::Connection;
use serde_json::json;

use crate::accounts::ValidAccount;
use crate::error::{Actor, ErrorKind, UiError};
use crate::import::{self, row_error, Staged, Staging};
use crate::model::{ImportMode, ImportOutcome, ImportPreview, ImportRowError, ReceiveProtocol};
use crate::org::sql;
use crate::store::{audit, Store};

mod stream;

/// Most accounts in one file: every row below Excel's last line. Memory does not grow with the
/// rows (they are staged in SQLite), so this is not a memory bound; it keeps counts and line
/// numbers within what a spreadsheet can show.
pub const MAX_ROWS: u32 = (MAX_LINES - 1) as u32;
/// Most lines in one file, blank ones included: Excel's row limit, so no spreadsheet is refused.
pub const MAX_LINES: u64 = 1_048_576;
/// Longest record (one row, or the lines an unclosed quote swallows): 6 fields of at most 256
/// characters are far below it.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// Largest CSV taken whole from memory ([`preview`], [`import`]): the wizard's web view reads the
/// file before Rust sees it, so there the bound has to be in bytes. Above 1,000,000 rows with
/// Japanese names (about 70 MB); a file named by path ([`preview_from`]) is streamed instead.
pub const MAX_IN_MEMORY_BYTES: usize = 128 * 1024 * 1024;
/// Rows shown in a preview.
pub const PREVIEW_ROWS: usize = 500;
/// The CSV parser's read-ahead, allowed on top of [`MAX_RECORD_BYTES`].
const PARSER_BUFFER: usize = 8 * 1024;

/// The columns, in export order, with the header names accepted for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    LoginName,
    DisplayName,
    MailAddress,
    ReceiveProtocol,
    Server,
    AccountName,
}

const COLUMNS: [(Column, &str, &[&str]); 6] = [
    (Column::LoginName, "login_name", &["login_name", "login", "loginname", "user", "ログイン名", "ユーザー名"]),
    (Column::DisplayName, "display_name", &["display_name", "user_display_name", "name", "表示名", "氏名", "名前"]),
    (
        Column::MailAddress,
        "mail_address",
        &["mail_address", "address", "email", "e-mail", "mail", "email_address", "メールアドレス"],
    ),
    (Column::ReceiveProtocol, "receive_protocol", &["receive_protocol", "protocol", "受信プロトコル", "受信方式"]),
    (Column::Server, "server", &["server", "mail_server", "メールサーバー", "メールサーバ"]),
    (
        Column::AccountName,
        "account_name",
        &["account_name", "account_display_name", "アカウント名", "アカウント表示名"],
    ),
];

fn column_for(header: &str) -> Option<Column> {
    let h = header.trim().trim_start_matches('\u{feff}').to_lowercase().replace([' ', '-'], "_");
    let h = if h == "e_mail" { "e-mail".to_owned() } else { h };
    COLUMNS.iter().find(|(_, _, names)| names.iter().any(|n| *n == h)).map(|(c, _, _)| *c)
}

/// Text encodings of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportEncoding {
    /// UTF-8 with a BOM, so that Excel shows Japanese correctly.
    Utf8Bom,
    Utf8,
    ShiftJis,
}

fn read_failure(e: csv::Error, line: u64) -> UiError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.get_ref().is_some_and(|inner| inner.is::<stream::RecordTooLong>()) {
            return UiError::new(
                ErrorKind::CsvRecordTooLong,
                Actor::Admin,
                format!("Line {line} starts a record longer than {} KB: a quote opened there is probably never closed, or this is not a CSV file. Nothing was imported.", MAX_RECORD_BYTES / 1024),
            )
            .with(DetailKey::Line, line)
            .with(DetailKey::Limit, format!("{} KB", MAX_RECORD_BYTES / 1024));
        }
        return UiError::new(ErrorKind::FileUnreadable, Actor::Admin, format!("The file could not be read: {io}"))
            .with(DetailKey::Error, io);
    }
    UiError::new(ErrorKind::CsvMalformed, Actor::Admin, format!("Line {line} could not be read: {e}"))
        .with(DetailKey::Line, line)
        .with(DetailKey::Reason, e.to_string())
}

fn too_many_rows(line: u64) -> UiError {
    UiError::new(
        ErrorKind::CsvTooManyRows,
        Actor::Admin,
        format!("The file has more than {MAX_ROWS} accounts (or {MAX_LINES} lines); reading stopped at line {line} and nothing was imported. Split it into several files."),
    )
    .with(DetailKey::Limit, MAX_ROWS)
    .with(DetailKey::Line, line)
}

/// The header line read: column index → column, and each column's header as the admin wrote it.
type Header = (Vec<Option<Column>>, HashMap<Column, String>);

/// Reads the header line: column index → column, with each header as the admin wrote it.
fn read_header(headers: &csv::StringRecord) -> Result<Header, UiError> {
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(UiError::new(
            ErrorKind::CsvEmpty,
            Actor::Admin,
            "The file is empty. The first line must name the columns, e.g. login_name,display_name,mail_address.",
        ));
    }
    let mut columns: Vec<Option<Column>> = Vec::with_capacity(headers.len());
    let mut seen: HashMap<Column, String> = HashMap::new();
    for h in headers.iter() {
        if h.trim().is_empty() {
            columns.push(None);
            continue;
        }
        let c = column_for(h).ok_or_else(|| {
            UiError::new(ErrorKind::CsvUnknownColumn, Actor::Admin, format!("Unknown column '{h}'. Known columns: login_name, display_name, mail_address, receive_protocol, server, account_name."))
                .with(DetailKey::Column, h)
        })?;
        if seen.insert(c, h.to_owned()).is_some() {
            return Err(UiError::new(
                ErrorKind::CsvMalformed,
                Actor::Admin,
                format!("The column '{h}' appears twice in the header."),
            )
            .with(DetailKey::Line, 1)
            .with(DetailKey::Reason, format!("duplicate column {h}")));
        }
        columns.push(Some(c));
    }
    for required in [Column::LoginName, Column::MailAddress] {
        if !seen.contains_key(&required) {
            let name = COLUMNS.iter().find(|(c, _, _)| *c == required).map(|(_, n, _)| *n).unwrap_or_default();
            return Err(UiError::new(
                ErrorKind::CsvMissingColumn,
                Actor::Admin,
                format!("The required column '{name}' is missing from the header line."),
            )
            .with(DetailKey::Column, name));
        }
    }
    Ok((columns, seen))
}

/// Parses and checks every row as it is read, staging it for the import pipeline; nothing is
/// written to the store. Every row read ends up either staged valid or, with one or more errors,
/// counted as rejected with its errors staged.
fn stage<'c>(conn: &'c Connection, mut input: impl Read) -> Result<(Staged<'c>, &'static str), UiError> {
    let sniffed = stream::sniff(&mut input)?;
    let encoding = sniffed.name;
    let head = sniffed.head_text();
    let first_line = head.lines().next().unwrap_or("");
    let delimiter = if first_line.contains('\t') && !first_line.contains(',') { b'\t' } else { b',' };
    drop(head);
    let (tracked, tracking) = stream::Tracked::new(stream::Decoding::new(sniffed, input));
    let record_limit = MAX_RECORD_BYTES + PARSER_BUFFER as u64;
    tracking.borrow_mut().record_starts(0, record_limit);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .buffer_capacity(PARSER_BUFFER)
        .from_reader(tracked);
    let headers = reader.headers().map_err(|e| read_failure(e, 1))?.clone();
    let (columns, seen) = read_header(&headers)?;
    let header_of = |c: Column| seen.get(&c).cloned().unwrap_or_default();

    let servers: HashMap<String, (i64, String, bool)> = crate::org::servers(conn)
        .map_err(sql)?
        .into_iter()
        .map(|s| (s.name.to_lowercase(), (s.id, s.name, s.enabled)))
        .collect();
    let rows = RowChecker { columns: &columns, header_of: &header_of, servers: &servers, encoding };
    let mut staging = Staging::begin(conn, &header_of(Column::MailAddress))?;
    // One row's errors at a time (a row has at most one per column).
    let mut errors: Vec<ImportRowError> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte();
        tracking.borrow_mut().record_starts(start, record_limit);
        let start_line = || tracking.borrow().line_at(start);
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // `start` may be the line break before the record (CRLF, blank lines).
                let line = start_line() + u64::from(tracking.borrow().is_newline(start));
                return Err(read_failure(e, line));
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank lines and Excel's ",,,,," rows
        }
        // Lines from the record's end: its position may point at blank lines skipped before it.
        let end = reader.position().byte();
        let last_line = tracking.borrow().line_at(end.saturating_sub(1));
        let breaks: u64 = record.iter().map(|f| f.bytes().filter(|b| *b == b'\n').count() as u64).sum();
        // A last field ending in a line break ran to the end of the file inside a quote.
        let ran_to_end = record.iter().next_back().is_some_and(|f| f.ends_with('\n'));
        let first_line = last_line.saturating_sub(breaks) + u64::from(ran_to_end);
        if last_line > MAX_LINES {
            return Err(too_many_rows(last_line));
        }
        let (first, last) = (first_line as u32, last_line.max(first_line) as u32);
        let read = last - first + 1;
        if u64::from(staging.total_rows()) + u64::from(read) > u64::from(MAX_ROWS) {
            return Err(too_many_rows(last_line));
        }
        errors.clear();
        let checked = if first < last {
            rows.swallowed_lines(first, last, &mut errors);
            None
        } else {
            rows.check(first, &record, &mut errors)
        };
        match checked {
            Some((account, server_id)) if errors.is_empty() => staging.row(first, &account, server_id)?,
            _ => staging.rejected(read, &errors)?,
        }
    }
    if staging.total_rows() == 0 {
        return Err(UiError::new(ErrorKind::CsvEmpty, Actor::Admin, "The file has a header line but no accounts."));
    }
    Ok((staging.finish()?, encoding))
}

/// Checks one row on its own against the header and the servers; what depends on other rows or
/// on the accounts in the store is the pipeline's SQL ([`crate::import`]).
struct RowChecker<'a> {
    columns: &'a [Option<Column>],
    header_of: &'a dyn Fn(Column) -> String,
    servers: &'a HashMap<String, (i64, String, bool)>,
    encoding: &'static str,
}

impl RowChecker<'_> {
    /// A record over several lines: names never hold line breaks, so a quote was left open on
    /// `first` and swallowed the lines up to `last`. Each line is reported, so none is lost
    /// without a word.
    fn swallowed_lines(&self, first: u32, last: u32, errors: &mut Vec<ImportRowError>) {
        errors.push(row_error(
            first,
            None,
            "unclosed_quote",
            format!("Line {first}: a quote (\") opened on this line is not closed before line {last}, so lines {first}–{last} were read as one field. Close or remove the quote."),
            None,
        ));
        for line in first + 1..=last {
            let mut e = row_error(
                line,
                None,
                "in_unclosed_quote",
                format!("Line {line} was read as part of the quoted field opened on line {first}, not as a row."),
                None,
            );
            e.detail.insert(DetailKey::QuoteLine, first.to_string());
            errors.push(e);
        }
    }

    fn check(
        &self,
        line: u32,
        record: &csv::StringRecord,
        errors: &mut Vec<ImportRowError>,
    ) -> Option<(ValidAccount, i64)> {
        let header_of = self.header_of;
        if record.len() != self.columns.len() {
            let mut e = row_error(
                line,
                None,
                "field_count",
                format!("Line {line} has {} fields but the header has {}.", record.len(), self.columns.len()),
                None,
            );
            e.detail.insert(DetailKey::Fields, record.len().to_string());
            e.detail.insert(DetailKey::Expected, self.columns.len().to_string());
            errors.push(e);
            return None;
        }
        if record.iter().any(|f| f.contains('\u{fffd}')) {
            let mut e = row_error(
                line,
                None,
                "undecodable",
                format!("Line {line} has bytes that are not {} text; the file may mix encodings. Save it again as \"CSV UTF-8\".", self.encoding),
                None,
            );
            e.detail.insert(DetailKey::Encoding, self.encoding.to_owned());
            errors.push(e);
            return None;
        }
        let mut fields: [&str; COLUMNS.len()] = [""; COLUMNS.len()];
        for (i, value) in record.iter().enumerate() {
            if let Some(Some(c)) = self.columns.get(i) {
                fields[*c as usize] = formula_unsafe_cell(value);
            }
        }
        let get = |c: Column| fields[c as usize];
        let errors_before = errors.len();
        let protocol = match get(Column::ReceiveProtocol).trim() {
            "" => Some(ReceiveProtocol::Imap),
            p => ReceiveProtocol::parse(p),
        };
        if protocol.is_none() {
            let v = get(Column::ReceiveProtocol);
            errors.push(row_error(
                line,
                Some(&header_of(Column::ReceiveProtocol)),
                "invalid_protocol",
                format!("Line {line}: '{v}' is not a receive protocol (IMAP or POP3)."),
                Some(v),
            ));
        }
        let server_name = match get(Column::Server).trim() {
            "" => "Exchange Online",
            s => s,
        };
        let server = self.servers.get(&server_name.to_lowercase());
        match server {
            None => errors.push(row_error(
                line,
                Some(&header_of(Column::Server)),
                "unknown_server",
                format!("Line {line}: there is no mail server named '{server_name}'."),
                Some(server_name),
            )),
            Some((_, name, false)) => errors.push(row_error(
                line,
                Some(&header_of(Column::Server)),
                "server_disabled",
                format!("Line {line}: the mail server '{name}' is not in use; turn it on in step 1."),
                Some(name),
            )),
            Some(_) => {}
        }
        let protocol = protocol.unwrap_or(ReceiveProtocol::Imap);
        let valid = field_errors(&fields, protocol, line, header_of, errors);
        if errors.len() > errors_before {
            return None;
        }
        let (Some(v), Some((server_id, _, _))) = (valid, server) else { return None };
        Some((v, *server_id))
    }
}

/// Validates the syntax of each field, pushing one error per bad field.
///
/// `fields` are the row's cells by [`Column`], borrowed from the record: only what passes is
/// copied (into the [`ValidAccount`]).
fn field_errors(
    fields: &[&str; COLUMNS.len()],
    receive_protocol: ReceiveProtocol,
    line: u32,
    header_of: &dyn Fn(Column) -> String,
    errors: &mut Vec<ImportRowError>,
) -> Option<ValidAccount> {
    let get = |c: Column| fields[c as usize];
    let mut push = |c: Column, e: UiError, value: &str| {
        let reason = match e.kind {
            ErrorKind::LoginNameRequired | ErrorKind::AddressRequired => "required",
            ErrorKind::AddressInvalid => "invalid_address",
            ErrorKind::DisplayNameTooLong | ErrorKind::LoginNameInvalid => "too_long",
            ErrorKind::TextUnsafeCharacter => "unsafe_character",
            other => other.as_str(),
        };
        let mut row = row_error(line, Some(&header_of(c)), reason, format!("Line {line}: {}", e.message), Some(value));
        row.detail.extend(e.detail);
        errors.push(row);
    };
    let login_name = crate::validate::login_name(get(Column::LoginName))
        .map_err(|e| push(Column::LoginName, e, get(Column::LoginName)))
        .ok();
    let address = crate::validate::address(get(Column::MailAddress))
        .map_err(|e| push(Column::MailAddress, e, get(Column::MailAddress)))
        .ok();
    let user_display_name = crate::validate::display_name(get(Column::DisplayName))
        .map_err(|e| push(Column::DisplayName, e, get(Column::DisplayName)))
        .ok();
    let display_name = crate::validate::display_name(get(Column::AccountName))
        .map_err(|e| push(Column::AccountName, e, get(Column::AccountName)))
        .ok();
    let (Some(login_name), Some(address), Some(user_display_name), Some(display_name)) =
        (login_name, address, user_display_name, display_name)
    else {
        return None;
    };
    // The same defaults as a single add (accounts::validate_fields).
    let user_display_name = if user_display_name.is_empty() { login_name.clone() } else { user_display_name };
    let display_name = if display_name.is_empty() { user_display_name.clone() } else { display_name };
    Some(ValidAccount { login_name, user_display_name, address, display_name, receive_protocol })
}

/// Reads a CSV and tells what importing it would do, without writing anything.
pub fn preview(store: &Store, bytes: &[u8]) -> Result<ImportPreview, UiError> {
    preview_from(store, in_memory(bytes)?)
}

fn in_memory(bytes: &[u8]) -> Result<&[u8], UiError> {
    if bytes.len() <= MAX_IN_MEMORY_BYTES {
        return Ok(bytes);
    }
    let limit = format!("{} MB", MAX_IN_MEMORY_BYTES / 1024 / 1024);
    Err(UiError::new(
        ErrorKind::CsvTooLarge,
        Actor::Admin,
        format!("The file is larger than {limit}; nothing was read. Split it into several files."),
    )
    .with(DetailKey::Limit, limit))
}

/// [`preview`] of a stream (a file opened by the caller), read once and never whole.
pub fn preview_from(store: &Store, input: impl Read) -> Result<ImportPreview, UiError> {
    preview_with(store, input, None)
}

/// [`preview_from`] that also hands every row error, in line order, to `each_error` (the CLI
/// prints them all; the preview keeps the first [`import::ERRORS_SHOWN`]).
pub fn preview_streaming(
    store: &Store,
    input: impl Read,
    mut each_error: impl FnMut(ImportRowError),
) -> Result<ImportPreview, UiError> {
    preview_with(store, input, Some(&mut each_error))
}

fn preview_with(
    store: &Store,
    input: impl Read,
    each_error: Option<&mut dyn FnMut(ImportRowError)>,
) -> Result<ImportPreview, UiError> {
    let conn = store.conn();
    let (staged, encoding) = stage(&conn, input)?;
    staged.compare()?;
    if let Some(f) = each_error {
        staged.for_each_error(f)?;
    }
    let s = staged.summary()?;
    Ok(ImportPreview {
        encoding: encoding.to_owned(),
        total_rows: s.total_rows,
        valid_rows: s.valid_rows,
        rejected_rows: s.rejected_rows,
        creates: s.creates,
        updates: s.updates,
        unchanged: s.unchanged,
        error_count: s.error_count,
        errors: if s.error_count == 0 { Vec::new() } else { staged.errors(import::ERRORS_SHOWN)? },
        rows: staged.rows(PREVIEW_ROWS as u32)?,
    })
}

/// Imports a CSV. With [`ImportMode::AllOrNothing`] any bad row rejects the whole file
/// (`csv_rejected`) and nothing is written; with [`ImportMode::ValidRowsOnly`] the valid rows are
/// written in one transaction and the bad ones are returned.
pub fn import(store: &Store, bytes: &[u8], mode: ImportMode) -> Result<ImportOutcome, UiError> {
    import_from(store, in_memory(bytes)?, mode)
}

/// [`import`] of a stream (a file opened by the caller), read once and never whole.
pub fn import_from(store: &Store, input: impl Read, mode: ImportMode) -> Result<ImportOutcome, UiError> {
    import_with(store, input, mode, None)
}

/// [`import_from`] that also hands every row error, in line order, to `each_error` before
/// anything is written (or the file is refused); the outcome keeps the first
/// [`import::ERRORS_SHOWN`].
pub fn import_streaming(
    store: &Store,
    input: impl Read,
    mode: ImportMode,
    mut each_error: impl FnMut(ImportRowError),
) -> Result<ImportOutcome, UiError> {
    import_with(store, input, mode, Some(&mut each_error))
}

fn import_with(
    store: &Store,
    input: impl Read,
    mode: ImportMode,
    each_error: Option<&mut dyn FnMut(ImportRowError)>,
) -> Result<ImportOutcome, UiError> {
    let conn = store.conn();
    let (staged, encoding) = stage(&conn, input)?;
    if let Some(f) = each_error {
        // The apply compares again inside its transaction; this one is for the list.
        staged.compare()?;
        staged.for_each_error(f)?;
    }
    let applied = staged.apply(mode, |tx, a| {
        audit(
            tx,
            "csv.import",
            &format!("{} rows", a.total_rows),
            json!({ "mode": mode, "encoding": encoding, "created": a.created, "updated": a.updated, "unchanged": a.unchanged, "skipped": a.skipped }),
        )
        .map_err(sql)?;
        crate::fault::point("csv.before_commit");
        Ok(())
    })?;
    let a = match applied {
        Ok(a) => a,
        Err(s) => {
            let first = staged.errors(1)?.into_iter().next().map(|e| (e.message, e.line)).unwrap_or_default();
            return Err(UiError::new(
                ErrorKind::CsvRejected,
                Actor::Admin,
                format!("Nothing was imported: {} of {} rows have errors (first: {}). Fix them, or choose to import the valid rows only.", s.rejected_rows, s.total_rows, first.0),
            )
            .with(DetailKey::Errors, s.rejected_rows)
            .with(DetailKey::Rows, s.total_rows)
            .with(DetailKey::FirstLine, first.1));
        }
    };
    crate::fault::point("csv.after_commit");
    Ok(ImportOutcome {
        mode,
        total_rows: a.total_rows,
        created: a.created,
        updated: a.updated,
        unchanged: a.unchanged,
        skipped: a.skipped,
        error_count: a.error_count,
        errors: if a.error_count == 0 { Vec::new() } else { staged.errors(import::ERRORS_SHOWN)? },
    })
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as spreadsheet programs will not run it as a formula: one starting with `=`, `+`, `-`,
/// `@`, TAB or CR gets a leading `'` (OWASP's advice). Every CSV the app writes goes through it.
pub fn formula_safe_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The importer's inverse of [`formula_safe_cell`], so an export imports back unchanged.
fn formula_unsafe_cell(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) => rest,
        _ => s,
    }
}

/// Writes every account as CSV, in the importer's column order (so an export imports back
/// unchanged), every cell formula-safe.
pub fn export(conn: &Connection, encoding: ExportEncoding) -> Result<Vec<u8>, UiError> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let io = |e: csv::Error| {
        UiError::new(ErrorKind::Storage, Actor::Support, format!("CSV could not be written: {e}"))
            .with(DetailKey::Reason, e.to_string())
    };
    w.write_record(COLUMNS.iter().map(|(_, name, _)| *name)).map_err(io)?;
    let mut stmt = conn
        .prepare(
            "SELECT u.login_name, u.display_name, a.address, a.receive_protocol, s.name, a.display_name
             FROM mail_accounts a JOIN users u ON u.id = a.user_id JOIN mail_servers s ON s.id = a.server_id
             ORDER BY u.login_name COLLATE NOCASE, a.address",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let protocol: String = r.get(3).map_err(sql)?;
        let fields: [String; 6] = [
            r.get(0).map_err(sql)?,
            r.get(1).map_err(sql)?,
            r.get(2).map_err(sql)?,
            if protocol == "pop3" { "POP3".into() } else { "IMAP".into() },
            r.get(4).map_err(sql)?,
            r.get(5).map_err(sql)?,
        ];
        w.write_record(fields.iter().map(|f| formula_safe_cell(f).into_owned())).map_err(io)?;
    }
    let text = String::from_utf8(w.into_inner().map_err(|e| io(e.into_error().into()))?).expect("csv of UTF-8 strings");
    Ok(match encoding {
        ExportEncoding::Utf8 => text.into_bytes(),
        ExportEncoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        ExportEncoding::ShiftJis => {
            let (bytes, _, had_errors) = encoding_rs::SHIFT_JIS.encode(&text);
            if had_errors {
                return Err(UiError::new(
                    ErrorKind::CsvEncodingExport,
                    Actor::Admin,
                    "Some names contain characters that Shift_JIS cannot represent; export as UTF-8 instead.",
                ));
            }
            bytes.into_owned()
        }
    })
}

/// [`export`] written to `path` (created or replaced): what both the wizard's save dialog and
/// `exo-setup accounts export FILE` do.
pub fn export_to_file(conn: &Connection, encoding: ExportEncoding, path: &std::path::Path) -> Result<(), UiError> {
    let bytes = export(conn, encoding)?;
    std::fs::write(path, bytes).map_err(|e| write_failed(path, e))
}

/// `export_write`: a file the admin chose could not be written (the user must pick another place).
pub fn write_failed(path: &std::path::Path, e: impl std::fmt::Display) -> UiError {
    UiError::new(ErrorKind::ExportWrite, Actor::User, format!("{} could not be written: {e}", path.display()))
        .with(DetailKey::Path, path.display())
        .with(DetailKey::Reason, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_english_and_japanese() {
        assert_eq!(column_for("メールアドレス"), Some(Column::MailAddress));
        assert_eq!(column_for(" Login Name "), Some(Column::LoginName));
        assert_eq!(column_for("E-mail"), Some(Column::MailAddress));
        assert_eq!(column_for("\u{feff}login_name"), Some(Column::LoginName));
        assert_eq!(column_for("phone"), None);
    }

    #[test]
    fn formula_cells_are_neutralised_and_read_back() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("山田", "山田"),
            ("a=b", "a=b"),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(formula_safe_cell(cell), safe);
            assert_eq!(formula_unsafe_cell(safe), cell);
        }
    }
}
