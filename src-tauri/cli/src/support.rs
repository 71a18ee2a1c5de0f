//! `exo-setup support-bundle [--out FILE [--force]] [--hash-addresses] [--json]`: the core's
//! support bundle (`exo_setup_core::support`), with the OS keychain asked which values to remove.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use exo_setup_core::keychain::OsKeychain;
use exo_setup_core::{logging, support, Store, UiError};

use crate::output::{flushed, json_out, shown};
use crate::SupportBundleArgs;

pub fn bundle(store: &Arc<Store>, data_dir: &Path, args: SupportBundleArgs) -> Result<u8, UiError> {
    let explicit = std::env::var_os(logging::LOG_FILE_ENV).filter(|p| !p.is_empty()).map(Into::into);
    let keychain = OsKeychain::new();
    let written = support::create(support::Request {
        store,
        keychain: Some(&keychain),
        log_files: support::logs::sources(data_dir, explicit),
        out: args.out.unwrap_or_else(|| support::default_path(&support::default_dir(data_dir))),
        overwrite: args.force,
        hash_addresses: args.hash_addresses,
    })?;
    if args.json {
        return json_out(&written);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", shown(&written.path));
    for f in &written.files {
        let _ = writeln!(out, "  {}", shown(f));
    }
    flushed(&mut out, "The file list")?;
    eprintln!(
        "Support bundle written ({} removed; mail addresses {}). Attach it to your support ticket.",
        written.redactions,
        if written.addresses_hashed { "hashed" } else { "kept" }
    );
    Ok(0)
}
