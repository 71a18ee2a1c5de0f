//! The state of the four steps, derived from the store on every call (never stored, so it can
//! never disagree with the data).

use rusqlite::{Connection, OptionalExtension};

use crate::error::UiError;
use crate::identity;
use crate::model::{AdminConsent, AppInfo, RedirectMode, RedirectUri, SetupOverview, StepState, StepStatus};
use crate::org::{self, sql, EXCHANGE_ONLINE_ID};

/// The redirect URIs to register under "Mobile and desktop applications".
pub fn redirect_uris() -> Vec<RedirectUri> {
    let platform = "Mobile and desktop applications".to_owned();
    vec![
        RedirectUri {
            uri: identity::deep_link_redirect_uri(),
            mode: RedirectMode::DeepLink,
            platform: platform.clone(),
        },
        RedirectUri { uri: identity::LOOPBACK_REDIRECT_URI.to_owned(), mode: RedirectMode::Loopback, platform },
    ]
}

/// The newest admin consent recorded for the current tenant and app.
pub fn current_consent(conn: &Connection, tenant_id: &str, client_id: &str) -> Result<Option<AdminConsent>, UiError> {
    conn.query_row(
        "SELECT tenant_id, client_id, scopes, granted_by, granted_at FROM admin_consents
         WHERE tenant_id = ?1 AND client_id = ?2 ORDER BY id DESC LIMIT 1",
        [tenant_id, client_id],
        |r| {
            Ok(AdminConsent {
                tenant_id: r.get(0)?,
                client_id: r.get(1)?,
                scopes: r.get::<_, String>(2)?.split_whitespace().map(str::to_owned).collect(),
                granted_by: r.get(3)?,
                granted_at: r.get(4)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// What step 3 asks consent for: the protocols the registered accounts use (IMAP when there
/// are none yet), SMTP always, plus `offline_access`.
pub fn consent_protocols(conn: &Connection) -> Result<crate::oauth::MailScopes, UiError> {
    let (imap, pop): (bool, bool) = conn
        .query_row(
            "SELECT count(*) FILTER (WHERE receive_protocol = 'imap') > 0, count(*) FILTER (WHERE receive_protocol = 'pop3') > 0 FROM mail_accounts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    // Self-service users choose their protocol themselves: the consent must cover both.
    let self_service: bool = conn
        .query_row("SELECT coalesce((SELECT enabled FROM self_service WHERE id = 1), 0)", [], |r| r.get(0))
        .map_err(sql)?;
    Ok(crate::oauth::MailScopes { imap: imap || !pop || self_service, pop: pop || self_service, smtp: true })
}

/// Everything the wizard draws, under the machine's managed policy (an unreadable policy
/// counts as none here; the UI shows its error from `policy::load` and sign-in refuses).
pub fn overview(conn: &Connection) -> Result<SetupOverview, UiError> {
    overview_with(conn, &crate::policy::load().unwrap_or_default())
}

/// [`overview`] under a given policy.
pub fn overview_with(conn: &Connection, policy: &crate::policy::Policy) -> Result<SetupOverview, UiError> {
    let org = org::org_settings(conn).map_err(sql)?;
    let policy_conflicts = org.as_ref().map(|o| policy.conflicts(o)).unwrap_or_default();
    let servers = org::servers(conn).map_err(sql)?;
    let exchange =
        servers.iter().find(|s| s.id == EXCHANGE_ONLINE_ID).cloned().expect("migration seeds Exchange Online");
    let account_count = crate::accounts::count(conn)?;
    let consent = match &org {
        Some(o) => current_consent(conn, &o.tenant_id, &o.client_id)?,
        None => None,
    };
    let (signed_in, verified): (u32, u32) = conn
        .query_row(
            "SELECT count(*) FILTER (WHERE status IN ('signed_in', 'verified')), count(*) FILTER (WHERE status = 'verified') FROM mail_accounts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;

    let step1 = if exchange.enabled && org.is_some() && policy_conflicts.is_empty() {
        StepStatus::Done
    } else {
        StepStatus::Todo
    };
    let blocked_unless_1 = |s: StepStatus| if step1 == StepStatus::Done { s } else { StepStatus::Blocked };
    // Self-service makes step 2 optional, as in the original procedure ("if each user sets up their
    // own mail account, go to step 3"), and step 4 open before any mailbox is registered here.
    let self_service = crate::self_service::state(conn, policy)?;
    let step2 =
        blocked_unless_1(if account_count > 0 || self_service.enabled { StepStatus::Done } else { StepStatus::Todo });
    let consent_scopes: Vec<String> =
        consent_protocols(conn)?.with_offline_access().into_iter().map(str::to_owned).collect();
    let consent_missing: Vec<String> = consent_scopes
        .iter()
        .filter(|s| !consent.as_ref().is_some_and(|c| c.scopes.iter().any(|g| g.eq_ignore_ascii_case(s))))
        .cloned()
        .collect();
    let step3 = blocked_unless_1(if consent.is_some() && consent_missing.is_empty() {
        StepStatus::Done
    } else {
        StepStatus::Todo
    });
    let step4 = if account_count == 0
        && (self_service.pinned_by_policy || (self_service.enabled && step1 == StepStatus::Done))
    {
        // The policy pins the organization: step 1 is done from it at the first sign-in.
        StepStatus::Todo
    } else if account_count == 0 || step1 != StepStatus::Done {
        StepStatus::Blocked
    } else if verified == account_count {
        StepStatus::Done
    } else if signed_in > 0 {
        StepStatus::Partial
    } else {
        StepStatus::Todo
    };
    let steps = [step1, step2, step3, step4]
        .into_iter()
        .enumerate()
        .map(|(i, status)| StepState { step: i as u8 + 1, status })
        .collect();
    Ok(SetupOverview {
        org,
        exchange,
        servers,
        account_count,
        consent,
        consent_scopes,
        consent_missing,
        redirect_uris: redirect_uris(),
        steps,
        policy_conflicts,
    })
}

/// Facts about this installation.
pub fn app_info(data_dir: &std::path::Path) -> AppInfo {
    AppInfo {
        product_name: identity::PRODUCT_NAME.to_owned(),
        version: identity::VERSION.to_owned(),
        identifier: identity::IDENTIFIER.to_owned(),
        deep_link_scheme: identity::DEEP_LINK_SCHEME.to_owned(),
        data_dir: data_dir.display().to_string(),
        system_locale: sys_locale::get_locale().unwrap_or_else(|| "en-US".to_owned()),
        os_user: crate::store::os_user(),
        demo: demo_settings(),
    }
}

/// Step 1's values for the demo emulator, from `EXO_SETUP_DEMO_AUTHORITY`, `EXO_SETUP_DEMO_TENANT`
/// and `EXO_SETUP_DEMO_CLIENT_ID` (all three must be set).
fn demo_settings() -> Option<crate::model::OrgSettingsInput> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    Some(crate::model::OrgSettingsInput {
        organization_name: var("EXO_SETUP_DEMO_ORGANIZATION").unwrap_or_else(|| "Demo organization".to_owned()),
        authority: var("EXO_SETUP_DEMO_AUTHORITY")?,
        tenant: var("EXO_SETUP_DEMO_TENANT")?,
        client_id: var("EXO_SETUP_DEMO_CLIENT_ID")?,
        redirect_mode: RedirectMode::DeepLink,
    })
}
