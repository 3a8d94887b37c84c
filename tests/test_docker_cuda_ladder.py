"""The CUDA base ladder against a real engine: SLM007 moves a devel image whose only CUDA library comes
from a pip wheel to the ``base`` flavour, and the rewritten image loads that library and prints what the
original printed.

On the local stand-ins (.ci/docker-setup.sh): ``...-devel-...`` is python:3.11 (with a compiler), ``...-base-...``
is python:3.11-slim -- neither has CUDA libraries. The wheel is the real ``nvidia-cuda-runtime-cu12`` (~1 MB,
from PyPI through the gateway): the app dlopens the library in the wheel's lib directory by path, as torch
does with the nvidia-* wheels, and asks it for its version (no GPU or driver needed for that call). (It
lists the directory: app code that names a CUDA library, ``libcudart.so``, counts for the ladder as a
reference to the system CUDA and keeps ``runtime``.)

What it proves: the rewritten Dockerfile builds on the smaller base and the CUDA library the image uses
comes from the wheel, not from the image. What it does not: anything that needs a GPU, the NVIDIA container
runtime (driver mounts, NVIDIA_* variables), or the real nvidia/cuda images' contents.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .dockerutil import Images, docker

pytestmark = pytest.mark.docker

DEVEL = "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"
BASE = "nvidia/cuda:12.1.0-base-ubuntu22.04"
DOCKERFILE = (
    f"FROM {DEVEL}\n"
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1\n"
    "RUN pip install --no-cache-dir --break-system-packages nvidia-cuda-runtime-cu12==12.1.105\n"
    "COPY app.py /app.py\n"
    'CMD ["python3", "/app.py"]\n'
)
APP = """\
import ctypes, glob, os
import nvidia.cuda_runtime
lib = sorted(glob.glob(os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib", "*.so*")))[0]
v = ctypes.c_int()
rc = ctypes.CDLL(lib).cudaRuntimeGetVersion(ctypes.byref(v))
print(rc, v.value)
"""


@pytest.fixture
def images():
    im = Images()
    yield im
    im.cleanup()


def test_devel_to_base_when_the_wheel_brings_the_cuda_library(tmp_path, images):
    for ref in (DEVEL, BASE):
        if docker("image", "inspect", ref, check=False).returncode != 0:
            pytest.fail(f"stand-in {ref} missing: run .ci/docker-setup.sh")
    root = tmp_path / "p"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "app.py").write_text(APP)
    before, _ = images.build(root)
    out_before = images.run(before)
    assert out_before.returncode == 0, out_before.stderr
    r = subprocess.run(
        [sys.executable, "-m", "slimml.cli", "fix", "--select", "SLM007", "--unsafe-fixes", "--write", "Dockerfile"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    after_text = (root / "Dockerfile").read_text()
    assert after_text == DOCKERFILE.replace(DEVEL, BASE)
    after, _ = images.build(root)
    out_after = images.run(after)
    assert out_after.returncode == 0, out_after.stderr
    # cudaRuntimeGetVersion returned cudaSuccess (0) and 12010 (12.1), from the wheel's library
    assert out_after.stdout.strip() == out_before.stdout.strip() == "0 12010"
    assert images.size(after) < images.size(before)
