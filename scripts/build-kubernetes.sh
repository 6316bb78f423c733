#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 from Debian bookworm's own
# `kubernetes` source package and caches them outside the clone, keyed by version. A second
# run finds the cache and returns at once.
#
#   scripts/build-kubernetes.sh        # prints the directory holding the binaries
#
# kind cannot run here (no node image can be pulled) and no newer API server is packaged, so
# this is the real control plane the tests and the demo run against.
set -euo pipefail

version=v1.20.2
commit=faecb196815e248d3ecfb03c680a4507229c2a56
cache="${FLUX_RS_CACHE:-$HOME/.cache/flux-rs}/kubernetes/$version"
bin="$cache/bin"

if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ]; then
  echo "$bin"
  exit 0
fi

log() { echo "► $*" >&2; }
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-deps.sh" >&2

work="$cache/build"
rm -rf "$work"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d"

# A deb-src entry for every deb entry this machine already uses, in a private apt
# configuration: /etc/apt stays untouched and no registry address is written anywhere.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  sed -E 's/^Types:.*/Types: deb-src/' "$f" > "$work/apt/sources.list.d/$(basename "$f")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$work/apt/sources.list" || true
else
  : > "$work/apt/sources.list"
fi
apt_opts=(
  -o "Dir::Etc::SourceList=$work/apt/sources.list"
  -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
  -o "Dir::State::Lists=$work/apt/lists"
  -o "Dir::Cache=$work/apt/cache"
)
log "fetching Debian's kubernetes source package"
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq kubernetes >&2)
orig=$(ls "$work"/kubernetes_*.orig.tar.* | head -n 1)

log "unpacking $(basename "$orig")"
mkdir -p "$work/.go/src/k8s.io" "$work/tree"
tar -xf "$orig" -C "$work/tree" --strip-components=1
ln -s "$work/tree" "$work/.go/src/k8s.io/kubernetes"

# The vendored reflect2 1.0.1 crashes the server under Go >= 1.18 as soon as a custom
# resource is created; Debian's reflect2 1.0.2 and json-iterator 1.1.12 do not.
for pkg in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "$work/tree/vendor/$pkg"
  cp -r "/usr/share/gocode/src/$pkg" "$work/tree/vendor/$pkg"
  find "$work/tree/vendor/$pkg" -name '*_test.go' -delete
done

cd "$work/.go/src/k8s.io/kubernetes"
export GOPATH="$work/.go" CGO_ENABLED=0 KUBE_GIT_VERSION=$version KUBE_GIT_TREE_STATE=clean \
  KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_COMMIT=$commit
for what in kube-apiserver kube-controller-manager; do
  log "building $what $version (about 7 minutes cold on 2 cores)"
  make WHAT="cmd/$what" >&2
done

mkdir -p "$bin"
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$bin/"
cd /
rm -rf "$work"
echo "✔ kube-apiserver and kube-controller-manager $version in $bin" >&2
echo "$bin"
