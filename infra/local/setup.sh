#!/usr/bin/env bash
# Installs what the tests and the dev stack need, pinned, into the project (idempotent).
#
#   .venv/   Python virtualenv with moto's server (DynamoDB protocol, loopback only).
#
# Safe to run again and again: each step checks what is there and skips when it is current.
set -euo pipefail
cd "$(dirname "$0")/../.."

# moto's server stands in for DynamoDB (Amazon's DynamoDB Local is ruled out by its licence).
# Bump deliberately: the DynamoDB tests pin behaviour against this exact version.
MOTO_VERSION="5.2.5"
VENV=".venv"

python_bin() {
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        return 0
    fi
    local py
    if ! py="$(python_bin)"; then
        echo "setup: python3 is not installed" >&2
        return 1
    fi
    rm -rf "$VENV"
    if ! "$py" -m venv "$VENV" 2>/dev/null; then
        # Debian's python3 splits venv (and ensurepip) into python3-venv.
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: installing python3-venv"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            rm -rf "$VENV"
            "$py" -m venv "$VENV"
        else
            echo "setup: '$py -m venv' failed; install python3-venv" >&2
            return 1
        fi
    fi
    echo "setup: created $VENV"
}

installed_version() {
    # Prints the installed distribution's version, or nothing.
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
}

ensure_moto() {
    local have
    have="$(installed_version moto)"
    # The server extra brings flask and friends; check one of them too, so a half-done install
    # is repaired rather than skipped.
    if [[ "$have" == "$MOTO_VERSION" ]] && [[ -x "$VENV/bin/moto_server" ]] \
        && "$VENV/bin/python" -c 'import flask, flask_cors' >/dev/null 2>&1; then
        echo "setup: moto $MOTO_VERSION already installed"
        return 0
    fi
    echo "setup: installing moto[server]==$MOTO_VERSION into $VENV${have:+ (had $have)}"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    have="$(installed_version moto)"
    if [[ "$have" != "$MOTO_VERSION" ]]; then
        echo "setup: moto install failed (have '${have:-none}', want $MOTO_VERSION)" >&2
        return 1
    fi
}

ensure_venv
ensure_moto
