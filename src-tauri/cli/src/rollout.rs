//! `exo-setup invite --send` and `exo-setup rollout status|refresh|remind`: the rollout loop from a
//! terminal. Queuing, sending, reading receipts and the status are the core's (`rollout`), as in
//! the wizard; here they are only started and printed.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use exo_setup_core::auth::Auth;
use exo_setup_core::rollout::{self, outbox, settings, status, MailKind, MailLanguage, Recipients, SendOptions};
use exo_setup_core::UiError;

use rust_i18n::t;

use crate::args::{InviteArgs, RolloutCommand};
use crate::output::{flushed, json_out, output_failed, shown};
use crate::signin::check_options;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The mails' language: `--mail-lang`, else what was chosen before, else the CLI's language.
fn language(given: Option<&str>, before: Option<MailLanguage>) -> MailLanguage {
    given.and_then(MailLanguage::parse).or(before).unwrap_or(if rust_i18n::locale().starts_with("ja") {
        MailLanguage::Ja
    } else {
        MailLanguage::En
    })
}

/// `exo-setup invite --send [ADDRESS…|--all|--not-invited] [--resend] [--from ADDRESS]`.
pub async fn send(auth: &Auth, args: InviteArgs) -> Result<u8, UiError> {
    let recipients = if args.all {
        Recipients::All
    } else if args.not_invited {
        Recipients::NotInvited
    } else {
        Recipients::Addresses(args.address.clone())
    };
    let (from, mail_lang, resend) = (args.from.clone(), args.mail_lang.clone(), args.resend);
    let queued = {
        let store = auth.store();
        let mut conn = store.conn();
        let before = settings::get(&conn)?;
        let lang = language(mail_lang.as_deref(), before.as_ref().map(|s| s.language));
        match (from, before) {
            (Some(f), _) => settings::set(&conn, &f, lang)?,
            (None, Some(b)) => settings::set(&conn, &b.sender, lang)?,
            (None, None) => settings::required(&conn)?,
        };
        outbox::enqueue(&mut conn, &recipients, MailKind::Invitation, resend)?
    };
    eprintln!(
        "{}",
        t!(
            "cli.rollout.queued",
            added = queued.added,
            pending = queued.already_pending,
            invited = queued.already_invited
        )
    );
    send_all(auth, args.ca_file.as_deref(), false).await
}

/// Sends the queue with a progress line on a terminal, then prints the summary.
async fn send_all(auth: &Auth, ca_file: Option<&Path>, json: bool) -> Result<u8, UiError> {
    let opts = SendOptions { check: check_options(ca_file)?, ..SendOptions::default() };
    let cancel = AtomicBool::new(false);
    let terminal = std::io::stderr().is_terminal();
    let progress = move |p: &rollout::SendProgress| {
        if terminal {
            let line =
                t!("cli.rollout.progress", sent = p.sent, remaining = p.remaining, minutes = p.eta_secs.div_ceil(60));
            eprint!("\r{line}   ");
        }
    };
    let summary = rollout::send_queue(auth, &opts, &cancel, &progress).await?;
    if terminal {
        eprintln!();
    }
    if json {
        return json_out(&summary);
    }
    println!(
        "{}",
        t!(
            "cli.rollout.summary",
            sent = summary.sent,
            deferred = summary.deferred,
            failed = summary.failed,
            remaining = summary.remaining
        )
    );
    if summary.interrupted > 0 {
        println!("{}", t!("cli.rollout.interrupted", count = summary.interrupted));
    }
    Ok(if summary.failed > 0 || summary.remaining > 0 { 6 } else { 0 })
}

pub async fn run(auth: &Auth, command: RolloutCommand) -> Result<u8, UiError> {
    match command {
        RolloutCommand::Status { after, json, csv } => print_status(auth, after, json, csv),
        RolloutCommand::Refresh { ca_file, json } => {
            let summary = rollout::inbox::read_receipts(auth, &check_options(ca_file.as_deref())?).await?;
            if json {
                return json_out(&summary);
            }
            println!(
                "{}",
                t!(
                    "cli.rollout.read",
                    read = summary.read,
                    verified = summary.verified,
                    signed_out = summary.signed_out,
                    bounced = summary.bounced,
                    unmatched = summary.unmatched
                )
            );
            Ok(0)
        }
        RolloutCommand::Remind { after, ca_file, json } => {
            let queued = {
                let store = auth.store();
                let mut conn = store.conn();
                let ids = outbox::without_news(&conn, after, now_ms())?;
                outbox::enqueue(&mut conn, &Recipients::Accounts(ids), MailKind::Reminder, true)?
            };
            eprintln!("{}", t!("cli.rollout.reminders", count = queued.added, days = after));
            send_all(auth, ca_file.as_deref(), json).await
        }
    }
}

fn print_status(auth: &Auth, after: u32, json: bool, csv: bool) -> Result<u8, UiError> {
    let s = status::status(&auth.store().conn(), after, now_ms())?;
    if json {
        return json_out(&s);
    }
    let mut out = std::io::stdout().lock();
    if csv {
        status::write_csv(&s.rows, &mut out)?;
        flushed(&mut out, "The CSV")?;
        return Ok(0);
    }
    let c = &s.counts;
    let write = |out: &mut std::io::StdoutLock, line: String| {
        writeln!(out, "{line}").map_err(|e| output_failed("The status", e))
    };
    write(
        &mut out,
        t!(
            "cli.rollout.counts",
            total = c.total,
            registered = c.registered,
            queued = c.queued,
            invited = c.invited,
            no_news = c.no_news,
            bounced = c.bounced,
            failed = c.failed,
            verified = c.verified,
            signed_out = c.signed_out
        )
        .into_owned(),
    )?;
    for r in &s.rows {
        let when = r.verified_at.as_deref().or(r.invited_at.as_deref()).unwrap_or("-");
        let state = t!(format!("cli.rollout.state.{}", r.state.as_str()));
        let mut line = format!("{}\t{state}\t{when}", shown(&r.address));
        if let Some(p) = &r.protocols {
            line.push_str(&format!("\t{}", shown(p)));
        }
        if let Some(reply) = &r.reply {
            if matches!(r.state, status::RolloutState::Failed | status::RolloutState::Bounced) {
                line.push_str(&format!("\t{}", shown(reply)));
            }
        }
        write(&mut out, line)?;
    }
    flushed(&mut out, "The status")?;
    Ok(0)
}
