//! The connection check: prove that a mailbox's access token works — an XOAUTH2 login to the
//! account's real mail servers, one harmless command, logout.
//!
//! Per account, [`check_account`] checks its receive protocol (IMAP or POP3) and SMTP, both at
//! once, against the endpoints of the account's server entry ([`crate::model::MailServer`]):
//! - IMAP: `CAPABILITY`, `AUTHENTICATE XOAUTH2` + the blob after the `+` continuation,
//!   `SELECT INBOX`, `LOGOUT`;
//! - POP3: `CAPA`, `AUTH XOAUTH2` + the blob on the `+` line (Microsoft's documented exchange),
//!   `STAT`, `QUIT`;
//! - SMTP: `EHLO`, `STARTTLS`, `EHLO`, `AUTH XOAUTH2 <blob>`, `NOOP`, `QUIT`.
//!
//! A failure challenge (`+`/`334` with a base64 JSON status, what Dovecot and Gmail send) is
//! answered with an empty line, which brings the server's final refusal.
//!
//! The XOAUTH2 blob is `base64("user=" + address + "\x01auth=Bearer " + token + "\x01\x01")`.
//! What a server answers is classified into a [`MailCheckError`] (kinds in
//! [`crate::ErrorArea::MailCheck`]): Exchange Online's `NO AUTHENTICATE failed`, `535 5.7.3`,
//! `535 5.7.139 … SmtpClientAuthentication is disabled …` (an admin setting, not OAuth),
//! `501 5.5.124`, `BAD User is authenticated but not connected` (a token of another mailbox),
//! `* BYE Session invalidated - AccessTokenExpired`, and the network's own failures (DNS,
//! refused, unreachable, TLS certificate, timeouts of every step).
//!
//! IMAP runs on `async-imap` ([`imap`]) and SMTP on `lettre`'s SMTP connection ([`smtp`]); POP3,
//! which has no maintained async client, is a minimal dialogue of its own ([`pop3`]). All three
//! share one transport ([`net`]: DNS, TCP, rustls with the platform's roots plus
//! [`CheckOptions::extra_root_pem`], STARTTLS, plain text only to loopback), and every step runs
//! within its own time limit ([`Timeouts`]). Where a crate reports a refusal only as an error
//! value, the server's own line is taken from what the connection heard, so messages quote it.
//!
//! Secrets: the token and the blob are [`Secret`]s (redacted `Debug`/`Display`, zeroized); they
//! are written to the socket and nowhere else — no error, detail or panic names them, and a server
//! reply that echoes them is scrubbed before it reaches an error. async-imap logs what it writes
//! (the blob included) at TRACE: [`crate::logging`] caps its targets, and the app and the tests
//! log through it. The copies the crates make while writing (async-imap's base64 `String`,
//! lettre's formatted command) are short-lived and not zeroized.
//!
//! Plain (unencrypted) endpoints are refused unless the host is this computer (`localhost` or a
//! loopback address, for tests): a token never crosses a network in the clear.
//!
//! A token goes only to its audience's hosts: the dialogues take an [`AllowedEndpoint`], which
//! only the rule in [`crate::audience`] makes; [`check_account`] applies it to the account's
//! endpoints before fetching the token, and a refused host is reported
//! (`mail_host_not_allowed`) without any connection to it.

mod error;
pub(crate) mod imap;
pub(crate) mod net;
mod pop3;
mod record;
pub(crate) mod smtp;

use crate::DetailKey;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub(crate) use error::scrub as scrub_error;
pub use error::{MailCheckError, Step};
pub use record::{last_verification, record, Verification};

use crate::audience::{AllowedEndpoint, HostRefused};
use crate::auth::Auth;
use crate::error::{Actor, ErrorKind, UiError};
use crate::keychain::Secret;
use crate::model::{AccountRow, Endpoint, ReceiveProtocol, Security};

/// A protocol the check logs in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MailProtocol {
    Imap,
    Pop3,
    Smtp,
}

impl MailProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
            Self::Smtp => "smtp",
        }
    }

    /// How messages name it: `IMAP`, `POP3`, `SMTP`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Imap => "IMAP",
            Self::Pop3 => "POP3",
            Self::Smtp => "SMTP",
        }
    }
}

impl From<ReceiveProtocol> for MailProtocol {
    fn from(p: ReceiveProtocol) -> Self {
        match p {
            ReceiveProtocol::Imap => Self::Imap,
            ReceiveProtocol::Pop3 => Self::Pop3,
        }
    }
}

/// The outcome for one protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProtocolCheck {
    pub protocol: MailProtocol,
    /// `host:port` as in the server entry.
    pub server: String,
    pub security: Security,
    pub ok: bool,
    /// Why it failed (`None` when `ok`); a kind of the [`crate::ErrorArea::MailCheck`] area.
    pub error: Option<UiError>,
    /// Wall time of the whole dialogue, connect to logout.
    #[ts(type = "number")]
    pub duration_ms: u64,
}

/// The result of [`check_account`]: never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MailCheckReport {
    pub address: String,
    /// Every checked protocol logged in and ran its command.
    pub verified: bool,
    /// RFC 3339 (UTC, seconds), when the check started.
    pub checked_at: String,
    /// The receive protocol first, then SMTP.
    pub checks: Vec<ProtocolCheck>,
    /// The account as the recorded check left it (status `verified` or `error` and its
    /// detail), so the UI shows the status [`record`] decided instead of deriving one. `None`
    /// only for a report not recorded yet.
    pub account: Option<AccountRow>,
}

impl MailCheckReport {
    /// Builds a report from per-protocol results (`verified` = all ok and at least one).
    pub fn new(address: &str, checked_at: String, checks: Vec<ProtocolCheck>) -> Self {
        let verified = !checks.is_empty() && checks.iter().all(|c| c.ok);
        Self { address: address.to_owned(), verified, checked_at, checks, account: None }
    }

    /// The first failure (what the account's `status_detail` records).
    pub fn first_error(&self) -> Option<&UiError> {
        self.checks.iter().find_map(|c| c.error.as_ref())
    }
}

/// Time limits of each step of a dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// DNS lookup plus TCP connect (all addresses together).
    pub connect: Duration,
    /// A TLS handshake (implicit TLS or after STARTTLS).
    pub tls: Duration,
    /// The server's greeting.
    pub greeting: Duration,
    /// The answer to the XOAUTH2 login (Exchange validates the token: allow it time).
    pub auth: Duration,
    /// Any other reply (capabilities, STARTTLS, the harmless command, logout).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            greeting: Duration::from_secs(15),
            auth: Duration::from_secs(20),
            command: Duration::from_secs(15),
        }
    }
}

impl Timeouts {
    /// The same limit for every step (tests).
    pub fn all(d: Duration) -> Self {
        Self { connect: d, tls: d, greeting: d, auth: d, command: d }
    }

    pub(crate) fn for_step(&self, step: Step) -> Duration {
        match step {
            Step::Dns | Step::Connect => self.connect,
            Step::Tls => self.tls,
            Step::Greeting => self.greeting,
            Step::Auth => self.auth,
            Step::Starttls | Step::Capabilities | Step::Command | Step::Logout => self.command,
        }
    }
}

/// How to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub timeouts: Timeouts,
    /// PEM certificate(s) trusted **in addition to** the platform's roots — a test CA, or an
    /// organization's private CA. There is deliberately no way to accept an invalid certificate.
    pub extra_root_pem: Option<String>,
}

/// Largest extra CA file read (`--ca-file`, `EXO_SETUP_CA_FILE`; through [`crate::bounded`]).
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// `base64("user=" + address + "\x01auth=Bearer " + token + "\x01\x01")`, itself a secret.
pub fn xoauth2_blob(address: &str, token: &Secret) -> Secret {
    let raw = zeroize::Zeroizing::new(format!("user={address}\x01auth=Bearer {}\x01\x01", token.expose()));
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()))
}

/// IMAP: login, `SELECT INBOX`, logout.
pub async fn check_imap(
    endpoint: &AllowedEndpoint,
    address: &str,
    token: &Secret,
    opts: &CheckOptions,
) -> ProtocolCheck {
    run(MailProtocol::Imap, endpoint, address, token, opts).await
}

/// POP3: login, `STAT`, `QUIT`.
pub async fn check_pop3(
    endpoint: &AllowedEndpoint,
    address: &str,
    token: &Secret,
    opts: &CheckOptions,
) -> ProtocolCheck {
    run(MailProtocol::Pop3, endpoint, address, token, opts).await
}

/// SMTP: login, `NOOP`, `QUIT`.
pub async fn check_smtp(
    endpoint: &AllowedEndpoint,
    address: &str,
    token: &Secret,
    opts: &CheckOptions,
) -> ProtocolCheck {
    run(MailProtocol::Smtp, endpoint, address, token, opts).await
}

/// The outcome for an endpoint the rule refused: no connection was opened.
fn refused(protocol: MailProtocol, endpoint: &Endpoint, address: &str, why: HostRefused) -> ProtocolCheck {
    let server = format!("{}:{}", endpoint.host, endpoint.port);
    tracing::warn!(protocol = protocol.as_str(), %server, authority = %why.authority, "token not sent: host not allowed");
    let error = if why.origin == crate::audience::EndpointsOrigin::BuiltInDefaults {
        MailCheckError::HostOfAnotherCloud { cloud: why.cloud, authority: why.authority }
    } else {
        MailCheckError::HostNotAllowed { cloud: why.cloud, authority: why.authority }
    }
    .to_ui(protocol, endpoint, address);
    ProtocolCheck { protocol, server, security: endpoint.security, ok: false, error: Some(error), duration_ms: 0 }
}

/// One protocol of [`check_account`]: the dialogue when the rule allowed the endpoint, else the
/// refusal (no connection).
async fn check_one(
    protocol: MailProtocol,
    endpoint: &Endpoint,
    allowed: Result<AllowedEndpoint, HostRefused>,
    address: &str,
    token: Option<&Secret>,
    opts: &CheckOptions,
) -> ProtocolCheck {
    match (allowed, token) {
        (Ok(a), Some(t)) => run(protocol, &a, address, t, opts).await,
        (Err(why), _) => refused(protocol, endpoint, address, why),
        (Ok(_), None) => unreachable!("a token is fetched whenever an endpoint is allowed"),
    }
}

async fn run(
    protocol: MailProtocol,
    endpoint: &AllowedEndpoint,
    address: &str,
    token: &Secret,
    opts: &CheckOptions,
) -> ProtocolCheck {
    let endpoint = endpoint.endpoint();
    let started = Instant::now();
    let blob = xoauth2_blob(address, token);
    let result = async {
        match protocol {
            MailProtocol::Imap => imap::session(endpoint, opts, &blob).await,
            MailProtocol::Pop3 => pop3::session(&mut net::Conn::open(endpoint, opts).await?, &blob).await,
            MailProtocol::Smtp => smtp::session(endpoint, opts, &blob).await,
        }
    }
    .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let server = format!("{}:{}", endpoint.host, endpoint.port);
    let error = result.err().map(|e| {
        let ui = e.to_ui(protocol, endpoint, address);
        error::scrub(ui, &[token.expose(), blob.expose()])
    });
    match &error {
        None => tracing::debug!(protocol = protocol.as_str(), %server, duration_ms, "mail check passed"),
        Some(e) => {
            tracing::info!(protocol = protocol.as_str(), %server, duration_ms, kind = %e.kind, "mail check failed")
        }
    }
    ProtocolCheck { protocol, server, security: endpoint.security, ok: error.is_none(), error, duration_ms }
}

/// Checks a registered mailbox with its access token ([`Auth::access_token`]: cached or
/// refreshed): its receive protocol and SMTP at once, on the endpoints of its server entry.
/// The outcome is recorded ([`record`]: status `verified` or `error`, an `account.check` audit
/// entry) and returned. An `Err` means no check could start (not registered, not signed in, the
/// server is off or not OAuth, the token could not be had); failures of the check itself are in
/// the report.
pub async fn check_account(auth: &Auth, address: &str, opts: &CheckOptions) -> Result<MailCheckReport, UiError> {
    let a = address.trim().to_owned();
    let policy = auth.policy()?;
    let (account, server, authority, origin) = auth
        .db(move |s| {
            let conn = s.conn();
            let account = crate::accounts::find_by_address(&conn, &a)?.ok_or_else(|| {
                UiError::new(
                    ErrorKind::AccountNotRegistered,
                    Actor::Admin,
                    format!("The mailbox {a} is not registered in exo-setup (step 2)."),
                )
                .with(DetailKey::Address, &a)
            })?;
            let server = crate::auth::usable_server(&conn, &account)?;
            let authority = crate::org::org_settings(&conn).map_err(crate::org::sql)?.map(|o| o.authority);
            let origin = crate::org::endpoints_origin(&conn, server.id)?;
            Ok((account, server, authority.unwrap_or_default(), origin))
        })
        .await?;
    let receive = MailProtocol::from(account.receive_protocol);
    let receive_endpoint = match receive {
        MailProtocol::Pop3 => &server.pop3,
        _ => &server.imap,
    };
    // The rule first: a refused host gets no connection, and no token is even fetched for it.
    let permit = |e: &Endpoint| AllowedEndpoint::permit(e, &authority, origin, &policy.allowed_mail_hosts);
    let (receive_ok, smtp_ok) = (permit(receive_endpoint), permit(&server.smtp));
    let token = match (&receive_ok, &smtp_ok) {
        (Err(_), Err(_)) => None,
        _ => Some(auth.access_token(&account.address).await?),
    };
    let secret = token.as_ref().map(|t| &t.token);
    let checked_at = crate::store::now();
    let (first, smtp) = tokio::join!(
        check_one(receive, receive_endpoint, receive_ok, &account.address, secret, opts),
        check_one(MailProtocol::Smtp, &server.smtp, smtp_ok, &account.address, secret, opts),
    );
    drop(token);
    let mut report = MailCheckReport::new(&account.address, checked_at, vec![first, smtp]);
    let r = report.clone();
    report.account = Some(auth.db(move |s| record(s, &r.address, &r)).await?);
    if report.verified {
        // The receipt the administrator's invitation asked for (once; none without an invitation
        // that asked, or when the policy says no). Best effort: the check's result stands either way.
        let protocols: Vec<MailProtocol> = report.checks.iter().map(|c| c.protocol).collect();
        let sent = crate::rollout::send_receipt(
            auth,
            &report.address,
            crate::rollout::ReceiptEvent::Verified,
            &protocols,
            opts,
        );
        if let Err(e) = sent.await {
            tracing::warn!(kind = %e.kind, "the receipt could not be sent; the next check tries again");
        }
    }
    Ok(report)
}
