//! The Microsoft clouds exo-setup knows: which sign-in (authority) hosts belong to each, and the
//! mail hosts that cloud's Exchange Online serves IMAP, POP3 and SMTP on — the only hosts a token
//! issued there is meant for (its audience). "Known Microsoft cloud" (the invitation screen's
//! warning) and "allowed mail hosts" (the rule in [`crate::audience`]) both come from this one
//! table, so they cannot drift apart.
//!
//! Sources (Microsoft Learn / Microsoft Support), checked when the table was written:
//! - Worldwide: "POP, IMAP, and SMTP settings for Outlook.com"
//!   (<https://support.microsoft.com/office/pop-imap-and-smtp-settings-8361e398-8af4-4e97-b147-6c6c4ac95353>:
//!   IMAP/POP `outlook.office365.com`) and "Authenticate an IMAP, POP or SMTP connection using
//!   OAuth" / "How to set up a multifunction device or application to send email using Microsoft
//!   365" (<https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365>:
//!   SMTP AUTH client submission at `smtp.office365.com`, port 587).
//! - US Government GCC High and DoD: "Microsoft 365 U.S. Government GCC High endpoints" and "…
//!   DoD endpoints" (<https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-gcc-high-endpoints>,
//!   <https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-dod-endpoints>:
//!   Exchange Online on `outlook.office365.us` / `outlook-dod.office365.us`, TCP 143/587/993/995;
//!   SMTP submission `smtp.office365.us`); sign-in at `login.microsoftonline.us`.
//! - China (operated by 21Vianet): "Microsoft 365 operated by 21Vianet endpoints"
//!   (<https://learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges-21vianet>)
//!   and "API endpoints of Office 365 operated by 21Vianet"
//!   (<https://learn.microsoft.com/previous-versions/office/office-365-api/api/o365-china-endpoints>):
//!   Exchange Online at `partner.outlook.cn` (IMAP, POP3 and SMTP); sign-in at
//!   `login.partner.microsoftonline.cn` (and the older `login.chinacloudapi.cn`).
//!
//! - Microsoft Graph per cloud: "National cloud deployments"
//!   (<https://learn.microsoft.com/graph/deployments>): `graph.microsoft.com` (worldwide),
//!   `graph.microsoft.us` (US Government L4, GCC High), `dod-graph.microsoft.us` (L5, DoD),
//!   `microsoftgraph.chinacloudapi.cn` (21Vianet). A directory token goes only there
//!   ([`crate::audience::may_send_graph_token`]).
//!
//! GCC (not High) is the worldwide cloud. Germany's former national cloud is closed and absent.
//! A mail host Microsoft adds later is allowed through the managed policy's `allowedMailHosts`
//! until this table names it.

use crate::model::MicrosoftCloud;

/// One Microsoft cloud.
#[derive(Debug)]
pub struct Cloud {
    pub cloud: MicrosoftCloud,
    /// How messages name it.
    pub name: &'static str,
    /// Hosts of its sign-in authority (`https://<host>`, no port, no path).
    pub authority_hosts: &'static [&'static str],
    /// Hosts its Exchange Online serves IMAP, POP3 and SMTP on (lowercase).
    pub mail_hosts: &'static [&'static str],
    /// Hosts its Microsoft Graph answers on (lowercase); the first is the one the app calls.
    pub graph_hosts: &'static [&'static str],
}

/// The table: every cloud, its authority hosts and its mail hosts.
pub const CLOUDS: &[Cloud] = &[
    Cloud {
        cloud: MicrosoftCloud::Global,
        name: "Microsoft's worldwide cloud",
        authority_hosts: &["login.microsoftonline.com", "login.windows.net"],
        mail_hosts: &["outlook.office365.com", "smtp.office365.com"],
        graph_hosts: &["graph.microsoft.com"],
    },
    Cloud {
        cloud: MicrosoftCloud::UsGovernment,
        name: "Microsoft's US Government cloud (GCC High / DoD)",
        authority_hosts: &["login.microsoftonline.us"],
        mail_hosts: &["outlook.office365.us", "smtp.office365.us", "outlook-dod.office365.us"],
        graph_hosts: &["graph.microsoft.us", "dod-graph.microsoft.us"],
    },
    Cloud {
        cloud: MicrosoftCloud::China,
        name: "Microsoft 365 operated by 21Vianet (China)",
        authority_hosts: &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
        mail_hosts: &["partner.outlook.cn"],
        graph_hosts: &["microsoftgraph.chinacloudapi.cn"],
    },
];

/// The table's entry of `cloud`.
pub fn cloud(cloud: MicrosoftCloud) -> &'static Cloud {
    CLOUDS.iter().find(|c| c.cloud == cloud).expect("every MicrosoftCloud is in CLOUDS")
}

/// The Microsoft cloud an authority belongs to, if it is one: `https://<authority host>` exactly
/// (no port, no path, any letter case).
pub fn microsoft_cloud(authority: &str) -> Option<MicrosoftCloud> {
    let url = url::Url::parse(authority).ok()?;
    if url.scheme() != "https" || !url.path().trim_end_matches('/').is_empty() || url.port().is_some() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    CLOUDS.iter().find(|c| c.authority_hosts.contains(&host.as_str())).map(|c| c.cloud)
}

/// The mail hosts a token of `authority`'s cloud is meant for; none when it is not a Microsoft
/// cloud.
pub fn mail_hosts_of(authority: &str) -> &'static [&'static str] {
    microsoft_cloud(authority).map(|c| cloud(c).mail_hosts).unwrap_or(&[])
}

/// Where the directory of `authority`'s organization is read: its cloud's Microsoft Graph
/// (`https://<graph host>`). An authority that is no Microsoft cloud (a test emulator, a private
/// identity provider) serves Graph on its own origin: its tokens go nowhere else.
pub fn graph_base(authority: &str) -> Option<url::Url> {
    match microsoft_cloud(authority) {
        Some(c) => url::Url::parse(&format!("https://{}", cloud(c).graph_hosts[0])).ok(),
        None => {
            let url = url::Url::parse(authority.trim()).ok()?;
            url.host_str()?;
            url::Url::parse(&url.origin().ascii_serialization()).ok()
        }
    }
}

/// The Graph hosts a token of `authority`'s cloud is meant for; none when it is not a Microsoft
/// cloud.
pub fn graph_hosts_of(authority: &str) -> &'static [&'static str] {
    microsoft_cloud(authority).map(|c| cloud(c).graph_hosts).unwrap_or(&[])
}

/// How messages name the cloud of `authority` (or say it is none).
pub fn describe(authority: &str) -> String {
    match microsoft_cloud(authority) {
        Some(c) => cloud(c).name.to_owned(),
        None => "not a known Microsoft cloud".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_is_read_from_the_authoritys_own_cloud() {
        let base = |a: &str| graph_base(a).map(|u| u.to_string());
        assert_eq!(base("https://login.microsoftonline.com").as_deref(), Some("https://graph.microsoft.com/"));
        assert_eq!(base("https://login.microsoftonline.us").as_deref(), Some("https://graph.microsoft.us/"));
        assert_eq!(
            base("https://login.partner.microsoftonline.cn").as_deref(),
            Some("https://microsoftgraph.chinacloudapi.cn/")
        );
        // Not a Microsoft cloud: its own origin, path dropped.
        assert_eq!(base("http://127.0.0.1:8080/").as_deref(), Some("http://127.0.0.1:8080/"));
        assert_eq!(
            graph_hosts_of("https://login.microsoftonline.us"),
            ["graph.microsoft.us", "dod-graph.microsoft.us"]
        );
        assert!(graph_hosts_of("http://127.0.0.1:8080").is_empty());
    }

    #[test]
    fn known_microsoft_clouds_and_everything_else() {
        assert_eq!(microsoft_cloud("https://login.microsoftonline.com"), Some(MicrosoftCloud::Global));
        assert_eq!(microsoft_cloud("https://login.windows.net/"), Some(MicrosoftCloud::Global));
        assert_eq!(microsoft_cloud("https://LOGIN.microsoftonline.us"), Some(MicrosoftCloud::UsGovernment));
        assert_eq!(microsoft_cloud("https://login.partner.microsoftonline.cn"), Some(MicrosoftCloud::China));
        assert_eq!(microsoft_cloud("https://login.chinacloudapi.cn"), Some(MicrosoftCloud::China));
        for other in [
            "https://login.microsoftonline.com.evil.example",
            "http://login.microsoftonline.com",
            "https://login.microsoftonline.com:8443",
            "https://login.microsoftonline.com/x",
            "http://127.0.0.1:8080",
            "https://login.microsoft0nline.com",
            "https://outlook.office365.com",
        ] {
            assert_eq!(microsoft_cloud(other), None, "{other}");
        }
    }

    #[test]
    fn each_cloud_has_its_own_mail_hosts_and_no_host_is_shared() {
        assert_eq!(mail_hosts_of("https://login.microsoftonline.com"), ["outlook.office365.com", "smtp.office365.com"]);
        assert!(mail_hosts_of("https://login.microsoftonline.us").contains(&"outlook.office365.us"));
        assert_eq!(mail_hosts_of("https://login.partner.microsoftonline.cn"), ["partner.outlook.cn"]);
        assert!(mail_hosts_of("http://127.0.0.1:8080").is_empty());
        let all: Vec<&str> = CLOUDS.iter().flat_map(|c| c.mail_hosts.iter().copied()).collect();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "a mail host belongs to one cloud only");
        assert!(all.iter().all(|h| *h == h.to_ascii_lowercase()));
        let graph: Vec<&str> = CLOUDS.iter().flat_map(|c| c.graph_hosts.iter().copied()).collect();
        assert!(graph.iter().all(|h| !all.contains(h)), "a Graph host is no mail host");
        for c in [MicrosoftCloud::Global, MicrosoftCloud::UsGovernment, MicrosoftCloud::China] {
            assert_eq!(cloud(c).cloud, c);
        }
    }
}
