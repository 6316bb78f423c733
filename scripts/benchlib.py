"""What the benchmark scripts share: paths, free ports, a local registry, process memory, and
writing a section of BENCHMARKS.md between its markers."""

import json
import os
import shlex
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("FLUX_RS_CACHE", os.path.expanduser("~/.cache/flux-rs"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
KUBECTL = os.path.join(CACHE, "tools/venv/bin/kubectl")

HEADER = """# Benchmarks

Measured on the project's 2-core machines (2 vCPU, 24 GiB). Where a peer tool can run here,
it runs side by side in the same run and the figure is a ratio; where none can (the Flux
controllers themselves cannot be obtained on these machines), Flux's published figures are
quoted for context. Timings are never asserted in tests.
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_registry(work, name):
    """Debian's docker-registry on a free loopback port, storing under `work/name`; the
    returned process has an `addr` attribute."""
    port = free_port()
    config = os.path.join(work, f"{name}.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {work}/{name}}}}}\n"
                f"http: {{addr: 127.0.0.1:{port}}}\n")
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.addr = f"127.0.0.1:{port}"
    for _ in range(100):
        if subprocess.run(["curl", "-sf", f"http://{process.addr}/v2/"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    return process


def start_controller(binary, namespace, work, extra):
    """A release build of `binary` with free health and metrics ports, its log in `work`;
    returns once it answers on the health port (the process has `log` and `metrics_port`)."""
    health, metrics = free_port(), free_port()
    log = open(os.path.join(work, f"{binary}.log"), "a")
    process = subprocess.Popen([os.path.join(TARGET, "release", binary), f"--health-addr=127.0.0.1:{health}",
                                f"--metrics-addr=127.0.0.1:{metrics}", "--log-level=warn", *extra],
                               env=dict(os.environ, RUNTIME_NAMESPACE=namespace), stdout=log, stderr=log)
    process.log = log.name
    process.metrics_port = metrics
    deadline = time.perf_counter() + 30
    while process.poll() is None and time.perf_counter() < deadline:
        try:
            socket.create_connection(("127.0.0.1", health), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return process


def timed(cmd, env=None):
    """Wall time in seconds and peak RSS in MiB (GNU time) of one shell command."""
    rss_file = tempfile.mktemp()
    start = time.perf_counter()
    subprocess.run(f"/usr/bin/time -o {rss_file} -f %M bash -c {shlex.quote(cmd)}", shell=True, check=True,
                   executable="/bin/bash", capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    with open(rss_file) as f:
        rss = int(f.read().strip().splitlines()[-1]) / 1024
    os.unlink(rss_file)
    return elapsed, rss


def status_kib(pid, field):
    """A `/proc/<pid>/status` memory field (VmRSS, VmHWM) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def write_section(name, section):
    """Replaces (or appends) the `<!-- name:start -->` … `<!-- name:end -->` section."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = f"{start}\n{section.strip()}\n{end}\n"
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else HEADER
    if start in text:
        text = text[:text.index(start)] + body + text[text.index(end) + len(end) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + body
    with open(path, "w") as f:
        f.write(text)
    print(body)


def install_crds():
    """Applies crds/ to the cluster under test (a fresh local control plane has none)."""
    subprocess.run([KUBECTL, "apply", "--server-side", "-k", os.path.join(ROOT, "crds")], check=True, capture_output=True)


# The kinds the benchmarks create, each with the finalizer of a controller that may be stopped.
FLUX_KINDS = ("kustomizations", "helmreleases", "helmcharts", "helmrepositories", "ocirepositories",
              "gitrepositories", "imagerepositories", "imagepolicies", "imageupdateautomations")


def delete_namespace(namespace):
    """Deletes a namespace whose controllers have stopped: the finalizers they would have
    released are dropped first, so the namespace does not hang in Terminating (and keep the
    API server busy during the next measurement)."""
    for kind in FLUX_KINDS:
        listing = subprocess.run([KUBECTL, "get", kind, "-n", namespace, "-o", "json"], capture_output=True, text=True)
        if listing.returncode != 0:
            continue
        items = json.loads(listing.stdout)
        for item in items["items"]:
            item["metadata"]["finalizers"] = []
        if items["items"]:
            subprocess.run([KUBECTL, "replace", "-f", "-"], input=json.dumps(items), capture_output=True, text=True)
    subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"], capture_output=True)
