//! The support bundle: one zip a user can attach to a ticket when something went wrong at their
//! desk — the recent logs (with their trace and correlation IDs), the versions, the settings and
//! the accounts' states — with every secret removed, so that nobody has to find and redact them by
//! hand. Both front ends call [`create`]: `exo-setup support-bundle` and the wizard's button.
//!
//! - [`gather`]: what the store, the managed policy and the OS say (reads only);
//! - [`logs`]: which log files, and only their recent part, read through [`crate::bounded`];
//! - [`redact`]: what is removed from every entry (tokens, authorization codes, state, nonce,
//!   PKCE verifier, the keychain's values, token-like strings; addresses kept or hashed);
//! - [`write`]: the zip, written atomically (temporary file in the target folder, then renamed),
//!   never over an existing file unless the caller chose to.
//!
//! The zip's entries: `README.txt` (what is in it and what was removed), `versions.json`,
//! `settings.json`, `accounts.json`, `audit.json`, and `logs/<file>` per log file.

pub mod gather;
pub mod logs;
pub mod redact;
pub mod write;

use std::path::{Path, PathBuf};

use crate::keychain::TokenStore;
use crate::model::SupportBundle;
use crate::{Store, UiError};

pub use redact::{AddressMode, Redactor};

/// What to bundle, and where to write it.
pub struct Request<'a> {
    pub store: &'a Store,
    /// The keychain, asked which accounts have a sign-in stored and for the values to remove;
    /// `None`: not asked (the patterns still remove token-like strings).
    pub keychain: Option<&'a dyn TokenStore>,
    /// The log files to carry (see [`logs::sources`]).
    pub log_files: Vec<PathBuf>,
    /// The zip to write.
    pub out: PathBuf,
    /// Replace `out` when it exists (a regular file only); otherwise an existing file is `export_exists`.
    pub overwrite: bool,
    /// Hash mail addresses (see [`AddressMode::Hash`]) instead of keeping them.
    pub hash_addresses: bool,
}

/// Gathers, scrubs and writes the bundle; returns where and what.
pub fn create(req: Request<'_>) -> Result<SupportBundle, UiError> {
    let now = chrono::Utc::now();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (accounts, secrets) = gather::accounts(req.store, req.keychain)?;
    let (versions, settings, audit) = {
        let conn = req.store.conn();
        (gather::versions(&conn, &stamp)?, gather::settings(&conn)?, gather::audit(&conn)?)
    };
    let mode = if req.hash_addresses { AddressMode::hashed() } else { AddressMode::Keep };
    let mut redactor = Redactor::new(secrets, mode);

    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in
        [("versions.json", versions), ("settings.json", settings), ("accounts.json", accounts), ("audit.json", audit)]
    {
        let text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
        entries.push((name.to_owned(), redactor.scrub(&text).into_bytes()));
    }
    let mut log_notes = Vec::new();
    for path in &req.log_files {
        match logs::bundle(path, &mut redactor) {
            logs::Bundled::Log { name, text, skipped, dropped_lines } => {
                let name = unique(&entries, name);
                let mut note = format!("- {name}: from {}", path.display());
                if skipped > 0 {
                    note.push_str(&format!(
                        " (its last {} bytes; {skipped} earlier bytes left out)",
                        logs::MAX_LOG_BYTES
                    ));
                }
                if dropped_lines > 0 {
                    note.push_str(&format!(" ({dropped_lines} mail protocol wire lines dropped)"));
                }
                log_notes.push(note);
                entries.push((name, text.into_bytes()));
            }
            logs::Bundled::Skipped { path, reason } => {
                log_notes.push(format!("- {} was not included: {reason}", path.display()));
            }
        }
    }
    let readme = readme(&stamp, &entries, &log_notes, &redactor);
    entries.insert(0, ("README.txt".to_owned(), readme.into_bytes()));

    let modified = zip_time(now);
    write::zip_to(&req.out, req.overwrite, &entries, modified)?;
    let redactions =
        redactor.counts().iter().filter(|(rule, _)| !rule.starts_with("mail address")).map(|(_, n)| *n).sum::<u64>();
    Ok(SupportBundle {
        path: req.out.display().to_string(),
        files: entries.into_iter().map(|(name, _)| name).collect(),
        addresses_hashed: req.hash_addresses,
        redactions: u32::try_from(redactions).unwrap_or(u32::MAX),
    })
}

/// The folder a bundle goes to when nobody chose one: the user's Downloads folder, else Documents,
/// else the home folder, else `fallback` (the data directory).
pub fn default_dir(fallback: &Path) -> PathBuf {
    directories::UserDirs::new()
        .and_then(|u| {
            u.download_dir()
                .or_else(|| u.document_dir())
                .map(Path::to_path_buf)
                .or_else(|| Some(u.home_dir().to_path_buf()))
        })
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| fallback.to_path_buf())
}

/// A name in `dir` that is free now: `exo-setup-support-YYYYMMDD-HHMMSS.zip` (local time), with
/// `-2`, `-3`, … when taken. (Writing never replaces one that appears meanwhile.)
pub fn default_path(dir: &Path) -> PathBuf {
    let stem = format!("exo-setup-support-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    (1..100)
        .map(|i| dir.join(if i == 1 { format!("{stem}.zip") } else { format!("{stem}-{i}.zip") }))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dir.join(format!("{stem}-{}.zip", uuid::Uuid::new_v4().simple())))
}

/// `name`, or `name` with a number when an entry already has it (two log files of one name).
fn unique(entries: &[(String, Vec<u8>)], name: String) -> String {
    if !entries.iter().any(|(n, _)| *n == name) {
        return name;
    }
    (2..).map(|i| format!("{name}.{i}")).find(|n| !entries.iter().any(|(e, _)| e == n)).expect("a free name")
}

fn zip_time(now: chrono::DateTime<chrono::Utc>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let local = now.with_timezone(&chrono::Local);
    zip::DateTime::from_date_and_time(
        local.year().clamp(1980, 2107) as u16,
        local.month() as u8,
        local.day() as u8,
        local.hour() as u8,
        local.minute() as u8,
        local.second() as u8,
    )
    .unwrap_or_default()
}

/// `README.txt`: what the bundle holds and what was removed from it.
fn readme(stamp: &str, entries: &[(String, Vec<u8>)], log_notes: &[String], r: &Redactor) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "exo-setup support bundle\n========================\nCreated {stamp} by {} {}.\n\n",
        crate::identity::PRODUCT_NAME,
        crate::identity::VERSION
    ));
    s.push_str("Attach this file to your support ticket. It holds:\n");
    s.push_str("- README.txt: this file.\n");
    for (name, bytes) in entries {
        let what = match name.as_str() {
            "versions.json" => "the app's version, the OS family and version, the database schema",
            "settings.json" => "the organization settings (step 1), the mail servers, the admin consents and the effective managed policy",
            "accounts.json" => "each mail account's address, status, last error kind and times, and whether a sign-in is stored in the keychain (yes/no only)",
            "audit.json" => "the newest entries of the audit log (what changed, when, by which OS user)",
            _ => "a recent log file",
        };
        s.push_str(&format!("- {name} ({} bytes): {what}.\n", bytes.len()));
    }
    s.push_str("\nLog files:\n");
    if log_notes.is_empty() {
        s.push_str(
            "- none found (the wizard writes them to the data folder's logs/; EXO_SETUP_LOG_FILE names another).\n",
        );
    }
    for n in log_notes {
        s.push_str(n);
        s.push('\n');
    }
    s.push_str(
        "\nRemoved from every file before it was put here (each replaced by <redacted>):\n\
         - tokens: refresh, access and ID tokens, and the exact values the keychain holds for the listed accounts;\n\
         - the browser round trip's one-time values: authorization code, state, nonce, PKCE code verifier and challenge;\n\
         - client secrets, passwords, Bearer credentials, JSON Web Tokens (eyJ...), and any other run of 32 or more\n  \
           token characters mixing upper case, lower case and digits;\n\
         - log lines of the mail protocols' wire (DEBUG/TRACE of async_imap, imap_proto, lettre).\n\
         Kept: error kinds and codes (AADSTS...), trace and correlation IDs, tenant and application IDs, server names, times.\n\
         Not included at all: the database file and the keychain. accounts.json names no person (no display or\n  \
         login name); audit.json shows the audit log's entries as recorded (login names included).\n\n",
    );
    match r.addresses() {
        AddressMode::Keep => s.push_str("Mail addresses: kept as they are.\n"),
        AddressMode::Hash { .. } => s.push_str(&format!(
            "Mail addresses: hashed. Each address became h-<{} hex digits>@<its domain>: the first {} bits of\n\
             SHA-256(salt + the address in lower case), with a random 128-bit salt made for this bundle only and\n\
             kept nowhere. The same address has the same hash throughout this bundle, so one mailbox can be\n\
             followed through the logs; without the salt nobody (support included) can tell which address it was,\n\
             not even by trying a list of names.\n",
            redact::HASH_HEX_DIGITS,
            redact::HASH_HEX_DIGITS * 4
        )),
    }
    s.push_str("\nRemovals, by rule:\n");
    if r.counts().is_empty() {
        s.push_str("- none were needed.\n");
    }
    for (rule, n) in r.counts() {
        s.push_str(&format!("- {rule}: {n}\n"));
    }
    s
}
