//! The sender: works through the queue over the administrator's SMTP session.
//!
//! One mail at a time, each as its own SMTP transaction with one recipient (a refusal concerns one
//! person only, and a bounce names one), paced by [`Pacing`], on a session renewed every
//! [`SendOptions::per_session`] mails and after any error (lettre abandons a session after a
//! failed transaction). The token is fetched for each new session ([`Auth::access_token`]:
//! cached or refreshed), so a run of hours outlives its access tokens.
//!
//! A temporary refusal (`4xx`) or a lost connection defers the mail, longer after each try
//! ([`SendOptions::retry_backoff`]);
//! a permanent one (`5xx`) fails it with the server's reply — unless the reply refuses the SENDER
//! ([`refuses_the_sender`]: "may not send as", the mailbox's own sending quota, a blocked tenant),
//! which would fail every mail of the run alike: then the run stops with `rollout_sender_refused`,
//! that mail goes back to the queue, and nobody is marked failed for the administrator's problem. A login that fails stops the run with
//! the mail check's explanation (`5.7.139` SMTP AUTH disabled, an expired sign-in…) and leaves the
//! queue as it was. Cancelling stops between two mails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use serde::Serialize;
use ts_rs::TS;

use crate::audience::AllowedEndpoint;
use crate::auth::Auth;
use crate::error::UiError;
use crate::mailcheck::net::Heard;
use crate::mailcheck::smtp::{self, SendOutcome};
use crate::mailcheck::{self, CheckOptions, MailCheckError, MailProtocol};
use crate::model::Endpoint;

use super::message::{self, InvitationMail};
use super::outbox::{self, OutboxRow, OutboxState, SendScope};
use super::pacing::Pacing;
use super::settings;

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Time limits and extra CA, as for the mail check.
    pub check: CheckOptions,
    pub pacing: Pacing,
    /// How long a deferred mail waits before it is tried again, by its number of tries
    /// ([`outbox::RETRY_BACKOFF`]; empty: due at once).
    pub retry_backoff: Vec<Duration>,
    /// Tries before a mail that keeps being deferred is failed.
    pub max_attempts: u32,
    /// Mails per SMTP session.
    pub per_session: u32,
    /// The whole queue, or only the deferred mails that are due (the retry by timer).
    pub scope: SendScope,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            check: CheckOptions::default(),
            pacing: Pacing::default(),
            retry_backoff: outbox::RETRY_BACKOFF.to_vec(),
            max_attempts: 5,
            per_session: 25,
            scope: SendScope::Queue,
        }
    }
}

/// Where a run is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SendProgress {
    /// Sent by this run.
    pub sent: u32,
    /// Deferred by this run (tried again later).
    pub deferred: u32,
    /// Failed by this run.
    pub failed: u32,
    /// Still in the queue (queued and deferred).
    pub remaining: u32,
    /// Estimated seconds until the queue is empty, at the sending limits.
    #[ts(type = "number")]
    pub eta_secs: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SendSummary {
    pub sent: u32,
    pub deferred: u32,
    pub failed: u32,
    /// Still in the queue: deferred mails wait for a later run.
    pub remaining: u32,
    /// Mails an earlier run left in the server's hands when it was interrupted (now `unsure`).
    pub interrupted: u32,
    pub cancelled: bool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the run needs to know about the sender, read once.
struct Sender {
    address: String,
    language: settings::MailLanguage,
    endpoint: AllowedEndpoint,
}

async fn sender(auth: &Auth) -> Result<(Sender, u32), UiError> {
    let policy = auth.policy()?;
    let (s, smtp, authority, origin, interrupted) = auth
        .db(|store| {
            let conn = store.conn();
            let interrupted = outbox::recover_interrupted(&conn)?;
            let s = settings::required(&conn)?;
            let account = crate::accounts::find_by_address(&conn, &s.sender)?
                .ok_or_else(|| settings::not_signed_in(&s.sender))?;
            let server = crate::auth::usable_server(&conn, &account)?;
            let authority = crate::org::org_settings(&conn).map_err(crate::org::sql)?.map(|o| o.authority);
            let origin = crate::org::endpoints_origin(&conn, server.id)?;
            Ok((s, server.smtp, authority.unwrap_or_default(), origin, interrupted as u32))
        })
        .await?;
    let endpoint = AllowedEndpoint::permit(&smtp, &authority, origin, &policy.allowed_mail_hosts).map_err(|why| {
        let e = if why.origin == crate::audience::EndpointsOrigin::BuiltInDefaults {
            MailCheckError::HostOfAnotherCloud { cloud: why.cloud, authority: why.authority }
        } else {
            MailCheckError::HostNotAllowed { cloud: why.cloud, authority: why.authority }
        };
        e.to_ui(MailProtocol::Smtp, &smtp, &s.sender)
    })?;
    Ok((Sender { address: s.sender, language: s.language, endpoint }, interrupted))
}

/// Whether a `5xx` reply is about the sending mailbox rather than the recipient (Exchange Online's
/// words): every further mail of the run would be refused the same way.
pub fn refuses_the_sender(reply: &str) -> bool {
    let lower = reply.to_ascii_lowercase();
    // 5.7.60 / SendAsDenied: the signed-in mailbox may not send as the From address.
    // SubmissionQuotaExceeded (5.2.2): the mailbox's own sending limit.
    // 5.7.705 / 5.7.708 / 5.7.750: the tenant (or its IP ranges) blocked from sending.
    ["5.7.60 ", "sendasdenied", "send as this sender", "submissionquotaexceeded", "5.7.705", "5.7.708", "5.7.750"]
        .iter()
        .any(|needle| lower.contains(needle))
}

fn sender_refused(sender: &str, reply: &str) -> UiError {
    UiError::new(
        crate::error::ErrorKind::RolloutSenderRefused,
        crate::error::Actor::Admin,
        format!("Exchange Online refused to send from {sender}: \"{reply}\". This concerns the sending mailbox, not the recipients: the run was stopped and nobody was marked failed. Check that {sender} may send as itself (no Send As restriction, sending limits not reached, the tenant not blocked), then send again: the queue is kept."),
    )
    .with(crate::DetailKey::Address, sender)
    .with(crate::DetailKey::Reply, reply)
}

/// A logged-in session and how many mails it carried.
struct Session {
    conn: AsyncSmtpConnection,
    heard: Heard,
    carried: u32,
}

async fn open(auth: &Auth, sender: &Sender, opts: &CheckOptions) -> Result<Session, UiError> {
    let token = auth.access_token(&sender.address).await?;
    let blob = mailcheck::xoauth2_blob(&sender.address, &token.token);
    let ep: &Endpoint = sender.endpoint.endpoint();
    match smtp::login(ep, opts, &blob).await {
        Ok((conn, heard)) => Ok(Session { conn, heard, carried: 0 }),
        Err(e) => {
            let ui = e.to_ui(MailProtocol::Smtp, ep, &sender.address);
            Err(mailcheck::scrub_error(ui, &[token.token.expose(), blob.expose()]))
        }
    }
}

/// The mail of a queued row, ready to send.
async fn compose(auth: &Auth, sender: &Sender, row: &OutboxRow) -> Result<lettre::Message, UiError> {
    let (account_id, kind, message_id) = (row.account_id, row.kind, row.message_id.clone());
    let (address, language) = (sender.address.clone(), sender.language);
    auth.db(move |store| {
        let conn = store.conn();
        let (link, inv) = crate::invite::for_account(&conn, account_id)?;
        let code = outbox::receipt_code(&conn, account_id)?;
        let mail = InvitationMail { kind, language, sender: &address, message_id: &message_id, receipt_code: &code };
        message::invitation(&mail, &link, &inv)
    })
    .await
}

async fn sleep_unless_cancelled(ms: i64, cancel: &AtomicBool) {
    let until = tokio::time::Instant::now() + Duration::from_millis(ms.max(0) as u64);
    while tokio::time::Instant::now() < until && !cancel.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100).min(until - tokio::time::Instant::now())).await;
    }
}

/// Sends what the queue holds (of [`SendOptions::scope`]), until nothing is due (deferred mails not
/// yet due stay for a later run), `cancel` is set, or a login fails (`Err`, the queue unchanged). `progress` is called
/// after each mail and while waiting for the limits.
pub async fn send_queue(
    auth: &Auth,
    opts: &SendOptions,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&SendProgress) + Send + Sync),
) -> Result<SendSummary, UiError> {
    let (sender, interrupted) = sender(auth).await?;
    let mut summary = SendSummary { interrupted, ..SendSummary::default() };
    let mut session: Option<Session> = None;
    let report = |summary: &SendSummary, remaining: u32| {
        progress(&SendProgress {
            sent: summary.sent,
            deferred: summary.deferred,
            failed: summary.failed,
            remaining,
            eta_secs: opts.pacing.estimate_secs(u64::from(remaining)),
        })
    };
    let (pacing, scope) = (opts.pacing.clone(), opts.scope);
    loop {
        if cancel.load(Ordering::SeqCst) {
            summary.cancelled = true;
            break;
        }
        let p = pacing.clone();
        let (wait, row, remaining) = auth
            .db(move |store| {
                let conn = store.conn();
                let now = now_ms();
                let remaining = match scope {
                    SendScope::Queue => outbox::counts(&conn)?.pending(),
                    SendScope::DueDeferred => outbox::due_deferred(&conn, now)?,
                };
                let wait = p.wait_ms(&conn, now)?;
                let row = if wait > 0 { None } else { outbox::next_due(&conn, now, scope)? };
                Ok((wait, row, remaining))
            })
            .await?;
        if wait > 0 && scope == SendScope::DueDeferred {
            // The timer's retry does not hold the mailbox while the limits run out: next round.
            break;
        }
        if wait > 0 {
            report(&summary, remaining);
            sleep_unless_cancelled(wait, cancel).await;
            continue;
        }
        let Some(row) = row else { break };
        let mail = compose(auth, &sender, &row).await?;
        let mut s = match session.take() {
            Some(s) if s.carried < opts.per_session => s,
            old => {
                if let Some(mut old) = old {
                    smtp::quit(&mut old.conn, &opts.check).await;
                }
                open(auth, &sender, &opts.check).await?
            }
        };
        let id = row.id;
        auth.db(move |store| outbox::mark_sending(&store.conn(), id)).await?;
        let outcome = smtp::send(&mut s.conn, &s.heard, &opts.check, mail.envelope(), &mail.formatted()).await;
        crate::fault::point("rollout.after_data");
        s.carried += 1;
        let max_attempts = opts.max_attempts;
        let keep = matches!(outcome, SendOutcome::Accepted(_)) && !s.conn.has_broken();
        match outcome {
            SendOutcome::Accepted(reply) => {
                auth.db(move |store| outbox::mark_sent(&mut store.conn(), id, &reply, now_ms())).await?;
                summary.sent += 1;
            }
            SendOutcome::Temporary(reply) => {
                let not_before = outbox::next_try_ms(now_ms(), row.attempts + 1, &opts.retry_backoff);
                let state = auth
                    .db(move |store| outbox::mark_deferred(&store.conn(), id, &reply, not_before, max_attempts))
                    .await?;
                if state == OutboxState::Failed {
                    summary.failed += 1;
                } else {
                    summary.deferred += 1;
                }
            }
            SendOutcome::Permanent(reply) if refuses_the_sender(&reply) => {
                // Not taken, and not this recipient's fault: back to the queue, the run stops.
                auth.db(move |store| outbox::unmark_sending(&store.conn(), id)).await?;
                smtp::quit(&mut s.conn, &opts.check).await;
                return Err(sender_refused(&sender.address, &reply));
            }
            SendOutcome::Permanent(reply) => {
                auth.db(move |store| outbox::mark_failed(&store.conn(), id, &reply)).await?;
                summary.failed += 1;
            }
        }
        tracing::info!(kind = row.kind.as_str(), sent = summary.sent, "rollout mail handled");
        if keep {
            session = Some(s);
        }
        report(&summary, remaining.saturating_sub(1));
    }
    if let Some(mut s) = session {
        smtp::quit(&mut s.conn, &opts.check).await;
    }
    summary.remaining = auth.db(|store| outbox::counts(&store.conn()).map(|c| c.pending())).await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::refuses_the_sender;

    #[test]
    fn replies_that_refuse_the_sender_are_told_from_those_about_a_recipient() {
        for sender in [
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
            "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message",
            "554 5.2.2 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
            "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
        ] {
            assert!(refuses_the_sender(sender), "{sender}");
        }
        for recipient in [
            "550 5.1.1 Recipient address rejected: User unknown",
            "550 5.7.606 Access denied, banned sending IP",
            "552 5.2.2 Mailbox full",
            "550 5.7.600 hmm",
        ] {
            assert!(!refuses_the_sender(recipient), "{recipient}");
        }
    }
}
