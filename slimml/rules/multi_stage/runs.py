"""Reading the RUNs of the stage: what each installs, builds, runs and writes."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command, Script, Word, run_scripts, unwrap
from ...knowledge import apt_packages as A
from ...knowledge import manifests as M
from ...knowledge import python_tools as P
from ...knowledge import system_packages as S
from .. import _helpers as H
from . import installers
from .common import NAME_RE, canon, has_var, strip_extras
from .programs import line_programs

# Commands that change nothing an image keeps (allowed inside install RUNs).
_HARMLESS = frozenset(
    {
        "rm",
        "true",
        ":",
        "echo",
        "printf",
        "set",
        "export",
        "unset",
        "ldconfig",
        "sleep",
        "ls",
        "cd",
        "test",
        "[",
        "pwd",
        "env",
        "which",
        "command",
        "type",
        "hash",
        "find",
        "cat",
        "grep",
        "head",
        "tail",
        "sort",
        "uniq",
        "tr",
        "cut",
        "wc",
        "du",
        "df",
        "id",
        "whoami",
        "uname",
        "nproc",
        "date",
    }
)
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash"})
# Python installs spelled inside a string (`sh -c "pip install ..."`).
_INSTALL_TEXT_RE = re.compile(
    r"\bpip[\d.]*\s+(install|wheel|download|uninstall)\b|-m\s*pip\b|setup\.py|"
    r"\b(conda|mamba|micromamba|uv|poetry|pipenv|pdm)\s+\w"
)
# Python project tools slimml does not move into a virtualenv.
_OTHER_PY_TOOLS = frozenset({"uv", "uvx", "poetry", "pipenv", "pdm", "pipx", "hatch", "pixi", "rye"})
_CONDA = frozenset({"conda", "mamba", "micromamba"})
_PY_OPTS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})
_SETUP_INSTALL = frozenset({"install"})
_APT_PURE = frozenset({"apt-get", "apt", "apt-cache", "apt-mark", "dpkg-reconfigure", "debconf-set-selections"})
# pip options that install somewhere other than the running interpreter's environment.
_PIP_ELSEWHERE = frozenset({"-t", "--target", "--prefix", "--root", "--src"})
_PIP_VALUE_OPTS = (
    M.PIP_OPTS_WITH_VALUE
    | M.REQUIREMENT_OPTS
    | M.CONSTRAINT_OPTS
    | M.EDITABLE_OPTS
    | M.FIND_LINKS_OPTS
    | M.GROUP_OPTS
    | M.PIP_WRITE_OPTS
    | _PIP_ELSEWHERE
)


def _pip_option(words: list[Word], i: int) -> tuple[str, str | None, int]:
    """(option name, its value, words consumed) at ``words[i]``; a positional gives ("", word, 1).

    Short clusters follow pip's parser: ``-qr req.txt`` is ``-q -r req.txt``, ``-rreq.txt`` is ``-r req.txt``.
    """
    v = words[i].value
    nxt = words[i + 1].value if i + 1 < len(words) else None
    if v.startswith("--"):
        name, eq, val = v.partition("=")
        if eq:
            return name, val, 1
        if name in _PIP_VALUE_OPTS:
            return name, nxt, 2
        return name, None, 1
    if v.startswith("-") and len(v) > 1:
        for k, ch in enumerate(v[1:], start=1):
            if ch in M.PIP_SHORT_WITH_VALUE and "-" + ch in _PIP_VALUE_OPTS:
                rest = v[k + 1 :]
                return ("-" + ch, rest, 1) if rest else ("-" + ch, nxt, 2)
        return v, None, 1
    return "", v, 1


# Harmless commands whose arguments are not paths.
_NO_PATHS = frozenset(
    {
        "true",
        ":",
        "echo",
        "printf",
        "set",
        "export",
        "unset",
        "sleep",
        "ldconfig",
        "env",
        "which",
        "command",
        "type",
        "hash",
        "id",
        "whoami",
        "uname",
        "nproc",
        "date",
        "pwd",
    }
)
# apt commands whose positional words are package names (a word with a `/` is a path).
_PACKAGE_ARGS = frozenset({"apt-get", "apt", "aptitude", "apt-cache", "apt-mark", "dpkg-reconfigure"})


def _path_use(prog: str, words: list[Word], into: PathUse) -> None:
    """Record in ``into`` the paths an apt or harmless command names (what decides whether it may move)."""
    if prog in _NO_PATHS:
        return
    vals = [w.value for w in words[1:]]
    if prog not in _PACKAGE_ARGS:  # rm, cat, find, cd, debconf-set-selections ...: every operand may be a path
        for v in vals:
            if not v.startswith("-"):
                into.arg(v)
        return
    i = 0
    while i < len(vals):
        v, i = vals[i], i + 1
        config = v in ("-c", "--config-file") or v.startswith("--config-file=") or (v[:2] == "-c" and len(v) > 2)
        option = v in ("-o", "--option") or v.startswith("--option=") or (v[:2] == "-o" and len(v) > 2)
        if v in ("-c", "--config-file", "-o", "--option"):
            if i >= len(vals):
                break
            val, i = vals[i], i + 1
        elif v.startswith(("--config-file=", "--option=")):
            val = v.split("=", 1)[1]
        elif config or option:
            val = v[2:]
        elif v.startswith("-"):
            continue
        else:
            val = v  # a package name, unless it has a `/`
        if option:
            val = val.split("=", 1)[1] if "=" in val else val  # -o Dir::Etc::SourceList=/x
        if config or "/" in val or has_var(val):
            into.arg(val)


def _is_import_check(code: str) -> bool:
    """``python -c "import torch; print(torch.__version__)"``: a check that writes nothing the image keeps
    (bytecode of the imported modules lands next to them, inside the virtualenv).

    Read with Python's own parser (linear; the regular expressions this replaces backtracked exponentially on
    ``print(torch.cuda.get_device_properties(0))``). Allowed statements: ``import``/``from ... import``,
    ``print(...)`` of names, attributes, string/number literals and argument-less calls
    (``torch.cuda.is_available()``), ``assert`` of a name or an argument-less call."""
    if len(code) > _MAX_CHECK_CODE:
        return False
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return bool(tree.body) and all(_check_statement(s) for s in tree.body)


_MAX_CHECK_CODE = 4096  # an import check is a line; longer code is a program, whatever it does


def _dotted(node) -> bool:
    import ast

    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _check_value(node, call_ok: bool = True) -> bool:
    import ast

    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int, float)) and not isinstance(node.value, bool) or node.value is None
    if isinstance(node, ast.Call):
        return call_ok and not node.args and not node.keywords and _dotted(node.func)
    return _dotted(node)


def _check_statement(s) -> bool:
    import ast

    if isinstance(s, ast.Import):
        return True
    if isinstance(s, ast.ImportFrom):
        return all(a.name != "*" for a in s.names)
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
        c = s.value
        return (
            isinstance(c.func, ast.Name)
            and c.func.id == "print"
            and not c.keywords
            and all(_check_value(a) for a in c.args)
        )
    if isinstance(s, ast.Assert):
        return s.msg is None and _check_value(s.test) and not isinstance(s.test, ast.Constant)
    return False


# -- reading RUNs --------------------------------------------------------------------------------------
@dataclass
class PathUse:
    """The paths a command names: absolute ones (globs cut to their directory), whether a relative path makes
    the working directory matter, whether every path is known (no variables)."""

    cwd_free: bool = True
    paths_known: bool = True
    paths: list[str] = field(default_factory=list)

    def arg(self, v: str) -> None:
        if has_var(v) or v.startswith("~"):
            self.paths_known = self.cwd_free = False
        elif v.startswith("/"):
            cut = next((i for i, ch in enumerate(v) if ch in "*?["), None)
            self.paths.append(H.norm_path(posixpath.dirname(v[:cut]) if cut is not None else v))
        else:
            self.cwd_free = False

    def merge(self, other: PathUse) -> None:
        self.cwd_free &= other.cwd_free
        self.paths_known &= other.paths_known
        self.paths += other.paths


@dataclass
class AptInstall:
    cmd: Command
    words: list[Word]  # the tool and its arguments (wrappers stripped)
    pkg_idx: list[int]  # indexes in ``words`` of the package words
    names: list[str]  # package names, parallel to pkg_idx
    prefix: str  # ``apt-get install -y --no-install-recommends`` as written (up to the first package)
    reads: PathUse = field(default_factory=PathUse)  # paths in its options (``-c apt.conf``, ``-o Dir=...``)


@dataclass
class RunInfo:
    ins: Instruction
    kind: str = "other"  # build | apt | setup | other
    installs_python: bool = False  # pip install/wheel/download/uninstall, setup.py install
    apt: list[AptInstall] = field(default_factory=list)
    apk_build: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (absolute path, "file" | "dir")
    programs: list[str] = field(default_factory=list)  # effective program names, in order
    others: list[str] = field(default_factory=list)  # programs that are neither installs nor harmless
    opaque: list[str] = field(default_factory=list)  # build tools whose outputs cannot be told
    drop_words: list[tuple[Word, Word]] = field(default_factory=list)  # (previous word, ``--user``)
    spellings: list[str] = field(default_factory=list)  # python/pip spellings of the installs
    reqs: list[str] = field(default_factory=list)  # requirement names given on the command line
    req_files: list[tuple[str, str]] = field(default_factory=list)  # (absolute path of a -r file, cwd)
    file_reqs: list[str] = field(default_factory=list)  # requirement names read from those files
    scripts: list[str] = field(default_factory=list)  # scripts the RUN executes (absolute or relative)
    problems: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # redirect targets outside /dev and /tmp
    reads: PathUse = field(default_factory=PathUse)  # paths its apt and harmless commands and redirects name
    uses: list = field(default_factory=list)  # installers.Use: each install command and where it installs
    scratch: list[str] = field(default_factory=list)  # clones and downloads the install reads (builder only)
    runtime_lines: list[str] = field(default_factory=list)  # commands whose effect belongs to the runtime (ln -s)

    @property
    def apt_names(self) -> list[str]:
        return [n for a in self.apt for n in a.names]


class RunReader:
    def __init__(self, doc: Document, ins: Instruction):
        self.doc, self.ins = doc, ins
        self.info = RunInfo(ins)
        self.cwd: str | None = H.workdir_at(doc, ins)
        self.cats: list[str] = []
        self.active: str | None = None  # a virtualenv activated earlier in this RUN
        self.downloads: list[str] = []  # files curl/wget wrote outside /tmp
        # mkdir / download / ln commands in order: those the runtime stage re-runs keep their order there
        self.seq: list[tuple] = []

    def read(self) -> RunInfo:
        info, ins = self.info, self.ins
        if ins.json is not None:
            argv = list(ins.json)
            i = unwrap(argv, run_wrappers=False)
            prog = H.basename(argv[i]) if i < len(argv) else ""
            info.programs.append(prog)
            if P.PIP_RE.match(prog) or P.PYTHON_RE.match(prog) or prog in _CONDA | _OTHER_PY_TOOLS:
                info.problems.append(f"the exec-form RUN {ins.args.strip()} runs {prog}")
            info.others.append(prog)
            return self._finish()
        scripts = run_scripts(self.doc, ins)
        if not scripts:
            if ins.heredocs:
                info.programs.append("<heredoc>")
                info.others.append("a heredoc script")
            elif ins.args.strip():
                info.problems.append("a RUN under a non-POSIX SHELL")
            return self._finish()
        for s in scripts:
            if s.has_error:
                info.problems.append(f"a RUN whose shell does not parse (line {ins.start_line})")
            self._redirects(s)
            for cmd in s.commands:
                if s.heredoc is None and ins.heredocs and cmd.start >= ins.heredocs[0].body_start:
                    continue  # a heredoc body fed to a command (`cat <<EOF > f`): data, not commands
                self.command(cmd, s)
        return self._finish()

    def _finish(self) -> RunInfo:
        info = self.info
        build = "build" in self.cats
        if info.opaque:
            info.problems.append(f"`{info.opaque[0]}` builds things whose outputs cannot be told from the Dockerfile")
        if build:
            info.kind = "build"
            self.place_side_effects()
            if info.others:
                info.problems.append(
                    f"the install RUN at line {self.ins.start_line} also runs `{info.others[0]}`: what it writes "
                    "outside the virtualenv would stay in the builder stage"
                )
            if info.writes:
                info.problems.append(
                    f"the install RUN at line {self.ins.start_line} writes `{info.writes[0]}`, "
                    "which would stay in the builder stage"
                )
        elif "apt" in self.cats and all(c in ("apt", "harmless") for c in self.cats):
            info.kind = "apt"
        elif self.cats and all(c in ("setup", "harmless") for c in self.cats) and "setup" in self.cats:
            info.kind = "setup"
        else:
            info.kind = "other"
        return info

    def place_side_effects(self) -> None:
        """What an install RUN also does, placed: a download an install of the RUN consumes stays in the builder;
        any other download (weights, data the app reads), an ``ln -s`` and a ``mkdir`` of a directory that is not
        the build's own are re-run by the runtime stage, in their order."""
        info = self.info
        consumed = {H.basename(n) for u in info.uses for n in u.names}
        lines: list[str] = []
        for entry in self.seq:
            if entry[0] == "mkdir":
                made = []
                for d in entry[1]:
                    if d is None:
                        info.others.append("mkdir")
                        return
                    # a directory for the build's own outputs (or scratch space) is not something else written
                    if not (
                        H.path_under(d, "/tmp")
                        or any(H.path_under(a, d) for a, _ in info.artifacts)
                        or any(H.path_under(d, q) for q in info.scratch if q not in self.downloads)
                    ):
                        made.append(shlex.quote(d))
                if made:
                    lines.append("mkdir -p " + " ".join(made))
            elif entry[0] == "download":
                _, path, text, absolute_out = entry
                if H.basename(path) in consumed:
                    continue
                if not absolute_out:
                    info.others.append(f"a download to {path}")
                    return
                info.scratch.remove(path)
                lines.append(text)
            else:
                lines.append(entry[1])
        info.runtime_lines = lines

    def _redirects(self, s: Script) -> None:
        for n in s.nodes("file_redirect"):
            ops = [c for c in n.children if not c.is_named]
            dest = [c for c in n.children if c.is_named]
            if not dest:
                continue
            target = s.node_text(dest[-1]).strip("'\"")
            if target.startswith("&") or target.isdigit():
                continue
            if not target.startswith("/dev/"):
                self.info.reads.arg(target)
            if not any(">" in s.node_text(o) for o in ops):
                continue
            if not (target.startswith(("/dev/", "/tmp/")) or target == "/tmp"):
                self.info.writes.append(target)

    # -- one command ----------------------------------------------------------------------------
    def command(self, cmd: Command, script: Script) -> None:
        info = self.info
        values = cmd.argv
        if not values:
            return
        i = cmd.unwrapped(run_wrappers=False)
        wrappers = [H.basename(v) for v in values[:i]]
        words = cmd.words[i:]
        if not words:
            return
        w0 = words[0].value
        prog = H.basename(w0)
        info.programs.append(prog)
        if prog == "git" and len(words) > 1 and words[1].value == "lfs":
            info.programs.append("git-lfs")  # `git lfs` is the git-lfs package
        if has_var(w0):
            self.other(w0)
            return
        if prog in S.APT_TOOLS or prog == "aptitude" or prog in _APT_PURE or prog in _HARMLESS:
            _path_use(prog, words, info.reads)
        if prog in S.APT_TOOLS or prog == "aptitude":
            self.apt(cmd, words)
        elif prog in _APT_PURE:
            self.cats.append("apt")
        elif prog in S.APK_TOOLS:
            self.apk(words)
        elif P.PIP_RE.match(prog) or (prog == "mim" and len(words) > 1 and words[1].value == "install"):
            self.pip(words, 1, w0, wrappers)  # OpenMMLab's mim installs with the pip of its own interpreter
        elif P.PYTHON_RE.match(prog):
            self.python(words, w0, wrappers)
        elif prog == "virtualenv":
            installers.venv.read_make(self, words, 1)
        elif installers.read(self, prog, words):
            pass
        elif prog in (".", "source") and installers.venv.read_activate(self, words):
            pass
        elif prog in _OTHER_PY_TOOLS:
            info.problems.append(f"it installs with {prog}, which slimml does not move into a virtualenv")
            self.cats.append("build")
        elif A.COMPILERS_RE.match(prog):
            self.compile(words)
        elif prog == "cythonize":
            if any(w.value in ("-i", "--inplace") for w in words[1:]) and self.cwd:
                self.artifact(self.cwd, "dir")
            else:
                info.problems.append("`cythonize` without --inplace writes files that cannot be told")
            self.cats.append("build")
        elif prog in A.OPAQUE_BUILD_TOOLS or w0 in ("./configure",):
            info.opaque.append(prog)
            self.cats.append("other")
        elif prog == "mkdir":
            made = []
            for w in words[1:]:
                if not w.value.startswith("-"):
                    ok = not has_var(w.value) and (self.cwd is not None or w.value.startswith("/"))
                    made.append(H.join_path(self.cwd or "/", w.value) if ok else None)
            self.seq.append(("mkdir", made))
            self.cats.append("mkdir")
        elif prog == "cd":
            self.cd(words)
            self.cats.append("harmless")
        elif prog == "git" and len(words) > 1 and words[1].value == "config":
            self.cats.append("setup")
        elif prog == "git" and len(words) > 2 and words[1].value == "clone":
            self.clone(words)
        elif prog in ("curl", "wget") and self.download(prog, words):
            pass
        elif prog == "ln" and self.link(words):
            pass
        elif prog in _HARMLESS:
            self.cats.append("harmless")
        elif prog in _SHELLS and len(words) > 2 and words[1].value.startswith("-") and "c" in words[1].value:
            # `sh -c "..."`: the commands inside are not parsed; refuse when it installs Python packages.
            inner, _ = line_programs(words[2].value)
            info.programs.extend(inner)
            if _INSTALL_TEXT_RE.search(words[2].value):
                info.problems.append(f"`{prog} -c` runs Python tools in a string slimml does not read")
                self.cats.append("build")
            else:
                self.other(prog)
        else:
            if "/" in w0 or w0.endswith(".sh"):
                info.scripts.append(w0 if w0.startswith("/") else H.join_path(self.cwd or "/", w0))
            elif prog in ("sh", "bash", "dash", "zsh") and len(words) > 1 and not words[1].value.startswith("-"):
                arg = words[1].value
                info.scripts.append(arg if arg.startswith("/") else H.join_path(self.cwd or "/", arg))
            self.other(prog)

    def conda_shell_env(self) -> str | None:
        """``NAME`` or ``/prefix`` when the RUN runs under ``SHELL ["conda", "run", "-n", NAME, ...]``."""
        from ...dockerfile.shell import stage_shell
        from ...knowledge.image_config import conda_run_shell

        shell = stage_shell(self.doc, self.ins)
        wrapped = conda_run_shell(shell) if shell else None
        if wrapped is None:
            return None
        o = wrapped[0]
        return o.get("-p") or o.get("--prefix") or o.get("-n") or o.get("--name")

    # -- commands whose effects can be placed ---------------------------------------------------------------
    def clone(self, words: list[Word]) -> None:
        """``git clone URL [DEST]``: a checkout the install reads belongs to the builder (the planner checks that
        nothing the runtime stage runs names it)."""
        opts_with_value = {
            "-b",
            "--branch",
            "--depth",
            "-o",
            "--origin",
            "-c",
            "--config",
            "--reference",
            "--separate-git-dir",
            "-j",
            "--jobs",
            "--filter",
            "-u",
            "--upload-pack",
            "--shallow-since",
            "--shallow-exclude",
            "--recurse-submodules=",
            "--template",
        }
        pos, i = [], 2
        while i < len(words):
            v = words[i].value
            if v in opts_with_value:
                i += 2
                continue
            if not v.startswith("-"):
                pos.append(v)
            i += 1
        if not pos or len(pos) > 2:
            self.other("git clone")
            return
        dest = pos[1] if len(pos) == 2 else pos[0].rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        dest = dest[:-4] if len(pos) == 1 and dest.endswith(".git") else dest
        if has_var(dest) or not dest or (self.cwd is None and not dest.startswith("/")):
            self.other("git clone")
            return
        path = H.join_path(self.cwd or "/", dest)
        if H.path_under(path, "/tmp"):
            self.cats.append("harmless")
            return
        self.info.scratch.append(path)
        self.cats.append("scratch")

    def download(self, prog: str, words: list[Word]) -> bool:
        """``curl -o F URL`` / ``wget -O F URL`` / ``wget -P DIR URL``: a file the install reads, builder only."""
        out = None
        vals = [w.value for w in words[1:]]
        for j, v in enumerate(vals):
            nxt = vals[j + 1] if j + 1 < len(vals) else None
            if (prog == "curl" and v in ("-o", "--output")) or (
                prog == "wget" and v in ("-O", "--output-document", "-P", "--directory-prefix")
            ):
                out = nxt
            elif v.startswith(("--output=", "--output-document=", "--directory-prefix=")):
                out = v.split("=", 1)[1]
        if out is None or out == "-" or has_var(out) or (self.cwd is None and not out.startswith("/")):
            return False
        path = H.join_path(self.cwd or "/", out)
        if not H.path_under(path, "/tmp"):
            self.info.scratch.append(path)
            self.downloads.append(path)
            self.seq.append(("download", path, " ".join(w.raw for w in words), out.startswith("/")))
        self.cats.append("scratch")
        return True

    def link(self, words: list[Word]) -> bool:
        """``ln -s TARGET LINK`` with literal absolute paths: a link the runtime stage makes itself."""
        vals = [w.value for w in words[1:]]
        flags = [v for v in vals if v.startswith("-")]
        args = [v for v in vals if not v.startswith("-")]
        if (
            len(args) != 2
            or not all(a.startswith("/") and not has_var(a) for a in args)
            or any(
                f not in ("-s", "-f", "-sf", "-fs", "-n", "-sfn", "-snf", "-nsf", "-fsn", "-T", "-sT") for f in flags
            )
        ):
            return False
        self.seq.append(("line", " ".join(w.raw for w in words)))
        self.cats.append("scratch")
        return True

    def other(self, name: str) -> None:
        self.info.others.append(name)
        self.cats.append("other")

    def cd(self, words: list[Word]) -> None:
        args = [w.value for w in words[1:] if w.value != "--"]
        if len(args) == 1 and not has_var(args[0]) and args[0] != "-" and not args[0].startswith("~"):
            self.cwd = H.join_path(self.cwd or "/", args[0]) if self.cwd or args[0].startswith("/") else None
        else:
            self.cwd = None

    def artifact(self, path: str, kind: str) -> None:
        if (path, kind) not in self.info.artifacts:
            self.info.artifacts.append((path, kind))

    # -- package managers -----------------------------------------------------------------------
    def apt(self, cmd: Command, words: list[Word]) -> None:
        self.cats.append("apt")
        j = 1
        while j < len(words):
            v = words[j].value
            if v in S.APT_OPTS_WITH_VALUE:
                j += 2
                continue
            if not v.startswith("-"):
                break
            j += 1
        if j >= len(words) or words[j].value not in S.APT_INSTALLS - {"build-dep"}:
            return
        idx, names = [], []
        k = j + 1
        first = None
        while k < len(words):
            v = words[k].value
            if v in S.APT_OPTS_WITH_VALUE:
                k += 2
                continue
            if v.startswith("-"):
                k += 1
                continue
            name = A.package_name(v)
            if name is None:
                self.info.problems.append(f"`apt-get install {v}`: a package word slimml cannot read")
                k += 1
                continue
            if first is None:
                first = k
            idx.append(k)
            names.append(name)
            k += 1
        assigns = [f"{k}={shlex.quote(v)}" for k, v in cmd.assignments.items()]
        head = words[: first if first else len(words)]
        prefix = " ".join(assigns + [w.raw for w in head])
        reads = PathUse()
        _path_use(H.basename(words[0].value), head, reads)
        self.info.apt.append(AptInstall(cmd, words, idx, names, prefix, reads))

    def apk(self, words: list[Word]) -> None:
        self.cats.append("apt")
        vals = [w.value for w in words[1:]]
        if "add" not in vals:
            return
        for v in vals[vals.index("add") + 1 :]:
            if not v.startswith("-") and (v in ("build-base", "musl-dev", "linux-headers") or A.is_build_only(v)):
                self.info.apk_build.append(v)

    def pip(self, words: list[Word], k: int, spelled: str, wrappers: list[str]) -> None:
        info = self.info
        j = k
        while j < len(words):
            v = words[j].value
            if v in P.PIP_GLOBAL_OPTS_WITH_VALUE:
                j += 2
                continue
            if not v.startswith("-"):
                break
            j += 1
        sub = words[j].value if j < len(words) else None
        if sub in ("config",):
            self.cats.append("setup")
            return
        if sub not in ("install", "wheel", "download", "uninstall"):
            self.cats.append("harmless")
            return
        self.cats.append("build")
        info.installs_python = True
        info.spellings.append(spelled)
        if any(w in ("sudo", "doas") for w in wrappers):
            info.problems.append(f"`sudo {spelled}` resets PATH, so pip would bypass the virtualenv")
        use = installers.Use("pip", self.ins.index, self.ins.start_line, path=self.active, cwd=self.cwd, sub=sub)
        # `.venv/bin/pip` names its environment as much as `/app/.venv/bin/pip` does
        use.detail["spelled"] = (
            H.join_path(self.cwd, spelled)
            if "/" in spelled and not spelled.startswith("/") and self.cwd and not has_var(spelled)
            else spelled
        )
        use.detail["span"] = f"{words[0].start},{words[0].end}"
        conda_env = self.conda_shell_env()
        if conda_env:
            use.detail["conda_env"] = conda_env
        info.uses.append(use)
        if sub != "install":
            return
        i = j + 1
        while i < len(words):
            name, val, step = _pip_option(words, i)
            if name == "--user":
                info.drop_words.append((words[i - 1], words[i]))
            elif name in _PIP_ELSEWHERE:
                info.problems.append(f"`pip install {name}` installs outside the interpreter's environment")
            elif name in M.EDITABLE_OPTS:
                self.editable(val or "")
            elif name in M.REQUIREMENT_OPTS:
                if val and not has_var(val) and self.cwd:
                    info.req_files.append((H.join_path(self.cwd, val), self.cwd))
            elif name == "" and val:
                m = NAME_RE.match(val)
                if (
                    m
                    and not val.startswith((".", "/", "~"))
                    and "/" not in val
                    and not val.lower().endswith(M.ARCHIVE_SUFFIXES)
                ):
                    info.reqs.append(canon(m.group(1)))
                    use.names.append(canon(m.group(1)))
                else:
                    use.names.append(val)  # a path or URL: not an installer package
            i += step

    def editable(self, spec: str) -> None:
        info = self.info
        if not spec or re.match(r"^(git|hg|svn|bzr)\+", spec) or "://" in spec:
            return  # a VCS checkout lands in the virtualenv's src/
        path = strip_extras(spec)
        if path.startswith("file:"):
            path = path[len("file://") :] if path.startswith("file://") else path[len("file:") :]
        if has_var(path) or self.cwd is None:
            info.problems.append(f"`pip install -e {spec}`: the directory cannot be told")
            return
        root = H.join_path(self.cwd, path)
        if root == "/":
            info.problems.append("`pip install -e` of the root directory")
            return
        self.artifact(root, "dir")

    def python(self, words: list[Word], spelled: str, wrappers: list[str]) -> None:
        info = self.info
        args = words[1:]
        k = 0
        while k < len(args):
            v = args[k].value
            if v == "-m" and k + 1 < len(args):
                self.module(args[k + 1].value, words, k + 3, spelled, wrappers)
                return
            if v.startswith("-m") and len(v) > 2 and not v.startswith("--"):
                self.module(v[2:], words, k + 2, spelled, wrappers)
                return
            if v == "-c":
                code = args[k + 1].value if k + 1 < len(args) else ""
                if _is_import_check(code):
                    self.cats.append("harmless")
                else:
                    self.other(f"{H.basename(spelled)} -c")
                return
            if v in _PY_OPTS_WITH_VALUE:
                k += 2
                continue
            if not v.startswith("-"):
                break
            k += 1
        if k >= len(args):
            self.other(H.basename(spelled))
            return
        script = args[k].value
        if H.basename(script) == "setup.py":
            cmds = [w.value for w in args[k + 1 :] if not w.value.startswith("-")]
            self.cats.append("build")
            if cmds and cmds[0] in _SETUP_INSTALL:
                info.installs_python = True
                info.spellings.append(spelled)
                if any(w in ("sudo", "doas") for w in wrappers):
                    info.problems.append("`sudo python setup.py install` bypasses the virtualenv")
                return
            if self.cwd is None or self.cwd == "/":
                info.problems.append("`setup.py` runs in a directory that cannot be told")
                return
            self.artifact(H.join_path(self.cwd, posixpath.dirname(script) or "."), "dir")
            return
        self.other(f"{H.basename(spelled)} {script}")

    def module(self, mod: str, words: list[Word], k: int, spelled: str, wrappers: list[str]) -> None:
        if mod == "pip":
            self.pip(words, k, spelled, wrappers)
        elif mod in M.VENV_MODULES:
            installers.venv.read_make(self, words, k)
        elif mod == "build":
            self.cats.append("build")
            if self.cwd and self.cwd != "/":
                self.artifact(self.cwd, "dir")
            else:
                self.info.problems.append("`python -m build` runs in a directory that cannot be told")
        elif mod == "spacy" and k < len(words) and words[k].value == "download":
            # `python -m spacy download <model>` pip-installs the model package into the interpreter's env
            self.cats.append("build")
            self.info.installs_python = True
            self.info.spellings.append(spelled)
        elif mod in _CONDA or mod in ("uv", "poetry", "pipenv", "pdm"):
            self.info.problems.append(f"it runs `{H.basename(spelled)} -m {mod}`")
            self.cats.append("build")
        else:
            self.other(f"{H.basename(spelled)} -m {mod}")

    def compile(self, words: list[Word]) -> None:
        info = self.info
        self.cats.append("build")
        out = None
        for i, w in enumerate(words[1:], start=1):
            v = w.value
            if v in ("-o", "--output-file") and i + 1 < len(words):
                out = words[i + 1].value
            elif v.startswith("-o") and len(v) > 2 and not v.startswith("--"):
                out = v[2:]
            elif v.startswith("--output-file="):
                out = v.split("=", 1)[1]
        prog = H.basename(words[0].value)
        if out is None or has_var(out) or (self.cwd is None and not out.startswith("/")):
            info.problems.append(f"`{prog}` writes files whose names cannot be told (no literal -o)")
            return
        self.artifact(H.join_path(self.cwd or "/", out), "file")
