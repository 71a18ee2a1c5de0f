//! Reads the app identifier and the deep-link scheme from the repository's `tauri.conf.json`,
//! so that both are defined exactly once (the Tauri bundle, the deep-link plugin and the core's
//! redirect URIs all come from that file).
use std::{env, fs, path::PathBuf};

fn main() {
    let conf = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../tauri.conf.json");
    println!("cargo:rerun-if-changed={}", conf.display());
    let text = fs::read_to_string(&conf).expect("tauri.conf.json at the repository root");
    let json: serde_json::Value = serde_json::from_str(&text).expect("tauri.conf.json is JSON");
    let identifier = json["identifier"].as_str().expect("identifier");
    let scheme =
        json["plugins"]["deep-link"]["desktop"]["schemes"][0].as_str().expect("plugins.deep-link.desktop.schemes[0]");
    let product = json["productName"].as_str().expect("productName");
    println!("cargo:rustc-env=EXO_IDENTIFIER={identifier}");
    println!("cargo:rustc-env=EXO_DEEP_LINK_SCHEME={scheme}");
    println!("cargo:rustc-env=EXO_PRODUCT_NAME={product}");
}
