//! Self-service: a user sets up the mailbox they type, where the organization allows it.
//!
//! Why: in the original procedure step 2 is optional ("if each user sets up their own mail
//! account, go to step 3"), and a user may add an account in their own settings. Here a user could
//! only pick a mailbox the administrator registered. Two ways in, both ending in the same sign-in:
//! - the **organization invitation**: one link or file for everyone (the intranet, a notice),
//!   carrying the organization but no mailbox; accepting it stores the organization only;
//! - the **managed policy**: where it locks `tenant` and `clientId` and says `selfService: true`,
//!   no invitation is needed at all ([`crate::policy::Policy::self_service_organization`]).
//!
//! Trust: a typed address is only a `login_hint` until Microsoft has signed the person in. It is
//! kept in memory ([`crate::auth::Auth::begin_self_sign_in`]), and the mailbox is registered —
//! marked self-registered — only after the sign-in's wrong-account guard found the signed-in
//! identity to be that address, before the keychain is written. A different identity stores
//! nothing: no account, no token.
//!
//! Who decides: the policy's `selfService` first (`false` forbids, `true` allows); else step 1's
//! switch on the administrator's computer, and an accepted organization invitation on a user's.
//! The organization invitation's receipt code is shared by everyone who uses it: a receipt that
//! carries it adds the mailbox to the administrator's list, marked self-registered (see
//! [`crate::rollout::inbox`]), only while self-service is on there and only when the receipt came
//! from the mailbox it names.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use ts_rs::TS;

use crate::accounts::{self, ValidAccount};
use crate::error::{Actor, ErrorKind, UiError};
use crate::invite::{self, Invitation, ReceiptRequest};
use crate::model::ReceiveProtocol;
use crate::org::{sql, EXCHANGE_ONLINE_ID};
use crate::policy::Policy;
use crate::store::{audit, now};
use crate::{validate, DetailKey};

/// Self-service as step 1 and the sign-in screen show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SelfServiceState {
    /// A user of this computer may set up the mailbox they type (after the policy).
    pub enabled: bool,
    /// The managed policy's `selfService`, when it says one: step 1's switch is then read-only.
    pub managed: Option<bool>,
    /// The policy pins the whole organization: no invitation is needed on this computer.
    pub pinned_by_policy: bool,
}

/// The organization invitation, as the administrator hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OrganizationInvitation {
    pub link: String,
    /// A safe file name for the `.exoinvite` form.
    pub file_name: String,
    /// Where users' receipts go (the rollout sender), when one is chosen.
    pub receipt_to: Option<String>,
}

/// The stored row.
struct Row {
    enabled: bool,
    code: String,
    report_to: Option<String>,
}

fn row(conn: &Connection) -> Result<Option<Row>, UiError> {
    conn.query_row("SELECT enabled, code, report_to FROM self_service WHERE id = 1", [], |r| {
        Ok(Row { enabled: r.get::<_, i64>(0)? == 1, code: r.get(1)?, report_to: r.get(2)? })
    })
    .optional()
    .map_err(sql)
}

/// The organization's receipt code, made once (a policy that allows self-service may leave step
/// 1's switch untouched, so the row may not exist yet).
fn code(conn: &Connection) -> Result<String, UiError> {
    conn.execute(
        "INSERT INTO self_service (id, enabled, code, changed_at) VALUES (1, 0, ?1, ?2) ON CONFLICT (id) DO NOTHING",
        params![new_code(), now()],
    )
    .map_err(sql)?;
    conn.query_row("SELECT code FROM self_service WHERE id = 1", [], |r| r.get(0)).map_err(sql)
}

fn new_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether self-service is on, after the policy.
pub fn state(conn: &Connection, policy: &Policy) -> Result<SelfServiceState, UiError> {
    let stored = row(conn)?.is_some_and(|r| r.enabled);
    Ok(SelfServiceState {
        enabled: policy.self_service.unwrap_or(stored),
        managed: policy.self_service,
        pinned_by_policy: policy.self_service_organization().is_some(),
    })
}

fn refused_by_policy() -> UiError {
    UiError::new(
        ErrorKind::SelfServiceRefusedByPolicy,
        Actor::User,
        "Your organization's IT does not allow setting up a mailbox by typing its address on this computer. Nothing was changed. Ask your administrator for an invitation to your own mailbox.",
    )
}

/// Step 1's switch (the administrator's computer). A value the policy contradicts is refused.
pub fn set_enabled(conn: &Connection, policy: &Policy, enabled: bool) -> Result<SelfServiceState, UiError> {
    if let Some(managed) = policy.self_service.filter(|m| *m != enabled) {
        return Err(UiError::new(
            ErrorKind::PolicyLockedField,
            Actor::User,
            format!(
                "Your organization's IT manages self-service on this computer: it is {}. Ask IT to change the policy.",
                if managed { "on" } else { "off" }
            ),
        )
        .with(DetailKey::Field, "selfService")
        .with(DetailKey::Value, managed));
    }
    let ts = now();
    conn.execute(
        "INSERT INTO self_service (id, enabled, code, changed_at) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at",
        params![enabled as i64, new_code(), ts],
    )
    .map_err(sql)?;
    audit(conn, "self_service.set", "", serde_json::json!({ "enabled": enabled })).map_err(sql)?;
    state(conn, policy)
}

/// The organization invitation (no mailbox): step 1 must be saved and self-service on. Its
/// receipts go to the rollout sender when one is chosen.
pub fn organization_invitation(
    conn: &Connection,
    policy: &Policy,
) -> Result<(OrganizationInvitation, Invitation), UiError> {
    if !state(conn, policy)?.enabled {
        return Err(not_allowed(Actor::Admin, "Turn on self-service in step 1 first: the organization invitation lets anyone who has it set up their own mailbox."));
    }
    let org = crate::invite::org_required(conn)?;
    let code = code(conn)?;
    let receipts = crate::rollout::settings::get(conn)?.map(|s| ReceiptRequest { to: s.sender, code });
    let inv = Invitation { receipts, ..crate::invite::organization_invitation(conn, &org, EXCHANGE_ONLINE_ID)? };
    let out = OrganizationInvitation {
        link: invite::link(&inv),
        file_name: format!("organization.{}", invite::FILE_EXTENSION),
        receipt_to: inv.receipts.as_ref().map(|r| r.to.clone()),
    };
    Ok((out, inv))
}

fn not_allowed(actor: Actor, message: &str) -> UiError {
    UiError::new(ErrorKind::SelfServiceNotAllowed, actor, message.to_owned())
}

/// A user's computer accepted an organization invitation: self-service on, and where its
/// receipts go. Part of the accept's transaction.
pub(crate) fn accept_organization(tx: &Transaction<'_>, receipts: Option<&ReceiptRequest>) -> Result<(), UiError> {
    let (code, to) = match receipts {
        Some(r) => (r.code.clone(), Some(r.to.clone())),
        None => (new_code(), None),
    };
    tx.execute(
        "INSERT INTO self_service (id, enabled, code, report_to, changed_at) VALUES (1, 1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET enabled = 1, code = excluded.code, report_to = excluded.report_to,
           changed_at = excluded.changed_at",
        params![code, to, now()],
    )
    .map_err(sql)?;
    Ok(())
}

/// Refuses a typed-address sign-in unless the policy or this computer allows self-service.
pub(crate) fn require_allowed(conn: &Connection, policy: &Policy) -> Result<(), UiError> {
    if policy.self_service == Some(false) {
        return Err(refused_by_policy());
    }
    if state(conn, policy)?.enabled {
        return Ok(());
    }
    Err(not_allowed(
        Actor::Admin,
        "This computer can set up only mailboxes your administrator registered or invited: self-service is not turned on for your organization here. Nothing was changed. Ask your administrator for an invitation (or for the organization's invitation).",
    ))
}

/// Refuses an organization invitation where the policy forbids self-service.
pub(crate) fn require_not_forbidden(policy: &Policy) -> Result<(), UiError> {
    if policy.self_service == Some(false) {
        return Err(refused_by_policy());
    }
    Ok(())
}

/// Registers the mailbox a sign-in just proved (marked self-registered), with the receipt plan
/// of the organization invitation when it asked for receipts. Part of the sign-in's write.
pub(crate) fn register(conn: &mut Connection, address: &str, protocol: ReceiveProtocol) -> Result<i64, UiError> {
    let address = validate::address(address)?;
    let tx = conn.transaction().map_err(sql)?;
    if let Some(existing) = accounts::find_by_address(&tx, &address)? {
        return Ok(existing.id);
    }
    let id =
        accounts::insert_account(&tx, &typed_account(&address, protocol), EXCHANGE_ONLINE_ID, &now()).map_err(sql)?;
    tx.execute("UPDATE mail_accounts SET self_registered = 1 WHERE id = ?1", [id]).map_err(sql)?;
    if let Some(plan) = row(&tx)?.and_then(|r| r.report_to.map(|to| ReceiptRequest { to, code: r.code })) {
        crate::rollout::plan_receipts(&tx, id, &plan)?;
    }
    audit(&tx, "self_service.register", &address, serde_json::json!({ "protocol": protocol.as_str() })).map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(id)
}

/// The account of a typed (self-service) mailbox: the address is the login name; the local part
/// stands for the name until the administrator edits it.
pub(crate) fn typed_account(address: &str, protocol: ReceiveProtocol) -> ValidAccount {
    let local = address.split('@').next().unwrap_or(address).to_owned();
    ValidAccount {
        login_name: address.to_owned(),
        user_display_name: local.clone(),
        address: address.to_owned(),
        display_name: local,
        receive_protocol: protocol,
    }
}

/// The administrator's side: `code` is the organization invitation's and self-service is on, so
/// a receipt carrying it may add its mailbox to the list.
pub(crate) fn is_organization_code(conn: &Connection, policy: &Policy, code: &str) -> Result<bool, UiError> {
    Ok(state(conn, policy)?.enabled && row(conn)?.is_some_and(|r| r.code == code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn policy(self_service: Option<bool>) -> Policy {
        Policy { self_service, ..Policy::default() }
    }

    #[test]
    fn step_1s_switch_turns_it_on_and_the_policy_always_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let conn = store.conn();
        assert!(!state(&conn, &policy(None)).unwrap().enabled);
        assert_eq!(require_allowed(&conn, &policy(None)).unwrap_err().kind, ErrorKind::SelfServiceNotAllowed);
        assert!(set_enabled(&conn, &policy(None), true).unwrap().enabled);
        require_allowed(&conn, &policy(None)).unwrap();
        // IT forbids it: off whatever step 1 says, and the switch cannot turn it on.
        let off = policy(Some(false));
        assert!(!state(&conn, &off).unwrap().enabled);
        assert_eq!(require_allowed(&conn, &off).unwrap_err().kind, ErrorKind::SelfServiceRefusedByPolicy);
        let e = set_enabled(&conn, &off, true).unwrap_err();
        assert_eq!((e.kind, e.detail[&DetailKey::Field].as_str()), (ErrorKind::PolicyLockedField, "selfService"));
        // IT allows it: on even with step 1's switch off.
        set_enabled(&conn, &policy(None), false).unwrap();
        assert!(state(&conn, &policy(Some(true))).unwrap().enabled);
        assert!(!state(&conn, &policy(None)).unwrap().enabled);
    }

    #[test]
    fn the_organization_code_is_kept_when_the_switch_is_turned_off_and_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let conn = store.conn();
        set_enabled(&conn, &policy(None), true).unwrap();
        let code = row(&conn).unwrap().unwrap().code;
        assert!(ReceiptRequest::code_is_valid(&code), "{code}");
        assert!(is_organization_code(&conn, &policy(None), &code).unwrap());
        set_enabled(&conn, &policy(None), false).unwrap();
        // Off: a receipt with the code adds nobody.
        assert!(!is_organization_code(&conn, &policy(None), &code).unwrap());
        set_enabled(&conn, &policy(None), true).unwrap();
        assert_eq!(row(&conn).unwrap().unwrap().code, code, "links already handed out keep working");
        assert!(!is_organization_code(&conn, &policy(None), &"0".repeat(32)).unwrap());
    }
}
