"""Image reference grammar, devel/runtime/slim mapping, OS releases and image sizes."""

from __future__ import annotations

import pytest

from slimml.knowledge import images as I
from slimml.knowledge import sizes as S


@pytest.mark.parametrize(
    "ref, registry, repo, tag, digest",
    [
        ("nvcr.io/nvidia/pytorch:24.01-py3", "nvcr.io", "nvidia/pytorch", "24.01-py3", None),
        ("python:3.11-slim@sha256:abc123", None, "python", "3.11-slim", "sha256:abc123"),
        ("${BASE}", None, "${BASE}", None, None),
        ("${BASE:-python:3.11}", None, "${BASE:-python:3.11}", None, None),  # the ':' inside the variable is not a tag
        ("python:${PY}", None, "python", "${PY}", None),
        ("localhost:5000/team/app:1.2", "localhost:5000", "team/app", "1.2", None),
        ("localhost/app", "localhost", "app", None, None),
        ("docker.io/library/python:3.12", "docker.io", "library/python", "3.12", None),
        ("nvidia/cuda", None, "nvidia/cuda", None, None),
        ("ghcr.io/org/img@sha256:ff", "ghcr.io", "org/img", None, "sha256:ff"),
    ],
)
def test_parse_and_format_round_trip(ref, registry, repo, tag, digest):
    img = I.parse_image(ref)
    assert (img.registry, img.repo, img.tag, img.digest) == (registry, repo, tag, digest)
    assert I.format_image(img) == ref


def test_docker_hub_names_normalise_to_the_same_family():
    assert I.family("docker.io/library/python:3.11") == I.family("python:3.11") == "python"
    assert I.family("index.docker.io/nvidia/cuda:12.1.0-base-ubuntu22.04") == "cuda"
    assert I.family("nvcr.io/nvidia/cuda:12.1.0-devel-ubuntu22.04") == "cuda"
    assert I.family("myregistry.example.com/python:3.11") is None  # a mirror is not the official image


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04", "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"),
        ("nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04", "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"),
        ("nvidia/cuda:11.8.0-devel-ubuntu20.04", "nvidia/cuda:11.8.0-runtime-ubuntu20.04"),
        ("nvidia/cuda:12.2.0-devel-ubi8", "nvidia/cuda:12.2.0-runtime-ubi8"),
        ("nvcr.io/nvidia/cuda:12.1.0-devel-ubuntu22.04", "nvcr.io/nvidia/cuda:12.1.0-runtime-ubuntu22.04"),
        ("nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:0123", "nvidia/cuda:12.1.0-runtime-ubuntu22.04"),
        ("nvidia/cuda:${CUDA}-devel-ubuntu22.04", "nvidia/cuda:${CUDA}-runtime-ubuntu22.04"),
        (
            "nvidia/cuda:${CUDA_VERSION}-cudnn8-devel-ubuntu22.04",
            "nvidia/cuda:${CUDA_VERSION}-cudnn8-runtime-ubuntu22.04",
        ),
        ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel", "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime"),
        ("pytorch/pytorch:${PT}-cuda${CU}-cudnn9-devel", "pytorch/pytorch:${PT}-cuda${CU}-cudnn9-runtime"),
        ("tensorflow/tensorflow:2.13.0-devel-gpu", "tensorflow/tensorflow:2.13.0-gpu"),
        ("tensorflow/tensorflow:latest-devel-gpu-jupyter", "tensorflow/tensorflow:latest-gpu-jupyter"),
    ],
)
def test_runtime_variant(ref, expected):
    v = I.runtime_variant(ref)
    assert v.image == expected
    assert I.is_devel(ref)
    assert not I.is_devel(v.image)
    assert I.runtime_variant(v.image).image is None  # idempotent


def test_runtime_variant_notes():
    assert "digest" in I.runtime_variant("nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:0123").note
    assert "variable" in I.runtime_variant("nvidia/cuda:${CUDA}-devel-ubuntu22.04").note
    ngc = I.runtime_variant("nvcr.io/nvidia/pytorch:24.01-py3")
    assert ngc.image is None and "no runtime variant" in ngc.note
    assert I.is_devel("nvcr.io/nvidia/pytorch:24.01-py3")


@pytest.mark.parametrize(
    "ref",
    [
        "nvidia/cuda:12.1.0-runtime-ubuntu22.04",
        "nvidia/cuda:12.1.0-base-ubuntu22.04",
        "python:3.11",
        "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
        "pytorch/pytorch:latest",
        "tensorflow/tensorflow:2.15.0-gpu",
        "tensorflow/tensorflow:2.13.0-devel",  # CPU devel: not a CUDA image
        "${BASE}",
        "nvidia/cuda:${TAG}",
        "nvidia/cuda:12.1.0-${FLAVOR}-ubuntu22.04",
        "nvidia/cuda@sha256:0123",
        "ubuntu:22.04",
        "nvidia/cuda:12.1.0-develop-ubuntu22.04",
    ],
)
def test_no_runtime_variant(ref):
    assert I.runtime_variant(ref).image is None


def test_a_variable_in_the_flavor_position_is_not_guessed():
    # the variable could be "devel" or "runtime": nothing is known
    assert not I.is_devel("nvidia/cuda:12.1.0-${FLAVOR}-ubuntu22.04")
    assert not I.is_devel("${BASE}")


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("python:3.11", "python:3.11-slim"),
        ("python:3.11-bookworm", "python:3.11-slim-bookworm"),
        ("python:3.11.9", "python:3.11.9-slim"),
        ("python:3.10-bullseye", "python:3.10-slim-bullseye"),
        ("python:3.13-rc", "python:3.13-rc-slim"),
        ("python", "python:slim"),
        ("python:latest", "python:slim"),
        ("python:bookworm", "python:slim-bookworm"),
        ("python:${PY}", "python:${PY}-slim"),
        ("python:${PY}-bookworm", "python:${PY}-slim-bookworm"),
        ("docker.io/library/python:3.12", "docker.io/library/python:3.12-slim"),
        ("python:3.11@sha256:0123", "python:3.11-slim"),
        ("nvidia/cuda:12.1.0-devel-ubuntu22.04", "nvidia/cuda:12.1.0-runtime-ubuntu22.04"),
        ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel", "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime"),
    ],
)
def test_slim_variant(ref, expected):
    assert I.slim_variant(ref).image == expected


@pytest.mark.parametrize(
    "ref",
    [
        "python:3.11-slim",
        "python:3.11-slim-bookworm",
        "python:3.12-alpine",
        "python:3.12-alpine3.19",
        "python:3.11-windowsservercore-ltsc2022",
        "python:3.11-${OS}",
        "${BASE}",
        "ubuntu:22.04",
        "node:20",
        "nvidia/cuda:12.1.0-runtime-ubuntu22.04",
    ],
)
def test_no_slim_variant(ref):
    assert I.slim_variant(ref).image is None


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("python:3.11", "bookworm"),
        ("python:3.11-slim", "bookworm"),
        ("python:3.9-bullseye", "bullseye"),
        ("python:3.10-slim-buster", "buster"),
        ("python:3.12-alpine3.19", "alpine3.19"),
        ("nvidia/cuda:12.1.0-devel-ubuntu22.04", "jammy"),
        ("nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04", "focal"),
        ("nvidia/cuda:12.6.0-base-ubuntu24.04", "noble"),
        ("nvidia/cuda:12.2.0-devel-ubi8", "ubi8"),
        ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime", "jammy"),
        ("pytorch/pytorch:1.13.1-cuda11.6-cudnn8-runtime", None),  # older tags: not assumed
        ("ubuntu:22.04", "jammy"),
        ("ubuntu:noble", "noble"),
        ("debian:12-slim", "bookworm"),
        ("debian:bullseye-slim", "bullseye"),
        ("node:20", None),
        ("${BASE}", None),
    ],
)
def test_os_release(ref, expected):
    assert I.os_release(ref) == expected


def test_image_sizes_are_ranges_and_unknown_is_none():
    full, slim = S.image_size("python:3.11"), S.image_size("python:3.11-slim")
    assert full[0] > slim[1]  # the full image is larger than any slim estimate
    for ref in [
        "node:20",
        "python:2.7",
        "nvidia/cuda:12.1.0-devel-ubi8",
        "nvidia/cuda:${V}-devel-ubuntu22.04",
        "tensorflow/tensorflow:2.13.0-devel-gpu",
        "nvidia/cuda:13.0.0-devel-ubuntu24.04",
    ]:
        assert S.image_size(ref) is None, ref
    for ref in [
        "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04",
        "nvidia/cuda:11.8.0-devel-ubuntu20.04",
        "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel",
    ]:
        lo, hi = S.image_size(ref)
        rlo, rhi = S.image_size(I.runtime_variant(ref).image)
        assert 0 < lo < hi and rlo < rhi and lo > rlo and hi > rhi, ref


def test_measured_cuda_sizes_fall_in_their_ranges():
    # `docker images` figures published in pytorch/serve#2392 and moby/moby#46425
    for ref, measured in [
        ("nvidia/cuda:11.7.0-base-ubuntu20.04", 211 * S.MB),
        ("nvidia/cuda:11.7.0-cudnn8-runtime-ubuntu20.04", 2.92 * S.GB),
        ("nvidia/cuda:11.8.0-devel-ubuntu20.04", 7.37 * S.GB),
    ]:
        lo, hi = S.image_size(ref)
        assert lo <= measured <= hi, ref


def test_runtime_saving_is_the_devel_layers_alone():
    plain, _ = S.runtime_saving("nvidia/cuda:12.1.0-devel-ubuntu22.04")
    cudnn, _ = S.runtime_saving("nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04")
    p = S.CUDA_PARTS[12]
    assert plain == p.devel
    assert cudnn == S.add(p.devel, p.cudnn_devel)
    # narrower than subtracting two independent image ranges
    naive = S.subtract(
        S.image_size("nvidia/cuda:12.1.0-devel-ubuntu22.04"), S.image_size("nvidia/cuda:12.1.0-runtime-ubuntu22.04")
    )
    assert naive[0] <= plain[0] and plain[1] <= naive[1]
    assert S.runtime_saving("nvidia/cuda:12.1.0-runtime-ubuntu22.04") is None
    assert S.runtime_saving("nvcr.io/nvidia/pytorch:24.01-py3") is None
    assert S.runtime_saving("tensorflow/tensorflow:2.13.0-devel-gpu") is None  # devel-gpu size unknown
