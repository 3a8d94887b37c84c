"""Adversarial suite: small projects that attack slimml's *safe* fixes (see README.md here).

Two tiers, both driven by each case's ``case.toml``:

- static (no Docker): slimml runs on a temporary copy of the case, default mode and
  ``--unsafe-fixes``, in a forked child with a time limit; the expectations of the case and the
  invariants of every rewrite (BuildKit parses it, it converged, a second run changes nothing, no
  RUN over 64 KiB of shell text) are checked. ``static_problems(case)`` returns what is wrong.
- Docker differential: the original and the default-mode rewrite (``slimml fix --write`` through
  the CLI, or ``slimml migrate``) are built with BuildKit and compared: same build outcome, same
  output of the image's command and of the case's probes. ``differential(case)`` returns an
  Outcome; ``run_differential(cases)`` runs several on a small thread pool.

``python -m tests.adversarial.harness [--docker] [-j N] [-k SUBSTRING] [--json FILE]`` runs the
tiers outside pytest and prints the per-class summary (the figure "safe rewrites that changed
behaviour").
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from .cases import CLASSES, Case, apply_migrate, load_cases, prepare, rel_to, run_cli, run_slimml
from .differential import Outcome, differential, run_differential, summary_lines
from .oracles import (boundaries_problem, buildkit_problem, copied_before_problems, dockerignore_excludes,
                      ignore_file_for, run_texts)

# The suite's entry points (tests/test_adversarial.py and the command line use these names).
__all__ = ["CLASSES", "Case", "Outcome", "differential", "dockerignore_excludes", "load_cases", "prepare",
           "run_differential", "static_problems", "summary_lines"]

MAX_RUN_BYTES = 64 * 1024  # issue 10: no merged RUN over 64 KiB of shell text


# -- static tier ------------------------------------------------------------------------------------------
def _fixes(summary: dict, unsafe: bool | None = None) -> list[tuple[str, dict]]:
    return [(f["path"], a) for f in summary["files"] for a in f.get("applied", [])
            if unsafe is None or a["unsafe"] == unsafe]


def _trim_traceback(tb: str, keep: int = 12) -> str:
    """A RecursionError's traceback has thousands of lines: the last few say where."""
    lines = tb.rstrip().splitlines()
    return tb if len(lines) <= keep + 1 else "\n".join([lines[0], "  ...", *lines[-keep:]])


def _mode_problems(case: Case, root: Path, summary: dict, mode: str) -> list[str]:
    """Invariants of one run (``mode`` is "default" or "unsafe") and the case's expectations on it."""
    p: list[str] = []
    if "timeout" in summary:
        return [f"{mode}: slimml did not finish within {summary['timeout']:.0f} s"]
    if "crash" in summary:
        return [f"{mode}: slimml crashed:\n{_trim_traceback(summary['crash'])}"]
    exp = case.expect
    for f in summary["files"]:
        if f["error"]:
            p.append(f"{mode}: {f['path']}: error: {f['error']}")
            continue
        if f.get("nonconverged"):
            p.append(f"{mode}: {f['path']}: fixes did not converge: {f['nonconverged']}")
        if f.get("reverted"):
            p.append(f"{mode}: {f['path']}: fixes were reverted (they broke the file): {f['reverted']}")
        if f["output"] != f["original"]:
            if buildkit_problem(f["original"]) is None:
                for q in (buildkit_problem(f["output"]), boundaries_problem(f["output"])):
                    if q:
                        p.append(f"{mode}: {f['path']}: {q}")
            # A RUN the author wrote may be long; a rewrite may not make a longer one past the cap.
            limit = max([MAX_RUN_BYTES] + [n for _, n in run_texts(f["original"])])
            for line, n in run_texts(f["output"]):
                if n > limit:
                    p.append(f"{mode}: {f['path']}: RUN on line {line} has {n} bytes of shell text "
                             f"(limit {limit})")
    outputs = {f["path"]: f.get("output", "") for f in summary["files"]}
    main_out = "\n".join(outputs.values())
    pre = "" if mode == "default" else "unsafe_"
    for rx in exp.get(pre + "forbid", []):
        m = re.search(rx, main_out, re.M)
        if m:
            p.append(f"{mode}: the rewrite matches the forbidden pattern {rx!r}: {m.group(0)[:200]!r}")
    for rx in exp.get(pre + "require", []):
        if not re.search(rx, main_out, re.M):
            p.append(f"{mode}: the rewrite lacks the required pattern {rx!r}")
    if mode == "default":
        for spec in exp.get("copied_before", []):
            for f in summary["files"]:
                if f.get("output") and re.search(spec["run"], f["output"]):
                    p += [f"default: {f['path']}: {q}" for q in copied_before_problems(f["output"], spec)]
        for path, a in _fixes(summary):
            if a["unsafe"]:
                p.append(f"default: {path}: an unsafe fix was applied without --unsafe-fixes: {a['code']}")
        for code in exp.get("not_safe", []):
            hits = [(path, a) for path, a in _fixes(summary, unsafe=False) if a["code"].startswith(code)]
            for path, a in hits:
                p.append(f"default: {path}: safe fix of {a['code']} applied ({a['description']}) -- the case "
                         f"says it changes the image")
        for code in exp.get("applied", []):
            if not any(a["code"].startswith(code) for _, a in _fixes(summary, unsafe=False)):
                p.append(f"default: no safe fix of {code} applied (the case expects one: the rule must not be "
                         f"simply switched off)")
    else:
        for code in exp.get("not_offered", []):
            for path, a in _fixes(summary):
                if a["code"].startswith(code):
                    p.append(f"unsafe: {path}: {a['code']} fix applied ({a['description']}) although it breaks a "
                             f"step slimml can see: {a['reason'] or a['message']}")
    for rel in exp.get(pre + "kept", []):
        for df in case.dockerfiles:
            ign = ignore_file_for(root, case, df)
            if ign.is_file() and dockerignore_excludes(ign.read_text(encoding="utf-8", errors="replace"), rel):
                p.append(f"{mode}: {rel_to(ign, root)} now excludes `{rel}`, which the build or the app reads")
    for rel in exp.get("side_unchanged", []) if mode == "default" else []:
        before, after = case.dir / rel, root / rel
        if before.is_file() != after.is_file() or (after.is_file() and before.read_bytes() != after.read_bytes()):
            p.append(f"{mode}: `{rel}` was changed although nothing in the context needs a change there")
    for rel in exp.get("absent", []) if mode == "default" else []:
        if (root / rel).exists() and not (case.dir / rel).exists():
            p.append(f"{mode}: slimml wrote `{rel}`, where the build never reads it")
    return p


def _second_run_problems(root: Path, case: Case, unsafe: bool, mode: str) -> list[str]:
    again = run_slimml(root, case.fix_paths, unsafe=unsafe, write=False, time_limit=case.time_limit)
    if "timeout" in again or "crash" in again:
        return [f"{mode}: second run: " + ("timed out" if "timeout" in again else _trim_traceback(again["crash"]))]
    out = []
    for f in again["files"]:
        if f["error"]:
            out.append(f"{mode}: second run on the rewrite: {f['path']}: error: {f['error']}")
        elif f["changed"]:
            codes = sorted({a["code"] for a in f.get("applied", [])})
            out.append(f"{mode}: not idempotent: a second run on the written rewrite changes {f['path']} again "
                       f"({', '.join(codes)})")
    return out


def _invalid_problems(case: Case, tmp: Path) -> list[str]:
    root = prepare(case, tmp / "invalid")
    before = _snapshot(root)
    p = []
    r = run_cli(root, ["fix", "--write", *case.fix_paths], timeout=case.time_limit)
    if r is None:
        return [f"`slimml fix` did not finish within {case.time_limit:.0f} s"]
    if r.returncode != 2:
        p.append(f"`slimml fix --write` exited {r.returncode} on a file BuildKit rejects (expected 2); "
                 f"stderr: {r.stderr.strip()[:300]!r}")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if r.returncode == 2 and (len(lines) != 1 or "error" not in lines[0].lower()):
        p.append(f"expected a one-line error, got: {r.stderr.strip()[:300]!r}")
    if _snapshot(root) != before:
        p.append("files were written although the input is invalid")
    return p


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for fn in filenames:
            p = Path(dirpath) / fn
            out[p.relative_to(root).as_posix()] = p.read_bytes() if not p.is_symlink() else b"->" + os.readlink(p).encode()
    return out


def _secret_problems(case: Case, tmp: Path) -> list[str]:
    secrets = case.expect.get("secrets", [])
    if not secrets:
        return []
    root = prepare(case, tmp / "secrets")
    p = []
    for args in (["fix"], ["fix", "--unsafe-fixes"], ["fix", "--diff"], ["fix", "--format", "json"],
                 ["fix", "--unsafe-fixes", "--format", "json"], ["check"]):
        r = run_cli(root, [*args, *case.fix_paths], timeout=case.time_limit)
        if r is None:
            p.append(f"`slimml {' '.join(args)}` did not finish")
            continue
        for s in secrets:
            if s in r.stdout or s in r.stderr:
                p.append(f"`slimml {' '.join(args)}` printed a secret value ({s[:4]}...)")
    return p


def static_problems(case: Case) -> list[str]:
    """Everything the static tier finds wrong with slimml on this case (empty: the case passes)."""
    with tempfile.TemporaryDirectory(prefix=f"slimml-adv-{case.name}-") as t:
        tmp = Path(t)
        if case.invalid:
            return _invalid_problems(case, tmp)
        problems: list[str] = []
        for mode, unsafe in (("default", False), ("unsafe", True)):
            root = prepare(case, tmp / mode)
            summary = run_slimml(root, case.fix_paths, unsafe=unsafe, write=True, time_limit=case.time_limit)
            problems += _mode_problems(case, root, summary, mode)
            if "files" in summary and not any(f["error"] for f in summary["files"]):
                problems += _second_run_problems(root, case, unsafe, mode)
        if case.conf.get("migrate"):
            problems += _migrate_problems(case, tmp)
        problems += _secret_problems(case, tmp)
        return problems


def _migrate_problems(case: Case, tmp: Path) -> list[str]:
    root = prepare(case, tmp / "migrate")
    err = apply_migrate(root, tmp / "migrate-work", case.time_limit)
    if err:
        return [f"migrate: {err}"]
    p = []
    for rel in case.expect.get("kept", []):
        for df in case.dockerfiles:
            ign = ignore_file_for(root, case, df)
            if ign.is_file() and dockerignore_excludes(ign.read_text(encoding="utf-8", errors="replace"), rel):
                p.append(f"migrate: {rel_to(ign, root)} now excludes `{rel}`, which the build or the app reads "
                         f"(present in the checkout, hidden by .gitignore)")
    return p


def _main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docker", action="store_true", help="also run the Docker differential tier")
    ap.add_argument("--no-static", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=3)
    ap.add_argument("-k", default=None, help="only cases whose name contains this")
    ap.add_argument("--json", type=Path, help="write per-case results here")
    ap.add_argument("--list", action="store_true", help="list the cases (name, class, description) and stop")
    a = ap.parse_args(argv)
    cases = load_cases(a.k)
    if a.list:
        for c in sorted(cases, key=lambda c: (c.klass, c.name)):
            print(f"{c.klass:<20} {c.name:<36} {c.description}")
        return 0
    report: dict = {"cases": {}}
    failing = 0
    if not a.no_static:
        for c in cases:
            probs = static_problems(c)
            report["cases"].setdefault(c.name, {})["static"] = probs
            failing += bool(probs)
            print(f"{'FAIL' if probs else 'ok  '} {c.name}" + "".join(f"\n      {p}" for p in probs), flush=True)
        print(f"static tier: {len(cases)} cases, {failing} failing")
    if a.docker:
        res = run_differential(cases, a.jobs, progress=lambda o: print(
            f"[{o.seconds:5.0f}s] {o.status:<17} {o.case}" + (f"\n      {o.detail[:600]}" if o.detail else ""),
            flush=True))
        for name, o in res.items():
            report["cases"].setdefault(name, {})["docker"] = {"status": o.status, "detail": o.detail,
                                                              "seconds": round(o.seconds, 1)}
        print("\n".join(summary_lines(list(res.values()))))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
