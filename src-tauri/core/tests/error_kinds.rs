//! Every error kind the OAuth client, the keychain, the sign-in service, the mail check, invitations and
//! the managed policy can send to the UI
//! has Japanese and English text: the UI's `ERROR_KINDS` list (whose ja/en entries the UI tests
//! check) must name each of them.

use exo_setup_core::auth::AUTH_ERROR_KINDS;
use exo_setup_core::bounded::BOUNDED_ERROR_KINDS;
use exo_setup_core::csv_io::CSV_ERROR_KINDS;
use exo_setup_core::invite::INVITE_ERROR_KINDS;
use exo_setup_core::keychain::KEYCHAIN_ERROR_KINDS;
use exo_setup_core::mailcheck::MAILCHECK_ERROR_KINDS;
use exo_setup_core::oauth::OAUTH_ERROR_KINDS;
use exo_setup_core::policy::POLICY_ERROR_KINDS;

#[test]
fn ui_lists_every_kind_rust_can_send() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/lib/errors/uiError.ts");
    let ts = std::fs::read_to_string(path).expect("ui/src/lib/errors/uiError.ts");
    let start = ts.find("export const ERROR_KINDS").expect("ERROR_KINDS in uiError.ts");
    let list = &ts[start..start + ts[start..].find("] as const").expect("end of ERROR_KINDS")];
    let missing: Vec<&str> = OAUTH_ERROR_KINDS
        .iter()
        .chain(KEYCHAIN_ERROR_KINDS)
        .chain(AUTH_ERROR_KINDS)
        .chain(MAILCHECK_ERROR_KINDS)
        .chain(INVITE_ERROR_KINDS)
        .chain(POLICY_ERROR_KINDS)
        .chain(CSV_ERROR_KINDS)
        .chain(BOUNDED_ERROR_KINDS)
        .copied()
        .filter(|k| !list.contains(&format!("'{k}'")))
        .collect();
    assert!(missing.is_empty(), "kinds without UI text (add them to ERROR_KINDS and both catalogues): {missing:?}");
}
