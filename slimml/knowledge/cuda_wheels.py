"""Which CUDA libraries a CUDA image flavour ships, and which pip packages bring their own.

The CUDA base ladder (``cuda_ladder``) steps an image down -- devel -> runtime -> base (-> a
``python:*-slim``) -- only when every CUDA library the image's software loads is either in the
smaller image or comes with a pip wheel. This module is the data it decides with; every entry
names its source. A package absent from every table is *unknown*: the ladder does not step below
``runtime`` for it.

Library names are short and version-free: ``cudart``, ``cublas`` (with cublasLt), ``cufft``,
``curand``, ``cusparse``, ``cusolver``, ``npp``, ``nvjpeg``, ``nvrtc``, ``nvjitlink``, ``nvtx``,
``cupti``, ``nccl``, ``cudnn``, ``tensorrt``; ``nvcc``/``headers`` stand for the toolkit.
"""

from __future__ import annotations

import re

# == the images ====================================================================================
# nvidia/cuda (gitlab.com/nvidia/container-images/cuda, dist/<ver>/ubuntu2204/{base,runtime,devel}/
# Dockerfile): `base` installs cuda-cudart-<ver> and cuda-compat-<ver> (forward-compatibility driver
# libraries) and sets NVIDIA_VISIBLE_DEVICES=all, NVIDIA_DRIVER_CAPABILITIES=compute,utility,
# NVIDIA_REQUIRE_CUDA; `runtime` FROM base adds cuda-libraries-<ver> (cudart, cufft, curand, cusolver,
# cusparse, npp, nvjpeg, nvrtc, nvjitlink, cublas), libnpp, cuda-nvtx, libcusparse, libcublas and
# libnccl2; the `cudnn` tags add libcudnn (8: libcudnn8, 9: libcudnn9-cuda-12); `devel` FROM runtime
# adds nvcc, the -dev packages (headers, static libraries), cuda-command-line-tools (cupti, gdb...)
# and libnccl-dev.
BASE_LIBS = frozenset({"cudart"})
RUNTIME_LIBS = BASE_LIBS | frozenset(
    {
        "cublas",
        "cufft",
        "curand",
        "cusparse",
        "cusolver",
        "npp",
        "nvjpeg",
        "nvrtc",
        "nvjitlink",
        "nvtx",
        "nccl",
    }
)
CUDNN_LIBS = frozenset({"cudnn"})
DEVEL_LIBS = RUNTIME_LIBS | frozenset({"cupti", "nvcc", "headers"})

# What the base image has that a python:*-slim image has not (the reason a step to python-slim
# must carry these ENV, and loses the forward-compatibility libraries): the NVIDIA container
# runtime exposes no GPU to an image without NVIDIA_VISIBLE_DEVICES unless the run asks for one
# (`--gpus`), and mounts only the `utility` driver libraries when NVIDIA_DRIVER_CAPABILITIES is
# unset (docs.nvidia.com/datacenter/cloud-native/container-toolkit, "Specialized Configurations
# with Docker": "void or empty or unset: ... neither GPUs nor capabilities are exposed").
NVIDIA_ENV = (("NVIDIA_VISIBLE_DEVICES", "all"), ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"))

# == pip packages that bring CUDA libraries in wheels ================================================
# The nvidia-* redistributable wheels (pypi.org/project/nvidia-*; CUDA 13 dropped the -cuXX suffix,
# pypi.org/project/cuda-toolkit lists them as extras). The loader finds them because the packages
# that depend on them load them by path (torch's _load_global_deps) or set an RPATH into site-packages.
_NVIDIA_WHEEL_LIB = {
    "cuda-runtime": "cudart",
    "cublas": "cublas",
    "cufft": "cufft",
    "curand": "curand",
    "cusparse": "cusparse",
    "cusolver": "cusolver",
    "npp": "npp",
    "nvjpeg": "nvjpeg",
    "cuda-nvrtc": "nvrtc",
    "nvjitlink": "nvjitlink",
    "nvtx": "nvtx",
    "cuda-cupti": "cupti",
    "nccl": "nccl",
    "cudnn": "cudnn",
    "cusparselt": "cusparselt",
    "cufile": "cufile",
}
_NVIDIA_WHEEL_RE = re.compile(r"^nvidia-(?P<lib>[a-z-]+?)(?:-cu(?P<major>1[0-9]))?$")

# torch's Linux CUDA wheels: since 1.13 (cu117) the PyPI wheel depends on nvidia-* wheels (cudart,
# cublas, cudnn, nvrtc), from 2.1 (cu121) on the whole stack (cublas, cudnn, cufft, curand, cusolver,
# cusparse, nccl, nvtx, nvjitlink, cupti -- pip logs in pytorch/builder#1371 and sizes.WHEELS); the
# download.pytorch.org/whl/cuXXX wheels either depend on the same nvidia-* wheels or bundle the
# libraries in torch/lib (the 2 GB wheels of the 1.x releases). Either way only the driver
# (libcuda.so.1, mounted by the NVIDIA container runtime) comes from outside.
TORCH_CUDA_LIBS = frozenset(
    {
        "cudart",
        "cublas",
        "cufft",
        "curand",
        "cusparse",
        "cusolver",
        "nccl",
        "cudnn",
        "nvrtc",
        "nvjitlink",
        "nvtx",
        "cupti",
    }
)

# Top-level packages (canonical name, extra or None) whose install brings these libraries as wheels.
# tensorflow[and-cuda]: tensorflow.org/install/pip ("pip install tensorflow[and-cuda]" installs the
# nvidia-* wheels); jax[cuda12]: jax's installation guide (the cuda12 extra pulls the nvidia-*
# wheels, cuda12-local uses a system CUDA); cupy-cuda12x[ctk]: docs.cupy.dev/en/stable/install.html
# (CUDA "optional if you install both CUDA and CuPy from PyPI"; the [ctk] extra, NVIDIA/cccl#10060);
# onnxruntime-gpu[cuda,cudnn]: its cuda/cudnn extras depend on nvidia-cuda-runtime/cublas/cufft/
# curand/nvrtc and nvidia-cudnn-cu12 (the wheel's Requires-Dist, mirrored by the gpo.zugaina.org
# ebuild), >= 1.19.
BRINGS: dict[tuple[str, str | None], frozenset[str]] = {
    ("torch", None): TORCH_CUDA_LIBS,
    ("tensorflow", "and-cuda"): TORCH_CUDA_LIBS,
    ("tensorflow-cpu", None): frozenset(),
    ("jax", "cuda12"): TORCH_CUDA_LIBS,
    ("jax", "cuda12-pip"): TORCH_CUDA_LIBS,
    ("jax", "cuda13"): TORCH_CUDA_LIBS,
    ("cupy-cuda12x", "ctk"): frozenset({"cudart", "cublas", "cufft", "curand", "cusparse", "cusolver", "nvrtc"}),
    ("cupy-cuda13x", "ctk"): frozenset({"cudart", "cublas", "cufft", "curand", "cusparse", "cusolver", "nvrtc"}),
}
_ORT_EXTRAS = {"cuda": frozenset({"cudart", "cublas", "cufft", "curand", "nvrtc"}), "cudnn": frozenset({"cudnn"})}

# Packages whose native code loads CUDA libraries from the system (the loader path, /usr/local/cuda)
# when they are not in wheels -> the libraries the image must keep.
# - onnxruntime-gpu: "Require cuDNN 9.* and CUDA 12.*" (CUDA EP requirements page,
#   onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider); it uses torch's nvidia-* wheels only
#   when the app calls onnxruntime.preload_dlls() (>= 1.21), which this table cannot see.
# - cupy-cudaNNx without [ctk]: the CUDA Toolkit libraries (docs.cupy.dev install page).
# - tensorflow without [and-cuda]: looks for the CUDA/cuDNN libraries on the system and falls back to
#   the CPU, silently, when they are missing.
# - jax[cuda12-local] / jaxlib cuda wheels with a local CUDA, paddlepaddle-gpu (2.x: system CUDA and cuDNN).
NEEDS_SYSTEM: dict[str, frozenset[str]] = {
    "onnxruntime-gpu": frozenset({"cudart", "cublas", "cufft", "curand", "cudnn"}),
    "cupy-cuda12x": frozenset({"cudart", "cublas", "cufft", "curand", "cusparse", "cusolver", "nvrtc"}),
    "cupy-cuda11x": frozenset({"cudart", "cublas", "cufft", "curand", "cusparse", "cusolver", "nvrtc"}),
    "cupy-cuda13x": frozenset({"cudart", "cublas", "cufft", "curand", "cusparse", "cusolver", "nvrtc"}),
    "tensorflow": TORCH_CUDA_LIBS,
    "tensorflow-gpu": TORCH_CUDA_LIBS,
    "paddlepaddle-gpu": frozenset({"cudart", "cublas", "cudnn"}),
    "tensorrt": frozenset({"cudart", "cudnn", "cublas"}),
    "pycuda": frozenset({"cudart"}),  # its SourceModule also needs nvcc: a JIT marker in SLM007
}
JAX_LOCAL_EXTRAS = frozenset({"cuda12-local", "cuda11-local", "cuda"})

# Packages with CUDA code that loads only the libraries torch's wheels have already loaded into the
# process (their extension modules link libcudart/cublas by soname; torch imports first and loads
# them with RTLD_GLOBAL). They need torch from a CUDA wheel. torchvision's wheel bundles the
# libnvjpeg its GPU JPEG decoder links (pytorch/vision#4752: "packages nvjpeg.so.11 into the wheel").
# vLLM's image moved its final stage to nvidia/cuda:<ver>-base (vllm-project/vllm#29270) -- but it
# compiles at run time, see RUNTIME_JIT_PACKAGES.
VIA_TORCH = frozenset(
    {
        "torchvision",
        "torchaudio",
        "xformers",
        "vllm",
        "triton",
        "flash-attn",
        "torchao",
        "torchtext",
        "torchdata",
    }
)

# Packages that load no CUDA library themselves (pure Python, or CPU-only native code), and whose
# declared dependencies are in these tables too (checked on PyPI metadata when added; GPU work goes
# through torch). An entry here is a claim: keep it conservative.
NO_CUDA = frozenset(
    {
        # web / serving / utilities
        "fastapi",
        "uvicorn",
        "gunicorn",
        "starlette",
        "flask",
        "werkzeug",
        "jinja2",
        "pydantic",
        "pydantic-settings",
        "requests",
        "httpx",
        "aiohttp",
        "python-multipart",
        "orjson",
        "ujson",
        "pyyaml",
        "python-dotenv",
        "click",
        "typer",
        "rich",
        "tqdm",
        "loguru",
        "prometheus-client",
        "redis",
        "boto3",
        "botocore",
        "s3fs",
        "fsspec",
        "google-cloud-storage",
        "gradio",
        "streamlit",
        "websockets",
        "grpcio",
        "grpcio-tools",
        "protobuf",
        "setuptools",
        "wheel",
        "pip",
        "packaging",
        "psutil",
        "filelock",
        "regex",
        "sse-starlette",
        "openai",
        "tenacity",
        "jsonschema",
        "einops",
        "omegaconf",
        "hydra-core",
        "wandb",
        "mlflow",
        "tensorboard",
        # numeric / data (CPU)
        "numpy",
        "scipy",
        "pandas",
        "scikit-learn",
        "pillow",
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
        "matplotlib",
        "pyarrow",
        "polars",
        "numba",
        "llvmlite",
        "librosa",
        "soundfile",
        "av",
        "imageio",
        "scikit-image",
        "sympy",
        "networkx",
        "h5py",
        "onnx",
        "onnxruntime",
        "xgboost-cpu",
        "lightgbm",
        "sentencepiece",
        "tiktoken",
        "nltk",
        "spacy",
        # Hugging Face and friends: Python on top of torch (GPU work through torch's libraries)
        "transformers",
        "tokenizers",
        "safetensors",
        "huggingface-hub",
        "datasets",
        "accelerate",
        "peft",
        "trl",
        "diffusers",
        "sentence-transformers",
        "timm",
        "evaluate",
        "optimum",
        "lightning",
        "pytorch-lightning",
        "torchmetrics",
        "ultralytics",
        "openai-whisper",
        "langchain",
        "llama-index",
        "einx",
        "kornia",
        "albumentations",
        "open-clip-torch",
        "controlnet-aux",
        "compel",
        "invisible-watermark",
    }
)
# Not in NO_CUDA on purpose: bitsandbytes (older releases looked for libcudart in the system and
# LD_LIBRARY_PATH), ctranslate2/faster-whisper (ctranslate2 loads cuBLAS/cuDNN from the system or
# nvidia-* wheels depending on the release), deepspeed (JIT ops need the toolkit), xgboost
# (CUDA-enabled wheels use NCCL from nvidia-nccl-cu12 since 2.1 only).

# Packages that compile kernels when the container runs: triton builds its launcher with a C compiler
# ("Failed to find C compiler. Please specify via CC environment variable": vllm-project/vllm#2997;
# "Triton requires a working c/c++ compiler", apple/ml-cross-entropy#5), and FlashInfer/DeepGEMM JIT
# with nvcc -- vLLM's own image installs cuda-nvcc and gcc on its base image for that
# (vllm-project/vllm#29270). The devel image had both; runtime and base have neither.
RUNTIME_JIT_PACKAGES = {
    "vllm": "vLLM compiles triton and FlashInfer kernels when it runs (gcc, nvcc)",
    "sglang": "SGLang compiles triton and FlashInfer kernels when it runs (gcc, nvcc)",
    "flashinfer-python": "FlashInfer JIT-compiles its kernels with nvcc",
    "flashinfer": "FlashInfer JIT-compiles its kernels with nvcc",
    "liger-kernel": "Liger's triton kernels need a C compiler when they first run",
    "unsloth": "Unsloth's triton kernels need a C compiler when they first run",
}
# App code that compiles when it runs, besides the JIT extension loaders SLM007 knows: triton kernels
# and torch.compile (inductor generates triton or C++ and compiles it with the system compiler).
RUNTIME_JIT_MARKERS = ("torch.compile(", "@triton.jit", "import triton", "from triton")

# apt packages that are, or link, CUDA libraries the image otherwise provides.
APT_CUDA_RE = re.compile(
    r"^(libcudnn\d*|libcudnn\d+-cuda-\d+|libnccl\d*|libnvinfer\S*|libnvonnxparsers\S*|"
    r"libnvparsers\S*|libcublas\S*|libcufft\S*|libcurand\S*|libcusparse\S*|libcusolver\S*|"
    r"libnpp\S*|libnvjpeg\S*|cuda-\S+|tensorrt\S*|python3-libnvinfer\S*|nvidia-cuda-\S+|"
    r"libnvidia-\S+)$"
)


def nvidia_wheel_lib(name: str) -> str | None:
    """``nvidia-cublas-cu12`` -> ``cublas``; None when ``name`` is not an nvidia-* library wheel."""
    m = _NVIDIA_WHEEL_RE.match(name)
    return _NVIDIA_WHEEL_LIB.get(m.group("lib")) if m else None


def apt_cuda_package(name: str) -> bool:
    """An apt package that is (or links against) a CUDA library."""
    return bool(APT_CUDA_RE.match(name.split("=", 1)[0].split(":", 1)[0]))
