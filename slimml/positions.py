"""Where a finding is in the file the user has: offsets found in a rewritten text, mapped back.

The engine applies fixes in passes; a finding of pass k (and every finding still there at the end)
has offsets in the text the earlier passes produced. Each pass's edits are known (the applied
findings' edits, ``Result.applied_pass``), so an offset is walked back through them pass by pass:
outside an edit it shifts by the edits before it; inside text an edit wrote it maps into what that
edit replaced (an insertion: to the point it was inserted at).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence

from .engine import Edit, Finding, Result


class _Pass:
    """One pass's edits (old-text offsets, sorted, non-overlapping), indexed by where each lands in the new
    text, so that mapping an offset back is a binary search (a 10,000-RUN file has thousands of edits and
    of findings)."""

    def __init__(self, edits: Sequence[Edit]):
        self.edits = list(edits)
        self.new_starts: list[int] = []
        self.deltas: list[int] = []  # the length change of the edits up to and including each
        delta = 0
        for e in self.edits:
            self.new_starts.append(e.start + delta)
            delta += len(e.text) - (e.end - e.start)
            self.deltas.append(delta)

    def back(self, pos: int) -> int:
        """``pos`` in the text after the edits -> offset in the text before them."""
        i = bisect.bisect_right(self.new_starts, pos) - 1
        if i < 0:
            return pos
        e = self.edits[i]
        inside = pos - self.new_starts[i]
        if inside < len(e.text):  # in text the edit wrote: into what it replaced (an insert: its point)
            return e.start + min(inside, max(e.end - e.start - 1, 0))
        return pos - self.deltas[i]


class OriginalPositions:
    """Maps offsets of any pass (or of the final text) to (line, column) in ``result.original``."""

    def __init__(self, result: Result):
        self.original = result.original
        passes: dict[int, list[Edit]] = {}
        for f, n in zip(result.applied, result.applied_pass):
            passes.setdefault(n, []).extend(e for e in f.fix.edits if e.path is None)
        self._passes = [
            _Pass(sorted(passes.get(n, []), key=lambda e: (e.start, e.end))) for n in range(max(passes, default=-1) + 1)
        ]
        self._pass_of = {id(f): n for f, n in zip(result.applied, result.applied_pass)}
        self._line_starts: list[int] | None = None

    def offset(self, pos: int, npass: int | None = None) -> int:
        """``pos`` in the text pass ``npass`` read (None: the final text) -> offset in the original."""
        for p in reversed(self._passes[: len(self._passes) if npass is None else npass]):
            pos = p.back(pos)
        return max(0, min(pos, len(self.original)))

    def _lc(self, off: int) -> tuple[int, int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.original)]
        line = bisect.bisect_right(self._line_starts, off)
        return line, off - self._line_starts[line - 1] + 1

    def line_col(self, pos: int, npass: int | None = None) -> tuple[int, int]:
        return self._lc(self.offset(pos, npass))

    def span(self, f: Finding, npass: int | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
        start = self.offset(f.start, npass)
        return self._lc(start), self._lc(max(start, self.offset(f.end, npass)))

    def applied_span(self, f: Finding) -> tuple[tuple[int, int], tuple[int, int]]:
        """An applied finding: its offsets are in the text of the pass that applied it."""
        return self.span(f, self._pass_of.get(id(f), 0))

    def remaining_span(self, f: Finding) -> tuple[tuple[int, int], tuple[int, int]]:
        """A finding still there after fixing: its offsets are in the final text."""
        return self.span(f, None)


def lines_label(lines: Iterable[int]) -> str:
    ls = sorted(set(lines))
    return f"line {ls[0]}" if len(ls) == 1 else "lines " + ", ".join(map(str, ls))
