//! Step 2 from the tenant itself: read the organization's mailboxes from Microsoft Entra ID
//! (Microsoft Graph) and import them, or sync them again.
//!
//! Why a directory and not only CSV: the list of people and mailboxes already lives in Entra;
//! reading it saves the admin exporting, reshaping and re-importing it whenever people come and
//! go. The pipeline:
//! 1. [`read`]: the admin's Graph token (signed in through the same PKCE machinery as a mailbox,
//!    [`crate::auth::Auth::directory_graph`]) pages through `/users` or a group's transitive
//!    members ([`graph`]); each page is staged in SQLite as it arrives ([`stage`]), so memory
//!    holds one page, never the directory. Progress is reported per page; a cancel or a failed
//!    page empties the stage and writes nothing else.
//! 2. The diff against the store — new, changed (name, address, login), disabled or gone in
//!    the directory, rejected with a reason — is computed in SQL and paged ([`preview_page`]).
//! 3. [`apply`]: the same row checks, one transaction and the audit entry of the CSV import, the
//!    source recorded as "directory". Accounts gone from the directory are flagged, never
//!    deleted. Running it again is a sync.
//!
//! Login names come from a documented rule ([`LoginRule`]).

pub mod apply;
pub mod graph;
pub mod login_rule;
pub mod model;
pub mod stage;

use crate::DetailKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use graph::{GraphClient, GraphUser, Retry};
pub use login_rule::LoginRule;
pub use model::*;

use crate::error::{Actor, ErrorKind, UiError};
use crate::model::ImportMode;
use crate::Store;

async fn db<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store)).await.map_err(crate::auth::background_failed)?
}

fn cancelled() -> UiError {
    UiError::new(
        ErrorKind::DirectoryCancelled,
        Actor::Admin,
        "The directory read was cancelled; nothing was imported. Start it again when ready.",
    )
}

/// Reads the directory into the stage and returns the diff's counts. Nothing but the stage is
/// written; on any failure (a page refused, the network, `cancel` set) the stage is emptied.
pub async fn read(
    store: &Arc<Store>,
    graph: &GraphClient,
    input: &DirectoryReadInput,
    cancel: &AtomicBool,
    mut progress: impl FnMut(DirectoryProgress) + Send,
) -> Result<DirectoryPreview, UiError> {
    let result = read_inner(store, graph, input, cancel, &mut progress).await;
    if result.is_err() {
        // Best effort: a stage left behind is marked incomplete and cannot be applied anyway.
        let _ = db(store, |s| stage::clear(&mut s.conn())).await;
    }
    result
}

async fn read_inner(
    store: &Arc<Store>,
    graph: &GraphClient,
    input: &DirectoryReadInput,
    cancel: &AtomicBool,
    progress: &mut (impl FnMut(DirectoryProgress) + Send),
) -> Result<DirectoryPreview, UiError> {
    let (scope, scope_name, mut url) = match &input.scope {
        DirectoryScopeInput::AllUsers => ("all".to_owned(), "All users".to_owned(), graph.all_users_url()),
        DirectoryScopeInput::Group { name_or_id } => {
            let (id, name) = graph.find_group(name_or_id).await?;
            (format!("group:{id}"), name, graph.group_members_url(&id))
        }
    };
    let rule = input.login_rule;
    db(store, move |s| stage::begin(&mut s.conn(), &scope, &scope_name, rule)).await?;
    let mut pages = 0u32;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let page = graph.users_page(&url).await.map_err(|e| match &input.scope {
            DirectoryScopeInput::Group { name_or_id } if pages == 0 && e.detail.get(&DetailKey::Status).is_some_and(|s| s == "404") => {
                UiError::new(
                    ErrorKind::GroupNotFound,
                    Actor::Admin,
                    format!("No group with the object ID '{name_or_id}' exists in the directory. Check the ID (or give the group's name)."),
                )
                .with(DetailKey::Group, name_or_id)
            }
            _ => e,
        })?;
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let users = page.users;
        let staged = db(store, move |s| stage::add_page(&mut s.conn(), &users, rule)).await?;
        pages += 1;
        progress(DirectoryProgress { pages, users: staged });
        match page.next {
            Some(next) => url = next,
            None => break,
        }
    }
    db(store, |s| stage::finish(&mut s.conn())).await
}

/// The counts of the staged read's diff (as [`read`] returned them, recomputed).
pub fn summary(store: &Store) -> Result<DirectoryPreview, UiError> {
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(crate::org::sql)?;
    let m = stage::meta(&tx)?;
    stage::classify(&tx, &m.scope)?;
    tx.commit().map_err(crate::org::sql)?;
    stage::summary(&conn)
}

/// A page of the staged read's diff.
pub fn preview_page(store: &Store, q: &DirectoryDiffQuery) -> Result<DirectoryDiffPage, UiError> {
    stage::page(&store.conn(), q)
}

/// Every line of the staged diff that changes something or is rejected (not the unchanged, not
/// the skipped), in the order read, a page at a time from SQLite (memory stays flat at 100,000
/// users): what the command line prints. Returns how many lines were passed to `f`.
pub fn for_each_change(
    store: &Store,
    mut f: impl FnMut(&DirectoryDiffRow) -> Result<(), UiError>,
) -> Result<u32, UiError> {
    let mut q = DirectoryDiffQuery { action: None, offset: 0, limit: stage::MAX_DIFF_PAGE };
    let mut shown = 0;
    loop {
        let page = preview_page(store, &q)?;
        let n = u32::try_from(page.rows.len()).unwrap_or(u32::MAX);
        for r in page.rows.iter().filter(|r| r.action != DirectoryAction::Skip) {
            f(r)?;
            shown += 1;
        }
        if n == 0 || q.offset.saturating_add(n) >= page.total {
            return Ok(shown);
        }
        q.offset += n;
    }
}

/// Writes the staged read (see [`apply::apply`]).
pub fn apply(store: &Store, mode: ImportMode) -> Result<DirectoryOutcome, UiError> {
    apply::apply(&mut store.conn(), mode)
}

/// Drops the staged read without applying it.
pub fn discard(store: &Store) -> Result<(), UiError> {
    stage::clear(&mut store.conn())
}

#[cfg(test)]
mod tests {
    //! The diff and the apply on a real SQLite file, with pages as Graph would return them (the
    //! Graph side is tested against the emulator in `tests/directory_import.rs`).
    use super::*;

    fn user(n: u32, name: &str, enabled: bool) -> GraphUser {
        GraphUser {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            display_name: Some(name.to_owned()),
            mail: Some(format!("user{n}@contoso.example")),
            user_principal_name: Some(format!("user{n}@contoso.example")),
            account_enabled: Some(enabled),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        store.conn().execute("UPDATE mail_servers SET enabled = 1 WHERE id = 1", []).unwrap();
        (dir, store)
    }

    /// Stages `pages` as one read of all users and returns the preview.
    fn stage_read(store: &Store, pages: &[Vec<GraphUser>]) -> DirectoryPreview {
        stage::begin(&mut store.conn(), "all", "All users", LoginRule::UpnLocalPart).unwrap();
        for p in pages {
            stage::add_page(&mut store.conn(), p, LoginRule::UpnLocalPart).unwrap();
        }
        stage::finish(&mut store.conn()).unwrap()
    }

    fn state(store: &Store, address: &str) -> Option<String> {
        store
            .conn()
            .query_row("SELECT directory_state FROM mail_accounts WHERE address = ?1", [address], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_sync_creates_updates_flags_and_never_deletes() {
        let (_d, store) = store();
        let p = stage_read(
            &store,
            &[vec![user(1, "一郎", true), user(2, "二郎", true)], vec![user(3, "三郎", true), user(4, "四郎", false)]],
        );
        assert_eq!((p.pages, p.users_read, p.creates, p.skipped), (2, 4, 3, 1), "{p:?}");
        let o = apply(&store, ImportMode::AllOrNothing).unwrap();
        assert_eq!(o.created, 3);

        // user1 renamed, user2 disabled, user3 gone, user4 enabled (new), user5 new.
        let p = stage_read(
            &store,
            &[vec![user(1, "一郎 改", true), user(2, "二郎", false), user(4, "四郎", true), user(5, "五郎", true)]],
        );
        assert_eq!((p.creates, p.updates, p.disables, p.gone, p.unchanged), (2, 1, 1, 1, 0), "{p:?}");
        let gone =
            preview_page(&store, &DirectoryDiffQuery { action: Some(DirectoryAction::Gone), offset: 0, limit: 10 })
                .unwrap();
        assert_eq!(gone.rows[0].old_address.as_deref(), Some("user3@contoso.example"));
        let renamed =
            preview_page(&store, &DirectoryDiffQuery { action: Some(DirectoryAction::Update), offset: 0, limit: 10 })
                .unwrap();
        assert_eq!(
            (renamed.rows[0].old_display_name.as_deref(), renamed.rows[0].display_name.as_str()),
            (Some("一郎"), "一郎 改")
        );
        apply(&store, ImportMode::AllOrNothing).unwrap();
        assert_eq!(
            store.conn().query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get::<_, i64>(0)).unwrap(),
            5
        );
        assert_eq!(state(&store, "user2@contoso.example").as_deref(), Some("disabled"));
        assert_eq!(state(&store, "user3@contoso.example").as_deref(), Some("gone"));

        // Unchanged directory: nothing to do, and the flagged ones stay flagged (not "gone" again).
        let p = stage_read(
            &store,
            &[vec![user(1, "一郎 改", true), user(2, "二郎", false), user(4, "四郎", true), user(5, "五郎", true)]],
        );
        assert_eq!((p.creates, p.updates, p.disables, p.gone, p.unchanged), (0, 0, 0, 0, 4), "{p:?}");
    }

    #[test]
    fn a_staged_read_lives_in_temp_tables_and_leaves_the_database_file_alone() {
        let (dir, store) = store();
        let db = dir.path().join(crate::paths::DB_FILE);
        store.conn().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let before = std::fs::read(&db).unwrap();
        let wal = db.with_extension("sqlite3-wal");
        let wal_before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let p = stage_read(&store, &[vec![user(1, "一郎", true), user(2, "二郎", true)]]);
        assert_eq!(p.creates, 2);
        let rows = |schema: &str| -> i64 {
            store.conn().query_row(&format!("SELECT count(*) FROM {schema}.directory_stage"), [], |r| r.get(0)).unwrap()
        };
        assert_eq!((rows("temp"), rows("main")), (2, 0));
        assert_eq!(preview_page(&store, &DirectoryDiffQuery { action: None, offset: 0, limit: 10 }).unwrap().total, 2);
        discard(&store).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), before, "a read and its discard wrote the database file");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), wal_before, "nor its WAL");
        // Applying writes the accounts in the main database, from the TEMP stage.
        stage_read(&store, &[vec![user(1, "一郎", true)]]);
        assert_eq!(apply(&store, ImportMode::AllOrNothing).unwrap().created, 1);
        assert_eq!((rows("temp"), rows("main")), (0, 0));
    }

    #[test]
    fn a_rejected_user_blocks_all_or_nothing_and_is_left_out_of_valid_rows_only() {
        let (_d, store) = store();
        // Two users whose UPNs share the local part: the second gets `duplicate_login`.
        let mut twin = user(2, "双子", true);
        twin.user_principal_name = Some("user1@sales.contoso.example".into());
        let mut bidi = user(3, "evil\u{202e}txt", true);
        bidi.display_name = Some("evil\u{202e}txt".into());
        let p = stage_read(&store, &[vec![user(1, "一郎", true), twin, bidi]]);
        assert_eq!((p.creates, p.rejected), (1, 2), "{p:?}");
        let rejects =
            preview_page(&store, &DirectoryDiffQuery { action: Some(DirectoryAction::Reject), offset: 0, limit: 10 })
                .unwrap();
        let reasons: Vec<_> = rejects.rows.iter().map(|r| r.reason.clone().unwrap()).collect();
        assert_eq!(reasons, ["duplicate_login", "unsafe_character"]);
        assert!(rejects.rows[1].display_name.contains("\\u{202e}"), "shown escaped: {:?}", rejects.rows[1]);
        let e = apply(&store, ImportMode::AllOrNothing).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DirectoryRejected);
        assert_eq!(
            store.conn().query_row("SELECT count(*) FROM mail_accounts", [], |r| r.get::<_, i64>(0)).unwrap(),
            0
        );
        let o = apply(&store, ImportMode::ValidRowsOnly).unwrap();
        assert_eq!((o.created, o.skipped), (1, 2));
        let audit: String = store
            .conn()
            .query_row("SELECT detail FROM audit_log WHERE action = 'directory.import'", [], |r| r.get(0))
            .unwrap();
        assert!(audit.contains("\"source\":\"directory\""), "{audit}");
    }
}
