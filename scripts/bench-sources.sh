#!/usr/bin/env bash
# `just bench-sources`: source-controller with 1000 OCIRepositories on the local control plane.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p cli -p source-controller
eval "$(scripts/cluster.sh up | tail -n 1)"
exec python3 scripts/bench_sources.py
