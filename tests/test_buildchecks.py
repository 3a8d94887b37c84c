"""BuildKit build checks in `measure`: parsing the recorded output shapes, the before/after
comparison, capability detection with fake CLIs on PATH, and the verification check it adds.

Output shapes are BuildKit's and the Docker docs' own:
- JSON: ``LintResults`` as ``docker buildx build --call=check,format=json`` prints it (moby/buildkit
  frontend/subrequests/lint/lint.go: ``warnings[].ruleName/description/url/detail/location.ranges``,
  ``sources[]`` with base64 ``data``, ``buildError`` on a frontend error), exit status 1 with warnings;
- text: https://docs.docker.com/build/checks/ ("Check a build without building" for the verbose
  ``--check`` block; "Build with checks" / "More verbose output" for the summary lines).
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from slimml.measure import buildchecks as BC
from slimml.measure.checks import FAIL, PASS, SKIP, WARN, Check, Verification

# Recorded shape (lint.go MarshalIndent; the Dockerfile of the docs' example).
LINT_JSON = """{
  "warnings": [
    {
      "ruleName": "JSONArgsRecommended",
      "description": "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
      "url": "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
      "detail": "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
      "location": {
        "ranges": [
          {
            "start": {
              "line": 7
            },
            "end": {
              "line": 7
            }
          }
        ]
      }
    },
    {
      "ruleName": "FromAsCasing",
      "description": "The 'as' keyword should match the case of the 'from' keyword",
      "url": "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
      "detail": "'as' and 'FROM' keywords' casing do not match",
      "location": {
        "sourceIndex": 0,
        "ranges": [{"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 20}}]
      }
    }
  ],
  "sources": [
    {
      "fileName": "Dockerfile",
      "language": "Dockerfile",
      "definition": null,
      "data": "RlJPTSBub2RlOjIyIGFzIGJ1aWxkCg=="
    }
  ]
}
"""

DOCS_CHECK_TEXT = """[+] Building 1.5s (5/5) FINISHED
=> [internal] connecting to local controller
=> [internal] load build definition from Dockerfile
=> => transferring dockerfile: 253B
=> [internal] load metadata for docker.io/library/node:22
=> [auth] library/node:pull token for registry-1.docker.io
=> [internal] load .dockerignore
=> => transferring context: 50B
JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/
JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals
Dockerfile:7
--------------------
5 |
6 |     COPY index.js .
7 | >>> CMD node index.js
8 |
--------------------
"""

DOCS_SUMMARY_TEXT = """[+] Building 3.5s (11/11) FINISHED
...

1 warning found (use --debug to expand):
  - Lint Rule 'JSONArgsRecommended': JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 7)
 - UndefinedVar: Usage of undefined variable '$FOO' (line 3)
"""


def test_parse_json_recorded_shape():
    run = BC.parse_json("some progress noise\n" + LINT_JSON)
    assert [(c.rule, c.line) for c in run.checks] == [("JSONArgsRecommended", 7), ("FromAsCasing", 1)]
    assert run.checks[0].message.startswith("JSON arguments recommended for CMD")
    assert run.checks[0].url.endswith("/json-args-recommended/") and run.error == ""


def test_parse_json_build_error_and_non_json():
    run = BC.parse_json(
        '{"warnings": null, "buildError": {"message": "pull access denied for nosuch", '
        '"location": {"ranges": [{"start": {"line": 1}}]}}}'
    )
    assert run.checks == [] and run.error == "pull access denied for nosuch"
    assert BC.parse_json("ERROR: unknown flag: --call") is None
    assert BC.parse_json('{"unrelated": 1}') is None


def test_parse_text_documented_shapes():
    verbose = BC.parse_text(DOCS_CHECK_TEXT)
    assert [(c.rule, c.line) for c in verbose.checks] == [("JSONArgsRecommended", 7)]
    summary = BC.parse_text(DOCS_SUMMARY_TEXT)
    assert [(c.rule, c.line) for c in summary.checks] == [("JSONArgsRecommended", 7), ("UndefinedVar", 3)]
    assert summary.checks[1].message == "Usage of undefined variable '$FOO'"


RECORDED_QUIET = (
    "ERROR: failed to build: failed to solve: rpc error: code = Unknown desc = failed to solve with frontend "
    "dockerfile.v0: unsupported request frontend.lint\n"
)
# `docker build --check .` (text mode); the resolver's address is elided
RECORDED_TEXT = (
    """#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 31B done
#1 DONE 0.0s

#2 [internal] load .dockerignore
#2 transferring context: 2B 0.0s done
#2 DONE 0.0s

#3 resolve image config for docker.io/docker/dockerfile:1.8.1@sha256:e87caa74dcb7d46cd820352bfea12591f3dba3ddc4285e19c7dcd13359f7cefd
#3 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/sha256:e87caa74dcb7d46cd820352bfea12591f3dba3ddc4285e19c7dcd13359f7cefd": dial tcp: lookup registry-1.docker.io: no such host
------
 > resolve image config for docker.io/docker/dockerfile:1.8.1@sha256:e87caa74dcb7d46cd820352bfea12591f3dba3ddc4285e19c7dcd13359f7cefd:
------
"""
    + RECORDED_QUIET
)


def _c(rule, line, msg="m"):
    return BC.BuildCheck(rule, line, msg)


def test_introduced_ignores_moved_lines_and_counts_repeats():
    bc = BC.BuildChecks(
        True,
        before=BC.CheckRun([_c("JSONArgsRecommended", 7, "CMD"), _c("UndefinedVar", 3, "$A")]),
        after=BC.CheckRun(
            [
                _c("UndefinedVar", 5, "$A"),
                _c("JSONArgsRecommended", 9, "CMD"),
                _c("JSONArgsRecommended", 10, "CMD"),
                _c("UndefinedVar", 6, "$B"),
            ]
        ),
    )
    assert [(c.rule, c.line) for c in bc.introduced()] == [("JSONArgsRecommended", 10), ("UndefinedVar", 6)]


@pytest.mark.parametrize(
    "after,status",
    [
        ([], PASS),
        ([_c("ConsistentInstructionCasing", 2)], WARN),
        (
            [_c("SecretsUsedInArgOrEnv", 2, 'Do not use ARG or ENV instructions for sensitive data (ENV "HF_TOKEN")')],
            FAIL,
        ),
        ([_c("UndefinedVar", 4, "Usage of undefined variable '$PIP_OPTS'")], FAIL),
    ],
)
def test_verification_status_of_introduced_checks(after, status):
    before = [_c("JSONArgsRecommended", 7)]
    chk = BC.BuildChecks(True, tool="t", before=BC.CheckRun(before), after=BC.CheckRun(before + after)).to_check()
    assert chk.name == BC.CHECK_NAME and chk.status == status
    assert len(chk.details["introduced"]) == len(after)
    assert all(e.startswith("introduced by the rewrite: ") for e in chk.evidence)


def test_not_available_is_a_skip_that_says_why():
    chk = BC.BuildChecks(False, "no docker CLI on PATH").to_check()
    assert (chk.status, chk.summary) == (SKIP, "BuildKit build checks: not available (no docker CLI on PATH)")


# -- fake CLIs on PATH ------------------------------------------------------------------------------------
def _fake_docker(tmp_path: Path, body: str) -> dict:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "docker"
    exe.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # Not the real engines: no SLIMML_DOCKER, no build-check engine (CI sets one, tests/test_buildchecks_engine.py).
    env = {k: v for k, v in os.environ.items() if k not in ("SLIMML_DOCKER", BC.HOST_ENV, BC.CONFIG_ENV)}
    for tool in ("grep", "head", "cut", "cat"):  # the fake's own tools: PATH holds nothing else (no real docker)
        link = bindir / tool
        if not link.exists():
            link.symlink_to(next(p for p in (Path("/usr/bin") / tool, Path("/bin") / tool) if p.exists()))
    env["PATH"] = str(bindir)
    return env


# A buildx 0.17 whose frontend lints: JSONArgsRecommended for a shell-form CMD, UndefinedVar for $UNDEF;
# the Dockerfile is the argument after -f; exit status 1 when there are warnings, as buildx does.
CAPABLE = r"""
if [ "$1" = "--version" ]; then echo "Docker version 28.2.2, build e6534b4"; exit 0; fi
if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx v0.17.1 257815a"; exit 0; fi
if [ "$1 $2" = "buildx build" ]; then
  case " $* " in *" --call=check,format=json "*) ;; *) echo "unexpected: $*" >&2; exit 3;; esac
  df=""; prev=""
  for a in "$@"; do [ "$prev" = "-f" ] && df="$a"; prev="$a"; done
  sep=""; printf '{"warnings": ['
  n=$(grep -n '^CMD [^[]' "$df" | head -1 | cut -d: -f1)
  if [ -n "$n" ]; then
    printf '{"ruleName": "JSONArgsRecommended", "detail": "JSON arguments recommended for CMD", "location": {"ranges": [{"start": {"line": %s}, "end": {"line": %s}}]}}' "$n" "$n"; sep=","
  fi
  n=$(grep -n 'UNDEF' "$df" | head -1 | cut -d: -f1)
  if [ -n "$n" ]; then
    printf '%s{"ruleName": "UndefinedVar", "detail": "Usage of undefined variable '"'"'$UNDEF'"'"'", "location": {"ranges": [{"start": {"line": %s}}]}}' "$sep" "$n"; sep="x"
  fi
  printf '], "sources": []}\n'
  grep -q -e '^CMD [^[]' -e UNDEF "$df" && exit 1
  exit 0
fi
exit 2
"""


def _files(tmp_path: Path, before: str, after: str) -> tuple[tuple[str, str], tuple[str, str]]:
    (tmp_path / "b.Dockerfile").write_text(before)
    (tmp_path / "a.Dockerfile").write_text(after)
    return (str(tmp_path), str(tmp_path / "b.Dockerfile")), (str(tmp_path), str(tmp_path / "a.Dockerfile"))


@pytest.mark.parametrize(
    "after,after_checks,introduced,status",
    [
        # a variable the rewrite uses and nobody defines: the moved CMD is not new, the UndefinedVar is
        (
            "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\nRUN echo $UNDEF\nCMD python app.py\n",
            [("JSONArgsRecommended", 4), ("UndefinedVar", 3)],
            [("UndefinedVar", 3)],
            FAIL,
        ),
        ("FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\nCMD python app.py\n", [("JSONArgsRecommended", 3)], [], PASS),
    ],
)
def test_fake_capable_cli_end_to_end(tmp_path, after, after_checks, introduced, status):
    env = _fake_docker(tmp_path, CAPABLE)
    b, a = _files(tmp_path, "FROM python:3.11-slim\nCMD python app.py\n", after)
    bc = BC.run_checks(b, a, environ=env)
    assert bc.available and "buildx build --call=check,format=json" in bc.tool
    assert [(c.rule, c.line) for c in bc.before.checks] == [("JSONArgsRecommended", 2)]
    assert [(c.rule, c.line) for c in bc.after.checks] == after_checks
    assert [(c.rule, c.line) for c in bc.introduced()] == introduced
    chk = bc.to_check()
    assert chk.status == status and f"1 on the original, {len(after_checks)} on the rewrite" in chk.summary


@pytest.mark.parametrize(
    "body,why",
    [
        # the classic CLI (or a newer one without the plugin)
        (
            '[ "$1" = "--version" ] && echo "Docker version 20.10.24+dfsg1, build 297e128" && exit 0\n'
            "echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1\n",
            "has no buildx plugin",
        ),
        # buildx before --call / --check
        (
            '[ "$1 $2" = "buildx version" ] && echo "github.com/docker/buildx v0.10.4 c513d34" && exit 0\nexit 1\n',
            "buildx 0.10 predates build checks",
        ),
        # buildx new enough, the builder's frontend without the lint subrequest: the output recorded on
        # this machine (Debian's docker-buildx 0.29.1 against Docker Engine 20.10 / BuildKit v0.8), quiet
        # JSON mode, then text mode, where buildx falls back to a frontend image it cannot fetch
        (
            '[ "$1 $2" = "buildx version" ] && echo "github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4" && exit 0\n'
            f"cat >&2 <<'EOF'\n{RECORDED_QUIET}EOF\nexit 1\n",
            "the builder's Dockerfile frontend has no lint subrequest (it predates Dockerfile 1.8): ERROR: failed to "
            "build: failed to solve: rpc error: code = Unknown desc = failed to solve with frontend dockerfile.v0: "
            "unsupported request frontend.lint",
        ),
        (
            '[ "$1 $2" = "buildx version" ] && echo "github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4" && exit 0\n'
            f"cat >&2 <<'EOF'\n{RECORDED_TEXT}EOF\nexit 1\n",
            "and the docker/dockerfile frontend image buildx falls back to could not be fetched: ERROR: failed to build",
        ),
    ],
)
def test_fake_incapable_clis_say_why(tmp_path, body, why):
    env = _fake_docker(tmp_path, body)
    before, after = _files(tmp_path, "FROM scratch\n", "FROM scratch\n")
    bc = BC.run_checks(before, after, environ=env)
    assert not bc.available and why in bc.why
    assert bc.to_check().summary.startswith("BuildKit build checks: not available (")


def _plan(tmp_path: Path):
    """The measurement plan ``attach`` reads: both files of ``_files`` in one context."""

    class Plan:
        before_context = after_context = tmp_path
        before_dockerfile, after_dockerfile = tmp_path / "b.Dockerfile", tmp_path / "a.Dockerfile"
        other = None

    return Plan()


def _verified_report():
    from slimml.measure.run import MeasureReport

    report = MeasureReport(dockerfile="Dockerfile", exit_code=0)
    report.verification = Verification("b", "a", [Check("runs", PASS, "same output")])
    return report


def test_attach_adds_the_check_and_sets_the_exit_code(tmp_path):
    from slimml.measure.report import to_json, to_text

    env = _fake_docker(tmp_path, CAPABLE)
    _files(tmp_path, 'FROM python:3.11-slim\nCMD ["python"]\n', "FROM python:3.11-slim\nRUN echo $UNDEF\n")

    report = _verified_report()
    BC.attach(report, _plan(tmp_path), environ=env)
    assert report.verification.verdict == "FAIL" and report.exit_code != 0
    assert "UndefinedVar (line 2)" in to_text(report)
    assert to_json(report)["verification"]["checks"][-1]["details"]["introduced"][0]["rule"] == "UndefinedVar"

    # Not available here: a skip in the verification, the verdict untouched, the reason in the text.
    report = _verified_report()
    nothing = {**env, "PATH": str(tmp_path / "nothing")}
    BC.attach(report, _plan(tmp_path), environ=nothing, engine_version="20.10.24+dfsg1")
    assert report.verification.verdict == "PASS" and report.exit_code == 0
    text = to_text(report)
    assert "BuildKit build checks: not available (no docker CLI on PATH; the engine is Docker 20.10.24" in text


def test_measure_options_run_the_checks_by_default():
    from slimml.measure.run import MeasureOptions

    assert MeasureOptions().build_checks is True


def test_parsed_json_round_trips_through_the_check_details():
    bc = BC.BuildChecks(True, tool="t", before=BC.parse_json(LINT_JSON), after=BC.parse_json(LINT_JSON))
    chk = bc.to_check()
    assert chk.status == PASS and json.loads(json.dumps(chk.details))["before"][0]["line"] == 7


# -- the checks on another engine (SLIMML_BUILDCHECK_HOST) ----------------------------------------------------
# Answers `version` only for DOCKER_HOST=unix:///good.sock; records what each call saw; a FROM of "nosuch" stops
# the frontend (buildError) the way a base image the checking engine lacks does.
HOSTED = r"""
echo "${DOCKER_HOST:-}|${DOCKER_CONFIG:-}|${DOCKER_CONTEXT:-}|$*" >> "${0%/*}/calls"
if [ "$1" = "--version" ]; then echo "Docker version 20.10.24+dfsg1, build 297e128"; exit 0; fi
if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4"; exit 0; fi
if [ "$1" = "version" ]; then
  [ "$DOCKER_HOST" = "unix:///good.sock" ] && { echo "28.5.2+dfsg4"; exit 0; }
  echo "Cannot connect to the Docker daemon at $DOCKER_HOST. Is the docker daemon running?" >&2; exit 1
fi
if [ "$1 $2" = "buildx build" ]; then
  df=""; prev=""
  for a in "$@"; do [ "$prev" = "-f" ] && df="$a"; prev="$a"; done
  if grep -q nosuch "$df"; then
    printf '{"warnings": null, "buildError": {"message": "nosuch/image:1: failed to resolve source metadata"}}\n'
    exit 1
  fi
  printf '{"warnings": [], "sources": []}\n'; exit 0
fi
exit 2
"""


def test_checks_environ_points_the_checks_at_the_named_engine():
    env, host = BC.checks_environ(
        {"DOCKER_HOST": "unix:///main.sock", "DOCKER_CONTEXT": "ci", BC.HOST_ENV: " tcp://h:2375 ", BC.CONFIG_ENV: "/c"}
    )
    assert host == "tcp://h:2375" and env["DOCKER_HOST"] == host and env["DOCKER_CONFIG"] == "/c"
    assert "DOCKER_CONTEXT" not in env
    env, host = BC.checks_environ({"DOCKER_HOST": "unix:///main.sock", "DOCKER_CONTEXT": "ci"})
    assert host == "" and env == {"DOCKER_HOST": "unix:///main.sock", "DOCKER_CONTEXT": "ci"}


def test_checks_run_on_the_named_engine_and_not_on_the_builds_builder(tmp_path):
    env = {**_fake_docker(tmp_path, HOSTED), "DOCKER_CONTEXT": "main", BC.HOST_ENV: "unix:///good.sock"}
    env[BC.CONFIG_ENV] = str(tmp_path / "cfg")
    before, after = _files(tmp_path, "FROM scratch\n", "FROM scratch\n")
    bc = BC.run_checks(before, after, environ=env, builder="farm")
    assert bc.available, bc.why
    assert bc.tool.endswith("--call=check,format=json on Docker 28.5.2+dfsg4 at unix:///good.sock")
    assert bc.to_check().details["host"] == "unix:///good.sock"
    calls = (tmp_path / "bin" / "calls").read_text().splitlines()
    builds = [c for c in calls if "|buildx build " in c]
    assert len(builds) == 2
    assert all(c.startswith(f"unix:///good.sock|{tmp_path / 'cfg'}||") and "--builder" not in c for c in builds)


def test_an_engine_that_does_not_answer_is_a_skip_naming_it(tmp_path):
    env = {**_fake_docker(tmp_path, HOSTED), BC.HOST_ENV: "unix:///bad.sock"}
    _files(tmp_path, "FROM scratch\n", "FROM scratch\n")

    report = _verified_report()
    bc = BC.attach(report, _plan(tmp_path), environ=env, engine_version="20.10.24+dfsg1")
    chk = report.verification.checks[-1]
    assert chk.status == SKIP and report.exit_code == 0
    # The reason is the named engine's, not the builds' engine's (whose version says nothing here).
    assert chk.summary == (
        "BuildKit build checks: not available (the engine at SLIMML_BUILDCHECK_HOST=unix:///bad.sock did not "
        "answer: Cannot connect to the Docker daemon at unix:///bad.sock. Is the docker daemon running?)"
    )
    assert bc.host == "unix:///bad.sock"
    assert not any("|buildx build " in c for c in (tmp_path / "bin" / "calls").read_text().splitlines())


def test_checks_that_stop_on_both_files_are_a_skip_not_a_pass(tmp_path):
    env = {**_fake_docker(tmp_path, HOSTED), BC.HOST_ENV: "unix:///good.sock"}
    before, after = _files(tmp_path, "FROM nosuch/image:1\n", "FROM nosuch/image:1\nUSER app\n")
    bc = BC.run_checks(before, after, environ=env)
    assert not bc.available
    assert bc.why.startswith("the checks stopped on both files: nosuch/image:1: failed to resolve source metadata")
    assert bc.why.endswith("(on Docker 28.5.2+dfsg4 at unix:///good.sock)")
    # Only one side stopping is still compared (and the rewrite's stop is a warning, as before).
    after = _files(tmp_path, "FROM nosuch/image:1\n", "FROM scratch\n")[1]
    assert BC.run_checks(before, after, environ=env).to_check().status == PASS
