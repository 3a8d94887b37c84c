"""Real image sizes and build times: every fixture project before and after `slimml fix --unsafe-fixes`.

    python benchmarks/image_sizes.py [--projects a,b] [--runs 1] [--markdown docs/image-sizes.md]

Each project is measured with `slimml measure` (its Python API): a cold build of the original and
of the rewrite (no build cache), the verification (config, Python distributions, imports, native
libraries, app files, the project's smoke command), then a rebuild of both after a source-only
change (one line appended to an application file) with the cache -- the layer-caching win.

Targets (issue #5), on the FastAPI (a) and psycopg2 (b) projects: after/before size <= 0.5 each,
and the rebuild after a source-only change >= 5x faster (their summed rebuild times). Prints the
table; exits 1 when a verification fails or a target is missed. Needs a Docker engine
(.ci/docker-setup.sh builds the local stand-in base images).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from slimml.measure.engine import MeasureError, connect  # noqa: E402
from slimml.measure.plan import RewriteOptions  # noqa: E402
from slimml.measure.report import human  # noqa: E402
from slimml.measure.run import MeasureOptions, run_measure  # noqa: E402

PROJECTS = ROOT / "fixtures" / "projects"
TARGET_PROJECTS = ("fastapi-sklearn", "psycopg2-api")


def measure_project(client, name: str, runs: int) -> dict:
    spec = tomllib.loads((PROJECTS / name / "project.toml").read_text())
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="slimml-bench-") as tmp:
            src = Path(tmp) / name
            shutil.copytree(PROJECTS / name, src)
            opts = MeasureOptions(rewrite=RewriteOptions(unsafe_fixes=True), smoke=spec.get("smoke"))
            results.append(run_measure(src, opts, client=client))
    r = results[-1]
    row = {
        "project": name,
        "exit": r.exit_code,
        "error": r.error,
        "verdict": (
            "FAIL (rewrite does not build)"
            if r.failure
            else r.verification.verdict
            if r.verification is not None
            else "-"
        ),
        "applied": ", ".join(sorted(r.plan.applied)) if r.plan else "",
        "failure": r.failure,
    }
    if r.before:
        row["before"] = r.before.size
    if r.before and r.after:
        ok = [x for x in results if x.before and x.after]
        row.update(
            after=r.after.size,
            ratio=r.after.size / r.before.size,
            cold_before=statistics.median(x.before.build_seconds for x in ok),
            cold_after=statistics.median(x.after.build_seconds for x in ok),
        )
        rebuilt = [x.rebuild for x in ok if x.rebuild and x.rebuild.get("after_seconds")]
        if rebuilt:
            row.update(
                touched=rebuilt[-1]["file"],
                warm_before=statistics.median(x["before_seconds"] for x in rebuilt),
                warm_after=statistics.median(x["after_seconds"] for x in rebuilt),
            )
    if r.verification is not None:
        row["checks"] = {c.name: c.status for c in r.verification.checks}
        row["evidence"] = [f"{c.name}: {e}" for c in r.verification.checks if c.status == "fail" for e in c.evidence]
    return row


def _s(x):
    return "-" if x is None else f"{x:.1f} s"


def table(rows: list[dict]) -> str:
    out = [
        "| project | rules applied | size before | size after | saved | cold build before / after | "
        "rebuild after a source change, before / after | verification |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        saved = f"{100 * (1 - r['ratio']):.0f}%" if "ratio" in r else "-"
        warm = f"{_s(r.get('warm_before'))} / {_s(r.get('warm_after'))}"
        if r.get("warm_after"):
            warm += f" ({r['warm_before'] / r['warm_after']:.1f}x)"
        out.append(
            f"| {r['project']} | {r['applied']} | {human(r.get('before'))} | {human(r.get('after'))} | {saved} | "
            f"{_s(r.get('cold_before'))} / {_s(r.get('cold_after'))} | {warm} | {r['verdict']} |"
        )
    return "\n".join(out)


def targets(rows: list[dict]) -> list[str]:
    by = {r["project"]: r for r in rows}
    missed = []
    have = [by[n] for n in TARGET_PROJECTS if n in by]
    for r in have:
        if "ratio" not in r or r["ratio"] > 0.5:
            missed.append(f"{r['project']}: after/before size {r.get('ratio', float('nan')):.2f} > 0.5")
    if have and all("warm_after" in r for r in have):
        wb, wa = sum(r["warm_before"] for r in have), sum(r["warm_after"] for r in have)
        if wb < 5 * wa:
            missed.append(f"rebuild after a source change: {wb:.1f} s -> {wa:.1f} s is less than 5x faster")
    elif have:
        missed.append("rebuild times missing")
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", default="", help="comma-separated project names (default: all)")
    ap.add_argument("--runs", type=int, default=1, help="measurements per project (medians of the times)")
    ap.add_argument("--markdown", type=Path, help="also write the table (with the date and machine) to this file")
    args = ap.parse_args()
    names = [n for n in args.projects.split(",") if n] or sorted(
        p.name for p in PROJECTS.iterdir() if (p / "project.toml").is_file()
    )
    try:
        client = connect()
    except MeasureError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    rows = []
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(measure_project(client, name, args.runs))
    text = table(rows)
    print(text)
    missed = targets(rows)
    failed = [r for r in rows if r["exit"] != 0]
    for r in failed:
        print(f"{r['project']}: exit {r['exit']} {r.get('error') or ''}", file=sys.stderr)
        if r.get("failure"):
            print(f"  rewrite does not build: {r['failure']['step']}: {r['failure']['error']}", file=sys.stderr)
            for line in r["failure"].get("log_tail") or []:
                print(f"    | {line}", file=sys.stderr)
        for e in r.get("evidence", []):
            print(f"  {e}", file=sys.stderr)
    for m in missed:
        print(f"target missed: {m}", file=sys.stderr)
    if args.markdown:
        info = client.version()
        stamp = (
            f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, Docker engine "
            f"{info.get('Version')}, {args.runs} run(s) per project (times: median)."
        )
        args.markdown.write_text(text + "\n\n" + stamp + "\n")
    return 1 if (missed or failed) else 0


if __name__ == "__main__":
    sys.exit(main())
