#!/usr/bin/env bash
# `make dev`: the whole product on this machine, for a person with a browser.
#
#   moto's server (DynamoDB)  → a free loopback port, table $TABLE_NAME created
#   fps-sandbox (FPS + CBUI)  → http://127.0.0.1:$FPS_PORT/
#   cargo lambda watch        → http://127.0.0.1:$LAMBDA_PORT/lambda-url/<function>/…
#
# Ports and settings (environment): FPS_PORT (4567), LAMBDA_PORT (9000), TABLE_NAME
# (orders-local), PAYMENT_ACTION (Pay | Reserve; default Pay), DEV_STATE_DIR (.dev),
# FUNCTIONS_READY_TIMEOUT (900 s for the first build). Every service is confirmed before the
# next starts; if one does not answer, the command stops and names it and the variable to
# change. Ctrl-C stops everything started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$(pwd)"

FPS_PORT="${FPS_PORT:-4567}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
TABLE_NAME="${TABLE_NAME:-orders-local}"
PAYMENT_ACTION="${PAYMENT_ACTION:-Pay}"
# Where the stack keeps its logs, moto's state and the emulator's ledger.
STATE="${DEV_STATE_DIR:-$ROOT/.dev}"
# How long the functions' first build may take before the stack gives up (seconds).
FUNCTIONS_READY_TIMEOUT="${FUNCTIONS_READY_TIMEOUT:-900}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"

fail() {
    echo "dev: $*" >&2
    exit 1
}

# Nothing may be listening on our ports already: a server that accepts and never answers would
# otherwise pass for ours (or hang every probe).
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for spec in "FPS_PORT:$FPS_PORT" "LAMBDA_PORT:$LAMBDA_PORT"; do
    name="${spec%%:*}" port="${spec#*:}"
    [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || fail "$name=$port is not a port number"
    port_free "$port" || fail "port $port is already in use; set $name to a free port"
done

# ready NAME PID URL TIMEOUT: waits until URL answers (each probe bounded), or fails naming
# what did not start, from its log.
ready() {
    local name="$1" pid="$2" url="$3" timeout="$4" log="$5" variable="$6" deadline
    deadline=$((SECONDS + timeout))
    until curl -fsS --max-time 2 -o /dev/null "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            fail "$name exited before answering at $url (log: $log; set $variable to use another port)"
        fi
        ((SECONDS < deadline)) || fail "$name did not answer at $url within ${timeout}s (log: $log; set $variable to use another port)"
        sleep 0.5
    done
}

SETUP_CARGO_LAMBDA=1 bash infra/local/setup.sh

pids=()
cleanup() {
    echo
    echo "dev: stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    bash infra/local/moto.sh stop "$STATE/moto" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$(bash infra/local/moto.sh start "$STATE/moto")" || fail "moto did not start (log: $STATE/moto/)"
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
echo "dev: DynamoDB (moto) at $AWS_ENDPOINT_URL_DYNAMODB"

cargo build -q --workspace --bins --examples
# Where Cargo put them (CARGO_TARGET_DIR, a config's build.target-dir, or ./target).
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
[[ -x "$TARGET_DIR/debug/fps-sandbox" ]] || fail "no fps-sandbox binary in $TARGET_DIR/debug"
"$TARGET_DIR/debug/examples/create-table" "$TABLE_NAME"

FPS_URL="http://127.0.0.1:$FPS_PORT/"
"$TARGET_DIR/debug/fps-sandbox" --listen "127.0.0.1:$FPS_PORT" --public-url "$FPS_URL" \
    --state-file "$STATE/fps-sandbox-ledger.json" >"$STATE/fps-sandbox.log" 2>&1 &
pids+=($!)
ready "the FPS emulator" "$!" "${FPS_URL}_sandbox/clock" 30 "$STATE/fps-sandbox.log" FPS_PORT
echo "dev: FPS emulator at $FPS_URL (log: $STATE/fps-sandbox.log)"

LAMBDA_BASE="http://127.0.0.1:$LAMBDA_PORT/lambda-url"
cat >"$STATE/functions.env" <<ENV
RUST_LOG=info
TABLE_NAME=$TABLE_NAME
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
FPS_ENVIRONMENT=local
FPS_API_URL=$FPS_URL
FPS_CBUI_URL=${FPS_URL}cobranded-ui/actions/start
FPS_ACCESS_KEY_ID=AKIAFPSSANDBOXDEVKEY
FPS_SECRET_KEY=fps-sandbox-dev-secret-not-for-production
PAYMENT_ACTION=$PAYMENT_ACTION
SHOP_URL=$LAMBDA_BASE/start-checkout/
RETURN_URL=$LAMBDA_BASE/cbui-return/return
IPN_URL=$LAMBDA_BASE/fps-notifications/ipn
MERCHANT_NAME='Acme Outfitters (local)'
CATALOG_JSON='{"products":[{"sku":"TEE-BLUE-L","name":"T-shirt (blue, L)","unitPrice":"12.75"},{"sku":"MUG","name":"Enamel mug","unitPrice":"8.10"},{"sku":"CAP","name":"Cap","unitPrice":"15.00"},{"sku":"GIFT-DECLINE","name":"Gift card (the emulator declines it)","unitPrice":"10.61"}]}'
PRICING_JSON='{"taxRate":"0.0825","shipping":"5.00","freeShippingOver":"50.00","handlingFee":"0.50"}'
ENV

echo "dev: starting the functions (first build takes a few minutes)…"
"$ROOT/.venv/bin/cargo-lambda" lambda watch --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
    --env-file "$STATE/functions.env" >"$STATE/functions.log" 2>&1 &
pids+=($!)
ready "the functions (cargo lambda watch)" "$!" "$LAMBDA_BASE/start-checkout/" \
    "$FUNCTIONS_READY_TIMEOUT" "$STATE/functions.log" LAMBDA_PORT
cat <<MSG

  Shop:            $LAMBDA_BASE/start-checkout/
  FPS emulator:    $FPS_URL  (ledger: ${FPS_URL}_sandbox/ledger)
  Notifications:   $LAMBDA_BASE/fps-notifications/ipn  (FPS posts every status change here;
                   each delivery is a line in $STATE/fps-sandbox.log and in the ledger's ipn_deliveries)
  Settle sweep:    .venv/bin/cargo-lambda lambda invoke settle-reservations --invoke-address 127.0.0.1 --invoke-port $LAMBDA_PORT --data-file infra/events/scheduled.json
  Operator console (checkout-admin; show, list, refund, cancel, redrive — add --json for scripts):
                   TABLE_NAME=$TABLE_NAME SETTLE_FUNCTION=settle-reservations \\
                   AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$LAMBDA_PORT AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB \\
                   AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
                   cargo run -q -p checkout-admin -- list --state Paid
  Logs:            $STATE/functions.log, $STATE/fps-sandbox.log

  Ctrl-C stops everything.
MSG
wait
