"""Offsets into the text <-> LSP positions.

LSP lines end at ``\\r\\n``, ``\\n`` or a lone ``\\r``; characters are counted in the negotiated position encoding
(UTF-16 code units unless the client offered another): an emoji is one Python character but two UTF-16 units.
"""

from __future__ import annotations

import bisect
import re

from lsprotocol import types

_EOL = re.compile(r"\r\n|\r|\n")


def _units(s: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(s.encode("utf-8", "surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(s)
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)  # UTF-16: astral characters take two units


class LineIndex:
    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16):
        self.text = text
        self.encoding = encoding
        self.starts = [0]
        self.content_ends = []  # end of each line's content (before its line break)
        for m in _EOL.finditer(text):
            self.content_ends.append(m.start())
            self.starts.append(m.end())
        self.content_ends.append(len(text))

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        # An offset inside a line break (between \r and \n) is the end of the line's content.
        return types.Position(line, _units(self.text[start : min(offset, self.content_ends[line])], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))

    def offset(self, pos: types.Position) -> int:
        if pos.line >= len(self.starts):
            return len(self.text)
        start, end = self.starts[pos.line], self.content_ends[pos.line]
        if self.encoding == types.PositionEncodingKind.Utf32:
            return min(start + pos.character, end)
        units = 0
        for i in range(start, end):
            if units >= pos.character:
                return i
            units += _units(self.text[i], self.encoding)
        return end

    def end(self) -> types.Position:
        return self.position(len(self.text))
