"""Application-file parity: the files under the app folders, judged by whether the app reads them.

A file the original has and the rewrite lacks (or has with other content, mode or owner) fails
the check when the app may read it: a Python module of the app, an executable or shared object,
a file its code, scripts, config, ENV or command name (see ``appscan.NameIndex``), or anything at
all when it lists folders slimml cannot name. A file the app never reads may go (a rewrite that
leaves an unused requirements.txt out is not broken); a file an slimml init script provides at
container start (weights moved out, fetched or mounted) is not lost either. A ``.dockerignore``
exclusion is no excuse: excluding a file the app loads breaks the app.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .appscan import NameIndex, is_test_or_packaging
from .checks import PASS, Check, cap
from .plan import image_to_context

SHARED_EXT = (".so", ".dylib")
_BUILD_OUTPUT_RE = re.compile(r"/build/(lib|temp|bdist)\.[^/]+/")


@dataclass
class Reads:
    """What decides whether the app reads a file (built from an ``appscan.AppScan``)."""

    index: NameIndex | None = None  # None: nothing could be scanned -- every file counts as read
    dynamic_listing: list[str] = field(default_factory=list)
    provided: dict[str, str] = field(default_factory=dict)  # path -> the script providing it at start
    roots: list[str] = field(default_factory=list)
    programs: set[str] = field(default_factory=set)  # what the app runs (git reads .git)

    def root_of(self, path: str) -> str | None:
        best = None
        for r in self.roots:
            if (path == r or path.startswith(r.rstrip("/") + "/")) and (best is None or len(r) > len(best)):
                best = r
        return best

    def provider(self, path: str) -> str | None:
        for target, script in self.provided.items():
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return script
        return None

    def build_output(self, path: str) -> bool:
        """What an in-tree setuptools build leaves in the sources (pip >= 21.3 builds a local project in place):
        ``build/lib.<platform>/``, ``build/temp.<platform>/``, ``build/bdist.<platform>/`` -- never on sys.path --
        and a ``*.egg-info`` below the app folder (importlib.metadata finds one only on sys.path: the app folder
        itself). The installed package is in the environment; the imports check proves it imports."""
        if _BUILD_OUTPUT_RE.search(path):
            return True
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            if part.endswith(".egg-info"):
                return "/".join(parts[:i]) not in self.roots
        return False

    def why_read(self, path: str, entry: list) -> str | None:
        """Why the app may read ``path`` (a files-probe entry), or None when it never does."""
        if self.index is None:
            return "the app's sources could not be scanned"
        if self.build_output(path):
            return None
        named = self.index.named(path, self.root_of(path))
        if named:
            return "the app names it: " + "; ".join(named[:2])
        if "/.git/" in path and any(posixpath.basename(p) == "git" for p in self.programs):
            return "the app runs git, which reads .git"
        if is_test_or_packaging(path):
            return None
        base = posixpath.basename(path)
        if base.endswith(".py"):
            return "a Python module of the app"
        if entry and entry[0] == "file" and (entry[1] & 0o111 or base.endswith(SHARED_EXT) or ".so." in base):
            return "an executable or shared library"
        if self.dynamic_listing:
            return f"the app lists folders slimml cannot name ({self.dynamic_listing[0]})"
        return None


def _excluded_by_after_ignore(path: str, copy_map, ignore_before: str | None, ignore_after: str | None) -> bool:
    from ..dockerignore import PatternError, is_excluded, parse_patterns

    rel = image_to_context(path, copy_map)
    if rel is None or not ignore_after:
        return False
    try:
        after = parse_patterns(ignore_after)
        before = parse_patterns(ignore_before) if ignore_before else []
    except PatternError:
        return False
    return bool(after) and is_excluded(rel, after) and not (before and is_excluded(rel, before))


def compare_files(
    fb: dict,
    fa: dict,
    reads: Reads,
    *,
    copy_map=(),
    rewrite_changed: set[str] = frozenset(),
    dockerignore_before: str | None = None,
    dockerignore_after: str | None = None,
) -> Check:
    check = Check("app-files", PASS, "")
    b, a = fb.get("files") or {}, fa.get("files") or {}
    fails: list[str] = []
    removed: dict[str, list[str]] = {}
    changed_ok, changed_unread, added = [], [], []
    for path in sorted(b):
        eb = b[path]
        if path not in a:
            script = reads.provider(path)
            if script:
                removed.setdefault(f"provided at container start by {script} (fetched or mounted)", []).append(path)
                continue
            why = reads.why_read(path, eb)
            excluded = _excluded_by_after_ignore(path, copy_map, dockerignore_before, dockerignore_after)
            if why:
                fails.append(
                    f"{path}: missing in the rewrite"
                    + (", excluded by its .dockerignore" if excluded else "")
                    + f" ({why})"
                )
            else:
                removed.setdefault(
                    "excluded by the rewritten .dockerignore; the app never reads it"
                    if excluded
                    else "the app never reads it",
                    [],
                ).append(path)
            continue
        ea = a[path]
        if eb == ea:
            continue
        rel = image_to_context(path, copy_map)
        if rel is not None and rel in rewrite_changed:
            changed_ok.append(path)
            continue
        what = []
        if eb[0] != ea[0]:
            what.append(f"{eb[0]} -> {ea[0]}")
        if eb[5] != ea[5]:
            what.append("content differs" if eb[0] == "file" else f"link {eb[5]} -> {ea[5]}")
        if eb[1] != ea[1]:
            what.append(f"mode {eb[1]:o} -> {ea[1]:o}")
        if (eb[2], eb[3]) != (ea[2], ea[3]):
            what.append(f"owner {eb[2]}:{eb[3]} -> {ea[2]}:{ea[3]}")
        if not what:
            continue
        why = reads.why_read(path, eb) or reads.why_read(path, ea)
        if why:
            fails.append(f"{path}: {', '.join(what)} ({why})")
        else:
            changed_unread.append(f"{path}: {', '.join(what)}")
    added = [p for p in sorted(a) if p not in b]
    check.evidence = cap(fails)
    for why, paths in removed.items():
        check.add(f"not in the rewrite, {why}: " + ", ".join(cap(paths, 8)))
    if changed_unread:
        check.add("changed, never read by the app: " + ", ".join(cap(changed_unread, 8)))
    if changed_ok:
        check.add("changed by the rewrite itself: " + ", ".join(cap(changed_ok, 8)))
    if added:
        check.add("only in the rewrite: " + ", ".join(cap(added, 8)))
    truncated = fb.get("truncated") or fa.get("truncated")
    if truncated:
        check.add("the scan stopped at the time limit: not every file was compared")
    check.details = {
        "failures": fails,
        "removed": removed,
        "changed_by_rewrite": changed_ok,
        "changed_unread": changed_unread,
        "added": added,
        "roots": fb.get("roots") or [],
        "files_before": len(b),
        "files_after": len(a),
        "truncated": bool(truncated),
    }
    n_removed = sum(len(v) for v in removed.values())
    return check.conclude(
        bool(fails),
        f"{len(fails)} file(s) the app may read are missing or changed in the rewrite",
        f"{len(b) - n_removed - len(changed_unread)} of {len(b)} files identical"
        + (
            f"; {n_removed + len(changed_unread)} differ that the app never reads or gets at start"
            if n_removed or changed_unread
            else ""
        ),
        f"{len(b)} files compared (scan incomplete)" if truncated else None,
    )


def missing_ancestors(paths: list[str], after_files: dict, roots: list[str]) -> list[str]:
    """The highest folders (or files) of ``paths`` that do not exist in the rewrite."""
    existing_dirs = set(roots)
    for p in after_files:
        d = posixpath.dirname(p)
        while d and d not in existing_dirs:
            existing_dirs.add(d)
            d = posixpath.dirname(d) if d != "/" else ""
    out: list[str] = []
    for p in paths:
        top = p
        d = posixpath.dirname(p)
        while d and d not in existing_dirs and d != "/":
            top, d = d, posixpath.dirname(d)
        if top not in out and not any(top.startswith(o.rstrip("/") + "/") for o in out):
            out.append(top)
    return out
