#!/usr/bin/env bash
# `just bench-notifications`: notification-controller ingestion throughput, latency and RSS.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p notification-controller -p e2e --bin notification-controller --bin load-events
eval "$(scripts/cluster.sh up | tail -n 1)"
exec python3 scripts/bench_notifications.py
