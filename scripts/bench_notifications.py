#!/usr/bin/env python3
"""notification-controller (`just bench-notifications`): event ingestion throughput (half of
the events duplicates) and dispatch latency to a local webhook, with the controller pinned
to one core and the load generator on the other; idle RSS. Writes BENCHMARKS.md between the
bench-notifications markers."""

import json
import os
import subprocess
import sys
import tempfile
import time

from benchlib import install_crds, KUBECTL, TARGET, free_port, status_kib, write_section

COUNT = int(os.environ.get("BENCH_EVENTS", "20000"))






def main():
    install_crds()
    namespace = f"bench-notifications-{int(time.time())}"
    events_port, receiver_port, health_port, metrics_port, hook_port = (free_port() for _ in range(5))
    subprocess.run([KUBECTL, "create", "namespace", namespace], check=True, capture_output=True)
    objects = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
         "metadata": {"name": "hook", "namespace": namespace},
         "spec": {"type": "generic", "address": f"http://127.0.0.1:{hook_port}/hook"}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
         "metadata": {"name": "all", "namespace": namespace},
         "spec": {"providerRef": {"name": "hook"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}},
    ]}
    subprocess.run([KUBECTL, "create", "-f", "-"], input=json.dumps(objects), text=True, check=True, capture_output=True)
    log = open(tempfile.mktemp(prefix="notification-controller-", suffix=".log"), "w")
    controller = subprocess.Popen([
        "taskset", "-c", "0", os.path.join(TARGET, "release", "notification-controller"),
        f"--events-addr=127.0.0.1:{events_port}", f"--receiver-addr=127.0.0.1:{receiver_port}",
        f"--health-addr=127.0.0.1:{health_port}", f"--metrics-addr=127.0.0.1:{metrics_port}",
        "--watch-all-namespaces=false", "--log-level=warn",
    ], env=dict(os.environ, RUNTIME_NAMESPACE=namespace), stdout=log, stderr=log)
    try:
        time.sleep(10)
        idle = status_kib(controller.pid, "VmRSS") / 1024
        out = subprocess.run([
            "taskset", "-c", "1", os.path.join(TARGET, "release", "load-events"),
            f"http://127.0.0.1:{events_port}/", namespace, str(hook_port), str(COUNT), "32",
        ], check=True, capture_output=True, text=True).stdout
        load = json.loads(out)
        peak = status_kib(controller.pid, "VmHWM") / 1024
    finally:
        controller.terminate()
        controller.wait()
        subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"], capture_output=True)
    print(json.dumps(load), file=sys.stderr)
    section = "\n".join([
        "## notification-controller (`just bench-notifications`)",
        "",
        f"{load['requests']} Flux events posted with 32 connections (every event sent twice: half new, half "
        "duplicates refused with 429), with notification-controller pinned to one core (`taskset -c 0`) and the "
        "load generator on the other; every new event matches an Alert whose generic Provider posts to a webhook "
        "served by the load generator. Then 200 single events, 20 ms apart: the time from posting the event to "
        "the webhook receiving the notification. Release build.",
        "",
        "| measurement | flux-rs | goal |",
        "|---|---|---|",
        f"| events accepted or refused per second (one core) | {load['requests_per_second']:.0f}/s "
        f"({load['accepted']} accepted, {load['duplicates']} duplicates, {load['failed']} failed) | > 5,000/s |",
        f"| dispatch latency p50 / p99 | {load['p50_ms']:.2f} ms / {load['p99_ms']:.2f} ms ({load['latency_samples']} samples) | p99 < 50 ms |",
        f"| idle RSS (one Alert, one Provider) | {idle:.1f} MiB | < 15 MiB (Flux: ~13 MiB) |",
        f"| peak RSS under load | {peak:.1f} MiB | |",
    ])
    write_section("bench-notifications", section)


if __name__ == "__main__":
    main()
