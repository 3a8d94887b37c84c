"""Per-file result cache (like ruff's): a repeated ``check`` over a large tree re-analyses only what changed.

An entry is keyed by everything the analysis reads:

- slimml itself: its version and a fingerprint of its own source files (size and mtime of every module, so an
  edited checkout or an upgrade never serves results of other code; the rules are modules too);
- the effective settings (selected rules, options, unsafe flags: after the config file was read);
- the Dockerfile: its bytes, its path (as given and absolute), the build context and why it is only a guess;
- side files other Dockerfiles of the same run changed earlier (``committed``);
- the build context: every file and folder under it (path, size, mtime, mode; ``.git``'s contents are not
  read by the rules, its presence is), ``<Dockerfile>.dockerignore``, and the ``.gitignore`` files and
  ``.git/info/exclude`` from the context up to the repository root (the rules read those too).

A context that cannot be fingerprinted (too many files, a symlinked folder whose contents could change
unseen, unreadable) is not cached: the file is analysed every time.

Entries are JSON (never pickle: a cache folder planted in a repository must not run code), one file per
key, written to a temp file and renamed (atomic; concurrent processes at worst write the same entry
twice). An unreadable or malformed entry is a miss.

Where: ``$XDG_CACHE_HOME/slimml`` (``~/.cache/slimml``); ``SLIMML_CACHE_DIR`` moves it. Not ruff's
``.ruff_cache`` in the project root: a Dockerfile's build context usually *is* the project root, and the
rules read the context's files (a ``COPY . .`` takes the cache too), so a cache there would change what it
caches. A cache folder inside a context being checked makes that file uncached. The folder gets a
``CACHEDIR.TAG`` and a ``.gitignore`` of ``*``, as ruff's does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

CACHE_ENV = "SLIMML_CACHE_DIR"
FORMAT = 1  # bump when the entry layout changes
MAX_CONTEXT_ENTRIES = 20000  # past this the context is not fingerprinted (and the file not cached)
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by slimml.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)

_code_fp: str | None = None


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "slimml"


def code_fingerprint() -> str:
    """slimml's version and the size/mtime of each of its modules (computed once per process)."""
    global _code_fp
    if _code_fp is None:
        from . import __version__

        root = Path(__file__).resolve().parent
        h = hashlib.sha256(f"{FORMAT}\0{__version__}".encode())
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fn in sorted(filenames):
                if fn.endswith((".py", ".json", ".toml", ".txt")):
                    st = os.stat(os.path.join(dirpath, fn))
                    h.update(
                        f"{os.path.relpath(os.path.join(dirpath, fn), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
                    )
        h.update(_dependencies().encode())
        _code_fp = h.hexdigest()
    return _code_fp


# The libraries whose behaviour is part of an analysis (the shell and Python parsers, requirement
# specifiers): an upgrade of one may change a result as much as slimml's own code does.
ANALYSIS_DEPENDENCIES = ("tree_sitter", "tree_sitter_bash", "libcst", "packaging")


def _dependencies() -> str:
    """Python's version and the installed distributions (``name-version.dist-info``, or egg-info) of
    ``ANALYSIS_DEPENDENCIES``, read from their site folders without importing them (importlib.metadata
    alone costs 30 ms, a third of a warm run on one file)."""
    import importlib.util
    import sys

    parts = [sys.version]
    listed: dict[str, list[str]] = {}
    for name in ANALYSIS_DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None and spec.origin else ""
        if not origin:
            parts.append(f"{name}: not found")
            continue
        site = os.path.dirname(os.path.dirname(origin)) if origin.endswith("__init__.py") else os.path.dirname(origin)
        if site not in listed:
            try:
                listed[site] = sorted(os.listdir(site))
            except OSError:
                listed[site] = []
        dist = name.replace("_", "-").lower()
        found = [
            e
            for e in listed[site]
            if e.endswith((".dist-info", ".egg-info"))
            and e.lower().replace("_", "-").startswith(dist + "-")
            # `tree-sitter-` also starts `tree-sitter-bash-...`: the version must follow
            and e[len(dist) + 1 : len(dist) + 2].isdigit()
        ]
        parts.append(f"{name}: {origin} {' '.join(found)}")
    return "\n".join(parts)


# -- the context fingerprint -------------------------------------------------------------------------------
def _stat_line(path: str | os.DirEntry) -> str:
    """A file's mode, size, mtime and inode, or "-" when it cannot be stat'ed (a path or a scandir entry,
    whose ``stat()`` follows a symlink as ``os.stat`` does)."""
    try:
        st = os.stat(path) if isinstance(path, str) else path.stat()
    except OSError:
        return "-"
    return f"{st.st_mode:o} {st.st_size} {st.st_mtime_ns} {st.st_ino}"


def _walk(root: str) -> str | None:
    """Every file and folder under ``root`` (``.git`` not entered), hashed; None when too large or when a
    symlinked folder is found (the rules may read through it; its contents are not walked). Top-down in
    sorted order, as ``os.walk`` would list it; scandir's entries spare a path join and an lstat per name."""
    h = hashlib.sha256()
    n = 0
    stack = [(root, ".")]
    while stack:
        dirpath, rel_dir = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError:
            continue  # as os.walk: an unreadable folder is skipped
        dirs: list[os.DirEntry] = []
        files: list[os.DirEntry] = []
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows symlinks, as os.walk's split
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(e)
        dirs.sort(key=lambda e: e.name)
        files.sort(key=lambda e: e.name)
        keep = []
        for d in dirs:
            if d.is_symlink():
                return None
            h.update(f"d {rel_dir}/{d.name} {_stat_line(d) if d.name == '.git' else ''}\n".encode())
            if d.name != ".git":
                keep.append(d)
        for f in files:
            h.update(f"f {rel_dir}/{f.name} {_stat_line(f)}\n".encode())
        n += len(files) + len(keep)
        if n > MAX_CONTEXT_ENTRIES:
            return None
        # Depth first, first child first: pushed in reverse.
        stack.extend((d.path, d.name if rel_dir == "." else f"{rel_dir}/{d.name}") for d in reversed(keep))
    return h.hexdigest()


def _ancestors(context: str, run_cache: dict) -> str:
    """The ``.gitignore`` files and ``.git`` entries from the context's parent up to the root, and
    ``.git/info/exclude`` where a ``.git`` is found (what ``gitignore.hidden`` reads above the context)."""
    return (
        f"{_above(os.path.dirname(context), run_cache)}\n{_stat_line(os.path.join(context, '.git', 'info', 'exclude'))}"
    )


def _above(p: str, run_cache: dict) -> str:
    """``_ancestors``' lines from folder ``p`` up, once per folder and run (contexts share their parents)."""
    memo = run_cache.setdefault("cache-above", {})
    if p not in memo:
        git = os.path.join(p, ".git")
        line = (
            f"{p} {_stat_line(git)} {_stat_line(os.path.join(p, '.gitignore'))} "
            f"{_stat_line(os.path.join(git, 'info', 'exclude'))}"
        )
        parent = os.path.dirname(p)
        memo[p] = line if parent == p else f"{line}\n{_above(parent, run_cache)}"
    return memo[p]


def context_fingerprint(context_dir: Path | None, dockerfile: Path, run_cache: dict, store: Path) -> str | None:
    """What the rules may read besides the Dockerfile, hashed; None: do not cache (the context is too
    large, holds a symlinked folder, or holds the cache itself). Once per context and run."""
    side = _stat_line(os.fspath(dockerfile) + ".dockerignore")
    if context_dir is None:
        return f"no-context\0{side}"
    root = _realpath(context_dir, run_cache)
    memo = run_cache.setdefault("cache-context-fp", {})
    if root not in memo:
        cache = _realpath(store, run_cache)
        inside = cache == root or cache.startswith(root.rstrip(os.sep) + os.sep)
        walked = None if inside else _walk(root) if os.path.isdir(root) else "not-a-dir"
        memo[root] = None if walked is None else f"{walked}\0{_ancestors(root, run_cache)}"
    fp = memo[root]
    return None if fp is None else f"{fp}\0{side}"


def _realpath(path: Path | str, run_cache: dict) -> str:
    """``os.path.realpath``, each folder resolved once per run."""
    from .realpaths import realpath

    return realpath(path, run_cache.setdefault("realpaths", {}))


def settings_text(settings: Any) -> str:
    """The effective settings as the keys hold them (a locator stores this text)."""
    return repr(_plain(settings))


def key(
    *,
    text_bytes: bytes,
    given: str,
    dockerfile: Path,
    context_dir: Path | None,
    context_note: str,
    settings: Any,
    committed: dict[str, str],
    context_fp: str,
    findings_only: bool = False,
) -> str:
    """The entry's key. The rule set is in it twice over: the selection in ``settings``, the rule modules
    in the code fingerprint (so a warm run need not import the rules). ``settings`` may be given as its
    ``settings_text``."""
    h = hashlib.sha256()
    parts = [
        code_fingerprint(),
        settings if isinstance(settings, str) else settings_text(settings),
        given,
        os.fspath(dockerfile),
        os.fspath(context_dir) if context_dir else "",
        context_note,
        repr(sorted(committed.items())),
        context_fp,
        "findings-only" if findings_only else "fixed",  # a check_text result holds no fixes
    ]
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    h.update(hashlib.sha256(text_bytes).digest())
    return h.hexdigest()


# -- the first-level key: a file's context and settings without parsing it ---------------------------------
def locator_key(text_bytes: bytes, given: str, dockerfile: Path, options: str) -> str:
    """Where a Dockerfile's stored analysis is found from its bytes, paths and command-line options alone
    (``runner._located``): the entry names the context and settings found last time, which the runner
    re-validates (the config files' stats, the context's fingerprint) before using them."""
    h = hashlib.sha256(f"locator\0{code_fingerprint()}\0{given}\0{os.fspath(dockerfile)}\0{options}\0".encode())
    h.update(hashlib.sha256(text_bytes).digest())
    return h.hexdigest()


def config_stats(folder: str, run_cache: dict) -> str:
    """The stat of every config file ``config.find_config`` may read from ``folder`` up to the root (present
    or not), once per folder and run: a changed, added or removed one changes the text."""
    memo = run_cache.setdefault("cache-config-stats", {})
    if folder not in memo:
        parent = os.path.dirname(folder)
        here = (
            f"{_stat_line(os.path.join(folder, '.slimml.toml'))} {_stat_line(os.path.join(folder, 'pyproject.toml'))}"
        )
        memo[folder] = here if parent == folder else f"{here}\n{config_stats(parent, run_cache)}"
    return memo[folder]


# -- (de)serialising results --------------------------------------------------------------------------------
def _plain(obj: Any) -> Any:
    """JSON-able form of a dataclass tree (Result, Finding, Fix, Edit, Settings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, (frozenset, set)):
        return sorted(_plain(x) for x in obj)
    return obj


def _edit(d: dict):
    from .engine import Edit

    return Edit(**d)


def _fix(d: dict | None):
    from .engine import Applicability, Fix

    if d is None:
        return None
    d = dict(d)
    d["edits"] = tuple(_edit(e) for e in d["edits"])
    d["applicability"] = Applicability(d["applicability"])
    d["relies_on"] = tuple(d["relies_on"])
    return Fix(**d)


def _finding(d: dict):
    from .engine import Finding

    d = dict(d)
    d["fix"] = _fix(d["fix"])
    if d.get("estimate") is not None:
        d["estimate"] = tuple(d["estimate"])
    return Finding(**d)


def dump_result(result) -> dict:
    return _plain(result)


def load_result(d: dict, original: str):
    """A Result from its JSON form; ``original`` is the text just read (the key covers its bytes)."""
    from .engine import Result

    d = dict(d)
    d["original"] = original
    for name in ("findings", "applied", "remaining"):
        d[name] = [_finding(f) for f in d[name]]
    d["side_files"] = {p: (v[0], v[1]) for p, v in d["side_files"].items()}
    return Result(**d)


def load_entry(d: Any, original: str):
    """``load_result`` of a stored entry; None when it does not have a Result's form (another layout)."""
    try:
        return load_result(d, original)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


# -- the store ----------------------------------------------------------------------------------------------
class Store:
    def __init__(self, root: Path | None = None):
        self.root = root if root is not None else cache_dir()
        self._ready = False
        self.hits = self.misses = 0

    def _path(self, k: str) -> Path:
        return self.root / f"v{FORMAT}" / k[:2] / f"{k}.json"

    def get(self, k: str, original: str):
        try:
            with open(self._path(k), "rb") as fh:
                d = json.loads(fh.read())
            result = load_entry(d["result"], original) if d.get("key") == k else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            result = None  # missing, torn or from another layout: a miss
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def _prepare(self) -> None:
        if self._ready:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for name, body in (("CACHEDIR.TAG", _TAG), (".gitignore", "# Automatically created by slimml.\n*\n")):
            p = self.root / name
            if not p.exists():
                _write(p, body.encode())
        self._ready = True

    def get_locator(self, k: str) -> dict | None:
        """A locator (``locator_key``); None when missing, torn or recorded for another key."""
        try:
            with open(self._path(k), "rb") as fh:
                d = json.loads(fh.read())
        except (OSError, ValueError):
            return None
        return d.get("locator") if isinstance(d, dict) and d.get("key") == k else None

    def put_locator(self, k: str, locator: dict) -> None:
        self._put(k, "locator", locator)

    def put(self, k: str, result) -> dict | None:
        """Store ``result``; a cache that cannot be written is skipped silently (it is only a cache). The
        stored JSON form, None when it was not stored."""
        body = dump_result(result)
        return body if self._put(k, "result", body) else None

    def _put(self, k: str, name: str, body) -> bool:
        try:
            self._prepare()
            p = self._path(k)
            p.parent.mkdir(parents=True, exist_ok=True)
            _write(p, json.dumps({"key": k, name: body}, separators=(",", ":")).encode())
        except (OSError, TypeError, ValueError):
            return False
        return True


def _write(path: Path, data: bytes) -> None:
    """Temp file + rename in the same folder: readers see the old entry or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
