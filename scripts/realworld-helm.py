#!/usr/bin/env python3
"""Compare `flux-rs helm template` with `helm template` (helm v4) on real-world charts.

The corpus is described by helm/tests/realworld/manifest.toml: public chart
repositories pinned to a commit, the chart directories in each, and per chart
the runs to render (extra command-line arguments: values files shipped with the
chart, --set, -n, --include-crds ...). The repositories themselves are never
part of this clone; the charts are extracted under
$FLUX_RS_CACHE/realworld-helm/<owner>__<name>/ (see `extract` below), with
their dependencies copied into each chart's charts/ directory.

Usage:
  scripts/realworld-helm.py [--json FILE] [--only REGEX] [--jobs N] [--helm-only]
  scripts/realworld-helm.py extract OWNER/NAME GIT_DIR

Every run of a chart is one case, rendered as
  helm template RELEASE CHART_DIR ARGS...            (twice, to spot randomness)
  $FLUX_RS_BIN helm template RELEASE CHART_DIR ARGS...
with the chart directory as working directory (so `-f ci/x-values.yaml` is a
path inside the chart). Each case is classed as
  MATCH                   both succeed, byte-identical stdout
  WRONG                   both succeed, outputs differ (saved under
                          $FLUX_RS_CACHE/realworld-helm-results/wrong/<repo>/<dir>/<run>/)
  NONDETERMINISTIC-MATCH  helm's two outputs differ (randAlphaNum, genCA, now ...);
                          the lines that differ between them are masked in all three
                          outputs and the masked outputs agree. (When flux-rs differs
                          from a helm output that looked deterministic, helm renders a
                          third time a second later, to catch `now`-based values.)
  NONDETERMINISTIC-WRONG  as above, but the masked outputs disagree (saved too)
  OURS-FAILS              helm succeeds, flux-rs fails (errors grouped below by
                          their first line, most common first)
  HELM-FAILS              helm fails (not judged; whether flux-rs fails too is noted)

With --helm-only only helm runs (twice) and each case is OK or HELM-FAILS.

Masking: helm's two outputs are aligned line by line (difflib). A block of lines
that differs between them, when both runs have the same number of lines there,
becomes per-line patterns: the common prefix and suffix of the two lines (cut
back to a non-alphanumeric boundary, so a random character that happened to be
equal is not required) must appear around whatever flux-rs prints on that line.
A block whose length differs between helm's runs matches any number of lines.

Exit status 1 if any case is WRONG or NONDETERMINISTIC-WRONG, 2 on a setup error.
Only the Python standard library is used (tomllib: Python 3.11+).
"""

import argparse
import concurrent.futures
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "helm" / "tests" / "realworld" / "manifest.toml"
CACHE = Path(os.environ.get("FLUX_RS_CACHE", str(Path.home() / ".cache" / "flux-rs")))
CORPUS = CACHE / "realworld-helm"
RESULTS = CACHE / "realworld-helm-results"
MARKER = ".flux-rs-commit"  # written by `extract`: the commit the tree came from
TIMEOUT = 180
MASK = "\u00abnondeterministic\u00bb"

CLASSES = ["MATCH", "WRONG", "NONDETERMINISTIC-MATCH", "NONDETERMINISTIC-WRONG",
           "OURS-FAILS", "HELM-FAILS"]
SHORT = ["match", "wrong", "nd-match", "nd-wrong", "ours-f", "helm-f"]


def repo_dir(name):
    return CORPUS / name.replace("/", "__")


def load_manifest(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    repos = data.get("repo", [])
    for r in repos:
        for key in ("name", "commit", "charts"):
            if key not in r:
                sys.exit(f"{path}: a [[repo]] lacks '{key}'")
        charts = []
        for c in r["charts"]:
            if isinstance(c, str):
                c = {"dir": c}
            if "dir" not in c:
                sys.exit(f"{path}: {r['name']}: a chart entry lacks 'dir'")
            c.setdefault("runs", [""])
            c.setdefault("release", r.get("release", Path(c["dir"]).name))
            charts.append(c)
        r["charts"] = charts
    return repos


# --------------------------------------------------------------------------- extract

def git(git_dir, *args, **kw):
    return subprocess.run(["git", "--git-dir", str(git_dir), *args],
                          check=True, capture_output=True, **kw).stdout


def chart_deps(text):
    """The `dependencies:` of a Chart.yaml (or requirements.yaml) as [{name, alias, repository}].

    A small line-based reader (stdlib only): enough for the block-style lists charts use.
    """
    deps, cur, in_deps, item_indent = [], None, False, None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0 and not line.startswith("-"):
            in_deps = line.startswith("dependencies:")
            if cur:
                deps.append(cur)
                cur = None
            continue
        if not in_deps:
            continue
        s = line.strip()
        if s.startswith("- ") or s == "-":
            if item_indent is None:
                item_indent = indent
            if indent == item_indent:
                if cur:
                    deps.append(cur)
                cur = {}
                s = s[1:].strip()
        if cur is None or not s:
            continue
        m = re.match(r"([A-Za-z_-]+):\s*(.*)$", s)
        if m and m.group(1) in ("name", "alias", "repository", "version", "condition"):
            cur.setdefault(m.group(1), m.group(2).strip().strip("'\""))
    if cur:
        deps.append(cur)
    return [d for d in deps if d.get("name")]


def chart_name(text):
    m = re.search(r"^name:\s*['\"]?([^'\"\s#]+)", text, re.M)
    return m.group(1) if m else None


def extract(name, git_dir, manifest_repos):
    """Write the manifest's charts of GIT_DIR at the manifest's commit (or HEAD) under CORPUS.

    Only the listed chart directories, the licence file and the charts they depend on
    are written. A dependency is found by chart name among the repository's own charts
    (any directory holding a Chart.yaml), then among the already extracted trees of the
    repositories named in the manifest's `deps_from`; it is copied (not linked) to
    <chart>/charts/<dependency name>/. Dependencies found nowhere are left missing:
    helm then fails on the chart (HELM-FAILS).
    """
    repo = next((r for r in manifest_repos if r["name"] == name), None)
    rev = repo["commit"] if repo else "HEAD"
    commit = git(git_dir, "rev-parse", rev + "^{commit}").decode().strip()
    dest = repo_dir(name)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)

    listing = git(git_dir, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0")
    entries = []
    for line in listing:
        if not line:
            continue
        meta, path = line.split(b"\t", 1)
        mode, typ, sha = meta.split()
        if typ != b"blob":
            continue  # submodules
        entries.append((mode.decode(), sha.decode(), path.decode("utf-8", "surrogateescape")))
    blob = {p: sha for _, sha, p in entries}

    # One cat-file process for every read.
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def cat(sha):
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) == 2 and header[1] == b"missing":
            return None
        body = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)  # trailing newline
        return body

    # Chart index: name -> chart directories, outermost first.
    index = defaultdict(list)
    meta = {}
    for p, sha in blob.items():
        if p == "Chart.yaml" or p.endswith("/Chart.yaml"):
            d = p[: -len("Chart.yaml")].rstrip("/") or "."
            text = (cat(sha) or b"").decode("utf-8", "replace")
            req = blob.get(f"{d}/requirements.yaml" if d != "." else "requirements.yaml")
            deps = chart_deps(text)
            if not deps and req:
                deps = chart_deps((cat(req) or b"").decode("utf-8", "replace"))
            meta[d] = deps
            n = chart_name(text)
            if n:
                index[n].append(d)
    for n in index:
        index[n].sort(key=lambda d: ("/charts/" in f"/{d}/", d.count("/"), d))

    # Which subtrees to write: the listed charts and, transitively, their in-repo dependencies.
    wanted = [c["dir"] for c in repo["charts"]] if repo else sorted(meta)
    need, todo = set(), list(wanted)
    while todo:
        d = todo.pop()
        if d in need:
            continue
        need.add(d)
        for dep in meta.get(d, []):
            if index.get(dep["name"]):
                todo.append(index[dep["name"]][0])
    licence = repo.get("licence") if repo else None
    prefixes = tuple("" if d == "." else d + "/" for d in need)

    written = missing = 0
    for mode, sha, path in entries:
        if not (path.startswith(prefixes) or path == licence):
            continue
        body = cat(sha)
        if body is None:
            missing += 1
            continue
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            try:
                os.symlink(body.decode("utf-8", "surrogateescape"), out)
            except OSError:
                pass
            continue
        out.write_bytes(body)
        if mode == "100755":
            out.chmod(0o755)
        written += 1
    proc.stdin.close()
    proc.wait()

    # Dependencies from other repositories' extracted trees.
    foreign = {}
    for other in (repo or {}).get("deps_from", []):
        od = repo_dir(other)
        if not (od / MARKER).exists():
            print(f"note: {other} is not extracted yet; extract it first to resolve {name}'s dependencies from it")
            continue
        for cy in sorted(od.rglob("Chart.yaml"), key=lambda p: (len(p.parts), str(p))):
            n = chart_name(cy.read_text(errors="replace"))
            if n and "charts" not in cy.parent.relative_to(od).parts[1:]:
                foreign.setdefault(n, cy.parent)

    notes = []

    def resolve(d, stack=()):
        """Fill <d>/charts/ with the dependencies of chart directory d (inside dest)."""
        cdir = dest / d if not isinstance(d, Path) else d
        cy = cdir / "Chart.yaml"
        if not cy.exists():
            return
        deps = chart_deps(cy.read_text(errors="replace"))
        if not deps and (cdir / "requirements.yaml").exists():
            deps = chart_deps((cdir / "requirements.yaml").read_text(errors="replace"))
        for dep in deps:
            n = dep["name"]
            target = cdir / "charts" / n
            have = target.is_dir() or any((cdir / "charts").glob(f"{n}-*.tgz")) or any(
                (p / "Chart.yaml").exists() and chart_name((p / "Chart.yaml").read_text(errors="replace")) == n
                for p in (cdir / "charts").glob("*") if p.is_dir())
            if have:
                resolve(target if target.is_dir() else cdir / "charts" / "__none__", stack + (n,))
                continue
            src = None
            if index.get(n):
                src = dest / index[n][0]
            elif n in foreign:
                src = foreign[n]
            if src is None or not src.is_dir() or n in stack:
                rel = cdir.relative_to(dest)
                notes.append(f"  {rel}: dependency {n} ({dep.get('repository', '?')}) not available offline")
                continue
            resolve(src, stack + (n,))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, target, symlinks=False)

    if (repo or {}).get("resolve", True):
        for d in wanted:
            resolve(d)

    (dest / MARKER).write_text(commit + "\n")
    print(f"{name}: {commit} extracted to {dest} ({written} files of {len(need)} charts, "
          f"{missing} absent from the snapshot)")
    for d in wanted:
        if not (dest / d / "Chart.yaml").is_file():
            print(f"warning: {d} holds no Chart.yaml at {commit[:12]}: drop it from the manifest")
    if notes:
        print("unresolved dependencies (these charts will be HELM-FAILS):")
        print("\n".join(sorted(set(notes))))
    if repo is None:
        print(f"note: {name} is not in the manifest; commit = \"{commit}\"")


# --------------------------------------------------------------------------- compare

def run(cmd, cwd=None, env=None):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=cwd, env=env)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return -1, b"", f"timed out after {TIMEOUT} s", time.monotonic() - t0
    except OSError as e:
        return -1, b"", f"could not run {cmd[0]}: {e}", time.monotonic() - t0


NOISE = re.compile(r"^(warning|walk\.go|coalesce\.go|WARNING|level=warn|time=)", re.I)


def first_line(text):
    """The first meaningful line of stderr, without the corpus path.

    A line that is only a position ("Error: x/templates/y.yaml:16:21") or ends in ':'
    is joined with the lines after it (up to two), where the message is.
    """
    lines = [l.strip() for l in text.splitlines() if l.strip() and not NOISE.match(l.strip())]
    if not lines:
        return "(no stderr)"
    out, k = lines[0], 1
    while k < min(len(lines), 3) and (re.fullmatch(r"(Error: )?\S+:\d+(:\d+)?", out.split(" | ")[0])
                                      or out.endswith(":")):
        out += " | " + lines[k]
        k += 1
    return out.replace(str(CORPUS) + "/", "")[:400]


def error_group(line):
    """A key that groups the same failure across charts: file names, positions, quoted names masked."""
    g = re.sub(r"^(✗\s*)?(Error|error):\s*", "", line)
    g = re.sub(r"^✗\s*", "", g)
    g = re.sub(r"thread '([^']*)' \(\d+\)", r"thread '\1'", g)
    g = g.replace(str(CORPUS) + "/", "")
    g = re.sub(r"\(([^()\s]+?):\d+(:\d+)?\)", "(<file>:<pos>)", g)
    g = re.sub(r"[\w./-]+/templates/[\w./-]+", "<template>", g)
    g = re.sub(r"\b[\w./-]+\.(yaml|yml|tpl|txt|json)\b", "<file>", g)
    g = re.sub(r"(<template>|<file>):\d+(:\d+)?", r"\1:<pos>", g)
    g = re.sub(r"line \d+(, column \d+)?", "line <n>", g)
    return g[:200]


def first_difference(a, b, ours_name="ours"):
    al, bl = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return (f"line {i + 1}: helm {x.decode('utf-8', 'replace').strip()[:70]!r} / "
                    f"{ours_name} {y.decode('utf-8', 'replace').strip()[:70]!r}")
    if len(al) != len(bl):
        return f"helm {len(al)} lines, {ours_name} {len(bl)} lines"
    return "differ only in line endings or final newline"


_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]")


def common_affixes(a, b):
    """Common prefix and suffix of two differing lines, cut back to a non-token boundary."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    while n > 0 and _TOKEN.match(a[n - 1]):
        n -= 1
    m = 0
    while m < min(len(a), len(b)) - n and a[-1 - m] == b[-1 - m]:
        m += 1
    while m > 0 and _TOKEN.match(a[len(a) - m]):
        m -= 1
    return a[:n], (a[len(a) - m:] if m else "")


def mask_pattern(h1, h2):
    """Segments describing helm's output with the run-to-run differences masked.

    ("eq", lines) must match exactly; ("fix", [(prefix, suffix), ...]) matches as many
    lines, each with that prefix and suffix; ("var",) matches any number of lines.
    """
    segs = []
    sm = difflib.SequenceMatcher(None, h1, h2, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            segs.append(("eq", h1[i1:i2]))
        elif i2 - i1 == j2 - j1:
            segs.append(("fix", [common_affixes(a, b) for a, b in zip(h1[i1:i2], h2[j1:j2])]))
        else:
            segs.append(("var",))
    return segs


def masked_text(segs):
    out = []
    for s in segs:
        if s[0] == "eq":
            out.extend(s[1])
        elif s[0] == "fix":
            out.extend(p + MASK + q for p, q in s[1])
        else:
            out.append(MASK + " (any number of lines)")
    return out


def match_masked(segs, ours):
    """None if `ours` (list of lines) fits the pattern, else a description of the first misfit."""
    p, floating = 0, False
    for s in segs:
        if s[0] == "var":
            floating = True
            continue
        if s[0] == "fix" and floating:
            continue  # a fixed block after a free one: free as well
        if s[0] == "eq":
            block = s[1]
            if not block:
                continue
            if floating:
                found = None
                for q in range(p, len(ours) - len(block) + 1):
                    if ours[q] == block[0] and ours[q:q + len(block)] == block:
                        found = q
                        break
                if found is None:
                    return f"helm line {block[0][:70]!r} not found in ours after line {p + 1}"
                p, floating = found + len(block), False
                continue
            for k, line in enumerate(block):
                if p + k >= len(ours):
                    return f"ours ends at line {p + k + 1}; helm {line[:70]!r}"
                if ours[p + k] != line:
                    return f"line {p + k + 1}: helm {line.strip()[:70]!r} / ours {ours[p + k].strip()[:70]!r}"
            p += len(block)
        else:  # fix
            for k, (pre, suf) in enumerate(s[1]):
                if p + k >= len(ours):
                    return f"ours ends at line {p + k + 1}; helm {(pre + MASK + suf)[:70]!r}"
                o = ours[p + k]
                if not (o.startswith(pre) and o.endswith(suf) and len(o) >= len(pre) + len(suf)):
                    return (f"line {p + k + 1}: helm {(pre + MASK + suf).strip()[:70]!r} / "
                            f"ours {o.strip()[:70]!r}")
            p += len(s[1])
    if not floating and p != len(ours):
        return f"helm ends at line {p}, ours has {len(ours)} lines"
    return None


def save(res, kind, helm_out, helm2_out, ours_out, masked=None):
    sub = f"{res['dir'] if res['dir'] != '.' else '_root'}/{res['run']}"
    out = RESULTS / kind / res["repo"].replace("/", "__") / sub
    out.mkdir(parents=True, exist_ok=True)
    (out / "args").write_text(shlex.join(res["argv"]) + "\n")
    (out / "helm.yaml").write_bytes(helm_out)
    if helm2_out is not None:
        (out / "helm-run2.yaml").write_bytes(helm2_out)
    (out / "flux-rs.yaml").write_bytes(ours_out)
    b = ours_out.decode("utf-8", "replace").splitlines(keepends=True)
    if masked is not None:
        a = [l + "\n" for l in masked]
        (out / "helm-masked.yaml").write_text("".join(a))
        name = "helm-masked.yaml"
        # In the diff, show flux-rs's lines that fit a masked line as that masked line.
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op == "replace" and i2 - i1 == j2 - j1:
                for x, y in zip(range(i1, i2), range(j1, j2)):
                    if MASK in a[x] and not a[x].startswith(MASK):
                        pre, suf = a[x].split(MASK, 1)
                        if b[y].startswith(pre) and b[y].endswith(suf):
                            b[y] = a[x]
    else:
        a = helm_out.decode("utf-8", "replace").splitlines(keepends=True)
        name = "helm.yaml"
    diff = difflib.unified_diff(a, b, name, "flux-rs.yaml (masked lines shown masked)" if masked else "flux-rs.yaml")
    (out / "diff").write_text("".join(diff))
    res["saved"] = str(out)


def compare(case, helm, ours, env):
    repo, chart, i = case["repo"], case["chart"], case["run"]
    path = repo_dir(repo) / chart["dir"]
    args = shlex.split(chart["runs"][i])
    # An empty release name is left out: helm then calls the release "release-name".
    argv = ["template", *([chart["release"]] if chart["release"] else []), str(path), *args]
    res = {"repo": repo, "dir": chart["dir"], "run": i, "args": chart["runs"][i],
           "argv": ["helm", *argv]}
    if not (path / "Chart.yaml").is_file():
        res.update(cls="HELM-FAILS", cause="chart directory missing from the extracted tree", ours_fails=None)
        return res
    hrc, hout, herr, ht = run([helm, *argv], cwd=path, env=env)
    res.update(helm_seconds=round(ht, 3), helm_bytes=len(hout))
    if hrc != 0:
        res.update(cls="HELM-FAILS", cause=first_line(herr))
        if ours is None:
            return res
    h2rc, h2out, _, _ = run([helm, *argv], cwd=path, env=env) if hrc == 0 else (1, b"", "", 0)
    nondet = hrc == 0 and (h2rc != 0 or h2out != hout)
    if ours is None:
        res["cls"] = "OK"
        res["nondeterministic"] = nondet
        return res

    orc, oout, oerr, ot = run([ours, "helm", *argv], cwd=path, env=env)
    res.update(ours_seconds=round(ot, 3), ours_bytes=len(oout))
    if hrc != 0:
        res["ours_fails"] = orc != 0
        if orc != 0:
            res["ours_error"] = first_line(oerr)
        return res
    if orc != 0:
        line = first_line(oerr)
        res.update(cls="OURS-FAILS", cause=line, group=error_group(line), stderr=oerr[-2000:],
                   nondeterministic=nondet)
        return res
    if hout == oout:
        res["cls"] = "NONDETERMINISTIC-MATCH" if nondet else "MATCH"
        return res
    # The outputs differ. Time-based values (`now | date …`, cert validity) may not have
    # changed between helm's two runs: render once more a second later, and if that
    # differs from run 1, take it as the partner for masking.
    time.sleep(1.1)
    h3rc, h3out, _, _ = run([helm, *argv], cwd=path, env=env)
    if h3rc == 0 and h3out != hout:
        nondet, h2out = True, h3out
    if not nondet:
        res.update(cls="WRONG", cause=first_difference(hout, oout))
        save(res, "wrong", hout, None, oout)
        return res
    # helm is not deterministic here: mask what differs between its two runs.
    dec = lambda b: b.decode("utf-8", "replace").splitlines()
    segs = mask_pattern(dec(hout), dec(h2out))
    res["masked_lines"] = sum(len(s[1]) if s[0] == "fix" else (1 if s[0] == "var" else 0) for s in segs)
    misfit = match_masked(segs, dec(oout))
    if misfit is None and hout.endswith(b"\n") == oout.endswith(b"\n"):
        res["cls"] = "NONDETERMINISTIC-MATCH"
        return res
    res.update(cls="NONDETERMINISTIC-WRONG", cause=misfit or "differ only in the final newline")
    save(res, "wrong", hout, h2out, oout, masked_text(segs))
    return res


def find_binaries(helm_only):
    helm = os.environ.get("HELM_BIN", str(CACHE / "tools" / "bin" / "helm"))
    if not os.access(helm, os.X_OK):
        sys.exit(f"helm not found at {helm} (set HELM_BIN / FLUX_RS_CACHE, or run scripts/install-deps.sh)")
    if helm_only:
        return helm, None, None
    ours = os.environ.get("FLUX_RS_BIN")
    if not ours:
        target = Path(os.environ.get("CARGO_TARGET_DIR", str(CACHE / "target")))
        found = [p for p in (target / "debug" / "flux-rs", target / "release" / "flux-rs")
                 if os.access(p, os.X_OK)]
        if not found:
            sys.exit(f"flux-rs not found under {target}/{{debug,release}} (set FLUX_RS_BIN, or build it)")
        ours = str(max(found, key=lambda p: p.stat().st_mtime))  # the newer build when both exist
    elif not os.access(ours, os.X_OK):
        sys.exit(f"flux-rs not found at {ours}")
    # Run a hard link (or copy) of the binary, so a rebuild during the run does not pull it away.
    pinned = RESULTS / "flux-rs-under-test"
    RESULTS.mkdir(parents=True, exist_ok=True)
    pinned.unlink(missing_ok=True)
    try:
        os.link(ours, pinned)
    except OSError:
        shutil.copy2(ours, pinned)
    p = subprocess.run([str(pinned), "helm", "template", "--help"], capture_output=True)
    if p.returncode != 0:
        sys.exit(f"{ours} has no `helm template` subcommand:\n{p.stderr.decode(errors='replace')[:400]}")
    return helm, str(pinned), ours


def check_extracted(repos):
    bad = []
    for r in repos:
        d = repo_dir(r["name"])
        marker = d / MARKER
        have = marker.read_text().strip() if marker.exists() else None
        if have != r["commit"]:
            state = "not extracted" if have is None else f"extracted at {have[:12]}"
            bad.append(f"  {r['name']}: {state}, want {r['commit'][:12]}")
            continue
        gone = [c["dir"] for c in r["charts"] if not (d / c["dir"] / "Chart.yaml").exists()]
        if gone:
            bad.append(f"  {r['name']}: extracted before {', '.join(gone[:3])}{' …' if len(gone) > 3 else ''} "
                       f"joined the manifest; extract it again")
    if bad:
        print("Some repositories are not extracted at the manifest's commit:", file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        print(f"\nFor each, get a git clone holding that commit, e.g.\n"
              f"  git clone --bare https://github.com/OWNER/NAME /tmp/NAME.git\n"
              f"then run\n"
              f"  {sys.argv[0]} extract OWNER/NAME /tmp/NAME.git\n"
              f"which writes the manifest's commit (not HEAD) under {CORPUS}/OWNER__NAME/.\n"
              f"Extract the repositories named in a `deps_from` first.", file=sys.stderr)
        sys.exit(2)


def helm_env():
    """helm with its own empty home: no user repositories, plugins or registry logins."""
    home = RESULTS / "helm-home"
    env = dict(os.environ)
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"),
                     ("HELM_DATA_HOME", "data")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env.pop("HELM_NAMESPACE", None)
    env.pop("HELM_KUBECONTEXT", None)
    env["KUBECONFIG"] = str(home / "no-kubeconfig")
    return env


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "extract":
        ap = argparse.ArgumentParser(prog=f"{sys.argv[0]} extract")
        ap.add_argument("name", help="owner/name as in the manifest")
        ap.add_argument("git_dir", help="git directory holding the commit")
        ap.add_argument("--manifest", default=str(MANIFEST))
        a = ap.parse_args(sys.argv[2:])
        extract(a.name, a.git_dir, load_manifest(a.manifest) if Path(a.manifest).exists() else [])
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", default=str(MANIFEST))
    ap.add_argument("--json", metavar="FILE", help="write every result to FILE")
    ap.add_argument("--only", metavar="REGEX",
                    help="only cases whose 'owner/name:dir#run args' matches REGEX")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--helm-only", action="store_true",
                    help="run helm alone (twice); class each case OK or HELM-FAILS")
    a = ap.parse_args()

    repos = load_manifest(a.manifest)
    check_extracted(repos)
    helm, ours, ours_path = find_binaries(a.helm_only)
    env = helm_env()
    only = re.compile(a.only) if a.only else None
    work = [{"repo": r["name"], "chart": c, "run": i} for r in repos for c in r["charts"]
            for i in range(len(c["runs"]))]
    work = [w for w in work
            if not only or only.search(f"{w['repo']}:{w['chart']['dir']}#{w['run']} {w['chart']['runs'][w['run']]}")]
    if not work:
        sys.exit("no case selected")
    if not a.helm_only:
        shutil.rmtree(RESULTS / "wrong", ignore_errors=True)

    results = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futs = [pool.submit(compare, w, helm, ours, env) for w in work]
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            results.append(f.result())
            if sys.stderr.isatty():
                print(f"\r{i}/{len(work)}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if ours:
        Path(ours).unlink(missing_ok=True)  # the pinned link (see find_binaries)
    order = {(w["repo"], w["chart"]["dir"], w["run"]): k for k, w in enumerate(work)}
    results.sort(key=lambda r: order[(r["repo"], r["dir"], r["run"])])

    label = lambda r: f"{r['repo']}:{r['dir']}#{r['run']}" + (f" [{r['args']}]" if r["args"] else "")
    ncharts = len({(r["repo"], r["dir"]) for r in results})
    counts = Counter(r["cls"] for r in results)
    print(f"{len(results)} cases ({ncharts} charts, {len({r['repo'] for r in results})} repositories) "
          f"in {time.monotonic() - t0:.0f} s")

    if a.helm_only:
        nd = sum(1 for r in results if r.get("nondeterministic"))
        print(f"  {'OK':24} {counts.get('OK', 0)}   (of which nondeterministic: {nd})")
        print(f"  {'HELM-FAILS':24} {counts.get('HELM-FAILS', 0)}")
        hf = [r for r in results if r["cls"] == "HELM-FAILS"]
        if hf:
            print("\nHELM-FAILS:")
            for r in hf:
                print(f"  {label(r)}: {r['cause']}")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"helm": helm, "results": results}, f, indent=1)
        return 0

    for c in CLASSES:
        print(f"  {c:24} {counts.get(c, 0)}")
    hf = [r for r in results if r["cls"] == "HELM-FAILS"]
    if hf:
        print(f"  (of HELM-FAILS, flux-rs fails too on {sum(1 for r in hf if r.get('ours_fails'))})")

    both = [r for r in results if "ours_seconds" in r and "helm_seconds" in r
            and r["cls"] not in ("OURS-FAILS", "HELM-FAILS")]
    if both:
        hs, os_ = sum(r["helm_seconds"] for r in both), sum(r["ours_seconds"] for r in both)
        print(f"\nwall time over the {len(both)} cases both render: helm {hs:.1f} s, flux-rs {os_:.1f} s"
              f" ({ours_path})")

    print(f"\n  {'per repository':42} " + " ".join(f"{c:>8}" for c in SHORT))
    per = defaultdict(Counter)
    for r in results:
        per[r["repo"]][r["cls"]] += 1
    for repo in dict.fromkeys(r["repo"] for r in results):
        print(f"  {repo:42} " + " ".join(f"{per[repo].get(c, 0):8}" for c in CLASSES))

    of = [r for r in results if r["cls"] == "OURS-FAILS"]
    if of:
        groups = Counter(r["group"] for r in of)
        print(f"\nOURS-FAILS by error ({len(groups)} distinct; top 30, most common first):")
        for g, n in groups.most_common(30):
            ex = next(label(r) for r in of if r["group"] == g)
            print(f"  {n:4}  {g}\n        e.g. {ex}")
    for cls in ("WRONG", "NONDETERMINISTIC-WRONG", "OURS-FAILS"):
        rs = [r for r in results if r["cls"] == cls]
        if rs:
            print(f"\n{cls}:")
            for r in rs:
                print(f"  {label(r)}: {r['cause']}")
    if hf:
        print("\nHELM-FAILS:")
        for r in hf:
            print(f"  {label(r)}: {r['cause']}" + ("" if r.get("ours_fails") else "  (flux-rs succeeds)"))
    if any(r["cls"].endswith("WRONG") for r in results):
        print(f"\nWRONG outputs and diffs saved under {RESULTS / 'wrong'}")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ours": ours_path, "helm": helm, "results": results}, f, indent=1)
    return 1 if counts.get("WRONG") or counts.get("NONDETERMINISTIC-WRONG") else 0


if __name__ == "__main__":
    sys.exit(main())
