#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver and kube-controller-manager v1.20.2 on free
# loopback ports, with RBAC and a generated admin token.
#
#   scripts/cluster.sh up      # idempotent; the last line printed is `export KUBECONFIG=…`
#   scripts/cluster.sh down    # stops every process it recorded, and removes the state
#   scripts/cluster.sh status
#   scripts/cluster.sh restart-apiserver [S]   # kube-apiserver down for S seconds, then back
set -euo pipefail
source "$(dirname "$0")/env.sh"

state="${FLUX_RS_CLUSTER_STATE:-$FLUX_RS_CACHE/cluster}"
kubeconfig="$state/kubeconfig"
log() { echo "► $*" >&2; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

ready() {
  [ -f "$state/token" ] && [ -f "$state/apiserver.port" ] &&
    curl -skf -H "Authorization: Bearer $(cat "$state/token")" \
      "https://127.0.0.1:$(cat "$state/apiserver.port")/readyz" >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
  # Controller-manager and API server first, then etcd.
  for name in kube-controller-manager kube-apiserver etcd; do
    if [ -f "$state/$name.pid" ]; then
      pid=$(cat "$state/$name.pid")
      if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$state/$name.pid"
    fi
  done
}

wait_for() { # what, seconds, command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
  echo "✗ $what did not become ready; logs in $state/*.log" >&2
  tail -n 20 "$state"/*.log >&2 || true
  return 1
}

start_apiserver() { # on the ports and with the certificates recorded in $state
  local bin etcd_port api_port
  bin=$(cat "$state/bin")
  etcd_port=$(cat "$state/etcd.port")
  api_port=$(cat "$state/apiserver.port")
  log "starting kube-apiserver v1.20.2 on 127.0.0.1:$api_port"
  setsid "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" --insecure-port=0 \
    --cert-dir="$state/certs" --token-auth-file="$state/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$state/sa.pub" --service-account-signing-key-file="$state/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.0.0.0/24 --disable-admission-plugins=ServiceAccount \
    >> "$state/kube-apiserver.log" 2>&1 < /dev/null &
  echo $! > "$state/kube-apiserver.pid"
  wait_for kube-apiserver 60 ready
}

# Stops kube-apiserver and starts it again on the same port with the same state (etcd keeps
# running): what the reliability tests do to the controllers' API server.
restart_apiserver() {
  alive kube-apiserver || { echo "✗ no local control plane is running" >&2; return 1; }
  local pid
  pid=$(cat "$state/kube-apiserver.pid")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  sleep "${1:-0}"
  start_apiserver
}

up() {
  if alive etcd && alive kube-apiserver && alive kube-controller-manager && ready; then
    log "local control plane already running"
    echo "export KUBECONFIG=$kubeconfig"
    return
  fi
  stop
  local bin
  bin=$("$FLUX_RS_ROOT/scripts/build-kubernetes.sh")
  rm -rf "$state"
  mkdir -p "$state/certs"
  chmod 700 "$state"

  local etcd_port peer_port api_port token
  etcd_port=$(free_port)
  peer_port=$(free_port)
  api_port=$(free_port)
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token" > "$state/token"
  echo "$api_port" > "$state/apiserver.port"
  printf '%s,admin,1,"system:masters"\n' "$token" > "$state/tokens.csv"
  openssl genrsa -out "$state/sa.key" 2048 2>/dev/null
  openssl rsa -in "$state/sa.key" -pubout -out "$state/sa.pub" 2>/dev/null

  log "starting etcd on 127.0.0.1:$etcd_port"
  setsid etcd --name flux-rs --data-dir "$state/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "flux-rs=http://127.0.0.1:$peer_port" \
    > "$state/etcd.log" 2>&1 < /dev/null &
  echo $! > "$state/etcd.pid"
  wait_for etcd 30 curl -sf -o /dev/null "http://127.0.0.1:$etcd_port/health"

  echo "$etcd_port" > "$state/etcd.port"
  echo "$bin" > "$state/bin"
  start_apiserver

  cat > "$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flux-rs-local
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: flux-rs-local
  context:
    cluster: flux-rs-local
    user: admin
current-context: flux-rs-local
EOF
  chmod 600 "$kubeconfig"

  log "starting kube-controller-manager (garbage collector, namespaces, deployments)"
  setsid "$bin/kube-controller-manager" --kubeconfig="$kubeconfig" \
    --controllers=garbagecollector,namespace,deployment,replicaset,serviceaccount-token \
    --leader-elect=false --port=0 --secure-port=0 --bind-address=127.0.0.1 \
    --service-account-private-key-file="$state/sa.key" --use-service-account-credentials=false \
    > "$state/kube-controller-manager.log" 2>&1 < /dev/null &
  echo $! > "$state/kube-controller-manager.pid"
  sleep 1
  alive kube-controller-manager || { echo "✗ kube-controller-manager exited" >&2; tail -n 20 "$state/kube-controller-manager.log" >&2; return 1; }

  echo "✔ local control plane is up (logs in $state)" >&2
  echo "export KUBECONFIG=$kubeconfig"
}

case "${1:-}" in
  up) up ;;
  down)
    stop
    rm -rf "$state"
    echo "✔ local control plane stopped" >&2
    ;;
  restart-apiserver) restart_apiserver "${2:-0}" ;;
  status)
    for name in etcd kube-apiserver kube-controller-manager; do
      if alive "$name"; then echo "$name: running (pid $(cat "$state/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 up|down|status|restart-apiserver [SECONDS DOWN]" >&2
    exit 2
    ;;
esac
