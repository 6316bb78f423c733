#!/usr/bin/env bash
# The demo: a local OCI registry, and the example app pushed, listed, tagged and pulled back
# with flux-rs. Installs what it needs first (idempotent). Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"

"$FLUX_RS_ROOT/scripts/install-deps.sh"
echo "► building flux-rs" >&2
cargo build --locked --release -p cli
flux_rs="$CARGO_TARGET_DIR/release/flux-rs"

work=$(mktemp -d)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
repo="oci://127.0.0.1:$port/apps/podinfo"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$flux_rs" push artifact "$repo:v1.0.0" --path examples/podinfo \
  --source https://github.com/example/podinfo --revision "main@sha1:$(git rev-parse HEAD 2>/dev/null || echo 0)"
step "$flux_rs" tag artifact "$repo:v1.0.0" --tag latest --tag v1.0
step "$flux_rs" list artifacts "$repo"
step "$flux_rs" list artifacts "$repo" --filter-semver '>=1.0.0'
mkdir -p "$work/pulled"
step "$flux_rs" pull artifact "$repo:latest" --output "$work/pulled"
step find "$work/pulled" -type f
step "$flux_rs" diff artifact "$repo:latest" --path examples/podinfo
echo
echo "✔ demo finished; the registry and temporary files are removed on exit" >&2
