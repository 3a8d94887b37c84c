"""Throughput of `slimml migrate` over many generated git repos.

    python benchmarks/migrate.py [--repos 1000] [--jobs 1,2] [--keep DIR]

Generates REPOS small git repos (one to three Dockerfiles each, a few already clean, a few dirty),
then runs the real CLI (`python -m slimml.cli migrate ROOT --quiet`) once per --jobs value, each
with its own branch name and state file, and prints repos/s. Every run must end with every clean
repo fixed or unchanged and every dirty repo skipped; otherwise the script exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TEMPLATES = {
    "pip": {
        "Dockerfile": "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n"
        'CMD ["python", "app.py"]\n',
        "requirements.txt": "numpy\n",
        "app.py": "print(1)\n",
    },
    "apt": {"Dockerfile": "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl ca-certificates\n"},
    "gpu": {
        "Dockerfile": "FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\nRUN apt-get update && apt-get install -y "
        "python3-pip\nCOPY requirements.txt .\nRUN pip3 install -r requirements.txt\nCOPY . /srv\n",
        "requirements.txt": "torch==2.3.0\n",
        "serve.py": "print('ok')\n",
    },
    "multi": {
        "Dockerfile": "FROM python:3.11-slim\nRUN pip install flask\n",
        "docker/worker.Dockerfile": "FROM python:3.11\nRUN apt-get update\nRUN apt-get install -y gcc\n",
        "docker/Dockerfile.dev": "FROM python:3.11\nCOPY . .\nRUN pip install -e .\n",
        "setup.py": "\n",
    },
    "clean": {"Dockerfile": "# slimml: ignore-file\nFROM python:3.11\nRUN pip install x\n"},
    "none": {"README.md": "no Docker here\n"},
}
MIX = ["pip", "apt", "gpu", "multi", "pip", "apt", "clean", "pip", "none", "gpu"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def generate(root: Path, n: int) -> dict[str, int]:
    """n repos made by copying one committed template repo per kind (a `git init` + commit per
    repo would dominate the set-up time). Every 50th repo gets an uncommitted edit."""
    tdir = root.parent / "templates"
    for kind, files in TEMPLATES.items():
        t = tdir / kind
        t.mkdir(parents=True)
        git(t, "init", "-q", "--template=", "-b", "main")
        for rel, text in files.items():
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_text(text)
        git(t, "add", "-A")
        git(t, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "init")
    kinds: dict[str, int] = {}
    for i in range(n):
        kind = MIX[i % len(MIX)]
        dest = root / f"team-{i % 20:02d}" / f"{kind}-{i:05d}"
        shutil.copytree(tdir / kind, dest, symlinks=True)
        if i % 50 == 49:
            (dest / "LOCAL_EDIT").write_text("wip\n")
            kind = "dirty"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def run(root: Path, work: Path, jobs: int) -> tuple[float, dict[str, int]]:
    cmd = [
        sys.executable,
        "-m",
        "slimml.cli",
        "migrate",
        str(root),
        "--workdir",
        str(work),
        "--jobs",
        str(jobs),
        "--branch",
        f"bench/jobs-{jobs}",
        "--quiet",
    ]
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if cp.returncode != 0:
        print(cp.stderr, file=sys.stderr)
        raise SystemExit(f"migrate --jobs {jobs} exited {cp.returncode}")
    conn = sqlite3.connect(work / ".slimml" / "migrate.db")
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM repos GROUP BY status").fetchall())
    conn.close()
    return dt, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time")
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="slimml-bench-migrate-"))
    base.mkdir(parents=True, exist_ok=True)
    root = base / "repos"
    try:
        t0 = time.perf_counter()
        kinds = generate(root, args.repos)
        print(f"generated {args.repos} repos in {time.perf_counter() - t0:.1f}s: {json.dumps(kinds, sort_keys=True)}")
        print(
            f"machine: {os.cpu_count()} CPU(s), git {subprocess.run(['git', '--version'], check=False, capture_output=True, text=True).stdout.split()[-1]}"
        )
        ok = True
        for jobs in (int(j) for j in args.jobs.split(",")):
            dt, counts = run(root, base / f"work-j{jobs}", jobs)
            expected_skipped = kinds.get("dirty", 0) + kinds.get("none", 0)
            good = (
                counts.get("failed", 0) == 0
                and counts.get("skipped", 0) == expected_skipped
                and counts.get("unchanged", 0) == kinds.get("clean", 0)
                and sum(counts.values()) == args.repos
            )
            ok &= good
            print(
                f"--jobs {jobs}: {args.repos} repos in {dt:.1f}s = {args.repos / dt:.1f} repos/s  "
                f"{json.dumps(counts, sort_keys=True)}{'' if good else '  UNEXPECTED'}"
            )
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
