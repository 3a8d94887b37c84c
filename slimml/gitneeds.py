"""Does the build need the context's ``.git``? (It decides whether excluding ``.git`` is offered.)

Needed -- the exclusion is never offered, since slimml itself would say it breaks a step -- when:

- a project file (``pyproject.toml``, ``setup.cfg``, ``setup.py``) anywhere in the copied context
  uses a tool that takes the version from git metadata (setuptools-scm, hatch-vcs, versioneer, ...);
- a RUN after the context is copied calls ``git`` with a subcommand that reads the work tree
  (``describe``, ``rev-parse``, ``log``, ...; not ``clone``/``config``/``init``/``ls-remote``), itself or
  in a program it runs from the context: a shell script (parsed with tree-sitter-bash, followed
  into the scripts it runs), a Python script or ``python -c`` code (a ``"git"`` argument or a
  ``"git ..."`` command string, ``import git``/``pygit2``/``dulwich``/``setuptools_scm``), a
  Makefile's recipes, or the ``setup.py`` of a directory pip builds.

Unknown -- the exclusion is unsafe, with the reason -- when such a RUN runs a program from the
context that slimml cannot read (a binary, a path it cannot map to a context file).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from .knowledge import dockerignore as K
from .semantics import build as B
from .semantics.files import origin
from .semantics.programs import Resolved, Visitor, walk

_INSTALLERS = frozenset({"pip", "pip3", "uv", "poetry", "pdm", "pipenv", "hatch", "flit"})
_PY_GIT = re.compile(r"^\s*(?:import|from)\s+(git|pygit2|dulwich|setuptools_scm|versioneer)\b", re.MULTILINE)
MAX_DEPTH = 3


@dataclass
class Verdict:
    needed: str | None = None  # why the build needs .git
    unknown: str | None = None  # why slimml cannot tell


def _git_sub(args: list[str]) -> str:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree") else 1
    return args[i] if i < len(args) else ""


def _needs_from_argvs(argvs: list[list[str]]) -> str | None:
    """`git <sub>` among these commands that reads a work tree (commands next to a clone work on it)."""
    gits = [a[1:] for a in argvs if a and posixpath.basename(a[0]) == "git"]
    subs = [_git_sub(a) for a in gits]
    if "clone" in subs:
        return None
    for s in subs:
        if s and s not in K.GIT_SUBCOMMANDS_WITHOUT_WORKTREE:
            return f"`git {s}`"
    return None


class _GitVisitor(Visitor):
    """Follows what one step runs (semantics.programs.walk) and looks for git reading a work tree."""

    def __init__(self, doc, ctx, run):
        self.doc, self.ctx, self.run = doc, ctx, run
        self.scripts: dict[str, list[list[str]]] = {}  # git commands per script (`via`), judged together
        self.verdict = Verdict()

    def command(self, argv: list[str], via: str, depth: int) -> bool:
        prog = posixpath.basename(argv[0])
        if prog == "git":
            self.scripts.setdefault(via, []).append(argv)
        elif prog in _INSTALLERS:
            for a in argv[1:]:
                if a in (".", "./") or (a.startswith(("./", "/")) and not a.endswith((".whl", ".txt", ".tar.gz"))):
                    st = B.state_before(self.doc, self.run)
                    path = posixpath.normpath(posixpath.join(st.workdir if st else "/", a, "setup.py"))
                    o = origin(self.doc, self.ctx, self.run, path)
                    if o.text is not None:
                        v = python_text(o.text, where=o.rel or path)
                        if v.needed:
                            self.verdict = Verdict(needed=f"{via}{v.needed}")
                            return True
        return False

    def code(self, r: Resolved, via: str) -> bool:
        if r.kind == "python":
            v = python_text(r.text or "", where=r.rel or "")
            if v.needed:
                self.verdict = Verdict(needed=f"{via}{v.needed}")
                return True
        elif r.kind == "make":
            recipes = "\n".join(line[1:] for line in (r.text or "").splitlines() if line.startswith("\t"))
            walk(
                self.doc,
                self.ctx,
                self.run,
                self,
                MAX_DEPTH,
                text=recipes,
                via=f"{via}{r.rel or r.label} runs ",
                depth=1,
            )
            return bool(self.verdict.needed)
        return False

    def opaque(self, r: Resolved, via: str) -> bool:
        # A program that the base image or a RUN provides is a tool like any other; code from the
        # context that cannot be read, or built at run time, cannot be judged.
        if r.opacity != "absent" and not self.verdict.unknown:
            self.verdict.unknown = (
                f"the {self.run.keyword} at line {self.run.start_line} runs {r.label}, which "
                f"slimml cannot read ({r.why})"
            )
        return False

    def result(self) -> Verdict:
        if self.verdict.needed:
            return self.verdict
        for via, argvs in self.scripts.items():
            need = _needs_from_argvs(argvs)
            if need:
                where = via.rstrip() + " " if via else ""
                return Verdict(needed=f"the {self.run.keyword} at line {self.run.start_line} {where}calls {need}")
        return Verdict(unknown=self.verdict.unknown)


def python_text(text: str, where: str = "") -> Verdict:
    from . import refs

    m = _PY_GIT.search(text)
    if m:
        return Verdict(needed=f"{where or 'Python run by the build'} imports {m.group(1)}")
    strings = refs.strings_of(where or "code.py", text, "python") if "git" in text else []
    for i, s in enumerate(strings):
        if s == "git":
            nxt = strings[i + 1] if i + 1 < len(strings) else ""
            if not nxt or nxt not in K.GIT_SUBCOMMANDS_WITHOUT_WORKTREE:
                return Verdict(needed=f"{where or 'Python run by the build'} runs git")
        elif s.startswith("git "):
            sub = _git_sub(s.split()[1:])
            if sub not in K.GIT_SUBCOMMANDS_WITHOUT_WORKTREE:
                return Verdict(needed=f"{where or 'Python run by the build'} runs `git {sub}`")
    return Verdict()


def _markers(ctx, files: list[str]) -> str | None:
    for rel in files:
        if posixpath.basename(rel) not in K.PROJECT_FILES:
            continue
        text = ctx.read_context_file(rel, overlay=False) or ""
        for marker in K.VCS_VERSION_MARKERS:
            if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(marker), text):
                return f"{rel} uses {marker} (the version comes from git metadata)"
    return None


def _app_code(ctx, files: list[str]) -> str | None:
    """Python the image holds that runs git or reads its metadata (e.g. a version shown at start)."""
    for rel in files:
        if not rel.endswith(".py"):
            continue
        text = ctx.read_context_file(rel, overlay=False) or ""
        if "git" in text:
            v = python_text(text, where=rel)
            if v.needed:
                return v.needed
    return None


def git_needed(doc, ctx, runs, files: list[str], image: bool = False) -> Verdict:
    """Whether the RUN instructions ``runs`` (those that see the copied context) need ``.git``;
    ``files``: the context files the build copies (project-file markers, and with ``image`` -- the
    context's .git is copied into the image -- the app's code and its CMD/ENTRYPOINT)."""
    why = _markers(ctx, files) if runs else None
    if why:
        return Verdict(needed=why)
    if image:
        why = _app_code(ctx, files)
        if why:
            return Verdict(needed=f"the image's {why} (its .git is copied today)")
        final = doc.final_stage
        runs = list(runs) + [i for i in (final.instructions if final else ()) if i.keyword in ("CMD", "ENTRYPOINT")]
    unknown = None
    for run in runs:
        v = _GitVisitor(doc, ctx, run)
        walk(doc, ctx, run, v, MAX_DEPTH)
        verdict = v.result()
        if verdict.needed:
            return verdict
        unknown = unknown or verdict.unknown
    return Verdict(unknown=unknown)
