"""The cases of the adversarial suite: what a case.toml may say, a working copy of a case, and
slimml run on it (in process in a forked child with a time limit, or through the real CLI)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CASES_DIR = Path(__file__).resolve().parent
REPO = CASES_DIR.parent.parent
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
        entry = {"path": rel_to(rep.path, root), "error": rep.error, "changed": rep.changed}
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
                side_files={rel_to(Path(p), root): [b, a] for p, (b, a) in r.side_files.items()},
                context=str(rep.context_dir) if rep.context_dir else None,
            )
        files.append(entry)
    return {"files": files}


def rel_to(p: Path, root: Path) -> str:
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
    import importlib

    importlib.import_module("slimml.runner")
    importlib.import_module("slimml.rules").all_rules()


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
