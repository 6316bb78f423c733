#!/usr/bin/env bash
# `just bench-images`: release builds of image-reflector-controller and flux-rs, the local
# control plane, then the benchmark (scripts/bench_images.py).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p image-reflector-controller -p cli
if [ -z "${KUBECONFIG:-}" ]; then
  trap '"$FLUX_RS_ROOT/scripts/cluster.sh" down' EXIT
  eval "$("$FLUX_RS_ROOT/scripts/cluster.sh" up | tail -n 1)"
fi
python3 scripts/bench_images.py
