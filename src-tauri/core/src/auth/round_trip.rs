//! One browser round trip (steps 3 and 4), the same for both front ends: begin the flow with
//! the redirect it needs, open the system browser, wait for the browser to come back, complete.
//!
//! Why here: the wizard and the CLI used to write this sequence each on its own, and the two
//! copies drifted (which errors cancel the flow, what the browser is told). What differs between
//! them is only how they wait, so that is all they adapt:
//! - the CLI always takes the loopback redirect and awaits [`LoopbackWait::finish`];
//! - the wizard takes the redirect step 1 chose; for the deep link the OS hands the callback to
//!   the window, which passes it to [`Auth::complete`], and for the loopback it spawns
//!   [`LoopbackWait::finish`] and announces the result.

use std::time::Duration;

use url::Url;

use super::loopback::{self, LoopbackListener};
use super::{browser, Auth};
use crate::error::{Actor, ErrorKind, UiError};
use crate::identity;
use crate::model::{FlowFinished, FlowResult, FlowStarted, RedirectMode};

/// What a round trip is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Step 3: the administrator's tenant-wide consent.
    AdminConsent,
    /// Step 4: a user's sign-in to this registered mailbox.
    SignIn(String),
    /// Step 4 for a mailbox the user typed (self-service), with its receive protocol.
    SelfSignIn(String, crate::model::ReceiveProtocol),
    /// Step 3 with the directory import's Graph permissions in the same consent.
    AdminConsentWithDirectory,
    /// The administrator's directory (Graph) sign-in, with an optional `login_hint`.
    DirectorySignIn(Option<String>),
}

/// A round trip begun: what the front end shows while waiting, the address the browser opens and,
/// for the loopback redirect, the listener that waits for it.
pub struct RoundTrip {
    pub started: FlowStarted,
    pub url: Url,
    loopback: Option<LoopbackListener>,
}

impl RoundTrip {
    /// The wait for the loopback redirect; `None` for the deep link (the OS brings that one to
    /// the front end) or when already taken.
    pub fn take_loopback(&mut self) -> Option<LoopbackWait> {
        let listener = self.loopback.take()?;
        Some(LoopbackWait {
            listener,
            state: loopback::flow_state(&self.url).unwrap_or_default(),
            flow_id: self.started.flow_id.clone(),
        })
    }
}

/// A loopback listener bound to one flow.
pub struct LoopbackWait {
    listener: LoopbackListener,
    state: String,
    flow_id: String,
}

impl LoopbackWait {
    /// The flow this wait belongs to.
    pub fn flow_id(&self) -> &str {
        &self.flow_id
    }

    /// Waits up to `timeout` for the one request carrying the flow's state, completes the flow
    /// and answers the browser (a success page, or the error's message). `Err` means no redirect
    /// came (timeout, listener failure): the flow is still pending, and the caller decides
    /// whether to cancel it or to let it expire.
    pub async fn finish(self, auth: &Auth, timeout: Duration) -> Result<FlowFinished, UiError> {
        let request = self.listener.receive(&self.state, timeout).await?;
        let finished = auth.complete(request.callback_url()).await;
        match &finished.result {
            FlowResult::Failed { error } => request.respond(false, &error.message).await,
            _ => request.respond(true, "").await,
        }
        Ok(finished)
    }
}

impl Auth {
    /// Begins a round trip whose browser comes back through `mode`: binds the loopback listener
    /// first (its port is part of the redirect URI), then builds the authorize or consent URL.
    pub async fn begin_round_trip(&self, purpose: &Purpose, mode: RedirectMode) -> Result<RoundTrip, UiError> {
        let listener = match mode {
            RedirectMode::Loopback => Some(LoopbackListener::bind().await?),
            RedirectMode::DeepLink => None,
        };
        let redirect = listener.as_ref().map_or_else(identity::deep_link_redirect_uri, LoopbackListener::redirect_uri);
        let (started, url) = match purpose {
            Purpose::AdminConsent => self.begin_admin_consent(&redirect).await?,
            Purpose::SignIn(address) => self.begin_sign_in(address, &redirect).await?,
            Purpose::SelfSignIn(address, protocol) => self.begin_self_sign_in(address, *protocol, &redirect).await?,
            Purpose::AdminConsentWithDirectory => self.begin_admin_consent_with_directory(&redirect).await?,
            Purpose::DirectorySignIn(hint) => self.begin_directory_sign_in(&redirect, hint.as_deref()).await?,
        };
        Ok(RoundTrip { started, url, loopback: listener })
    }

    /// Opens the system browser on the round trip's address (off the async runtime: it may wait
    /// for a text browser) and records whether it opened. On `browser_unavailable` the flow goes
    /// on: the front end shows the address for the user to open.
    pub async fn open_browser(&self, trip: &mut RoundTrip) -> Result<(), UiError> {
        let target = trip.url.to_string();
        let opened = tokio::task::spawn_blocking(move || browser::open(&target))
            .await
            .unwrap_or_else(|e| Err(UiError::new(ErrorKind::BrowserUnavailable, Actor::User, e.to_string())));
        trip.started.browser_opened = opened.is_ok();
        self.set_browser_opened(&trip.started.flow_id, trip.started.browser_opened);
        opened
    }
}
