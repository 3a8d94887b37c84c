"""Docker's ``.dockerignore`` semantics: a small, deliberate port of moby/patternmatcher.

Why a port and not ``pathspec``: ``.dockerignore`` is *not* ``.gitignore``. pathspec's
gitwildmatch implements git's rules, which differ exactly where it matters here:

- patterns are root-anchored: ``*.pyc`` only matches at the context root (git: at any depth);
  ``**/*.pyc`` is needed for every depth;
- a pattern with a slash is not special, one without is not "basename anywhere";
- ``!`` can re-include a file below an excluded directory (git cannot);
- every line is cleaned with Go's ``filepath.Clean`` (``./a//b/`` is ``a/b``), a leading ``/``
  is dropped, and only lines whose *first* character is ``#`` are comments.

What is ported (moby/patternmatcher ``patternmatcher.go`` and ``ignorefile/ignorefile.go``):

- ``ReadAll``: BOM dropped on the first line, ``#`` comments, ``TrimSpace``, ``!`` handling,
  ``filepath.Clean``, leading ``/`` removed;
- ``New``: the second ``Clean``, the lone ``!`` error, ``filepath.Match`` syntax validation;
- ``Pattern.compile``/``match``: the four match kinds (exact, prefix ``dir/**``, suffix
  ``**/name``, regexp) with ``*`` not crossing ``/``, ``?``, ``[...]``, ``\\`` escapes and ``**``
  spanning any number of directories;
- ``MatchesOrParentMatches``: last matching pattern wins, and a pattern matching a parent
  directory matches everything below it (which is what BuildKit's context walker does).

Besides matching, ``overlap`` answers the question a linter needs and Docker never asks: can
two patterns (or a pattern and a COPY source) ever select the same path, or a path and one of
its ancestors? It works segment by segment and errs on the side of "yes".
"""

from __future__ import annotations

import posixpath
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias, cast

__all__ = [
    "Pattern",
    "PatternError",
    "parse_patterns",
    "is_excluded",
    "clean",
    "normalize_line",
    "STAR2",
    "segments",
    "is_literal",
    "segment_regex",
    "seg_intersect",
    "overlap",
]

_BOM = "\ufeff"
_REGEX_ESCAPE = set(".+()|{}$")  # shouldEscape: regexp metachars that mean nothing in filepath.Match


class PatternError(ValueError):
    """A pattern Docker rejects (the build would fail with it)."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@lru_cache(maxsize=8192)
def clean(p: str) -> str:
    """Go's ``filepath.Clean`` on a slash path."""
    if p == "":
        return "."
    out = posixpath.normpath(p)
    if out.startswith("//"):  # POSIX keeps two leading slashes, Go does not
        out = "/" + out.lstrip("/")
    return out


def context_source(path: str) -> str:
    """A COPY/ADD source (or bind-mount source) as the context path it names: relative and
    cleaned, with ``..`` clamped at the context root as BuildKit does."""
    p = clean(path.lstrip("/") or ".")
    while p == ".." or p.startswith("../"):
        p = clean(p[3:] or ".")
    return p


@lru_cache(maxsize=4096)
def _validate(p: str) -> None:
    """Raise PatternError where Go's ``filepath.Match`` would return ErrBadPattern."""
    i, n = 0, len(p)
    while i < n:
        ch = p[i]
        if ch == "\\":
            if i + 1 >= n:
                raise PatternError(f"bad pattern {p!r}: trailing backslash")
            i += 2
            continue
        if ch != "[":
            i += 1
            continue
        i += 1
        if i < n and p[i] == "^":
            i += 1
        nrange = 0
        while True:
            if i < n and p[i] == "]" and nrange > 0:
                i += 1
                break
            i = _get_esc(p, i)
            if p[i] == "-":
                i = _get_esc(p, i + 1)
            nrange += 1


def _get_esc(p: str, i: int) -> int:
    n = len(p)
    if i >= n or p[i] in "-]":
        raise PatternError(f"bad pattern {p!r}: malformed character class")
    if p[i] == "\\":
        i += 1
        if i >= n:
            raise PatternError(f"bad pattern {p!r}: trailing backslash")
    i += 1
    if i >= n:
        raise PatternError(f"bad pattern {p!r}: unterminated character class")
    return i


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[str, re.Pattern[str] | _Glob | None]:
    """Port of ``Pattern.compile`` (slash separator): (match kind, regexp or None)."""
    reg = ["^"]
    kind = "exact"
    i, n, it = 0, len(pattern), 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # treat **/ as **
                    i += 1
                if i >= n:  # "**" at the end: everything
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        reg.append(".*")
                        kind = "regexp"
                else:
                    reg.append("(.*/)?")
                    kind = "regexp"
                if it == 0:
                    kind = "suffix"
            else:
                reg.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            reg.append("[^/]")
            kind = "regexp"
        elif ch in _REGEX_ESCAPE:
            reg.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                reg.append("\\" + pattern[i])
                i += 1
                kind = "regexp"
            else:
                reg.append("\\\\")
        elif ch in "[]":
            reg.append(ch)
            kind = "regexp"
        else:
            reg.append(ch)
        it += 1
    if kind != "regexp":
        return kind, None
    pieces = reg[1:]
    reg.append(r"\Z")  # Go's "$" (no trailing-newline quirk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Go's RE2 has no "possible nested set" warning
        try:
            rx = re.compile("".join(reg))
        except re.error as e:
            raise PatternError(f"bad pattern {pattern!r}: {e}") from None
    # Go runs this regexp in linear time (RE2); Python's backtracking takes O(n^k) on k stars
    # (`*a*a*a*a*b` against a long name: minutes). The same language, matched by simulating it.
    tokens = _glob_tokens(pieces)
    return kind, (_Glob(tokens) if tokens is not None else rx)


def _glob_tokens(reg: list[str]) -> list[_Token] | None:
    """The pieces _compile emitted, as tokens for _Glob; None when a piece is not a plain one-character matcher
    (character classes holding stars, zero-width or back-reference escapes): the regexp is kept for those."""
    tokens: list[_Token] = []
    i = 0
    while i < len(reg):
        piece = reg[i]
        i += 1
        if piece == "[^/]*":
            tokens.append(("star",))
        elif piece == ".*":
            tokens.append(("any",))
        elif piece == "(.*/)?":
            tokens.append(("dirs",))
        elif piece == "[^/]":
            tokens.append(("one", _not_slash))
        elif piece == "[":
            j = i
            while j < len(reg) and reg[j] != "]":
                j += 1
            inner = reg[i:j]
            if j >= len(reg) or any(len(x) > 2 or x in ("[", "(", ")") for x in inner):
                return None
            try:
                cls = re.compile("[" + "".join(inner) + "]")
            except re.error:
                return None
            tokens.append(("one", cls.fullmatch))
            i = j + 1
        elif len(piece) == 2 and piece[0] == "\\":
            c = piece[1]
            if c.isalnum():
                if c in "AbBZ" or c.isdigit():
                    return None  # zero-width or a back-reference: not one character
                try:
                    tokens.append(("one", re.compile(piece).fullmatch))  # \d, \w, \s ... (as Go and Python read them)
                except re.error:
                    return None
            else:
                tokens.append(("one", c.__eq__))
        elif len(piece) == 1 and piece not in "^$|()+{}.*?[\\":
            tokens.append(("one", piece.__eq__))
        else:
            return None
    return tokens


def _not_slash(c: str) -> bool:
    return c != "/"


# A _Glob token: ("star",), ("any",), ("dirs",) or ("one", a one-character test).
_Token: TypeAlias = "tuple[Any, ...]"
# A _Glob state: the index of the next token, or ("L", i) inside the ``.*`` of the ``dirs`` token i.
_State: TypeAlias = "int | tuple[str, int]"


class _Glob:
    """A full match of the tokens, by simulating them (a set of states per character: O(len(path) * tokens)).
    ``star`` is ``[^/]*``, ``any`` is ``.*`` (no newline), ``dirs`` is ``(.*/)?``, ``one`` a one-character test."""

    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        # The state sets met so far and their transitions, built as paths are matched (a lazy DFA: each
        # character is then one lookup; a pattern is shared by every file of a run). Bounded.
        self._start: frozenset[_State] | None = None
        self._next: dict[tuple[frozenset[_State], str], frozenset[_State]] = {}

    def _closure(self, states: set[_State]) -> set[_State]:
        todo, out = list(states), set(states)
        toks = self.tokens
        while todo:
            s = todo.pop()
            if isinstance(s, int) and s < len(toks) and toks[s][0] in ("star", "any", "dirs") and s + 1 not in out:
                out.add(s + 1)
                todo.append(s + 1)
        return out

    def match(self, path: str) -> bool | None:
        if self._start is None:
            self._start = frozenset(self._closure({0}))
        states, trans = self._start, self._next
        for c in path:
            nxt = trans.get((states, c))
            if nxt is None:
                nxt = self._step(states, c)
                if len(trans) < 50_000:
                    trans[(states, c)] = nxt
            if not nxt:
                return None
            states = nxt
        return True if len(self.tokens) in states else None

    def _step(self, states: frozenset[_State], c: str) -> frozenset[_State]:
        """The states after reading ``c``: the simulation step."""
        toks = self.tokens
        nxt: set[_State] = set()
        for s in states:
            if isinstance(s, tuple):  # inside the ``.*`` of ``(.*/)?``
                if c != "\n":
                    nxt.add(s)
                    if c == "/":
                        nxt.add(s[1] + 1)
                continue
            if s >= len(toks):
                continue
            kind = toks[s][0]
            if kind == "one":
                if toks[s][1](c):
                    nxt.add(s + 1)
            elif kind == "star":
                if c != "/":
                    nxt.add(s)
            elif kind == "any":
                if c != "\n":
                    nxt.add(s)
            elif c != "\n":  # dirs
                nxt.add(("L", s))
                if c == "/":
                    nxt.add(s + 1)
        return frozenset(self._closure(nxt))


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool = False  # a "!" line: re-includes what it matches
    line: int = 0  # 1-based line in the file (0: built in code)
    raw: str = ""  # the line as written
    kind: str = field(default="exact", compare=False)
    regex: re.Pattern[str] | _Glob | None = field(default=None, compare=False, repr=False)  # .match(path)

    @staticmethod
    @lru_cache(maxsize=8192)
    def make(text: str, exclusion: bool = False, line: int = 0, raw: str = "") -> Pattern:
        _validate(text)
        kind, rx = _compile(text)
        return Pattern(text, exclusion, line, raw or (("!" if exclusion else "") + text), kind, rx)

    def match(self, path: str) -> bool:
        """``Pattern.match``: this exact path (no parent matching)."""
        p = self.text
        if self.kind == "exact":
            return path == p
        if self.kind == "prefix":
            return path.startswith(p[:-2])
        if self.kind == "suffix":
            suffix = p[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        return self.regex is not None and self.regex.match(path) is not None

    def matches_or_parent(self, path: str) -> bool:
        """The path or one of its parent directories matches."""
        if self.match(path):
            return True
        parent = posixpath.dirname(path)
        if parent in ("", "."):
            return False
        dirs = parent.split("/")
        return any(self.match("/".join(dirs[: i + 1])) for i in range(len(dirs)))

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


@lru_cache(maxsize=8192)
def normalize_line(line: str) -> str | None:
    """One line as ``ignorefile.ReadAll`` turns it into a pattern string (``!`` kept), or None."""
    line = line.rstrip("\r\n")
    if line.startswith("#"):
        return None
    p = line.strip()
    if not p:
        return None
    invert = p[0] == "!"
    if invert:
        p = p[1:].strip()
    if p:
        p = clean(p)
        if len(p) > 1 and p[0] == "/":
            p = p[1:]
    return ("!" + p) if invert else p


def parse_patterns(text: str) -> list[Pattern]:
    """The patterns of a ``.dockerignore`` file, in order. Raises PatternError like Docker."""
    return list(_parse_patterns(text))


@lru_cache(maxsize=256)  # pure (errors are raised again: lru_cache does not keep them)
def _parse_patterns(text: str) -> tuple[Pattern, ...]:
    out: list[Pattern] = []
    for no, line in enumerate(text.split("\n"), 1):
        if no == 1 and line.startswith(_BOM):
            line = line[1:]
        raw = line.rstrip("\r")
        p = normalize_line(raw)
        if p is None:
            continue
        # patternmatcher.New: TrimSpace, Clean again, then "!".
        p = clean(p.strip())
        exclusion = p[0] == "!"
        if exclusion:
            if len(p) == 1:
                raise PatternError('illegal exclusion pattern: "!"', no)
            p = p[1:]
        try:
            out.append(Pattern.make(p, exclusion, no, raw))
        except PatternError as e:
            raise PatternError(str(e), no) from None
    return tuple(out)


def is_excluded(path: str, patterns: list[Pattern]) -> bool:
    """``MatchesOrParentMatches``: is ``path`` (relative to the context) left out of the context?"""
    path = clean(path)
    if path.startswith("/"):
        path = clean(path.lstrip("/") or ".")
    if path == ".":
        return False  # Docker never excludes the context root itself
    matched = False
    for pat in patterns:
        if pat.exclusion != matched:
            continue  # an inclusion cannot add to a match, an exclusion cannot remove a non-match
        if pat.matches_or_parent(path):
            matched = not pat.exclusion
    return matched


# -- overlap analysis (for linting; Docker itself never needs it) ---------------------------------
class _Star2:
    def __repr__(self) -> str:
        return "**"


STAR2 = _Star2()  # a segment matching any number (0+) of path segments
Segment: TypeAlias = "str | _Star2"  # a path segment (a glob) or STAR2
_GLOB_CHARS = "*?[\\"


def segments(pattern: str) -> list[Segment]:
    """Path segments of a cleaned pattern or COPY source (see ``_segments``)."""
    return list(_segments(pattern))


@lru_cache(maxsize=8192)
def _segments(pattern: str) -> tuple[Segment, ...]:
    """Split a cleaned pattern (or COPY source) into path segments; ``**`` becomes STAR2.

    A segment that holds ``**`` among other characters (``a**``, ``**.pyc``) has Docker
    semantics no segment model captures; from there on the pattern is approximated by STAR2,
    which matches more, never less.
    """
    if pattern in ("", "."):
        return ()
    out: list[Segment] = []
    for seg in pattern.split("/"):
        if seg == "**":
            if not out or out[-1] is not STAR2:
                out.append(STAR2)
        elif "**" in seg:
            if not out or out[-1] is not STAR2:
                out.append(STAR2)
            break
        elif seg:
            out.append(seg)
    return tuple(out)


_GLOB_CHAR_RE = re.compile(r"[*?\[\\]")


def is_literal(seg: str) -> bool:
    """No wildcard, class or escape: the glob names exactly itself."""
    return _GLOB_CHAR_RE.search(seg) is None


@lru_cache(maxsize=4096)
def segment_regex(seg: str) -> re.Pattern[str] | _Glob | None:
    """A compiled matcher for one glob segment (None: Docker would reject the glob)."""
    try:
        _validate(seg)
        kind, rx = _compile(seg)
    except PatternError:
        return None
    if rx is None:
        return re.compile(re.escape(seg) + r"\Z")
    return rx


def _unescape(seg: str) -> str:
    return re.sub(r"\\(.)", r"\1", seg)


def _literal_ends(seg: str) -> tuple[str, str]:
    """Literal text before the first and after the last wildcard of a glob segment."""
    i = 0
    while i < len(seg) and seg[i] not in _GLOB_CHARS:
        i += 1
    j = len(seg)
    while j > 0 and seg[j - 1] not in "*?]":
        j -= 1
    return seg[:i], seg[j:] if j >= i else ""


def seg_intersect(a: str, b: str) -> bool:
    """Can one path segment match both globs? Exact when one is literal, else conservative."""
    la, lb = is_literal(a), is_literal(b)
    if la and lb:
        return a == b
    if la or lb:
        lit, glob = (a, b) if la else (b, a)
        rx = segment_regex(glob)
        return True if rx is None else rx.match(lit) is not None
    pa, sa = _literal_ends(a)
    pb, sb = _literal_ends(b)
    if not (pa.startswith(pb) or pb.startswith(pa)):
        return False
    return sa.endswith(sb) or sb.endswith(sa)


def overlap(a: list[Segment], b: list[Segment]) -> tuple[bool, bool]:
    """Walk two segment lists over the same (at least one segment long) path.

    Returns ``(a_completes, b_completes)``: ``a_completes`` when some path P matched by ``a``
    is an ancestor of -- or equal to -- a path matched by ``b`` (so ``a`` would also cover what
    ``b`` names, Docker matching parents); ``b_completes`` the other way round. Wildcards
    inside a segment are compared conservatively (see ``seg_intersect``).
    """
    return _overlap(tuple(a), tuple(b))


@lru_cache(maxsize=16384)  # pure; the same candidate/source pairs come back for every Dockerfile
def _overlap(a: tuple[Segment, ...], b: tuple[Segment, ...]) -> tuple[bool, bool]:
    na, nb = len(a), len(b)

    def closure(states: set[tuple[int, int]]) -> set[tuple[int, int]]:
        out = set(states)
        stack = list(states)
        while stack:
            i, j = stack.pop()
            for nxt in (
                (i + 1, j) if i < na and a[i] is STAR2 else None,
                (i, j + 1) if j < nb and b[j] is STAR2 else None,
            ):
                if nxt is not None and nxt not in out:
                    out.add(nxt)
                    stack.append(nxt)
        return out

    frontier = closure({(0, 0)})
    seen: set[tuple[int, int]] = set()
    a_done = b_done = False
    while frontier:
        nxt = set()
        for i, j in frontier:
            if i >= na and j >= nb:
                continue
            ai = a[i] if i < na else None
            bj = b[j] if j < nb else None
            if ai is None or bj is None:
                continue  # one side is complete: it cannot consume another segment
            if ai is STAR2 and bj is STAR2:
                nxt.add((i, j))
            elif ai is STAR2:
                nxt.add((i, j + 1))
            elif bj is STAR2:
                nxt.add((i + 1, j))
            elif seg_intersect(cast(str, ai), cast(str, bj)):  # neither is STAR2 here
                nxt.add((i + 1, j + 1))
        nxt = closure(nxt) - seen
        seen |= nxt
        for i, j in nxt:
            a_done = a_done or i >= na
            b_done = b_done or j >= nb
        frontier = nxt
    return a_done, b_done
