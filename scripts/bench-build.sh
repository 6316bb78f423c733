#!/usr/bin/env bash
# `just bench-build`: builds flux-rs (release) and compares its kustomize build with kubectl's.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p cli
exec python3 scripts/bench_build.py
