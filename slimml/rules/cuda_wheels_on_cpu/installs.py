"""The installs of a Dockerfile that bring CUDA wheels, as SLM013 reads them.

``pip install`` / ``python -m pip install`` / ``uv pip install`` commands, with the requirements
files they name (``-r``, recursively) read from the build context through the stage's COPYs and
parsed with ``packaging`` (markers evaluated for the image's Python on linux/x86_64). Each install
says which CUDA-bringing packages it names, with their specifiers and where they are written, the
index URLs it reads, and what would make a rewrite of it unprovable.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command, Script, Word
from ...knowledge import sizes as S
from ...semantics import files as F
from .. import _helpers as H

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
ORT_GPU = "onnxruntime-gpu"

# pip install options copied onto the CPU install: where and how pip installs and reaches the network
# (they decide whether the original install sees the CPU wheels as installed, and whether the index answers).
PIP_COPIED_FLAGS = frozenset(
    {
        "--user",
        "--break-system-packages",
        "--no-cache-dir",
        "--pre",
        "--isolated",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--prefer-binary",
        "-q",
        "--quiet",
        "-v",
        "--verbose",
    }
)
PIP_COPIED_WITH_VALUE = frozenset(
    {
        "-c",
        "--constraint",
        "--trusted-host",
        "--cert",
        "--client-cert",
        "--proxy",
        "--timeout",
        "--retries",
        "--root-user-action",
        "--progress-bar",
    }
)
UV_COPIED_FLAGS = frozenset(
    {"--system", "--break-system-packages", "--no-cache", "-n", "--native-tls", "-q", "--quiet"}
)
UV_COPIED_WITH_VALUE = frozenset({"--python", "-p", "-c", "--constraint", "--prerelease", "--cache-dir"})

# Options of the original install under which it would not take the CPU wheels installed just before it.
WITHDRAW_FLAGS: dict[str, str] = {
    "-U": "upgrades (-U): it would replace the CPU wheels with the index's CUDA ones",
    "--upgrade": "upgrades (--upgrade): it would replace the CPU wheels with the index's CUDA ones",
    "--force-reinstall": "uses --force-reinstall: it reinstalls the CUDA wheels over the CPU ones",
    "-I": "uses --ignore-installed: it installs the CUDA wheels over the CPU ones",
    "--ignore-installed": "uses --ignore-installed: it installs the CUDA wheels over the CPU ones",
    "--reinstall": "uses --reinstall: it reinstalls the CUDA wheels over the CPU ones",
    "--reinstall-package": "uses --reinstall-package",
    "--upgrade-package": "uses --upgrade-package",
    "-P": "uses --upgrade-package (-P)",
    "--no-deps": "uses --no-deps: the CPU install would also install torch's dependencies, which it does not",
    "--require-hashes": "uses --require-hashes: the CPU wheels' hashes differ from the pinned ones",
    "-t": "installs into --target: pip ignores what is installed there and would fetch the CUDA wheels again",
    "--target": "installs into --target: pip ignores what is installed there and would fetch the CUDA wheels again",
    "--prefix": "installs with --prefix: whether pip sees the CPU wheels there depends on sys.path",
    "--root": "installs with --root: whether pip sees the CPU wheels there depends on sys.path",
    "--no-index": "uses --no-index: the build installs without an index, so the CPU index may not be reachable",
    "--offline": "runs offline: the CPU index would not be reached",
}


@dataclass
class Spec:
    """One mention of a package: on the command line (``word``) or in a requirements file (``path``)."""

    name: str  # canonical
    text: str  # the requirement as written (without options/hashes)
    req: object | None  # packaging.requirements.Requirement; None when packaging cannot parse it
    word: Word | None = None
    path: str | None = None  # context-relative requirements file
    span: tuple[int, int] | None = None  # (start, end) of ``text`` in that file
    hashed: bool = False  # the line carries --hash
    marker_unknown: bool = False  # a marker that needs the image's Python, which is unknown
    exact_origin: bool = True  # the file was traced through the stage's COPYs (not guessed by name)
    pulled_by: tuple[Spec, ...] = ()  # not named: a torch package these named packages pull in (SLM013 adds it)


@dataclass
class Install:
    instr: Instruction
    cmd: Command
    script: Script
    tool: str  # "pip" | "uv"
    words: list[Word]  # effective words (wrappers stripped)
    sub: int  # index of ``install`` in ``words``
    specs: list[Spec] = field(default_factory=list)  # every package named (directly or in files)
    urls: list[str] = field(default_factory=list)  # index URLs on the line and in the files
    unread: list[str] = field(default_factory=list)  # requirements files that could not be read
    req_files: list[str] = field(default_factory=list)  # -r / -c paths on the command line, as written
    withdraw: list[str] = field(default_factory=list)  # why the rewrite cannot be proven
    # torch packages a -c file constrains (the CPU install asks for the same: a -c inside a requirements file is not
    # passed on to it, and a CPU torch outside the constraint would be replaced with PyPI's CUDA build)
    constraints: list[Spec] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # raw option words for the CPU install
    variable: bool = False  # a word of the command uses a variable
    torch_backend: str | None = None  # uv's --torch-backend: uv picks torch's index (cpu, cu121, auto) itself
    # pip's -U: withdraws the fix where it would upgrade a torch package -- named, or any with the eager strategy --
    # but not a torch the named packages merely pull in (only-if-needed: an installed torch that satisfies is kept)
    upgrade: bool = False
    upgrade_strategy: str | None = None

    @property
    def label(self) -> str:
        return " ".join(w.value for w in self.words[: self.sub + 1])


def classify(cmd: Command) -> tuple[str, list[Word], int] | None:
    """(tool, effective words, index of ``install``) of a pip or ``uv pip`` install."""
    from ..pip_cache import classify as pip_classify

    hit = pip_classify(cmd)
    if hit is None:
        return None
    tool, words, sub = hit
    if words[sub].value != "install":
        return None
    if tool == "uv":
        if sub < 1 or words[sub - 1].value != "pip":
            return None
        return "uv", words, sub
    return ("pip", words, sub) if tool == "pip" else None


def parse_spec(text: str, python: str | None) -> tuple[object | None, bool, bool]:
    """(packaging Requirement or None, applies, marker needs an unknown Python). Markers are evaluated as SLM012
    evaluates them (``deps.requirements.marker_applies``: the image's Python on linux/x86_64)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from ...deps import requirements as RQ

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None, True, False
    if req.marker is None:
        return req, True, False
    # With the image's Python unknown, a marker on the Python version counts the line (the finding), but no
    # rewrite relies on it.
    unknown = python is None and any(k in str(req.marker) for k in ("python_version", "python_full_version"))
    target = RQ.Target(".".join(python.split(".")[:2]) if python else None)
    return req, unknown or RQ.marker_applies(req.marker, target), unknown


class _Reader:
    """Requirements files as the install sees them: traced through the stage's COPYs (``semantics.files``),
    else found by name in the context (then a rewrite does not rely on them)."""

    def __init__(self, doc: Document, ctx, instr: Instruction, python: str | None):
        self.doc, self.ctx, self.instr, self.python = doc, ctx, instr, python
        self.cwd = H.workdir_at(doc, instr)

    def locate(self, path: str, base: str | None) -> tuple[str | None, str | None, bool]:
        """(context-relative path, text, traced) of a requirements file named ``path``."""
        if "$" in path:
            return None, None, False
        if base is not None:  # an include inside a file: relative to that file, in the context
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(base), path))
            return rel, self._read(rel), True
        o = F.origin(self.doc, self.ctx, self.instr, posixpath.join(self.cwd, path))
        if o.kind == "context" and o.rel is not None:
            return o.rel, o.text, True
        if o.kind == "heredoc":
            return None, o.text, True
        for cand in S._candidates(path):
            t = self._read(cand)
            if t is not None:
                return cand, t, False
        return None, None, False

    def _read(self, rel: str) -> str | None:
        if self.ctx is None or self.ctx.context_dir is None:
            return None
        return self.ctx.read_context_file(rel)


def _file_specs(
    reader: _Reader, inst: Install, path: str, base: str | None, depth: int, constraint: bool = False
) -> None:
    rel, text, traced = reader.locate(path, base)
    if text is None:
        inst.unread.append(path)
        return
    offset = 0
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = offset
        raw = lines[i]
        offset += len(raw) + 1
        i += 1
        while raw.endswith("\\") and i < len(lines):  # a continued line
            raw = raw[:-1] + " " + lines[i]
            offset += len(lines[i]) + 1
            i += 1
        line = raw.split(" #", 1)[0].strip().rstrip("\r")
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            opt, val = S._split_option(line)
            if opt in ("-r", "--requirement") and val and depth < S._MAX_NESTED:
                _file_specs(reader, inst, val, rel or path, depth + 1)
            elif opt in ("-c", "--constraint") and val and depth < S._MAX_NESTED:
                _file_specs(reader, inst, val, rel or path, depth + 1, constraint=True)
            elif opt in ("-i", "--index-url", "--extra-index-url"):
                inst.urls.append(val)
            elif opt == "--require-hashes":
                inst.withdraw.append(f"`{rel or path}` uses --require-hashes: the CPU wheels' hashes differ")
            continue
        hashed = "--hash" in line
        req_text = line.split(" --", 1)[0].strip()
        req, applies, unknown = parse_spec(req_text, reader.python)
        name = S.canonical_name(req.name) if req is not None else None
        if name is None:
            r = S.parse_requirement(req_text.split(";", 1)[0])
            name = r.name if r is not None else None
        if name is None or not applies:
            continue
        pos = text.find(req_text, start)
        spec = Spec(
            name,
            req_text,
            req,
            path=rel,
            span=(pos, pos + len(req_text)) if pos >= 0 and rel is not None else None,
            hashed=hashed,
            marker_unknown=unknown,
            exact_origin=traced,
        )
        if constraint:
            if name in TORCH_FAMILY and _cuda_local(req):
                inst.withdraw.append(f"`{rel or path}` constrains {name} to a CUDA build ({req_text})")
            elif name in TORCH_FAMILY:
                inst.constraints.append(spec)
            continue
        inst.specs.append(spec)


def _cuda_local(req) -> bool:
    """A specifier pinning a local version other than +cpu (``==2.1.0+cu121``): a CUDA build, asked for."""
    if req is None:
        return False
    return any("+" in s.version and "+cpu" not in s.version for s in req.specifier)


def read_install(
    doc: Document, ctx, instr: Instruction, cmd: Command, script: Script, hit, python: str | None
) -> Install:
    tool, words, sub = hit
    inst = Install(instr, cmd, script, tool, list(words), sub)
    reader = _Reader(doc, ctx, instr, python)
    copied_flags = PIP_COPIED_FLAGS if tool == "pip" else UV_COPIED_FLAGS
    copied_value = PIP_COPIED_WITH_VALUE if tool == "pip" else UV_COPIED_WITH_VALUE
    with_value = (
        S.PIP_OPTS_WITH_VALUE
        | copied_value
        | frozenset(
            {"-P", "--upgrade-package", "--reinstall-package"} | ({"--torch-backend"} if tool == "uv" else set())
        )
    )
    args = words[sub + 1 :]
    i = 0
    while i < len(args):
        w = args[i]
        v = w.value
        if "$" in w.raw or "`" in w.raw:
            inst.variable = True
        if v.startswith("-"):
            opt, eq, val = v.partition("=") if v.startswith("--") else (v, "", "")
            takes = not eq and opt in with_value
            val_word = args[i + 1] if takes and i + 1 < len(args) else None
            if val_word is not None:
                val = val_word.value
                if "$" in val_word.raw:
                    inst.variable = True
            i += 2 if takes else 1
            if opt.startswith("-r") and not opt.startswith("--") and len(opt) > 2:
                opt, val = "-r", opt[2:]
            if opt == "--upgrade-strategy":
                inst.upgrade_strategy = val
            if tool == "pip" and opt in ("-U", "--upgrade"):
                inst.upgrade = True
            elif opt in WITHDRAW_FLAGS:
                inst.withdraw.append(f"`{inst.label}` {WITHDRAW_FLAGS[opt]}")
            elif not opt.startswith("--") and len(opt) > 2 and opt[1:].isalpha():
                for ch in opt[1:]:  # a cluster of short flags (-qU)
                    if tool == "pip" and ch == "U":
                        inst.upgrade = True
                    elif f"-{ch}" in WITHDRAW_FLAGS:
                        inst.withdraw.append(f"`{inst.label}` {WITHDRAW_FLAGS['-' + ch]}")
                    elif f"-{ch}" in copied_flags:
                        inst.copied.append(f"-{ch}")
            if opt == "--torch-backend" and tool == "uv":
                inst.torch_backend = val
            if opt in ("-r", "--requirement"):
                inst.req_files.append(val)
                _file_specs(reader, inst, val, None, 0)
            elif opt in ("-c", "--constraint"):
                inst.req_files.append(val)
                _file_specs(reader, inst, val, None, 0, constraint=True)
            elif opt in ("-i", "--index-url", "--extra-index-url", "--default-index", "--index"):
                inst.urls.append(val)
            if opt in copied_flags:
                inst.copied.append(w.raw)
            elif opt in copied_value:
                inst.copied.append(w.raw if val_word is None else f"{w.raw} {val_word.raw}")
            continue
        i += 1
        req, applies, unknown = parse_spec(v, python)
        name = S.canonical_name(req.name) if req is not None else None
        if name is None:
            r = S.parse_requirement(v)
            name = r.name if r is not None else None
        if name is None or not applies:
            continue
        inst.specs.append(Spec(name, v, req, word=w, marker_unknown=unknown))
    return inst
