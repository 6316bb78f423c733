#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and end-to-end tests against the
# real servers they need. Installs what it needs first (idempotent).
#
#   scripts/test.sh            # what `just test` and .ci/run run
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"

"$FLUX_RS_ROOT/scripts/install-deps.sh"

echo "► cargo fmt --check" >&2
cargo fmt --all -- --check
echo "► cargo clippy" >&2
cargo clippy --locked --workspace --all-targets -- -D warnings

# The e2e tests run against the local control plane unless KUBECONFIG names another cluster
# (kind: see `just e2e-kind`). It is stopped again however the run ends.
if [ -n "${KUBECONFIG:-}" ]; then
  export FLUX_RS_EXTERNAL_CLUSTER=1
else
  trap '"$FLUX_RS_ROOT/scripts/cluster.sh" down' EXIT
  eval "$("$FLUX_RS_ROOT/scripts/cluster.sh" up | tail -n 1)"
fi

echo "► building the binaries the end-to-end tests run" >&2
cargo build --locked --workspace --bins

echo "► tests" >&2
# The reliability tests stop the API server under everyone: they run alone, afterwards, and
# only against the local control plane (`scripts/cluster.sh restart-apiserver`).
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast -E 'not binary(reliability)'
  # nextest does not run doctests.
  cargo test --locked --workspace --doc
else
  cargo test --locked --workspace --no-fail-fast -- --skip an_api_server_restart
fi
if [ -z "${FLUX_RS_EXTERNAL_CLUSTER:-}" ]; then
  echo "► reliability tests (the API server restarted under the controllers)" >&2
  cargo test --locked -p e2e --test reliability
else
  echo "► reliability tests skipped: they restart the local control plane's API server" >&2
fi

# The end-to-end suite again with every controller acting as its own ServiceAccount from
# config/ (impersonated): the RBAC there must be enough for everything the suite does.
echo "► end-to-end tests as the controllers' ServiceAccounts (config/ RBAC)" >&2
"$FLUX_RS_CACHE/tools/venv/bin/kubectl" apply --server-side --force-conflicts -k config >/dev/null
if cargo nextest --version >/dev/null 2>&1; then
  FLUX_RS_E2E_AS_SERVICE_ACCOUNTS=1 cargo nextest run --locked -p e2e --no-fail-fast -E 'not binary(reliability)'
else
  FLUX_RS_E2E_AS_SERVICE_ACCOUNTS=1 cargo test --locked -p e2e --no-fail-fast -- --skip an_api_server_restart
fi
echo "✔ all tests passed" >&2
