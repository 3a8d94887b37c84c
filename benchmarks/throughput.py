"""Throughput of fix-checking many Dockerfiles in one process, and single-file CLI wall time.

    python benchmarks/throughput.py [--files 2000] [--cli-runs 10]

Targets (issue #2): >= 500 Dockerfiles/s on one core in one invocation; `slimml fix` on one
file under 250 ms wall. Prints the figures; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slimml.context import Context, Settings  # noqa: E402
from slimml.engine import fix_text  # noqa: E402
from slimml.io import read_source  # noqa: E402

BASES = [
    "python:3.11",
    "python:3.11-slim",
    "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04",
    "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-devel",
    "continuumio/miniconda3",
]
RUNS = [
    "apt-get update",
    "apt-get install -y build-essential libpq-dev git curl",
    "apt-get update && apt-get install -y \\\n    ffmpeg \\\n    libsm6 \\\n    libxext6",
    "pip install -r requirements.txt",
    "pip install --upgrade pip setuptools wheel",
    "python -m pip install torch==2.3.0 --index-url https://download.pytorch.org/whl/cu121",
    "conda env create -f environment.yml",
    "pip install -e . && python -c 'import app'",
    "useradd -m app && chown -R app /app",
    "<<EOF\nset -e\npip install gunicorn\nEOF",
]


def synthetic(rng: random.Random) -> str:
    lines = [f"FROM {rng.choice(BASES)}", "ENV DEBIAN_FRONTEND=noninteractive"]
    if rng.random() < 0.5:
        lines.insert(0, "ARG PYTHON_VERSION=3.11")
    lines.append("WORKDIR /app")
    for _ in range(rng.randint(2, 8)):
        r = rng.random()
        if r < 0.6:
            lines.append("RUN " + rng.choice(RUNS))
        elif r < 0.7:
            lines.append("COPY . .")
        elif r < 0.8:
            lines.append("# install things")
        elif r < 0.9:
            lines.append("COPY requirements.txt .")
        else:
            lines.append("EXPOSE 8000")
    lines.append('CMD ["python", "serve.py"]')
    return "\n".join(lines) + "\n"


def corpus(n: int) -> list[str]:
    texts = []
    for p in sorted((ROOT / "fixtures").rglob("Dockerfile")):
        try:
            texts.append(read_source(p).text)
        except Exception:
            pass
    rng = random.Random(42)
    while len(texts) < n:
        texts.append(synthetic(rng))
    return texts[:n]


def _context(root: Path) -> Path:
    """A small realistic build context, so context-reading rules (SLM004, SLM006) do real work."""
    for rel, body in {
        "requirements.txt": "numpy==1.26.4\n-r base.txt\n",
        "base.txt": "fastapi\n",
        "app.py": "print(1)\n",
        "serve.py": "print(2)\n",
        "environment.yml": "name: x\n",
        "models/w.bin": "0" * 1000,
        "tests/test_app.py": "def test(): pass\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    return root


def throughput(n: int, unsafe: bool, select: tuple[str, ...] = ()) -> tuple[float, float, float]:
    texts = corpus(n)
    settings = Settings(unsafe_fixes=unsafe, select=select)
    with tempfile.TemporaryDirectory() as d:
        ctx_dir = _context(Path(d))
        df = ctx_dir / "Dockerfile"
        fix_text(texts[0], Context(settings=settings))  # warm the tree-sitter parser and imports
        times = []
        run_cache: dict = {}  # as the runner does: one per invocation
        t0 = time.perf_counter()
        for t in texts:
            s = time.perf_counter()
            fix_text(t, Context(settings=settings, dockerfile=df, context_dir=ctx_dir, run_cache=run_cache))
            times.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    times.sort()
    return n / total, times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def _bytecode_env() -> dict[str, str]:
    """The environment of a normal machine, where bytecode is cached after the first run (or
    compiled by `pip install`). Sandboxes that set PYTHONDONTWRITEBYTECODE would recompile every
    module of slimml (an editable install) on every run."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cli_wall(runs: int) -> float:
    exe = Path(sys.executable).with_name("slimml")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "slimml.cli"]
    with tempfile.TemporaryDirectory() as d:
        df = Path(d) / "Dockerfile"
        df.write_text((ROOT / "examples/ml-service/Dockerfile").read_text())
        (Path(d) / "requirements.txt").write_text("numpy\n")
        env = _bytecode_env()
        subprocess.run(cmd + ["fix", str(df)], capture_output=True, check=False, env=env)  # untimed
        walls = []
        for _ in range(runs):
            s = time.perf_counter()
            subprocess.run(cmd + ["fix", str(df)], capture_output=True, check=False, env=env)
            walls.append(time.perf_counter() - s)
    return statistics.median(walls) * 1000


def _one_run(files: int, unsafe: bool, select: str, env: dict[str, str]) -> tuple[float, float, float]:
    """One throughput measurement in a fresh interpreter (cold imports and caches)."""
    cmd = [sys.executable, __file__, "--one-run", "--files", str(files), "--select", select]
    if unsafe:
        cmd.append("--unsafe-fixes")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def reference_ms() -> float:
    """A fixed pure-Python workload: the machine's speed at the time of the run, so figures
    taken on a shared machine (whose speed moves by a quarter from minute to minute) compare."""
    s = time.perf_counter()
    x, d = 0, {}
    for i in range(1_000_000):
        x += i % 7
    for i in range(100_000):
        d[str(i)] = [i]
    return (time.perf_counter() - s) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="throughput runs (fresh processes); the median is judged")
    ap.add_argument("--cli-runs", type=int, default=10)
    ap.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes (more passes)")
    ap.add_argument("--select", default="", help="only these rules (comma-separated), e.g. the core SLM001-SLM006")
    ap.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    select = tuple(c for c in a.select.split(",") if c)
    if a.one_run:
        print(*throughput(a.files, a.unsafe_fixes, select))
        return 0
    env = _bytecode_env()
    _one_run(a.files, a.unsafe_fixes, a.select, env)  # untimed: writes the bytecode of what is imported
    runs = sorted(_one_run(a.files, a.unsafe_fixes, a.select, env) for _ in range(max(1, a.repeat)))
    fps, p50, p99 = runs[len(runs) // 2]
    wall = cli_wall(a.cli_runs)
    mode = "safe and unsafe fixes" if a.unsafe_fixes else "default (safe) fixes"
    mode += f", rules {a.select}" if select else ", all rules"
    print(
        f"fix-check throughput, {mode}, build context read: {fps:.0f} Dockerfiles/s over {a.files} files "
        f"(median of {len(runs)} fresh runs: {', '.join(f'{r[0]:.0f}' for r in runs)}; "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms per file)"
    )
    print(f"`slimml fix Dockerfile` wall time: {wall:.0f} ms (median of {a.cli_runs})")
    print(f"machine reference: a fixed pure-Python loop took {reference_ms():.0f} ms")
    ok = fps >= 500 and wall < 250
    print("targets (>= 500 files/s, < 250 ms):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
