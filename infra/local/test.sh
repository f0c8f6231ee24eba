#!/usr/bin/env bash
# Runs the whole test suite against local stand-ins: moto's server for DynamoDB (started here
# on a free loopback port, stopped on the way out, pass or fail).
#
#   bash infra/local/test.sh                 # everything (what `make test` runs)
#   bash infra/local/test.sh -p checkout-core store_dynamodb   # extra args go to nextest
#
# Needs `make setup` first (make test does it).
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_STATE=".dev/moto-test.$$"
cleanup() {
    bash infra/local/moto.sh stop "$MOTO_STATE" || true
    rm -rf "$MOTO_STATE"
}
trap cleanup EXIT
# Make Ctrl-C and kill run the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

moto_env="$(bash infra/local/moto.sh start "$MOTO_STATE")"
eval "$moto_env"

# Placeholders for moto, never real credentials; nothing may reach AWS from a test run.
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
echo "test: DynamoDB (moto) at $AWS_ENDPOINT_URL_DYNAMODB"

cargo nextest run --workspace --no-fail-fast "$@"
