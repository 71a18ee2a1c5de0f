#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each, one after the other, and
# prints per target: executions, exec/s, coverage (cov/ft from libFuzzer's last status line),
# peak memory and crashes. Not run by CI; the corpora it grows are replayed by the ordinary tests
# (src-tauri/core/tests/fuzz_corpus.rs) once minimised into fuzz/corpus with --cmin.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run (default 60 s each, all targets)
#   scripts/fuzz.sh --cmin [TARGET...]      add to fuzz/corpus/<t> what runs found that reaches new edges
#   scripts/fuzz.sh --list                  the targets
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if missing.
# The fuzz build has its own target directory (sanitizer flags differ from the stable build's):
# FUZZ_TARGET_DIR, default fuzz/target. Runs are niced and use one core. What a run finds:
# fuzz/corpus-run/<t> (new inputs), fuzz/artifacts/<t> (crashes), fuzz/logs/<t>.log. The tokens in
# fuzz/dict/<t>.dict (libFuzzer dictionaries) help it past magic strings.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
target_dir="${FUZZ_TARGET_DIR:-$fuzz/target}"
# The same flags for every build and run, so that cargo never rebuilds between targets.
build_flags=(--target-dir "$target_dir" --codegen-units 16)

targets() { sed -n 's/^name = "\(.*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^exo-setup-fuzz$'; }

if [[ "${1:-}" == "--list" ]]; then
    targets
    exit 0
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cmin=0
if [[ "${1:-}" == "--cmin" ]]; then
    cmin=1
    shift
    seconds=0
else
    seconds="${1:-60}"
    [[ $# -gt 0 ]] && shift
    if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
        echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2
        exit 2
    fi
fi
if [[ $# -gt 0 ]]; then
    selected=("$@")
else
    mapfile -t selected < <(targets)
fi

cd "$fuzz"
mkdir -p logs
echo "fuzz.sh: building the fuzz targets (first time: several minutes)" >&2
if ! nice -n 10 cargo +nightly fuzz build "${build_flags[@]}" 2>"logs/build.log"; then
    tail -30 logs/build.log >&2
    exit 1
fi

if [[ $cmin == 1 ]]; then
    # Keeps what corpus/<t> has (the named seeds) and adds the inputs of corpus-run/<t> that reach
    # edges it does not (hit counts ignored, so the committed corpus stays small).
    for t in "${selected[@]}"; do
        mkdir -p "corpus/$t" "corpus-run/$t"
        before=$(find "corpus/$t" -type f | wc -l)
        nice -n 10 cargo +nightly fuzz run "${build_flags[@]}" "$t" "corpus/$t" "corpus-run/$t" -- \
            -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=60 >"logs/$t.cmin.log" 2>&1
        echo "$t: corpus $before → $(find "corpus/$t" -type f | wc -l) files ($(cat "corpus/$t"/* | wc -c) bytes)"
    done
    exit 0
fi

printf '%-18s %8s %12s %9s %8s %8s %8s %s\n' target seconds executions exec/s cov ft rss_mb crashes
status=0
for t in "${selected[@]}"; do
    mkdir -p "corpus-run/$t" "corpus/$t" "artifacts/$t"
    log="logs/$t.log"
    dict=()
    [[ -f "dict/$t.dict" ]] && dict=(-dict="dict/$t.dict")
    started=$(date +%s)
    set +e
    nice -n 10 cargo +nightly fuzz run "${build_flags[@]}" "$t" "corpus-run/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    took=$(($(date +%s) - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    [[ $rc != 0 ]] && status=1
    printf '%-18s %8s %12s %9s %8s %8s %8s %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
        "${rss:-?}" "$crashes$([[ $rc != 0 ]] && echo " (exit $rc, see fuzz/$log)")"
done
exit $status
