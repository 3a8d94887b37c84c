"""A single-stage build that ships its compilers, headers and full base image.

What it does
    For a Dockerfile with one build stage (global ARGs before it are fine) that installs
    Python dependencies with pip and/or build-only apt packages (compilers, ``-dev`` headers,
    git, cmake, ...), rewrites the stage into two:

    - a **builder** stage on the original base (``AS builder``) with everything the installs
      need, in the original order: the apt installs, ``WORKDIR``, the COPYs before the
      installs, ``ENV``/``ARG``/``SHELL``, and the install RUNs -- now installing into a
      virtualenv (``RUN python -m venv /opt/venv`` + ``ENV PATH="/opt/venv/bin:$PATH"``, added
      right before the first pip install);

    - a **runtime** stage on the smaller base (``python:3.11`` -> ``python:3.11-slim``, CUDA and
      PyTorch ``devel`` -> ``runtime``; an unknown base stays as it is, the stage still drops the
      build-only packages) with the apt install reduced to what runs (``libpq-dev`` ->
      ``libpq5``, ``libssl-dev`` -> ``libssl3`` or ``libssl1.1`` depending on the release, gcc
      and friends dropped), ``COPY --from=builder /opt/venv /opt/venv``, and the application's
      instructions in their original order (``WORKDIR``, the source ``COPY``, ``ENV``, ``USER``,
      ``EXPOSE``, ``HEALTHCHECK``, ``CMD``, and the RUNs that are not installs).

    Files the build produces are copied from the builder: the output of a compiler's ``-o``
    (``nvcc ... -o /app/kernels.so``), and the whole directory of an in-place build
    (``python setup.py build_ext --inplace``, ``cythonize -i``, ``pip install -e .``) in place of
    the source COPYs into it. ``pip install --user`` loses ``--user`` (an error inside a
    virtualenv). Kept instructions keep their text, comments, keyword case, escape character and
    line endings. On a PyTorch image or a Python installed with apt (CUDA, Ubuntu, Debian bases)
    the virtualenv is made with ``--system-site-packages``, so the packages of the base stay
    visible, and the builder installs ``python3-venv`` when the file does not.

    A tool the runtime stage still runs (in a ``RUN``, ``CMD``, ``ENTRYPOINT``, ``HEALTHCHECK``
    or a script they start) keeps its package: a build-only package it comes from is not
    dropped, and one the full ``python`` image had (curl, wget, git, procps ...) is installed in
    the runtime stage. pip packages that link a library of the full ``python`` image
    (``psycopg2`` -> ``libpq5``, ``mysqlclient``, ``python-magic``, ``opencv-python`` ->
    ``libglib2.0-0`` ...) get that library in the runtime stage.

    Not split (reported with the reason): conda/mamba, uv, poetry, pipenv and pdm installs, a
    virtualenv the file makes itself, ``pip install --target/--prefix``, ``sudo pip`` or an
    absolute interpreter path (both bypass the virtualenv), ``make``/``cmake``/``npm`` builds
    (their outputs cannot be told), install RUNs that also run other programs (what they
    write would stay in the builder), ``-dev`` packages whose runtime library is unknown, bases
    whose Python cannot be told. A file that is already multi-stage is never split; its final
    stage installing build-only packages is reported without a fix.

Why
    Compilers, headers and VCS clients are needed to build wheels, not to run them: gcc, g++,
    and the -dev packages weigh 200-400 MB, and the full ``python`` image (~1 GB) carries all of
    them while ``-slim`` is ~130 MB. CUDA ``devel`` images are several GB larger than
    ``runtime``. With a builder stage those stay out of the image that ships.

    The fix is unsafe: the runtime stage has only the packages listed. A library loaded at run
    time that the old base happened to have, a script calling a tool the slim image lacks, or
    JIT compilation at run time (``torch.compile``, triton, ``cpp_extension.load``) needs a
    package added by hand: build and run the app (or ``slimml measure``) to verify.

Example
    FROM python:3.11
    RUN apt-get update && apt-get install -y gcc libpq-dev && rm -rf /var/lib/apt/lists/*
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt
    COPY . .
    CMD ["python", "app.py"]

Use instead
    FROM python:3.11 AS builder
    RUN apt-get update && apt-get install -y gcc libpq-dev && rm -rf /var/lib/apt/lists/*
    RUN python -m venv /opt/venv
    ENV PATH="/opt/venv/bin:$PATH"
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt

    FROM python:3.11-slim
    RUN apt-get update && apt-get install -y libpq5 && rm -rf /var/lib/apt/lists/*
    COPY --from=builder /opt/venv /opt/venv
    ENV PATH="/opt/venv/bin:$PATH"
    WORKDIR /app
    COPY . .
    CMD ["python", "app.py"]
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from ..dockerfile import Document, Instruction, Stage, shell_words
from ..dockerfile.shell import Command, Script, Word, run_scripts, unwrap
from ..engine import Edit, Fix
from ..knowledge import apt_packages as A
from ..knowledge import images as IMG
from ..knowledge import manifests as M
from ..knowledge import python_tools as P
from ..knowledge import system_packages as S
from . import _helpers as H

CODE = "SLM008"
NAME = "multi-stage"
SUMMARY = "Single-stage build: compilers, headers and the full base image stay in the runtime image"
OPTIONS: dict = {}
FIX = "unsafe"

_RULE = H.rule_of(__name__)

VENV = "/opt/venv"
VENV_PATH_VALUE = '"/opt/venv/bin:$PATH"'
BUILDER_NAME = "builder"
APT_CLEAN = "rm -rf /var/lib/apt/lists/*"
APT_INSTALL_DEFAULT = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
REASON = ("the runtime stage has only the packages listed; run the app / `slimml measure` to verify "
          "(a shared library or tool the old base had, or compiling at run time, needs a package added by hand)")

# Commands that change nothing an image keeps (allowed inside install RUNs).
_HARMLESS = frozenset({"rm", "true", ":", "echo", "printf", "set", "export", "unset", "ldconfig", "sleep", "ls",
                       "cd", "test", "[", "pwd", "env", "which", "command", "type", "hash", "find", "cat", "grep",
                       "head", "tail", "sort", "uniq", "tr", "cut", "wc", "du", "df", "id", "whoami", "uname",
                       "nproc", "date"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash"})
# Python installs spelled inside a string (`sh -c "pip install ..."`).
_INSTALL_TEXT_RE = re.compile(r"\bpip[\d.]*\s+(install|wheel|download|uninstall)\b|-m\s*pip\b|setup\.py|"
                              r"\b(conda|mamba|micromamba|uv|poetry|pipenv|pdm)\s+\w")
# Python project tools slimml does not move into a virtualenv.
_OTHER_PY_TOOLS = frozenset({"uv", "uvx", "poetry", "pipenv", "pdm", "pipx", "hatch", "pixi", "rye"})
_CONDA = frozenset({"conda", "mamba", "micromamba"})
_PY_OPTS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})
_SETUP_INSTALL = frozenset({"install"})
_MANIFEST_RES = (re.compile(r"(?i)^[\w.-]*requirements[\w.-]*\.(txt|in)$"), re.compile(r"(?i)^constraints[\w.-]*\.txt$"),
                 re.compile(r"^(Pipfile|Pipfile\.lock|poetry\.lock|uv\.lock|pdm\.lock|requirements)$"))
_APT_PURE = frozenset({"apt-get", "apt", "apt-cache", "apt-mark", "dpkg-reconfigure", "debconf-set-selections"})
_NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
# pip options that install somewhere other than the running interpreter's environment.
_PIP_ELSEWHERE = frozenset({"-t", "--target", "--prefix", "--root", "--src"})
_PIP_VALUE_OPTS = (M.PIP_OPTS_WITH_VALUE | M.REQUIREMENT_OPTS | M.CONSTRAINT_OPTS | M.EDITABLE_OPTS
                   | M.FIND_LINKS_OPTS | M.GROUP_OPTS | M.PIP_WRITE_OPTS | _PIP_ELSEWHERE)
_RUNTIME_META = frozenset({"ARG", "ENV", "SHELL", "LABEL", "MAINTAINER", "EXPOSE", "STOPSIGNAL"})


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
                rest = v[k + 1:]
                return ("-" + ch, rest, 1) if rest else ("-" + ch, nxt, 2)
        return v, None, 1
    return "", v, 1


_CHECK_STMT_RES = (
    re.compile(r"^import\s+[\w.]+(\s+as\s+\w+)?(\s*,\s*[\w.]+(\s+as\s+\w+)?)*$"),
    re.compile(r"^from\s+[\w.]+\s+import\s+[\w., ]+$"),
    # print(...) of names, attributes, literals and argument-less calls (torch.cuda.is_available())
    re.compile(r"^print\(([\w.]+(\(\))?|'[^']*'|\"[^\"]*\"|\s|,)*\)$"),
    re.compile(r"^assert\s+[\w.]+(\(\))?$"),
)


def _is_import_check(code: str) -> bool:
    """``python -c "import torch; print(torch.__version__)"``: a check that writes nothing the image keeps
    (bytecode of the imported modules lands next to them, inside the virtualenv)."""
    stmts = [t.strip() for t in re.split(r"[;\n]", code) if t.strip()]
    return bool(stmts) and all(any(r.match(t) for r in _CHECK_STMT_RES) for t in stmts)


class _NoFix(Exception):
    """The file cannot be split safely; the message says why."""


class _Nothing(Exception):
    """Splitting would gain nothing."""


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _has_var(s: str) -> bool:
    return "$" in s or "`" in s


def _lowercase_file(doc: Document) -> bool:
    lower = sum(1 for i in doc.instructions if i.keyword_raw == i.keyword_raw.lower())
    return lower * 2 > len(doc.instructions)


# -- reading RUNs --------------------------------------------------------------------------------------
@dataclass
class AptInstall:
    cmd: Command
    words: list[Word]  # the tool and its arguments (wrappers stripped)
    pkg_idx: list[int]  # indexes in ``words`` of the package words
    names: list[str]  # package names, parallel to pkg_idx
    prefix: str  # ``apt-get install -y --no-install-recommends`` as written (up to the first package)


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

    @property
    def apt_names(self) -> list[str]:
        return [n for a in self.apt for n in a.names]


class _RunReader:
    def __init__(self, doc: Document, ins: Instruction):
        self.doc, self.ins = doc, ins
        self.info = RunInfo(ins)
        self.cwd: str | None = H.workdir_at(doc, ins)
        self.cats: list[str] = []
        self.mkdirs: list[str | None] = []

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
            for d in self.mkdirs:
                # a directory for the build's own outputs (or scratch space) is not something else written
                if d is None or not (H.path_under(d, "/tmp") or any(H.path_under(a, d) for a, _ in info.artifacts)):
                    info.others.append("mkdir")
                    break
            if info.others:
                info.problems.append(
                    f"the install RUN at line {self.ins.start_line} also runs `{info.others[0]}`: what it writes "
                    "outside the virtualenv would stay in the builder stage")
            if info.writes:
                info.problems.append(f"the install RUN at line {self.ins.start_line} writes `{info.writes[0]}`, "
                                     "which would stay in the builder stage")
        elif "apt" in self.cats and all(c in ("apt", "harmless") for c in self.cats):
            info.kind = "apt"
        elif self.cats and all(c in ("setup", "harmless") for c in self.cats) and "setup" in self.cats:
            info.kind = "setup"
        else:
            info.kind = "other"
        return info

    def _redirects(self, s: Script) -> None:
        for n in s.nodes("file_redirect"):
            ops = [c for c in n.children if not c.is_named]
            if not any(">" in s.node_text(o) for o in ops):
                continue
            dest = [c for c in n.children if c.is_named]
            if not dest:
                continue
            target = s.node_text(dest[-1]).strip("'\"")
            if target.startswith("&") or target.isdigit():
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
        if _has_var(w0):
            self.other(w0)
            return
        if prog in S.APT_TOOLS or prog == "aptitude":
            self.apt(cmd, words)
        elif prog in _APT_PURE:
            self.cats.append("apt")
        elif prog in S.APK_TOOLS:
            self.apk(words)
        elif P.PIP_RE.match(prog):
            self.pip(words, 1, w0, wrappers)
        elif P.PYTHON_RE.match(prog):
            self.python(words, w0, wrappers)
        elif prog == "virtualenv":
            info.problems.append("it creates its own virtualenv (copy it to a runtime stage by hand)")
            self.cats.append("build")
        elif prog in _CONDA:
            info.problems.append(f"it installs with {prog}: copy the environment prefix to a runtime stage by hand")
            self.cats.append("build")
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
            for w in words[1:]:
                if not w.value.startswith("-"):
                    ok = not _has_var(w.value) and (self.cwd is not None or w.value.startswith("/"))
                    self.mkdirs.append(H.join_path(self.cwd or "/", w.value) if ok else None)
            self.cats.append("mkdir")
        elif prog == "cd":
            self.cd(words)
            self.cats.append("harmless")
        elif prog == "git" and len(words) > 1 and words[1].value == "config":
            self.cats.append("setup")
        elif prog == "git" and len(words) > 2 and words[1].value == "clone":
            dests = [w.value for w in words[2:] if not w.value.startswith("-")]
            if len(dests) >= 2 and H.path_under(H.join_path(self.cwd or "/", dests[-1]), "/tmp"):
                self.cats.append("harmless")
            else:
                self.other("git clone")
        elif prog in _HARMLESS:
            self.cats.append("harmless")
        elif prog in _SHELLS and len(words) > 2 and words[1].value.startswith("-") and "c" in words[1].value:
            # `sh -c "..."`: the commands inside are not parsed; refuse when it installs Python packages.
            inner, _ = _line_programs(words[2].value)
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

    def other(self, name: str) -> None:
        self.info.others.append(name)
        self.cats.append("other")

    def cd(self, words: list[Word]) -> None:
        args = [w.value for w in words[1:] if w.value != "--"]
        if len(args) == 1 and not _has_var(args[0]) and args[0] != "-" and not args[0].startswith("~"):
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
        if j >= len(words) or words[j].value not in S.APT_NEEDS_LISTS - {"build-dep"}:
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
        prefix = " ".join(assigns + [w.raw for w in words[: first if first else len(words)]])
        self.info.apt.append(AptInstall(cmd, words, idx, names, prefix))

    def apk(self, words: list[Word]) -> None:
        self.cats.append("apt")
        vals = [w.value for w in words[1:]]
        if "add" not in vals:
            return
        for v in vals[vals.index("add") + 1:]:
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
        if spelled.startswith("/") and not spelled.startswith(VENV + "/"):
            info.problems.append(f"`{spelled}` is an absolute path outside the virtualenv")
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
                if val and not _has_var(val) and self.cwd:
                    info.req_files.append((H.join_path(self.cwd, val), self.cwd))
            elif name == "" and val:
                m = _NAME_RE.match(val)
                if m and not val.startswith((".", "/", "~")) and "/" not in val and \
                        not val.lower().endswith(M.ARCHIVE_SUFFIXES):
                    info.reqs.append(_canon(m.group(1)))
            i += step

    def editable(self, spec: str) -> None:
        info = self.info
        if not spec or re.match(r"^(git|hg|svn|bzr)\+", spec) or "://" in spec:
            return  # a VCS checkout lands in the virtualenv's src/
        path = re.sub(r"\[[^\]]*\]$", "", spec)
        if path.startswith("file:"):
            path = path[len("file://"):] if path.startswith("file://") else path[len("file:"):]
        if _has_var(path) or self.cwd is None:
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
            cmds = [w.value for w in args[k + 1:] if not w.value.startswith("-")]
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
            self.info.problems.append("it creates its own virtualenv (copy it to a runtime stage by hand)")
            self.cats.append("build")
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
        elif mod in _CONDA:
            self.info.problems.append(f"it installs with {mod}")
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
        if out is None or _has_var(out) or (self.cwd is None and not out.startswith("/")):
            info.problems.append(f"`{prog}` writes files whose names cannot be told (no literal -o)")
            return
        self.artifact(H.join_path(self.cwd or "/", out), "file")


# -- the rule ---------------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    if len(doc.stages) > 1:
        yield from _check_final_stage(doc, ctx)
        return
    if len(doc.stages) != 1:
        return
    yield from _Planner(doc, ctx).run()


def _runtime_commands(doc: Document, ctx, instrs: list[Instruction], infos: dict[int, RunInfo],
                      copies: list[Instruction], notes: list[str]) -> set[str]:
    """Programs the stage still runs: RUNs kept in it, CMD/ENTRYPOINT/HEALTHCHECK, scripts they start."""
    used: set[str] = set()
    for ins in instrs:
        if ins.keyword == "RUN":
            info = infos[ins.index]
            if info.kind in ("other", "apt"):
                used.update(info.programs)
                for sc in info.scripts:
                    used |= _script_commands(doc, ctx, copies, ins, sc, notes)
        elif ins.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            progs, scripts = _instruction_programs(ins)
            used.update(progs)
            wd = H.workdir_at(doc, ins)
            for sc in scripts:
                used |= _script_commands(doc, ctx, copies, ins, sc if sc.startswith("/") else H.join_path(wd, sc), notes)
    return used


def _instruction_programs(ins: Instruction) -> tuple[list[str], list[str]]:
    """(programs, scripts) a CMD/ENTRYPOINT/HEALTHCHECK runs."""
    args = ins.args.strip()
    if ins.keyword == "HEALTHCHECK":
        if args.upper().startswith("NONE"):
            return [], []
        if args[:3].upper() == "CMD":
            args = args[3:].strip()
    if args.startswith("["):
        try:
            import json

            argv = json.loads(args)
        except ValueError:
            argv = None
        if isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
            prog = H.basename(argv[0])
            if prog in ("sh", "bash", "dash") and len(argv) >= 3 and argv[1] == "-c":
                return _line_programs(argv[2])
            progs, scripts = [prog], []
            if "/" in argv[0] or argv[0].endswith(".sh"):
                scripts.append(argv[0])
            elif prog in ("sh", "bash", "dash") and len(argv) >= 2 and not argv[1].startswith("-"):
                scripts.append(argv[1])
            return progs, scripts
    return _line_programs(args)


_SPLIT_RE = re.compile(r"&&|\|\||[;|&\n]|\$\(|`|\bthen\b|\bdo\b|\belse\b")


def _line_programs(line: str) -> tuple[list[str], list[str]]:
    """Command names of a shell line (best effort: the first word after each separator)."""
    progs, scripts = [], []
    for part in _SPLIT_RE.split(line):
        words = [w for w, _, _ in shell_words(part.strip(), raw=False)]
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if not words:
            continue
        i = unwrap(words, run_wrappers=False)
        if i >= len(words):
            continue
        w0 = words[i]
        if w0 in ("if", "while", "until", "for", "case", "fi", "done", "esac", "{", "}", "(", ")", "!"):
            continue
        progs.append(H.basename(w0))
        if H.basename(w0) == "git" and i + 1 < len(words) and words[i + 1] == "lfs":
            progs.append("git-lfs")
        if "/" in w0 or w0.endswith(".sh"):
            scripts.append(w0)
        elif H.basename(w0) in ("sh", "bash", "dash") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            scripts.append(words[i + 1])
    return progs, scripts


def _context_rel(doc: Document, ctx, copies: list[Instruction], before: Instruction, path: str) -> str | None:
    """Context-relative path of the file a COPY put at absolute ``path`` (before ``before``)."""
    for ins in reversed([c for c in copies if c.index < before.index]):
        ops = _copy_operands(ins)
        if not ops or len(ops) < 2:
            continue
        srcs, dest = ops[:-1], ops[-1]
        if _has_var(dest):
            continue
        dest_abs = H.join_path(H.workdir_at(doc, ins), dest)
        dest_dir = dest.endswith("/") or len(srcs) > 1 or dest in (".", "./")
        for src in srcs:
            s = src.rstrip("/") or "."
            if s in (".", "./") or s == "":
                if H.path_under(path, dest_abs):
                    return posixpath.relpath(path, dest_abs)
                continue
            if any(ch in s for ch in "*?[") or _has_var(s):
                continue
            s = H.norm_path(s).lstrip("/")
            if ctx.context_dir is not None and ctx.is_dir(s):
                if H.path_under(path, dest_abs):
                    rel = posixpath.relpath(path, dest_abs)
                    return s if rel == "." else f"{s}/{rel}"
                continue
            target = H.join_path(dest_abs, posixpath.basename(s)) if dest_dir or dest_abs == "/" else dest_abs
            if path == target:
                return s
    return None


def _copy_operands(ins: Instruction) -> list[str] | None:
    if ins.is_exec_form:
        return list(ins.json)
    if ins.heredocs:
        return None
    return [w for w, _, _ in shell_words(ins.args, raw=False)]


def _script_commands(doc: Document, ctx, copies: list[Instruction], at: Instruction, path: str,
                     notes: list[str]) -> set[str]:
    rel = _context_rel(doc, ctx, copies, at, path)
    text = ctx.read_context_file(rel) if rel is not None and ctx.context_dir is not None else None
    if text is None:
        note = f"`{path}` (not read: check it needs no tool the runtime base lacks)"
        if note not in notes:
            notes.append(note)
        return set()
    out: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        progs, _ = _line_programs(re.sub(r"\s#.*$", "", line))
        out.update(progs)
    return out


def _read_requirements(doc, ctx, copies, at: Instruction, path: str, cwd: str, seen: set[str],
                       unread: list[str]) -> tuple[list[str], list[str]]:
    """(package names, absolute directories of local ``-e`` lines) of a requirements file and its includes."""
    if path in seen or len(seen) > 20:
        return [], []
    seen.add(path)
    rel = _context_rel(doc, ctx, copies, at, path)
    text = ctx.read_context_file(rel) if rel is not None and ctx.context_dir is not None else None
    if text is None:
        unread.append(f"`{path}`")
        return [], []
    names: list[str] = []
    editables: list[str] = []
    for line in text.splitlines():
        line = M.REQUIREMENTS_COMMENT_RE.sub("", line).strip()
        if not line:
            continue
        m = re.match(r"^(-r|--requirement|-e|--editable)(=|\s+|(?=[^\s-]))(.+)$", line)
        if m and m.group(1) in ("-r", "--requirement"):
            inc = m.group(3).strip()
            if inc and not _has_var(inc):
                n, e = _read_requirements(doc, ctx, copies, at, H.join_path(posixpath.dirname(path), inc), cwd, seen, unread)
                names += n
                editables += e
            continue
        if m:
            spec = m.group(3).strip()
            if re.match(r"^(git|hg|svn|bzr)\+", spec) or "://" in spec:
                continue
            local = re.sub(r"\[[^\]]*\]$", "", spec)
            editables.append(local if _has_var(local) else H.join_path(cwd, local))
            continue
        if line.startswith("-"):
            continue
        m = _NAME_RE.match(line)
        if m:
            names.append(_canon(m.group(1)))
    return names, editables


@dataclass
class _Base:
    image: str  # as written
    expanded: str  # global ARG defaults substituted
    family: str | None
    runtime: str  # the runtime stage's image as written
    runtime_expanded: str
    same: bool  # the runtime stage uses the same image
    note: str
    release: str | None


class _Planner:
    def __init__(self, doc: Document, ctx):
        self.doc, self.ctx = doc, ctx
        self.stage: Stage = doc.stages[0]
        self.instrs = self.stage.instructions[1:]
        self.infos: dict[int, RunInfo] = {}
        self.notes: list[str] = []  # for the unsafe reason
        self.desc: list[str] = []
        self.removed: set[str] = set()
        self.emitted: list[str] = []  # runtime packages the runtime stage installs that the file did not

    # -- entry ----------------------------------------------------------------------------------
    def run(self):
        doc = self.doc
        fi = self.stage.from_instruction
        for ins in self.instrs:
            if ins.keyword == "RUN":
                self.infos[ins.index] = _RunReader(doc, ins).read()
        infos = list(self.infos.values())
        pip_runs = [i for i in infos if i.installs_python]
        build_runs = [i for i in infos if i.kind == "build"]
        build_only = sorted({n for i in infos if i.kind in ("apt", "build") for n in i.apt_names if A.is_build_only(n)})
        apk_build = sorted({n for i in infos for n in i.apk_build})
        if apk_build and not build_only:
            if not pip_runs and not build_runs:
                return
            yield H.finding(_RULE, f"single-stage build keeps build-only packages ({', '.join(apk_build)}) in the image: "
                                   "build in a builder stage and copy the results",
                            fi.start, fi.end, note="apk-based images are not split automatically")
            return
        if not build_only and not build_runs:
            return
        if not build_runs:
            # Build-only packages that no step of this Dockerfile builds with.
            yield H.finding(_RULE, f"build-only packages ({', '.join(build_only)}) are installed but nothing in this "
                                   "Dockerfile builds with them",
                            fi.start, fi.end,
                            note="remove them if the application does not use them at run time (compilers for JIT, "
                                 "git for GitPython); there is nothing to move to a builder stage")
            return
        base = self.base()
        if not build_only and base.same:
            return  # the same base and nothing to drop: a builder stage gains nothing
        message = self.message(base, build_only)
        try:
            edit, description, estimate, basis = self.plan(base)
        except _Nothing:
            return
        except _NoFix as e:
            yield H.finding(_RULE, message, fi.start, fi.end, note=f"not split automatically: {e}")
            return
        message = self.message(base, sorted(self.removed))
        reason = REASON
        if self.notes:
            reason += "; also check: " + "; ".join(self.notes)
        yield H.finding(_RULE, message, fi.start, fi.end,
                        Fix.unsafe(edit, reason=reason, description=description),
                        estimate=estimate, estimate_basis=basis)

    def message(self, base: _Base, build_only: list[str]) -> str:
        parts = []
        if build_only:
            shown = ", ".join(build_only[:6]) + (", ..." if len(build_only) > 6 else "")
            parts.append(f"build-only packages ({shown})")
        if not base.same:
            parts.append(f"the full base image {base.image}")
        return ("single-stage build keeps " + " and ".join(parts) + " in the image: build in a builder stage, run on "
                + (base.runtime if not base.same else "the same base without them"))

    # -- the base image ---------------------------------------------------------------------------
    def base(self) -> _Base:
        image = self.stage.image
        expanded = self.expand(image)
        fam = IMG.family(expanded)
        variant = IMG.slim_variant(image)
        runtime = variant.image if variant.image and variant.image != image else image
        same = runtime == image
        rexp = self.expand(runtime)
        release = IMG.os_release(rexp) if not _has_var(rexp) else None
        note = "; ".join(p for p in variant.note.split("; ") if p and p != IMG.SLIM_NOTE) if not same else ""
        return _Base(image, expanded, fam, runtime, rexp, same, note, release)

    def expand(self, ref: str) -> str:
        args: dict[str, str] = {}
        for a in self.doc.global_args:
            args.update(H.parse_kv_words(a))

        def sub(m: re.Match) -> str:
            name = m.group(1) or m.group(3)
            return args.get(name) or m.group(2) or m.group(0)

        return re.sub(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))", sub, ref)

    # -- the plan -----------------------------------------------------------------------------------
    def plan(self, base: _Base):
        doc, infos = self.doc, self.infos
        for info in infos.values():
            if info.problems:
                raise _NoFix(info.problems[0])
        last_b = max(i.ins.index for i in infos.values() if i.kind == "build")
        pip_runs = [i for i in infos.values() if i.installs_python]
        first_pip = min((i.ins.index for i in pip_runs), default=None)
        last_pip = max((i.ins.index for i in pip_runs), default=None)
        copies = [i for i in self.instrs if i.keyword in ("COPY", "ADD")]

        self.read_requirements(pip_runs, copies)
        # Instructions that cannot be moved or whose meaning a split changes.
        self.check_instructions(last_b, pip_runs)

        # Python provisioning.
        venv_cmd = self.venv_command(base, pip_runs, first_pip) if pip_runs else None

        # What the runtime stage still runs.
        runtime_instrs = [i for i in self.instrs if not (i.keyword == "RUN" and infos[i.index].kind in ("build", "setup"))]
        used = _runtime_commands(doc, self.ctx, runtime_instrs, infos, copies, self.notes)
        self.check_absolute_python(runtime_instrs)

        # Packages: what is dropped, what each dropped one leaves needed, what the new base lacks.
        installed_build_only = {n for i in infos.values() if i.kind in ("apt", "build") for n in i.apt_names
                                if A.is_build_only(n)}
        keep = {n for n in installed_build_only if set(A.package_commands(n)) & used}
        remove = installed_build_only - keep
        self.removed = remove
        if not remove and base.same:
            raise _Nothing()  # the runtime stage would need every build-only package: nothing to gain
        counterparts: dict[str, tuple[str, ...]] = {}
        for n in sorted(remove):
            rt = A.runtime_packages(n, base.release)
            if rt is None:
                where = base.release or f"the OS of {base.runtime}"
                raise _NoFix(f"which package `{n}` leaves needed at run time on {where} is not known")
            counterparts[n] = rt
        bad = sorted(used & A.CUDA_DEVEL_COMMANDS)
        if bad and not base.same and base.family in ("cuda", "pytorch", "tensorflow", "ngc"):
            raise _NoFix(f"the runtime stage would still run `{bad[0]}`, which only the devel image has")
        additions = self.additions(base, used, pip_runs, copies, counterparts, keep)

        # Artifacts and the COPYs they replace.
        replaced, art_lines = self.artifacts(last_b, copies)
        manifest_only = {c.index for c in copies if first_pip is not None and c.index < last_pip and self.manifest_only(c)}

        text = self.render(base, last_b, first_pip, venv_cmd, remove, counterparts, additions, replaced, art_lines,
                           manifest_only)
        fi = self.stage.from_instruction
        edit = Edit(fi.line_start, len(doc.text), text)
        description = self.description(base, remove, keep, pip_runs, art_lines)
        estimate, basis = self.estimate(base, remove, additions)
        return edit, description, estimate, basis

    def check_instructions(self, last_b: int, pip_runs: list[RunInfo]) -> None:
        non_root_user = None
        for ins in self.instrs:
            kw = ins.keyword
            if kw == "ONBUILD":
                raise _NoFix("an ONBUILD instruction")
            if kw == "VOLUME" and ins.index < last_b:
                raise _NoFix("a VOLUME before an install step (later build steps would behave differently)")
            if kw == "SHELL" and ins.json and H.basename(ins.json[0]) not in ("sh", "bash", "dash", "ash", "zsh"):
                raise _NoFix("a non-POSIX SHELL")
            if kw == "USER" and ins.args.strip():
                user = ins.args.strip().split(":")[0]
                non_root_user = None if user in ("root", "0") else user
            if kw == "RUN" and non_root_user:
                info = self.infos[ins.index]
                if info.kind == "build" and info.artifacts:
                    raise _NoFix(f"files are built as USER {non_root_user}; the builder stage runs as root")
            if kw == "ENV":
                for k, v in H.parse_kv_words(ins):
                    if k == "PATH" and "$PATH" not in v and "${PATH}" not in v:
                        raise _NoFix("an ENV sets PATH without $PATH, which would hide the virtualenv")
                    if k in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PYTHONHOME"):
                        raise _NoFix(f"ENV {k} makes pip install outside the virtualenv")
                    if k == "PIP_USER" and H.env_truthy({k: v}, k):
                        raise _NoFix("ENV PIP_USER=1 makes pip refuse to install into a virtualenv")
                    if k == "VIRTUAL_ENV":
                        raise _NoFix("the file sets up its own virtualenv")
                    if k in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV", "MAMBA_ROOT_PREFIX"):
                        raise _NoFix("a conda environment: copy its prefix to a runtime stage by hand")
            if kw in ("COPY", "ADD") and ins.heredocs and ins.index < last_b:
                raise _NoFix("a COPY with a heredoc before an install step")
        if any(i.keyword == "USER" for i in self.instrs if i.index < last_b) and pip_runs:
            self.desc.append("the builder stage installs as root (USER applies to the runtime stage)")

    def check_absolute_python(self, runtime_instrs: list[Instruction]) -> None:
        for ins in runtime_instrs:
            progs: list[str] = []
            if ins.keyword == "RUN":
                argvs = [list(ins.json)] if ins.json is not None else \
                    [[w.value for w in c.words] for s in run_scripts(self.doc, ins) for c in s.commands]
                for vals in argvs:
                    i = unwrap(vals, run_wrappers=False) if vals else 0
                    if i < len(vals):
                        progs.append(vals[i])
            elif ins.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
                progs = list(ins.json) if ins.json else [w for w, _, _ in shell_words(ins.args, raw=False)]
            for p in progs:
                b = H.basename(p)
                if p.startswith("/") and (P.PYTHON_RE.match(b) or P.PIP_RE.match(b)) and not p.startswith(VENV + "/"):
                    raise _NoFix(f"`{p}` is an absolute interpreter path that would bypass the virtualenv")

    def venv_command(self, base: _Base, pip_runs: list[RunInfo], first_pip: int) -> str:
        spellings = [H.basename(s) for i in pip_runs for s in i.spellings]
        versioned = sorted({s for s in spellings if re.match(r"^(python|pip)3\.\d+$", s)})
        unversioned = any(s in ("python", "pip") for s in spellings)
        fam = base.family
        if fam == "python":
            pt = IMG.python_tag(IMG.parse_image(base.expanded).tag)
            if pt is None or (pt.variant and not pt.variant.startswith("slim")):
                raise _NoFix(f"{base.image} is not a Debian-based python image")
            interp = "python" if unversioned or not spellings else "python3"
            return f"{interp} -m venv {VENV}"
        if fam == "pytorch":
            interp = "python" if unversioned or not spellings else "python3"
            return f"{interp} -m venv --system-site-packages {VENV}"
        if fam in ("tensorflow", "ngc"):
            raise _NoFix(f"{base.image} ships its own Python packages in a layout slimml does not move into a virtualenv")
        # Python from apt (nvidia/cuda, ubuntu, debian ...)
        apt_python = [n for i in self.infos.values() for n in i.apt_names
                      if re.match(r"^python3(\.\d+)?$|^python3(\.\d+)?-(pip|venv|full)$|^python-is-python3$", n)]
        if not apt_python:
            raise _NoFix(f"how Python is installed in {base.image} cannot be told (a virtualenv may not be possible there)")
        if len({v.replace("pip", "python") for v in versioned}) > 1:
            raise _NoFix("the installs use several Python versions")
        interp = versioned[0].replace("pip", "python") if versioned else "python3"
        venv_pkg = f"{interp}-venv"
        before = [i for i in self.infos.values() if i.ins.index < first_pip]
        has_venv = any(n in (venv_pkg, "python3-venv", "python3-full") if interp == "python3" else n == venv_pkg
                       for i in before for n in i.apt_names)
        cmd = f"{interp} -m venv --system-site-packages {VENV}"
        if has_venv:
            return cmd
        return (f"apt-get update && {APT_INSTALL_DEFAULT} {venv_pkg} && {APT_CLEAN} && {cmd}")

    def additions(self, base: _Base, used: set[str], pip_runs: list[RunInfo], copies, counterparts, keep) -> list[str]:
        """Packages the runtime stage needs that the file does not install: tools and libraries the old base had."""
        if base.same or base.family != "python":
            return []
        installed = {n for i in self.infos.values() for n in i.apt_names}
        have = installed | {p for v in counterparts.values() for p in v} | keep | A.preinstalled(base.release, True)
        out: list[str] = []
        for c in sorted(used):
            pkg = A.PYTHON_FULL_ONLY_COMMANDS.get(c)
            if pkg and pkg not in have and pkg not in out:
                out.append(pkg)
        names = [n for info in pip_runs for n in info.reqs + info.file_reqs]
        for name in dict.fromkeys(names):
            for dev in A.PIP_SYSTEM_LIBS.get(name, ()):
                rt = A.runtime_packages(dev, base.release)
                if rt is None:
                    raise _NoFix(f"which library `{name}` needs at run time on {base.release or base.runtime} is not known")
                for p in rt:
                    if p not in have and p not in out:
                        out.append(p)
        return out

    def read_requirements(self, pip_runs: list[RunInfo], copies: list[Instruction]) -> None:
        """Package names and editable directories from the requirements files the installs read."""
        unread: list[str] = []
        for info in pip_runs:
            for path, cwd in info.req_files:
                names, editables = _read_requirements(self.doc, self.ctx, copies, info.ins, path, cwd, set(), unread)
                info.file_reqs += names
                for e in editables:
                    if _has_var(e) or e == "/":
                        raise _NoFix(f"`{path}` installs `-e {e}`, a directory that cannot be told")
                    if (e, "dir") not in info.artifacts:
                        info.artifacts.append((e, "dir"))
        if unread:
            self.notes.append(", ".join(dict.fromkeys(unread)) + " not read: an editable (-e) install listed there "
                              "needs its directory copied from the builder, and a package built from source against "
                              "a library of the old base needs that library in the runtime stage")

    def manifest_only(self, c: Instruction) -> bool:
        if c.flag("from") is not None or c.keyword != "COPY":
            return False
        ops = _copy_operands(c)
        if not ops or len(ops) < 2:
            return False
        return all(any(r.match(posixpath.basename(s.rstrip("/"))) for r in _MANIFEST_RES) for s in ops[:-1])

    def artifacts(self, last_b: int, copies: list[Instruction]) -> tuple[set[int], dict[int, list[str]]]:
        """(indexes of source COPYs the builder's directories replace, {RUN index: paths to copy after it})."""
        doc = self.doc
        roots: list[tuple[str, str, int]] = []  # (path, kind, index of the last RUN producing it)
        for info in sorted(self.infos.values(), key=lambda i: i.ins.index):
            for path, kind in info.artifacts:
                if re.search(r"\s|[\"'\\]", path):
                    raise _NoFix(f"the built path `{path}` needs quoting")
                roots = [r for r in roots if r[0] != path] + [(path, kind, info.ins.index)]
        dirs = [r for r in roots if r[1] == "dir"]
        # Outermost directories only; files inside them come along.
        dirs = [d for d in dirs if not any(o is not d and H.path_under(d[0], o[0]) and o[0] != d[0] for o in dirs)]
        files = [f for f in roots if f[1] == "file" and not any(H.path_under(f[0], d[0]) for d in dirs)]
        replaced: set[int] = set()
        lines: dict[int, list[str]] = {}
        for path, _, at in dirs:
            if H.path_under(VENV, path):
                raise _NoFix(f"the build directory {path} contains the virtualenv")
            first = None
            for c in copies:
                if c.index >= at:
                    continue
                ops = _copy_operands(c)
                if ops is None or len(ops) < 2 or _has_var(ops[-1]):
                    raise _NoFix(f"a COPY at line {c.start_line} whose destination cannot be told")
                dest = H.join_path(H.workdir_at(doc, c), ops[-1])
                if H.path_under(dest, path):
                    replaced.add(c.index)
                    first = c.index if first is None else first
                elif H.path_under(path, dest) and dest != path and self.copies_into(c, dest, path):
                    raise _NoFix(f"the COPY at line {c.start_line} fills {path} from above ({dest})")
            if first is None:
                raise _NoFix(f"nothing is copied into {path} before it is built")
            for ins in self.instrs:
                if first < ins.index < at and ins.keyword == "RUN" and self.infos[ins.index].kind == "other":
                    raise _NoFix(f"the RUN at line {ins.start_line} runs between the sources' COPY and the build of {path}")
            lines.setdefault(at, []).append(path)
        for path, _, at in files:
            lines.setdefault(at, []).append(path)
        return replaced, lines

    def copies_into(self, c: Instruction, dest: str, path: str) -> bool:
        """Whether COPY ``c`` (destination ``dest``, an ancestor of ``path``) may put files under ``path``."""
        ops = _copy_operands(c) or []
        rel = posixpath.relpath(path, dest).split("/")[0]
        for s in ops[:-1]:
            s = s.rstrip("/") or "."
            if s in (".", "./") or any(ch in s for ch in "*?[") or _has_var(s):
                return True
            if posixpath.basename(s) == rel:
                return True
            if self.ctx.context_dir is None or self.ctx.is_dir(s.lstrip("./") or "."):
                return True
        return False

    # -- rendering ---------------------------------------------------------------------------------
    def render(self, base: _Base, last_b: int, first_pip, venv_cmd, remove, counterparts, additions, replaced,
               art_lines, manifest_only) -> str:
        doc = self.doc
        text, nl = doc.text, doc.newline
        lower = _lowercase_file(doc)

        def kw(k: str) -> str:
            return k.lower() if lower else k

        fi = self.stage.from_instruction
        indent = doc.line_indent(self.instrs[0].start) if self.instrs else ""
        builder = self.builder_name()
        blocks: dict[int, tuple[str, str]] = {}
        prev = fi.line_end
        for ins in self.instrs:
            blocks[ins.index] = (text[prev:ins.line_start], text[ins.line_start:ins.line_end])
            prev = ins.line_end
        trailing = text[prev:]

        def line(s: str) -> str:
            return f"{indent}{s}{nl}"

        def ensure_nl(s: str) -> str:
            return s if not s or s.endswith("\n") else s + nl

        # Builder stage.
        out: list[str] = [ensure_nl(self.from_line(builder_name=builder, lower=lower))]
        venv_at = None
        if venv_cmd is not None:
            runs_before = [i.index for i in self.instrs if i.keyword == "RUN" and i.index < first_pip]
            venv_at = max(runs_before) if runs_before else -1
        if venv_at == -1:
            out.append(line(f"{kw('RUN')} {venv_cmd}") + line(f"{kw('ENV')} PATH={VENV_PATH_VALUE}"))
        for ins in self.instrs:
            if ins.index > last_b:
                break
            k = ins.keyword
            if k in ("ARG", "ENV", "SHELL", "WORKDIR", "COPY", "ADD", "RUN"):
                lead, body = blocks[ins.index]
                if k == "RUN" and self.infos[ins.index].drop_words:
                    body = self.splice(ins, [(p.end, w.end, "") for p, w in self.infos[ins.index].drop_words])
                out.append(lead + ensure_nl(body))
            if ins.index == venv_at:
                out.append(line(f"{kw('RUN')} {venv_cmd}") + line(f"{kw('ENV')} PATH={VENV_PATH_VALUE}"))
        builder_text = "".join(out)

        # Runtime stage.
        rt: list[str] = [ensure_nl(self.from_line(runtime_image=base.runtime, lower=lower))]
        seen: set[str] = set(A.preinstalled(base.release, base.family == "python"))
        extra = list(additions)
        # Packages the file does not install go into the first apt install the runtime stage runs, when no
        # other RUN comes before it; else into a RUN of their own right after FROM.
        first_run = next((i for i in self.instrs if i.keyword == "RUN" and (
            self.infos[i.index].kind == "other" or (self.infos[i.index].kind in ("apt", "build") and self.infos[i.index].apt))),
            None)
        if extra and not (first_run is not None and self.infos[first_run.index].kind == "apt"):
            rt.append(line(f"{kw('RUN')} apt-get update && {APT_INSTALL_DEFAULT} {' '.join(extra)} && {APT_CLEAN}"))
            seen.update(extra)
            self.emitted.extend(extra)
            extra = []
        venv_done = venv_cmd is None

        def venv_lines() -> str:
            return (line(f"{kw('COPY')} --from={builder} {VENV} {VENV}") + line(f"{kw('ENV')} PATH={VENV_PATH_VALUE}"))

        for ins in self.instrs:
            k = ins.keyword
            lead, body = blocks[ins.index]
            piece = None  # text of this instruction in the runtime stage ("" drops it)
            is_meta = k in _RUNTIME_META
            if k == "RUN":
                info = self.infos[ins.index]
                if info.kind == "setup":
                    piece = ""
                elif info.kind == "build":
                    synth = self.synth_apt(info, remove, counterparts, seen, kw, line)
                    if synth:
                        rt.append(synth)
                    paths = art_lines.get(ins.index, [])
                    if paths and not venv_done:
                        rt.append(venv_lines())
                        venv_done = True
                    rt.extend(line(f"{kw('COPY')} --from={builder} {p} {p}") for p in paths)
                    continue
                elif info.kind == "apt":
                    new = self.apt_runtime(info, remove, counterparts, seen, extra if info.apt else [])
                    extra = extra if not info.apt else []
                    if new is None:
                        piece = ""
                    else:
                        piece = lead + ensure_nl(new)
                    is_meta = True
                else:
                    piece = lead + ensure_nl(body)
            elif k in ("COPY", "ADD") and (ins.index in replaced or ins.index in manifest_only):
                piece = ""
            else:
                piece = lead + ensure_nl(body)
            if piece and not is_meta and not venv_done:
                rt.append(venv_lines())
                venv_done = True
            if piece:
                rt.append(piece)
        if not venv_done:
            rt.append(venv_lines())
        runtime_text = "".join(rt)
        return ensure_nl(builder_text) + nl + runtime_text + trailing

    def builder_name(self) -> str:
        taken = set()
        for ins in self.doc.instructions:
            for f in ins.flags_of("from"):
                taken.add((f.value or "").lower())
            for m in H.mounts(ins):
                if "from" in m:
                    taken.add(m["from"].lower())
        if self.stage.name:
            taken.add(self.stage.name)
        name, n = BUILDER_NAME, 2
        while name in taken:
            name = f"{BUILDER_NAME}-{n}"
            n += 1
        return name

    def from_line(self, builder_name: str | None = None, runtime_image: str | None = None, lower: bool = False) -> str:
        fi = self.stage.from_instruction
        splices: list[tuple[int, int, str]] = []
        words = shell_words(fi.args, raw=True)
        has_as = len(words) >= 3 and words[1][0].lower() == "as"
        if builder_name is not None:
            if has_as:
                s, e = fi.args_span(words[2][1], words[2][2])
                splices.append((s, e, builder_name))
            else:
                end = fi.args_span(words[0][1], words[0][2])[1]
                as_kw = "as" if fi.keyword_raw.islower() or lower else "AS"
                splices.append((end, end, f" {as_kw} {builder_name}"))
        else:
            s, e = self.stage.image_span
            splices.append((s, e, runtime_image))
        return self.splice(fi, splices)

    def splice(self, ins: Instruction, splices: list[tuple[int, int, str]]) -> str:
        base = ins.line_start
        body = self.doc.text[ins.line_start:ins.line_end]
        for s, e, t in sorted(splices, reverse=True):
            body = body[: s - base] + t + body[e - base:]
        return body

    def decide(self, a: AptInstall, remove, counterparts, seen: set[str]) -> list[tuple[int, str | None]]:
        """Per package word of ``a``: (index in a.words, replacement text or None to keep; "" drops it)."""
        out = []
        for idx, name in zip(a.pkg_idx, a.names):
            if name in remove:
                repl = [p for p in counterparts[name] if p not in seen]
                seen.update(repl)
                self.emitted.extend(repl)
                out.append((idx, " ".join(repl)))
            else:
                seen.add(name)
                out.append((idx, None))
        return out

    def apt_runtime(self, info: RunInfo, remove, counterparts, seen: set[str], extra: list[str]) -> str | None:
        """The apt RUN as the runtime stage runs it (None: it installs nothing left). ``extra`` packages
        are added to its first install."""
        splices: list[tuple[int, int, str]] = []
        empty = 0
        if not info.apt:
            return self.splice(info.ins, [])  # `apt-get update` alone: kept as written
        for a in info.apt:
            dec = self.decide(a, remove, counterparts, seen)
            if extra and dec:
                extra, add = [], [p for p in extra if p not in seen]
                seen.update(add)
                self.emitted.extend(add)
                alive = [k for k, (_, r) in enumerate(dec) if r != ""]
                if add and alive:
                    k = alive[-1]
                    idx, r = dec[k]
                    end = a.words[idx].end
                    multiline = "\n" in self.doc.text[a.words[0].start:end]
                    sep = H.continuation_joiner(self.doc, info.ins, end) if multiline else " "
                    if r is None:
                        splices.append((end, end, "".join(sep + p for p in add)))
                    else:
                        dec[k] = (idx, r + "".join(sep + p for p in add))
                elif add:
                    dec[0] = (dec[0][0], " ".join(add))
            if all(r == "" for _, r in dec):
                empty += 1
                continue
            k = 0
            while k < len(dec):
                idx, repl = dec[k]
                if repl is None:
                    k += 1
                    continue
                if repl:
                    w = a.words[idx]
                    splices.append((w.start, w.end, repl))
                    k += 1
                    continue
                # a run of dropped words that are adjacent in the command
                j = k
                while j + 1 < len(dec) and dec[j + 1][1] == "" and dec[j + 1][0] == dec[j][0] + 1:
                    j += 1
                first, last = a.words[dec[k][0]], a.words[dec[j][0]]
                nxt = dec[j][0] + 1
                if nxt < len(a.words):
                    splices.append((first.start, a.words[nxt].start, ""))
                else:
                    splices.append((a.words[dec[k][0] - 1].end, last.end, ""))
                k = j + 1
        if empty:
            if empty == len(info.apt):
                return None
            raise _NoFix(f"the apt RUN at line {info.ins.start_line} has an install left with no package")
        return self.splice(info.ins, splices)

    def synth_apt(self, info: RunInfo, remove, counterparts, seen: set[str], kw, line) -> str:
        """A runtime apt RUN for the packages an install RUN installed that the runtime still needs."""
        pkgs: list[str] = []
        prefix = None
        for a in info.apt:
            for _, name in zip(a.pkg_idx, a.names):
                cand = counterparts[name] if name in remove else (name,)
                for p in cand:
                    if p not in seen:
                        seen.add(p)
                        pkgs.append(p)
                        if name in remove:
                            self.emitted.append(p)
                        prefix = prefix or a.prefix
        if not pkgs:
            return ""
        return line(f"{kw('RUN')} apt-get update && {prefix} {' '.join(pkgs)} && {APT_CLEAN}")

    # -- reporting --------------------------------------------------------------------------------
    def description(self, base: _Base, remove: set[str], keep: set[str], pip_runs: list[RunInfo],
                    art_lines: dict[int, list[str]]) -> str:
        parts = [f"split into a builder stage ({base.image}) and a runtime stage ({base.runtime})"]
        if pip_runs:
            parts.append(f"Python packages installed into {VENV} and copied")
        if remove:
            parts.append("runtime stage drops " + ", ".join(sorted(remove)))
        if self.emitted:
            parts.append("runtime stage installs " + ", ".join(dict.fromkeys(self.emitted))
                         + " (run-time libraries and tools the build-only packages or the old base provided)")
        if keep:
            parts.append("keeps " + ", ".join(sorted(keep)) + " (the runtime stage uses them)")
        paths = [p for ps in art_lines.values() for p in ps]
        if paths:
            parts.append("copies the built " + ", ".join(paths) + " from the builder")
        if any(i.drop_words for i in pip_runs):
            parts.append("drops `pip install --user` (an error inside a virtualenv)")
        if base.note:
            self.notes.append(base.note)
        if self.emitted and base.release and not base.same and base.family == "python" and not IMG.python_tag(
                IMG.parse_image(base.expanded).tag).os:
            self.notes.append(f"runtime package names are those of {base.release}, the release {base.runtime} is "
                              "built on today")
        return "; ".join(parts + self.desc)

    def estimate(self, base: _Base, remove: set[str], additions: list[str]) -> tuple[tuple[int, int] | None, str]:
        """Bytes saved: the base images' difference plus the build-only packages left out."""
        from ..knowledge import sizes as Z

        parts: list[tuple[int, int]] = []
        basis: list[str] = []
        if not base.same:
            saving = None
            if base.family in ("cuda", "pytorch", "tensorflow"):
                saving = Z.runtime_saving(base.expanded)
            if saving is None:
                a, b = Z.image_size(base.expanded), Z.image_size(base.runtime_expanded)
                diff = Z.subtract(a, b) if a and b else None
                saving = (diff, f"size of {base.image} minus {base.runtime} (uncompressed)") if diff else None
            if saving is None:
                return None, ""  # the larger part is unknown
            parts.append(saving[0])
            basis.append(saving[1])
        full_python = base.family == "python" and not base.same
        pkgs = sorted(remove)
        sizes = [Z.apt_package_size(n) for n in pkgs]
        known = [r for r in sizes if r]
        if known and not full_python:
            # Dependency closures overlap: the largest alone at the low end, the sum at the high end.
            low = max(r[0] for r in known) if base.same else 0
            parts.append((low, sum(r[1] for r in known)))
            basis.append("installed size of " + ", ".join(n for n, r in zip(pkgs, sizes) if r)
                         + " (shared dependencies counted once at the low end)")
        if not parts:
            return None, ""
        low, high = Z.add(*parts)
        extra = [Z.apt_package_size(n) for n in additions]
        extra_high = sum(r[1] for r in extra if r)
        low = max(0, low - extra_high)
        if extra_high:
            basis.append("less " + ", ".join(n for n, r in zip(additions, extra) if r) + " installed in the runtime stage")
        if high <= 0:
            return None, ""
        return (low, high), "; ".join(basis)


# -- multi-stage files -------------------------------------------------------------------------------------
def _check_final_stage(doc: Document, ctx):
    stage = doc.final_stage
    infos = {i.index: _RunReader(doc, i).read() for i in stage.instructions if i.keyword == "RUN"}
    copies = [i for i in stage.instructions if i.keyword in ("COPY", "ADD")]
    notes: list[str] = []
    used = _runtime_commands(doc, ctx, stage.instructions, infos, copies, notes)
    found = sorted({n for i in infos.values() if i.kind in ("apt", "build") for n in i.apt_names
                    if A.is_build_only(n) and not set(A.package_commands(n)) & used})
    if not found:
        return
    fi = stage.from_instruction
    shown = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
    yield H.finding(_RULE, f"the final stage installs build-only packages ({shown})", fi.start, fi.end,
                    note="install them in a builder stage and copy what they build into this one; slimml does not "
                         "rearrange stages of a multi-stage file")
