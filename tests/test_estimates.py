"""Offline size estimates carried by SLM001 (pip cache) and SLM002 (apt lists) findings."""

from __future__ import annotations

from pathlib import Path

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.knowledge import sizes as S
from slimml.rules import apt_hygiene, pip_cache


def _pip_findings(text: str, tmp: Path | None = None, files: dict[str, str] | None = None):
    for rel, body in (files or {}).items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
    ctx = Context(settings=Settings(select=("SLM001",)), context_dir=tmp)
    return list(pip_cache.check(parse(text), ctx))


def test_torch_from_pypi_counts_its_cuda_wheels(tmp_path):
    (f,) = _pip_findings("FROM python:3.11\nRUN pip install torch==2.6.0\n", tmp_path)
    lo, hi = f.estimate
    # the torch 2.6.0 pip log: 766.7 MB torch + ~2.03 GB nvidia-* + 253.1 MB triton = ~3.05 GB
    assert lo <= 3.05 * S.GB <= hi
    assert "torch" in f.estimate_basis and "heavy dependencies" in f.estimate_basis


def test_cpu_index_torch_is_one_small_wheel(tmp_path):
    (f,) = _pip_findings(
        "FROM python:3.11\nRUN pip install torch --index-url https://download.pytorch.org/whl/cpu\n", tmp_path
    )
    assert f.estimate == S.TORCH_CPU.download
    (g,) = _pip_findings("FROM python:3.11\nRUN pip install torch==2.2.0+cpu\n", tmp_path)
    assert g.estimate == S.TORCH_CPU.download


def test_requirements_file_through_copy_and_unknown_packages(tmp_path):
    text = "FROM python:3.11\nWORKDIR /srv\nCOPY deps/prod.txt req.txt\nRUN pip install -r req.txt\n"
    (f,) = _pip_findings(text, tmp_path, {"deps/prod.txt": "numpy==1.26.4\nmy-internal-lib\nfastapi\n"})
    numpy = S.WHEELS["numpy"].download
    assert f.estimate == (numpy[0] + 2 * S.UNKNOWN_WHEEL[0], numpy[1] + 2 * S.UNKNOWN_WHEEL[1])
    assert "2 package(s) not in slimml's table" in f.estimate_basis


def test_unreadable_requirements_give_no_estimate(tmp_path):
    (f,) = _pip_findings("FROM python:3.11\nRUN pip install -r requirements.txt\n", tmp_path)
    assert f.estimate is None and "not readable" in f.estimate_basis
    (g,) = _pip_findings("FROM python:3.11\nRUN pip install .\n", tmp_path)
    assert g.estimate is None
    (h,) = _pip_findings("FROM python:3.11\nRUN pip install $PKGS\n", tmp_path)
    assert h.estimate is None


def test_dependencies_are_counted_once(tmp_path):
    (f,) = _pip_findings("FROM python:3.11\nRUN pip install scikit-learn scipy numpy pandas\n", tmp_path)
    parts = [S.WHEELS[n].download for n in ("scikit-learn", "scipy", "numpy", "pandas")]
    assert f.estimate == S.add(*parts)


def test_requirement_parsing():
    assert S.parse_requirement("Flash_Attn[dev]>=2.0 ; python_version>'3'").name == "flash-attn"
    assert S.parse_requirement("jax[cuda12]==0.4.30").extras == ("cuda12",)
    assert S.parse_requirement("git+https://github.com/x/apex.git#egg=apex").name == "apex"
    assert S.parse_requirement("apex @ git+https://github.com/NVIDIA/apex").name == "apex"
    for local in (".", "./pkg", "/wheels/torch-2.1.0-cp311-cp311-linux_x86_64.whl", "-e", "dist/x.tar.gz"):
        assert S.parse_requirement(local) is None, local


def _apt_findings(text: str):
    return [
        f
        for f in apt_hygiene.check(parse(text), Context(settings=Settings(select=("SLM002",))))
        if "package lists" in f.message
    ]


def test_apt_lists_estimate_depends_on_the_base_release():
    debian = _apt_findings("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\n")
    ubuntu = _apt_findings(
        "FROM nvidia/cuda:12.1.0-runtime-ubuntu22.04 AS base\nFROM base\n"
        "RUN apt-get update && apt-get install -y curl\n"
    )
    unknown = _apt_findings("FROM mycorp/base:1\nRUN apt-get update && apt-get install -y curl\n")
    assert [f.estimate for f in debian] == [S.APT_LISTS["debian"]]
    assert [f.estimate for f in ubuntu] == [S.APT_LISTS["ubuntu"]]
    assert [f.estimate for f in unknown] == [S.APT_LISTS["unknown"]]
    assert "apt/lists" in debian[0].estimate_basis


def test_apt_update_alone_carries_the_lists_estimate():
    (f,) = _apt_findings(
        "FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
    )
    assert f.estimate == S.APT_LISTS["debian"]


def test_no_install_recommends_has_no_estimate():
    fs = [
        f
        for f in apt_hygiene.check(
            parse("FROM debian\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"),
            Context(settings=Settings(select=("SLM002",))),
        )
    ]
    rec = [f for f in fs if "recommended" in f.message]
    assert rec and rec[0].estimate is None


def test_apt_build_only_packages():
    lo, hi = S.apt_package_size("build-essential")
    assert lo < 308 * S.MB < hi  # measured closure on Debian bookworm
    assert S.apt_package_size("libpq-dev=15.6-0+deb12u1") == S.APT_BUILD_ONLY["libpq-dev"]
    assert S.apt_package_size("libfoo-dev") == S.APT_DEV_TYPICAL
    assert S.apt_package_size("curl") is None
