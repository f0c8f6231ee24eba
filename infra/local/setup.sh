#!/usr/bin/env bash
# Installs what the tests and the dev stack need, pinned, into the project (idempotent).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "setup: nothing to install yet"
