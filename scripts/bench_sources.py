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
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = int(os.environ.get("BENCH_OBJECTS", "1000"))
CACHE = os.environ.get("FLUX_RS_CACHE", os.path.expanduser("~/.cache/flux-rs"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
KUBECTL = os.path.join(CACHE, "tools/venv/bin/kubectl")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, check=True, capture_output=True, text=True).stdout


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


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
        while ready_count(namespace) < count:
            if controller.poll() is not None:
                sys.exit("source-controller exited; see " + log.name)
            time.sleep(1)
        elapsed = time.perf_counter() - start
        peak = rss_kib(controller.pid, "VmHWM") / 1024
        idle = None
        if measure_idle:
            time.sleep(15)
            idle = rss_kib(controller.pid, "VmRSS") / 1024
        return elapsed, created, peak, idle
    finally:
        controller.terminate()
        controller.wait()


def main():
    work = tempfile.mkdtemp(prefix="flux-rs-bench-sources-")
    registry = None
    try:
        port = free_port()
        with open(f"{work}/registry.yml", "w") as f:
            f.write(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {work}/registry}}}}\n"
                    f"http: {{addr: 127.0.0.1:{port}}}\n")
        registry = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        url = f"oci://127.0.0.1:{port}/bench/podinfo"
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
                subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"], capture_output=True)
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
        "<!-- bench-sources:start -->",
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
        "<!-- bench-sources:end -->",
    ]) + "\n"
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    start, end = "<!-- bench-sources:start -->", "<!-- bench-sources:end -->\n"
    if start in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    main()
