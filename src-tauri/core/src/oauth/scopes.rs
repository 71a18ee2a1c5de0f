//! The Exchange Online scopes exo-setup asks for (one resource: `https://outlook.office.com`).

use crate::model::ReceiveProtocol;

pub const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
pub const POP_SCOPE: &str = "https://outlook.office.com/POP.AccessAsUser.All";
pub const SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
pub const OFFLINE_ACCESS: &str = "offline_access";
/// OpenID scopes of a user sign-in (`profile` gives `oid`/`preferred_username`, `email` the address).
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// Which mail protocols a token or a consent must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailScopes {
    pub imap: bool,
    pub pop: bool,
    pub smtp: bool,
}

impl MailScopes {
    /// One account: its receive protocol plus SMTP sending.
    pub fn for_account(receive: ReceiveProtocol) -> Self {
        match receive {
            ReceiveProtocol::Imap => Self { imap: true, pop: false, smtp: true },
            ReceiveProtocol::Pop3 => Self { imap: false, pop: true, smtp: true },
        }
    }

    /// Everything (admin consent for an organization that uses both receive protocols).
    pub fn all() -> Self {
        Self { imap: true, pop: true, smtp: true }
    }

    /// The Exchange scopes, in a fixed order.
    pub fn exchange_scopes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.imap {
            v.push(IMAP_SCOPE);
        }
        if self.pop {
            v.push(POP_SCOPE);
        }
        if self.smtp {
            v.push(SMTP_SCOPE);
        }
        v
    }

    /// Exchange scopes + `offline_access`: the admin-consent and token-request scope.
    pub fn with_offline_access(&self) -> Vec<&'static str> {
        let mut v = self.exchange_scopes();
        v.push(OFFLINE_ACCESS);
        v
    }

    /// Exchange scopes + `offline_access openid profile email`: the /authorize scope of a sign-in.
    pub fn sign_in(&self) -> Vec<&'static str> {
        let mut v = self.with_offline_access();
        v.extend(OIDC_SCOPES);
        v
    }
}

/// Splits a space-separated scope string.
pub fn split(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_scope_string() {
        assert_eq!(
            MailScopes::for_account(ReceiveProtocol::Imap).sign_in().join(" "),
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid profile email"
        );
        assert_eq!(
            MailScopes::for_account(ReceiveProtocol::Pop3).with_offline_access().join(" "),
            "https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
        );
    }
}
