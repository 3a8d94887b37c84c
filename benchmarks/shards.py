"""Sharded `slimml migrate`: N concurrent `--shard I/N` processes (one of them killed with SIGKILL and
re-run) against one unsharded run over an identical copy of the same repos.

    python benchmarks/shards.py [--repos 1000] [--shards 4] [--kill 2] [--jobs 1] [--keep DIR]

Repositories are generated from real-shaped projects (benchmarks/reach/corpus/, fixtures/projects/):
one project per repo, several projects (several Dockerfiles) in some, some already migrated
(`slimml fix --write` applied before the commit), some without a Dockerfile, some dirty (an
uncommitted edit), some with a Dockerfile that does not parse. Checked, exit 1 otherwise:

* `slimml report --merge` over the shard states == the unsharded run's report (JSON), once the
  fields that name a run are dropped (RUN_FIELDS / REPO_RUN_FIELDS, with the reason for each);
* every repo is in exactly one shard state, exactly once, and every fixed repo's branch exists
  once, points at the commit its state recorded, and was created once (reflog of one entry);
  the killed shard's repos that were fixed before the kill are not redone (same commit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRANCH = "slimml/slim-images"
IDENT = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
# Fields that differ between two runs over the same repos, and why:
RUN_FIELDS = {
    "generated": "the time the report was made",
    "state": "the state file's path (one per run / per shard)",
    "states": "the state files merged (N shard states vs one)",
    "shards": "which shards the report covers (1..N of N vs none)",
}
REPO_RUN_FIELDS = {
    "path": "the checkout's path (the two runs work on two copies of the repos)",
    "commit": "the slimml commit: its message carries the state's random id (Slimml-Migrate trailer) and "
    "its time stamp is the run's",
    "attempts": "a repo interrupted by the SIGKILL is attempted once more by the re-run",
}
BROKEN = "this is not a Dockerfile\nFROM\n"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    cp = subprocess.run(["git", *args], cwd=cwd, check=False, capture_output=True, text=True)
    if check and cp.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {cp.stderr.strip()}")
    return cp.stdout.strip()


def projects() -> list[Path]:
    corpus = sorted(p for p in (ROOT / "benchmarks" / "reach" / "corpus").iterdir() if (p / "Dockerfile").is_file())
    fixtures = sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if (p / "Dockerfile").is_file())
    return corpus + fixtures


def _commit(t: Path) -> None:
    git(t, "init", "-q", "--template=", "-b", "main")
    git(t, "add", "-A")
    git(t, *IDENT, "commit", "-q", "-m", "init")


def _copy_project(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("source.txt", "expected*"))


def templates(tdir: Path) -> dict[str, list[Path]]:
    """Committed template repos by kind (a copy of a template is a new repo: `git init` + commit per
    repo would dominate the set-up time)."""
    projs = projects()
    out: dict[str, list[Path]] = {"single": [], "multi": [], "clean": [], "none": [], "broken": []}
    for i, p in enumerate(projs):
        t = tdir / f"single-{i:03d}"
        _copy_project(p, t)
        _commit(t)
        out["single"].append(t)
    for k in range(12):  # several services, one Dockerfile each
        t = tdir / f"multi-{k:02d}"
        for j in range(2 + k % 2):
            p = projs[(k * 7 + j * 13) % len(projs)]
            _copy_project(p, t / "services" / f"{j}-{p.name}")
        _commit(t)
        out["multi"].append(t)
    for k in range(8):  # already migrated: the fixed project is committed
        t = tdir / f"clean-{k:02d}"
        _copy_project(projs[(k * 11) % len(projs)], t)
        subprocess.run(
            [sys.executable, "-m", "slimml.cli", "fix", "--write", str(t)], check=False, capture_output=True, cwd=ROOT
        )
        _commit(t)
        out["clean"].append(t)
    t = tdir / "none"
    t.mkdir()
    (t / "README.md").write_text("no Docker here\n")
    (t / "main.py").write_text("print('hi')\n")
    _commit(t)
    out["none"].append(t)
    for k in range(3):  # a Dockerfile that does not parse, alone or next to a good one
        t = tdir / f"broken-{k}"
        if k:
            _copy_project(projs[k * 5], t)
        t.mkdir(exist_ok=True)
        (t / ("legacy" if k else ".")).mkdir(exist_ok=True)
        (t / ("legacy/Dockerfile" if k else "Dockerfile")).write_text(BROKEN)
        _commit(t)
        out["broken"].append(t)
    return out


def _pick(i: int) -> str:
    h = int.from_bytes(hashlib.sha256(f"kind-{i}".encode()).digest()[:4], "big") % 100
    return (
        "single"
        if h < 60
        else "multi"
        if h < 72
        else "clean"
        if h < 82
        else "none"
        if h < 89
        else "dirty"
        if h < 96
        else "broken"
    )


def generate(root: Path, n: int) -> dict[str, int]:
    """n repos under root/team-XX/, deterministic in n; returns {kind: count}."""
    tpl = templates(root.parent / f"{root.name}-templates")
    kinds: dict[str, int] = {}
    for i in range(n):
        kind = _pick(i)
        pool = tpl["single" if kind == "dirty" else kind]
        src = pool[(i * 31 + 7) % len(pool)]
        dest = root / f"team-{i % 16:02d}" / f"{kind}-{i:05d}"
        shutil.copytree(src, dest, symlinks=True)
        if kind == "dirty":
            (dest / "LOCAL_EDIT.txt").write_text("work in progress\n")
        kinds[kind] = kinds.get(kind, 0) + 1
    shutil.rmtree(root.parent / f"{root.name}-templates")
    return kinds


def slimml_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "slimml.cli", *map(str, args)]


def shard_db(work: Path, i: int, n: int) -> Path:
    return work / ".slimml" / f"migrate-shard-{i}-of-{n}.db"


def _fixed(db: Path) -> int:
    return _count(db, "fixed")


def _count(db: Path, status: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM repos WHERE status=?", (status,)).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def run_shards(
    root: Path, work: Path, n: int, jobs: int, kill: int = 0, kill_after: int = 5, env: dict | None = None
) -> dict:
    """N concurrent `migrate --shard I/N` processes; shard ``kill`` is SIGKILLed once ``kill_after``
    of its repos are fixed, while it is in the middle of another, then re-run. Returns timings, exit codes and what the kill left."""
    t0 = time.perf_counter()
    procs = {
        i: subprocess.Popen(
            slimml_cmd("migrate", root, "--workdir", work, "--shard", f"{i}/{n}", "-j", jobs, "-q"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            cwd=ROOT,
        )
        for i in range(1, n + 1)
    }
    out: dict = {"killed": None}
    if kill:
        db, p = shard_db(work, kill, n), procs[kill]
        while p.poll() is None:
            if db.exists() and _fixed(db) >= kill_after and _count(db, "in-progress"):  # in the middle of a repo
                os.kill(p.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        p.wait()
        out["killed"] = {
            "shard": kill,
            "returncode": p.returncode,
            "fixed_at_kill": _fixed(db),
            "in_progress_at_kill": _count(db, "in-progress"),
            "commits_at_kill": _commits(db),
        }
    for p in procs.values():
        p.wait()
    out["returncodes"] = {i: p.returncode for i, p in procs.items()}
    out["stderr"] = {i: p.stderr.read().decode(errors="replace")[-2000:] for i, p in procs.items()}
    for p in procs.values():
        p.stderr.close()
    out["seconds"] = time.perf_counter() - t0
    if kill:
        t1 = time.perf_counter()
        cp = subprocess.run(
            slimml_cmd("migrate", root, "--workdir", work, "--shard", f"{kill}/{n}", "-j", jobs, "-q"),
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        out["rerun"] = {"returncode": cp.returncode, "seconds": time.perf_counter() - t1, "stderr": cp.stderr[-2000:]}
        out["seconds_with_rerun"] = time.perf_counter() - t0
    return out


def _commits(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT name, commit_sha FROM repos WHERE status='fixed'").fetchall())
    finally:
        conn.close()


def bench_names(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM repos")]
    finally:
        conn.close()


def normalized(report: dict) -> dict:
    """The report without the fields that name a run (see RUN_FIELDS, REPO_RUN_FIELDS)."""
    r = {k: v for k, v in report.items() if k not in RUN_FIELDS}
    r["repos"] = [{k: v for k, v in repo.items() if k not in REPO_RUN_FIELDS} for repo in report["repos"]]
    return r


def differences(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {str(a)[:80]} != {str(b)[:80]}"]


def once_check(root: Path, dbs: list[Path], merged: dict) -> list[str]:
    """Each repo under root in exactly one state row and once in the merged report; each fixed
    repo's branch at its recorded commit, created once. Returns the problems found."""
    problems = []
    on_disk = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("*/*/.git"))
    rows: dict[str, list[dict]] = {}
    for db in dbs:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        for r in conn.execute("SELECT name, status, commit_sha, path FROM repos"):
            rows.setdefault(r["name"], []).append({**dict(r), "db": db.name})
        conn.close()
    problems += [
        f"{n}: in {len(v)} state rows ({', '.join(x['db'] for x in v)})" for n, v in rows.items() if len(v) != 1
    ]
    problems += [f"{n}: in no shard" for n in on_disk if n not in rows]
    names = [r["name"] for r in merged["repos"]]
    if sorted(names) != on_disk:
        problems.append(f"merged report lists {len(names)} repos ({len(set(names))} distinct), {len(on_disk)} on disk")
    for name, (row, *_) in rows.items():
        repo = root / name
        tip = git(repo, "rev-parse", "-q", "--verify", f"refs/heads/{BRANCH}", check=False)
        if row["status"] == "fixed":
            if tip != row["commit_sha"]:
                problems.append(f"{name}: branch at {tip or 'nothing'}, state says {row['commit_sha']}")
            elif len(git(repo, "reflog", "show", f"refs/heads/{BRANCH}").splitlines()) != 1:
                problems.append(f"{name}: branch created more than once")
        elif tip:
            problems.append(f"{name}: {row['status']} but has a {BRANCH} branch")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--kill", type=int, default=2, help="shard to SIGKILL mid-run and re-run (0: none)")
    ap.add_argument("--jobs", type=int, default=1, help="--jobs of each shard process")
    ap.add_argument("--unsharded-jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="slimml-bench-shards-"))
    base.mkdir(parents=True, exist_ok=True)
    a, b = base / "a" / "repos", base / "b" / "repos"
    try:
        t0 = time.perf_counter()
        kinds = generate(a, args.repos)
        shutil.copytree(a, b, symlinks=True)
        print(
            f"generated {args.repos} repos (+ a copy) in {time.perf_counter() - t0:.1f}s: "
            f"{json.dumps(kinds, sort_keys=True)}; {len(projects())} template projects; {os.cpu_count()} CPU(s)"
        )
        res = run_shards(
            a,
            base / "a" / "work",
            args.shards,
            args.jobs,
            kill=args.kill,
            kill_after=max(5, args.repos // args.shards // 3),
        )
        sizes = [len(bench_names(shard_db(base / "a" / "work", i, args.shards))) for i in range(1, args.shards + 1)]
        print(
            f"{args.shards} shard processes (--jobs {args.jobs} each): {res['seconds']:.1f}s; exit codes "
            f"{res['returncodes']}; repos per shard {sizes}"
        )
        if res["killed"]:
            k = res["killed"]
            print(
                f"shard {k['shard']}/{args.shards} SIGKILLed (exit {k['returncode']}) with {k['fixed_at_kill']} repos "
                f"fixed, {k['in_progress_at_kill']} in progress; re-run: exit {res['rerun']['returncode']} in {res['rerun']['seconds']:.1f}s "
                f"(total {res['seconds_with_rerun']:.1f}s)"
            )
        t1 = time.perf_counter()
        cp = subprocess.run(
            slimml_cmd("migrate", b, "--workdir", base / "b" / "work", "-j", args.unsharded_jobs, "-q"),
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        print(
            f"unsharded run (--jobs {args.unsharded_jobs}): {time.perf_counter() - t1:.1f}s, exit {cp.returncode}: "
            f"{cp.stderr.strip().splitlines()[-2] if cp.stderr.strip() else ''}"
        )
        dbs = [shard_db(base / "a" / "work", i, args.shards) for i in range(1, args.shards + 1)]
        t2 = time.perf_counter()
        mp = subprocess.run(
            slimml_cmd("report", "--merge", *dbs, "--format", "json"),
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if mp.returncode != 0:
            print(f"report --merge failed: {mp.stderr}")
            return 1
        merged = json.loads(mp.stdout)
        print(f"report --merge of {len(dbs)} states: {time.perf_counter() - t2:.1f}s")
        single = json.loads((base / "b" / "work" / ".slimml" / "migrate-report.json").read_text())
        diff = differences(normalized(merged), normalized(single))
        t = merged["totals"]
        print(
            "merged totals: "
            + json.dumps(
                {
                    k: t[k]
                    for k in (
                        "repos",
                        "fixed",
                        "unchanged",
                        "skipped",
                        "failed",
                        "dockerfiles",
                        "dockerfiles_failed",
                        "fixes",
                    )
                }
            )
        )
        print(f"headline: {t['headline']['text']}")
        print(
            f"merged vs unsharded report: {len(diff)} differences after dropping "
            f"{', '.join(RUN_FIELDS)} and per repo {', '.join(REPO_RUN_FIELDS)}"
        )
        for d in diff[:20]:
            print("  " + d)
        raw = differences(
            {k: v for k, v in merged.items() if k != "generated"}, {k: v for k, v in single.items() if k != "generated"}
        )
        fields = sorted({re.sub(r"\[\d+\]", "[]", d.split(":")[0]) for d in raw})
        print(f"fields that did differ (dropped above): {', '.join(fields)}")
        problems = once_check(a, dbs, merged)
        if res["killed"]:
            after = {n: s for db in dbs for n, s in _commits(db).items()}
            redone = [n for n, s in res["killed"]["commits_at_kill"].items() if after.get(n) != s]
            problems += [f"{n}: fixed before the kill, redone by the re-run" for n in redone]
        print(
            f"each repo exactly once, branches once: {'yes' if not problems else 'NO'} "
            f"({len(merged['repos'])} repos in the merged report)"
        )
        for p in problems[:20]:
            print("  " + p)
        rcs_ok = all(rc in (0, 2) for i, rc in res["returncodes"].items() if i != args.kill)
        return 0 if not diff and not problems and rcs_ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
