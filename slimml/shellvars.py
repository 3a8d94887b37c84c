"""Linear-time scanning of ``$VAR`` / ``${VAR}`` / ``${VAR<op>default}`` references.

The obvious regular expression, ``\\$(?:\\{(\\w+)(?::?-([^}]*))?\\}|(\\w+))``, is quadratic under ``re.sub``:
on ``${A:-${A:-${A:-...`` (no closing brace) every ``$`` scans to the end of the text before failing.
``VarRefs`` finds the same matches (same spans, same groups, leftmost first) in one pass: the
``[^}]*`` part is answered from a cached position of the next ``}`` instead of a rescan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator


class VarMatch:
    """The parts of ``re.Match`` that callers of these patterns use."""

    __slots__ = ("string", "_span", "_groups")

    def __init__(self, string: str, start: int, end: int, groups: tuple[str | None, ...]):
        self.string = string
        self._span = (start, end)
        self._groups = groups

    def group(self, i: int = 0) -> str | None:
        if i == 0:
            return self.string[self._span[0] : self._span[1]]
        return self._groups[i - 1]

    def groups(self) -> tuple[str | None, ...]:
        return self._groups

    def start(self) -> int:
        return self._span[0]

    def end(self) -> int:
        return self._span[1]

    def span(self) -> tuple[int, int]:
        return self._span


class VarRefs:
    """Stands for ``\\$(?:\\{(NAME)(?:(OPS)([^}]*))?\\}|(NAME))``.

    ``name``: the regex of a name (``\\w+``, ``[A-Za-z_][A-Za-z0-9_]*``), or None for ``\\$\\{[^}]*\\}|\\$NAME``
    (any text inside the braces, no groups). ``ops``: the regex of the operator before a default
    (``:?-``). Groups: (braced name, default, plain name), or with ``op_group`` (braced name, operator,
    default, plain name) -- the numbering of the regex each caller had.
    """

    def __init__(
        self,
        name: str | None = r"\w+",
        ops: str = ":?-",
        op_group: bool = False,
        plain: str = r"[A-Za-z_][A-Za-z0-9_]*",
    ):
        self.op_group = op_group
        self.any_braced = name is None
        # Names end where the operator or `}` starts: neither can be a name character, so the greedy
        # name never needs to give characters back (the regexes this replaces cannot backtrack there).
        self._head = None if name is None else re.compile(f"({name})({ops})?")
        self._plain = re.compile(plain if name is None else name)

    def finditer(self, s: str) -> Iterator[VarMatch]:
        n = len(s)
        close = -2  # cached index of the first `}` at or after the last asked position (-1: none)
        close_from = n + 1

        def next_close(p: int) -> int:
            nonlocal close, close_from
            if close == -2 or p < close_from or (close != -1 and p > close):
                close, close_from = s.find("}", p), p
            return close

        pos = 0
        while True:
            i = s.find("$", pos)
            if i < 0 or i + 1 >= n:
                return
            m = self._at(s, i, n, next_close)
            if m is None:
                pos = i + 1
                continue
            yield m
            pos = m.end()

    def _at(self, s: str, i: int, n: int, next_close: Callable[[int], int]) -> VarMatch | None:
        if s[i + 1] == "{":
            if self.any_braced:
                c = next_close(i + 2)
                if c >= 0:
                    return VarMatch(s, i, c + 1, ())
            else:
                h = self._head.match(s, i + 2)
                if h is not None:
                    name, op = h.group(1), h.group(2)
                    if op is not None:
                        c = next_close(h.end())
                        if c >= 0:
                            return self._match(s, i, c + 1, name, op, s[h.end() : c], None)
                    if h.end(1) < n and s[h.end(1)] == "}":
                        return self._match(s, i, h.end(1) + 1, name, None, None, None)
            return None  # the plain alternative cannot start with `{`
        p = self._plain.match(s, i + 1)
        if p is None:
            return None
        return self._match(s, i, p.end(), None, None, None, p.group(0))

    def _match(self, s, start, end, name, op, default, plain) -> VarMatch:
        if self.any_braced:
            return VarMatch(s, start, end, ())
        groups = (name, op, default, plain) if self.op_group else (name, default, plain)
        return VarMatch(s, start, end, groups)

    def search(self, s: str) -> VarMatch | None:
        return next(self.finditer(s), None)

    def sub(self, repl: str | Callable[[VarMatch], str], s: str) -> str:
        out: list[str] = []
        pos = 0
        for m in self.finditer(s):
            out.append(s[pos : m.start()])
            out.append(repl(m) if callable(repl) else repl)
            pos = m.end()
        if not out:
            return s
        out.append(s[pos:])
        return "".join(out)
