# shellcheck shell=bash
# Shared by the shell test scripts (chart, Argo CD, container): named checks that print
# `ok <name>` or `FAIL <name>: reason`, and a closing line `N passed, M failed`.
# Source it, then call ok/fail/tally, and `finish` last.

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $*"; }

fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

# Prints the closing line and exits non-zero when anything failed.
finish() {
  echo "${passed} passed, ${failed} failed"
  [[ ${failed} -eq 0 ]]
  exit $?
}

# Runs a checker that prints its own ok/FAIL lines, counting them; a non-zero exit without a
# FAIL line is a failure too. The checker's own summary line is not repeated.
tally() {
  local name="$1"; shift
  local out rc line fails_before="${failed}"
  out="$("$@" 2>&1)"; rc=$?
  while IFS= read -r line; do
    case "${line}" in
      "ok "*) passed=$((passed + 1)); echo "${line}" ;;
      "FAIL "*) failed=$((failed + 1)); echo "${line}" ;;
      *" passed, "*" failed") ;;
      *) [[ -n "${line}" ]] && echo "  ${line}" ;;
    esac
  done <<< "${out}"
  if [[ ${rc} -ne 0 && ${failed} -eq ${fails_before} ]]; then
    fail "${name}" "exited ${rc}"
  fi
}
