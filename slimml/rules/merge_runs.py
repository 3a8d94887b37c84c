"""Consecutive RUN instructions that could be one layer.

What it does
    Finds runs of consecutive shell-form RUN instructions in a stage (only comment and blank
    lines between them) and merges each run into one RUN: the first RUN is kept as written and
    every following RUN is joined with ``&&`` on its own continuation line, its text verbatim.
    Comments between the RUNs stay where they were (BuildKit skips comment lines inside a
    continuation); blank lines between them are dropped.

    The merge keeps what the build does. ``RUN A`` then ``RUN B`` runs B only when A succeeded
    and fails the build when either fails: ``A && B`` does the same when B is one ``&&`` chain,
    otherwise B becomes ``( B )``. Each RUN starts in a fresh shell, so a RUN that changes shell
    state (``cd``, ``export``, ``umask``, a bare ``X=1``, ...) and is followed by another one
    runs in a subshell ``( A )``, and so does a first RUN ending in ``;`` or ``&``. A RUN that
    turns on errexit (``set -e``, ``set -o errexit``, an ``ERR`` trap) can only be the *last*
    RUN of a merge: sh ignores ``-e`` inside any command that ``&&`` follows, even a subshell.

    Never merged: exec-form and heredoc RUNs, RUNs whose flags (``--mount``, ``--network``,
    ``--security``) differ, RUNs that download model weights (they must stay separable so the
    weights can be moved out of the image), RUNs with a ``# slimml: ignore`` comment, and
    ``ONBUILD RUN``. RUNs whose shell has a trailing ``#`` comment or does not parse, or that
    follow a ``SHELL`` instruction, are reported without a fix. Merging a RUN that leaves a
    background job or a started service running is offered as an unsafe fix only: the process
    would now live on while the following commands run.

Why
    Every RUN is a layer. Files a later RUN deletes stay in the earlier layer and in the image
    (the classic ``apt-get update`` / cleanup split), and each layer costs metadata, push and
    pull time.

Example
    RUN apt-get update \\
        && apt-get install -y curl
    # tools
    RUN pip install --no-cache-dir -r requirements.txt
    RUN cd /app && make

Use instead
    RUN apt-get update \\
        && apt-get install -y curl \\
    # tools
        && pip install --no-cache-dir -r requirements.txt \\
        && cd /app && make
"""

from __future__ import annotations

import re

from ..dockerfile import Document, Instruction
from ..dockerfile.model import Trivia
from ..dockerfile.shell import Script, run_scripts
from ..engine import Edit, Fix, suppressions
from ..knowledge.weights import looks_like_weight_download
from . import _helpers as H

CODE = "SLM003"
NAME = "merge-runs"
SUMMARY = "Consecutive RUN instructions that could be merged into one layer"
FIX = "safe+unsafe"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)

# Shell builtins whose effect outlives the command: the next RUN would not have seen it.
STATE_BUILTINS = frozenset({
    "cd", "pushd", "popd", "export", "unset", "source", ".", "set", "shopt", "umask", "ulimit", "alias",
    "unalias", "trap", "exec", "exit", "return", "read", "declare", "typeset", "local", "readonly",
    "eval", "hash", "shift", "getopts", "enable", "setopt",
})
# Prefixes that run a builtin (``command cd /x``, ``builtin export X``).
BUILTIN_RUNNERS = frozenset({"command", "builtin"})
# tree-sitter-bash statement nodes that change the shell itself (a `for` leaves its variable set).
STATE_NODES = frozenset({"declaration_command", "unset_command", "function_definition", "for_statement",
                         "c_style_for_statement"})
# Nodes that run their content in a child shell: state set inside them does not leak.
CHILD_SHELL_NODES = frozenset({"subshell", "command_substitution", "process_substitution", "pipeline"})
# Commands that start a daemon which outlives the command (argv prefixes, program basename first).
DAEMON_STARTS = (("service", None, "start"), ("service", None, "restart"), ("rc-service", None, "start"),
                 ("start-stop-daemon", "--start"), ("systemctl", "start"), ("dockerd",))
# `set -o <name>` options and trap conditions that make a failing command end the script.
ERREXIT_OPTIONS = frozenset({"errexit"})
ERR_TRAP_SIGNALS = frozenset({"ERR"})
_INIT_SCRIPT_RE = re.compile(r"^/etc/(rc\.d/)?init\.d/[^/]+$")
_SLIMML_COMMENT_RE = re.compile(r"#\s*slimml\s*:", re.IGNORECASE)


# -- per-RUN analysis ------------------------------------------------------------------------------
def _walk_own_shell(node):
    """Nodes executed by the script's own shell (child shells not entered)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n.type in CHILD_SHELL_NODES:
            continue
        stack.extend(reversed(n.children))


def changes_shell_state(script: Script) -> bool:
    """The script changes its shell's state (cwd, variables, options, traps, ...)."""
    for cmd in script.toplevel_commands():
        argv = cmd.argv
        if not argv:
            continue  # a bare `X=1` statement is a variable_assignment node, handled below
        name = argv[0]
        if name in BUILTIN_RUNNERS and len(argv) > 1:
            name = argv[1]
        if name in STATE_BUILTINS:
            return True
    for n in _walk_own_shell(script.tree.root_node):
        if n.type in STATE_NODES:
            return True
        if n.type in ("variable_assignment", "variable_assignments") and n.parent is not None and \
                n.parent.type not in ("command", "declaration_command", "variable_assignments"):
            return True
    return False


def _has_background(script: Script) -> bool:
    return any(not n.is_named for n in script.nodes("&"))


def _starts_daemon(script: Script) -> bool:
    for cmd in script.commands:
        argv = [H.basename(cmd.argv[0])] + cmd.argv[1:] if cmd.argv else []
        if not argv:
            continue
        if _INIT_SCRIPT_RE.match(cmd.argv[0]) and len(argv) > 1 and argv[1] in ("start", "restart"):
            return True
        for pat in DAEMON_STARTS:
            if len(argv) >= len(pat) and all(p is None or p == a for p, a in zip(pat, argv)):
                return True
    return False


def sets_errexit(script: Script) -> bool:
    """The script turns on ``set -e`` (or an ERR trap) anywhere in its own process.

    POSIX ignores ``-e`` in every command of an AND-OR list but the last (subshells included),
    so such a RUN keeps its meaning only as the *last* part of ``... && ...``.
    """
    for cmd in script.commands:
        argv = cmd.argv
        if argv[:1] in (["command"], ["builtin"]):
            argv = argv[1:]
        if not argv:
            continue
        if argv[0] == "set":
            for k, a in enumerate(argv[1:], 1):
                if a == "--":
                    break
                if a == "-o" and k + 1 < len(argv) and argv[k + 1] in ERREXIT_OPTIONS:
                    return True
                if a.startswith("-") and not a.startswith("--") and "e" in a[1:]:
                    return True
        elif argv[0] == "trap" and any(a in ERR_TRAP_SIGNALS for a in argv[2:]):
            return True
    return False


def _ends_with_terminator(script: Script) -> bool:
    """``a;`` / ``a &``: ``&&`` cannot follow without a subshell around the script."""
    kids = [c for c in script.tree.root_node.children if c.type != "comment"]
    return bool(kids) and not kids[-1].is_named and kids[-1].type in (";", "&")


def _odd_trailing_backslashes(s: str) -> bool:
    n = len(s) - len(s.rstrip("\\"))
    return n % 2 == 1


def _status(doc: Document, instr: Instruction, suppressed: dict) -> tuple[str, str]:
    """("ok" | "blocked" | "never", reason). Blocked RUNs could be merged by hand."""
    if instr.keyword != "RUN":
        return "never", "not a RUN"
    if instr.index in suppressed:
        return "never", "has a slimml suppression comment"
    if instr.is_exec_form:
        return "never", "exec form"
    if instr.heredocs:
        return "never", "heredoc"
    if not instr.args.strip():
        return "never", "no command"
    scripts = run_scripts(doc, instr)
    if any(c.cached("weights-download", lambda c=c: looks_like_weight_download(c.argv))
           for s in scripts for c in s.commands):
        return "never", "downloads model weights (kept in its own RUN so they can be moved out)"
    stage = doc.stage_of(instr)
    if stage and any(i.keyword == "SHELL" and i.index < instr.index for i in stage.instructions):
        return "blocked", "the stage sets SHELL, so the shell's `&&` and `( )` cannot be assumed"
    if len(scripts) != 1:
        return "blocked", "its command line is not one shell script"
    script = scripts[0]
    if script.has_error:
        return "blocked", "its shell does not parse"
    if script.has_comment():
        return "blocked", "it ends with a shell `#` comment that would swallow the following commands"
    if _odd_trailing_backslashes(instr.args):
        return "blocked", "it ends with a backslash"
    return "ok", ""


# -- building the fix ------------------------------------------------------------------------------
def _continuation_indent(doc: Document, first: Instruction) -> str:
    first_line_end = doc.text.find("\n", first.start)
    if first.multiline and first_line_end >= 0:
        for off in first.args_map:
            if off > first_line_end:
                indent = doc.line_indent(off)
                if indent:
                    return indent
                break
    return "    "


def _comment_lines_in(doc: Document, start: int, end: int) -> list[str]:
    """Whole comment lines (verbatim, no line break) that start inside ``[start, end)``."""
    out = []
    pos = doc.text.find("\n", start)
    while 0 <= pos < end:
        ls = pos + 1
        nl = doc.text.find("\n", ls)
        le = len(doc.text) if nl < 0 else nl
        line = doc.text[ls:le].rstrip("\r")
        if ls < end and line.lstrip(" \t").startswith("#"):
            out.append(line)
        pos = nl
    return out


def _merge_fix(doc: Document, group: list[Instruction], between: list[list[Trivia]]) -> Fix:
    scripts = [run_scripts(doc, i)[0] for i in group]
    n = len(group)
    wrap = []
    for k, (_ins, sc) in enumerate(zip(group, scripts)):
        w = k < n - 1 and changes_shell_state(sc)
        if k == 0:
            w = w or _ends_with_terminator(sc)
        else:
            w = w or bool(sc.toplevel_operators() & {";", "||", "&"})
        wrap.append(w)
    indent = _continuation_indent(doc, group[0])
    nl, esc = doc.newline, doc.escape
    edits: list[Edit] = []
    if wrap[0]:
        a0 = group[0].args_offset(0)
        edits.append(Edit(a0, a0, "( "))
    for k in range(1, n):
        prev, cur = group[k - 1], group[k]
        prev_args_end = prev.args_offset(len(prev.args))
        text = ""
        if wrap[k - 1]:
            if prev_args_end == prev.end:
                text += " )"
            else:
                edits.append(Edit(prev_args_end, prev_args_end, " )"))
        cur_args = cur.args_offset(0)
        comments = [doc.text[t.line_start:t.content_end] for t in between[k - 1] if t.kind == "comment"]
        comments += _comment_lines_in(doc, cur.start, cur_args)
        text += f" {esc}{nl}" + "".join(c + nl for c in comments) + indent + "&& " + ("( " if wrap[k] else "")
        edits.append(Edit(prev.end, cur_args, text))
    if wrap[-1]:
        last = group[-1]
        e = last.args_offset(len(last.args))
        edits.append(Edit(e, e, " )"))
    description = f"merge {n} RUN instructions into one"
    lingering = [k for k in range(n - 1) if _has_background(scripts[k]) or _starts_daemon(scripts[k])]
    if lingering:
        lines = ", ".join(str(group[k].start_line) for k in lingering)
        return Fix.unsafe(*edits, description=description,
                          reason=f"the RUN on line {lines} leaves a background process or service running; "
                                 "once merged it keeps running while the following commands run "
                                 "(separate RUNs stop it at the end of its RUN)")
    return Fix.safe(*edits, description=description)


# -- the rule --------------------------------------------------------------------------------------
def _report(doc: Document, members: list[tuple[Instruction, str, str]], between: list[list[Trivia]]):
    """Findings for one maximal sequence of adjacent, compatible RUNs."""
    if len(members) < 2:
        return
    # Fixable groups: sub-runs of "ok" members, each ending at the latest at a RUN that sets
    # errexit (`( set -e; a ) && b` ignores the -e: such a RUN can only come last).
    groups: list[tuple[int, int]] = []
    cur: int | None = None
    errexit_splits: list[Instruction] = []
    for k, (ins, status, _) in enumerate(members):
        if status != "ok":
            if cur is not None:
                groups.append((cur, k - 1))
            cur = None
            continue
        if cur is None:
            cur = k
        if sets_errexit(run_scripts(doc, ins)[0]):
            groups.append((cur, k))
            cur = None
            if k + 1 < len(members):
                errexit_splits.append(ins)
    if cur is not None:
        groups.append((cur, len(members) - 1))
    for start, end in groups:
        if end > start:
            group = [m[0] for m in members[start:end + 1]]
            fix = _merge_fix(doc, group, between[start:end])
            yield H.finding(_RULE, f"{len(group)} consecutive RUN instructions make {len(group)} layers; "
                                   "merge them into one RUN", group[0].start, group[-1].end, fix)
    reasons = [f"line {i.start_line}: {r}" for i, st, r in members if st == "blocked"]
    reasons += [f"line {i.start_line}: it sets errexit (`set -e`), which `&&` after it would switch off"
                for i in errexit_splits]
    if reasons:
        yield H.finding(_RULE, f"{len(members)} consecutive RUN instructions could be one layer",
                        members[0][0].start, members[-1][0].end,
                        note=f"not merged automatically ({'; '.join(reasons)}); merge them by hand")


def check(doc: Document, ctx):
    _, suppressed = suppressions(doc)
    members: list[tuple[Instruction, str, str]] = []
    between: list[list[Trivia]] = []  # trivia between members[k] and members[k + 1]
    pending: list[Trivia] = []
    for item in doc.items:
        if isinstance(item, Trivia):
            pending.append(item)
            continue
        status, reason = _status(doc, item, suppressed)
        if status == "never":
            yield from _report(doc, members, between)
            members, between, pending = [], [], []
            continue
        compatible = bool(members) and members[-1][0].stage == item.stage and \
            tuple(f.raw for f in members[-1][0].flags) == tuple(f.raw for f in item.flags) and \
            not any(t.kind == "comment" and _SLIMML_COMMENT_RE.search(t.content(doc.text)) for t in pending)
        if compatible:
            between.append(pending)
        else:
            yield from _report(doc, members, between)
            members, between = [], []
        members.append((item, status, reason))
        pending = []
    yield from _report(doc, members, between)
