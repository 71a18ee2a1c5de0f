//! The rule that decides where a mailbox's token may be sent — the one place it is decided.
//!
//! Why: an access token for Exchange Online is a bearer credential. An invitation may carry its
//! own IMAP/POP3/SMTP hosts; with a genuine Microsoft authority and foreign mail hosts, the user
//! would sign in at the real Microsoft and the connection check would hand the token to those
//! hosts. So a token goes to a mail host only if
//! - (a) the host is one of the mail hosts of the cloud of the organization's authority
//!   ([`crate::cloud`]), or
//! - (b) the administrator set the server's endpoints on this computer (step 1,
//!   `exo-setup server endpoints`) — never endpoints that arrived in an invitation
//!   ([`EndpointsOrigin`], stored per server), and never the built-in server's untouched defaults:
//!   those are the worldwide cloud's hosts, which nobody chose, so they pass only by (a) — a token
//!   of the US Government or China cloud is not sent to the worldwide servers because nobody
//!   changed them, or
//! - (c) the host is in the managed policy's `allowedMailHosts` (IT decides).
//!
//! [`may_send_token`] is the rule; [`AllowedEndpoint`] can only be made by it, and the code that
//! writes a token to a socket ([`crate::mailcheck`], and anything later that talks to mail
//! servers with a token) takes an `AllowedEndpoint`, so an endpoint that did not pass cannot be
//! connected to with a token.

use crate::cloud;
use crate::model::Endpoint;

/// Where a server's endpoints came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointsOrigin {
    /// Set on this computer: the built-in defaults, step 1, `exo-setup server add|endpoints`.
    Local,
    /// Carried by an invitation (never trusted by itself).
    Invitation,
    /// The built-in server still at the app's worldwide defaults (derived, never stored: see
    /// [`crate::org::endpoints_origin`]); trusted only where they are the authority's cloud's hosts.
    BuiltInDefaults,
}

impl EndpointsOrigin {
    /// The stored value (`mail_servers.endpoints_origin`).
    pub fn as_str(self) -> &'static str {
        match self {
            // Derived from `local` rows; stored as what it is in the table.
            Self::Local | Self::BuiltInDefaults => "local",
            Self::Invitation => "invitation",
        }
    }

    /// Reads a stored value; anything unknown is treated as not set locally.
    pub fn parse(s: &str) -> Self {
        if s == "local" {
            Self::Local
        } else {
            Self::Invitation
        }
    }
}

/// Why a host may receive the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// (a) a mail host of the authority's cloud.
    Cloud,
    /// (b) the server's endpoints were set on this computer.
    SetLocally,
    /// (c) listed in the managed policy's `allowedMailHosts`.
    Policy,
}

/// A host the rule refused, with what the messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRefused {
    pub host: String,
    pub authority: String,
    /// Where the refused endpoint came from (the built-in defaults are explained differently).
    pub origin: EndpointsOrigin,
    /// How messages name the authority's cloud ([`cloud::describe`]).
    pub cloud: String,
}

/// A host as compared: trimmed, lowercase, without a trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The rule: may a token of the organization at `authority` be sent to `host`, on a server whose
/// endpoints came from `origin`, under the managed policy's `allowed_mail_hosts` (normalized)?
pub fn may_send_token(
    host: &str,
    authority: &str,
    origin: EndpointsOrigin,
    allowed_mail_hosts: &[String],
) -> Result<Allowance, HostRefused> {
    let host = normalize_host(host);
    if cloud::mail_hosts_of(authority).contains(&host.as_str()) {
        Ok(Allowance::Cloud)
    } else if origin == EndpointsOrigin::Local {
        Ok(Allowance::SetLocally)
    } else if allowed_mail_hosts.contains(&host) {
        Ok(Allowance::Policy)
    } else {
        Err(HostRefused { host, authority: authority.to_owned(), cloud: cloud::describe(authority), origin })
    }
}

/// An endpoint that passed [`may_send_token`]: the only kind a token is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    endpoint: Endpoint,
    allowance: Allowance,
}

impl AllowedEndpoint {
    /// Applies the rule to `endpoint`'s host.
    pub fn permit(
        endpoint: &Endpoint,
        authority: &str,
        origin: EndpointsOrigin,
        allowed_mail_hosts: &[String],
    ) -> Result<Self, HostRefused> {
        let allowance = may_send_token(&endpoint.host, authority, origin, allowed_mail_hosts)?;
        Ok(Self { endpoint: endpoint.clone(), allowance })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn allowance(&self) -> Allowance {
        self.allowance
    }
}

impl std::ops::Deref for AllowedEndpoint {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// The rule for a directory (Microsoft Graph) token: may it be sent with a request to `url`?
/// Only to the Graph of the authority's own cloud (`https`, a host of [`cloud::graph_hosts_of`],
/// the default port), or — for an authority that is no Microsoft cloud (a test emulator) — to
/// that authority's own origin, which issued the token. Every request is checked, each
/// `@odata.nextLink` too: a page that links elsewhere does not get the token.
pub fn may_send_graph_token(url: &url::Url, authority: &str) -> bool {
    if url.username() != "" || url.password().is_some() {
        return false;
    }
    let Some(host) = url.host_str().map(normalize_host) else { return false };
    if cloud::microsoft_cloud(authority).is_some() {
        return url.scheme() == "https"
            && url.port().is_none()
            && cloud::graph_hosts_of(authority).contains(&host.as_str());
    }
    url::Url::parse(authority.trim()).is_ok_and(|a| a.origin() == url.origin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Security;

    const WORLDWIDE: &str = "https://login.microsoftonline.com";
    const CHINA: &str = "https://login.partner.microsoftonline.cn";

    #[test]
    fn a_cloud_host_is_allowed_for_its_own_cloud_only() {
        let inv = EndpointsOrigin::Invitation;
        assert_eq!(may_send_token("outlook.office365.com", WORLDWIDE, inv, &[]), Ok(Allowance::Cloud));
        assert_eq!(may_send_token("SMTP.Office365.com.", WORLDWIDE, inv, &[]), Ok(Allowance::Cloud));
        assert_eq!(may_send_token("partner.outlook.cn", CHINA, inv, &[]), Ok(Allowance::Cloud));
        // Another cloud's host, a look-alike, a foreign host: refused when they came in an invitation.
        for (host, authority) in [
            ("outlook.office365.com", CHINA),
            ("partner.outlook.cn", WORLDWIDE),
            ("outlook.office365.com.evil.example", WORLDWIDE),
            ("imap.evil.example", WORLDWIDE),
            ("outlook.office365.com", "http://127.0.0.1:8080"),
        ] {
            let e = may_send_token(host, authority, inv, &[]).unwrap_err();
            assert_eq!(e.host, normalize_host(host));
            assert_eq!(e.authority, authority);
        }
        let e = may_send_token("imap.evil.example", WORLDWIDE, inv, &[]).unwrap_err();
        assert_eq!(e.cloud, "Microsoft's worldwide cloud");
        let e = may_send_token("imap.evil.example", "http://127.0.0.1:8080", inv, &[]).unwrap_err();
        assert_eq!(e.cloud, "not a known Microsoft cloud");
    }

    #[test]
    fn the_untouched_worldwide_defaults_serve_the_worldwide_cloud_only() {
        let d = EndpointsOrigin::BuiltInDefaults;
        assert_eq!(may_send_token("outlook.office365.com", WORLDWIDE, d, &[]), Ok(Allowance::Cloud));
        let e = may_send_token("outlook.office365.com", CHINA, d, &[]).unwrap_err();
        assert_eq!(e.origin, EndpointsOrigin::BuiltInDefaults);
        let us = "https://login.microsoftonline.us";
        assert!(may_send_token("smtp.office365.com", us, d, &[]).is_err());
        assert_eq!(may_send_token("smtp.office365.com", us, d, &["smtp.office365.com".into()]), Ok(Allowance::Policy));
    }

    #[test]
    fn set_locally_or_listed_by_the_policy_is_allowed() {
        assert_eq!(
            may_send_token("imap.evil.example", WORLDWIDE, EndpointsOrigin::Local, &[]),
            Ok(Allowance::SetLocally)
        );
        let listed = vec!["127.0.0.1".to_owned(), "mail.contoso.example".to_owned()];
        assert_eq!(
            may_send_token("Mail.Contoso.Example", WORLDWIDE, EndpointsOrigin::Invitation, &listed),
            Ok(Allowance::Policy)
        );
        assert!(may_send_token("mail2.contoso.example", WORLDWIDE, EndpointsOrigin::Invitation, &listed).is_err());
        assert_eq!(EndpointsOrigin::parse("local"), EndpointsOrigin::Local);
        assert_eq!(EndpointsOrigin::parse("?"), EndpointsOrigin::Invitation);
    }

    #[test]
    fn an_allowed_endpoint_is_made_only_by_the_rule() {
        let ep = Endpoint { host: "imap.evil.example".into(), port: 993, security: Security::Tls };
        assert!(AllowedEndpoint::permit(&ep, WORLDWIDE, EndpointsOrigin::Invitation, &[]).is_err());
        let a = AllowedEndpoint::permit(&ep, WORLDWIDE, EndpointsOrigin::Local, &[]).unwrap();
        assert_eq!((a.endpoint(), a.allowance()), (&ep, Allowance::SetLocally));
    }

    #[test]
    fn a_graph_token_goes_only_to_the_graph_of_its_own_cloud() {
        let ok = |u: &str, a: &str| may_send_graph_token(&url::Url::parse(u).unwrap(), a);
        assert!(ok("https://graph.microsoft.com/v1.0/users?$top=999", WORLDWIDE));
        assert!(ok("https://GRAPH.microsoft.com/v1.0/users", WORLDWIDE));
        for refused in [
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:8443/v1.0/users",
            "https://graph.microsoft.us/v1.0/users",
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "https://user@graph.microsoft.com/v1.0/users",
            "https://outlook.office365.com/v1.0/users",
        ] {
            assert!(!ok(refused, WORLDWIDE), "{refused}");
        }
        assert!(ok("https://dod-graph.microsoft.us/v1.0/users", "https://login.microsoftonline.us"));
        assert!(!ok("https://graph.microsoft.com/v1.0/users", "https://login.microsoftonline.us"));
        // An authority that is no Microsoft cloud: its own origin only.
        assert!(ok("http://127.0.0.1:8080/v1.0/users", "http://127.0.0.1:8080"));
        assert!(!ok("http://127.0.0.1:8081/v1.0/users", "http://127.0.0.1:8080"));
        assert!(!ok("https://graph.microsoft.com/v1.0/users", "http://127.0.0.1:8080"));
    }
}
