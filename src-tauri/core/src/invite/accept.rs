//! The user's side: what an invitation would do here (preview), and doing it (accept).
//!
//! Order of authority: the managed policy, then the invitation, then nothing — an invitation
//! never silently replaces an organization already configured here (the user must confirm), and
//! a refused invitation changes nothing. Accepting re-checks everything the preview checked
//! (the policy file may have changed in between), fetches the discovery document like step 1,
//! and writes settings, endpoints, mailbox and audit entry in one transaction.

use rusqlite::Connection;
use serde_json::json;

use crate::accounts::{self, ValidAccount};
use crate::error::{Actor, UiError};
use crate::model::{
    InvitationAccepted, InvitationPreview, InvitationRule, MicrosoftCloud, OrgSettings, OrgSettingsInput,
    PolicyOverride, RedirectMode,
};
use crate::org::{self, sql, EXCHANGE_ONLINE_ID};
use crate::policy::Policy;
use crate::store::{audit, now, Store};

use super::Invitation;

/// The Microsoft cloud an authority belongs to, if it is one.
pub fn microsoft_cloud(authority: &str) -> Option<MicrosoftCloud> {
    let url = url::Url::parse(authority).ok()?;
    if url.scheme() != "https" || !url.path().trim_end_matches('/').is_empty() || url.port().is_some() {
        return None;
    }
    match url.host_str()?.to_ascii_lowercase().as_str() {
        "login.microsoftonline.com" | "login.windows.net" => Some(MicrosoftCloud::Global),
        "login.microsoftonline.us" => Some(MicrosoftCloud::UsGovernment),
        "login.partner.microsoftonline.cn" | "login.chinacloudapi.cn" => Some(MicrosoftCloud::China),
        _ => None,
    }
}

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
        "invite_other_tenant",
        Actor::User,
        format!(
            "This invitation is for another organization (tenant {}), and your organization's IT allows only {allowed} on this computer. Nothing was changed; if you expected it, ask IT.",
            inv.tenant
        ),
    )
    .with("tenant", &inv.tenant)
    .with("allowed", allowed)
}

fn apply_policy(policy: &Policy, inv: &Invitation, current: Option<&OrgSettings>) -> Result<Effective, UiError> {
    if policy.invitations == InvitationRule::None {
        return Err(UiError::new(
            "invite_refused_by_policy",
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
            "invite_authority_not_allowed",
            Actor::User,
            format!(
                "This invitation signs in at {authority}, which your organization's IT does not allow on this computer (allowed: {}). Nothing was changed; ask IT or your administrator.",
                policy.allowed_authorities.join(", ")
            ),
        )
        .with("authority", &authority)
        .with("allowed", policy.allowed_authorities.join(", ")));
    }
    Ok(Effective { organization_name, authority, client_id, redirect_mode, overrides })
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
    let already_registered = accounts::find_by_address(conn, &inv.address)?.is_some();
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
        replaces: replaced(current, inv, &e),
        overrides: e.overrides,
        already_registered,
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
    if let Some(c) = replaced(current, inv, &e).filter(|_| !replace_existing) {
        return Err(UiError::new(
            "invite_replaces_org",
            Actor::User,
            format!(
                "This computer is set up for another organization (tenant {}); accepting would replace it with tenant {}. Nothing was changed; confirm the replacement explicitly if that is what you want.",
                c.tenant, inv.tenant
            ),
        )
        .with("current", &c.tenant)
        .with("invited", &inv.tenant));
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
            "issuer_mismatch",
            Actor::Admin,
            format!(
                "The invitation names tenant ID {} but Microsoft's discovery document for {} names {}; ask your administrator for a new invitation. Nothing was changed.",
                inv.tenant_id, inv.tenant, v.tenant_id
            ),
        )
        .with("expected", &inv.tenant_id)
        .with("actual", &v.tenant_id));
    }
    let account = ValidAccount {
        login_name: inv.login_name.clone(),
        user_display_name: inv.display_name.clone(),
        address: inv.address.clone(),
        display_name: inv.display_name.clone(),
        receive_protocol: inv.receive_protocol,
    };
    let endpoints = inv.endpoints.clone().unwrap_or_else(org::exchange_online_endpoints);
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(sql)?;
    org::write_settings(&tx, &v, "invitation.settings")?;
    let server = org::server(&tx, EXCHANGE_ONLINE_ID)?;
    if (&server.imap, &server.pop3, &server.smtp) != (&endpoints.imap, &endpoints.pop3, &endpoints.smtp) {
        org::write_endpoints(&tx, &server.name, EXCHANGE_ONLINE_ID, &endpoints.imap, &endpoints.pop3, &endpoints.smtp)?;
    }
    let id = match accounts::find_by_address(&tx, &inv.address)? {
        // Already here (e.g. opened twice): keep it and its sign-in state.
        Some(existing) => existing.id,
        None => accounts::insert_account(&tx, &account, EXCHANGE_ONLINE_ID, &now()).map_err(sql)?,
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
        account: accounts::get(&conn, id)?,
        org: org::org_settings(&conn).map_err(sql)?.expect("just saved"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_microsoft_clouds_and_everything_else() {
        assert_eq!(microsoft_cloud("https://login.microsoftonline.com"), Some(MicrosoftCloud::Global));
        assert_eq!(microsoft_cloud("https://LOGIN.microsoftonline.us"), Some(MicrosoftCloud::UsGovernment));
        assert_eq!(microsoft_cloud("https://login.partner.microsoftonline.cn"), Some(MicrosoftCloud::China));
        for other in [
            "https://login.microsoftonline.com.evil.example",
            "http://login.microsoftonline.com",
            "https://login.microsoftonline.com:8443",
            "https://login.microsoftonline.com/x",
            "http://127.0.0.1:8080",
            "https://login.microsoft0nline.com",
        ] {
            assert_eq!(microsoft_cloud(other), None, "{other}");
        }
    }
}
