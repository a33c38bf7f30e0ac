# vpcgate: one entry point for humans and CI. `make test` installs what it needs itself.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Tests talk only to 127.0.0.1, with fake credentials and no instance metadata.
export AWS_EC2_METADATA_DISABLED := true
export AWS_ACCESS_KEY_ID := testing
export AWS_SECRET_ACCESS_KEY := testing
export AWS_REGION := us-east-1
export CARGO_TERM_COLOR := never

.PHONY: test lint emulator helm crd rbac build demo down chart-test image-check argocd-check bench

## Run every check and test: formatting, clippy, actionlint and shellcheck, the release versions,
## unit, SDK-edge, emulator and end-to-end tests (the e2e binary builds and starts the local
## control plane itself, then stops it), the chart, the Argo CD health check in Lua 5.1, and the
## container (hadolint + native release build).
test: emulator helm lint
	tests/lint/test.sh
	tests/release/versions.sh
	cargo test --all-targets
	.venv/bin/python -m pytest -q tests/emulator
	tests/chart/test.sh
	tests/checkov/test.sh
	tests/iam/test.sh
	tests/argocd/test.sh
	tests/docker/test.sh

## Lint the Dockerfile and build its binary natively with the Dockerfile's flags (target/docker).
image-check:
	tests/docker/test.sh

.PHONY: image release

## Build the image (IMAGE=vpcgate:dev, PLATFORMS=linux/amd64,linux/arm64 for both) with buildah,
## podman or docker when one can build here; otherwise say why and run image-check instead.
image:
	scripts/image.sh

## Bump every stated version (Cargo.toml/.lock, Chart.yaml, Dockerfile, docs, CHANGELOG.md) to
## VERSION and commit: make release VERSION=x.y.z (then tag it: RELEASING.md).
release:
	scripts/release.sh "$(VERSION)"

## Run the Argo CD health check's test cases in Lua 5.1.
argocd-check:
	tests/argocd/test.sh

## Helm chart tests alone: lint, schema, rendering, server-side dry run, install and RBAC check.
chart-test: helm
	tests/chart/test.sh

## Regenerate deploy/rbac.yaml from the chart (charts/vpcgate/templates/rbac.yaml is the source).
rbac:
	tests/chart/render-rbac.sh > deploy/rbac.yaml.tmp && mv deploy/rbac.yaml.tmp deploy/rbac.yaml

## Install the pinned helm (cached in ~/.cache/vpcgate/bin).
helm:
	scripts/install-helm.sh

## Build everything, start the local control plane, the emulator and the operator, apply the
## walkthrough and show it Ready. Leaves the stack running; `make down` stops it.
demo:
	scripts/demo.sh up

## Benchmark (never fails on a number): N objects to Ready against the emulator on a local control
## plane (its own, .cache/bench/cluster), throttled and not; EC2 calls, API writes, RSS/CPU, deletion.
## Table on stdout, JSON in target/bench/. Parameters (make variables or environment):
## N="50 200 1000" K RESYNC CONCURRENCY STEADY THROTTLE=on|off|both PROBE=off|on|both VIEW_TTL;
## VPCGATE_BENCH_BIN=<binary> instead of the release build (target/docker, as image-check builds it).
bench: emulator
	.venv/bin/python scripts/bench.py

## Stop what `make demo` started.
down:
	scripts/demo.sh down

## Install the pinned AWS emulator (moto server) into .venv (skipped when up to date).
emulator:
	scripts/install-emulator.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

## Regenerate crds/ (and the chart's copy) and docs/reference.md from the Rust types.
crd:
	cargo run --quiet -- crd > crds/gatewayendpoints.vpcgate.dev.yaml
	cp crds/gatewayendpoints.vpcgate.dev.yaml charts/vpcgate/crds/
	cargo run --quiet -- reference > docs/reference.md

build:
	cargo build
