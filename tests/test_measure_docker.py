"""`slimml measure` against a real Docker engine (see .ci/docker-setup.sh).

- every fixture project, with slimml's safe rewrite and with its unsafe one: the original and the
  rewrite build, the verification (the real command run included) passes, the rebuild is timed on
  a build cache verified warm, and the unsafe rewrite shrinks the image (one cold measurement per
  project and mode, shared by the tests of this module);
- deliberately broken rewrites of the psycopg2 project, written by hand and checked with
  ``verify()`` directly: a multi-stage split that forgets the runtime library (libpq5), one that
  forgets the packages, and one that changes the CMD (and drops a file the app never reads, which
  is no failure) -- each must FAIL with the evidence (the offline sabotage suite is in
  test_measure_sabotage.py);
- the command's other paths: BuildKit for a file that needs it, a rewrite that does not build
  (exit 1, failing step and log), an original that does not build (exit 2), a ``# syntax=``
  frontend that cannot be fetched (exit 2, clear message) and ``--builtin-frontend``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.measure import run as run_module
from slimml.measure.engine import connect
from slimml.measure.plan import RewriteOptions
from slimml.measure.run import MeasureOptions, run_measure
from slimml.measure.verify import FAIL, PASS, SKIP, VerifyOptions, verify

from .dockerutil import Images

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.docker

PROJECTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
PROJECTS = sorted(p.name for p in PROJECTS_DIR.iterdir() if (p / "project.toml").is_file())


def _spec(name: str) -> dict:
    return tomllib.loads((PROJECTS_DIR / name / "project.toml").read_text())


@pytest.fixture(scope="module")
def client():
    c = connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def measured(client, tmp_path_factory):
    """One cold measurement per fixture project and mode (with its smoke command), computed lazily."""
    cache: dict[tuple[str, bool], object] = {}

    def get(name: str, unsafe: bool = True):
        if (name, unsafe) not in cache:
            src = tmp_path_factory.mktemp(name) / name
            shutil.copytree(PROJECTS_DIR / name, src)
            opts = MeasureOptions(rewrite=RewriteOptions(unsafe_fixes=unsafe), smoke=_spec(name)["smoke"])
            cache[name, unsafe] = (run_measure(src, opts, client=client), src)
        return cache[name, unsafe]

    return get


def _explain(report) -> str:
    from slimml.measure.report import to_text

    return to_text(report) + (f"\nerror: {report.error}\n{report.error_detail}" if report.error else "")


def _images_left(client, report) -> list[str]:
    repo = report.before.tag.split(":")[0] if report.before else None
    return [t for img in client.images.list() for t in img.tags if repo and t.startswith(repo + ":")]


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("name", PROJECTS)
def test_measure_project(name, unsafe, measured, client):
    report, src = measured(name, unsafe)
    if not report.plan.changed:  # nothing to rewrite in this mode: nothing built, nothing to verify
        assert report.exit_code == 0 and report.before is None, _explain(report)
        return
    assert report.exit_code == 0, _explain(report)
    v = report.verification
    assert v is not None and v.verdict == "PASS", _explain(report)
    assert [c.name for c in v.checks] == [
        "config",
        "python",
        "imports",
        "programs",
        "native-libs",
        "app-files",
        "run",
        "smoke",
        "buildchecks",
    ]
    # BuildKit's build checks run where the engine can (Docker 27+ with buildx); elsewhere they are skipped, saying why
    # -- except in CI, which gives them an engine (SLIMML_BUILDCHECK_HOST, .ci/buildcheck-engine.sh).
    bc = v.checks[-1]
    skip_ok = os.environ.get("CI_REQUIRE_BUILDCHECKS") != "1"
    assert bc.status == PASS or (skip_ok and bc.status == SKIP and "not available" in bc.summary), _explain(report)
    assert all(c.status == PASS for c in v.checks[:-1]), _explain(report)
    if unsafe and _spec(name).get("shrinks", True):
        assert report.after.size < report.before.size, _explain(report)
    rb = report.rebuild
    assert rb and rb["after_seconds"] is not None and rb["verified"], _explain(report) + json.dumps(rb, indent=1)
    # Nothing is left behind: no image of this run, no temp folder, the project copy unchanged.
    assert _images_left(client, report) == []
    assert not (src / ".dockerignore").exists() or (PROJECTS_DIR / name / ".dockerignore").exists()
    assert (src / "Dockerfile").read_bytes() == (PROJECTS_DIR / name / "Dockerfile").read_bytes()


def test_split_projects_meet_the_size_and_rebuild_targets(measured):
    """The targets of the issue, on the FastAPI and psycopg2 projects together."""
    reports = [measured(n)[0] for n in ("fastapi-sklearn", "psycopg2-api")]
    for r in reports:
        assert r.exit_code == 0, _explain(r)
        assert r.after.size / r.before.size <= 0.5, _explain(r)
    before = sum(r.rebuild["before_seconds"] for r in reports)
    after = sum(r.rebuild["after_seconds"] for r in reports)
    # A source-only change re-runs the dependency install in the original FastAPI image only
    # (psycopg2-api already copies requirements.txt first): the combined rebuild is >= 5x faster.
    assert before >= 5 * after, [r.rebuild for r in reports]
    fastapi = reports[0].rebuild
    assert fastapi["file"] == "app.py" and fastapi["before_seconds"] >= 5 * fastapi["after_seconds"], fastapi


def test_weights_moved_out_are_listed_and_mounted_back_for_the_smoke(measured):
    report, _ = measured("weights-app")
    assert report.exit_code == 0, _explain(report)
    files = report.verification.check("app-files")
    provided = files.details["removed"][
        "provided at container start by /usr/local/bin/docker-entrypoint-weights.sh (fetched or mounted)"
    ]
    assert "/app/models/model.npz" in provided and "/app/models/config.json" in provided
    smoke = report.verification.check("smoke")
    assert "/app/models" in smoke.details["injected"]
    run = report.verification.check("run")  # gunicorn started by the init script, the weights mounted back
    assert run.details["after"]["ports"] == {"8080": ["0.0.0.0"]}
    assert smoke.details["after"]["stdout"].strip() == _spec("weights-app")["expect"]
    if "SLM010" in report.plan.applied:  # the init script wraps the original command
        cfg = report.verification.check("config")
        assert any("wrapped by" in e and "execs the original command" in e for e in cfg.evidence), cfg.evidence


# -- deliberately broken rewrites ------------------------------------------------------------------------
PSYCOPG_SPLIT = """\
FROM python:3.11 AS builder
RUN apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /srv
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

FROM python:3.11-slim
{runtime}COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /srv
COPY . .
CMD ["python", "main.py"]
"""
LIBPQ5 = "RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*\n"


@pytest.fixture(scope="module")
def psycopg(tmp_path_factory):
    """The psycopg2 project's original image and hand-written rewrites of it."""
    images = Images()
    root = tmp_path_factory.mktemp("psycopg")
    src = root / "psycopg2-api"
    shutil.copytree(PROJECTS_DIR / "psycopg2-api", src)
    before_text = (src / "Dockerfile").read_text()
    before, _ = images.build(src)
    variants = {
        "split-ok": PSYCOPG_SPLIT.format(runtime=LIBPQ5),
        "split-no-libpq5": PSYCOPG_SPLIT.format(runtime=""),
        "no-packages": 'FROM python:3.11-slim\nWORKDIR /srv\nCOPY . .\nCMD ["python", "main.py"]\n',
        "lost-file": f"FROM {before}\nRUN rm /srv/requirements.txt\nENV PYTHONPATH=/opt/extra\n"
        'CMD ["python", "-u", "main.py"]\n',
        "unused-file-dropped": f"FROM {before}\nRUN rm /srv/requirements.txt\n",
    }
    built = {}
    for name, text in variants.items():
        (root / f"{name}.Dockerfile").write_text(text)
        built[name], _ = images.build(src, root / f"{name}.Dockerfile")

    def options(name: str) -> VerifyOptions:
        return VerifyOptions.from_dockerfiles(before_text, variants[name], src, smoke=_spec("psycopg2-api")["smoke"])

    yield before, built, options
    images.cleanup()


def test_hand_written_split_with_libpq5_passes(psycopg, client):
    before, built, options = psycopg
    v = verify(client, before, built["split-ok"], options("split-ok"))
    assert v.verdict == "PASS", json.dumps(v.to_json(), indent=1)


def test_split_that_forgets_libpq5_fails_with_the_evidence(psycopg, client):
    before, built, options = psycopg
    v = verify(client, before, built["split-no-libpq5"], options("split-no-libpq5"))
    assert v.verdict == "FAIL"
    libs = v.check("native-libs")
    assert libs.status == FAIL
    assert any("_psycopg" in f and "libpq.so.5 not found" in f for f in libs.details["failures"]), libs.evidence
    imports = v.check("imports")
    assert imports.status == FAIL and any(f.startswith("psycopg2: ImportError") for f in imports.details["failures"])
    assert v.check("python").status == PASS  # the distribution is there: only its library is missing
    assert v.check("smoke").status == FAIL


def test_rewrite_that_drops_the_packages_fails(psycopg, client):
    before, built, options = psycopg
    v = verify(client, before, built["no-packages"], options("no-packages"))
    py = v.check("python")
    assert py.status == FAIL and "psycopg2 2.9.9: missing in the rewrite" in py.details["failures"]
    assert v.check("imports").status == FAIL and v.verdict == "FAIL"


def test_rewrite_that_changes_the_command_fails_but_not_for_a_file_the_app_never_reads(psycopg, client):
    before, built, options = psycopg
    v = verify(client, before, built["lost-file"], options("lost-file"))
    files = v.check("app-files")
    assert files.status == PASS and files.details["removed"] == {"the app never reads it": ["/srv/requirements.txt"]}
    honest = verify(client, before, built["unused-file-dropped"], options("unused-file-dropped"))
    assert honest.verdict == "PASS", json.dumps(honest.to_json(), indent=1)
    cfg = v.check("config")
    assert cfg.status == FAIL
    assert any(e.startswith("ENTRYPOINT/CMD:") for e in cfg.details["failures"])
    # Set in the rewritten Dockerfile, but it changes what Python imports: a behaviour change.
    assert "ENV PYTHONPATH=/opt/extra: added; it changes what the program loads" in cfg.details["failures"]


# -- the command's other paths -------------------------------------------------------------------------------
def _project(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "Dockerfile").write_text(dockerfile)
    (d / "main.py").write_text("import six\nprint('ok', six.__version__)\n")
    (d / "requirements.txt").write_text("six==1.16.0\n")
    for k, v in (files or {}).items():
        (d / k).write_text(v)
    return d


CACHE_MOUNT = """\
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
CMD ["python", "main.py"]
"""


def test_buildkit_file_is_built_with_buildkit_and_json_carries_everything(tmp_path):
    d = _project(tmp_path, CACHE_MOUNT)
    r = CliRunner().invoke(
        main,
        ["measure", str(d), "--format", "json", "--quiet", "--use-cache", "--smoke", "python main.py"],
        catch_exceptions=False,
    )
    out = json.loads(r.stdout)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert out["builder"] == "buildkit" and out["before"]["builder"] == "buildkit"
    assert any("RUN --mount" in n for n in out["notes"])
    assert out["verdict"] == "PASS" and out["verification"]["verdict"] == "PASS"
    # A tiny image: the rewrite saves nothing here (its .dockerignore is even copied in).
    assert out["size"]["saved"] == out["size"]["before"] - out["size"]["after"] and out["size"]["after"] > 0
    assert out["rebuild"]["file"] == "main.py" and out["rebuild"]["after_seconds"] is not None
    assert [c["name"] for c in out["verification"]["checks"]] == [
        "config",
        "python",
        "imports",
        "programs",
        "native-libs",
        "app-files",
        "run",
        "smoke",
        "buildchecks",  # BuildKit's build checks: PASS where the engine can run them, else SKIP saying why
    ]
    assert out["rebuild"]["verified"], out["rebuild"]


def test_a_rewrite_that_does_not_build_exits_1_with_the_failing_step(tmp_path, monkeypatch, client):
    d = _project(
        tmp_path,
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n"
        'CMD ["python", "main.py"]\n',
    )
    real = run_module.rewrite

    def broken_rewrite(path, opts):
        plan = real(path, opts)
        plan.after_text += "RUN echo 'compiling kernels' && gcc-does-not-exist -O2 kernels.c\n"
        return plan

    monkeypatch.setattr(run_module, "rewrite", broken_rewrite)
    report = run_measure(d, MeasureOptions(cold=False), client=client)
    assert report.exit_code == 1 and report.verification is None
    assert "gcc-does-not-exist" in report.failure["step"]
    assert any("compiling kernels" in x for x in report.failure["log_tail"])
    assert any("not found" in x for x in report.failure["log_tail"])
    assert report.before is not None and _images_left(client, report) == []


def test_an_original_that_does_not_build_exits_2_and_blames_nobody(tmp_path):
    d = _project(tmp_path, "FROM python:3.11-slim\nRUN echo one\nRUN echo 'the original is broken' && exit 4\n")
    r = CliRunner().invoke(main, ["measure", str(d), "--quiet"], catch_exceptions=False)
    assert r.exit_code == 2
    assert "the original Dockerfile does not build (the rewrite is not to blame)" in r.stderr
    assert "exit 4" in r.stderr or "non-zero code: 4" in r.stderr


SYNTAX = """\
# syntax=registry.invalid/slimml-test/dockerfile:1
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
CMD ["python", "main.py"]
"""


def test_an_unreachable_syntax_frontend_is_reported_clearly(tmp_path):
    d = _project(tmp_path, SYNTAX)
    r = CliRunner().invoke(main, ["measure", str(d), "--quiet", "--no-rebuild"], catch_exceptions=False)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "starts with `# syntax=registry.invalid/slimml-test/dockerfile:1`" in r.stderr
    assert "--builtin-frontend" in r.stderr
    # Opting in builds both copies with the engine's own frontend; the user's file keeps its line.
    r = CliRunner().invoke(
        main,
        ["measure", str(d), "--quiet", "--no-rebuild", "--builtin-frontend", "--use-cache"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "--builtin-frontend: the `# syntax=` line was removed from the temporary copies" in r.stdout
    assert "result: PASS" in r.stdout
    assert (d / "Dockerfile").read_text() == SYNTAX


SLOW = """\
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN echo compiling && sleep 8 && pip install -r requirements.txt
CMD ["python", "main.py"]
"""


def _measure_tags(client) -> set[str]:
    return {t for img in client.images.list() for t in img.tags if t.startswith("slimml-measure/")}


def _dangling(client) -> set[str]:
    return {img.id for img in client.images.list(filters={"dangling": True})}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_a_build_leaves_nothing_behind(sig, tmp_path, client):
    d = _project(tmp_path, SLOW)
    tmp = tmp_path / "measure-tmp"
    tmp.mkdir()
    tags, containers = _measure_tags(client), {c.id for c in client.containers.list(all=True)}
    dangling = _dangling(client)
    proc = subprocess.Popen(
        [sys.executable, "-m", "slimml.cli", "measure", str(d), "--no-rebuild"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLIMML_MEASURE_TMP": str(tmp)},
    )
    seen = []
    for line in proc.stderr:  # plain progress lines: wait for the slow step to start
        seen.append(line)
        if "RUN echo compiling" in line:
            break
    assert any("RUN echo compiling" in x for x in seen), "".join(seen)
    time.sleep(2)
    assert list(tmp.iterdir()), "the run should have its temp copies by now"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err
    assert "interrupted; everything this run created was removed" in err
    assert list(tmp.iterdir()) == []
    # The engine cancelled the build: even after the step would have finished, no image appears.
    time.sleep(10)
    assert _measure_tags(client) == tags
    assert {c.id for c in client.containers.list(all=True)} <= containers
    assert _dangling(client) <= dangling  # the steps that finished before the interrupt left no image


def test_interrupt_in_a_library_call_cancels_the_engine_build(tmp_path, client):
    """`run_measure` used as a library (slimml migrate): the process goes on after the interrupt,
    so the build must be cancelled by closing its connection, not by the process exiting."""
    from slimml.measure.run import _UI

    class InterruptAtSlowStep(_UI):
        def build_event(self, label, kind, text):
            if kind == "step" and "RUN echo compiling" in text:
                time.sleep(1)
                raise KeyboardInterrupt

    d = _project(tmp_path, SLOW)
    tmp = tmp_path / "measure-tmp"
    tmp.mkdir()
    tags, dangling = _measure_tags(client), _dangling(client)
    with pytest.raises(KeyboardInterrupt):
        run_measure(d, MeasureOptions(rebuild=False, tmp_dir=str(tmp)), InterruptAtSlowStep(), client=client)
    assert list(tmp.iterdir()) == []
    time.sleep(12)  # past the end of the slow step
    assert _measure_tags(client) == tags
    assert _dangling(client) <= dangling


# -- a poetry virtualenv (issue: PASS for a rewrite whose container fails at start) ---------------------------
POETRY = """\
FROM python:3.11-slim
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
RUN pip install --no-cache-dir poetry==1.8.3
WORKDIR /app
COPY pyproject.toml .
RUN poetry install --no-root --no-interaction
COPY app.py .
CMD ["poetry", "run", "python", "app.py"]
"""
POETRY_PYPROJECT = """\
[tool.poetry]
name = "tiny"
version = "0.1.0"
description = ""
authors = ["x <x@example.com>"]

[tool.poetry.dependencies]
python = "^3.11"
six = "1.16.0"
"""


def test_poetry_environment_is_the_one_verified_and_a_lost_venv_fails(tmp_path):
    """The command runs in poetry's own virtualenv (under its cache dir): the verification asks
    `poetry run` for the interpreter, and a rewrite that deletes poetry's cache (and with it the
    venv) fails -- at start, in the run of the real command, and in the python check."""
    from slimml.measure.pair import Candidate, Session

    (tmp_path / "pyproject.toml").write_text(POETRY_PYPROJECT)
    (tmp_path / "app.py").write_text("import six\nprint('six', six.__version__)\n")
    with Session(tmp_path, POETRY, jobs=2, run_timeout=30) as s:
        honest, broken = s.verify_many(
            [
                Candidate(
                    POETRY.replace("--no-interaction", "--no-interaction && rm -rf /root/.cache/pip"), label="ok"
                ),
                Candidate(
                    POETRY.replace("--no-interaction", '--no-interaction && rm -rf "$(poetry config cache-dir)"'),
                    label="cache-removed",
                ),
            ]
        )
    assert honest.verified, (
        json.dumps(honest.verification.to_json(), indent=1) if honest.verification else honest.reasons
    )
    interp = honest.verification.check("python").details["interpreter"]
    assert "/pypoetry/virtualenvs/tiny-" in interp["before"] and "poetry run" in interp["how_before"], interp
    assert broken.exit_code == 1, broken.reasons
    run = broken.verification.check("run")
    assert run.status == FAIL and "the command exits with code 1 in the rewrite, 0 in the original" in run.summary
    assert any("ModuleNotFoundError: No module named 'six'" in e for e in run.evidence), run.evidence
    assert broken.verification.check("python").status == FAIL


# -- BuildKit whenever the engine has it -------------------------------------------------------------------
PARENT_COPY = """\
FROM python:3.11-slim
WORKDIR /app
COPY ../requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip cat requirements.txt
COPY main.py .
CMD ["python", "main.py"]
"""


def test_a_file_only_buildkit_reads_is_built_with_buildkit(tmp_path):
    """`COPY ../requirements.txt` (the Dockerfile in docker/, built from the repo root) is clamped to
    the context by BuildKit and refused by the classic builder: the original builds (BuildKit is the
    default), and with --classic it does not."""
    d = tmp_path / "repo"
    (d / "docker").mkdir(parents=True)
    (d / "requirements.txt").write_text("# nothing to install\n")
    (d / "main.py").write_text("print('ok')\n")
    (d / "docker" / "Dockerfile").write_text(PARENT_COPY)
    (d / "docker" / "other.Dockerfile").write_text(PARENT_COPY.replace("CMD [", "ENV PYTHONUNBUFFERED=1\nCMD ["))

    def measure(*extra: str):
        return CliRunner().invoke(
            main,
            [
                "measure",
                str(d / "docker" / "Dockerfile"),
                "--after",
                str(d / "docker" / "other.Dockerfile"),
                "--context",
                str(d),
                "--quiet",
                "--use-cache",
                "--no-rebuild",
                *extra,
            ],
            catch_exceptions=False,
        )

    r = measure("--format", "json")
    assert r.exit_code == 0, r.stdout[-4000:] + r.stderr
    out = json.loads(r.stdout)
    assert out["builder"] == "buildkit" and out["verdict"] == "PASS"
    run = next(c for c in out["verification"]["checks"] if c["name"] == "run")
    assert run["details"]["after"]["stdout"].strip() == "ok"
    r = measure("--classic")
    assert r.exit_code == 2 and "--classic: the Dockerfiles need BuildKit (RUN --mount (line 4))" in r.stderr
    plain = PARENT_COPY.replace("RUN --mount=type=cache,target=/root/.cache/pip ", "RUN ")
    (d / "docker" / "Dockerfile").write_text(plain)
    (d / "docker" / "other.Dockerfile").write_text(plain + "ENV PYTHONUNBUFFERED=1\n")
    r = measure("--classic")
    assert r.exit_code == 2 and "the original Dockerfile does not build" in r.stderr, r.stderr
    assert "forbidden path outside the build context" in r.stderr
    assert measure().exit_code == 0  # the same file with BuildKit


def test_measure_after_an_other_file_that_does_not_build_exits_1(tmp_path):
    d = _project(tmp_path, 'FROM python:3.11-slim\nWORKDIR /app\nCOPY main.py .\nCMD ["python", "main.py"]\n')
    (d / "broken.Dockerfile").write_text(
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY main.py .\n"
        'RUN echo \'building\' && exit 3\nCMD ["python", "main.py"]\n'
    )
    r = CliRunner().invoke(
        main,
        [
            "measure",
            str(d / "Dockerfile"),
            "--after",
            str(d / "broken.Dockerfile"),
            "--quiet",
            "--use-cache",
            "--no-rebuild",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "the other Dockerfile does not build: " in r.stdout and "RUN echo 'building' && exit 3" in r.stdout
    assert "result: FAIL (the other Dockerfile does not build)" in r.stdout
