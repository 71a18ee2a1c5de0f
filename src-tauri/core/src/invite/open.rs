//! Opening an invitation, whatever brought it (a link, a `.exoinvite` file, pasted text): read it,
//! check it, and work out under the managed policy what accepting it would do here.
//!
//! Both front ends open invitations the same way; they differ only in what they keep while the
//! user decides — the wizard an opaque id in [`PendingInvitations`], the CLI the [`Opened`] value.
//! Nothing is stored until the user accepts.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{parse, preview, read_file, Invitation, PendingInvitations};
use crate::error::UiError;
use crate::launch_args::Handover;
use crate::model::InvitationPreview;
use crate::policy::{self, Policy};

/// Where an invitation comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A link, or a file's text (pasted).
    Text(String),
    /// An invitation file.
    File(PathBuf),
}

impl Source {
    /// A link (of the app's scheme), a `file://` URL or a path, or pasted text (JSON).
    pub fn from_arg(source: &str) -> Source {
        let trimmed = source.trim();
        if trimmed.starts_with('{') {
            return Source::Text(source.to_owned());
        }
        match Handover::classify(trimmed, None) {
            Some(Handover::InvitationFile(path)) => Source::File(path),
            Some(Handover::DeepLink(_)) => Source::Text(source.to_owned()),
            None if Path::new(trimmed).is_file() => Source::File(PathBuf::from(trimmed)),
            None => Source::Text(source.to_owned()),
        }
    }

    /// The invitation, read (a file through `crate::bounded`) and checked.
    pub fn read(&self) -> Result<Invitation, UiError> {
        match self {
            Source::Text(text) => parse(text),
            Source::File(path) => read_file(path),
        }
    }
}

/// An invitation opened for confirmation: what it says, the policy it was previewed under, and
/// the preview (with an empty `invitation_id`).
pub struct Opened {
    pub invitation: Invitation,
    pub policy: Policy,
    pub preview: InvitationPreview,
}

/// Reads and checks an invitation and works out what accepting it would do here. Blocking
/// (file, policy file, SQLite).
pub fn open(conn: &Connection, source: &Source) -> Result<Opened, UiError> {
    let invitation = source.read()?;
    let policy = policy::load()?;
    let preview = preview(conn, &policy, &invitation, String::new())?;
    Ok(Opened { invitation, policy, preview })
}

impl PendingInvitations {
    /// [`open`], then keeps the invitation pending under the preview's id (what the wizard's
    /// confirmation screen sends back). A refused invitation is not kept.
    pub fn open(&self, conn: &Connection, source: &Source) -> Result<InvitationPreview, UiError> {
        let Opened { invitation, mut preview, .. } = open(conn, source)?;
        preview.invitation_id = self.insert(invitation);
        Ok(preview)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn sources_are_links_files_or_pasted_text() {
        let scheme = crate::identity::DEEP_LINK_SCHEME;
        let link = format!("{scheme}://invite?v=1&p=e30&c=x");
        assert_eq!(Source::from_arg(&link), Source::Text(link.clone()));
        assert_eq!(Source::from_arg(&format!("  {link}\n")), Source::Text(format!("  {link}\n")));
        assert_eq!(Source::from_arg("/tmp/a.exoinvite"), Source::File("/tmp/a.exoinvite".into()));
        assert_eq!(Source::from_arg("file:///tmp/a%20b.exoinvite"), Source::File("/tmp/a b.exoinvite".into()));
        let json = "{\"exoSetupInvitation\": 1}";
        assert_eq!(Source::from_arg(json), Source::Text(json.into()));
        // Anything else is parsed as text, which explains what is wrong with it.
        assert_eq!(Source::from_arg("hello"), Source::Text("hello".into()));
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("invitation.txt");
        std::fs::write(&other, "x").unwrap();
        assert_eq!(Source::from_arg(other.to_str().unwrap()), Source::File(other.clone()));
    }

    #[test]
    fn an_opened_invitation_is_pending_under_its_preview_id_and_a_refused_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_in(dir.path()).unwrap();
        let pending = PendingInvitations::default();
        let inv = super::super::format::tests_sample();
        let preview = pending.open(&store.conn(), &Source::Text(super::super::link(&inv))).unwrap();
        assert_eq!(preview.address, inv.address);
        assert!(!preview.invitation_id.is_empty());
        assert_eq!(pending.get(&preview.invitation_id).unwrap(), inv);
        let err = pending.open(&store.conn(), &Source::Text("hello".into())).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InviteMalformed);
    }
}
