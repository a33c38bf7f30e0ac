#!/usr/bin/env bash
# Every place that states the release version agrees with Cargo.toml's (make test runs it; the
# release workflow runs it with --tag; scripts/release.sh bumps all of them):
#   - Cargo.toml [package] version: a SemVer version, the one the others must equal;
#   - Cargo.lock's vpcgate entry;
#   - charts/vpcgate/Chart.yaml `version` and `appVersion`, and values.yaml's image.tag and
#     image.digest empty, so the chart's default image is <image.repository>:<appVersion>;
#   - the Dockerfile's `ARG VERSION` default, the org.opencontainers.image.version label;
#   - CHANGELOG.md: "## [Unreleased]" first, then "## [<version>] - YYYY-MM-DD", and both link
#     references at the bottom;
#   - the docs' commands: `oci://ghcr.io/… --version <version>` (the published chart; README.md
#     and docs/install-eks.md have one at least) and `ghcr.io/<owner>/vpcgate:<version>` in
#     README.md, docs/install-eks.md and charts/vpcgate/README.md;
#   - with --tag TAG (the release workflow, on a tag push): TAG is v<version>.
# Only bash, awk, sed and grep. Prints `ok <check>` / `FAIL <check>: reason` lines and a last
# line `N passed, M failed`; exits non-zero when any check failed.
#
# Usage: tests/release/versions.sh [--tag TAG]
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1

tag=""
while (($#)); do
  case "$1" in
    --tag) tag="${2:-}"; shift 2 || break ;;
    --tag=*) tag="${1#--tag=}"; shift ;;
    *) echo "usage: $0 [--tag TAG]" >&2; exit 2 ;;
  esac
done

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'
chart_dir="charts/vpcgate"

# expect NAME GOT WANT SOURCE: ok when GOT equals WANT.
expect() {
  if [[ "$2" == "$3" ]]; then
    ok "$1: $2"
  else
    fail "$1" "${4} says '${2}', want '${3}'"
  fi
}

version="$(awk '/^\[/ { section = $0 }
  section == "[package]" && /^version *=/ { sub(/^version *= *"/, ""); sub(/".*/, ""); print; exit }' Cargo.toml)"
if [[ "${version}" =~ ${semver} ]]; then
  ok "Cargo.toml version: ${version}"
else
  fail "Cargo.toml version" "'${version}' is not a SemVer version"
  finish
fi

if [[ -n "${tag}" ]]; then
  expect "tag" "${tag}" "v${version}" "the tag"
fi

lock_version="$(awk '/^\[\[package\]\]/ { ours = 0 } /^name = "vpcgate"$/ { ours = 1; next }
  ours && /^version = / { sub(/^version = "/, ""); sub(/".*/, ""); print; exit }' Cargo.lock)"
expect "Cargo.lock vpcgate" "${lock_version}" "${version}" "Cargo.lock"

chart_field() { sed -n "s/^$1: *\"\{0,1\}\([^\" ]*\)\"\{0,1\} *\$/\1/p" "${chart_dir}/Chart.yaml"; }
expect "Chart.yaml version" "$(chart_field version)" "${version}" "${chart_dir}/Chart.yaml version"
expect "Chart.yaml appVersion" "$(chart_field appVersion)" "${version}" \
  "${chart_dir}/Chart.yaml appVersion"

# values.yaml: the keys of the top-level `image:` map.
image_value() {
  awk -v key="$1" '/^[^ #]/ { inside = ($0 ~ /^image:/) }
    inside && $1 == key ":" { sub(/^[^:]*: */, ""); print; exit }' "${chart_dir}/values.yaml"
}
image_tag="$(image_value tag)"
image_digest="$(image_value digest)"
if [[ "${image_tag}" == '""' && "${image_digest}" == '""' ]]; then
  ok "chart default image tag: the appVersion (image.tag and image.digest empty)"
else
  fail "chart default image tag" \
    "values.yaml sets image.tag=${image_tag:-?} image.digest=${image_digest:-?}; both must be \"\""
fi

docker_version="$(sed -n 's/^ARG VERSION="\{0,1\}\([^" ]*\)"\{0,1\} *$/\1/p' Dockerfile)"
expect "Dockerfile ARG VERSION" "${docker_version}" "${version}" "Dockerfile's ARG VERSION default"
# shellcheck disable=SC2016 # a literal ${VERSION}: the label must take the build argument
if grep -Fq 'org.opencontainers.image.version="${VERSION}"' Dockerfile; then
  ok 'Dockerfile version label: ${VERSION}'
else
  fail "Dockerfile version label" 'org.opencontainers.image.version is not "${VERSION}"'
fi

# CHANGELOG.md (Keep a Changelog): "## [Unreleased]", then the newest release.
if [[ ! -f CHANGELOG.md ]]; then
  fail "CHANGELOG.md" "missing"
else
  mapfile -t headings < <(grep -E '^## \[' CHANGELOG.md | head -n 2)
  expect "CHANGELOG.md first section" "${headings[0]:-none}" "## [Unreleased]" "CHANGELOG.md"
  if [[ "${headings[1]:-}" =~ ^'## ['([^]]*)'] - '[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
    expect "CHANGELOG.md newest release" "${BASH_REMATCH[1]}" "${version}" "CHANGELOG.md"
  else
    fail "CHANGELOG.md newest release" \
      "second section is '${headings[1]:-none}', want '## [${version}] - YYYY-MM-DD'"
  fi
  if grep -Eq "^\[Unreleased\]: .*/compare/v${version//./\\.}\.\.\.HEAD$" CHANGELOG.md \
     && grep -Eq "^\[${version//./\\.}\]: " CHANGELOG.md; then
    ok "CHANGELOG.md links: [Unreleased] compares from v${version}, [${version}] exists"
  else
    fail "CHANGELOG.md links" \
      "want '[Unreleased]: …/compare/v${version}...HEAD' and '[${version}]: …' at the bottom"
  fi
fi

# The docs' commands name this version: `oci://ghcr.io/… --version X` (the published chart, in
# README.md and docs/install-eks.md at least) and `ghcr.io/<owner>/vpcgate:X` (the image).
v_re="${version//./\\.}"
for doc in README.md docs/install-eks.md charts/vpcgate/README.md; do
  mapfile -t charts < <(grep -n 'oci://ghcr\.io/.*--version' "${doc}")
  mapfile -t images < <(grep -nE 'ghcr\.io/[a-z0-9_.-]+/vpcgate:[0-9]' "${doc}")
  bad=()
  for line in "${charts[@]}"; do
    [[ "${line}" =~ --version[[:space:]=]+\"?${v_re}\"?([[:space:]]|$) ]] || bad+=("${line}")
  done
  for line in "${images[@]}"; do
    [[ "${line}" =~ ghcr\.io/[a-z0-9_.-]+/vpcgate:${v_re}([^0-9A-Za-z.+-]|$) ]] || bad+=("${line}")
  done
  if ((${#charts[@]} == 0)) && [[ "${doc}" != charts/* ]]; then
    fail "${doc} install" "no 'helm install vpcgate oci://ghcr.io/… --version ${version}' line"
  elif ((${#bad[@]})); then
    fail "${doc} install" "not version ${version}: ${bad[*]}"
  else
    ok "${doc}: ${#charts[@]} chart and ${#images[@]} image reference(s) at ${version}"
  fi
done

finish
