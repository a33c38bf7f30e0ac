#!/usr/bin/env bash
# Tests the Argo CD health check of GatewayEndpoint: every case of health_test.yaml run against
# health.lua in a real Lua 5.1 interpreter, the argocd-cm snippet equal to health.lua, and the
# example Application. Installs its pinned tools first (scripts/install-lint-tools.sh).
# Prints `ok <check>` / `FAIL <check>: reason` lines and a last line `N passed, M failed`.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1
python=".cache/tools-venv/bin/python"

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

if ! install_log="$(scripts/install-lint-tools.sh 2>&1)"; then
  echo "${install_log}"
  fail install-lint-tools "see above"
  finish
fi

tally "health tests" "${python}" tests/argocd/run_health_tests.py
tally "manifests" "${python}" tests/argocd/check_manifests.py

finish
