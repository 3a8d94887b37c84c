"""What a CUDA image's stages install and use, read for the CUDA base ladder.

``read(doc, ctx, stages)`` gathers, offline, the pip requirements (command lines and the
requirements files of the build context they name), the apt packages, what could not be read
(opaque), the Python the image runs and its references to the system CUDA.
``runtime_image(...)`` is the entry point other rules call: the ladder for a stage's base image.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from ..dockerfile import Document, Instruction, Stage
from ..dockerfile.shell import Command, run_scripts
from ..knowledge import cuda_ladder as L
from ..knowledge import cuda_wheels as W
from ..knowledge import images as I
from ..knowledge import python_tools as PT
from ..knowledge import sizes as S

APT_TOOLS = frozenset({"apt-get", "apt", "aptitude"})
CONDA_TOOLS = frozenset({"conda", "mamba", "micromamba"})
LOCK_INSTALLERS = {"poetry": "install", "pdm": "install", "pipenv": "install"}
OTHER_INSTALLERS = frozenset({"pipx", "easy_install", "hatch", "rye", "pip-sync", "poetry", "pdm", "pipenv"})
# A reference to the CUDA libraries of the image (not the boilerplate ENV PATH/LD_LIBRARY_PATH: a
# directory on a search path that has fewer libraries only makes the loader take the wheels' copies).
SYSTEM_CUDA_RE = re.compile(
    r"/usr/local/cuda\b|\blib(?:cudart|cublas(?:Lt)?|cudnn\w*|nccl|cufft|curand|cusparse|"
    r"cusolver|nvrtc|nvjpeg|npp\w*|nvinfer\w*)\.so"
)
BINARY_URL_RE = re.compile(r"\.(so(\.\d+)*|deb|run|whl|tar\.gz|tgz|tar\.xz|zip)(\?|$)")
_APT_PYTHON_RE = re.compile(r"^python(3\.\d+)(?:-\w+)?$")
_WHEEL_TAG_RE = re.compile(r"-cp3(\d+)-")
SOURCE_URL_RE = re.compile(r"^(git\+|hg\+|svn\+|bzr\+|https?://|file:)")


@dataclass
class Stack:
    requirements: list[S.Requirement] = field(default_factory=list)
    apt_packages: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    system_cuda: list[str] = field(default_factory=list)
    python: str | None = None
    python_from: str | None = None
    interpreter_paths: list[str] = field(default_factory=list)
    runtime_jit: list[str] = field(default_factory=list)  # installed packages that compile when they run

    def note_opaque(self, why: str) -> None:
        if why not in self.opaque:
            self.opaque.append(why)


def pip_args(cmd: Command) -> tuple[str, str, list[str]] | None:
    """(tool, subcommand, words after it) of a pip/uv install, wheel or sync."""
    from ..rules.pip_cache import classify

    hit = classify(cmd)
    if hit is None or hit[0] not in ("pip", "uv"):
        return None
    tool, words, sub = hit
    if words[sub].value not in ("install", "wheel", "sync"):
        return None
    return tool, words[sub].value, [w.value for w in words[sub + 1 :]]


def is_local(arg: str) -> bool:
    """A local path (project directory, wheel, archive) as a pip argument."""
    return (
        arg in (".", "..")
        or arg.startswith(("./", "../", "/", "~"))
        or ("/" in arg and not SOURCE_URL_RE.match(arg) and "://" not in arg and "@" not in arg)
    )


def _opaque_lines(text: str) -> list[str]:
    """Lines of a requirements file that name no package by name: local paths, wheels, editable
    projects (their dependencies are not in the file)."""
    out = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-e", "--editable")):
            out.append(line)
        elif not line.startswith("-") and S.parse_requirement(line.split(";", 1)[0]) is None:
            out.append(line)
    return out


def _pip(doc, ctx, instr, cmd, tool, sub, args, st: Stack) -> None:
    line = instr.start_line
    if sub == "sync":
        st.note_opaque(f"`{tool} sync` installs from a lock file slimml does not read (line {line})")
        return
    texts: list[tuple[str, str]] = []
    read_ctx = getattr(ctx, "read_context_file", None) if ctx is not None else None

    def read(p: str) -> str | None:
        t = read_ctx(p) if read_ctx else None
        if t is not None:
            texts.append((p, t))
        return t

    reqs, _urls, unread = S.pip_install_requirements(args, read, lambda p: S.context_sources(doc, instr, p, ctx))
    st.requirements.extend(reqs)
    for u in unread:
        st.note_opaque(f"requirements file {u} not found in the build context (line {line})")
    for path, text in texts:
        for o in _opaque_lines(text):
            st.note_opaque(f"{path} installs `{o}`: its dependencies are not listed")
    links = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-f", "--find-links")]
    links += [a.split("=", 1)[1] for a in args if a.startswith("--find-links=")]
    for link in links:
        if is_local(link) or link.startswith("file:"):
            st.note_opaque(
                f"`{tool} install --find-links {link}`: packages from a local directory, whatever "
                f"their names (line {line})"
            )
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in S.PIP_OPTS_WITH_VALUE and a not in ("-e", "--editable"):
            skip = True
            continue
        if a.startswith("-"):
            continue
        if "$" in a:
            st.note_opaque(f"`{tool} install {a}`: a variable names what is installed (line {line})")
            continue
        if (
            is_local(a)
            or a.endswith((".whl", ".tar.gz", ".zip"))
            or (SOURCE_URL_RE.match(a) and S.parse_requirement(a) is None)
        ):
            st.note_opaque(
                f"`{tool} install {a}`: a local project or archive, its dependencies are not listed (line {line})"
            )
        m = _WHEEL_TAG_RE.search(a)
        if m and st.python is None:
            st.python = f"3.{m.group(1)}"
    if "--no-deps" in args and any(
        r.name == "torch" or r.name in W.VIA_TORCH or any((r.name, e) in W.BRINGS for e in r.extras) for r in reqs
    ):
        st.note_opaque(f"`pip install --no-deps` of a package whose CUDA libraries are its dependencies (line {line})")


def _apt(argv: list[str], st: Stack, os_: str | None) -> None:
    if "install" not in argv:
        return
    for a in argv[argv.index("install") + 1 :]:
        if a.startswith("-") or "$" in a:
            continue
        name = a.split("=", 1)[0]
        st.apt_packages.append(name)
        m = _APT_PYTHON_RE.match(name)
        if m:
            st.python, st.python_from = m.group(1), "apt"
        elif (
            name in ("python3", "python3-pip", "python3-dev", "python3-venv", "python-is-python3")
            and st.python_from != "apt"
        ):
            st.python_from = "apt"
            st.python = st.python or L.UBUNTU_PYTHON3.get(os_ or "")


def _run(doc, ctx, instr: Instruction, st: Stack, os_: str | None) -> None:
    text = instr.text(doc.text)
    for m in SYSTEM_CUDA_RE.finditer(text):
        st.system_cuda.append(f"`{m.group(0)}` in the RUN on line {instr.start_line}")
        break
    for script in run_scripts(doc, instr):
        for cmd in script.commands:
            argv = cmd.argv
            if not argv:
                continue
            argv = argv[cmd.unwrapped() :]
            if not argv:
                continue
            prog = posixpath.basename(argv[0])
            if prog in APT_TOOLS:
                _apt(argv, st, os_)
            elif prog in CONDA_TOOLS and any(a in ("install", "create", "update", "env") for a in argv[1:3]):
                st.note_opaque(f"`{prog}` installs packages slimml does not read (line {instr.start_line})")
                st.python_from = "other"
            elif prog in LOCK_INSTALLERS and LOCK_INSTALLERS[prog] in argv[1:3]:
                st.note_opaque(
                    f"`{prog} install` installs from a lock file slimml does not read (line {instr.start_line})"
                )
            elif prog in I.CUDA_COMPILERS or prog in I.BUILD_SYSTEMS:
                st.note_opaque(
                    f"`{prog}` builds native code that may link the image's CUDA libraries (line {instr.start_line})"
                )
            elif prog == "dpkg" and any(a in ("-i", "--install") for a in argv[1:]):
                st.note_opaque(f"`dpkg -i` installs a package slimml does not read (line {instr.start_line})")
            elif prog in ("curl", "wget") and any(BINARY_URL_RE.search(a) for a in argv[1:]):
                st.note_opaque(f"`{prog}` downloads a binary or installer (line {instr.start_line})")
            elif prog == "uv" and argv[1:3] == ["python", "install"] or prog == "pyenv":
                st.python_from = "other"
            else:
                hit = pip_args(cmd)
                if hit is not None:
                    _pip(doc, ctx, instr, cmd, *hit, st)
                elif _installs(argv):
                    st.note_opaque(
                        f"`{' '.join(argv[:3])}` installs packages slimml does not read (line {instr.start_line})"
                    )
    _scripts(doc, ctx, instr, st)


def _installs(argv: list[str]) -> bool:
    """A command that installs Python packages (any installer, any form)."""
    prog = posixpath.basename(argv[0])
    rest = argv[1:]
    if prog in OTHER_INSTALLERS or PT.PIP_RE.match(prog):
        return True
    if prog == "uv" and rest[:1] in (["add"], ["sync"], ["pip"], ["tool"]):
        return True
    if prog in LOCK_INSTALLERS or prog in CONDA_TOOLS:
        return True
    return bool(PT.PYTHON_RE.match(prog)) and (
        "pip" in rest[:3]
        or "-mpip" in rest[:3]
        or ("setup.py" in " ".join(rest[:2]) and any(a in ("install", "develop") for a in rest))
    )


def _scripts(doc: Document, ctx, instr: Instruction, st: Stack) -> None:
    """Installs inside the scripts a RUN (or CMD/ENTRYPOINT) runs, and scripts that cannot be read: opaque."""
    from .programs import Visitor, walk

    class V(Visitor):
        def command(self, argv, via, depth):
            if (depth > 0 or instr.keyword != "RUN") and _installs(argv):
                when = "when the container starts" if instr.keyword != "RUN" else f"in {via.strip() or 'a script'}"
                st.note_opaque(f"`{' '.join(argv[:3])}` installs packages {when} (line {instr.start_line})")
            return False

        def opaque(self, r, via):
            st.note_opaque(f"{via}{r.label} runs code slimml cannot read ({r.why}, line {instr.start_line})")
            return False

    walk(doc, ctx, instr, V())


def _copy(instr: Instruction, st: Stack) -> None:
    src_from = instr.flag("from")
    words = list(instr.json) if instr.json is not None else instr.words()
    if src_from is not None:
        st.note_opaque(f"COPY --from={src_from.value} brings files built elsewhere (line {instr.start_line})")
        return
    for src in words[:-1]:
        if src.endswith(".so") or ".so." in src or src.endswith(".whl"):
            st.note_opaque(f"{instr.keyword} of a prebuilt binary `{src}` (line {instr.start_line})")


# Extensions of files that are not programs or libraries: not opened to look for ELF headers.
TEXT_SUFFIXES = (
    ".py",
    ".pyi",
    ".txt",
    ".md",
    ".rst",
    ".json",
    ".yaml",
    ".yml",
    ".toml",
    ".cfg",
    ".ini",
    ".conf",
    ".sh",
    ".html",
    ".css",
    ".js",
    ".csv",
    ".jinja",
    ".j2",
    ".lock",
    ".env",
    ".xml",
    ".svg",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".onnx",
    ".pt",
    ".pth",
    ".bin",
    ".safetensors",
    ".ckpt",
    ".gguf",
)
_MAX_COPIED = 5000


def copied_files(doc: Document, ctx, chain: list[Stage]) -> list[str]:
    """Files of the build context that ``chain``'s stages copy (at most ``_MAX_COPIED``)."""
    from .files import copies

    prefixes: list[str] = []
    for stg in chain:
        for ins in stg.instructions:
            for e in copies(doc, ins) or []:
                if e.heredoc is None:
                    prefixes.append("" if e.src == "." else e.src)
    out = []
    for rel, _size in ctx.walk_context():
        if any(p == "" or rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes):
            out.append(rel)
            if len(out) >= _MAX_COPIED:
                break
    return out


def app_python(doc: Document, ctx, chain: list[Stage]) -> list[str]:
    """Python files of the build context that ``chain``'s stages copy (at most 2000)."""
    return [r for r in copied_files(doc, ctx, chain) if r.endswith(".py")][:2000]


def _binary(ctx, rel: str) -> bool:
    """A shared library or an ELF program (it may link the image's CUDA libraries)."""
    name = posixpath.basename(rel)
    if name.endswith(".so") or ".so." in name:
        return True
    if name.endswith(TEXT_SUFFIXES):
        return False
    p = ctx.context_path(rel)
    try:
        with open(p, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except (OSError, TypeError):
        return False


def read(doc: Document, ctx, stages: list[Stage], image: str | None = None) -> Stack:
    """What ``stages`` (a stage chain, root first) install and use; ``image``: the root's image when
    its reference is a variable (the resolved default)."""
    st = Stack()
    root_image = image or (stages[0].image if stages else "")
    os_ = (
        I.cuda_tag(I.parse_image(root_image).tag).os
        if I.family(root_image) == "cuda" and I.cuda_tag(I.parse_image(root_image).tag)
        else None
    )
    for stg in stages:
        for ins in stg.instructions:
            if ins.keyword == "RUN":
                _run(doc, ctx, ins, st, os_)
            elif ins.keyword in ("COPY", "ADD"):
                _copy(ins, st)
            elif ins.keyword in ("CMD", "ENTRYPOINT"):
                _scripts(doc, ctx, ins, st)
                words = list(ins.json) if ins.json is not None else ins.words()
                st.interpreter_paths += [
                    w for w in words if w.startswith("/") and PT.PYTHON_RE.match(posixpath.basename(w))
                ]
                m = SYSTEM_CUDA_RE.search(ins.args)
                if m:
                    st.system_cuda.append(f"`{m.group(0)}` in {ins.keyword} (line {ins.start_line})")
    if ctx is not None and getattr(ctx, "context_dir", None) is not None and ctx.is_dir(".") and stages:
        files = copied_files(doc, ctx, stages)
        if len(files) >= _MAX_COPIED:
            st.note_opaque(f"the image copies more than {_MAX_COPIED} files of the build context: not all checked")
        binary = next((r for r in files if _binary(ctx, r)), None)
        if binary:
            st.note_opaque(
                f"the image copies the binary `{binary}` from the build context: it may link the image's CUDA libraries"
            )
        for rel in (r for r in files if r.endswith(".py")):
            m = SYSTEM_CUDA_RE.search(ctx.read_context_file(rel, limit=400_000) or "")
            if m:
                st.system_cuda.append(f"`{rel}` refers to `{m.group(0)}`")
                break
    elif any(i.keyword in ("COPY", "ADD") and i.flag("from") is None for stg in stages for i in stg.instructions):
        st.note_opaque("the build context is not available: the files the image copies are not checked")
    st.runtime_jit = [W.RUNTIME_JIT_PACKAGES[r.name] for r in st.requirements if r.name in W.RUNTIME_JIT_PACKAGES]
    return st


def runtime_image(
    doc: Document,
    ctx,
    stages: list[Stage],
    *,
    compiles: str = "",
    compiles_at_run: str = "",
    env_rebuilt: bool = False,
    stack: Stack | None = None,
    image: str | None = None,
) -> L.Ladder:
    """The ladder for the image ``stages[0]`` is built FROM, given what ``stages`` (that image's
    stage chain: root first, the final stage last) install and use.

    ``compiles``/``compiles_at_run``: what compiles CUDA code in these stages (the caller knows;
    a devel image then keeps its flavour). ``env_rebuilt``: the caller installs the Python
    environment with the interpreter of ``python:<ver>`` (only then may the ladder reach
    python:<ver>-slim). The result's ``image`` is the lowest proven image, ``steps`` the way down,
    ``stopped`` why it goes no lower, ``env`` the ENV that image must set, ``notes`` what to check.
    Packages that compile when they run (vLLM: triton, FlashInfer) count as ``compiles_at_run``.
    ``image``: the reference to start from when ``stages[0]``'s is a variable (its resolved default)."""
    st = stack or read(doc, ctx, stages, image)
    uses = L.Uses(
        compiles=compiles,
        compiles_at_run=compiles_at_run or "; ".join(st.runtime_jit),
        system_cuda=tuple(st.system_cuda),
        python=st.python,
        python_from=st.python_from,
        interpreter_paths=tuple(st.interpreter_paths),
        env_rebuilt=env_rebuilt,
    )
    return L.ladder(
        image or (stages[0].image if stages else ""), st.requirements, st.apt_packages, opaque=st.opaque, uses=uses
    )
