"""What a command runs that is more than one program: a script, inline code, a Makefile.

``resolve(doc, ctx, instr, argv, piped)`` says what ``argv`` hands control to:

- ``shell``: a shell script (``sh x.sh``, ``./x``, ``. x``, ``bash -c '...'``) -- its text, to be
  parsed and read through like the RUN itself;
- ``python`` / ``make`` / ``text``: code slimml reads as text only;
- ``opaque``: something that runs code slimml cannot see (a script downloaded and piped into a
  shell, a file a RUN wrote, a program at a path the build context does not provide) -- with why;
  Python code that cannot be read is taken for a plain program (the one assumption made here);
- None: a plain program (``pip``, ``useradd``, ``curl``): nothing more to read.

A script's text comes from where the build put it (``semantics.files.origin``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..dockerfile import Document, Instruction
from ..knowledge import programs as K
from ..knowledge import shell as SK
from . import build as B
from .files import origin


@dataclass(frozen=True)
class Resolved:
    kind: str  # "shell" | "python" | "make" | "text" | "opaque"
    label: str  # for messages: "`sh /install.sh`"
    text: str | None = None
    why: str = ""  # for "opaque"
    # for "opaque": "absent" (not copied from the build context: the base image or a RUN made it),
    # "unreadable" (from the context, but not readable), "binary", "dynamic" (piped, eval, a variable)
    opacity: str = ""
    rel: str | None = None  # the context file it was read from, when it was


def _prog(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _label(argv: list[str]) -> str:
    return "`" + " ".join(argv[:3]) + (" ..." if len(argv) > 3 else "") + "`"


def _kind_of(text: str, path: str) -> str:
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        interp = first[2:].split()
        prog = _prog(
            interp[-1] if interp and interp[0].endswith("/env") and len(interp) > 1 else (interp[0] if interp else "")
        )
        if prog in SK.POSIX_SHELLS:
            return "shell"
        if prog.startswith("python"):
            return "python"
        return "text"
    if path.endswith(".py"):
        return "python"
    if path.endswith((".sh", ".bash")) or "." not in posixpath.basename(path):
        return "shell"
    return "text"


def _from_image(
    doc: Document, ctx, instr: Instruction, path: str, argv: list[str], kind: str | None, cwd: str | None = None
) -> Resolved:
    if cwd is None:
        st = B.state_before(doc, instr)
        cwd = st.workdir if st else "/"
    ap = posixpath.normpath(posixpath.join(cwd, path))
    o = origin(doc, ctx, instr, ap)
    if o.kind == "unknown" or o.text is None:
        opacity = "unreadable" if o.rel is not None or o.instr is not None else "absent"
        return Resolved("opaque", _label(argv), why=o.why or f"`{ap}` could not be read", opacity=opacity, rel=o.rel)
    if "\0" in o.text[:4096]:
        return Resolved("opaque", _label(argv), why=f"`{ap}` is a binary", opacity="binary", rel=o.rel)
    return Resolved(kind or _kind_of(o.text, ap), _label(argv), o.text, rel=o.rel)


def resolve(doc: Document, ctx, instr: Instruction, argv: list[str], piped: bool = False) -> Resolved | None:
    """What ``argv`` (wrappers already removed) runs beyond itself; ``piped``: its stdin is the
    output of an earlier command of a pipeline."""
    if not argv:
        return None
    prog = _prog(argv[0])
    if "$" in argv[0] or "`" in argv[0]:
        return Resolved("opaque", _label(argv), why=f"the program `{argv[0]}` is a variable", opacity="dynamic")
    if prog in SK.POSIX_SHELLS:
        return _shell(doc, ctx, instr, argv, piped)
    if prog in ("source", "."):
        if len(argv) < 2:
            return None
        return _from_image(doc, ctx, instr, argv[1], argv, "shell")
    if prog == "eval":
        return Resolved("opaque", _label(argv), why="`eval` runs text built at run time", opacity="dynamic")
    if K.PYTHON_RE.match(prog):
        return _python(doc, ctx, instr, argv, piped)
    if prog in K.MAKE_PROGRAMS:
        return _make(doc, ctx, instr, argv)
    if "/" in argv[0]:
        if prog in K.TRANSPARENT_PROGRAMS or K.PYTHON_RE.match(prog) or K.PIP_RE.match(prog):
            return None
        return _from_image(doc, ctx, instr, argv[0], argv, None)
    if prog in K.TRANSPARENT_PROGRAMS:
        return None
    return _on_path(doc, ctx, instr, argv)


def _on_path(doc: Document, ctx, instr: Instruction, argv: list[str]) -> Resolved | None:
    """A program named without a path that the Dockerfile itself put on PATH (``COPY x.sh
    /usr/local/bin/x``): its text; None when nothing in the Dockerfile put it there (a tool of the
    base image or of a package)."""
    st = B.state_before(doc, instr)
    path = st.value("PATH") if st is not None else None
    # (``ENV PATH=/opt/venv/bin:$PATH`` extends the base image's PATH, which is Docker's default
    # for the images slimml knows: look there too)
    dirs = list(dict.fromkeys(d for d in f"{path or ''}:{SK.DEFAULT_PATH}".split(":") if d.startswith("/")))
    for d in dirs:
        ap = posixpath.join(d, argv[0])
        o = origin(doc, ctx, instr, ap)
        if o.kind in ("context", "heredoc") and o.text is not None:
            return Resolved(_kind_of(o.text, ap), _label(argv), o.text, rel=o.rel)
        if o.kind == "unknown" and not o.from_stage and (o.rel is not None or o.instr is not None):
            return Resolved("opaque", _label(argv), why=o.why, opacity="unreadable", rel=o.rel)
    return None  # (a program another stage built, e.g. a venv's console script, is a program like any)


def _shell(doc, ctx, instr, argv, piped) -> Resolved | None:
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-c" or (a.startswith("-") and not a.startswith("--") and a.endswith("c")):
            if i + 1 < len(argv):
                return Resolved("shell", _label(argv), argv[i + 1])
            return None
        if a in ("-o", "+o"):
            i += 2
            continue
        if a.startswith(("-", "+")):
            i += 1
            continue
        return _from_image(doc, ctx, instr, a, argv, "shell")
    if piped:
        return Resolved(
            "opaque", _label(argv), why="it runs a script piped into the shell at build time", opacity="dynamic"
        )
    return None


def _python(doc, ctx, instr, argv, piped) -> Resolved | None:
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-c":
            return Resolved("python", _label(argv), argv[i + 1] if i + 1 < len(argv) else "")
        if a == "-m" or a.startswith("-m"):
            return None  # an installed module (pip, venv, ...)
        if a in ("-W", "-X"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        r = _from_image(doc, ctx, instr, a, argv, "python")
        # Python code is read when the build context has it; a Python program slimml cannot read is
        # taken for a program (code that shells out to apt is rare enough that refusing every
        # clean-up before `CMD python app.py` from another stage would help no one).
        return None if r.kind == "opaque" else r
    if piped:
        return Resolved("opaque", _label(argv), why="it runs Python code piped in at build time", opacity="dynamic")
    return None


def _make(doc, ctx, instr, argv) -> Resolved:
    makefile, cdir = None, "."
    for k, a in enumerate(argv[1:], 1):
        if a in ("-f", "--file", "--makefile") and k + 1 < len(argv):
            makefile = argv[k + 1]
        elif a.startswith("--file="):
            makefile = a.split("=", 1)[1]
        elif a in ("-C", "--directory") and k + 1 < len(argv):
            cdir = argv[k + 1]
    if makefile is None:
        makefile = posixpath.join(cdir, "Makefile")
    return _from_image(doc, ctx, instr, makefile, argv, "make")


# -- walking everything a step runs -------------------------------------------------------------------
class Visitor:
    """What a walk reports; each method returns True to stop the walk."""

    def command(self, argv: list[str], via: str, depth: int) -> bool:  # every command (wrappers removed)
        return False

    def code(self, r: Resolved, via: str) -> bool:  # Python, Makefile or other text it runs
        return False

    def opaque(self, r: Resolved, via: str) -> bool:  # code it runs that cannot be read
        return False


def walk(
    doc: Document,
    ctx,
    instr: Instruction,
    visitor: Visitor,
    max_depth: int = 4,
    *,
    text: str | None = None,
    via: str = "",
    depth: int = 0,
) -> None:
    """Visit every command ``instr`` (a RUN, CMD, ENTRYPOINT or ONBUILD RUN) runs, in order, and
    the scripts those run (read through up to ``max_depth`` levels), with ``via`` naming the chain.
    With ``text``: walk that shell text instead (run where ``instr`` runs), e.g. Makefile recipes."""
    from ..dockerfile.shell import parse_script_text, run_scripts, unwrap

    def argv(a: list[str], piped: bool, depth: int, via: str) -> bool:
        a = a[unwrap(a) :] if a else a
        if not a:
            return False
        if visitor.command(a, via, depth):
            return True
        r = resolve(doc, ctx, instr, a, piped)
        if r is None:
            return False
        if r.kind == "opaque":
            return visitor.opaque(r, via)
        if r.kind != "shell":
            return visitor.code(r, via)
        if depth >= max_depth:
            return visitor.opaque(
                Resolved("opaque", r.label, why="scripts nested too deep to follow", opacity="unreadable"), via
            )
        s = parse_script_text(instr, r.text or "")
        if s.has_error:
            return visitor.opaque(
                Resolved("opaque", r.label, why="its shell does not parse", opacity="unreadable"), via
            )
        return script(s, depth + 1, f"{via}{r.label} runs ")

    def script(s, depth: int, via: str) -> bool:
        for cmd in s.commands:
            p = cmd.node.parent
            piped = (
                p is not None and p.type == "pipeline" and bool(p.named_children) and p.named_children[0] != cmd.node
            )
            if argv(cmd.argv, piped, depth, via):
                return True
        return False

    if text is not None:
        s = parse_script_text(instr, text)
        if s.has_error:
            visitor.opaque(
                Resolved(
                    "opaque",
                    via.strip() or f"line {instr.start_line}",
                    why="its shell does not parse",
                    opacity="unreadable",
                ),
                via,
            )
        else:
            script(s, depth, via)
        return
    target = instr.inner if instr.keyword == "ONBUILD" and instr.inner is not None else instr
    if target.keyword == "RUN" and target is instr:
        scripts = run_scripts(doc, instr)
        if scripts:
            bodies = any(s.heredoc is not None for s in scripts)
            for s in scripts:
                if s.has_error and bodies and s.heredoc is None:
                    continue  # `bash <<EOF` alone: the body is the next script
                if s.has_error:
                    visitor.opaque(
                        Resolved(
                            "opaque", f"line {instr.start_line}", why="its shell does not parse", opacity="unreadable"
                        ),
                        "",
                    )
                    return
                if script(s, 0, ""):
                    return
        elif instr.is_exec_form:
            argv(list(instr.json or ()), False, 0, "")
        else:
            visitor.opaque(
                Resolved(
                    "opaque",
                    f"line {instr.start_line}",
                    why="it runs through a SHELL slimml cannot read",
                    opacity="unreadable",
                ),
                "",
            )
        return
    if target.keyword in ("RUN", "CMD", "ENTRYPOINT"):
        if target.json is not None:
            argv(list(target.json), False, 0, "")
        elif target.args.strip():
            s = parse_script_text(instr, target.args)
            if s.has_error:
                visitor.opaque(
                    Resolved(
                        "opaque", f"line {instr.start_line}", why="its shell does not parse", opacity="unreadable"
                    ),
                    "",
                )
            else:
                script(s, 0, "")
