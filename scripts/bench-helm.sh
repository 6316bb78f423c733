#!/usr/bin/env bash
# `just bench-helm`: builds flux-rs (release) and compares its helm template with helm's on the
# real-world chart corpus (when extracted, see helm/tests/realworld/README.md) and helm/tests/corpus.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
scripts/install-deps.sh
cargo build --locked --release -p cli
exec python3 scripts/bench_helm.py
