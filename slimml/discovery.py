"""Finding Dockerfiles and their build context.

The build context is not written in a Dockerfile; it is inferred from what the COPY/ADD sources
need (``infer``). BuildKit clamps ``..`` at the context root, so ``COPY ../x`` from a Dockerfile
in ``sub/`` only builds with the parent as context (``docker build -f sub/Dockerfile .``), where it
copies ``x``. A source with a ``$VAR`` is resolved from ARG/ENV defaults; one that cannot be
resolved, or sources that no folder holds, leave the context *unknown*: side files (``.dockerignore``,
init scripts) must then not be written anywhere, and the fix asks for ``--context``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .dockerfile import Document, Instruction, shell_words
from .shellvars import VarRefs

DOCKERFILE_GLOBS = (
    "Dockerfile",
    "Dockerfile.*",
    "Dockerfile-*",
    "*.Dockerfile",
    "Containerfile",
    "Containerfile.*",
    "Containerfile-*",
    "*.Containerfile",
)
# Not Dockerfiles even though the name matches: templates, backups, ignore files, docs.
_NOT_DOCKERFILE = re.compile(
    r"\.(dockerignore|md|rst|txt|orig|rej|bak|swp|j2|jinja2?|tmpl|tpl|template|in|erb|mustache|sh|py|json|ya?ml)$",
    re.IGNORECASE,
)
SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".slimml",
}


# Every glob as one pattern, as written and lowercased: a name matches a glob as written, or lowercased
# against the lowercased glob (two regexes, not IGNORECASE, whose case folding differs from str.lower()).
_GLOBS_AS_WRITTEN = re.compile("|".join(fnmatch.translate(g) for g in DOCKERFILE_GLOBS))
_GLOBS_LOWER = re.compile("|".join(fnmatch.translate(g.lower()) for g in DOCKERFILE_GLOBS))


def is_dockerfile_name(name: str) -> bool:
    if _NOT_DOCKERFILE.search(name):
        return False
    return bool(_GLOBS_AS_WRITTEN.match(name) or _GLOBS_LOWER.match(name.lower()))


def _gitignore(root: Path):
    p = root / ".gitignore"
    if not p.is_file():
        return None
    import pathspec  # the standard implementation of .gitignore semantics; only needed here

    try:
        return pathspec.GitIgnoreSpec.from_lines(p.read_text(encoding="utf-8", errors="replace").splitlines())
    except Exception:
        return None


def find_dockerfiles(root: Path) -> list[Path]:
    """Dockerfiles under ``root``, skipping VCS/venv folders and what the root .gitignore ignores. In
    ``os.walk``'s order (top-down, names sorted; symlinked folders not entered), with scandir's entries:
    a relpath and a join per folder and name were most of a warm run's search."""
    spec = _gitignore(root)
    out: list[Path] = []
    stack = [(os.fspath(root), "")]
    while stack:
        dirpath, rel_dir = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # as os.walk: an unreadable folder is skipped
        subdirs = []
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows a symlink, as os.walk sorts names into folders and files
            except OSError:
                is_dir = False
            rel = rel_dir + e.name
            if is_dir:
                if e.name in SKIP_DIRS or (spec and spec.match_file(rel + "/")):
                    continue
                if not e.is_symlink():
                    subdirs.append((e.path, rel + "/"))
            elif is_dockerfile_name(e.name) and not (spec and spec.match_file(rel)):
                out.append(Path(e.path))
        stack.extend(reversed(subdirs))
    return out


_VAR_RE = VarRefs(r"\w+", ":?[-=]")  # linear-time \$(?:\{(\w+)(?::?[-=]([^}]*))?\}|(\w+))
MAX_CLIMB = 4  # folders above the Dockerfile's own that may be its context


def _kv_pairs(instr: Instruction) -> list[tuple[str, str]]:
    """Key/value pairs of an ENV/ARG (``K=V``, legacy ``ENV K V``; an ARG without default: "")."""
    words = shell_words(instr.args, raw=False)
    if not words:
        return []
    if instr.keyword == "ENV" and "=" not in words[0][0]:
        return [(words[0][0], instr.args[words[0][2] :].strip())]
    return [(k, v) for k, _, v in (w.partition("=") for w, _, _ in words)]


def env_at(doc: Document, instr: Instruction) -> dict[str, str]:
    """Build-arg and ENV values known at ``instr`` from the file alone (defaults only; "" means
    unknown). ARGs without a default take the global ARG's default, as BuildKit does."""
    glob: dict[str, str] = {}
    for a in doc.global_args:
        glob.update(_kv_pairs(a))
    env: dict[str, str] = {}
    stage = doc.stage_of(instr)
    for i in stage.instructions if stage else ():
        if i.index >= instr.index:
            break
        if i.keyword in ("ARG", "ENV"):
            for k, v in _kv_pairs(i):
                env[k] = glob.get(k, "") if i.keyword == "ARG" and not v else v
    return env


def expand(word: str, env: dict[str, str]) -> str | None:
    """Expand ``$VAR``/``${VAR}``/``${VAR:-x}`` in a COPY source; None when a variable has no
    known value (the source, and so the context, cannot be known from the file)."""
    unknown = False

    def sub(m: re.Match) -> str:
        nonlocal unknown
        name = m.group(1) or m.group(3)
        val = env.get(name) or (m.group(2) if m.group(2) is not None else "")
        if not val:
            unknown = True
        return val

    out = _VAR_RE.sub(sub, word)
    return None if unknown else out


@dataclass(frozen=True)
class SourceWord:
    instr: Instruction
    word: str  # as written (quotes removed)
    path: str | None  # expanded; None when a variable has no known value


def context_sources(doc: Document) -> list[SourceWord]:
    """Every path the build takes from the context: COPY/ADD sources (not ``--from``, heredocs,
    URLs or git remotes) and RUN bind-mount sources, in any stage."""
    out: list[SourceWord] = []
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
            words = list(ins.json) if ins.json is not None else [w for w, _, _ in shell_words(ins.args, raw=False)]
            env = None
            for w in words[:-1]:
                if w.startswith("<<") or "://" in w or w.startswith("git@"):
                    continue
                if "$" in w and env is None:
                    env = env_at(doc, ins)
                out.append(SourceWord(ins, w, expand(w, env) if "$" in w else w))
        elif ins.keyword == "RUN" and ins.flags:
            env = None
            for f in ins.flags_of("mount"):
                opts = dict(part.partition("=")[::2] for part in (f.value or "").split(","))
                opts = {k.strip().lower(): v.strip() for k, v in opts.items()}
                if opts.get("type", "bind") != "bind" or "from" in opts:
                    continue
                w = opts.get("source") or opts.get("src") or "."
                if "$" in w and env is None:
                    env = env_at(doc, ins)
                out.append(SourceWord(ins, w, expand(w, env) if "$" in w else w))
    return out


@dataclass(frozen=True)
class Inference:
    path: Path  # the folder to read the context from (a guess when ``reason`` is set)
    reason: str = ""  # why the real context cannot be known (empty: it can)
    # The first folder the search tried, every source a literal path outside .git: the answer then depends
    # on the disk only through ``path``'s own tree (the folders below it and their .git entries), which
    # slimml.cache fingerprints -- a cached result may be found without parsing the file (runner).
    settled: bool = False

    @property
    def certain(self) -> bool:
        return not self.reason


def _clamped(path: str) -> tuple[str, int]:
    """(context path BuildKit reads, how many leading ``..`` it clamped away)."""
    p = os.path.normpath(path.lstrip("/") or ".").replace(os.sep, "/")
    ups = 0
    while p == ".." or p.startswith("../"):
        ups += 1
        p = os.path.normpath(p[3:] or ".").replace(os.sep, "/")
    return p, ups


def _holds(folder: Path, src: str) -> bool:
    if any(c in src for c in "*?["):
        return any(True for _ in folder.glob(src))
    return os.path.lexists(folder / src)


def _ignored_in(folder: Path):
    """pathspec of the .gitignore files from the repository root down to ``folder``, matching
    paths relative to ``folder``; None outside a repository or without ignore files."""
    root = folder
    for _ in range(MAX_CLIMB + 4):
        if (root / ".git").exists():
            break
        if root.parent == root:
            return None
        root = root.parent
    else:
        return None
    import pathspec

    rel = os.path.relpath(folder, root).replace(os.sep, "/")
    parts = [] if rel == "." else rel.split("/")
    lines: list[str] = []
    for k in range(len(parts) + 1):
        gi = root.joinpath(*parts[:k]) / ".gitignore"
        try:
            text = gi.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        below = parts[k:]  # the folder's path below this .gitignore
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            neg, s = (s.startswith("!"), s[1:] if s.startswith("!") else s)
            if "/" in s.rstrip("/"):  # anchored: only what lies below ``folder`` applies
                s = s.lstrip("/")
                prefix = "/".join(below)
                if prefix and not s.startswith(prefix + "/"):
                    continue
                s = "/" + s[len(prefix) + 1 :] if prefix else "/" + s
            lines.append(("!" if neg else "") + s)
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def infer(dockerfile: Path, doc: Document | None) -> Inference:
    """The build context of ``dockerfile``: the nearest folder, from its own folder up to the
    repository root, that holds every COPY/ADD source (``COPY ../x`` starts the search one level
    up). Unknown -- with the reason -- when a source has a ``$VAR`` without a default or no
    folder holds them all (the guess is then the nearest folder the ``..`` allow)."""
    # The folder is resolved, not the file: a symlinked Dockerfile is built from the symlink's folder.
    start = dockerfile.absolute().parent.resolve()
    if doc is None:
        return Inference(start)
    unresolved = [s for s in context_sources(doc) if s.path is None]
    srcs, min_up = [], 0
    for s in context_sources(doc):
        if s.path is None:
            continue
        p, ups = _clamped(s.path)
        min_up = max(min_up, ups)
        if p != ".":
            srcs.append((s.word, p))
    folders = [start]
    for _ in range(MAX_CLIMB):
        if (folders[-1] / ".git").exists() or folders[-1].parent == folders[-1]:
            break
        folders.append(folders[-1].parent)
    allowed = folders[min_up:] if min_up < len(folders) else []
    guess = allowed[0] if allowed else folders[-1]
    if unresolved:
        u = unresolved[0]
        return Inference(
            guess,
            f"`{u.instr.keyword} {u.word}` (line {u.instr.start_line}) names a variable "
            f"without a default, so the build context cannot be told from the file",
        )
    if min_up >= len(folders):
        return Inference(
            guess, f"the COPY sources climb {min_up} folder(s) above the Dockerfile, past the repository root"
        )
    for i, folder in enumerate(allowed):
        if all(_holds(folder, p) for _, p in srcs):
            settled = i == 0 and not any(
                p == ".git" or p.startswith(".git/") or any(c in p for c in "*?[") for _, p in srcs
            )
            return Inference(folder, settled=settled)
    # Sources the build generates first (wheels, downloaded weights) are usually gitignored.
    for folder in allowed:
        spec = _ignored_in(folder)
        if spec is not None and all(_holds(folder, p) or spec.match_file(p) for _, p in srcs):
            return Inference(folder)
    # BuildKit clamps `..` at the context root: `COPY ../x` built from the Dockerfile's own folder
    # reads `x` there. When only a nearer folder holds the sources, that is the context.
    for folder in reversed(folders[: min(min_up, len(folders))]):
        if srcs and all(_holds(folder, p) for _, p in srcs):
            return Inference(folder)
    missing = next(w for w, p in srcs if not _holds(guess, p))
    return Inference(
        guess,
        f"no folder from {guess} up holds every COPY source (`{missing}` is missing: generated before the build?)",
    )


def infer_context(dockerfile: Path, doc: Document | None) -> Path:
    """The folder to read the build context from (``infer(...).path``); see ``infer`` for
    whether it is certain."""
    return infer(dockerfile, doc).path
