#!/usr/bin/env python3
"""image-reflector-controller at scale (`just bench-images`), on the local control plane,
against Debian's docker-registry:

1. BENCH_IMAGE_REPOS (default 100) repositories of BENCH_IMAGE_TAGS (default 2,000) tags each
   (one artifact pushed with `flux-rs push artifact`, its tag entries fanned out in the
   registry's storage, which is how the registry lists them), an ImageRepository and a semver
   ImagePolicy for each, applied at once: seconds until every policy has resolved its latest
   tag, and image-reflector-controller's peak RSS. The peer, side by side: `skopeo
   list-tags` of the same repositories, four at a time (the controller's concurrency), which
   only lists.
2. One policy decision over 10,000 tags, from the release build of the unit benchmark.

Writes BENCHMARKS.md between the bench-images markers.
"""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import KUBECTL, ROOT, TARGET, delete_namespace, install_crds, start_controller, start_registry, status_kib, write_section

REPOS = int(os.environ.get("BENCH_IMAGE_REPOS", "100"))
TAGS = int(os.environ.get("BENCH_IMAGE_TAGS", "2000"))
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "600"))
RANGE = ">=1.0.0 <15.0.0"


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, check=True, capture_output=True, text=True).stdout


def tag(i):
    return f"{i // 100}.{(i // 10) % 10}.{i % 10}"


def populate(work):
    """A registry holding REPOS repositories of TAGS tags each; returns it running."""
    registry = start_registry(work, "registry")
    artifact = os.path.join(work, "artifact")
    os.makedirs(artifact)
    with open(os.path.join(artifact, "configmap.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n")
    subprocess.run([os.path.join(TARGET, "release", "flux-rs"), "push", "artifact",
                    f"oci://{registry.addr}/bench/app-0:{tag(0)}", "--path", artifact,
                    "--source", "bench", "--revision", "bench"], check=True, capture_output=True)
    registry.terminate()
    registry.wait()
    repositories = os.path.join(work, "registry/docker/registry/v2/repositories/bench")
    first = os.path.join(repositories, "app-0")
    tags_dir = os.path.join(first, "_manifests/tags")
    with open(os.path.join(tags_dir, tag(0), "current/link")) as f:
        link = f.read()
    # A tag the registry lists and resolves is a directory with `current/link`.
    for i in range(1, TAGS):
        current = os.path.join(tags_dir, tag(i), "current")
        os.makedirs(current)
        with open(os.path.join(current, "link"), "w") as f:
            f.write(link)
    for r in range(1, REPOS):
        shutil.copytree(first, os.path.join(repositories, f"app-{r}"))
    return start_registry(work, "registry")


def objects(namespace, registry):
    items = []
    for r in range(REPOS):
        name = f"app-{r}"
        items.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                      "metadata": {"name": name, "namespace": namespace},
                      "spec": {"image": f"{registry.addr}/bench/{name}", "interval": "1h"}})
        items.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                      "metadata": {"name": name, "namespace": namespace},
                      "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": RANGE}}}})
    return {"apiVersion": "v1", "kind": "List", "items": items}


def resolved(namespace):
    listing = json.loads(kubectl("get", "imagepolicies", "-n", namespace, "-o", "json"))
    return sum(1 for p in listing["items"] if (p.get("status") or {}).get("latestRef", {}).get("tag") == "14.9.9")


def peer(registry):
    def list_tags(r):
        out = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.addr}/bench/app-{r}"],
                             check=True, capture_output=True, text=True).stdout
        return len(json.loads(out)["Tags"])
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(list_tags, range(REPOS)))
    assert all(c == TAGS for c in counts), counts
    return time.perf_counter() - start


def decision_ms():
    out = subprocess.run(["cargo", "test", "--locked", "--release", "-q", "-p", "image-reflector-controller",
                          "a_decision_over_ten_thousand_tags", "--", "--nocapture"],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    found = re.search(r"semver decision over 10,000 tags: ([0-9.]+)(µs|ms)", out.stderr + out.stdout)
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "µs" else value


def main():
    install_crds()
    work = tempfile.mkdtemp(prefix="flux-rs-bench-images-")
    namespace = f"bench-images-{int(time.time())}"
    kubectl("create", "namespace", namespace)
    print(f"► {REPOS} repositories of {TAGS} tags in the registry", file=sys.stderr)
    registry = populate(work)
    reflector = None
    try:
        peer_time = min(peer(registry) for _ in range(3))
        reflector = start_controller("image-reflector-controller", namespace, work, [
            "--watch-all-namespaces=false", f"--storage-path={work}/tags"])
        start = time.perf_counter()
        kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(objects(namespace, registry)))
        while (n := resolved(namespace)) < REPOS:
            if reflector.poll() is not None or time.perf_counter() - start > TIMEOUT:
                sys.exit(f"✗ {n} of {REPOS} policies resolved after {time.perf_counter() - start:.0f} s (log: {reflector.log})")
            time.sleep(0.5)
        ours = time.perf_counter() - start
        peak = status_kib(reflector.pid, "VmHWM") / 1024
        stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{work}/tags") for f in fs)
    finally:
        if reflector is not None:
            reflector.terminate()
            reflector.wait()
        registry.terminate()
        delete_namespace(namespace)
        shutil.rmtree(work, ignore_errors=True)
    decision = decision_ms()
    print(f"► scanned and resolved in {ours:.1f} s (skopeo list-tags {peer_time:.1f} s), peak RSS {peak:.1f} MiB, "
          f"decision over 10,000 tags {decision:.2f} ms", file=sys.stderr)
    write_section("bench-images", f"""
## ImageRepository and ImagePolicy (`just bench-images`)

Local control plane (kube-apiserver 1.20 and etcd on the same 2-core machine), a release
build of image-reflector-controller (default `--concurrent=4`), Debian's docker-registry on
loopback, the peer run side by side in the same session.

| measurement | flux-rs | goal | peer |
|---|---|---|---|
| {REPOS} ImageRepositories of {TAGS} tags each and their semver ImagePolicies, from `kubectl apply` until every policy resolved | {ours:.1f} s | | `skopeo list-tags` of the same {REPOS} repositories, 4 at a time (listing only): {peer_time:.1f} s; ratio **{ours / peer_time:.2f}x** |
| image-reflector-controller peak RSS during that run | {peak:.1f} MiB | < 64 MiB | Flux: BadgerDB maps a 256 MiB value log (`--storage-value-log-file-size`) |
| tags stored on disk for all {REPOS} repositories | {stored / 1e6:.2f} MB | | |
| one semver policy decision over 10,000 tags (release build, best of 5) | {decision:.2f} ms | < 10 ms | |

Tags live in one file per ImageRepository (`imagerepository/<ns>/<name>/tags.txt`, gzipped
from 64 KiB on), read only while a policy is decided; memory does not grow with the number
of tags kept.
""")


if __name__ == "__main__":
    main()
