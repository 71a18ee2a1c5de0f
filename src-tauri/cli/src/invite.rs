//! `exo-setup invite` (the administrator's side: links, `.exoinvite` files, a mail-merge CSV)
//! and `exo-setup open` (the user's side: the invitation shown in plain words, stored once
//! confirmed). Reading, checking and previewing are the core's (`invite::open`), as in the wizard.

use std::borrow::Cow;
use std::io::Write;

use exo_setup_core::DetailKey;

use exo_setup_core::model::{InvitationPreview, MicrosoftCloud, RedirectMode};
use exo_setup_core::{accounts, invite, Actor, ErrorKind, Store, UiError};

use rust_i18n::t;

use crate::args::{InviteArgs, OpenArgs};
use crate::output::{confirm, flushed, json_out, shown};
use crate::text;

/// `exo-setup invite ADDRESS | --all [--out DIR | --csv FILE]`.
pub fn invite(store: &Store, args: InviteArgs) -> Result<u8, UiError> {
    if args.organization {
        return organization(store, &args);
    }
    let invitations = {
        let conn = store.conn();
        if args.address.len() > 1 {
            // A usage error (exit 2), as clap reports its own.
            eprintln!("{}", t!("cli.rollout.severalWithoutSend"));
            return Ok(2);
        }
        let ids = match args.address.first() {
            Some(address) => {
                let a = accounts::find_by_address(&conn, address)?.ok_or_else(|| {
                    UiError::new(
                        ErrorKind::AccountNotFound,
                        Actor::Admin,
                        format!("There is no mail account {address}: register it first (`exo-setup accounts add`)."),
                    )
                    .with(DetailKey::Address, address)
                })?;
                Some(vec![a.id])
            }
            None => None,
        };
        invite::for_accounts(&conn, ids.as_deref())?
    };
    if invitations.is_empty() {
        return Err(UiError::new(
            ErrorKind::NoAccounts,
            Actor::Admin,
            "There are no mail accounts to invite: register them first (`exo-setup accounts add` or `accounts import`).",
        ));
    }
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &args.out {
        for path in invite::write_files(&invitations, dir)? {
            let _ = writeln!(out, "{}", shown(&path.display().to_string()));
        }
    } else if let Some(file) = &args.csv {
        let links: Vec<_> = invitations.into_iter().map(|(link, _)| link).collect();
        if file.as_os_str() == "-" {
            invite::write_csv(&links, &mut out)?;
        } else {
            invite::write_csv_file(&links, file)?;
            let _ = writeln!(out, "{}", shown(&file.display().to_string()));
        }
    } else if args.all {
        for (link, _) in &invitations {
            let _ = writeln!(out, "{}\t{}", shown(&link.address), link.link);
        }
    } else {
        let _ = writeln!(out, "{}", invitations[0].0.link);
    }
    flushed(&mut out, "The output")?;
    Ok(0)
}

/// `invite --organization [--out DIR]`: the link, or the file written into DIR.
fn organization(store: &Store, args: &InviteArgs) -> Result<u8, UiError> {
    let policy = exo_setup_core::policy::load()?;
    let (made, inv) = exo_setup_core::self_service::organization_invitation(&store.conn(), &policy)?;
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &args.out {
        let link = exo_setup_core::model::InvitationLink {
            account_id: 0,
            address: String::new(),
            display_name: String::new(),
            link: made.link.clone(),
            file_name: made.file_name.clone(),
        };
        for path in invite::write_files(&[(link, inv)], dir)? {
            let _ = writeln!(out, "{}", shown(&path.display().to_string()));
        }
    } else {
        let _ = writeln!(out, "{}", made.link);
    }
    if let Some(to) = &made.receipt_to {
        eprintln!("{}", t!("cli.invite.organizationReceipts", address = shown(to)));
    }
    flushed(&mut out, "The output")?;
    Ok(0)
}

/// The cloud in words: the wizard's names.
fn cloud_name(cloud: MicrosoftCloud) -> Cow<'static, str> {
    match cloud {
        MicrosoftCloud::Global => t!("invite.cloud.global"),
        MicrosoftCloud::UsGovernment => t!("invite.cloud.us_government"),
        MicrosoftCloud::China => t!("invite.cloud.china"),
    }
}

/// The confirmation, in plain words: one aligned `label: value` line per setting (labels padded
/// to the widest in terminal columns, so Japanese lines up too), then the notes.
fn print_invitation(out: &mut dyn Write, p: &InvitationPreview) -> std::io::Result<()> {
    let or_none = |s: &str| if s.is_empty() { t!("cli.open.notGiven").into_owned() } else { shown(s).into_owned() };
    let tenant = if p.tenant.eq_ignore_ascii_case(&p.tenant_id) {
        shown(&p.tenant_id).into_owned()
    } else {
        t!("cli.open.tenantWithId", tenant = shown(&p.tenant), tenantId = shown(&p.tenant_id)).into_owned()
    };
    let authority = match p.cloud {
        Some(cloud) => t!("cli.open.knownCloud", authority = shown(&p.authority), cloud = cloud_name(cloud)),
        None => t!("cli.open.unknownCloud", authority = shown(&p.authority)),
    };
    let redirect = match p.redirect_mode {
        RedirectMode::DeepLink => {
            t!("cli.open.redirectDeepLink", uri = exo_setup_core::identity::deep_link_redirect_uri())
        }
        RedirectMode::Loopback => {
            t!("cli.open.redirectLoopback", uri = exo_setup_core::identity::LOOPBACK_REDIRECT_URI)
        }
    };
    let mut lines: Vec<(Cow<'_, str>, String)> = vec![
        (t!("cli.open.organization"), or_none(&p.organization_name)),
        (t!("cli.open.tenant"), tenant),
        (t!("cli.open.clientId"), p.client_id.clone()),
        (t!("cli.open.authority"), authority.into_owned()),
        (
            t!("cli.open.mailbox"),
            if p.organization_wide { t!("cli.open.mailboxTyped").into_owned() } else { shown(&p.address).into_owned() },
        ),
        (t!("cli.open.displayName"), or_none(&p.display_name)),
        (t!("cli.open.receiveProtocol"), p.receive_protocol.as_str().to_ascii_uppercase()),
        (t!("cli.open.redirect"), redirect.into_owned()),
    ];
    if let Some(ep) = &p.endpoints {
        for (protocol, e) in [("IMAP", &ep.imap), ("POP3", &ep.pop3), ("SMTP", &ep.smtp)] {
            let value = format!("{}:{} ({})", shown(&e.host), e.port, e.security.as_str());
            lines.push((t!("cli.open.server", protocol = protocol), value));
        }
    }
    lines.push((t!("cli.open.mailHosts"), p.mail_hosts.iter().map(|h| shown(h)).collect::<Vec<_>>().join(", ")));
    for o in &p.overrides {
        let (managed, invited) = (shown(&o.managed), shown(&o.invited));
        let value = t!("cli.open.managedValue", field = shown(&o.field), managed = managed, invited = invited);
        lines.push((t!("cli.open.managed"), value.into_owned()));
    }
    writeln!(out, "{}", t!("cli.open.intro"))?;
    let widest = lines.iter().map(|(label, _)| text::width(label)).max().unwrap_or(0);
    for (label, value) in &lines {
        writeln!(out, "  {label}:{} {value}", " ".repeat(widest - text::width(label)))?;
    }
    if p.already_registered {
        writeln!(out, "  {}", t!("cli.open.alreadyRegistered"))?;
    }
    if let Some(to) = &p.receipt_to {
        writeln!(out, "  {}", t!("invite.receiptNotice", address = shown(to)))?;
    }
    if let Some(r) = &p.replaces {
        let replaces = t!(
            "cli.open.replaces",
            org = or_none(&r.organization_name),
            tenant = shown(&r.tenant),
            tenantId = shown(&r.tenant_id),
            clientId = shown(&r.client_id),
            authority = shown(&r.authority)
        );
        writeln!(out, "  {replaces}")?;
    }
    if p.cloud.is_none() {
        writeln!(out, "{}", t!("cli.open.warning", authority = shown(&p.authority)))?;
    }
    out.flush()
}

/// `exo-setup open LINK|FILE [--yes] [--replace] [--json]`.
pub async fn open(store: &Store, args: OpenArgs) -> Result<u8, UiError> {
    let invite::Opened { invitation, policy, preview } =
        invite::open(&store.conn(), &invite::Source::from_arg(&args.invitation))?;
    // With --json, standard output is for the result only.
    let mut out: Box<dyn Write> =
        if args.json { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    let _ = print_invitation(&mut out, &preview);
    drop(out);
    if let (Some(r), false) = (&preview.replaces, args.replace) {
        // The wizard's detail keys (`current`, `invited`), so that the text names both tenants.
        return Err(UiError::new(
            ErrorKind::InviteReplacesOrg,
            Actor::User,
            "This computer is already set up for another organization (see REPLACES above); nothing was changed. \
             If your administrator told you to switch, run the command again with --replace.",
        )
        .with(DetailKey::Tenant, &r.tenant)
        .with(DetailKey::Current, &r.tenant)
        .with(DetailKey::Invited, &preview.tenant));
    }
    if !args.yes
        && !confirm(
            &t!("cli.open.prompt"),
            "Nothing was changed: there is no terminal to ask for confirmation. Read the invitation above \
             and run the command again with --yes to set it up.",
        )?
    {
        eprintln!("{}", t!("cli.open.nothingChanged"));
        return Ok(8);
    }
    let accepted = invite::accept(store, &policy, &invitation, args.replace).await?;
    if args.json {
        return json_out(&accepted);
    }
    let org = &accepted.org;
    let name = shown(if org.organization_name.is_empty() { &org.tenant } else { &org.organization_name });
    let Some(account) = &accepted.account else {
        // The organization invitation: the user's own address comes next.
        println!("{}", t!("cli.open.doneOrganization", org = name, tenantId = org.tenant_id));
        println!("{}", t!("cli.open.nextOrganization"));
        return Ok(0);
    };
    let address = shown(&account.address);
    println!("{}", t!("cli.open.done", address = address, org = name, tenantId = org.tenant_id));
    println!("{}", t!("cli.open.next", address = address));
    Ok(0)
}
