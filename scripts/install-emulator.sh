#!/usr/bin/env bash
# Installs the pinned AWS emulator (moto server) used by the tests into <repo>/.venv.
# Idempotent: a stamp file records the sha256 of tests/emulator/requirements.txt, and a
# second run with an unchanged file does not call pip at all. Only PyPI is contacted (via pip).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"
req="${repo_root}/tests/emulator/requirements.txt"
stamp="${venv}/.vpcgate-emulator-stamp"
python="${PYTHON:-python3}"

want="$(sha256sum "${req}" | cut -d' ' -f1)"

if [[ -x "${venv}/bin/python" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "install-emulator: up to date (${venv}, requirements ${want:0:12})"
  exit 0
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  "${python}" -m venv "${venv}"
fi
rm -f "${stamp}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${req}" >&2
echo "${want}" > "${stamp}"
echo "install-emulator: installed (${venv}, requirements ${want:0:12})"
