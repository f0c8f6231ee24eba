#!/usr/bin/env bash
# Fuzzes every target (tests/fuzz, cargo-fuzz on the nightly toolchain) for FUZZ_SECONDS each
# (default 60), growing the corpora under tests/fuzz/corpus/. A crash stops the run and leaves
# its input in tests/fuzz/artifacts/<target>/: fix it, then copy the input to
# tests/fuzz/regressions/<target>/ so that `make test` replays it on stable for ever.
#
#   make fuzz                                  # every target, 60 s each
#   make fuzz FUZZ_TARGETS="sigv2 ipn" FUZZ_SECONDS=600
#   FUZZ_RUNS=10000000 make fuzz               # a number of executions instead of a time
#
# Prints each target's executions (libFuzzer's own count) at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

all="$(sed -n 's/^name = "\(.*\)"/\1/p' tests/fuzz/Cargo.toml | grep -v '^checkout-fuzz$')"
targets="${FUZZ_TARGETS:-$all}"
seconds="${FUZZ_SECONDS:-60}"
limit=(-max_total_time="$seconds")
if [[ -n "${FUZZ_RUNS:-}" ]]; then
    limit=(-runs="$FUZZ_RUNS")
fi
mkdir -p target/fuzz-logs
for target in $targets; do
    mkdir -p "tests/fuzz/corpus/$target"
    echo "fuzz: $target (${FUZZ_RUNS:+$FUZZ_RUNS runs}${FUZZ_RUNS:-$seconds s})"
    cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "tests/fuzz/corpus/$target" -- \
        "${limit[@]}" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        2> "target/fuzz-logs/$target.log" || {
        tail -40 "target/fuzz-logs/$target.log"
        echo "fuzz: $target FAILED; the input is in tests/fuzz/artifacts/$target/" >&2
        exit 1
    }
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "target/fuzz-logs/$target.log" | tail -1)"
    echo "fuzz: $target: $runs executions, corpus $(ls "tests/fuzz/corpus/$target" | wc -l) files"
done
