//! The OAuth 2.0 client of steps 3 and 4: admin consent, user sign-in and token refresh against
//! the Microsoft identity platform (or any OpenID provider with the same layout).
//!
//! - Endpoints come from the tenant's discovery document ([`crate::discovery::fetch`]); the admin
//!   consent URL is built from the authority: `{authority}/{tenant}/v2.0/adminconsent`.
//! - The authorization-code flow with PKCE (S256 only) runs on the `oauth2` crate; every HTTP
//!   request goes through one reqwest client with redirects disabled ([`http`]).
//! - [`PendingFlows`] remembers each flow between the browser leaving and the redirect coming
//!   back: state (256 bits, one-time), 10-minute lifetime, bound to authority, tenant, client,
//!   redirect URI and purpose; nonce; PKCE verifier.
//! - [`OAuthClient::complete`] takes the redirect (deep link or loopback URL), checks it, redeems
//!   the code, verifies the id_token and applies the wrong-account guard.
//! - [`OAuthClient::refresh`] redeems a refresh token; failures are classified into "sign in
//!   again", "explain" (MFA, Conditional Access, consent) and transient.
//! - Errors: [`OAuthError`] → [`crate::UiError`], kinds in the [`crate::ErrorKind`] area `SignIn`.
//!
//! Not here (the caller's business): opening the browser, receiving the deep link or running the
//! loopback listener, storing tokens in the keychain, recording consent in the store, and
//! serializing concurrent refreshes of one account (a rotated refresh token must be written
//! before the old one is dropped).
//!
//! ```no_run
//! # async fn demo() -> Result<(), exo_setup_core::oauth::OAuthError> {
//! use exo_setup_core::oauth::*;
//! let flows = PendingFlows::default(); // one per app, shared by all clients
//! let client = OAuthClient::connect(
//!     OAuthSettings {
//!         authority: "https://login.microsoftonline.com".into(),
//!         tenant: "contoso.example".into(),
//!         client_id: "11111111-2222-3333-4444-555555555555".into(),
//!     },
//!     flows.clone(),
//! )
//! .await?;
//! let (url, _state) = client.begin_sign_in(&SignInRequest {
//!     address: "taro@contoso.example".into(),
//!     aliases: vec![],
//!     scopes: MailScopes::for_account(exo_setup_core::model::ReceiveProtocol::Imap),
//!     redirect_uri: exo_setup_core::identity::deep_link_redirect_uri(),
//!     admin_consent_known: true,
//! })?;
//! // … open `url` in the system browser; when the deep link arrives:
//! # let callback = String::new();
//! match client.complete(&callback).await? {
//!     Outcome::SignedIn(s) => { /* keychain ← s.refresh_token */ let _ = s; }
//!     Outcome::AdminConsented(_) | Outcome::DirectorySignedIn(_) => unreachable!(),
//! }
//! # let _ = url; Ok(()) }
//! ```

pub mod client;
pub mod clock;
pub mod directory_sign_in;
pub mod error;
pub mod flows;
pub mod http;
pub mod id_token;
pub mod scopes;
pub mod secret;

pub use client::{
    loopback_callback_url, AdminConsentGranted, Backoff, OAuthClient, OAuthSettings, Outcome, Refreshed, SignInRequest,
    SignedIn, PERSONAL_ACCOUNT_TENANT,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{MicrosoftError, MsKind, OAuthError, TransientKind};
pub use flows::{PendingFlows, Purpose, FLOW_TTL};
pub use scopes::MailScopes;
pub use secret::Secret;
