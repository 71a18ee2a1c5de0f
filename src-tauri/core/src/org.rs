//! Step 1: the organization's Microsoft Entra settings and the mail servers, with the built-in
//! "Exchange Online" server that is OFF until the admin turns it on.
//!
//! Turning Exchange Online on is only possible with settings whose discovery document was
//! fetched successfully a moment before; a failed check changes nothing (the server stays as it
//! was, the previous settings stay), so the store never holds settings nobody verified.

use crate::DetailKey;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use crate::audience::EndpointsOrigin;
use crate::discovery;
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{Endpoint, MailServer, OrgSettings, OrgSettingsInput, RedirectMode, Security, ServerAuth};
use crate::store::{audit, now, Store};
use crate::validate;

/// Id of the built-in Exchange Online server.
pub const EXCHANGE_ONLINE_ID: i64 = 1;

/// The saved organization settings, if step 1 was ever completed.
pub fn org_settings(conn: &Connection) -> rusqlite::Result<Option<OrgSettings>> {
    conn.query_row(
        "SELECT tenant, tenant_id, client_id, authority, redirect_mode, issuer, verified_at, organization_name FROM org_settings WHERE id = 1",
        [],
        |r| {
            Ok(OrgSettings {
                organization_name: r.get(7)?,
                tenant: r.get(0)?,
                tenant_id: r.get(1)?,
                client_id: r.get(2)?,
                authority: r.get(3)?,
                redirect_mode: RedirectMode::parse(&r.get::<_, String>(4)?).unwrap_or(RedirectMode::DeepLink),
                issuer: r.get(5)?,
                verified_at: r.get(6)?,
            })
        },
    )
    .optional()
}

const SERVER_COLUMNS: &str = "id, name, builtin, enabled, imap_host, imap_port, imap_security, pop3_host, pop3_port, pop3_security, smtp_host, smtp_port, smtp_security, auth";

fn security(s: &str) -> Security {
    match s {
        "tls" => Security::Tls,
        "starttls" => Security::Starttls,
        _ => Security::Plain,
    }
}

fn server_from_row(r: &Row<'_>) -> rusqlite::Result<MailServer> {
    let ep = |h: usize| -> rusqlite::Result<Endpoint> {
        Ok(Endpoint { host: r.get(h)?, port: r.get(h + 1)?, security: security(&r.get::<_, String>(h + 2)?) })
    };
    Ok(MailServer {
        id: r.get(0)?,
        name: r.get(1)?,
        builtin: r.get(2)?,
        enabled: r.get(3)?,
        imap: ep(4)?,
        pop3: ep(7)?,
        smtp: ep(10)?,
        auth: if r.get::<_, String>(13)? == "oauth2" { ServerAuth::Oauth2 } else { ServerAuth::Password },
    })
}

/// Where Exchange Online serves IMAP, POP3 and SMTP (the built-in server's defaults, migration 0001).
pub fn exchange_online_endpoints() -> crate::model::ServerEndpoints {
    let ep = |host: &str, port, security| Endpoint { host: host.to_owned(), port, security };
    crate::model::ServerEndpoints {
        imap: ep("outlook.office365.com", 993, Security::Tls),
        pop3: ep("outlook.office365.com", 995, Security::Tls),
        smtp: ep("smtp.office365.com", 587, Security::Starttls),
    }
}

/// All mail servers, the built-in one first.
pub fn servers(conn: &Connection) -> rusqlite::Result<Vec<MailServer>> {
    let mut stmt = conn.prepare(&format!("SELECT {SERVER_COLUMNS} FROM mail_servers ORDER BY builtin DESC, name"))?;
    let rows = stmt.query_map([], server_from_row)?;
    rows.collect()
}

/// One mail server.
pub fn server(conn: &Connection, id: i64) -> Result<MailServer, UiError> {
    conn.query_row(&format!("SELECT {SERVER_COLUMNS} FROM mail_servers WHERE id = ?1"), [id], server_from_row)
        .optional()
        .map_err(sql)?
        .ok_or_else(|| {
            UiError::new(ErrorKind::ServerNotFound, Actor::Admin, format!("There is no mail server with id {id}."))
                .with(DetailKey::Id, id)
        })
}

/// A mail server by name, as administrators type it (case-insensitive): `exo-setup accounts add
/// --server`, `exo-setup server endpoints --server`.
pub fn server_by_name(conn: &Connection, name: &str) -> Result<MailServer, UiError> {
    servers(conn).map_err(sql)?.into_iter().find(|s| s.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
        UiError::new(ErrorKind::ServerNotFound, Actor::Admin, format!("There is no mail server named '{name}'."))
            .with(DetailKey::Server, name)
    })
}

pub(crate) fn sql(e: rusqlite::Error) -> UiError {
    crate::store::StoreError::Sql(e).into()
}

/// Checked settings, ready to save.
pub(crate) struct Verified {
    pub(crate) organization_name: String,
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) authority: String,
    pub(crate) redirect_mode: RedirectMode,
    pub(crate) tenant_id: String,
    pub(crate) issuer: String,
}

/// Validates step 1's input and fetches the tenant's discovery document (no writes).
pub(crate) async fn verify(input: &OrgSettingsInput) -> Result<Verified, UiError> {
    let organization_name = validate::display_name(&input.organization_name)?;
    let tenant = validate::tenant(&input.tenant)?;
    let client_id = validate::client_id(&input.client_id)?;
    let authority = validate::authority(&input.authority)?;
    let doc = discovery::fetch(&authority, &tenant).await?;
    let tenant_id = doc.tenant_id().expect("fetch() checked the issuer names a tenant");
    // A GUID the admin typed must be the tenant the issuer names (a mix-up would sign users in
    // to another organization).
    if uuid::Uuid::try_parse(&tenant).is_ok() && tenant != tenant_id {
        return Err(UiError::new(
            ErrorKind::IssuerMismatch,
            Actor::Admin,
            format!(
                "The discovery document of tenant {tenant} names another tenant ({tenant_id}); check the authority."
            ),
        )
        .with(DetailKey::Expected, &tenant)
        .with(DetailKey::Actual, &tenant_id));
    }
    Ok(Verified {
        organization_name,
        tenant,
        client_id,
        authority,
        redirect_mode: input.redirect_mode,
        tenant_id,
        issuer: doc.issuer,
    })
}

/// Writes verified settings and turns Exchange Online on, inside the caller's transaction
/// (step 1's save, or accepting an invitation), with the audit entry `action`.
pub(crate) fn write_settings(tx: &Connection, v: &Verified, action: &str) -> Result<(), UiError> {
    tx.execute(
        "INSERT INTO org_settings (id, tenant, tenant_id, client_id, authority, redirect_mode, issuer, verified_at, organization_name)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, tenant_id = excluded.tenant_id,
           client_id = excluded.client_id, authority = excluded.authority, redirect_mode = excluded.redirect_mode,
           issuer = excluded.issuer, verified_at = excluded.verified_at, organization_name = excluded.organization_name",
        params![v.tenant, v.tenant_id, v.client_id, v.authority, v.redirect_mode.as_str(), v.issuer, now(), v.organization_name],
    )
    .map_err(sql)?;
    tx.execute("UPDATE mail_servers SET enabled = 1 WHERE id = ?1", [EXCHANGE_ONLINE_ID]).map_err(sql)?;
    audit(
        tx,
        action,
        "Exchange Online",
        json!({ "organizationName": v.organization_name, "tenant": v.tenant, "tenantId": v.tenant_id, "clientId": v.client_id, "authority": v.authority, "redirectMode": v.redirect_mode.as_str(), "enabled": true }),
    )
    .map_err(sql)?;
    Ok(())
}

/// Step 1 "Save and use": validates the input, fetches the tenant's discovery document, and only
/// then saves the settings and turns Exchange Online on, in one transaction with its audit entry.
/// The machine's managed policy (`crate::policy`) is read first: a locked field must match.
pub async fn save_exchange_online(store: &Store, input: &OrgSettingsInput) -> Result<OrgSettings, UiError> {
    save_exchange_online_with(store, input, &crate::policy::load()?).await
}

/// [`save_exchange_online`] under a given policy.
pub async fn save_exchange_online_with(
    store: &Store,
    input: &OrgSettingsInput,
    policy: &crate::policy::Policy,
) -> Result<OrgSettings, UiError> {
    policy.check_settings_input(input)?;
    let v = verify(input).await?;
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    write_settings(&tx, &v, "org.save")?;
    tx.commit().map_err(sql)?;
    Ok(org_settings(&conn).map_err(sql)?.expect("just saved"))
}

/// Turns a server on or off. Turning Exchange Online on re-checks the saved settings against
/// the discovery document first; turning any server off always works.
pub async fn set_server_enabled(store: &Store, id: i64, enabled: bool) -> Result<MailServer, UiError> {
    let current = server(&store.conn(), id)?;
    if enabled && id == EXCHANGE_ONLINE_ID {
        let org = org_settings(&store.conn()).map_err(sql)?.ok_or_else(|| {
            UiError::new(
                ErrorKind::OrgNotConfigured,
                Actor::Admin,
                "Enter the organization's tenant and application (client) ID first (step 1).",
            )
        })?;
        verify(&OrgSettingsInput {
            organization_name: org.organization_name,
            tenant: org.tenant,
            client_id: org.client_id,
            authority: org.authority,
            redirect_mode: org.redirect_mode,
        })
        .await?;
    }
    let conn = store.conn();
    if current.enabled != enabled {
        let tx = conn.unchecked_transaction().map_err(sql)?;
        tx.execute("UPDATE mail_servers SET enabled = ?2 WHERE id = ?1", params![id, enabled]).map_err(sql)?;
        audit(&tx, if enabled { "server.enable" } else { "server.disable" }, &current.name, json!({ "id": id }))
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    server(&conn, id)
}

/// Deletes a server that no account uses. The built-in one cannot be deleted.
pub fn delete_server(store: &Store, id: i64) -> Result<(), UiError> {
    let conn = store.conn();
    let s = server(&conn, id)?;
    if s.builtin {
        return Err(UiError::new(
            ErrorKind::ServerBuiltin,
            Actor::Admin,
            format!("'{}' is built in and cannot be deleted; stop it instead.", s.name),
        )
        .with(DetailKey::Server, &s.name));
    }
    let tx = conn.unchecked_transaction().map_err(sql)?;
    tx.execute("DELETE FROM mail_servers WHERE id = ?1", [id]).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => UiError::new(
            ErrorKind::ServerInUse,
            Actor::Admin,
            format!("Mail accounts still use '{}'; move or delete them first.", s.name),
        )
        .with(DetailKey::Server, &s.name),
        e => sql(e),
    })?;
    audit(&tx, "server.delete", &s.name, json!({ "id": id })).map_err(sql)?;
    tx.commit().map_err(sql)
}

/// Adds a server (e.g. an on-premises Exchange or a test Dovecot). New servers start ON.
pub fn add_server(
    store: &Store,
    name: &str,
    imap: &Endpoint,
    pop3: &Endpoint,
    smtp: &Endpoint,
    auth: ServerAuth,
) -> Result<MailServer, UiError> {
    let name = validate::display_name(name)?;
    if name.is_empty() {
        return Err(UiError::new(ErrorKind::ServerNameRequired, Actor::Admin, "Enter a name for the mail server."));
    }
    let conn = store.conn();
    let tx = conn.unchecked_transaction().map_err(sql)?;
    tx.execute(
        "INSERT INTO mail_servers (name, builtin, enabled, imap_host, imap_port, imap_security, pop3_host, pop3_port, pop3_security, smtp_host, smtp_port, smtp_security, auth)
         VALUES (?1, 0, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![name, imap.host, imap.port, imap.security.as_str(), pop3.host, pop3.port, pop3.security.as_str(), smtp.host, smtp.port, smtp.security.as_str(),
            if auth == ServerAuth::Oauth2 { "oauth2" } else { "password" }],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            UiError::new(ErrorKind::ServerDuplicate, Actor::Admin, format!("A mail server named '{name}' already exists.")).with(DetailKey::Server, &name)
        }
        e => sql(e),
    })?;
    let id = tx.last_insert_rowid();
    audit(&tx, "server.add", &name, json!({ "id": id })).map_err(sql)?;
    tx.commit().map_err(sql)?;
    server(&conn, id)
}

/// Changes where a server's IMAP, POP3 and SMTP endpoints are — for Exchange Online in a national
/// cloud (e.g. `partner.outlook.cn`), an on-premises gateway, or a test server on this machine.
/// Unencrypted (`plain`) endpoints are accepted only on loopback hosts.
pub fn set_server_endpoints(
    store: &Store,
    id: i64,
    imap: &Endpoint,
    pop3: &Endpoint,
    smtp: &Endpoint,
) -> Result<MailServer, UiError> {
    for (protocol, e) in [("imap", imap), ("pop3", pop3), ("smtp", smtp)] {
        check_endpoint(protocol, e)?;
    }
    let s = server(&store.conn(), id)?;
    let conn = store.conn();
    let tx = conn.unchecked_transaction().map_err(sql)?;
    write_endpoints(&tx, &s.name, id, imap, pop3, smtp, EndpointsOrigin::Local)?;
    tx.commit().map_err(sql)?;
    server(&conn, id)
}

/// Where server `id`'s endpoints came from (see [`crate::audience`]). The built-in server still at
/// [`exchange_online_endpoints`] is [`EndpointsOrigin::BuiltInDefaults`]: nobody chose those hosts
/// for this organization's cloud.
pub fn endpoints_origin(conn: &Connection, id: i64) -> Result<EndpointsOrigin, UiError> {
    let s: String =
        conn.query_row("SELECT endpoints_origin FROM mail_servers WHERE id = ?1", [id], |r| r.get(0)).map_err(sql)?;
    let origin = EndpointsOrigin::parse(&s);
    let srv = server(conn, id)?;
    let d = exchange_online_endpoints();
    if origin == EndpointsOrigin::Local && srv.builtin && (srv.imap, srv.pop3, srv.smtp) == (d.imap, d.pop3, d.smtp) {
        return Ok(EndpointsOrigin::BuiltInDefaults);
    }
    Ok(origin)
}

/// Saves a server's endpoints (already checked) and where they came from, with an audit entry,
/// inside the caller's transaction.
pub(crate) fn write_endpoints(
    tx: &Connection,
    name: &str,
    id: i64,
    imap: &Endpoint,
    pop3: &Endpoint,
    smtp: &Endpoint,
    origin: EndpointsOrigin,
) -> Result<(), UiError> {
    tx.execute(
        "UPDATE mail_servers SET imap_host = ?2, imap_port = ?3, imap_security = ?4, pop3_host = ?5, pop3_port = ?6,
         pop3_security = ?7, smtp_host = ?8, smtp_port = ?9, smtp_security = ?10, endpoints_origin = ?11 WHERE id = ?1",
        params![
            id,
            imap.host,
            imap.port,
            imap.security.as_str(),
            pop3.host,
            pop3.port,
            pop3.security.as_str(),
            smtp.host,
            smtp.port,
            smtp.security.as_str(),
            origin.as_str()
        ],
    )
    .map_err(sql)?;
    audit(
        tx,
        "server.endpoints",
        name,
        json!({
            "imap": format!("{}:{}", imap.host, imap.port),
            "pop3": format!("{}:{}", pop3.host, pop3.port),
            "smtp": format!("{}:{}", smtp.host, smtp.port),
            "origin": origin.as_str(),
        }),
    )
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn check_endpoint(protocol: &str, e: &Endpoint) -> Result<(), UiError> {
    let host = e.host.trim();
    if !validate::is_mail_host(host) || e.port == 0 {
        return Err(UiError::new(
            ErrorKind::EndpointInvalid,
            Actor::Admin,
            format!("The {protocol} server '{}:{}' is not a valid host name and port.", e.host, e.port),
        )
        .with(DetailKey::Protocol, protocol)
        .with(DetailKey::Host, &e.host)
        .with(DetailKey::Port, e.port));
    }
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if e.security == Security::Plain && !loopback {
        return Err(UiError::new(
            ErrorKind::EndpointInsecure,
            Actor::Admin,
            format!(
                "The {protocol} server {host} would be reached without encryption; use TLS or STARTTLS (unencrypted is only allowed on this computer, for tests)."
            ),
        )
        .with(DetailKey::Protocol, protocol)
        .with(DetailKey::Host, host));
    }
    Ok(())
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    #[test]
    fn servers_are_found_by_name_whatever_the_case() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        assert_eq!(server_by_name(&store.conn(), "exchange ONLINE").unwrap().id, EXCHANGE_ONLINE_ID);
        let e = server_by_name(&store.conn(), "Gateway").unwrap_err();
        assert_eq!((e.kind, e.actor), (ErrorKind::ServerNotFound, Actor::Admin));
        assert_eq!(e.detail.get(&DetailKey::Server).map(String::as_str), Some("Gateway"));
    }

    fn ep(host: &str, port: u16, security: Security) -> Endpoint {
        Endpoint { host: host.into(), port, security }
    }

    #[test]
    fn endpoints_are_checked_and_saved_with_an_audit_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let err = set_server_endpoints(
            &store,
            EXCHANGE_ONLINE_ID,
            &ep("imap.example", 993, Security::Tls),
            &ep("pop.example", 995, Security::Tls),
            &ep("smtp.example", 25, Security::Plain),
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::EndpointInsecure);
        let err = set_server_endpoints(
            &store,
            EXCHANGE_ONLINE_ID,
            &ep("bad host", 993, Security::Tls),
            &ep("pop.example", 995, Security::Tls),
            &ep("smtp.example", 587, Security::Starttls),
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::EndpointInvalid);
        assert_eq!(server(&store.conn(), EXCHANGE_ONLINE_ID).unwrap().imap.host, "outlook.office365.com");

        let s = set_server_endpoints(
            &store,
            EXCHANGE_ONLINE_ID,
            &ep("127.0.0.1", 1993, Security::Tls),
            &ep("localhost", 1110, Security::Plain),
            &ep("127.0.0.1", 1587, Security::Starttls),
        )
        .unwrap();
        assert_eq!((s.imap.host.as_str(), s.imap.port), ("127.0.0.1", 1993));
        assert_eq!(s.pop3.security, Security::Plain);
        assert_eq!(endpoints_origin(&store.conn(), EXCHANGE_ONLINE_ID).unwrap(), EndpointsOrigin::Local);
        let audit = crate::store::list_audit(&store.conn(), 5).unwrap();
        assert_eq!(audit[0].action, "server.endpoints");
    }
}
