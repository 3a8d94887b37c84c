"""BuildKit's own build checks (``docker build --check``) on both Dockerfiles of a measurement.

Build checks are a Dockerfile-frontend feature (Dockerfile 1.8, BuildKit v0.15) driven by the
buildx CLI (0.15+): ``docker buildx build --call=check,format=json`` asks the frontend's
``frontend.lint`` subrequest and prints its ``LintResults`` (``{"warnings": [{"ruleName",
"description", "url", "detail", "location": {"ranges": [{"start": {"line"}}]}}], "buildError":
...}``; moby/buildkit frontend/subrequests/lint/lint.go). Exit status 1 means "warnings found", not
failure. What can run them is detected, never assumed: a docker CLI without the buildx plugin
(the classic 20.10 CLI, or a newer one without the plugin) has no ``--check``; a buildx older than
0.15 has no ``--call``; and a builder whose Dockerfile frontend predates 1.8 (Docker Engine before
27.1 without a pullable ``# syntax=`` image) answers the subrequest with an error. Each case ends
in "BuildKit build checks: not available (<why>)".

The checks may run on another engine than the builds: ``SLIMML_BUILDCHECK_HOST`` (a ``DOCKER_HOST`` URL) points
them at an engine that can (Docker 27.1+), and ``SLIMML_BUILDCHECK_DOCKER_CONFIG`` at a ``DOCKER_CONFIG`` folder
whose ``cli-plugins/`` holds the buildx plugin, for a machine where installing buildx system-wide would change how
the main CLI builds. The checks only read the Dockerfile, its ``.dockerignore`` and the FROM images' configs: that
engine needs the base images (no pull), not the build context's results.

A check is compared by rule and message, not line: the rewrite moves lines. A check the rewrite
introduced is reported; it fails verification only when the rule says the build's *meaning*
changed (MEANING_RULES: an undefined variable, a secret in ARG/ENV, a COPY of an ignored file, a
FROM argument that no longer resolves, duplicate stage names) -- style rules (casing, JSON
arguments, MAINTAINER, legacy ENV) are a warning, since slimml's standard is what the image does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .checks import FAIL, PASS, SKIP, WARN, Check, cap

TIMEOUT = 120.0
CHECK_NAME = "buildchecks"
# Rules whose report on the rewrite means it changed what the build does (or leaks a secret).
MEANING_RULES = frozenset(
    {
        "UndefinedVar",
        "UndefinedArgInFrom",
        "InvalidDefaultArgInFrom",
        "SecretsUsedInArgOrEnv",
        "CopyIgnoredFile",
        "DuplicateStageName",
        "ReservedStageName",
        "MultipleInstructionsDisallowed",
        "FromPlatformFlagConstDisallowed",
        "RedundantTargetPlatform",
        "InvalidBaseImagePlatform",
    }
)
_BUILDX_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?")
Env = dict[str, str]  # a process environment
HOST_ENV = "SLIMML_BUILDCHECK_HOST"
CONFIG_ENV = "SLIMML_BUILDCHECK_DOCKER_CONFIG"


@dataclass(frozen=True)
class BuildCheck:
    rule: str
    line: int | None
    message: str  # the detail (what is wrong here), else the rule's description
    url: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, " ".join(self.message.split())

    def text(self) -> str:
        return f"{self.rule}{f' (line {self.line})' if self.line else ''}: {self.message}"


@dataclass
class CheckRun:
    checks: list[BuildCheck] = field(default_factory=list)
    error: str = ""  # the frontend's buildError (e.g. a base image it could not resolve)


@dataclass
class BuildChecks:
    available: bool
    why: str = ""  # why the checks could not run
    tool: str = ""  # the command that ran them
    host: str = ""  # the engine that ran them, when not the builds' engine (SLIMML_BUILDCHECK_HOST)
    before: CheckRun = field(default_factory=CheckRun)
    after: CheckRun = field(default_factory=CheckRun)

    def introduced(self) -> list[BuildCheck]:
        """Checks reported on the after-file more often than on the original (by rule and message)."""
        unmatched = Counter(c.key for c in self.before.checks)  # the first N of a kind match the original's N
        out = []
        for c in self.after.checks:
            if unmatched[c.key] > 0:
                unmatched[c.key] -= 1
            else:
                out.append(c)
        return out

    def to_check(self, label: str = "rewrite") -> Check:
        """The verification check: skip (not available), pass, warn (style checks introduced) or
        fail (a check saying the build's meaning changed was introduced)."""
        if not self.available:
            return Check(CHECK_NAME, SKIP, f"BuildKit build checks: not available ({self.why})")
        new = self.introduced()
        details = {
            "tool": self.tool,
            "host": self.host or None,
            "before": [asdict(c) for c in self.before.checks],
            "after": [asdict(c) for c in self.after.checks],
            "introduced": [asdict(c) for c in new],
            "before_error": self.before.error or None,
            "after_error": self.after.error or None,
        }
        evidence = cap(
            [f"introduced by the {label}: {c.text()}" for c in new]
            + [
                f"{side}: the check stopped: {err}"
                for side, err in (("original", self.before.error), (label, self.after.error))
                if err
            ]
        )
        counts = f"{len(self.before.checks)} on the original, {len(self.after.checks)} on the {label}"
        meaning = [c for c in new if c.rule in MEANING_RULES]
        if meaning:
            status, summary = (
                FAIL,
                (
                    f"the {label} introduced BuildKit check(s) that mean the build changed: "
                    f"{', '.join(sorted({c.rule for c in meaning}))} ({counts})"
                ),
            )
        elif new:
            status, summary = (
                WARN,
                (f"the {label} introduced style check(s): {', '.join(sorted({c.rule for c in new}))} ({counts})"),
            )
        elif self.after.error and not self.before.error:
            status, summary = WARN, f"the checks could not finish on the {label} ({counts})"
        else:
            status, summary = PASS, f"none introduced by the {label} ({counts})"
        return Check(CHECK_NAME, status, summary, evidence, details)


# -- parsing ----------------------------------------------------------------------------------------------
def parse_json(text: str) -> CheckRun | None:
    """``--call=check,format=json`` output (LintResults); None when ``text`` holds no such object."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    if not isinstance(data, dict) or not ({"warnings", "buildError", "sources"} & data.keys()):
        return None
    run = CheckRun()
    for w in data.get("warnings") or []:
        if not isinstance(w, dict) or not w.get("ruleName"):
            continue
        line = None
        for r in (w.get("location") or {}).get("ranges") or []:
            line = ((r or {}).get("start") or {}).get("line")
            if line is not None:
                break
        run.checks.append(
            BuildCheck(
                str(w["ruleName"]),
                int(line) if line else None,
                str(w.get("detail") or w.get("description") or ""),
                str(w.get("url") or ""),
            )
        )
    err = data.get("buildError")
    if isinstance(err, dict):
        run.error = str(err.get("message") or "")
    elif err:
        run.error = str(err)
    return run


# " - JSONArgsRecommended: JSON arguments recommended for CMD ... (line 7)" (the build's summary) and
# "  - Lint Rule 'JSONArgsRecommended': ... (line 7)" (docs.docker.com/build/checks/).
_SUMMARY_RE = re.compile(
    r"^\s*-\s+(?:Lint Rule '(?P<q>\w+)'|(?P<r>[A-Z]\w+)):\s+(?P<msg>.*?)(?:\s+\(line (?P<line>\d+)\))?\s*$"
)
# The verbose form `--check` prints: "JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/...",
# then the description, then "Dockerfile:7" (optionally prefixed "WARNING: ").
_VERBOSE_RE = re.compile(r"^\s*(?:WARNING:\s+)?(?P<r>[A-Z]\w+) - (?P<url>https?://\S+)\s*$")
_WHERE_RE = re.compile(r"^\s*\S+:(?P<line>\d+)(?:-\d+)?\s*$")


def parse_text(text: str) -> CheckRun:
    """The human output of ``docker build --check`` (text mode), both documented shapes."""
    run = CheckRun()
    lines = text.splitlines()
    seen_verbose = False
    i = 0
    while i < len(lines):
        m = _VERBOSE_RE.match(lines[i])
        if m:
            seen_verbose = True
            desc = lines[i + 1].strip() if i + 1 < len(lines) else ""
            line = None
            if i + 2 < len(lines):
                w = _WHERE_RE.match(lines[i + 2])
                line = int(w.group("line")) if w else None
            run.checks.append(BuildCheck(m.group("r"), line, desc, m.group("url")))
            i += 3
            continue
        i += 1
    if seen_verbose:
        return run
    for raw in lines:
        m = _SUMMARY_RE.match(raw)
        if m:
            rule = m.group("q") or m.group("r")
            line = int(m.group("line")) if m.group("line") else None
            run.checks.append(BuildCheck(rule, line, m.group("msg").strip()))
    for raw in lines:
        if raw.startswith("ERROR:") and "lint violation" not in raw:
            run.error = raw[len("ERROR:") :].strip()
    return run


# -- capability and running -------------------------------------------------------------------------------
class Unavailable(Exception):
    pass


def _run(argv: list[str], env: Env, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def checks_environ(environ: Env | None = None) -> tuple[Env, str]:
    """The environment the checks run in, and the engine they run on when it is not the builds' engine:
    ``SLIMML_BUILDCHECK_HOST`` becomes ``DOCKER_HOST`` (a ``DOCKER_CONTEXT`` would override it, so it goes) and
    ``SLIMML_BUILDCHECK_DOCKER_CONFIG`` becomes ``DOCKER_CONFIG`` (where the CLI finds the buildx plugin)."""
    env = dict(os.environ if environ is None else environ)
    host = env.get(HOST_ENV, "").strip()
    if host:
        env["DOCKER_HOST"] = host
        env.pop("DOCKER_CONTEXT", None)
    config = env.get(CONFIG_ENV, "").strip()
    if config:
        env["DOCKER_CONFIG"] = config
    return env, host


def probe_host(cli: str, host: str, env: Env) -> str:
    """The server version of the engine at ``host``; Unavailable (saying why) when it does not answer."""
    try:
        r = _run([cli, "version", "--format", "{{.Server.Version}}"], env, 20)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"the engine at {HOST_ENV}={host} did not answer within 20 s") from None
    except OSError as e:
        raise Unavailable(f"cannot run {cli}: {e}") from None
    version = r.stdout.strip()
    if r.returncode != 0 or not version:
        last = [x.strip() for x in (r.stderr or r.stdout).splitlines() if x.strip()][-1:] or [f"exit {r.returncode}"]
        raise Unavailable(f"the engine at {HOST_ENV}={host} did not answer: {last[0][:300]}")
    return version


def find_checker(environ: Env | None = None, builder: str | None = None) -> list[str]:
    """argv prefix of a CLI that can run ``--call=check``; raises Unavailable with the reason."""
    from .engine import _cli_candidates, cli_version

    env = dict(os.environ if environ is None else environ)
    cands = _cli_candidates(env)
    if not cands:
        raise Unavailable("no docker CLI on PATH")
    seen = []
    for c in cands:
        try:
            v = _run([c, "buildx", "version"], env, 20)
        except (OSError, subprocess.SubprocessError) as e:
            seen.append(f"{c}: {type(e).__name__}")
            continue
        if v.returncode != 0:
            ver = cli_version(c, env)
            shown = ".".join(map(str, ver)) if ver else "unknown version"
            seen.append(f"{c} ({shown}) has no buildx plugin")
            continue
        m = _BUILDX_VERSION_RE.search(v.stdout.split("\n", 1)[0].split(" ", 1)[-1])
        bx = (int(m.group(1)), int(m.group(2))) if m else None
        if bx is not None and bx < (0, 15):
            seen.append(f"{c}: buildx {bx[0]}.{bx[1]} predates build checks (0.15)")
            continue
        return [c, "buildx", "build", *(["--builder", builder] if builder else [])]
    raise Unavailable(
        "`docker build --check` needs the buildx plugin 0.15 or later and a Dockerfile frontend 1.8 or "
        "later (BuildKit v0.15, Docker Engine 27.1); " + "; ".join(seen)
    )


def check_one(
    prefix: list[str], context: str, dockerfile: str, environ: Env | None = None, timeout: float = TIMEOUT
) -> CheckRun:
    env = {**(os.environ if environ is None else environ), "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
    argv = [*prefix, "--call=check,format=json", "--progress=quiet", "-f", dockerfile, context]
    try:
        r = _run(argv, env, timeout)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"`{' '.join(argv[:4])}` did not answer within {timeout:.0f} s") from None
    except OSError as e:
        raise Unavailable(f"cannot run {argv[0]}: {e}") from None
    parsed = parse_json(r.stdout)
    if parsed is None:
        text = parse_text(r.stdout + "\n" + r.stderr)
        if text.checks:
            return text
        raise Unavailable(_no_checks_reason(r.stdout + "\n" + r.stderr, r.returncode))
    return parsed


def _no_checks_reason(output: str, status: int) -> str:
    """Why a check run printed no results: the builder's last error, explained when it is the known one."""
    lines = [x.strip() for x in output.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("ERROR:")]
    last = (errors or [x for x in lines if not x.startswith("#")] or [f"exit status {status}"])[-1]
    if "unsupported request frontend.lint" in output:
        # Recorded with buildx 0.29.1 on Docker Engine 20.10 (BuildKit v0.8): buildx falls back to the
        # docker/dockerfile:1.8.1 frontend image, which needs a registry the builder can reach.
        pulled = "registry" in output or "resolve image config" in output
        return (
            "the builder's Dockerfile frontend has no lint subrequest (it predates Dockerfile 1.8)"
            + (" and the docker/dockerfile frontend image buildx falls back to could not be fetched" if pulled else "")
            + f": {last[:300]}"
        )
    return f"the builder did not run the checks: {last[:300]}"


def run_checks(
    before: tuple[str, str],
    after: tuple[str, str],
    environ: Env | None = None,
    builder: str | None = None,
    timeout: float = TIMEOUT,
) -> BuildChecks:
    """Run the checks on (context, dockerfile) of both sides; never raises for a missing capability.
    On the engine ``SLIMML_BUILDCHECK_HOST`` names, when set (``builder``, a builder of the builds' engine, is
    then not used)."""
    env, host = checks_environ(environ)
    try:
        prefix = find_checker(env, None if host else builder)
        where = f"Docker {probe_host(prefix[0], host, env)} at {host}" if host else ""
        b = check_one(prefix, *before, environ=env, timeout=timeout)
        a = check_one(prefix, *after, environ=env, timeout=timeout)
    except Unavailable as e:
        return BuildChecks(False, str(e), host=host)
    if b.error and a.error and not (b.checks or a.checks):
        # Neither file got as far as the checks (typically a FROM image the checking engine does not have).
        why = f"the checks stopped on both files: {a.error[:300]}" + (f" (on {where})" if where else "")
        return BuildChecks(False, why, host=host)
    tool = " ".join(prefix[1:]) + " --call=check,format=json" + (f" on {where}" if where else "")
    return BuildChecks(True, tool=tool, host=host, before=b, after=a)


def _engine_note(engine_version: str | None) -> str:
    m = _BUILDX_VERSION_RE.match(engine_version or "")
    if m and (int(m.group(1)), int(m.group(2))) < (27, 1):
        return (
            f"; the engine is Docker {engine_version}, whose built-in Dockerfile frontend predates build checks "
            f"(a `# syntax=docker/dockerfile:1.8` image would have to be pulled, or {HOST_ENV} name an engine that can)"
        )
    return ""


def attach(
    report: Any, plan: Any, environ: Env | None = None, builder: str | None = None, engine_version: str | None = None
) -> BuildChecks:
    """Run the checks for a measurement and add them to its verification (or its notes when there is
    none): a check the rewrite introduced warns or fails it, as ``BuildChecks.to_check`` says."""
    from .engine import EXIT_FAIL, EXIT_OK

    bc = run_checks(
        (str(plan.before_context), str(plan.before_dockerfile)),
        (str(plan.after_context), str(plan.after_dockerfile)),
        environ,
        builder,
    )
    if not bc.available and not bc.host:  # the builds' engine was asked: say why it cannot
        bc.why += _engine_note(engine_version)
    label = "other Dockerfile" if getattr(plan, "other", None) is not None else "rewrite"
    check = bc.to_check(label)
    v = report.verification
    if v is None:
        report.notes.append(check.summary)
        return bc
    v.checks.append(check)
    report.exit_code = EXIT_OK if v.verdict == "PASS" else EXIT_FAIL
    return bc
