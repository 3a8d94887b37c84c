"""The lossless Dockerfile model.

Every node keeps offsets into ``Document.text`` (the decoded file, BOM removed), so
the untouched parts of a file are never re-rendered: fixes are edits on that text.
Offsets are character offsets into the decoded text; ``Document.line_col`` maps
them to 1-based line/column for reports.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


class DockerfileError(ValueError):
    """The text is not a Dockerfile BuildKit would accept."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Flag:
    """A builder flag such as ``--mount=type=cache,target=/root/.cache/pip``."""

    name: str  # without the leading dashes, lowercased
    value: str | None
    raw: str  # the flag as written (quotes removed the way BuildKit removes them)
    start: int
    end: int


@dataclass(frozen=True)
class Heredoc:
    name: str
    chomp: bool  # ``<<-`` strips leading tabs from the body and terminator
    expand: bool  # unquoted name: variables in the body are expanded
    body_start: int  # first char of the body (the line after the instruction line)
    body_end: int  # first char of the terminator line
    end: int  # end of the terminator line content (before its newline)

    def body(self, text: str) -> str:
        return text[self.body_start : self.body_end]


@dataclass
class Trivia:
    """Comment, blank line or parser directive between instructions."""

    kind: str  # "comment" | "blank" | "directive"
    line_start: int
    line_end: int  # after the newline
    content_start: int
    content_end: int
    lineno: int

    def content(self, text: str) -> str:
        return text[self.content_start : self.content_end]


@dataclass
class Instruction:
    index: int
    keyword: str  # upper-case
    keyword_raw: str
    start: int  # first char of the keyword
    end: int  # end of the last line's content (heredoc terminator included)
    line_start: int  # start of the first physical line (leading whitespace included)
    line_end: int  # after the newline of the last physical line
    start_line: int  # 1-based, as BuildKit numbers them
    end_line: int
    flags: tuple[Flag, ...]
    args: str  # logical argument text after the flags (continuations joined)
    args_map: tuple[int, ...]  # file offset of each char of ``args``
    heredocs: tuple[Heredoc, ...] = ()
    json: tuple[str, ...] | None = None  # exec (JSON) form, when the args parse as a string array
    stage: int = -1  # index of the stage; -1 for global ARGs before the first FROM
    multiline: bool = False  # spans several physical lines (continuations or heredocs)
    inner: Instruction | None = None  # the wrapped instruction of ONBUILD

    # -- convenience -------------------------------------------------------------------------
    @property
    def is_exec_form(self) -> bool:
        return self.json is not None

    def flag(self, name: str) -> Flag | None:
        for f in self.flags:
            if f.name == name:
                return f
        return None

    def flags_of(self, name: str) -> list[Flag]:
        return [f for f in self.flags if f.name == name]

    def args_offset(self, i: int) -> int:
        """File offset of logical char ``i`` of ``args`` (``len(args)`` maps past the end)."""
        if not self.args_map:
            return self.end
        if i >= len(self.args_map):
            return self.args_map[-1] + 1
        return self.args_map[i]

    def args_span(self, i: int, j: int) -> tuple[int, int]:
        """File span of logical chars ``[i, j)`` of ``args``."""
        if j <= i:
            off = self.args_offset(i)
            return off, off
        return self.args_map[i], self.args_map[j - 1] + 1

    def text(self, doc_text: str) -> str:
        return doc_text[self.start : self.end]

    def words(self) -> list[str]:
        """Whitespace-separated words of the logical args (shell-form instructions)."""
        return self.args.split()


@dataclass
class Stage:
    index: int
    from_instruction: Instruction
    image: str  # as written, e.g. ``python:3.11-slim`` or ``${BASE}``
    name: str | None  # ``AS name`` (lowercased, as BuildKit compares it)
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def image_span(self) -> tuple[int, int]:
        fi = self.from_instruction
        i = fi.args.find(self.image)
        return fi.args_span(i, i + len(self.image))


@dataclass
class Document:
    text: str
    items: list[Instruction | Trivia]
    instructions: list[Instruction]
    stages: list[Stage]
    directives: dict[str, str]
    escape: str = "\\"
    newline: str = "\n"
    bom: bool = False
    _line_starts: list[int] = field(default_factory=list, repr=False)

    @property
    def global_args(self) -> list[Instruction]:
        return [i for i in self.instructions if i.stage == -1]

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def stage_of(self, instr: Instruction) -> Stage | None:
        return self.stages[instr.stage] if instr.stage >= 0 else None

    def line_col(self, offset: int) -> tuple[int, int]:
        if not self._line_starts:
            starts = [0]
            for i, ch in enumerate(self.text):
                if ch == "\n":
                    starts.append(i + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def instruction_at(self, offset: int) -> Instruction | None:
        for ins in self.instructions:
            if ins.line_start <= offset < max(ins.line_end, ins.line_start + 1):
                return ins
        return None

    def preceding_trivia(self, instr: Instruction) -> list[Trivia]:
        """The comment lines directly above ``instr`` (no blank line in between)."""
        pos = self.items.index(instr)
        out: list[Trivia] = []
        for item in reversed(self.items[:pos]):
            if isinstance(item, Trivia) and item.kind == "comment":
                out.append(item)
            else:
                break
        return list(reversed(out))

    def line_indent(self, offset: int) -> str:
        """Leading whitespace of the physical line holding ``offset``."""
        ls = self.text.rfind("\n", 0, offset) + 1
        j = ls
        while j < len(self.text) and self.text[j] in " \t":
            j += 1
        return self.text[ls:j]
