#!/usr/bin/env bash
# Build and launch the exo-setup wizard on a fresh Debian 12 / Ubuntu machine:  bash scripts/wizard.sh [app args…]
#
# Installs what is missing (apt build packages, Rust, Node.js, ui/node_modules), builds the UI (ui/dist) and the
# app with the UI embedded (`cargo build --features prod`, debug profile: a cold build takes ~4 min on 2 cores,
# a release build ~6 min and the wizard does not need the speed), then runs target/debug/exo-setup with the
# arguments given, e.g.  bash scripts/wizard.sh --data-dir /tmp/exo-demo
#
# Without a display ($DISPLAY/$WAYLAND_DISPLAY unset) it stops with an explanation, unless EXO_HEADLESS=1: then
# the wizard runs in a virtual X server (xvfb-run) inside a private D-Bus session, for a demo or a smoke test;
# EXO_HEADLESS_SCREENSHOT=path.png saves a picture of the screen after EXO_HEADLESS_SECONDS (default 5) seconds
# and closes it.
#
# --demo (first argument): walks all four steps offline. Starts the bundled Microsoft identity platform emulator
# (tests/entra-emulator, sign-in pages included; users admin@, taro@ and hanako@contoso.example, no password),
# points step 1 at it (the form is pre-filled and says it is not Microsoft), keeps data in its own directory and
# keychain service so a real setup is never touched, and stops the emulator when the wizard closes.
set -euo pipefail

demo=0
if [ "${1:-}" = "--demo" ]; then
  demo=1
  shift
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

headless="${EXO_HEADLESS:-0}"
if [ "$headless" != 1 ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cat >&2 <<'MSG'
exo-setup is a desktop application and there is no display here ($DISPLAY and $WAYLAND_DISPLAY are unset).
  - Run this command in a graphical session (a desktop terminal), or over `ssh -X`; or
  - try it in a virtual display:  EXO_HEADLESS=1 bash scripts/wizard.sh
    (optionally EXO_HEADLESS_SCREENSHOT=/tmp/wizard.png to save a picture of it and exit).
MSG
  exit 2
fi

echo "==> checking system packages, Rust, Node.js and npm packages"
pkgs=("${EXO_APT_BUILD[@]}")
[ "$headless" = 1 ] && pkgs+=(xvfb xauth dbus dbus-x11 imagemagick)
exo_apt_ensure "${pkgs[@]}"
exo_rust_ensure
exo_node_ensure
exo_npm_ensure "$ROOT"

echo "==> building the UI (npm --prefix ui run build)"
npm --prefix ui run build

echo "==> building the app with the UI embedded (cargo build --features prod: exo-setup + exo-setup-gui)"
cargo build --features prod --bin exo-setup --bin exo-setup-gui
app="$(exo_target_dir "$ROOT")/debug/exo-setup"

if [ "$demo" = 1 ]; then
  echo "==> demo: building and starting the Microsoft identity platform emulator"
  cargo build -p entra-emulator --bin entra-emulator
  emu_log="$(mktemp)"
  "$(exo_target_dir "$ROOT")/debug/entra-emulator" --listen 127.0.0.1:0 >"$emu_log" 2>&1 &
  emu_pid=$!
  trap 'kill "$emu_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q "listening on" "$emu_log" && break; sleep 0.1; done
  emu_url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$emu_log" | head -1)"
  [ -n "$emu_url" ] || { cat "$emu_log" >&2; echo "the emulator did not start" >&2; exit 1; }
  echo "    emulator: $emu_url (tenant contoso.example, app 11111111-2222-3333-4444-555555555555)"
  export EXO_SETUP_DEMO_AUTHORITY="$emu_url" EXO_SETUP_DEMO_TENANT="contoso.example" \
    EXO_SETUP_DEMO_CLIENT_ID="11111111-2222-3333-4444-555555555555" \
    EXO_SETUP_DATA_DIR="${EXO_SETUP_DATA_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/exo-setup-demo}" \
    EXO_SETUP_KEYCHAIN_SERVICE="${EXO_SETUP_KEYCHAIN_SERVICE:-dev.exosetup.wizard.demo}"
  echo "    demo data: $EXO_SETUP_DATA_DIR (delete it to start over)"
  # Not exec: the trap stops the emulator when the wizard closes.
  if [ "$headless" != 1 ]; then
    "$app" "$@"
    exit $?
  fi
fi

if [ "$headless" != 1 ]; then
  echo "==> starting $app $*"
  exec "$app" "$@"
fi

shot="${EXO_HEADLESS_SCREENSHOT:-}"
echo "==> starting $app $* in a virtual display (Xvfb) and a private D-Bus session"
if [ -z "$shot" ]; then
  [ "$demo" = 1 ] && { xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- "$app" "$@"; exit $?; }
  exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- "$app" "$@"
fi
case "$shot" in /*) ;; *) shot="$PWD/$shot" ;; esac
export EXO_APP="$app" EXO_SHOT="$shot" EXO_WAIT="${EXO_HEADLESS_SECONDS:-5}"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
  "$EXO_APP" "$@" & pid=$!
  sleep "$EXO_WAIT"
  import -window root "$EXO_SHOT" && echo "screenshot: $EXO_SHOT"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' exo-wizard "$@"
