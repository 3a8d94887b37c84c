"""`slimml fix --verify` and `slimml migrate --verify` against a real engine: an unsafe fix that
breaks the image is dropped with its evidence, one that verifies is kept, and the written result
builds and behaves like the original."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .dockerutil import Images

pytestmark = pytest.mark.docker

DOCKERFILE = 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python3", "app.py"]\n'
# The app reads data/ through a path built at run time: slimml cannot see it, so excluding data/
# is an *unsafe* fix -- here a wrong one, which only a build can show.
READS_DATA = (
    'import os\nd = "".join(map(chr, [100, 97, 116, 97]))\nprint(open(os.path.join(d, "labels.json")).read())\n'
)
IGNORES_DATA = 'print("ok")\n'


def _project(root: Path, app: str) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "labels.json").write_text('{"cat": 1}\n')
    (root / "app.py").write_text(app)
    (root / "Dockerfile").write_text(DOCKERFILE)
    return root


def _slimml(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slimml.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def images():
    im = Images()
    yield im
    im.cleanup()


def test_fix_verify_drops_the_unsafe_fix_that_breaks_the_image(tmp_path, images):
    root = _project(tmp_path / "p", READS_DATA)
    r = _slimml("fix", "--verify", "--write", "--format", "json", "Dockerfile", cwd=root)
    assert r.returncode == 0, r.stderr
    [f] = json.loads(r.stdout)["files"]
    fixes = {x["code"]: x for x in f["fixes"]}
    assert fixes["SLM006"]["kept"] is False
    assert "app-files" in fixes["SLM006"]["why"] or "run:" in fixes["SLM006"]["why"]
    assert f["safe_verified"] is True
    ignore = (root / ".dockerignore").read_text()
    assert "data/" not in ignore.splitlines() and ".git" in ignore  # the safe part is written
    # ... and the written rewrite builds and prints what the original printed
    tag, _ = images.build(root)
    assert images.run(tag).stdout.strip() == '{"cat": 1}'


def test_fix_verify_keeps_the_unsafe_fix_a_build_proves(tmp_path, images):
    root = _project(tmp_path / "p", IGNORES_DATA)
    r = _slimml("fix", "--verify", "--write", "Dockerfile", cwd=root)
    assert r.returncode == 0, r.stderr
    assert "kept    SLM006" in r.stderr
    assert "data/" in (root / ".dockerignore").read_text().splitlines()
    tag, _ = images.build(root)
    assert images.run(tag).stdout.strip() == "ok"
    assert images.sh(tag, "test -e /app/data/labels.json && echo present || echo gone").stdout.strip() == "gone"


def test_migrate_verify_commits_only_what_verified_and_reports_why(tmp_path):
    repo = _project(tmp_path / "repo", READS_DATA)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"],
    ):
        subprocess.run(cmd, cwd=repo, check=True)
    work = tmp_path / "work"
    r = _slimml("migrate", str(repo), "--workdir", str(work), "--verify", "--jobs", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    show = subprocess.run(
        ["git", "show", "slimml/slim-images:.dockerignore"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert "data/" not in show.splitlines()
    message = subprocess.run(
        ["git", "log", "-1", "--format=%B", "slimml/slim-images"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert "SLM006 not applied" in message and "did not verify" in message
    report = json.loads(
        _slimml("report", "--state", str(work / ".slimml" / "migrate.db"), "--format", "json", cwd=tmp_path).stdout
    )
    [v] = report["verified"]
    assert v["safe_verified"] is True and [d["code"] for d in v["dropped"]] == ["SLM006"]
    assert v["measured_before"] and v["measured_after"]
