# vpcgate: one entry point for humans and CI. `make test` installs what it needs itself.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Tests talk only to 127.0.0.1, with fake credentials and no instance metadata.
export AWS_EC2_METADATA_DISABLED := true
export AWS_ACCESS_KEY_ID := testing
export AWS_SECRET_ACCESS_KEY := testing
export AWS_REGION := us-east-1
export CARGO_TERM_COLOR := never

.PHONY: test lint emulator crd build demo down

## Run every check and test: formatting, clippy, unit, SDK-edge, emulator and end-to-end tests
## (the e2e binary builds and starts the local control plane itself, then stops it).
test: emulator lint
	cargo test --all-targets
	.venv/bin/python -m pytest -q tests/emulator

## Build everything, start the local control plane, the emulator and the operator, apply the
## walkthrough and show it Ready. Leaves the stack running; `make down` stops it.
demo:
	scripts/demo.sh up

## Stop what `make demo` started.
down:
	scripts/demo.sh down

## Install the pinned AWS emulator (moto server) into .venv (skipped when up to date).
emulator:
	scripts/install-emulator.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

## Regenerate crds/ from the Rust types.
crd:
	cargo run --quiet -- crd > crds/gatewayendpoints.vpcgate.dev.yaml

build:
	cargo build
