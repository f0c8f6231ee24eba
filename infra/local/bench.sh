#!/usr/bin/env bash
# `make bench`: builds the functions and the hello-world baseline in release (x86-64 here for
# init, memory and latency; arm64 zips via cargo-lambda for size), starts moto, then runs the
# measurements (infra/bench/runner). Extra args go to the runner, e.g.
#
#   bash infra/local/bench.sh --starts 5 --invocations 200 --settle-orders 300   # a quick look
#
# Exit status 1 if a round-trip count regressed (or a run failed). Takes minutes (two release
# builds when cold). Needs `make setup`; this script installs cargo-lambda itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$(pwd)"

SETUP_CARGO_LAMBDA=1 bash infra/local/setup.sh

PACKAGES=(-p hello-baseline -p start-checkout -p cbui-return -p settle-reservations)
echo "bench: release build, x86-64 (init, memory, latency)"
cargo build --release "${PACKAGES[@]}"
cargo build --release -p fps-bench
echo "bench: release build, arm64 zip via cargo-lambda (size)"
PATH="$ROOT/.venv/bin:$PATH" cargo lambda build --release --arm64 --output-format zip "${PACKAGES[@]}"

source infra/local/private-moto.sh
start_private_moto bench

# The runner hosts the emulator, the proxies and the in-process sweep: release too, so their
# own cost does not blur the functions' figures.
cargo run --quiet --release -p fps-bench --bin bench -- "$@"
