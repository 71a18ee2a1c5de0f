//! The administrator's directory sign-in (Microsoft Graph) on the sign-in service: started and
//! completed like a mailbox's, its tokens kept like every other token — refresh token in the
//! keychain under the entry `refresh:<tenant>:#directory` (no mailbox address can contain `#`
//! without `@`, so it never collides), the access token in this process's memory only.
//! Nothing about it goes to SQLite but an audit entry naming who signed in.

use chrono::Utc;
use serde_json::json;

use super::{lock, tokens::AccessToken, Auth};
use std::sync::atomic::AtomicBool;

use crate::directory::{DirectoryGroup, DirectoryPreview, DirectoryProgress, DirectoryReadInput, GraphClient, Retry};
use crate::error::{Actor, ErrorKind, UiError};
use crate::keychain::AccountKey;
use crate::model::{FlowPurpose, FlowResult, FlowStarted};
use crate::oauth::directory_sign_in::graph_scopes;
use crate::oauth::SignedIn;
use crate::store::audit;

/// The keychain "address" of the directory sign-in.
pub const DIRECTORY_KEY: &str = "#directory";

fn not_signed_in() -> UiError {
    UiError::new(
        ErrorKind::DirectoryNotSignedIn,
        Actor::Admin,
        "No administrator is signed in for the directory on this computer: sign in first (`exo-setup directory login`, or \"Sign in to the directory\" in step 2), with an account that may read users and groups.",
    )
}

impl Auth {
    async fn directory_key(&self) -> Result<AccountKey, UiError> {
        Ok(AccountKey::new(self.client().await?.tenant_id(), DIRECTORY_KEY))
    }

    /// Step 3's admin consent including the directory's Graph permissions (one consent, every
    /// scope listed), for an administrator who wants the directory import.
    pub async fn begin_admin_consent_with_directory(
        &self,
        redirect_uri: &str,
    ) -> Result<(FlowStarted, url::Url), UiError> {
        let org = self.org_under_policy().await?;
        let client = self.client().await?;
        let protocols = self.db(|s| crate::overview::consent_protocols(&s.conn())).await?;
        let (url, state) = client.begin_admin_consent_with(protocols, &graph_scopes(&org.authority), redirect_uri)?;
        Ok((self.remember(state, FlowPurpose::AdminConsent, None, redirect_uri, &url), url))
    }

    /// Starts the administrator's directory sign-in (`login_hint` optional).
    pub async fn begin_directory_sign_in(
        &self,
        redirect_uri: &str,
        login_hint: Option<&str>,
    ) -> Result<(FlowStarted, url::Url), UiError> {
        let org = self.org_under_policy().await?;
        let client = self.client().await?;
        self.keychain(|t| t.check_writable()).await?;
        let wanted = graph_scopes(&org.authority);
        let (tenant_id, client_id) = (org.tenant_id.clone(), org.client_id.clone());
        let consented = self
            .db(move |s| crate::overview::current_consent(&s.conn(), &tenant_id, &client_id))
            .await?
            .is_some_and(|c| wanted.iter().all(|w| c.scopes.iter().any(|g| g.eq_ignore_ascii_case(w))));
        let (url, state) = client.begin_directory_sign_in(redirect_uri, login_hint, consented)?;
        Ok((self.remember(state, FlowPurpose::DirectorySignIn, login_hint.map(str::to_owned), redirect_uri, &url), url))
    }

    pub(super) async fn store_directory_sign_in(&self, s: SignedIn) -> Result<FlowResult, UiError> {
        let key = self.directory_key().await?;
        let refresh = s.refresh_token.clone();
        let k = key.clone();
        self.keychain(move |t| t.set_refresh_token(&k, &refresh)).await?;
        lock(&self.directory_access).replace(AccessToken {
            token: s.access_token.clone(),
            expires_at: s.expires_at,
            refreshed: false,
        });
        let (who, scopes) = (s.signed_in_as.clone(), s.scopes.clone());
        self.db(move |st| {
            audit(&st.conn(), "directory.sign_in", &who, json!({ "scopes": scopes })).map_err(crate::org::sql)
        })
        .await?;
        Ok(FlowResult::DirectorySignedIn { signed_in_as: s.signed_in_as, name: s.name, scopes: s.scopes })
    }

    /// A Graph client with a valid access token of the signed-in administrator (refreshed when
    /// it expires within the refresh margin; the rotated refresh token is stored first).
    pub async fn directory_graph(&self, retry: Retry) -> Result<GraphClient, UiError> {
        let org = self.org_under_policy().await?;
        let token = self.directory_access_token().await?;
        GraphClient::new(&org.authority, token.token, retry)
    }

    async fn directory_access_token(&self) -> Result<AccessToken, UiError> {
        let key = self.directory_key().await?;
        let gate = self.refresh_lock(&key);
        let _serialized = gate.lock().await;
        let margin = chrono::Duration::seconds(super::REFRESH_MARGIN_SECS);
        if let Some(t) = lock(&self.directory_access).clone().filter(|t| t.expires_at - margin > Utc::now()) {
            return Ok(t);
        }
        let k = key.clone();
        let refresh = self.keychain(move |t| t.get_refresh_token(&k)).await?.ok_or_else(not_signed_in)?;
        let client = self.client().await?;
        let refreshed = client.refresh_graph(&refresh).await.map_err(UiError::from)?;
        if refreshed.rotated {
            let (k, new) = (key.clone(), refreshed.refresh_token.clone());
            self.keychain(move |t| t.set_refresh_token(&k, &new)).await?;
        }
        let t = AccessToken { token: refreshed.access_token, expires_at: refreshed.expires_at, refreshed: true };
        lock(&self.directory_access).replace(t.clone());
        Ok(t)
    }

    /// Reads the directory with the signed-in administrator's Graph token into the stage
    /// ([`crate::directory::read`]; both front ends call this): progress after every page,
    /// `cancel` checked between pages.
    pub async fn read_directory(
        &self,
        input: &DirectoryReadInput,
        cancel: &AtomicBool,
        progress: impl FnMut(DirectoryProgress) + Send,
    ) -> Result<DirectoryPreview, UiError> {
        let graph = self.directory_graph(Retry::default()).await?;
        crate::directory::read(&self.store, &graph, input, cancel, progress).await
    }

    /// Groups whose name starts with `prefix`, for the admin to choose one.
    pub async fn search_directory_groups(&self, prefix: &str) -> Result<Vec<DirectoryGroup>, UiError> {
        self.directory_graph(Retry::default()).await?.search_groups(prefix).await
    }

    /// Whether an administrator is signed in for the directory on this computer.
    pub async fn directory_signed_in(&self) -> Result<bool, UiError> {
        let key = self.directory_key().await?;
        Ok(self.keychain(move |t| t.get_refresh_token(&key)).await?.is_some())
    }

    /// Forgets the directory sign-in (keychain first, then the audit entry).
    pub async fn directory_sign_out(&self) -> Result<(), UiError> {
        let key = self.directory_key().await?;
        self.keychain(move |t| t.delete_account(&key)).await?;
        lock(&self.directory_access).take();
        self.db(|st| audit(&st.conn(), "directory.sign_out", "", json!({})).map_err(crate::org::sql)).await?;
        Ok(())
    }
}
