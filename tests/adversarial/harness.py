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

import filecmp
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CASES_DIR = Path(__file__).resolve().parent
REPO = CASES_DIR.parent.parent
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
MAX_RUN_BYTES = 64 * 1024  # issue 10: no merged RUN over 64 KiB of shell text
DEFAULT_TIME_LIMIT = 60.0  # seconds per slimml run; hang cases set their own, lower limit

CLASSES = {
    "apt-lists": "apt package lists removed while a later step (or the container) still needs them",
    "apt-yes": "`-y` added where the prompt's abort was the behaviour",
    "merge-runs": "merged RUNs: argument limit, errexit, shell state, SHELL",
    "merge-expensive": "separately cached heavy source builds merged into one RUN",
    "deps-before-source": "early manifest COPY misses what the installer reads (env, config, files)",
    "pip-cache": "cache flags/removal that break the installer or its environment",
    "python-env": "PYTHONDONTWRITEBYTECODE/PYTHONUNBUFFERED where they change the image",
    "dockerignore": ".dockerignore exclusions of files the build or the app reads",
    "context": ".dockerignore written where the build never reads it",
    "secrets": "secret values printed; secret mounts",
    "non-convergence": "fixes that fire on their own output",
    "hang": "analysis time exploding on one line",
    "invalid": "files BuildKit rejects must exit 2",
    "unsafe-known-break": "unsafe fixes that slimml itself can know will break a step",
    "messy": "real-world formatting: case, CRLF, comments in continuations, heredocs, several Dockerfiles",
}


# -- cases --------------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    dir: Path
    conf: dict

    @property
    def description(self) -> str:
        return self.conf["description"]

    @property
    def klass(self) -> str:
        return self.conf["class"]

    @property
    def rules(self) -> list[str]:
        return list(self.conf.get("rules", []))

    @property
    def dockerfiles(self) -> list[str]:
        return list(self.conf.get("dockerfiles", ["Dockerfile"]))

    @property
    def fix_paths(self) -> list[str]:
        return list(self.conf.get("fix", self.dockerfiles))

    @property
    def context(self) -> str:
        return self.conf.get("context", ".")

    @property
    def expect(self) -> dict:
        return self.conf.get("expect", {})

    @property
    def docker(self) -> dict:
        return self.conf.get("docker", {})

    @property
    def time_limit(self) -> float:
        return float(self.expect.get("time_limit", DEFAULT_TIME_LIMIT))

    @property
    def invalid(self) -> bool:
        return bool(self.expect.get("invalid", False))


_KNOWN_TOP = {"description", "class", "rules", "dockerfiles", "fix", "context", "git", "migrate", "generate",
              "expect", "docker"}
_KNOWN_EXPECT = {"invalid", "time_limit", "not_safe", "applied", "not_offered", "forbid", "require",
                 "unsafe_forbid", "unsafe_require", "kept", "unsafe_kept", "absent", "side_unchanged", "secrets",
                 "copied_before", "note"}
_KNOWN_DOCKER = {"original_builds", "run", "args", "env", "probes", "config", "build_args", "child", "parent",
                 "parent_arg", "timeout", "stderr", "note"}


def load_cases(pattern: str | None = None) -> list[Case]:
    cases = []
    for d in sorted(p for p in CASES_DIR.iterdir() if p.is_dir() and (p / "case.toml").is_file()):
        conf = tomllib.loads((d / "case.toml").read_text(encoding="utf-8"))
        _validate(d.name, conf)
        if pattern is None or pattern in d.name:
            cases.append(Case(d.name, d, conf))
    return cases


def _validate(name: str, conf: dict) -> None:
    """A typo in a case.toml would silently drop an expectation: refuse unknown keys."""
    for table, known in ((conf, _KNOWN_TOP), (conf.get("expect", {}), _KNOWN_EXPECT),
                         (conf.get("docker", {}), _KNOWN_DOCKER)):
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{name}/case.toml: unknown key(s) {sorted(unknown)}")
    if "description" not in conf or conf.get("class") not in CLASSES:
        raise ValueError(f"{name}/case.toml: needs a description and a class from {sorted(CLASSES)}")


def prepare(case: Case, dest: Path) -> Path:
    """A working copy of the case (without case.toml): generated files made, a git repository
    when the case asks for one (committing what .gitignore does not hide)."""
    shutil.copytree(case.dir, dest, symlinks=True, ignore=shutil.ignore_patterns("case.toml", "__pycache__"))
    for g in case.conf.get("generate", []):
        p = dest / g["path"]
        p.parent.mkdir(parents=True, exist_ok=True)
        if "text" in g:
            p.write_text(g["text"] * int(g.get("repeat", 1)), encoding="utf-8")
        else:
            with open(p, "wb") as fh:  # sparse-free, deterministic content
                block = bytes(range(256)) * 4096
                left = int(g["bytes"])
                while left > 0:
                    fh.write(block[:left])
                    left -= len(block)
    if case.conf.get("git") or case.conf.get("migrate"):
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
               "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"],
                     ["tag", "v1.2.3"]):
            subprocess.run(["git", *args], cwd=dest, check=True, env=env, capture_output=True)
    return dest


# -- running slimml in process (forked, with a time limit) ----------------------------------------------
def _summarise(reports, root: Path) -> dict:
    from slimml.engine import Applicability

    files = []
    for rep in reports:
        entry = {"path": _rel(rep.path, root), "error": rep.error, "changed": rep.changed}
        r = rep.result
        if r is not None:
            entry.update(
                original=r.original, output=r.output,
                applied=[{"code": f.code, "unsafe": f.fix.applicability is Applicability.UNSAFE,
                          "description": f.fix.description, "reason": f.fix.reason, "message": f.message}
                         for f in r.applied],
                unsafe_available=[{"code": f.code, "description": f.fix.description, "reason": f.fix.reason}
                                  for f in r.unsafe_available],
                nofix=[{"code": f.code, "message": f.message, "note": f.note} for f in r.remaining if f.fix is None],
                nonconverged=list(r.nonconverged), reverted=sorted(set(r.reverted)),
                side_files={_rel(Path(p), root): [b, a] for p, (b, a) in r.side_files.items()},
                context=str(rep.context_dir) if rep.context_dir else None,
            )
        files.append(entry)
    return {"files": files}


def _rel(p: Path, root: Path) -> str:
    try:
        return Path(os.path.abspath(p)).relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(p)


def _child(conn, root: str, paths: list[str], unsafe: bool, write: bool) -> None:
    try:
        os.chdir(root)
        from slimml.runner import Options, run_fix

        start = time.monotonic()
        reports = run_fix([Path(p) for p in paths], Options(write=write, unsafe_fixes=unsafe))
        out = _summarise(reports, Path(root))
        out["elapsed"] = time.monotonic() - start
        conn.send(out)
    except BaseException:  # noqa: BLE001 - reported to the parent as a failure of slimml
        conn.send({"crash": traceback.format_exc()})
    finally:
        conn.close()


def _warm() -> None:
    """Import slimml and its rules once in the parent, so every forked run starts warm."""
    from slimml.rules import all_rules
    from slimml.runner import run_fix  # noqa: F401

    all_rules()


def run_slimml(root: Path, paths: list[str], unsafe: bool, write: bool, time_limit: float) -> dict:
    """``slimml fix`` in process (runner.run_fix) in a forked child; {"timeout": s} when it overran."""
    _warm()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, str(root), paths, unsafe, write), daemon=True)
    proc.start()
    child.close()
    if not parent.poll(time_limit):
        proc.kill()
        proc.join()
        return {"timeout": time_limit}
    try:
        out = parent.recv()
    except EOFError:
        out = {"crash": f"child exited with {proc.exitcode} without a result"}
    proc.join()
    return out


def run_cli(root: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess | None:
    """The real command line (a fresh interpreter); None when it overran ``timeout``."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    try:
        return subprocess.run([sys.executable, "-m", "slimml.cli", *args], cwd=root, capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None


# -- .dockerignore, as Docker reads it (an independent oracle, not slimml's own matcher) ----------------
def _ignore_regex(pattern: str) -> re.Pattern:
    """moby/patternmatcher: ``**`` any depth, ``*`` and ``?`` within one path element."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                if i + 1 == len(pattern):
                    out += ".*"
                else:
                    out += "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(ch)
            else:
                out += pattern[i:j + 1]
                i = j
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


def dockerignore_excludes(text: str, path: str) -> bool:
    """Whether ``path`` (relative to the context) is left out by an ignore file's ``text``."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        if neg:
            line = line[1:].strip()
        pat = os.path.normpath(line)
        if pat.startswith("/") and len(pat) > 1:
            pat = pat[1:]
        if pat == ".":
            continue
        rules.append((neg, pat, _ignore_regex(pat)))
    parts = path.split("/")
    excluded = False
    for neg, pat, rx in rules:
        hit = bool(rx.match(path))
        if not hit:
            depth = len(pat.split("/"))
            for k in range(1, min(depth, len(parts) - 1) + 1):
                if rx.match("/".join(parts[:k])):
                    hit = True
                    break
        if hit:
            excluded = not neg
    return excluded


def ignore_file_for(root: Path, case: Case, dockerfile: str) -> Path:
    df = root / dockerfile
    own = df.with_name(df.name + ".dockerignore")
    return own if own.is_file() else root / case.context / ".dockerignore"


# -- static tier ------------------------------------------------------------------------------------------
def _buildkit_problem(text: str) -> str | None:
    import dockerfile

    try:
        dockerfile.parse_string(text)
    except dockerfile.GoParseError as e:
        return f"BuildKit cannot parse the rewrite: {e}"
    return None


def _boundaries_problem(text: str) -> str | None:
    sys.path.insert(0, str(REPO))
    from tests.oracle import buildkit_boundaries, our_boundaries

    try:
        ours, theirs = our_boundaries(text), buildkit_boundaries(text)
    except Exception as e:  # noqa: BLE001
        return f"instruction boundaries could not be compared: {e}"
    if ours != theirs:
        return f"slimml and BuildKit disagree on the rewrite's instructions: {ours} vs {theirs}"
    return None


def _run_texts(text: str) -> list[tuple[int, int]]:
    """(line, bytes of shell text) of every RUN, as BuildKit reads it."""
    import dockerfile

    out = []
    try:
        for c in dockerfile.parse_string(text):
            if c.cmd.upper() == "RUN":
                out.append((c.start_line, len(" ".join(c.value).encode())))
    except dockerfile.GoParseError:
        pass
    return out


def _covers(src: str, rel: str) -> bool:
    """Whether a COPY source (as written, context-relative) brings context file ``rel`` along."""
    import fnmatch

    s = src.strip()
    while s.startswith("./"):
        s = s[2:]
    s = s.lstrip("/").rstrip("/")
    if s in ("", "."):
        return True
    parts = rel.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    if any(ch in s for ch in "*?["):
        return any(fnmatch.fnmatchcase(p, s) for p in prefixes)
    return s in prefixes


def copied_before_problems(text: str, spec: dict) -> list[str]:
    """The first RUN matching ``spec["run"]`` must come after COPY/ADD instructions that bring
    every file in ``spec["files"]`` (what the installer reads) into the image."""
    import dockerfile

    try:
        cmds = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return []
    sources: list[str] = []
    for c in cmds:
        kw = c.cmd.upper()
        if kw == "RUN" and re.search(spec["run"], c.original):
            missing = [f for f in spec["files"] if not any(_covers(x, f) for x in sources)]
            if missing:
                return [f"line {c.start_line}: `{c.original[:120]}` runs before {', '.join(missing)} "
                        f"(which it reads) is copied"]
            return []
        if kw in ("COPY", "ADD") and not any(f.lower().startswith("--from") for f in c.flags):
            sources.extend(c.value[:-1])
    return [f"no RUN matches {spec['run']!r} any more"]


def _fixes(summary: dict, unsafe: bool | None = None) -> list[tuple[str, dict]]:
    return [(f["path"], a) for f in summary["files"] for a in f.get("applied", [])
            if unsafe is None or a["unsafe"] == unsafe]


def _mode_problems(case: Case, root: Path, summary: dict, mode: str) -> list[str]:
    """Invariants of one run (``mode`` is "default" or "unsafe") and the case's expectations on it."""
    p: list[str] = []
    if "timeout" in summary:
        return [f"{mode}: slimml did not finish within {summary['timeout']:.0f} s"]
    if "crash" in summary:
        return [f"{mode}: slimml crashed:\n{summary['crash']}"]
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
            if _buildkit_problem(f["original"]) is None:
                for q in (_buildkit_problem(f["output"]), _boundaries_problem(f["output"])):
                    if q:
                        p.append(f"{mode}: {f['path']}: {q}")
            # A RUN the author wrote may be long; a rewrite may not make a longer one past the cap.
            limit = max([MAX_RUN_BYTES] + [n for _, n in _run_texts(f["original"])])
            for line, n in _run_texts(f["output"]):
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
                p.append(f"{mode}: {_rel(ign, root)} now excludes `{rel}`, which the build or the app reads")
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
        return [f"{mode}: second run: " + (f"timed out" if "timeout" in again else again["crash"])]
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
                p.append(f"migrate: {_rel(ign, root)} now excludes `{rel}`, which the build or the app reads "
                         f"(present in the checkout, hidden by .gitignore)")
    return p


def settle_git(root: Path) -> None:
    """After a rewrite of a git case: commit it and move the release tag onto it, as a project
    does when it ships the change (so `git describe`/setuptools-scm give the same version)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, capture_output=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "slimml"], cwd=root, capture_output=True, env=env)
    subprocess.run(["git", "tag", "-f", "v1.2.3"], cwd=root, check=True, capture_output=True, env=env)


def apply_migrate(root: Path, work: Path, timeout: float) -> str | None:
    """``slimml migrate`` on the repository at ``root``, its branch checked out there (gitignored
    files stay on disk, as in a developer's or CI's checkout). Returns an error or None."""
    work.mkdir(parents=True, exist_ok=True)
    r = run_cli(root, ["migrate", str(root), "--workdir", str(work), "-q", "-j", "1"], timeout=timeout * 4)
    if r is None:
        return "did not finish"
    if r.returncode not in (0, 1):
        return f"exited {r.returncode}: {r.stderr.strip()[-500:]}"
    branches = subprocess.run(["git", "branch", "--list", "slimml/slim-images"], cwd=root, capture_output=True,
                              text=True).stdout
    if branches.strip():
        subprocess.run(["git", "checkout", "-q", "slimml/slim-images"], cwd=root, check=True, capture_output=True)
    return None


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
