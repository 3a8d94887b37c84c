"""BuildKit's build checks in `measure`, run for real on an engine that can run them.

The machine's engine (Docker 20.10) cannot: its built-in Dockerfile frontend has no lint subrequest. CI starts
a second engine (Docker 28 with the buildx plugin, .ci/buildcheck-engine.sh) and points measure at it with
SLIMML_BUILDCHECK_HOST / SLIMML_BUILDCHECK_DOCKER_CONFIG; without them these tests look for it where that script
puts it. They skip when it is not there -- and fail instead under CI_REQUIRE_BUILDCHECKS=1 (.ci/run).

- a pair whose second file introduces a check that means the build changed fails measure's verification
  through the buildchecks check alone (both images are the same), and the text and JSON output name the rule;
- a check saying a value is now undefined (an ARG the rewrite dropped) fails it too;
- a style-only check the second file introduces warns and leaves the verdict alone;
- slimml's own rewrites (safe and unsafe) of every fixture project introduce no check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.measure import buildchecks as BC
from slimml.measure.checks import FAIL, PASS, WARN

pytestmark = pytest.mark.docker

# Where .ci/buildcheck-engine.sh starts the engine and puts the buildx plugin.
DEFAULT_HOST = "unix:///run/slimml-buildcheck/docker.sock"
DEFAULT_CONFIG = "/opt/slimml-engine2/docker-config"
PROJECTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
PROJECTS = sorted(p.name for p in PROJECTS_DIR.iterdir() if (p / "project.toml").is_file())

APP = 'print("ready")\n'
ORIGINAL = 'FROM python:3.11-slim AS app\nWORKDIR /app\nCOPY app.py .\nCMD ["python3", "app.py"]\n'


@pytest.fixture(scope="module")
def check_env(tmp_path_factory) -> dict:
    """The environment measure runs the checks in; skips (or fails, in CI) when no engine here can run them."""
    env = dict(os.environ)
    if not env.get(BC.HOST_ENV) and Path(DEFAULT_HOST[len("unix://") :]).exists():
        env[BC.HOST_ENV] = DEFAULT_HOST
        env.setdefault(BC.CONFIG_ENV, DEFAULT_CONFIG)
    probe = tmp_path_factory.mktemp("probe")
    (probe / "Dockerfile").write_text("FROM scratch\n")
    side = (str(probe), str(probe / "Dockerfile"))
    bc = BC.run_checks(side, side, environ=env) if env.get(BC.HOST_ENV) else None
    if bc is None or not bc.available:
        why = f"no engine for BuildKit's build checks: {bc.why if bc else BC.HOST_ENV + ' is not set'}"
        if os.environ.get("CI_REQUIRE_BUILDCHECKS") == "1":
            pytest.fail(f"build checks are mandatory here (CI_REQUIRE_BUILDCHECKS=1), but {why}")
        pytest.skip(why)
    return env


def _project(tmp_path: Path, after: str) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "Dockerfile").write_text(ORIGINAL)
    (tmp_path / "after.Dockerfile").write_text(after)
    (tmp_path / ".dockerignore").write_text("after.Dockerfile\n")
    return tmp_path


def _measure(monkeypatch, env: dict, d: Path, fmt: str):
    for k in (BC.HOST_ENV, BC.CONFIG_ENV):
        monkeypatch.setenv(k, env[k]) if env.get(k) else monkeypatch.delenv(k, raising=False)
    args = ["measure", str(d), "--after", str(d / "after.Dockerfile"), "--quiet", "--no-rebuild", "--use-cache"]
    return CliRunner().invoke(main, [*args, "--format", fmt], catch_exceptions=False)


def test_a_secret_argument_the_other_file_declares_fails_measure_and_names_the_rule(tmp_path, monkeypatch, check_env):
    # The same image (an unused ARG changes nothing in it): only the build checks can see it; in use the
    # token would be passed with --build-arg and kept in the image's history.
    d = _project(tmp_path, ORIGINAL.replace("WORKDIR /app\n", "ARG HF_TOKEN\nWORKDIR /app\n"))
    r = _measure(monkeypatch, check_env, d, "json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    checks = {c["name"]: c for c in out["verification"]["checks"]}
    assert out["verification"]["verdict"] == "FAIL"
    failing = [n for n, c in checks.items() if c["status"] == FAIL]
    assert failing == ["buildchecks"], json.dumps(out["verification"], indent=1)[-3000:]
    bc = checks["buildchecks"]
    assert "SecretsUsedInArgOrEnv" in bc["summary"]
    assert [c["rule"] for c in bc["details"]["introduced"]] == ["SecretsUsedInArgOrEnv"]
    assert bc["details"]["introduced"][0]["line"] == 2 and "HF_TOKEN" in bc["details"]["introduced"][0]["message"]
    assert bc["details"]["host"] == check_env[BC.HOST_ENV]

    r = _measure(monkeypatch, check_env, d, "text")
    assert r.exit_code == 1
    assert "introduced by the other Dockerfile: SecretsUsedInArgOrEnv (line 2)" in r.output, r.output


def test_a_dropped_argument_is_an_undefined_variable_and_fails(tmp_path, check_env):
    before = "FROM python:3.11-slim\nARG APP_DIR=/srv/app\nWORKDIR $APP_DIR\nCOPY app.py .\n"
    after = "FROM python:3.11-slim\nWORKDIR $APP_DIR\nCOPY app.py .\n"  # the image's WORKDIR is now /
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "b.Dockerfile").write_text(before)
    (tmp_path / "a.Dockerfile").write_text(after)
    ctx = str(tmp_path)
    bc = BC.run_checks((ctx, str(tmp_path / "b.Dockerfile")), (ctx, str(tmp_path / "a.Dockerfile")), environ=check_env)
    assert bc.available, bc.why
    assert bc.before.checks == []
    chk = bc.to_check()
    assert chk.status == FAIL and "UndefinedVar" in chk.summary, chk
    assert any("UndefinedVar (line 2)" in e and "$APP_DIR" in e for e in chk.evidence), chk.evidence


def test_a_style_check_the_other_file_introduces_warns(tmp_path, monkeypatch, check_env):
    d = _project(tmp_path, ORIGINAL.replace(" AS app", " as app"))  # FromAsCasing: the same build
    r = _measure(monkeypatch, check_env, d, "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    bc = next(c for c in out["verification"]["checks"] if c["name"] == "buildchecks")
    assert out["verification"]["verdict"] == "PASS"
    assert bc["status"] == WARN and "FromAsCasing" in bc["summary"], bc
    assert [c["rule"] for c in bc["details"]["introduced"]] == ["FromAsCasing"]


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("name", PROJECTS)
def test_slimml_rewrites_of_the_fixture_projects_introduce_no_check(name, unsafe, check_env):
    from slimml.measure.engine import Resources
    from slimml.measure.plan import RewriteOptions, materialize, rewrite

    plan = rewrite(PROJECTS_DIR / name, RewriteOptions(unsafe_fixes=unsafe))
    assert plan.changed, f"{name}: slimml does not rewrite it (nothing to check)"
    res = Resources()
    try:
        materialize(plan, res)
        bc = BC.run_checks(
            (str(plan.before_context), str(plan.before_dockerfile)),
            (str(plan.after_context), str(plan.after_dockerfile)),
            environ=check_env,
        )
    finally:
        res.cleanup()
    assert bc.available, bc.why
    assert not bc.before.error and not bc.after.error, (bc.before.error, bc.after.error)
    chk = bc.to_check()
    assert chk.status == PASS, (chk.summary, chk.evidence, plan.after_text)
