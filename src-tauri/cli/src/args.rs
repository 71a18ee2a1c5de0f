//! The command line as clap reads it: every subcommand, option and help text, and nothing else
//! (the handlers are in one module per command group).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  success
  2  usage error
  3  refused: the administrator must fix something (settings, CSV, app registration, consent)
  4  the identity platform or the network failed (retry later)
  5  the local database failed
  6  partly done: a --valid-rows-only import skipped some rows, or invitations were
     deferred or failed (`rollout status` shows which)
  7  the system keychain is unavailable, locked or refused access
  8  the user must act: sign in (again), finish or retry the sign-in in the browser,
     sign in as the right account, or confirm an invitation or a directory import
     (--yes, --replace)
  9  refused for security: an answer did not come from the expected identity provider
     (issuer mismatch or missing, a possible mix-up attack); nothing was stored, do not retry";

/// How long `consent` and `login` wait for the browser by default: a flow's lifetime.
const DEFAULT_FLOW_TIMEOUT_SECS: u64 = 600;

#[derive(Debug, Parser)]
#[command(
    name = "exo-setup",
    version,
    about = "Set up Exchange Online mailboxes with OAuth 2.0. Without a command, opens the wizard.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Data directory (default: the platform's application data directory).
    #[arg(long, global = true, env = exo_setup_core::paths::DATA_DIR_ENV)]
    pub data_dir: Option<PathBuf>,
    /// Language of messages and results: ja or en (default: the locale, LC_ALL > LC_MESSAGES >
    /// LANG; Japanese for ja*). --json output and exit codes are the same in both.
    #[arg(long, global = true, value_enum, value_name = "LANG")]
    pub lang: Option<crate::lang::Lang>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The built-in Exchange Online server and the organization settings (step 1).
    #[command(subcommand)]
    Server(ServerCommand),
    /// Users' mail accounts (step 2).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Administrator: invitations that set up a user's mailbox on the user's own computer.
    ///
    /// An invitation carries the organization's settings (authority, tenant, application ID,
    /// redirect mode), the mailbox and its servers; no secret. Without --out or --csv, prints the
    /// link (one account) or `ADDRESS<TAB>LINK` lines (--all).
    Invite(InviteArgs),
    /// User: open an invitation (link or .exoinvite file), check what it sets up, and store it.
    ///
    /// Shows the organization, tenant, application ID, authority and mailbox, then asks
    /// before storing anything (without a terminal, --yes is required). Then sign in with
    /// `exo-setup login ADDRESS`.
    Open(OpenArgs),
    /// Step 3 (administrator): grant tenant-wide admin consent in the browser.
    ///
    /// Listens on 127.0.0.1 for the redirect (http://localhost must be registered under "Mobile and
    /// desktop applications"), opens the system browser and waits for Microsoft's answer.
    Consent(FlowArgs),
    /// Step 4 (user): sign in to a registered mailbox in the browser and store the sign-in in the
    /// system keychain. Where self-service is on (the organization invitation, or the managed
    /// policy), a mailbox not registered here is set up once Microsoft confirms it is yours.
    Login {
        /// The mailbox, e.g. taro@contoso.example.
        address: String,
        /// For a mailbox not registered here (self-service): how mail is received.
        #[arg(long, value_name = "PROTOCOL", value_parser = ["imap", "pop3"], default_value = "imap")]
        protocol: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Print the mailbox's access token, and nothing else, on standard output (for mail clients).
    ///
    /// For mutt/msmtp `passwordeval` and isync `PassCmd`. Uses the cached token while it is valid
    /// for more than 5 minutes (no network), else refreshes it. Errors go to standard error.
    Token {
        /// The signed-in mailbox.
        address: String,
    },
    /// Show every account's sign-in state (status, refresh token stored, access token expiry).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Prove the sign-in works: log in to the mailbox's IMAP or POP3 server and its SMTP server
    /// with XOAUTH2, run a harmless command (SELECT INBOX / STAT / NOOP) and record "verified".
    Check {
        /// The signed-in mailbox.
        address: String,
        /// PEM file of a certificate authority to trust in addition to the system's (a private CA).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign a mailbox out on this computer: delete its tokens from the keychain.
    ///
    /// If the mailbox was set up from a mailed invitation, its "signed out" receipt is sent to the
    /// administrator first (best effort; never keeps it signed in).
    Logout {
        /// The mailbox.
        address: String,
        /// PEM file of a certificate authority to trust in addition to the system's (for the receipt).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
    },
    /// The system keychain items this app wrote.
    #[command(subcommand)]
    Keychain(KeychainCommand),
    /// Step 2 from Microsoft Entra ID (Microsoft Graph): import and sync the directory's users.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Administrator: the rollout — who was invited by mail, whose computer verified the mailbox
    /// (receipts), bounces, and reminders.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Write a zip for a support ticket: recent logs, versions, settings and account states, with
    /// every token, authorization code, state, nonce and PKCE value removed (see its README.txt).
    ///
    /// Prints the file written, then its entries. Default: a new
    /// exo-setup-support-YYYYMMDD-HHMMSS.zip in your Downloads folder (else Documents).
    SupportBundle(SupportBundleArgs),
}

#[derive(Debug, Args)]
pub struct SupportBundleArgs {
    /// The zip file to write. An existing file is an error unless --force.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE when it exists (only a regular file is ever replaced).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Replace every mail address by h-<12 hex digits>@domain (SHA-256 with a random salt made for
    /// this bundle only), instead of keeping it.
    #[arg(long)]
    pub hash_addresses: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Each account's rollout state: registered, queued, invited, no news, bounced, failed,
    /// verified (when, which protocols), signed out; counts first.
    Status {
        /// Invited at least DAYS days ago without a receipt counts as "no news".
        #[arg(long, value_name = "DAYS", default_value_t = 7)]
        after: u32,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// The status as CSV on standard output.
        #[arg(long)]
        csv: bool,
    },
    /// Read the receipts and delivery failure notices in your mailbox (IMAP with XOAUTH2), update
    /// the status, and move what was read into the folder "exo-setup receipts".
    Refresh {
        /// PEM file of a certificate authority to trust in addition to the system's.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Mail a reminder to everyone invited at least DAYS days ago who sent no receipt and did not
    /// bounce, then send the queue (as `invite --send`).
    Remind {
        #[arg(long, value_name = "DAYS")]
        after: u32,
        /// PEM file of a certificate authority to trust in addition to the system's.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Administrator: step 3's tenant-wide admin consent including the directory permissions
    /// (the mail scopes and Microsoft Graph's User.Read.All and GroupMember.Read.All, one consent).
    ///
    /// Runs like `consent`; with --no-browser it prints the consent address (every scope in it)
    /// to open in a browser on this computer.
    Consent(FlowArgs),
    /// Administrator: sign in to Microsoft Graph in the browser (delegated User.Read.All and
    /// GroupMember.Read.All); the sign-in is kept in the system keychain.
    Login {
        /// The administrator's account, sent as a hint to the sign-in page.
        #[arg(long, value_name = "ADDRESS")]
        login_hint: Option<String>,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Read the directory, print the diff against the accounts here, and apply it (a sync).
    ///
    /// New users with a mailbox get an account on Exchange Online; changed names and addresses are
    /// updated; accounts whose user is disabled or gone from the directory are flagged, never
    /// deleted. Nothing is written with --dry-run, when the confirmation is declined, nor when a
    /// user fails a check (unless --valid-rows-only). Exit codes as `accounts import`.
    Import(DirectoryImportArgs),
    /// Forget the directory sign-in on this computer (delete it from the keychain).
    Logout,
}

#[derive(Debug, Args)]
pub struct DirectoryImportArgs {
    /// Only the members of this group (display name or object ID), nested groups included.
    #[arg(long, value_name = "NAME|ID")]
    pub group: Option<String>,
    /// How login names are made: upn-local-part (default), upn, mail-local-part, mail.
    #[arg(long, value_name = "RULE", default_value = "upn-local-part", value_parser = parse_login_rule)]
    pub login_rule: exo_setup_core::directory::LoginRule,
    /// Show the diff only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid users and report the others (default: all or nothing).
    #[arg(long)]
    pub valid_rows_only: bool,
    /// Apply without asking (required when there is no terminal to ask on).
    #[arg(long)]
    pub yes: bool,
    /// Print the preview, every change and the outcome as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
}

fn parse_login_rule(s: &str) -> Result<exo_setup_core::directory::LoginRule, String> {
    exo_setup_core::directory::LoginRule::parse(s)
        .ok_or_else(|| "expected upn-local-part, upn, mail-local-part or mail".to_owned())
}

#[derive(Debug, Subcommand)]
pub enum KeychainCommand {
    /// List keychain items whose mailbox is no longer a registered account here (deleted,
    /// renamed, or of an organization that was replaced): TENANT<TAB>ADDRESS<TAB>ITEMS lines.
    Orphans {
        /// Delete them from the keychain (and say so in the audit log).
        #[arg(long)]
        remove: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The registered mailbox(es) to invite, e.g. taro@contoso.example (several only with --send).
    #[arg(required_unless_present_any = ["all", "not_invited", "organization"], conflicts_with = "all")]
    pub address: Vec<String>,
    /// The organization invitation (self-service must be on: `server self-service on`): one link
    /// for everyone, with no mailbox; each user types their own address. With --out, the file.
    #[arg(long, conflicts_with_all = ["address", "all", "send", "csv"])]
    pub organization: bool,
    /// Every registered mailbox.
    #[arg(long)]
    pub all: bool,
    /// Mail the invitations from your own mailbox (SMTP with XOAUTH2), paced at Exchange Online's
    /// limits (30 a minute, 10,000 a day), through a queue that survives a quit or a crash. Someone
    /// invited before is skipped unless --resend. Prints a summary; `rollout status` shows each.
    #[arg(long, conflicts_with_all = ["out", "csv"])]
    pub send: bool,
    /// With --send: every registered mailbox not invited by mail yet.
    #[arg(long, requires = "send", conflicts_with = "all")]
    pub not_invited: bool,
    /// With --send: mail them again even if they were invited before.
    #[arg(long, requires = "send")]
    pub resend: bool,
    /// With --send: the mailbox that sends (registered and signed in here); remembered. Receipts
    /// come back to it.
    #[arg(long, value_name = "ADDRESS", requires = "send")]
    pub from: Option<String>,
    /// With --send: the mails' language, ja or en (default: as chosen before, else --lang's).
    #[arg(long, value_name = "LANG", requires = "send", value_parser = ["ja", "en"])]
    pub mail_lang: Option<String>,
    /// With --send: PEM file of a certificate authority to trust in addition to the system's.
    #[arg(long, value_name = "PEM", requires = "send")]
    pub ca_file: Option<PathBuf>,
    /// Write one ADDRESS.exoinvite file per mailbox into DIR (created if needed); prints the paths.
    #[arg(long, value_name = "DIR", conflicts_with = "csv")]
    pub out: Option<PathBuf>,
    /// Write a mail-merge CSV (address, display_name, file_name, link) to FILE, or to standard
    /// output with `-`.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The invitation: a dev.exosetup.wizard://invite?… link or an .exoinvite file.
    pub invitation: String,
    /// Store it without asking (required when there is no terminal to ask on).
    #[arg(long)]
    pub yes: bool,
    /// Allow it to replace the organization already configured on this computer.
    #[arg(long)]
    pub replace: bool,
    /// Print what was stored as JSON (the confirmation goes to standard error).
    #[arg(long)]
    pub json: bool,
}

/// Options of the browser round trips (`consent`, `login`).
#[derive(Debug, Clone, Args)]
pub struct FlowArgs {
    /// Do not open a browser: only print the address to open (in a browser on this computer).
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser to come back.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_FLOW_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Show the settings, the servers and the state of the four steps.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Check the tenant's discovery document, save the settings and turn Exchange Online on.
    /// Without options, re-checks the saved settings and turns it on.
    Enable(EnableArgs),
    /// Stop the Exchange Online server.
    Disable,
    /// Show, or turn on or off, self-service: users setting up the mailbox they type, from the
    /// organization invitation (`invite --organization`). The managed policy may decide instead.
    SelfService {
        #[arg(value_parser = ["on", "off"])]
        state: Option<String>,
    },
    /// Print the app registration for Microsoft Entra: a script to paste into Azure Cloud Shell
    /// (Microsoft Graph PowerShell) that creates it and prints its application ID, or with
    /// --manifest the same registration as an application manifest (JSON). Nothing is stored.
    RegistrationScript {
        #[arg(long)]
        manifest: bool,
    },
    /// Set where a server's IMAP, POP3 and SMTP endpoints are (national clouds, gateways, tests):
    /// HOST:PORT[:tls|starttls|plain] each (plain only on this computer).
    Endpoints {
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        imap: String,
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        pop3: String,
        #[arg(long, value_name = "HOST:PORT[:SECURITY]")]
        smtp: String,
        /// The server's name.
        #[arg(long, default_value = "Exchange Online")]
        server: String,
    },
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Tenant ID (GUID) or verified domain, e.g. contoso.onmicrosoft.com.
    #[arg(long, requires = "client_id")]
    pub tenant: Option<String>,
    /// Application (client) ID from Microsoft Entra.
    #[arg(long, requires = "tenant")]
    pub client_id: Option<String>,
    /// Authority, default https://login.microsoftonline.com.
    #[arg(long, default_value = "")]
    pub authority: String,
    /// The organization's name as users know it (shown on invitations).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub organization_name: String,
    #[arg(long, value_enum, default_value_t = CliRedirectMode::DeepLink)]
    pub redirect_mode: CliRedirectMode,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CliRedirectMode {
    DeepLink,
    Loopback,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List accounts (optionally filtered).
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a mail account for a user (the user is created if needed).
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "imap")]
        protocol: String,
        #[arg(long, default_value = "Exchange Online")]
        server: String,
    },
    /// Delete a mail account by address. A signed-in account is signed out first (its tokens
    /// are removed from the keychain); if the keychain cannot be reached, nothing is deleted.
    Delete { address: String },
    /// Import accounts from CSV (UTF-8, UTF-8 with BOM, Shift_JIS or UTF-16).
    Import {
        file: PathBuf,
        /// Import the valid rows and report the others (default: all or nothing).
        #[arg(long)]
        valid_rows_only: bool,
        /// Only check the file and show what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export all accounts as CSV to FILE, or to standard output with `-`.
    Export {
        #[arg(default_value = "-")]
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = CliEncoding::Utf8Bom)]
        encoding: CliEncoding,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CliEncoding {
    Utf8Bom,
    Utf8,
    ShiftJis,
}
