#!/usr/bin/env bash
# The chaos campaign (tests/src/chaos): SEED (default random, printed) and ORDERS (default 1,000)
# through the real handlers, the FPS emulator and a private moto, with fault proxies in front of
# both. Exits non-zero on any invariant violation.
#
#   make chaos                      # 1,000 orders, a fresh seed
#   make chaos SEED=42 ORDERS=300   # repeat a run
set -euo pipefail
cd "$(dirname "$0")/../.."

source infra/local/private-moto.sh
start_private_moto chaos
# Debug build, like the tests: the campaign is bound by moto and the faults' waits, not CPU.
cargo build --quiet -p e2e-tests --bin chaos
SEED="${SEED:-}" ORDERS="${ORDERS:-}" \
    "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/chaos"
