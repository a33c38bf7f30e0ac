#!/usr/bin/env bash
# Installs the pinned Helm v3 CLI, built from the Go module proxy (no release tarball download),
# into ${XDG_CACHE_HOME:-$HOME/.cache}/vpcgate/bin/helm and prints its path on stdout.
# Idempotent: does nothing when the pinned version is already there.
#
# The build sets the same -X flags as Helm's own Makefile: the version (so `helm version` reports
# it and this script can recognise it) and the Kubernetes version `helm template`/`helm lint`
# assume when no cluster is asked (Helm's source default is 1.20, which would fail the chart's
# kubeVersion constraint); that version is taken from the k8s.io/client-go Helm is built with.
#
# Environment: HELM_VERSION (override the pin), GOPROXY/GOFLAGS as usual.
set -euo pipefail

helm_version="${HELM_VERSION:-v3.22.0}"
bin_dir="${XDG_CACHE_HOME:-${HOME}/.cache}/vpcgate/bin"
helm="${bin_dir}/helm"

log() { echo "install-helm: $*" >&2; }
die() { log "error: $*"; exit 1; }

installed_version() {
  [[ -x "${helm}" ]] || return 1
  "${helm}" version --template '{{.Version}}' 2>/dev/null
}

if [[ "$(installed_version || true)" == "${helm_version}" ]]; then
  echo "${helm}"
  exit 0
fi

command -v go >/dev/null || die "go is not installed (needed once to build helm ${helm_version})"
mkdir -p "${bin_dir}"
# One install at a time (parallel jobs may all call this script).
exec 9>"${bin_dir}/.helm.lock"
flock 9
if [[ "$(installed_version || true)" == "${helm_version}" ]]; then
  echo "${helm}"
  exit 0
fi

start="${SECONDS}"
log "building helm ${helm_version} from the Go module proxy (cached in ${bin_dir})"
gomod="$(go mod download -json "helm.sh/helm/v3@${helm_version}" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[[ -f "${gomod}" ]] || die "cannot download helm.sh/helm/v3@${helm_version}"
client_go="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v0\./ { print $2; exit }' "${gomod}")"
[[ -n "${client_go}" ]] || die "cannot find the k8s.io/client-go version in ${gomod}"
k8s_minor="${client_go#v0.}"
k8s_minor="${k8s_minor%%.*}"

ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=${helm_version}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done

tmp="$(mktemp -d "${bin_dir}/.helm-build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
CGO_ENABLED=0 GOBIN="${tmp}" go install -trimpath -ldflags "${ldflags}" \
  "helm.sh/helm/v3/cmd/helm@${helm_version}" || die "go install failed"
mv -f "${tmp}/helm" "${helm}"
[[ "$(installed_version || true)" == "${helm_version}" ]] ||
  die "the built helm reports '$(installed_version || true)', not ${helm_version}"
log "installed helm ${helm_version} (default Kubernetes v1.${k8s_minor}) in $((SECONDS - start))s"
echo "${helm}"
