//! The CLI embeds the wizard's catalogues at compile time (rust-i18n's `i18n!` in `lib.rs`), which
//! Cargo does not know: rebuild the crate when one of them changes.

fn main() {
    for lang in ["ja", "en"] {
        println!("cargo:rerun-if-changed=../../ui/src/lib/i18n/{lang}.json");
    }
}
