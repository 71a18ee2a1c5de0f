//! The administrator's sign-in for reading the directory (Microsoft Graph, delegated), on the same
//! PKCE machinery as a mailbox's sign-in.
//!
//! Permissions, least privilege for what the import reads (Microsoft Graph permissions reference
//! and the API pages "List users" and "List group transitive members"):
//! - `User.Read.All`: the users with their `accountEnabled` and `mail` (`User.ReadBasic.All`
//!   has neither, so disabled users could not be told apart from gone ones);
//! - `GroupMember.Read.All`: a group's (transitive) members and finding a group by name — the
//!   least privileged delegated permission of both APIs, narrower than `Group.Read.All` or
//!   `Directory.Read.All`.
//!
//! Both need admin consent; step 3 can include them (see [`crate::overview`]). Delegated means
//! Graph returns only what the signed-in administrator may read. A tenant that has not consented
//! answers the token request with AADSTS65001, classified by [`super::error`] like the mail
//! scopes' (explained, nothing stored). The token goes only to the Graph of the authority's cloud
//! ([`crate::audience::may_send_graph_token`]).

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RefreshToken, Scope};
use url::Url;

use super::client::{Grant, OAuthClient, Refreshed, SignedIn};
use super::error::OAuthError;
use super::flows::{random_token, PendingFlow, Purpose};
use super::id_token;
use super::scopes::{OFFLINE_ACCESS, OIDC_SCOPES};
use super::secret::Secret;

/// The delegated Microsoft Graph permissions the directory import needs.
pub const GRAPH_PERMISSIONS: [&str; 2] = ["User.Read.All", "GroupMember.Read.All"];

/// The Graph scopes of the organization at `authority`: `{Graph resource}/{permission}` of its
/// cloud (`https://graph.microsoft.com/User.Read.All` worldwide); an authority that is no
/// Microsoft cloud (a test emulator) uses the worldwide resource identifier.
pub fn graph_scopes(authority: &str) -> Vec<String> {
    let resource = crate::cloud::microsoft_cloud(authority)
        .map(|c| crate::cloud::cloud(c).graph_hosts[0])
        .unwrap_or("graph.microsoft.com");
    GRAPH_PERMISSIONS.iter().map(|p| format!("https://{resource}/{p}")).collect()
}

impl OAuthClient {
    /// Starts the administrator's directory sign-in: the URL to open and the flow's state.
    pub fn begin_directory_sign_in(
        &self,
        redirect_uri: &str,
        login_hint: Option<&str>,
        admin_consent_known: bool,
    ) -> Result<(Url, String), OAuthError> {
        Self::check_redirect_uri(redirect_uri)?;
        let scopes = graph_scopes(&self.settings.authority);
        let client = self.oauth_client(Some(redirect_uri))?;
        let state = random_token();
        let nonce = random_token();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(64);
        let st = state.clone();
        let mut req = client
            .authorize_url(move || CsrfToken::new(st))
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
            .add_scopes([OFFLINE_ACCESS].into_iter().chain(OIDC_SCOPES).map(|s| Scope::new(s.to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query")
            .add_extra_param("nonce", nonce.clone());
        if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
            req = req.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, _) = req.url();
        self.flows.insert(
            state.clone(),
            PendingFlow {
                authority: self.settings.authority.clone(),
                tenant: self.settings.tenant.clone(),
                client_id: self.settings.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                purpose: Purpose::DirectorySignIn { scopes, admin_consent_known },
                nonce,
                pkce_verifier: Some(verifier),
                created_at: self.flows.now(),
            },
        );
        Ok((url, state))
    }

    /// Redeems a directory sign-in's code: verified id_token of this tenant (any account of it —
    /// Graph itself decides what that person may read), refresh and access token for Graph.
    pub(super) async fn redeem_directory(
        &self,
        flow: PendingFlow,
        code: String,
        verifier: oauth2::PkceCodeVerifier,
    ) -> Result<SignedIn, OAuthError> {
        let Purpose::DirectorySignIn { scopes, admin_consent_known } = &flow.purpose else {
            return Err(OAuthError::InvalidConfig("not a directory sign-in flow".into()));
        };
        let mut scope = scopes.clone();
        scope.push(OFFLINE_ACCESS.to_owned());
        let client = self.oauth_client(Some(&flow.redirect_uri))?;
        let resp = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .add_extra_param("scope", scope.join(" "))
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e, Grant::AuthorizationCode { admin_consent_known: *admin_consent_known }))?;
        let tokens = self.tokens(&resp)?;
        let refresh_token = tokens.refresh.ok_or(OAuthError::NoRefreshToken)?;
        let id_token = resp.extra_fields().id_token.as_deref().ok_or(OAuthError::IdTokenMissing)?;
        let claims = self.verify_id_token(id_token, &flow.nonce).await?;
        let who = claims.preferred_username.clone().or_else(|| claims.email.clone()).unwrap_or_default();
        // The tenant and personal-account checks of a mailbox sign-in, for whoever signed in.
        let signed_in_as = id_token::check_account(&claims, &self.tenant_id, &who, &[])?;
        let oid = claims
            .oid
            .clone()
            .ok_or(OAuthError::IdTokenInvalid { check: "claims", reason: "claim oid missing".into() })?;
        Ok(SignedIn {
            address: signed_in_as.clone(),
            signed_in_as,
            name: claims.name,
            tid: claims.tid.unwrap_or_default(),
            oid,
            refresh_token,
            access_token: tokens.access,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
        })
    }

    /// Redeems the directory refresh token for a new Graph access token (rotated refresh token
    /// included; store it before dropping the old one).
    pub async fn refresh_graph(&self, refresh_token: &Secret) -> Result<Refreshed, OAuthError> {
        let client = self.oauth_client(None)?;
        let rt = RefreshToken::new(refresh_token.expose().to_owned());
        let resp = client
            .exchange_refresh_token(&rt)
            .add_scopes(graph_scopes(&self.settings.authority).into_iter().map(Scope::new))
            .add_scope(Scope::new(OFFLINE_ACCESS.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e, Grant::RefreshToken))?;
        let tokens = self.tokens(&resp)?;
        let rotated = tokens.refresh.is_some();
        Ok(Refreshed {
            access_token: tokens.access,
            refresh_token: tokens.refresh.unwrap_or_else(|| refresh_token.clone()),
            rotated,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_scopes_of_each_cloud() {
        assert_eq!(
            graph_scopes("https://login.microsoftonline.com"),
            ["https://graph.microsoft.com/User.Read.All", "https://graph.microsoft.com/GroupMember.Read.All"]
        );
        assert_eq!(graph_scopes("https://login.microsoftonline.us")[0], "https://graph.microsoft.us/User.Read.All");
        assert_eq!(graph_scopes("http://127.0.0.1:9")[1], "https://graph.microsoft.com/GroupMember.Read.All");
    }
}
