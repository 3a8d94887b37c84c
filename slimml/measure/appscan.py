"""What the application's own files say: the files it names, the programs it runs, its modules.

The sources come out of the original image (probe mode ``sources``): the app's Python (read with
libcst), its shell scripts and the image's entrypoint scripts (tree-sitter-bash, through slimml's
shell model), its config files (as text), plus the ENTRYPOINT/CMD words and ENV values.

Everything here leans to "the app may read it": a file is *named* when any string of the app's
code or config could refer to it (its name, a path suffix, a parent folder, a glob or an
extension); Python modules, executables and shared objects are always read; and an app that lists
folders whose names slimml cannot read (``os.listdir(some_var)``) may read anything.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

PY_EXT = ".py"
SHELL_EXT = (".sh", ".bash")
CONFIG_EXT = (".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties", ".xml")
# Files that are never "the app" even when they sit in its folder: tests and packaging.
TEST_DIRS = frozenset({"tests", "test", "testing"})
PACKAGING = frozenset(
    {
        "setup.py",
        "conftest.py",
        "noxfile.py",
        "fabfile.py",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "Pipfile",
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "environment.yml",
        "environment.yaml",
        "package.json",
        "package-lock.json",
        ".pre-commit-config.yaml",
    }
)
SHELL_BUILTINS = frozenset(
    {
        ".",
        ":",
        "[",
        "[[",
        "alias",
        "bg",
        "break",
        "builtin",
        "case",
        "cd",
        "command",
        "continue",
        "declare",
        "echo",
        "eval",
        "exec",
        "exit",
        "export",
        "false",
        "fg",
        "for",
        "getopts",
        "hash",
        "if",
        "jobs",
        "kill",
        "let",
        "local",
        "printf",
        "pwd",
        "read",
        "readonly",
        "return",
        "set",
        "shift",
        "source",
        "test",
        "times",
        "trap",
        "true",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "wait",
        "while",
        "until",
        "do",
        "done",
        "then",
        "else",
        "elif",
        "fi",
        "esac",
        "function",
        "select",
        "time",
        "{",
        "}",
        "!",
    }
)
# Calls that start a program: (module, function) -> how the first argument names it.
EXEC_CALLS = {
    **{("subprocess", f): "args" for f in ("run", "call", "check_call", "check_output", "Popen")},
    **{("subprocess", f): "shell" for f in ("getoutput", "getstatusoutput")},
    ("os", "system"): "shell",
    ("os", "popen"): "shell",
    **{
        ("os", f): "file"
        for f in (
            "execv",
            "execvp",
            "execvpe",
            "execl",
            "execlp",
            "execle",
            "execlpe",
            "execve",
            "spawnl",
            "spawnlp",
            "spawnv",
            "spawnvp",
            "spawnve",
            "spawnvpe",
            "spawnle",
            "spawnlpe",
            "posix_spawn",
            "posix_spawnp",
        )
    },
    ("asyncio", "create_subprocess_exec"): "file",
    ("asyncio", "create_subprocess_shell"): "shell",
    ("shutil", "which"): "file",
    ("pty", "spawn"): "args",
}
# os.spawn*/posix_spawn take a mode first.
SPAWN_MODE_FIRST = frozenset({"spawnl", "spawnlp", "spawnv", "spawnvp", "spawnve", "spawnvpe", "spawnle", "spawnlpe"})
LISTING_CALLS = {("os", "listdir"), ("os", "scandir"), ("os", "walk"), ("glob", "glob"), ("glob", "iglob")}
LISTING_METHODS = frozenset({"iterdir", "glob", "rglob"})
# A module whose top level calls one of these runs the app (a server loop): not imported by the check.
BLOCKING_CALLS = frozenset(
    {
        "run",
        "serve_forever",
        "run_forever",
        "main",
        "start",
        "mainloop",
        "launch",
        "serve",
        "run_app",
        "run_server",
        "loop_forever",
        "run_until_complete",
        "join",
    }
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.~/*?@+\-]+")


@dataclass
class AppScan:
    literals: dict[str, list[str]] = field(default_factory=dict)  # string -> where ("/app/x.py:12")
    programs: dict[str, list[str]] = field(default_factory=dict)  # program -> where
    dynamic_listing: list[str] = field(default_factory=list)  # where the app lists unknown folders
    scripts: set[str] = field(default_factory=set)  # Python files whose top level runs the app
    readers: list[str] = field(default_factory=list)  # files read for this scan
    errors: list[str] = field(default_factory=list)

    def literal(self, value: str, where: str) -> None:
        v = value.strip()
        if v and len(v) < 4096 and "\n" not in v:
            self.literals.setdefault(v, []).append(where)

    def program(self, name: str, where: str) -> None:
        name = name.strip()
        if (
            name
            and "$" not in name
            and "`" not in name
            and not name.startswith("-")
            and "=" not in name
            and name not in SHELL_BUILTINS
            and len(name) < 256
        ):
            self.programs.setdefault(name, []).append(where)


# -- which files are the app's sources -----------------------------------------------------------------
def is_test_or_packaging(path: str) -> bool:
    parts = path.split("/")
    base = parts[-1]
    if base in PACKAGING or any(p in TEST_DIRS for p in parts[:-1]):
        return True
    return base.endswith(PY_EXT) and (base.startswith("test_") or base.endswith("_test.py"))


def source_kind(path: str, first_line: str = "") -> str | None:
    """ "python", "shell", "config" or None (not a file that can name another)."""
    from .plan import is_manifest

    base = posixpath.basename(path)
    if is_test_or_packaging(path) or is_manifest(base):
        return None
    low = base.lower()
    if low.endswith(PY_EXT):
        return "python"
    if low.endswith(SHELL_EXT):
        return "shell"
    if low.endswith(CONFIG_EXT) or low in (".env",):
        return "config"
    if first_line.startswith("#!"):
        interp = first_line[2:].split()
        prog = posixpath.basename(
            interp[-1] if interp and interp[0].endswith("/env") and len(interp) > 1 else (interp[0] if interp else "")
        )
        if prog.startswith(("python", "pypy")):
            return "python"
        if prog in ("sh", "bash", "dash", "ash", "zsh", "ksh"):
            return "shell"
    return None


# -- scanning ----------------------------------------------------------------------------------------
def scan(sources: dict[str, str], argv: list[str] = (), env: dict[str, str] | None = None) -> AppScan:
    """Scan the app's sources (path -> text), its ENTRYPOINT/CMD words and ENV values."""
    out = AppScan()
    for path, text in sorted(sources.items()):
        kind = source_kind(path, text.split("\n", 1)[0])
        if kind is None:
            continue
        out.readers.append(path)
        if kind == "python":
            scan_python(text, path, out)
        elif kind == "shell":
            scan_shell(text, path, out)
        else:
            for tok in _TOKEN_RE.findall(text):
                out.literal(tok, path)
    for w in argv:
        out.literal(w, "ENTRYPOINT/CMD")
    if argv:
        from .configparity import EXEC_ARGS_RE, SHELLS

        if posixpath.basename(argv[0]) in SHELLS and "-c" in argv[1:2]:
            scan_shell(argv[2] if len(argv) > 2 else "", "ENTRYPOINT/CMD", out, embedded=True)
        else:
            out.program(argv[0], "ENTRYPOINT/CMD")
            # An entrypoint script that ends in `exec "$@"` runs the rest of the words as a command.
            wrapper = posixpath.basename(argv[0])
            if len(argv) > 1 and any(
                posixpath.basename(p) == wrapper and EXEC_ARGS_RE.search(t) for p, t in sources.items()
            ):
                out.program(argv[1], "ENTRYPOINT/CMD")
    for k, v in (env or {}).items():
        if k == "PATH":
            continue
        out.literal(v, f"ENV {k}")
        for part in v.split(":"):
            out.literal(part, f"ENV {k}")
    return out


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def shell_commands(text: str) -> list[tuple[list[str], list[str], dict[str, str], int]]:
    """(argv, effective argv, assignments, offset) of every command of a shell script."""
    from ..dockerfile.shell import _make_script

    # A script outside any Dockerfile: offsets are the text's own positions.
    script = _make_script(None, text, list(range(len(text))), None)
    return [(c.argv, c.effective_argv(run_wrappers=False), c.assignments, c.start) for c in script.commands]


def scan_shell(text: str, where: str, out: AppScan, embedded: bool = False) -> None:
    """A shell script (``embedded``: a command string inside Python or the CMD, located by ``where``)."""
    from ..knowledge.shell import RUN_WRAPPERS, WRAPPERS

    try:
        cmds = shell_commands(text)
    except Exception as e:  # noqa: BLE001 - a script tree-sitter cannot read: text tokens only
        out.errors.append(f"{where}: {type(e).__name__}: {e}")
        cmds = []
    for argv, eff, assigns, start in cmds:
        loc = where if embedded else f"{where}:{_line(text, start)}"
        for w in argv:
            out.literal(w, loc)
        for v in assigns.values():
            out.literal(v, loc)
        # The program, and every wrapper on the way to it (`sudo -E gosu app python x` runs three).
        wrapped = argv[: len(argv) - len(eff)]
        for i, w in enumerate(wrapped):
            if i == 0 or posixpath.basename(w) in WRAPPERS or posixpath.basename(w) in RUN_WRAPPERS:
                out.program(w, loc)
        if eff:
            out.program(eff[0], loc)
    if not cmds:
        for tok in _TOKEN_RE.findall(text):
            out.literal(tok, where)


# -- Python (libcst) -----------------------------------------------------------------------------------
def _dotted(node) -> str | None:
    import libcst as cst

    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def _string_value(node) -> str | None:
    import libcst as cst

    if isinstance(node, cst.SimpleString):
        v = node.evaluated_value
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    if isinstance(node, cst.ConcatenatedString):
        left, right = _string_value(node.left), _string_value(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _first_program(kind: str, func: str, args, out: AppScan, loc: str) -> None:
    import libcst as cst

    pos = [a for a in args if a.keyword is None and a.star == ""]
    if func in SPAWN_MODE_FIRST:
        pos = pos[1:]
    if not pos:
        return
    first = pos[0].value
    shell = kind == "shell" or any(
        a.keyword is not None
        and a.keyword.value == "shell"
        and isinstance(a.value, cst.Name)
        and a.value.value == "True"
        for a in args
    )
    if isinstance(first, (cst.List, cst.Tuple)):
        if first.elements:
            v = _string_value(first.elements[0].value)
            if v is not None:
                if shell:
                    scan_shell(v, loc, out, embedded=True)
                else:
                    out.program(v, loc)
        return
    v = _string_value(first)
    if v is None:
        return
    if shell:
        scan_shell(v, loc, out, embedded=True)
    elif kind == "args":
        out.program(v.split()[0] if v.split() else v, loc)
    else:
        out.program(v, loc)


def scan_python(text: str, path: str, out: AppScan) -> None:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
    except Exception as e:  # noqa: BLE001 - not Python 3 libcst can parse: every token counts
        out.errors.append(f"{path}: {type(e).__name__}")
        for m in re.finditer(r"""(['"])((?:(?!\1).){1,400})\1""", text):
            out.literal(m.group(2), path)
        return
    aliases: dict[str, str] = {}  # local name -> module-qualified name

    def qualify(name: str | None) -> str | None:
        if not name:
            return None
        head, _, rest = name.partition(".")
        q = aliases.get(head, head)
        return f"{q}.{rest}" if rest else q

    class Visitor(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def _loc(self, node) -> str:
            try:
                return f"{path}:{self.get_metadata(PositionProvider, node).start.line}"
            except KeyError:
                return path

        def visit_Import(self, node) -> None:
            for a in node.names:
                full = _dotted(a.name)
                if full:
                    local = (
                        a.asname.name.value if a.asname and isinstance(a.asname.name, cst.Name) else full.split(".")[0]
                    )
                    aliases[local] = full if a.asname else local

        def visit_ImportFrom(self, node) -> None:
            mod = _dotted(node.module) if node.module else None
            if not mod or isinstance(node.names, cst.ImportStar):
                return
            for a in node.names:
                name = a.name.value if isinstance(a.name, cst.Name) else None
                if name:
                    local = a.asname.name.value if a.asname and isinstance(a.asname.name, cst.Name) else name
                    aliases[local] = f"{mod}.{name}"

        def visit_SimpleString(self, node) -> None:
            v = _string_value(node)
            if v is not None:
                out.literal(v, self._loc(node))

        def visit_FormattedStringText(self, node) -> None:
            out.literal(node.value, self._loc(node))

        def visit_Call(self, node) -> None:
            name = qualify(_dotted(node.func))
            loc = self._loc(node)
            if name:
                mod, _, func = name.rpartition(".")
                kind = EXEC_CALLS.get((mod, func))
                if kind:
                    _first_program(kind, func, node.args, out, loc)
                    return
                if (mod, func) in LISTING_CALLS:
                    pos = [a for a in node.args if a.keyword is None]
                    if not pos or _string_value(pos[0].value) is None:
                        out.dynamic_listing.append(f"{loc} {name}()")
                    return
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in LISTING_METHODS:
                # Path(...).iterdir()/.glob(): the folder is whatever the object holds.
                base = node.func.value
                if not (isinstance(base, cst.Call) and base.args and _string_value(base.args[0].value) is not None):
                    out.dynamic_listing.append(f"{loc} .{node.func.attr.value}()")

    wrapper.visit(Visitor())
    if runs_at_import(wrapper.module):
        out.scripts.add(path)


def runs_at_import(module) -> bool:
    """The module's top level (outside ``if __name__ == "__main__"``) loops or calls something that
    runs the app (``app.run()``, ``serve_forever()``, ``main()``): importing it would start the app."""
    import libcst as cst

    def blocking(stmt) -> bool:
        if isinstance(stmt, cst.While):
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for s in stmt.body:
                if isinstance(s, cst.Expr):
                    v = s.value.expression if isinstance(s.value, cst.Await) else s.value
                    if isinstance(v, cst.Call):
                        name = _dotted(v.func) or ""
                        if name.rsplit(".", 1)[-1] in BLOCKING_CALLS:
                            return True
        if isinstance(stmt, (cst.With, cst.Try)):
            return any(blocking(s) for s in stmt.body.body)
        return False

    return any(blocking(s) for s in module.body)


# -- naming ------------------------------------------------------------------------------------------
def _norm(lit: str) -> str:
    s = lit.strip().strip("'\"")
    while s.startswith("./"):
        s = s[2:]
    s = re.sub(r"/+", "/", s)
    return s.rstrip("/") if len(s) > 1 else s


@dataclass
class NameIndex:
    """The app's literals, indexed for "does anything name this path?"."""

    by_last: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    globs: list[tuple[str, list[str]]] = field(default_factory=list)
    extensions: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, scan_: AppScan) -> NameIndex:
        idx = cls()
        for lit, where in scan_.literals.items():
            s = _norm(lit)
            if not s or s in (".", "/"):
                continue
            if any(c in s for c in "*?["):
                idx.globs.append((s, where))
            elif re.fullmatch(r"\.[A-Za-z0-9_]{1,10}", s):
                idx.extensions.setdefault(s.lower(), []).extend(where)
            else:
                last = s.rsplit("/", 1)[-1]
                idx.by_last.setdefault(last, []).append((s, where))
        return idx

    def named(self, path: str, root: str | None) -> list[str]:
        """Where the app names ``path`` (an absolute image path) or a folder holding it below
        ``root`` (the app folder it lies in): "'models' at /app/x.py:3" lines; [] when nothing does."""
        parts = path.strip("/").split("/")
        root_depth = len(root.strip("/").split("/")) if root and root != "/" else 0
        # The file itself, then each folder between the app root and it (the root itself is too
        # generic a name: "app" is in every `uvicorn app:app`). A literal names a node when it is
        # its name or ends with "/<name>" (any spelling of a path to it, relative or absolute).
        for end in range(len(parts), root_depth, -1):
            hits = [
                f"{lit!r} at {where[0]}" + (f" (+{len(where) - 1} more)" if len(where) > 1 else "")
                for lit, where in self.by_last.get(parts[end - 1], ())
            ]
            if hits:
                return hits
        rel_candidates = ["/".join(parts[i:]) for i in range(len(parts))]
        for pat, where in self.globs:
            pat_rel = pat.lstrip("/")
            if any(fnmatch.fnmatchcase(c, pat_rel) for c in rel_candidates) or fnmatch.fnmatchcase(path, pat):
                return [f"{pat!r} at {where[0]}"]
        ext = posixpath.splitext(parts[-1])[1].lower()
        if ext and ext in self.extensions:
            return [f"{ext!r} at {self.extensions[ext][0]}"]
        return []


# -- the app's own modules -----------------------------------------------------------------------------
_MODULE_ARG_RE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.()]*$")


def cmd_modules(argv: list[str]) -> list[str]:
    """Modules the command imports by name: ``uvicorn app:app``, ``gunicorn serve:app``, ``-m pkg``."""
    out = []
    for i, w in enumerate(argv):
        m = _MODULE_ARG_RE.match(w)
        if m:
            out.append(m.group(1))
        elif w == "-m" and i + 1 < len(argv) and re.fullmatch(r"[A-Za-z_][\w.]*", argv[i + 1]):
            out.append(argv[i + 1])
    return list(dict.fromkeys(out))


def app_modules(files: list[str], folders: list[str], scripts: set[str], argv: list[str]) -> list[str]:
    """The app's own top-level modules in ``folders`` (the working directory and the folders of the
    scripts the command runs): ``x.py`` and packages (``x/__init__.py``), without tests, packaging,
    and files whose top level runs the app -- except those the command imports by name."""
    named = cmd_modules(argv)
    found: list[str] = []
    found_all: set[str] = set()
    fset = set(files)
    for folder in folders:
        prefix = folder.rstrip("/") + "/"
        for f in sorted(fset):
            if not f.startswith(prefix):
                continue
            rest = f[len(prefix) :].split("/")
            if len(rest) == 1 and rest[0].endswith(PY_EXT):
                mod, src = rest[0][:-3], f
            elif len(rest) == 2 and rest[1] == "__init__.py":
                mod, src = rest[0], f
            else:
                continue
            if not mod.isidentifier() or is_test_or_packaging(f) or mod in ("__main__", "__init__"):
                continue
            found_all.add(mod)
            if src in scripts and mod not in named:
                continue
            found.append(mod)
    # Modules the command names are imported whatever their top level does (the command imports them).
    return list(dict.fromkeys([*found, *(m for m in named if m.split(".")[0] in found_all)]))
