//! The documented rule that turns a directory user into a login name.
//!
//! Entra has no "login name"; the app's users table needs one (what mail clients and the CSV
//! call `login_name`). The default is the local part of the user principal name
//! (`taro.yamada@contoso.com` → `taro.yamada`), which is unique within one verified domain and
//! what people type at most organizations. A tenant with several domains may have the same local
//! part twice; the import then rejects the second user (`duplicate_login`) and the admin picks
//! another rule: the whole UPN, or the mail address (local part or whole).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How a login name is made from a directory user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum LoginRule {
    /// The part of the user principal name before `@` (the default).
    #[default]
    UpnLocalPart,
    /// The whole user principal name.
    Upn,
    /// The part of the mail address before `@`.
    MailLocalPart,
    /// The whole mail address.
    Mail,
}

impl LoginRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpnLocalPart => "upn_local_part",
            Self::Upn => "upn",
            Self::MailLocalPart => "mail_local_part",
            Self::Mail => "mail",
        }
    }

    /// Reads a rule as the CLI and the store write it (`upn-local-part` is accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        [Self::UpnLocalPart, Self::Upn, Self::MailLocalPart, Self::Mail].into_iter().find(|r| r.as_str() == s)
    }

    /// The login name of a user with this UPN and mail address (not yet validated).
    pub fn login_name(self, upn: &str, mail: &str) -> String {
        let local = |s: &str| s.rsplit_once('@').map_or(s, |(l, _)| l).to_owned();
        match self {
            Self::UpnLocalPart => local(upn.trim()),
            Self::Upn => upn.trim().to_owned(),
            Self::MailLocalPart => local(mail.trim()),
            Self::Mail => mail.trim().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_on_a_guest_like_upn_and_a_plain_one() {
        let (upn, mail) = ("taro.yamada@contoso.com", "t.yamada@sales.contoso.com");
        assert_eq!(LoginRule::default().login_name(upn, mail), "taro.yamada");
        assert_eq!(LoginRule::Upn.login_name(upn, mail), upn);
        assert_eq!(LoginRule::MailLocalPart.login_name(upn, mail), "t.yamada");
        assert_eq!(LoginRule::Mail.login_name(upn, mail), mail);
        // A guest's UPN has its own `#EXT#` local part; only the last `@` splits.
        assert_eq!(
            LoginRule::UpnLocalPart.login_name("hanako_example.com#EXT#@contoso.com", ""),
            "hanako_example.com#EXT#"
        );
        assert_eq!(LoginRule::parse("Mail-Local-Part"), Some(LoginRule::MailLocalPart));
        assert_eq!(LoginRule::parse("sam"), None);
    }
}
