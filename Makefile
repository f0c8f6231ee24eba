# The commands the README names. Everything a target needs is installed by the target itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup test lint fmt dev bench build clean-dev chaos fuzz mutants

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: ## install the project's tools (Python venv with pinned moto, cfn-lint, cargo-lambda; chromium)
	@bash infra/local/setup.sh

test: setup ## run every test (unit, vectors, emulator, DynamoDB via moto, end to end)
	@bash infra/local/test.sh

lint: ## rustfmt and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: lint-template sam-build

lint-template: ## cfn-lint + sam validate --lint on template.yaml (pinned tools, offline)
	@bash infra/local/lint-template.sh

sam-build: ## sam build: the three functions for AWS Lambda (arm64, release) via cargo-lambda
	@SETUP_CARGO_LAMBDA=1 bash infra/local/setup.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 .venv-tools/bin/sam build --template template.yaml

bench: setup ## cold start, size, memory, round trips, latency, settle throughput vs a hello-world baseline (minutes; writes target/bench/report.md)
	@bash infra/local/bench.sh

chaos: setup ## the chaos campaign: SEED=… ORDERS=… (default 1,000), faults, kills, duplicates; exits 1 on any violation
	@SEED="$(SEED)" ORDERS="$(ORDERS)" bash infra/local/chaos.sh

fuzz: ## cargo-fuzz (nightly) on every target for FUZZ_SECONDS each (default 60); FUZZ_TARGETS=…, FUZZ_RUNS=…, FUZZ_SANITIZER=address
	@FUZZ_SECONDS="$(FUZZ_SECONDS)" FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_RUNS="$(FUZZ_RUNS)" FUZZ_SANITIZER="$(FUZZ_SANITIZER)" bash infra/local/fuzz.sh

mutants: setup ## cargo-mutants on the order state machine, checkout/settle and the store's conditional writes; MUTANTS_FILES=…, MUTANTS_ARGS=…
	@MUTANTS_FILES="$(MUTANTS_FILES)" MUTANTS_ARGS="$(MUTANTS_ARGS)" bash infra/local/mutants.sh

dev: ## the local stack: moto, the FPS emulator and the functions (cargo lambda watch); prints the shop URL
	@bash infra/local/dev.sh
