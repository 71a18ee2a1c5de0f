//! The user's side: what an invitation would do here (preview), and doing it (accept).
//!
//! Order of authority: the managed policy, then the invitation, then nothing — an invitation
//! never silently replaces an organization already configured here (the user must confirm), and
//! a refused invitation changes nothing. Accepting re-checks everything the preview checked
//! (the policy file may have changed in between), fetches the discovery document like step 1,
//! and writes settings, endpoints, mailbox and audit entry in one transaction.
//!
//! Mail servers an invitation carries are never trusted by themselves: each host must be a mail
//! host of the authority's Microsoft cloud or listed in the policy's `allowedMailHosts`
//! ([`crate::audience`]), or the invitation is refused (`invite_mail_host_not_allowed`); the
//! preview lists every host the mailbox's token would be sent to, and accepting records the
//! endpoints as from an invitation.

use crate::DetailKey;
use rusqlite::Connection;
use serde_json::json;

use crate::accounts::{self, ValidAccount};
use crate::audience::{may_send_token, EndpointsOrigin};
use crate::cloud::{self, microsoft_cloud};
use crate::error::{Actor, ErrorKind, UiError};
use crate::model::{
    InvitationAccepted, InvitationPreview, InvitationRule, OrgSettings, OrgSettingsInput, PolicyOverride,
    ReceiveProtocol, RedirectMode, ServerEndpoints,
};
use crate::org::{self, sql, EXCHANGE_ONLINE_ID};
use crate::policy::Policy;
use crate::store::{audit, now, Store};

use super::Invitation;

/// The invitation after the policy: what would be stored.
struct Effective {
    organization_name: String,
    authority: String,
    client_id: String,
    redirect_mode: RedirectMode,
    overrides: Vec<PolicyOverride>,
}

fn same_tenant(a: &str, inv: &Invitation) -> bool {
    a.eq_ignore_ascii_case(&inv.tenant) || a.eq_ignore_ascii_case(&inv.tenant_id)
}

fn other_tenant(inv: &Invitation, allowed: &str) -> UiError {
    UiError::new(
        ErrorKind::InviteOtherTenant,
        Actor::User,
        format!(
            "This invitation is for another organization (tenant {}), and your organization's IT allows only {allowed} on this computer. Nothing was changed; if you expected it, ask IT.",
            inv.tenant
        ),
    )
    .with(DetailKey::Tenant, &inv.tenant)
    .with(DetailKey::Allowed, allowed)
}

fn apply_policy(policy: &Policy, inv: &Invitation, current: Option<&OrgSettings>) -> Result<Effective, UiError> {
    if policy.invitations == InvitationRule::None {
        return Err(UiError::new(
            ErrorKind::InviteRefusedByPolicy,
            Actor::User,
            "Your organization's IT does not allow opening invitations on this computer. Nothing was changed; ask IT to set up your mailbox.",
        ));
    }
    if let Some(t) = policy.locked_tenant() {
        if !same_tenant(t, inv) {
            return Err(other_tenant(inv, t));
        }
    } else if policy.invitations == InvitationRule::SameTenant {
        if let Some(c) = current {
            if !same_tenant(&c.tenant_id, inv) {
                return Err(other_tenant(inv, &c.tenant));
            }
        }
    }
    let mut overrides = Vec::new();
    let mut pick = |field: &str, invited: &str| -> String {
        match policy.locked(field) {
            Some(managed) if !managed.eq_ignore_ascii_case(invited) => {
                overrides.push(PolicyOverride {
                    field: field.to_owned(),
                    invited: invited.to_owned(),
                    managed: managed.to_owned(),
                });
                managed.to_owned()
            }
            _ => invited.to_owned(),
        }
    };
    let organization_name = pick("organizationName", &inv.organization_name);
    let authority = pick("authority", &inv.authority);
    let client_id = pick("clientId", &inv.client_id);
    let redirect_mode = policy.redirect_mode(inv.redirect_mode);
    if redirect_mode != inv.redirect_mode {
        overrides.push(PolicyOverride {
            field: "redirectMode".into(),
            invited: inv.redirect_mode.as_str().into(),
            managed: redirect_mode.as_str().into(),
        });
    }
    if !policy.authority_allowed(&authority) {
        return Err(UiError::new(
            ErrorKind::InviteAuthorityNotAllowed,
            Actor::User,
            format!(
                "This invitation signs in at {authority}, which your organization's IT does not allow on this computer (allowed: {}). Nothing was changed; ask IT or your administrator.",
                policy.allowed_authorities.join(", ")
            ),
        )
        .with(DetailKey::Authority, &authority)
        .with(DetailKey::Allowed, policy.allowed_authorities.join(", ")));
    }
    check_mail_hosts(policy, inv, &authority)?;
    Ok(Effective { organization_name, authority, client_id, redirect_mode, overrides })
}

/// Hosts an invitation carries may receive the token only when they are the authority's cloud's
/// or the managed policy lists them (never "set locally": they came from outside).
fn check_mail_hosts(policy: &Policy, inv: &Invitation, authority: &str) -> Result<(), UiError> {
    let Some(ep) = &inv.endpoints else { return Ok(()) };
    let mut refused: Vec<String> = Vec::new();
    for e in [&ep.imap, &ep.pop3, &ep.smtp] {
        if let Err(r) = may_send_token(&e.host, authority, EndpointsOrigin::Invitation, &policy.allowed_mail_hosts) {
            if !refused.contains(&r.host) {
                refused.push(r.host);
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let hosts = refused.join(", ");
    let cloud = cloud::describe(authority);
    Err(UiError::new(
        ErrorKind::InviteMailHostNotAllowed,
        Actor::User,
        format!(
            "This invitation would send your Microsoft sign-in to the mail server(s) {hosts}. It signs in at {authority} ({cloud}), and these are not that cloud's mail servers; your organization's IT does not allow them on this computer either. Nothing was changed. You did not sign in anywhere. If your administrator really uses {hosts}, ask IT to add them to allowedMailHosts in the managed policy; otherwise the invitation may be forged: tell your administrator."
        ),
    )
    .with(DetailKey::Hosts, hosts)
    .with(DetailKey::Cloud, cloud)
    .with(DetailKey::Authority, authority))
}

/// The endpoints accepting would store: the invitation's, or Exchange Online's defaults.
fn effective_endpoints(inv: &Invitation) -> ServerEndpoints {
    inv.endpoints.clone().unwrap_or_else(org::exchange_online_endpoints)
}

/// Every host this mailbox's token would be sent to: its receive protocol's, then SMTP's.
fn token_hosts(inv: &Invitation) -> Vec<String> {
    let ep = effective_endpoints(inv);
    let receive = match inv.receive_protocol {
        ReceiveProtocol::Imap => ep.imap,
        ReceiveProtocol::Pop3 => ep.pop3,
    };
    let mut hosts = vec![receive.host.to_ascii_lowercase()];
    let smtp = ep.smtp.host.to_ascii_lowercase();
    if !hosts.contains(&smtp) {
        hosts.push(smtp);
    }
    hosts
}

/// The organization configured here that `e` would replace (another tenant, app or authority).
fn replaced(current: Option<OrgSettings>, inv: &Invitation, e: &Effective) -> Option<OrgSettings> {
    current.filter(|c| {
        !c.tenant_id.eq_ignore_ascii_case(&inv.tenant_id)
            || !c.client_id.eq_ignore_ascii_case(&e.client_id)
            || !c.authority.eq_ignore_ascii_case(&e.authority)
    })
}

/// What accepting `inv` would set up on this computer, after the managed policy; refused
/// invitations (policy: none / other tenant / authority not allowed) are errors here already.
pub fn preview(
    conn: &Connection,
    policy: &Policy,
    inv: &Invitation,
    invitation_id: String,
) -> Result<InvitationPreview, UiError> {
    let current = org::org_settings(conn).map_err(sql)?;
    let e = apply_policy(policy, inv, current.as_ref())?;
    if inv.is_organization() {
        crate::self_service::require_not_forbidden(policy)?;
    }
    let already_registered = !inv.is_organization() && accounts::find_by_address(conn, &inv.address)?.is_some();
    Ok(InvitationPreview {
        invitation_id,
        organization_name: e.organization_name.clone(),
        cloud: microsoft_cloud(&e.authority),
        authority: e.authority.clone(),
        tenant: inv.tenant.clone(),
        tenant_id: inv.tenant_id.clone(),
        client_id: e.client_id.clone(),
        redirect_mode: e.redirect_mode,
        address: inv.address.clone(),
        display_name: inv.display_name.clone(),
        receive_protocol: inv.receive_protocol,
        endpoints: inv.endpoints.clone(),
        mail_hosts: token_hosts(inv),
        replaces: replaced(current, inv, &e),
        overrides: e.overrides,
        already_registered,
        organization_wide: inv.is_organization(),
        receipt_to: inv.receipts.as_ref().filter(|_| policy.sends_receipts()).map(|r| r.to.clone()),
    })
}

/// Stores the invitation's settings and mailbox: checks the policy again, refuses to replace
/// another organization unless `replace_existing`, fetches the discovery document like step 1,
/// then writes settings, server, endpoints, account and audit entry in one transaction.
pub async fn accept(
    store: &Store,
    policy: &Policy,
    inv: &Invitation,
    replace_existing: bool,
) -> Result<InvitationAccepted, UiError> {
    let current = org::org_settings(&store.conn()).map_err(sql)?;
    let e = apply_policy(policy, inv, current.as_ref())?;
    if inv.is_organization() {
        crate::self_service::require_not_forbidden(policy)?;
    }
    if let Some(c) = replaced(current, inv, &e).filter(|_| !replace_existing) {
        return Err(UiError::new(
            ErrorKind::InviteReplacesOrg,
            Actor::User,
            format!(
                "This computer is set up for another organization (tenant {}); accepting would replace it with tenant {}. Nothing was changed; confirm the replacement explicitly if that is what you want.",
                c.tenant, inv.tenant
            ),
        )
        .with(DetailKey::Current, &c.tenant)
        .with(DetailKey::Invited, &inv.tenant));
    }
    let v = org::verify(&OrgSettingsInput {
        organization_name: e.organization_name.clone(),
        tenant: inv.tenant.clone(),
        client_id: e.client_id.clone(),
        authority: e.authority.clone(),
        redirect_mode: e.redirect_mode,
    })
    .await?;
    if !v.tenant_id.eq_ignore_ascii_case(&inv.tenant_id) {
        return Err(UiError::new(
            ErrorKind::IssuerMismatch,
            Actor::Admin,
            format!(
                "The invitation names tenant ID {} but Microsoft's discovery document for {} names {}; ask your administrator for a new invitation. Nothing was changed.",
                inv.tenant_id, inv.tenant, v.tenant_id
            ),
        )
        .with(DetailKey::Expected, &inv.tenant_id)
        .with(DetailKey::Actual, &v.tenant_id));
    }
    let account = ValidAccount {
        login_name: inv.login_name.clone(),
        user_display_name: inv.display_name.clone(),
        address: inv.address.clone(),
        display_name: inv.display_name.clone(),
        receive_protocol: inv.receive_protocol,
    };
    // Hosts an invitation carries are never "set locally"; without any, the app's defaults are.
    let endpoints = effective_endpoints(inv);
    let origin = if inv.endpoints.is_some() { EndpointsOrigin::Invitation } else { EndpointsOrigin::Local };
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    org::write_settings(&tx, &v, "invitation.settings")?;
    let server = org::server(&tx, EXCHANGE_ONLINE_ID)?;
    if (&server.imap, &server.pop3, &server.smtp) != (&endpoints.imap, &endpoints.pop3, &endpoints.smtp) {
        org::write_endpoints(
            &tx,
            &server.name,
            EXCHANGE_ONLINE_ID,
            &endpoints.imap,
            &endpoints.pop3,
            &endpoints.smtp,
            origin,
        )?;
    }
    let id = if inv.is_organization() {
        // The organization only: the mailbox is the one the user types and Microsoft confirms.
        crate::self_service::accept_organization(&tx, inv.receipts.as_ref())?;
        None
    } else {
        let id = match accounts::find_by_address(&tx, &inv.address)? {
            // Already here (e.g. opened twice): keep it and its sign-in state.
            Some(existing) => existing.id,
            None => accounts::insert_account(&tx, &account, EXCHANGE_ONLINE_ID, &now()).map_err(sql)?,
        };
        if let Some(r) = &inv.receipts {
            // Where this computer's receipts go (sent once the mailbox is verified, unless the
            // policy says no: `send_receipt` asks it each time).
            crate::rollout::plan_receipts(&tx, id, r)?;
        }
        Some(id)
    };
    audit(
        &tx,
        "invitation.accept",
        &inv.address,
        json!({ "tenant": inv.tenant, "tenantId": inv.tenant_id, "clientId": e.client_id, "authority": e.authority,
                "overrides": e.overrides.iter().map(|o| o.field.as_str()).collect::<Vec<_>>() }),
    )
    .map_err(sql)?;
    crate::fault::point("invite.before_commit");
    tx.commit().map_err(sql)?;
    crate::fault::point("invite.after_commit");
    Ok(InvitationAccepted {
        account: id.map(|id| accounts::get(&conn, id)).transpose()?,
        org: org::org_settings(&conn).map_err(sql)?.expect("just saved"),
    })
}
