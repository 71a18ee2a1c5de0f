//! `exo-setup accounts list|add|delete|import|export`: step 2 — users' mail accounts, one at a
//! time or thousands through CSV.

use exo_setup_core::DetailKey;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use exo_setup_core::csv_io::{self, ExportEncoding};
use exo_setup_core::model::{AccountInput, ImportMode, ReceiveProtocol};
use exo_setup_core::{accounts, org, Actor, ErrorKind, Store, UiError};

use rust_i18n::t;

use crate::args::{AccountsCommand, CliEncoding};
use crate::output::{json_out, print_row_errors, shown};
use crate::{auth, block_on};

pub fn run(store: &Arc<Store>, command: AccountsCommand) -> Result<u8, UiError> {
    match command {
        AccountsCommand::List { search, json } => list(store, &search, json),
        AccountsCommand::Add { login, address, name, protocol, server } => {
            let receive_protocol = ReceiveProtocol::parse(&protocol).ok_or_else(|| {
                UiError::new(
                    ErrorKind::InvalidProtocol,
                    Actor::Admin,
                    format!("'{protocol}' is not a receive protocol (imap or pop3)."),
                )
            })?;
            let server_id = org::server_by_name(&store.conn(), &server)?.id;
            let input = AccountInput {
                login_name: login,
                user_display_name: name,
                address,
                display_name: String::new(),
                receive_protocol,
                server_id,
            };
            let a = accounts::add(store, &input)?;
            println!("{}", t!("cli.accounts.added", address = shown(&a.address), login = shown(&a.login_name)));
            Ok(0)
        }
        AccountsCommand::Delete { address } => {
            let a = accounts::find_by_address(&store.conn(), &address)?.ok_or_else(|| {
                UiError::new(ErrorKind::AccountNotFound, Actor::Admin, format!("There is no mail account {address}."))
                    .with(DetailKey::Address, &address)
            })?;
            block_on(auth(store).delete_account(a.id))?;
            println!("{}", t!("cli.accounts.deleted", address = shown(&a.address)));
            Ok(0)
        }
        AccountsCommand::Import { file, valid_rows_only, dry_run } => import(store, &file, valid_rows_only, dry_run),
        AccountsCommand::Export { file, encoding } => export(store, &file, encoding),
    }
}

/// Every matching account, the core paging through them with the same search.
fn list(store: &Store, search: &str, json: bool) -> Result<u8, UiError> {
    let all = accounts::list_all(&store.conn(), search, None)?;
    if json {
        return json_out(&all);
    }
    let mut out = std::io::stdout().lock();
    for a in &all {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            shown(&a.address),
            shown(&a.login_name),
            shown(&a.user_display_name),
            a.receive_protocol.as_str(),
            shown(&a.server_name),
            a.status.as_str()
        );
    }
    Ok(0)
}

/// Opens a CSV to import, a regular file only (a FIFO or a device is refused at once); it is then
/// read as a stream, never whole.
fn open_csv(file: &Path) -> Result<std::fs::File, UiError> {
    exo_setup_core::bounded::open_regular(file).map_err(|e| e.into_ui(Actor::Admin))
}

fn import(store: &Store, file: &Path, valid_rows_only: bool, dry_run: bool) -> Result<u8, UiError> {
    // Every bad row is printed as it comes out of the staging table, before anything is written
    // or the file refused; the outcome itself keeps only the first ones.
    let print = |e: exo_setup_core::model::ImportRowError| print_row_errors(std::slice::from_ref(&e));
    let errors = if dry_run {
        let p = csv_io::preview_streaming(store, open_csv(file)?, print)?;
        let line = t!(
            "cli.accounts.preview",
            encoding = p.encoding,
            total = p.total_rows,
            valid = p.valid_rows,
            creates = p.creates,
            updates = p.updates,
            unchanged = p.unchanged,
            rejected = p.rejected_rows
        );
        println!("{line}");
        p.error_count
    } else {
        let mode = if valid_rows_only { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
        let o = csv_io::import_streaming(store, open_csv(file)?, mode, print)?;
        let line = t!(
            "cli.accounts.imported",
            total = o.total_rows,
            created = o.created,
            updated = o.updated,
            unchanged = o.unchanged,
            skipped = o.skipped
        );
        println!("{line}");
        o.error_count
    };
    Ok(if errors == 0 {
        0
    } else if dry_run {
        3
    } else {
        6
    })
}

/// To FILE, or to standard output with `-`.
fn export(store: &Store, file: &Path, encoding: CliEncoding) -> Result<u8, UiError> {
    let enc = match encoding {
        CliEncoding::Utf8Bom => ExportEncoding::Utf8Bom,
        CliEncoding::Utf8 => ExportEncoding::Utf8,
        CliEncoding::ShiftJis => ExportEncoding::ShiftJis,
    };
    if file.as_os_str() != "-" {
        csv_io::export_to_file(&store.conn(), enc, file)?;
        return Ok(0);
    }
    let bytes = csv_io::export(&store.conn(), enc)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes).and_then(|_| out.flush()).map_err(|e| {
        UiError::new(ErrorKind::ExportWrite, Actor::User, format!("The CSV could not be written: {e}"))
            .with(DetailKey::Reason, e)
    })?;
    Ok(0)
}
