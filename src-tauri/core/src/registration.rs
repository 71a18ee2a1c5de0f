//! The app registration an administrator creates in Microsoft Entra, written out for them: a script for Azure
//! Cloud Shell (Microsoft Graph PowerShell, documented cmdlets only) and the equivalent application manifest.
//! Both are generated here from the app's identity (its redirect URIs come from tauri.conf.json through
//! [`crate::identity`]) and from one table of permissions, so the registration can never drift from what the app
//! sends: a redirect URI that differs is AADSTS50011, a missing "public client" setting AADSTS7000218, a
//! permission not registered AADSTS65001.
//!
//! Every permission is a delegated one of Microsoft Graph (`00000003-0000-0000-c000-000000000000`); Microsoft lists
//! the Exchange Online mail protocols (`IMAP.AccessAsUser.All`, `POP.AccessAsUser.All`, `SMTP.Send`) there too, and
//! tokens for `https://outlook.office.com/…` are issued against them. Ids are Microsoft's (the Microsoft Graph
//! permissions reference).

use crate::identity;
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

/// Microsoft Graph's application id (the `resourceAppId` of every permission below).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// One delegated permission the registration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub name: &'static str,
    /// Microsoft's permission id (`oauth2PermissionScopes[].id` of Microsoft Graph).
    pub id: &'static str,
    /// Only an administrator can consent to it.
    pub admin_consent: bool,
    /// Why the app needs it (shown in the script as a comment).
    pub why: &'static str,
}

/// Everything the app asks for, least privilege: the mail protocols for each person's own mailbox, sign-in
/// (openid, profile, email), refresh tokens, and reading the directory for the administrator's import.
pub const PERMISSIONS: [Permission; 9] = [
    Permission {
        name: "IMAP.AccessAsUser.All",
        id: "652390e4-393a-48de-9484-05f9b1212954",
        admin_consent: false,
        why: "IMAP to the person's own mailbox",
    },
    Permission {
        name: "POP.AccessAsUser.All",
        id: "d7b7f2d9-0f45-4ea1-9d42-e50810c06991",
        admin_consent: false,
        why: "POP3 to the person's own mailbox",
    },
    Permission {
        name: "SMTP.Send",
        id: "258f6531-6087-4cc4-bb90-092c5fb3ed3f",
        admin_consent: false,
        why: "sending with SMTP AUTH as the person",
    },
    Permission { name: "openid", id: "37f7f235-527c-4136-accd-4a02d197296e", admin_consent: false, why: "sign-in" },
    Permission {
        name: "profile",
        id: "14dad69e-099b-42c9-810b-d002981feec1",
        admin_consent: false,
        why: "the signed-in account's name, to check it is the right mailbox",
    },
    Permission {
        name: "email",
        id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
        admin_consent: false,
        why: "the signed-in account's address",
    },
    Permission {
        name: "offline_access",
        id: "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
        admin_consent: false,
        why: "a refresh token, so mail keeps working",
    },
    Permission {
        name: "User.Read.All",
        id: "a154be20-db9c-4678-8ab7-66f6cc099a59",
        admin_consent: true,
        why: "directory import: users' names, addresses and whether the account is enabled",
    },
    Permission {
        name: "GroupMember.Read.All",
        id: "bc024368-1153-4739-b217-4326f2e966d0",
        admin_consent: true,
        why: "directory import: the members of a group",
    },
];

/// The redirect URIs the registration must list ("Mobile and desktop applications"): the deep link and loopback.
pub fn redirect_uris() -> [String; 2] {
    [identity::deep_link_redirect_uri(), identity::LOOPBACK_REDIRECT_URI.to_string()]
}

/// The application manifest (Microsoft Graph's `application` property names, as the Entra admin center's
/// manifest editor shows them), pretty-printed JSON.
pub fn manifest() -> String {
    let access: Vec<_> = PERMISSIONS.iter().map(|p| json!({ "id": p.id, "type": "Scope" })).collect();
    let m = json!({
        "displayName": identity::PRODUCT_NAME,
        "signInAudience": "AzureADMyOrg",
        "isFallbackPublicClient": true,
        "publicClient": { "redirectUris": redirect_uris() },
        "requiredResourceAccess": [ { "resourceAppId": GRAPH_APP_ID, "resourceAccess": access } ],
    });
    serde_json::to_string_pretty(&m).expect("a JSON value serializes")
}

/// The cmdlets the script uses, all from the Microsoft Graph PowerShell SDK (preinstalled in Azure Cloud Shell)
/// except `Write-Output`.
pub const SCRIPT_CMDLETS: [&str; 5] =
    ["Connect-MgGraph", "Get-MgApplication", "New-MgApplication", "Update-MgApplication", "Write-Output"];

/// The Azure Cloud Shell (PowerShell) script: creates the registration, or brings an existing one of the same
/// name up to date, and prints the application (client) ID to paste into step 1.
pub fn cloud_shell_script() -> String {
    let name = ps_quote(identity::PRODUCT_NAME);
    let uris: Vec<String> = redirect_uris().iter().map(|u| ps_quote(u)).collect();
    let mut access = String::new();
    for p in PERMISSIONS {
        access.push_str(&format!(
            "                @{{ Id = {}; Type = 'Scope' }} # {}: {}\n",
            ps_quote(p.id),
            p.name,
            p.why
        ));
    }
    format!(
        "# {product}: the app registration in Microsoft Entra ID.\n\
         # Paste into Azure Cloud Shell (PowerShell) as an administrator who may register applications.\n\
         # Redirect URIs (Mobile and desktop applications): {uri_list}; public client flows: on.\n\
         Connect-MgGraph -Scopes 'Application.ReadWrite.All' -NoWelcome\n\
         $registration = @{{\n\
         \x20   DisplayName = {name}\n\
         \x20   SignInAudience = 'AzureADMyOrg'\n\
         \x20   IsFallbackPublicClient = $true\n\
         \x20   PublicClient = @{{ RedirectUris = @({uris}) }}\n\
         \x20   RequiredResourceAccess = @(\n\
         \x20       @{{\n\
         \x20           ResourceAppId = '{graph}'\n\
         \x20           ResourceAccess = @(\n\
         {access}\
         \x20           )\n\
         \x20       }}\n\
         \x20   )\n\
         }}\n\
         $existing = Get-MgApplication -Filter \"displayName eq {name}\" -Top 1\n\
         if ($existing) {{\n\
         \x20   Update-MgApplication -ApplicationId $existing.Id -BodyParameter $registration\n\
         \x20   $app = Get-MgApplication -ApplicationId $existing.Id\n\
         }} else {{\n\
         \x20   $app = New-MgApplication -BodyParameter $registration\n\
         }}\n\
         Write-Output \"Application (client) ID: $($app.AppId)\"\n\
         Write-Output 'Next: paste this ID in step 1, then grant admin consent in step 3.'\n",
        product = identity::PRODUCT_NAME,
        uri_list = redirect_uris().join(", "),
        uris = uris.join(", "),
        graph = GRAPH_APP_ID,
    )
}

/// Both forms, for step 1's copy buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct AppRegistration {
    /// The Azure Cloud Shell (PowerShell) script that creates the registration and prints its application ID.
    pub script: String,
    /// The same registration as an application manifest (JSON).
    pub manifest: String,
}

pub fn app_registration() -> AppRegistration {
    AppRegistration { script: cloud_shell_script(), manifest: manifest() }
}

/// A PowerShell single-quoted string (a `'` is doubled; nothing inside is expanded).
fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The script's code with comments and string contents blanked out (PowerShell's quoting rules: `'…'` with
    /// `''` escapes, `"…"` with `` ` `` escapes), and the string literals found.
    fn code_and_strings(script: &str) -> (String, Vec<String>) {
        let (mut code, mut strings) = (String::new(), vec![]);
        for line in script.lines() {
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '#' => break,
                    '\'' | '"' => {
                        let mut s = String::new();
                        loop {
                            let Some(n) = chars.next() else { panic!("unterminated string in: {line}") };
                            if n == '`' && c == '"' {
                                s.push(chars.next().expect("escape"));
                            } else if n == c && chars.peek() == Some(&c) {
                                chars.next();
                                s.push(c);
                            } else if n == c {
                                break;
                            } else {
                                s.push(n);
                            }
                        }
                        strings.push(s);
                        code.push_str("\"\"");
                    }
                    _ => code.push(c),
                }
            }
            code.push('\n');
        }
        (code, strings)
    }

    #[test]
    fn the_script_uses_only_documented_cmdlets_and_the_apps_own_values() {
        let script = cloud_shell_script();
        let (code, strings) = code_and_strings(&script);
        // Balanced brackets outside strings.
        for (open, close) in [('(', ')'), ('{', '}'), ('[', ']')] {
            assert_eq!(code.matches(open).count(), code.matches(close).count(), "{open}{close} in\n{code}");
        }
        // Every Verb-Noun command word is in the allow-list, and each listed one is used.
        let mut used = BTreeSet::new();
        for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            let is_cmdlet = word.split_once('-').is_some_and(|(v, n)| {
                v.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            });
            if is_cmdlet {
                assert!(SCRIPT_CMDLETS.contains(&word), "undocumented cmdlet {word}");
                used.insert(word);
            }
        }
        assert_eq!(used, SCRIPT_CMDLETS.into_iter().collect());
        // The redirect URIs and the permission ids are exactly the core's.
        for uri in redirect_uris() {
            assert!(strings.contains(&uri), "{uri} missing");
        }
        let uuid_like = |s: &&String| uuid::Uuid::parse_str(s).is_ok();
        let ids: BTreeSet<&str> = strings.iter().filter(uuid_like).map(String::as_str).collect();
        let mut expected: BTreeSet<&str> = PERMISSIONS.iter().map(|p| p.id).collect();
        expected.insert(GRAPH_APP_ID);
        assert_eq!(ids, expected);
        assert!(code.contains("IsFallbackPublicClient = $true"));
        assert!(strings.iter().any(|s| s == "AzureADMyOrg"));
        assert!(strings.iter().any(|s| s == &format!("displayName eq '{}'", identity::PRODUCT_NAME)));
    }

    #[test]
    fn the_manifest_is_the_same_registration() {
        let m: serde_json::Value = serde_json::from_str(&manifest()).unwrap();
        assert_eq!(m["displayName"], identity::PRODUCT_NAME);
        assert_eq!(m["signInAudience"], "AzureADMyOrg");
        assert_eq!(m["isFallbackPublicClient"], true);
        assert_eq!(m["publicClient"]["redirectUris"], json!(redirect_uris()));
        let rra = m["requiredResourceAccess"].as_array().unwrap();
        assert_eq!(rra.len(), 1);
        assert_eq!(rra[0]["resourceAppId"], GRAPH_APP_ID);
        let got: Vec<(&str, &str)> = rra[0]["resourceAccess"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["id"].as_str().unwrap(), a["type"].as_str().unwrap()))
            .collect();
        let want: Vec<(&str, &str)> = PERMISSIONS.iter().map(|p| (p.id, "Scope")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_registration_covers_what_the_app_asks_for() {
        use crate::oauth::scopes::{IMAP_SCOPE, OFFLINE_ACCESS, OIDC_SCOPES, POP_SCOPE, SMTP_SCOPE};
        let names: BTreeSet<&str> = PERMISSIONS.iter().map(|p| p.name).collect();
        for scope in [IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE, OFFLINE_ACCESS].into_iter().chain(OIDC_SCOPES) {
            let short = scope.rsplit('/').next().unwrap();
            assert!(names.contains(short), "{scope} is not registered");
        }
        assert_eq!(redirect_uris()[0], identity::deep_link_redirect_uri());
        let ids: BTreeSet<&str> = PERMISSIONS.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), PERMISSIONS.len());
    }
}
