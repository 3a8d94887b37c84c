"""A CUDA image larger than the final stage needs: ``devel`` when nothing compiles, ``runtime`` when wheels bring the libraries.

What it does
    Looks at the image the final stage runs on (following ``FROM <stage>`` back to the stage that
    names an image, and ``FROM ${BASE}`` to the default of a build argument only that FROM uses).
    When that is a CUDA devel image with a runtime variant --
    ``nvidia/cuda:<ver>[-cudnn[N]]-devel-<os>`` (also ``nvcr.io/nvidia/cuda``),
    ``pytorch/pytorch:<ver>-cuda<x>-cudnn<N>-devel``, ``tensorflow/tensorflow:<ver>-devel-gpu`` --
    and no stage built on it compiles CUDA code, replaces the image in that ``FROM`` (or the
    argument's default) by the lowest step of the CUDA base ladder the file proves:

    - ``runtime`` (same cuDNN): nothing compiles;
    - ``runtime`` without cuDNN: only packages that load the CUDA libraries -- not cuDNN -- from the
      system (``cupy-cuda12x``);
    - ``base`` (the CUDA runtime, cudart, only): every package the image installs is known, and
      each loads no CUDA library or brings its own as wheels (torch and the ``nvidia-*`` wheels,
      ``tensorflow[and-cuda]``, ``jax[cuda12]``, ``cupy-cuda12x[ctk]``...). Requirements files of the
      build context are read; an unread file, a local project or wheel, a conda/poetry/uv-sync install,
      ``COPY --from``, a binary copied from the context, a package slimml does not know
      (``bitsandbytes``...), ``onnxruntime-gpu`` (system cuDNN/cuBLAS), an apt CUDA library
      (``libcudnn8``, ``libnvinfer8``) or a reference to ``/usr/local/cuda`` in the app keep
      ``runtime``, and the note says which.

    A ``runtime`` nvidia/cuda image is moved to ``base`` on the same proof. ``python:<ver>-slim``
    is never the fix here: the file installs Python with apt on the CUDA image; the multi-stage
    split (SLM008) may choose it through ``semantics.cuda_stack.runtime_image``. Only the image
    reference changes: ``--platform``, ``AS name``, the keyword's case and a variable in the version
    (``nvidia/cuda:${CUDA}-devel-ubuntu22.04``) are kept; a ``@sha256:`` digest is dropped (it pinned
    the devel image) and the finding says so.

    "Compiles" is any of: ``nvcc``; a build system (``cmake``, ``ninja``, ``make``, ``meson``...);
    CMake CUDA switches (``-DGGML_CUDA=on``); a pip install of a package that builds CUDA
    extensions (flash-attn, apex, mamba-ssm, causal-conv1d, auto-gptq, detectron2, torch-scatter...),
    of xformers/bitsandbytes/vllm/deepspeed from source or with ``--no-build-isolation``, also
    through requirements files of the build context; ``pip install`` of a project the same RUN
    clones; ``setup.py build_ext|install|develop`` or ``pip install .`` of a build context holding
    ``.cu``/``.cuh`` files; a COPY of such files. Then the finding has no fix and names what
    compiles: the multi-stage split (SLM008) keeps devel in a builder stage there. ``CUDA_HOME``,
    ``TORCH_CUDA_ARCH_LIST``, ``FORCE_CUDA``, ``DS_BUILD_*`` and similar build variables set by
    ENV/ARG count as compiling unless every package the image installs is a prebuilt wheel slimml
    knows (then they have nothing to build, and the fix's reason says so).

    The container compiling when it runs -- its CMD/ENTRYPOINT (or a script they run) calls a
    compiler (gcc, nvcc, make...), the app's Python copied into the image uses a JIT extension
    loader (``torch.utils.cpp_extension.load``, ``load_inline``, numba's CUDA target, pycuda),
    triton kernels or ``torch.compile``, or it installs vLLM/SGLang/FlashInfer (triton needs a C
    compiler, FlashInfer nvcc, when they run) -- also gets a finding without a fix: the runtime image
    would break it, which this rule's own reason says, so the fix is not offered even as unsafe.

    NGC framework images (``nvcr.io/nvidia/pytorch:24.01-py3``...) are reported without a fix:
    they have no runtime variant.

Why
    ``devel`` adds the CUDA compiler, headers, static libraries and profilers to ``runtime``:
    several GB (e.g. 7.37 GB for ``nvidia/cuda:11.8.0-devel-ubuntu20.04`` against ~2.5 GB for
    its runtime). ``runtime`` adds cuBLAS, cuFFT, cuSOLVER, cuSPARSE, NCCL (and cuDNN) to ``base``:
    2-4 GB more that torch's pip wheels bring again as ``nvidia-*`` packages, so the image holds
    them twice. Serving pure-Python code with wheels needs neither.

    The fix is unsafe: the runtime image has no ``nvcc``, CUDA headers or gcc, so anything that
    compiles at build or run time fails, and so does a pip package without a wheel for the
    platform. Below ``runtime``, a CUDA library loaded some way slimml cannot see (ctypes, a
    package installed when the container starts) fails to load. A requirements file the rule
    cannot find in the build context is named in the fix's reason. Build the image and run it
    before shipping.

Example
    FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04
    RUN apt-get update && apt-get install -y --no-install-recommends python3-pip
    RUN pip install --no-cache-dir torch fastapi uvicorn
    COPY app.py .
    CMD ["uvicorn", "app:app"]

Use instead
    FROM nvidia/cuda:12.1.0-base-ubuntu22.04
    RUN apt-get update && apt-get install -y --no-install-recommends python3-pip
    RUN pip install --no-cache-dir torch fastapi uvicorn
    COPY app.py .
    CMD ["uvicorn", "app:app"]
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from ..dockerfile import Document, Instruction, Stage
from ..dockerfile.shell import run_scripts, unwrap
from ..engine import Edit, Fix
from ..knowledge import cuda_ladder as CL
from ..knowledge import cuda_wheels as W
from ..knowledge import images as K
from ..knowledge import python_tools as PT
from ..knowledge import runtime_compile as RC
from ..knowledge import sizes as S
from ..semantics import build as B
from ..semantics import cuda_stack as CS
from ..shellvars import VarRefs
from . import _helpers as H

CODE = "SLM007"
NAME = "cuda-runtime-base"
SUMMARY = "CUDA devel (or runtime) base image in the final stage when nothing needs the compiler (or its libraries)"
OPTIONS = {}
FIX = "unsafe"

_RULE = H.rule_of(__name__)

UNSAFE_REASON = (
    "the runtime and base images have no CUDA compiler, headers or gcc (the devel image had them); anything "
    "that compiles at build or run time fails: JIT extensions (torch.utils.cpp_extension, DeepSpeed ops), "
    "triton kernels and torch.compile (they need a C compiler), a pip package without a wheel; check the image runs"
)

# Stepping below runtime (base, or runtime without cuDNN): what the smaller image lacks.
BELOW_RUNTIME_REASON = (
    "below runtime the image has no CUDA libraries of its own (base: the CUDA runtime, cudart, only): every "
    "library must come with the pip wheels, as the packages below say; one loaded another way -- ctypes, a "
    "binary copied in, a package installed when the container starts -- fails to load"
)
LOWER_REASON = (
    "the smaller image lacks CUDA libraries the runtime image had (cuBLAS, cuFFT, NCCL, cuDNN...); "
    "they must all come with the pip wheels"
)
_VAR_RE = VarRefs(r"[A-Za-z_][A-Za-z0-9_]*", ":?[-+]")  # linear-time ${NAME}, ${NAME:-x}, ${NAME:+x}, $NAME
_ENV_WORD_RE = re.compile(
    r"\b("
    + "|".join(sorted(K.CUDA_BUILD_ENV))
    + r"|"
    + "|".join(p + r"[A-Z0-9_]+" for p in K.CUDA_BUILD_ENV_PREFIXES)
    + r")\b"
)
_NVCC_RE = re.compile(r"\bnvcc\b")
# CMake switches that build a project's CUDA backend (llama.cpp / llama-cpp-python, whose PyPI release
# is a source distribution: `CMAKE_ARGS="-DGGML_CUDA=on" pip install llama-cpp-python` compiles).
_CMAKE_CUDA_RE = re.compile(
    r"-D(?:GGML_CUDA|LLAMA_CUBLAS|LLAMA_CUDA|GGML_CUBLAS|USE_CUDA|WITH_CUDA)=(?:on|1|true)\b", re.IGNORECASE
)
_CLONE_RE = re.compile(r"\bgit\s+clone\b|\bgit\s+submodule\b")
_JIT_MARKERS = K.JIT_COMPILE_MARKERS + W.RUNTIME_JIT_MARKERS


# -- the stage chain -----------------------------------------------------------------------------
def _chain(doc: Document) -> list[Stage]:
    """The final stage and the stages it is built FROM, root (the one naming an image) first."""
    return list(reversed(B.stage_chain(doc, doc.final_stage))) if doc.final_stage is not None else []


def _descendants(doc: Document, root: Stage) -> list[Stage]:
    """``root`` and every stage built FROM it, directly or through other stages."""
    return [root, *B.descendants(doc, root)]


def _expand(text: str, values: dict[str, str]) -> str | None:
    """``text`` with ``${VAR}``/``$VAR``/``${VAR:-default}`` replaced by the global ARG defaults;
    None when one has no value."""
    missing = False

    def sub(m):
        nonlocal missing
        name = m.group(1) or m.group(3)
        if values.get(name):
            return values[name]
        if m.group(2) is not None and m.group(0).startswith("${") and ":-" in m.group(0):
            return m.group(2)
        missing = True
        return ""

    out = _VAR_RE.sub(sub, text)
    return None if missing else out


def _global_args(doc: Document) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in doc.global_args:
        if i.keyword == "ARG":
            for k, v in H.parse_kv_words(i):
                out[k] = v
    return out


# -- what compiles -------------------------------------------------------------------------------
class _Context:
    """The build context's CUDA sources, looked up once."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._cu: list[str] | None = None
        self.unread: list[str] = []  # requirements files named by installs that could not be read

    @property
    def known(self) -> bool:
        return self.ctx is not None and self.ctx.context_dir is not None and self.ctx.is_dir(".")

    def cuda_sources(self) -> list[str]:
        if self._cu is None:
            self._cu = (
                [p for p, _ in self.ctx.walk_context() if p.endswith(K.CUDA_SOURCE_SUFFIXES)] if self.known else []
            )
        return self._cu

    def has_cuda_sources(self, under: str = "") -> bool:
        """True when the context holds .cu files under ``under`` (or anywhere); unknown context: True."""
        if not self.known:
            return True
        under = posixpath.normpath(under.strip("/")) if under.strip("/") not in ("", ".") else ""
        if not under:
            return bool(self.cuda_sources())
        return any(
            p == under or p.startswith(under + "/") or fnmatch.fnmatch(p, under) or fnmatch.fnmatch(p, under + "/*")
            for p in self.cuda_sources()
        )


def _truthy_build_env(key: str, value: str) -> bool:
    if key.startswith(K.CUDA_BUILD_ENV_PREFIXES):
        return H.env_truthy({key: value}, key)
    return key in K.CUDA_BUILD_ENV


def _env_reason(instr: Instruction) -> str | None:
    for k, v in H.parse_kv_words(instr):
        if _truthy_build_env(k, v):
            return f"{instr.keyword} {k} (line {instr.start_line})"
    return None


def _pip_reason(
    args: list[str], cctx: _Context, env: dict[str, str], line: int, locate, cloned: bool = False
) -> str | None:
    no_isolation = "--no-build-isolation" in args
    no_binary = any(a.startswith("--no-binary") for a in args)
    find_links = " ".join(args)
    ctx = cctx.ctx
    read = getattr(ctx, "read_context_file", None) or (lambda _p: None)
    reqs, _urls, unread = S.pip_install_requirements(args, read, locate)
    cctx.unread.extend(u for u in unread if u not in cctx.unread)
    raw = [a for a in args if not a.startswith("-")]
    for r in reqs:
        if r.name in K.CUDA_EXT_PACKAGES and not any(ix in find_links for ix in K.PREBUILT_CUDA_INDEXES):
            return f"`pip install {r.name}` builds CUDA extensions (line {line})"
        if r.name in K.CUDA_EXT_FROM_SOURCE:
            from_source = no_isolation or no_binary or "://" in r.spec or "@" in r.spec
            if r.name == "deepspeed" and any(k.startswith("DS_BUILD_") and H.env_truthy(env, k) for k in env):
                from_source = True
            if from_source:
                return f"`pip install {r.name}` from source builds CUDA code (line {line})"
    for a in raw:
        if CS.SOURCE_URL_RE.match(a) and "egg=" not in a:
            tail = a.rstrip("/").rsplit("/", 1)[-1].split("@")[0].removesuffix(".git").lower().replace("_", "-")
            if tail in K.CUDA_EXT_PACKAGES or tail in K.CUDA_EXT_FROM_SOURCE:
                return f"`pip install {a}` builds CUDA code (line {line})"
    locals_ = [a for a in raw if CS.is_local(a) and not a.endswith(".whl")]
    editable = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-e", "--editable")]
    for path in locals_ + [e for e in editable if CS.is_local(e)]:
        if cloned:
            return f"`pip install {path}` builds a project the RUN clones: it may compile CUDA code (line {line})"
        if cctx.has_cuda_sources(path if not path.startswith("/") else ""):
            return f"`pip install {path}` builds a project with CUDA sources (line {line})"
    if no_isolation:
        return f"`pip install --no-build-isolation` builds against the installed toolkit (line {line})"
    return None


def _run_reason(doc: Document, instr: Instruction, cctx: _Context, ctx) -> str | None:
    text = instr.text(doc.text)
    if _NVCC_RE.search(text):
        return f"nvcc (line {instr.start_line})"
    m = _CMAKE_CUDA_RE.search(text)
    if m:
        return f"`{m.group(0)}` builds with CUDA (line {instr.start_line})"
    for m in _ENV_WORD_RE.finditer(text):
        if not m.group(1).startswith(K.CUDA_BUILD_ENV_PREFIXES) or re.search(
            re.escape(m.group(1)) + r"=['\"]?(1|true|yes|on)\b", text, re.IGNORECASE
        ):
            return f"{m.group(1)} in the RUN on line {instr.start_line}"
    if instr.json:
        values = list(instr.json)
        i = unwrap(values)
        if i < len(values) and H.basename(values[i]) in K.BUILD_SYSTEMS:
            return f"`{H.basename(values[i])}` may build CUDA code (line {instr.start_line})"
    env = H.stage_env(doc, instr)
    cloned = bool(_CLONE_RE.search(text))
    for script in run_scripts(doc, instr):
        for cmd in script.commands:
            values = cmd.argv
            if not values:
                continue
            i = cmd.unwrapped()
            if i >= len(values):
                continue
            prog = H.basename(values[i])
            if prog in K.CUDA_COMPILERS:
                return f"{prog} (line {instr.start_line})"
            if prog in K.BUILD_SYSTEMS:
                return f"`{prog}` may build CUDA code (line {instr.start_line})"
            if PT.PYTHON_RE.match(prog) and i + 1 < len(values):
                rest = values[i + 1 :]
                script_arg = next((a for a in rest if not a.startswith("-")), "")
                if H.basename(script_arg) == "setup.py" and any(a in K.SETUP_PY_BUILD for a in rest):
                    wd = posixpath.dirname(script_arg)
                    if cctx.has_cuda_sources(wd if wd and not wd.startswith("/") else ""):
                        return (
                            f"`setup.py {next(a for a in rest if a in K.SETUP_PY_BUILD)}` of a project with "
                            f"CUDA sources (line {instr.start_line})"
                        )
            pip = CS.pip_args(cmd)
            if pip is not None:
                r = _pip_reason(
                    pip[2],
                    cctx,
                    {**env, **cmd.assignments},
                    instr.start_line,
                    lambda p, i=instr: S.context_sources(doc, i, p, ctx),
                    cloned=cloned,
                )
                if r:
                    return r
    return None


def _copy_reason(instr: Instruction, cctx: _Context) -> str | None:
    if instr.flag("from") is not None or not cctx.known or not cctx.cuda_sources():
        return None
    words = list(instr.json) if instr.json is not None else instr.words()
    srcs = words[:-1]
    for src in srcs:
        src = src.strip("'\"")
        if src.startswith(("http://", "https://", "git@")):
            continue
        if src.endswith(K.CUDA_SOURCE_SUFFIXES) or cctx.has_cuda_sources(src):
            return f"{instr.keyword} of CUDA sources ({src}, line {instr.start_line})"
    return None


def compile_reasons(
    doc: Document, stages: list[Stage], ctx, cctx: _Context | None = None, hints: list[str] | None = None
) -> list[str]:
    """What in ``stages`` (or the global ARGs) compiles CUDA code, in file order (one per instruction).
    With ``hints``: build variables set by ENV/ARG alone (``ENV CUDA_HOME=...``) go there instead --
    they compile nothing by themselves, only what reads them does."""
    cctx = cctx or _Context(ctx)
    out: list[str] = []
    soft = out if hints is None else hints
    for i in doc.global_args:
        r = _env_reason(i) if i.keyword == "ARG" else None
        if r:
            soft.append(r)
    for st in stages:
        for instr in st.instructions:
            if instr.keyword in ("ENV", "ARG"):
                r = _env_reason(instr)
                if r:
                    soft.append(r)
                continue
            elif instr.keyword == "RUN":
                r = _run_reason(doc, instr, cctx, ctx)
            elif instr.keyword in ("COPY", "ADD"):
                r = _copy_reason(instr, cctx)
            elif instr.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK") and _NVCC_RE.search(instr.args):
                r = f"{instr.keyword} runs nvcc (line {instr.start_line})"
            else:
                r = None
            if r:
                out.append(r)
    return out


def _compiles_at_run_time(doc: Document, ctx, chain: list[Stage]) -> str:
    """What compiles when the container runs: a compiler its command (or a script that runs)
    calls, or the app's Python using a JIT extension loader (``cpp_extension.load``...)."""
    from ..semantics.programs import Resolved, Visitor, walk

    class Compiles(Visitor):
        found = ""

        def command(self, argv, via, depth):
            if H.basename(argv[0]) in K.RUNTIME_COMPILERS:
                self.found = f"{via}`{' '.join(argv[:3])}`"
                return True
            return False

        def code(self, r: Resolved, via):
            m = next((m for m in _JIT_MARKERS if m in (r.text or "")), None) or RC.find(r.text or "")
            if m:
                self.found = f"{via}{r.label} uses `{m}`"
                return True
            return False

    final = chain[-1] if chain else None
    commands = [i for st in chain for i in st.instructions if i.keyword in ("CMD", "ENTRYPOINT")]
    for ins in commands:
        v = Compiles()
        walk(doc, ctx, ins, v)
        if v.found:
            return v.found
    if ctx is None or ctx.context_dir is None or final is None:
        return ""
    for rel in CS.app_python(doc, ctx, chain):
        text = ctx.read_context_file(rel, limit=400_000) or ""
        m = next((m for m in _JIT_MARKERS if m in text), None) or RC.find(text)
        if m:
            return f"`{rel}` uses `{m}`"
    return ""


# -- the rule --------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    chain = _chain(doc)
    if not chain:
        return
    root = chain[0]
    written = root.image
    args = _global_args(doc)
    resolved = _expand(written, args) if "$" in written else written
    img = K.parse_image(written)
    start, end = root.image_span
    what = "the final stage" if root is chain[-1] else f"the final stage (through stage `{root.name}`)"
    if K.family(img) is None:
        # ``FROM ${BASE}``: a devel default of a build argument only this FROM uses is rewritten there
        if resolved and resolved != written and K.is_devel(resolved):
            span = _arg_default_span(doc, written, resolved)
            if span is None:
                yield H.finding(
                    _RULE,
                    f"the final image is built on `{resolved}` (the default of a build argument), a CUDA devel image",
                    start,
                    end,
                    note="the image comes from a build argument used elsewhere too: change its default "
                    "or pass a runtime image with --build-arg",
                )
                return
            yield from _devel(
                doc,
                ctx,
                chain,
                resolved,
                resolved,
                args,
                f"{what} (`{written}`, a build argument's default)",
                *span,
                via_arg=True,
            )
        return
    if not K.is_devel(written):
        yield from _lower_than_runtime(doc, ctx, chain, written, resolved, args, what, start, end)
        return
    yield from _devel(doc, ctx, chain, written, resolved, args, what, start, end)


def _arg_default_span(doc: Document, written: str, resolved: str) -> tuple[int, int] | None:
    """Where the default of the global ARG that ``written`` (``${BASE}``/``$BASE``) names is written,
    when that ARG is declared once with a literal default and nothing else in the file uses it."""
    m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", written)
    if m is None or "$" in resolved:
        return None
    name = m.group(1) or m.group(2)
    decls = [i for i in doc.global_args if i.keyword == "ARG" and name in dict(H.parse_kv_words(i))]
    if len(decls) != 1 or dict(H.parse_kv_words(decls[0])).get(name) != resolved:
        return None
    uses = re.findall(r"\$\{?" + re.escape(name) + r"\b", doc.text)
    if len(uses) != 1:  # the FROM itself; another stage or RUN using it would change too
        return None
    ins = decls[0]
    text = doc.text[ins.start : ins.end]
    k = text.find(name + "=")
    if k < 0:
        return None
    v = text.find(resolved, k)
    if v < 0 or text.count(resolved) != 1:
        return None
    return ins.start + v, ins.start + v + len(resolved)


def _devel(
    doc: Document,
    ctx,
    chain: list[Stage],
    written: str,
    resolved: str | None,
    args: dict[str, str],
    what: str,
    start: int,
    end: int,
    via_arg: bool = False,
):
    """The findings on a CUDA devel image ``written`` (as written at ``start:end``)."""
    root = chain[0]
    variant = K.runtime_variant(written)
    if variant.image is None:
        yield H.finding(_RULE, f"{what} runs on the CUDA devel image `{written}`", start, end, note=variant.note)
        return
    cctx = _Context(ctx)
    hints: list[str] = []
    reasons = compile_reasons(doc, _descendants(doc, root), ctx, cctx, hints)
    stack = CS.read(doc, ctx, chain, written)
    at_start = _compiles_at_run_time(doc, ctx, chain) or "; ".join(stack.runtime_jit)
    if at_start:
        # The fix's own reason says this breaks: it is not offered, not even as unsafe.
        yield H.finding(
            _RULE,
            f"{what} runs on the CUDA devel image `{written}`; the container compiles when it runs: {at_start}",
            start,
            end,
            note="the runtime image has no compiler or CUDA headers: keep devel for this image, or "
            "compile at build time in a devel builder stage and copy the result",
        )
        return
    ladder = CS.runtime_image(doc, ctx, chain, stack=stack, image=written)
    if hints and not ladder.closed:
        reasons = hints + reasons  # a build variable and packages slimml cannot vouch for: they may compile
    if reasons:
        shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
        yield H.finding(
            _RULE,
            f"{what} runs on the CUDA devel image `{written}`; it compiles CUDA code: {shown}",
            start,
            end,
            note="keep devel in a builder stage that compiles, and a runtime final stage "
            f"(`{variant.image}`) that copies the result (see SLM008 multi-stage)",
        )
        return
    if doc.text[start:end] != written:
        yield H.finding(
            _RULE,
            f"{what} runs on the CUDA devel image `{written}`; nothing compiles CUDA code",
            start,
            end,
            note=f"the image reference is split across lines: use `{variant.image}` by hand",
        )
        return
    target = ladder.image if ladder.steps else variant.image
    reason = UNSAFE_REASON + (f"; {variant.note}" if K.parse_image(written).digest or "$" in written else "")
    if hints:
        reason += (
            f"; {', '.join(hints)} set, but every package the image installs is a prebuilt wheel slimml "
            "knows and nothing else builds: the variable has nothing to build"
        )
    if via_arg:
        reason += "; the build argument's default changes: a --build-arg that names a devel image still builds on it"
    yield _step_finding(
        doc, what, written, resolved, args, ladder, target, start, end, reason, variant.note, cctx.unread
    )


def _step_finding(
    doc: Document,
    what: str,
    written: str,
    resolved: str | None,
    args: dict[str, str],
    ladder,
    target: str,
    start: int,
    end: int,
    reason_text: str,
    note: str,
    unread: list[str],
):
    """The finding whose unsafe fix replaces ``written`` by ``target`` (a step of ``ladder``)."""
    below = target == ladder.image and (ladder.below_runtime or len(ladder.steps) > (1 if K.is_devel(written) else 0))
    end_resolved = _expand(target, args) if "$" in target else target
    est = (CL.saving(resolved, end_resolved) if resolved and end_resolved else None) or (
        S.runtime_saving(resolved) if resolved and K.is_devel(resolved) else None
    )
    kw = {"estimate": est[0], "estimate_basis": est[1]} if est else {}
    if below:
        reason_text += (
            "; "
            + BELOW_RUNTIME_REASON
            + " ("
            + "; ".join(ladder.facts[:8])
            + ("; ..." if len(ladder.facts) > 8 else "")
            + ")"
        )
    if unread:
        reason_text += (
            f"; requirements file(s) not found in the build context ({', '.join(unread)}): "
            "check they name no package that builds CUDA extensions (flash-attn, apex...)"
        )
    notes = [n for n in (note, f"not lower: {ladder.stopped}" if ladder.stopped else "") if n]
    fix = Fix.unsafe(Edit(start, end, target), reason=reason_text, description=f"use {target}")
    devel = K.is_devel(written)
    reasons = [st.reason for st in ladder.steps if target == ladder.image or st.image == target] or [
        "nothing compiles CUDA code"
    ]
    why = " and ".join(dict.fromkeys(reasons))
    kind = "CUDA devel image" if devel else "CUDA image"
    return H.finding(
        _RULE,
        f"{what} runs on the {kind} `{written}` but {why}: use `{target}`",
        start,
        end,
        fix,
        note="; ".join(notes),
        **kw,
    )


def _lower_than_runtime(
    doc: Document,
    ctx,
    chain: list[Stage],
    written: str,
    resolved: str | None,
    args: dict[str, str],
    what: str,
    start: int,
    end: int,
):
    """A runtime nvidia/cuda image whose CUDA libraries all come with pip wheels: the base image."""
    ct = K.cuda_tag(K.parse_image(written).tag) if K.family(written) == "cuda" else None
    if ct is None or ct.flavor != "runtime" or doc.text[start:end] != written:
        return
    if _compiles_at_run_time(doc, ctx, chain):
        return
    ladder = CS.runtime_image(doc, ctx, chain)
    if not ladder.steps:
        return
    note = K.DIGEST_NOTE if K.parse_image(written).digest else ""
    yield _step_finding(doc, what, written, resolved, args, ladder, ladder.image, start, end, LOWER_REASON, note, [])
