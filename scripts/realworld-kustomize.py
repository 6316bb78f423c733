#!/usr/bin/env python3
"""Compare `flux-rs kustomize build` with `kubectl kustomize` on real-world repositories.

The corpus is described by kustomize/tests/realworld/manifest.toml: public
repositories pinned to a commit, and the kustomization directories in each.
The repositories themselves are never part of this clone; they are extracted
under $FLUX_RS_CACHE/realworld/<owner>__<name>/ (see `extract` below).

Usage:
  scripts/realworld-kustomize.py [--json FILE] [--only REGEX] [--jobs N]
  scripts/realworld-kustomize.py extract OWNER/NAME GIT_DIR

Each directory is classed as
  MATCH          both succeed, byte-identical stdout
  WRONG          both succeed, outputs differ (saved under
                 $FLUX_RS_CACHE/realworld-results/wrong/<repo>/<dir>/)
  REFUSED        kubectl succeeds, flux-rs refuses a feature ("not supported by flux-rs")
  OURS-FAILS     kubectl succeeds, flux-rs fails otherwise
  KUBECTL-FAILS  kubectl fails (not judged; whether flux-rs fails too is noted)

Exit status 1 if any directory is WRONG, 2 on a setup error.
Only the Python standard library is used (tomllib: Python 3.11+).
"""

import argparse
import concurrent.futures
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "kustomize" / "tests" / "realworld" / "manifest.toml"
CACHE = Path(os.environ.get("FLUX_RS_CACHE", str(Path.home() / ".cache" / "flux-rs")))
CORPUS = CACHE / "realworld"
RESULTS = CACHE / "realworld-results"
MARKER = ".flux-rs-commit"  # written by `extract`: the commit the tree came from
TIMEOUT = 60

CLASSES = ["MATCH", "WRONG", "REFUSED", "OURS-FAILS", "KUBECTL-FAILS"]


def repo_dir(name):
    return CORPUS / name.replace("/", "__")


def load_manifest(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    repos = data.get("repo", [])
    for r in repos:
        for key in ("name", "commit", "dirs"):
            if key not in r:
                sys.exit(f"{path}: a [[repo]] lacks '{key}'")
    return repos


# --------------------------------------------------------------------------- extract

def git(git_dir, *args, **kw):
    return subprocess.run(["git", "--git-dir", str(git_dir), *args],
                          check=True, capture_output=True, **kw).stdout


def extract(name, git_dir, manifest_repos):
    """Write the tree of the manifest's commit (or HEAD) of GIT_DIR under CORPUS.

    Blobs absent from the snapshot (some mirrors leave out very large files)
    are skipped with a note, so `git archive` is not used.
    """
    want = next((r["commit"] for r in manifest_repos if r["name"] == name), None)
    rev = want or "HEAD"
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
    # One cat-file process for the whole tree.
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    missing = 0
    for mode, sha, path in entries:
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) == 2 and header[1] == b"missing":
            missing += 1
            continue
        size = int(header[2])
        body = proc.stdout.read(size)
        proc.stdout.read(1)  # trailing newline
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
    proc.stdin.close()
    proc.wait()
    (dest / MARKER).write_text(commit + "\n")
    print(f"{name}: {commit} extracted to {dest} ({len(entries)} files, {missing} absent from the snapshot)")
    if want is None:
        print(f"note: {name} is not in the manifest; commit = \"{commit}\"")


# --------------------------------------------------------------------------- compare

def run(cmd, cwd=None):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=cwd)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return -1, b"", f"timed out after {TIMEOUT} s", time.monotonic() - t0


def last_line(text):
    """The last non-blank line of stderr, without the corpus path and flux-rs's 'building DIR:' lead."""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    if not lines:
        return "(no stderr)"
    line = re.sub(r"^✗ building \S+: ", "", lines[-1])
    return line.replace(str(CORPUS) + "/", "")


def refused_feature(err):
    m = re.search(r"field '([^']+)' is not supported by flux-rs", err)
    if m:
        return m.group(1)
    m = re.search(r"(\S+) is not supported by flux-rs", err)
    if m:
        return m.group(1).strip("'\":")
    return "?"


def first_difference(a, b):
    al, bl = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return f"line {i + 1}: kubectl {x.decode('utf-8', 'replace').strip()[:70]!r} / ours {y.decode('utf-8', 'replace').strip()[:70]!r}"
    if len(al) != len(bl):
        return f"kubectl {len(al)} lines, ours {len(bl)} lines"
    return "differ only in line endings or final newline"


def compare(repo, d, kubectl, ours):
    path = repo_dir(repo) / d
    res = {"repo": repo, "dir": d}
    if not path.is_dir():
        res.update(cls="KUBECTL-FAILS", cause="directory missing from the extracted tree", ours_fails=True)
        return res
    krc, kout, kerr, kt = run([kubectl, "kustomize", str(path)])
    orc, oout, oerr, ot = run([ours, "kustomize", "build", str(path)])
    res.update(kubectl_seconds=round(kt, 3), ours_seconds=round(ot, 3),
               kubectl_bytes=len(kout), ours_bytes=len(oout))
    if krc != 0:
        res.update(cls="KUBECTL-FAILS", ours_fails=orc != 0, cause=last_line(kerr))
        if orc != 0:
            res["ours_error"] = last_line(oerr)
        return res
    if orc == 0:
        if kout == oout:
            res["cls"] = "MATCH"
            return res
        res["cls"] = "WRONG"
        res["cause"] = first_difference(kout, oout)
        out = RESULTS / "wrong" / repo.replace("/", "__") / (d if d != "." else "_root")
        out.mkdir(parents=True, exist_ok=True)
        (out / "kubectl.yaml").write_bytes(kout)
        (out / "flux-rs.yaml").write_bytes(oout)
        diff = difflib.unified_diff(kout.decode("utf-8", "replace").splitlines(keepends=True),
                                    oout.decode("utf-8", "replace").splitlines(keepends=True),
                                    "kubectl.yaml", "flux-rs.yaml")
        (out / "diff").write_text("".join(diff))
        res["saved"] = str(out)
        return res
    if "not supported by flux-rs" in oerr:
        res.update(cls="REFUSED", feature=refused_feature(oerr), cause=last_line(oerr))
    else:
        res.update(cls="OURS-FAILS", cause=last_line(oerr))
    return res


def find_binaries():
    ours = os.environ.get("FLUX_RS_BIN")
    if not ours:
        target = os.environ.get("CARGO_TARGET_DIR", str(CACHE / "target"))
        ours = str(Path(target) / "release" / "flux-rs")
    kubectl = str(CACHE / "tools" / "venv" / "bin" / "kubectl")
    for what, p in (("flux-rs", ours), ("kubectl", kubectl)):
        if not os.access(p, os.X_OK):
            sys.exit(f"{what} not found at {p} (set FLUX_RS_BIN / FLUX_RS_CACHE, or build it)")
    return ours, kubectl


def check_extracted(repos):
    bad = []
    for r in repos:
        d = repo_dir(r["name"])
        marker = d / MARKER
        have = marker.read_text().strip() if marker.exists() else None
        if have != r["commit"]:
            state = "not extracted" if have is None else f"extracted at {have[:12]}"
            bad.append(f"  {r['name']}: {state}, want {r['commit'][:12]}")
    if bad:
        print("Some repositories are not extracted at the manifest's commit:", file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        print(f"\nFor each, get a git clone holding that commit, e.g.\n"
              f"  git clone --bare https://github.com/OWNER/NAME /tmp/NAME.git\n"
              f"then run\n"
              f"  {sys.argv[0]} extract OWNER/NAME /tmp/NAME.git\n"
              f"which writes the manifest's commit (not HEAD) under {CORPUS}/OWNER__NAME/.", file=sys.stderr)
        sys.exit(2)


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
    ap.add_argument("--only", metavar="REGEX", help="only dirs whose 'owner/name:dir' matches REGEX")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    repos = load_manifest(a.manifest)
    check_extracted(repos)
    ours, kubectl = find_binaries()
    only = re.compile(a.only) if a.only else None
    work = [(r["name"], d) for r in repos for d in r["dirs"]
            if not only or only.search(f"{r['name']}:{d}")]
    if not work:
        sys.exit("no directory selected")
    shutil.rmtree(RESULTS / "wrong", ignore_errors=True)

    results = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futs = [pool.submit(compare, repo, d, kubectl, ours) for repo, d in work]
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            results.append(f.result())
            if sys.stderr.isatty():
                print(f"\r{i}/{len(work)}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    order = {k: i for i, k in enumerate(work)}
    results.sort(key=lambda r: order[(r["repo"], r["dir"])])

    counts = Counter(r["cls"] for r in results)
    print(f"{len(results)} directories in {time.monotonic() - t0:.0f} s")
    for c in CLASSES:
        print(f"  {c:14} {counts.get(c, 0)}")
    kf = [r for r in results if r["cls"] == "KUBECTL-FAILS"]
    if kf:
        print(f"  (of KUBECTL-FAILS, flux-rs fails too on {sum(r['ours_fails'] for r in kf)})")

    feats = Counter(r["feature"] for r in results if r["cls"] == "REFUSED")
    if feats:
        print("\nrefused features:")
        for f, n in feats.most_common():
            print(f"  {n:4}  {f}")

    print(f"\n  {'per repository':45} " + " ".join(f"{c:>7}" for c in ["match", "wrong", "refused", "ours-f", "kctl-f"]))
    per = defaultdict(Counter)
    for r in results:
        per[r["repo"]][r["cls"]] += 1
    for repo in dict.fromkeys(r["repo"] for r in results):
        print(f"  {repo:45} " + " ".join(f"{per[repo].get(c, 0):7}" for c in CLASSES))

    for cls in ("WRONG", "OURS-FAILS"):
        rs = [r for r in results if r["cls"] == cls]
        if rs:
            print(f"\n{cls}:")
            for r in rs:
                print(f"  {r['repo']}:{r['dir']}: {r['cause']}")
    if any(r["cls"] == "WRONG" for r in results):
        print(f"\nWRONG outputs and diffs saved under {RESULTS / 'wrong'}")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ours": ours, "kubectl": kubectl, "results": results}, f, indent=1)
    return 1 if counts.get("WRONG") else 0


if __name__ == "__main__":
    sys.exit(main())
