"""What a rule may know besides the Dockerfile: settings and the build context (read-only).

Side files a fix creates or edits (``.dockerignore``) live in an overlay until the CLI writes
them, so the engine stays text -> text and several Dockerfiles sharing one context in one run
see each other's changes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Settings:
    select: tuple[str, ...] = ()  # empty: all rules
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    # With unsafe_fixes: only these rules' unsafe fixes are applied (None: every rule's). `--verify`
    # uses it to keep the unsafe fixes a build proved and drop the others.
    unsafe_codes: frozenset[str] | None = None
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # code or name -> options

    def option(self, code: str, name: str, key: str, default: Any = None) -> Any:
        for k in (code, name):
            opts = self.rule_options.get(k)
            if opts and key in opts:
                return opts[key]
        return default


@dataclass
class Context:
    settings: Settings = field(default_factory=Settings)
    dockerfile: Path | None = None  # None for text checked without a file
    context_dir: Path | None = None  # the build context; None: unknown (nothing can be read)
    # Why ``context_dir`` is only a guess (discovery.infer could not tell the real context): rules
    # may read from it but must not place side files there. Empty: the context is known.
    context_note: str = ""
    committed: dict[str, str] = field(default_factory=dict)  # side files changed earlier in this run
    overlay_view: dict[str, str] | None = None  # side files changed by the file being fixed
    cache: dict[Any, Any] = field(default_factory=dict)  # per-file memo for rules
    run_cache: dict[Any, Any] = field(default_factory=dict)  # shared by every file of one run (same disk state)

    # -- build context -------------------------------------------------------------------------
    def _abs(self, rel: str) -> Path | None:
        """Absolute path of ``rel`` inside the context; None when it points outside (``../x``).

        Lexical (no symlink resolution): cheap, and what COPY sources mean to BuildKit too.
        """
        if self.context_dir is None:
            return None
        memo = self.cache.get("abs")
        if memo is None:  # shared by every Dockerfile of the run with this context
            memo = self.cache["abs"] = self.run_cache.setdefault(("abs", str(self.context_dir)), {})
        if rel in memo:
            return memo[rel]
        root = os.path.abspath(self.context_dir)
        p = os.path.normpath(os.path.join(root, rel.lstrip("/")))
        memo[rel] = Path(p) if p == root or p.startswith(root.rstrip(os.sep) + os.sep) else None
        return memo[rel]

    def realpath(self, path) -> str:
        """``os.path.realpath``, memoised for the run (the disk does not change during one)."""
        memo = self.run_cache.setdefault("realpath", {})
        key = os.fspath(path)
        real = memo.get(key)
        if real is None:
            real = memo[key] = os.path.realpath(key)
        return real

    def relative(self, path) -> str | None:
        """``path`` (symlinks resolved) relative to the context root, POSIX; None when outside it
        or the context is unknown. ``"."`` for the root itself."""
        if self.context_dir is None:
            return None
        root, real = self.realpath(self.context_dir), self.realpath(path)
        if real == root:
            return "."
        if not real.startswith(root.rstrip(os.sep) + os.sep):
            return None
        return real[len(root.rstrip(os.sep)) + 1 :].replace(os.sep, "/")

    def context_path(self, rel: str) -> Path | None:
        return self._abs(rel)

    def read_context_file(self, rel: str, overlay: bool = True, limit: int = 2_000_000) -> str | None:
        """Text of a file in the build context (side-file overlay first), or None."""
        key = self.side_key(rel)
        if overlay and self.overlay_view is not None and key in self.overlay_view:
            return self.overlay_view[key]
        if key in self.committed:
            return self.committed[key]
        p = self._abs(rel)
        if p is None:
            return None
        disk = self.run_cache.setdefault("file-text", {})  # the disk does not change during a run
        if (p, limit) not in disk:
            try:
                with open(p, "rb") as fh:
                    disk[(p, limit)] = fh.read(limit).decode("utf-8", errors="replace")
            except OSError:  # missing, a directory, unreadable
                disk[(p, limit)] = None
        return disk[(p, limit)]

    def texts(self, accept, limit: int = 5000, max_bytes: int = 1_000_000):
        """Yield (relative path, text) of the context's files whose path ``accept`` takes, at most ``limit`` of
        them and none over ``max_bytes`` (generated code and vendored bundles are not read)."""
        if self.context_dir is None:
            return
        seen = 0
        for rel, size in self.walk_context():
            if size > max_bytes or not accept(rel):
                continue
            seen += 1
            if seen > limit:
                return
            text = self.read_context_file(rel)
            if text:
                yield rel, text

    def _mode(self, rel: str) -> int | None:
        """``st_mode`` of a context path (symlinks followed), None when missing; memoised per run."""
        p = self._abs(rel)
        if p is None:
            return None
        memo = self.run_cache.setdefault("stat", {})
        key = str(p)
        if key not in memo:
            try:
                memo[key] = os.stat(key).st_mode
            except (OSError, ValueError):
                memo[key] = None
        return memo[key]

    def exists(self, rel: str) -> bool:
        return self._mode(rel) is not None

    def is_dir(self, rel: str) -> bool:
        m = self._mode(rel)
        return m is not None and stat.S_ISDIR(m)

    def is_file(self, rel: str) -> bool:
        m = self._mode(rel)
        return m is not None and stat.S_ISREG(m)

    def side_files_problem(self) -> str | None:
        """Why a side file (``.dockerignore``, an init script) cannot be placed, or None."""
        if self.context_dir is None:
            return "the build context is unknown"
        if self.context_note:
            return f"{self.context_note}: pass `--context DIR` so that slimml writes it where the build reads it"
        return None

    def side_key(self, rel: str) -> str:
        """Side files are keyed by their absolute path when the context is known."""
        p = self._abs(rel)
        return str(p) if p is not None else rel

    def commit_overlay(self, side: dict[str, str]) -> None:
        self.committed.update(side)

    def sibling_dockerfiles(self) -> list[tuple[Path, Any]]:
        """Other Dockerfiles under the build context, parsed: (path, Document). A shared
        .dockerignore must not exclude what *they* copy either. Unparseable ones are skipped.
        Found once per context and run (the runner shares ``run_cache`` between files)."""
        if self.context_dir is None:
            return []
        from .dockerfile import DockerfileError, parse
        from .io import InputError, read_source

        key = ("dockerfiles-under", str(self.context_dir))
        if key not in self.run_cache:
            from .discovery import find_dockerfiles

            paths = [p.resolve() for p in find_dockerfiles(self.context_dir)] if self.context_dir.is_dir() else []
            self.run_cache[key] = paths
        if "siblings" not in self.cache:
            # Parsed when first asked for, once per run: not this file itself (usually the only one).
            me = self.realpath(self.dockerfile) if self.dockerfile else None
            docs = self.run_cache.setdefault("dockerfile-docs", {})
            out = []
            for p in self.run_cache[key]:
                if str(p) == me:
                    continue
                if p not in docs:
                    try:
                        docs[p] = parse(read_source(p).text)
                    except (InputError, DockerfileError):
                        docs[p] = None
                if docs[p] is not None:
                    out.append((p, docs[p]))
            self.cache["siblings"] = out
        return list(self.cache["siblings"])

    def walk_context(self, max_files: int = 20000):
        """Yield (relative posix path, size) of files in the context, skipping .git. Walked once
        per run (the disk does not change during one)."""
        if self.context_dir is None:
            return iter(())
        key = ("walk-context", str(self.context_dir), max_files)
        found = self.run_cache.get(key)
        if found is None:
            found = self.run_cache[key] = list(self._walk_context(max_files))
        return iter(found)

    def _walk_context(self, max_files: int):
        if self.context_dir is None or not self.context_dir.is_dir():
            return
        root = str(self.context_dir)
        count = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            rel_dir = os.path.relpath(dirpath, root)
            for fn in filenames:
                rel = fn if rel_dir == "." else f"{rel_dir}/{fn}".replace(os.sep, "/")
                try:
                    size = os.lstat(os.path.join(dirpath, fn)).st_size
                except OSError:
                    continue
                yield rel, size
                count += 1
                if count >= max_files:
                    return
