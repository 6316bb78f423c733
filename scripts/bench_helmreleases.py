#!/usr/bin/env python3
"""helm-controller at scale (`just bench-helmreleases`), on the local control plane:

1. The test chart (examples/charts/podinfo: a Deployment of 0 replicas, a Service and
   install hooks) packaged and pushed by the real helm (v4.1.4) to a local registry.

2. Side by side, N releases (default 100) of it, each into its own namespace: first the
   peer, `helm upgrade --install --wait` run once per release one after another (as a CI job
   would); then flux-rs, one OCI HelmRepository and N HelmReleases applied at once, until
   every HelmRelease is Ready; wall time each and helm-controller's peak RSS.

3. flux-rs alone with 1000 HelmReleases (BENCH_RELEASES_LARGE; skipped with
   BENCH_SKIP_LARGE=1), Services turned off by the chart's `service.enabled` value: the local
   control plane's Service IP range (10.0.0.0/24) holds 254.

Writes BENCHMARKS.md between the bench-helmreleases markers. Flux's published figure for
context (fluxcd/flux-benchmark, Flux 2.8, 16-core runner, 1000 HelmReleases): 4m58s,
helm-controller 330 MiB.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import CACHE, ROOT, delete_namespace, KUBECTL, free_port, install_crds, start_controller, start_registry, status_kib, timed, write_section

COUNT = int(os.environ.get("BENCH_RELEASES", "100"))
LARGE = int(os.environ.get("BENCH_RELEASES_LARGE", "1000"))
SKIP_LARGE = os.environ.get("BENCH_SKIP_LARGE") == "1"
CONCURRENT = int(os.environ.get("BENCH_CONCURRENT", "4"))
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "1200"))
# The controllers watch only the namespace of the Flux objects (the HelmRepository, the
# HelmReleases and the HelmCharts made for them); the releases' target namespaces need no
# watch. Watching all namespaces would also reconcile the objects of e2e tests sharing the
# control plane.
WATCH_ALL = os.environ.get("BENCH_WATCH_ALL_NAMESPACES", "false")
HELM = os.path.join(CACHE, "tools/bin/helm")
CHART = os.path.join(ROOT, "examples/charts/podinfo")
VERSION = "6.1.0"
SERVICE_IPS = 254  # --service-cluster-ip-range=10.0.0.0/24 in scripts/cluster.sh
NO_SERVICE = {"service": {"enabled": False}}


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, check=True, capture_output=True, text=True).stdout


def helm_env(work):
    home = os.path.join(work, "helm")
    return dict(os.environ, HELM_CONFIG_HOME=f"{home}/config", HELM_CACHE_HOME=f"{home}/cache",
                HELM_DATA_HOME=f"{home}/data")


def push_chart(registry, env, work):
    packages = os.path.join(work, "packages")
    subprocess.run([HELM, "package", CHART, "--version", VERSION, "--destination", packages],
                   check=True, capture_output=True, env=env)
    subprocess.run([HELM, "push", os.path.join(packages, f"podinfo-{VERSION}.tgz"), f"oci://{registry.addr}/charts",
                    "--plain-http"], check=True, capture_output=True, env=env)


def free_service_ips():
    services = json.loads(kubectl("get", "services", "--all-namespaces", "-o", "json"))["items"]
    return SERVICE_IPS - sum(1 for s in services if s["spec"].get("clusterIP") not in (None, "", "None"))


def start(binary, namespace, work, extra):
    return start_controller(binary, namespace, work, [f"--watch-all-namespaces={WATCH_ALL}", *extra])


def ready_names(namespace, kind):
    out = kubectl("get", kind, "-n", namespace, "-o", "json")
    names = set()
    for item in json.loads(out)["items"]:
        for c in item.get("status", {}).get("conditions", []):
            if c["type"] == "Ready" and c["status"] == "True":
                names.add(item["metadata"]["name"])
    return names


def not_ready_summary(namespace):
    """`(reason, message)` of the HelmReleases not Ready, counted, most frequent first."""
    counts = {}
    for item in json.loads(kubectl("get", "helmreleases", "-n", namespace, "-o", "json"))["items"]:
        ready = [c for c in item.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True":
            continue
        key = (ready[0]["reason"], ready[0]["message"][:300]) if ready else ("no Ready condition", "")
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def wait_ready(namespace, count, controllers, what):
    """Seconds until `count` HelmReleases are Ready, from now; None (with diagnostics on
    stderr) when a controller exits or TIMEOUT passes first."""
    start_time = time.perf_counter()
    last_report = start_time
    while True:
        ready = len(ready_names(namespace, "helmreleases"))
        now = time.perf_counter()
        if ready >= count:
            return ready
        failed = [c for c in controllers if c.poll() is not None]
        if failed or now - start_time > TIMEOUT:
            cause = "a controller exited" if failed else f"{ready} of {count} Ready after {TIMEOUT} s"
            print(f"✗ {what}: {cause}", file=sys.stderr)
            for (reason, message), n in not_ready_summary(namespace)[:10]:
                print(f"  {n} × {reason}: {message}", file=sys.stderr)
            for c in controllers:
                with open(c.log) as f:
                    lines = f.read().splitlines()
                print(f"  last lines of {c.log}:", file=sys.stderr)
                for line in lines[-30:]:
                    print(f"    {line}", file=sys.stderr)
            return ready
        if now - last_report >= 10:
            print(f"  {ready}/{count} Ready after {now - start_time:.0f} s", file=sys.stderr)
            last_report = now
        time.sleep(1)


def create_namespaces(names):
    for i in range(0, len(names), 200):
        kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names[i:i + 200]]}))


def cleanup(flux_namespaces, targets):
    """Drops the finalizers the stopped controllers would have released, deletes every
    namespace, and waits (up to 10 minutes) until they are gone, so the next measurement
    does not share the API server with the namespace controller."""
    for namespace in flux_namespaces:
        delete_namespace(namespace)
    for i in range(0, len(targets), 200):
        subprocess.run([KUBECTL, "delete", "namespace", "--wait=false", "--ignore-not-found", *targets[i:i + 200]],
                       capture_output=True)
    gone = set(flux_namespaces) | set(targets)
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        left = gone & {n.split("/", 1)[1] for n in kubectl("get", "namespaces", "-o", "name").split()}
        if not left:
            return
        time.sleep(2)
    print(f"  {len(left)} namespaces still terminating", file=sys.stderr)


def helm_loop(registry, env, prefix, count, values):
    """`helm upgrade --install --wait` of `count` releases, one after another."""
    sets = " --set service.enabled=false" if values else ""
    runs = []
    start_time = time.perf_counter()
    for i in range(count):
        name, namespace = f"podinfo-{i:04d}", f"{prefix}-h{i:04d}"
        runs.append(timed(f"{HELM} upgrade --install {name} oci://{registry.addr}/charts/podinfo --version {VERSION} "
                          f"-n {namespace} --create-namespace --plain-http --wait{sets}", env=env))
    elapsed = time.perf_counter() - start_time
    return {"elapsed": elapsed, "median": statistics.median(r[0] for r in runs),
            "peak": max(r[1] for r in runs), "namespaces": [f"{prefix}-h{i:04d}" for i in range(count)]}


def flux_run(registry, work, namespace, count, values):
    """`count` HelmReleases in `namespace`, each releasing into its own namespace, applied
    in one request; seconds until every one is Ready and both controllers' peak RSS."""
    targets = [f"{namespace}-f{i:04d}" for i in range(count)]
    kubectl("create", "namespace", namespace)
    create_namespaces(targets)
    storage = free_port()
    source = start("source-controller", namespace, work, [f"--storage-path={work}/storage-{namespace}",
                                                          f"--storage-addr=127.0.0.1:{storage}",
                                                          f"--storage-adv-addr=127.0.0.1:{storage}"])
    helm_controller = start("helm-controller", namespace, work, [f"--concurrent={CONCURRENT}"])
    try:
        kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": namespace},
            "spec": {"interval": "60m", "type": "oci", "url": f"oci://{registry.addr}/charts"}}))
        # An OCI HelmRepository is not reconciled (as in Flux, it has no status): the
        # HelmCharts made for the HelmReleases pull from the registry themselves.
        items = []
        for i, target in enumerate(targets):
            spec = {"interval": "60m", "targetNamespace": target, "releaseName": f"podinfo-{i:04d}",
                    "chart": {"spec": {"chart": "podinfo", "version": VERSION,
                                       "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                    "install": {"disableWait": False}}
            if values:
                spec["values"] = values
            items.append({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                          "metadata": {"name": f"podinfo-{i:04d}", "namespace": namespace}, "spec": spec})
        start_time = time.perf_counter()
        kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        applied = time.perf_counter() - start_time
        ready = wait_ready(namespace, count, [source, helm_controller], f"{count} HelmReleases")
        elapsed = time.perf_counter() - start_time
        return {"elapsed": elapsed, "applied": applied, "ready": ready, "count": count,
                "helm_peak": status_kib(helm_controller.pid, "VmHWM") / 1024,
                "source_peak": status_kib(source.pid, "VmHWM") / 1024, "targets": targets}
    finally:
        for c in (source, helm_controller):
            c.terminate()
            c.wait()


def duration(seconds):
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds:.1f} s ({int(seconds // 60)}m{seconds % 60:02.0f}s)"


def outcome(run):
    """The time until all Ready, or how many were Ready when the run gave up."""
    if run["ready"] >= run["count"]:
        return duration(run["elapsed"])
    return f"**not done**: {run['ready']} of {run['count']} Ready after {duration(run['elapsed'])}"


def main():
    install_crds()
    work = tempfile.mkdtemp(prefix="flux-rs-bench-hr-")
    env = helm_env(work)
    registry = start_registry(work, "registry")
    stamp = int(time.time())
    try:
        push_chart(registry, env, work)
        free = free_service_ips()
        values = {} if 2 * COUNT + 4 <= free else NO_SERVICE
        print(f"► {COUNT} releases each way, {free} free Service IPs: Services "
              f"{'on' if not values else 'off'}", file=sys.stderr)
        peer = helm_loop(registry, env, f"bench-hr-{stamp}", COUNT, values)
        print(f"► helm: {duration(peer['elapsed'])}, median {peer['median']:.2f} s, peak RSS {peer['peak']:.1f} MiB",
              file=sys.stderr)
        ours = flux_run(registry, work, f"bench-hr-{stamp}", COUNT, values)
        print(f"► flux-rs: {outcome(ours)} (applying: {ours['applied']:.1f} s), helm-controller "
              f"{ours['helm_peak']:.1f} MiB, source-controller {ours['source_peak']:.1f} MiB", file=sys.stderr)
        cleanup([f"bench-hr-{stamp}"], peer["namespaces"] + ours["targets"])
        big = None
        if not SKIP_LARGE:
            big = flux_run(registry, work, f"bench-hr-large-{stamp}", LARGE, NO_SERVICE)
            print(f"► flux-rs, {LARGE}: {outcome(big)} (applying: {big['applied']:.1f} s), helm-controller "
                  f"{big['helm_peak']:.1f} MiB, source-controller {big['source_peak']:.1f} MiB", file=sys.stderr)
            cleanup([f"bench-hr-large-{stamp}"], big["targets"])
    finally:
        registry.terminate()
        registry.wait()
        shutil.rmtree(work, ignore_errors=True)
    done = ours["ready"] >= ours["count"]
    ratio = peer["elapsed"] / ours["elapsed"]
    ratio = "n/a" if not done else f"**{ratio:.1f}x** (helm / flux-rs): flux-rs " + \
        (f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower")
    services = "a Deployment of 0 replicas, a Service" if not values else \
        "a Deployment of 0 replicas (Services off: too few free Service IPs)"
    large_rows = ""
    if big:
        large_rows = f"""
| {LARGE} HelmReleases (flux-rs alone, Services off) until all Ready | {outcome(big)} (applying them: {big['applied']:.1f} s) | < 5 min | Flux 2.8, 16-core runner: 298 s (4m58s) |
| helm-controller peak RSS during that run | {big['helm_peak']:.1f} MiB | < 64 MiB | Flux 2.8: 330 MiB |
| source-controller peak RSS during that run | {big['source_peak']:.1f} MiB | | |"""
    large_note = "" if not big else f""" The local control plane's Service IP range
(10.0.0.0/24) holds 254 Services, so the {LARGE}-release run sets the chart's
`service.enabled: false` (one Service per release would not fit)."""
    write_section("bench-helmreleases", f"""
## helm-controller (`just bench-helmreleases`)

Local control plane (kube-apiserver 1.20 and etcd on the same 2-core machine), release
builds, `--concurrent={CONCURRENT}` (Flux's default). The e2e test chart
(`examples/charts/podinfo`: {services}, and install hooks)
is pushed by helm v4.1.4 to a local OCI registry. Each release goes into its own namespace. The peer is
`helm upgrade --install <name> oci://…/charts/podinfo --version {VERSION} --create-namespace
--plain-http --wait`, run once per release one after another, as a CI job would; flux-rs is
one OCI HelmRepository and {COUNT} HelmReleases (`apiVersion: helm.toolkit.fluxcd.io/v2`,
wait on) applied in one `kubectl apply --server-side`, timed until every HelmRelease is
Ready. helm ran first, in the same session against the same API server.

| measurement | flux-rs | goal | peer / Flux |
|---|---|---|---|
| {COUNT} releases until all Ready | {outcome(ours)} (applying them: {ours['applied']:.1f} s) | ≥ 3x faster than helm | helm: {duration(peer['elapsed'])}, median {peer['median']:.2f} s per release; ratio {ratio} |
| helm-controller peak RSS during that run | {ours['helm_peak']:.1f} MiB | < 64 MiB | helm, largest run: {peer['peak']:.1f} MiB |
| source-controller peak RSS during that run | {ours['source_peak']:.1f} MiB | | |{large_rows}

"Until Ready" counts the `kubectl apply` of the HelmReleases and this script's polling
(once a second); helm's time counts creating each namespace (`--create-namespace`), the
flux-rs target namespaces exist beforehand.{large_note}
""")


if __name__ == "__main__":
    main()
