"""Approximate sizes for offline estimates: base images, heavy Python wheels, build-only apt packages.

Every figure is a (low, high) range in bytes, decimal units (``docker images`` and pip print
decimal MB/GB), for linux/amd64. Each one says where it comes from; what is not known is absent,
and the functions then answer None ("unknown") rather than guess.

Image sizes are UNCOMPRESSED (what ``docker images`` shows and what the disk holds); Docker Hub
shows compressed sizes, typically 2-2.6x smaller for these images (nvidia/cuda:11.8.0-devel-ubuntu20.04:
2.92 GB compressed, 7.37 GB uncompressed -- moby/moby#46425).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import images as I

KB = 1000
MB = 1000 * KB
GB = 1000 * MB

Range = tuple[int, int]


def _mb(lo: float, hi: float) -> Range:
    return int(lo * MB), int(hi * MB)


def _gb(lo: float, hi: float) -> Range:
    return int(lo * GB), int(hi * GB)


def add(*ranges: Range) -> Range:
    return sum(r[0] for r in ranges), sum(r[1] for r in ranges)


def subtract(a: Range, b: Range) -> Range | None:
    """``a - b`` for two independent ranges; None when the difference may be zero or negative."""
    lo, hi = a[0] - b[1], a[1] - b[0]
    if hi <= 0:
        return None
    return max(lo, 0), hi


def human(n: int) -> str:
    if n >= GB:
        return f"{n / GB:.1f} GB"
    if n >= MB:
        return f"{n / MB:.0f} MB"
    return f"{n / KB:.0f} kB"


def human_range(r: Range) -> str:
    return f"{human(r[0])}-{human(r[1])}"


# == base images ===================================================================================
# -- python (Docker official image), Python 3.x, Debian bookworm, amd64 -----------------------------------
# full: buildpack-deps:bookworm (~0.9 GB: compilers, -dev headers, git...) + CPython; python:3.11 and
#       3.12 show ~1.0 GB in `docker images`.
# slim: debian:bookworm-slim (~75 MB) + CPython and pip (~50-70 MB); python:3.11-slim shows ~130 MB.
# alpine: alpine (~8 MB) + CPython; python:3.11-alpine shows ~50-55 MB.
PYTHON_IMAGE: dict[str, Range] = {
    "full": _gb(0.9, 1.1),
    "slim": _mb(110, 160),
    "alpine": _mb(45, 65),
}

# -- ubuntu -------------------------------------------------------------------------------------------
# ubuntu:22.04 shows ~78 MB, ubuntu:24.04 ~78 MB, ubuntu:20.04 ~73 MB in `docker images`.
UBUNTU_IMAGE: Range = _mb(70, 80)


# -- nvidia/cuda, Ubuntu tags ---------------------------------------------------------------------
# An image is the sum of layers: base (+ runtime libs) (+ devel toolkit) (+ cuDNN runtime) (+ cuDNN dev).
# Keeping the parts separate lets the devel->runtime saving be the devel parts alone (the shared
# parts cancel), instead of the difference of two wide ranges.
@dataclass(frozen=True)
class CudaParts:
    base: Range  # libcudart, the repo setup, on ubuntu
    runtime: Range  # + cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE, NPP, nvJPEG, NCCL (shared libraries)
    devel: Range  # + nvcc, headers, static libraries, profilers (Nsight Compute), cuda-*-dev
    cudnn_runtime: Range  # libcudnn
    cudnn_devel: Range  # libcudnn-dev: headers and static libraries


CUDA_PARTS: dict[int, CudaParts] = {
    # Measured: 11.7.0-base-ubuntu20.04 211 MB; 11.7.0-cudnn8-runtime-ubuntu20.04 2.92 GB;
    # 10.2-cudnn8-runtime-ubuntu18.04 1.88 GB (pytorch/serve#2392, `docker images`);
    # /usr/local/cuda-11.8 of a runtime image ~2.3 GB (IBM/text-generation-inference#50);
    # 11.8.0-devel-ubuntu20.04 7.37 GB (moby/moby#46425). The devel part is 7.37 - ~2.5 GB.
    # cuDNN 8 for CUDA 11: the nvidia-cudnn-cu11 8.5 wheel is 557 MB (pytorch/builder#1371), ~0.8-1.2 GB
    # unpacked; libcudnn8-dev adds headers and the static libraries (not measured: wide range).
    11: CudaParts(
        base=_mb(180, 250),
        runtime=_gb(1.8, 2.6),
        devel=_gb(4.2, 5.3),
        cudnn_runtime=_gb(0.6, 1.2),
        cudnn_devel=_gb(0.5, 2.0),
    ),
    # CUDA 12 libraries are larger (pip's cu12 wheels unpack to ~2.1 GB without cuDNN: cublas 670 MB,
    # cusolver 488, cufft 281, cusparse 280, nccl 176, curand 103 -- IBM/text-generation-inference#50;
    # the runtime image also ships NPP and nvJPEG). The devel part scales like the runtime part
    # (static libraries mirror the shared ones): ranges are wider, no single-tag measurement behind them.
    # cuDNN 8.9/9 for CUDA 12: the nvidia-cudnn-cu12 wheel unpacks to ~1.2 GB (same source).
    12: CudaParts(
        base=_mb(200, 300),
        runtime=_gb(2.2, 3.4),
        devel=_gb(4.0, 6.5),
        cudnn_runtime=_gb(0.8, 1.4),
        cudnn_devel=_gb(0.5, 2.5),
    ),
}

# -- pytorch/pytorch ------------------------------------------------------------------------------
# The official images are built by pytorch's docker.Makefile: the `runtime` tags FROM ubuntu:22.04
# with conda, Python and torch (whose CUDA libraries come with it); the `devel` tags FROM
# nvidia/cuda:<ver>-cudnn<N>-devel-ubuntu22.04 with the same install plus the build tools. So
# devel - runtime ~= the nvidia/cuda cudnn-devel image - ubuntu.
# Runtime: ubuntu (~78 MB) + conda/Python (0.3-0.6 GB) + torch and its CUDA libraries (3.5-6 GB
# installed: 3.3 GB of nvidia-* libraries alone in IBM/text-generation-inference#50) -- a composition,
# not a per-tag measurement.
PYTORCH_RUNTIME: dict[int, Range] = {11: _gb(3.5, 7.0), 12: _gb(4.0, 8.0)}

# -- tensorflow/tensorflow ----------------------------------------------------------------------------
# `-gpu`: FROM nvidia/cuda:<ver>-base-ubuntu + the CUDA runtime libraries and cuDNN from apt + the
# tensorflow wheel (~1.2-1.8 GB installed): a composition, not a measurement. `-devel-gpu` (bazel,
# the -dev packages, a source checkout): no figure -> unknown.
TENSORFLOW_GPU: Range = _gb(4.0, 7.5)


def _cuda_major(version: str) -> int | None:
    m = re.match(r"^(\d+)", version)
    return int(m.group(1)) if m else None


def _cuda_image(major: int, cudnn: bool, flavor: str) -> Range | None:
    p = CUDA_PARTS.get(major)
    if p is None:
        return None
    parts = [p.base]
    if flavor in ("runtime", "devel"):
        parts.append(p.runtime)
        if cudnn:
            parts.append(p.cudnn_runtime)
    if flavor == "devel":
        parts.append(p.devel)
        if cudnn:
            parts.append(p.cudnn_devel)
    return add(*parts)


_PT_CUDA_RE = re.compile(r"-cuda(\d+)(?:\.\d+)*-")


def _pytorch_cuda_major(tag: str | None) -> int | None:
    m = _PT_CUDA_RE.search(f"-{tag or ''}-")
    return int(m.group(1)) if m else None


def image_size(ref: str) -> Range | None:
    """Uncompressed size range of the image, or None when unknown (variables, unknown families)."""
    img = I.parse_image(ref)
    fam = I.family(img)
    if img.tag is not None and "$" in img.tag:
        return None
    if fam == "python":
        pt = I.python_tag(img.tag)
        if pt is None or (pt.version and not pt.version.startswith("3")):
            return None
        if pt.variant is None:
            return PYTHON_IMAGE["full"]
        if pt.variant == "slim":
            return PYTHON_IMAGE["slim"]
        if pt.variant.startswith("alpine"):
            return PYTHON_IMAGE["alpine"]
        return None
    if fam == "cuda":
        ct = I.cuda_tag(img.tag)
        if ct is None or not (ct.os or "").startswith("ubuntu"):
            return None
        major = _cuda_major(ct.version)
        return _cuda_image(major, ct.cudnn is not None, ct.flavor) if major else None
    if fam == "pytorch":
        major = _pytorch_cuda_major(img.tag)
        if major not in PYTORCH_RUNTIME:
            return None
        if I.is_devel(ref):
            dev = _cuda_image(major, True, "devel")
            return add(PYTORCH_RUNTIME[major], subtract(dev, UBUNTU_IMAGE) or (0, 0)) if dev else None
        if (img.tag or "").endswith("-runtime"):
            return PYTORCH_RUNTIME[major]
        return None
    if fam == "tensorflow":
        segs = I._tf_segments(img.tag) or []
        if "gpu" in segs and "devel" not in segs:
            return TENSORFLOW_GPU
        return None
    if img.normalized == "ubuntu":
        return UBUNTU_IMAGE
    return None


def runtime_saving(devel_ref: str) -> tuple[Range, str] | None:
    """(bytes saved by moving ``devel_ref`` to its runtime variant, basis), or None when unknown.

    The layers both images share cancel out: the saving is the devel layers alone."""
    img = I.parse_image(devel_ref)
    fam = I.family(img)
    if img.tag is not None and "$" in img.tag:
        return None
    if fam == "cuda":
        ct = I.cuda_tag(img.tag)
        if ct is None or ct.flavor != "devel" or not (ct.os or "").startswith("ubuntu"):
            return None
        major = _cuda_major(ct.version)
        p = CUDA_PARTS.get(major or -1)
        if p is None:
            return None
        r = add(p.devel, p.cudnn_devel) if ct.cudnn else p.devel
        return r, (
            f"size of the CUDA {major} devel layers (nvcc, headers, static libraries"
            f"{', cuDNN headers and static libraries' if ct.cudnn else ''}) over the runtime image; "
            "from published `docker images` sizes"
        )
    if fam == "pytorch":
        major = _pytorch_cuda_major(img.tag)
        if not I.is_devel(devel_ref) or major not in CUDA_PARTS:
            return None
        dev = _cuda_image(major, True, "devel")
        r = subtract(dev, UBUNTU_IMAGE)
        if r is None:
            return None
        return r, (
            f"pytorch/pytorch devel tags are built FROM nvidia/cuda CUDA {major} cudnn-devel, runtime tags "
            "FROM ubuntu: the saving is that CUDA devel image less ubuntu; from published sizes"
        )
    if fam == "tensorflow":
        devel, runtime = image_size(devel_ref), None
        v = I.runtime_variant(devel_ref)
        if v.image:
            runtime = image_size(v.image)
        if devel and runtime:
            r = subtract(devel, runtime)
            if r:
                return r, "difference of the two image sizes"
    return None


# == Python wheels ================================================================================
@dataclass(frozen=True)
class Wheel:
    download: Range  # the wheel file(s) pip downloads (and caches)
    installed: Range | None = None  # unpacked in site-packages, when known


# Download sizes are manylinux x86_64 wheels of recent releases, as pip prints them ("Downloading
# torch-2.6.0-...whl (766.7 MB)"); sources: pip logs of torch 2.0.0/1.13.1 (pytorch/builder#1371),
# torch 2.4.1 (797.1 MB) and 2.6.0/2.7.1 (766.7/821.2 MB) install logs; installed sizes from `du`
# listings (IBM/text-generation-inference#50) where given, else None.
WHEELS: dict[str, Wheel] = {
    # torch as published on PyPI for Linux x86_64 is the CUDA build; its CUDA libraries are separate
    # nvidia-* wheels (below, pulled in through TORCH_CUDA_DEPS).
    "torch": Wheel(_mb(620, 920), _gb(1.4, 2.6)),
    "triton": Wheel(_mb(150, 260), _mb(300, 600)),
    "torchvision": Wheel(_mb(6, 9)),
    "torchaudio": Wheel(_mb(3, 5)),
    "xformers": Wheel(_mb(100, 300)),
    "vllm": Wheel(_mb(150, 420)),
    "bitsandbytes": Wheel(_mb(60, 130)),
    # nvidia-*-cu12 as pulled by torch 2.6.0 (pip log): cudnn 664.8 MB, cublas 363.4, cufft 211.5,
    # cusparse 207.5, nccl 188.7, cusparselt 150.1, cusolver 127.9, curand 56.3, nvrtc 24.6,
    # nvjitlink 21.1, cupti 13.8, cuda-runtime 0.9, nvtx 0.1; the ranges cover the 2.1-2.7 releases.
    "nvidia-cudnn-cu12": Wheel(_mb(570, 740), _gb(0.9, 1.3)),
    "nvidia-cublas-cu12": Wheel(_mb(360, 600), _mb(600, 800)),
    "nvidia-cufft-cu12": Wheel(_mb(120, 220), _mb(250, 320)),
    "nvidia-cusparse-cu12": Wheel(_mb(195, 220), _mb(250, 320)),
    "nvidia-nccl-cu12": Wheel(_mb(160, 300), _mb(170, 300)),
    "nvidia-cusparselt-cu12": Wheel(_mb(0, 300)),  # not pulled before torch 2.5
    "nvidia-cusolver-cu12": Wheel(_mb(120, 270), _mb(250, 500)),
    "nvidia-curand-cu12": Wheel(_mb(55, 60), _mb(95, 110)),
    "nvidia-cuda-nvrtc-cu12": Wheel(_mb(23, 90), _mb(55, 90)),
    "nvidia-nvjitlink-cu12": Wheel(_mb(19, 40)),
    "nvidia-cuda-cupti-cu12": Wheel(_mb(8, 15)),
    "nvidia-cuda-runtime-cu12": Wheel(_mb(0.8, 1.0)),
    "nvidia-nvtx-cu12": Wheel(_mb(0.09, 0.2)),
    # CUDA 11 wheels (torch 1.13 / 2.0): nvidia-cudnn-cu11 557.1 MB, nvidia-cublas-cu11 317.1 MB (pip log).
    "nvidia-cudnn-cu11": Wheel(_mb(550, 750)),
    "nvidia-cublas-cu11": Wheel(_mb(310, 420)),
    "tensorflow": Wheel(_mb(470, 650), _gb(1.1, 2.0)),
    "jaxlib": Wheel(_mb(55, 100)),
    "jax": Wheel(_mb(1.5, 3)),
    "jax-cuda12-plugin": Wheel(_mb(10, 60)),
    "jax-cuda12-pjrt": Wheel(_mb(80, 160)),
    "onnxruntime": Wheel(_mb(5, 17)),
    "onnxruntime-gpu": Wheel(_mb(150, 300)),
    "opencv-python": Wheel(_mb(55, 70), _mb(150, 250)),
    "opencv-python-headless": Wheel(_mb(45, 55), _mb(120, 200)),
    "opencv-contrib-python": Wheel(_mb(65, 75)),
    "opencv-contrib-python-headless": Wheel(_mb(50, 60)),
    "scipy": Wheel(_mb(30, 41), _mb(90, 130)),
    "numpy": Wheel(_mb(14, 20), _mb(40, 80)),
    "pandas": Wheel(_mb(11, 14), _mb(50, 75)),
    "scikit-learn": Wheel(_mb(10, 14), _mb(35, 50)),
    "pyarrow": Wheel(_mb(38, 45), _mb(110, 160)),
    "transformers": Wheel(_mb(9, 12)),
    "tokenizers": Wheel(_mb(2.5, 4)),
    "spacy": Wheel(_mb(6, 32)),
    "xgboost": Wheel(_mb(150, 300)),
    "catboost": Wheel(_mb(90, 110)),
    "lightgbm": Wheel(_mb(3, 4)),
    "llvmlite": Wheel(_mb(40, 45)),
    "numba": Wheel(_mb(3, 4)),
    "cupy-cuda12x": Wheel(_mb(90, 130)),
    "cupy-cuda11x": Wheel(_mb(90, 130)),
    "matplotlib": Wheel(_mb(8, 9)),
    "pillow": Wheel(_mb(4, 5)),
    "grpcio": Wheel(_mb(5, 6)),
    "sympy": Wheel(_mb(6, 7)),
    "chromadb": Wheel(_mb(18, 20)),
    "paddlepaddle-gpu": Wheel(_mb(500, 800)),
}

NVIDIA_CU12_STACK = (
    "nvidia-cudnn-cu12",
    "nvidia-cublas-cu12",
    "nvidia-cufft-cu12",
    "nvidia-cusparse-cu12",
    "nvidia-nccl-cu12",
    "nvidia-cusparselt-cu12",
    "nvidia-cusolver-cu12",
    "nvidia-curand-cu12",
    "nvidia-cuda-nvrtc-cu12",
    "nvidia-nvjitlink-cu12",
    "nvidia-cuda-cupti-cu12",
    "nvidia-cuda-runtime-cu12",
    "nvidia-nvtx-cu12",
)
TORCH_CUDA_DEPS = NVIDIA_CU12_STACK + ("triton",)
# torch from the CPU index (``--index-url .../whl/cpu`` or a ``+cpu`` local version): one wheel,
# ~175-200 MB for torch 2.x.
TORCH_CPU = Wheel(_mb(150, 250))
TORCH_CPU_INDEX_RE = re.compile(r"download\.pytorch\.org/whl/(?:nightly/)?cpu\b")
TORCH_CPU_VERSION_RE = re.compile(r"\+cpu\b")

# Heavy dependencies a package pulls in on PyPI (only the ones in WHEELS count). Other
# dependencies are not counted: the estimate stays on the low side.
HEAVY_DEPS: dict[str, tuple[str, ...]] = {
    "torchvision": ("torch", "numpy", "pillow"),
    "torchaudio": ("torch",),
    "xformers": ("torch",),
    "vllm": ("torch", "xformers", "numpy", "transformers", "tokenizers"),
    "bitsandbytes": ("torch", "numpy"),
    "sentence-transformers": ("torch", "transformers", "scikit-learn", "scipy", "tokenizers"),
    "accelerate": ("torch", "numpy"),
    "peft": ("torch", "transformers", "accelerate"),
    "timm": ("torch", "torchvision"),
    "pytorch-lightning": ("torch",),
    "lightning": ("torch",),
    "deepspeed": ("torch",),
    "easyocr": ("torch", "torchvision", "opencv-python-headless", "scipy"),
    "ultralytics": ("torch", "torchvision", "opencv-python", "matplotlib", "scipy", "pandas"),
    "openai-whisper": ("torch", "numba", "llvmlite"),
    "transformers": ("tokenizers", "numpy"),
    "tensorflow": ("numpy",),
    "jax": ("jaxlib", "numpy", "scipy"),
    "scikit-learn": ("scipy", "numpy"),
    "scipy": ("numpy",),
    "pandas": ("numpy",),
    "opencv-python": ("numpy",),
    "opencv-python-headless": ("numpy",),
    "numba": ("llvmlite", "numpy"),
    "xgboost": ("numpy", "scipy"),
    "matplotlib": ("numpy", "pillow"),
    "chromadb": ("onnxruntime", "numpy", "tokenizers"),
}
# Extras that pull the CUDA libraries from PyPI.
CUDA_EXTRAS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("and-cuda",),
    "jax": ("cuda12", "cuda12-pip", "cuda12-local", "cuda"),
}
EXTRA_DEPS: dict[tuple[str, str], tuple[str, ...]] = {
    ("tensorflow", "and-cuda"): NVIDIA_CU12_STACK,
    ("jax", "cuda12"): ("jax-cuda12-plugin", "jax-cuda12-pjrt") + NVIDIA_CU12_STACK,
    ("jax", "cuda12-pip"): ("jax-cuda12-plugin", "jax-cuda12-pjrt") + NVIDIA_CU12_STACK,
    ("jax", "cuda"): ("jax-cuda12-plugin", "jax-cuda12-pjrt") + NVIDIA_CU12_STACK,
    ("jax", "cuda12-local"): ("jax-cuda12-plugin", "jax-cuda12-pjrt"),
}
# A package this estimate knows nothing about: a small pure-Python or modest binary wheel.
UNKNOWN_WHEEL: Range = _mb(0.05, 5)


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ``^\s*(name)\s*(?:\[(extras)\])?\s*(.*)$`` with its blanks and name atomic (``(?=(?P<g>X))(?P=g)``): only the
# greedy split can match (``.*`` stops at a newline, so giving characters back never helps), and the
# backtracking form was cubic on a word with newlines (`pip install "a   [ ...`).
_REQ_RE = re.compile(
    r"^(?=(?P<w1>\s*))(?P=w1)(?=(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*))(?P=name)"
    r"(?=(?P<w2>\s*))(?P=w2)(?:\[(?P<extras>[^\]]*)\])?(?=(?P<w3>\s*))(?P=w3)(?P<rest>.*)$"
)
_EGG_RE = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Requirement:
    name: str  # canonical
    extras: tuple[str, ...]
    spec: str  # the rest (version specifiers, markers)


@lru_cache(maxsize=8192)  # pure (a frozen result); the same names recur in every pip install
def parse_requirement(text: str) -> Requirement | None:
    """A requirement specifier (``torch==2.1.0+cpu``, ``jax[cuda12]>=0.4``, ``pkg @ https://...``,
    ``git+https://...#egg=name``); None for local paths, wheel files and options."""
    t = text.strip()
    if not t or t.startswith(("-", "#", ".", "/", "~")) or t.endswith((".whl", ".tar.gz", ".zip")) and "://" not in t:
        return None
    if "://" in t and "@" not in t.split("://", 1)[0]:
        m = _EGG_RE.search(t)
        return Requirement(canonical_name(m.group(1)), (), "") if m else None
    m = _REQ_RE.match(t)
    if not m:
        return None
    extras = tuple(canonical_name(e) for e in (m.group("extras") or "").split(",") if e.strip())
    return Requirement(canonical_name(m.group("name")), extras, m.group("rest") or "")


@dataclass(frozen=True)
class DownloadEstimate:
    range: Range
    known: tuple[str, ...]  # packages counted from the table
    unknown: tuple[str, ...]  # packages counted at UNKNOWN_WHEEL


def download_estimate(reqs: Iterable[Requirement], cpu_torch: bool = False) -> DownloadEstimate | None:
    """Size of the wheels pip downloads for ``reqs`` (named packages and their known heavy dependencies)."""
    reqs = list(reqs)
    if not reqs:
        return None
    named = {r.name for r in reqs}
    closure: dict[str, Wheel] = {}
    unknown: list[str] = []
    stack: list[tuple[str, tuple[str, ...], str]] = [(r.name, r.extras, r.spec) for r in reqs]
    seen: set[str] = set()
    while stack:
        name, extras, spec = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name == "torch":
            if cpu_torch or TORCH_CPU_VERSION_RE.search(spec):
                closure[name] = TORCH_CPU
                continue
            stack.extend((d, (), "") for d in TORCH_CUDA_DEPS)
        for e in extras:
            stack.extend((d, (), "") for d in EXTRA_DEPS.get((name, e), ()))
        stack.extend((d, (), "") for d in HEAVY_DEPS.get(name, ()))
        w = WHEELS.get(name)
        if w is not None:
            closure[name] = w
        elif name in named:
            unknown.append(name)
    parts = [w.download for w in closure.values()] + [UNKNOWN_WHEEL] * len(unknown)
    return DownloadEstimate(add(*parts), tuple(sorted(closure)), tuple(sorted(unknown)))


# -- reading pip command lines and requirements files ---------------------------------------------
# pip install options that take a value as the next word.
PIP_OPTS_WITH_VALUE = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--src",
        "--log",
        "--cache-dir",
        "--progress-bar",
        "--trusted-host",
        "--proxy",
        "--timeout",
        "--retries",
        "--global-option",
        "--config-settings",
        "-C",
        "--upgrade-strategy",
        "--report",
        "--root-user-action",
        "--only-binary",
        "--no-binary",
        "--python",
        "--exists-action",
        "--cert",
        "--client-cert",
        "--keyring-provider",
        "--use-feature",
        "--use-deprecated",
        "--log-file",
        "--group",
    }
)
_MAX_NESTED = 5


def _split_option(line: str) -> tuple[str, str]:
    """``--index-url=URL`` / ``--index-url URL`` / ``-rfile`` / ``-r file`` -> (option, value)."""
    head, _, tail = line.partition(" ")
    if head.startswith("--") and "=" in head:
        opt, _, val = head.partition("=")
        return opt, val
    if not head.startswith("--") and len(head) > 2:
        return head[:2], head[2:]
    return head, tail.strip()


def _read_requirements(
    read: Callable[[str], str | None], path: str, depth: int = 0
) -> tuple[list[Requirement], list[str], bool] | None:
    """(requirements, index URLs, read ok) of a requirements file, following ``-r`` includes."""
    text = read(path)
    if text is None:
        return None
    reqs: list[Requirement] = []
    urls: list[str] = []
    base = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    for kind, val in _requirement_lines(text):
        if kind == "include":
            if depth < _MAX_NESTED:
                sub = _read_requirements(read, base + val, depth + 1)
                if sub is not None:
                    reqs += sub[0]
                    urls += sub[1]
        elif kind == "url":
            urls.append(val)
        else:
            reqs.append(val)
    return reqs, urls, True


@lru_cache(maxsize=1024)  # pure; every rule reading the same requirements file asks again
def _requirement_lines(text: str) -> tuple[tuple[str, Any], ...]:
    """The lines of a requirements file that matter: ("req", Requirement), ("include", path of a
    ``-r``) and ("url", an index URL), in order."""
    out: list[tuple[str, Any]] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            opt, val = _split_option(line)
            if opt in ("-r", "--requirement") and val:
                out.append(("include", val))
            elif opt in ("-i", "--index-url", "--extra-index-url"):
                out.append(("url", val))
            continue
        r = parse_requirement(line.split(";", 1)[0].split(" --hash", 1)[0])
        if r is not None:
            out.append(("req", r))
    return tuple(out)


def pip_install_requirements(
    words: list[str], read: Callable[[str], str | None], locate: Callable[[str], list[str]] | None = None
) -> tuple[list[Requirement], list[str], list[str]]:
    """(requirements, index URLs, requirement files that could not be read) of ``pip install ...`` words
    (the words after the ``install`` subcommand). ``locate`` maps a path in the image to candidate
    paths in the build context (from the COPYs); by default the path itself and its file name."""
    reqs: list[Requirement] = []
    urls: list[str] = []
    unread: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        opt, eq, val = w.partition("=") if w.startswith("--") else (w, "", "")
        if w.startswith("-") and not eq and opt in PIP_OPTS_WITH_VALUE:
            val = words[i + 1] if i + 1 < len(words) else ""
            i += 2
        elif w.startswith("-r") and len(w) > 2 and not w.startswith("--"):
            opt, val = "-r", w[2:]
            i += 1
        else:
            i += 1
        if opt in ("-r", "--requirement"):
            got = None
            for cand in (locate(val) if locate else []) + _candidates(val):
                got = _read_requirements(read, cand)
                if got is not None:
                    break
            if got is None:
                unread.append(val)
            else:
                reqs += got[0]
                urls += got[1]
            continue
        if opt in ("-i", "--index-url", "--extra-index-url"):
            urls.append(val)
            continue
        if w.startswith("-"):
            continue
        r = parse_requirement(w)
        if r is not None:
            reqs.append(r)
    return reqs, urls, unread


def _candidates(path: str) -> list[str]:
    """Where a requirements file named in the image may be in the build context: as written
    (relative), then by its last component (``COPY requirements.txt /app/`` is the usual case)."""
    p = path.strip().strip("'\"")
    if not p or "$" in p:
        return []
    out = [p.lstrip("/")] if not p.startswith("/") else []
    if p.startswith("./"):
        out = [p[2:]]
    base = p.rsplit("/", 1)[-1]
    if base not in out:
        out.append(base)
    return out


def context_sources(doc, instr, path: str, ctx=None) -> list[str]:
    """Where the file ``path`` seen by ``instr`` came from in the build context, following the COPY/ADD
    instructions of its stage (latest first): ``COPY reqs/ /tmp/reqs/`` + ``/tmp/reqs/a.txt`` ->
    ``reqs/a.txt``. Relative paths are resolved against the WORKDIR in effect."""
    import posixpath

    from ..rules import _helpers as H

    if doc is None or instr is None or not path or "$" in path:
        return []
    target = posixpath.normpath(posixpath.join(H.workdir_at(doc, instr), path.strip("'\"")))
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    out: list[str] = []
    for c in reversed(_copies_before(doc, stage, instr.index)):
        if c.flag("from") is not None:
            continue
        words = list(c.json) if c.json is not None else c.words()
        if len(words) < 2:
            continue
        srcs, dest = words[:-1], words[-1]
        dest_abs = posixpath.normpath(posixpath.join(H.workdir_at(doc, c), dest))
        dest_is_dir = dest.endswith("/") or len(srcs) > 1
        for src in srcs:
            src_rel = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
            src_is_dir = src.endswith("/") or src_rel == "." or bool(ctx is not None and ctx.is_dir(src_rel))
            if src_is_dir:
                if target.startswith(dest_abs.rstrip("/") + "/"):
                    rest = target[len(dest_abs.rstrip("/")) + 1 :]
                    out.append(rest if src_rel == "." else f"{src_rel}/{rest}")
            elif any(ch in src_rel for ch in "*?["):
                if posixpath.dirname(target) == dest_abs and fnmatch.fnmatch(
                    posixpath.basename(target), posixpath.basename(src_rel)
                ):
                    out.append(posixpath.join(posixpath.dirname(src_rel), posixpath.basename(target)))
            elif target == posixpath.join(dest_abs, posixpath.basename(src_rel)) or (
                not dest_is_dir and target == dest_abs
            ):
                out.append(src_rel)
    return out


def _copies_before(doc, stage, index: int) -> list:
    """The COPY/ADD instructions of ``stage`` before instruction ``index``, in order. The stage's
    list is found once per document (kept on it): scanning the stage for every ``pip install -r``
    made a long stage quadratic."""
    import bisect

    memo = doc.__dict__.setdefault("_sizes_stage_copies", {})
    found = memo.get(stage.index)
    if found is None:
        copies = [i for i in stage.instructions if i.keyword in ("COPY", "ADD")]
        found = memo[stage.index] = (copies, [i.index for i in copies])
    copies, indexes = found
    return copies[: bisect.bisect_left(indexes, index)]


def _abbrev(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def pip_cache_estimate(ctx, words, sub_index: int, doc=None, instr=None) -> dict:
    """``estimate=``/``estimate_basis=`` keyword arguments for a pip-cache finding.

    ``words`` are the pip command's words (``Word``s or strings), ``sub_index`` the index of the
    ``install``/``download``/``wheel`` subcommand; with ``doc`` and ``instr`` (the RUN), requirements
    files are found through the stage's COPYs."""
    values = [getattr(w, "value", w) for w in words]
    rest = values[sub_index + 1 :]
    if any("$" in v for v in rest):
        return {"estimate": None, "estimate_basis": "the command line uses variables"}
    read = getattr(ctx, "read_context_file", None) or (lambda _p: None)
    reqs, urls, unread = pip_install_requirements(rest, read, lambda p: context_sources(doc, instr, p, ctx))
    if unread:
        return {
            "estimate": None,
            "estimate_basis": f"requirements file not readable from the build context: {', '.join(unread)}",
        }
    cpu = any(TORCH_CPU_INDEX_RE.search(u) for u in urls)
    est = download_estimate(reqs, cpu_torch=cpu)
    if est is None:
        return {"estimate": None, "estimate_basis": "no package names to size"}
    named = {r.name for r in reqs}
    shown = [n for n in est.known if n in named]
    deps = [n for n in est.known if n not in named]
    basis = "downloaded wheel sizes (linux/amd64) of " + (", ".join(shown) if shown else "no known package")
    if deps:
        basis += f" and {len(deps)} heavy dependencies they pull in ({_abbrev(deps)})"
    if est.unknown:
        basis += (
            f"; {len(est.unknown)} package(s) not in slimml's table counted at "
            f"{human_range(UNKNOWN_WHEEL)} each ({_abbrev(list(est.unknown))})"
        )
    basis += "; their other dependencies are not counted"
    return {"estimate": est.range, "estimate_basis": basis}


# == apt ==========================================================================================
# /var/lib/apt/lists after `apt-get update`. Debian bookworm (main, -updates, -security): 19 MB,
# measured on a debian:bookworm system whose apt keeps the lists compressed (the
# docker-gzip-indexes snippet the Debian and Ubuntu images ship). Ubuntu adds universe (and
# restricted/multiverse) to 3-4 suites: larger, not measured here. Without that snippet the lists
# are decompressed: 2-4x larger.
APT_LISTS: dict[str, Range] = {
    "debian": _mb(15, 30),
    "ubuntu": _mb(30, 60),
    "unknown": _mb(15, 60),
}

# Build-only apt packages: installed size of the package and the dependencies it pulls in
# (Depends/Pre-Depends, no Recommends) beyond what debian:bookworm-slim already has, summed from
# Debian bookworm amd64 `Installed-Size` fields (apt-cache); +-15% for other releases. Closures
# overlap (libc6-dev, perl...), so sums over several packages overcount.
_APT_MEASURED_MB = {
    "build-essential": 308,
    "gcc": 172,
    "g++": 255,
    "make": 1.6,
    "git": 104,
    "cmake": 91,
    "ninja-build": 0.4,
    "python3-dev": 90,
    "pkg-config": 0.3,
    "autoconf": 49,
    "automake": 51,
    "libtool": 210,
    "gfortran": 242,
    "clang": 392,
    "llvm": 238,
    "rustc": 627,
    "cargo": 645,
    "swig": 5.7,
    "libpq-dev": 22,
    "libssl-dev": 18,
    "libffi-dev": 0.3,
    "libjpeg-dev": 30,
    "zlib1g-dev": 30,
    "libxml2-dev": 116,
    "libopenblas-dev": 101,
    "libcurl4-openssl-dev": 13,
    "default-libmysqlclient-dev": 44,
    "libsndfile1-dev": 10,
}
APT_BUILD_ONLY: dict[str, Range] = {k: _mb(v * 0.85, v * 1.15) for k, v in _APT_MEASURED_MB.items()}
# Any other ``*-dev`` package: headers and a static library, usually with libc6-dev behind it.
APT_DEV_TYPICAL: Range = _mb(1, 40)


def apt_package_size(name: str) -> Range | None:
    name = name.split("=", 1)[0].split(":", 1)[0]
    if name in APT_BUILD_ONLY:
        return APT_BUILD_ONLY[name]
    if name.endswith("-dev"):
        return APT_DEV_TYPICAL
    return None


def base_os_family(doc, stage) -> str | None:
    """ "debian" / "ubuntu" / None for ``stage``'s base image, following ``FROM <stage name>``."""
    seen = 0
    while stage is not None and seen < len(doc.stages):
        seen += 1
        image = stage.image
        prev = next((s for s in doc.stages[: stage.index] if s.name and s.name == image.lower()), None)
        if prev is not None:
            stage = prev
            continue
        rel = I.os_release(image)
        if rel is None:
            n = I.parse_image(image).normalized
            if n in ("debian", "ubuntu"):
                return n
            return None
        if rel in I.DEBIAN_CODENAME_SET:
            return "debian"
        if rel in I.UBUNTU_CODENAME_SET:
            return "ubuntu"
        return None
    return None


def apt_lists_estimate(doc, instr) -> dict:
    """``estimate=``/``estimate_basis=`` for package lists left in a layer by ``instr``."""
    fam = base_os_family(doc, doc.stage_of(instr)) or "unknown"
    r = APT_LISTS[fam]
    where = {"debian": "Debian", "ubuntu": "Ubuntu", "unknown": "Debian/Ubuntu"}[fam]
    return {
        "estimate": r,
        "estimate_basis": f"/var/lib/apt/lists after `apt-get update` on {where} ({human_range(r)}; "
        "19 MB measured on Debian bookworm with compressed lists, Ubuntu's universe is larger)",
    }
