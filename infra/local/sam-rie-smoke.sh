#!/usr/bin/env bash
# Runs one artifact of `sam build` (.aws-sam/build/<LogicalId>/bootstrap) under Amazon's Lambda
# Runtime Interface Emulator from the pinned SAM CLI, invokes it with one sample event and
# prints the answer's status: the deployed artifact itself, without Docker.
#
#   make sam-build    # or: sam build StartCheckoutFunction
#   bash infra/local/sam-rie-smoke.sh StartCheckoutFunction infra/events/get-shop.json
#
# The template builds arm64. On an x86-64 machine the bootstrap runs under qemu-user
# (Debian: apt-get install qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross).
# The environment is the function's in infra/events/env.json; a shop page needs nothing else
# running, other events need moto and the emulator at the addresses env.json names.
set -euo pipefail
cd "$(dirname "$0")/../.."

FUNCTION="${1:?usage: $0 LogicalId event.json}"
EVENT="${2:?usage: $0 LogicalId event.json}"
BOOTSTRAP=".aws-sam/build/$FUNCTION/bootstrap"
[[ -x "$BOOTSTRAP" ]] || { echo "no $BOOTSTRAP: run make sam-build first" >&2; exit 1; }

case "$(uname -m)" in
    aarch64 | arm64) RIE_ARCH=arm64 ;;
    *) RIE_ARCH=x86_64 ;;
esac
RIE="$(ls .venv-tools/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-"$RIE_ARCH" 2>/dev/null | head -1)"
[[ -x "$RIE" ]] || { echo "no aws-lambda-rie-$RIE_ARCH: run make setup" >&2; exit 1; }

COMMAND=("$BOOTSTRAP")
if file "$BOOTSTRAP" | grep -q aarch64 && [[ "$RIE_ARCH" != arm64 ]]; then
    command -v qemu-aarch64-static >/dev/null || { echo "an arm64 bootstrap needs qemu-aarch64-static here" >&2; exit 1; }
    export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
    COMMAND=(qemu-aarch64-static "$BOOTSTRAP")
fi

PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
API_PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$(mktemp)"
mapfile -t ENVIRONMENT < <(.venv/bin/python - "$FUNCTION" <<'PY'
import json, sys
env = json.load(open("infra/events/env.json"))[sys.argv[1]]
env.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_LOG_LEVEL": "INFO"})
for name, value in env.items():
    print(f"{name}={value}")
PY
)
env -i PATH="$PATH" QEMU_LD_PREFIX="${QEMU_LD_PREFIX:-}" "${ENVIRONMENT[@]}" "$RIE" \
    --runtime-interface-emulator-address "127.0.0.1:$PORT" --runtime-api-address "127.0.0.1:$API_PORT" \
    "${COMMAND[@]}" >"$LOG" 2>&1 &
RIE_PID=$!
trap 'kill $RIE_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
ANSWER="$(curl -fsS --max-time 60 -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations" -d @"$EVENT")"
grep -a -E "INIT REPORT|^REPORT" "$LOG" || true
.venv/bin/python -c 'import json,sys; a=json.loads(sys.argv[1]); print("answer:", a.get("statusCode", a.get("errorType", a)))' "$ANSWER"
