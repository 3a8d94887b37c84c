"""What shows that a project uses a GPU: the evidence SLM013 (cuda-wheels-on-cpu) looks for.

Two kinds of text are read. Python source is parsed (libcst), so that only code counts -- a string
``"cuda"``, an attribute ``.cuda``, an import of ``cupy`` -- never a comment. Configuration and
scripts (compose files, Kubernetes manifests, ``.env``, shell scripts, Makefiles, notebooks...)
are scanned as text with the patterns below, which name a GPU in a way prose rarely does
(``--gpus``, ``runtime: nvidia``, ``nvidia.com/gpu``, ``device=cuda``).

A conditional use (``"cuda" if torch.cuda.is_available() else "cpu"``) is evidence: the code runs on
a GPU when the container has one, and the CPU wheels would take that away.
"""

from __future__ import annotations

import re

# == Python (matched on the parsed code) ==========================================================
# A string literal naming a CUDA device: "cuda", 'cuda:0' (torch.device, .to(), device=...).
CUDA_DEVICE_STRING_RE = re.compile(r"^cuda(?::\d+)?$", re.IGNORECASE)
# A string naming a GPU device, counted when it is passed to a call (tf.device('/GPU:0'),
# tf.config.list_physical_devices('GPU'), jax.devices("gpu"), Trainer(accelerator="gpu")).
GPU_DEVICE_STRING_RE = re.compile(
    r"^(?:/?(?:device:)?gpu(?::\d+)?|/job:[^/]+(?:/\w+:\d+)*/device:gpu:\d+)$", re.IGNORECASE
)
# Attribute names that reach CUDA: torch.cuda.*, model.cuda(), numba.cuda, torch.backends.cudnn,
# tf.test.is_gpu_available, tf.config.experimental.set_memory_growth (only for GPUs).
CUDA_ATTRIBUTES = frozenset({"cuda", "cudnn", "is_gpu_available", "gpu_device_name", "set_memory_growth"})
# Modules whose import means GPU code: CuPy, PyCUDA, RAPIDS, TensorRT, numba's CUDA target, NVML.
GPU_MODULES = frozenset(
    {"cupy", "cupyx", "pycuda", "cudf", "cuml", "cugraph", "tensorrt", "pynvml", "nvidia_smi", "numba.cuda"}
)
# Keyword arguments whose value asks for a GPU: device_map="auto" (accelerate spreads the model over
# the GPUs it finds), device=0 (a transformers pipeline's GPU ordinal; -1 is the CPU), gpus=1 / n_gpu.
DEVICE_MAP_KEYWORDS = frozenset({"device_map"})
GPU_ORDINAL_KEYWORDS = frozenset({"device", "gpu_id", "gpu", "gpus", "n_gpu", "n_gpus", "num_gpus", "gpu_ids"})
# Environment variables whose name in code means GPU selection.
GPU_ENV_NAMES = frozenset({"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"})
# Cheap pre-filter: a Python file that contains none of these (case-insensitively) has no evidence,
# so it is not parsed.
PYTHON_HINTS = ("cuda", "gpu", "cudnn", "device_map", "device", "cupy", "tensorrt", "nvml", "nvidia")

# == configuration and scripts (matched on text) =====================================================
# (pattern, what it shows). Case-insensitive; each names a GPU as a value or an option, not in prose.
CONFIG_PATTERNS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), why)
    for p, why in (
        (r"--gpus\b", "`--gpus` (docker run with GPUs)"),
        (r"\bruntime\s*[:=]\s*[\"']?nvidia\b|--runtime[= ]nvidia\b", "the nvidia container runtime"),
        (r"\bnvidia\.com/gpu\b", "a Kubernetes GPU resource (nvidia.com/gpu)"),
        (r"\bcapabilities\s*:\s*\[?[^\]\n]*\bgpu\b", "a compose GPU device reservation"),
        (r"^\s*-?\s*driver\s*:\s*[\"']?nvidia\b", "a compose nvidia device reservation"),
        (r"\b(?:CUDA|NVIDIA)_VISIBLE_DEVICES\b", "CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES"),
        (
            r"(?:\b|--)device[\w-]*[\"']?\s*(?:[:=]|\s)\s*[\"']?cuda(?::\d+)?\b",
            "a device set to cuda",
        ),
        (r"\.to\(\s*[\"']cuda|\.cuda\(\)|\btorch\.cuda\.", "torch CUDA calls"),
        (r"\bdevice_map\b[\"']?\s*[:=]\s*[\"']?auto\b", "device_map=auto"),
        (
            r"\b(?:JAX_PLATFORMS?|jax_platforms?|jax_platform_name)\b[\"']?\s*[:=,]\s*[\"']?(?:cuda|gpu)\b",
            "jax on the GPU",
        ),
        (r"\baccelerator\b[\"']?\s*[:=]\s*[\"']?(?:gpu|cuda)\b", "accelerator set to gpu"),
        (r"\bimport\s+cupy\b|\bfrom\s+cupy\b", "CuPy"),
        (r"list_physical_devices\(\s*[\"']GPU", "TensorFlow GPU devices"),
    )
)
# Words in a Dockerfile's CMD/ENTRYPOINT/ENV that ask for a GPU (its RUN lines install, they do not run the app).
DOCKERFILE_ENV_NAMES = frozenset({"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"})

# == which files are read ==============================================================================
PYTHON_SUFFIXES = (".py", ".pyw")
CONFIG_SUFFIXES = (
    ".yml",
    ".yaml",
    ".toml",
    ".json",
    ".ipynb",
    ".env",
    ".sh",
    ".bash",
    ".cfg",
    ".ini",
    ".conf",
    ".md",
    ".rst",
    ".txt",
    ".mk",
)
CONFIG_NAMES = frozenset({"Makefile", "makefile", "GNUmakefile", "Procfile", ".env", "entrypoint", "start", "run"})
CONFIG_PREFIXES = (".env.", "docker-compose", "compose.")
# Third-party code and tool state, not the project's: a vendored venv holds torch's own sources.
SKIP_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "site-packages", "__pycache__", ".tox", ".mypy_cache", "dist-packages"}
)
# Requirements and lock files name packages (``nvidia-cudnn-cu12``...), not how the code runs.
SKIP_NAMES_RE = re.compile(r"^(?:requirements[\w.-]*\.txt|constraints[\w.-]*\.txt|.*\.lock|Pipfile\.lock|pylock\..*)$")

# The scan's caps: a huge context stays fast; when a cap cuts it short, evidence could hide in what
# was not read, so the finding offers no fix.
MAX_FILES = 3000  # files looked at (of the accepted kinds)
MAX_FILE_BYTES = 512 * 1024  # larger files are not read: code and config ones cut the scan short
# Larger files of these kinds are data or prose (tokenizer.json, a dataset, a long README): skipped
# without cutting the scan short.
DATA_SUFFIXES = (".json", ".txt", ".md", ".rst", ".csv")
MAX_TOTAL_BYTES = 24 * 1024 * 1024

# == base images =========================================================================================
# Images known to carry no CUDA libraries (OS and language images, conda distributions): a pip-installed
# CUDA torch on them brings the whole CUDA stack as nvidia-* wheels. CUDA images (nvidia/cuda, the NGC
# containers, pytorch/pytorch, tensorflow/tensorflow:*-gpu) are told apart by knowledge.images; an image
# whose name or tag says cuda/gpu counts as a CUDA image too (its author meant one).
CPU_IMAGES = frozenset(
    {
        "python",
        "debian",
        "ubuntu",
        "alpine",
        "buildpack-deps",
        "amazonlinux",
        "fedora",
        "centos",
        "rockylinux",
        "almalinux",
        "redhat/ubi8",
        "redhat/ubi9",
        "registry.access.redhat.com/ubi8",
        "registry.access.redhat.com/ubi9",
        "continuumio/miniconda3",
        "continuumio/anaconda3",
        "condaforge/miniforge3",
        "condaforge/mambaforge",
        "mambaorg/micromamba",
        "ghcr.io/astral-sh/uv",
        "tiangolo/uvicorn-gunicorn-fastapi",
        "tiangolo/uvicorn-gunicorn",
        "gcr.io/distroless/python3",
        "gcr.io/distroless/python3-debian12",
        "cgr.dev/chainguard/python",
    }
)
CUDA_NAME_RE = re.compile(r"cuda|gpu|nvidia", re.IGNORECASE)
# ``FROM --platform=...`` values where PyPI's torch wheels are CPU-only (no nvidia-* dependencies).
ARM_PLATFORMS_RE = re.compile(r"\b(?:arm64|aarch64)\b", re.IGNORECASE)

# Packages whose PyPI releases each require one torch release exactly (xformers 0.0.28.post1: torch==2.4.1; vllm
# 0.6.3: torch==2.4.0; torchtext 0.16.0 / torchdata 0.7.0: torch==2.1.0). Next to a torch the install does not pin,
# a CPU torch installed first from the CPU index's newest release may not be the one they take.
TORCH_EXACT_DEPENDANTS = frozenset({"xformers", "vllm", "torchtext", "torchdata"})
