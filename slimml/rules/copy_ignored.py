"""A COPY/ADD of a path the build context's ignore file leaves out: the build fails.

What it does
    Reads the ignore file BuildKit uses for this Dockerfile (``<Dockerfile>.dockerignore`` next to
    it when that exists, else ``.dockerignore``) with Docker's own matching (root-anchored
    patterns, ``**``, ``!`` re-includes, the last match wins) and checks every source a ``COPY`` or
    ``ADD`` (or a ``RUN --mount=type=bind`` without ``from``) takes from the build context -- each
    of several sources, in shell and JSON form. A source that exists in the directory but is not in
    the context BuildKit receives is reported: a file the ignore file excludes, or a directory
    excluded with nothing re-included below it.

    A directory some of whose files are excluded is fine (the rest is copied), and so is one that
    a ``!`` line re-includes part of. A wildcard source whose every match is excluded copies
    nothing (BuildKit allows an empty wildcard): reported as a warning.

    Skipped: ``COPY --from`` (another stage or image, not the context), heredoc sources, URLs and
    git sources, paths with a variable slimml cannot resolve (an ``ARG`` can be changed by
    ``--build-arg``), paths that do not exist, and a Dockerfile whose context is unknown. When the
    context is only inferred, the finding is a warning and says so. Report only: which of the two
    the build needs -- the file or the exclusion -- is for you to decide.

Why
    BuildKit sends only what the ignore file lets through, so the ``COPY`` fails with ``failed to
    compute cache key: ... not found`` -- usually after a ``.dockerignore`` edit (``*.json``,
    ``config/``) that forgot a file the image needs.

Example
    FROM python:3.11-slim
    COPY config/settings.json /app/config/

    with ``config/`` in ``.dockerignore``.

Use instead
    FROM python:3.11-slim
    COPY config/settings.json /app/config/

    with ``!config/settings.json`` after ``config/`` in ``.dockerignore`` (or the exclusion dropped).
"""

from __future__ import annotations

import posixpath

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction, shell_words
from ..semantics import build as B
from . import _helpers as H

CODE = "SLM011"
NAME = "copy-ignored"
SUMMARY = "COPY/ADD of a path the build context's .dockerignore excludes (the build fails)"
FIX = "none"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)
_WALK_LIMIT = 20000


def _ignore(ctx) -> tuple[str, list[DI.Pattern]] | None:
    rel = H.ignore_file(ctx)
    if rel is None:
        return None
    text = ctx.read_context_file(rel)
    if not text:
        return None
    try:
        pats = DI.parse_patterns(text)
    except DI.PatternError:
        return None  # BuildKit refuses the file itself; nothing a COPY adds to that
    return (rel, pats) if pats else None


def _sources(doc: Document, instr: Instruction) -> list[tuple[str, int, int]]:
    """(context path, start, end) of each context source; unresolvable ones are left out."""
    if instr.json is not None:
        words = [(w, instr.start, instr.end) for w in instr.json]
    else:
        raw = shell_words(instr.args, raw=True)
        words = []
        for w, a, b in raw:
            s, e = instr.args_span(a, b)
            words.append((w, s, e))
    if len(words) < 2 or any(w.startswith("<<") for w, _, _ in words):
        return []  # heredoc COPY: its sources are inline, not from the context
    state = B.state_before(doc, instr)
    env = state.env if state is not None else {}
    out = []
    for w, s, e in words[:-1]:
        if instr.json is None:
            x = B.expand(w, env, doc.escape)
            if not x.certain:
                continue  # an ARG or an unset variable: the path is not known
            w = x.value
        elif "$" in w:
            continue  # JSON form expands too; not worth guessing
        if "://" in w or w.startswith("git@") or not w:
            continue
        out.append((DI.context_source(w), s, e))
    return out


def _mount_sources(doc: Document, instr: Instruction) -> list[tuple[str, int, int]]:
    """(context path, flag span) of the RUN's bind mounts that read the build context (no ``from``)."""
    out = []
    state = None
    for f, opts in zip(instr.flags_of("mount"), H.mounts(instr)):  # H.mounts parses them in this order
        if opts.get("type") != "bind" or opts.get("from"):
            continue
        src = opts.get("source") or opts.get("src") or "."
        if "$" in src:
            state = state or B.state_before(doc, instr)
            x = B.expand(src, state.env if state is not None else {}, doc.escape)
            if not x.certain:
                continue
            src = x.value
        rel = DI.context_source(src)
        if rel != ".":
            out.append((rel, f.start, f.end))
    return out


def _glob(p: str) -> bool:
    return any(c in p for c in "*?[")


class _Tree:
    """The context's files and directories (walked once per run), and what the ignore file leaves."""

    def __init__(self, ctx, pats: list[DI.Pattern]):
        self.ctx, self.pats = ctx, pats
        files = list(ctx.walk_context(_WALK_LIMIT))
        self.complete = len(files) < _WALK_LIMIT
        self.files = [f for f, _ in files]
        self._kept: dict[str, bool] = {}

    def kept(self, rel: str) -> bool:
        """``rel`` (a file or directory) reaches BuildKit: not excluded, or a directory below which
        something is re-included."""
        if rel not in self._kept:
            self._kept[rel] = self._compute(rel)
        return self._kept[rel]

    def _compute(self, rel: str) -> bool:
        if not DI.is_excluded(rel, self.pats):
            return True
        if not self.ctx.is_dir(rel):
            return False
        if rel == ".git" or rel.startswith(".git/"):  # not walked: any `!` line may keep part of it
            return any(p.exclusion for p in self.pats)
        if not self.complete:
            return True  # part of the tree unseen: cannot prove nothing is kept
        prefix = "" if rel == "." else rel.rstrip("/") + "/"
        return any(f.startswith(prefix) and not DI.is_excluded(f, self.pats) for f in self.files)

    def matches(self, pattern: str) -> list[str]:
        """Context paths (files and their directories) a wildcard source matches, as filepath.Match does."""
        try:
            pat = DI.Pattern.make(pattern)
        except DI.PatternError:
            return []
        seen: set[str] = set()
        for f in self.files:
            parts = f.split("/")
            for i in range(1, len(parts) + 1):
                seen.add("/".join(parts[:i]))
        return sorted(p for p in seen if pat.match(p))


def check(doc: Document, ctx):
    if ctx.context_dir is None:
        return
    ign = _ignore(ctx)
    if ign is None:
        return
    rel_ignore, pats = ign
    tree = ctx.cache.get(("slm011-tree", rel_ignore, tuple(p.raw for p in pats)))
    guessed = f" (the build context is inferred: {ctx.context_note})" if ctx.context_note else ""
    for instr in doc.instructions:
        if instr.keyword == "RUN":
            reads = _mount_sources(doc, instr)
        elif instr.keyword in ("COPY", "ADD") and instr.flag("from") is None:
            reads = _sources(doc, instr)
        else:
            continue
        for rel, s, e in reads:
            if tree is None:
                tree = ctx.cache[("slm011-tree", rel_ignore, tuple(p.raw for p in pats))] = _Tree(ctx, pats)
            if _glob(rel) and instr.keyword != "RUN":  # a mount source is literal
                hits = tree.matches(rel)
                if hits and not any(tree.kept(h) for h in hits):
                    yield H.finding(
                        _RULE,
                        f"`{instr.keyword_raw} {rel}`: every path it matches ({_few(hits)}) is "
                        f"excluded by {rel_ignore}, so it copies nothing{guessed}",
                        s,
                        e,
                        severity="warning",
                    )
                continue
            if not ctx.exists(rel) or tree.kept(rel):
                continue
            what = "directory" if ctx.is_dir(rel) else "file"
            line = _excluding_line(rel, pats)
            yield H.finding(
                _RULE,
                f"`{rel}` is excluded by {rel_ignore}{line}: the {what} is not in the build "
                f"context and `{instr.keyword_raw}{' --mount' if instr.keyword == 'RUN' else ''}` fails "
                f'("failed to compute cache key: ... not found" / "no such file or directory"){guessed}',
                s,
                e,
                severity="warning" if guessed else "error",
            )


def _excluding_line(rel: str, pats: list[DI.Pattern]) -> str:
    """`` (line N: `pattern`)`` of the last pattern that excludes ``rel`` or a parent."""
    hit = None
    for p in pats:
        if not p.exclusion and p.matches_or_parent(rel):
            hit = p
    return f" (line {hit.line}: `{hit.raw.strip()}`)" if hit is not None else ""


def _few(paths: list[str]) -> str:
    shown = ", ".join(posixpath.normpath(p) for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
