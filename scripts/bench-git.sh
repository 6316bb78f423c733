#!/usr/bin/env bash
# `just bench-git`: a release build of source-controller, the local control plane, then the
# benchmark (scripts/bench_git.py).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p source-controller
if [ -z "${KUBECONFIG:-}" ]; then
  trap '"$FLUX_RS_ROOT/scripts/cluster.sh" down' EXIT
  eval "$("$FLUX_RS_ROOT/scripts/cluster.sh" up | tail -n 1)"
fi
python3 scripts/bench_git.py
