#!/usr/bin/env bash
# Builds what users install, with the Tauri bundler:  bash scripts/package.sh
#   Linux: the release .deb (<target>/release/bundle/deb/exo-setup_<version>_<arch>.deb); its path is the last line
#   printed. Windows/macOS: .msi + NSIS / .app + .dmg (.github/workflows/build.yml runs it there).
# The bundler comes from crates.io (`cargo install tauri-cli`, skipped when `cargo tauri` exists) rather than from
# ui/node_modules, so building an installer does not depend on the UI's npm tree beyond the UI build itself.
# It builds the release profile of Cargo.toml (size-tuned) with the UI embedded; tauri.conf.json's
# beforeBuildCommand builds ui/dist. `bare-window` (the benchmark's baseline) needs the `bench` feature and is
# therefore left out of the package.
# Environment:
#   EXO_SKIP_INSTALL=1       do not install anything (the tools must already be present)
#   EXO_PACKAGE_BUNDLES=...  bundle formats to build (default: deb on Linux, msi,nsis on Windows, app,dmg on macOS)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

case "$(uname -s)" in
  Linux) default_bundles=deb ;;
  Darwin) default_bundles=app,dmg ;;
  MINGW* | MSYS* | CYGWIN*) default_bundles=msi,nsis ;;
  *) exo_die "no installer format known for $(uname -s)" ;;
esac
bundles="${EXO_PACKAGE_BUNDLES:-$default_bundles}"

if [ "${EXO_SKIP_INSTALL:-0}" != 1 ]; then
  if [ "$(uname -s)" = Linux ]; then exo_apt_ensure "${EXO_APT_BUILD[@]}"; fi
  exo_rust_ensure
  exo_node_ensure
  exo_npm_ensure "$ROOT"
fi
if ! cargo tauri --version >/dev/null 2>&1; then
  [ "${EXO_SKIP_INSTALL:-0}" != 1 ] || exo_die "cargo tauri not found (cargo install tauri-cli --version '^2' --locked)"
  exo_cargo_tool_ensure cargo-tauri tauri-cli --version '^2' --locked
fi
echo "$(cargo tauri --version), bundles: $bundles" >&2

TARGET_DIR="$(exo_target_dir "$ROOT")"
# --ci: no prompts, no progress bars. Signing is not configured (see ARCHITECTURE.md, "Platforms").
# The bundler packs the wizard's package (exo-setup-gui); the command line `exo-setup` (the desktop entry's Exec,
# which hands links over to the wizard) is its own crate without Tauri, built here and added to the package.
cargo build --release -p exo-setup-cli --bin exo-setup
cli_bin="$TARGET_DIR/release/exo-setup"
[ -x "$cli_bin" ] || exo_die "cargo did not build $cli_bin"
case "$(uname -s)" in
  Linux) extra_config="{\"bundle\":{\"linux\":{\"deb\":{\"files\":{\"/usr/bin/exo-setup\":\"$cli_bin\"}}}}}" ;;
  *) extra_config='{}' ;;  # Windows/macOS: the CLI is not in their installers yet (ARCHITECTURE.md, "Platforms")
esac
cargo tauri build --ci --bundles "$bundles" --config "$extra_config"

if [ "$(uname -s)" = Linux ]; then
  version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' tauri.conf.json)"
  deb="$TARGET_DIR/release/bundle/deb/exo-setup_${version}_$(dpkg --print-architecture).deb"
  [ -f "$deb" ] || exo_die "the bundler did not write $deb"
  # The bundler writes data.tar.gz; Debian's own packages use xz (dpkg >= 1.15.6, every supported release), which
  # makes the download about a quarter smaller. Repacked with dpkg-deb itself: the same files, modes, control
  # files and md5sums, owned by root as the bundler's were.
  if [ "${EXO_PACKAGE_XZ:-1}" = 1 ] && ar t "$deb" | grep -qx 'data.tar.gz'; then
    repack="$(mktemp -d)"
    gz_size="$(stat -c %s "$deb")"
    dpkg-deb --raw-extract "$deb" "$repack/root"
    dpkg-deb --root-owner-group -Zxz -z9 --build "$repack/root" "$deb.xz" >/dev/null
    mv "$deb.xz" "$deb"
    rm -rf "$repack"
    echo "repacked with xz: $gz_size -> $(stat -c %s "$deb") bytes" >&2
  fi
  printf '%s\n' "$deb"
fi
