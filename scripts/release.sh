#!/usr/bin/env bash
# Prepares release VERSION in one commit (`make release VERSION=x.y.z`; RELEASING.md):
#   - Cargo.toml's [package] version and Cargo.lock's vpcgate entry;
#   - charts/vpcgate/Chart.yaml `version` and `appVersion` (the chart's default image tag);
#   - the Dockerfile's `ARG VERSION` default (the image's version label);
#   - the docs' commands: `oci://ghcr.io/… --version` (the published chart) and
#     `ghcr.io/<owner>/vpcgate:<version>` (the image) in README.md, docs/install-eks.md and
#     charts/vpcgate/README.md;
#   - CHANGELOG.md: what is under "## [Unreleased]" becomes "## [VERSION] - <today, UTC>", and
#     the link references at the bottom follow.
# Then tests/release/versions.sh must pass, and the files are committed ("Release vVERSION").
# Tagging is left to you, once the commit is on main (RELEASING.md): the tag starts the release
# workflow.
#
# Refuses: a version that is not SemVer, not newer than the current one, already in
# CHANGELOG.md or already tagged; uncommitted changes to tracked files; an empty "Unreleased".
#
# Usage: scripts/release.sh VERSION
#
# The awk programs go to rewrite() in single quotes on purpose (their $0 is awk's):
# shellcheck disable=SC2016
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

die() { echo "release: error: $*" >&2; exit 1; }
log() { echo "release: $*" >&2; }

new="${1:-}"
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'
[[ -n "${new}" ]] || die "usage: make release VERSION=x.y.z (or scripts/release.sh x.y.z)"
new="${new#v}"
[[ "${new}" =~ ${semver} ]] || die "'${new}' is not a SemVer version (x.y.z or x.y.z-pre)"

old="$(awk '/^\[/ { section = $0 }
  section == "[package]" && /^version *=/ { sub(/^version *= *"/, ""); sub(/".*/, ""); print; exit }' Cargo.toml)"
[[ -n "${old}" ]] || die "no [package] version in Cargo.toml"
[[ "${new}" != "${old}" ]] || die "the version is already ${old}"
# x.y.z must not go down (a pre-release of the same x.y.z may be followed by x.y.z itself).
if [[ "$(printf '%s\n%s\n' "${old%%-*}" "${new%%-*}" | sort -V | head -n 1)" != "${old%%-*}" ]]; then
  die "${new} is older than the current version ${old}"
fi
grep -Fq "## [${new}]" CHANGELOG.md && die "CHANGELOG.md already has a section for ${new}"
if git rev-parse -q --verify "refs/tags/v${new}" >/dev/null; then
  die "tag v${new} exists already"
fi
if ! git diff --quiet || ! git diff --cached --quiet; then
  die "tracked files have uncommitted changes; commit or stash them first"
fi

# The "Unreleased" section must say what this release changes: it becomes the release notes.
unreleased="$(awk '/^## \[Unreleased\]/ { inside = 1; next } /^## \[/ { inside = 0 }
  /^\[Unreleased\]:/ { inside = 0 } inside && NF' CHANGELOG.md)"
[[ -n "${unreleased}" ]] ||
  die "CHANGELOG.md has nothing under '## [Unreleased]': list this release's changes there first"

docs=(README.md docs/install-eks.md charts/vpcgate/README.md)
files=(Cargo.toml Cargo.lock charts/vpcgate/Chart.yaml Dockerfile CHANGELOG.md "${docs[@]}")
today="$(date -u +%F)"
old_re="${old//./\\.}"

# rewrite FILE COMMAND...: FILE becomes what COMMAND... FILE prints.
rewrite() {
  local file="$1" tmp
  shift
  tmp="$(mktemp "${file}.XXXXXX")"
  if "$@" "${file}" >"${tmp}"; then
    cat "${tmp}" >"${file}" # keeps the file's mode
    rm -f "${tmp}"
  else
    rm -f "${tmp}"
    die "cannot rewrite ${file}"
  fi
}
restore() { git checkout -q -- "${files[@]}"; }
trap 'rc=$?; if ((rc != 0)); then restore; log "nothing changed"; fi' EXIT

rewrite Cargo.toml awk -v new="${new}" '
  /^\[/ { section = $0 }
  section == "[package]" && !done && /^version *=/ { $0 = "version = \"" new "\""; done = 1 }
  { print }'
rewrite Cargo.lock awk -v new="${new}" '
  /^\[\[package\]\]/ { ours = 0 }
  /^name = "vpcgate"$/ { ours = 1 }
  ours && /^version = / { $0 = "version = \"" new "\""; ours = 0 }
  { print }'
rewrite charts/vpcgate/Chart.yaml awk -v new="${new}" '
  /^version:/ { $0 = "version: " new }
  /^appVersion:/ { $0 = "appVersion: \"" new "\"" }
  { print }'
rewrite Dockerfile awk -v new="${new}" '
  /^ARG VERSION=/ { $0 = "ARG VERSION=\"" new "\"" }
  { print }'
for doc in "${docs[@]}"; do
  rewrite "${doc}" sed -E \
    -e "/oci:\/\/ghcr\.io\//s/--version([ =])${old_re}([^0-9A-Za-z.+-]|\$)/--version\1${new}\2/g" \
    -e "s/(ghcr\.io\/[a-z0-9_.-]+\/vpcgate:)${old_re}([^0-9A-Za-z.+-]|\$)/\1${new}\2/g"
done
rewrite CHANGELOG.md awk -v new="${new}" -v old="${old}" -v today="${today}" '
  /^## \[Unreleased\]/ { print; print ""; print "## [" new "] - " today; next }
  /^\[Unreleased\]: / {
    base = $0; sub(/^\[Unreleased\]: /, "", base); sub(/\/compare\/.*$/, "", base)
    print "[Unreleased]: " base "/compare/v" new "...HEAD"
    print "[" new "]: " base "/compare/v" old "...v" new
    next
  }
  { print }'

if ! check="$(tests/release/versions.sh 2>&1)"; then
  echo "${check}" >&2
  die "the versions do not agree after the bump (see above)"
fi
git add -- "${files[@]}"
git commit -q -m "Release v${new}" -m "$(scripts/release-notes.sh "${new}")"
trap - EXIT
log "committed $(git rev-parse --short HEAD): Release v${new} (${old} -> ${new}, ${#files[@]} files)"
log "next: push it to main, wait for CI, then: git tag -a v${new} -m 'vpcgate ${new}' && git push origin v${new}"
