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

_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")
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


def _shell_argvs(text: str) -> list[list[str]]:
    """argv of every command of a shell text (tree-sitter-bash; wrappers such as sudo stripped)."""
    from .dockerfile.shell import _parser, _unquote_text, _walk, unwrap

    data = text.encode("utf-8")
    tree = _parser().parse(data)
    out = []
    for n in _walk(tree.root_node):
        if n.type != "command":
            continue
        words = []
        for ch in n.children:
            if ch.type == "command_name" or (ch.is_named and ch.type not in (
                    "variable_assignment", "file_redirect", "heredoc_redirect", "herestring_redirect", "comment")):
                words.append(_unquote_text(data[ch.start_byte:ch.end_byte].decode("utf-8", "replace")))
        if words:
            out.append(words[unwrap(words):] or words)
    return out


class _Reader:
    def __init__(self, doc, ctx, run):
        self.doc, self.ctx, self.run = doc, ctx, run

    def to_context(self, path: str, cwd: str) -> str | None:
        """The context path a file at ``path`` (relative to ``cwd``) in the RUN's image came from."""
        return image_to_context(self.doc, self.ctx, self.run, posixpath.normpath(posixpath.join(cwd, path)))

    def program(self, argv: list[str], cwd: str, depth: int) -> Verdict:
        """What one command needs, following programs it runs from the context."""
        v = Verdict()  # (git itself is judged with its neighbours: `git clone x && git -C x log`)
        if depth > MAX_DEPTH or not argv:
            return v
        prog = posixpath.basename(argv[0])
        rest = argv[1:]
        if prog in _SHELLS:
            if "-c" in rest:
                k = rest.index("-c")
                return self.shell_text(rest[k + 1] if k + 1 < len(rest) else "", cwd, depth + 1)
            script = next((a for a in rest if not a.startswith("-")), None)
            return self.file(script, cwd, "shell", depth) if script else v
        if _PYTHON.match(prog):
            if "-c" in rest:
                k = rest.index("-c")
                return self.python_text(rest[k + 1] if k + 1 < len(rest) else "")
            if "-m" in rest:
                return v  # an installed module: not the context's code
            script = next((a for a in rest if not a.startswith("-")), None)
            return self.file(script, cwd, "python", depth) if script else v
        if prog in ("make", "gmake"):
            if "-f" in rest and rest.index("-f") + 1 < len(rest):
                return self.file(rest[rest.index("-f") + 1], cwd, "make", depth)
            return self.file("Makefile", cwd, "make", depth, missing_ok=True)
        if prog in _INSTALLERS:
            for a in rest:
                if a in (".", "./") or (a.startswith(("./", "/")) and not a.endswith((".whl", ".txt", ".tar.gz"))):
                    found = self.file(posixpath.join(a, "setup.py"), cwd, "python", depth, missing_ok=True)
                    if found.needed or found.unknown:
                        return found
            return v
        if "/" in argv[0]:
            return self.file(argv[0], cwd, None, depth)
        return v

    def file(self, path: str, cwd: str, how: str | None, depth: int, missing_ok: bool = False) -> Verdict:
        from . import refs

        rel = self.to_context(path, cwd)
        text = self.ctx.read_context_file(rel, overlay=False) if rel is not None else None
        if text is None:
            if rel is None or missing_ok:
                return Verdict()  # not from the context (the base image, an earlier RUN): like any tool
            return Verdict(unknown=f"the {self.run.keyword} at line {self.run.start_line} runs `{path}`, which slimml "
                                   "cannot read")
        if "\0" in text[:4096]:
            return Verdict(unknown=f"the {self.run.keyword} at line {self.run.start_line} runs `{path}`, a binary "
                                   "slimml cannot read")
        how = how or refs.kind(rel, text[:128].encode("utf-8", "replace")) or "shell"
        if how == "python":
            return self.python_text(text, where=rel)
        if how == "make":
            recipes = "\n".join(line[1:] for line in text.splitlines() if line.startswith("\t"))
            return self.shell_text(recipes, cwd, depth + 1, where=rel)
        return self.shell_text(text, cwd, depth + 1, where=rel)

    def shell_text(self, text: str, cwd: str, depth: int, where: str = "") -> Verdict:
        argvs = _shell_argvs(text)
        need = _needs_from_argvs(argvs)
        if need:
            return Verdict(needed=f"{where} calls {need}" if where else need)
        unknown = None
        for a in argvs:
            sub = self.program(a, cwd, depth)
            if sub.needed:
                return sub
            unknown = unknown or sub.unknown
        return Verdict(unknown=unknown)

    def python_text(self, text: str, where: str = "") -> Verdict:
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


def _stage_chain(doc, stage) -> list:
    out = [stage]
    while True:
        image = out[-1].image.lower()
        parent = next((s for s in reversed(doc.stages[: out[-1].index]) if s.name == image), None)
        if parent is None or parent in out:
            return out
        out.append(parent)


def descendants(doc, stage) -> list:
    """Stages built FROM ``stage`` by name, directly or through others, in file order."""
    family, out = {stage.index}, []
    for st in doc.stages[stage.index + 1:]:
        parent = next((s for s in reversed(doc.stages[: st.index]) if s.name == st.image.lower()), None)
        if parent is not None and parent.index in family:
            family.add(st.index)
            out.append(st)
    return out


def image_to_context(doc, ctx, run, image: str) -> str | None:
    """The context path that the file ``image`` (absolute, in the image ``run`` runs in) was
    copied from, by the last COPY/ADD before ``run`` that put something there; None when no
    COPY from the context did (the file comes from the base image or a RUN)."""
    from . import dockerignore as DI
    from .dockerfile import shell_words
    from .rules._helpers import workdir_at

    stage = doc.stage_of(run)
    if stage is None:
        return None
    copies = []
    for st in _stage_chain(doc, stage):
        copies += [i for i in st.instructions if i.keyword in ("COPY", "ADD") and i.flag("from") is None
                   and (st is not stage or i.index < run.index)]
    for ins in sorted(copies, key=lambda i: i.index, reverse=True):
        words = list(ins.json) if ins.json is not None else [w for w, _, _ in shell_words(ins.args, raw=False)]
        if len(words) < 2:
            continue
        srcs, dest = words[:-1], words[-1]
        dest_abs = posixpath.normpath(posixpath.join(workdir_at(doc, ins), dest))
        dir_dest = dest.endswith("/") or len(srcs) > 1
        for src in srcs:
            if src.startswith("<<") or "://" in src or "$" in src:
                continue
            rel = DI.context_source(src)
            if rel == "." or ctx.is_dir(rel):
                if image == dest_abs or image.startswith(dest_abs.rstrip("/") + "/"):
                    inner = posixpath.relpath(image, dest_abs)
                    return inner if rel == "." else posixpath.join(rel, inner)
                continue
            name = posixpath.basename(rel)
            if any(c in name for c in "*?["):
                import fnmatch

                if posixpath.dirname(image) == dest_abs and fnmatch.fnmatchcase(posixpath.basename(image), name):
                    return posixpath.join(posixpath.dirname(rel), posixpath.basename(image))
                continue
            if image == posixpath.join(dest_abs, name) or (not dir_dest and image == dest_abs):
                return rel
    return None


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
    reader = _Reader(None, ctx, None)
    for rel in files:
        if not rel.endswith(".py"):
            continue
        text = ctx.read_context_file(rel, overlay=False) or ""
        if "git" in text:
            v = reader.python_text(text, where=rel)
            if v.needed:
                return v.needed
    return None


def _argvs(doc, ins) -> list[list[str]]:
    from .dockerfile.shell import run_scripts

    if ins.json is not None:
        return [list(ins.json)]
    if ins.keyword == "RUN":
        return [c.effective_argv() for s in run_scripts(doc, ins) for c in s.commands]
    return _shell_argvs(ins.args)


def git_needed(doc, ctx, runs, files: list[str], image: bool = False) -> Verdict:
    """Whether the RUN instructions ``runs`` (those that see the copied context) need ``.git``;
    ``files``: the context files the build copies (project-file markers, and with ``image`` -- the
    context's .git is copied into the image -- the app's code and its CMD/ENTRYPOINT)."""
    from .rules._helpers import workdir_at

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
        argvs = _argvs(doc, run)
        need = _needs_from_argvs(argvs)
        if need:
            return Verdict(needed=f"the {run.keyword} at line {run.start_line} calls {need}")
        reader = _Reader(doc, ctx, run)
        cwd = workdir_at(doc, run)
        for a in argvs:
            v = reader.program(a, cwd, 0)
            if v.needed:
                return Verdict(needed=v.needed if "line" in v.needed else f"the {run.keyword} at line {run.start_line}: "
                                                                          f"{v.needed}")
            unknown = unknown or v.unknown
    return Verdict(unknown=unknown)
