//! `exo-setup directory consent|login|import|logout`: step 2 from Microsoft Entra ID. The work is
//! the core's ([`exo_setup_core::directory`], [`Auth::read_directory`], the browser round trip of
//! `consent` and `login`); this file prints the diff, asks, and maps outcomes to the CSV import's
//! exit codes (0 done, 3 users refused or a dry run with refused users, 6 valid users only with
//! some left out, 8 not confirmed).

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use exo_setup_core::auth::{Auth, Purpose};
use exo_setup_core::directory::{
    self, DirectoryAction, DirectoryDiffRow, DirectoryOutcome, DirectoryPreview, DirectoryReadInput,
    DirectoryScopeInput,
};
use exo_setup_core::model::{FlowResult, ImportMode};
use exo_setup_core::{Store, UiError};

use crate::args::{DirectoryCommand, DirectoryImportArgs, FlowArgs};
use crate::output::{confirm, json_text, output_failed, shown};
use crate::signin::{browser_round_trip, unexpected};
use crate::{auth, block_on};

pub fn run(store: &Arc<Store>, command: DirectoryCommand) -> Result<u8, UiError> {
    match command {
        DirectoryCommand::Consent(flow) => block_on(consent(&auth(store), &flow)),
        DirectoryCommand::Login { login_hint, flow } => block_on(login(&auth(store), login_hint, &flow)),
        DirectoryCommand::Import(args) => import(store, &args),
        DirectoryCommand::Logout => {
            block_on(auth(store).directory_sign_out())?;
            println!("The directory sign-in was removed from this computer's keychain.");
            Ok(0)
        }
    }
}

/// `directory consent`: step 3's admin consent with the Graph permissions in the same request.
async fn consent(auth: &Auth, args: &FlowArgs) -> Result<u8, UiError> {
    eprintln!("Permissions asked for the directory import (delegated): {}", auth.directory_scopes().await?.join(" "));
    match browser_round_trip(auth, Purpose::AdminConsentWithDirectory, args).await? {
        FlowResult::AdminConsented { consent } => {
            println!("Admin consent granted for tenant {} (application {}).", consent.tenant_id, consent.client_id);
            println!("granted by: {}", shown(&consent.granted_by));
            println!("scopes: {}", shown(&consent.scopes.join(" ")));
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// `directory login`: the administrator's Graph sign-in, refresh token to the keychain.
async fn login(auth: &Auth, login_hint: Option<String>, args: &FlowArgs) -> Result<u8, UiError> {
    eprintln!("Permissions asked for (delegated): {}", auth.directory_scopes().await?.join(" "));
    match browser_round_trip(auth, Purpose::DirectorySignIn(login_hint), args).await? {
        FlowResult::DirectorySignedIn { signed_in_as, scopes, .. } => {
            println!("Signed in to the directory as {}.", shown(&signed_in_as));
            println!("scopes: {}", shown(&scopes.join(" ")));
            println!("The sign-in is stored in the system keychain; `exo-setup directory import` reads the directory.");
            Ok(0)
        }
        other => Err(unexpected(other)),
    }
}

/// `directory import`: read → print the diff → (unless --dry-run) confirm → apply.
fn import(store: &Arc<Store>, args: &DirectoryImportArgs) -> Result<u8, UiError> {
    let scope = match &args.group {
        Some(name_or_id) => DirectoryScopeInput::Group { name_or_id: name_or_id.clone() },
        None => DirectoryScopeInput::AllUsers,
    };
    let input = DirectoryReadInput { scope, login_rule: args.login_rule };
    let live = std::io::stderr().is_terminal();
    let preview = block_on(auth(store).read_directory(&input, &AtomicBool::new(false), |p| {
        if live {
            eprint!("\rReading the directory: {} pages, {} users…", p.pages, p.users);
        }
    }));
    if live {
        eprintln!();
    }
    let preview = preview?;
    let result = show_and_apply(store, args, &preview);
    // A stage not applied is dropped (it lives in the connection's TEMP tables anyway).
    let _ = directory::discard(store);
    result
}

fn show_and_apply(store: &Store, args: &DirectoryImportArgs, p: &DirectoryPreview) -> Result<u8, UiError> {
    let mut out = Report::new(args.json);
    out.preview(p)?;
    directory::for_each_change(store, |r| out.change(r))?;
    out.end_changes()?;
    let refused = p.rejected > 0;
    let mode = if args.valid_rows_only { ImportMode::ValidRowsOnly } else { ImportMode::AllOrNothing };
    if args.dry_run {
        out.finish(None, "Dry run: nothing was written.")?;
        return Ok(if refused { 3 } else { 0 });
    }
    if p.changes() == 0 && (!refused || mode == ImportMode::ValidRowsOnly) {
        out.finish(None, "Nothing to change: the accounts here match the directory.")?;
        return Ok(if refused { 6 } else { 0 });
    }
    if p.changes() > 0 && !args.yes {
        let question = format!(
            "Apply: {} new, {} changed, {} flagged disabled, {} flagged gone{}?",
            p.creates,
            p.updates,
            p.disables,
            p.gone,
            if refused && mode == ImportMode::ValidRowsOnly {
                format!(", {} users with errors left out", p.rejected)
            } else {
                String::new()
            }
        );
        let confirmed = confirm(
            &question,
            "Nothing was changed: there is no terminal to ask for confirmation. Read the changes above and run \
             the command again with --yes to apply them.",
        )
        .inspect_err(|_| {
            let _ = out.finish(None, "");
        })?;
        if !confirmed {
            out.finish(None, "Nothing was changed.")?;
            return Ok(8);
        }
    }
    let outcome = directory::apply(store, mode).inspect_err(|_| {
        let _ = out.finish(None, "");
    })?;
    out.finish(Some(&outcome), "")?;
    Ok(if outcome.skipped > 0 { 6 } else { 0 })
}

/// The diff and the outcome on standard output: lines of text, or one JSON object
/// `{"preview": …, "changes": [ … ], "outcome": … | null}` written as it goes (the changes are
/// streamed from SQLite, never held).
struct Report {
    json: bool,
    out: std::io::Stdout,
    first: bool,
}

impl Report {
    fn new(json: bool) -> Self {
        Self { json, out: std::io::stdout(), first: true }
    }

    fn write(&mut self, text: &str) -> Result<(), UiError> {
        self.out.write_all(text.as_bytes()).map_err(|e| output_failed("The diff", e))
    }

    fn preview(&mut self, p: &DirectoryPreview) -> Result<(), UiError> {
        if self.json {
            return self.write(&format!("{{\"preview\": {},\n\"changes\": [", json_text(p, false)));
        }
        self.write(&format!(
            "{}: {} users read in {} pages: {} new, {} changed, {} unchanged, {} disabled, {} gone, {} rejected, {} skipped\n",
            shown(&p.scope_name),
            p.users_read,
            p.pages,
            p.creates,
            p.updates,
            p.unchanged,
            p.disables,
            p.gone,
            p.rejected,
            p.skipped
        ))
    }

    fn change(&mut self, r: &DirectoryDiffRow) -> Result<(), UiError> {
        if self.json {
            let sep = if self.first { "\n" } else { ",\n" };
            self.first = false;
            return self.write(&format!("{sep}{}", json_text(r, false)));
        }
        self.write(&format!("{}\n", line(r)))
    }

    fn end_changes(&mut self) -> Result<(), UiError> {
        if self.json {
            self.write("\n],\n")
        } else {
            Ok(())
        }
    }

    /// The outcome (`None`: nothing applied) and, in text, a closing sentence.
    fn finish(&mut self, outcome: Option<&DirectoryOutcome>, sentence: &str) -> Result<(), UiError> {
        if self.json {
            let o = outcome.map_or_else(|| "null".to_owned(), |o| json_text(o, false));
            self.write(&format!("\"outcome\": {o}}}\n"))?;
        } else if let Some(o) = outcome {
            self.write(&format!(
                "applied: {} new, {} changed, {} unchanged, {} flagged disabled, {} flagged gone, {} skipped (users with errors)\n",
                o.created, o.updated, o.unchanged, o.disabled, o.gone, o.skipped
            ))?;
        } else if !sentence.is_empty() {
            self.write(&format!("{sentence}\n"))?;
        }
        self.out.flush().map_err(|e| output_failed("The diff", e))
    }
}

/// One line of the diff: `+` new, `~` changed (old → new), `!` disabled, `-` gone, `x` refused.
fn line(r: &DirectoryDiffRow) -> String {
    let was = |old: &Option<String>, new: &str| match old {
        Some(o) if o != new => format!("{} → {}", shown(o), shown(new)),
        _ => shown(new).into_owned(),
    };
    match r.action {
        DirectoryAction::Create => {
            format!("+ {}\t{}\t{}", shown(&r.login_name), shown(&r.display_name), shown(&r.address))
        }
        DirectoryAction::Update => format!(
            "~ {}\t{}\t{}",
            was(&r.old_login_name, &r.login_name),
            was(&r.old_display_name, &r.display_name),
            was(&r.old_address, &r.address)
        ),
        DirectoryAction::Disable => {
            format!(
                "! disabled in the directory (flagged, not deleted): {}\t{}",
                shown(&r.login_name),
                shown(&r.address)
            )
        }
        DirectoryAction::Gone => format!(
            "- gone from the directory (flagged, not deleted): {}\t{}",
            shown(r.old_login_name.as_deref().unwrap_or(&r.login_name)),
            shown(r.old_address.as_deref().unwrap_or(&r.address))
        ),
        DirectoryAction::Reject => format!(
            "x user {}: {} ({})",
            r.seq,
            shown(r.message.as_deref().unwrap_or("")),
            r.reason.as_deref().unwrap_or("")
        ),
        DirectoryAction::Unchanged | DirectoryAction::Skip => format!("  {}", shown(&r.login_name)),
    }
}
