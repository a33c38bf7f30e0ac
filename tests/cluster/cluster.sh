#!/usr/bin/env bash
# A real, minimal Kubernetes control plane on 127.0.0.1 for vpcgate's tests and demos:
# etcd + kube-apiserver + kube-controller-manager (namespace, garbage-collector,
# serviceaccount, serviceaccount-token controllers), no nodes, no Docker.
#
# All components come from one multi-call Go binary built from tests/cluster/{go.mod,go.sum,main.go}
# (Go module proxy only). The binary is cached outside the repository, keyed by a hash of those
# files, the Go version and the build flags:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/vpcgate/cluster/vpcgate-cluster-<hash>
# Runtime state (pids, logs, etcd data, keys, kubeconfig) lives in
#   ${VPCGATE_CLUSTER_DIR:-<repo>/.cache/cluster}
#
# Usage: tests/cluster/cluster.sh build | up | down | status | kubectl [args...] | kubeconfig
#   build       build the binary if needed; prints its path
#   up          build if needed, start a fresh cluster, wait until it is ready; safe to re-run
#   down        stop exactly the processes `up` recorded, wait for them, remove the pid files
#   status      print whether the recorded processes are running (exit 0 when all are)
#   kubectl     run kubectl from the same binary against the cluster
#   kubeconfig  print the admin kubeconfig path
#
# Environment: VPCGATE_CLUSTER_DIR (state dir), VPCGATE_CLUSTER_TIMEOUT (seconds `up` waits for
# readiness, default 180), GOFLAGS/GOPROXY as usual for the build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../.." && pwd)"
cache_dir="${XDG_CACHE_HOME:-${HOME}/.cache}/vpcgate/cluster"
state_dir="${VPCGATE_CLUSTER_DIR:-${repo_root}/.cache/cluster}"
timeout_s="${VPCGATE_CLUSTER_TIMEOUT:-180}"

# Started in this order, stopped in the reverse order.
components=(etcd kube-apiserver kube-controller-manager)

log() { echo "cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# build

# The Kubernetes version is the one k8s.io/kubernetes is required at in go.mod.
k8s_version() {
  local v
  v="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "${here}/go.mod")"
  [[ -n "${v}" ]] || die "cannot find the k8s.io/kubernetes version in ${here}/go.mod"
  echo "${v}"
}

ldflags() {
  local v major minor
  v="$(k8s_version)"
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  echo "-s -w -X k8s.io/component-base/version.gitVersion=${v}" \
    "-X k8s.io/component-base/version.gitMajor=${major}" \
    "-X k8s.io/component-base/version.gitMinor=${minor}" \
    "-X k8s.io/component-base/version.gitTreeState=clean"
}

build_tags="selinux,notest"

build_key() {
  command -v go >/dev/null || die "go is not installed (needed once to build the control plane)"
  {
    cat "${here}/go.mod" "${here}/go.sum" "${here}/main.go"
    go env GOVERSION GOOS GOARCH
    echo "${build_tags}"
    ldflags
  } | sha256sum | cut -c1-16
}

binary_path() { echo "${cache_dir}/vpcgate-cluster-$(build_key)"; }

cmd_build() {
  local bin tmp start
  bin="$(binary_path)"
  if [[ -x "${bin}" ]]; then
    echo "${bin}"
    return 0
  fi
  mkdir -p "${cache_dir}"
  # One build at a time (parallel test jobs may all call `up`).
  exec 9>"${cache_dir}/.build.lock"
  flock 9
  if [[ -x "${bin}" ]]; then
    exec 9>&-
    echo "${bin}"
    return 0
  fi
  log "building the control-plane binary (Kubernetes $(k8s_version)); the first build takes" \
    "10-25 minutes, later ones are cached in ${cache_dir}"
  start="${SECONDS}"
  tmp="${bin}.tmp.$$"
  (
    cd "${here}"
    CGO_ENABLED=0 go build -mod=readonly -trimpath -tags "${build_tags}" \
      -ldflags "$(ldflags)" -o "${tmp}" .
  ) || { rm -f "${tmp}"; die "go build failed"; }
  mv -f "${tmp}" "${bin}"
  exec 9>&-
  log "built ${bin} in $((SECONDS - start))s ($(du -h "${bin}" | cut -f1))"
  echo "${bin}"
}

# ---------------------------------------------------------------------------------------------
# process bookkeeping

pid_file() { echo "${state_dir}/$1.pid"; }

# The recorded pid of a component, if it still runs our binary (guards against pid reuse).
live_pid() {
  local f pid bin exe
  f="$(pid_file "$1")"
  [[ -f "${f}" ]] || return 1
  pid="$(cat "${f}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/${pid}/cmdline" ]] || return 1
  bin="$(cat "${state_dir}/binary" 2>/dev/null || true)"
  [[ -n "${bin}" ]] || return 1
  tr '\0' '\n' <"/proc/${pid}/cmdline" | head -n 2 | grep -qxF "$1" || return 1
  exe="$(readlink "/proc/${pid}/exe" 2>/dev/null || true)"
  exe="${exe% (deleted)}" # the cached binary may have been removed while the cluster runs
  [[ "${exe}" == "$(readlink -f "${bin}")" ]] || return 1
  echo "${pid}"
}

# Starts "$bin <component> args..." in its own session (so it outlives the caller's process group)
# and records its pid; the pid is that of the component itself (the wrapper shell execs it).
start_component() {
  local name="$1"; shift
  local logf="${state_dir}/${name}.log"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$(pid_file "${name}")" \
    "${bin}" "${name}" "$@" </dev/null >"${logf}" 2>&1 8>&- 9>&- &
  local i
  for i in $(seq 50); do
    [[ -s "$(pid_file "${name}")" ]] && break
    sleep 0.1
  done
  [[ -s "$(pid_file "${name}")" ]] || die "${name} did not start (see ${logf})"
}

# N distinct free TCP ports on 127.0.0.1 (all bound to port 0 at once, then released; the kernel
# does not hand them out again right away).
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()' "$1"
}

all_running() {
  local c
  for c in "${components[@]}"; do live_pid "${c}" >/dev/null || return 1; done
}

any_running() {
  local c
  for c in "${components[@]}"; do live_pid "${c}" >/dev/null && return 0; done
  return 1
}

stop_all() {
  local i c pid waited
  local -a pids=()
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    c="${components[i]}"
    if pid="$(live_pid "${c}")"; then
      log "stopping ${c} (pid ${pid})"
      kill -TERM "${pid}" 2>/dev/null || true
      # Stop in order: the controller manager and apiserver before etcd.
      waited=0
      while kill -0 "${pid}" 2>/dev/null && ((waited < 200)); do
        sleep 0.1; waited=$((waited + 1))
      done
      if kill -0 "${pid}" 2>/dev/null; then
        log "${c} (pid ${pid}) did not stop within 20s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        pids+=("${pid}")
      fi
    fi
    rm -f "$(pid_file "${c}")"
  done
  for pid in "${pids[@]}"; do
    while kill -0 "${pid}" 2>/dev/null; do sleep 0.1; done
  done
}

# ---------------------------------------------------------------------------------------------
# up / down

kubeconfig_path() { echo "${state_dir}/kubeconfig"; }

kc() { "${bin}" kubectl --kubeconfig "$(kubeconfig_path)" "$@"; }

print_usage_hint() {
  local self="${here}/cluster.sh"
  [[ -z "${VPCGATE_CLUSTER_DIR:-}" ]] || self="VPCGATE_CLUSTER_DIR=${state_dir} ${self}"
  cat <<EOF
cluster: up (Kubernetes $("${bin}" kubectl version --client -o json 2>/dev/null |
    sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1), API server $(cat "${state_dir}/server"))
  export KUBECONFIG=$(kubeconfig_path)
  ${self} kubectl get namespaces
  ${self} down
logs: ${state_dir}/{etcd,kube-apiserver,kube-controller-manager}.log
EOF
}

fail_up() {
  local c
  log "error: $*"
  for c in "${components[@]}"; do
    if [[ -f "${state_dir}/${c}.log" ]]; then
      log "--- last lines of ${state_dir}/${c}.log"
      tail -n 15 "${state_dir}/${c}.log" >&2 || true
    fi
  done
  stop_all
  exit 1
}

# Waits until "$@" succeeds, failing `up` if a component dies or time runs out.
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + timeout_s)) c
  until "$@" >/dev/null 2>&1; do
    for c in "${components[@]}"; do
      if [[ -f "$(pid_file "${c}")" ]] && ! live_pid "${c}" >/dev/null; then
        fail_up "${c} exited while waiting for ${what}"
      fi
    done
    ((SECONDS < deadline)) || fail_up "timed out after ${timeout_s}s waiting for ${what}"
    sleep 0.2
  done
}

cmd_up() {
  mkdir -p "${state_dir}"
  exec 8>"${state_dir}/.lock"
  flock 8

  if all_running; then
    bin="$(cat "${state_dir}/binary")"
    if kc get --raw=/readyz >/dev/null 2>&1; then
      log "already up"
      print_usage_hint
      return 0
    fi
  fi
  if any_running; then
    log "a previous cluster is partly running or unhealthy; stopping it"
    stop_all
  fi

  bin="$(cmd_build)"
  local start="${SECONDS}"

  # A fresh cluster every time: remove only what a previous `up` created.
  rm -rf "${state_dir}/etcd-data" "${state_dir}/pki" "${state_dir}/kcm-certs"
  rm -f "${state_dir}"/{etcd,kube-apiserver,kube-controller-manager}.{pid,log} \
    "${state_dir}"/{kubeconfig,controller-manager.kubeconfig,server,binary}
  mkdir -p "${state_dir}/pki" "${state_dir}/etcd-data" "${state_dir}/kcm-certs"
  chmod 700 "${state_dir}/pki" "${state_dir}/etcd-data"
  echo "${bin}" >"${state_dir}/binary"

  local pki="${state_dir}/pki"
  openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
  openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null

  local admin_token kcm_token
  admin_token="$(openssl rand -hex 24)"
  kcm_token="$(openssl rand -hex 24)"
  # token,user,uid,"groups"
  {
    echo "${admin_token},admin,admin,\"system:masters\""
    echo "${kcm_token},system:kube-controller-manager,system:kube-controller-manager"
  } >"${pki}/tokens.csv"
  chmod 600 "${pki}/tokens.csv"

  local etcd_client etcd_peer api_port kcm_port
  read -r etcd_client etcd_peer api_port kcm_port <<<"$(free_ports 4)"
  local server="https://127.0.0.1:${api_port}"
  echo "${server}" >"${state_dir}/server"

  start_component etcd \
    --name=vpcgate-test \
    --data-dir="${state_dir}/etcd-data" \
    --listen-client-urls="http://127.0.0.1:${etcd_client}" \
    --advertise-client-urls="http://127.0.0.1:${etcd_client}" \
    --listen-peer-urls="http://127.0.0.1:${etcd_peer}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer}" \
    --initial-cluster="vpcgate-test=http://127.0.0.1:${etcd_peer}" \
    --unsafe-no-fsync=true \
    --log-level=warn

  wait_for "etcd health" curl -fsS "http://127.0.0.1:${etcd_client}/health"

  start_component kube-apiserver \
    --etcd-servers="http://127.0.0.1:${etcd_client}" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="${api_port}" \
    --cert-dir="${pki}" \
    --authorization-mode=RBAC \
    --token-auth-file="${pki}/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${pki}/sa.pub" \
    --service-account-signing-key-file="${pki}/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --enable-priority-and-fairness=false

  # The apiserver writes its self-signed serving certificate (with its CA) into --cert-dir.
  wait_for "the API server's certificate" test -s "${pki}/apiserver.crt"
  local ca
  ca="$(base64 -w0 <"${pki}/apiserver.crt")"
  write_kubeconfig "$(kubeconfig_path)" admin "${admin_token}" "${server}" "${ca}"
  write_kubeconfig "${state_dir}/controller-manager.kubeconfig" system:kube-controller-manager \
    "${kcm_token}" "${server}" "${ca}"

  wait_for "the API server's /readyz" kc get --raw=/readyz

  local kcm_kc="${state_dir}/controller-manager.kubeconfig"
  start_component kube-controller-manager \
    --kubeconfig="${kcm_kc}" \
    --authentication-kubeconfig="${kcm_kc}" \
    --authorization-kubeconfig="${kcm_kc}" \
    --bind-address=127.0.0.1 \
    --secure-port="${kcm_port}" \
    --cert-dir="${state_dir}/kcm-certs" \
    --controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${pki}/sa.key" \
    --root-ca-file="${pki}/apiserver.crt" \
    --leader-elect=false

  wait_for "the controller manager's /healthz" \
    curl -fsS -k "https://127.0.0.1:${kcm_port}/healthz"
  # The serviceaccount controller creates every namespace's `default` ServiceAccount.
  wait_for "the default ServiceAccount (controller manager working)" \
    kc -n default get serviceaccount default

  log "ready in $((SECONDS - start))s"
  print_usage_hint
}

write_kubeconfig() {
  local path="$1" user="$2" token="$3" server="$4" ca="$5"
  umask 077
  cat >"${path}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vpcgate-test
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: vpcgate-test
  context:
    cluster: vpcgate-test
    user: ${user}
current-context: vpcgate-test
EOF
}

cmd_down() {
  if [[ ! -d "${state_dir}" ]]; then
    log "not up (no ${state_dir})"
    return 0
  fi
  exec 8>"${state_dir}/.lock"
  flock 8
  local c
  for c in "${components[@]}"; do
    if [[ -f "$(pid_file "${c}")" ]] && ! live_pid "${c}" >/dev/null; then
      log "${c} (pid $(cat "$(pid_file "${c}")")) is no longer running"
    fi
  done
  stop_all
  log "down"
}

cmd_status() {
  local c pid rc=0
  for c in "${components[@]}"; do
    if pid="$(live_pid "${c}")"; then
      echo "${c}: running (pid ${pid})"
    else
      echo "${c}: not running"; rc=1
    fi
  done
  if ((rc == 0)); then
    bin="$(cat "${state_dir}/binary")"
    if kc get --raw=/readyz >/dev/null 2>&1; then
      echo "api server: ready at $(cat "${state_dir}/server")"
    else
      echo "api server: not ready"; rc=1
    fi
  fi
  return "${rc}"
}

cmd_kubectl() {
  [[ -f "$(kubeconfig_path)" ]] || die "no cluster (run: $0 up)"
  bin="$(cat "${state_dir}/binary" 2>/dev/null || true)"
  [[ -x "${bin}" ]] || bin="$(cmd_build)"
  exec "${bin}" kubectl --kubeconfig "$(kubeconfig_path)" "$@"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubectl) shift; cmd_kubectl "$@" ;;
  kubeconfig) kubeconfig_path ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
