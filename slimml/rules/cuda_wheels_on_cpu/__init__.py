"""CUDA wheels (torch's nvidia-* stack, tensorflow[and-cuda], jax[cuda12], onnxruntime-gpu) on an image that uses no GPU.

What it does
    Finds ``pip install`` / ``python -m pip install`` / ``uv pip install`` commands -- packages named
    on the line or in ``-r`` requirements files of the build context, followed recursively and
    parsed with ``packaging`` (markers evaluated for the image's Python on linux/x86_64) -- in a
    stage that reaches the final image, on a base image without CUDA (``python:*``, ``debian``,
    ``ubuntu``...), that bring CUDA wheels: ``torch`` / ``torchvision`` / ``torchaudio`` (PyPI's Linux
    x86_64 torch is the CUDA build and pulls ~13 ``nvidia-*`` wheels and triton),
    ``tensorflow[and-cuda]``, ``jax[cuda12]`` (and its other CUDA extras), ``onnxruntime-gpu``.
    Packages that pull torch in (``sentence-transformers``, ``openai-whisper``, ``accelerate``, ``peft``,
    ``timm``, ``ultralytics``, ``easyocr``, ``lightning``...) bring the same CUDA wheels through it.
    ``cupy-cuda*`` (it has no CPU build) is reported only.

    Then it reads the project for GPU use: the build context and the Dockerfile's folder (Python
    parsed with libcst; compose files, Kubernetes manifests, ``.env``, shell scripts, Makefiles,
    Procfiles, YAML/TOML/JSON configuration as text) and the Dockerfile's ENV, CMD and ENTRYPOINT.
    Evidence is ``"cuda"``/``"cuda:0"`` device strings, ``.cuda()``, ``torch.cuda.*``,
    ``device_map="auto"``, ``device=0``, ``--gpus``, ``runtime: nvidia``, compose GPU reservations,
    ``nvidia.com/gpu``, ``CUDA_VISIBLE_DEVICES``, ``import cupy``, TensorFlow/JAX GPU devices. A
    conditional use (``"cuda" if torch.cuda.is_available() else "cpu"``) counts: the code runs on a
    GPU when there is one. With evidence the finding is informational: it says what the CUDA wheels
    cost and keeps them.

    Without evidence, the fix (unsafe) installs the torch packages from the CPU index first, in the
    same RUN, with the same pip invocation (the same program, wrappers and variables, ``--user``,
    ``--break-system-packages``, ``--no-cache-dir``, constraints, trusted hosts) and the same version
    specifiers, so that the original install finds them installed and keeps them; it drops the
    CUDA extra of ``tensorflow[and-cuda]`` and ``jax[cuda12]``, and installs ``onnxruntime`` for
    ``onnxruntime-gpu`` (on the line, or in the requirements file). Where torch is pulled in by another
    package, the CPU install names it (and the torchvision / torchaudio the package is known to pull)
    with what the install's requirements and constraints say about it, or with no specifier: the CPU
    index's newest. Which torch releases the package accepts is in its metadata, which slimml does not
    read offline; where it pins or caps torch below that (an old pinned release can), pip replaces the
    CPU torch with PyPI's CUDA build -- the build succeeds as before, without the saving; the fix's
    reason says so.

    No finding: a CUDA base image; an install already from the CPU index (``--index-url`` /
    ``--extra-index-url`` on the line, in the requirements file, in ``PIP_INDEX_URL`` /
    ``PIP_EXTRA_INDEX_URL`` or a pip.conf the build reads, or a ``+cpu`` version); an arm64-only build
    (``FROM --platform=linux/arm64``: PyPI's torch wheels there are CPU-only); a stage that does not
    ship. The finding has no fix, with the reason, when the rewrite cannot be proven: an unknown or
    variable base image; ``-U``/``--upgrade`` (pip's, where torch is only pulled in, stays: its default
    only-if-needed strategy keeps a torch that satisfies -- not under ``eager``, nor uv's, which upgrades
    every package), ``--force-reinstall``, ``--ignore-installed``,
    ``--no-deps``, ``--target``/``--prefix``/``--root``, ``--no-index`` (on the line, or as ``PIP_*``
    variables or pip.conf keys); ``--require-hashes`` or hashes in the file (the CPU wheels' hashes
    differ); a specifier slimml cannot parse, a URL, a variable or a CUDA local version (``+cu121``),
    also in a constraint from ``PIP_CONSTRAINT`` or pip.conf; an install that names torch's CUDA
    libraries itself (``nvidia-*-cu12``, ``triton``: a pip-compiled lock); a torch not pinned with
    ``==`` -- or torch pulled in, not named -- next to a package that requires one torch release (xformers,
    vllm, torchtext, torchdata); a package pulling torch in under a marker that needs an unknown Python;
    uv choosing torch's build itself (``--torch-backend``: ``cpu`` counts as the CPU index); a
    requirements file it cannot read; an extra index from the environment or a config file (pip would
    search it for torch too); a command that is not part of a plain ``&&`` list, or that another
    statement follows (a failed CPU install left of ``&&`` would be ignored, even under ``set -e``,
    and the build would succeed without torch), or an exec-form RUN; a build context that is unknown,
    or too large to read whole.
    Installs from a lock (``uv sync``, ``poetry install``, ``pdm install``, ``pipenv install``) of a
    project that depends on torch are reported: set torch's source to the CPU index in pyproject.toml.

Why
    The torch wheel PyPI serves for Linux x86_64 is the CUDA build: 620-920 MB for torch 2.x plus
    2-3 GB of ``nvidia-*`` wheels (cuDNN, cuBLAS, NCCL...) and triton, 3-4 GB of downloads and more
    on disk, where the CPU wheel from download.pytorch.org/whl/cpu is 150-250 MB with no CUDA
    dependencies. On an image without CUDA whose code never asks for a GPU, all of that is dead weight.

    The fix is unsafe: the CPU wheels cannot use a GPU, so a container started with ``--gpus`` --
    or a library that picks the GPU on its own when one is there (sentence-transformers, whisper,
    ultralytics, accelerate) -- runs on the CPU; the CPU index (``https://download.pytorch.org/whl/cpu``,
    or the mirror set in the ``cpu-index-url`` option) must be reachable from the build and serve
    torch's dependencies too. Build the image and run it (``slimml measure --verify``) before shipping.

Example
    FROM python:3.11-slim
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt
    COPY app.py .
    CMD ["python", "app.py"]

Use instead
    FROM python:3.11-slim
    COPY requirements.txt .
    RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu 'torch==2.1.0' && pip install --no-cache-dir -r requirements.txt
    COPY app.py .
    CMD ["python", "app.py"]
"""

from __future__ import annotations

import re
import shlex

from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command, Word, run_scripts
from ...engine import Edit, Fix
from ...knowledge import gpu_use as G
from ...knowledge import sizes as S
from ...semantics import build as B
from ...semantics import ship as SH
from .. import _helpers as H
from . import evidence as E
from . import installs as N
from .base import arm_only, base_kind, python_version, root, stage_base
from .environment import DEFAULT_CPU_INDEX, _config_written_by_run, _configured_indexes, _is_cpu_url

CODE = "SLM013"
NAME = "cuda-wheels-on-cpu"
SUMMARY = (
    "CUDA wheels (torch from PyPI, tensorflow[and-cuda], jax[cuda12], onnxruntime-gpu) on an image that uses no GPU"
)
OPTIONS = {
    "cpu-index-url": (
        DEFAULT_CPU_INDEX,
        "the index serving torch's CPU wheels (set it to an Artifactory/Nexus mirror of it)",
    )
}
FIX = "unsafe"

_RULE = H.rule_of(__name__)

UNSAFE_REASON = (
    "the CPU wheels cannot run on a GPU: a container started with --gpus, or a library that picks the GPU "
    "on its own when there is one (sentence-transformers, whisper, ultralytics, accelerate), runs on the CPU; "
    "{index} must be reachable from the build and serve torch's dependencies too"
)
_NAME_EXTRAS_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\s*\[[^\]]*\])?")
_CUPY_RE = re.compile(r"^cupy-cuda\d+x?$")
_LOCK_TOOLS = {
    "uv": ("sync",),
    "poetry": ("install", "sync"),
    "pdm": ("install", "sync"),
    "pipenv": ("install", "sync"),
}
# torch's CUDA wheels as a pip-compiled lock names them (nvidia-*-cu11/-cu12, triton)
_CUDA_LIB_RE = re.compile(r"^(?:nvidia-[a-z0-9-]+-cu\d+|triton)$")
_SIMPLE_PARENTS = ("program", "list", "redirected_statement")


# -- the shell shape ------------------------------------------------------------------------------------
def _insert_point(inst: N.Install) -> tuple[int | None, str]:
    """Where ``CPU-install && `` can go before the command, or (None, why not)."""
    node = inst.cmd.node
    outer = node
    parent = node.parent
    while parent is not None and parent.type != "program":
        if parent.type not in _SIMPLE_PARENTS:
            return None, f"`{inst.label}` runs inside a {parent.type.replace('_', ' ')}"
        if parent.type == "redirected_statement":
            if parent.children[0] != outer:
                return None, f"`{inst.label}` is redirected in a way slimml does not rewrite"
        else:  # a list: only `&&` keeps `cpu && install` equivalent (`a || install` would become `(a || cpu) && install`)
            ops = [c.type for c in parent.children if not c.is_named]
            if any(op != "&&" for op in ops):
                return None, f"`{inst.label}` is in a list joined with `{next(op for op in ops if op != '&&')}`"
        outer = parent if parent.type == "redirected_statement" else outer
        parent = parent.parent
    if parent is None:
        return None, f"`{inst.label}` is not a command of the RUN's own shell"
    # `cmd &` runs in the background: the next sibling of the statement says so.
    top = node
    while top.parent is not None and top.parent.type != "program":
        top = top.parent
    nxt = top.next_sibling
    if nxt is not None and nxt.type == "&":
        return None, f"`{inst.label}` runs in the background"
    # `cpu && install; next`: were the CPU install to fail, the install would be skipped and the shell would go on
    # to `next` -- a failure left of `&&` stops neither the list nor a `set -e` shell -- and the build would
    # succeed without torch. Only as the RUN's last statement does the failure fail the build.
    while nxt is not None:
        if nxt.is_named and nxt.type not in ("comment", "heredoc_body"):
            return None, f"`{inst.label}` is followed by another statement: a failed CPU install would be ignored"
        nxt = nxt.next_sibling
    return inst.script.file_span(outer)[0], ""


def _raw_prefix(inst: N.Install) -> list[str]:
    """The command up to ``install`` as written: its variables, wrappers, program and global options."""
    script = inst.script
    assigns = [script.node_text(ch) for ch in inst.cmd.node.children if ch.type == "variable_assignment"]
    upto = inst.cmd.unwrapped() + inst.sub + 1
    return assigns + [w.raw for w in inst.cmd.words[:upto]]


def _torch_requirement(specs: list[N.Spec]) -> tuple[str | None, str]:
    """The requirement to install from the CPU index for one package (its specifiers joined), or (None, why)."""
    extras: set[str] = set()
    parts: list[str] = []
    name = specs[0].name
    for s in specs:
        if s.req is None:
            return None, f"`{s.text}` is not a requirement slimml can parse"
        if s.req.url:
            return None, f"`{s.text}` installs from a URL"
        if s.marker_unknown:
            return None, f"`{s.text}` has a marker that needs the image's Python version, which is unknown"
        if N._cuda_local(s.req):
            return None, f"`{s.text}` pins a CUDA build"
        if s.hashed:
            return None, f"`{s.text}` is pinned by hash: the CPU wheel's hash differs"
        if not s.exact_origin:
            return None, f"`{s.path}` was found by name in the build context, not through the stage's COPYs"
        extras |= set(s.req.extras)
        spec = str(s.req.specifier)
        if spec and spec not in parts:
            parts.append(spec)
    text = name + (f"[{','.join(sorted(extras))}]" if extras else "") + ",".join(parts)
    return text, ""


def _rewrite_name(text: str, name: str) -> str | None:
    """``text`` (a requirement) with its CUDA extra dropped (tensorflow, jax) or renamed (onnxruntime-gpu)."""
    m = _NAME_EXTRAS_RE.match(text)
    if m is None:
        return None
    new_name = m.group("name")
    extras_txt = m.group("extras") or ""
    if name == N.ORT_GPU:
        new_name = "onnxruntime"
        extras_txt = ""
    else:
        cuda = set(S.CUDA_EXTRAS.get(name, ())) | (
            {"cuda13", "cuda11", "cuda11-pip", "cuda11-local"} if name == "jax" else set()
        )
        inner = extras_txt.strip().strip("[]")
        keep = [e.strip() for e in inner.split(",") if e.strip() and S.canonical_name(e.strip()) not in cuda]
        extras_txt = f"[{','.join(keep)}]" if keep else ""
    return new_name + extras_txt + text[m.end() :]


def _other_edit(spec: N.Spec, ctx) -> tuple[Edit | None, str]:
    if spec.word is not None:
        raw = spec.word.raw
        if "\\" in raw or "$" in raw:
            return None, f"`{raw}` uses escapes or variables"
        q = raw[0] if raw[:1] in ("'", '"') and raw.endswith(raw[0]) and len(raw) > 1 else ""
        inner = raw[1:-1] if q else raw
        new = _rewrite_name(inner, spec.name)
        if new is None:
            return None, f"`{raw}` could not be rewritten"
        if not q and re.search(r"[^\w.,\[\]=<>!~*+-]", new):
            new = shlex.quote(new)
        elif not q and re.search(r"[<>]", new):
            new = shlex.quote(new)
        return Edit(spec.word.start, spec.word.end, q + new + q), ""
    if spec.path is None or spec.span is None:
        return None, f"`{spec.text}` could not be located in its requirements file"
    if not spec.exact_origin:
        return None, f"`{spec.path}` was found by name in the build context, not through the stage's COPYs"
    problem = ctx.side_files_problem()
    if problem:
        return None, f"`{spec.path}` cannot be edited: {problem}"
    new = _rewrite_name(spec.text, spec.name)
    if new is None:
        return None, f"`{spec.text}` could not be rewritten"
    return Edit(spec.span[0], spec.span[1], new, path=spec.path), ""


# -- sizes ----------------------------------------------------------------------------------------------
def _after_requirements(flagged: list[N.Spec]) -> list[S.Requirement]:
    out = []
    for s in flagged:
        if s.name == N.ORT_GPU:
            out.append(S.Requirement("onnxruntime", (), ""))
        elif s.name in S.CUDA_EXTRAS:
            cuda = set(S.CUDA_EXTRAS[s.name])
            extras = tuple(e for e in (s.req.extras if s.req is not None else ()) if S.canonical_name(e) not in cuda)
            out.append(S.Requirement(s.name, extras, ""))
        else:
            out.append(S.Requirement(s.name, (), ""))
    return out


def _before_requirements(flagged: list[N.Spec]) -> list[S.Requirement]:
    return [
        S.Requirement(s.name, tuple(S.canonical_name(e) for e in (s.req.extras if s.req is not None else ())), "")
        for s in flagged
    ]


def saving(flagged: list[N.Spec], cpu_torch: bool) -> tuple[S.Range | None, str, str]:
    """(bytes of downloads saved, what the CUDA wheels cost, basis) for the flagged packages."""
    before = S.download_estimate(_before_requirements(flagged))
    after = S.download_estimate(_after_requirements(flagged), cpu_torch=cpu_torch)
    if before is None or after is None:
        return None, "", ""
    gone = [n for n in before.known if n not in after.known]
    parts = [S.WHEELS[n].download for n in gone if n in S.WHEELS]
    if "torch" in before.known and "torch" in after.known and cpu_torch:
        d = S.subtract(S.WHEELS["torch"].download, S.TORCH_CPU.download)
        if d is not None:
            parts.append(d)
    if N.ORT_GPU in before.known and "onnxruntime" in after.known:
        d = S.subtract(S.WHEELS[N.ORT_GPU].download, S.WHEELS["onnxruntime"].download)
        if d is not None:
            parts.append(d)
    if not parts:
        return None, "", ""
    r = S.add(*parts)
    cost = f"~{S.human_range(r)} of CUDA wheels to download"
    if "torch" in before.known:
        cost += (
            f" (torch's CUDA build {S.human_range(S.WHEELS['torch'].download)} and its nvidia-*/triton wheels, "
            f"against {S.human_range(S.TORCH_CPU.download)} for the CPU wheel)"
        )
    basis = (
        "downloaded wheel sizes (linux/amd64) of the CUDA wheels the install would no longer fetch"
        + (f": {', '.join(gone[:6])}{', ...' if len(gone) > 6 else ''}" if gone else "")
        + ("; torch's CUDA wheel less its CPU wheel" if "torch" in before.known and cpu_torch else "")
        + "; installed, they take more"
    )
    return r, cost, basis


# -- the Dockerfile's own evidence -----------------------------------------------------------------------
def _dockerfile_evidence(doc: Document, name: str) -> list[E.Evidence]:
    out = []
    final = doc.final_stage
    if final is None:
        return out
    chain = {s.index for s in B.stage_chain(doc, final)}
    for ins in doc.instructions:
        if ins.stage not in chain or ins.keyword not in ("ENV", "CMD", "ENTRYPOINT"):
            continue
        if ins.keyword == "ENV":
            for k, _v in H.parse_kv_words(ins):
                if k in G.DOCKERFILE_ENV_NAMES:
                    out.append(E.Evidence(name, ins.start_line, f"ENV {k}"))
        text = " ".join(ins.json) if ins.json is not None else ins.text(doc.text)
        for line, what in E.text_evidence(text):
            out.append(E.Evidence(name, ins.start_line + line - 1, what))
    return out


# -- the rule ---------------------------------------------------------------------------------------------
def _spec_key(s: N.Spec) -> str:
    return str(s.req.specifier) if s.req is not None else s.text


def _name_key(inst: N.Install, name: str) -> str:
    """All the specifiers the install gives ``name`` (over its lines and files), as one normalized set: the CPU
    install writes them joined (``torch<2.3,>=2.0``), and a later install is kept when it asks for the same set."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    specs = [s for s in inst.specs + inst.constraints if s.name == name]
    if any(s.req is None for s in specs):
        return " ".join(s.text for s in specs)
    try:
        return str(SpecifierSet(",".join(str(s.req.specifier) for s in specs if str(s.req.specifier))))
    except InvalidSpecifier:
        return " ".join(s.text for s in specs)


def _kept(inst: N.Install, s: N.Spec, cpu_done: dict[str, set[str]]) -> bool:
    """An earlier install of the stage chain put ``s``'s package there from the CPU index, and this install keeps
    it: it neither upgrades nor reinstalls, and asks for it bare or with the same specifiers (an unpinned CPU
    install may have picked another version than a later pin, which pip would then fetch from PyPI)."""
    done = cpu_done.get(s.name)
    if done is None or inst.withdraw or inst.upgrade:
        return False
    key = _name_key(inst, s.name)
    return key == "" or key in done


def _flagged(
    inst: N.Install, cpu_done: dict[str, set[str]], cpu_index: str, torch_cpu: bool
) -> tuple[list[N.Spec], list[str]]:
    """(the specs that bring CUDA wheels, packages reported only), after what is already CPU. The torch packages
    that named packages pull in (sentence-transformers -> torch, timm -> torch, torchvision) come as specs of their
    own, without a specifier and with ``pulled_by`` set: the CPU install puts them there first as well."""
    flagged: list[N.Spec] = []
    report: list[str] = []
    pulled: dict[str, list[N.Spec]] = {}
    named = {s.name for s in inst.specs}
    for s in inst.specs:
        extras = {S.canonical_name(e) for e in (s.req.extras if s.req is not None else ())}
        if s.name in N.TORCH_FAMILY:
            if torch_cpu or _kept(inst, s, cpu_done) or S.TORCH_CPU_VERSION_RE.search(s.text):
                continue
            if s.req is not None and s.req.url and _is_cpu_url(s.req.url, cpu_index):
                continue
            flagged.append(s)
        elif s.name in ("tensorflow", "jax") and extras & (
            set(S.CUDA_EXTRAS[s.name]) | ({"cuda13", "cuda11", "cuda11-pip"} if s.name == "jax" else set())
        ):
            flagged.append(s)
        elif s.name == N.ORT_GPU:
            flagged.append(s)
        elif _CUPY_RE.match(s.name):
            report.append(f"{s.name} (no CPU build: numpy does what it does on the CPU)")
        elif not torch_cpu and "torch" not in cpu_done:
            closure = _closure(s.name)
            for fam in N.TORCH_FAMILY:
                if fam in closure and fam not in named:
                    pulled.setdefault(fam, []).append(s)
    # A pulled torchvision/torchaudio next to a named CUDA torch is added too: PyPI's is a CUDA build, which pip
    # would put over the CPU torch.
    if "torch" in pulled or any(s.name in N.TORCH_FAMILY for s in flagged):
        from packaging.requirements import Requirement

        for fam in N.TORCH_FAMILY:
            if fam in pulled:
                flagged.append(N.Spec(fam, fam, Requirement(fam), pulled_by=tuple(pulled[fam])))
    return flagged, report


def _interesting(s: N.Spec) -> bool:
    return (
        s.name in N.TORCH_FAMILY
        or s.name in S.CUDA_EXTRAS
        or s.name == N.ORT_GPU
        or bool(_CUPY_RE.match(s.name))
        or "torch" in _closure(s.name)
    )


def _exact(req) -> bool:
    """``==X`` (no wildcard) or ``===X``: one release, whichever index serves it."""
    return any(sp.operator == "===" or (sp.operator == "==" and "*" not in sp.version) for sp in req.specifier)


def _closure(name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(S.HEAVY_DEPS.get(n, ()))
        if n in G.TORCH_EXACT_DEPENDANTS:  # torchtext/torchdata are not in HEAVY_DEPS: each requires one torch
            stack.append("torch")
    return seen - {name}


def _cpu_index(ctx) -> str:
    """The ``cpu-index-url`` option: an index URL pip takes (http, https, file), or a one-line configuration error
    (never a silent default)."""
    import json

    from ...config import ConfigError

    value = ctx.settings.option(CODE, NAME, "cpu-index-url", DEFAULT_CPU_INDEX)
    if (
        not isinstance(value, str)
        or not value.strip().startswith(("http://", "https://", "file://"))
        or " " in value.strip()
    ):
        raise ConfigError(
            f"[rules.{CODE}] cpu-index-url must be an index URL: http://, https:// or file:// (got {json.dumps(value)})"
        )
    return value.strip()


def check(doc: Document, ctx):
    cpu_index = _cpu_index(ctx)
    final = doc.final_stage
    if final is None:
        return
    final_kind, final_why = base_kind(stage_base(doc, final))
    if final_kind == "cuda" or arm_only(doc, final):
        return
    done_by_stage: dict[int, set[str]] = {}
    scan = None
    for stage in doc.stages:
        parent = B.parent_stage(doc, stage)
        inherited = done_by_stage.get(parent.index, {}) if parent is not None else {}
        cpu_done = {k: set(v) for k, v in inherited.items()}
        done_by_stage[stage.index] = cpu_done
        kind, why = base_kind(stage_base(doc, stage))
        if kind == "cuda" or arm_only(doc, stage):
            continue
        if final_kind == "unknown" and kind != "unknown":
            kind, why = final_kind, final_why
        ships = SH.stage_ships(doc, stage).ships
        python = python_version(B.from_image(doc, root(doc, stage)))
        for instr in stage.instructions:
            if instr.keyword != "RUN":
                continue
            for script, cmd in _commands(doc, instr):
                hit = N.classify(cmd)
                if hit is None:
                    lock = _lock_install(doc, ctx, instr, cmd, cpu_index)
                    if lock is not None and ships:
                        if scan is None:
                            scan = _evidence(doc, ctx)
                        if not scan[0]:  # with GPU use, a lock of CUDA torch is what the project wants
                            yield lock
                    continue
                inst = N.read_install(doc, ctx, instr, cmd, script, hit, python)
                if not any(_interesting(s) for s in inst.specs):
                    continue  # the common case: nothing here brings CUDA wheels
                idx, extra, unknown = _configured_indexes(doc, ctx, inst)
                run_cpu, run_unknown = _config_written_by_run(doc, instr, cmd.start)
                torch_cpu = run_cpu or any(_is_cpu_url(u, cpu_index) for u in inst.urls + idx + extra)
                flagged, report = _flagged(inst, cpu_done, cpu_index, torch_cpu)
                for s in inst.specs:
                    if s.name in N.TORCH_FAMILY and (torch_cpu or S.TORCH_CPU_VERSION_RE.search(s.text)):
                        cpu_done.setdefault(s.name, set()).update((_spec_key(s), _name_key(inst, s.name)))
                if not ships or (not flagged and not report):
                    continue
                if scan is None:
                    scan = _evidence(doc, ctx)
                f = _finding(
                    doc,
                    ctx,
                    inst,
                    flagged,
                    report,
                    kind,
                    why,
                    scan,
                    cpu_index,
                    extra,
                    unknown + ([run_unknown] if run_unknown else []),
                )
                yield f


def _commands(doc: Document, instr: Instruction):
    """(script, command) of a RUN; an exec-form RUN is one command without a script (reported, never rewritten)."""
    if instr.is_exec_form:
        if instr.json:
            words = [Word(v, v, instr.start, instr.end, "word") for v in instr.json]
            yield None, Command(words[0], words[1:], {}, instr.start, instr.end, None, None)
        return
    for script in run_scripts(doc, instr):
        for cmd in script.commands:
            yield script, cmd


def _evidence(doc: Document, ctx) -> tuple[list[E.Evidence], str]:
    name = ctx.dockerfile.name if ctx.dockerfile is not None else "Dockerfile"
    found = _dockerfile_evidence(doc, name)
    if ctx.context_dir is None or not ctx.context_dir.is_dir():
        scan = E.scan_project(None, ctx.dockerfile) if ctx.dockerfile is not None else E.Scan()
        return found + scan.evidence, "the build context is unknown: the project's code could not be read for GPU use"
    scan = E.cached_scan(ctx)
    cut = f"the scan of the project for GPU use was cut short ({scan.cut})" if scan.cut else ""
    return found + scan.evidence, cut


def _finding(doc, ctx, inst, flagged, report, kind, why, scan, cpu_index, extra, unknown):
    evidence, cut = scan
    torch_specs = [s for s in flagged if s.name in N.TORCH_FAMILY]
    names = sorted(
        {
            s.name
            + (f"[{','.join(sorted(s.req.extras))}]" if s.req is not None and s.req.extras else "")
            + (f" (pulled in by {', '.join(dict.fromkeys(p.name for p in s.pulled_by))})" if s.pulled_by else "")
            for s in flagged
        }
    )
    pullers = list({p.name: p for s in flagged for p in s.pulled_by}.values())
    est, cost, basis = saving(flagged, cpu_torch=True)
    what = ", ".join(names) if names else ", ".join(r.split(" ", 1)[0].rstrip(",") for r in report)
    start, end = inst.cmd.start, inst.cmd.end
    if evidence:
        shown = "; ".join(str(e) for e in evidence[:3]) + (
            f"; and {len(evidence) - 3} more" if len(evidence) > 3 else ""
        )
        msg = f"`{inst.label}` installs {what} with CUDA wheels{': ' + cost if cost else ''}; the project uses a GPU ({shown}): kept"
        return H.finding(_RULE, msg, start, end, None, note="GPU use found: the CUDA wheels are kept", severity="info")
    msg = f"`{inst.label}` installs {what} with CUDA wheels on an image without CUDA, and the project shows no GPU use"
    if cost:
        msg += f"; {cost}"
    withdraw: list[str] = []
    if inst.script is None:
        withdraw.append("the RUN is in exec form: there is no shell to run the CPU install first")
    if not flagged:
        msg = f"`{inst.label}` installs {'; '.join(report)}, on an image without CUDA, and the project shows no GPU use"
        return H.finding(_RULE, msg, start, end, None, note="reported only: no CPU build to switch to here")
    if report:
        msg += f"; also {'; '.join(report)}"
    if kind == "unknown":
        withdraw.append(why)
    if cut:
        withdraw.append(cut)
    withdraw += inst.withdraw
    if inst.upgrade and (any(not s.pulled_by for s in flagged) or (inst.upgrade_strategy or "").strip() == "eager"):
        withdraw.append(f"`{inst.label}` {N.WITHDRAW_FLAGS['--upgrade']}")
    if inst.variable:
        withdraw.append(f"`{inst.label}` uses variables")
    if any(not r.startswith("/") for r in inst.req_files) and any(
        c.start < inst.cmd.start and c.effective_argv()[:1] in (["cd"], ["pushd"])
        for c in (inst.script.commands if inst.script is not None else ())
    ):
        withdraw.append("the RUN changes directory before the install: its requirements files cannot be located")
    if inst.unread:
        withdraw.append(f"requirements file(s) not readable from the build context: {', '.join(inst.unread)}")
    withdraw += unknown
    cuda_libs = sorted({s.name for s in inst.specs if _CUDA_LIB_RE.match(s.name)})
    if torch_specs and cuda_libs:
        withdraw.append(
            f"`{inst.label}` names torch's CUDA libraries itself ({', '.join(cuda_libs[:3])}"
            f"{', ...' if len(cuda_libs) > 3 else ''}): it would install them after the CPU torch all the same; "
            "drop them from the requirements (lock again against the CPU index)"
        )
    loose_torch = [s for s in torch_specs if s.req is None or not _exact(s.req)]
    dependants = sorted({n for s in inst.specs for n in {s.name} | _closure(s.name) if n in G.TORCH_EXACT_DEPENDANTS})
    if loose_torch and dependants:
        withdraw.append(
            f"`{loose_torch[0].text}` is not pinned and {', '.join(dependants[:3])} requires one torch release exactly: "
            "the CPU install takes the CPU index's newest torch, which the install may then replace with PyPI's "
            "CUDA build (pin torch with ==)"
        )
    for p in pullers:
        if p.marker_unknown:
            withdraw.append(
                f"`{p.text}` has a marker that needs the image's Python version, which is unknown: the CPU install "
                "would add torch where the install may add none"
            )
        if not p.exact_origin:
            withdraw.append(f"`{p.path}` was found by name in the build context, not through the stage's COPYs")
    if pullers and any(s.hashed for s in inst.specs):
        # hash-checking mode wants every package pinned by hash: the CPU torch installed first would let an install
        # that fails for torch's missing hash pass
        withdraw.append(f"`{inst.label}` checks hashes and names no torch: it fails without torch's hash")
    if torch_specs:
        extras_given = [u for u in extra if not _is_cpu_url(u, cpu_index)]
        if extras_given:
            withdraw.append(
                f"an extra index is configured ({extras_given[0]}): pip would search it for torch's CUDA build too"
            )
    edits: list[Edit] = []
    if not withdraw and flagged:
        if torch_specs:
            at, why_not = _insert_point(inst)
            if at is None:
                withdraw.append(why_not)
            else:
                reqs = []
                for n in N.TORCH_FAMILY:
                    specs = [s for s in torch_specs if s.name == n]
                    if not specs:
                        continue
                    specs += [c for c in inst.constraints if c.name == n]
                    text, why_not = _torch_requirement(specs)
                    if text is None:
                        withdraw.append(why_not)
                        break
                    reqs.append(shlex.quote(text))
                if not withdraw:
                    words = _raw_prefix(inst) + inst.copied + ["--index-url", shlex.quote(cpu_index)] + reqs
                    edits.append(Edit(at, at, " ".join(words) + " && "))
        for s in flagged:
            if s.name in N.TORCH_FAMILY or withdraw:
                continue
            e, why_not = _other_edit(s, ctx)
            if e is None:
                withdraw.append(why_not)
            else:
                edits.append(e)
    kw = {"estimate": est, "estimate_basis": basis} if est is not None else {}
    if withdraw or not edits:
        note = "; ".join(dict.fromkeys(withdraw))
        if any(s.name in N.TORCH_FAMILY for s in flagged) and any("lock" in w for w in withdraw):
            note += "; set the torch source to the CPU index in pyproject.toml"
        return H.finding(_RULE, msg, start, end, None, note=note, **kw)
    reason = UNSAFE_REASON.format(index=cpu_index)
    if cost:
        reason += f"; it saves {cost}"
    if pullers:
        reason += "; " + _pulled_caveat(flagged, pullers, inst.upgrade)
    fix = Fix.unsafe(
        *edits,
        reason=reason,
        description="install torch from the CPU index first" if torch_specs else "install the packages' CPU builds",
        relies_on=(
            "the project's code and configuration show no GPU use",
            "the original install keeps packages that satisfy its specifiers (no --upgrade, --force-reinstall, "
            "--ignore-installed, --target)",
            "the CPU build has the same version as the specifiers ask for",
        )
        + (("the packages that pull torch in accept the CPU index's newest torch",) if pullers else ()),
    )
    return H.finding(_RULE, msg, start, end, fix, **kw)


def _pulled_caveat(flagged: list[N.Spec], pullers: list[N.Spec], inst_upgrade: bool) -> str:
    """What the fix cannot know about torch packages it installs because other packages pull them in."""
    fams = [s.name for s in flagged if s.pulled_by]
    names = ", ".join(p.name for p in pullers[:3]) + (", ..." if len(pullers) > 3 else "")
    pinned = [p.text for p in pullers if p.req is not None and _exact(p.req)]
    out = (
        f"the install does not name {' or '.join(fams)}, so the CPU install takes the CPU index's newest; which "
        f"torch releases {names} accept{'s' if len(pullers) == 1 else ''} is in the package metadata, which slimml "
        "does not read offline"
    )
    if pinned:
        out += (
            f" -- an older release ({', '.join(pinned[:3])}) may require an older torch, or none (then the CPU torch "
            "is added for nothing)"
        )
    if inst_upgrade:
        out += (
            "; -U upgrades the packages named, and their dependencies only where needed (pip's only-if-needed "
            "strategy): a CPU torch that satisfies them is kept"
        )
    return out + (
        ": where it pins or caps torch below that, pip replaces the CPU torch with PyPI's CUDA build (the build "
        "still succeeds, but the saving does not happen); pin torch to a release it accepts to be sure"
    )


# -- lock-based installs ------------------------------------------------------------------------------------
def _lock_install(doc: Document, ctx, instr: Instruction, cmd, cpu_index: str):
    from ...semantics import files as F

    argv = cmd.effective_argv()
    if not argv:
        return None
    prog = H.basename(argv[0])
    subs = _LOCK_TOOLS.get(prog)
    if subs is None:
        return None
    rest = [a for a in argv[1:] if not a.startswith("-")]
    if not rest or rest[0] not in subs:
        return None
    wd = H.workdir_at(doc, instr)
    manifest = "Pipfile" if prog == "pipenv" else "pyproject.toml"
    o = F.origin(doc, ctx, instr, f"{wd.rstrip('/')}/{manifest}")
    if o.kind not in ("context", "heredoc") or o.text is None:
        return None
    text = o.text
    if S.TORCH_CPU_INDEX_RE.search(text) or cpu_index.rstrip("/") in text:
        return None
    found = [n for n in N.TORCH_FAMILY if re.search(rf"(?m)^\s*[\"']?{n}\b|[\"']{n}\s*[\[=<>~!;\"']", text)]
    if not found:
        return None
    stage = doc.stage_of(instr)
    if stage is not None and not SH.stage_ships(doc, stage).ships:
        return None
    label = " ".join(argv[:2])
    return H.finding(
        _RULE,
        f"`{label}` installs {', '.join(found)} from a lock of {manifest}: PyPI's Linux torch is the CUDA build "
        f"with ~2-3 GB of nvidia-* wheels, on an image without CUDA",
        cmd.start,
        cmd.end,
        None,
        note=f"the versions come from the lock; set the torch source to the CPU index ({cpu_index}) in "
        f"{manifest} and lock again",
    )
