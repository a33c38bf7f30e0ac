#!/usr/bin/env bash
# Tests of the Helm chart charts/vpcgate. Run from anywhere (make test runs it after cargo test):
#   tests/chart/test.sh
#
# Installs the pinned helm (scripts/install-helm.sh), then runs named checks, each printing
# `ok <name>` or `FAIL <name>: <reason>` (with the details indented below), and ends with the line
# `N passed, M failed`; exits non-zero when any check failed.
#   - helm lint (also --strict, also with every tests/chart/values/*.yaml)
#   - the chart's CRD is crds/'s; deploy/rbac.yaml is what the chart renders (make rbac);
#     the README's values table matches values.yaml
#   - values.schema.json rejects bad values, naming the key
#   - what each tests/chart/values/*.yaml renders (tests/chart/render_checks.py); the image line
#     with image.tag, with image.digest, and with both (the digest wins)
#   - against the local control plane (tests/cluster/cluster.sh, state in
#     $VPCGATE_CLUSTER_DIR, default target/chart-cluster; started and stopped here unless it is
#     already up): server-side dry-run of every rendering, `helm install`, the ServiceAccount's
#     effective permissions (kubectl auth can-i --list) against tests/chart/expected/, uninstall.
#
# Environment: VPCGATE_CLUSTER_DIR, PYTHON (default .venv/bin/python, else python3; needs PyYAML).
# The check functions below are called through check() (`check NAME FUNCTION ...`), which
# the linter cannot see:
# shellcheck disable=SC2329
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="${repo}/tests/chart"
cd "${repo}"

export VPCGATE_CLUSTER_DIR="${VPCGATE_CLUSTER_DIR:-${repo}/target/chart-cluster}"
cluster="${repo}/tests/cluster/cluster.sh"
chart="charts/vpcgate"
release=vpcgate
namespace=vpcgate-system
sa="system:serviceaccount:${namespace}:vpcgate"
profiles=(defaults ha irsa hardened-extras monitoring)

if [[ -n "${PYTHON:-}" ]]; then
  python="${PYTHON}"
elif [[ -x "${repo}/.venv/bin/python" ]]; then
  python="${repo}/.venv/bin/python"
else
  python=python3
fi

work="$(mktemp -d)"
# helm's own cache/config/data stay inside this run.
export HELM_CACHE_HOME="${work}/helm/cache" HELM_CONFIG_HOME="${work}/helm/config"
export HELM_DATA_HOME="${work}/helm/data"

started_cluster=false
cleanup() {
  local rc=$?
  if [[ "${started_cluster}" == true ]]; then
    "${cluster}" down >"${work}/cluster-down.log" 2>&1 || cat "${work}/cluster-down.log" >&2
  fi
  rm -rf "${work}"
  exit "${rc}"
}
trap cleanup EXIT

# shellcheck source=../lib/checks.sh
source "${repo}/tests/lib/checks.sh"

if ! helm="$("${repo}/scripts/install-helm.sh" 2>"${work}/install-helm.log")"; then
  fail install-helm "scripts/install-helm.sh failed"
  sed 's/^/    /' "${work}/install-helm.log" | tail -n 30
  finish
fi
export HELM="${helm}" # for tests/chart/render-rbac.sh

ok install-helm
echo "    ${helm} $("${helm}" version --template '{{.Version}}')"
# check NAME COMMAND...: runs COMMAND, its output kept; ok when it succeeds. A failing command's
# first output line is the reason, the rest is printed indented.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    ok "${name}"
  else
    fail "${name}" "$(head -n 1 <<<"${out:-(no output)}")"
    if (($(wc -l <<<"${out}") > 1)); then tail -n +2 <<<"${out}" | head -n 60 | sed 's/^/    /'; fi
  fi
}

kubectl() { "${cluster}" kubectl "$@"; }
template() { "${helm}" template "${release}" "${chart}" --namespace "${namespace}" "$@"; }

# ---------------------------------------------------------------------------------------------
# Static checks

lint_values() {
  local p
  for p in "${profiles[@]}"; do
    "${helm}" lint --strict "${chart}" -f "${here}/values/${p}.yaml" >"${work}/lint.out" 2>&1 ||
      { echo "helm lint --strict -f values/${p}.yaml failed"; cat "${work}/lint.out"; return 1; }
  done
}
check helm-lint "${helm}" lint "${chart}"
check helm-lint-strict "${helm}" lint --strict "${chart}"
check helm-lint-strict-values lint_values

crd_copy() {
  local f name
  for f in crds/*.yaml; do
    name="$(basename "${f}")"
    cmp -s "${f}" "${chart}/crds/${name}" ||
      { echo "${chart}/crds/${name} differs from ${f} (cp ${f} ${chart}/crds/)"; return 1; }
  done
  diff <(cd crds && ls) <(cd "${chart}/crds" && ls) >/dev/null ||
    { echo "${chart}/crds/ and crds/ hold different files"; diff <(cd crds && ls) <(cd "${chart}/crds" && ls); return 1; }
}
check crd-is-crds-copy crd_copy

rbac_generated() {
  "${here}/render-rbac.sh" >"${work}/rbac.yaml" || return 1
  diff -u deploy/rbac.yaml "${work}/rbac.yaml" >"${work}/rbac.diff" ||
    { echo "deploy/rbac.yaml is not what the chart renders (make rbac)"; cat "${work}/rbac.diff"; return 1; }
}
check deploy-rbac-generated rbac_generated

values_table() {
  "${python}" "${here}/values_table.py" check "${chart}" 2>&1 ||
    { echo "(regenerate the table with: ${python} tests/chart/values_table.py print)"; return 1; }
}
check readme-values-table values_table

# schema_rejects NAME VALUES_YAML PATTERN...: helm template must fail and its error must match
# every (extended, case-sensitive) PATTERN.
schema_rejects() {
  local name="$1" values="$2" out pat
  shift 2
  printf '%s\n' "${values}" >"${work}/bad-${name}.yaml"
  if out="$(template -f "${work}/bad-${name}.yaml" 2>&1 >/dev/null)"; then
    echo "helm template accepted:"
    cat "${work}/bad-${name}.yaml"
    return 1
  fi
  for pat in "$@"; do
    grep -Eq -- "${pat}" <<<"${out}" || { echo "the error does not match /${pat}/:"; echo "${out}"; return 1; }
  done
}
check schema-rejects-unknown-top-level-key \
  schema_rejects unknown-top "replicas: 2" "at '': additional properties 'replicas' not allowed"
check schema-rejects-unknown-nested-key \
  schema_rejects unknown-nested $'serviceAccount:\n  anotations:\n    eks.amazonaws.com/role-arn: x' \
  "at '/serviceAccount': additional properties 'anotations' not allowed"
check schema-rejects-unknown-deep-key \
  schema_rejects unknown-deep $'securityContext:\n  capabilities:\n    dorp: [ALL]' \
  "at '/securityContext/capabilities': additional properties 'dorp' not allowed"
check schema-rejects-replicaCount-string \
  schema_rejects replicas-string 'replicaCount: "3"' "at '/replicaCount': got string, want integer"
check schema-rejects-replicaCount-negative \
  schema_rejects replicas-negative 'replicaCount: -1' "at '/replicaCount': minimum: got -1, want 0"
check schema-rejects-resources-string \
  schema_rejects resources-string 'resources: 100m' "at '/resources': got string, want object"
check schema-rejects-resources-bad-quantity \
  schema_rejects resources-quantity $'resources:\n  limits:\n    memory: lots' \
  "at '/resources/limits/memory'"
check schema-rejects-logFormat-enum \
  schema_rejects log-format 'logFormat: xml' "at '/logFormat': value must be one of 'text', 'json'"
check schema-rejects-runAsUser-string \
  schema_rejects run-as-user $'podSecurityContext:\n  runAsUser: nonroot' \
  "at '/podSecurityContext/runAsUser': got string, want integer"
check schema-rejects-resync-pattern \
  schema_rejects resync 'resync: five minutes' "at '/resync'"
check schema-rejects-concurrency-range \
  schema_rejects concurrency 'concurrency: 65' "at '/concurrency': maximum: got 65, want 64"
check schema-rejects-aws-region \
  schema_rejects region $'aws:\n  region: Frankfurt' "at '/aws/region'"
check schema-rejects-allowedVpcs-pattern \
  schema_rejects allowed-vpcs $'aws:\n  allowedVpcs: [vpc-xyz]' \
  "at '/aws/allowedVpcs/0': 'vpc-xyz' does not match pattern"
check schema-rejects-allowedVpcs-duplicate \
  schema_rejects allowed-vpcs-dup $'aws:\n  allowedVpcs: [vpc-0123abcd, vpc-0123abcd]' \
  "at '/aws/allowedVpcs': items at 0 and 1 are equal"
check schema-rejects-allowedVpcs-string \
  schema_rejects allowed-vpcs-string $'aws:\n  allowedVpcs: vpc-0123abcd' \
  "at '/aws/allowedVpcs': got string, want array"
check schema-rejects-toleration-key \
  schema_rejects toleration $'tolerations:\n  - key: a\n    efect: NoSchedule' \
  "at '/tolerations/0': additional properties 'efect' not allowed"
check schema-rejects-image-digest-short \
  schema_rejects image-digest-short $'image:\n  digest: sha256:0123abcd' "at '/image/digest'"
check schema-rejects-image-digest-with-repository \
  schema_rejects image-digest-repo \
  $'image:\n  digest: ghcr.io/vpcgate/vpcgate@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' \
  "at '/image/digest'"

# render_profile PROFILE [RELEASE NAMESPACE]: what values/PROFILE.yaml renders (render_checks.py).
render_profile() {
  local p="$1" rel="${2:-${release}}" ns="${3:-${namespace}}"
  "${helm}" template "${rel}" "${chart}" --namespace "${ns}" -f "${here}/values/${p}.yaml" \
    >"${work}/render-${p}.yaml" || return 1
  "${python}" "${here}/render_checks.py" "${p}" "${rel}" "${ns}" <"${work}/render-${p}.yaml"
}
for p in "${profiles[@]}"; do
  check "render-${p}" render_profile "${p}"
done
check render-release-name-ops render_profile defaults ops platform

# EKS Pod Identity (no annotation to see): aws.podIdentity turns the instance-role fallback off.
pod_identity_disables_metadata() {
  "${helm}" template "${release}" "${chart}" --namespace "${namespace}" --set aws.podIdentity=true |
    grep -A1 -- '- name: AWS_EC2_METADATA_DISABLED' | grep -q 'value: "true"'
}
check render-pod-identity-no-instance-role pod_identity_disables_metadata

# aws.allowedVpcs with one VPC: VPCGATE_ALLOWED_VPCS is that id alone (two: values/hardened-extras;
# none: every other profile, render_checks.py).
one_allowed_vpc() {
  "${helm}" template "${release}" "${chart}" --namespace "${namespace}" \
    --set 'aws.allowedVpcs={vpc-0123456789abcdef0}' --show-only templates/deployment.yaml |
    grep -A1 -- '- name: VPCGATE_ALLOWED_VPCS' | grep -q 'value: "vpc-0123456789abcdef0"$'
}
check render-allowed-vpcs-one one_allowed_vpc

# The operator's image line: repository:appVersion by default (render_checks.py), repository:tag
# with image.tag, repository@digest with image.digest, which wins over a tag set with it.
image_line() {
  local values="$1" want="$2" got
  printf '%s\n' "${values}" >"${work}/image.yaml"
  got="$(template -f "${work}/image.yaml" --show-only templates/deployment.yaml |
    sed -n 's/^ *image: //p')" || return 1
  [[ "${got}" == "\"${want}\"" ]] || { echo "image: ${got}, want \"${want}\""; return 1; }
}
digest="sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
repository="$(sed -n 's/^  repository: //p' "${chart}/values.yaml")"
app_version="$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "${chart}/Chart.yaml")"
check render-image-default image_line '{}' "${repository}:${app_version}"
check render-image-tag image_line $'image:\n  tag: 1.2.3-rc.1' "${repository}:1.2.3-rc.1"
check render-image-digest image_line $'image:\n  digest: '"${digest}" "${repository}@${digest}"
check render-image-digest-over-tag image_line \
  $'image:\n  repository: registry.example.com/mirror/vpcgate\n  tag: 1.2.3\n  digest: '"${digest}" \
  "registry.example.com/mirror/vpcgate@${digest}"

# ---------------------------------------------------------------------------------------------
# Against the local control plane

cluster_checks=(crd-established "${profiles[@]/#/dry-run-server-}" deploy-rbac-dry-run-server
  helm-install can-i-list-"${namespace}" can-i-list-default helm-uninstall)

cluster_up() {
  if "${cluster}" status >/dev/null 2>&1; then
    echo "already up (${VPCGATE_CLUSTER_DIR}); it is left running" >"${work}/cluster-up.log"
    return 0
  fi
  started_cluster=true
  "${cluster}" up >"${work}/cluster-up.log" 2>&1 ||
    { echo "tests/cluster/cluster.sh up failed"; tail -n 30 "${work}/cluster-up.log"; return 1; }
}
# Not through check(): cluster_up must set started_cluster in this shell.
if cluster_up >"${work}/cluster-up.err" 2>&1; then
  ok cluster-up
else
  fail cluster-up "$(head -n 1 "${work}/cluster-up.err")"
  tail -n +2 "${work}/cluster-up.err" | sed 's/^/    /'
  for c in "${cluster_checks[@]}"; do fail "${c}" "the local control plane is not up"; done
  finish
fi
kubeconfig="$("${cluster}" kubeconfig)"
hhelm() { "${helm}" --kubeconfig "${kubeconfig}" "$@"; }

# A leftover from an interrupted run against a cluster that stayed up.
hhelm uninstall "${release}" --namespace "${namespace}" --ignore-not-found --wait >/dev/null 2>&1 || true

crd_established() {
  kubectl apply --server-side -f "${chart}/crds/" &&
    kubectl apply --server-side -f "${here}/servicemonitor-crd-stub.yaml" &&
    kubectl wait --for=condition=Established --timeout=60s \
      crd/gatewayendpoints.vpcgate.dev crd/servicemonitors.monitoring.coreos.com &&
    { kubectl get namespace "${namespace}" >/dev/null 2>&1 || kubectl create namespace "${namespace}"; }
}
check crd-established crd_established

# The ServiceMonitor is dry-run against tests/chart/servicemonitor-crd-stub.yaml (installed above).
dry_run() {
  local p="$1"
  template -f "${here}/values/${p}.yaml" >"${work}/dry-${p}.yaml" || return 1
  kubectl apply --dry-run=server --validate=strict -f "${work}/dry-${p}.yaml"
}
for p in "${profiles[@]}"; do
  check "dry-run-server-${p}" dry_run "${p}"
done
check deploy-rbac-dry-run-server kubectl apply --dry-run=server --validate=strict -f deploy/rbac.yaml

# No nodes: the pod never runs, so no --wait; the objects and the permissions are what is tested.
helm_install() {
  hhelm install "${release}" "${chart}" --namespace "${namespace}" --create-namespace --wait=false &&
    [[ "$(hhelm status "${release}" --namespace "${namespace}" -o json |
      "${python}" -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')" == deployed ]] &&
    kubectl -n "${namespace}" get deployment/vpcgate serviceaccount/vpcgate service/vpcgate-metrics \
      role/vpcgate-leader-election &&
    kubectl -n default get role/vpcgate-events rolebinding/vpcgate-events &&
    kubectl get clusterrole/vpcgate clusterrolebinding/vpcgate
}
check helm-install helm_install

# `kubectl auth can-i --list` as the ServiceAccount, whitespace squeezed and sorted, against
# tests/chart/expected/can-i-<namespace>.txt (its "#" lines are comments).
can_i() {
  local ns="$1" expected="${here}/expected/can-i-$1.txt"
  kubectl auth can-i --list --as="${sa}" --namespace "${ns}" |
    sed -E 's/[[:space:]]+/ /g; s/^ //; s/ $//' | LC_ALL=C sort >"${work}/can-i-${ns}.txt" ||
    return 1
  grep -v '^#' "${expected}" | LC_ALL=C sort >"${work}/can-i-${ns}.expected"
  diff -u "${work}/can-i-${ns}.expected" "${work}/can-i-${ns}.txt" >"${work}/can-i-${ns}.diff" ||
    { echo "${sa} in ${ns}: permissions differ from tests/chart/expected/can-i-${ns}.txt"
      cat "${work}/can-i-${ns}.diff"; return 1; }
}
check "can-i-list-${namespace}" can_i "${namespace}"
check can-i-list-default can_i default

helm_uninstall() {
  hhelm uninstall "${release}" --namespace "${namespace}" --wait --timeout 60s || return 1
  if kubectl get clusterrole/vpcgate >/dev/null 2>&1 ||
    kubectl -n default get role/vpcgate-events >/dev/null 2>&1; then
    echo "the chart's objects are still there after helm uninstall"
    return 1
  fi
}
check helm-uninstall helm_uninstall

if [[ "${started_cluster}" != true ]]; then
  # A cluster that was up before: leave it as it was found (the CRDs are not removed because
  # something else may use them; the stub is ours).
  kubectl delete --ignore-not-found -f "${here}/servicemonitor-crd-stub.yaml" >/dev/null 2>&1 || true
fi

finish
