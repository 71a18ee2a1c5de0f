//! CSV import and export of mail accounts (step 2, thousands of users at a time).
//!
//! Files come from spreadsheets, so the importer accepts what they write: UTF-8 with or without
//! a BOM, Shift_JIS (what Japanese Excel saves as "CSV"), UTF-16 with a BOM (Excel's "Unicode
//! text", tab-separated), English or Japanese column headers in any order. Every problem is
//! reported with its line, column and reason, and nothing is written unless the admin chose
//! "valid rows only" — then the valid rows go in one transaction and the rest are listed.
//! Preview and import run the same checks, so the preview never promises what import refuses.

use std::collections::HashMap;

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

/// Largest file accepted (about 200,000 rows).
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
/// Rows shown in a preview.
pub const PREVIEW_ROWS: usize = 500;

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

/// Decodes the file, returning the text and the encoding's name.
fn decode(bytes: &[u8]) -> Result<(String, &'static str), UiError> {
    if bytes.len() > MAX_BYTES {
        return Err(UiError::new(
            "csv_too_large",
            Actor::Admin,
            format!("The file is larger than {} MB; split it into several files.", MAX_BYTES / 1024 / 1024),
        )
        .with("limit", format!("{} MB", MAX_BYTES / 1024 / 1024)));
    }
    let bad = || {
        UiError::new("csv_encoding", Actor::Admin, "The file could not be read as UTF-8 or Shift_JIS text. Save it as \"CSV UTF-8\" or \"CSV (comma delimited)\" and try again.")
    };
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(bad());
        }
        let name = if enc == encoding_rs::UTF_8 {
            "UTF-8 (BOM)"
        } else if enc == encoding_rs::UTF_16LE {
            "UTF-16LE"
        } else {
            "UTF-16BE"
        };
        return Ok((text.into_owned(), name));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), "UTF-8"));
    }
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(bad());
    }
    Ok((text.into_owned(), "Shift_JIS"))
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
    rows: Vec<CheckedRow>,
    errors: Vec<ImportRowError>,
}

fn row_error(line: u32, column: Option<&str>, reason: &str, message: String, value: Option<&str>) -> ImportRowError {
    ImportRowError {
        line,
        column: column.map(str::to_owned),
        reason: reason.to_owned(),
        message,
        value: value.filter(|v| !v.is_empty()).map(|v| v.chars().take(200).collect()),
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

/// Parses and checks every row against the store, without writing.
fn check(conn: &Connection, bytes: &[u8]) -> Result<Checked, UiError> {
    let (text, encoding) = decode(bytes)?;
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains('\t') && !first_line.contains(',') { b'\t' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            UiError::new("csv_malformed", Actor::Admin, format!("The header line could not be read: {e}"))
                .with("line", 1)
                .with("reason", e.to_string())
        })?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(UiError::new(
            "csv_empty",
            Actor::Admin,
            "The file is empty. The first line must name the columns, e.g. login_name,display_name,mail_address.",
        ));
    }
    // Column index → column, with the header as the admin wrote it.
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

    // Line numbers from byte offsets: the csv crate's own line count is off by one after CRLF.
    let newlines: Vec<u64> = text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i as u64).collect();
    let line_at = |byte: u64| 1 + newlines.partition_point(|&n| n <= byte) as u32;
    let mut out = Checked { encoding, total_rows: 0, rows: Vec::new(), errors: Vec::new() };
    let mut first_line_of: HashMap<String, u32> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| line_at(p.byte())).unwrap_or(0);
                return Err(UiError::new("csv_malformed", Actor::Admin, format!("Line {line} could not be read: {e}"))
                    .with("line", line)
                    .with("reason", e.to_string()));
            }
        }
        let line = record.position().map(|p| line_at(p.byte())).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank lines and Excel's ",,,,," rows
        }
        out.total_rows += 1;
        if record.len() > columns.len() {
            out.errors.push(row_error(
                line,
                None,
                "field_count",
                format!("Line {line} has {} fields but the header has {}.", record.len(), columns.len()),
                None,
            ));
            continue;
        }
        let mut fields: [&str; COLUMNS.len()] = [""; COLUMNS.len()];
        for (i, value) in record.iter().enumerate() {
            if let Some(Some(c)) = columns.get(i) {
                fields[*c as usize] = value;
            }
        }
        let get = |c: Column| fields[c as usize];
        let errors_before = out.errors.len();
        let protocol = match get(Column::ReceiveProtocol).trim() {
            "" => Some(ReceiveProtocol::Imap),
            p => ReceiveProtocol::parse(p),
        };
        if protocol.is_none() {
            let v = get(Column::ReceiveProtocol);
            out.errors.push(row_error(
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
        let server = servers.get(&server_name.to_lowercase());
        match server {
            None => out.errors.push(row_error(
                line,
                Some(&header_of(Column::Server)),
                "unknown_server",
                format!("Line {line}: there is no mail server named '{server_name}'."),
                Some(server_name),
            )),
            Some((_, name, false)) => out.errors.push(row_error(
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
        let valid = field_errors(&input, line, &header_of, &mut out.errors);
        if out.errors.len() > errors_before {
            continue;
        }
        let (Some(v), Some((server_id, server_name, _))) = (valid, server) else { continue };
        if let Some(first) = first_line_of.get(&v.address) {
            let mut e = row_error(
                line,
                Some(&header_of(Column::MailAddress)),
                "duplicate_in_file",
                format!("Line {line}: {} already appears on line {first}.", v.address),
                Some(&v.address),
            );
            e.detail.insert("firstLine".into(), first.to_string());
            out.errors.push(e);
            continue;
        }
        first_line_of.insert(v.address.clone(), line);
        let (action, existing_id) = match existing.get(&v.address) {
            None => (ImportAction::Create, None),
            Some(e) if !e.login_name.eq_ignore_ascii_case(&v.login_name) => {
                out.errors.push(row_error(
                    line,
                    Some(&header_of(Column::MailAddress)),
                    "address_taken",
                    format!("Line {line}: {} is already registered to the user '{}'.", v.address, e.login_name),
                    Some(&v.address),
                ));
                continue;
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
        out.rows.push(CheckedRow {
            line,
            account: v,
            server_id: *server_id,
            server_name: server_name.clone(),
            action,
            existing_id,
        });
    }
    if out.total_rows == 0 {
        return Err(UiError::new("csv_empty", Actor::Admin, "The file has a header line but no accounts."));
    }
    Ok(out)
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
            other => other,
        };
        errors.push(row_error(line, Some(&header_of(c)), reason, format!("Line {line}: {}", e.message), Some(value)));
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
    let c = check(&store.conn(), bytes)?;
    let count = |a: ImportAction| c.rows.iter().filter(|r| r.action == a).count() as u32;
    Ok(ImportPreview {
        encoding: c.encoding.to_owned(),
        total_rows: c.total_rows,
        valid_rows: c.rows.len() as u32,
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
    let mut conn = store.conn();
    let c = check(&conn, bytes)?;
    if mode == ImportMode::AllOrNothing && !c.errors.is_empty() {
        let first = &c.errors[0];
        return Err(UiError::new(
            "csv_rejected",
            Actor::Admin,
            format!("Nothing was imported: {} row(s) have errors (first: {}). Fix them, or choose to import the valid rows only.", c.errors.len(), first.message),
        )
        .with("errors", c.errors.len())
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
        json!({ "mode": mode, "encoding": c.encoding, "created": created, "updated": updated, "unchanged": unchanged, "skipped": c.errors.len() }),
    )
    .map_err(sql)?;
    crate::fault::point("csv.before_commit");
    tx.commit().map_err(sql)?;
    crate::fault::point("csv.after_commit");
    Ok(ImportOutcome { mode, created, updated, unchanged, skipped: c.errors.len() as u32, errors: c.errors })
}

/// Writes every account as CSV, in the importer's column order (so an export imports back
/// unchanged).
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
        w.write_record(&fields).map_err(io)?;
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
    fn decodes_all_spreadsheet_encodings() {
        let text = "login_name,display_name\r\nyamada,山田 太郎\r\n";
        assert_eq!(decode(text.as_bytes()).unwrap(), (text.to_owned(), "UTF-8"));
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(decode(&bom).unwrap(), (text.to_owned(), "UTF-8 (BOM)"));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert_eq!(decode(&sjis).unwrap(), (text.to_owned(), "Shift_JIS"));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode(&utf16).unwrap(), (text.to_owned(), "UTF-16LE"));
        assert_eq!(decode(&[0x82, 0xA0, 0xFF, 0xFF]).unwrap_err().kind, "csv_encoding");
    }

    #[test]
    fn headers_in_english_and_japanese() {
        assert_eq!(column_for("メールアドレス"), Some(Column::MailAddress));
        assert_eq!(column_for(" Login Name "), Some(Column::LoginName));
        assert_eq!(column_for("E-mail"), Some(Column::MailAddress));
        assert_eq!(column_for("\u{feff}login_name"), Some(Column::LoginName));
        assert_eq!(column_for("phone"), None);
    }
}
