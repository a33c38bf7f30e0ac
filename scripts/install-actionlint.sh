#!/usr/bin/env bash
# Installs the pinned actionlint (the GitHub Actions workflow linter, tests/lint/test.sh), built
# from the Go module proxy (no release binary download), into <repo>/.cache/tools-go/bin
# (gitignored) and prints its path on stdout.
# Idempotent: does nothing, and needs no network, when the pinned version is already there.
#
# Environment: ACTIONLINT_VERSION (override the pin), GOPROXY/GOFLAGS as usual.
set -euo pipefail

version="${ACTIONLINT_VERSION:-v1.7.12}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${repo_root}/.cache/tools-go/bin"
actionlint="${bin_dir}/actionlint"

log() { echo "install-actionlint: $*" >&2; }
die() { log "error: $*"; exit 1; }

# `actionlint -version` prints the module version first (go install records it in the binary).
installed_version() {
  [[ -x "${actionlint}" ]] || return 1
  "${actionlint}" -version 2>/dev/null | head -n 1
}

if [[ "$(installed_version || true)" == "${version}" ]]; then
  echo "${actionlint}"
  exit 0
fi

command -v go >/dev/null || die "go is not installed (needed once to build actionlint ${version})"
mkdir -p "${bin_dir}"
# One install at a time (parallel jobs may all call this script).
exec 9>"${bin_dir}/.actionlint.lock"
flock 9
if [[ "$(installed_version || true)" == "${version}" ]]; then
  echo "${actionlint}"
  exit 0
fi

start="${SECONDS}"
log "building actionlint ${version} from the Go module proxy (into ${bin_dir})"
tmp="$(mktemp -d "${bin_dir}/.actionlint-build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
CGO_ENABLED=0 GOBIN="${tmp}" go install -trimpath -ldflags "-s -w" \
  "github.com/rhysd/actionlint/cmd/actionlint@${version}" || die "go install failed"
mv -f "${tmp}/actionlint" "${actionlint}"
[[ "$(installed_version || true)" == "${version}" ]] ||
  die "the built actionlint reports '$(installed_version || true)', not ${version}"
log "installed actionlint ${version} in $((SECONDS - start))s"
echo "${actionlint}"
