"""SLM012's lock, built for real: an unpinned service is locked by `slimml fix --resolve` against a package index
(the local one, served to the builds over the docker0 bridge), `slimml measure` verifies the locked build installs
the same distributions and behaves the same, and -- "two builds a day apart" -- after a newer release appears on the
index, a cold rebuild of the original picks it up while the locked rebuild keeps the locked version."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.deps import resolve as R
from slimml.measure.checks import PASS

from . import pkgindex as pi
from .dockerutil import Images, docker

pytestmark = pytest.mark.docker

DOCKERFILE = """\
# an unpinned service: `flasklike>=1.0` is whatever the index has on the day of the build
from python:3.11-slim
workdir /srv
COPY requirements.txt ./
RUN pip install --no-cache-dir \\
      # the team's index
      --index-url {index} --trusted-host {host} \\
      -r requirements.txt
COPY app.py ./
CMD ["python", "app.py"]
"""

APP = """\
from importlib.metadata import version

print("flasklike", version("flasklike"), "werkzeuglike", version("werkzeuglike"))
"""


def _project(root: Path, index: str, host: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE.format(index=index, host=host))
    (root / "requirements.txt").write_text("# the app's direct dependencies\nflasklike>=1.0\n")
    (root / "app.py").write_text(APP)
    (root / ".dockerignore").write_text(".git\n__pycache__/\n")
    return root


def _build_and_run(images: Images, ctx: Path, name: str) -> str:
    tag = f"slimml-test/pin-{name}-{uuid.uuid4().hex[:8]}"
    r = docker("build", "--no-cache", "-t", tag, str(ctx), check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    images.tags.append(tag)
    out = images.run(tag)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_lock_keeps_a_rebuild_on_the_locked_versions(tmp_path):
    idx = pi.torch_like(tmp_path / "index")
    ip = pi.docker_bridge_ip()
    images = Images()
    R._MEMO.clear()
    try:
        with pi.IndexServer(idx.default.root.parent, ip) as srv:
            original = _project(tmp_path / "original", f"{srv.url}/default/simple", ip)
            fixed = tmp_path / "fixed"
            shutil.copytree(original, fixed)
            res = CliRunner().invoke(
                main, ["fix", "--resolve", "--unsafe-fixes", "--select", "SLM012", "--write", str(fixed / "Dockerfile")]
            )
            assert res.exit_code in (0, 1), res.output
            lock = (fixed / "requirements.lock").read_text()
            assert "flasklike==1.0.0" in lock and "werkzeuglike==2.0.0" in lock, lock
            assert (fixed / "requirements.txt").read_text() == (original / "requirements.txt").read_text()
            text = (fixed / "Dockerfile").read_text()
            assert "requirements.lock" in text, text
            # idempotent: a second run finds nothing left to lock
            again = CliRunner().invoke(main, ["check", "--select", "SLM012", "--no-cache", str(fixed / "Dockerfile")])
            assert again.exit_code == 0, again.output

            # the day of the fix: both builds install the same versions and the app says so
            assert _build_and_run(images, original, "orig1") == "flasklike 1.0.0 werkzeuglike 2.0.0"
            assert _build_and_run(images, fixed, "fixed1") == "flasklike 1.0.0 werkzeuglike 2.0.0"

            # a day later flasklike 1.1.0 is out: the unpinned original moves, the locked build does not
            idx.default.add(pi.FLASKLIKE_NEW)
            assert _build_and_run(images, original, "orig2") == "flasklike 1.1.0 werkzeuglike 2.0.0"
            assert _build_and_run(images, fixed, "fixed2") == "flasklike 1.0.0 werkzeuglike 2.0.0"
    finally:
        images.cleanup()
        R._MEMO.clear()


def test_measure_verifies_the_locked_rewrite(tmp_path):
    """`slimml measure` with `resolve = true`: the rewrite (with its lock) builds, and the verification -- the same
    distributions at the same versions, the imports, the real command's exit -- passes."""
    idx = pi.torch_like(tmp_path / "index")
    ip = pi.docker_bridge_ip()
    R._MEMO.clear()
    try:
        with pi.IndexServer(idx.default.root.parent, ip) as srv:
            proj = _project(tmp_path / "svc", f"{srv.url}/default/simple", ip)
            (proj / ".slimml.toml").write_text("resolve = true\n")
            res = CliRunner().invoke(
                main,
                [
                    "measure",
                    "--unsafe-fixes",
                    "--select",
                    "SLM012",
                    "--no-rebuild",
                    "--format",
                    "json",
                    "-q",
                    str(proj),
                ],
            )
            assert res.exit_code == 0, res.output[-4000:]
            data = json.loads(res.output)
            checks = {c["name"]: c for c in data["verification"]["checks"]}
            assert checks["python"]["status"] == PASS, checks["python"]
            assert checks["python"]["details"]["before"]["flasklike"] == "1.0.0"
            assert checks["python"]["details"]["after"]["flasklike"] == "1.0.0"
            assert data["verification"]["verdict"] == "PASS", data["verification"]
            assert not (proj / "requirements.lock").exists(), "measure rewrites a copy, never the project"
    finally:
        R._MEMO.clear()


def test_fix_verify_keeps_the_lock_only_after_a_verifying_build(tmp_path):
    """`slimml fix --verify --resolve --unsafe-fixes --write`: the lock is kept because the builds verify (the
    issue's "--verify proves the pinned build behaves the same"), and written with the Dockerfile change."""
    idx = pi.torch_like(tmp_path / "index")
    ip = pi.docker_bridge_ip()
    R._MEMO.clear()
    try:
        with pi.IndexServer(idx.default.root.parent, ip) as srv:
            proj = _project(tmp_path / "svc", f"{srv.url}/default/simple", ip)
            res = CliRunner().invoke(
                main,
                ["fix", "--verify", "--resolve", "--unsafe-fixes", "--write", "--select", "SLM012", str(proj)],
            )
            assert res.exit_code == 0, res.output[-4000:]
            assert "kept    SLM012 (unsafe, verified by a build)" in res.output, res.output[-4000:]
            assert "flasklike==1.0.0" in (proj / "requirements.lock").read_text()
            assert "-c /srv/requirements.lock" in (proj / "Dockerfile").read_text()
    finally:
        R._MEMO.clear()
