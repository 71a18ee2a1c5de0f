//! CSV import and export against a real SQLite file: encodings, per-row errors, the two import
//! modes, and that a rejected file leaves nothing behind.

mod common;

use common::{count, store, store_with_exchange_on};
use exo_setup_core::DetailKey;
use std::io::Read;

use exo_setup_core::csv_io::{self, ExportEncoding};
use exo_setup_core::model::{ImportAction, ImportMode};
use exo_setup_core::ErrorKind;

const GOOD: &str = "login_name,display_name,mail_address,receive_protocol,server,account_name\r\n\
yamada,山田 太郎,Taro@Contoso.example,IMAP,Exchange Online,\r\n\
sato,佐藤 花子,hanako@contoso.example,pop3,,花子（営業）\r\n\
yamada,山田 太郎,t.yamada@contoso.example,,,\r\n";

#[test]
fn shift_jis_file_with_japanese_headers_imports() {
    let t = store_with_exchange_on();
    let text = "ログイン名,表示名,メールアドレス,受信プロトコル\r\nsuzuki,鈴木 一郎,ichiro@contoso.example,POP3\r\n";
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
    let p = csv_io::preview(&t.store, &sjis).unwrap();
    assert_eq!((p.encoding.as_str(), p.valid_rows, p.errors.len()), ("Shift_JIS", 1, 0));
    assert_eq!(p.rows[0].user_display_name, "鈴木 一郎");
    let o = csv_io::import(&t.store, &sjis, ImportMode::AllOrNothing).unwrap();
    assert_eq!(o.created, 1);
    let name: String = t
        .store
        .conn()
        .query_row("SELECT display_name FROM users WHERE login_name = 'suzuki'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "鈴木 一郎");
}

#[test]
fn bom_and_defaults() {
    let t = store_with_exchange_on();
    let bytes = [b"\xEF\xBB\xBF".as_slice(), GOOD.as_bytes()].concat();
    let o = csv_io::import(&t.store, &bytes, ImportMode::AllOrNothing).unwrap();
    assert_eq!((o.created, o.updated, o.skipped), (3, 0, 0));
    // One user with two accounts, addresses lower-cased, account name defaulting to the user's.
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 2);
    let (addr, name, proto): (String, String, String) = t
        .store
        .conn()
        .query_row(
            "SELECT address, display_name, receive_protocol FROM mail_accounts WHERE address = 'taro@contoso.example'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((addr.as_str(), name.as_str(), proto.as_str()), ("taro@contoso.example", "山田 太郎", "imap"));
    assert_eq!(count(&t.store, "SELECT count(*) FROM audit_log WHERE action = 'csv.import'"), 1);
}

#[test]
fn per_row_errors_name_line_column_and_reason() {
    let t = store_with_exchange_on();
    let csv = "login_name,display_name,mail_address,receive_protocol,server\n\
ok1,OK,ok1@contoso.example,imap,\n\
bad1,Bad,not-an-address,imap,\n\
,NoLogin,nologin@contoso.example,imap,\n\
dup,Dup,ok1@contoso.example,imap,\n\
proto,Proto,proto@contoso.example,smtp,\n\
srv,Srv,srv@contoso.example,imap,Nowhere Server\n\
extra,Extra,extra@contoso.example,imap,,surplus\n";
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    let found: Vec<(u32, Option<&str>, &str)> =
        p.errors.iter().map(|e| (e.line, e.column.as_deref(), e.reason.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (3, Some("mail_address"), "invalid_address"),
            (4, Some("login_name"), "required"),
            (5, Some("mail_address"), "duplicate_in_file"),
            (6, Some("receive_protocol"), "invalid_protocol"),
            (7, Some("server"), "unknown_server"),
            (8, None, "field_count"),
        ]
    );
    assert_eq!(p.errors[2].detail.get(&DetailKey::FirstLine).map(String::as_str), Some("2"));
    assert_eq!((p.total_rows, p.valid_rows), (7, 1));
}

#[test]
fn all_or_nothing_rejects_and_writes_nothing() {
    let t = store_with_exchange_on();
    let csv = format!("{GOOD}bad,Bad,broken@,imap,,\r\n");
    let e = csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CsvRejected);
    assert_eq!(e.detail.get(&DetailKey::Errors).map(String::as_str), Some("1"));
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts"), 0);
    assert_eq!(count(&t.store, "SELECT count(*) FROM users"), 0);
    assert_eq!(count(&t.store, "SELECT count(*) FROM audit_log"), 0);
}

#[test]
fn valid_rows_only_imports_the_rest() {
    let t = store_with_exchange_on();
    let csv = format!("{GOOD}bad,Bad,broken@,imap,,\r\n");
    let o = csv_io::import(&t.store, csv.as_bytes(), ImportMode::ValidRowsOnly).unwrap();
    assert_eq!((o.created, o.skipped), (3, 1));
    assert_eq!(o.errors[0].line, 5);
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts"), 3);
}

#[test]
fn reimport_is_unchanged_and_changes_are_updates() {
    let t = store_with_exchange_on();
    csv_io::import(&t.store, GOOD.as_bytes(), ImportMode::AllOrNothing).unwrap();
    let again = csv_io::preview(&t.store, GOOD.as_bytes()).unwrap();
    assert_eq!((again.creates, again.updates, again.unchanged), (0, 0, 3));
    let changed = GOOD.replace("pop3,,花子（営業）", "imap,,花子（営業）");
    let p = csv_io::preview(&t.store, changed.as_bytes()).unwrap();
    assert_eq!(p.rows.iter().filter(|r| r.action == ImportAction::Update).count(), 1);
    // The same address under another login name is refused, not silently moved.
    let stolen = "login_name,mail_address\nthief,hanako@contoso.example\n";
    let p = csv_io::preview(&t.store, stolen.as_bytes()).unwrap();
    assert_eq!(p.errors[0].reason, "address_taken");
}

#[test]
fn disabled_server_refuses_rows() {
    let t = store(); // Exchange Online still OFF
    let p = csv_io::preview(&t.store, GOOD.as_bytes()).unwrap();
    assert_eq!(p.valid_rows, 0);
    assert!(p.errors.iter().all(|e| e.reason == "server_disabled"), "{:?}", p.errors);
}

#[test]
fn file_level_errors() {
    let t = store_with_exchange_on();
    assert_eq!(csv_io::preview(&t.store, b"").unwrap_err().kind, ErrorKind::CsvEmpty);
    assert_eq!(csv_io::preview(&t.store, b"login_name,mail_address\n").unwrap_err().kind, ErrorKind::CsvEmpty);
    let e = csv_io::preview(&t.store, b"login_name,display_name\nx,y\n").unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Column].as_str()), (ErrorKind::CsvMissingColumn, "mail_address"));
    let e = csv_io::preview(&t.store, b"login_name,mail_address,phone\nx,x@contoso.example,1\n").unwrap_err();
    assert_eq!((e.kind, e.detail[&DetailKey::Column].as_str()), (ErrorKind::CsvUnknownColumn, "phone"));
    assert_eq!(csv_io::preview(&t.store, &[0xFF, 0x00, 0x81, 0xFF, 0xFC]).unwrap_err().kind, ErrorKind::CsvEncoding);
}

#[test]
fn tab_separated_utf16_from_excel() {
    let t = store_with_exchange_on();
    let text = "login_name\tmail_address\r\nkato\tkato@contoso.example\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let o = csv_io::import(&t.store, &bytes, ImportMode::AllOrNothing).unwrap();
    assert_eq!(o.created, 1);
}

#[test]
fn export_round_trips_in_every_encoding() {
    let t = store_with_exchange_on();
    csv_io::import(&t.store, GOOD.as_bytes(), ImportMode::AllOrNothing).unwrap();
    for enc in [ExportEncoding::Utf8Bom, ExportEncoding::Utf8, ExportEncoding::ShiftJis] {
        let bytes = csv_io::export(&t.store.conn(), enc).unwrap();
        let p = csv_io::preview(&t.store, &bytes).unwrap();
        assert_eq!((p.unchanged, p.errors.len()), (3, 0), "{enc:?}");
    }
    let bytes = csv_io::export(&t.store.conn(), ExportEncoding::Utf8Bom).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFlogin_name,display_name,mail_address,receive_protocol,server,account_name\r\n")
    );
    // Into a fresh store: the same accounts.
    let fresh = store_with_exchange_on();
    let o = csv_io::import(&fresh.store, &bytes, ImportMode::AllOrNothing).unwrap();
    assert_eq!(o.created, 3);
}

/// Preview and import must account for every row: read = imported + reported.
fn assert_counts_add_up(t: &common::TempStore, bytes: &[u8]) {
    let p = csv_io::preview(&t.store, bytes).unwrap();
    assert_eq!(p.total_rows, p.valid_rows + p.rejected_rows, "preview: {p:?}");
    let mut reported: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    reported.dedup();
    assert_eq!(reported.len() as u32, p.rejected_rows, "one or more errors per rejected row: {:?}", p.errors);
    let o = csv_io::import(&t.store, bytes, ImportMode::ValidRowsOnly).unwrap();
    assert_eq!(o.total_rows, o.created + o.updated + o.unchanged + o.skipped, "import: {o:?}");
    assert_eq!((o.total_rows, o.skipped), (p.total_rows, p.rejected_rows));
}

#[test]
fn unclosed_quote_reports_every_line_it_swallowed() {
    let t = store_with_exchange_on();
    let mut csv = String::from("login_name,display_name,mail_address\n");
    csv.push_str("u1,One,u1@contoso.example\n");
    csv.push_str("u2,\"Two unclosed,u2@contoso.example\n"); // line 3: the quote never closes
    for i in 4..=10 {
        csv.push_str(&format!("u{i},N{i},u{i}@contoso.example\n"));
    }
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows), (9, 1, 8), "{:?}", p.errors);
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, (3..=10).collect::<Vec<u32>>());
    assert_eq!(p.errors[0].reason, "unclosed_quote");
    assert!(
        p.errors[1..]
            .iter()
            .all(|e| e.reason == "in_unclosed_quote"
                && e.detail.get(&DetailKey::QuoteLine).map(String::as_str) == Some("3")),
        "{:?}",
        p.errors
    );
    assert_counts_add_up(&t, csv.as_bytes());
    assert_eq!(count(&t.store, "SELECT count(*) FROM mail_accounts"), 1);
    // CRLF and blank lines do not shift the lines reported.
    let crlf = csv.replace("u1,One", "\r\n\r\nu1,One").replace('\n', "\r\n");
    let p = csv_io::preview(&store_with_exchange_on().store, crlf.as_bytes()).unwrap();
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, (5..=12).collect::<Vec<u32>>(), "{:?}", p.errors);
}

#[test]
fn wrong_field_counts_are_rows_reported_on_their_lines() {
    let t = store_with_exchange_on();
    let csv = "login_name,display_name,mail_address\n\
ok1,OK,ok1@contoso.example\n\
short,short@contoso.example\n\
long,Long,long@contoso.example,surplus\n\
ok2,OK,ok2@contoso.example\n\
bad,Bad,bad@\n";
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    let found: Vec<(u32, &str)> = p.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(found, vec![(3, "field_count"), (4, "field_count"), (6, "invalid_address")]);
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows), (5, 2, 3));
    assert_counts_add_up(&t, csv.as_bytes());
}

#[test]
fn rows_with_several_errors_count_once() {
    let t = store_with_exchange_on();
    let csv = "login_name,mail_address,receive_protocol\n,bad@,smtp\nok,ok@contoso.example,imap\n";
    let p = csv_io::preview(&t.store, csv.as_bytes()).unwrap();
    assert_eq!(p.errors.len(), 3);
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows), (2, 1, 1));
    assert_counts_add_up(&t, csv.as_bytes());
}

#[test]
fn undecodable_bytes_are_reported_on_their_line() {
    let t = store_with_exchange_on();
    // A BOM says UTF-8; line 3 has bytes that are not UTF-8 (a Shift_JIS name pasted in).
    let bytes = b"\xEF\xBB\xBFlogin_name,display_name,mail_address\nok,OK,ok@contoso.example\nbad,B\x82\xA0d,bad@contoso.example\n";
    let p = csv_io::preview(&t.store, bytes).unwrap();
    let found: Vec<(u32, &str)> = p.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(found, vec![(3, "undecodable")]);
    assert_eq!(p.errors[0].detail.get(&DetailKey::Encoding).map(String::as_str), Some("UTF-8 (BOM)"));
    assert_eq!((p.total_rows, p.valid_rows, p.rejected_rows), (2, 1, 1));
    assert_counts_add_up(&t, bytes);
    // Without a BOM, a start that is neither UTF-8 nor Shift_JIS refuses the whole file.
    let e = csv_io::preview(&t.store, b"login_name,mail_address\n\xFF\xFF,x@contoso.example\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::CsvEncoding);
}

#[test]
fn streamed_input_is_bounded_per_record_and_in_rows() {
    let t = store_with_exchange_on();
    // An endless record (no line break ever, as /dev/zero): refused at the record limit.
    let header = "login_name,mail_address\nx,".as_bytes();
    let endless = header.chain(std::io::repeat(b'a'));
    let e = csv_io::preview_from(&t.store, endless).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CsvRecordTooLong);
    assert_eq!(e.detail.get(&DetailKey::Line).map(String::as_str), Some("2"));
    // An unclosed quote near the top of a large file: the same, naming its line.
    let mut big = String::from("login_name,mail_address\nok,ok@contoso.example\nq,\"x\n");
    while big.len() < 2 * csv_io::MAX_RECORD_BYTES as usize {
        big.push_str("user,user@contoso.example\n");
    }
    let e = csv_io::preview(&t.store, big.as_bytes()).unwrap_err();
    assert_eq!((e.kind, e.detail.get(&DetailKey::Line).map(String::as_str)), (ErrorKind::CsvRecordTooLong, Some("3")));
    // Endless rows: refused past the row limit, without reading the rest.
    struct Rows(u64, Vec<u8>);
    impl std::io::Read for Rows {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                self.1 = format!("u{0},u{0}@contoso.example\n", self.0).into_bytes();
                self.0 += 1;
            }
            let n = self.1.len().min(buf.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }
    let e =
        csv_io::preview_from(&t.store, "login_name,mail_address\n".as_bytes().chain(Rows(0, Vec::new()))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CsvTooManyRows);
    assert_eq!(e.detail.get(&DetailKey::Limit).map(String::as_str), Some(csv_io::MAX_ROWS.to_string().as_str()));
}

#[test]
fn export_neutralises_formulas_and_imports_back_unchanged() {
    let t = store_with_exchange_on();
    let csv = "login_name,display_name,mail_address,account_name\n\
@evil,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",evil@contoso.example,+1 cmd\n\
-minus,-Minus,minus@contoso.example,\n";
    csv_io::import(&t.store, csv.as_bytes(), ImportMode::AllOrNothing).unwrap();
    let bytes = csv_io::export(&t.store.conn(), ExportEncoding::Utf8).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // No cell (after a line start or a comma, quoted or not) starts with a formula character.
    for line in text.lines() {
        for cell in std::iter::once(line).chain(line.match_indices(',').map(|(i, _)| &line[i + 1..])) {
            let cell = cell.strip_prefix('"').unwrap_or(cell);
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula cell {cell:?} in\n{text}");
        }
    }
    assert!(text.contains("'=HYPERLINK("), "{text}");
    assert!(text.contains("'@evil,") && text.contains("'-minus,'-Minus,"), "{text}");
    // What was exported reads back as the same accounts.
    let p = csv_io::preview(&t.store, &bytes).unwrap();
    assert_eq!((p.unchanged, p.errors.len()), (2, 0), "{:?}", p.errors);
}

#[test]
fn bytes_from_memory_are_bounded_before_parsing() {
    let t = store_with_exchange_on();
    let mut big = b"login_name,mail_address\n".to_vec();
    big.resize(csv_io::MAX_IN_MEMORY_BYTES + 1, b'a');
    for e in [
        csv_io::preview(&t.store, &big).unwrap_err(),
        csv_io::import(&t.store, &big, ImportMode::ValidRowsOnly).unwrap_err(),
    ] {
        assert_eq!((e.kind, e.detail[&DetailKey::Limit].as_str()), (ErrorKind::CsvTooLarge, "128 MB"));
    }
}
