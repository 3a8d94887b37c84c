"""Repair from evidence against a real engine (slimml.measure.repair, through ``slimml fix --verify``'s
prove and on a measure.pair.Session): a split that loses a runtime library the table does not know
(lightgbm -> libgomp.so.1 on python:3.11-slim) and a program the app runs is repaired from the
images themselves; an honest split is left alone; a library no package ships is dropped with evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slimml import proof
from slimml.knowledge import apt_packages as A
from slimml.runner import Options

from .dockerutil import Images

pytestmark = pytest.mark.docker

DOCKERFILE = (
    "FROM python:3.11\nWORKDIR /app\nCOPY requirements.txt .\n"
    'RUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\nCMD ["python", "app.py"]\n'
)
APP = 'import lightgbm\nprint("lightgbm", lightgbm.__version__)\n'
# lzmainfo is in the full image (xz-utils) and not in -slim; neither SLM008's table of tools knows it.
APP_RUNS = (
    APP
    + 'import subprocess\nsubprocess.run(["lzmainfo", "--version"], check=True, capture_output=True)\nprint("ran")\n'
)


@pytest.fixture
def images():
    im = Images()
    yield im
    im.cleanup()


def _project(root: Path, app: str) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text("lightgbm==4.5.0\n")
    (root / "app.py").write_text(app)
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


def test_a_split_that_loses_libgomp_and_a_program_is_repaired(tmp_path, images, monkeypatch):
    monkeypatch.delitem(A.PIP_SYSTEM_LIBS, "lightgbm")  # the table does not know lightgbm
    root = _project(tmp_path / "p", APP_RUNS)
    p = proof.prove(root / "Dockerfile", Options(unsafe_fixes=True), jobs=2)
    assert p.exit_code == 0 and p.error is None, proof.summary_lines(p, False)
    [d] = [d for d in p.decisions if d.code == "SLM008"]
    assert d.kept, d.why
    rep = d.repair
    assert rep["verified"] and sorted(rep["packages"]) == ["libgomp1", "xz-utils"]
    first = rep["iterations"][0]
    assert "lib_lightgbm.so" in first["scan"]["missing"]["libgomp.so.1"][0]
    assert first["programs"] == {"lzmainfo": [first["programs"]["lzmainfo"][0]]}
    assert first["scan"]["roots"] == ["/opt/venv"] and first["outcome"] == "verified"
    assert any("libgomp1: library libgomp.so.1" in r for r in rep["reasons"])
    j = proof.to_json(p)
    assert sorted(j["packages_added"]) == ["libgomp1", "xz-utils"]
    assert any("runtime packages from evidence" in x for x in proof.summary_lines(p, False))
    # the written file installs them in its runtime stage, builds, and runs the same as the original
    w = proof.write(p, Options(unsafe_fixes=True, write=True), {}, {})
    assert w.error is None
    text = (root / "Dockerfile").read_text()
    final = text.split("FROM python:3.11-slim", 1)[1]
    assert (
        "install -y --no-install-recommends libgomp1 xz-utils" in final
        or "install -y --no-install-recommends xz-utils libgomp1" in final
    )
    before, _ = images.build(_project(tmp_path / "orig", APP_RUNS))
    after, _ = images.build(root)
    assert images.run(after).stdout == images.run(before).stdout == "lightgbm 4.5.0\nran\n"
    assert images.size(after) < images.size(before)


def test_an_honest_split_gets_nothing_added(tmp_path, monkeypatch):
    # the table knows lightgbm (libgomp1), the app runs nothing the slim base lacks: verified as written
    assert A.PIP_SYSTEM_LIBS["lightgbm"] == ("libgomp1",)
    root = _project(tmp_path / "p", APP)
    p = proof.prove(root / "Dockerfile", Options(unsafe_fixes=True), jobs=2)
    assert p.exit_code == 0, proof.summary_lines(p, False)
    [d] = [d for d in p.decisions if d.code == "SLM008"]
    assert d.kept and d.why == "verified" and d.repair is None and p.packages == []
    assert p.report.result.output.count("apt-get install") == 1  # the table's install, nothing more


DEP_C = "int dep(void) { return 41; }\n"
USER_C = "int dep(void);\nint user(void) { return dep() + 1; }\n"
CTYPES_APP = 'import ctypes\nprint(ctypes.CDLL("/opt/app/libuser.so").user())\n'
RUN_BUILD = (
    "RUN gcc -shared -fPIC -o /usr/local/lib/libslimmltest.so.1 -Wl,-soname,libslimmltest.so.1 dep.c "
    "&& ldconfig && mkdir -p /opt/app && gcc -shared -fPIC -o /opt/app/libuser.so user.c -L/usr/local/lib "
    "-l:libslimmltest.so.1\n"
)
TAIL = 'COPY app.py /app/app.py\nCMD ["python3", "/app/app.py"]\n'
# The original builds a library into /usr/local/lib (no package ships it) and a file that links it ...
ORIGINAL = "FROM python:3.11\nWORKDIR /src\nCOPY dep.c user.c ./\n" + RUN_BUILD + TAIL
# ... and a split that copies only /opt/app loses it.
SPLIT_WITHOUT_LIB = (
    "FROM python:3.11 AS build\nWORKDIR /src\nCOPY dep.c user.c ./\n"
    + RUN_BUILD
    + "\nFROM python:3.11-slim\nCOPY --from=build /opt/app /opt/app\n"
    + TAIL
)


def test_a_library_no_package_ships_is_dropped_with_evidence(tmp_path):
    """No network: the library is built in the builder and only the original copies it."""
    from slimml.measure.pair import Candidate, Session
    from slimml.measure.repair import repair_candidate

    ctx = tmp_path / "c"
    ctx.mkdir()
    (ctx / "dep.c").write_text(DEP_C)
    (ctx / "user.c").write_text(USER_C)
    (ctx / "app.py").write_text(CTYPES_APP)
    (ctx / "Dockerfile").write_text(ORIGINAL)
    with Session(ctx, ORIGINAL, jobs=1) as s:
        cand = Candidate(SPLIT_WITHOUT_LIB, label="no-lib")
        r = s.verify(cand)
        assert r.build is not None and r.build.ok and not r.verified
        rep = repair_candidate(s, cand, r)
    assert rep is not None and not rep.verified and rep.packages == [] and rep.text is None
    [it] = rep.iterations  # one scan, no rebuild
    assert it.scan["missing"] == {"libslimmltest.so.1": ["/opt/app/libuser.so"]}
    assert it.owners[0]["path"] == "/usr/local/lib/libslimmltest.so.1" and it.owners[0]["package"] is None
    assert "no Debian/Ubuntu package ships" in rep.evidence[0] and "/opt/app/libuser.so" in rep.evidence[0]
    assert json.dumps(rep.to_json())  # what the summary and --format json carry


def test_measure_repairs_the_rewrite_it_verifies(tmp_path, monkeypatch):
    from slimml.measure import report as R
    from slimml.measure.plan import RewriteOptions
    from slimml.measure.run import MeasureOptions, run_measure

    monkeypatch.delitem(A.PIP_SYSTEM_LIBS, "lightgbm")
    root = _project(tmp_path / "p", APP)
    # a runtime library the file installs: the runtime stage has an apt install, which the repair joins
    (root / "Dockerfile").write_text(
        DOCKERFILE.replace(
            "WORKDIR",
            "RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev "
            "&& rm -rf /var/lib/apt/lists/*\nWORKDIR",
            1,
        )
    )
    r = run_measure(
        root / "Dockerfile", MeasureOptions(rewrite=RewriteOptions(unsafe_fixes=True), rebuild=False, cold=False)
    )
    assert r.exit_code == 0 and r.verification.verdict == "PASS", R.to_text(r)
    assert r.repair["verified"] and r.repair["packages"] == ["libgomp1"]
    j = R.to_json(r)
    runtime = j["rewrite"]["diff"].split("+FROM python:3.11-slim", 1)[1]
    assert "+RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libgomp1 && rm -rf" in runtime
    assert runtime.count("apt-get update") == 1, runtime
    assert ".dockerignore" in j["rewrite"]["diff"]
    assert j["repair"]["iterations"][0]["owners"][0]["package"] == "libgomp1"
    assert any("repaired from evidence" in n for n in r.notes)
    assert not (root / ".dockerignore").exists()  # measure never writes the user's files
