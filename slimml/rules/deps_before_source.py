"""The whole source tree copied before the dependency install, so every code change re-installs.

What it does
    In each stage, finds the first ``COPY . <dest>`` / ``ADD . <dest>`` (no ``--from``) that comes
    before a RUN installing dependencies from manifests under ``<dest>``: ``pip install -r``/``-c``
    (following ``-r``/``-c`` includes recursively, plus the local directories and wheels the files
    name), ``uv pip install``/``uv pip sync``, ``pip-sync``, ``conda``/``mamba``/``micromamba``
    with ``environment.yml`` or ``--file``, ``pipenv install``, ``poetry install``, ``uv sync``,
    ``pdm install``. It copies just those manifests first (same destination, same
    ``--chown``/``--chmod``/``--link``, grouped by directory because a multi-source COPY
    flattens) and moves the source COPY after the install.

    What the installer reads besides its command line is copied early too: files named by its
    environment (``PIP_CONSTRAINT``, ``PIP_FIND_LINKS``, ``PIP_CONFIG_FILE``, ``UV_CONFIG_FILE``,
    ``export``-ed in the RUN or set by ENV, also in a parent stage) and its config files where
    the sources put them (pip.conf, uv.toml and a pyproject.toml with ``[tool.uv]`` from the
    working directory up, poetry.toml, pdm.toml, .condarc), with the files and ``find-links``
    directories *they* name -- a private index or ``no-index`` that the sources configure must
    not turn into public PyPI. A setting from a build argument, or a config file an earlier RUN
    wrote, cannot be read: the move is withdrawn with the reason.

    Tools that also install the project itself get their documented two-step form: a
    dependencies-only install before the sources (``poetry install --no-root``,
    ``uv sync --no-install-project`` (+ ``--frozen`` when a uv.lock is there), ``pdm install
    --no-self``), the original command after them. ``pip install .``/``-e .`` of a project whose
    pyproject.toml lists its dependencies statically gets a new RUN installing those
    dependencies first -- an *unsafe* fix, since the list is copied from pyproject.toml.

    Nothing is moved when it cannot be shown equivalent: an instruction between the COPY and the
    install that may read or change the sources (a script, ``make``, another COPY, USER, a
    WORKDIR unless the COPY goes to an absolute path), an install RUN that also runs other
    programs (``python manage.py ...``, ``cd``), a project whose dependencies are dynamic or come
    from setup.py, a file the RUN writes that the moved COPY would overwrite (a ``.venv`` the
    build context has). Those are reported with a note.

Why
    Docker reuses a layer only while everything it depends on is unchanged. ``COPY . .`` depends
    on every file of the project, so after any edit the install below it runs again: minutes of
    downloads and compiles (torch, CUDA wheels) for a one-line change.

Example
    WORKDIR /app
    COPY . .
    RUN pip install -r requirements.txt

Use instead
    WORKDIR /app
    COPY requirements.txt ./
    RUN pip install -r requirements.txt
    COPY . .
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, Script, Word, run_scripts, unwrap
from ..engine import Edit, Fix
from ..knowledge import installer_config as IK
from ..knowledge import manifests as M
from ..knowledge import python_tools as P
from ..knowledge.pip_imports import PIP_IMPORTS
from ..semantics import build as B
from ..semantics.files import operands, origin
from ..semantics.installers import command_env
from ..semantics.installers import inputs as installer_inputs
from . import _helpers as H

CODE = "SLM004"
NAME = "deps-before-source"
SUMMARY = "Whole source tree copied before the dependency install: every code change re-runs the install"
OPTIONS = {}
FIX = "safe+unsafe"

_RULE = H.rule_of(__name__)

PYPROJECT_REASON = (
    "the dependency list of the new RUN is copied from pyproject.toml at fix time; when the project's "
    "dependencies change, run slimml again (or edit that RUN), or the early install goes stale"
)

_BETWEEN = {
    "WORKDIR": "changes the directory the install runs in",
    "USER": "changes the user the install runs as",
    "COPY": "is another COPY, which the sources could overwrite",
    "ADD": "is another ADD, which the sources could overwrite",
    "VOLUME": "declares a VOLUME, which changes what later RUNs keep",
    "SHELL": "changes the SHELL the install runs with",
}
_METADATA_KEYWORDS = {
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "CMD",
    "ENTRYPOINT",
    "HEALTHCHECK",
    "STOPSIGNAL",
    "MAINTAINER",
    "ONBUILD",
}


@lru_cache(maxsize=1)
def _stdlib_names() -> frozenset[str]:
    return frozenset(getattr(sys, "stdlib_module_names", ()))


# -- paths ----------------------------------------------------------------------------------------
def _rel(p: str, root: str) -> str:
    r = posixpath.relpath(p, root)
    return "" if r == "." else r


def _has_var(s: str) -> bool:
    return "$" in s or "`" in s


# -- the source COPY ------------------------------------------------------------------------------
@dataclass
class SourceCopy:
    instr: Instruction
    dest_value: str  # as BuildKit sees it (quotes removed)
    dest_abs: str | None  # None: contains a variable


def _copy_operands(instr: Instruction) -> list[str] | None:
    if instr.heredocs and not instr.is_exec_form:
        return None
    return operands(instr)


def source_copy(doc: Document, instr: Instruction) -> SourceCopy | None:
    """``COPY . <dest>`` / ``ADD ./ <dest>`` of the whole build context, else None."""
    if instr.keyword not in ("COPY", "ADD") or instr.flag("from") is not None:
        return None
    ops = _copy_operands(instr)
    if not ops or len(ops) < 2:
        return None
    srcs, dest = ops[:-1], ops[-1]
    if not all(s in M.WHOLE_CONTEXT_SOURCES for s in srcs):
        return None
    dest_abs = None if _has_var(dest) else H.join_path(H.workdir_at(doc, instr), dest)
    return SourceCopy(instr, dest, dest_abs)


# -- .dockerignore (enough to know whether a path reaches the build) -------------------------------
def _ignored(ctx, rel: str) -> bool:
    text = ctx.read_context_file(".dockerignore") if ctx.context_dir is not None else None
    if not text:
        return False
    ignored = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = posixpath.normpath(line.lstrip("!").strip().strip("/")) if line.lstrip("!").strip("/ ") else ""
        if not pat:
            continue
        pats = [pat]
        if pat.startswith("**/"):
            pats.append(pat[3:])
        if any(fnmatchcase(p, q.replace("**", "*")) for p in prefixes for q in pats):
            ignored = not neg
    return ignored


# -- reading one RUN ------------------------------------------------------------------------------
@dataclass
class ProjectInstall:
    """A command installing the project itself (it needs the sources)."""

    tool: str
    # edits turning the command into its dependencies-only form (None: no such form)
    splices: list[tuple[int, int, str]] | None
    unsafe: str = ""
    deps: tuple[str, ...] = ()  # pip: the dependency list the dependencies-only install names


@dataclass
class RunReads:
    files: list[str] = field(default_factory=list)  # context-relative manifests
    dirs: list[str] = field(default_factory=list)  # context-relative directories (local packages)
    optional: list[str] = field(default_factory=list)  # patterns for optional files (context unknown)
    projects: list[ProjectInstall] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # why the RUN may read/change the sources otherwise
    unrepeatable: list[str] = field(default_factory=list)  # commands that fail when the RUN runs twice
    notes: list[str] = field(default_factory=list)  # what could not be verified
    missing: list[str] = field(default_factory=list)

    @property
    def installs(self) -> bool:
        return bool(self.files or self.dirs or self.projects)

    def add_file(self, rel: str) -> None:
        if rel not in self.files:
            self.files.append(rel)

    def add_dir(self, rel: str) -> None:
        if rel not in self.dirs:
            self.dirs.append(rel)

    def block(self, why: str) -> None:
        if why not in self.blockers:
            self.blockers.append(why)

    def note(self, what: str) -> None:
        if what not in self.notes:
            self.notes.append(what)


def _effective(words: list[Word]) -> list[Word]:
    """Words with wrappers (``sudo -E``, ``env A=1``, ``conda run -n x``) stripped; ``xargs`` is kept
    as the program, since its arguments come from stdin."""
    return words[unwrap([w.value for w in words], skip=frozenset({"xargs"})) :]


def _split_short(v: str, with_value: set[str]) -> tuple[str, str | None] | None:
    """``-qr`` -> ("r", "") (value is the next word); ``-rreq.txt`` -> ("r", "req.txt"); ``-q`` -> None."""
    if not v.startswith("-") or v.startswith("--") or len(v) < 2:
        return None
    for k, ch in enumerate(v[1:], start=1):
        if ch in with_value:
            return ch, v[k + 1 :].lstrip("=")
        if not ch.isalpha():
            return None
    return None


@dataclass
class Opt:
    name: str  # canonical spelling ("-r", "--requirement", ...)
    value: str | None
    words: list[Word]  # the words spelling it (option and value)


def _parse_args(words: list[Word], value_opts: set[str], short_with_value: set[str]) -> tuple[list[Opt], list[Word]]:
    """Options (with their values) and positional words."""
    opts: list[Opt] = []
    pos: list[Word] = []
    i = 0
    rest = False
    while i < len(words):
        w = words[i]
        v = w.value
        if rest or not v.startswith("-") or v == "-":
            pos.append(w)
            i += 1
            continue
        if v == "--":
            rest = True
            i += 1
            continue
        if v.startswith("--") and "=" in v:
            name, _, val = v.partition("=")
            opts.append(Opt(name, val, [w]))
            i += 1
            continue
        if v in value_opts:
            val_w = words[i + 1] if i + 1 < len(words) else None
            opts.append(Opt(v, val_w.value if val_w else None, [w] + ([val_w] if val_w else [])))
            i += 2
            continue
        sc = _split_short(v, short_with_value)
        if sc is not None and ("-" + sc[0]) in value_opts:
            letter, val = sc
            if val:
                opts.append(Opt("-" + letter, val, [w]))
                i += 1
            else:
                val_w = words[i + 1] if i + 1 < len(words) else None
                opts.append(Opt("-" + letter, val_w.value if val_w else None, [w] + ([val_w] if val_w else [])))
                i += 2
            continue
        opts.append(Opt(v, None, [w]))
        i += 1
    return opts, pos


def local_path(spec: str) -> tuple[str, list[str]] | str | None:
    """The local path a requirement names, with its extras; None for a package name or a remote
    URL; the string "?" when it cannot be told (a variable)."""
    s = spec.strip()
    if not s:
        return None
    m = M.DIRECT_REFERENCE_RE.match(s)
    if m:
        url = m.group(2).strip()
        if not url.startswith("file:"):
            return None
        s = url
    if s.startswith("file:"):
        s = s[len("file://") :] if s.startswith("file://") else s[len("file:") :]
        s = s.split("#", 1)[0]
        if s.startswith("//"):
            s = s[1:]
    elif "://" in s or re.match(r"^(git|hg|svn|bzr)\+", s):
        return None
    elif s.lower().endswith(M.ARCHIVE_SUFFIXES):
        pass
    elif s.startswith((".", "/", "~")) or "/" in s.split(";", 1)[0]:
        pass
    elif M.NAMED_REQUIREMENT_RE.match(s):
        return None
    elif s.startswith("$") or _has_var(s):
        return "?"
    else:
        return None
    if _has_var(s):
        return "?"
    path, inner = _split_extras(s)
    extras = [e.strip() for e in (inner or "").split(",") if e.strip()]
    return path, extras


def _split_extras(s: str) -> tuple[str, str | None]:
    """(path, text inside a trailing ``[extras]``), as ``^(.*?)(\\[([^\\]]*)\\])?$`` splits ``s`` (groups 1 and 3),
    in linear time: the lazy regex rescanned the rest of ``s`` from every ``[``. Where the regex finds no
    match (a newline inside ``s``), ``s`` is all path."""
    end = len(s) - 1 if s.endswith("\n") else len(s)  # where ``$`` matches
    if end > 0 and s[end - 1] == "]":
        q = end - 1
        p = s.find("[", s.rfind("]", 0, q) + 1, q)  # the first `[` with no `]` between it and the last
        if p >= 0 and "\n" not in s[:p]:
            return s[:p], s[p + 1 : q]
    return (s[:end], None) if "\n" not in s[:end] else (s, None)


def requirement_lines(text: str) -> list[str]:
    """Logical lines of a requirements file: continuations joined, comments removed."""
    out: list[str] = []
    buf = ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not M.REQUIREMENTS_COMMENT_RE.search(raw[:-1]):
            buf += raw[:-1] + " "
            continue
        line = M.REQUIREMENTS_COMMENT_RE.sub("", buf + raw).strip()
        buf = ""
        if line:
            out.append(line)
    if buf.strip():
        out.append(M.REQUIREMENTS_COMMENT_RE.sub("", buf).strip())
    return [ln for ln in out if ln]


def _static_deps(data: dict, extras: list[str]) -> list[str] | None:
    """[project] dependencies (+ the extras asked for), or None when they are dynamic/absent."""
    proj = data.get("project")
    if not isinstance(proj, dict):
        return None
    dynamic = proj.get("dynamic") or []
    if "dependencies" in dynamic or ("optional-dependencies" in dynamic and extras):
        return None
    deps = proj.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        return None
    out = list(deps)
    opt = proj.get("optional-dependencies") or {}
    for e in extras:
        extra = opt.get(e)
        if extra is None:
            continue  # pip warns and installs nothing for an unknown extra
        if not isinstance(extra, list):
            return None
        out.extend(d for d in extra if d not in out)
    return out


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _quote(spec: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._+=,:/@-]+", spec):
        return spec
    if "'" not in spec:
        return f"'{spec}'"
    if not re.search(r'["$`\\!]', spec):
        return f'"{spec}"'
    return shlex.quote(spec)


class RunReader:
    """What one RUN reads from the directory a source COPY fills, and whether it does anything else."""

    def __init__(self, doc: Document, ctx, instr: Instruction, dest: str):
        self.doc, self.ctx, self.instr, self.dest = doc, ctx, instr, dest
        self.cwd = H.workdir_at(doc, instr)
        self.env = H.stage_env(doc, instr)
        self.user = H.user_at(doc, instr)
        self.r = RunReads()
        self._seen_req: set[str] = set()

    # -- helpers --------------------------------------------------------------------------------
    @property
    def have_context(self) -> bool:
        return self.ctx.context_dir is not None

    def abspath(self, p: str, base: str | None = None) -> str:
        if p.startswith("~"):
            home = "/root" if self.user in (None, "root", "0") else f"/home/{self.user}"
            p = home + p[1:]
        return H.join_path(base or self.cwd, p)

    def ctx_rel(self, p: str) -> str | None:
        """Context-relative path of absolute ``p`` when the source COPY puts it there."""
        return _rel(p, self.dest) if H.path_under(p, self.dest) else None

    def read(self, rel: str) -> str | None:
        return self.ctx.read_context_file(rel) if self.have_context else None

    def check_exists(self, rel: str) -> bool:
        if not self.have_context:
            return False
        if self.ctx.exists(rel) and not _ignored(self.ctx, rel):
            return True
        if rel not in self.r.missing:
            self.r.missing.append(rel)
        return False

    def write(self, p: str, what: str) -> None:
        """``p`` (absolute, may be a pattern) is created/changed/removed by the RUN."""
        if p.startswith(M.DEVICE_PREFIX) or not H.path_under(p, self.dest):
            return
        rel = _rel(p, self.dest)
        if rel == "":
            self.r.block(f"{what} `{p}`, the directory the sources are copied into")
            return
        if any(ch in rel for ch in "*?["):
            self.r.block(f"{what} `{p}` inside the directory the sources are copied into")
            return
        if not self.have_context:
            self.r.block(f"{what} `{p}`, which the moved source COPY might overwrite (build context unknown)")
        elif self.ctx.exists(rel) and not _ignored(self.ctx, rel):
            self.r.block(
                f"{what} `{p}`, which the moved source COPY would overwrite (exclude `{rel}` in "
                f".dockerignore if the image does not need it)"
            )

    # -- requirements files ---------------------------------------------------------------------
    def requirements_file(self, p: str, base: str | None = None) -> None:
        """A requirements/constraints file at ``p`` (relative to ``base`` or the working dir)."""
        if _has_var(p):
            self.r.block(f"reads `{p}`, a path with a variable")
            return
        ap = self.abspath(p, base)
        rel = self.ctx_rel(ap)
        if rel is None or rel == "":
            return  # not from the source COPY
        self.r.add_file(rel)
        if ap in self._seen_req:
            return
        self._seen_req.add(ap)
        name = posixpath.basename(rel)
        if name in M.SETUP_FILES:
            self.r.block(f"reads the dependencies of `{rel}`, which may need the project's sources")
            return
        if name in M.PROJECT_METADATA_FILES:
            data = self.toml(rel)
            if data is not None and _static_deps(data, []) is None:
                self.r.block(f"reads `{rel}`, which has no static [project] dependencies (they may need the sources)")
            elif data is not None and getattr(self, "_uv", False):
                # uv honours [tool.uv.sources]: path dependencies are read from the sources too
                for path in _path_dependencies("uv", data):
                    if _has_var(path):
                        self.r.block(f"installs the path dependency `{path}`, a path with a variable")
                    else:
                        self.local_dir_or_file(self.abspath(path, posixpath.dirname(ap)), path, package=True)
            return
        if not self.have_context:
            self.r.note(f"build context unknown: files included by {rel} were not followed")
            return
        text = self.read(rel)
        if text is None:
            self.check_exists(rel)
            return
        fdir = posixpath.dirname(ap)
        for line in requirement_lines(text):
            self.requirement_line(line, fdir, rel)

    def requirement_line(self, line: str, fdir: str, rel: str) -> None:
        try:
            toks = shlex.split(line, posix=True)
        except ValueError:
            toks = line.split()
        if not toks:
            return
        words = [Word(t, t, 0, 0, "word") for t in toks]
        opts, pos = _parse_args(
            words,
            M.REQUIREMENT_OPTS
            | M.CONSTRAINT_OPTS
            | M.EDITABLE_OPTS
            | M.FIND_LINKS_OPTS
            | M.PIP_OPTS_WITH_VALUE
            | {"--hash"},
            M.PIP_SHORT_WITH_VALUE,
        )
        for o in opts:
            if o.value is None:
                continue
            if o.name in M.REQUIREMENT_OPTS | M.CONSTRAINT_OPTS:
                self.requirements_file(o.value, fdir)
            elif o.name in M.EDITABLE_OPTS:
                self.local_spec(o.value, f"`-e {o.value}` in {rel}")
            elif o.name in M.FIND_LINKS_OPTS or o.name in M.INDEX_URL_OPTS:
                self.find_links(o.value, fdir, index=o.name in M.INDEX_URL_OPTS)
        if pos:
            spec = re.split(r"(?<!\s)\s+--?[A-Za-z]", line, maxsplit=1)[0].strip()  # (?<!\s): linear, same split
            self.local_spec(spec if M.DIRECT_REFERENCE_RE.match(spec) else pos[0].value, f"`{spec}` in {rel}")

    def find_links(self, value: str, fdir: str | None, index: bool = False) -> None:
        """A find-links location (or, with ``index``, a package index) that may be local."""
        if index and not value.startswith("file:") and not value.startswith((".", "/", "~")):
            return  # an index is a URL; only file:// and paths are local
        lp = local_path(value) if not value.startswith(("http:", "https:")) else None
        if lp is None:
            return
        if lp == "?":
            self.r.block(f"finds packages in `{value}`, a path with a variable")
            return
        path = lp[0]
        cands = []
        if fdir is not None:
            cands.append(self.abspath(path, fdir))  # pip prefers the requirements file's directory
        cands.append(self.abspath(path))
        for ap in cands:
            rel = self.ctx_rel(ap)
            if rel is not None and self.have_context and self.ctx.exists(rel):
                self.local_dir_or_file(ap, value)
                if index:
                    self.index_links(rel)
                return
        self.local_dir_or_file(cands[-1], value)

    def index_links(self, rel: str) -> None:
        """The files the pages of a local (PEP 503) index link to: ``../../packages/x.whl`` lies
        outside the index folder."""
        prefix = rel.rstrip("/") + "/"
        for path, _ in self.ctx.walk_context():
            if not path.startswith(prefix) or not path.endswith((".html", ".htm")):
                continue
            for href in M.HREF_RE.findall(self.read(path) or ""):
                target = href.split("#", 1)[0]
                if not target or "://" in target or target.startswith("/"):
                    if target.startswith("file://"):
                        self.local_dir_or_file(target[len("file://") :], href)
                    continue
                ap = posixpath.normpath(posixpath.join(self.dest, posixpath.dirname(path), target))
                if H.path_under(ap, self.dest):
                    self.local_dir_or_file(ap, href)

    def local_spec(self, spec: str, where: str, project_cb=None) -> None:
        """A requirement that may be a local path (relative to the working directory, as pip does)."""
        lp = local_path(spec)
        if lp is None:
            return
        if lp == "?":
            self.r.block(f"installs {where}, which may be a path (it has a variable)")
            return
        path, extras = lp
        ap = self.abspath(path)
        rel = self.ctx_rel(ap)
        if rel is None:
            return
        if rel == "":
            if project_cb is not None:
                project_cb(extras)
            else:
                self.r.projects.append(ProjectInstall("pip", None))
                self.r.block(f"installs the project itself ({where}), which needs the sources")
            return
        self.local_dir_or_file(ap, spec, package=True)

    def local_dir_or_file(self, ap: str, spec: str, package: bool = False) -> None:
        rel = self.ctx_rel(ap)
        if rel is None:
            return
        if rel == "":
            self.r.block(f"reads `{spec}`, the whole source directory")
            return
        if package and self.have_context and self.ctx.is_dir(rel):
            why = self.package_build_reads_outside(rel)
            if why:
                self.r.block(f"builds the local package `{rel}`, whose {why}")
        if not self.have_context:
            if rel.lower().endswith(M.ARCHIVE_SUFFIXES):
                self.r.add_file(rel)
            else:
                self.r.note(f"build context unknown: `{rel}` copied as a directory")
                self.r.add_dir(rel)
        elif self.ctx.is_dir(rel):
            self.r.add_dir(rel)
        elif self.ctx.exists(rel):
            self.r.add_file(rel)
        else:
            self.r.add_file(rel)
            self.check_exists(rel)

    def package_build_reads_outside(self, rel: str) -> str:
        """Why building the package in directory ``rel`` may read sources outside it ("" when its
        build files say it does not): a setup.py that runs more than a literal ``setup(...)``, or
        build configuration naming a path outside the directory."""
        setup = self.read(posixpath.join(rel, "setup.py"))
        if setup is not None and not static_setup_py(setup):
            return "setup.py runs code at build time (it may read files outside its directory)"
        for name in ("pyproject.toml", "setup.cfg"):
            text = self.read(posixpath.join(rel, name))
            if text is not None and M.OUTSIDE_PATH_RE.search(text):
                return f"{name} names a path outside its directory"
        return ""

    def toml(self, rel: str) -> dict | None:
        text = self.read(rel)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError):
            self.r.note(f"{rel} could not be parsed")
            return None

    # -- commands -------------------------------------------------------------------------------
    def run(self) -> RunReads:
        instr = self.instr
        for m in H.mounts(instr):
            if m.get("type", "bind") in M.READING_MOUNT_TYPES:
                self.r.block("mounts files with `--mount=type=bind`, which the move cannot account for")
        scripts = run_scripts(self.doc, instr)
        if not scripts:
            self.r.block("runs commands slimml cannot read (exec form, non-POSIX SHELL or a non-shell heredoc)")
            return self.r
        for s in scripts:
            if s.has_error:
                self.r.block("has a shell script that does not parse")
                continue
            self.script(s)
        return self.r

    def script(self, s: Script) -> None:
        for n in s.nodes("test_command", "file_redirect"):
            if n.type == "test_command":
                self.r.block(f"tests files (`{s.node_text(n)}`)")
            else:
                self.redirect(s, n)
        for cmd in s.commands:
            self.command(cmd)

    def redirect(self, s: Script, n) -> None:
        op = next((c.type for c in n.children if not c.is_named), "")
        target = [c for c in n.children if c.is_named and c.type != "file_descriptor"]
        if not target or op in (">&", "<&", "&>-") and target[-1].type == "number":
            return
        val = s.node_text(target[-1]).strip("'\"")
        if _has_var(val):
            self.r.block(f"redirects to or from `{val}`")
            return
        ap = self.abspath(val)
        if op.startswith("<") and H.path_under(ap, self.dest) and not ap.startswith(M.DEVICE_PREFIX):
            self.r.block(f"reads `{val}` from the sources")
        elif not op.startswith("<"):
            self.write(ap, "writes")

    def command(self, cmd: Command) -> None:
        self._cmd = cmd
        words = _effective(cmd.words)
        if not words:
            return
        name = words[0].value
        if _has_var(name):
            self.r.block(f"runs `{words[0].raw}`, a command from a variable")
            return
        prog = H.basename(name)
        args = words[1:]
        vals = [w.value for w in args]
        if P.PIP_RE.match(prog):
            self.pip(words, args)
        elif P.PYTHON_RE.match(prog):
            self.python(words, args)
        elif prog == "uv":
            self.uv(words, args)
        elif prog in M.PIP_SYNC_TOOLS:
            for w in args:
                if not w.value.startswith("-"):
                    self.requirements_file(w.value)
        elif prog in ("poetry", "pdm", "pipenv"):
            self.project_tool(prog, words, args)
        elif prog in M.CONDA_TOOLS:
            self.conda(prog, words, args)
        elif prog in M.VENV_TOOLS:
            for w in args:
                if not w.value.startswith("-"):
                    self.path_arg(w, "creates a virtualenv at")
                    break
        elif prog in M.SYSTEM_PACKAGE_TOOLS:
            for v in vals:
                if not v.startswith("-") and ("/" in v or v.endswith(M.LOCAL_PACKAGE_SUFFIXES)):
                    if _has_var(v):
                        self.r.block(f"installs `{v}` with `{prog}`, which may be a local file")
                    elif H.path_under(self.abspath(v), self.dest):
                        self.r.block(f"installs `{v}` with `{prog}` from the sources")
        elif prog in M.PATH_WRITING_COMMANDS or prog in M.MODE_COMMANDS:
            paths = [w for w in args if not w.value.startswith("-")]
            if prog == "mkdir" and not any(
                v in M.MKDIR_PARENTS_FLAGS or re.fullmatch(r"-[a-z]*p[a-z]*", v) for v in vals
            ):
                self.r.unrepeatable.append("mkdir without -p")
            if prog in M.MODE_COMMANDS:
                paths = paths[1:]
            verb = M.PATH_WRITING_COMMANDS.get(prog) or M.MODE_COMMANDS[prog]
            for w in paths:
                self.path_arg(w, verb)
        elif prog in M.HARMLESS_COMMANDS:
            if prog in M.NOT_REPEATABLE_COMMANDS:
                self.r.unrepeatable.append(prog)
            return
        else:
            self.r.block(f"runs `{' '.join(w.raw for w in words[:2])}`, which may read the sources")

    def path_arg(self, w: Word, what: str) -> None:
        v = w.value
        if re.fullmatch(r"\$\(.*\)|`.*`", v.strip("'\"")):
            return  # a command substitution: its commands are checked on their own
        if _has_var(v):
            self.r.block(f"{what} `{v}`, a path with a variable")
            return
        self.write(self.abspath(v), what)

    # installer configuration (semantics.installers) -------------------------------------------
    def image_text(self, p: str) -> str | None:
        """A file as the install sees it: from the sources for paths the source COPY fills, else
        from where an earlier instruction put it (None: absent, or written by a RUN -- see below)."""
        rel = self.ctx_rel(p)
        if rel is not None:
            if not self.have_context or rel == "" or not self.ctx.is_file(rel) or _ignored(self.ctx, rel):
                return None
            return self.read(rel)
        o = origin(self.doc, self.ctx, self.instr, p)
        if o.kind in ("context", "heredoc"):
            return o.text
        name = posixpath.basename(p)
        for ins in self.doc.stages[self.instr.stage].instructions if self.instr.stage >= 0 else []:
            if ins.index >= self.instr.index:
                break
            if ins.keyword == "RUN" and name in ins.args:
                self.r.block(
                    f"reads `{p}`, which the RUN on line {ins.start_line} writes (its content cannot be read here)"
                )
                break
        return None

    def installer_config(self, tool: str, project_dir: str | None = None) -> None:
        """Copy early what the installer's environment and config files name inside the sources."""
        cmd = getattr(self, "_cmd", None)
        env = (
            command_env(self.doc, self.instr, cmd)
            if cmd is not None
            else dict(B.state_before(self.doc, self.instr).env)
        )
        home = "/root" if self.user in (None, "root", "0") else f"/home/{self.user}"
        if env.get("HOME") is not None and env["HOME"].certain:
            home = env["HOME"].value or home
        inp = installer_inputs(tool, env, self.cwd, home, self.image_text, project_dir, stop_at=self.dest)
        for why in inp.unknown:
            self.r.block(f"runs `{tool}` with {why}")
        for p in inp.writes:
            self.write(p, f"makes `{tool}` write into")
        for d in inp.path_dirs:
            shadow = self.shadowing_modules(d, tool)
            if shadow:
                self.r.block(
                    f"runs `{tool}` with `{d}` on its sys.path, where the sources have `{shadow}`, which "
                    f"{tool} would import in place of its own module"
                )
        for p in inp.files:
            rel = self.ctx_rel(p)
            if rel is None or rel == "":
                continue
            if not self.have_context:
                self.r.block(f"may read `{rel}` (installer configuration), and the build context is unknown")
            elif self.ctx.is_file(rel) and not _ignored(self.ctx, rel):
                self.r.add_file(rel)
        for p in inp.links:
            if H.path_under(p, self.dest):
                self.local_dir_or_file(p, p)

    def shadowing_modules(self, d: str, tool: str) -> str:
        """A top-level module or package of the sources in directory ``d`` whose name a Python
        installer imports (measured for pip; the whole standard library for the others)."""
        rel = self.ctx_rel(d)
        if rel is None:
            return ""
        if not self.have_context:
            return "(unknown: the build context is unknown)"
        names = (PIP_IMPORTS if tool == "pip" else _stdlib_names()) | IK.SHADOWABLE_EXTRA
        base = self.ctx.context_path(rel or ".")
        try:
            entries = sorted(os.listdir(base)) if base is not None else []
        except OSError:
            return ""
        for e in entries:
            mod = e[:-3] if e.endswith(".py") else e
            if mod in names and (e.endswith(".py") or self.ctx.is_dir(posixpath.join(rel, e) if rel else e)):
                if not _ignored(self.ctx, posixpath.join(rel, e) if rel else e):
                    return e
        return ""

    # pip ------------------------------------------------------------------------------------------
    def pip(self, words: list[Word], args: list[Word], uv: bool = False) -> None:
        self._uv = uv
        i = 0
        while i < len(args) and args[i].value.startswith("-"):
            v = args[i].value
            if v in P.PIP_GLOBAL_OPTS_WITH_VALUE:
                i += 2
            elif v in M.PIP_HARMLESS_SUBCOMMANDS:
                return
            else:
                i += 1
        if i >= len(args):
            return
        sub = args[i].value
        if sub in M.PIP_HARMLESS_SUBCOMMANDS:
            return
        if uv and sub == "sync":
            opts, pos = _parse_args(
                args[i + 1 :],
                M.PIP_OPTS_WITH_VALUE | M.REQUIREMENT_OPTS | M.CONSTRAINT_OPTS | M.UV_REQUIREMENT_LIKE_OPTS,
                M.PIP_SHORT_WITH_VALUE,
            )
            for w in pos:
                self.requirements_file(w.value)
            self.pip_options(opts)
            self.installer_config("uv")
            return
        if sub not in M.PIP_INSTALL_SUBCOMMANDS:
            self.r.block(f"runs `{words[0].raw} {sub}`, which may read the sources")
            return
        self.installer_config("uv" if uv else "pip")
        value_opts = M.pip_install_value_opts(uv)
        opts, pos = _parse_args(args[i + 1 :], value_opts, M.PIP_SHORT_WITH_VALUE)
        self.pip_options(opts)
        no_deps = any(o.name == M.PIP_NO_DEPS for o in opts)
        for o in opts:
            if o.name in M.EDITABLE_OPTS and o.value is not None:
                self.pip_target(o.value, o.words, opts, pos, no_deps)
        for w in pos:
            self.pip_target(w.value, [w], opts, pos, no_deps)

    def pip_options(self, opts: list[Opt]) -> None:
        for o in opts:
            if o.value is None:
                continue
            if o.name in M.REQUIREMENT_OPTS | M.CONSTRAINT_OPTS | M.UV_REQUIREMENT_LIKE_OPTS:
                self.requirements_file(o.value)
            elif o.name in M.FIND_LINKS_OPTS or o.name in M.INDEX_URL_OPTS:
                self.find_links(o.value, None, index=o.name in M.INDEX_URL_OPTS)
            elif o.name in M.GROUP_OPTS:
                path = o.value.rsplit(":", 1)[0] if ":" in o.value else "pyproject.toml"
                ap = self.abspath(path)
                rel = self.ctx_rel(ap)
                if rel:
                    self.r.add_file(rel)
                    self.check_exists(rel)
            elif o.name in M.PIP_WRITE_OPTS:
                if _has_var(o.value):
                    self.r.block(f"installs into `{o.value}`, a path with a variable")
                else:
                    self.write(self.abspath(o.value), "installs into")

    def pip_target(self, spec: str, spelled: list[Word], opts: list[Opt], pos: list[Word], no_deps: bool) -> None:
        def project(extras: list[str]) -> None:
            self.pip_project(spelled, extras, opts, pos, no_deps)

        self.local_spec(spec, f"`{spec}`", project_cb=project)

    def pip_project(
        self, spelled: list[Word], extras: list[str], opts: list[Opt], pos: list[Word], no_deps: bool
    ) -> None:
        """``pip install .`` / ``-e .[extra]`` of the project the source COPY provides."""
        label = f"`pip install {' '.join(w.value for w in spelled)}`"
        others = [w for w in pos if w not in spelled] + [
            o for o in opts if o.name in M.REQUIREMENT_OPTS | M.EDITABLE_OPTS | M.GROUP_OPTS and o.words != spelled
        ]
        if no_deps:
            self.r.block(f"installs the project itself with {label}, which needs the sources")
            return
        data = self.toml("pyproject.toml") if self.have_context else None
        deps = _static_deps(data, extras) if data is not None else None
        why = None
        if not self.have_context:
            why = "the build context is unknown, so its dependencies cannot be read"
        elif data is None:
            why = "it has no readable pyproject.toml (setup.py?), so its dependencies are not static"
        elif deps is None:
            why = "pyproject.toml has no static [project] dependencies (dynamic or from setup.py)"
        else:
            own = _canon(str((data.get("project") or {}).get("name", "")))
            for d in deps:
                m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", d)
                if m and own and _canon(m.group(1)) == own:
                    why = "an extra of the project depends on the project itself"
                elif local_path(d) is not None:
                    why = f"its dependency `{d}` is a local path"
        if why:
            self.r.projects.append(ProjectInstall("pip", None))
            self.r.block(f"installs the project itself with {label}, and {why}")
            return
        if not deps and not others:
            self.r.block(f"installs the project itself with {label} (it has no dependencies to install first)")
            return
        self.r.add_file("pyproject.toml")
        # The dependencies-only form: the project word(s) replaced by the dependency list.
        start, end = spelled[0].start, spelled[-1].end
        if not deps:
            start = len(self.doc.text[:start].rstrip(" \t"))
        text = " ".join(_quote(d) for d in deps)
        self.r.projects.append(ProjectInstall("pip", [(start, end, text)], unsafe=PYPROJECT_REASON, deps=tuple(deps)))

    def python(self, words: list[Word], args: list[Word]) -> None:
        i = 0
        while i < len(args):
            v = args[i].value
            if v == "-m" and i + 1 < len(args):
                mod, rest = args[i + 1].value, args[i + 2 :]
                break
            if v.startswith("-m") and len(v) > 2:
                mod, rest = v[2:], args[i + 1 :]
                break
            if v in M.PYTHON_HARMLESS_FLAGS:
                return
            if not v.startswith("-") or v == "-c":
                self.r.block(f"runs `{' '.join(w.raw for w in words[:2])}`, which may read the sources")
                return
            i += 1
        else:
            self.r.block(f"runs `{words[0].raw}`, which may read the sources")
            return
        if mod == "pip":
            self.pip(words, rest)
        elif mod in M.VENV_MODULES:
            for w in rest:
                if not w.value.startswith("-"):
                    self.path_arg(w, "creates a virtualenv at")
                    break
        elif mod == "ensurepip":
            return
        else:
            self.r.block(f"runs `python -m {mod}`, which may read the sources")

    # uv --------------------------------------------------------------------------------------------
    def uv(self, words: list[Word], args: list[Word]) -> None:
        vals = [w.value for w in args]
        k = next((j for j, v in enumerate(vals) if not v.startswith("-")), None)
        if k is None:
            return
        sub = vals[k]
        if sub == "pip":
            self.pip(words, args[k + 1 :], uv=True)
        elif sub == "venv":
            target = next((w for w in args[k + 1 :] if not w.value.startswith("-")), None)
            if target is None:
                self.write(self.abspath(M.UV_PROJECT_VENV), "creates a virtualenv at")
            else:
                self.path_arg(target, "creates a virtualenv at")
        elif sub == "sync":
            self.project_tool("uv", words, args[k:])
        elif sub in M.PROJECT_TOOL_HARMLESS["uv"] or sub == "tool":
            return
        else:
            self.r.block(f"runs `uv {sub}`, which may read the sources")

    # poetry / pdm / pipenv / uv sync -------------------------------------------------------------
    def project_tool(self, tool: str, words: list[Word], args: list[Word]) -> None:
        value_opts = M.PROJECT_TOOL_OPTS_WITH_VALUE[tool]
        opts, pos = _parse_args(args, value_opts, set())
        if not pos:
            return  # `poetry --version`
        sub_w = pos[0]
        sub = sub_w.value
        if sub in M.PROJECT_TOOL_HARMLESS[tool]:
            return
        if sub == "config":
            local = M.PROJECT_TOOL_CONFIG.get(tool)
            if local and any(o.name == local for o in opts):
                self.r.block(f"runs `{tool} config {local}`, which writes a config file into the project")
            return
        if sub not in M.PROJECT_TOOL_INSTALL[tool]:
            self.r.block(f"runs `{tool} {sub}`, which may read the sources")
            return
        flags = {o.name for o in opts}
        pdir = self.cwd
        for o in opts:
            if o.name in M.PROJECT_DIR_OPTS[tool] and o.value:
                if _has_var(o.value):
                    self.r.block(f"runs `{tool}` in `{o.value}`, a path with a variable")
                    return
                pdir = self.abspath(o.value)
        prel = self.ctx_rel(pdir)
        if prel is None:
            return  # a project that the source COPY does not provide
        self.installer_config("uv-project" if tool == "uv" else tool, pdir)
        required, optional = M.PROJECT_TOOL_FILES[tool]
        manifest_rel = posixpath.join(prel, required) if prel else required
        self.r.add_file(manifest_rel)
        for name in optional:
            rel = posixpath.join(prel, name) if prel else name
            if not self.have_context:
                self.r.optional.append(rel + "*")
            elif self.ctx.exists(rel) and not _ignored(self.ctx, rel):
                self.r.add_file(rel)
        if not self.have_context:
            self.r.note(f"build context unknown: `{tool} {sub}` dependencies were not checked")
        data = self.toml(manifest_rel) if self.have_context else None
        if self.have_context and data is None:
            self.check_exists(manifest_rel)
        # directories the tool installs from (path dependencies)
        for path in _path_dependencies(tool, data or {}):
            if _has_var(path.replace("${PROJECT_ROOT}", "")):
                self.r.block(f"installs the path dependency `{path}`, a path with a variable")
                continue
            ap = self.abspath(path.replace("${PROJECT_ROOT}", "."), pdir)
            if ap == pdir:
                self.r.projects.append(ProjectInstall(tool, None))
                self.r.block(f"installs the project directory itself (a path dependency in {required})")
                continue
            self.local_dir_or_file(ap, path, package=True)
        # package sources that are local directories (pipenv/poetry/pdm source tables; uv's are installer config)
        for url in _manifest_sources(tool, data or {}):
            path = (
                url[len("file://") :]
                if url.startswith("file://")
                else url[len("file:") :]
                if url.startswith("file:")
                else url
            )
            path = path.replace("/${PROJECT_ROOT}", ".").replace("${PROJECT_ROOT}", ".")
            if _has_var(path):
                self.r.block(f"reads the package source `{url}`, a path with a variable")
                continue
            self.local_dir_or_file(self.abspath(path, pdir), url)
        if tool == "uv" and "workspace" in (((data or {}).get("tool") or {}).get("uv") or {}):
            self.r.block("installs a uv workspace, whose members come from the sources")
        # the environment the tool may create inside the project
        if self.have_context or tool in M.PROJECT_VENV_BY_DEFAULT:
            venvs = list(M.PROJECT_VENV_DIRS[tool])
            if tool == "uv" and self.env.get(M.UV_PROJECT_ENV_VAR) is not None:
                venvs = [self.env[M.UV_PROJECT_ENV_VAR]]
            for v in venvs:
                if _has_var(v):
                    self.r.block(f"creates its environment in `{v}`, a path with a variable")
                else:
                    self.write(self.abspath(v, pdir), "creates its environment in")
        if tool == "pipenv":
            for w in pos[1:] + [w for o in opts if o.name in M.PIPENV_PACKAGE_OPTS for w in o.words[1:]]:
                self.local_spec(w.value, f"`{w.value}`")
            return
        if flags & M.PROJECT_ONLY[tool]:
            self.r.projects.append(ProjectInstall(tool, None))
            self.r.block(f"installs only the project itself with `{tool} {sub}`, which needs the sources")
            return
        if flags & M.ALREADY_DEPS_ONLY[tool] or (data is not None and not _installs_project(tool, data)):
            return  # reads the manifests only
        splices = [(sub_w.end, sub_w.end, " " + M.DEPS_ONLY_FLAG[tool])]
        frozen = bool(flags & {M.UV_FROZEN})
        if tool == "uv" and not flags & M.UV_LOCK_FLAGS:
            lock = posixpath.join(prel, "uv.lock") if prel else "uv.lock"
            if lock in self.r.files:
                splices = [(sub_w.end, sub_w.end, f" {M.UV_FROZEN} {M.DEPS_ONLY_FLAG[tool]}")]
                frozen = True
        dynamic = (
            ((data or {}).get("project") or {}).get("dynamic")
            if isinstance((data or {}).get("project"), dict)
            else None
        )
        if tool in ("uv", "pdm") and dynamic and not frozen:
            self.r.block(
                f"runs `{tool} {sub}` on a project whose metadata is dynamic ({', '.join(map(str, dynamic))}): "
                "without a frozen lock the dependencies-only install still builds the project's metadata, "
                "which may read the sources"
            )
            return
        self.r.projects.append(ProjectInstall(tool, splices))

    # conda -----------------------------------------------------------------------------------------
    def conda(self, tool: str, words: list[Word], args: list[Word]) -> None:
        opts, pos = _parse_args(args, M.CONDA_OPTS_WITH_VALUE, set())
        if not pos:
            return
        sub = pos[0].value
        env_cmd = sub == "env" and len(pos) > 1
        if env_cmd:
            sub = pos[1].value
        if sub in M.CONDA_HARMLESS_SUBCOMMANDS and not env_cmd:
            return
        if env_cmd and sub not in M.CONDA_ENV_SUBCOMMANDS or not env_cmd and sub not in M.CONDA_INSTALL_SUBCOMMANDS:
            if sub in ("list", "export", "remove", "config"):
                return
            self.r.block(f"runs `{tool} {'env ' if env_cmd else ''}{sub}`, which may read the sources")
            return
        self.installer_config("conda")
        files = [o.value for o in opts if o.name in M.CONDA_FILE_OPTS and o.value]
        if env_cmd and not files:
            files = [M.CONDA_DEFAULT_ENV_FILE]
        for o in opts:
            if o.name in M.CONDA_PREFIX_OPTS and o.value:
                self.path_arg(Word(o.value, o.value, 0, 0, "word"), "creates a conda environment at")
        for f in files:
            if _has_var(f):
                self.r.block(f"reads `{f}`, a path with a variable")
                continue
            ap = self.abspath(f)
            rel = self.ctx_rel(ap)
            if rel is None or rel == "":
                continue
            self.r.add_file(rel)
            if f.endswith(M.CONDA_ENV_FILE_SUFFIXES):
                self.env_file(rel, ap)
            else:
                self.check_exists(rel)
        for w in pos[2 if env_cmd else 1 :]:
            v = w.value
            if v.endswith(M.CONDA_LOCAL_PACKAGE_SUFFIXES) or v.startswith((".", "/", "file:")):
                if _has_var(v) or H.path_under(
                    self.abspath(v.removeprefix("file://").removeprefix("file:")), self.dest
                ):
                    self.r.block(f"installs `{v}` with `{tool}`, a local package")

    def env_file(self, rel: str, ap: str) -> None:
        self.installer_config("pip", posixpath.dirname(ap))  # conda runs pip for the `pip:` section
        if not self.have_context:
            self.r.note(f"build context unknown: the pip section of {rel} was not checked")
            return
        text = self.read(rel)
        if text is None:
            self.check_exists(rel)
            return
        fdir = posixpath.dirname(ap)
        saved = self.cwd
        self.cwd = fdir  # conda runs pip in the environment file's directory
        try:
            for entry in conda_pip_entries(text):
                self.requirement_line(entry, fdir, rel)
        finally:
            self.cwd = saved


_SETUP_MODULES = ("setuptools", "distutils")
_SETUP_CALLS = frozenset({"setup", "find_packages", "find_namespace_packages"})


def static_setup_py(text: str) -> bool:
    """A setup.py that only imports setuptools and calls ``setup(...)`` with literal arguments (and
    ``find_packages(...)``): its build reads nothing but the package's own files."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    bound: set[str] = set()

    def literal(node) -> bool:
        if isinstance(node, ast.Name):
            return node.id in bound
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            return (
                name in _SETUP_CALLS
                and all(literal(a) for a in node.args)
                and all(literal(k.value) for k in node.keywords)
            )
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return all(literal(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return all(k is not None and literal(k) and literal(v) for k, v in zip(node.keys, node.values))
        try:
            ast.literal_eval(node)
            return True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False

    def ok(stmt) -> bool:
        if isinstance(stmt, ast.Import):
            return all(a.name.split(".")[0] in _SETUP_MODULES for a in stmt.names)
        if isinstance(stmt, ast.ImportFrom):
            return (stmt.module or "").split(".")[0] in _SETUP_MODULES
        if isinstance(stmt, ast.Expr):
            return literal(stmt.value)
        if isinstance(stmt, ast.Assign) and literal(stmt.value):
            bound.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            return all(isinstance(t, ast.Name) for t in stmt.targets)
        if isinstance(stmt, ast.If):  # if __name__ == "__main__": setup(...)
            return all(ok(s) for s in stmt.body) and all(ok(s) for s in stmt.orelse)
        return False

    return all(ok(s) for s in tree.body)


def conda_pip_entries(text: str) -> list[str]:
    """The entries of the ``- pip:`` list of an environment.yml (block or flow style)."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"(\s*)-\s*pip\s*:", lines[i])
        if not m:
            i += 1
            continue
        # what ``\s*(.*?)\s*(#.*)?$`` leaves as the value (that regex is cubic on long runs of blanks)
        indent, rest = len(m.group(1)), lines[i][m.end() :].lstrip().split("#", 1)[0].rstrip()
        if rest.startswith("["):
            out.extend(e.strip().strip("'\"") for e in rest.strip("[]").split(",") if e.strip())
            i += 1
            continue
        i += 1
        while i < len(lines):
            ln = lines[i]
            if not ln.strip() or ln.strip().startswith("#"):
                i += 1
                continue
            cur = len(ln) - len(ln.lstrip())
            if cur <= indent:
                break
            e = re.match(r"\s*-", ln)  # ``^\s*-\s*(.*?)\s*$`` without its cubic lazy middle
            if e:
                val = re.sub(r"(?<!\s)\s+#.*$", "", ln[e.end() :].strip()).strip()
                if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
                    val = val[1:-1]
                out.append(val)
            i += 1
    return out


def _path_dependencies(tool: str, data: dict) -> list[str]:
    """Local directories a project's manifest depends on (paths relative to the project)."""
    out: list[str] = []

    def table_paths(deps) -> None:
        if not isinstance(deps, dict):
            return
        for spec in deps.values():
            items = spec if isinstance(spec, list) else [spec]
            for s in items:
                if not isinstance(s, dict):
                    continue
                if isinstance(s.get("path"), str):
                    out.append(s["path"])
                # pipenv's `file = "wheels/x.whl"` (poetry and uv spell a local file `path`): a local file unless a
                # URL; `file:` URLs name local paths too
                f = s.get("file")
                if isinstance(f, str) and ("://" not in f or f.startswith("file:")):
                    out.append(
                        f[len("file://") :]
                        if f.startswith("file://")
                        else f[len("file:") :]
                        if f.startswith("file:")
                        else f
                    )

    tool_t = data.get("tool") or {}
    if tool == "poetry":
        po = tool_t.get("poetry") or {}
        table_paths(po.get("dependencies"))
        table_paths(po.get("dev-dependencies"))
        for g in (po.get("group") or {}).values():
            if isinstance(g, dict):
                table_paths(g.get("dependencies"))
    elif tool == "uv":
        table_paths((tool_t.get("uv") or {}).get("sources"))
    elif tool == "pipenv":
        table_paths(data.get("packages"))
        table_paths(data.get("dev-packages"))
    proj = data.get("project") or {}
    specs = list(proj.get("dependencies") or []) if isinstance(proj.get("dependencies"), list) else []
    for group in (proj.get("optional-dependencies") or {}).values():
        if isinstance(group, list):
            specs.extend(group)
    for s in specs:
        if isinstance(s, str):
            m = M.DIRECT_REFERENCE_RE.match(s.strip())
            if m and m.group(2).startswith("file:"):
                url = m.group(2)
                path = url[len("file://") :] if url.startswith("file://") else url[len("file:") :]
                if path.startswith("/${PROJECT_ROOT}"):
                    path = path[1:]
                out.append(path.split("#", 1)[0])
    return out


def _manifest_sources(tool: str, data: dict) -> list[str]:
    """Package sources a manifest names that are local paths (``file:`` URLs or paths without a scheme):
    Pipfile ``[[source]]``, ``[[tool.poetry.source]]``, ``[[tool.pdm.source]]``."""
    tool_t = data.get("tool") or {}
    tables = {
        "pipenv": data.get("source"),
        "poetry": (tool_t.get("poetry") or {}).get("source"),
        "pdm": (tool_t.get("pdm") or {}).get("source"),
    }.get(tool)
    out = []
    for src in tables if isinstance(tables, list) else []:
        url = src.get("url") if isinstance(src, dict) else None
        if isinstance(url, str) and url and ("://" not in url or url.startswith("file:")):
            out.append(url)
    return out


def _installs_project(tool: str, data: dict) -> bool:
    """Whether the tool's plain install also installs the project itself."""
    tool_t = data.get("tool") or {}
    if tool == "poetry":
        return (tool_t.get("poetry") or {}).get("package-mode", True) is not False
    packaged = "build-system" in data
    if tool == "uv":
        pkg = (tool_t.get("uv") or {}).get("package")
        return pkg if isinstance(pkg, bool) else packaged
    if tool == "pdm":
        dist = (tool_t.get("pdm") or {}).get("distribution")
        return dist if isinstance(dist, bool) else packaged
    return False


# -- the rule -------------------------------------------------------------------------------------
def _between_reason(doc: Document, ctx, ins: Instruction, sc: SourceCopy) -> str | None:
    """Why ``ins`` (between the source COPY and the install) keeps the COPY where it is."""
    kw = ins.keyword
    dest = sc.dest_abs
    if kw in _METADATA_KEYWORDS:
        return None
    if kw == "WORKDIR" and _workdir_movable(doc, sc):
        return None
    if kw == "RUN":
        reads = RunReader(doc, ctx, ins, dest).run()
        if reads.blockers:
            return reads.blockers[0]
        if reads.installs:
            return "installs from the copied sources too"
        return None
    return _BETWEEN.get(kw, f"is a {kw}, which may depend on the copied sources")


def _workdir_movable(doc: Document, sc: SourceCopy) -> bool:
    """A WORKDIR may sit between the two when the COPY does not depend on it: an absolute
    destination, no ownership/mode flags (the directory WORKDIR creates is root's) and root."""
    fc = sc.instr
    return (
        sc.dest_value.startswith("/")
        and not any(f.name in ("chown", "chmod") for f in fc.flags)
        and H.user_at(doc, fc) in (None, "root", "0")
    )


def _already_copied(doc: Document, stage_instrs: list[Instruction], before: Instruction, dest: str) -> set[str]:
    """Context files an earlier COPY of the stage already put where the source COPY puts them."""
    out: set[str] = set()
    for ins in stage_instrs:
        if ins.index >= before.index:
            break
        if ins.keyword not in ("COPY", "ADD") or ins.flag("from") is not None:
            continue
        ops = _copy_operands(ins)
        if not ops or len(ops) < 2 or any(_has_var(o) for o in ops):
            continue
        srcs, d = ops[:-1], ops[-1]
        wd = H.workdir_at(doc, ins)
        dabs = H.join_path(wd, d)
        as_dir = d.endswith("/") or len(srcs) > 1 or dabs == wd or d in (".", "./")
        for s in srcs:
            if any(ch in s for ch in "*?["):
                continue
            s_rel = H.norm_path(s).lstrip("/")
            if s_rel in ("", "."):
                continue
            targets = {H.join_path(dabs, posixpath.basename(s_rel))}
            if not as_dir:
                targets = {dabs}
            for t in targets:
                if H.path_under(t, dest) and _rel(t, dest) == s_rel:
                    out.add(s_rel)
    return out


def _dest_for(group_dir: str, dest_value: str) -> str:
    if dest_value in M.WHOLE_CONTEXT_SOURCES:
        return f"./{group_dir}/" if group_dir else "./"
    base = dest_value.rstrip("/")
    return f"{base}/{group_dir}/" if group_dir else f"{base}/"


def _keyword(raw: str) -> str:
    return "copy" if raw.islower() else "COPY" if raw.isupper() else "Copy"


def _line_text(doc: Document, ins: Instruction) -> str:
    return doc.text[ins.line_start : ins.line_end]


def _pre_run_text(doc: Document, run: Instruction, splices: list[tuple[int, int, str]]) -> str:
    text = _line_text(doc, run)
    base = run.line_start
    for s, e, t in sorted(splices, reverse=True):
        text = text[: s - base] + t + text[e - base :]
    if not text.endswith("\n"):
        text += doc.newline
    return text


def _same_run(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _summary(items: list[str]) -> str:
    return ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def check(doc: Document, ctx):
    for stage in doc.stages:
        yield from _check_stage(doc, ctx, stage.instructions)


def _check_stage(doc: Document, ctx, instrs: list[Instruction]):
    sc = None
    for k, ins in enumerate(instrs):  # noqa: B007 - k is read after the loop
        sc = source_copy(doc, ins)
        if sc is not None:
            break
    if sc is None or sc.dest_abs is None:
        return
    fc = sc.instr
    blocker: tuple[Instruction, str] | None = None
    between: list[Instruction] = []
    for ins in instrs[k + 1 :]:
        if ins.keyword == "RUN":
            reads = RunReader(doc, ctx, ins, sc.dest_abs).run()
            if reads.installs:
                if reads.projects and _satisfied(doc, ctx, instrs, fc, ins, reads, sc.dest_abs):
                    blocker = blocker or (ins, "installs the project from the copied sources")
                    between.append(ins)
                    continue
                yield _finding(doc, ctx, instrs, sc, ins, reads, between, blocker)
                return
        why = _between_reason(doc, ctx, ins, sc)
        if why and blocker is None:
            blocker = (ins, why)
        between.append(ins)


def _satisfied(doc, ctx, instrs, fc, run, reads: RunReads, dest: str) -> bool:
    """A project install after the sources whose dependencies were installed before them."""
    splices = [s for p in reads.projects if p.splices for s in p.splices]
    pre = _pre_run_text(doc, run, splices) if splices else None
    deps = {d.strip() for p in reads.projects for d in p.deps}
    for ins in instrs:
        if ins.index >= fc.index:
            break
        if ins.keyword != "RUN":
            continue
        if pre is not None and _same_run(_line_text(doc, ins), pre):
            return True
        # The dependencies-only install as a later pass left it (other fixes add flags to it).
        if deps and deps <= _pip_requirements(doc, ins):
            return True
        if RunReader(doc, ctx, ins, dest).run().installs:
            return True
    return False


def _pip_requirements(doc: Document, ins: Instruction) -> set[str]:
    """The requirement arguments of the pip installs in a RUN (options and their values left out)."""
    out: set[str] = set()
    value_opts = (
        M.REQUIREMENT_OPTS
        | M.CONSTRAINT_OPTS
        | M.EDITABLE_OPTS
        | M.FIND_LINKS_OPTS
        | M.GROUP_OPTS
        | M.PIP_WRITE_OPTS
        | M.PIP_OPTS_WITH_VALUE
        | P.PIP_GLOBAL_OPTS_WITH_VALUE
    )
    for s in run_scripts(doc, ins):
        for cmd in s.commands:
            words = _effective(cmd.words)
            vals = [w.value for w in words]
            if not vals or "install" not in vals:
                continue
            prog = H.basename(vals[0])
            k = vals.index("install")
            if not (P.PIP_RE.match(prog) or P.PYTHON_RE.match(prog) and "pip" in vals[1:k]):
                continue
            _, pos = _parse_args(words[k + 1 :], value_opts, M.PIP_SHORT_WITH_VALUE)
            out.update(w.value.strip() for w in pos)
    return out


def _finding(
    doc: Document, ctx, instrs, sc: SourceCopy, run: Instruction, reads: RunReads, between: list[Instruction], blocker
):
    fc = sc.instr
    line = doc.line_col(run.start)[0]
    label = " ".join(fc.text(doc.text).split())
    message = (
        f"`{label}` copies the whole build context before the dependency install on line {line}: "
        f"any code change re-runs the install; copy the dependency manifests first"
    )
    note = _no_fix_reason(doc, sc, run, reads, between, blocker)
    if note:
        return H.finding(_RULE, message, fc.start, fc.end, None, note=note)
    return _build_fix(doc, ctx, instrs, sc, run, reads, between, message)


def _no_fix_reason(doc, sc: SourceCopy, run, reads: RunReads, between, blocker) -> str:
    fc = sc.instr
    if blocker is not None:
        ins, why = blocker
        return f"line {doc.line_col(ins.start)[0]}, between the COPY and the install, {why}"
    if reads.blockers:
        return f"the install RUN also {reads.blockers[0]}"
    if any(p.splices is None for p in reads.projects):
        return "the install needs the project's sources"
    if reads.unrepeatable and any(p.splices for p in reads.projects):
        return f"the two-step install would run this RUN twice, and `{reads.unrepeatable[0]}` fails the second time"
    if between and "$" in fc.text(doc.text) and any(i.keyword in ("ENV", "ARG") for i in between):
        return "the COPY uses a variable and ENV/ARG lines follow it; moving it could change its value"
    for f in fc.flags:
        if f.name not in M.CARRIED_COPY_FLAGS and f.name not in M.IGNORABLE_COPY_FLAGS:
            return f"the COPY has --{f.name}, which the manifest COPY would have to reproduce"
    for p in reads.files + reads.dirs:
        if not M.PLAIN_PATH_RE.match(p) or p.startswith("-"):
            return f"`{p}` would need quoting in a COPY line"
    if not M.PLAIN_PATH_RE.match(sc.dest_value) or sc.dest_value.startswith("-"):
        return "the COPY destination would need quoting"
    return ""


def _build_fix(
    doc: Document,
    ctx,
    instrs,
    sc: SourceCopy,
    run: Instruction,
    reads: RunReads,
    between: list[Instruction],
    message: str,
):
    fc = sc.instr
    nl = doc.newline
    have = _already_copied(doc, instrs, fc, sc.dest_abs)
    dirs = sorted(set(reads.dirs), key=reads.dirs.index)
    dirs = [d for d in dirs if not any(d != o and d.startswith(o + "/") for o in dirs)]
    files = [f for f in reads.files if f not in have and not any(f.startswith(d + "/") for d in dirs)]
    groups: dict[str, list[str]] = {}
    for f in files + [o for o in reads.optional if not any(o.startswith(d + "/") for d in dirs)]:
        groups.setdefault(posixpath.dirname(f), []).append(f)
    order = sorted(groups, key=lambda g: (g != "", list(groups).index(g)))
    indent = doc.line_indent(fc.start)
    kw = _keyword(fc.keyword_raw)
    flags = "".join(doc.text[f.start : f.end] + " " for f in fc.flags if f.name in M.CARRIED_COPY_FLAGS)
    lines = [f"{indent}{kw} {flags}{' '.join(groups[g])} {_dest_for(g, sc.dest_value)}{nl}" for g in order]
    lines += [f"{indent}{kw} {flags}{d} {_dest_for(d, sc.dest_value)}{nl}" for d in dirs]
    copy_text = _line_text(doc, fc)
    splices = [s for p in reads.projects if p.splices for s in p.splices]
    unsafe = next((p.unsafe for p in reads.projects if p.unsafe), "")
    copied = [*(f for g in order for f in groups[g]), *(d + "/" for d in dirs)]
    what = f"copy {_summary(copied)} first" if copied else "the manifests are already copied"
    extra = []
    if reads.missing:
        extra.append(f"not found in the build context: {_summary(reads.missing)}")
    extra.extend(reads.notes)
    tail = f" ({'; '.join(extra)})" if extra else ""
    edits = [Edit(fc.line_start, fc.line_end, "".join(lines))]
    if splices:
        pre = _pre_run_text(doc, run, splices)
        trivia = doc.preceding_trivia(run)
        at = trivia[0].line_start if trivia and trivia[0].line_start >= fc.line_end else run.line_start
        edits.append(Edit(at, at, pre + copy_text))
        desc = f"{what}, install the dependencies only, then copy the sources and run the original install{tail}"
    else:
        end = run.line_end
        if doc.text[end - 1 : end] != "\n":
            edits.append(Edit(end, end, nl + copy_text.rstrip("\r\n")))
        else:
            edits.append(Edit(end, end, copy_text))
        desc = f"{what}; move the source COPY after the install on line {doc.line_col(run.start)[0]}{tail}"
    facts = (
        f"the install reads from the sources only: {_summary(copied) or 'files already copied'} (its command "
        "line, the requirements files it includes, and what its environment and config files name)",
        "nothing between the COPY and the install reads or changes the sources"
        if between
        else "the install comes right after the COPY",
    )
    fix = (
        Fix.unsafe(*edits, reason=unsafe, description=desc, relies_on=facts)
        if unsafe
        else Fix.safe(*edits, description=desc, relies_on=facts)
    )
    return H.finding(_RULE, message, fc.start, fc.end, fix)
