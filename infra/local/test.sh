#!/usr/bin/env bash
# Runs the whole test suite against local stand-ins: moto's server for DynamoDB (started here
# on a free loopback port, stopped on the way out, pass or fail).
#
#   bash infra/local/test.sh                 # everything (what `make test` runs)
#   bash infra/local/test.sh -p checkout-core --test store   # extra args go to nextest
#
# Needs `make setup` first (make test does it).
set -euo pipefail
cd "$(dirname "$0")/../.."

# DYNAMODB_SECOND_OPINION=dynalite make test: the store and use-case tests against dynalite
# instead of moto; a test of a feature dynalite lacks skips that part and prints why.
if [[ "${DYNAMODB_SECOND_OPINION:-}" == "dynalite" ]]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    dynalite=.venv-tools/node/node_modules/.bin/dynalite
    if [[ ! -x "$dynalite" ]]; then
        echo "test: $dynalite is not installed; run DYNAMODB_SECOND_OPINION=dynalite make test" \
            "(its setup installs it)" >&2
        exit 1
    fi
    "$dynalite" --port "$port" >/dev/null 2>&1 &
    dynalite_pid=$!
    trap 'kill "$dynalite_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 1 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port" && break
        sleep 0.1
    done
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
    echo "test: second opinion: the store and use-case tests against dynalite at $AWS_ENDPOINT_URL_DYNAMODB"
    # Passing tests' output too: it carries the SKIPPED lines.
    cargo nextest run -p checkout-core --test store -p e2e-tests --test use_cases \
        --no-fail-fast --success-output final "$@"
    exit
fi

source infra/local/private-moto.sh
start_private_moto test
echo "test: DynamoDB (moto) at $AWS_ENDPOINT_URL_DYNAMODB"

# The functions' own binaries, for the tests that run them under the Lambda Runtime Interface
# Emulator (tests/tests/deployed/). Debug builds: never release inside `make test`.
cargo build --quiet --bins -p start-checkout -p cbui-return -p settle-reservations \
    -p fps-notifications -p order-events
# What `make dev` builds, and the binary `cargo lambda watch` then runs for the shop page
# (`cargo run --bin start-checkout`, whose features differ from the workspace's): built here, the
# dev-stack test (tests/tests/dev_stack.rs) starts in seconds instead of racing a cold build
# against its timeout while the other tests load the machine.
cargo build --quiet --workspace --bins --examples
cargo build --quiet --bin start-checkout

cargo nextest run --workspace --no-fail-fast "$@"
