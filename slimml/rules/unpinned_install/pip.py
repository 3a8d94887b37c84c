"""pip and ``uv pip`` installs: what each one names, read the way pip reads it, and what of that is loose.

The install commands are the ones SLM001 finds (``pip_cache.classify``: pip, pip3.11, venv pips,
``python -m pip``, ``uv pip install``, behind wrappers); their options are read with SLM004's option
reader. Requirement files are read from the build context through the COPY (or ``RUN --mount=type=bind``)
that put them where the install reads them.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...deps import requirements as RQ
from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command, Word, run_scripts
from ...knowledge import manifests as M
from ...semantics import build as B
from ...semantics import files as F
from ...semantics import ship as SH
from ...semantics.installers import command_env
from .. import _helpers as H
from .. import pip_cache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Installer tooling: upgrading it is not the application's dependency set (``pip install -U pip``).
TOOLING = frozenset({"pip", "setuptools", "wheel", "uv", "pip-tools"})
# Options that change what a lock of "the requirements and their dependencies" would mean.
_UPGRADE = frozenset({"-U", "--upgrade"})
_OTHER_TARGET = frozenset({"--platform", "--python-version", "--implementation", "--abi"})
_CONFIG_WRITERS = re.compile(r"pip\.conf|pip\.ini|\bpip3?(?:\.\d+)?\s+config\s+set|uv\.toml")


@dataclass
class Install:
    """One ``pip install`` / ``uv pip install`` command and what it reads."""

    instr: Instruction
    cmd: Command
    words: list[Word]  # the command's effective words (wrappers stripped)
    sub: int  # index of the ``install`` word
    tool: str  # "pip" | "uv"
    opts: list  # deps_before_source.Opt
    pos: list[Word]
    cwd: str | None  # where it runs (None: a `cd` the reader cannot follow)
    env: dict  # name -> semantics.build.Var
    target: RQ.Target
    specs: list[tuple[str, str]] = field(default_factory=list)  # ("req"|"-r"|"-c"|"-e", value), command order
    env_constraints: list[str] = field(default_factory=list)  # PIP_CONSTRAINT / UV_CONSTRAINT / pip.conf files
    parsed: RQ.Parsed = field(default_factory=RQ.Parsed)
    projects: list[str] = field(default_factory=list)  # local project directories installed (image paths)
    project_loose: list[RQ.Req] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read

    @property
    def label(self) -> str:
        return " ".join(w.value for w in self.words[: self.sub + 1])

    def option_values(self, *names: str) -> list[str]:
        return [o.value for o in self.opts if o.name in names and o.value is not None]

    def has(self, *names: str) -> bool:
        return any(o.name in names for o in self.opts)

    def loose(self) -> list[RQ.Req]:
        """What the install names that nothing pins (installer tooling left out), project dependencies included."""
        out = [r for r in self.parsed.loose() if r.name not in TOOLING]
        seen = {r.name for r in out} | self.parsed.pinned_names()
        for r in self.project_loose:
            if r.name not in seen and r.name not in TOOLING:
                out.append(r)
                seen.add(r.name)
        return out


def _parse_args():
    from ..deps_before_source import _parse_args as parse  # SLM004's reader of pip's options

    return parse


def _value_opts(uv: bool) -> set[str]:
    return M.pip_install_value_opts(uv)


# -- the image's Python ---------------------------------------------------------------------------------
_VERSIONED_PROG = re.compile(r"^(?:python|pip)(\d+\.\d+)$")


def image_python(doc: Document, instr: Instruction, prog: str = "") -> str | None:
    """The Python (major.minor) the install runs for: ``python3.11 -m pip`` / ``pip3.11`` say it; otherwise the
    stage chain's base image when it is a ``python:X.Y`` image (or a vendor image with Python in its tag)."""
    from ...knowledge import images as IMG
    from ...knowledge import tool_images as TI

    m = _VERSIONED_PROG.match(H.basename(prog))
    if m:
        return m.group(1)
    stage = doc.stage_of(instr)
    if stage is None:
        return None
    root = B.stage_chain(doc, stage)[-1]
    ref = B.from_image(doc, root)
    if "$" in ref or "$" in root.image:  # a build argument may choose another Python
        return None
    img = IMG.parse_image(ref)
    v = TI.python_version(img.normalized, img.tag)
    if v:
        return v
    if IMG.family(img) == "python":
        pt = IMG.python_tag(img.tag)
        if pt is not None and pt.version and re.match(r"^3\.\d+", pt.version):
            return ".".join(pt.version.split(".")[:2]).split("-")[0]
    return None


def image_machine(doc: Document, instr: Instruction) -> str:
    stage = doc.stage_of(instr)
    plat = (stage.platform or "") if stage is not None else ""
    for s in B.stage_chain(doc, stage) if stage is not None else []:
        plat = plat or (s.platform or "")
    if "arm64" in plat or "aarch64" in plat:
        return "aarch64"
    return "x86_64"


# -- reading files as the RUN sees them -----------------------------------------------------------------
def bind_source(doc: Document, instr: Instruction, path: str) -> str | None:
    """The context path of ``path`` when a ``--mount=type=bind`` of the RUN (from the context) holds it."""
    for m in H.mounts(instr):
        if m.get("type") != "bind" or "from" in m or not m.get("target"):
            continue
        t = H.join_path(H.workdir_at(doc, instr), m["target"])
        src = (m.get("source") or m.get("src") or ".").strip("/") or "."
        if "$" in t or "$" in src:
            continue
        if path == t:
            return src
        if path.startswith(t.rstrip("/") + "/"):
            rest = path[len(t.rstrip("/")) + 1 :]
            return rest if src == "." else f"{src}/{rest}"
    return None


def reader(doc: Document, ctx, instr: Instruction):
    """``read(image path) -> text | None`` for files the RUN reads (context COPYs, heredocs, bind mounts)."""

    def read(path: str) -> str | None:
        rel = bind_source(doc, instr, path)
        if rel is not None:
            return ctx.read_context_file(rel) if ctx.context_dir is not None else None
        if not _may_be_copied(doc, path):
            return None  # no COPY of the file puts anything there (most config paths): skip the walk back
        o = F.origin(doc, ctx, instr, path)
        if o.kind in ("context", "heredoc"):
            return o.text
        return _wildcard_source(doc, ctx, o.instr, path) if o.instr is not None else None

    return read


def _wildcard_source(doc: Document, ctx, copy: Instruction, path: str) -> str | None:
    """The text of ``path`` when the COPY that may have put it there is a wildcard copy from the context
    into a directory (``COPY *.txt ./``) with exactly one source pattern matching its name: for reading
    what an install asks for (the finding). ``origin`` does not trace wildcards, so the fix stays withdrawn."""
    import fnmatch

    if ctx.context_dir is None or copy.keyword not in ("COPY", "ADD") or copy.flag("from") is not None:
        return None
    ops = F.operands(copy)
    if len(ops) < 2 or any("$" in w or "://" in w for w in ops):
        return None
    st = B.state_before(doc, copy)
    dest = posixpath.normpath(posixpath.join(st.workdir if st else "/", ops[-1]))
    if posixpath.dirname(path) != dest or not (ops[-1].endswith("/") or len(ops) > 2 or ops[-1] in (".", "./")):
        return None
    name = posixpath.basename(path)
    hits = [
        posixpath.normpath(posixpath.join(posixpath.dirname(src), name)).lstrip("/")
        for src in ops[:-1]
        if any(ch in posixpath.basename(src) for ch in "*?[")
        and not any(ch in posixpath.dirname(src) for ch in "*?[")
        and fnmatch.fnmatchcase(name, posixpath.basename(src))
    ]
    return ctx.read_context_file(hits[0]) if len(hits) == 1 else None


def _may_be_copied(doc: Document, path: str) -> bool:
    """Whether any COPY/ADD of the file may put ``path`` into some stage (a superset of what ``files.origin``
    finds). Memoised per document and path: every install asks for the same dozen pip config paths, and
    ``origin`` walks back through every earlier COPY for a path none of them wrote."""
    memo = doc.__dict__.setdefault("_slm012_copied", {})
    hit = memo.get(path)
    if hit is None:
        dests = memo.get(None)
        if dests is None:
            dests = memo[None] = _copy_destinations(doc)
        hit = memo[path] = dests is True or any(
            path == d or path.startswith(d.rstrip("/") + "/") or posixpath.dirname(path) == d for d in dests
        )
    return hit


def _copy_destinations(doc: Document) -> list[str] | bool:
    """The destinations of the file's COPY/ADD instructions (absolute); True when one cannot be told."""
    out = set()
    for ins in doc.instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        ops = F.operands(ins)
        if not ops or "$" in ops[-1]:
            return True
        out.add(H.join_path(H.workdir_at(doc, ins), ops[-1]))
    return sorted(out)


def _cwd(doc: Document, instr: Instruction, cmd: Command) -> str | None:
    """The working directory of ``cmd``: the WORKDIR, followed through literal ``cd`` earlier in its script."""
    cwd = H.workdir_at(doc, instr)
    for c in cmd.script.commands:
        if c.start >= cmd.start:
            break
        argv = c.effective_argv()
        if argv and argv[0] in ("cd", "pushd"):
            dest = argv[1] if len(argv) > 1 else "~"
            if "$" in dest or dest.startswith(("~", "-")):
                return None
            cwd = H.join_path(cwd, dest)
    return cwd


# -- finding the installs ---------------------------------------------------------------------------------
def shipped_commands(doc: Document) -> Iterator[tuple[Instruction, Command, tuple]]:
    """(RUN, command, ``pip_cache.classify`` hit) of every installer command in a stage that reaches the image."""
    for instr in doc.instructions:
        if instr.keyword != "RUN":
            continue
        stage = doc.stage_of(instr)
        if stage is None or not SH.stage_ships(doc, stage).ships:
            continue
        for script in run_scripts(doc, instr):
            for cmd in script.commands:
                hit = pip_cache.classify(cmd)
                if hit is not None:
                    yield instr, cmd, hit


def installs(doc: Document, ctx) -> Iterator[Install]:
    for instr, cmd, (tool, words, sub) in shipped_commands(doc):
        if tool not in ("pip", "uv") or words[sub].value != "install":
            continue
        if tool == "uv" and not any(w.value == "pip" for w in words[1:sub]):
            continue  # `uv tool install`: a tool, not the application's packages
        yield _read(doc, ctx, instr, cmd, tool, words, sub)


def _read(doc, ctx, instr, cmd, tool, words, sub) -> Install:
    opts, pos = _parse_args()(words[sub + 1 :], _value_opts(tool == "uv"), M.PIP_SHORT_WITH_VALUE)
    env = command_env(doc, instr, cmd)
    target = RQ.Target(image_python(doc, instr, words[0].value), image_machine(doc, instr))
    ins = Install(instr, cmd, words, sub, tool, opts, pos, _cwd(doc, instr, cmd), env, target)
    for o in opts:
        if o.value is None:
            continue
        if o.name in M.REQUIREMENT_OPTS and posixpath.basename(o.value) in ("pyproject.toml", "setup.cfg"):
            ins.specs.append(("project", posixpath.dirname(o.value) or "."))  # uv reads the project's dependencies
        elif o.name in M.REQUIREMENT_OPTS:
            ins.specs.append(("-r", o.value))
        elif o.name in M.CONSTRAINT_OPTS or (tool == "uv" and o.name in ("--override", "--overrides")):
            ins.specs.append(("-c", o.value))
        elif o.name in M.EDITABLE_OPTS:
            ins.specs.append(("-e", o.value))
    for w in pos:
        ins.specs.append(("req", w.value))
    var = "UV_CONSTRAINT" if tool == "uv" else "PIP_CONSTRAINT"
    v = env.get(var)
    if v is not None and v.value.strip():
        if not v.certain:
            ins.notes.append(f"{var} comes from a build argument")
        ins.env_constraints = v.value.split()
    cwd = ins.cwd or "/"
    if ins.cwd is None:
        ins.notes.append("a `cd` before the install leaves its working directory unknown")
    specs = [
        (k, v)
        for k, v in ins.specs
        if not (k in ("-r", "-c") and ("$" in v or ins.cwd is None and not v.startswith("/")))
    ]
    specs += [("-c", c) for c in ins.env_constraints if "$" not in c]
    if tool == "pip":
        from_config = _config_constraints(doc, ctx, instr, ins)
        ins.env_constraints += from_config
        specs += [("-c", c) for c in from_config]
    read = reader(doc, ctx, instr)
    ins.parsed = RQ.read_install(specs, read, target, cwd)
    for k, v in ins.specs:
        if k in ("-r", "-c") and "$" in v:
            ins.notes.append(f"`{v}` uses a variable")
    _projects(ins, read, cwd)
    return ins


def _config_constraints(doc, ctx, instr, ins: Install) -> list[str]:
    """Constraint files a pip config file the build reads names (``constraint = ...``)."""
    out = []
    for values in pip_config(doc, ctx, instr, ins).values():
        out += values.get("constraint", [])
    return out


def pip_config(doc, ctx, instr, ins: Install) -> dict[str, dict[str, list[str]]]:
    """{config file: {key: values}} of the pip config files the install reads that the build context gives it."""
    from ...semantics import installers as I

    read = reader(doc, ctx, instr)
    home = "/root" if H.user_at(doc, instr) in (None, "root", "0") else "/home"
    found = I.inputs("pip", ins.env, ins.cwd or "/", home, read)
    out = {}
    for p in found.files:
        if not p.endswith((".conf", ".ini")):
            continue
        text = read(p)
        if text is None:
            continue
        values = I._config_values(text, p)  # the reader installers.inputs itself uses
        if values:
            out[p] = values
    return out


def config_writers(doc: Document, instr: Instruction) -> str:
    """An earlier RUN of the stage chain that may write a pip/uv config file: "" when none."""
    stage = doc.stage_of(instr)
    if stage is None:
        return ""
    for st in B.stage_chain(doc, stage):
        for ins in st.instructions:
            if ins.keyword == "RUN" and ins.index < instr.index and _CONFIG_WRITERS.search(ins.text(doc.text)):
                return f"line {ins.start_line} may write a pip config file"
    return ""


# -- local projects (`pip install .`, `-e .`) ------------------------------------------------------------
def _projects(ins: Install, read, cwd: str) -> None:
    local = [v for k, v in ins.specs if k == "project" or k in ("req", "-e") and RQ._unnamed_kind(v) == "path"]
    local += [r.text for r in ins.parsed.requirements if r.direct == "path" and not r.text.endswith(RQ._ARCHIVE)]
    for spec in local:
        path = spec.split("[", 1)[0]
        if path.endswith(RQ._ARCHIVE) or "$" in path:
            continue
        d = H.join_path(cwd, path[len("file:") :] if path.startswith("file:") else path)
        ins.projects.append(d)
        deps = project_dependencies(read, d)
        if deps is None:
            continue
        for where, text in deps:
            got = RQ.parse_spec(text, where, ins.target)
            if isinstance(got, RQ.Req) and not got.pinned:
                ins.project_loose.append(got)


def project_dependencies(read, d: str) -> list[tuple[str, str]] | None:
    """(where, requirement) of a project's static dependencies: pyproject [project].dependencies, else setup.cfg
    [options] install_requires; None when neither can be read."""
    import configparser

    text = read(posixpath.join(d, "pyproject.toml"))
    if text is not None:
        try:
            project = tomllib.loads(text).get("project")
        except (tomllib.TOMLDecodeError, ValueError):
            project = None
        if isinstance(project, dict) and isinstance(project.get("dependencies"), list):
            return [("pyproject.toml", s) for s in project["dependencies"] if isinstance(s, str)]
    text = read(posixpath.join(d, "setup.cfg"))
    if text is not None:
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cp.read_string(text)
        except configparser.Error:
            return None
        if cp.has_option("options", "install_requires"):
            raw = cp.get("options", "install_requires")
            return [("setup.cfg", s.strip()) for s in raw.splitlines() if s.strip() and not s.strip().startswith("#")]
    return None
