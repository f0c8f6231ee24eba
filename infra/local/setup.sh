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

# --- Template lint tools (infra/local/lint-template.sh) -----------------------------------------
# cfn-lint and the SAM CLI live in a virtualenv of their own: aws-sam-cli pins boto3 and pydantic
# below the versions moto[server] resolves to, and moto's server (above) must keep what its tests
# were pinned against. Bump deliberately; `pip index versions aws-sam-cli` lists releases.
TOOLS_VENV=".venv-tools"
CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"

venv_version() {
    # venv_version DIR DISTRIBUTION: the installed version, or nothing.
    "$1/bin/python" - "$2" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
}

ensure_tools_venv() {
    if [[ -x "$TOOLS_VENV/bin/python" ]] && "$TOOLS_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        return 0
    fi
    local py
    py="$(python_bin)"
    rm -rf "$TOOLS_VENV"
    # ensure_venv (above) has made sure that `python -m venv` works on this machine.
    "$py" -m venv "$TOOLS_VENV"
    echo "setup: created $TOOLS_VENV"
}

ensure_lint_tools() {
    local have_lint have_sam
    have_lint="$(venv_version "$TOOLS_VENV" cfn-lint)"
    have_sam="$(venv_version "$TOOLS_VENV" aws-sam-cli)"
    if [[ "$have_lint" == "$CFN_LINT_VERSION" && "$have_sam" == "$SAM_CLI_VERSION" ]] \
        && [[ -x "$TOOLS_VENV/bin/cfn-lint" && -x "$TOOLS_VENV/bin/sam" ]]; then
        echo "setup: cfn-lint $CFN_LINT_VERSION and aws-sam-cli $SAM_CLI_VERSION already installed"
        return 0
    fi
    echo "setup: installing cfn-lint==$CFN_LINT_VERSION aws-sam-cli==$SAM_CLI_VERSION into $TOOLS_VENV"
    "$TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
    have_lint="$(venv_version "$TOOLS_VENV" cfn-lint)"
    have_sam="$(venv_version "$TOOLS_VENV" aws-sam-cli)"
    if [[ "$have_lint" != "$CFN_LINT_VERSION" || "$have_sam" != "$SAM_CLI_VERSION" ]]; then
        echo "setup: lint tools install failed (cfn-lint '${have_lint:-none}', aws-sam-cli '${have_sam:-none}')" >&2
        return 1
    fi
}

# --- cargo-lambda (optional: SETUP_CARGO_LAMBDA=1) ----------------------------------------------
# For `sam build` (BuildMethod rust-cargolambda) and `cargo lambda watch`/`invoke`. The PyPI
# package ships the cargo-lambda binary; zig, its linker for the arm64 cross build, comes pinned
# beside it (the package itself accepts any zig >= 0.10). Both land in $VENV/bin: put that
# directory on PATH so that `cargo lambda …` finds them.
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.15.2"
LAMBDA_TARGET="aarch64-unknown-linux-gnu"

ensure_cargo_lambda() {
    local have have_zig
    have="$(venv_version "$VENV" cargo-lambda)"
    have_zig="$(venv_version "$VENV" ziglang)"
    if [[ "$have" == "$CARGO_LAMBDA_VERSION" && "$have_zig" == "$ZIGLANG_VERSION" && -x "$VENV/bin/cargo-lambda" ]]; then
        echo "setup: cargo-lambda $CARGO_LAMBDA_VERSION (zig $ZIGLANG_VERSION) already installed"
    else
        echo "setup: installing cargo-lambda==$CARGO_LAMBDA_VERSION ziglang==$ZIGLANG_VERSION into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
        have="$(venv_version "$VENV" cargo-lambda)"
        if [[ "$have" != "$CARGO_LAMBDA_VERSION" ]]; then
            echo "setup: cargo-lambda install failed (have '${have:-none}')" >&2
            return 1
        fi
    fi
    # The functions run on arm64 (template.yaml); cargo lambda would add the target itself.
    if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$LAMBDA_TARGET"; then
        echo "setup: adding the Rust target $LAMBDA_TARGET"
        rustup target add "$LAMBDA_TARGET"
    fi
}

ensure_tools_venv
ensure_lint_tools
if [[ "${SETUP_CARGO_LAMBDA:-0}" == "1" ]]; then
    ensure_cargo_lambda
fi

# --- Chromium + chromedriver for the browser test (Debian's packages) ------------------------------
# The browser test drives Debian's chromium headless through chromedriver. Installed with apt
# (the machine's package manager; root in CI). Skipped when both are present.
ensure_browser() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        echo "setup: chromium and chromedriver already installed ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
        return 0
    fi
    local sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        sudo="sudo"
    fi
    echo "setup: installing Debian's chromium and chromium-driver"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}

if [[ "${SETUP_BROWSER:-1}" == "1" ]]; then
    ensure_browser
fi

# --- dynalite (only for DYNAMODB_SECOND_OPINION=dynalite) -------------------------------------------
# A second DynamoDB implementation (npm), so the store and use-case tests cannot lean on moto's
# quirks. Pinned; installed under .venv-tools/node, skipped when that version is there.
DYNALITE_VERSION=4.0.0
ensure_dynalite() {
    local prefix=.venv-tools/node
    if [[ -x "$prefix/node_modules/.bin/dynalite" ]] \
        && grep -q "\"version\": \"$DYNALITE_VERSION\"" "$prefix/node_modules/dynalite/package.json"; then
        echo "setup: dynalite $DYNALITE_VERSION already installed"
        return 0
    fi
    echo "setup: installing dynalite $DYNALITE_VERSION into $prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent "dynalite@$DYNALITE_VERSION"
}

if [[ "${DYNAMODB_SECOND_OPINION:-}" == "dynalite" ]]; then
    ensure_dynalite
fi
