#!/usr/bin/env bash
# Installs the pinned checkov (the IaC scanner tests/checkov/test.sh runs over the rendered Helm
# chart and the Dockerfile) into <repo>/.cache/checkov-venv (gitignored), from PyPI only (via pip).
# A venv of its own: checkov pins boto3, packaging, termcolor, ... exactly, which would clash with
# the packages of .venv and .cache/tools-venv.
#   - pin: checkov itself;
#   - lock: every package it pulls in, exactly as pip resolved `checkov==3.3.30` (CPython 3.11),
#     given to pip as constraints so that every machine gets the same tree. To move to a new
#     checkov: `python3 -m venv /tmp/ck && /tmp/ck/bin/pip install checkov==NEW &&
#     /tmp/ck/bin/pip freeze`, then replace both lists.
# Idempotent: a stamp file records the sha256 of the pin and the lock, and a second run with the
# same ones does not call pip at all.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.cache/checkov-venv"
stamp="${venv}/.vpcgate-checkov-stamp"
python="${PYTHON:-python3}"

pin="checkov==3.3.30"

lock=(
  "aiodns==3.6.1"
  "aiohappyeyeballs==2.7.1"
  "aiohttp==3.14.5"
  "aiomultiprocess==0.9.1"
  "aiosignal==1.4.0"
  "annotated-types==0.8.0"
  "argcomplete==3.7.2"
  "asteval==1.0.6"
  "attrs==26.1.0"
  "bc-detect-secrets==1.5.52"
  "bc-jsonpath-ng==1.6.1"
  "bc-python-hcl2==0.4.3"
  "beartype==0.23.1"
  "beautifulsoup4==4.15.0"
  "boolean.py==5.0"
  "boto3==1.35.49"
  "botocore==1.35.99"
  "cached-property==2.0.1"
  "cachetools==5.5.2"
  "certifi==2026.10.19.post1"
  "cffi==2.1.1"
  "charset-normalizer==3.5.3"
  "click==8.5.1"
  "click-option-group==0.5.10"
  "cloudsplaining==0.7.0"
  "colorama==0.4.6"
  "ConfigArgParse==1.9.0"
  "contextlib2==21.6.0"
  "cyclonedx-python-lib==7.6.2"
  "decorator==5.3.1"
  "defusedxml==0.7.1"
  "docker==7.2.0"
  "dockerfile-parse==2.0.1"
  "dpath==2.1.3"
  "ecdsa==0.19.2"
  "frozenlist==1.8.0"
  "gitdb==4.0.12"
  "GitPython==3.2.1"
  "idna==3.20"
  "importlib_metadata==7.2.1"
  "Jinja2==3.1.6"
  "jmespath==1.1.0"
  "jsonschema==4.26.0"
  "jsonschema-specifications==2025.9.1"
  "junit-xml==1.9"
  "lark==1.3.1"
  "license-expression==30.4.4"
  "Markdown==3.11.3"
  "MarkupSafe==3.0.4"
  "multidict==7.2.1"
  "networkx==2.6.3"
  "numpy==2.4.6"
  "orjson==3.13.0"
  "packageurl-python==0.13.4"
  "packaging==23.2"
  "platformdirs==4.14.9"
  "ply==3.11"
  "policy_sentry==0.13.2"
  "prettytable==3.18.0"
  "propcache==0.5.4"
  "py-serializable==1.1.2"
  "pycares==4.11.0"
  "pycep-parser==0.5.1"
  "pycparser==3.12"
  "pydantic==2.14.4"
  "pydantic_core==2.50.5"
  "pyparsing==3.3.3"
  "python-dateutil==2.9.0.post0"
  "PyYAML==6.0.4"
  "rdflib==7.6.0"
  "referencing==0.37.0"
  "regex==2026.11.19"
  "requests==2.34.2"
  "rpds-py==2026.9.1"
  "rustworkx==0.18.1"
  "s3transfer==0.10.4"
  "schema==0.7.5"
  "semantic-version==2.10.0"
  "six==1.17.0"
  "smmap==5.0.3"
  "sortedcontainers==2.4.0"
  "soupsieve==4.1.3"
  "spdx-tools==0.8.5"
  "tabulate==0.9.0"
  "termcolor==2.3.0"
  "tqdm==4.70.1"
  "typing-inspection==0.4.5"
  "typing_extensions==4.16.0"
  "unidiff==1.0.1"
  "uritools==7.0.0"
  "urllib3==2.8.0"
  "wcwidth==0.9.4"
  "xmltodict==1.0.4"
  "yarl==1.25.1"
  "zipp==4.1.2"
)

want="$(printf '%s\n' "${pin}" "${lock[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -x "${venv}/bin/python" && -x "${venv}/bin/checkov" && -f "${stamp}" \
      && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "install-checkov: up to date (${venv}, pins ${want:0:12})"
  exit 0
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  mkdir -p "$(dirname "${venv}")"
  "${python}" -m venv "${venv}"
fi
rm -f "${stamp}"
constraints="$(mktemp)"
trap 'rm -f "${constraints}"' EXIT
printf '%s\n' "${lock[@]}" > "${constraints}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
  --constraint "${constraints}" "${pin}" >&2
# Fail here, not in the tests, when the install lacks what we rely on.
[[ "$(CKV_SKIP_PACKAGE_UPDATE_CHECK=true "${venv}/bin/checkov" --version)" == "${pin#checkov==}" ]]
echo "${want}" > "${stamp}"
echo "install-checkov: installed (${venv}, pins ${want:0:12})"
