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
//! file is read as a stream ([`stream`]) with limits on rows and on each record, never whole.
//! Every CSV the app writes goes through [`formula_safe_cell`], which the importer undoes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use rusqlite::Connection;
use serde_json::json;

use crate::accounts::{self, ValidAccount};
use crate::error::{Actor, UiError};
use crate::model::{
    AccountInput, ImportAction, ImportMode, ImportOutcome, ImportPreview, ImportRowError, ImportRowPreview,
    ReceiveProtocol,
};
use crate::org::sql;
use crate::store::{audit, Store};

mod stream;

/// Every error kind this module (with [`crate::validate`]'s names) can send to the UI.
pub const CSV_ERROR_KINDS: &[&str] = &[
    "csv_empty",
    "csv_encoding",
    "csv_missing_column",
    "csv_unknown_column",
    "csv_malformed",
    "csv_rejected",
    "csv_too_many_rows",
    "csv_record_too_long",
    "csv_encoding_export",
    "csv_too_large",
    "text_unsafe_character",
    "file_unreadable",
    "storage",
];

/// Most accounts in one file: the checked rows stay in memory until the import's single
/// transaction, so this bounds memory (about 100 MB at most); split larger files.
pub const MAX_ROWS: u32 = 200_000;
/// Most lines in one file, blank ones included: Excel's row limit, so no spreadsheet is refused.
pub const MAX_LINES: u64 = 1_048_576;
/// Longest record (one row, or the lines an unclosed quote swallows): 6 fields of at most 256
/// characters are far below it.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// Largest CSV taken whole from memory ([`preview`], [`import`]): the wizard's web view reads the
/// file before Rust sees it, so there the bound has to be in bytes. Far above 200,000 real rows.
pub const MAX_IN_MEMORY_BYTES: usize = 64 * 1024 * 1024;
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

/// A row that passed every check, with what importing it does.
#[derive(Debug, Clone)]
struct CheckedRow {
    line: u32,
    account: ValidAccount,
    server_id: i64,
    server_name: String,
    action: ImportAction,
    existing_id: Option<i64>,
}

struct Checked {
    encoding: &'static str,
    total_rows: u32,
    /// Rows with one or more errors (a row may have several).
    rejected_rows: u32,
    rows: Vec<CheckedRow>,
    errors: Vec<ImportRowError>,
}

fn row_error(line: u32, column: Option<&str>, reason: &str, message: String, value: Option<&str>) -> ImportRowError {
    ImportRowError {
        line,
        column: column.map(str::to_owned),
        reason: reason.to_owned(),
        message,
        // Shown as read, but with invisible and control characters spelled out.
        value: value
            .filter(|v| !v.is_empty())
            .map(|v| crate::validate::escape_unsafe(&v.chars().take(200).collect::<String>()).into_owned()),
        detail: Default::default(),
    }
}

struct Existing {
    id: i64,
    login_name: String,
    user_display_name: String,
    display_name: String,
    receive_protocol: String,
    server_id: i64,
}

fn read_failure(e: csv::Error, line: u64) -> UiError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.get_ref().is_some_and(|inner| inner.is::<stream::RecordTooLong>()) {
            return UiError::new(
                "csv_record_too_long",
                Actor::Admin,
                format!("Line {line} starts a record longer than {} KB: a quote opened there is probably never closed, or this is not a CSV file. Nothing was imported.", MAX_RECORD_BYTES / 1024),
            )
            .with("line", line)
            .with("limit", format!("{} KB", MAX_RECORD_BYTES / 1024));
        }
        return UiError::new("file_unreadable", Actor::Admin, format!("The file could not be read: {io}"))
            .with("error", io);
    }
    UiError::new("csv_malformed", Actor::Admin, format!("Line {line} could not be read: {e}"))
        .with("line", line)
        .with("reason", e.to_string())
}

fn too_many_rows(line: u64) -> UiError {
    UiError::new(
        "csv_too_many_rows",
        Actor::Admin,
        format!("The file has more than {MAX_ROWS} accounts (or {MAX_LINES} lines); reading stopped at line {line} and nothing was imported. Split it into several files."),
    )
    .with("limit", MAX_ROWS)
    .with("line", line)
}

/// Reads the header line: column index → column, with each header as the admin wrote it.
fn read_header(headers: &csv::StringRecord) -> Result<(Vec<Option<Column>>, HashMap<Column, String>), UiError> {
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(UiError::new(
            "csv_empty",
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
            UiError::new("csv_unknown_column", Actor::Admin, format!("Unknown column '{h}'. Known columns: login_name, display_name, mail_address, receive_protocol, server, account_name."))
                .with("column", h)
        })?;
        if seen.insert(c, h.to_owned()).is_some() {
            return Err(UiError::new(
                "csv_malformed",
                Actor::Admin,
                format!("The column '{h}' appears twice in the header."),
            )
            .with("line", 1)
            .with("reason", format!("duplicate column {h}")));
        }
        columns.push(Some(c));
    }
    for required in [Column::LoginName, Column::MailAddress] {
        if !seen.contains_key(&required) {
            let name = COLUMNS.iter().find(|(c, _, _)| *c == required).map(|(_, n, _)| *n).unwrap_or_default();
            return Err(UiError::new(
                "csv_missing_column",
                Actor::Admin,
                format!("The required column '{name}' is missing from the header line."),
            )
            .with("column", name));
        }
    }
    Ok((columns, seen))
}

/// Parses and checks every row against the store, without writing. The file is read as a
/// stream; every row read ends up either in `rows` or, with one or more errors, in
/// `rejected_rows` (`total_rows = rows + rejected_rows`).
fn check(conn: &Connection, mut input: impl Read) -> Result<Checked, UiError> {
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
    let mut existing: HashMap<String, Existing> = HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT a.address, a.id, u.login_name, u.display_name, a.display_name, a.receive_protocol, a.server_id FROM mail_accounts a JOIN users u ON u.id = a.user_id")
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            existing.insert(
                r.get::<_, String>(0).map_err(sql)?.to_lowercase(),
                Existing {
                    id: r.get(1).map_err(sql)?,
                    login_name: r.get(2).map_err(sql)?,
                    user_display_name: r.get(3).map_err(sql)?,
                    display_name: r.get(4).map_err(sql)?,
                    receive_protocol: r.get(5).map_err(sql)?,
                    server_id: r.get(6).map_err(sql)?,
                },
            );
        }
    }

    let mut rows = RowChecker {
        columns: &columns,
        header_of: &header_of,
        servers: &servers,
        existing: &existing,
        first_line_of: HashMap::new(),
        encoding,
    };
    let mut out = Checked { encoding, total_rows: 0, rejected_rows: 0, rows: Vec::new(), errors: Vec::new() };
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
        let ran_to_end = record.iter().last().is_some_and(|f| f.ends_with('\n'));
        let first_line = last_line.saturating_sub(breaks) + u64::from(ran_to_end);
        if last_line > MAX_LINES {
            return Err(too_many_rows(last_line));
        }
        let (first, last) = (first_line as u32, last_line.max(first_line) as u32);
        let before = out.errors.len();
        let checked = if first < last {
            rows.swallowed_lines(first, last, &mut out.errors);
            None
        } else {
            rows.check(first, &record, &mut out.errors)
        };
        let read = last - first + 1;
        out.total_rows += read;
        if out.total_rows > MAX_ROWS {
            return Err(too_many_rows(last_line));
        }
        match checked {
            Some(row) if out.errors.len() == before => out.rows.push(row),
            _ => out.rejected_rows += read,
        }
    }
    if out.total_rows == 0 {
        return Err(UiError::new("csv_empty", Actor::Admin, "The file has a header line but no accounts."));
    }
    Ok(out)
}

/// Checks one row at a time against the header, the servers, the store and the rows before it.
struct RowChecker<'a> {
    columns: &'a [Option<Column>],
    header_of: &'a dyn Fn(Column) -> String,
    servers: &'a HashMap<String, (i64, String, bool)>,
    existing: &'a HashMap<String, Existing>,
    /// Addresses seen so far, with their line.
    first_line_of: HashMap<String, u32>,
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
            e.detail.insert("quoteLine".into(), first.to_string());
            errors.push(e);
        }
    }

    fn check(&mut self, line: u32, record: &csv::StringRecord, errors: &mut Vec<ImportRowError>) -> Option<CheckedRow> {
        let header_of = self.header_of;
        if record.len() != self.columns.len() {
            let mut e = row_error(
                line,
                None,
                "field_count",
                format!("Line {line} has {} fields but the header has {}.", record.len(), self.columns.len()),
                None,
            );
            e.detail.insert("fields".into(), record.len().to_string());
            e.detail.insert("expected".into(), self.columns.len().to_string());
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
            e.detail.insert("encoding".into(), self.encoding.to_owned());
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
        let input = AccountInput {
            login_name: get(Column::LoginName).to_owned(),
            user_display_name: get(Column::DisplayName).to_owned(),
            address: get(Column::MailAddress).to_owned(),
            display_name: get(Column::AccountName).to_owned(),
            receive_protocol: protocol.unwrap_or(ReceiveProtocol::Imap),
            server_id: server.map(|s| s.0).unwrap_or(0),
        };
        let valid = field_errors(&input, line, header_of, errors);
        if errors.len() > errors_before {
            return None;
        }
        let (Some(v), Some((server_id, server_name, _))) = (valid, server) else { return None };
        if let Some(first) = self.first_line_of.get(&v.address) {
            let mut e = row_error(
                line,
                Some(&header_of(Column::MailAddress)),
                "duplicate_in_file",
                format!("Line {line}: {} already appears on line {first}.", v.address),
                Some(&v.address),
            );
            e.detail.insert("firstLine".into(), first.to_string());
            errors.push(e);
            return None;
        }
        self.first_line_of.insert(v.address.clone(), line);
        let (action, existing_id) = match self.existing.get(&v.address) {
            None => (ImportAction::Create, None),
            Some(e) if !e.login_name.eq_ignore_ascii_case(&v.login_name) => {
                errors.push(row_error(
                    line,
                    Some(&header_of(Column::MailAddress)),
                    "address_taken",
                    format!("Line {line}: {} is already registered to the user '{}'.", v.address, e.login_name),
                    Some(&v.address),
                ));
                return None;
            }
            Some(e) => {
                let same = e.login_name == v.login_name
                    && e.user_display_name == v.user_display_name
                    && e.display_name == v.display_name
                    && e.receive_protocol == v.receive_protocol.as_str()
                    && e.server_id == *server_id;
                (if same { ImportAction::Unchanged } else { ImportAction::Update }, Some(e.id))
            }
        };
        Some(CheckedRow {
            line,
            account: v,
            server_id: *server_id,
            server_name: server_name.clone(),
            action,
            existing_id,
        })
    }
}

/// Validates the syntax of each field, pushing one error per bad field.
fn field_errors(
    input: &AccountInput,
    line: u32,
    header_of: &dyn Fn(Column) -> String,
    errors: &mut Vec<ImportRowError>,
) -> Option<ValidAccount> {
    let mut push = |c: Column, e: UiError, value: &str| {
        let reason = match e.kind.as_str() {
            "login_name_required" | "address_required" => "required",
            "address_invalid" => "invalid_address",
            "display_name_too_long" | "login_name_invalid" => "too_long",
            "text_unsafe_character" => "unsafe_character",
            other => other,
        };
        let mut row = row_error(line, Some(&header_of(c)), reason, format!("Line {line}: {}", e.message), Some(value));
        row.detail.extend(e.detail);
        errors.push(row);
    };
    let login_name =
        crate::validate::login_name(&input.login_name).map_err(|e| push(Column::LoginName, e, &input.login_name)).ok();
    let address =
        crate::validate::address(&input.address).map_err(|e| push(Column::MailAddress, e, &input.address)).ok();
    let user_display_name = crate::validate::display_name(&input.user_display_name)
        .map_err(|e| push(Column::DisplayName, e, &input.user_display_name))
        .ok();
    let display_name = crate::validate::display_name(&input.display_name)
        .map_err(|e| push(Column::AccountName, e, &input.display_name))
        .ok();
    let (Some(login_name), Some(address), Some(user_display_name), Some(display_name)) =
        (login_name, address, user_display_name, display_name)
    else {
        return None;
    };
    // The same defaults as a single add (accounts::validate_fields).
    let user_display_name = if user_display_name.is_empty() { login_name.clone() } else { user_display_name };
    let display_name = if display_name.is_empty() { user_display_name.clone() } else { display_name };
    Some(ValidAccount {
        login_name,
        user_display_name,
        address,
        display_name,
        receive_protocol: input.receive_protocol,
    })
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
        "csv_too_large",
        Actor::Admin,
        format!("The file is larger than {limit}; nothing was read. Split it into several files."),
    )
    .with("limit", limit))
}

/// [`preview`] of a stream (a file opened by the caller), read once and never whole.
pub fn preview_from(store: &Store, input: impl Read) -> Result<ImportPreview, UiError> {
    let c = check(&store.conn(), input)?;
    let count = |a: ImportAction| c.rows.iter().filter(|r| r.action == a).count() as u32;
    Ok(ImportPreview {
        encoding: c.encoding.to_owned(),
        total_rows: c.total_rows,
        valid_rows: c.rows.len() as u32,
        rejected_rows: c.rejected_rows,
        creates: count(ImportAction::Create),
        updates: count(ImportAction::Update),
        unchanged: count(ImportAction::Unchanged),
        rows: c
            .rows
            .iter()
            .take(PREVIEW_ROWS)
            .map(|r| ImportRowPreview {
                line: r.line,
                login_name: r.account.login_name.clone(),
                user_display_name: r.account.user_display_name.clone(),
                address: r.account.address.clone(),
                display_name: r.account.display_name.clone(),
                receive_protocol: r.account.receive_protocol,
                server_name: r.server_name.clone(),
                action: r.action,
            })
            .collect(),
        errors: c.errors,
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
    let mut conn = store.conn();
    let c = check(&conn, input)?;
    if mode == ImportMode::AllOrNothing && !c.errors.is_empty() {
        let first = &c.errors[0];
        return Err(UiError::new(
            "csv_rejected",
            Actor::Admin,
            format!("Nothing was imported: {} of {} rows have errors (first: {}). Fix them, or choose to import the valid rows only.", c.rejected_rows, c.total_rows, first.message),
        )
        .with("errors", c.rejected_rows)
        .with("rows", c.total_rows)
        .with("firstLine", first.line));
    }
    let tx = conn.transaction().map_err(sql)?;
    let ts = crate::store::now();
    // Users by login name (case-insensitive, as the UNIQUE index): one lookup table instead of
    // an upsert per row, so thousands of rows cost little more than plain inserts.
    let mut users: HashMap<String, (i64, String)> = HashMap::new();
    {
        let mut stmt = tx.prepare("SELECT id, login_name, display_name FROM users").map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            users.insert(
                r.get::<_, String>(1).map_err(sql)?.to_lowercase(),
                (r.get(0).map_err(sql)?, r.get(2).map_err(sql)?),
            );
        }
    }
    let (mut created, mut updated, mut unchanged) = (0u32, 0u32, 0u32);
    {
        // Statements prepared once for the whole file (a cache lookup per row costs more than
        // the inserts of small rows).
        let mut insert_user = tx
            .prepare("INSERT INTO users (login_name, display_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)")
            .map_err(sql)?;
        let mut update_user =
            tx.prepare("UPDATE users SET display_name = ?2, updated_at = ?3 WHERE id = ?1").map_err(sql)?;
        let mut insert_account = tx.prepare(accounts::INSERT_ACCOUNT).map_err(sql)?;
        let mut update_account = tx.prepare(accounts::UPDATE_ACCOUNT).map_err(sql)?;
        for r in c.rows.iter().filter(|r| r.action != ImportAction::Unchanged) {
            let a = &r.account;
            let user_id = match users.get_mut(&a.login_name.to_lowercase()) {
                Some((id, name)) => {
                    if *name != a.user_display_name {
                        update_user.execute(rusqlite::params![*id, a.user_display_name, ts]).map_err(sql)?;
                        name.clone_from(&a.user_display_name);
                    }
                    *id
                }
                None => {
                    let id =
                        insert_user.insert(rusqlite::params![a.login_name, a.user_display_name, ts]).map_err(sql)?;
                    users.insert(a.login_name.to_lowercase(), (id, a.user_display_name.clone()));
                    id
                }
            };
            let protocol = a.receive_protocol.as_str();
            match r.existing_id {
                None => {
                    insert_account
                        .execute(rusqlite::params![user_id, a.address, a.display_name, protocol, r.server_id, ts])
                        .map_err(sql)?;
                    created += 1;
                }
                Some(id) => {
                    update_account
                        .execute(rusqlite::params![id, user_id, a.address, a.display_name, protocol, r.server_id, ts])
                        .map_err(sql)?;
                    updated += 1;
                }
            }
        }
    }
    unchanged += c.rows.iter().filter(|r| r.action == ImportAction::Unchanged).count() as u32;
    audit(
        &tx,
        "csv.import",
        &format!("{} rows", c.total_rows),
        json!({ "mode": mode, "encoding": c.encoding, "created": created, "updated": updated, "unchanged": unchanged, "skipped": c.rejected_rows }),
    )
    .map_err(sql)?;
    crate::fault::point("csv.before_commit");
    tx.commit().map_err(sql)?;
    crate::fault::point("csv.after_commit");
    Ok(ImportOutcome {
        mode,
        total_rows: c.total_rows,
        created,
        updated,
        unchanged,
        skipped: c.rejected_rows,
        errors: c.errors,
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
        UiError::new("storage", Actor::Support, format!("CSV could not be written: {e}")).with("reason", e.to_string())
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
                    "csv_encoding_export",
                    Actor::Admin,
                    "Some names contain characters that Shift_JIS cannot represent; export as UTF-8 instead.",
                ));
            }
            bytes.into_owned()
        }
    })
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
