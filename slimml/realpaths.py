"""``os.path.realpath`` with the folders resolved once per run.

``realpath`` lstats every component of every path it is given; a directory run asks it several
times per Dockerfile, each in its own folder under the same parents. Here each folder is resolved
once (one lstat for its last component, its parent from the memo). The memo lives as long as one
run (a ``run_cache``), never longer: a long-lived process (the language server) sees links change.
"""

from __future__ import annotations

import errno
import os


class _Loop(Exception):
    """A symlink loop: realpath's answer then depends on how the path was spelled (relative or
    absolute), so it is not the folder's answer and is not memoised."""


def realpath(path: str | os.PathLike[str], memo: dict[str, str] | None) -> str:
    """``os.path.realpath(path)``, its folders looked up in ``memo`` (None: no memo)."""
    p = os.fspath(path)
    if memo is None:
        return os.path.realpath(p)
    if not os.path.isabs(p):
        p = os.path.join(os.getcwd(), p)
    if ".." in p.split(os.sep):
        return os.path.realpath(os.fspath(path))  # `link/..` is the link target's parent: realpath's own walk decides
    try:
        return _real(os.path.normpath(p), memo)
    except _Loop:
        return os.path.realpath(os.fspath(path))


def _real(p: str, memo: dict[str, str]) -> str:
    hit = memo.get(p)
    if hit is not None:
        return hit
    parent, name = os.path.split(p)
    if not name or parent == p:
        real = p  # the root
    else:
        candidate = os.path.join(_real(parent, memo), name)
        real = _link(candidate) if os.path.islink(candidate) else candidate
    memo[p] = real
    return real


def _link(candidate: str) -> str:
    try:
        return os.path.realpath(candidate, strict=True)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _Loop from None
        return os.path.realpath(candidate)  # a dangling link: realpath resolves what exists
