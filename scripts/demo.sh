#!/usr/bin/env bash
# One command to see vpcgate work: a real local kube-apiserver, the AWS emulator, the operator
# under its own ServiceAccount, and the walkthrough object. `demo.sh up` leaves it all running;
# `demo.sh down` stops exactly what `up` started (by the pids it recorded).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${repo}/.cache/demo"
export VPCGATE_CLUSTER_DIR="${VPCGATE_CLUSTER_DIR:-${repo}/.cache/cluster}"
cluster="${repo}/tests/cluster/cluster.sh"
kubectl() { "${cluster}" kubectl "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {
  local file="$1"
  if alive "${file}"; then
    local pid; pid="$(cat "${file}")"
    kill -TERM "${pid}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  rm -f "${file}"
}

cmd_down() {
  stop_pid "${state}/operator.pid"
  stop_pid "${state}/emulator.pid"
  "${cluster}" down
  echo "demo: stopped"
}

cmd_up() {
  mkdir -p "${state}"
  if alive "${state}/operator.pid" || alive "${state}/emulator.pid"; then
    echo "demo: already running; \`make down\` first to start over" >&2
    exit 1
  fi
  say "Installing the AWS emulator and building vpcgate"
  "${repo}/scripts/install-emulator.sh"
  (cd "${repo}" && cargo build --quiet)
  say "Starting the local control plane (etcd + kube-apiserver + controller-manager on 127.0.0.1)"
  "${cluster}" up

  say "Starting the AWS emulator"
  "${repo}/.venv/bin/python" "${repo}/tests/emulator/vpcgate_moto.py" --host 127.0.0.1 --port 0 \
    > "${state}/emulator.out" 2> "${state}/emulator.log" &
  echo $! > "${state}/emulator.pid"
  for _ in $(seq 100); do grep -q '^READY ' "${state}/emulator.out" 2>/dev/null && break; sleep 0.1; done
  port="$(awk '/^READY/ {print $2}' "${state}/emulator.out")"
  [[ -n "${port}" ]] || { echo "demo: the emulator did not start (see ${state}/emulator.log)" >&2; exit 1; }
  url="http://127.0.0.1:${port}"
  echo "emulator: ${url}"

  say "Creating the walkthrough's VPC: public + private subnet, their route tables, table Music"
  eval "$("${repo}/.venv/bin/python" "${repo}/scripts/demo_network.py" "${url}")"
  printf 'VPC %s\n  public  %s -> %s\n  private %s -> %s\n' "${VPC_ID}" "${PUBLIC_SUBNET}" "${PUBLIC_RTB}" "${PRIVATE_SUBNET}" "${PRIVATE_RTB}"

  say "Installing the CRD and the operator's RBAC"
  kubectl apply --server-side -f "${repo}/crds/"
  kubectl wait --for=condition=Established crd/gatewayendpoints.vpcgate.dev --timeout=60s
  kubectl get namespace vpcgate-system >/dev/null 2>&1 || kubectl create namespace vpcgate-system
  kubectl apply --server-side -f "${repo}/deploy/rbac.yaml"

  say "Starting the operator as ServiceAccount vpcgate-system/vpcgate"
  token="$(kubectl create token vpcgate -n vpcgate-system --duration=24h)"
  admin_kc="$("${cluster}" kubeconfig)"
  server="$(awk '/server:/ {print $2; exit}' "${admin_kc}")"
  ca="$(awk '/certificate-authority-data:/ {print $2; exit}' "${admin_kc}")"
  cat > "${state}/operator.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "${server}", certificate-authority-data: "${ca}"}}]
users: [{name: vpcgate, user: {token: "${token}"}}]
contexts: [{name: vpcgate, context: {cluster: local, user: vpcgate}}]
current-context: vpcgate
KC
  metrics_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  KUBECONFIG="${state}/operator.kubeconfig" AWS_ENDPOINT_URL="${url}" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
    "${repo}/target/debug/vpcgate" run --metrics-addr "127.0.0.1:${metrics_port}" --resync 30s --lease-namespace vpcgate-system \
    > "${state}/operator.log" 2>&1 &
  echo $! > "${state}/operator.pid"
  for _ in $(seq 100); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:${metrics_port}/readyz', timeout=1)" 2>/dev/null && break
    sleep 0.2
  done

  say "Applying examples/walkthrough.yaml (with this VPC's ids)"
  sed -e "s/vpc-0a1b2c3d4e5f60718/${VPC_ID}/" -e "s/subnet-0123456789abcdef0/${PUBLIC_SUBNET}/" \
      -e "s/subnet-0fedcba9876543210/${PRIVATE_SUBNET}/" "${repo}/examples/walkthrough.yaml" \
    | kubectl apply -f -
  kubectl wait --for=condition=Ready gwe/dynamodb --timeout=120s

  say "kubectl get gwe -o wide"
  kubectl get gwe -o wide
  say "Conditions"
  kubectl get gwe dynamodb -o jsonpath='{range .status.conditions[*]}{.type}{"\t"}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}'
  say "Events"
  kubectl get events.events.k8s.io -n default --field-selector regarding.name=dynamodb \
    -o custom-columns=TYPE:.type,REASON:.reason,NOTE:.note
  cat <<MSG

The stack keeps running:
  export KUBECONFIG=${admin_kc}      # or: tests/cluster/cluster.sh kubectl ...
  metrics:   http://127.0.0.1:${metrics_port}/metrics
  logs:      ${state}/operator.log
Stop everything with: make down
MSG
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
