"""Issue 11 with a real engine: weights a download stage fetched (``COPY --from=<stage>``) move to start-up.

The stage curls 1 MB of weights from a loopback HTTP server; the service reads them. After
`slimml fix --select SLM010 --unsafe-fixes --write` the stage is gone, the image is smaller by the
weights, and the container fetches them from the same URL at start -- same output as before --
once per volume.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
import uuid

import pytest
from click.testing import CliRunner

from slimml.cli import main

from .dockerutil import Images, docker
from .test_docker_weights import _Counting

pytestmark = pytest.mark.docker

APP = "import hashlib\nprint(hashlib.sha256(open('/models/model.onnx', 'rb').read()).hexdigest())\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    weights = os.urandom(1 << 20)
    (root / "model.onnx").write_bytes(weights)
    _Counting.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Counting, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/model.onnx", hashlib.sha256(weights).hexdigest()
    finally:
        server.shutdown()


def _build(images: Images, ctx) -> str:
    tag = f"slimml-test/{uuid.uuid4().hex[:12]}"
    r = docker("build", "--network", "host", "-t", tag, str(ctx), timeout=1200, check=False)
    assert r.returncode == 0, r.stderr[-4000:]
    images.tags.append(tag)
    return tag


def test_a_download_stage_moves_to_start_up(tmp_path, served):
    url, digest = served
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11 AS weights\n"
        f"RUN mkdir -p /models && curl -fsSL -o /models/model.onnx {url}\n\n"
        "FROM python:3.11-slim\nCOPY --from=weights /models /models\nCOPY app.py /app/app.py\n"
        'CMD ["python", "/app/app.py"]\n'
    )
    images = Images()
    volume = f"slimml-test-{uuid.uuid4().hex[:10]}"
    try:
        before = _build(images, tmp_path)
        assert images.run(before).stdout.strip() == digest
        r = CliRunner().invoke(
            main,
            ["fix", "--write", "--unsafe-fixes", "--select", "SLM010", str(tmp_path / "Dockerfile")],
            catch_exceptions=False,
        )
        assert r.exit_code == 0, r.output
        text = (tmp_path / "Dockerfile").read_text()
        assert "AS weights" not in text and "COPY --from" not in text
        hits = len(_Counting.hits)
        after = _build(images, tmp_path)
        assert len(_Counting.hits) == hits, "the image build no longer downloads the weights"
        assert images.size(before) - images.size(after) >= (1 << 20) - 64 * 1024
        assert images.sh(after, "test ! -e /models/model.onnx").returncode == 0
        run = ("--network", "host", "-v", f"{volume}:/models")
        first = images.run(after, extra=run)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == digest
        assert len(_Counting.hits) == hits + 1
        second = images.run(after, extra=run)
        assert second.stdout.strip() == digest and len(_Counting.hits) == hits + 1
    finally:
        images.cleanup()
        docker("volume", "rm", "-f", volume, check=False)
