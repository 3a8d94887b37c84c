"""SLM013's saving proven by `slimml measure` (the issue's "proven by --verify"): on the local index's torch stand-ins,
the rewrite that installs torch from the CPU index builds, is smaller by the CUDA stand-ins' payload, and verifies --
torch 2.1.0 -> 2.1.0+cpu and the CUDA wheels gone are noted as the CPU build of the same release, the app still runs.
And the verifier is shown to fail a rewrite that only looks like it: the CUDA wheels dropped while torch stays the
CUDA build (`--no-deps`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.measure.checks import FAIL, PASS

from . import pkgindex as pi

pytestmark = pytest.mark.docker

APP = "import torch\n\nprint('torch', torch.__version__)\n"


def _project(root: Path, default: str, cpu: str, ip: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "WORKDIR /app\n"
        f"RUN pip install --no-cache-dir --index-url {default} --trusted-host {ip} torch==2.1.0\n"
        "COPY app.py .\n"
        'CMD ["python", "app.py"]\n'
    )
    (root / "app.py").write_text(APP)
    (root / ".dockerignore").write_text(".slimml.toml\n")
    (root / ".slimml.toml").write_text(f'[rules.SLM013]\ncpu-index-url = "{cpu}"\n')
    return root


def _measure(proj: Path, *extra: str) -> dict:
    res = CliRunner().invoke(
        main, ["measure", "--no-rebuild", "--format", "json", "-q", *extra, str(proj)], catch_exceptions=False
    )
    assert res.exit_code in (0, 1), res.output[-4000:]
    return json.loads(res.output)


def test_measure_verifies_the_cpu_rewrite_and_its_saving(tmp_path):
    idx = pi.torch_like(tmp_path / "index")
    ip = pi.docker_bridge_ip()
    with pi.IndexServer(idx.default.root.parent, ip) as srv:
        proj = _project(tmp_path / "app", f"{srv.url}/default/simple", f"{srv.url}/cpu/simple", ip)
        data = _measure(proj, "--unsafe-fixes", "--select", "SLM013")
    v = data["verification"]
    checks = {c["name"]: c for c in v["checks"]}
    assert v["verdict"] == "PASS", json.dumps(v, indent=1)[-3000:]
    py = checks["python"]
    assert py["status"] == PASS
    assert "torch: 2.1.0 -> 2.1.0+cpu (the CPU build of the same release)" in py["details"]["notes"]
    assert py["details"]["dropped_on_purpose"] == ["nvidia-cublas-cu12", "nvidia-cudnn-cu12"]
    assert checks["imports"]["status"] == PASS
    saved = data["before"]["size"] - data["after"]["size"]
    assert abs(saved - pi.NVIDIA_MB * pi.MB) < 0.5 * pi.MB, saved


def test_measure_fails_a_rewrite_that_drops_the_cuda_wheels_of_a_cuda_torch(tmp_path):
    """A hand 'saving' that keeps torch's CUDA build but installs it without its CUDA wheels (--no-deps): smaller too,
    and broken on any real torch (libtorch_cuda needs them). The verifier must say so: not a CPU build of the release."""
    idx = pi.torch_like(tmp_path / "index")
    ip = pi.docker_bridge_ip()
    with pi.IndexServer(idx.default.root.parent, ip) as srv:
        default = f"{srv.url}/default/simple"
        proj = _project(tmp_path / "app", default, f"{srv.url}/cpu/simple", ip)
        broken = proj / "Dockerfile.broken"
        broken.write_text((proj / "Dockerfile").read_text().replace("torch==2.1.0\n", "--no-deps torch==2.1.0\n", 1))
        data = _measure(proj, "--after", str(broken))
    v = data["verification"]
    checks = {c["name"]: c for c in v["checks"]}
    assert v["verdict"] == "FAIL"
    assert checks["python"]["status"] == FAIL
    assert "nvidia-cublas-cu12 12.1.3.1: missing in the rewrite" in checks["python"]["details"]["failures"]
