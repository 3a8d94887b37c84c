"""`slimml check` as users run it: files/s cold and warm, on real and varied files, and one 10,000-RUN file.

    python benchmarks/check_speed.py [--files 240] [--repeat 3] [--long-runs 10000] [--skip-long]

Each figure is the wall time of a fresh `slimml check DIR` process (imports included), median of
``--repeat`` runs:

- **cold**: ``--no-cache`` (nothing reused), with the process pool (the default on a directory run of
  16+ files) and with ``SLIMML_WORKERS=1`` (one process);
- **warm**: a second run over unchanged files with the result cache filled by the first.

Sets: **real** -- the reach corpus and its adversarial cases (real public ML Dockerfiles re-typed, with
their contexts); **varied** -- ``gen_varied.py``'s files (no RUN line repeats, each with a context);
**repeating** -- the throughput benchmark's files (RUN lines from ten strings; each in a copy of its context), for
comparison with the figures measured before; **large** -- ``--large`` (2,000) varied files, warm runs only (a
repeated check over a large tree, where the cache is meant to pay; its cold runs would take minutes). Targets of issue 13 (benchmarks, not tests): cold >= 300
files/s on two cores over 120+ varied files; warm >= 3,000 files/s; the 10,000-RUN file under 2 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gen_varied  # noqa: E402
import throughput  # noqa: E402


def _cmd() -> list[str]:
    exe = Path(sys.executable).with_name("slimml")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "slimml.cli"]


def _env(cache_dir: Path, workers: str | None) -> dict[str, str]:
    env = throughput._bytecode_env()
    env["SLIMML_CACHE_DIR"] = str(cache_dir)
    env.pop("SLIMML_WORKERS", None)
    if workers is not None:
        env["SLIMML_WORKERS"] = workers
    return env


def _wall(paths: list[Path], env: dict[str, str], *extra: str) -> float:
    s = time.perf_counter()
    r = subprocess.run(
        [*_cmd(), "check", "--format", "json", *extra, *map(str, paths)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    t = time.perf_counter() - s
    if r.returncode not in (0, 1):
        raise SystemExit(f"slimml check failed ({r.returncode}): {r.stderr[-500:]}")
    return t


def _count(paths: list[Path]) -> int:
    from slimml.runner import collect

    return len(collect(paths)[0])


def measure(name: str, paths: list[Path], repeat: int, tmp: Path, cold: bool = True) -> dict[str, float]:
    n = _count(paths)
    out: dict[str, float] = {"files": n, "cold": float("nan"), "cold-1proc": float("nan")}
    cache = tmp / f"cache-{name}"
    for label, workers in (("cold", None), ("cold-1proc", "1")) if cold else ():
        ts = [_wall(paths, _env(cache, workers), "--no-cache") for _ in range(repeat)]
        out[label] = n / statistics.median(ts)
    ts, one = [], []
    first = _first_file(paths)
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        _wall(paths, _env(cache, None))  # fills the cache
        ts.append(_wall(paths, _env(cache, None)))
        one.append(_wall([first], _env(cache, None)))  # the process's own cost: start, imports, one file
    out["warm"] = n / statistics.median(ts)
    # A process costs ~0.1 s before its first file: past that, what each further cached file costs.
    out["warm-marginal"] = (n - 1) / max(statistics.median(ts) - statistics.median(one), 1e-9)
    out["startup"] = statistics.median(one)
    return out


def _first_file(paths: list[Path]) -> Path:
    from slimml.runner import collect

    return collect(paths)[0][0]


def repeating_set(root: Path, files: int) -> Path:
    """The throughput benchmark's texts (RUN lines from ten fixed strings), each in a copy of its context."""
    for i, text in enumerate(throughput.corpus(files)):
        ctx = throughput._context(root / f"svc{i:04d}")
        (ctx / "Dockerfile").write_text(text)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=240, help="varied and repeating files")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--long-runs", type=int, default=10000)
    ap.add_argument("--large", type=int, default=2000, help="files of the large varied tree (warm runs only; 0: none)")
    ap.add_argument("--skip-long", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        varied = tmp / "varied"
        gen_varied.generate(varied, a.files)
        sets = {
            "real": [ROOT / "benchmarks/reach/corpus", ROOT / "benchmarks/reach/adversarial"],
            "varied": [varied],
            "repeating": [repeating_set(tmp / "repeating", a.files)],
        }
        if a.large:  # a repeated check over a large tree, where the cache is meant to pay: warm runs only
            gen_varied.generate(tmp / "large", a.large, seed=7)
            sets["large"] = [tmp / "large"]
        print(f"machine: {len(os.sched_getaffinity(0))} usable core(s); median of {a.repeat} fresh processes each")
        print(
            f"{'set':<10} {'files':>5} {'cold files/s':>13} {'cold, 1 proc':>13} {'warm files/s':>13} "
            f"{'warm, per file after the 1st':>30} {'1 warm file':>12}"
        )
        for name, paths in sets.items():
            m = measure(name, paths, a.repeat, tmp, cold=name != "large")
            print(
                f"{name:<10} {int(m['files']):>5} {m['cold']:>13.0f} {m['cold-1proc']:>13.0f} {m['warm']:>13.0f} "
                f"{m['warm-marginal']:>24.0f} /s {m['startup'] * 1000:>9.0f} ms",
                flush=True,
            )
        if not a.skip_long:
            long_dir = tmp / "long"
            long_dir.mkdir()
            (long_dir / "Dockerfile").write_text(gen_varied.Gen(13).long_dockerfile(a.long_runs))
            ts, cpu = [], []
            for _ in range(max(1, a.repeat - 2)):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                ts.append(_wall([long_dir / "Dockerfile"], _env(tmp / "cache-long", None), "--no-cache"))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            print(
                f"one Dockerfile of {a.long_runs} RUN instructions: {statistics.median(ts):.1f} s wall, "
                f"{statistics.median(cpu):.1f} s CPU (target < 2 s)"
            )
    print(f"reference loop: {throughput.reference_ms():.0f} ms")


if __name__ == "__main__":
    main()
