#!/usr/bin/env bash
# The demo of the whole loop, on this machine: the local control plane and an OCI registry,
# the three flux-rs controllers, the example app pushed with `flux-rs push artifact`, an
# OCIRepository and a staging Kustomization (with a JSON6902 patch), a generic Provider and
# Alert posting to a small local receiver that prints what it gets; then a second revision
# rolled out; then the Helm OCI flow: a chart pushed with the real `helm push`, a
# HelmRepository of type oci and a HelmRelease, read back with `helm list`. Installs what
# it needs first (idempotent). Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"

"$FLUX_RS_ROOT/scripts/install-deps.sh"
echo "► building flux-rs and the controllers (release)" >&2
cargo build --locked --release -p cli -p source-controller -p kustomize-controller -p helm-controller -p notification-controller
bin="$CARGO_TARGET_DIR/release"
flux_rs="$bin/flux-rs"
kubectl="$FLUX_RS_CACHE/tools/venv/bin/kubectl"
helm="$FLUX_RS_CACHE/tools/bin/helm"

work=$(mktemp -d)
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"
pids=()
cleanup() {
  echo >&2
  echo "► stopping the controllers, the registry, the receiver and the local control plane" >&2
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$FLUX_RS_ROOT/scripts/cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "✔ stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "► starting the local control plane (built once, cached)" >&2
eval "$("$FLUX_RS_ROOT/scripts/cluster.sh" up | tail -n 1)"
"$kubectl" apply --server-side -k crds >/dev/null
# An interrupted run leaves its objects behind, with finalizers that no running controller
# releases and statuses that point at its old registry and file server: start from none.
for kind in kustomizations.kustomize.toolkit.fluxcd.io helmreleases.helm.toolkit.fluxcd.io \
  gitrepositories.source.toolkit.fluxcd.io ocirepositories.source.toolkit.fluxcd.io helmcharts.source.toolkit.fluxcd.io \
  helmrepositories.source.toolkit.fluxcd.io alerts.notification.toolkit.fluxcd.io \
  providers.notification.toolkit.fluxcd.io; do
  for object in $("$kubectl" -n flux-system get "$kind" -o name 2>/dev/null); do
    echo "► removing $object left by an earlier run" >&2
    "$kubectl" -n flux-system patch "$object" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    "$kubectl" -n flux-system delete "$object" --ignore-not-found >/dev/null
  done
done
"$kubectl" delete namespace apps --ignore-not-found --wait=true >/dev/null
"$kubectl" create namespace flux-system --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
"$kubectl" create namespace apps --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null

registry_port=$(free_port)
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$registry_port}
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null && break; sleep 0.1; done
repo="oci://127.0.0.1:$registry_port/apps/podinfo"

# The receiver the generic Provider posts to: it prints one line per notification.
receiver_port=$(free_port)
cat > "$work/receiver.py" <<'PY'
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        obj = event.get("involvedObject", {})
        print(f"[{event.get('severity')}] {obj.get('kind')}/{obj.get('name')}: {event.get('message')}", flush=True)
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$work/receiver.py" "$receiver_port" > "$work/notifications.log" 2>&1 &
pids+=($!)

events_port=$(free_port)
storage_port=$(free_port)
start() {
  local name=$1; shift
  RUNTIME_NAMESPACE=flux-system "$bin/$name" --watch-all-namespaces=false --log-level=info \
    --health-addr="127.0.0.1:$(free_port)" --metrics-addr="127.0.0.1:$(free_port)" "$@" \
    > "$work/$name.log" 2>&1 &
  pids+=($!)
}
echo "► starting notification-controller, source-controller, kustomize-controller and helm-controller" >&2
start notification-controller --events-addr="127.0.0.1:$events_port" --receiver-addr="127.0.0.1:$(free_port)"
start source-controller --events-addr="http://127.0.0.1:$events_port/" --storage-path="$work/storage" \
  --storage-addr="127.0.0.1:$storage_port" --storage-adv-addr="127.0.0.1:$storage_port"
start kustomize-controller --events-addr="http://127.0.0.1:$events_port/"
start helm-controller --events-addr="http://127.0.0.1:$events_port/"

step "$flux_rs" push artifact "$repo:latest" --path examples/podinfo \
  --source https://github.com/example/podinfo --revision "main@sha1:$(git rev-parse HEAD 2>/dev/null || echo 0)"

cat > "$work/flux.yaml" <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 1m
  url: $repo
  ref: {tag: latest}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  targetNamespace: apps
  sourceRef: {kind: OCIRepository, name: podinfo}
  path: ./
  prune: true
  wait: true
  timeout: 2m
  patches:
  - patch: |
      - op: add
        path: /metadata/annotations/env
        value: staging
    target: {kind: Deployment}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: receiver, namespace: flux-system}
spec:
  type: generic
  address: http://127.0.0.1:$receiver_port/
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: podinfo, namespace: flux-system}
spec:
  providerRef: {name: receiver}
  eventSeverity: info
  eventSources:
  - {kind: OCIRepository, name: '*'}
  - {kind: Kustomization, name: '*'}
  - {kind: HelmRelease, name: '*'}
YAML
step "$kubectl" apply --server-side -f "$work/flux.yaml"
step "$kubectl" -n flux-system wait --for=condition=Ready --timeout=120s kustomization/podinfo
step "$flux_rs" get sources oci
step "$flux_rs" get kustomizations
step "$kubectl" -n apps get deployment,service,configmap -L kustomize.toolkit.fluxcd.io/name
step "$kubectl" -n apps get deployment podinfo -o jsonpath='{.metadata.annotations.env}{"\n"}'
step "$flux_rs" trace deployment podinfo -n apps
sleep 2
printf '\n\033[1mnotifications received:\033[0m\n'
cat "$work/notifications.log"

echo
echo "► a second revision: a new message, and the Service removed (pruned)" >&2
cp -r examples/podinfo "$work/v2"
sed -i 's/Hello from flux-rs/Hello again from flux-rs/' "$work/v2/configmap.yaml"
rm "$work/v2/service.yaml"
sed -i '/service.yaml/d' "$work/v2/kustomization.yaml"
step "$flux_rs" push artifact "$repo:latest" --path "$work/v2" \
  --source https://github.com/example/podinfo --revision "main@sha1:second"
step "$flux_rs" reconcile kustomization podinfo --with-source
step "$flux_rs" get kustomizations
step "$kubectl" -n apps get deployment,service,configmap
sleep 2
printf '\n\033[1mnotifications received:\033[0m\n'
cat "$work/notifications.log"

echo
echo "► Helm OCI: a chart pushed with helm, a HelmRepository of type oci and a HelmRelease" >&2
step "$helm" package examples/charts/podinfo --destination "$work"
step "$helm" push "$work/podinfo-6.1.0.tgz" "oci://127.0.0.1:$registry_port/charts" --plain-http
cat > "$work/helm.yaml" <<YAML
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata: {name: podinfo, namespace: flux-system}
spec: {interval: 10m, type: oci, url: "oci://127.0.0.1:$registry_port/charts"}
---
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  targetNamespace: default
  chart:
    spec:
      chart: podinfo
      version: 6.1.0 # {"\$imagepolicy": "flux-system:podinfo-chart:tag"}
      sourceRef: {kind: HelmRepository, name: podinfo}
YAML
step cat "$work/helm.yaml"
step "$kubectl" apply --server-side -f "$work/helm.yaml"
step "$kubectl" -n flux-system wait --for=condition=Ready --timeout=120s helmrelease/podinfo
step "$flux_rs" get helmreleases
step "$flux_rs" get sources chart
step "$helm" list -n flux-system
step "$flux_rs" trace deployment default-podinfo -n default
sleep 2
printf '\n\033[1mnotifications received:\033[0m\n'
cat "$work/notifications.log"

echo
echo "✔ the loop runs: controllers, registry and receiver keep going (logs in $work)."
echo "  Push another revision with:  $flux_rs push artifact $repo:latest --path DIR --source S --revision R"
echo "  Press Ctrl-C to stop everything (controllers, registry, receiver, local control plane)."
# FLUX_RS_DEMO_NO_WAIT=1 stops right away (for running the demo unattended).
[ -n "${FLUX_RS_DEMO_NO_WAIT:-}" ] && exit 0
while true; do sleep 3600; done
