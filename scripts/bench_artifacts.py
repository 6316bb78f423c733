#!/usr/bin/env python3
"""Push and pull a ~200 MB tree of mixed files with flux-rs, side by side in one run with the
same work done by standard tools, against a local docker-registry. Writes the figures into
BENCHMARKS.md between the bench-artifacts markers.

Peers:
  push: `tar -cf - | gzip` to a file, `sha256sum`, `curl` upload (POST + PUT);
        `skopeo copy` of the same artifact from an OCI layout to the registry.
  pull: `curl | tee >(sha256sum) | tar -xz`;
        `skopeo copy` of the artifact from the registry to an OCI layout (no extraction).
"""

import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import TARGET, start_registry, timed, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TEXT_FILES, TEXT_SIZE = 1600, 64 * 1024
BINARY_FILES, BINARY_SIZE = 200, 512 * 1024


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, executable="/bin/bash",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def make_tree(root):
    """Half compressible manifests, half incompressible blobs, in nested directories."""
    rng = random.Random(42)
    words = ["apiVersion", "kind", "metadata", "name", "namespace", "labels", "spec",
             "replicas", "template", "containers", "image", "ports", "env", "value"]
    for i in range(TEXT_FILES):
        d = os.path.join(root, f"apps/app-{i % 40:02d}/overlays/env-{i % 4}")
        os.makedirs(d, exist_ok=True)
        lines, size = [], 0
        while size < TEXT_SIZE:
            line = "  " * rng.randrange(4) + f"{rng.choice(words)}: {rng.choice(words)}-{rng.randrange(10**6)}\n"
            lines.append(line)
            size += len(line)
        with open(os.path.join(d, f"resource-{i}.yaml"), "w") as f:
            f.write("".join(lines))
    for i in range(BINARY_FILES):
        d = os.path.join(root, f"blobs/set-{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"data-{i}.bin"), "wb") as f:
            f.write(rng.randbytes(BINARY_SIZE))


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)






def median_of(name, make_cmd):
    walls, rsss = [], []
    for run in range(RUNS):
        wall, rss = timed(make_cmd(run))
        walls.append(wall)
        rsss.append(rss)
        print(f"  {name} run {run + 1}: {wall:.2f}s, {rss:.0f} MiB", file=sys.stderr)
    return statistics.median(walls), max(rsss)


def main():
    flux_rs = os.path.join(TARGET, "release", "flux-rs")
    work = tempfile.mkdtemp(prefix="flux-rs-bench-")
    registry, skopeo_registries = None, []
    try:
        tree = os.path.join(work, "tree")
        make_tree(tree)
        size_mb = tree_bytes(tree) / 1e6
        print(f"► tree: {size_mb:.0f} MB in {TEXT_FILES + BINARY_FILES} files", file=sys.stderr)

        registry = start_registry(work, "registry")
        # skopeo remembers where blobs live and mounts them across repositories of a registry
        # instead of uploading: each of its pushes goes to a registry that has never seen them.
        skopeo_registries = [start_registry(work, f"skopeo-registry-{i}") for i in range(RUNS)]
        base = f"http://{registry.addr}"
        reg = registry.addr

        results = {}
        print("► push", file=sys.stderr)
        results["push flux-rs"] = median_of("flux-rs push", lambda i: (
            f"{flux_rs} push artifact oci://{reg}/bench/fluxrs-{i}:v1 --path {tree} "
            f"--source https://example.com/bench --revision main@sha1:0 >/dev/null 2>&1"))
        results["push tar|gzip|curl"] = median_of("tar|gzip|curl push", lambda i: (
            f"set -e; tar -cf - -C {tree} . | gzip -6 > {work}/layer-{i}.tgz; "
            f"d=sha256:$(sha256sum {work}/layer-{i}.tgz | cut -d' ' -f1); "
            f"loc=$(curl -sf -X POST -o /dev/null -w '%header{{location}}' {base}/v2/bench/shell-{i}/blobs/uploads/); "
            f"curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @{work}/layer-{i}.tgz \"$loc&digest=$d\" >/dev/null; "
            f"rm -f {work}/layer-{i}.tgz"))
        print("► build (archive and compress, no upload)", file=sys.stderr)
        results["build flux-rs"] = median_of("flux-rs build", lambda i: (
            f"{flux_rs} build artifact --path {tree} --output {work}/built-{i}.tgz >/dev/null 2>&1 && rm {work}/built-{i}.tgz"))
        results["build tar|gzip"] = median_of("tar|gzip build", lambda i: (
            f"tar -cf - -C {tree} . | gzip -6 > {work}/built-{i}.tgz && rm {work}/built-{i}.tgz"))
        sh(f"skopeo copy --src-tls-verify=false docker://{reg}/bench/fluxrs-0:v1 oci:{work}/layout:v1")
        results["push skopeo"] = median_of("skopeo push", lambda i: (
            f"skopeo copy --dest-tls-verify=false oci:{work}/layout:v1 docker://{skopeo_registries[i].addr}/bench/skopeo:v1 >/dev/null"))

        manifest = json.loads(sh(f"skopeo inspect --raw --tls-verify=false docker://{reg}/bench/fluxrs-0:v1").stdout)
        layer = manifest["layers"][0]
        print("► pull", file=sys.stderr)
        results["pull flux-rs"] = median_of("flux-rs pull", lambda i: (
            f"rm -rf {work}/out-{i} && mkdir {work}/out-{i} && "
            f"{flux_rs} pull artifact oci://{reg}/bench/fluxrs-0:v1 --output {work}/out-{i} >/dev/null 2>&1"))
        results["pull curl|sha256sum|tar"] = median_of("curl|tar pull", lambda i: (
            f"set -e; rm -rf {work}/sh-{i} && mkdir {work}/sh-{i} && "
            f"curl -sf {base}/v2/bench/fluxrs-0/blobs/{layer['digest']} | "
            f"tee >(sha256sum > {work}/sum-{i}) | tar -xzf - -C {work}/sh-{i}"))
        results["pull skopeo"] = median_of("skopeo pull", lambda i: (
            f"rm -rf {work}/sk-{i} && skopeo copy --src-tls-verify=false docker://{reg}/bench/fluxrs-0:v1 oci:{work}/sk-{i}:v1 >/dev/null"))

        # The pulled trees are identical.
        sh(f"diff -r {tree} {work}/out-0")
        write_report(results, size_mb, layer["size"] / 1e6)
    finally:
        for r in [registry, *skopeo_registries]:
            if r:
                r.terminate()
                r.wait()
        shutil.rmtree(work, ignore_errors=True)


def write_report(results, size_mb, layer_mb):
    lines = [
        "## Artifact push and pull (`just bench-artifacts`)",
        "",
        f"A {size_mb:.0f} MB tree ({TEXT_FILES} YAML-like text files of 64 KiB, {BINARY_FILES} random "
        f"files of 512 KiB; {layer_mb:.0f} MB compressed) pushed to and pulled from Debian's "
        "docker-registry on loopback, on this 2-core machine. Median of "
        f"{RUNS} runs, side by side in one run; peak RSS is the maximum over the runs. "
        "Ratio = peer time / flux-rs time (above 1 means flux-rs is faster).",
        "",
        "| operation | tool | wall time | peak RSS | ratio |",
        "|---|---|---|---|---|",
    ]
    for op, ours, peers in [
        ("build", "build flux-rs", ["build tar|gzip"]),
        ("push", "push flux-rs", ["push tar|gzip|curl", "push skopeo"]),
        ("pull", "pull flux-rs", ["pull curl|sha256sum|tar", "pull skopeo"]),
    ]:
        wall, rss = results[ours]
        lines.append(f"| {op} | flux-rs | {wall:.2f} s | {rss:.0f} MiB | 1.00 |")
        for peer in peers:
            pwall, prss = results[peer]
            tool = peer.split(' ', 1)[1].replace("|", "\\|")
            lines.append(f"| {op} | {tool} | {pwall:.2f} s | {prss:.0f} MiB | {pwall / wall:.2f} |")
    lines += [
        "",
        "The shell push pipeline does the same work as flux-rs (archive, gzip at the default level, "
        "digest, upload). skopeo's push only uploads the already-built layer (no archiving or "
        "compression: compare it with flux-rs push minus build), and skopeo's pull stores the layer "
        "without extracting it, while flux-rs pull verifies and extracts it. flux-rs compresses on "
        "both cores (pigz's block scheme, default level 6) and extracts while downloading, moving "
        "the content into place only after its digest is verified.",
    ]
    write_section("bench-artifacts", "\n".join(lines))


if __name__ == "__main__":
    main()
