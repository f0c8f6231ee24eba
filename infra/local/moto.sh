#!/usr/bin/env bash
# moto's server as the local DynamoDB: loopback only, on a free port the kernel picks.
#
#   infra/local/moto.sh start [STATE_DIR]   start (or find running), wait until it answers,
#                                           print `export …` lines for eval
#   infra/local/moto.sh env   [STATE_DIR]   print the `export …` lines of a running server
#   infra/local/moto.sh stop  [STATE_DIR]   stop the server started with that STATE_DIR
#
#   eval "$(infra/local/moto.sh start)"  # then AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT
#
# STATE_DIR (default .dev/moto) holds pid, port, endpoint and log. Different STATE_DIRs give
# independent servers (make test uses its own, so it never touches a dev stack's).
# Install moto first: make setup.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"

usage() {
    echo "usage: $0 start|env|stop [STATE_DIR]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
COMMAND="$1"
STATE="${2:-$ROOT/.dev/moto}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"

# moto's server, with one change: requests run one at a time. moto's DynamoDB model checks a
# condition and then writes without a lock, so two threads could both pass the same
# ConditionExpression; real DynamoDB applies conditional writes to an item atomically, and the
# race tests must see that. Connections are still accepted concurrently (threaded server).
# Binds port 0 and writes the port the kernel chose to argv[1] once the socket listens.
read -r -d '' LAUNCHER <<'PY' || true
import os
import sys
import threading

from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

port_file = sys.argv[1]
app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()


def serialized(environ, start_response):
    with one_at_a_time:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


server = make_server(
    "127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler
)
port = server.server_address[1]
os.environ["MOTO_PORT"] = str(port)
with open(port_file + ".tmp", "w") as f:
    f.write(f"{port}\n")
os.replace(port_file + ".tmp", port_file)
print(f"moto listening on http://127.0.0.1:{port}", flush=True)
server.serve_forever()
PY

running_pid() {
    # The pid in STATE/pid, if that process is alive and is our server for this STATE.
    local pid
    [[ -f "$STATE/pid" ]] || return 1
    pid="$(cat "$STATE/pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE/port" || return 1
    echo "$pid"
}

answers() {
    # moto's own API answers 200 on GET once the server is serving.
    "$PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

print_env() {
    local endpoint
    endpoint="$(cat "$STATE/endpoint")"
    echo "export AWS_ENDPOINT_URL_DYNAMODB=$endpoint"
    # moto accepts any credentials; these are placeholders, not secrets.
    echo "export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-test}"
    echo "export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-test}"
    echo "export AWS_REGION=\${AWS_REGION:-us-east-1}"
}

start() {
    if [[ ! -x "$PYTHON" ]] || ! "$PYTHON" -c 'import moto.server' 2>/dev/null; then
        echo "moto: not installed in $ROOT/.venv; run 'make setup'" >&2
        exit 1
    fi
    if running_pid >/dev/null && [[ -f "$STATE/endpoint" ]] && answers "$(cat "$STATE/endpoint")"; then
        echo "moto: already running at $(cat "$STATE/endpoint")" >&2
        print_env
        return 0
    fi
    rm -f "$STATE/pid" "$STATE/port" "$STATE/endpoint"
    nohup "$PYTHON" -c "$LAUNCHER" "$STATE/port" >"$STATE/log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$STATE/pid"

    local waited=0 endpoint=""
    while (( waited < 300 )); do   # 30 s in 0.1 s steps
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "moto: the server exited while starting; its log ($STATE/log):" >&2
            tail -n 30 "$STATE/log" >&2 || true
            exit 1
        fi
        if [[ -s "$STATE/port" ]]; then
            endpoint="http://127.0.0.1:$(tr -d '[:space:]' <"$STATE/port")"
            if answers "$endpoint"; then
                echo "$endpoint" >"$STATE/endpoint"
                echo "moto: listening at $endpoint (pid $pid, log $STATE/log)" >&2
                print_env
                return 0
            fi
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "moto: no answer within 30 s; stopping it. Log ($STATE/log):" >&2
    tail -n 30 "$STATE/log" >&2 || true
    stop
    exit 1
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$STATE/pid" "$STATE/port" "$STATE/endpoint"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/pid" "$STATE/port" "$STATE/endpoint"
    echo "moto: stopped (pid $pid)" >&2
}

case "$COMMAND" in
    start) start ;;
    env)
        if running_pid >/dev/null && [[ -f "$STATE/endpoint" ]]; then
            print_env
        else
            echo "moto: not running (state $STATE); run '$0 start'" >&2
            exit 1
        fi
        ;;
    stop) stop ;;
    *) usage ;;
esac
