#!/usr/bin/env bash
# Runs the same test suite against a kind cluster (needs docker and kind; neither works on the
# project's CI machines, which use the local control plane). The tests start the registry and
# the controllers as local processes and reach the cluster through the kubeconfig, exactly as
# on the local control plane; images built by `just images` are loaded for the install test.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"

cluster=flux-rs-e2e
kubeconfig="$FLUX_RS_CACHE/kind-kubeconfig"
command -v kind >/dev/null || { echo "✗ kind is not installed" >&2; exit 1; }
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --config kind-config.yaml --kubeconfig "$kubeconfig" --wait 120s
else
  kind export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig"
fi
if [ -n "$(ls Dockerfile* 2>/dev/null)" ] && grep -q '^images:' justfile; then
  just images
  for image in $(docker images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=flux-rs/*'); do
    kind load docker-image --name "$cluster" "$image"
  done
fi
KUBECONFIG="$kubeconfig" scripts/test.sh
