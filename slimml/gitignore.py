"""What a real checkout may hold in the build context that the disk (or the committed tree) does not.

``slimml migrate`` sees the committed tree; ``slimml fix`` sees one working tree. Builds run in
checkouts where the paths the repository's ``.gitignore`` files hide exist too: weights fetched
before the build (``models/``, ``*.onnx``), data sets, ``.env``. A ``.dockerignore`` exclusion that
can select such a path is not safe when a whole-context ``COPY`` copies it today, whatever the disk
shows. This module turns the ``.gitignore`` files that apply to a context into Docker-pattern
segments (``slimml.dockerignore.segments``) so the rules can ask *can the new exclusion and a
hidden path overlap?* (``dockerignore.overlap``), and matches concrete paths with pathspec (git's
semantics, the standard implementation).

Translation (git -> context-relative segments): a pattern without a slash (other than a trailing
one) matches at any depth below its ``.gitignore`` (``**/name``); one with a slash is anchored to
the ``.gitignore``'s folder; a trailing ``/`` (directories only) is dropped, which can only make the
hidden set larger. ``!`` lines are skipped for the same reason: what git re-includes is committed,
so the tree shows it anyway. Files considered: every ``.gitignore`` from the repository root down
to the context and inside it, and ``.git/info/exclude``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from . import dockerignore as DI

if TYPE_CHECKING:
    import pathspec

    from .context import Context

_Segs = tuple[DI.Segment, ...]

MAX_CLIMB = 8  # folders above the context searched for the repository root


@dataclass(frozen=True)
class Hidden:
    segs: _Segs  # context-relative Docker-pattern segments (STAR2 for any depth)
    origin: str  # where it comes from, for messages: ".gitignore:3 `models/`"


def repo_root(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` holding ``.git`` (None: not in a repository)."""
    p = folder
    for _ in range(MAX_CLIMB + 1):
        if (p / ".git").exists():
            return p
        if p.parent == p:
            return None
        p = p.parent
    return None


def _line_pattern(line: str) -> str | None:
    """A .gitignore line as a pattern (git's trimming rules), None for blanks, comments, negations."""
    line = line.rstrip("\r\n")
    if not line or line.startswith("#") or line.startswith("!"):
        return None
    # Trailing spaces are dropped unless escaped with a backslash.
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        stripped += " "
    if stripped.startswith("\\#") or stripped.startswith("\\!"):
        stripped = stripped[1:]
    return stripped or None


def _translate(pattern: str, base: tuple[str, ...]) -> _Segs | None:
    """Segments (relative to the repository root) of one pattern of a .gitignore in ``base``."""
    p = pattern.rstrip("/")
    if not p:
        return None
    anchored = "/" in p
    p = p.lstrip("/")
    body = DI.segments(DI.clean(p)) if p else ()
    if not body:
        return None
    return tuple(base) + (tuple(body) if anchored else (DI.STAR2, *body))


def _strip_prefix(segs: _Segs, prefix: tuple[str, ...]) -> list[_Segs]:
    """What ``segs`` (a pattern from the repository root) can match below the folder ``prefix``:
    the remainders after consuming ``prefix``'s names. ``(STAR2,)`` when it matches the folder
    itself or one above it (everything inside is hidden)."""
    n = len(segs)

    def closure(states: set[int]) -> set[int]:
        out, todo = set(states), list(states)
        while todo:
            i = todo.pop()
            if i < n and segs[i] is DI.STAR2 and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out

    states = closure({0})
    for name in prefix:
        if n in states:
            return [(DI.STAR2,)]
        nxt: set[int] = set()
        for i in states:
            if i >= n:
                continue
            s = segs[i]
            if s is DI.STAR2:
                nxt.add(i)
            else:
                rx = DI.segment_regex(s)
                if rx is None or rx.match(name):
                    nxt.add(i + 1)
        states = closure(nxt)
        if not states:
            return []
    if n in states:
        return [(DI.STAR2,)]
    return sorted({segs[i:] for i in states}, key=len)


def _files(root: Path, context: Path, ctx: Context) -> list[tuple[Path, tuple[str, ...]]]:
    """(.gitignore file, its folder relative to the repository root) that apply to the context."""
    out = []
    rel_ctx = os.path.relpath(context, root).replace(os.sep, "/")
    parts = () if rel_ctx == "." else tuple(rel_ctx.split("/"))
    for k in range(len(parts) + 1):  # the root, then each folder down to the context
        out.append((root.joinpath(*parts[:k]) / ".gitignore", parts[:k]))
    info = root / ".git" / "info" / "exclude"
    if info.is_file():
        out.append((info, ()))
    for rel, _ in ctx.walk_context():
        if rel.endswith("/.gitignore"):
            folder = tuple(rel.split("/")[:-1])
            out.append((context / rel, parts + folder))
    return out


def hidden(ctx: Context) -> list[Hidden]:
    """The paths the repository's ignore files hide, relative to ``ctx``'s build context; once per
    context and run."""
    if ctx.context_dir is None:
        return []
    key = ("gitignore-hidden", str(ctx.context_dir))
    if key in ctx.run_cache:
        return cast("list[Hidden]", ctx.run_cache[key])
    context = Path(ctx.realpath(ctx.context_dir))
    root = repo_root(context) or context
    rel_ctx = os.path.relpath(context, root).replace(os.sep, "/")
    prefix = () if rel_ctx == "." else tuple(rel_ctx.split("/"))
    out: list[Hidden] = []
    seen: set[_Segs] = set()
    for path, base in _files(root, context, ctx):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        shown = os.path.relpath(path, context).replace(os.sep, "/")
        for no, line in enumerate(text.splitlines(), 1):
            pat = _line_pattern(line)
            segs = _translate(pat, base) if pat else None
            if segs is None:
                continue
            for rest in _strip_prefix(segs, prefix):
                if rest and rest not in seen:
                    seen.add(rest)
                    out.append(Hidden(rest, f"{shown}:{no} `{line.strip()}`"))
    ctx.run_cache[key] = out
    return out


def spec(ctx: Context) -> pathspec.GitIgnoreSpec | None:
    """A pathspec matcher of the repository's ignore files for paths relative to the context
    (None when there are none). Used to tell which present files a checkout would not commit."""
    key = ("gitignore-spec", str(ctx.context_dir))
    if key not in ctx.run_cache:
        import pathspec  # the standard implementation of .gitignore semantics

        lines = []
        for h in hidden(ctx):
            lines.append("/" + "/".join("**" if s is DI.STAR2 else cast(str, s) for s in h.segs))
        ctx.run_cache[key] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
    return cast("pathspec.GitIgnoreSpec | None", ctx.run_cache[key])


# What a hidden folder of these names holds is never an application's input: a local virtualenv,
# caches, editor and tool state. (A hidden ``build/``, ``dist/`` or ``outputs/`` is not among them:
# exported models and wheels live there.)
JUNK_NAMES = frozenset(
    {
        ".git",
        "__pycache__",
        "*.pyc",
        "*.pyo",
        "*.py[cod]",
        "*$py.class",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".venv",
        "venv",
        ".ipynb_checkpoints",
        ".DS_Store",
        ".idea",
        ".vscode",
        ".coverage",
        "htmlcov",
        ".tox",
        ".nox",
        "*.egg-info",
        ".eggs",
        ".hypothesis",
        "node_modules",
        ".cache",
        "*.swp",
        "*~",
        "*.log",
        ".pyre",
        ".pytype",
        ".dmypy.json",
        "__pypackages__",
    }
)


def _literal(segs: list[DI.Segment]) -> bool:
    return all(s is not DI.STAR2 and DI.is_literal(cast(str, s)) for s in segs)


def relevant(pattern: list[DI.Segment], h: Hidden) -> bool:
    """Can the exclusion ``pattern`` select a path that ``h`` hides (the path or anything below it)?

    Paths are only *in* a checkout when their folders are: a literal exclusion (``data``,
    ``.env``) is concerned when the hidden pattern covers it or names something inside it by its
    own names (``data/*.csv``), not because ``**/x`` could be below any folder; a pattern that
    selects at any depth (``**/*.onnx``) is concerned by every hidden folder that may hold such
    files (``checkpoints/``, ``build/``) and by the same kind of file (``*.onnx``)."""
    last = h.segs[-1] if h.segs else None
    if last is not None and last is not DI.STAR2 and last in JUNK_NAMES:
        return False
    if DI.overlap(list(h.segs), pattern)[0]:
        return True
    if _literal(pattern):
        core = list(h.segs[1:]) if h.segs and h.segs[0] is DI.STAR2 else list(h.segs)
        return bool(core) and DI.overlap(pattern, core)[0]
    return False


def overlapping(ctx: Context, segs: list[DI.Segment]) -> Hidden | None:
    """A hidden path that the exclusion ``segs`` can select (see ``relevant``), if any."""
    for h in hidden(ctx):
        if relevant(list(segs), h):
            return h
    return None
