"""Issue 4 with a real engine: weights moved out of the image (SLM010) and fetched by the init script.

fixtures/projects/weights-app reads models/ (2 MB of dummy weights) at start-up. After
`slimml fix --select SLM010 --unsafe-fixes --write`, the image must be smaller by the weights;
run with the weights mounted it answers as before; with neither weights nor a source it fails
with a message naming the path; with a source on a loopback HTTP server it downloads once into a
volume and reuses it on the next start.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tarfile
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main

from .dockerutil import Images, docker

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "weights-app"
TARGET = "/app/models"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    images = Images()
    root = tmp_path_factory.mktemp("weights")
    before_dir, after_dir = root / "before", root / "after"
    shutil.copytree(PROJECT, before_dir)
    shutil.copytree(PROJECT, after_dir)
    r = CliRunner().invoke(
        main,
        ["fix", "--write", "--unsafe-fixes", "--select", "SLM010", str(after_dir / "Dockerfile")],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert "docker-entrypoint-weights.sh" in (after_dir / "Dockerfile").read_text()
    before, _ = images.build(before_dir)
    after, _ = images.build(after_dir)
    try:
        yield images, before, after, before_dir
    finally:
        images.cleanup()


class _Counting(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


def _smoke():
    return tomllib.loads((PROJECT / "project.toml").read_text())["smoke"]


def test_image_is_smaller_by_the_weights(built):
    images, before, after, ctx = built
    weights = sum(p.stat().st_size for p in (ctx / "models").rglob("*") if p.is_file())
    assert images.size(before) - images.size(after) >= weights - 64 * 1024
    assert images.sh(after, f"test ! -e {TARGET}/model.npz").returncode == 0


def test_runs_as_before_with_the_weights_mounted(built):
    images, before, after, ctx = built
    want = images.sh(before, _smoke())
    assert want.returncode == 0, want.stderr
    got = images.run(after, "sh", "-c", _smoke(), extra=("-v", f"{ctx / 'models'}:{TARGET}:ro"))
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout


def test_fails_clearly_without_weights_or_source(built):
    images, _, after, _ = built
    r = images.run(after, "sh", "-c", _smoke())
    assert r.returncode != 0
    assert TARGET in r.stderr and "error" in r.stderr.lower()


def test_downloads_once_from_a_loopback_source_and_reuses_the_volume(built, tmp_path):
    images, before, after, ctx = built
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "models.tar.gz", "w:gz") as tar:
        for p in sorted((ctx / "models").iterdir()):
            tar.add(p, arcname=p.name)
    _Counting.hits = []
    handler = functools.partial(_Counting, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    volume = f"slimml-test-{uuid.uuid4().hex[:10]}"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/models.tar.gz"
        run = ("--network", "host", "-e", f"WEIGHTS_MODELS_URI={url}", "-v", f"{volume}:{TARGET}")
        want = images.sh(before, _smoke()).stdout
        first = images.run(after, "sh", "-c", _smoke(), extra=run)
        assert first.returncode == 0, first.stderr
        assert first.stdout == want
        assert _Counting.hits == ["/models.tar.gz"]
        second = images.run(after, "sh", "-c", _smoke(), extra=run)
        assert second.returncode == 0, second.stderr
        assert second.stdout == want
        assert _Counting.hits == ["/models.tar.gz"], "the second start must reuse the volume"
    finally:
        server.shutdown()
        docker("volume", "rm", "-f", volume, check=False)
