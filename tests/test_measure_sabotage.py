"""Sabotage: deliberately broken "after" images against an honest "before", and honest rewrites.

The "before" is fixtures/projects/colorizer (built without the network): a C library and a C
extension linked to it, a pure-Python distribution in a venv, an entrypoint script that execs the
command, a tool the app shells out to, and a model file the app loads by a name in its code. Each
"after" is the original Dockerfile with a few lines appended (or a side file added), built from the
same context through the pair API (``Session``: what ``slimml fix --verify`` and ``slimml measure
--after`` use), in parallel. Every sabotage must FAIL, with the failing check naming the cause;
every honest rewrite must PASS. And before any of that, each "after" is shown to really differ from
the original as intended: a verifier that never fails proves nothing, and neither does a sabotage
that breaks nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.measure.checks import FAIL, PASS
from slimml.measure.pair import Candidate, Session

from .dockerutil import docker

pytestmark = pytest.mark.docker

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "colorizer"
ORIGINAL = (PROJECT / "Dockerfile").read_text()
BATCH = ORIGINAL + 'CMD ["python", "report.py"]\n'  # the same image as a batch job
USER_SITE = (
    ORIGINAL.replace(  # the distributions in root's --user site instead of a venv
        "RUN /opt/venv/bin/pip install --no-index --no-build-isolation ./packages/palette ./native",
        "RUN python3 -m pip install --user --break-system-packages --no-index --no-build-isolation "
        "./packages/palette ./native",
    )
    .replace("COPY --from=build /opt/venv /opt/venv", "COPY --from=build /root/.local /root/.local")
    .replace("ENV PATH=/opt/venv/bin:$PATH", "ENV")
)
ACTIVATED = ORIGINAL.replace("ENV PATH=/opt/venv/bin:$PATH PORT=8000", "ENV PORT=8000").replace(
    'ENTRYPOINT ["docker-entrypoint.sh"]', 'ENTRYPOINT ["venv-entrypoint.sh"]'
)  # the entrypoint activates the venv


@dataclass
class Case:
    name: str
    append: str  # appended to the original Dockerfile
    differs: str  # sh: exit 0 in the original, non-zero in this image (it really differs as intended)
    check: str = ""  # the check that must fail and name the cause
    needle: str = ""  # in that check's summary or evidence
    side_files: dict[str, str] = field(default_factory=dict)
    original: str = ORIGINAL

    @property
    def honest(self) -> bool:
        return not self.check

    @property
    def text(self) -> str:
        return self.original + self.append


SABOTAGE = [
    Case(
        "runtime-library-missing",
        "RUN rm /usr/local/lib/libcolorops.so && ldconfig\n",
        "test -e /usr/local/lib/libcolorops.so",
        "native-libs",
        "colorops.cpython-311-x86_64-linux-gnu.so: libcolorops.so not found",
    ),
    Case(
        "package-missing",
        "RUN /opt/venv/bin/pip uninstall -y palette\n",
        "/opt/venv/bin/python -c 'import palette'",
        "python",
        "palette 1.2.0: missing in the rewrite",
    ),
    Case(
        "venv-deleted",
        "RUN rm -rf /opt/venv\n",
        "test -d /opt/venv",
        "python",
        "/opt/venv: the original's Python environment is not in the rewrite",
    ),
    Case(
        "app-file-missing",
        "RUN rm /app/model.py\n",
        "test -e /app/model.py",
        "app-files",
        "/app/model.py: missing in the rewrite (a Python module of the app)",
    ),
    Case(
        "command-exits",
        "COPY sabotage/entrypoint.sh /usr/local/bin/docker-entrypoint.sh\n",
        "grep -q 'exec \"$@\"' /usr/local/bin/docker-entrypoint.sh",
        "run",
        "the rewrite's container exits with code 0",
        {"sabotage/entrypoint.sh": "#!/bin/sh\n# forgot to run the command\nmkdir -p /tmp/colorizer\n"},
    ),
    Case(
        "port-changed",
        "ENV PORT=8001\n",
        'test "$PORT" = 8000',
        "run",
        "port 8000 (0.0.0.0) is not listened on in the rewrite; the rewrite listens on 8001",
    ),
    Case(
        "tool-missing",
        "RUN rm /usr/local/bin/thumbnailer\n",
        "command -v thumbnailer",
        "programs",
        "thumbnailer: /usr/local/bin/thumbnailer in the original, not found in the rewrite (run at /app/server.py:",
    ),
    Case(
        "model-excluded",
        "",
        "test -e /app/models/colormodel.h5",
        "app-files",
        "/app/models/colormodel.h5: missing in the rewrite, excluded by its .dockerignore (the app names it: "
        "'colormodel.h5' at /app/server.py:",
        {".dockerignore": "# weights belong in a volume\n**/*.h5\n"},
    ),
    Case(
        "batch-exit-code",
        "RUN rm /app/models/colormodel.h5\n",
        "test -e /app/models/colormodel.h5",
        "run",
        "the command exits with code 1 in the rewrite, 0 in the original",
        original=BATCH,
    ),
    Case(
        "user-site-deleted",
        "RUN rm -rf /root/.local\n",
        "test -d /root/.local",
        "python",
        "palette 1.2.0: missing in the rewrite",
        original=USER_SITE,
    ),
    Case(
        "activated-venv-package-missing",
        "RUN /opt/venv/bin/pip uninstall -y palette\n",
        "/opt/venv/bin/python -c 'import palette'",
        "python",
        "palette 1.2.0: missing in the rewrite",
        original=ACTIVATED,
    ),
]
HONEST = [
    Case(
        "unused-requirements-dropped",
        "",
        "test -e /app/requirements.txt",
        side_files={".dockerignore": "app/requirements.txt\n"},
    ),
    Case("python-env-added", "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n", 'test -z "$PYTHONUNBUFFERED"'),
    Case("batch-python-env-added", "ENV PYTHONUNBUFFERED=1\n", 'test -z "$PYTHONUNBUFFERED"', original=BATCH),
    Case("user-site-python-env-added", "ENV PYTHONUNBUFFERED=1\n", 'test -z "$PYTHONUNBUFFERED"', original=USER_SITE),
    Case(
        "activated-venv-python-env-added", "ENV PYTHONUNBUFFERED=1\n", 'test -z "$PYTHONUNBUFFERED"', original=ACTIVATED
    ),
]
ORIGINALS = {"server": ORIGINAL, "batch": BATCH, "user-site": USER_SITE, "activated": ACTIVATED}


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """Every case verified against its original: {name: (PairResult, original tag)}; built in parallel."""
    context = tmp_path_factory.mktemp("colorizer") / "colorizer"
    shutil.copytree(PROJECT, context)
    out: dict = {}
    sessions = []
    try:
        for text in ORIGINALS.values():
            cases = [c for c in SABOTAGE + HONEST if c.original == text]
            s = Session(context, text, jobs=3, run_timeout=30)
            sessions.append(s)
            results = s.verify_many([Candidate(c.text, c.side_files, c.name) for c in cases])
            for c, r in zip(cases, results):
                out[c.name] = (r, s.original().tag)
        yield out
    finally:
        for s in sessions:
            s.close()


def _explain(result) -> str:
    v = result.verification
    return json.dumps(v.to_json() if v is not None else {"error": result.error, "reasons": result.reasons}, indent=1)[
        :12000
    ]


def _sh(tag: str, script: str) -> int:
    return docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", tag, "-c", script, check=False, timeout=120
    ).returncode


@pytest.mark.parametrize("case", SABOTAGE + HONEST, ids=lambda c: c.name)
def test_each_after_really_differs_from_its_original(case, verified):
    result, original = verified[case.name]
    assert result.build is not None and result.build.ok, result.reasons
    assert _sh(original, case.differs) == 0, f"{case.differs!r} must hold in the original"
    assert _sh(result.build.tag, case.differs) != 0, f"{case.name}: {case.differs!r} must fail: it is not what it says"


@pytest.mark.parametrize("case", SABOTAGE, ids=lambda c: c.name)
def test_every_sabotage_fails_and_the_failing_check_names_the_cause(case, verified):
    result, _ = verified[case.name]
    assert result.exit_code == 1 and not result.verified, _explain(result)
    check = result.verification.check(case.check)
    assert check is not None and check.status == FAIL, _explain(result)
    text = "\n".join([check.summary, *check.evidence])
    assert case.needle in text, text


@pytest.mark.parametrize("case", HONEST, ids=lambda c: c.name)
def test_every_honest_rewrite_passes(case, verified):
    result, _ = verified[case.name]
    assert result.verified and result.exit_code == 0, _explain(result)
    names = [c.name for c in result.verification.checks]
    assert names == ["config", "python", "imports", "programs", "native-libs", "app-files", "run"]
    assert all(c.status == PASS for c in result.verification.checks), _explain(result)


def test_the_honest_runs_really_exercised_the_app(verified):
    """PASS must come from checks that looked: the server answered, the batch printed, the app's
    own modules imported, the shelled-out tool and the model file were seen."""
    server = verified["python-env-added"][0].verification
    run = server.check("run")
    assert run.details["before"]["ports"] == {"8000": ["0.0.0.0"]}
    answer = run.details["after"]["responses"]["8000"]
    assert answer["status"] == 200 and answer["shape"] == {"color": ["number"], "input": "string", "model": "string"}
    assert set(server.check("imports").details["app_modules"]) >= {"server", "model", "report"}
    assert "thumbnailer" in server.check("programs").details["programs"]
    dropped = verified["unused-requirements-dropped"][0].verification.check("app-files")
    assert dropped.details["removed"] == {
        "excluded by the rewritten .dockerignore; the app never reads it": ["/app/requirements.txt"]
    }
    batch = verified["batch-python-env-added"][0].verification.check("run")
    assert batch.details["before"]["state"] == "exited" and batch.details["before"]["exit_code"] == 0
    assert "'model': 'colormodel-v2'" in batch.details["after"]["stdout"]
    user = verified["user-site-python-env-added"][0].verification.check("python")
    assert user.details["before"]["palette"] == "1.2.0"
    # The venv is only on the PATH the entrypoint script sets: the command's Python is still the venv's.
    activated = verified["activated-venv-python-env-added"][0].verification.check("python")
    assert activated.details["interpreter"]["before"] == "/opt/venv/bin/python", activated.details["interpreter"]
    assert "with the PATH its entrypoint script sets" in activated.details["interpreter"]["how_before"]


# -- the command: `slimml measure Dockerfile --after other.Dockerfile` ---------------------------------
def _cli_context(tmp_path: Path, case: Case) -> Path:
    ctx = tmp_path / "colorizer"
    shutil.copytree(PROJECT, ctx)
    other = ctx / f"{case.name}.Dockerfile"
    other.write_text(case.text)
    for rel, content in case.side_files.items():
        # The other file's own .dockerignore (BuildKit reads <Dockerfile>.dockerignore next to it).
        dest = ctx / f"{other.name}.dockerignore" if rel == ".dockerignore" else ctx / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
        if content.startswith("#!"):
            dest.chmod(0o755)
    return ctx


@pytest.mark.parametrize(
    "name, code", [("model-excluded", 1), ("command-exits", 1), ("unused-requirements-dropped", 0)]
)
def test_measure_after_gives_the_verdict_as_its_exit_code(name, code, tmp_path):
    case = next(c for c in SABOTAGE + HONEST if c.name == name)
    ctx = _cli_context(tmp_path, case)
    r = CliRunner().invoke(
        main,
        [
            "measure",
            str(ctx / "Dockerfile"),
            "--after",
            str(ctx / f"{name}.Dockerfile"),
            "--use-cache",
            "--no-rebuild",
            "--quiet",
            "--format",
            "json",
            "--run-timeout",
            "30",
        ],
        catch_exceptions=False,
    )
    out = json.loads(r.stdout)
    assert r.exit_code == code, r.stdout[-6000:] + r.stderr
    assert out["mode"] == "after" and out["builder"] == "buildkit"
    assert out["verdict"] == ("PASS" if code == 0 else "FAIL")
    if code:
        check = next(c for c in out["verification"]["checks"] if c["name"] == case.check)
        assert check["status"] == "fail" and case.needle in "\n".join([check["summary"], *check["evidence"]])
