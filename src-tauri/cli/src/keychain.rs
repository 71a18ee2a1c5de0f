//! `exo-setup keychain orphans [--remove] [--json]`: keychain items whose mailbox is no longer a
//! registered account here (the keychain cannot be listed; the core's ledger knows them).

use std::io::Write;

use exo_setup_core::auth::Auth;
use exo_setup_core::UiError;

use rust_i18n::t;

use crate::output::{json_out, shown};

pub async fn orphans(auth: &Auth, remove: bool, json: bool) -> Result<u8, UiError> {
    let orphans = if remove { auth.remove_keychain_orphans().await? } else { auth.keychain_orphans().await? };
    if json {
        return json_out(&orphans);
    }
    let mut out = std::io::stdout().lock();
    for o in &orphans {
        let items = match (o.has_refresh_token, o.has_access_token) {
            (true, true) => t!("cli.keychain.refreshAndAccess"),
            (true, false) => t!("cli.keychain.refresh"),
            (false, true) => t!("cli.keychain.access"),
            (false, false) => t!("cli.keychain.nothing"),
        };
        let removed = if remove { format!("\t{}", t!("cli.keychain.removed")) } else { String::new() };
        let _ = writeln!(out, "{}\t{}\t{items}{removed}", o.tenant_id, shown(&o.address));
    }
    if orphans.is_empty() {
        eprintln!("{}", t!("cli.keychain.none"));
    } else if !remove {
        eprintln!("{}", t!("cli.keychain.removeHint"));
    }
    Ok(0)
}
