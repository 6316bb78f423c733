#!/usr/bin/env bash
# `just bench-artifacts`: builds flux-rs (release) and runs the push/pull benchmark.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p cli
exec python3 scripts/bench_artifacts.py
