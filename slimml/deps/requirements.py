"""Requirement files and specs as pip reads them, with ``packaging``: what is pinned and what is loose.

pip's requirements-file grammar (pip/_internal/req/req_file.py): lines ending in ``\\`` are joined
(a comment line ends the join), comments are ``#`` at the start or after blanks, ``${VAR}`` is expanded
from the environment, a line starting with ``-`` is options (``-r``/``-c`` include files relative to the
including file, ``--index-url``...), any other line is a requirement followed by its own options
(``--hash=...``). Requirements are parsed with ``packaging.requirements.Requirement``; environment
markers are evaluated for the image's Python (major.minor) on linux/x86_64.

*Pinned* means one exact version: an ``==X`` specifier without a wildcard, ``===X``, or a direct
reference (``name @ URL``, a wheel or archive URL or path). Everything else is *loose*: no specifier,
``>=``, ``~=``, ``==1.*``, ``<2``...
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..knowledge import manifests as M

# Options lines of a requirements file that take a value (the rest are flags: --pre, --no-index...).
FILE_OPTS_WITH_VALUE = frozenset(
    M.REQUIREMENT_OPTS | M.CONSTRAINT_OPTS | M.EDITABLE_OPTS | M.FIND_LINKS_OPTS | M.INDEX_URL_OPTS
) | {
    "--trusted-host",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "--global-option",
    "--config-settings",
    "--hash",
}
INCLUDE_OPTS = frozenset(M.REQUIREMENT_OPTS)
CONSTRAINT_OPTS = frozenset(M.CONSTRAINT_OPTS)
EDITABLE_OPTS = frozenset(M.EDITABLE_OPTS)
# Options that say where packages come from (passed to the resolver as the build's pip would use them).
INDEX_OPTS = {"-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url"}
LINK_OPTS = {"-f": "--find-links", "--find-links": "--find-links"}
MAX_DEPTH = 10
_ENV_VAR_RE = re.compile(r"\$\{[A-Z0-9_]+\}")  # the only form pip expands in requirements files
_ARCHIVE = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")
# Candidate Pythons when the image's is not known: a marker applies unless it is false for all of them.
_ANY_PYTHON = ("2.7",) + tuple(f"3.{m}" for m in range(0, 16))

Reader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Target:
    """Where markers are evaluated: the image's Python (major.minor; None: not known) on linux."""

    python: str | None
    machine: str = "x86_64"


@dataclass(frozen=True)
class Req:
    """One requirement (or constraint) as written, read with packaging."""

    text: str  # the requirement text (options stripped)
    name: str  # canonical (PEP 503); "" for an unnamed URL or path
    specifier: str  # "" when none
    where: str  # "requirements.txt:3", "the command line", ...
    direct: str = ""  # "url" | "path" | "vcs" for a direct reference or unnamed URL/path, else ""
    hashes: tuple[str, ...] = ()
    editable: bool = False
    variables: bool = False  # ${VAR} in the line: its value is not known here
    conflict: str = ""  # a constraint pins a version this requirement excludes ("==3.0.0 in x.lock:4")

    @property
    def pinned(self) -> bool:
        return bool(self.direct) or pins_exactly(self.specifier)

    @property
    def exact(self) -> str | None:
        """The one version an ``==``/``===`` specifier names."""
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            specs = SpecifierSet(self.specifier)
        except InvalidSpecifier:
            return None
        return next((s.version for s in specs if s.operator in ("==", "===") and not s.version.endswith(".*")), None)

    @property
    def loose(self) -> str:
        """What is loose about it ("no version", ">=1.2"); "" when pinned."""
        if self.conflict:
            return f"{self.specifier or 'no version'}, against {self.conflict}"
        if self.pinned:
            return ""
        return self.specifier or "no version"


@dataclass
class Parsed:
    """What an install reads from its requirement specs and files (markers already applied)."""

    requirements: list[Req] = field(default_factory=list)
    constraints: list[Req] = field(default_factory=list)
    options: list[tuple[str, str, str]] = field(default_factory=list)  # (option, value, where)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (flag, where): --pre, --require-hashes...
    files: dict[str, str] = field(default_factory=dict)  # path as resolved -> text, every file read
    unread: list[str] = field(default_factory=list)  # files named but not readable
    invalid: list[str] = field(default_factory=list)  # "file:line: text" that packaging rejects
    skipped: int = 0  # requirements whose markers are false for the target
    absolute: list[str] = field(default_factory=list)  # includes named by an absolute path or file: URL

    @property
    def uses_hashes(self) -> bool:
        return any(r.hashes for r in self.requirements) or any(f == "--require-hashes" for f, _ in self.flags)

    def pinned_names(self) -> set[str]:
        """Names pinned to one version by a requirement or a constraint of this install."""
        return {r.name for r in self.requirements + self.constraints if r.name and r.pinned}

    def loose(self) -> list[Req]:
        """Named requirements nothing in the install pins (first occurrence of each name), and those a
        constraint pins to a version they exclude (a stale lock: pip fails on it)."""
        from dataclasses import replace

        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        by_req = {r.name for r in self.requirements if r.name and r.pinned}
        by_constraint = {c.name: c for c in self.constraints if c.name and c.pinned and c.exact}
        out: dict[str, Req] = {}
        for r in self.requirements:
            if not r.name or r.editable or r.name in out or r.name in by_req:
                continue
            c = by_constraint.get(r.name)
            if c is None:
                out[r.name] = r
                continue
            try:
                ok = SpecifierSet(r.specifier).contains(c.exact, prereleases=True)
            except InvalidSpecifier:
                ok = True  # packaging rejected it already (said elsewhere)
            if not ok:
                out[r.name] = replace(r, conflict=f"=={c.exact} in {c.where}")
        return list(out.values())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_exactly(specifier: str) -> bool:
    """``==1.2.3`` (no wildcard) or ``===x`` among the specifiers."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not specifier:
        return False
    try:
        specs = SpecifierSet(specifier)
    except InvalidSpecifier:
        return False
    return any(s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in specs)


# -- markers ------------------------------------------------------------------------------------------
def _environment(python: str, patch: str, machine: str) -> dict[str, str]:
    full = f"{python}.{patch}"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "platform_python_implementation": "CPython",
        "python_version": python,
        "sys_platform": "linux",
        "extra": "",
    }


def marker_applies(marker, target: Target) -> bool:
    """True when ``marker`` (a packaging Marker or None) holds on the target for some patch release of
    its Python; with the Python unknown, for some Python at all (so only the platform can rule it out)."""
    if marker is None:
        return True
    pythons = (target.python,) if target.python else _ANY_PYTHON
    for py in pythons:
        for patch in ("0", "99"):
            try:
                if marker.evaluate(_environment(py, patch, target.machine)):
                    return True
            except Exception:  # an undefined comparison: cannot rule it out
                return True
    return False


# -- one line -----------------------------------------------------------------------------------------
def parse_spec(text: str, where: str, target: Target, hashes: tuple[str, ...] = (), editable: bool = False):
    """A requirement (``Req``), None when its markers are false for the target, or a str: why packaging
    rejects it."""
    from packaging.requirements import InvalidRequirement, Requirement

    t = text.strip()
    variables = bool(_ENV_VAR_RE.search(t)) or "$" in t
    kind = _unnamed_kind(t)
    if kind:
        m = re.search(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)", t)
        return Req(t, canonical(m.group(1)) if m else "", "", where, kind, hashes, editable, variables)
    try:
        r = Requirement(t)
    except InvalidRequirement as e:
        return str(e).splitlines()[0] if str(e) else "invalid requirement"
    if not marker_applies(r.marker, target):
        return None
    direct = ""
    if r.url:
        direct = "vcs" if re.match(r"^[a-z]+\+", r.url) else ("path" if r.url.startswith("file:") else "url")
    return Req(t, canonical(r.name), str(r.specifier), where, direct, hashes, editable, variables)


def _unnamed_kind(t: str) -> str:
    """ "path" / "url" / "vcs" for a line that names no project (``./pkg``, ``https://x/y.whl``,
    ``git+https://...``); "" for a PEP 508 requirement."""
    if re.match(r"^[a-z]+\+[a-z]+://", t):
        return "vcs"
    if "://" in t.split(" @ ", 1)[0].split("@", 1)[0] or t.startswith("file:"):
        return "url"
    if t.startswith((".", "/", "~")) or t.endswith(_ARCHIVE) or t in (".", ".."):
        return "path"
    return ""


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line of a requirements file: continuations joined,
    comments removed, blank lines dropped (pip's join_lines + ignore_comments)."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if not buf:
            start = n
        if not raw.endswith("\\") or raw.lstrip().startswith("#"):
            if raw.lstrip().startswith("#"):
                raw = " " + raw  # a comment line ends a continuation; it is removed below
            buf.append(raw)
            out.append((start, "".join(buf)))
            buf = []
        else:
            buf.append(raw[:-1])
    if buf:
        out.append((start, "".join(buf)))
    cleaned = []
    for n, line in out:
        line = _strip_comment(line).strip()
        if line:
            cleaned.append((n, line))
    return cleaned


def _strip_comment(line: str) -> str:
    """``line`` up to its comment: a ``#`` at the start or after a blank (pip's ``(^|\\s+)#.*$``, scanned in
    linear time: the regex backtracks through every run of blanks, quadratic on a long one)."""
    i = line.find("#")
    while i > 0 and not line[i - 1].isspace():
        i = line.find("#", i + 1)
    return line if i < 0 else line[:i]


def _split_options(tokens: list[str]) -> list[tuple[str, str | None]]:
    """(option, value) pairs of an options line or a requirement's trailing options."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and "=" in tok:
            k, _, v = tok.partition("=")
            out.append((k, v))
            i += 1
        elif tok in FILE_OPTS_WITH_VALUE:
            out.append((tok, tokens[i + 1] if i + 1 < len(tokens) else ""))
            i += 2
        elif not tok.startswith("--") and len(tok) > 2 and tok[:2] in FILE_OPTS_WITH_VALUE:
            out.append((tok[:2], tok[2:]))
            i += 1
        else:
            out.append((tok, None))
            i += 1
    return out


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError:
        return line.split()


# -- files ------------------------------------------------------------------------------------------------
def read_install(
    specs: Iterable[tuple[str, str]],
    read: Reader,
    target: Target,
    cwd: str = "/",
) -> Parsed:
    """Read what one install names. ``specs``: ("req", text) for a requirement given on the command line,
    ("-r", path) / ("-c", path) for files, ("-e", spec) for an editable; ``read(path)`` gives a file's text
    (paths are absolute, resolved against ``cwd``; nested includes against the including file)."""
    out = Parsed()
    for kind, value in specs:
        if kind == "req":
            _add(out, out.requirements, parse_spec(value, "the command line", target), value, "the command line")
        elif kind == "-e":
            _add(out, out.requirements, parse_spec(value, "the command line", target, editable=True), value, "-e")
        elif kind in ("-r", "-c"):
            _read_file(out, _abs(value, cwd), read, target, constraint=kind == "-c", depth=0)
    return out


def _abs(path: str, base_dir: str) -> str:
    if "://" in path and not path.startswith("file:"):
        return path
    if path.startswith("file://"):
        path = path[len("file://") :]
    elif path.startswith("file:"):
        path = path[len("file:") :]
    return posixpath.normpath(posixpath.join(base_dir, path))


def _add(out: Parsed, into: list[Req], got, text: str, where: str) -> None:
    if got is None:
        out.skipped += 1
    elif isinstance(got, str):
        shown = " ".join(text.split())
        out.invalid.append(f"{where}: {shown[:80] + '...' if len(shown) > 80 else shown} ({got[:120]})")
    else:
        into.append(got)


def _read_file(out: Parsed, path: str, read: Reader, target: Target, constraint: bool, depth: int) -> None:
    if path in out.files:
        return  # already read (an include cycle, or the same file twice)
    text = read(path) if "://" not in path else None
    if text is None:
        if path not in out.unread:
            out.unread.append(path)
        return
    out.files[path] = text
    here = posixpath.dirname(path)
    name = posixpath.basename(path)
    for n, line in logical_lines(text):
        where = f"{name}:{n}"
        if line.startswith("-"):
            for opt, val in _split_options(_tokens(line)):
                if opt in INCLUDE_OPTS | CONSTRAINT_OPTS and val:
                    if val.startswith(("/", "file:")):
                        out.absolute.append(f"{where}: {val}")
                    if depth >= MAX_DEPTH:
                        out.unread.append(f"{val} (nested too deep)")
                        continue
                    _read_file(
                        out,
                        _abs(val, here),
                        read,
                        target,
                        constraint=constraint or opt in CONSTRAINT_OPTS,
                        depth=depth + 1,
                    )
                elif opt in EDITABLE_OPTS and val:
                    into = out.constraints if constraint else out.requirements
                    _add(out, into, parse_spec(val, where, target, editable=True), val, where)
                elif val is not None:
                    out.options.append((opt, val, where))
                else:
                    out.flags.append((opt, where))
            continue
        toks = line.split(" ")
        k = next((i for i, t in enumerate(toks) if t.startswith("-")), len(toks))
        spec, opts = " ".join(toks[:k]), _split_options([t for t in toks[k:] if t])
        hashes = tuple(v for o, v in opts if o == "--hash" and v)
        into = out.constraints if constraint else out.requirements
        _add(out, into, parse_spec(spec, where, target, hashes), spec, where)


def describe(reqs: list[Req], limit: int = 6) -> str:
    """``flask (no version), numpy (>=1.20)``: the loose requirements, short."""
    parts = [f"{r.name} ({r.loose})" for r in reqs[:limit]]
    if len(reqs) > limit:
        parts.append(f"and {len(reqs) - limit} more")
    return ", ".join(parts)
