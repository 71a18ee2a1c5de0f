//! The user's side of receipts: after an invitation mailed by the administrator's app was
//! accepted here, send its receipts back — once when the mailbox is verified, once when the user
//! signs out — over the user's own SMTP session (XOAUTH2, the mail check's login), to the address
//! the invitation named.
//!
//! The plan (`receipt_plan`, one row per account) is written when the invitation is accepted
//! ([`plan_receipts`]); a mailbox set up without a mailed invitation has none and sends nothing.
//! The managed policy's `sendReceipts: false` keeps every receipt of this computer unsent. Each
//! event is sent at most once: the plan records when it was.

use rusqlite::{params, Connection, OptionalExtension};

use crate::audience::AllowedEndpoint;
use crate::auth::Auth;
use crate::error::{Actor, ErrorKind, UiError};
use crate::invite::ReceiptRequest;
use crate::mailcheck::smtp::{self, SendOutcome};
use crate::mailcheck::{self, CheckOptions, MailCheckError, MailProtocol};
use crate::model::{AccountRow, Endpoint};
use crate::org::sql;
use crate::store::{audit, now};
use crate::DetailKey;

use super::receipt::{self, Receipt, ReceiptEvent};
use super::settings::MailLanguage;

/// Remembers where `account_id`'s receipts go (an accepted invitation's request). A new code
/// (another invitation) sends its receipts again; the same one keeps what was sent.
pub fn plan_receipts(conn: &Connection, account_id: i64, request: &ReceiptRequest) -> Result<(), UiError> {
    if !ReceiptRequest::code_is_valid(&request.code) {
        return Err(UiError::new(
            ErrorKind::InviteMalformed,
            Actor::Admin,
            "The invitation's receipt code is not valid.",
        )
        .with(DetailKey::Field, "receipts"));
    }
    let to = crate::validate::address(&request.to)?;
    conn.execute(
        "INSERT INTO receipt_plan (account_id, report_to, receipt_code) VALUES (?1, ?2, ?3)
         ON CONFLICT (account_id) DO UPDATE SET
             report_to = excluded.report_to,
             receipt_code = excluded.receipt_code,
             verified_sent_at = CASE WHEN receipt_code = excluded.receipt_code THEN verified_sent_at END,
             signed_out_sent_at = CASE WHEN receipt_code = excluded.receipt_code THEN signed_out_sent_at END",
        params![account_id, to, request.code],
    )
    .map(drop)
    .map_err(sql)
}

/// The column that says when `event`'s receipt was sent.
fn sent_column(event: ReceiptEvent) -> &'static str {
    match event {
        ReceiptEvent::Verified => "verified_sent_at",
        ReceiptEvent::SignedOut => "signed_out_sent_at",
    }
}

/// A receipt to send: to whom, with which code, from which mailbox and server.
struct Due {
    account_id: i64,
    address: String,
    report_to: String,
    code: String,
    smtp: Endpoint,
    authority: String,
    origin: crate::audience::EndpointsOrigin,
}

fn due(conn: &Connection, address: &str, event: ReceiptEvent) -> Result<Option<Due>, UiError> {
    let Some(account) = crate::accounts::find_by_address(conn, address)? else { return Ok(None) };
    let plan: Option<(String, String, Option<String>)> = conn
        .query_row(
            &format!("SELECT report_to, receipt_code, {} FROM receipt_plan WHERE account_id = ?1", sent_column(event)),
            [account.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
    let Some((report_to, code, None)) = plan else { return Ok(None) };
    let server = crate::auth::usable_server(conn, &account)?;
    let authority = crate::org::org_settings(conn).map_err(sql)?.map(|o| o.authority).unwrap_or_default();
    let origin = crate::org::endpoints_origin(conn, server.id)?;
    Ok(Some(Due {
        account_id: account.id,
        address: account.address,
        report_to,
        code,
        smtp: server.smtp,
        authority,
        origin,
    }))
}

/// The language of the receipt's text: this computer's (the JSON is what the app reads).
fn language() -> MailLanguage {
    match sys_locale::get_locale() {
        Some(l) if l.to_ascii_lowercase().starts_with("ja") => MailLanguage::Ja,
        _ => MailLanguage::En,
    }
}

/// Sends `address`'s receipt of `event` (with the `protocols` that work), if its invitation asked
/// for receipts, the policy allows them and it was not sent before: `Ok(true)` when the server took
/// it, `Ok(false)` when there was nothing to send. A refusal is the mail check's error (the
/// receipt stays due; calling again tries again).
pub async fn send_receipt(
    auth: &Auth,
    address: &str,
    event: ReceiptEvent,
    protocols: &[MailProtocol],
    opts: &CheckOptions,
) -> Result<bool, UiError> {
    let policy = auth.policy()?;
    if !policy.sends_receipts() {
        return Ok(false);
    }
    let a = address.trim().to_owned();
    let Some(d) = auth.db(move |store| due(&store.conn(), &a, event)).await? else { return Ok(false) };
    let endpoint =
        AllowedEndpoint::permit(&d.smtp, &d.authority, d.origin, &policy.allowed_mail_hosts).map_err(|why| {
            let e = if why.origin == crate::audience::EndpointsOrigin::BuiltInDefaults {
                MailCheckError::HostOfAnotherCloud { cloud: why.cloud, authority: why.authority }
            } else {
                MailCheckError::HostNotAllowed { cloud: why.cloud, authority: why.authority }
            };
            e.to_ui(MailProtocol::Smtp, &d.smtp, &d.address)
        })?;
    let r = Receipt::new(&d.code, event, &d.address, protocols);
    let mail = receipt::compose(&r, &d.address, &d.report_to, language())?;
    let token = auth.access_token(&d.address).await?;
    let blob = mailcheck::xoauth2_blob(&d.address, &token.token);
    let ep = endpoint.endpoint();
    let fail = |e: MailCheckError| {
        mailcheck::scrub_error(e.to_ui(MailProtocol::Smtp, ep, &d.address), &[token.token.expose(), blob.expose()])
    };
    let (mut conn, heard) = smtp::login(ep, opts, &blob).await.map_err(fail)?;
    let outcome = smtp::send(&mut conn, &heard, opts, mail.envelope(), &mail.formatted()).await;
    smtp::quit(&mut conn, opts).await;
    match outcome {
        SendOutcome::Accepted(_) => {}
        SendOutcome::Temporary(reply) => return Err(fail(MailCheckError::TemporaryFailure { reply })),
        SendOutcome::Permanent(reply) => return Err(fail(MailCheckError::CommandFailed { command: "DATA", reply })),
    }
    let (account_id, address) = (d.account_id, d.address.clone());
    auth.db(move |store| {
        let conn = store.conn();
        conn.execute(
            &format!("UPDATE receipt_plan SET {} = ?2 WHERE account_id = ?1", sent_column(event)),
            params![account_id, now()],
        )
        .map_err(sql)?;
        audit(&conn, "rollout.receipt_sent", &address, serde_json::json!({ "event": event.as_str() })).map_err(sql)
    })
    .await?;
    tracing::info!(event = event.as_str(), "rollout receipt sent");
    Ok(true)
}

/// Signs `address` out on this computer, after sending the "signed out" receipt its invitation
/// asked for — first, while the sign-in can still send it. Best effort: a receipt that cannot be
/// sent (offline, refused) never keeps anyone signed in.
pub async fn sign_out_reporting(auth: &Auth, address: &str, opts: &CheckOptions) -> Result<AccountRow, UiError> {
    let protocols: [MailProtocol; 0] = [];
    match tokio::time::timeout(
        SIGN_OUT_RECEIPT_WAIT,
        send_receipt(auth, address, ReceiptEvent::SignedOut, &protocols, opts),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(kind = %e.kind, "the sign-out receipt could not be sent"),
        Err(_) => tracing::warn!("the sign-out receipt took too long; signing out without it"),
    }
    auth.sign_out(address).await
}

/// How long signing out waits for its receipt.
const SIGN_OUT_RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
