"""The Docker differential tier: build the original and the default-mode rewrite of a case,
run both, compare; and the per-class figures ("safe rewrites that changed behaviour")."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .cases import Case, apply_migrate, prepare, run_cli, settle_git

DOCKER = shutil.which("docker", path="/usr/bin") or "docker"

# -- Docker differential tier ------------------------------------------------------------------------------
@dataclass
class Built:
    ok: bool
    tag: str | None
    log: str = ""


@dataclass
class Outcome:
    case: str
    klass: str
    rules: list[str]
    status: str  # "same" | "changed" | "unchanged-rewrite" | "case-broken" | "error"
    detail: str = ""
    rewrite_diff: str = ""
    seconds: float = 0.0
    builds: dict = field(default_factory=dict)

    @property
    def changed_behaviour(self) -> bool:
        return self.status == "changed"


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    try:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, 124, "", f"timed out after {timeout} s")


def _build(root: Path, case: Case, dockerfile: str, context: str, build_args: dict, tags: list[str],
           timeout: float) -> Built:
    tag = f"slimml-adv/{case.name.lower()}:{uuid.uuid4().hex[:10]}"
    args = ["build", "--progress=plain", "-t", tag, "-f", str(root / dockerfile)]
    for k, v in build_args.items():
        args += ["--build-arg", f"{k}={v}"]
    r = _docker(*args, str(root / context), timeout=timeout)
    if r.returncode != 0:
        return Built(False, None, _tail(r.stderr))
    tags.append(tag)
    return Built(True, tag)


def _tail(log: str, n: int = 6) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


_SCRUB = re.compile(r"[0-9a-f]{12,64}|\b\d+\.\d+s\b")


def _observe(tag: str, case: Case) -> dict:
    """What the image does: its command's exit code and output, the probes, config keys."""
    d = case.docker
    timeout = float(d.get("timeout", 120))
    obs: dict = {}
    envs = [a for k, v in d.get("env", {}).items() for a in ("-e", f"{k}={v}")]
    if d.get("run", True):
        r = _docker("run", "--rm", *envs, tag, *d.get("args", []), timeout=timeout)
        obs["run"] = {"exit": r.returncode, "stdout": r.stdout}
        if d.get("stderr", False):
            obs["run"]["stderr"] = _SCRUB.sub("#", r.stderr)
    for probe in d.get("probes", []):
        r = _docker("run", "--rm", *envs, "--entrypoint", "/bin/sh", tag, "-c", probe, timeout=timeout)
        obs[f"probe: {probe}"] = {"exit": r.returncode, "stdout": r.stdout}
    if d.get("config"):
        r = _docker("image", "inspect", tag, timeout=60)
        conf = json.loads(r.stdout)[0]["Config"] if r.returncode == 0 else {}
        for k in d["config"]:
            obs[f"config: {k}"] = conf.get(k)
    return obs


def _build_and_observe(root: Path, case: Case, tags: list[str], extra_args: dict | None = None) -> dict:
    """{dockerfile: {"built": bool, "log": str, "obs": {...}}} for every Dockerfile of the case."""
    d = case.docker
    timeout = float(d.get("timeout", 600))
    out = {}
    for df in case.dockerfiles:
        b = _build(root, case, df, case.context, {**d.get("build_args", {}), **(extra_args or {})}, tags, timeout)
        entry = {"built": b.ok, "log": b.log, "obs": {}}
        if b.ok:
            target = b.tag
            child = d.get("child")
            if child:
                cb = _build(root, case, child, str(Path(child).parent), {"BASE": b.tag}, tags, timeout)
                entry["child_built"], entry["child_log"] = cb.ok, cb.log
                target = cb.tag
            if target:
                entry["obs"] = _observe(target, case)
        out[df] = entry
    return out


def _tree_diff(a: Path, b: Path) -> str:
    r = subprocess.run(["diff", "-ruN", "-x", ".git", str(a), str(b)], capture_output=True, text=True)
    return r.stdout.replace(str(a), "a").replace(str(b), "b")


def _compare(case: Case, before: dict, after: dict) -> list[str]:
    diffs = []
    for df in case.dockerfiles:
        x, y = before[df], after[df]
        if x["built"] != y["built"]:
            diffs.append(f"{df}: the original {'builds' if x['built'] else 'fails to build'}, the rewrite "
                         f"{'builds' if y['built'] else 'does not: ' + y['log'].splitlines()[-1][:300]}")
            continue
        if "child_built" in x and x["child_built"] != y.get("child_built"):
            diffs.append(f"{df}: an image built FROM the original {'builds' if x['child_built'] else 'fails'}, FROM "
                         f"the rewrite it {'builds' if y.get('child_built') else 'fails: ' + y.get('child_log', '')[-300:]}")
            continue
        for k in x["obs"]:
            if x["obs"][k] != y["obs"].get(k):
                diffs.append(f"{df}: {k}: original {_short(x['obs'][k])} vs rewrite {_short(y['obs'].get(k))}")
    return diffs


def _short(v) -> str:
    s = json.dumps(v)
    return s if len(s) < 400 else s[:400] + "..."


def differential(case: Case) -> Outcome:
    start = time.monotonic()
    tags: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"slimml-adv-{case.name}-") as t:
        tmp = Path(t)
        try:
            orig = prepare(case, tmp / "orig")
            new = prepare(case, tmp / "new")
            if case.conf.get("migrate"):
                err = apply_migrate(new, tmp / "work", case.time_limit)
                if err:
                    return Outcome(case.name, case.klass, case.rules, "error", f"migrate: {err}")
            else:
                r = run_cli(new, ["fix", "--write", *case.fix_paths], timeout=case.time_limit * 3)
                if r is None:
                    return Outcome(case.name, case.klass, case.rules, "error", "slimml fix --write did not finish")
                if r.returncode not in (0, 2) or (r.returncode == 2 and not case.invalid):
                    return Outcome(case.name, case.klass, case.rules, "error",
                                   f"slimml fix --write exited {r.returncode}: {r.stderr.strip()[-500:]}")
            if case.conf.get("git") or case.conf.get("migrate"):
                settle_git(new)
            diff = _tree_diff(orig, new)
            extra = {}
            if case.docker.get("parent"):  # an image from elsewhere: built once, from the original files
                pb = _build(orig, case, case.docker["parent"], case.context, {}, tags, 600)
                if not pb.ok:
                    return Outcome(case.name, case.klass, case.rules, "case-broken",
                                   f"the parent image does not build: {pb.log}", diff, time.monotonic() - start)
                extra[case.docker.get("parent_arg", "BASE")] = pb.tag
            before = _build_and_observe(orig, case, tags, extra)
            expected = bool(case.docker.get("original_builds", not case.invalid))
            first = before[case.dockerfiles[0]]
            if first["built"] != expected:
                return Outcome(case.name, case.klass, case.rules, "case-broken",
                               f"the original {'builds' if first['built'] else 'does not build'} here, the case "
                               f"expects the opposite: {first['log'][-500:]}", diff, time.monotonic() - start)
            if not diff.strip():
                return Outcome(case.name, case.klass, case.rules, "unchanged-rewrite", "", "",
                               time.monotonic() - start, {"before": _slim(before)})
            after = _build_and_observe(new, case, tags, extra)
            diffs = _compare(case, before, after)
            status = "changed" if diffs else "same"
            return Outcome(case.name, case.klass, case.rules, status, "\n".join(diffs), diff,
                           time.monotonic() - start, {"before": _slim(before), "after": _slim(after)})
        except Exception:  # noqa: BLE001 - one broken case must not sink the others
            return Outcome(case.name, case.klass, case.rules, "error", traceback.format_exc(), "",
                           time.monotonic() - start)
        finally:
            if tags:
                _docker("rmi", "-f", *tags, timeout=120)


def _slim(builds: dict) -> dict:
    return {df: {"built": e["built"], "obs": e["obs"]} for df, e in builds.items()}


def run_differential(cases: list[Case], jobs: int = 3, progress=None) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for o in pool.map(differential, cases):
            results[o.case] = o
            if progress:
                progress(o)
    return results


# -- figures ------------------------------------------------------------------------------------------
def summary_lines(outcomes: list[Outcome]) -> list[str]:
    by_class: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_class[o.klass][o.status] += 1
    total = Counter(o.status for o in outcomes)
    rewrites = sum(1 for o in outcomes if o.status in ("same", "changed"))
    lines = [
        f"adversarial Docker tier: {len(outcomes)} cases; {rewrites} safe rewrites built and compared; "
        f"{total['changed']} changed behaviour (target 0); {total['unchanged-rewrite']} left the project "
        f"unchanged; {total['case-broken']} case(s) broken here; {total['error']} error(s)",
        f"{'class':<20} {'cases':>5} {'same':>5} {'changed':>8} {'unchanged':>10} {'broken':>7} {'error':>6}",
    ]
    for k in sorted(by_class):
        c = by_class[k]
        lines.append(f"{k:<20} {sum(c.values()):>5} {c['same']:>5} {c['changed']:>8} {c['unchanged-rewrite']:>10} "
                     f"{c['case-broken']:>7} {c['error']:>6}")
    for o in sorted(outcomes, key=lambda o: (o.status != "changed", o.case)):
        if o.status not in ("same", "unchanged-rewrite"):
            first = (o.detail.splitlines() or [""])[0]
            lines.append(f"  {o.status:<8} {o.case} [{','.join(o.rules)}]: {first[:220]}")
    return lines
