"""Where a finding is in the file the user has: offsets found in a rewritten text, mapped back.

The engine applies fixes in passes; a finding of pass k (and every finding still there at the end)
has offsets in the text the earlier passes produced. Each pass's edits are known (the applied
findings' edits, ``Result.applied_pass``), so an offset is walked back through them pass by pass:
outside an edit it shifts by the edits before it; inside text an edit wrote it maps into what that
edit replaced (an insertion: to the point it was inserted at).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .engine import Edit, Finding, Result


def _back(edits: Sequence[Edit], pos: int) -> int:
    """``pos`` in the text after ``edits`` (old-text offsets, non-overlapping) -> offset in the old text."""
    delta = 0
    for e in edits:
        new_start = e.start + delta
        if pos < new_start:
            break
        if pos < new_start + len(e.text):
            return e.start + min(pos - new_start, max(e.end - e.start - 1, 0))
        delta += len(e.text) - (e.end - e.start)
    return pos - delta


class OriginalPositions:
    """Maps offsets of any pass (or of the final text) to (line, column) in ``result.original``."""

    def __init__(self, result: Result):
        self.original = result.original
        passes: dict[int, list[Edit]] = {}
        for f, n in zip(result.applied, result.applied_pass):
            passes.setdefault(n, []).extend(e for e in f.fix.edits if e.path is None)
        self._passes = [sorted(passes.get(n, []), key=lambda e: (e.start, e.end))
                        for n in range(max(passes, default=-1) + 1)]
        self._pass_of = {id(f): n for f, n in zip(result.applied, result.applied_pass)}

    def offset(self, pos: int, npass: int | None = None) -> int:
        """``pos`` in the text pass ``npass`` read (None: the final text) -> offset in the original."""
        for edits in reversed(self._passes[: len(self._passes) if npass is None else npass]):
            pos = _back(edits, pos)
        return max(0, min(pos, len(self.original)))

    def line_col(self, pos: int, npass: int | None = None) -> tuple[int, int]:
        off = self.offset(pos, npass)
        text = self.original
        return text.count("\n", 0, off) + 1, off - (text.rfind("\n", 0, off) + 1) + 1

    def span(self, f: Finding, npass: int | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
        start, end = self.offset(f.start, npass), self.offset(f.end, npass)
        end = max(start, end)
        text = self.original

        def lc(off: int) -> tuple[int, int]:
            return text.count("\n", 0, off) + 1, off - (text.rfind("\n", 0, off) + 1) + 1

        return lc(start), lc(end)

    def applied_span(self, f: Finding) -> tuple[tuple[int, int], tuple[int, int]]:
        """An applied finding: its offsets are in the text of the pass that applied it."""
        return self.span(f, self._pass_of.get(id(f), 0))

    def remaining_span(self, f: Finding) -> tuple[tuple[int, int], tuple[int, int]]:
        """A finding still there after fixing: its offsets are in the final text."""
        return self.span(f, None)


def lines_label(lines: Iterable[int]) -> str:
    ls = sorted(set(lines))
    return f"line {ls[0]}" if len(ls) == 1 else "lines " + ", ".join(map(str, ls))
