//! The administrator's side of receipts: read what came back to the rollout's mailbox over IMAP
//! with XOAUTH2, on demand (and by timer while the wizard is open), and record it.
//!
//! Finding the mails: Exchange Online's IMAP search does not reliably find custom headers, so the
//! reader does not ask the server to: it searches by date only (`UID SEARCH UNDELETED SINCE`, a
//! window from the last read, or from the first invitation sent), fetches the three headers that
//! tell (`Content-Type`, `Subject`, `X-Exo-Setup-Receipt`) of at most [`MAX_SCANNED`] mails, and fetches
//! whole only the mails that may be ours and are at most [`MAX_MESSAGE_BYTES`]. Works the same
//! on any IMAP4rev1 server.
//!
//! What is done with them ([`super::receipt::classify`]): a receipt whose code and mailbox match an
//! account records `verified`/`signed_out`; a bounce matched by the receipt code or by the
//! invitation's Message-ID records `bounced`; a receipt (or a bounce of ours) that matches nothing
//! is counted as unmatched. All of these are moved to the folder [`FOLDER`] (made if missing;
//! `UID MOVE`, else `COPY` + `\Deleted` + `UID EXPUNGE`), so the next read does not see them again
//! and never counts twice. Anything else — the administrator's own mail, reports about their own
//! mail — stays where it is, untouched (`BODY.PEEK`: not even marked read).
//!
//! Order: the mails are moved first, then the database is written in one transaction. A lost
//! connection before the move changes nothing (read again); a database failure after it leaves the
//! mails in the folder, where the administrator can move them back to the inbox to read again.

use futures_util::StreamExt;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;

use crate::audience::AllowedEndpoint;
use crate::auth::Auth;
use crate::error::UiError;
use crate::mailcheck::imap::{self, ImapSession};
use crate::mailcheck::net::Heard;
use crate::mailcheck::{self, CheckOptions, MailCheckError, MailProtocol, Step};
use crate::model::ReceiveProtocol;
use crate::org::sql;
use crate::policy::Policy;
use crate::store::{audit, now};

use super::receipt::{self, Incoming, Receipt, ReceiptEvent};
use super::settings;

/// Where processed receipts and bounces go, in the administrator's mailbox.
pub const FOLDER: &str = "exo-setup receipts";

/// Most mails of the window looked at in one read (the newest).
pub const MAX_SCANNED: usize = 2000;

/// Mails larger than this are not fetched (no receipt or bounce of ours is).
pub const MAX_MESSAGE_BYTES: u32 = 256 * 1024;

/// The window of the first read when no invitation was sent yet.
const FIRST_WINDOW_DAYS: i64 = 30;

/// How far before the last read (or the first invitation) the window starts: IMAP's `SINCE` has
/// day granularity and ignores time zones.
const OVERLAP_DAYS: i64 = 2;

/// UIDs per FETCH of headers, and per FETCH of whole mails.
const HEADER_CHUNK: usize = 250;
const BODY_CHUNK: usize = 20;

/// What one read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ReadSummary {
    /// Mails that may have been ours and were looked at.
    pub read: u32,
    /// Receipts that recorded a verified mailbox.
    pub verified: u32,
    /// Receipts that recorded a sign-out.
    pub signed_out: u32,
    /// Mailboxes added to the list from the organization invitation's receipts (self-service).
    pub self_registered: u32,
    /// Delivery failures recorded against an account.
    pub bounced: u32,
    /// Receipts (or bounces of ours) that matched no account, or were not valid receipts.
    pub unmatched: u32,
    /// Not ours after all (left in the inbox).
    pub other: u32,
}

/// What a mail means for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Verified {
        account_id: i64,
        receipt: Receipt,
    },
    /// A receipt with the organization invitation's code for a mailbox: added (marked
    /// self-registered) unless already listed, then recorded like any receipt.
    SelfRegistered {
        receipt: Receipt,
    },
    SignedOut {
        account_id: i64,
        at: String,
    },
    Bounced {
        account_id: i64,
        status: String,
    },
    Unmatched,
    Other,
}

/// The receipt's time in the form the database keeps (UTC, seconds), never after `now`.
fn normalized_at(at: &str, now: &str) -> String {
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|_| now.to_owned());
    if at.as_str() > now {
        now.to_owned()
    } else {
        at
    }
}

/// The account a receipt code belongs to, and its address.
fn by_code(conn: &Connection, code: &str) -> Result<Option<(i64, String)>, UiError> {
    conn.query_row(
        "SELECT r.account_id, a.address FROM rollout r JOIN mail_accounts a ON a.id = r.account_id
         WHERE r.receipt_code = ?1",
        [code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(sql)
}

/// What `incoming` means, against the database as it is.
fn decide(conn: &Connection, policy: &Policy, incoming: Incoming) -> Result<Action, UiError> {
    Ok(match incoming {
        Incoming::Receipt(r) => match by_code(conn, &r.code)? {
            Some((account_id, address)) if address.eq_ignore_ascii_case(&r.mailbox) => match r.event {
                ReceiptEvent::Verified => Action::Verified { account_id, receipt: r },
                ReceiptEvent::SignedOut => Action::SignedOut { account_id, at: r.at },
            },
            None if crate::self_service::is_organization_code(conn, policy, &r.code)? => {
                Action::SelfRegistered { receipt: r }
            }
            _ => Action::Unmatched,
        },
        Incoming::MalformedReceipt { .. } => Action::Unmatched,
        Incoming::Bounce { code, message_id, status, diagnostic, .. } => {
            let mut account = match &code {
                Some(c) => by_code(conn, c)?.map(|(id, _)| id),
                None => None,
            };
            if account.is_none() {
                if let Some(id) = &message_id {
                    account = conn
                        .query_row("SELECT account_id FROM outbox WHERE message_id = ?1", [id], |r| r.get(0))
                        .optional()
                        .map_err(sql)?;
                }
            }
            let status = match diagnostic {
                Some(d) => format!("{status} {d}"),
                None => status,
            };
            match (account, code) {
                (Some(account_id), _) => Action::Bounced { account_id, status },
                // Quotes our header, but the account is gone: ours, counted.
                (None, Some(_)) => Action::Unmatched,
                // A report about some other mail of the administrator's.
                (None, None) => Action::Other,
            }
        }
        Incoming::Other => Action::Other,
    })
}

/// A receipt saying the mailbox was verified (an older one never overwrites a newer one).
fn record_verified(tx: &Connection, account_id: i64, receipt: &Receipt, at_now: &str) -> Result<(), UiError> {
    let at = normalized_at(&receipt.at, at_now);
    tx.execute(
        "UPDATE rollout SET verified_at = ?2, protocols = ?3, app_version = ?4, os_family = ?5
         WHERE account_id = ?1 AND (verified_at IS NULL OR verified_at <= ?2)",
        params![account_id, at, receipt.protocols_text(), receipt.app_version, receipt.os_family],
    )
    .map(drop)
    .map_err(sql)
}

/// A receipt saying the user signed out (an older one never overwrites a newer one).
fn record_signed_out(tx: &Connection, account_id: i64, at: &str, at_now: &str) -> Result<(), UiError> {
    let at = normalized_at(at, at_now);
    tx.execute(
        "UPDATE rollout SET signed_out_at = ?2
         WHERE account_id = ?1 AND (signed_out_at IS NULL OR signed_out_at <= ?2)",
        params![account_id, at],
    )
    .map(drop)
    .map_err(sql)
}

/// Writes a read's outcome in one transaction: the accounts, the unmatched count, the time of
/// the read and an audit entry.
fn record(conn: &mut Connection, sender: &str, actions: &[Action]) -> Result<ReadSummary, UiError> {
    let tx = conn.transaction().map_err(sql)?;
    let at_now = now();
    let mut s = ReadSummary { read: actions.len() as u32, ..ReadSummary::default() };
    for action in actions {
        match action {
            Action::Verified { account_id, receipt } => {
                record_verified(&tx, *account_id, receipt, &at_now)?;
                s.verified += 1;
            }
            Action::SelfRegistered { receipt } => {
                let account_id = self_registered_account(&tx, receipt)?;
                match receipt.event {
                    ReceiptEvent::Verified => record_verified(&tx, account_id, receipt, &at_now)?,
                    ReceiptEvent::SignedOut => record_signed_out(&tx, account_id, &receipt.at, &at_now)?,
                }
                s.self_registered += 1;
            }
            Action::SignedOut { account_id, at } => {
                record_signed_out(&tx, *account_id, at, &at_now)?;
                s.signed_out += 1;
            }
            Action::Bounced { account_id, status } => {
                tx.execute(
                    "UPDATE rollout SET bounced_at = ?2, bounce_status = ?3 WHERE account_id = ?1",
                    params![account_id, at_now, status],
                )
                .map_err(sql)?;
                s.bounced += 1;
            }
            Action::Unmatched => s.unmatched += 1,
            Action::Other => s.other += 1,
        }
    }
    tx.execute(
        "UPDATE rollout_settings SET unmatched_receipts = unmatched_receipts + ?1, last_read_at = ?2 WHERE id = 1",
        params![s.unmatched, at_now],
    )
    .map_err(sql)?;
    audit(
        &tx,
        "rollout.read",
        sender,
        serde_json::json!({
            "read": s.read, "verified": s.verified, "signedOut": s.signed_out, "selfRegistered": s.self_registered,
            "bounced": s.bounced, "unmatched": s.unmatched, "other": s.other,
        }),
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(s)
}

/// The account a self-service receipt is about: the listed one, else a new one marked
/// self-registered (its protocol from the receipt: POP3 if it names POP3, else IMAP).
fn self_registered_account(tx: &rusqlite::Transaction<'_>, r: &Receipt) -> Result<i64, UiError> {
    let id = match crate::accounts::find_by_address(tx, &r.mailbox)? {
        Some(a) => a.id,
        None => {
            let address = crate::validate::address(&r.mailbox)?;
            let protocol =
                if r.protocols.contains(&MailProtocol::Pop3) { ReceiveProtocol::Pop3 } else { ReceiveProtocol::Imap };
            let account = crate::self_service::typed_account(&address, protocol);
            let id =
                crate::accounts::insert_account(tx, &account, crate::org::EXCHANGE_ONLINE_ID, &now()).map_err(sql)?;
            tx.execute("UPDATE mail_accounts SET self_registered = 1 WHERE id = ?1", [id]).map_err(sql)?;
            audit(tx, "rollout.self_registered", &address, serde_json::json!({ "protocol": protocol.as_str() }))
                .map_err(sql)?;
            id
        }
    };
    super::outbox::receipt_code(tx, id)?;
    tx.execute("UPDATE rollout SET self_registered = 1 WHERE account_id = ?1", [id]).map_err(sql)?;
    Ok(id)
}

/// What the read needs to know about the rollout's mailbox, read once.
struct Reader {
    address: String,
    endpoint: AllowedEndpoint,
    /// IMAP `SINCE` date, e.g. `01-Jun-2024`.
    since: String,
}

/// The first day of the window: a little before the last read, else before the first invitation
/// sent, else [`FIRST_WINDOW_DAYS`] ago.
fn window_start(conn: &Connection) -> Result<chrono::DateTime<chrono::Utc>, UiError> {
    let last_read = settings::get(conn)?
        .and_then(|s| s.last_read_at)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let first_sent: Option<i64> =
        conn.query_row("SELECT MIN(sent_ms) FROM outbox WHERE sent_ms IS NOT NULL", [], |r| r.get(0)).map_err(sql)?;
    let first_sent = first_sent.and_then(chrono::DateTime::from_timestamp_millis);
    let start =
        last_read.or(first_sent).unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::days(FIRST_WINDOW_DAYS));
    Ok(start - chrono::Duration::days(OVERLAP_DAYS))
}

async fn reader(auth: &Auth) -> Result<Reader, UiError> {
    let policy = auth.policy()?;
    let (address, imap, authority, origin, since) = auth
        .db(|store| {
            let conn = store.conn();
            let s = settings::required(&conn)?;
            let account = crate::accounts::find_by_address(&conn, &s.sender)?
                .ok_or_else(|| settings::not_signed_in(&s.sender))?;
            let server = crate::auth::usable_server(&conn, &account)?;
            let authority = crate::org::org_settings(&conn).map_err(sql)?.map(|o| o.authority);
            let origin = crate::org::endpoints_origin(&conn, server.id)?;
            let since = window_start(&conn)?.format("%d-%b-%Y").to_string();
            Ok((account.address, server.imap, authority.unwrap_or_default(), origin, since))
        })
        .await?;
    let endpoint = AllowedEndpoint::permit(&imap, &authority, origin, &policy.allowed_mail_hosts).map_err(|why| {
        let e = if why.origin == crate::audience::EndpointsOrigin::BuiltInDefaults {
            MailCheckError::HostOfAnotherCloud { cloud: why.cloud, authority: why.authority }
        } else {
            MailCheckError::HostNotAllowed { cloud: why.cloud, authority: why.authority }
        };
        e.to_ui(MailProtocol::Imap, &imap, &address)
    })?;
    Ok(Reader { address, endpoint, since })
}

/// `1,5,7`: a UID set.
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `f` (the IMAP command `command`) within `limit`, its failure as the mail check words it.
async fn timed<T>(
    limit: std::time::Duration,
    heard: &Heard,
    command: &'static str,
    f: impl std::future::Future<Output = async_imap::error::Result<T>>,
) -> Result<T, MailCheckError> {
    match tokio::time::timeout(limit, f).await {
        Err(_) => Err(MailCheckError::Timeout { step: Step::Command, secs: limit.as_secs() }),
        Ok(Err(e)) => Err(imap::command_failed(&e, command, heard)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// The session and its limits.
struct Mailbox<'a> {
    session: &'a mut ImapSession,
    heard: &'a Heard,
    opts: &'a CheckOptions,
}

impl Mailbox<'_> {
    /// A command's limit: the server may search or scan a large mailbox before it answers.
    fn limit(&self) -> std::time::Duration {
        self.opts.timeouts.command + self.opts.timeouts.auth
    }

    /// UIDs in the window, newest [`MAX_SCANNED`], oldest first.
    async fn window(&mut self, since: &str) -> Result<Vec<u32>, MailCheckError> {
        let limit = self.limit();
        let found =
            timed(limit, self.heard, "UID SEARCH", self.session.uid_search(format!("UNDELETED SINCE {since}"))).await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        let skip = uids.len().saturating_sub(MAX_SCANNED);
        Ok(uids.split_off(skip))
    }

    /// `query` for `uids`, each answer handed to `each` (uid, size, header section, whole mail).
    async fn fetch(
        &mut self,
        uids: &[u32],
        query: &'static str,
        mut each: impl FnMut(u32, Option<u32>, Option<&[u8]>, Option<&[u8]>),
    ) -> Result<(), MailCheckError> {
        let limit = self.limit();
        let session = &mut *self.session;
        let work = async {
            let mut stream = session.uid_fetch(uid_set(uids), query).await?;
            while let Some(f) = stream.next().await {
                let f = f?;
                if let Some(uid) = f.uid {
                    each(uid, f.size, f.header(), f.body());
                }
            }
            Ok(())
        };
        timed(limit, self.heard, "UID FETCH", work).await
    }

    /// Moves `uids` out of the inbox to [`FOLDER`], made if missing.
    async fn move_out(&mut self, uids: &[u32]) -> Result<(), MailCheckError> {
        if uids.is_empty() {
            return Ok(());
        }
        let (limit, heard) = (self.limit(), self.heard);
        // Already there is a refusal too (`NO [ALREADYEXISTS]`); a real failure shows in the move.
        let _ = tokio::time::timeout(limit, self.session.create(FOLDER)).await;
        let caps = timed(limit, heard, "CAPABILITY", self.session.capabilities()).await?;
        let (can_move, uidplus) = (caps.has_str("MOVE"), caps.has_str("UIDPLUS"));
        for chunk in uids.chunks(HEADER_CHUNK) {
            let set = uid_set(chunk);
            if can_move {
                timed(limit, heard, "UID MOVE", self.session.uid_mv(&set, FOLDER)).await?;
                continue;
            }
            timed(limit, heard, "UID COPY", self.session.uid_copy(&set, FOLDER)).await?;
            let session = &mut *self.session;
            let flag = async {
                let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
                let mut stream = std::pin::pin!(stream);
                while let Some(r) = stream.next().await {
                    r?;
                }
                Ok(())
            };
            timed(limit, heard, "UID STORE", flag).await?;
            // Without UIDPLUS an EXPUNGE would also remove what the administrator deleted: the
            // copies stay marked \Deleted (the next read skips them: UNDELETED).
            if uidplus {
                let session = &mut *self.session;
                let expunge = async {
                    let stream = session.uid_expunge(&set).await?;
                    let mut stream = std::pin::pin!(stream);
                    while let Some(r) = stream.next().await {
                        r?;
                    }
                    Ok(())
                };
                timed(limit, heard, "UID EXPUNGE", expunge).await?;
            }
        }
        Ok(())
    }
}

/// The mails of the window that may be ours, read: `(uid, what it is)`.
async fn look(mailbox: &mut Mailbox<'_>, since: &str) -> Result<Vec<(u32, Incoming)>, MailCheckError> {
    let uids = mailbox.window(since).await?;
    let mut candidates = Vec::new();
    let mut too_large = Vec::new();
    for chunk in uids.chunks(HEADER_CHUNK) {
        mailbox
            .fetch(
                chunk,
                "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE SUBJECT X-EXO-SETUP-RECEIPT)])",
                |uid, size, header, _| {
                    if header.is_some_and(receipt::may_be_ours) {
                        if size.unwrap_or(u32::MAX) <= MAX_MESSAGE_BYTES {
                            candidates.push(uid);
                        } else {
                            too_large.push(uid);
                        }
                    }
                },
            )
            .await?;
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut out: Vec<(u32, Incoming)> = too_large.into_iter().map(|uid| (uid, Incoming::Other)).collect();
    for chunk in candidates.chunks(BODY_CHUNK) {
        let mut got = Vec::new();
        mailbox
            .fetch(chunk, "(UID RFC822.SIZE BODY.PEEK[])", |uid, _, _, body| {
                if chunk.contains(&uid) {
                    got.push((uid, body.map_or(Incoming::Other, receipt::classify)));
                }
            })
            .await?;
        got.sort_by_key(|(uid, _)| *uid);
        got.dedup_by_key(|(uid, _)| *uid);
        out.extend(got);
    }
    Ok(out)
}

/// Reads the receipts and bounces in the rollout mailbox's inbox (the sender of
/// [`settings::required`], signed in on this computer), records them, and moves them to
/// [`FOLDER`]. On demand, or by the wizard's timer ([`super::background`]). An `Err` means nothing was recorded (a
/// login or a command failed: the mail check's explanation).
pub async fn read_receipts(auth: &Auth, opts: &CheckOptions) -> Result<ReadSummary, UiError> {
    let reader = reader(auth).await?;
    let token = auth.access_token(&reader.address).await?;
    let blob = mailcheck::xoauth2_blob(&reader.address, &token.token);
    let ep = reader.endpoint.endpoint();
    let fail = |e: MailCheckError| {
        let ui = e.to_ui(MailProtocol::Imap, ep, &reader.address);
        mailcheck::scrub_error(ui, &[token.token.expose(), blob.expose()])
    };
    let (mut session, heard) = imap::login(ep, opts, &blob).await.map_err(fail)?;
    let work = async {
        imap::select_inbox(&mut session, &heard, opts).await?;
        let mut mailbox = Mailbox { session: &mut session, heard: &heard, opts };
        let found = look(&mut mailbox, &reader.since).await?;
        Ok::<_, MailCheckError>((found, mailbox))
    };
    let (found, mut mailbox) = work.await.map_err(fail)?;
    let policy = auth.policy()?;
    let decided = auth
        .db(move |store| {
            let conn = store.conn();
            found
                .into_iter()
                .map(|(uid, incoming)| Ok((uid, decide(&conn, &policy, incoming)?)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let ours: Vec<u32> = decided.iter().filter(|(_, a)| *a != Action::Other).map(|(uid, _)| *uid).collect();
    mailbox.move_out(&ours).await.map_err(fail)?;
    imap::logout(&mut session, opts).await;
    drop(token);
    let sender = reader.address.clone();
    let summary = auth
        .db(move |store| {
            let actions: Vec<Action> = decided.into_iter().map(|(_, a)| a).collect();
            record(&mut store.conn(), &sender, &actions)
        })
        .await?;
    tracing::info!(
        read = summary.read,
        verified = summary.verified,
        signed_out = summary.signed_out,
        bounced = summary.bounced,
        unmatched = summary.unmatched,
        "rollout receipts read"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipts_time_is_kept_in_utc_and_never_in_the_future() {
        let now = "2024-06-03T01:00:00Z";
        assert_eq!(normalized_at("2024-06-03T09:30:00+09:00", now), "2024-06-03T00:30:00Z");
        assert_eq!(normalized_at("2099-01-01T00:00:00Z", now), now);
        assert_eq!(normalized_at("yesterday", now), now);
    }

    #[test]
    fn uid_sets_are_comma_lists() {
        assert_eq!(uid_set(&[1, 5, 7]), "1,5,7");
    }
}
