//! The admin's side: invitations for one, some or all registered mailboxes (step 2, `exo-setup invite`).

use crate::DetailKey;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::accounts;
use crate::csv_io::{formula_safe_cell as cell, write_failed};
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{AccountRow, InvitationLink, OrgSettings, ServerEndpoints};
use crate::org::{self, sql};

use super::{file_contents, link, Invitation, FILE_EXTENSION};

pub(crate) fn org_required(conn: &Connection) -> Result<OrgSettings, UiError> {
    org::org_settings(conn).map_err(sql)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::OrgNotConfigured,
            Actor::Admin,
            "Invitations carry the organization's settings: complete step 1 (tenant and application ID) first.",
        )
    })
}

/// A file name for `address` that is safe on every OS.
fn file_name(address: &str) -> String {
    let safe: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+') { c } else { '_' })
        .collect();
    format!("{safe}.{FILE_EXTENSION}")
}

/// The organization's part of an invitation, with no mailbox: the organization invitation as it
/// is, and the start of a mailbox's. Endpoints only when the server's differ from Exchange Online's.
pub(crate) fn organization_invitation(
    conn: &Connection,
    org: &OrgSettings,
    server_id: i64,
) -> Result<Invitation, UiError> {
    let server = org::server(conn, server_id)?;
    let endpoints = ServerEndpoints { imap: server.imap, pop3: server.pop3, smtp: server.smtp };
    Ok(Invitation {
        organization_name: org.organization_name.clone(),
        authority: org.authority.clone(),
        tenant: org.tenant.clone(),
        tenant_id: org.tenant_id.clone(),
        client_id: org.client_id.clone(),
        redirect_mode: org.redirect_mode,
        address: String::new(),
        login_name: String::new(),
        display_name: String::new(),
        receive_protocol: crate::model::ReceiveProtocol::Imap,
        endpoints: (endpoints != org::exchange_online_endpoints()).then_some(endpoints),
        receipts: None,
    })
}

fn invitation(
    conn: &Connection,
    org: &OrgSettings,
    account: AccountRow,
) -> Result<(InvitationLink, Invitation), UiError> {
    let inv = Invitation {
        address: account.address.clone(),
        login_name: account.login_name.clone(),
        display_name: account.display_name.clone(),
        receive_protocol: account.receive_protocol,
        ..organization_invitation(conn, org, account.server_id)?
    };
    let l = InvitationLink {
        account_id: account.id,
        address: account.address.clone(),
        display_name: account.display_name,
        link: link(&inv),
        file_name: file_name(&account.address),
    };
    Ok((l, inv))
}

/// The invitation for one account (the organization must be configured: step 1).
pub fn for_account(conn: &Connection, account_id: i64) -> Result<(InvitationLink, Invitation), UiError> {
    let org = org_required(conn)?;
    invitation(conn, &org, accounts::get(conn, account_id)?)
}

/// Invitations for the given accounts, or for every account when `ids` is `None`, in the order of step 2's list.
pub fn for_accounts(conn: &Connection, ids: Option<&[i64]>) -> Result<Vec<(InvitationLink, Invitation)>, UiError> {
    let org = org_required(conn)?;
    let ids: Vec<i64> = match ids {
        Some(ids) => ids.to_vec(),
        None => conn
            .prepare(
                "SELECT a.id FROM mail_accounts a JOIN users u ON u.id = a.user_id
                 ORDER BY u.login_name COLLATE NOCASE, a.address",
            )
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(sql)?,
    };
    ids.into_iter().map(|id| invitation(conn, &org, accounts::get(conn, id)?)).collect()
}

/// Mail-merge CSV: `address,display_name,file_name,link` (UTF-8 with BOM so Excel opens it).
pub fn write_csv(links: &[InvitationLink], mut out: impl Write) -> Result<(), UiError> {
    let io = |e: std::io::Error| {
        UiError::new(ErrorKind::ExportWrite, Actor::User, format!("The CSV could not be written: {e}"))
            .with(DetailKey::Reason, e)
    };
    out.write_all("\u{feff}".as_bytes()).map_err(io)?;
    let mut w = csv::Writer::from_writer(out);
    let csv_err = |e: csv::Error| {
        UiError::new(ErrorKind::ExportWrite, Actor::User, format!("The CSV could not be written: {e}"))
            .with(DetailKey::Reason, e)
    };
    w.write_record(["address", "display_name", "file_name", "link"]).map_err(csv_err)?;
    for l in links {
        let cells = [cell(&l.address), cell(&l.display_name), cell(&l.file_name), cell(&l.link)];
        w.write_record(cells.iter().map(|c| c.as_bytes())).map_err(csv_err)?;
    }
    w.flush().map_err(io)
}

/// The mail-merge CSV ([`write_csv`]) written to `path` (created or replaced).
pub fn write_csv_file(links: &[InvitationLink], path: &Path) -> Result<(), UiError> {
    let file = std::fs::File::create(path).map_err(|e| write_failed(path, e))?;
    let mut out = std::io::BufWriter::new(file);
    write_csv(links, &mut out)?;
    out.flush().map_err(|e| write_failed(path, e))
}

/// Writes one `.exoinvite` file per invitation into `dir` (created if missing); returns the paths.
///
/// Never overwrites and never follows a link: an output folder may be shared (a network share,
/// `/tmp`), and someone could plant `taro@….exoinvite` there as a link to a file of the admin's,
/// which a plain write would overwrite. So every name is checked first — anything already there
/// (a file, a link, even a dangling one) is `export_exists` naming it, and nothing is written —
/// and then each file is created with `create_new` (`O_EXCL`) and, on Unix, `O_NOFOLLOW`; if one
/// still fails (a name taken in between), the files this call created are removed again.
pub fn write_files(invitations: &[(InvitationLink, Invitation)], dir: &Path) -> Result<Vec<PathBuf>, UiError> {
    let failed = |p: &Path, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists || is_link_refusal(&e) {
            return exists(p);
        }
        write_failed(p, e)
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let paths: Vec<PathBuf> = invitations.iter().map(|(l, _)| dir.join(&l.file_name)).collect();
    if let Some(taken) = paths.iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
        return Err(exists(taken));
    }
    let mut written = Vec::with_capacity(paths.len());
    let undo = |written: &[PathBuf]| written.iter().for_each(|w| drop(std::fs::remove_file(w)));
    for (p, (_, inv)) in paths.iter().zip(invitations) {
        let mut file = create_new(p).map_err(|e| {
            undo(&written);
            failed(p, e)
        })?;
        written.push(p.clone());
        file.write_all(file_contents(inv).as_bytes()).map_err(|e| {
            undo(&written);
            failed(p, e)
        })?;
    }
    Ok(written)
}

/// A new file at `path`: never an existing one, never through a link.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path)
}

/// `O_NOFOLLOW` on a link fails with `ELOOP` (Linux, macOS) or `EMLINK` (FreeBSD).
fn is_link_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EMLINK))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

fn exists(path: &Path) -> UiError {
    UiError::new(
        ErrorKind::ExportExists,
        Actor::User,
        format!(
            "{} already exists (a file or a link); exo-setup never overwrites or follows one. Choose an empty folder, or move that file away, then try again. Nothing was written.",
            path.display()
        ),
    )
    .with(DetailKey::Path, path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn files_are_never_written_over_an_existing_file_or_through_a_link() {
        let inv = |address: &str| {
            let l = InvitationLink {
                account_id: 1,
                address: address.into(),
                display_name: "山田 太郎".into(),
                link: String::new(),
                file_name: file_name(address),
            };
            let i = Invitation {
                organization_name: "Contoso".into(),
                authority: "https://login.microsoftonline.com".into(),
                tenant: "contoso.example".into(),
                tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                redirect_mode: crate::model::RedirectMode::DeepLink,
                address: address.into(),
                login_name: "yamada".into(),
                display_name: "山田 太郎".into(),
                receive_protocol: crate::model::ReceiveProtocol::Imap,
                endpoints: None,
                receipts: None,
            };
            (l, i)
        };
        let both = [inv("a@contoso.example"), inv("b@contoso.example")];
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, "keep me").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let planted = out.join("b@contoso.example.exoinvite");
        for link_to in [target.clone(), dir.path().join("nothing-there")] {
            let _ = std::fs::remove_file(&planted);
            std::os::unix::fs::symlink(&link_to, &planted).unwrap();
            let e = write_files(&both, &out).unwrap_err();
            assert_eq!(
                (e.kind, e.detail[&DetailKey::Path].as_str()),
                (ErrorKind::ExportExists, planted.to_str().unwrap())
            );
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
            assert!(!out.join("a@contoso.example.exoinvite").exists(), "nothing is written");
            assert!(!dir.path().join("nothing-there").exists());
        }
        std::fs::remove_file(&planted).unwrap();
        std::fs::write(&planted, "mine").unwrap();
        assert_eq!(write_files(&both, &out).unwrap_err().kind, ErrorKind::ExportExists);
        assert_eq!(std::fs::read_to_string(&planted).unwrap(), "mine");
        std::fs::remove_file(&planted).unwrap();
        let written = write_files(&both, &out).unwrap();
        assert_eq!(written.len(), 2);
        assert!(std::fs::read_to_string(&written[1]).unwrap().contains("b@contoso.example"));
    }

    #[test]
    fn file_names_are_safe_and_csv_cells_do_not_become_formulas() {
        assert_eq!(file_name("taro@contoso.example"), "taro@contoso.example.exoinvite");
        assert_eq!(file_name("a/b\\c:d@x.example"), "a_b_c_d@x.example.exoinvite");
        let l = InvitationLink {
            account_id: 1,
            address: "taro@contoso.example".into(),
            display_name: "=HYPERLINK(\"http://evil\")".into(),
            link: "dev.exosetup.wizard://invite?v=1&p=x&c=y".into(),
            file_name: "taro@contoso.example.exoinvite".into(),
        };
        let mut out = Vec::new();
        write_csv(std::slice::from_ref(&l), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\u{feff}address,display_name,file_name,link\n"), "{text}");
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains(",dev.exosetup.wizard://invite?v=1&p=x&c=y"), "{text}");
    }
}
