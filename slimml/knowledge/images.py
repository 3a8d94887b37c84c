"""Base images: the reference grammar, and the tag families slimml knows how to map.

Pure functions over the image reference *as written in a FROM* (``--platform`` and ``AS name`` are
not part of it). A reference is ``[registry/]repo[:tag][@digest]``; variables (``${BASE}``,
``python:${PY}``) are kept as written. Mapping works on the literal parts of a tag when a variable
stands in the *version* position only (``python:${PY}`` -> ``python:${PY}-slim``); a fully variable
reference or tag maps to nothing.

Families:

- ``python`` (Docker official image): ``<version>[-<variant>][-<debian codename>]``, variants
  ``slim``, ``alpine[<ver>]``, ``windowsservercore-*``, ``nanoserver-*``.
- ``nvidia/cuda`` (also ``nvcr.io/nvidia/cuda``, same tags):
  ``<cuda version>[-cudnn[<N>]]-<base|runtime|devel>-<os>``, e.g. ``12.1.0-cudnn8-devel-ubuntu22.04``
  and the newer ``12.4.1-cudnn-devel-ubuntu22.04`` (cuDNN 9+ tags drop the major number).
  ``runtime`` = ``base`` + the CUDA runtime libraries (cuBLAS, cuFFT, NCCL, ...); ``devel`` =
  ``runtime`` + ``nvcc``, headers and static libraries.
- ``pytorch/pytorch``: ``<torch>-cuda<x.y>-cudnn<N>-<runtime|devel>``; ``latest`` is a runtime image.
- ``tensorflow/tensorflow``: ``<version>[-devel][-gpu][-jupyter]``. The ``devel`` images carry the
  toolchain to build TensorFlow from source (bazel, compilers, a source checkout); the plain
  ``-gpu`` image has TensorFlow installed instead.
- NGC framework images (``nvcr.io/nvidia/pytorch:24.01-py3``, tensorflow, jax, nemo): the full CUDA
  toolkit is always in (they are devel images) and there is no runtime variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..shellvars import VarRefs

# -- the reference grammar ---------------------------------------------------------------------------
_VAR = r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*"
_VAR_RE = VarRefs(None)  # the matches of _VAR, found in linear time (re.sub of _VAR is quadratic on `${${${...`)
DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class ImageRef:
    registry: str | None  # "nvcr.io", "ghcr.io", "localhost:5000"; None: Docker Hub implied
    repo: str  # "python", "nvidia/cuda", "library/python", "${BASE}" (as written)
    tag: str | None
    digest: str | None  # "sha256:..."

    @property
    def name(self) -> str:
        """``registry/repo`` as written."""
        return f"{self.registry}/{self.repo}" if self.registry else self.repo

    @property
    def normalized(self) -> str:
        """The repository with Docker Hub's implied parts removed: ``docker.io/library/python`` -> ``python``."""
        reg = (self.registry or "").lower()
        repo = self.repo.lower()
        if reg in DOCKER_HUB or not reg:
            return repo.removeprefix("library/")
        return f"{reg}/{repo}"

    @property
    def has_variable(self) -> bool:
        return "$" in format_image(self)


def _mask(s: str) -> str:
    """``s`` with every variable reference replaced by the same number of ``#``: separators inside
    ``${VAR:-python:3.11}`` must not count."""
    return _VAR_RE.sub(lambda m: "#" * len(m.group(0)), s)


@lru_cache(maxsize=1024)  # pure; every rule asks again for the same FROM
def parse_image(ref: str) -> ImageRef:
    """Split an image reference as written into registry, repository, tag and digest."""
    ref = ref.strip()
    masked = _mask(ref)
    digest = None
    at = masked.find("@")
    if at >= 0:
        digest = ref[at + 1 :] or None
        ref, masked = ref[:at], masked[:at]
    tag = None
    colon = masked.rfind(":")
    if colon > masked.rfind("/"):
        tag = ref[colon + 1 :]
        ref, masked = ref[:colon], masked[:colon]
    registry = None
    slash = masked.find("/")
    if slash > 0:
        first = ref[:slash]
        mfirst = masked[:slash]
        # Docker's rule: a first component with a dot or a port, or "localhost", names a registry.
        if "." in mfirst or ":" in mfirst or first == "localhost":
            registry = first
            ref = ref[slash + 1 :]
    return ImageRef(registry=registry, repo=ref, tag=tag, digest=digest)


def format_image(img: ImageRef) -> str:
    out = img.name
    if img.tag is not None:
        out += ":" + img.tag
    if img.digest is not None:
        out += "@" + img.digest
    return out


def _segments(tag: str) -> list[str]:
    """``tag`` split on ``-`` outside variable references."""
    masked = _mask(tag)
    out, start = [], 0
    for i, ch in enumerate(masked):
        if ch == "-":
            out.append(tag[start:i])
            start = i + 1
    out.append(tag[start:])
    return out


def _is_var(seg: str) -> bool:
    return bool(seg) and _VAR_RE.sub("", seg) == "" and "$" in seg


def _has_var(seg: str) -> bool:
    return "$" in seg


# -- families ----------------------------------------------------------------------------------------
PYTHON_REPOS = frozenset({"python"})
CUDA_REPOS = frozenset({"nvidia/cuda", "nvcr.io/nvidia/cuda"})
PYTORCH_REPOS = frozenset({"pytorch/pytorch"})
TENSORFLOW_REPOS = frozenset({"tensorflow/tensorflow"})
# NGC framework containers: the whole CUDA toolkit (nvcc, headers) is inside; no runtime variant.
NGC_FRAMEWORK_REPOS = frozenset(
    {
        "nvcr.io/nvidia/pytorch",
        "nvcr.io/nvidia/tensorflow",
        "nvcr.io/nvidia/jax",
        "nvcr.io/nvidia/nemo",
        "nvcr.io/nvidia/paddlepaddle",
        "nvcr.io/nvidia/mxnet",
    }
)

CUDA_FLAVORS = ("base", "runtime", "devel")
# nvidia/cuda OS suffixes -> release name.
UBUNTU_CODENAMES = {
    "14.04": "trusty",
    "16.04": "xenial",
    "18.04": "bionic",
    "20.04": "focal",
    "22.04": "jammy",
    "24.04": "noble",
    "25.04": "plucky",
}
DEBIAN_CODENAMES = {
    "8": "jessie",
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
}
DEBIAN_CODENAME_SET = frozenset(DEBIAN_CODENAMES.values())
UBUNTU_CODENAME_SET = frozenset(UBUNTU_CODENAMES.values())
# What ``python:<version>`` / ``python:<version>-slim`` (no codename) is built on. The Docker official
# python images moved their unsuffixed tags from bullseye to bookworm in June 2023 (docker-library/python
# #822); later Debian releases will move it again, so an OS derived from this default is an assumption.
PYTHON_DEFAULT_DEBIAN = "bookworm"
# pytorch/pytorch images are built from the Dockerfile in pytorch/pytorch, whose base has been
# ``ubuntu:22.04`` for the 2.x releases; older tags (1.x) used 18.04/20.04 and are reported as unknown.
PYTORCH_IMAGE_OS = "jammy"
PYTORCH_IMAGE_OS_SINCE = (2, 0)

DIGEST_NOTE = (
    "the digest pinned the original image; the new image has another digest -- pin it again "
    "(docker buildx imagetools inspect <image>)"
)
VARIABLE_NOTE = "the tag contains a variable: check that every value it takes names an existing image"


@dataclass(frozen=True)
class Variant:
    image: str | None  # the new reference, or None when there is none
    note: str  # why / what to check


def family(ref: str | ImageRef) -> str | None:
    """``python``, ``cuda``, ``pytorch``, ``tensorflow``, ``ngc`` or None."""
    img = parse_image(ref) if isinstance(ref, str) else ref
    n = img.normalized
    if n in PYTHON_REPOS:
        return "python"
    if n in CUDA_REPOS:
        return "cuda"
    if n in PYTORCH_REPOS:
        return "pytorch"
    if n in TENSORFLOW_REPOS:
        return "tensorflow"
    if n in NGC_FRAMEWORK_REPOS:
        return "ngc"
    return None


_CUDA_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}$")
_CUDNN_RE = re.compile(r"^cudnn\d*$")


@dataclass(frozen=True)
class CudaTag:
    version: str  # "12.1.0" or a variable
    cudnn: str | None  # "cudnn8", "cudnn" (9+), None
    flavor: str  # base | runtime | devel
    os: str | None  # "ubuntu22.04", "ubi8", ...
    flavor_index: int  # index of the flavor segment


@lru_cache(maxsize=1024)
def cuda_tag(tag: str | None) -> CudaTag | None:
    if not tag:
        return None
    segs = _segments(tag)
    for i, s in enumerate(segs):  # noqa: B007 - i is read after the loop
        if s in CUDA_FLAVORS:
            break
    else:
        return None
    head = segs[:i]
    if not head or len(head) > 2 or any(_has_var(s) for s in segs[i:]):
        return None
    if not (_CUDA_VERSION_RE.match(head[0]) or _is_var(head[0])):
        return None
    cudnn = None
    if len(head) == 2:
        if not _CUDNN_RE.match(head[1]):
            return None
        cudnn = head[1]
    os_ = "-".join(segs[i + 1 :]) or None
    return CudaTag(head[0], cudnn, segs[i], os_, i)


_PYTORCH_RE = re.compile(r"^(?P<head>.+)-(?P<flavor>runtime|devel)$")


def _pytorch_flavor(tag: str | None) -> tuple[str, str] | None:
    """(everything before the flavor, flavor) of ``2.1.0-cuda12.1-cudnn8-devel``."""
    if not tag:
        return None
    segs = _segments(tag)
    if len(segs) < 2 or segs[-1] not in ("runtime", "devel") or _has_var(segs[-1]):
        return None
    return "-".join(segs[:-1]), segs[-1]


def _tf_segments(tag: str | None) -> list[str] | None:
    if tag is None:
        return ["latest"]
    segs = _segments(tag)
    if any(_has_var(s) for s in segs[1:]):
        return None
    return segs


def _with_tag(img: ImageRef, tag: str) -> str:
    return format_image(ImageRef(img.registry, img.repo, tag, None))


def _notes(img: ImageRef, *extra: str) -> str:
    parts = [e for e in extra if e]
    if img.digest:
        parts.append(DIGEST_NOTE)
    if img.tag and "$" in img.tag:
        parts.append(VARIABLE_NOTE)
    return "; ".join(parts)


@lru_cache(maxsize=1024)
def runtime_variant(ref: str) -> Variant:
    """The runtime (no compiler) counterpart of a CUDA devel image."""
    img = parse_image(ref)
    fam = family(img)
    if fam is None:
        if _is_var(img.name) or "$" in img.name:
            return Variant(None, "the image name is a variable")
        return Variant(None, "not a devel image")
    if fam == "ngc":
        return Variant(
            None,
            f"{img.normalized} has no runtime variant: the NGC framework images always ship "
            "the full CUDA toolkit; use nvidia/cuda:<ver>-runtime-<os> plus pip-installed "
            "framework wheels to slim it",
        )
    if img.tag is None and img.digest is not None:
        return Variant(None, "pinned by digest only: the tag (and so the variant) is unknown")
    if fam == "cuda":
        ct = cuda_tag(img.tag)
        if ct is None:
            if img.tag and "$" in img.tag:
                return Variant(None, "the tag is a variable: its variant is unknown")
            return Variant(None, "not a devel image")
        if ct.flavor != "devel":
            return Variant(None, "not a devel image")
        segs = _segments(img.tag)
        segs[ct.flavor_index] = "runtime"
        return Variant(
            _with_tag(img, "-".join(segs)),
            _notes(img, "the runtime image has the CUDA libraries but no nvcc, headers or static libraries"),
        )
    if fam == "pytorch":
        pf = _pytorch_flavor(img.tag)
        if pf is None or pf[1] != "devel":
            if img.tag and "$" in img.tag and pf is None:
                return Variant(None, "the tag is a variable: its variant is unknown")
            return Variant(None, "not a devel image")
        return Variant(
            _with_tag(img, pf[0] + "-runtime"),
            _notes(img, "the runtime image has torch and the CUDA libraries but no nvcc or headers"),
        )
    if fam == "tensorflow":
        segs = _tf_segments(img.tag)
        if segs is None:
            return Variant(None, "the tag is a variable: its variant is unknown")
        if "devel" not in segs or "gpu" not in segs:
            return Variant(None, "not a devel image" if "devel" not in segs else "not a CUDA (gpu) devel image")
        i = segs.index("devel")
        rest = segs[:i] + segs[i + 1 :]
        if i == 0:  # "devel-gpu": the nightly devel image
            rest = ["nightly"] + rest
        return Variant(
            _with_tag(img, "-".join(rest)),
            _notes(
                img,
                "the devel image carries the toolchain to build TensorFlow (bazel, a source "
                "checkout) but not TensorFlow itself; the -gpu image has TensorFlow installed: "
                "check that the version you pip-install matches or drop that install",
            ),
        )
    return Variant(None, "not a devel image")


@lru_cache(maxsize=1024)
def is_devel(ref: str) -> bool:
    """The image carries a CUDA compiler (nvcc) and headers."""
    img = parse_image(ref)
    fam = family(img)
    if fam == "ngc":
        return True
    if fam == "cuda":
        ct = cuda_tag(img.tag)
        return ct is not None and ct.flavor == "devel"
    if fam == "pytorch":
        pf = _pytorch_flavor(img.tag)
        return pf is not None and pf[1] == "devel"
    if fam == "tensorflow":
        segs = _tf_segments(img.tag) or []
        return "devel" in segs and "gpu" in segs
    return False


# -- python ------------------------------------------------------------------------------------------
_PY_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}((a|b|rc)\d+)?$")
_PY_SMALL = ("slim", "alpine")
_PY_WINDOWS = ("windowsservercore", "nanoserver")
SLIM_NOTE = (
    "the slim image has no compilers, headers or -dev libraries (gcc, make, libpq-dev, git...): "
    "packages without a wheel for this platform fail to build -- install build tools in a builder "
    "stage or with apt-get"
)


@dataclass(frozen=True)
class PythonTag:
    version: str | None  # "3.11", "3.11.9", "3.13-rc", a variable, None ("latest", a bare codename)
    variant: str | None  # "slim", "alpine3.19", "windowsservercore-ltsc2022", None (full)
    os: str | None  # "bookworm", None


@lru_cache(maxsize=1024)
def python_tag(tag: str | None) -> PythonTag | None:
    if tag is None or tag == "latest":
        return PythonTag(None, None, None)
    segs = _segments(tag)
    version = None
    i = 0
    if _PY_VERSION_RE.match(segs[0]) or _is_var(segs[0]):
        version = segs[0]
        i = 1
        if i < len(segs) and segs[i] == "rc":
            version += "-rc"
            i += 1
    rest = segs[i:]
    if any(_has_var(s) for s in rest):
        return None
    variant = None
    os_ = None
    if rest and (rest[0] in ("slim",) or rest[0].startswith("alpine") or rest[0] in _PY_WINDOWS):
        if rest[0] in _PY_WINDOWS:
            return PythonTag(version, "-".join(rest), None)
        variant = rest[0]
        rest = rest[1:]
    if rest:
        if len(rest) == 1 and rest[0] in DEBIAN_CODENAME_SET:
            os_ = rest[0]
        else:
            return None  # something this grammar does not know
    if version is None and variant is None and os_ is None:
        return None
    return PythonTag(version, variant, os_)


@lru_cache(maxsize=1024)
def slim_variant(ref: str) -> Variant:
    """A smaller image with the same language runtime: ``python:3.11`` -> ``python:3.11-slim``;
    CUDA/pytorch devel images -> their runtime variant."""
    img = parse_image(ref)
    fam = family(img)
    if fam in ("cuda", "pytorch", "tensorflow", "ngc"):
        return runtime_variant(ref)
    if fam != "python":
        if "$" in img.name:
            return Variant(None, "the image name is a variable")
        return Variant(None, "no smaller variant known for this image")
    if img.tag is None and img.digest is not None:
        return Variant(None, "pinned by digest only: the tag (and so the variant) is unknown")
    pt = python_tag(img.tag)
    if pt is None:
        return Variant(None, "unknown python tag")
    if pt.variant is not None:
        if pt.variant.startswith(_PY_WINDOWS):
            return Variant(None, "Windows images have no slim variant")
        return Variant(None, f"already a small image ({pt.variant})")
    parts = [p for p in (pt.version, "slim", pt.os) if p]
    return Variant(_with_tag(img, "-".join(parts)), _notes(img, SLIM_NOTE))


# -- OS release ----------------------------------------------------------------------------------------
def _ubuntu_like(os_: str | None) -> str | None:
    if not os_:
        return None
    m = re.match(r"^ubuntu(\d+\.\d+)$", os_)
    if m:
        return UBUNTU_CODENAMES.get(m.group(1))
    if re.match(r"^(ubi|rockylinux|centos|oraclelinux|amzn)\d+", os_):
        return os_  # not Debian-like; the distribution and its major version
    return None


def _version_tuple(v: str) -> tuple[int, ...] | None:
    m = re.match(r"^(\d+)\.(\d+)", v)
    return (int(m.group(1)), int(m.group(2))) if m else None


@lru_cache(maxsize=1024)
def os_release(ref: str) -> str | None:
    """Release the image is built on (``bookworm``, ``jammy``, ``alpine3.19``, ``ubi8``) or None."""
    img = parse_image(ref)
    fam = family(img)
    n = img.normalized
    tag = img.tag
    if fam == "python":
        if tag is not None and "$" in tag and not _is_var(_segments(tag)[0]):
            return None
        pt = python_tag(tag)
        if pt is None or (pt.variant or "").startswith(_PY_WINDOWS):
            return None
        if pt.variant and pt.variant.startswith("alpine"):
            return pt.variant
        return pt.os or PYTHON_DEFAULT_DEBIAN
    if fam == "cuda":
        ct = cuda_tag(tag)
        return _ubuntu_like(ct.os) if ct else None
    if fam == "pytorch":
        pf = _pytorch_flavor(tag)
        if tag == "latest" or tag is None:
            return PYTORCH_IMAGE_OS
        if pf is None:
            return None
        v = _version_tuple(_segments(tag)[0])
        return PYTORCH_IMAGE_OS if v is not None and v >= PYTORCH_IMAGE_OS_SINCE else None
    if n in ("ubuntu",) and tag:
        if tag in UBUNTU_CODENAME_SET:
            return tag
        return UBUNTU_CODENAMES.get(tag.split("-")[0])
    if n == "debian" and tag:
        first = tag.split("-")[0]
        if first in DEBIAN_CODENAME_SET:
            return first
        return DEBIAN_CODENAMES.get(first.split(".")[0])
    return None


# -- what needs a CUDA devel image (nvcc, headers) at build time ----------------------------------------
# Programs that compile: nvcc itself, and build systems that may build CUDA code in a devel image
# (a ``make`` there cannot be told apart from one that does: counted, to stay on the safe side).
CUDA_COMPILERS = frozenset({"nvcc"})
BUILD_SYSTEMS = frozenset({"cmake", "ninja", "make", "gmake", "meson", "bazel", "bazelisk", "scons"})
# Environment variables that only matter to something compiling CUDA code (ENV/ARG, ``export`` or a
# command prefix): CUDA_HOME is what torch.utils.cpp_extension looks for; TORCH_CUDA_ARCH_LIST the
# architectures it compiles for; FORCE_CUDA makes detectron2/mmcv/pytorch3d/torch-scatter build
# their CUDA ops; the rest are the CMake/nvcc knobs and package-specific build switches.
CUDA_BUILD_ENV = frozenset(
    {
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDACXX",
        "TORCH_CUDA_ARCH_LIST",
        "FORCE_CUDA",
        "CMAKE_CUDA_COMPILER",
        "CMAKE_CUDA_ARCHITECTURES",
        "CUDA_ARCH_LIST",
        "NVCC_FLAGS",
        "NVCC_APPEND_FLAGS",
        "NVCC_PREPEND_FLAGS",
        "TCNN_CUDA_ARCHITECTURES",
        "FLASH_ATTENTION_FORCE_BUILD",
        "BUILD_CUDA_EXT",
        "MMCV_WITH_OPS",
        "TORCH_CUDA_ARCH",
        "CUDA_TOOLKIT_ROOT_DIR",
    }
)
# DeepSpeed pre-builds its ops at install time when one of these is truthy (DS_BUILD_OPS=1,
# DS_BUILD_FUSED_ADAM=1, ...); without them it JIT-compiles them at run time (also with nvcc).
CUDA_BUILD_ENV_PREFIXES = ("DS_BUILD_",)
# pip packages whose install compiles CUDA code (no prebuilt CUDA wheel on PyPI, or a setup.py that
# builds the extension against the local toolkit).
CUDA_EXT_PACKAGES = frozenset(
    {
        "flash-attn",
        "flash-attention",
        "apex",
        "mamba-ssm",
        "causal-conv1d",
        "auto-gptq",
        "detectron2",
        "pytorch3d",
        "mmcv",
        "mmcv-full",
        "nvdiffrast",
        "tinycudann",
        "tiny-cuda-nn",
        "diff-gaussian-rasterization",
        "simple-knn",
        "natten",
        "minkowskiengine",
        "torch-scatter",
        "torch-sparse",
        "torch-cluster",
        "torch-spline-conv",
        "transformer-engine",
        "megablocks",
        "grouped-gemm",
        "kaolin",
        "torchsparse",
        "pointnet2-ops",
        "multiscaledeformableattention",
        "gptqmodel",
        "exllamav2",
        "awq",
        "autoawq-kernels",
    }
)
# Packages with prebuilt CUDA wheels that compile only when built from source (git URL, local
# path, --no-binary, --no-build-isolation).
CUDA_EXT_FROM_SOURCE = frozenset(
    {
        "xformers",
        "bitsandbytes",
        "vllm",
        "deepspeed",
        "llama-cpp-python",
        "flashinfer",
        "flashinfer-python",
        "sglang",
        "spconv",
    }
)
# Wheel indexes that serve prebuilt builds of CUDA_EXT_PACKAGES (torch-scatter & co.).
PREBUILT_CUDA_INDEXES = ("data.pyg.org",)
CUDA_SOURCE_SUFFIXES = (".cu", ".cuh")
# `python setup.py <cmd>` commands that compile extensions.
SETUP_PY_BUILD = frozenset({"build_ext", "build", "install", "develop", "bdist_wheel", "bdist_egg"})

# -- compiling when the container runs (the runtime image has no compiler, no CUDA headers) ---------------
RUNTIME_COMPILERS = frozenset(
    {"gcc", "g++", "cc", "c++", "clang", "clang++", "nvcc", "make", "gmake", "cmake", "ninja", "ld"}
)
# Python that compiles C++/CUDA when it runs (the JIT extension loaders; numba's CUDA target needs
# NVVM, which only the devel image has). CuPy's NVRTC works on runtime; Triton and torch.compile need a C
# compiler when they run (knowledge/runtime_compile.py, cuda_wheels.py), which runtime images lack.
JIT_COMPILE_MARKERS = (
    "cpp_extension.load",
    "load_inline(",
    "from torch.utils.cpp_extension import load",
    "numba.cuda",
    "from numba import cuda",
    "cuda.jit",
    "pycuda.compiler",
    "SourceModule(",
    "op_builder",
    "spconv.pytorch",
    "torch.utils.cpp_extension",
)
