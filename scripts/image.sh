#!/usr/bin/env bash
# `make image`: builds the container image from the Dockerfile with the first builder here that
# can build: buildah, podman, or docker with a daemon that answers. Without one it says why and
# runs tests/docker/test.sh instead: hadolint, the Dockerfile's checks and a native release build
# of the binary with the Dockerfile's own flags (into target/docker); that makes no image.
#
# Environment:
#   IMAGE          name of the image (default vpcgate:dev)
#   PLATFORMS      e.g. linux/amd64,linux/arm64: one image per platform under one manifest list
#                  (the Dockerfile cross-compiles; buildah and podman only); default: this
#                  machine's platform
#   VERSION        the image's version label (default: Cargo.toml's version)
#   IMAGE_BUILDER  buildah, podman or docker: try only this one
# Usage: scripts/image.sh [--dry-run]   (--dry-run: print the choice and the command, run nothing)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

dry_run=false
case "${1:-}" in
  --dry-run) dry_run=true ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

image="${IMAGE:-vpcgate:dev}"
platforms="${PLATFORMS:-}"
version="${VERSION:-$(awk '/^\[/ { section = $0 }
  section == "[package]" && /^version *=/ { sub(/^version *= *"/, ""); sub(/".*/, ""); print; exit }' Cargo.toml)}"

log() { echo "make image: $*" >&2; }

# can_build BUILDER: whether BUILDER is installed and can build here; if not, says why in ${why}.
why=""
can_build() {
  local out
  if ! command -v "$1" >/dev/null 2>&1; then
    why="not installed"
    return 1
  fi
  case "$1" in
    buildah | podman)
      # `info` fails when the storage or the user namespace cannot be set up; RUN needs a runtime.
      if ! out="$("$1" info 2>&1 >/dev/null)"; then
        why="installed, but \`$1 info\` fails: $(head -n 1 <<<"${out}")"
        return 1
      fi
      if ! command -v crun >/dev/null 2>&1 && ! command -v runc >/dev/null 2>&1; then
        why="installed, but no OCI runtime (crun or runc) for the Dockerfile's RUN steps"
        return 1
      fi
      ;;
    docker)
      if ! out="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
        why="installed, but no daemon answers (\`docker info\`: $(tail -n 1 <<<"${out}"))"
        return 1
      fi
      if [[ -n "${platforms}" ]]; then
        why="daemon up, but PLATFORMS is set: use buildah or podman, or docker buildx yourself"
        return 1
      fi
      ;;
  esac
}

builders=(buildah podman docker)
if [[ -n "${IMAGE_BUILDER:-}" ]]; then builders=("${IMAGE_BUILDER}"); fi
builder=""
reasons=()
for b in "${builders[@]}"; do
  if can_build "${b}"; then
    builder="${b}"
    break
  fi
  reasons+=("${b}: ${why}")
done

if [[ -z "${builder}" ]]; then
  log "no container builder here can build the image:"
  for r in "${reasons[@]}"; do log "  ${r}"; done
  log "building the binary with the Dockerfile's flags instead (tests/docker/test.sh: hadolint,"
  log "the Dockerfile's checks, a native release build into target/docker). This makes no image;"
  log "install buildah or podman (or start docker) to build one."
  if [[ "${dry_run}" == true ]]; then
    log "would run: tests/docker/test.sh"
    exit 0
  fi
  exec tests/docker/test.sh
fi

args=(--build-arg "VERSION=${version}")
case "${builder}" in
  buildah) cmd=(buildah bud --layers "${args[@]}") ;;
  podman) cmd=(podman build "${args[@]}") ;;
  docker) cmd=(docker build "${args[@]}") ;;
esac
if [[ -n "${platforms}" ]]; then
  cmd+=(--platform "${platforms}" --manifest "${image}")
else
  cmd+=(--tag "${image}")
fi
cmd+=(--file Dockerfile .)

log "building ${image} (version ${version}${platforms:+, ${platforms}}) with ${builder}"
if [[ "${dry_run}" == true ]]; then
  log "would run: ${cmd[*]}"
  exit 0
fi
"${cmd[@]}"
log "built ${image}"
