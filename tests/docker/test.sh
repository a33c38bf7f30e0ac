#!/usr/bin/env bash
# Checks the container image without a Docker engine:
#   - hadolint on the Dockerfile (default threshold, zero findings);
#   - the Dockerfile's shape (distroless cc nonroot, USER 65532:65532, ENTRYPOINT, EXPOSE, labels,
#     the version label from ARG VERSION, cross-compilation: a builder on $BUILDPLATFORM whose
#     builds pass --target for TARGETARCH's triple);
#   - a native build with the Dockerfile's own CARGO_BUILD_FLAGS (read from the Dockerfile), then:
#     every file that build read is in the Docker build context, the binary runs (`--version`,
#     `crd`, `run --help`), links only glibc libraries that distroless cc ships, needs no glibc
#     newer than Debian 12's, is stripped, and its size.
# The release build goes to target/docker (VPCGATE_IMAGE_TARGET_DIR), so it never waits on the
# lock of target/ held by a concurrent debug build or test run; warm runs rebuild nothing.
# Installs its pinned tools first (scripts/install-lint-tools.sh).
# Prints `ok <check>` / `FAIL <check>: reason` lines and a last line `N passed, M failed`.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}" || exit 1
tools=".cache/tools-venv/bin"
target_dir="${VPCGATE_IMAGE_TARGET_DIR:-target/docker}"
# The glibc of gcr.io/distroless/cc-debian12 (Debian 12).
max_glibc="2.36"
# What distroless cc has: glibc's libraries (package libc6) and libgcc_s.
allowed_libs='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-[a-z0-9_-]+\.so\.[0-9]+)$'
size_budget_mib=64

# shellcheck source=../lib/checks.sh
source tests/lib/checks.sh

if ! install_log="$(scripts/install-lint-tools.sh 2>&1)"; then
  echo "${install_log}"
  fail install-lint-tools "see above"
  finish
fi

# 1. Lint.
if findings="$("${tools}/hadolint" --no-color Dockerfile 2>&1)"; then
  ok "hadolint: no findings ($("${tools}/hadolint" --version | awk '{print $NF}'))"
else
  fail hadolint "$(printf '\n%s' "${findings}")"
fi

# 2. Shape of the Dockerfile.
tally "dockerfile static checks" "${tools}/python" tests/docker/dockerfile_checks.py static

# 3. The same build as the image's.
if ! flags="$("${tools}/python" tests/docker/dockerfile_checks.py flags 2>&1)"; then
  fail "build flags" "${flags}"
  finish
fi
profile=release
read -r -a flag_array <<< "${flags}"
for ((i = 0; i < ${#flag_array[@]}; i++)); do
  [[ "${flag_array[i]}" == "--profile" ]] && profile="${flag_array[i + 1]}"
  [[ "${flag_array[i]}" == --profile=* ]] && profile="${flag_array[i]#--profile=}"
done
[[ " ${flags} " == *" --release "* || "${profile}" != release ]] || profile=dev
[[ "${profile}" == dev ]] && profile_dir=debug || profile_dir="${profile}"
bin="${target_dir}/${profile_dir}/vpcgate"
mkdir -p "${target_dir}"
log="${target_dir}/vpcgate-image-build.log"
start=$(date +%s)
if CARGO_TARGET_DIR="${target_dir}" CARGO_TERM_COLOR=never cargo build "${flag_array[@]}" > "${log}" 2>&1; then
  ok "cargo build ${flags} ($(( $(date +%s) - start ))s, into ${target_dir})"
else
  fail "cargo build ${flags}" "after $(( $(date +%s) - start ))s; last lines of ${log}:
$(tail -n 20 "${log}")"
  finish
fi

# 4. Everything that build read reaches the builder stage.
tally "build context" "${tools}/python" tests/docker/dockerfile_checks.py context \
  "${target_dir}/${profile_dir}/vpcgate.d"

# 5. The binary runs.
want_version="vpcgate $(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)"
if got="$("${bin}" --version 2>&1)" && [[ "${got}" == "${want_version}" ]]; then
  ok "vpcgate --version: ${got}"
else
  fail "vpcgate --version" "printed '${got}', want '${want_version}'"
fi
if crd="$("${bin}" crd 2>&1)" && [[ "${crd}" == *"kind: CustomResourceDefinition"* ]] \
   && [[ "${crd}" == *"name: gatewayendpoints.vpcgate.dev"* ]]; then
  if [[ "${crd}" == "$(cat crds/gatewayendpoints.vpcgate.dev.yaml)" ]]; then
    ok "vpcgate crd: prints the CRD, same as crds/gatewayendpoints.vpcgate.dev.yaml"
  else
    fail "vpcgate crd" "differs from crds/gatewayendpoints.vpcgate.dev.yaml (run make crd)"
  fi
else
  fail "vpcgate crd" "no GatewayEndpoint CRD in the output: $(head -c 300 <<< "${crd}")"
fi
if help="$("${bin}" run --help 2>&1)" && [[ "${help}" == *"--metrics-addr"* ]]; then
  ok "vpcgate run --help (the image's ENTRYPOINT subcommand)"
else
  fail "vpcgate run --help" "$(head -c 300 <<< "${help}")"
fi

# 6. Linking: only libraries distroless cc has; no OpenSSL (TLS is rustls with aws-lc-rs, built in).
if ! file_out="$(file -b "${bin}")"; then
  fail "file" "cannot inspect ${bin}"
elif [[ "${file_out}" != *"dynamically linked"* ]]; then
  fail "dynamically linked against glibc" "${file_out}"
else
  libs="$(ldd "${bin}" 2>&1)"
  sonames="$(awk '{ print $1 }' <<< "${libs}" | sed 's#^.*/##')"
  bad="$(grep -Ev "${allowed_libs}" <<< "${sonames}" || true)"
  if [[ -z "${bad}" && "${libs}" != *"not found"* ]]; then
    ok "ldd: only distroless cc libraries ($(tr '\n' ' ' <<< "${sonames}" | sed 's/ $//'))"
  else
    fail "ldd" "unexpected or missing: ${bad:-see below}
${libs}"
  fi
fi
need_glibc="$(objdump -T "${bin}" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
if [[ -n "${need_glibc}" && "$(printf '%s\n%s\n' "${need_glibc}" "${max_glibc}" | sort -V | tail -n 1)" == "${max_glibc}" ]]; then
  ok "glibc symbols: needs ${need_glibc} <= ${max_glibc} (Debian 12)"
else
  fail "glibc symbols" "needs GLIBC_${need_glibc:-?}, distroless cc-debian12 has ${max_glibc}"
fi
if readelf -S "${bin}" | grep -q '\.symtab'; then
  fail "stripped" "${bin} has a symbol table; [profile.${profile}] strip = true is gone"
else
  ok "stripped (no .symtab)"
fi

# 7. Size.
bytes="$(stat -c %s "${bin}")"
mib="$(awk -v b="${bytes}" 'BEGIN { printf "%.1f", b / 1048576 }')"
if (( bytes <= size_budget_mib * 1048576 )); then
  ok "size: ${mib} MiB (${bytes} bytes; budget ${size_budget_mib} MiB)"
else
  fail "size" "${mib} MiB is over the ${size_budget_mib} MiB budget"
fi

finish
