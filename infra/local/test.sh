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

source infra/local/private-moto.sh
start_private_moto test
echo "test: DynamoDB (moto) at $AWS_ENDPOINT_URL_DYNAMODB"

# The functions' own binaries, for the tests that run them under the Lambda Runtime Interface
# Emulator (tests/tests/deployed.rs). Debug builds: never release inside `make test`.
cargo build --quiet --bins -p start-checkout -p cbui-return -p settle-reservations \
    -p fps-notifications -p order-events

cargo nextest run --workspace --no-fail-fast "$@"
