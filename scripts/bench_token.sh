#!/usr/bin/env bash
# Token helper speed: `exo-setup token <address>` with a cached, valid access token — what mutt, msmtp
# and isync run on every connection — against `secret-tool lookup` of the same keychain item, median of N
# alternating runs (EXO_BENCH_RUNS, default 15). Target: ratio <= 1.5.
# Set-up, all local: the emulator of Microsoft's identity platform, step 1 and 2 with the CLI, admin consent and a
# sign-in through the test browser and the loopback redirect. Needs a Secret Service:
#   dbus-run-session -- scripts/with-keyring.sh bash scripts/bench_token.sh   (scripts/bench.sh does this)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
TARGET_DIR="$(exo_target_dir "$ROOT")"
CLI="${EXO_SETUP_CLI:-$TARGET_DIR/debug/exo-setup}"
EMU="$TARGET_DIR/debug/entra-emulator"
RUNS="${EXO_BENCH_RUNS:-15}"
for b in "$CLI" "$EMU"; do [ -x "$b" ] || exo_die "$b missing (cargo build -p exo-setup-cli -p entra-emulator)"; done
command -v secret-tool >/dev/null || exo_die "secret-tool missing (apt install libsecret-tools)"

work="$(mktemp -d)"
emu_pid=""
cleanup() { [ -z "$emu_pid" ] || kill "$emu_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$EMU" --listen 127.0.0.1:0 --auto-approve >"$work/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/emu.log" && break; sleep 0.1; done
emu_url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/emu.log" | head -1)"
[ -n "$emu_url" ] || { cat "$work/emu.log" >&2; exo_die "the emulator did not start"; }

export EXO_SETUP_DATA_DIR="$work/data" EXO_SETUP_KEYCHAIN_SERVICE="dev.exosetup.wizard.bench.$$"
export BROWSER="$ROOT/scripts/test-browser.sh"
tenant_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
address="taro@contoso.example"
"$CLI" server enable --tenant contoso.example --client-id 11111111-2222-3333-4444-555555555555 \
  --authority "$emu_url" --redirect-mode loopback >/dev/null
"$CLI" accounts add --login taro --address "$address" >/dev/null
"$CLI" consent --timeout 30 >/dev/null 2>&1 || exo_die "consent failed"
"$CLI" login "$address" --timeout 30 >/dev/null 2>&1 || exo_die "login failed"

entry="access:$tenant_id:$address"
ours="$("$CLI" token "$address")"
theirs="$(secret-tool lookup service "$EXO_SETUP_KEYCHAIN_SERVICE" username "$entry")"
# The keychain item holds the cached token with its expiry (`inline:exo-at1…`); both must name the same token.
case "$theirs" in *"$ours"*) ;; *) exo_die "secret-tool did not find the item exo-setup reads ($entry)";; esac

now_ns() { date +%s%N; }
declare -a t_ours t_theirs
for _ in $(seq "$RUNS"); do
  s=$(now_ns); "$CLI" token "$address" >/dev/null; e=$(now_ns); t_ours+=($(((e - s) / 1000)))
  s=$(now_ns); secret-tool lookup service "$EXO_SETUP_KEYCHAIN_SERVICE" username "$entry" >/dev/null; e=$(now_ns)
  t_theirs+=($(((e - s) / 1000)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
m_ours="$(median "${t_ours[@]}")"
m_theirs="$(median "${t_theirs[@]}")"
awk -v o="$m_ours" -v t="$m_theirs" -v n="$RUNS" 'BEGIN {
  printf "token helper: exo-setup token %.1f ms vs secret-tool lookup %.1f ms (median of %d) -> ratio %.2fx (target <= 1.5x)\n",
    o / 1000, t / 1000, n, o / t }'
