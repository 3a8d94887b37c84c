"""Who downloads, reads and removes the apt package lists (/var/lib/apt/lists), per instruction.

Removing the lists at the end of a RUN is safe only when nothing after it in the image's build --
later RUNs of the stage and of stages built FROM it, ONBUILD triggers, and the container's own
command -- reads them without downloading them again. A later step that reads them may do so
directly (``apt-get install``/``upgrade``, ``apt-cache``), through a script it runs (read through
when the build context has it), or through code slimml cannot see (a script piped from the
network, a file a RUN wrote): that last case is *unknown*, and a fix must not rely on it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..dockerfile import Document, Instruction
from ..knowledge import programs as PK
from ..knowledge import system_packages as K
from . import build as B
from .programs import Resolved, Visitor, walk

MAX_DEPTH = 4


@dataclass(frozen=True)
class ListUse:
    """How one instruction uses the apt lists that earlier layers left."""

    reads: str = ""  # what reads them before any update of its own ("" when nothing does)
    unknown: str = ""  # what may read them and cannot be read through
    updates: bool = False  # it downloads the lists itself (before reading them)
    direct: bool = False  # the reader is an install-like apt call in the RUN's own script

    @property
    def needs_earlier(self) -> str:
        """Why this step would break (or silently do less) without the lists, "" when it would not."""
        return self.reads or self.unknown


def _apt_sub(argv: list[str]) -> tuple[str, str | None] | None:
    """(tool, subcommand) of an apt-family call, else None."""
    prog = argv[0].rsplit("/", 1)[-1] if argv else ""
    if prog == K.APT_CACHE_TOOL or prog in PK.APT_LIST_READERS:
        return prog, "read"
    if prog in PK.APT_LIST_WRITERS:
        return prog, K.APT_UPDATE
    if prog not in K.APT_TOOLS:
        return None
    i = 1
    while i < len(argv):
        v = argv[i]
        if v in K.APT_OPTS_WITH_VALUE:
            i += 2
            continue
        if not v.startswith("-"):
            return prog, v
        i += 1
    return prog, None


class _Walk(Visitor):
    def __init__(self):
        self.reads = ""
        self.unknown = ""
        self.updated = False
        self.direct = False

    def command(self, argv: list[str], via: str, depth: int) -> bool:
        apt = _apt_sub(argv)
        if apt is None:
            return False
        tool, sub = apt
        if sub == K.APT_UPDATE:
            self.updated = True
            return True
        if sub == "read" or sub in K.APT_NEEDS_LISTS or sub in K.APT_OTHER_READERS:
            # (a simulated install, `-s`, still resolves packages from the lists)
            self.reads = f"{via}`{tool}{' ' + sub if sub and sub != 'read' else ''}`"
            self.direct = depth == 0 and sub in K.APT_NEEDS_LISTS
            return True
        return False

    def code(self, r: Resolved, via: str) -> bool:
        text = r.text or ""
        m = PK.APT_TEXT_READ_RE.search(text)
        if m is None:
            return False
        u = PK.APT_TEXT_UPDATE_RE.search(text)
        if u is not None and u.start() < m.start():
            self.updated = True
        else:
            self.reads = f"{via}{r.label} runs `{m.group(0).strip()}`"
        return True

    def opaque(self, r: Resolved, via: str) -> bool:
        self.unknown = f"{via}{r.label}: {r.why}"
        return True

    def result(self) -> ListUse:
        return ListUse(self.reads, self.unknown, self.updated and not self.reads, self.direct)


def list_use(doc: Document, ctx, instr: Instruction) -> ListUse:
    """How ``instr`` (a RUN, CMD or ENTRYPOINT; an ONBUILD's inner RUN) uses earlier apt lists."""
    memo = instr.__dict__.setdefault("_apt_list_use", {})
    key = id(ctx)
    if key not in memo:
        w = _Walk()
        walk(doc, ctx, instr, w, MAX_DEPTH)
        memo[key] = w.result()
    return memo[key]


def later_users(doc: Document, instr: Instruction) -> list[Instruction]:
    """Steps that run after ``instr`` with its layer underneath: later RUNs of its stage and of the
    stages built FROM it, and -- for the image's own stages -- ONBUILD triggers and the command the
    container runs (CMD / ENTRYPOINT)."""
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    users, indexes = stage_users(doc, stage)
    out = users[bisect.bisect_right(indexes, instr.index) :]
    for st in B.descendants(doc, stage):
        out += stage_users(doc, st)[0]
    return out


def stage_users(doc: Document, st) -> tuple[list[Instruction], list[int]]:
    """The steps of ``st`` that ``later_users`` reports, and their indexes: once per document and stage
    (asked for every RUN, a scan per call made long files quadratic)."""
    memo = doc.__dict__.setdefault("_apt_stage_users", {})
    found = memo.get(st.index)
    if found is None:
        image = B.image_stages(doc)
        users = []
        for i in st.instructions:
            if i.keyword == "RUN" or (i.keyword == "ONBUILD" and i.inner is not None):
                users.append(i)
            elif i.keyword in ("CMD", "ENTRYPOINT") and st.index == doc.final_stage.index and st.index in image:
                users.append(i)
        found = memo[st.index] = (users, [i.index for i in users])
    return found
