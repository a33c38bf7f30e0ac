#!/usr/bin/env bash
# parliament (the AWS IAM policy linter) over every IAM policy vpcgate generates (make test runs
# it): `vpcgate iam-policy --samples-dir DIR` writes operator-*.json (the operator's identity
# policy: default, with allowed VPCs, the aws-cn and aws-us-gov partitions) and endpoint-*.json
# (the gateway endpoint's resource policies, with a Principal: one per preset/table variant);
# tests/iam/check_policies.py runs parliament with its community auditors over each.
# Fails on any finding of severity MEDIUM or above, and on any LOW finding not listed (file glob,
# issue, reason) in tests/iam/accepted-low.txt. Prints the files checked and the findings by
# severity.
#
# Environment:
#   VPCGATE_BIN          the vpcgate binary to run (e.g. target/debug/vpcgate); default
#                        `cargo run --quiet --` (the features of `cargo test`: nothing rebuilds)
#   VPCGATE_IAM_SAMPLES  check the *.json of this directory instead of generating them
# Installs its pinned tools first (scripts/install-lint-tools.sh: parliament).
# Prints `ok <check>` / `FAIL <check>: reason` lines and a last line `N passed, M failed`.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1
tools=".cache/tools-venv/bin"

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

if ! install_log="$(scripts/install-lint-tools.sh 2>&1)"; then
  echo "${install_log}"
  fail install-lint-tools "see above"
  finish
fi

if [[ -n "${VPCGATE_IAM_SAMPLES:-}" ]]; then
  samples="${VPCGATE_IAM_SAMPLES}"
  ok "samples: ${samples} (VPCGATE_IAM_SAMPLES)"
else
  samples="${work}/samples"
  mkdir -p "${samples}"
  if [[ -n "${VPCGATE_BIN:-}" ]]; then
    vpcgate=("${VPCGATE_BIN}")
  else
    vpcgate=(cargo run --quiet --)
  fi
  if "${vpcgate[@]}" iam-policy --samples-dir "${samples}" >"${work}/samples.log" 2>&1; then
    ok "samples: ${vpcgate[*]} iam-policy --samples-dir"
  else
    fail "samples" "${vpcgate[*]} iam-policy --samples-dir failed:
$(tail -n 20 "${work}/samples.log")"
    finish
  fi
fi

shopt -s nullglob
files=("${samples}"/*.json)
if ((${#files[@]} == 0)); then
  fail "samples" "no *.json in ${samples}"
  finish
fi

tally "parliament" "${tools}/python" tests/iam/check_policies.py tests/iam/accepted-low.txt "${files[@]}"

finish
