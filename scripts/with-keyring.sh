#!/usr/bin/env bash
# Run a command with a real, unlocked Secret Service (gnome-keyring) in a private HOME and XDG_RUNTIME_DIR.
# Must run inside a private D-Bus session:  dbus-run-session -- scripts/with-keyring.sh cargo test …
set -euo pipefail

[ "$#" -gt 0 ] || { echo "usage: dbus-run-session -- $0 <command> [args…]" >&2; exit 2; }
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || {
  echo "with-keyring.sh: no D-Bus session bus; run it as: dbus-run-session -- $0 $*" >&2; exit 2; }

real_home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
# A private HOME must not break the toolchains found through the real one: pin them first.
export CARGO_HOME="${CARGO_HOME:-$real_home/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$real_home/.rustup}"
export npm_config_cache="${npm_config_cache:-$real_home/.npm}"
[ -f "$real_home/.npmrc" ] && export npm_config_userconfig="${npm_config_userconfig:-$real_home/.npmrc}"
[ -d "$real_home/.pyenv" ] && export PYENV_ROOT="${PYENV_ROOT:-$real_home/.pyenv}"
export EXO_REAL_HOME="$real_home"

keyring_home="$(mktemp -d -t exo-keyring-home.XXXXXX)"
runtime_dir="$(mktemp -d -t exo-keyring-run.XXXXXX)"   # mktemp -d is mode 0700, as XDG requires
chmod 700 "$runtime_dir"
export HOME="$keyring_home" XDG_RUNTIME_DIR="$runtime_dir"
export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"

# --unlock with a password on stdin creates and unlocks the default `login` collection.
# DISPLAY is hidden from the daemon only (it would try X11 prompts); the wrapped command keeps it (Xvfb for e2e).
eval "$(printf '%s' test-pass | env -u DISPLAY gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL

# Wait until the daemon owns org.freedesktop.secrets, or D-Bus may activate a second daemon.
owned=0
for _ in $(seq 50); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    owned=1; break
  fi
  sleep 0.1
done
[ "$owned" = 1 ] || echo "with-keyring.sh: warning: org.freedesktop.secrets not owned after 5 s" >&2

cleanup() {
  [ -n "${GNOME_KEYRING_PID:-}" ] && kill "$GNOME_KEYRING_PID" 2>/dev/null || true
  rm -rf "$keyring_home" "$runtime_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

status=0
"$@" || status=$?
exit "$status"
