#!/usr/bin/env bash
# Tests the Argo CD health check of GatewayEndpoint: every case of health_test.yaml run against
# health.lua in a real Lua 5.1 interpreter, the argocd-cm snippet equal to health.lua, and the
# example Application. Installs its pinned tools first (scripts/install-lint-tools.sh).
# Prints `ok <check>` / `FAIL <check>: reason` lines and a last line `N passed, M failed`.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"
python=".cache/tools-venv/bin/python"

passed=0
failed=0
# Tallies the `ok`/`FAIL` lines of a checker (echoing them) and fails when it exits non-zero
# without a FAIL line.
tally() {
  local name="$1"; shift
  local out rc line fails_before="${failed}"
  out="$("$@" 2>&1)"; rc=$?
  while IFS= read -r line; do
    case "${line}" in
      "ok "*) passed=$((passed + 1)); echo "${line}" ;;
      "FAIL "*) failed=$((failed + 1)); echo "${line}" ;;
      *" passed, "*" failed") ;;  # the checker's own summary
      *) echo "  ${line}" ;;
    esac
  done <<< "${out}"
  if [[ ${rc} -ne 0 && ${failed} -eq ${fails_before} ]]; then
    failed=$((failed + 1))
    echo "FAIL ${name}: exited ${rc}"
  fi
}

if ! install_log="$(scripts/install-lint-tools.sh 2>&1)"; then
  echo "${install_log}"
  echo "FAIL install-lint-tools: see above"
  echo "0 passed, 1 failed"
  exit 1
fi

tally "health tests" "${python}" tests/argocd/run_health_tests.py
tally "manifests" "${python}" tests/argocd/check_manifests.py

echo "${passed} passed, ${failed} failed"
[[ ${failed} -eq 0 ]]
