"""The steps of slimml's GitHub Action (action.yml at the repository root), as one script with a subcommand per step.

Kept out of action.yml so the steps can be run (and tested) outside GitHub: every input arrives in an environment
variable (INPUT_*, set by action.yml from `inputs.*`, never interpolated into a shell), every result goes where GitHub
reads it (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH, workflow commands on stdout).

  install   a private virtualenv under RUNNER_TEMP with slimml (by default the version of this action), on GITHUB_PATH
  run       mode=check: SARIF for code scanning and/or `--format github` annotations;
            mode=fix: `slimml fix --check --diff` (the diff in the log and the job summary) plus annotations
  measure   on a pull request: `slimml measure` for each Dockerfile it adds or changes, tables to the job summary
  finish    exit with the code `run` recorded (after the SARIF upload, so findings are uploaded and still fail the job)

Standard library only: this runs on whatever Python the runner has, before slimml is installed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ACTION_ROOT = Path(__file__).resolve().parents[2]
# The files `slimml fix DIR` discovers (the same patterns as the pre-commit hooks in .pre-commit-hooks.yaml).
DOCKERFILE_RE = re.compile(r"(?i)(^|/)((dockerfile|containerfile)(\.[^/]*)?|[^/]*\.(dockerfile|containerfile))$")
NOT_DOCKERFILE_RE = re.compile(
    r"(?i)\.(dockerignore|md|rst|txt|orig|rej|bak|swp|j2|jinja2?|tmpl|tpl|template|in|erb|mustache|sh|py|json|ya?ml)$"
)
PR_EVENTS = ("pull_request", "pull_request_target")


class ActionError(Exception):
    """Bad input or an unusable environment: one line for the log (as a workflow ::error), exit 2."""


# -- GitHub's files and workflow commands -------------------------------------------------------------------------
def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _input(name: str, default: str = "") -> str:
    return _env("INPUT_" + name.upper().replace("-", "_"), default).strip() or default


def _flag(name: str, default: bool) -> bool:
    value = _input(name, "true" if default else "false").lower()
    if value not in ("true", "false"):
        raise ActionError(f"input {name}: expected true or false, got {value!r}")
    return value == "true"


def _append(var: str, text: str) -> None:
    path = _env(var)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def set_output(name: str, value: str) -> None:
    if "\n" in value:  # GitHub's multi-line syntax, with a delimiter the value cannot contain
        delim = "slimml_EOF"
        while delim in value:
            delim += "_"
        _append("GITHUB_OUTPUT", f"{name}<<{delim}\n{value}\n{delim}\n")
    else:
        _append("GITHUB_OUTPUT", f"{name}={value}\n")


def summary(markdown: str) -> None:
    _append("GITHUB_STEP_SUMMARY", markdown if markdown.endswith("\n") else markdown + "\n")


def _command_escape(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotate(level: str, message: str, title: str = "slimml") -> None:
    print(f"::{level} title={title}::{_command_escape(message)}", flush=True)


def _words(name: str) -> list[str]:
    try:
        return shlex.split(_input(name))
    except ValueError as e:
        raise ActionError(f"input {name}: {e}") from None


def _paths() -> list[str]:
    raw = _input("paths", ".")
    try:
        paths = [w for line in raw.splitlines() for w in shlex.split(line)]
    except ValueError as e:
        raise ActionError(f"input paths: {e}") from None
    return paths or ["."]


def _slimml() -> list[str]:
    exe = shutil.which("slimml")
    if exe is None:
        raise ActionError("slimml is not on PATH (the install step puts it there; set install: true)")
    return [exe]


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, text=True, **kw)


# -- install -------------------------------------------------------------------------------------------------------
def action_version(root: Path = ACTION_ROOT) -> str:
    """slimml.__version__ of this action's own checkout (the version the action is released with)."""
    m = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", (root / "slimml" / "__init__.py").read_text(), re.M)
    if m is None:
        raise ActionError(f"no __version__ in {root / 'slimml' / '__init__.py'}")
    return m.group(1)


def install_spec(version: str, root: Path = ACTION_ROOT) -> str:
    """What pip installs for the `version` input: empty -> this action's version; `latest` -> the newest release;
    `source` -> this action's own checkout; a bare version (0.2.0) -> slimml==0.2.0; anything else is a pip
    requirement as written (slimml>=0.2, a git+https:// URL, a path)."""
    v = version.strip()
    if not v:
        return f"slimml=={action_version(root)}"
    if v == "latest":
        return "slimml"
    if v == "source":
        return str(root)
    if re.fullmatch(r"v?\d+(\.\d+)*([a-z]+\d+)?(\.post\d+)?(\.dev\d+)?", v):
        return f"slimml=={v.removeprefix('v')}"
    if v.startswith("-"):
        raise ActionError(f"input version: {v!r} is an option, not a requirement (use pip-args for pip options)")
    return v


def cmd_install() -> int:
    spec = install_spec(_input("version"))
    home = Path(_env("SLIMML_ACTION_VENV") or Path(_env("RUNNER_TEMP") or "/tmp") / "slimml-action-venv")
    print(f"installing {spec} into {home}", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    bindir = home / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    cp = _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *_words("pip-args"), spec])
    if cp.returncode != 0:
        raise ActionError(f"pip could not install {spec} (see the log above)")
    cp = _run([str(bindir / "slimml"), "--version"], capture_output=True)
    if cp.returncode != 0:
        raise ActionError(f"the installed slimml does not run: {(cp.stderr or cp.stdout).strip()[-300:]}")
    _append("GITHUB_PATH", f"{bindir}\n")
    version = cp.stdout.strip().rsplit(" ", 1)[-1]
    set_output("version", version)
    print(f"slimml {version} installed", flush=True)
    return 0


# -- run -----------------------------------------------------------------------------------------------------------
def _sarif_results(path: Path) -> int:
    try:
        return sum(len(run.get("results") or []) for run in json.loads(path.read_text())["runs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


# A finding's annotation (`slimml check --format github`): ::error / ::warning / ::notice by the finding's severity,
# titled with its rule code; a file that could not be checked is an ::error titled `slimml`.
_FINDING_ANNOTATION = re.compile(r"^::(?:error|warning|notice) (?:[^:\n]*,)?title=SLM\d+[^:\n]*::", re.M)


def finding_annotations(stdout: str) -> list[str]:
    return [m.group(0) for m in _FINDING_ANNOTATION.finditer(stdout)]


def cmd_run() -> int:
    mode = _input("mode", "check")
    if mode not in ("check", "fix"):
        raise ActionError(f"input mode: expected check or fix, got {mode!r}")
    paths, args = _paths(), _words("args")
    annotations = _flag("annotations", True)
    slimml = _slimml()
    if _flag("changed-only", False) and _env("GITHUB_EVENT_NAME", "pull_request") in PR_EVENTS:
        base = pr_base()
        if base is not None:
            paths = within(changed_dockerfiles(base), paths)
            if not paths:
                print("the pull request changes no Dockerfile under the paths given: nothing to check", flush=True)
                summary(f"### slimml {mode}\n\nThe pull request changes no Dockerfile: nothing to check.\n")
                set_output("findings", "0")
                set_output("exit-code", "0")
                return 0
    if mode == "check":
        sarif = _input("sarif-file", "slimml.sarif") if _flag("sarif", True) else None
        if sarif is None and not annotations:
            raise ActionError("mode check with sarif: false and annotations: false reports nothing")
        code = findings = None
        if sarif is not None:
            code = _run([*slimml, "check", "--format", "sarif", "--output", sarif, *args, "--", *paths]).returncode
            if Path(sarif).is_file():
                set_output("sarif-file", sarif)
                findings = _sarif_results(Path(sarif))
        if annotations:
            cp = _run([*slimml, "check", "--format", "github", *args, "--", *paths], stdout=subprocess.PIPE)
            print(cp.stdout, end="", flush=True)
            if code is None:
                code, findings = cp.returncode, len(finding_annotations(cp.stdout))
        where = ", ".join(f"`{p}`" for p in paths)
        text = f"### slimml check\n\n{findings or 0} finding(s) in {where}"
        text += f"; SARIF for code scanning in `{sarif}`.\n" if findings is not None and sarif else ".\n"
        if code not in (0, 1):
            text += (
                f"\nslimml exited with code {code}: a file could not be checked or an option is wrong (see the log).\n"
            )
        summary(text)
        set_output("findings", str(findings or 0))
    else:
        fix_args = _words("fix-args")
        cp = _run([*slimml, "fix", "--check", "--diff", *args, *fix_args, "--", *paths], capture_output=True)
        code = cp.returncode
        diff = cp.stdout or ""
        print(diff, end="", flush=True)
        print(cp.stderr or "", end="", file=sys.stderr, flush=True)
        files = [line[4:].split("\t")[0].removeprefix("b/") for line in diff.splitlines() if line.startswith("+++ ")]
        set_output("changed-files", "\n".join(files))
        if code == 1:
            fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", diff)), default=0))  # longer than any in it
            summary(
                f"### slimml fix\n\n{len(files)} file(s) would change; run "
                f"`{shlex.join(['slimml', 'fix', '--write', *args, *fix_args, *paths])}` and commit the result.\n\n"
                f"<details><summary>Diff</summary>\n\n{fence}diff\n{diff.rstrip(chr(10))}\n{fence}\n\n</details>\n"
            )
        elif code == 0:
            summary("### slimml fix\n\nNothing to fix.\n")
        else:
            summary(f"### slimml fix\n\nslimml exited with code {code}; see the log.\n")
        if annotations:
            cp = _run(
                [*slimml, "check", "--format", "github", "--exit-zero", *args, "--", *paths], stdout=subprocess.PIPE
            )
            print(cp.stdout or "", end="", flush=True)
            set_output("findings", str(len(finding_annotations(cp.stdout or ""))))
    set_output("exit-code", str(code))
    if code not in (0, 1):
        annotate("error", f"slimml {mode} exited with code {code} (bad input, or a Dockerfile it could not read)")
    return 0  # the `finish` step fails the job, after the SARIF upload


def cmd_finish() -> int:
    code = _input("exit-code", "0")
    if not code.isdigit():
        raise ActionError(f"exit-code: {code!r}")
    if int(code) == 1 and not _flag("fail-on-findings", True):
        return 0
    return int(code)


# -- measure -------------------------------------------------------------------------------------------------------
def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=_env("GITHUB_WORKSPACE") or None)


def _event() -> dict:
    path = _env("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ActionError(f"GITHUB_EVENT_PATH {path}: {e}") from None


def pr_base() -> str | None:
    """The commit the pull request is compared with: the event's base SHA (fetched when the checkout is shallow),
    else origin/GITHUB_BASE_REF. None when this is not a pull request."""
    event = _event()
    sha = ((event.get("pull_request") or {}).get("base") or {}).get("sha")
    if sha:
        if _git("cat-file", "-e", f"{sha}^{{commit}}").returncode != 0:
            _git("fetch", "--no-tags", "--depth=1", "origin", sha)
        if _git("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0:
            return sha
    ref = _env("GITHUB_BASE_REF")
    if ref:
        if _git("rev-parse", "--verify", "-q", f"origin/{ref}").returncode != 0:
            _git("fetch", "--no-tags", "--depth=1", "origin", f"+refs/heads/{ref}:refs/remotes/origin/{ref}")
        if _git("rev-parse", "--verify", "-q", f"origin/{ref}").returncode == 0:
            return f"origin/{ref}"
    if sha or ref:
        raise ActionError("cannot find the pull request's base commit; check out with fetch-depth: 0")
    return None


def changed_dockerfiles(base: str) -> list[str]:
    """Dockerfiles the pull request adds, modifies, renames or copies (deleted ones cannot be measured), relative to
    the workspace: against the merge base when the history has one, else against the base commit itself."""
    cp = _git("diff", "--name-only", "-z", "--no-renames", "--diff-filter=ACMR", f"{base}...HEAD")
    if cp.returncode != 0:  # shallow: no merge base
        cp = _git("diff", "--name-only", "-z", "--no-renames", "--diff-filter=ACMR", base, "HEAD")
    if cp.returncode != 0:
        raise ActionError(f"git diff against {base} failed: {cp.stderr.strip()[-300:]}")
    names = [n for n in cp.stdout.split("\0") if n]
    return sorted(n for n in names if DOCKERFILE_RE.search(n) and not NOT_DOCKERFILE_RE.search(n))


def within(files: list[str], paths: list[str]) -> list[str]:
    """The workspace-relative ``files`` that are one of ``paths`` or inside one of them."""
    roots = [os.path.normpath(p).replace(os.sep, "/") for p in paths]
    return [f for f in files if any(r == "." or f == r or f.startswith(r.rstrip("/") + "/") for r in roots)]


def cmd_measure() -> int:
    event_name = _env("GITHUB_EVENT_NAME")
    if event_name and event_name not in PR_EVENTS:
        print(f"measure: not a pull request ({event_name}); nothing to measure", flush=True)
        set_output("measured", "0")
        return 0
    base = pr_base()
    if base is None:
        print("measure: no pull request base (GITHUB_EVENT_PATH / GITHUB_BASE_REF); nothing to measure", flush=True)
        set_output("measured", "0")
        return 0
    files = changed_dockerfiles(base)
    set_output("changed-dockerfiles", "\n".join(files))
    if not files:
        print("measure: the pull request changes no Dockerfile", flush=True)
        set_output("measured", "0")
        return 0
    slimml, extra = _slimml(), _words("measure-args")
    workspace = Path(_env("GITHUB_WORKSPACE") or ".")
    worst = 0
    summary(
        "## slimml measure\n\nEach Dockerfile this pull request changes, built as written (before) and as "
        "`slimml fix` rewrites it (after), then both images run and compared.\n"
    )
    for rel in files:
        cp = _run(
            [*slimml, "measure", "--format", "markdown", "--quiet", *extra, "--", rel],
            capture_output=True,
            cwd=workspace,
        )
        print(cp.stderr or "", end="", file=sys.stderr, flush=True)
        worst = max(worst, cp.returncode)
        if cp.stdout.strip():
            summary(cp.stdout)
        else:  # no report at all (bad input): the error line slimml printed
            last = (cp.stderr or "").strip().splitlines()[-1:] or ["-"]
            summary(f"### slimml measure: `{rel}`\n\n**Error** (exit code {cp.returncode}): {last[0]}\n")
        if cp.returncode == 1:
            annotate(
                "warning",
                "slimml's rewrite does not build or does not behave the same; see the job summary",
                title=f"slimml measure {rel}",
            )
        elif cp.returncode != 0:
            annotate(
                "warning",
                f"slimml measure failed with exit code {cp.returncode}; see the job summary",
                title=f"slimml measure {rel}",
            )
    set_output("measured", str(len(files)))
    set_output("measure-exit-code", str(worst))
    return worst if _flag("measure-strict", False) else 0


COMMANDS = {"install": cmd_install, "run": cmd_run, "measure": cmd_measure, "finish": cmd_finish}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: {Path(__file__).name} {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]]()
    except ActionError as e:
        annotate("error", str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
