# Shared settings for the project's scripts (sourced, not run).
# Builds and downloaded tools live outside the clone so CI and reruns reuse them.
export FLUX_RS_CACHE="${FLUX_RS_CACHE:-$HOME/.cache/flux-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FLUX_RS_CACHE/target}"
export PATH="$FLUX_RS_CACHE/tools/venv/bin:$PATH"
FLUX_RS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FLUX_RS_ROOT
