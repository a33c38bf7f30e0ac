#!/usr/bin/env bash
# checkov over the infrastructure code the project ships, offline (make test runs it):
#   - Kubernetes: the chart as helm renders it with its defaults and with each
#     tests/chart/values/*.yaml, so the optional PodDisruptionBudget, NetworkPolicy,
#     ServiceMonitor, IRSA and allow-list variants are scanned too;
#   - the Dockerfile.
# Every finding is fixed or skipped where it is, with a one-line reason: `checkov.io/skipN:
# "CKV_K8S_xx=reason"` annotations in charts/vpcgate/templates/ (no "=" in the reason),
# `# checkov:skip=CKV_DOCKER_x: reason` in the Dockerfile. Fails on any failed check, a skip
# without a reason, a rendering or parsing error, or a rendered object checkov did not scan
# (tests/checkov/report.py judges checkov's JSON report).
#
# Offline: checkov runs in a clean environment (`env -i`: no BC_API_KEY/PRISMA_API_URL, no CKV_*
# from the caller) with its own HOME (no ~/.bridgecrew/credentials, no ~/.checkov.yaml), and with
# --skip-download and BC_SKIP_MAPPING=TRUE (no guidelines/policy metadata from the platform),
# CKV_SKIP_PACKAGE_UPDATE_CHECK=true (no PyPI version check on start) and --skip-results-upload.
# Without the first three it resolves its platform and PyPI hosts on every run.
#
# Installs its pinned tools first: scripts/install-checkov.sh (.cache/checkov-venv) and
# scripts/install-helm.sh. Prints `ok <check>` / `FAIL <check>: reason` lines and a last line
# `N passed, M failed`; exits non-zero when any check failed.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1
venv=".cache/checkov-venv"
chart="charts/vpcgate"

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# helm's own cache/config/data stay inside this run.
export HELM_CACHE_HOME="${work}/helm/cache" HELM_CONFIG_HOME="${work}/helm/config"
export HELM_DATA_HOME="${work}/helm/data"

if ! install_log="$(scripts/install-checkov.sh 2>&1)"; then
  echo "${install_log}"
  fail install-checkov "see above"
  finish
fi
if ! helm="$(scripts/install-helm.sh 2>"${work}/install-helm.log")"; then
  sed 's/^/    /' "${work}/install-helm.log" | tail -n 30
  fail install-helm "scripts/install-helm.sh failed"
  finish
fi

# 1. What is scanned: the renderings and a copy of the Dockerfile (one checkov run for both).
# Each rendering is its own release in its own namespace: checkov's graph checks link objects
# across files (a NetworkPolicy of one rendering would otherwise cover the pods of all).
scan="${work}/scan"
mkdir -p "${scan}/chart" "${work}/home" "${work}/tmp"
cp Dockerfile "${scan}/Dockerfile"
profiles=()
for values in tests/chart/values/*.yaml; do
  p="$(basename "${values}" .yaml)"
  if "${helm}" template "vpcgate-${p}" "${chart}" --namespace "vpcgate-${p}" -f "${values}" \
      >"${scan}/chart/${p}.yaml" 2>"${work}/render.err"; then
    profiles+=("${p}")
  else
    fail "helm template -f ${values}" "$(head -n 5 "${work}/render.err")"
  fi
done
ok "helm template: ${#profiles[@]} renderings (${profiles[*]})"

# 2. checkov, offline.
start=$(date +%s)
env -i PATH="${PATH}" HOME="${work}/home" TMPDIR="${work}/tmp" LANG=C.UTF-8 \
  BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
  "${repo_root}/${venv}/bin/checkov" --directory "${scan}" --framework kubernetes dockerfile \
  --skip-download --skip-results-upload --output json \
  >"${work}/report.json" 2>"${work}/checkov.err"
rc=$?
# 0: nothing failed; 1: failed checks (report.py lists them); anything else: checkov broke.
if ((rc > 1)); then
  fail checkov "exited ${rc}; last lines of its stderr:
$(tail -n 20 "${work}/checkov.err")"
  finish
fi
ok "checkov $("${venv}/bin/python" -c 'from checkov.version import version; print(version)') ran ($(($(date +%s) - start))s)"

# 3. The verdict.
tally "checkov report" "${venv}/bin/python" tests/checkov/report.py "${work}/report.json" "${scan}"

finish
