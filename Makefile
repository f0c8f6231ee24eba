# The commands the README names. Everything a target needs is installed by the target itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup test lint fmt dev bench build clean-dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: ## install the project's tools (Python venv with pinned moto, cfn-lint, cargo-lambda; chromium)
	@bash infra/local/setup.sh

test: setup ## run every test (unit, vectors, emulator, DynamoDB via moto, end to end)
	@bash infra/local/test.sh

lint: ## rustfmt and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
