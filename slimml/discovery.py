"""Finding Dockerfiles and their build context."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

from .dockerfile import Document

DOCKERFILE_GLOBS = ("Dockerfile", "Dockerfile.*", "*.Dockerfile", "Containerfile", "Containerfile.*", "*.Containerfile")
# Not Dockerfiles even though the name matches: templates, backups, ignore files, docs.
_NOT_DOCKERFILE = re.compile(r"\.(dockerignore|md|rst|txt|orig|rej|bak|swp|j2|jinja2?|tmpl|tpl|template|in|erb|mustache|sh|py|json|ya?ml)$",
                             re.IGNORECASE)
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache",
             ".pytest_cache", ".ruff_cache", ".slimml"}


def is_dockerfile_name(name: str) -> bool:
    if _NOT_DOCKERFILE.search(name):
        return False
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(name.lower(), g.lower()) for g in DOCKERFILE_GLOBS)


def _gitignore(root: Path):
    p = root / ".gitignore"
    if not p.is_file():
        return None
    import pathspec  # the standard implementation of .gitignore semantics; only needed here

    try:
        return pathspec.GitIgnoreSpec.from_lines(p.read_text(encoding="utf-8", errors="replace").splitlines())
    except Exception:
        return None


def find_dockerfiles(root: Path) -> list[Path]:
    """Dockerfiles under ``root``, skipping VCS/venv folders and what the root .gitignore ignores."""
    spec = _gitignore(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in SKIP_DIRS or (spec and spec.match_file(rel + "/")):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            if is_dockerfile_name(f) and not (spec and spec.match_file(rel)):
                out.append(Path(dirpath) / f)
    return out


def _local_sources(doc: Document) -> list[str]:
    srcs = []
    for ins in doc.instructions:
        if ins.keyword not in ("COPY", "ADD") or ins.flag("from") or ins.heredocs:
            continue
        words = list(ins.json) if ins.json is not None else ins.args.split()
        for w in words[:-1]:
            if "://" in w or "$" in w or w.startswith("git@"):
                continue
            srcs.append(w)
    return srcs


def infer_context(dockerfile: Path, doc: Document | None) -> Path:
    """The build context: the Dockerfile's folder, or the nearest parent (up to the repo root)
    in which every local COPY/ADD source exists -- `docker/gpu.Dockerfile` is built from the root."""
    start = dockerfile.resolve().parent
    if doc is None:
        return start
    srcs = [s for s in _local_sources(doc) if s not in (".", "./")]
    if not srcs:
        return start
    folder = start
    for _ in range(4):
        if all(any(True for _ in folder.glob(s.lstrip("/"))) if any(c in s for c in "*?[") else (folder / s.lstrip("/")).exists()
               for s in srcs):
            return folder
        if (folder / ".git").exists() or folder.parent == folder:
            break
        folder = folder.parent
    return start
