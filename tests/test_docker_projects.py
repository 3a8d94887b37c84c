"""Real builds: each fixture project before and after `slimml fix --unsafe-fixes --write`.

The rewritten image must build, run the same app the same way (smoke command, and the real CMD
where the project serves HTTP), and be smaller. Needs a Docker engine (see .ci/docker-setup.sh).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main

from .dockerutil import Images

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
SPLIT_PROJECTS = [
    "fastapi-sklearn",
    "psycopg2-api",
    # one per installer SLM008 splits (issue 11), each with a C extension built at install time
    "uv-sync",
    "uv-pip-system",
    "poetry-app",
    "pdm-app",
    "pipenv-app",
    "self-venv",
    "cuda-compile",  # a devel base that compiles an extension (flash-attn / apex stand-in)
]

pytestmark = pytest.mark.docker


@pytest.fixture
def images():
    im = Images()
    yield im
    im.cleanup()


def _fix(project_dir: Path) -> str:
    r = CliRunner().invoke(
        main, ["fix", "--write", "--unsafe-fixes", str(project_dir / "Dockerfile")], catch_exceptions=False
    )
    assert r.exit_code == 0, r.output
    return r.stderr


def _serve(images: Images, tag: str, url: str) -> str:
    cid = images.start(tag)
    script = (
        f"import time, urllib.request\nfor _ in range(60):\n    try:\n"
        f"        print(urllib.request.urlopen({url!r}, timeout=2).read().decode()); break\n"
        f"    except Exception:\n        time.sleep(0.5)\n"
    )
    from .dockerutil import docker

    out = docker("exec", cid, "python", "-c", script, check=False)
    return out.stdout.strip()


@pytest.mark.parametrize("name", SPLIT_PROJECTS)
def test_rewrite_builds_runs_the_same_and_is_smaller(name, tmp_path, images):
    src = PROJECTS / name
    spec = tomllib.loads((src / "project.toml").read_text())
    before_dir, after_dir = tmp_path / "before", tmp_path / "after"
    shutil.copytree(src, before_dir)
    shutil.copytree(src, after_dir)

    summary = _fix(after_dir)
    rewritten = (after_dir / "Dockerfile").read_text()
    assert "AS builder" in rewritten and rewritten.count("FROM ") == 2, rewritten  # split into two stages

    before, _ = images.build(before_dir)
    after, _ = images.build(after_dir)

    out_before = images.sh(before, spec["smoke"])
    out_after = images.sh(after, spec["smoke"])
    assert out_before.returncode == 0, out_before.stderr
    assert out_after.returncode == 0, f"rewritten image fails the smoke test:\n{out_after.stderr}\n{rewritten}"
    assert out_after.stdout == out_before.stdout
    assert out_before.stdout.strip().startswith(spec["expect"])

    if "serve_url" in spec:
        assert _serve(images, before, spec["serve_url"]) == spec["serve_expect"]
        assert _serve(images, after, spec["serve_url"]) == spec["serve_expect"]

    cfg_b, cfg_a = images.config(before), images.config(after)
    for key in ("Cmd", "Entrypoint", "WorkingDir", "ExposedPorts", "User"):
        assert cfg_a.get(key) == cfg_b.get(key), key

    size_b, size_a = images.size(before), images.size(after)
    assert size_a < size_b, (size_b, size_a)
    print(
        f"\n{name}: {size_b / 1e6:.0f} MB -> {size_a / 1e6:.0f} MB ({100 * (1 - size_a / size_b):.0f}% smaller)\n{summary}"
    )
