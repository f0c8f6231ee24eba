#!/usr/bin/env bash
# Fuzzes every target (tests/fuzz, cargo-fuzz on the nightly toolchain) for FUZZ_SECONDS each
# (default 60). Each target grows a working corpus in target/fuzz-corpus/<target>/, seeded by the
# committed one in tests/fuzz/corpus/<target>/; at the end, only the inputs that reach code the
# committed corpus does not are merged into it, which keeps it small. A crash stops the run and leaves
# its input in tests/fuzz/artifacts/<target>/: fix it, then copy the input to
# tests/fuzz/regressions/<target>/ so that `make test` replays it on stable for ever.
#
#   make fuzz                                  # every target, 60 s each
#   make fuzz FUZZ_TARGETS="sigv2 ipn" FUZZ_SECONDS=600
#   FUZZ_RUNS=10000000 make fuzz               # a number of executions instead of a time
#
# Sanitizer: none by default (safe Rust; several times the speed); FUZZ_SANITIZER=address for ASan.
# Each target's executions (libFuzzer's own count) are printed and appended to
# tests/fuzz/executions.tsv, the record of how much fuzzing every target has had.
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
sanitizer="${FUZZ_SANITIZER:-none}"
limit=(-max_total_time="$seconds")
if [[ -n "${FUZZ_RUNS:-}" ]]; then
    limit=(-runs="$FUZZ_RUNS")
fi
record=tests/fuzz/executions.tsv
[[ -f "$record" ]] || printf 'date\ttarget\texecutions\tseconds\tsanitizer\n' > "$record"
mkdir -p target/fuzz-logs
for target in $targets; do
    committed="tests/fuzz/corpus/$target"
    working="target/fuzz-corpus/$target"
    mkdir -p "$committed" "$working"
    budget="$seconds s"
    [[ -n "${FUZZ_RUNS:-}" ]] && budget="$FUZZ_RUNS runs"
    echo "fuzz: $target ($budget, sanitizer $sanitizer)"
    started=$SECONDS
    cargo +nightly fuzz run --sanitizer "$sanitizer" --fuzz-dir tests/fuzz "$target" \
        "$working" "$committed" -- \
        "${limit[@]}" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        2> "target/fuzz-logs/$target.log" || {
        tail -40 "target/fuzz-logs/$target.log"
        echo "fuzz: $target FAILED; the input is in tests/fuzz/artifacts/$target/" >&2
        exit 1
    }
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "target/fuzz-logs/$target.log" | tail -1)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$target" "${runs:-0}" \
        "$((SECONDS - started))" "$sanitizer" >> "$record"
    before="$(ls "$committed" | wc -l)"
    # The committed corpus is rebuilt as a small set covering every edge the two corpora reach
    # (set cover, edges only: hit counts would keep thousands of near-copies). Files named by
    # their SHA-1 are the fuzzer's; any other name is a hand-written seed and always stays.
    cover="$(mktemp -d)"
    cargo +nightly fuzz run --sanitizer "$sanitizer" --fuzz-dir tests/fuzz "$target" \
        "$cover" "$committed" "$working" -- -set_cover_merge=1 -use_counters=0 \
        -max_len=8192 -timeout=10 2> "target/fuzz-logs/$target.merge.log"
    find "$committed" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    cp -n "$cover"/* "$committed"/ 2>/dev/null || true
    rm -rf "$cover"
    echo "fuzz: $target: $runs executions; committed corpus $before -> $(ls "$committed" | wc -l) files"
done
echo "fuzz: executions so far, per target (from $record):"
awk -F'\t' 'NR > 1 { total[$2] += $3 } END { for (t in total) printf "  %-24s %12d\n", t, total[t] }' \
    "$record" | sort
