"""Taking bakes out of the Dockerfile: whole instructions (with the comments above them), source
words of a COPY/ADD, or commands of a RUN (``a && download && b`` becomes ``a && b``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, Script
from ..engine import Edit
from ..rules import _helpers as H
from .bake import Bake, copy_words, nkey

_TRIVIAL = frozenset({"true", ":", "echo", "printf", "set"})


# -- removal edits --------------------------------------------------------------------------------------------
def removal_edits(doc: Document, bakes: list[Bake]) -> list[Edit] | str:
    """Edits taking every bake of ``bakes`` out of the Dockerfile, or why that cannot be done."""
    edits: list[Edit] = []
    by_instr: dict[int, list[Bake]] = {}
    for b in bakes:
        by_instr.setdefault(b.instr.index, []).append(b)
        if b.drop is not None:
            edits.append(Edit(b.drop[0], b.drop[1], ""))
        elif b.inner_remove:
            for x in b.inner:
                by_instr.setdefault(x.instr.index, []).append(x)
    for idx, group in by_instr.items():
        ins = doc.instructions[idx]
        if any(b.kind == "whole" for b in group):
            continue  # the COPY stays; the weights go through .dockerignore
        if any(b.remove_instr for b in group):
            edits.append(Edit(_with_comments(doc, ins), ins.line_end, ""))
            continue
        if ins.keyword in ("COPY", "ADD"):
            e = _remove_copy_words(doc, ins, sorted({i for b in group for i in b.remove_words}))
            if isinstance(e, str):
                return e
            edits.extend(e)
            continue
        cmds = [c for b in group for c in b.remove_cmds]
        e = _remove_commands(doc, ins, cmds)
        if isinstance(e, str):
            return e
        edits.extend(e)
    return edits


def _with_comments(doc: Document, ins: Instruction) -> int:
    """Start of ``ins`` including the comment lines right above it (they describe the step that
    goes), except directives for tools (``# slimml:``, ``# hadolint``, ``# syntax=``)."""
    start = ins.line_start
    for t in reversed(doc.preceding_trivia(ins)):
        c = t.content(doc.text).lstrip("#").strip().lower()
        if c.startswith(("slimml:", "hadolint", "syntax=", "escape=", "check=")):
            break
        start = t.line_start
    return start


def _remove_copy_words(doc: Document, ins: Instruction, idxs: list[int]) -> list[Edit] | str:
    words = copy_words(ins)
    if ins.json is not None:
        import json

        kept = [w for k, (w, _, _) in enumerate(words) if k not in idxs]
        s, e = ins.args_span(0, len(ins.args.rstrip()))
        return [Edit(s, e, json.dumps(kept, ensure_ascii=False))]
    out = []
    for k in idxs:
        _, ws, we = words[k]
        ne = words[k + 1][1]
        s, _ = ins.args_span(ws, we)
        e = ins.args_offset(ne)
        out.append(Edit(s, e, ""))
    return out


@dataclass
class _Elem:
    node: object
    start: int  # file offsets
    end: int


def _flatten(script: Script, node) -> tuple[list[_Elem], list[str]]:
    if node.type == "list":
        kids = node.children
        left, op, right = kids[0], kids[1], kids[-1]
        e1, o1 = _flatten(script, left)
        e2, o2 = _flatten(script, right)
        return e1 + e2, o1 + [op.type] + o2
    if node.type == "redirected_statement" and node.children and node.children[0].type == "list":
        # tree-sitter-bash reads `a && b > f` as `(a && b) > f`; the redirect belongs to b.
        e, o = _flatten(script, node.children[0])
        e[-1] = _Elem(e[-1].node, e[-1].start, script.file_span(node)[1])
        return e, o
    s, e = script.file_span(node)
    return [_Elem(node, s, e)], []


def _elem_holds(elem: _Elem, cmd_node) -> bool:
    n = elem.node
    if nkey(n) == nkey(cmd_node):
        return True
    return n.type == "redirected_statement" and bool(n.children) and nkey(n.children[0]) == nkey(cmd_node)


def _remove_commands(doc: Document, ins: Instruction, cmds: list[Command]) -> list[Edit] | str:
    scripts = {id(c.script): c.script for c in cmds}
    if len(scripts) != 1:
        return "downloads in several shell programs of one RUN"
    script = next(iter(scripts.values()))
    if ins.heredocs and script.heredoc is None:
        stmts = script.statements()
        if len(stmts) == 1 and all(_elem_holds(_Elem(stmts[0], 0, 0), c.node) for c in cmds):
            return [Edit(_with_comments(doc, ins), ins.line_end, "")]
        return "the RUN mixes heredocs and commands"
    targets = {nkey(c.node) for c in cmds}
    stmts = script.statements()
    plan = []  # per statement: (elements, ops, removed flags)
    found = set()
    for st in stmts:
        elems, ops = _flatten(script, st)
        flags = []
        for el in elems:
            hit = next((c for c in cmds if _elem_holds(el, c.node)), None)
            if hit is not None:
                found.add(nkey(hit.node))
            flags.append(hit is not None)
        plan.append((st, elems, ops, flags))
    if found != targets:
        return "a download sits inside a pipeline, subshell, condition or loop"
    stmt_removed = []
    edits: list[Edit] = []
    for _st, elems, ops, flags in plan:
        if not any(flags):
            stmt_removed.append(False)
            continue
        names = [_elem_name(script, el) for el in elems]
        if all(f or n in _TRIVIAL for f, n in zip(flags, names)):
            stmt_removed.append(True)
            continue
        if any(op != "&&" for op in ops):
            return "the download is joined to other commands with `||`, `|` or `&`"
        stmt_removed.append(False)
        edits.extend(_run_deletions([(el.start, el.end) for el in elems], flags))
    if all(stmt_removed) or all(r or _stmt_trivial(script, st) for r, (st, *_rest) in zip(stmt_removed, plan)):
        return [Edit(_with_comments(doc, ins), ins.line_end, "")]
    spans = [script.file_span(st) for st in stmts]
    edits.extend(_run_deletions(spans, stmt_removed))
    return edits


def _elem_name(script: Script, el: _Elem) -> str:
    n = el.node
    if n.type == "redirected_statement" and n.children:
        n = n.children[0]
    if n.type != "command":
        return ""
    for ch in n.children:
        if ch.type == "command_name":
            return H.basename(script.node_text(ch).strip("'\""))
    return ""


def _stmt_trivial(script: Script, st) -> bool:
    elems, _ = _flatten(script, st)
    return all(_elem_name(script, el) in _TRIVIAL for el in elems)


def _run_deletions(spans: list[tuple[int, int]], removed: list[bool]) -> list[Edit]:
    """Delete the removed items of a sequence, keeping the separators of the kept ones."""
    edits = []
    n = len(spans)
    i = 0
    while i < n:
        if not removed[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and removed[j + 1]:
            j += 1
        if i == 0:
            end = spans[j + 1][0] if j + 1 < n else spans[j][1]
            edits.append(Edit(spans[0][0], end, ""))
        else:
            edits.append(Edit(spans[i - 1][1], spans[j][1], ""))
        i = j + 1
    return edits


def stage_span(doc: Document, idx: int) -> tuple[int, int]:
    """File span of stage ``idx``: its FROM (with the comments above it) up to the next stage's."""
    st = doc.stages[idx]
    start = _with_comments(doc, st.from_instruction)
    nxt = doc.stages[idx + 1].from_instruction if idx + 1 < len(doc.stages) else None
    return start, (_with_comments(doc, nxt) if nxt is not None else len(doc.text))
