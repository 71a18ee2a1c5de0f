//! The admin's side: invitations for one, some or all registered mailboxes (step 2, `exo-setup invite`).

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::accounts;
use crate::error::{Actor, UiError};
use crate::model::{AccountRow, InvitationLink, OrgSettings, ServerEndpoints};
use crate::org::{self, sql};

use super::{file_contents, link, Invitation, FILE_EXTENSION};

fn org_required(conn: &Connection) -> Result<OrgSettings, UiError> {
    org::org_settings(conn).map_err(sql)?.ok_or_else(|| {
        UiError::new(
            "org_not_configured",
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

fn invitation(
    conn: &Connection,
    org: &OrgSettings,
    account: AccountRow,
) -> Result<(InvitationLink, Invitation), UiError> {
    let server = org::server(conn, account.server_id)?;
    let endpoints = ServerEndpoints { imap: server.imap, pop3: server.pop3, smtp: server.smtp };
    let inv = Invitation {
        organization_name: org.organization_name.clone(),
        authority: org.authority.clone(),
        tenant: org.tenant.clone(),
        tenant_id: org.tenant_id.clone(),
        client_id: org.client_id.clone(),
        redirect_mode: org.redirect_mode,
        address: account.address.clone(),
        login_name: account.login_name.clone(),
        display_name: account.display_name.clone(),
        receive_protocol: account.receive_protocol,
        endpoints: (endpoints != org::exchange_online_endpoints()).then_some(endpoints),
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

/// A cell as spreadsheet programs will not run it as a formula (OWASP "CSV injection").
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Mail-merge CSV: `address,display_name,file_name,link` (UTF-8 with BOM so Excel opens it).
pub fn write_csv(links: &[InvitationLink], mut out: impl Write) -> Result<(), UiError> {
    let io = |e: std::io::Error| {
        UiError::new("export_write", Actor::User, format!("The CSV could not be written: {e}")).with("reason", e)
    };
    out.write_all("\u{feff}".as_bytes()).map_err(io)?;
    let mut w = csv::Writer::from_writer(out);
    let csv_err = |e: csv::Error| {
        UiError::new("export_write", Actor::User, format!("The CSV could not be written: {e}")).with("reason", e)
    };
    w.write_record(["address", "display_name", "file_name", "link"]).map_err(csv_err)?;
    for l in links {
        w.write_record([cell(&l.address), cell(&l.display_name), cell(&l.file_name), l.link.clone()])
            .map_err(csv_err)?;
    }
    w.flush().map_err(io)
}

/// Writes one `.exoinvite` file per invitation into `dir`; returns the paths.
pub fn write_files(invitations: &[(InvitationLink, Invitation)], dir: &Path) -> Result<Vec<PathBuf>, UiError> {
    let failed = |p: &Path, e: std::io::Error| {
        UiError::new("export_write", Actor::User, format!("{} could not be written: {e}", p.display()))
            .with("path", p.display())
            .with("reason", e)
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    invitations
        .iter()
        .map(|(l, inv)| {
            let p = dir.join(&l.file_name);
            std::fs::write(&p, file_contents(inv)).map_err(|e| failed(&p, e))?;
            Ok(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
