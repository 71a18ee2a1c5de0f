//! What the directory import shows the UI and the CLI (IPC types, generated for TypeScript).
//! Names and addresses only: the Graph token never appears in any of them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::login_rule::LoginRule;
use crate::model::ImportMode;

/// Where to read the users from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[ts(export)]
pub enum DirectoryScopeInput {
    /// Every user with a mailbox (`mail` set); disabled ones are read too, so that their accounts
    /// can be flagged.
    AllUsers,
    /// The members of one group, nested groups included (transitive), by display name or object ID.
    Group {
        #[serde(rename = "nameOrId")]
        name_or_id: String,
    },
}

/// A directory read to start: from where, and how login names are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryReadInput {
    pub scope: DirectoryScopeInput,
    #[serde(default)]
    pub login_rule: LoginRule,
}

/// Progress of a read, sent after every page (event `exo://directory-progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryProgress {
    pub pages: u32,
    pub users: u32,
}

/// What applying the staged read would do, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryPreview {
    /// `all` or `group:<object id>`.
    pub scope: String,
    /// "All users", or the group's display name.
    pub scope_name: String,
    pub login_rule: LoginRule,
    pub pages: u32,
    /// Users read from the directory.
    pub users_read: u32,
    pub creates: u32,
    pub updates: u32,
    pub unchanged: u32,
    /// Accounts whose user is disabled in the directory (flagged, not deleted).
    pub disables: u32,
    /// Accounts imported from this scope whose user is no longer there (flagged, not deleted).
    pub gone: u32,
    /// Users that fail a row check (listed with their reason).
    pub rejected: u32,
    /// Users not imported and not an error: disabled without an account, no mailbox, listed twice.
    pub skipped: u32,
}

impl DirectoryPreview {
    /// Accounts that applying would create, change or flag (0: the store matches the directory).
    pub fn changes(&self) -> u32 {
        self.creates + self.updates + self.disables + self.gone
    }
}

/// What happens to one directory user or one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DirectoryAction {
    Create,
    Update,
    Unchanged,
    Disable,
    Gone,
    Reject,
    Skip,
}

impl DirectoryAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Disable => "disable",
            Self::Gone => "gone",
            Self::Reject => "reject",
            Self::Skip => "skip",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Create, Self::Update, Self::Unchanged, Self::Disable, Self::Gone, Self::Reject, Self::Skip]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One line of the diff: the directory's values and, for an existing account, the store's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryDiffRow {
    /// Position in the read (1-based), as row errors name it.
    pub seq: u32,
    pub action: DirectoryAction,
    pub user_principal_name: String,
    pub login_name: String,
    pub display_name: String,
    pub address: String,
    pub old_login_name: Option<String>,
    pub old_display_name: Option<String>,
    pub old_address: Option<String>,
    /// Why a row is rejected or skipped (`duplicate_login`, `address_taken`, `invalid_address`, …).
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// A page of the diff, read from SQLite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryDiffPage {
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<DirectoryDiffRow>,
}

/// Which lines of the diff to show: one action, or every line that changes something or is
/// rejected (`None`: everything but `unchanged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryDiffQuery {
    pub action: Option<DirectoryAction>,
    pub offset: u32,
    pub limit: u32,
}

/// What applying wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryOutcome {
    pub mode: ImportMode,
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub disabled: u32,
    pub gone: u32,
    /// Rejected users left out (valid-rows-only mode).
    pub skipped: u32,
}

/// A group found by name (`search_groups`), for the admin to choose from. The name is shown
/// escaped (control and bidirectional characters spelled out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirectoryGroup {
    pub id: String,
    pub display_name: String,
}
