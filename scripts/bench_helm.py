#!/usr/bin/env python3
"""`flux-rs helm template` against `helm template` (helm v4.1.4): every real-world chart run
that both render (scripts/realworld-helm.py's corpus, extracted under $FLUX_RS_CACHE) and the
own corpus under helm/tests/corpus, one process per run for each tool, side by side in one
session. Reports total wall time, the median per-run ratio and peak RSS; writes BENCHMARKS.md
between the bench-helm markers."""

import importlib.util
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from benchlib import CACHE, ROOT, TARGET, timed, write_section

HELM = os.path.join(CACHE, "tools/bin/helm")
OURS = os.path.join(TARGET, "release/flux-rs")


def realworld_module():
    spec = importlib.util.spec_from_file_location("realworld_helm", os.path.join(ROOT, "scripts/realworld-helm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases():
    """(directory, argv after `template`) of every run."""
    out = []
    realworld = realworld_module()
    for repo in realworld.load_manifest(realworld.MANIFEST):
        for chart in repo["charts"]:
            path = realworld.repo_dir(repo["name"]) / chart["dir"]
            if not (path / "Chart.yaml").is_file():
                continue
            for run in chart["runs"]:
                release = [chart["release"]] if chart["release"] else []
                out.append((str(path), [*release, ".", *shlex.split(run)]))
    for runs in sorted(Path(ROOT, "helm/tests/corpus").glob("*/runs")):
        for line in runs.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                out.append((str(runs.parent), shlex.split(line)))
    return out


def renders(argv, cwd, env):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True).returncode == 0


def main():
    env = realworld_module().helm_env()
    rows = []
    for cwd, args in cases():
        helm = [HELM, "template", *args]
        ours = [OURS, "helm", "template", *args]
        if not renders(helm, cwd, env) or not renders(ours, cwd, env):
            continue
        quoted = lambda argv: f"cd {shlex.quote(cwd)} && " + " ".join(map(shlex.quote, argv)) + " >/dev/null"
        helm_time, helm_rss = timed(quoted(helm), env=env)
        ours_time, ours_rss = timed(quoted(ours), env=env)
        rows.append((helm_time, helm_rss, ours_time, ours_rss, cwd, args))
    if not rows:
        sys.exit("no chart rendered by both tools")
    for row in sorted(rows, key=lambda r: r[0] / r[2])[:5]:
        print(f"slowest ratio {row[0] / row[2]:.1f}x: helm {row[0]:.3f} s, flux-rs {row[2]:.3f} s: {row[4]} {shlex.join(row[5])}",
              file=sys.stderr)
    helm_total = sum(r[0] for r in rows)
    ours_total = sum(r[2] for r in rows)
    ratios = [r[0] / r[2] for r in rows]
    section = f"""## helm template: `just bench-helm`

Every chart run that both tools render: the real-world corpus (`scripts/realworld-helm.py`,
{len(rows)} runs in all with the own corpus under `helm/tests/corpus`), one process per run for
each tool, side by side in one session on this 2-core machine. flux-rs is the release build.

| | total wall time | median per run | peak RSS (largest run) |
|---|---|---|---|
| `helm template` (v4.1.4) | {helm_total:.2f} s | {statistics.median(r[0] for r in rows) * 1000:.0f} ms | {max(r[1] for r in rows):.0f} MiB |
| `flux-rs helm template` | {ours_total:.2f} s | {statistics.median(r[2] for r in rows) * 1000:.0f} ms | {max(r[3] for r in rows):.0f} MiB |
| ratio | **{helm_total / ours_total:.1f}x faster** in total, median per-run ratio {statistics.median(ratios):.1f}x (min {min(ratios):.1f}x, max {max(ratios):.1f}x) | | {max(r[1] for r in rows) / max(r[3] for r in rows):.1f}x less memory |

Both tools start a process per chart, so the per-run figures include process start-up
(helm's is about 40 ms of its time on small charts)."""
    write_section("bench-helm", section)


if __name__ == "__main__":
    main()
