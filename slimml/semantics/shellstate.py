"""The shell state a RUN's script leaves behind or depends on, and how its meaning survives ``&&``.

Each RUN starts in a fresh shell. Joined into one RUN, a script that changes its shell (``cd``,
``export``, a bare ``X=1``, ``${X:=1}``, ``$((i=1))``, ``umask``, a trap, a function) would leak
that change into the scripts after it; a script that reads what earlier commands left (``$_``,
``$SECONDS``, ``$OLDPWD``) would read something else. And POSIX shells ignore ``-e`` in every
command of an AND-OR list but the last, subshells included, so under errexit only a *flat* script
-- one AND-OR list of simple commands and pipelines, whose outcome is the same with or without
``-e`` -- keeps its meaning when ``&&`` follows it.

Facts depend on the source text only and are memoised on the parsed source (shared by passes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..dockerfile.shell import Script
from ..knowledge import shell as K

_INIT_SCRIPT_RE = re.compile(r"^/etc/(rc\.d/)?init\.d/[^/]+$")
_FLAT_LEAVES = frozenset({"command", "test_command", "variable_assignment"})


@dataclass(frozen=True)
class ScriptFacts:
    leaves_state: tuple[str, ...]  # what it changes in its own shell (for messages), empty: nothing
    reads_history: tuple[str, ...]  # shell variables whose value depends on earlier commands
    sets_errexit: bool  # turns on `set -e` / an ERR trap in its own process
    background: bool  # starts a background job (`&`)
    daemon: bool  # starts a service that outlives the command
    ends_with_terminator: bool  # ``a;`` / ``a &``: ``&&`` cannot follow without a subshell
    flat: bool  # one AND-OR list of simple commands / pipelines: same outcome with or without -e
    toplevel_ops: frozenset[str]


def facts(script: Script) -> ScriptFacts:
    memo = script._index().memo
    f = memo.get("shellstate")
    if f is None:
        f = memo["shellstate"] = _facts(script)
    return f


def _walk_own_shell(node):
    """Nodes executed by the script's own shell (child shells not entered)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n.type in K.CHILD_SHELL_NODES:
            continue
        stack.extend(reversed(n.children))


def _argv_of_builtin(argv: list[str]) -> list[str]:
    if argv and argv[0] in K.BUILTIN_RUNNERS and len(argv) > 1:
        return argv[1:]
    return argv


def _facts(script: Script) -> ScriptFacts:
    leaves: list[str] = []
    for cmd in script.toplevel_commands():
        argv = _argv_of_builtin(cmd.argv)
        if not argv:
            continue
        name = argv[0]
        if name in K.STATE_BUILTINS:
            leaves.append(f"`{name}`")
        elif name in K.ASSIGNING_OPTIONS and any(a in K.ASSIGNING_OPTIONS[name] for a in argv[1:]):
            leaves.append(f"`{name} -v`")
    for n in script._index().own_shell_nodes():  # _walk_own_shell(root), from the shared walk
        t = n.type
        if t in K.STATE_NODES:
            leaves.append(f"a {t.replace('_', ' ')}")
        elif (
            t in ("variable_assignment", "variable_assignments")
            and n.parent is not None
            and n.parent.type not in ("command", "declaration_command", "variable_assignments")
        ):
            leaves.append(f"`{script.node_text(n).split('=', 1)[0]}=`")
        elif t == "expansion":
            if any(not c.is_named and c.type in K.ASSIGNING_EXPANSION_OPS for c in n.children):
                leaves.append(f"`{script.node_text(n)}`")
        elif t in ("binary_expression", "postfix_expression", "unary_expression") and _in_arithmetic(n):
            if any(not c.is_named and c.type in K.ARITH_ASSIGN_OPS for c in n.children):
                leaves.append(f"`{script.node_text(n)}`")
    history = sorted(
        {_var_name(script, n) for n in script.nodes("simple_expansion", "expansion")} & K.SHELL_HISTORY_VARS
    )
    return ScriptFacts(
        leaves_state=tuple(dict.fromkeys(leaves)),
        reads_history=tuple(history),
        sets_errexit=_sets_errexit(script),
        background=any(not n.is_named for n in script.nodes("&")),
        daemon=_starts_daemon(script),
        ends_with_terminator=_ends_with_terminator(script),
        flat=_flat(script),
        toplevel_ops=frozenset(script.toplevel_operators()),
    )


def _in_arithmetic(n) -> bool:
    p = n.parent
    while p is not None:
        if p.type == "arithmetic_expansion" or (
            p.type == "compound_statement" and p.children and p.children[0].type == "(("
        ):
            return True
        if p.type in ("command", "program", "list"):
            return False
        p = p.parent
    return False


def _var_name(script: Script, n) -> str:
    for c in n.children:
        if c.type in ("variable_name", "special_variable_name"):
            return script.node_text(c)
    return ""


def _set_errexit(argv: list[str]) -> bool:
    """``set -e`` / ``set -eux`` / ``set -o errexit`` (options end at ``--``)."""
    if not argv or argv[0] != "set":
        return False
    for k, a in enumerate(argv[1:], 1):
        if a == "--":
            break
        if a == "-o" and k + 1 < len(argv) and argv[k + 1] in K.ERREXIT_OPTIONS:
            return True
        if a.startswith("-") and not a.startswith("--") and "e" in a[1:]:
            return True
    return False


def _sets_errexit(script: Script) -> bool:
    for cmd in script.commands:
        argv = _argv_of_builtin(cmd.argv)
        if _set_errexit(argv):
            return True
        if argv and argv[0] == "trap" and any(a in K.ERR_TRAP_SIGNALS for a in argv[2:]):
            return True
    return False


# K.DAEMON_STARTS by program (the first element of each is a program name, never None).
_DAEMON_STARTS_BY_PROG: dict[str, list[tuple]] = {}
for _pat in K.DAEMON_STARTS:
    _DAEMON_STARTS_BY_PROG.setdefault(_pat[0], []).append(_pat)


def _starts_daemon(script: Script) -> bool:
    for cmd in script.commands:
        values = cmd.argv
        if not values:
            continue
        if _INIT_SCRIPT_RE.match(values[0]) and len(values) > 1 and values[1] in ("start", "restart"):
            return True
        pats = _DAEMON_STARTS_BY_PROG.get(values[0].rsplit("/", 1)[-1])
        if pats:
            argv = [values[0].rsplit("/", 1)[-1]] + values[1:]
            for pat in pats:
                if len(argv) >= len(pat) and all(p is None or p == a for p, a in zip(pat, argv)):
                    return True
    return False


def _ends_with_terminator(script: Script) -> bool:
    kids = [c for c in script.tree.root_node.children if c.type != "comment"]
    return bool(kids) and not kids[-1].is_named and kids[-1].type in (";", "&")


def _flat(script: Script) -> bool:
    stmts = script.statements()
    if len(stmts) != 1:
        return False
    for n in _walk_own_shell(stmts[0]):
        t = n.type
        if t in ("command_substitution", "process_substitution"):
            inner = [c for c in n.named_children if c.type != "comment"]
            if len(inner) > 1 or any(c.type not in _FLAT_LEAVES | {"pipeline"} for c in inner):
                return False
    return _flat_node(stmts[0])


def _flat_node(root) -> bool:
    """Iterative (a RUN of thousands of ``&&`` links nests that deep)."""
    stack = [root]
    while stack:
        n = stack.pop()
        t = n.type
        if t in _FLAT_LEAVES:
            continue
        if t in ("list", "negated_command"):
            stack.extend(c for c in n.named_children if c.type != "comment")
        elif t == "pipeline":
            for c in n.named_children:
                if c.type == "redirected_statement":
                    stack.append(c)
                elif c.type not in _FLAT_LEAVES:
                    return False
        elif t == "redirected_statement":
            body = n.child_by_field_name("body")
            if body is None or body.type not in _FLAT_LEAVES:
                return False
        else:
            return False
    return True


# -- does a command's failure fail the RUN? -------------------------------------------------------------
_BLOCKS = frozenset(
    {
        "do_group",
        "compound_statement",
        "subshell",
        "program",
        "else_clause",
        "elif_clause",
        "case_item",
        "function_definition",
    }
)


def failure_fails(script: Script, cmd, errexit: bool | None) -> bool | None:
    """Whether ``cmd`` exiting non-zero makes the script exit non-zero (the RUN fails): False when
    the failure is swallowed (``|| true``, an ``if`` condition, a pipeline's non-last command, a
    statement followed by others without errexit), None when it depends on errexit and that is not
    known. ``errexit``: the SHELL's -e (None: unknown); ``set -e`` earlier in the script counts."""
    if errexit is not True and _errexit_before(script, cmd.start):
        errexit = True
    node = cmd.node
    while node.parent is not None:
        p = node.parent
        t = p.type
        if t in ("redirected_statement", "negated_command") and t != "negated_command":
            node = p
            continue
        if t == "negated_command":
            return False
        if t == "pipeline":
            kids = [c for c in p.named_children]
            if kids and kids[-1] != node:
                return False  # (pipefail aside: a non-last command's status is dropped)
            node = p
            continue
        if t == "list":
            ops = [c.type for c in p.children if not c.is_named]
            left = p.named_children[0] if p.named_children else None
            if node == left and ops and ops[0] == "||":
                return False
            node = p
            continue
        if t in ("if_statement", "while_statement", "elif_clause") and p.child_by_field_name("condition") == node:
            return False
        if t in ("command_substitution", "process_substitution"):
            return False
        if t in _BLOCKS or t in ("if_statement", "while_statement", "for_statement", "case_statement"):
            stmts = [c for c in p.named_children if c.type not in ("comment", "heredoc_body")]
            if t in ("program", "do_group", "compound_statement", "subshell", "else_clause", "case_item"):
                if stmts and stmts[-1] != node:
                    if errexit is None:
                        return None
                    if not errexit:
                        return False
            if t == "program":
                return True
            node = p
            continue
        node = p
    return True


def _errexit_before(script: Script, start: int) -> bool:
    for c in script.toplevel_commands():
        if c.start >= start:
            return False
        if _set_errexit(_argv_of_builtin(c.argv)):
            return True
    return False
