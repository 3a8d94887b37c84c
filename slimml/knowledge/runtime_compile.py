"""Python code that compiles native code when the app runs, and so needs a compiler (and, for CUDA, the devel
image's nvcc / headers / libnvvm) in the image that runs it.

Each entry: (regular expression over a source file, what it means). Sources: PyTorch docs
(torch.utils.cpp_extension.load / load_inline build with the system compiler and nvcc; torch.compile's inductor
generates C++ compiled with the system compiler, and Triton kernels whose launcher Triton compiles with a C
compiler), DeepSpeed docs (ops are JIT-built with ninja/nvcc unless pre-built with DS_BUILD_OPS=1), CuPy docs
(RawKernel / RawModule / ElementwiseKernel / ReductionKernel compile CUDA source at run time), Numba docs
(``@cuda.jit`` needs NVVM from the CUDA toolkit)."""

from __future__ import annotations

import re

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.M), why)
    for p, why in (
        (
            r"\bcpp_extension\b[\s\S]{0,4000}?\bload(_inline)?\s*\(|\bfrom\s+torch\.utils\.cpp_extension\s+import\s+[^\n]*\bload",
            "torch.utils.cpp_extension.load compiles C++/CUDA sources",
        ),
        (r"^\s*(import\s+triton\b|from\s+triton\b)|@triton\.jit", "Triton compiles kernels"),
        (r"\btorch\.compile\s*\(|@torch\.compile\b", "torch.compile generates and compiles code"),
        (r"^\s*(import\s+deepspeed\b|from\s+deepspeed\b)", "DeepSpeed JIT-builds its ops"),
        (r"\b(RawKernel|RawModule|ElementwiseKernel|ReductionKernel)\s*\(", "CuPy compiles CUDA source"),
        (r"^\s*from\s+numba\s+import\s+[^\n]*\bcuda\b|\bnumba\.cuda\b|@cuda\.jit\b", "Numba compiles CUDA kernels"),
        (r"[\"']nvcc[\"']", "the code runs nvcc"),
    )
)
# Files larger than this are not read (generated code, vendored bundles).
MAX_BYTES = 1_000_000
MAX_FILES = 5000


def find(text: str) -> str | None:
    """What in ``text`` compiles when it runs (the first pattern that matches), or None."""
    return next((why for rx, why in PATTERNS if rx.search(text)), None)
