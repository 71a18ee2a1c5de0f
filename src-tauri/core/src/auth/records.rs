//! What steps 3 and 4 read from and write to the store. Never a token: the store holds who
//! consented or signed in, when, and with which scopes.

use crate::DetailKey;
use rusqlite::params;
use serde_json::json;

use crate::accounts;
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{AccountRow, AccountStatus, AdminConsent, MailServer, OrgSettings, ReceiveProtocol, ServerAuth};
use crate::oauth::{AdminConsentGranted, MailScopes};
use crate::org::{self, sql};
use crate::overview::current_consent;
use crate::store::{audit, now, os_user, Store};

pub(crate) fn org(s: &Store) -> Result<OrgSettings, UiError> {
    org::org_settings(&s.conn()).map_err(sql)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::OrgNotConfigured,
            Actor::Admin,
            "The organization is not set up on this computer yet: the administrator enters the tenant and application (client) ID in step 1.",
        )
    })
}

/// A registered mailbox ready for sign-in.
pub(crate) struct SignInTarget {
    pub account: AccountRow,
    pub admin_consent_known: bool,
}

pub(crate) fn sign_in_target(s: &Store, address: &str) -> Result<SignInTarget, UiError> {
    let org = org(s)?;
    let conn = s.conn();
    let account = accounts::find_by_address(&conn, address)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::AccountNotRegistered,
            Actor::Admin,
            format!(
                "The mailbox {} is not registered in exo-setup. The administrator registers it in step 2; check the spelling first.",
                address.trim()
            ),
        )
        .with(DetailKey::Address, address.trim())
    })?;
    usable_server(&conn, &account)?;
    let admin_consent_known = consent_known(&conn, &org, account.receive_protocol)?;
    Ok(SignInTarget { account, admin_consent_known })
}

/// Whether the tenant-wide consent known here covers `protocol`'s scopes.
fn consent_known(conn: &rusqlite::Connection, org: &OrgSettings, protocol: ReceiveProtocol) -> Result<bool, UiError> {
    let needed = MailScopes::for_account(protocol);
    Ok(current_consent(conn, &org.tenant_id, &org.client_id)?
        .is_some_and(|c| needed.exchange_scopes().iter().all(|n| c.scopes.iter().any(|g| g.eq_ignore_ascii_case(n)))))
}

/// A typed mailbox (self-service) ready for sign-in: the built-in Exchange Online server must be
/// usable. Returns whether the consent is known.
pub(crate) fn self_sign_in_target(s: &Store, address: &str, protocol: ReceiveProtocol) -> Result<bool, UiError> {
    let org = org(s)?;
    let conn = s.conn();
    let probe = AccountRow {
        id: 0,
        user_id: 0,
        login_name: address.to_owned(),
        user_display_name: String::new(),
        address: address.to_owned(),
        display_name: String::new(),
        receive_protocol: protocol,
        server_id: org::EXCHANGE_ONLINE_ID,
        server_name: String::new(),
        status: AccountStatus::NotSignedIn,
        status_detail: None,
        status_at: None,
        has_sign_in: false,
        can_check: false,
    };
    usable_server(&conn, &probe)?;
    consent_known(&conn, &org, protocol)
}

/// The account's server, when it can be signed in to: OAuth 2.0 and turned on.
pub(crate) fn usable_server(conn: &rusqlite::Connection, account: &AccountRow) -> Result<MailServer, UiError> {
    let server = org::server(conn, account.server_id)?;
    if server.auth != ServerAuth::Oauth2 {
        return Err(UiError::new(
            ErrorKind::ServerNotOauth,
            Actor::Admin,
            format!(
                "The mailbox {} is on the server '{}', which does not use Microsoft sign-in (OAuth 2.0).",
                account.address, server.name
            ),
        )
        .with(DetailKey::Address, &account.address)
        .with(DetailKey::Server, &server.name));
    }
    if !server.enabled {
        return Err(UiError::new(
            ErrorKind::ServerDisabled,
            Actor::Admin,
            format!("The mail server '{}' is not in use. The administrator turns it on in step 1.", server.name),
        )
        .with(DetailKey::Server, &server.name));
    }
    Ok(server)
}

/// The tenant of the saved settings and the account (for its keychain key).
pub(crate) fn token_target(s: &Store, address: &str) -> Result<(String, AccountRow), UiError> {
    let org = org(s)?;
    let account = accounts::find_by_address(&s.conn(), address)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::AccountNotRegistered,
            Actor::Admin,
            format!("The mailbox {} is not registered in exo-setup (step 2).", address.trim()),
        )
        .with(DetailKey::Address, address.trim())
    })?;
    Ok((org.tenant_id, account))
}

/// Records step 3's consent with the scopes asked for (the consent page granted exactly those);
/// what the callback listed goes to the audit log.
pub(crate) fn record_consent(s: &Store, granted: &AdminConsentGranted) -> Result<AdminConsent, UiError> {
    let mut conn = s.conn();
    let tx = conn.transaction().map_err(sql)?;
    tx.execute(
        "INSERT INTO admin_consents (tenant_id, client_id, scopes, granted_by, granted_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![granted.tenant_id, granted.client_id, granted.requested.join(" "), os_user(), now()],
    )
    .map_err(sql)?;
    audit(
        &tx,
        "consent.grant",
        &granted.tenant_id,
        json!({ "client_id": granted.client_id, "requested": granted.requested, "returned": granted.scopes }),
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(current_consent(&conn, &granted.tenant_id, &granted.client_id)?.expect("just recorded"))
}

/// Sets an account's status (and audits it when `action` is given).
pub(crate) fn set_status(
    s: &Store,
    address: &str,
    status: AccountStatus,
    detail: Option<&str>,
    action: Option<(&str, serde_json::Value)>,
) -> Result<AccountRow, UiError> {
    let mut conn = s.conn();
    let tx = conn.transaction().map_err(sql)?;
    let ts = now();
    tx.execute(
        "UPDATE mail_accounts SET status = ?1, status_detail = ?2, status_at = ?3 WHERE address = ?4",
        params![status.as_str(), detail, ts, address],
    )
    .map_err(sql)?;
    if let Some((action, d)) = action {
        audit(&tx, action, address, d).map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    accounts::find_by_address(&conn, address)?.ok_or_else(|| {
        UiError::new(
            ErrorKind::AccountNotRegistered,
            Actor::Admin,
            format!("The mailbox {address} was removed meanwhile."),
        )
        .with(DetailKey::Address, address)
    })
}
