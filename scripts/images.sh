#!/usr/bin/env bash
# `just images`: container images flux-rs/<controller>:<version> for the four controllers,
# built FROM scratch from the release binaries (no image is pulled). Starts a private dockerd
# (data under ~/.cache/flux-rs/docker) when no Docker daemon answers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$FLUX_RS_ROOT"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

if ! command -v dockerd >/dev/null; then
  echo "► installing docker.io (apt)" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get install -y -q docker.io >/dev/null
fi
export DOCKER_HOST="unix://$FLUX_RS_CACHE/docker/docker.sock"
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$FLUX_RS_CACHE/docker"
  echo "► starting dockerd (data in $FLUX_RS_CACHE/docker)" >&2
  setsid dockerd --data-root="$FLUX_RS_CACHE/docker/data" --exec-root="$FLUX_RS_CACHE/docker/exec" \
    --pidfile="$FLUX_RS_CACHE/docker/dockerd.pid" -H "$DOCKER_HOST" \
    > "$FLUX_RS_CACHE/docker/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi

cargo build --locked --release -p source-controller -p kustomize-controller -p helm-controller -p notification-controller -p image-reflector-controller -p image-automation-controller
for controller in source-controller kustomize-controller helm-controller notification-controller image-reflector-controller image-automation-controller; do
  context=$(mktemp -d)
  rootfs="$context/rootfs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/data"
  chmod 1777 "$rootfs/tmp"
  chown 65534:65534 "$rootfs/data"
  binary="$CARGO_TARGET_DIR/release/$controller"
  cp "$binary" "$rootfs/usr/local/bin/controller"
  # The dynamic loader and the libraries the binary links, at their paths.
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  echo "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin" > "$rootfs/etc/passwd"
  echo "nogroup:x:65534:" > "$rootfs/etc/group"
  cp images/Dockerfile "$context/Dockerfile"
  docker build -q -t "flux-rs/$controller:$version" --build-arg "CONTROLLER=$controller" "$context" >/dev/null
  rm -rf "$context"
  echo "✔ flux-rs/$controller:$version ($(docker image inspect -f '{{.Size}}' "flux-rs/$controller:$version" | awk '{printf "%.1f MB", $1/1e6}'))"
done
