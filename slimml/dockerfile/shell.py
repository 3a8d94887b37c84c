"""The shell inside RUN, parsed with tree-sitter-bash and mapped back to file offsets.

A RUN's command line is the *logical* line (continuations joined), so every char of what the
shell sees is mapped to its offset in the Dockerfile. A fix can then insert ``--no-cache-dir``
right after ``install`` even when ``pip`` and ``install`` sit on different physical lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .model import Document, Heredoc, Instruction

_POSIX_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
_SHELL_HEREDOC_RE = re.compile(r"^\s*(?:/usr)?(?:/bin/)?(?:ba|da|a)?sh(?:\s+-[a-zA-Z]+)*\s+(\d*<<-?\S+)\s*$")
_REDIRECTS = {"file_redirect", "heredoc_redirect", "herestring_redirect"}


@lru_cache(maxsize=1)
def _parser():
    # Imported here so that `slimml rules` and friends never pay for tree-sitter.
    import tree_sitter_bash
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bash.language()))


@dataclass(frozen=True)
class Word:
    raw: str  # as the shell sees it (quotes included)
    value: str  # quotes removed, escapes resolved (best effort, no expansion)
    start: int  # file offsets
    end: int
    kind: str  # tree-sitter node type


@dataclass
class Command:
    name: Word | None
    args: list[Word]
    assignments: dict[str, str]  # ``FOO=1 pip install`` prefixes
    start: int
    end: int
    node: object = field(repr=False)
    script: Script = field(repr=False)
    template: _Template | None = field(default=None, repr=False, compare=False)

    @property
    def argv(self) -> list[str]:
        if self.template is not None:
            return list(self.template.values)
        return ([self.name.value] if self.name else []) + [w.value for w in self.args]

    def effective_argv(self, run_wrappers: bool = True) -> list[str]:
        """The argv of the wrapped program (``sudo -E env A=1 pip install x`` -> ``pip install x``)."""
        return self.argv[self.unwrapped(run_wrappers) :]

    def cached(self, key: object, compute):
        """``compute()`` memoised for every command with the same source text (in any pass, at
        any offset): it must depend on the words' *values* only, never on their offsets."""
        if self.template is None:
            return compute()
        memo = self.template.memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def unwrapped(self, run_wrappers: bool = True) -> int:
        """``unwrap`` of this command's values, memoised (see ``cached``; spelled out: it is hot)."""
        t = self.template
        if t is None:
            return unwrap(self.argv, run_wrappers=run_wrappers)
        key = "unwrap" if run_wrappers else "unwrap-no-run"
        i = t.memo.get(key)
        if i is None:
            i = t.memo[key] = unwrap(list(t.values), run_wrappers=run_wrappers)
        return i

    @property
    def words(self) -> list[Word]:
        return ([self.name] if self.name else []) + list(self.args)

    def text(self) -> str:
        s, e = self.script.src_span(self.node)
        return self.script.source[s:e]


@dataclass
class Script:
    """One shell program the RUN hands to the shell: its command line or a heredoc body."""

    instruction: Instruction
    source: str
    offsets: list[int]  # file offset per char of ``source``
    heredoc: Heredoc | None  # set when the script *is* a heredoc body run by the shell
    tree: object = field(repr=False)
    _b2c: list[int] | None = field(default=None, repr=False)
    _commands: list[Command] | None = field(default=None, repr=False)
    _parsed: _Parsed | None = field(default=None, repr=False)

    # -- offsets ---------------------------------------------------------------------------
    def _char(self, byte: int) -> int:
        return byte if self._b2c is None else self._b2c[byte]

    def src_span(self, node) -> tuple[int, int]:
        return self._char(node.start_byte), self._char(node.end_byte)

    def file_span(self, node) -> tuple[int, int]:
        return self._file_span_of(*self.src_span(node))

    def node_text(self, node) -> str:
        s, e = self.src_span(node)
        return self.source[s:e]

    # -- structure -------------------------------------------------------------------------
    @property
    def has_error(self) -> bool:
        return self.tree.root_node.has_error

    def _index(self) -> _Parsed:
        if self._parsed is None:
            self._parsed = _Parsed(self.tree)
        return self._parsed

    def nodes(self, *types: str) -> list:
        """Nodes of these types, in document order (one walk per distinct source, shared)."""
        return self._index().nodes(types)

    @property
    def commands(self) -> list[Command]:
        if self._commands is None:
            self._commands = [self._instantiate(t) for t in self._index().command_templates(self)]
        return self._commands

    def _template(self, node) -> _Template:
        """A command as positions in ``source`` (no file offsets): shared by every Script with
        this source, whatever its place in the file."""
        name = None
        args: list[tuple] = []
        assigns: dict[str, str] = {}
        word = self._word_template
        for ch in node.children:
            t = ch.type
            if t == "variable_assignment":
                key, _, val = self.node_text(ch).partition("=")
                assigns[key] = _unquote_text(val)
            elif t == "command_name":
                kids = ch.children
                name = word(kids[0] if kids else ch)
            elif t in _REDIRECTS or not ch.is_named or t == "comment":
                continue
            elif name is not None:
                args.append(word(ch))
        s, e = self.src_span(node)
        return _Template(node, name, tuple(args), assigns, s, e)

    def _word_template(self, node) -> tuple:
        # ``src_span`` and ``node_text`` spelled out: this runs for every word of every RUN.
        s, e = node.start_byte, node.end_byte
        if self._b2c is not None:
            s, e = self._b2c[s], self._b2c[e]
        raw = self.source[s:e]
        return raw, _unquote_text(raw), s, e, node.type

    def _instantiate(self, t: _Template) -> Command:
        span = self._file_span_of
        name_t = t.name
        name = Word(name_t[0], name_t[1], *span(name_t[2], name_t[3]), name_t[4]) if name_t else None
        args = [Word(r, v, *span(a, b), k) for r, v, a, b, k in t.args]
        return Command(name, args, dict(t.assigns), *span(t.s, t.e), t.node, self, t)

    def _file_span_of(self, s: int, e: int) -> tuple[int, int]:
        """File span of source positions ``[s, e)`` (see ``file_span``)."""
        if e <= s:
            off = self.offsets[s] if s < len(self.offsets) else self.offsets[-1] + 1
            return off, off
        return self.offsets[s], self.offsets[e - 1] + 1

    def statements(self) -> list:
        """Top-level statement nodes (comments excluded)."""
        return [c for c in self.tree.root_node.named_children if c.type not in ("comment", "heredoc_body")]

    def last_statement_end(self) -> int:
        """File offset just after the last top-level statement (before any trailing comment)."""
        stmts = self.statements()
        if not stmts:
            return self.offsets[-1] + 1 if self.offsets else self.instruction.end
        return self.file_span(stmts[-1])[1]

    def toplevel_operators(self) -> set[str]:
        """Operators joining the top-level statements: '&&', '||', ';', '&', '\\n'."""
        ops: set[str] = set()
        root = self.tree.root_node
        stmts = self.statements()
        if len(stmts) > 1:
            ops.add(";")
        for ch in root.children:
            if ch.type in ("&", ";"):
                ops.add(ch.type)

        stack = [st for st in stmts if st.type == "list"]  # iterative: `a && b && ...` nests deep
        while stack:
            for ch in stack.pop().children:
                if not ch.is_named and ch.type in ("&&", "||", ";", "&"):
                    ops.add(ch.type)
                elif ch.type == "list":
                    stack.append(ch)
        return ops

    def has_comment(self) -> bool:
        return bool(self.nodes("comment"))

    def toplevel_commands(self) -> list[Command]:
        """Commands that run in the script's own shell (not in a subshell or substitution)."""
        own = self._index().own_shell_commands()
        return [c for c in self.commands if (c.node.start_byte, c.node.end_byte) in own]


class _Template:
    """A command of a shell source, offset-free: its words as (raw, value, source start, source
    end, node type), and a memo for what depends on the values alone (``Command.cached``)."""

    __slots__ = ("node", "name", "args", "assigns", "s", "e", "values", "memo")

    def __init__(self, node, name: tuple | None, args: tuple, assigns: dict, s: int, e: int):
        self.node, self.name, self.args, self.assigns, self.s, self.e = node, name, args, assigns, s, e
        self.values = ((name[1],) if name else ()) + tuple(a[1] for a in args)
        self.memo: dict = {}


class _Parsed:
    """A parsed source and its nodes by type, indexed on first use. Shared by every Script with
    the same source (tree-sitter's Python nodes are created anew on each ``children`` access, so
    walking once beats each rule walking the tree again)."""

    __slots__ = ("tree", "_order", "_by_type", "_commands", "memo", "_own", "_own_nodes")

    def __init__(self, tree):
        self.tree = tree
        self.memo: dict = {}  # analyses that depend on the source alone (semantics.shellstate)
        self._own: set | None = None
        self._own_nodes: list | None = None
        self._order: list | None = None
        self._by_type: dict[str, list] = {}
        self._commands: list[_Template] | None = None

    def command_templates(self, script: Script) -> list[_Template]:
        """The commands of ``script`` (whose source this is) as source positions, built once."""
        if self._commands is None:
            self._commands = [script._template(n) for n in self.nodes(("command",))]
        return self._commands

    def own_shell_commands(self) -> set[tuple[int, int]]:
        """(start, end) bytes of the commands the script's own shell runs (child shells not
        entered: asking each command for its parents is quadratic in the nesting)."""
        if self._own is None:
            self._own = {(n.start_byte, n.end_byte) for n in self.own_shell_nodes() if n.type == "command"}
        return self._own

    def own_shell_nodes(self) -> list:
        """The nodes the script's own shell executes, in document order: every node but those
        inside a child shell (``CHILD_SHELL_NODES``; the child-shell node itself is included).
        Taken from the one walk ``nodes`` makes (tree-sitter creates a new Python object for
        every node each walk)."""
        if self._own_nodes is None:
            self._index_nodes()
        assert self._own_nodes is not None
        return self._own_nodes

    def _index_nodes(self) -> None:
        """One pre-order walk: every node (``_order``, by type in ``_by_type``) and the own shell's."""
        from ..knowledge.shell import CHILD_SHELL_NODES

        order: list = []
        own: list = []
        stack: list = [(self.tree.root_node, False)]
        while stack:
            n, inside = stack.pop()
            order.append(n)
            if not inside:
                own.append(n)
                kids = n.children
                if kids:
                    inner = n.type in CHILD_SHELL_NODES
                    stack.extend([(k, inner) for k in reversed(kids)])
            else:
                stack.extend([(k, True) for k in reversed(n.children)])
        by_type = self._by_type
        for n in order:
            by_type.setdefault(n.type, []).append(n)
        self._order, self._own_nodes = order, own

    def nodes(self, types: tuple[str, ...]) -> list:
        if self._order is None:
            self._index_nodes()
        assert self._order is not None
        if len(types) == 1:
            return list(self._by_type.get(types[0], ()))  # a copy: the index is shared
        return [n for n in self._order if n.type in types]


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _unquote_text(raw: str) -> str:
    if "'" not in raw and '"' not in raw and "\\" not in raw:
        return raw  # the common case: nothing to remove
    out = []
    i, n, quote = 0, len(raw), None
    while i < n:
        ch = raw[i]
        if quote is None and ch in "'\"":
            quote = ch
        elif quote is not None and ch == quote:
            quote = None
        elif ch == "\\" and quote != "'" and i + 1 < n:
            i += 1
            out.append(raw[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _make_script(instr: Instruction, source: str, offsets: list[int], heredoc: Heredoc | None) -> Script:
    data = source.encode("utf-8")
    b2c = None
    if len(data) != len(source):
        b2c = []
        for i, ch in enumerate(source):
            b2c.extend([i] * len(ch.encode("utf-8")))
        b2c.append(len(source))
    parsed = _parse(data)
    return Script(instr, source, offsets, heredoc, parsed.tree, b2c, _parsed=parsed)


@lru_cache(maxsize=1024)  # the engine re-parses every pass, and RUN lines repeat across a repo fleet
def _parse(data: bytes) -> _Parsed:
    return _Parsed(_parser().parse(data))  # trees are never edited, so one can be shared


def parse_script_text(instr: Instruction, text: str) -> Script:
    """A shell program that is not in the Dockerfile (a script file, ``sh -c`` text), parsed like
    a RUN's. Its offsets are positions in ``text``, not file offsets: read values, never edit."""
    return _make_script(instr, text, list(range(len(text))), None)


def stage_shell(doc: Document, instr: Instruction) -> list[str] | None:
    """The SHELL in effect for ``instr``, inherited from parent stages (None: the default
    ``/bin/sh -c``, or a base image's SHELL slimml cannot know -- see ``semantics.build``)."""
    from ..semantics.build import state_before

    st = state_before(doc, instr)
    return list(st.shell) if st is not None and st.shell is not None else None


def run_scripts(doc: Document, instr: Instruction) -> list[Script]:
    """The shell programs of a shell-form RUN (empty for exec form or a non-POSIX SHELL)."""
    cached = getattr(instr, "_scripts", None)
    if cached is not None:
        return cached
    scripts = _run_scripts(doc, instr)
    object.__setattr__(instr, "_scripts", scripts)
    return scripts


@lru_cache(maxsize=1)
def _wrapper_shells() -> frozenset[str]:
    from ..knowledge.image_config import POSIX_WRAPPER_SHELLS

    return frozenset(POSIX_WRAPPER_SHELLS)


def _is_shell_body(body: str) -> bool:
    if not body.startswith("#!"):
        return True
    interp = body[2:].split("\n", 1)[0].split()
    if not interp:
        return True
    prog = interp[-1] if interp[0].endswith("/env") and len(interp) > 1 else interp[0]
    return prog.rsplit("/", 1)[-1] in _POSIX_SHELLS


def _run_scripts(doc: Document, instr: Instruction) -> list[Script]:
    if instr.keyword != "RUN" or instr.is_exec_form:
        return []
    shell = stage_shell(doc, instr)
    if shell and shell[0].rsplit("/", 1)[-1] not in _POSIX_SHELLS and shell[0] not in _wrapper_shells():
        from ..knowledge.image_config import conda_run_shell

        wrapped = conda_run_shell(shell)
        if wrapped is None or not wrapped[1] or wrapped[1][0].rsplit("/", 1)[-1] not in _POSIX_SHELLS:
            return []
    text = doc.text
    args, amap = instr.args, list(instr.args_map)
    if instr.heredocs:
        h0 = instr.heredocs[0]
        alone = re.fullmatch(r"\s*\d*<<-?\S+\s*", args) is not None
        via_shell = _SHELL_HEREDOC_RE.match(args) is not None
        if (alone or via_shell) and len(instr.heredocs) == 1:
            body = h0.body(text)
            out = []
            if via_shell:
                out.append(_make_script(instr, args, amap, None))
            if _is_shell_body(body):
                out.append(_make_script(instr, body, list(range(h0.body_start, h0.body_end)), h0))
            return out
        # `cat <<EOF > f`: the shell sees the line, then each body and its terminator.
        src, offs = [args], list(amap)
        prev_end = amap[-1] + 1 if amap else instr.start
        for h in instr.heredocs:
            nl = h.body_start - 1 if h.body_start > 0 else prev_end
            src.append("\n")
            offs.append(nl)
            src.append(text[h.body_start : h.end])
            offs.extend(range(h.body_start, h.end))
            prev_end = h.end
        return [_make_script(instr, "".join(src), offs, None)]
    if not args.strip():
        return []
    return [_make_script(instr, args, amap, None)]


def _wrapper_names() -> frozenset[str]:
    from ..knowledge.shell import RUN_WRAPPERS, WRAPPERS

    return frozenset(WRAPPERS) | frozenset(RUN_WRAPPERS)


_WRAPPER_NAMES = _wrapper_names()


def unwrap(values: list[str], run_wrappers: bool = True, skip: frozenset[str] = frozenset()) -> int:
    """Index of the wrapped program in ``values`` (``sudo -E env A=1 pip ...`` -> 3).

    ``run_wrappers`` also looks through ``conda run -n env``, ``poetry run`` and the like;
    wrappers named in ``skip`` are treated as the program itself.
    """
    if not values or values[0].rsplit("/", 1)[-1] not in _WRAPPER_NAMES:
        return 0  # the common case: the command is not wrapped
    from ..knowledge.shell import RUN_WRAPPERS, WRAPPERS

    i, n = 0, len(values)
    while i < n:
        prog = values[i].rsplit("/", 1)[-1]
        if prog in skip:
            break
        if prog in WRAPPERS:
            with_value, positionals = WRAPPERS[prog]
            i += 1
        elif run_wrappers and prog in RUN_WRAPPERS and i + 1 < n and values[i + 1] == "run":
            with_value, positionals = RUN_WRAPPERS[prog], 0
            i += 2
        else:
            break
        while i < n:
            v = values[i]
            if v == "--":
                i += 1
                break
            if v in with_value:
                i += 2
            elif v.startswith("-") or (prog in ("env", "sudo", "doas") and "=" in v and not v.startswith("=")):
                i += 1
            else:
                break
        i += positionals
    return min(i, n)


def run_commands(doc: Document, instr: Instruction) -> list[Command]:
    return [c for s in run_scripts(doc, instr) for c in s.commands]
