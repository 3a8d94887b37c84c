"""Who downloads, reads and removes the apt package lists (/var/lib/apt/lists), per instruction.

Removing the lists at the end of a RUN is safe only when nothing after it in the image's build --
later RUNs of the stage and of stages built FROM it, ONBUILD triggers, and the container's own
command -- reads them without downloading them again. A later step that reads them may do so
directly (``apt-get install``/``upgrade``, ``apt-cache``), through a script it runs (read through
when the build context has it), or through code slimml cannot see (a script piped from the
network, a file a RUN wrote): that last case is *unknown*, and a fix must not rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dockerfile import Document, Instruction, shell_words
from ..dockerfile.shell import parse_script_text, run_scripts, unwrap
from ..knowledge import programs as PK
from ..knowledge import system_packages as K
from . import build as B
from .programs import Resolved, resolve

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


class _Walk:
    def __init__(self, doc: Document, ctx, instr: Instruction):
        self.doc, self.ctx, self.instr = doc, ctx, instr
        self.reads = ""
        self.unknown = ""
        self.updated = False
        self.direct = False

    def done(self) -> bool:
        return bool(self.reads or self.unknown or self.updated)

    def argv(self, argv: list[str], piped: bool, depth: int, via: str) -> None:
        if self.done() or not argv:
            return
        argv = argv[unwrap(argv):]
        if not argv:
            return
        apt = _apt_sub(argv)
        if apt is not None:
            tool, sub = apt
            if sub == K.APT_UPDATE:
                self.updated = True
            elif sub == "read" or sub in K.APT_NEEDS_LISTS or sub in K.APT_OTHER_READERS:
                # (a simulated install, `-s`, still resolves packages from the lists)
                self.reads = f"{via}`{tool}{' ' + sub if sub and sub != 'read' else ''}`"
                self.direct = depth == 0 and sub in K.APT_NEEDS_LISTS
            return
        r = resolve(self.doc, self.ctx, self.instr, argv, piped)
        if r is not None:
            self.resolved(r, depth, via)

    def resolved(self, r: Resolved, depth: int, via: str) -> None:
        label = f"{via}{r.label} runs "
        if r.kind == "opaque":
            self.unknown = f"{via}{r.label}: {r.why}"
            return
        if r.kind == "shell" and r.text is not None:
            if depth >= MAX_DEPTH:
                self.unknown = f"{via}{r.label}: scripts nested too deep to follow"
                return
            script = parse_script_text(self.instr, r.text)
            if script.has_error:
                self.unknown = f"{via}{r.label}: its shell does not parse"
                return
            self.script(script, depth + 1, label)
            return
        text = r.text or ""
        m = PK.APT_TEXT_READ_RE.search(text)
        if m is None:
            return
        u = PK.APT_TEXT_UPDATE_RE.search(text)
        if u is not None and u.start() < m.start():
            self.updated = True
        else:
            self.reads = f"{label}`{m.group(0).strip()}`"

    def script(self, script, depth: int, via: str) -> None:
        for cmd in script.commands:
            if self.done():
                return
            piped = cmd.node.parent is not None and cmd.node.parent.type == "pipeline" and \
                cmd.node.parent.named_children and cmd.node.parent.named_children[0] != cmd.node
            self.argv(cmd.argv, piped, depth, via)

    def run(self) -> ListUse:
        ins = self.instr
        if ins.keyword == "RUN":
            scripts = run_scripts(self.doc, ins)
            if scripts:
                bodies = any(s.heredoc is not None for s in scripts)
                for s in scripts:
                    if s.has_error and bodies and s.heredoc is None:
                        continue  # `bash <<EOF` alone: the body is the next script
                    if s.has_error:
                        self.unknown = f"line {ins.start_line}: its shell does not parse"
                        break
                    self.script(s, 0, "")
            elif ins.is_exec_form:
                self.argv(list(ins.json or ()), False, 0, "")
            else:
                self.unknown = f"line {ins.start_line} runs through a SHELL slimml cannot read"
        elif ins.keyword in ("CMD", "ENTRYPOINT"):
            if ins.is_exec_form:
                self.argv(list(ins.json or ()), False, 0, "")
            elif ins.args.strip():
                s = parse_script_text(ins, ins.args)
                if not s.has_error:
                    self.script(s, 0, "")
        return self.result()

    def result(self) -> ListUse:
        return ListUse(self.reads, self.unknown, self.updated and not self.reads, self.direct)


def list_use(doc: Document, ctx, instr: Instruction) -> ListUse:
    """How ``instr`` (a RUN, CMD or ENTRYPOINT; an ONBUILD's inner RUN) uses earlier apt lists."""
    memo = instr.__dict__.setdefault("_apt_list_use", {})
    key = id(ctx)
    if key not in memo:
        target = instr.inner if instr.keyword == "ONBUILD" and instr.inner is not None else instr
        if target is not instr and target.keyword == "RUN":
            words = [w for w, _, _ in shell_words(target.args, raw=False)]
            w = _Walk(doc, ctx, instr)
            if target.json is not None:
                w.argv(list(target.json), False, 0, "")
            else:
                s = parse_script_text(instr, target.args)
                if not s.has_error:
                    w.script(s, 0, "")
                elif words:
                    w.unknown = f"line {instr.start_line}: an ONBUILD RUN slimml cannot parse"
            memo[key] = w.result()
        else:
            memo[key] = _Walk(doc, ctx, target).run()
    return memo[key]


def later_users(doc: Document, instr: Instruction) -> list[Instruction]:
    """Steps that run after ``instr`` with its layer underneath: later RUNs of its stage and of the
    stages built FROM it, and -- for the image's own stages -- ONBUILD triggers and the command the
    container runs (CMD / ENTRYPOINT)."""
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    family = [stage] + B.descendants(doc, stage)
    out: list[Instruction] = []
    image = B.image_stages(doc)
    for st in family:
        for i in st.instructions:
            if st is stage and i.index <= instr.index:
                continue
            if i.keyword == "RUN" or (i.keyword == "ONBUILD" and i.inner is not None):
                out.append(i)
            elif i.keyword in ("CMD", "ENTRYPOINT") and st.index == doc.final_stage.index and st.index in image:
                out.append(i)
    return out
