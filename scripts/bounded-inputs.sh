#!/usr/bin/env bash
# Prints how the CLI copes with hostile file inputs: a 1 GB file, /dev/zero and a FIFO with no
# writer, given to every file input (`accounts import`, `open <file>`, the managed policy through
# EXO_SETUP_POLICY_FILE). For each: exit code, error kind, wall time and maximum RSS
# (/usr/bin/time -v). Every input should be refused at once with a small, flat RSS.
#
# Not run by CI. Needs the CLI built: `cargo build -p exo-setup-cli` (EXO_SETUP_BIN overrides the
# path). Each run is capped at 20 s and 2 GiB of address space, so code without bounds shows up
# as "killed"/"aborted" instead of taking the machine down.
#
# Measured 2026-12-05 (Debian 12, debug build, 2 shared cores). Before: CSV and policy still read
# without bounds (invitations already through core::bounded):
#   | command                            | input        | exit               | error                          |     wall |   max RSS |
#   |------------------------------------|--------------|--------------------|--------------------------------|----------|-----------|
#   | accounts import --dry-run          | 1 GB CSV     | 3                  | error[csv_too_large]           |  0:03.48 |    965 MB |
#   | accounts import --dry-run          | /dev/zero    | 3                  | error[file_unreadable]         |  0:02.08 |   1035 MB |
#   | accounts import --dry-run          | FIFO         | hung, killed at 20 s | -                              |  0:20.01 |      1 MB |
#   | open FILE                          | 1 GB file    | 3                  | error[invite_too_large]        |  0:00.15 |     12 MB |
#   | open FILE                          | /dev/zero    | 3                  | error[file_not_regular]        |  0:00.25 |     12 MB |
#   | open FILE                          | FIFO         | 3                  | error[file_not_regular]        |  0:00.08 |     12 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | 1 GB file    | 3                  | error[policy_invalid]          |  0:00.23 |     12 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | /dev/zero    | 3                  | error[policy_invalid]          |  0:07.95 |   1036 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | FIFO         | hung, killed at 20 s | -                              |  0:20.06 |      1 MB |
# After (core::bounded for every file input; CSV streamed):
#   | command                            | input        | exit               | error                          |     wall |   max RSS |
#   |------------------------------------|--------------|--------------------|--------------------------------|----------|-----------|
#   | accounts import --dry-run          | 1 GB CSV     | 3                  | error[csv_too_many_rows]       |  0:04.76 |     76 MB |
#   | accounts import --dry-run          | /dev/zero    | 3                  | error[file_not_regular]        |  0:00.10 |     11 MB |
#   | accounts import --dry-run          | FIFO         | 3                  | error[file_not_regular]        |  0:00.06 |     12 MB |
#   | open FILE                          | 1 GB file    | 3                  | error[invite_too_large]        |  0:00.07 |     12 MB |
#   | open FILE                          | /dev/zero    | 3                  | error[file_not_regular]        |  0:00.11 |     12 MB |
#   | open FILE                          | FIFO         | 3                  | error[file_not_regular]        |  0:00.13 |     12 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | 1 GB file    | 3                  | error[policy_invalid]          |  0:00.09 |     12 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | /dev/zero    | 3                  | error[policy_invalid]          |  0:00.09 |     12 MB |
#   | open (EXO_SETUP_POLICY_FILE)       | FIFO         | 3                  | error[policy_invalid]          |  0:00.08 |     13 MB |
set -u

bin=${EXO_SETUP_BIN:-${CARGO_TARGET_DIR:-target}/debug/exo-setup}
[ -x "$bin" ] || { echo "no CLI at $bin: cargo build -p exo-setup-cli, or set EXO_SETUP_BIN" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1 GB of well-formed CSV rows (real data, not a sparse file).
big_csv=$work/big.csv
{
  echo "login_name,display_name,mail_address"
  yes "user,Some User,user@contoso.example" | head -c 1000000000
} >"$big_csv"
cp "$big_csv" "$work/big.exoinvite"
cp "$big_csv" "$work/big-policy.json"
mkfifo "$work/fifo.csv" "$work/fifo.exoinvite" "$work/fifo-policy.json"
ln -s /dev/zero "$work/zero.exoinvite"
# A valid invitation, so that `open` goes on to read the policy.
invitation=$work/sample.exoinvite
cp "$here/fuzz/corpus/invitation/link_sample" "$invitation"

# run LABEL INPUT [env VAR=VALUE ...] -- ARGS...
run() {
  local label=$1 input=$2
  shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local data=$work/data-$RANDOM
  mkdir -p "$data"
  (
    ulimit -v $((2 * 1024 * 1024))
    env -u EXO_SETUP_POLICY_FILE "${envs[@]}" /usr/bin/time -v -o "$work/time" \
      timeout -s KILL 20 "$bin" --data-dir "$data" "$@" </dev/null >"$work/out" 2>"$work/err"
  )
  local code rss secs kind
  code=$(sed -n 's/.*Exit status: //p' "$work/time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
  secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
  case $secs in 0:2[0-9].*) code="hung, killed at 20 s" ;; esac
  kind=$(grep -o 'error\[[a-z_0-9]*\]' "$work/err" | head -1)
  [ -n "$kind" ] || kind=$(grep -m1 -o 'memory allocation.*failed\|panicked' "$work/err" || true)
  printf '| %-34s | %-12s | %-18s | %-30s | %8s | %9s |\n' "$label" "$input" "$code" "${kind:--}" "$secs" \
    "$((${rss:-0} / 1024)) MB"
}

printf '| %-34s | %-12s | %-18s | %-30s | %8s | %9s |\n' "command" "input" "exit" "error" "wall" "max RSS"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..14})" \
  "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..32})" "$(printf -- '-%.0s' {1..10})" \
  "$(printf -- '-%.0s' {1..11})"
run "accounts import --dry-run" "1 GB CSV" -- accounts import --dry-run "$big_csv"
run "accounts import --dry-run" "/dev/zero" -- accounts import --dry-run /dev/zero
run "accounts import --dry-run" "FIFO" -- accounts import --dry-run "$work/fifo.csv"
run "open FILE" "1 GB file" -- open "$work/big.exoinvite"
run "open FILE" "/dev/zero" -- open "$work/zero.exoinvite"
run "open FILE" "FIFO" -- open "$work/fifo.exoinvite"
run "open (EXO_SETUP_POLICY_FILE)" "1 GB file" EXO_SETUP_POLICY_FILE="$work/big-policy.json" -- open "$invitation"
run "open (EXO_SETUP_POLICY_FILE)" "/dev/zero" EXO_SETUP_POLICY_FILE=/dev/zero -- open "$invitation"
run "open (EXO_SETUP_POLICY_FILE)" "FIFO" EXO_SETUP_POLICY_FILE="$work/fifo-policy.json" -- open "$invitation"
