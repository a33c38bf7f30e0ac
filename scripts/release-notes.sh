#!/usr/bin/env bash
# Prints the CHANGELOG.md section of VERSION ("## [VERSION] - date"), without its heading and
# without leading or trailing blank lines: the GitHub release's notes (the release workflow) and
# the release commit's message (scripts/release.sh). Fails when the section is missing or empty.
#
# Usage: scripts/release-notes.sh VERSION [CHANGELOG]
set -euo pipefail

version="${1:?usage: scripts/release-notes.sh VERSION [CHANGELOG]}"
version="${version#v}"
changelog="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/CHANGELOG.md}"

notes="$(awk -v v="${version}" '
  index($0, "## [" v "]") == 1 { inside = 1; next }
  /^## \[/ || /^\[[^]]*\]: / { inside = 0 }
  inside' "${changelog}" | sed -e '/./,$!d')"
# Trailing blank lines: gone with the command substitution.
if [[ -z "${notes}" ]]; then
  echo "release-notes: no section '## [${version}]' with content in ${changelog}" >&2
  exit 1
fi
printf '%s\n' "${notes}"
