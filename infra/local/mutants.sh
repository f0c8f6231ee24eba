#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the money path: the order state machine, the checkout and
# settle use cases and the store's conditional writes. Each mutant is built and checked by
# checkout-core's own tests (unit tests with in-memory fakes, the store tests on a private moto,
# the template tests); a mutant no test notices is "missed" and listed in
# target/mutants/mutants.out/missed.txt.
#
#   make mutants                           # every file below
#   MUTANTS_FILES="src/domain/order.rs" make mutants
#   MUTANTS_ARGS="--list" make mutants     # what would be tried, without building
#   MUTANTS_ARGS="-- --lib" make mutants   # only the unit tests (enough for the pure state machine)
#
# Figures (caught / missed / unviable / timeouts) are printed at the end and in
# target/mutants/mutants.out/outcomes.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutants: installing cargo-mutants"
    cargo install --locked cargo-mutants
fi

files="${MUTANTS_FILES:-src/domain/order.rs src/domain/order/after_sale.rs src/use_cases/checkout.rs src/use_cases/settle.rs src/adapters/dynamodb.rs}"
file_args=()
for f in $files; do
    file_args+=(--file "shared/checkout-core/$f")
done

source infra/local/private-moto.sh
start_private_moto mutants
echo "mutants: DynamoDB (moto) at $AWS_ENDPOINT_URL_DYNAMODB"

# --in-place would mutate this tree; the default copies it (without target/) and builds there.
# The copy builds into a target directory of its own that outlives the run (only the mutated
# crate is rebuilt for each mutant). Not this tree's target/: cargo names a workspace crate's
# artifacts by its path relative to the workspace, so the copy's and this tree's builds would
# overwrite each other, and a test run here during the campaign would judge the wrong code.
export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$PWD/target/mutants-build}"
# A mutant of code the tests never wait on can hang a test: the timeout catches it.
# shellcheck disable=SC2086
cargo mutants --package checkout-core "${file_args[@]}" --test-tool nextest \
    --output target/mutants --minimum-test-timeout 60 ${MUTANTS_ARGS:-} || status=$?
out=target/mutants/mutants.out
if [[ -f "$out/outcomes.json" ]]; then
    python3 - "$out/outcomes.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
caught, missed, unviable, timeout = (o.get(k, 0) for k in ("caught", "missed", "unviable", "timeout"))
viable = caught + missed + timeout
print(f"mutants: {caught} caught, {missed} missed, {timeout} timed out, {unviable} unviable")
if viable:
    print(f"mutants: score {100 * (caught + timeout) / viable:.1f} % of {viable} viable mutants")
PY
fi
exit "${status:-0}"
