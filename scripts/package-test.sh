#!/usr/bin/env bash
# Tests the release .deb as installed, not the build tree:  bash scripts/package-test.sh path/to/exo-setup_*.deb
# (scripts/test.sh's "package" layer runs it after scripts/package.sh). Needs root (apt-get, dpkg) — it installs the
# package on this machine and purges it again at the end, also when a check fails.
#
#   1. the package itself: Depends/Recommends/Description; ships /usr/bin/exo-setup and exo-setup-gui, nothing else
#      in /usr/bin (the benchmark's bare-window stays out);
#   2. `apt-get install ./x.deb` resolves its dependencies; the installed desktop entry passes desktop-file-validate,
#      runs `exo-setup %u` and lists the scheme handler and the .exoinvite type; the MIME database knows *.exoinvite;
#   3. `/usr/bin/exo-setup --version` and `token` of an unknown address (exit 3, error[...] on stderr, nothing on
#      stdout), with no display, no keychain and no network;
#   4. in a private HOME under Xvfb + D-Bus + gnome-keyring (phase --desktop): xdg-mime names the installed entry
#      for the scheme and for application/x-exoinvite, gio types a .exoinvite file; `gio open <deep link>` starts the
#      installed wizard cold and it logs the link; a second `gio open` reaches the running window through
#      single-instance (the log line again, still one wizard process);
#   5. `apt-get remove` leaves the user's data (the database the wizard created) byte for byte; after `apt-get purge`
#      (when remove left configuration behind; the package has no conffiles)
#      no path `dpkg -L` listed exists unless it existed before the install (/usr/bin), and the MIME and desktop
#      caches forget the app.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

PKG=exo-setup
SCHEME="$(sed -n 's/^  "identifier": "\(.*\)",$/\1/p' "$ROOT/tauri.conf.json")"
ENTRY=exo-setup.desktop
MIME=application/x-exoinvite
APT=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q)

fail() { printf 'package-test: FAILED: %s\n' "$*" >&2; exit 1; }
ok() { printf 'package-test: ok: %s\n' "$*"; }

# Waits up to $2 seconds for grep -qF "$3" in file $1.
wait_for_line() {
  local file="$1" secs="$2" text="$3" i
  for ((i = 0; i < secs * 10; i++)); do
    if [ -f "$file" ] && grep -qF -- "$text" "$file"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# The wizard processes (/usr/bin/exo-setup-gui, or /usr/bin/exo-setup before it execs the GUI) of this phase's HOME.
wizard_pids() {
  local pid
  for pid in $(pgrep -x exo-setup-gui; pgrep -x exo-setup); do
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "HOME=$HOME" && printf '%s\n' "$pid"
  done
  return 0
}

# ---------------------------------------------------------------------------------------------- desktop phase
# Run by the main phase as: xvfb-run dbus-run-session -- with-keyring.sh package-test.sh --desktop WORK
if [ "${1:-}" = --desktop ]; then
  work="$2"
  # A new user's desktop: nothing registered in the home, so what answers is what the package installed.
  export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
  export XDG_CACHE_HOME="$work/home/.cache"
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
  unset EXO_SETUP_DATA_DIR EXO_SETUP_KEYCHAIN_SERVICE
  export EXO_SETUP_LOG=info EXO_SETUP_LOG_FILE="$work/wizard.log"

  got="$(xdg-mime query default "x-scheme-handler/$SCHEME")"
  [ "$got" = "$ENTRY" ] || fail "xdg-mime names '$got' for x-scheme-handler/$SCHEME, not $ENTRY"
  ok "xdg-mime: x-scheme-handler/$SCHEME -> $got"
  got="$(xdg-mime query default "$MIME")"
  [ "$got" = "$ENTRY" ] || fail "xdg-mime names '$got' for $MIME, not $ENTRY"
  ok "xdg-mime: $MIME -> $got"
  printf '{}\n' >"$work/invitation.exoinvite"
  got="$(gio info -a standard::content-type "$work/invitation.exoinvite" | sed -n 's/^ *standard::content-type: //p')"
  [ "$got" = "$MIME" ] || fail "gio types a .exoinvite file as '$got', not $MIME"
  ok "gio: *.exoinvite is $got"

  [ -z "$(wizard_pids)" ] || fail "a wizard is already running in this private HOME"
  # Cold start: gio finds the installed entry and runs `exo-setup %u`, which starts the window with the link.
  nonce="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  gio open "$SCHEME://package-test/cold-$nonce"
  wait_for_line "$EXO_SETUP_LOG_FILE" 60 "/cold-$nonce" \
    || fail "the wizard started by gio open did not log the deep link within 60 s; log: $(cat "$EXO_SETUP_LOG_FILE" 2>&1)"
  ok "gio open started the installed wizard, which received the link"
  # Let the window come up: its title names the app.
  for _ in $(seq 300); do xdotool search --name '^exo-setup' >/dev/null 2>&1 && break; sleep 0.1; done
  xdotool search --name '^exo-setup' >/dev/null 2>&1 || fail "no exo-setup window after 30 s"
  ok "the wizard's window is shown"

  # Warm: a second instance forwards the link to the running window (single-instance over D-Bus) and exits.
  gio open "$SCHEME://package-test/warm-$nonce"
  wait_for_line "$EXO_SETUP_LOG_FILE" 30 "/warm-$nonce" \
    || fail "the running wizard did not log the second deep link within 30 s; log: $(cat "$EXO_SETUP_LOG_FILE")"
  for _ in $(seq 100); do [ "$(wizard_pids | wc -l)" -le 1 ] && break; sleep 0.1; done
  n="$(wizard_pids | wc -l)"
  [ "$n" -eq 1 ] || fail "$n wizard processes after the second deep link; single-instance should leave one"
  ok "the running wizard received the second link; one wizard process"

  wizard_pids | xargs -r kill 2>/dev/null || true
  for _ in $(seq 100); do [ -z "$(wizard_pids)" ] && break; sleep 0.1; done
  wizard_pids | xargs -r kill -9 2>/dev/null || true
  exit 0
fi

# ---------------------------------------------------------------------------------------------- main phase
[ "$#" -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 path/to/$PKG.deb" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || exo_die "package-test.sh installs the package: run it as root"
deb="$(realpath "$1")"
for tool in apt-get dpkg-deb desktop-file-validate xdg-mime gio xvfb-run dbus-run-session xdotool pgrep; do
  command -v "$tool" >/dev/null 2>&1 || exo_die "$tool not found (scripts/test.sh installs it)"
done

work="$(mktemp -d -t exo-package-test.XXXXXX)"
# installed, config-files, not-installed (dpkg still knows the name), or nothing.
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true; }
purge_at_exit() {
  local rc=$?
  case "$(pkg_state)" in
    installed | config-files | half-*| unpacked | triggers-*)
      dpkg --purge "$PKG" >/dev/null 2>&1 || echo "package-test: could not purge $PKG" >&2 ;;
  esac
  # A process of the test's wizard may still be writing its caches (mesa's shader cache): one more try, and
  # a leftover temporary folder never turns a passed test into a failure.
  rm -rf "$work" 2>/dev/null || { sleep 2; rm -rf "$work" || echo "package-test: could not remove $work" >&2; }
  exit "$rc"
}
trap purge_at_exit EXIT

# 1. The package.
field() { dpkg-deb -f "$deb" "$1"; }
version="$(field Version)"
echo "package-test: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"
printf '  Depends: %s\n  Recommends: %s\n' "$(field Depends)" "$(field Recommends)"
[ -n "$(field Description)" ] || fail "the package has no Description"
field Recommends | grep -qw fonts-noto-cjk || fail "Recommends does not name fonts-noto-cjk (Japanese would render as boxes)"
field Recommends | grep -qw gnome-keyring || fail "Recommends does not name a Secret Service (gnome-keyring)"
bins="$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n -E 's|^(\./)?usr/bin/(.+)|\2|p' | sort | tr '\n' ' ')"
[ "$bins" = "exo-setup exo-setup-gui " ] || fail "/usr/bin in the package holds '$bins', not exactly exo-setup and exo-setup-gui"
ok "control fields; /usr/bin: $bins"

# 2. Install with apt (dependencies from the archive), as a user would.
case "$(pkg_state)" in installed | config-files) "${APT[@]}" purge "$PKG" ;; esac
# The package's paths that exist before it is installed (/usr, /usr/bin, …: shared folders) may outlive the purge.
preexisting="$work/preexisting.txt"
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -E 's|^\.?/?|/|; s|/$||' | grep -vx / | while read -r f; do
  if [ -e "$f" ]; then printf '%s\n' "$f"; fi
done >"$preexisting"
installed_files="$work/dpkg-L.txt"
"${APT[@]}" install "$deb" || fail "apt-get install $deb failed (dependencies did not resolve?)"
dpkg -L "$PKG" | grep -vx '/\.' >"$installed_files"
ok "apt-get install: $(dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}' "$PKG")"

entry="$(grep -E "/usr/share/applications/[^/]+\.desktop$" "$installed_files" || true)"
[ "$entry" = "/usr/share/applications/$ENTRY" ] || fail "the desktop entry is '$entry', not /usr/share/applications/$ENTRY"
desktop-file-validate "$entry" || fail "desktop-file-validate $entry"
grep -qE '^Exec=exo-setup %u$' "$entry" || fail "$entry: Exec is '$(grep '^Exec=' "$entry")', not 'exo-setup %u'"
mimetypes="$(sed -n 's/^MimeType=//p' "$entry")"
for m in "$MIME" "x-scheme-handler/$SCHEME"; do
  [[ ";$mimetypes" == *";$m;"* ]] || fail "$entry: MimeType=$mimetypes lacks $m"
done
grep -qF "$MIME" /usr/share/mime/globs2 || fail "update-mime-database did not add $MIME to /usr/share/mime/globs2"
ok "desktop entry valid, Exec %u, MimeType $mimetypes; MIME database knows *.exoinvite"

# 3. The CLI, as a mail client's token helper runs it: no display, no keychain, a new data directory.
out="$(env -u DISPLAY -u WAYLAND_DISPLAY /usr/bin/exo-setup --version)"
[ "$out" = "exo-setup $version" ] || fail "/usr/bin/exo-setup --version says '$out', not 'exo-setup $version'"
rc=0
env -u DISPLAY -u WAYLAND_DISPLAY EXO_SETUP_DATA_DIR="$work/cli-data" /usr/bin/exo-setup token nobody@example.com \
  >"$work/token.out" 2>"$work/token.err" || rc=$?
[ "$rc" -eq 3 ] || fail "exo-setup token <unknown address> exited $rc, not 3 (input refused); stderr: $(cat "$work/token.err")"
grep -q 'error\[' "$work/token.err" || fail "exo-setup token: no error[kind] on stderr: $(cat "$work/token.err")"
[ ! -s "$work/token.out" ] || fail "exo-setup token printed to stdout on an error: $(cat "$work/token.out")"
ok "/usr/bin/exo-setup --version: $out; token of an unknown address: exit 3, $(grep -o 'error\[[a-z_]*\]' "$work/token.err" | head -1)"

# 4. The desktop, in a private HOME.
mkdir -p "$work/home"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- "$ROOT/scripts/with-keyring.sh" \
  bash "$ROOT/scripts/package-test.sh" --desktop "$work"
db="$work/home/.local/share/$SCHEME/exo-setup.sqlite3"
[ -f "$db" ] || fail "the wizard created no database at $db"
sum="$(sha256sum "$db" | cut -d' ' -f1)"

# 5. Remove, then purge.
"${APT[@]}" remove "$PKG"
[ -f "$db" ] && [ "$(sha256sum "$db" | cut -d' ' -f1)" = "$sum" ] || fail "apt-get remove changed or deleted the user's $db"
ok "apt-get remove: the user's database is untouched"
# The package has no conffiles, so remove already took everything dpkg tracks; purge then has nothing left to do
# and apt cannot name it any more. Purge when something is left.
state="$(pkg_state)"
if [ "$state" = config-files ]; then "${APT[@]}" purge "$PKG"; else echo "package-test: after remove: '$state', nothing to purge"; fi
left=()
while read -r f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  if grep -qxF "$f" "$preexisting"; then continue; fi
  left+=("$f")
done <"$installed_files"
[ "${#left[@]}" -eq 0 ] || fail "apt-get purge left: ${left[*]}"
! grep -qF "$MIME" /usr/share/mime/globs2 || fail "$MIME is still in /usr/share/mime/globs2 after the purge"
! grep -qF "$ENTRY" /usr/share/applications/mimeinfo.cache 2>/dev/null \
  || fail "$ENTRY is still in /usr/share/applications/mimeinfo.cache after the purge"
[ -f "$db" ] && [ "$(sha256sum "$db" | cut -d' ' -f1)" = "$sum" ] || fail "apt-get purge touched the user's $db"
ok "apt-get purge: of the $(wc -l <"$installed_files") paths dpkg listed only the $(wc -l <"$preexisting") that existed before are left; caches clean; user data kept"
echo "package-test: ALL PASSED"
