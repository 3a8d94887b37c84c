"""SLM010 ``weights-delivery = "image"`` with a real engine: the weights image, and the service
reading the weights from it.

fixtures/model-weights/image-delivery prints the names, sizes and digests of the files under
/app/models. After the fix the service image has no weights; the weights image (FROM scratch)
has them. This engine (Docker 20.10) has no image mounts (``--mount type=image``, Docker >= 28),
so the run uses the fallback the generated snippet documents: a container created from the
``docker-volume`` target of the weights Dockerfile, and the service ``--volumes-from`` it
(read-only). Kubernetes (image volume) and KServe (modelcar) are not run here; their snippets are
checked structurally in test_weights_artifact.py.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import shutil
import subprocess
import tarfile
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main

from .dockerutil import DOCKER, Images, docker

CASE = Path(__file__).resolve().parent.parent / "fixtures" / "model-weights" / "image-delivery"
TARGET = "/app/models"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    images = Images()
    root = tmp_path_factory.mktemp("weights-image")
    before_dir, after_dir = root / "before", root / "after"
    for d in (before_dir, after_dir):
        shutil.copytree(CASE, d, ignore=shutil.ignore_patterns("expected.*", "case.toml"))
    (after_dir / ".slimml.toml").write_text('[rules.SLM010]\nweights-delivery = "image"\nmin-bytes = 1000\n')
    r = CliRunner().invoke(
        main,
        ["fix", "--write", "--unsafe-fixes", "--select", "SLM010", str(after_dir / "Dockerfile")],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert (after_dir / "weights.Dockerfile").is_file()
    containers: list[str] = []
    try:
        before, _ = images.build(before_dir)
        service, _ = images.build(after_dir)
        weights, _ = images.build(after_dir, after_dir / "weights.Dockerfile")
        tag = f"slimml-test/{uuid.uuid4().hex[:12]}"
        out = docker(
            "build",
            "-f",
            str(after_dir / "weights.Dockerfile"),
            "--target",
            "docker-volume",
            "-t",
            tag,
            str(after_dir),
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        images.tags.append(tag)
        yield images, before, service, weights, tag, containers, before_dir
    finally:
        for c in containers:
            docker("rm", "-f", "-v", c, check=False)
        images.cleanup()


def _weights_bytes(ctx: Path) -> int:
    return sum(p.stat().st_size for p in (ctx / "models").rglob("*") if p.is_file())


def test_the_service_image_has_no_weights(built):
    images, before, service, _, _, _, ctx = built
    assert images.sh(service, f"test ! -e {TARGET}").returncode == 0
    assert images.sh(before, f"test -d {TARGET}").returncode == 0
    assert images.size(before) - images.size(service) >= _weights_bytes(ctx)
    # and no init script: the command is the original one
    assert images.config(service)["Cmd"] == images.config(before)["Cmd"]
    assert not images.config(service).get("Entrypoint")


def test_the_weights_image_is_the_weights_and_nothing_else(built):
    images, _, _, weights, _, containers, ctx = built
    size = images.size(weights)
    assert _weights_bytes(ctx) <= size <= _weights_bytes(ctx) + 64 * 1024
    # its layers hold exactly the weights, at the root (where the image volume is mounted)
    saved = subprocess.run([DOCKER, "save", weights], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        layers = json.load(outer.extractfile("manifest.json"))[0]["Layers"]
        files = {}
        for layer in layers:
            with tarfile.open(fileobj=outer.extractfile(layer)) as t:
                files.update({m.name: m.size for m in t.getmembers() if m.isfile()})
    assert files == {
        p.relative_to(ctx / "models").as_posix(): p.stat().st_size for p in (ctx / "models").rglob("*") if p.is_file()
    }
    # FROM scratch: no shell, no command -- `docker create` needs a command, any word does
    cid = docker("create", weights, "none").stdout.strip()
    containers.append(cid)


def test_the_service_reads_the_weights_from_the_mounted_image(built):
    images, before, service, _, volume_image, containers, _ = built
    want = images.run(before)
    assert want.returncode == 0, want.stderr
    assert "encoder.safetensors 6000" in want.stdout
    name = f"slimml-test-weights-{uuid.uuid4().hex[:10]}"
    docker("create", "--name", name, volume_image, "none")
    containers.append(name)
    got = images.run(service, extra=("--volumes-from", f"{name}:ro"))
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout
    # read-only, as the Kubernetes image volume is
    w = images.run(service, "sh", "-c", f"touch {TARGET}/x", extra=("--volumes-from", f"{name}:ro"))
    assert w.returncode != 0 and "Read-only file system" in w.stderr


def test_without_the_mount_the_service_finds_no_weights(built):
    images, _, service, _, _, _, _ = built
    r = images.run(service)
    assert r.returncode != 0 and TARGET in r.stderr


def test_the_weights_image_is_not_rebuilt_for_a_code_change(built, tmp_path):
    """Only the weights are sent to its build: a new version of the code gives the same image."""
    images, _, _, weights, _, _, ctx = built
    after = ctx.parent / "after"
    copy = tmp_path / "after"
    shutil.copytree(after, copy)
    (copy / "app.py").write_text((copy / "app.py").read_text() + "print('v2')\n")
    again, _ = images.build(copy, copy / "weights.Dockerfile")
    assert images.config(again) == images.config(weights)
    assert (
        docker("image", "inspect", "--format", "{{.Id}}", again).stdout
        == docker("image", "inspect", "--format", "{{.Id}}", weights).stdout
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass


def test_downloaded_weights_come_from_the_download_stage(tmp_path):
    """ADD of a URL: the weights image's download stage fetches it with the init script's recipe;
    a build argument picks another model version without touching the service image."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (served / "model-v2.safetensors").write_bytes(bytes(range(255, -1, -1)) * 40)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/model.safetensors"
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(
        f"FROM python:3.11-slim\nADD {url} /opt/det/model.safetensors\n"
        'COPY app.py /app/\nCMD ["python", "/app/app.py"]\n'
    )
    (project / "app.py").write_text(
        "import hashlib\nwith open('/opt/det/model.safetensors', 'rb') as f:\n"
        "    print(hashlib.sha256(f.read()).hexdigest())\n"
    )
    before_dir = tmp_path / "before"
    shutil.copytree(project, before_dir)
    (project / ".slimml.toml").write_text('[rules.SLM010]\nweights-delivery = "image"\n')
    r = CliRunner().invoke(
        main,
        ["fix", "--write", "--unsafe-fixes", "--select", "SLM010", str(project / "Dockerfile")],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert url not in (project / "Dockerfile").read_text()
    images = Images()
    names: list[str] = []
    try:
        before, _ = images.build(before_dir)
        service, _ = images.build(project)
        volumes = {}
        for version, extra in (("v1", ()), ("v2", ("--build-arg", f"WEIGHTS_MODEL_URI={url[:-12]}-v2.safetensors"))):
            tag = f"slimml-test/{uuid.uuid4().hex[:12]}"
            # the download stage reaches the loopback server through the host network
            out = docker(
                "build",
                "--network",
                "host",
                *extra,
                "-f",
                str(project / "weights.Dockerfile"),
                "--target",
                "docker-volume",
                "-t",
                tag,
                str(project),
                check=False,
            )
            assert out.returncode == 0, out.stderr[-3000:]
            images.tags.append(tag)
            name = f"slimml-test-weights-{uuid.uuid4().hex[:10]}"
            docker("create", "--name", name, tag, "none")
            names.append(name)
            volumes[version] = name
        want = images.run(before)
        assert want.returncode == 0, want.stderr
        got = images.run(service, extra=("--volumes-from", f"{volumes['v1']}:ro"))
        assert got.returncode == 0, got.stderr
        assert got.stdout == want.stdout
        v2 = images.run(service, extra=("--volumes-from", f"{volumes['v2']}:ro"))
        assert v2.returncode == 0, v2.stderr
        assert v2.stdout.strip() == hashlib.sha256((served / "model-v2.safetensors").read_bytes()).hexdigest()
        assert images.sh(service, "test ! -e /opt/det/model.safetensors").returncode == 0
    finally:
        server.shutdown()
        for n in names:
            docker("rm", "-f", "-v", n, check=False)
        images.cleanup()


def test_verify_keeps_the_image_form_with_the_weights_mounted_as_the_deployment_would(tmp_path):
    """`fix --verify` runs the rewritten service with the paths the weights image provides (its `# slimml-source:`
    lines) put back, as the deployment's read-only mount would; without them it dropped the fix."""
    ctx = tmp_path / "svc"
    (ctx / "models").mkdir(parents=True)
    (ctx / "models" / "model.bin").write_bytes(b"\7" * 300_000)
    (ctx / "app.py").write_text("import os\nprint(os.path.getsize('/app/models/model.bin'))\n")
    (ctx / "Dockerfile").write_text(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY models/ /app/models/\nCOPY app.py .\nCMD ["python", "app.py"]\n'
    )
    (ctx / ".slimml.toml").write_text('[rules.SLM010]\nweights-delivery = "image"\nmin-bytes = 1000\n')
    r = CliRunner().invoke(
        main,
        [
            "fix",
            "--verify",
            "--write",
            "--unsafe-fixes",
            "--select",
            "SLM010",
            "--format",
            "json",
            str(ctx / "Dockerfile"),
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    fixes = (
        {f["code"]: f for f in out[0]["fixes"]}
        if isinstance(out, list)
        else {f["code"]: f for f in out["files"][0]["fixes"]}
    )
    assert fixes["SLM010"]["kept"], fixes
    assert (ctx / "weights.Dockerfile").is_file() and "COPY models/" not in (ctx / "Dockerfile").read_text()
