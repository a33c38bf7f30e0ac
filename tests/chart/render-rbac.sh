#!/usr/bin/env bash
# Prints deploy/rbac.yaml as rendered from the chart (the one source of the operator's RBAC):
#   tests/chart/render-rbac.sh > deploy/rbac.yaml        (make rbac)
# tests/chart/test.sh fails when deploy/rbac.yaml differs from this output.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
helm="${HELM:-$("${repo}/scripts/install-helm.sh")}"
cat <<'HEADER'
# GENERATED from the Helm chart charts/vpcgate; do not edit. Regenerate with `make rbac`, i.e.
#   tests/chart/render-rbac.sh > deploy/rbac.yaml
# which runs
#   helm template vpcgate charts/vpcgate --namespace vpcgate-system \
#     --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml
# The ServiceAccount vpcgate-system/vpcgate and its least-privilege RBAC, exactly as the chart
# installs them for release `vpcgate` in namespace `vpcgate-system`; for running the operator
# outside the chart (tests/e2e.rs, scripts/demo.sh). The namespace must exist.
HEADER
cd "${repo}"
"${helm}" template vpcgate charts/vpcgate --namespace vpcgate-system \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml
