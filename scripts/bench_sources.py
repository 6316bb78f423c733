#!/usr/bin/env python3
"""source-controller at scale (`just bench-sources`): N OCIRepositories (one shared artifact,
tag `latest`) in one namespace on the local control plane, until all are Ready; wall time and
the controller's peak RSS. Then the idle RSS with 10 objects. Writes BENCHMARKS.md between the
bench-sources markers.

Flux's published figure for context (fluxcd/flux-benchmark, Flux 2.8, 16-core runner, 1000
OCIRepositories): 1m25s, 67 MiB.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import delete_namespace, install_crds, KUBECTL, ROOT, TARGET, free_port, start_registry, status_kib, write_section

COUNT = int(os.environ.get("BENCH_OBJECTS", "1000"))




def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, check=True, capture_output=True, text=True).stdout




def ready_count(namespace):
    out = kubectl("get", "ocirepositories", "-n", namespace, "-o", "json")
    ready = 0
    for item in json.loads(out)["items"]:
        for c in item.get("status", {}).get("conditions", []):
            if c["type"] == "Ready" and c["status"] == "True":
                ready += 1
    return ready


def objects(namespace, url, count, prefix):
    docs = []
    for i in range(count):
        docs.append(json.dumps({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": f"{prefix}-{i:04d}", "namespace": namespace},
            "spec": {"url": url, "interval": "60m", "ref": {"tag": "latest"}},
        }))
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [json.loads(d) for d in docs]})


def run(namespace, url, count, prefix, work, measure_idle=False):
    storage_port, health_port, metrics_port = free_port(), free_port(), free_port()
    env = dict(os.environ, RUNTIME_NAMESPACE=namespace)
    log = open(os.path.join(work, f"{prefix}.log"), "w")
    controller = subprocess.Popen([
        os.path.join(TARGET, "release", "source-controller"),
        f"--storage-path={work}/{prefix}-data", f"--storage-addr=127.0.0.1:{storage_port}",
        f"--health-addr=127.0.0.1:{health_port}", f"--metrics-addr=127.0.0.1:{metrics_port}",
        "--watch-all-namespaces=false", "--log-level=warn",
    ], env=env, stdout=log, stderr=log)
    try:
        time.sleep(1)
        start = time.perf_counter()
        kubectl("create", "-f", "-", stdin=objects(namespace, url, count, prefix))
        created = time.perf_counter() - start
        deadline = time.perf_counter() + 600
        while ready_count(namespace) < count:
            if controller.poll() is not None:
                sys.exit("source-controller exited; see " + log.name)
            if time.perf_counter() > deadline:
                sys.exit(f"not all {count} objects Ready after 10 minutes; see " + log.name)
            time.sleep(1)
        elapsed = time.perf_counter() - start
        peak = status_kib(controller.pid, "VmHWM") / 1024
        idle = None
        if measure_idle:
            time.sleep(15)
            idle = status_kib(controller.pid, "VmRSS") / 1024
        return elapsed, created, peak, idle
    finally:
        controller.terminate()
        controller.wait()


def main():
    install_crds()
    work = tempfile.mkdtemp(prefix="flux-rs-bench-sources-")
    registry = None
    try:
        registry = start_registry(work, "registry")
        url = f"oci://{registry.addr}/bench/podinfo"
        subprocess.run([os.path.join(TARGET, "release", "flux-rs"), "push", "artifact", f"{url}:latest",
                        "--path", os.path.join(ROOT, "examples/podinfo"), "--source", "bench", "--revision", "bench"],
                       check=True, capture_output=True)
        results = {}
        for name, count, idle in [("scale", COUNT, False), ("idle", 10, True)]:
            namespace = f"bench-sources-{name}-{int(time.time())}"
            kubectl("create", "namespace", namespace)
            try:
                results[name] = run(namespace, url, count, name, work, measure_idle=idle)
            finally:
                delete_namespace(namespace)
            print(f"► {name}: {results[name]}", file=sys.stderr)
        write_report(results)
    finally:
        if registry:
            registry.terminate()
            registry.wait()
        shutil.rmtree(work, ignore_errors=True)


def write_report(results):
    elapsed, created, peak, _ = results["scale"]
    _, _, idle_peak, idle = results["idle"]
    section = "\n".join([
        "## source-controller at scale (`just bench-sources`)",
        "",
        f"{COUNT} OCIRepositories (tag `latest` of one shared artifact, the example app) created in one "
        "namespace on the local control plane (kube-apiserver 1.20 and etcd on the same 2-core machine), "
        "release build, default flags (`--concurrent=2`). Time from `kubectl create` of the list until "
        "every object is Ready.",
        "",
        "| measurement | flux-rs | goal | Flux 2.8 (16-core runner) |",
        "|---|---|---|---|",
        f"| {COUNT} objects Ready | {elapsed:.1f} s (creating them: {created:.1f} s) | < 60 s | 85 s |",
        f"| peak RSS during the run | {peak:.1f} MiB | < 40 MiB | 67 MiB |",
        f"| idle RSS with 10 objects | {idle:.1f} MiB (peak {idle_peak:.1f} MiB) | | 79 MiB (issue reports) |",
        "",
        "No peer can run side by side here (the Flux controllers cannot be obtained on these machines), "
        "so the Flux figures are the published ones, from a much larger machine.",
    ])
    write_section("bench-sources", section)


if __name__ == "__main__":
    main()
