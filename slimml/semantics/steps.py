"""What a RUN costs and leaves on disk, as far as merging RUNs needs it.

- ``source_build``: the RUN compiles (a build system, a compiler, a CUDA extension, a VCS/local
  package built by pip, ``python setup.py build``): expensive to re-run, kept in its own layer;
- ``cleanup``: the RUN only removes files or caches, and which (paths, or ``apt`` for packages);
- ``written_paths``: paths a RUN creates (clone targets, download outputs, directories it makes or
  enters), to tell whether a following clean-up removes something *this* RUN wrote;
- ``writes_startup_files``: the RUN edits a shell startup file (``conda init``, ``>> ~/.bashrc``).
"""

from __future__ import annotations

import posixpath

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, run_scripts
from ..knowledge import build_cost as K
from ..knowledge import images as IM
from ..knowledge import python_tools as P
from . import build as B


def _prog(argv: list[str]) -> str:
    return argv[0].rsplit("/", 1)[-1] if argv else ""


def _canon(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(spec: str) -> str:
    for sep in "[<>=!~;@ ":
        spec = spec.split(sep, 1)[0]
    return _canon(spec)


def _pip_args(argv: list[str]) -> list[str] | None:
    """The arguments after ``install`` of a pip / ``python -m pip`` / ``uv pip`` install, else None."""
    prog = _prog(argv)
    rest: list[str]
    if P.PIP_RE.match(prog):
        rest = argv[1:]
    elif (
        P.PYTHON_RE.match(prog)
        and "-m" in argv
        and argv.index("-m") + 1 < len(argv)
        and argv[argv.index("-m") + 1] == "pip"
    ):
        rest = argv[argv.index("-m") + 2 :]
    elif prog == "uv" and argv[1:3] == ["pip", "install"]:
        return argv[3:]
    else:
        return None
    for k, a in enumerate(rest):
        if a == "install":
            return rest[k + 1 :]
        if not a.startswith("-"):
            return None
    return None


def _command_build(cmd: Command, env: dict[str, str]) -> str | None:
    argv = cmd.effective_argv()
    if not argv:
        return None
    prog = _prog(argv)
    names = set(cmd.assignments) | set(env)
    build_env = sorted(
        n for n in names if n in IM.CUDA_BUILD_ENV or n in K.BUILD_ENV or n.startswith(IM.CUDA_BUILD_ENV_PREFIXES)
    )
    if prog in IM.BUILD_SYSTEMS or prog in K.COMPILERS:
        return f"`{prog}` compiles"
    if prog in K.BUILD_SUBCOMMANDS and len(argv) > 1 and argv[1] in K.BUILD_SUBCOMMANDS[prog]:
        return f"`{prog} {argv[1]}` builds"
    if prog in ("configure",) or argv[0] in ("./configure",):
        return "`./configure` prepares a source build"
    if (
        P.PYTHON_RE.match(prog)
        and len(argv) > 2
        and argv[1].endswith("setup.py")
        and any(a in IM.SETUP_PY_BUILD for a in argv[2:])
    ):
        return f"`python setup.py {next(a for a in argv[2:] if a in IM.SETUP_PY_BUILD)}` builds extensions"
    pip = _pip_args(argv)
    if pip is not None:
        if any(a.split("=", 1)[0] in K.PIP_SOURCE_BUILD_OPTS for a in pip):
            return "pip builds from source (--no-binary / --no-build-isolation)"
        for a in pip:
            if a.startswith("-"):
                continue
            if a.startswith(K.VCS_PREFIXES) or " @ git+" in a:
                return f"pip builds `{a}` from a VCS checkout"
            name = _requirement_name(a)
            if name in IM.CUDA_EXT_PACKAGES:
                return f"pip compiles `{name}` (a CUDA extension)"
            if a.startswith((".", "/")) and build_env:
                return f"pip builds the local package `{a}` ({', '.join(build_env)})"
        if build_env:
            return f"pip runs with {', '.join(build_env)} set (a source build)"
    return None


def source_build(doc: Document, instr: Instruction) -> str | None:
    """Why ``instr`` is an expensive source build, or None."""
    memo = instr.__dict__.get("_source_build", False)
    if memo is not False:
        return memo
    out = None
    if instr.keyword == "RUN":
        st = B.state_before(doc, instr)
        env = st.values() if st is not None else {}
        for s in run_scripts(doc, instr):
            for cmd in s.commands:
                out = cmd.cached(("source-build", tuple(sorted(env))), lambda c=cmd: _command_build(c, env))
                if out:
                    break
            if out:
                break
    instr.__dict__["_source_build"] = out
    return out


def cleanup(doc: Document, instr: Instruction) -> list[str] | None:
    """The paths (or ``apt:<tool>`` markers) a clean-up RUN removes; None when the RUN does more."""
    scripts = run_scripts(doc, instr)
    if not scripts:
        return None
    cwd = B.state_before(doc, instr).workdir
    out: list[str] = []
    for s in scripts:
        for cmd in s.commands:
            argv = cmd.effective_argv()
            if not argv:
                continue
            prog = _prog(argv)
            if (
                prog in K.CLEANUP_SUBCOMMANDS
                and len(argv) > 1
                and any(a in K.CLEANUP_SUBCOMMANDS[prog] for a in argv[1:] if not a.startswith("-"))
            ):
                out.append(f"{prog}:")
                continue
            if prog == "rm" or prog == "rmdir":
                out.extend(posixpath.normpath(posixpath.join(cwd, a)) for a in argv[1:] if not a.startswith("-"))
                continue
            if prog == "find" and any(a in ("-delete", "-exec") for a in argv):
                out.extend(posixpath.normpath(posixpath.join(cwd, a)) for a in argv[1:2])
                continue
            if prog in K.CLEANUP_PROGRAMS:
                continue
            return None
    return out


_OUTPUT_OPTS = {
    "-o",
    "-O",
    "--output",
    "--output-document",
    "-d",
    "--dest",
    "-w",
    "--wheel-dir",
    "-C",
    "--directory",
    "-P",
    "--directory-prefix",
    "-t",
    "--target",
}


def written_paths(doc: Document, instr: Instruction) -> set[str]:
    """Paths ``instr`` creates, as far as its commands say (absolute, normalised)."""
    cwd = B.state_before(doc, instr).workdir
    out: set[str] = set()
    for s in run_scripts(doc, instr):
        for cmd in s.commands:
            argv = cmd.effective_argv()
            if not argv:
                continue
            prog = _prog(argv)
            words = [a for a in argv[1:] if not a.startswith("-")]
            if prog == "git" and len(argv) > 1 and argv[1] == "clone":
                pos = [a for a in argv[2:] if not a.startswith("-")]
                if len(pos) >= 2:
                    out.add(posixpath.join(cwd, pos[1]))
                elif pos:
                    name = pos[0].rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
                    out.add(posixpath.join(cwd, name))
            elif prog in ("mkdir", "cd", "touch", "cp", "mv", "ln", "unzip", "tar"):
                out.update(posixpath.join(cwd, w) for w in words)
            for k, a in enumerate(argv[1:], 1):
                if a in _OUTPUT_OPTS and k + 1 < len(argv):
                    out.add(posixpath.join(cwd, argv[k + 1]))
                elif a.startswith(("--output=", "--directory=", "--target=", "--dest=")):
                    out.add(posixpath.join(cwd, a.split("=", 1)[1]))
            if prog in ("apt-get", "apt") and "update" in words:
                out.add("/var/lib/apt/lists")
            if prog in ("apt-get", "apt") and "install" in words:
                out.update(("apt:", "/var/cache/apt"))
            if _pip_args(argv) is not None:
                out.update(("pip:", "/root/.cache/pip", "/root/.cache"))
            if prog in ("conda", "mamba", "micromamba"):
                out.add(f"{prog}:")
                out.add("conda:")
    return {posixpath.normpath(p) if not p.endswith(":") else p for p in out}


def removes_written(removed: list[str], written: set[str]) -> bool:
    """Some removed path is, contains or lies inside a written one (``apt-get:`` matches ``apt:``)."""
    for r in removed:
        if r.endswith(":"):
            tool = r[:-1]
            fam = (
                "apt:"
                if tool in ("apt-get", "apt")
                else "pip:"
                if tool == "pip"
                else "conda:"
                if tool in ("conda", "mamba", "micromamba")
                else r
            )
            if fam in written:
                return True
            continue
        base = r.rstrip("*").rstrip("/") or "/"
        for w in written:
            if w.endswith(":"):
                continue
            if w == base or w.startswith(base.rstrip("/") + "/") or base.startswith(w.rstrip("/") + "/"):
                return True
    return False


def writes_startup_files(doc: Document, instr: Instruction) -> bool:
    """``instr`` edits a shell startup file (so a login shell's next RUN starts differently)."""
    text = doc.text[instr.start : instr.end]
    if any(m in text for m in K.STARTUP_FILE_MARKERS):
        return True
    for s in run_scripts(doc, instr):
        for cmd in s.commands:
            argv = cmd.effective_argv()
            prog = _prog(argv)
            if prog in K.STARTUP_WRITERS and any(a in K.STARTUP_WRITERS[prog] for a in argv[1:]):
                return True
    return False
