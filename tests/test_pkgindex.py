"""The local package index the issue-14 tests resolve against (tests/pkgindex.py): its wheels are well formed and
reproducible, pip resolves the expected versions and dependency closure from it (file:// and HTTP), hashes are
checked, and -- Docker tier -- the CPU index really makes an image smaller by the CUDA stand-ins' payload."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest

from . import pkgindex as pi
from .dockerutil import Images, docker


@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> pi.TorchLike:
    return pi.torch_like(tmp_path_factory.mktemp("pkgindex"))


def test_wheels_are_reproducible_and_well_formed(tmp_path):
    a = pi.build_wheel(pi.CUDNN, tmp_path / "a")
    b = pi.build_wheel(pi.CUDNN, tmp_path / "b")
    assert a.name == "nvidia_cudnn_cu12-8.9.2.26-py3-none-any.whl"
    assert a.read_bytes() == b.read_bytes(), "the same Dist must give byte-identical wheels (pinnable hashes)"
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        meta = zf.read("nvidia_cudnn_cu12-8.9.2.26.dist-info/METADATA").decode()
        record = zf.read("nvidia_cudnn_cu12-8.9.2.26.dist-info/RECORD").decode().splitlines()
        payload = zf.read("nvidia/cudnn/lib/libcudnn.so.8")
        # RECORD lists every other file with its urlsafe-base64 sha256 and size.
        listed = {}
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            listed[path] = (digest, size)
        for n in names:
            if n.endswith("/RECORD"):
                assert listed[n] == ("", "")
                continue
            data = zf.read(n)
            assert listed[n] == (pi._record_hash(data), str(len(data))), n
    assert set(listed) == set(names)
    assert "Name: nvidia-cudnn-cu12\nVersion: 8.9.2.26\n" in meta
    assert "Requires-Dist: nvidia-cublas-cu12\n" in meta
    assert len(payload) == pi.CUDNN_MB * pi.MB
    assert len(zlib.compress(payload[: pi.MB])) > 0.99 * pi.MB, "the payload must not compress"
    assert a.stat().st_size > pi.CUDNN_MB * pi.MB


def test_default_index_pulls_the_cuda_standins(indexes):
    assert pi.resolve(indexes.default.file_url, "torch==2.1.0") == {
        "torch": "2.1.0",
        "nvidia-cublas-cu12": "12.1.3.1",
        "nvidia-cudnn-cu12": "8.9.2.26",
    }


def test_cpu_index_resolves_the_local_version_alone(indexes):
    # `torch==2.1.0` matches `2.1.0+cpu` (PEP 440 ignores local labels the specifier lacks), as on the real CPU index.
    assert pi.resolve(indexes.cpu.file_url, "torch==2.1.0") == {"torch": "2.1.0+cpu"}
    assert pi.resolve(indexes.cpu.file_url, "torch") == {"torch": "2.1.0+cpu"}
    assert 'data-requires-python="&gt;=3.8"' in (indexes.cpu.simple / "torch" / "index.html").read_text()


def test_install_target_from_both_indexes(indexes, tmp_path):
    for name, idx, cuda in (("default", indexes.default, "'12.1'"), ("cpu", indexes.cpu, "None")):
        target = tmp_path / name
        r = pi.pip("install", "--index-url", idx.file_url, "--target", str(target), "torch==2.1.0")
        assert r.returncode == 0, r.stderr
        assert f"cuda = {cuda}" in (target / "torch" / "version.py").read_text()
        assert (target / "torch" / "lib" / "libtorch_cpu.so").stat().st_size == pi.TORCH_MB * pi.MB
    assert (tmp_path / "default/nvidia/cublas/lib/libcublas.so.12").stat().st_size == pi.CUBLAS_MB * pi.MB
    assert (tmp_path / "default/nvidia/cudnn/lib/libcudnn.so.8").stat().st_size == pi.CUDNN_MB * pi.MB
    assert not (tmp_path / "cpu/nvidia").exists()
    r = subprocess.run(
        [sys.executable, "-c", "import torch.version as v; print(v.__version__)"],
        cwd=tmp_path / "cpu",
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout.strip() == "2.1.0+cpu"


def test_download_matches_the_index_hash_and_a_tampered_wheel_is_refused(tmp_path):
    idx = pi.LocalIndex(tmp_path / "idx")
    (wheel,) = idx.add(pi.WERKZEUGLIKE)
    page = (idx.simple / "werkzeuglike" / "index.html").read_text()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f"#sha256={digest}" in page
    r = pi.pip("download", "--no-deps", "--index-url", idx.file_url, "-d", str(tmp_path / "dl"), "werkzeuglike")
    assert r.returncode == 0, r.stderr
    assert pi.sha256_file(tmp_path / "dl" / wheel.name) == digest
    # A lock with hashes (--require-hashes) installs only the wheel the index advertised...
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"werkzeuglike==2.0.0 --hash=sha256:{digest}\n")
    r = pi.pip(
        "install", "--index-url", idx.file_url, "--target", str(tmp_path / "t"), "--require-hashes", "-r", str(lock)
    )
    assert r.returncode == 0, r.stderr
    # ...and a wheel swapped on the server after the page was written fails the link's own #sha256 check.
    wheel.write_bytes(pi.build_wheel(pi.Dist("werkzeuglike", "2.0.0", summary="tampered"), tmp_path / "x").read_bytes())
    r = pi.pip("download", "--no-deps", "--index-url", idx.file_url, "-d", str(tmp_path / "dl2"), "werkzeuglike")
    assert r.returncode != 0
    assert f"Expected sha256 {digest}" in r.stderr, r.stderr


def test_a_newer_version_appears_between_two_resolutions(tmp_path):
    idx = pi.LocalIndex(tmp_path / "idx")
    idx.add(pi.WERKZEUGLIKE, pi.FLASKLIKE_OLD)
    assert pi.resolve(idx.file_url, "flasklike") == {"flasklike": "1.0.0", "werkzeuglike": "2.0.0"}
    idx.add(pi.FLASKLIKE_NEW)  # "a day later"
    assert pi.resolve(idx.file_url, "flasklike")["flasklike"] == "1.1.0"
    assert pi.resolve(idx.file_url, "flasklike==1.0.0")["flasklike"] == "1.0.0"
    with pytest.raises(RuntimeError, match="could not resolve"):
        pi.resolve(idx.file_url, "flasklike==9.9")


def test_http_server_serves_the_index_and_shuts_down(indexes):
    root = indexes.default.root.parent
    with pi.IndexServer(root) as srv:
        url = f"{srv.url}/cpu/simple"
        assert pi.resolve(url, "torch") == {"torch": "2.1.0+cpu"}
        host, port = srv.host, srv.port
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass


# -- Docker tier ------------------------------------------------------------------------------------------------------

SLIM = "python:3.11-slim"


@pytest.mark.docker
def test_cpu_index_image_is_smaller_by_the_cuda_payload(indexes, tmp_path):
    """Two builds on the slim stand-in install torch over HTTP from the host (the docker0 bridge): the default
    index's image carries the nvidia-* stand-ins, the CPU index's image does not, and the difference is their
    payload (give or take the packages' metadata)."""
    images = Images()
    ip = pi.docker_bridge_ip()
    try:
        with pi.IndexServer(indexes.default.root.parent, ip) as srv:
            sizes = {}
            for name in ("default", "cpu"):
                ctx = tmp_path / name
                ctx.mkdir()
                (ctx / "Dockerfile").write_text(
                    f"FROM {SLIM}\nARG INDEX\nARG HOST\n"
                    "RUN pip install --no-cache-dir --index-url $INDEX --trusted-host $HOST torch==2.1.0\n"
                    'CMD ["python", "-c", "import torch.version as v; print(v.__version__, v.cuda)"]\n'
                )
                tag = f"slimml-test/pkgindex-{name}-{uuid.uuid4().hex[:8]}"
                # --no-cache: a layer cached from an earlier run would hide a server that no longer answers.
                r = docker(
                    "build", "--no-cache", "-t", tag, "--build-arg", f"INDEX={srv.url}/{name}/simple",
                    "--build-arg", f"HOST={ip}", str(ctx), check=False, timeout=600,
                )  # fmt: skip
                assert r.returncode == 0, r.stderr[-3000:]
                images.tags.append(tag)
                sizes[name] = images.size(tag)
                out = images.run(tag)
                assert out.returncode == 0, out.stderr
                sizes[name + "-out"] = out.stdout.strip()
        assert sizes["default-out"] == "2.1.0 12.1"
        assert sizes["cpu-out"] == "2.1.0+cpu None"
        saved = sizes["default"] - sizes["cpu"]
        assert abs(saved - pi.NVIDIA_MB * pi.MB) < 0.5 * pi.MB, (saved, pi.NVIDIA_MB * pi.MB)
    finally:
        images.cleanup()


def test_torch_like_set_stays_small(indexes):
    total = sum(p.stat().st_size for idx in (indexes.default, indexes.cpu) for p in (idx.root / "files").iterdir())
    assert total < 40 * pi.MB
    assert {p.name for p in Path(indexes.cpu.root / "files").iterdir()} == {"torch-2.1.0+cpu-py3-none-any.whl"}
