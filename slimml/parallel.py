"""Directory runs across cores: Dockerfiles grouped by build context, the groups spread over a process pool.

Dockerfiles that share a build context see each other's side-file changes (``Context.committed``: the
``.dockerignore`` one proposes is what the next one reads), so each group runs in one worker, in the
order the run gives, with its own ``committed``; groups whose contexts nest are one group. Reports come
back in the run's order, so the output is the same as a run in one process. Small runs (a single file,
a handful) stay in the process: a pool costs more than it saves there.
"""

from __future__ import annotations

import os
from pathlib import Path

MIN_FILES = 16  # below this a pool (fork, per-worker warm-up) costs more than it saves
WORKERS_ENV = "SLIMML_WORKERS"  # 1: never a pool; N: at most N workers (default: the usable cores)


def workers(n_files: int) -> int:
    env = os.environ.get(WORKERS_ENV, "").strip()
    try:
        cap = int(env) if env else len(os.sched_getaffinity(0))
    except (ValueError, AttributeError):
        cap = os.cpu_count() or 1
    if n_files < MIN_FILES:
        return 1
    return max(1, min(cap, n_files // 4))


def _context_of(path: Path, opts, parsed: dict | None = None) -> str | None:
    """The build context ``fix_file`` will use for ``path`` (absolute), None when it cannot be told here
    (unreadable, not a Dockerfile: ``fix_file`` reports that, the file is a group of its own). ``parsed``
    (a run's cache) keeps the text and its Document for ``fix_file`` in the same process."""
    from .discovery import infer
    from .dockerfile import DockerfileError, parse
    from .io import InputError, read_source
    from .realpaths import realpath
    from .runner import _link_path

    if opts.context is not None:
        return os.path.realpath(opts.context)
    if parsed is not None:
        from .runner import located

        loc = located(path, opts, parsed)  # a warm run: the context a valid cache entry was made with
        if loc is not None:
            return realpath(loc.context_dir, parsed.setdefault("realpaths", {}))
    try:
        text = read_source(path).text
        doc = parse(text)
        folder = _link_path(path, parsed)
        guess = infer(folder, doc)
        if parsed is not None:
            parsed[("parsed", str(folder))] = (text, doc, guess)
        return os.path.realpath(guess.path)
    except (InputError, DockerfileError, OSError, ValueError):
        return None


def groups(files: list[Path], opts, parsed: dict | None = None) -> list[list[int]]:
    """Indexes of ``files`` in groups that must run in order in one worker (shared or nested contexts).
    ``parsed``: the run's cache, to keep what was read for ``fix_file`` (in the same process)."""
    ctxs = [_context_of(f, opts, parsed) for f in files]
    # Outermost contexts: shortest first, so a context's ancestors are settled before it. Ancestors are
    # looked up by walking up the path (a string prefix test alone would nest "/a/b-x" under "/a/b").
    roots: set[str] = set()
    for c in sorted({c for c in ctxs if c is not None}, key=len):
        if _root_of(c, roots) is None:
            roots.add(c)
    by_root: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, c in enumerate(ctxs):
        if c is None:
            out.append([i])
            continue
        root = _root_of(c, roots) or c  # c itself is a root when no ancestor is
        if root not in by_root:
            by_root[root] = []
            out.append(by_root[root])
        by_root[root].append(i)
    return out


def _root_of(path: str, roots: set[str]) -> str | None:
    """The member of ``roots`` that is ``path`` or its nearest ancestor folder (paths are real and absolute)."""
    while True:
        if path in roots:
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def last_of_context(files: list[Path], opts, run_cache: dict | None = None) -> list[bool]:
    """For each file: whether no later file of the run shares (or nests in) its build context, so none
    reads the side files its fixes propose. Only ``findings_only`` runs ask (the others fix every file);
    a single file is trivially last."""
    if not opts.findings_only or len(files) < 2:
        return [True] * len(files)
    last = [True] * len(files)
    for group in groups(files, opts, run_cache):
        for i in group[:-1]:
            last[i] = False
    return last


# The parent's run cache (the texts it parsed and the contexts it inferred to group the files), seen by
# forked workers as it was when they started: they take each file's parse from it instead of parsing again.
# A run cache is meant to be shared by every file of one run (runner.run_fix uses one for all).
_inherited: dict | None = None


def _run_group(args) -> list:
    from .runner import _gc_deferred, fix_file

    files, opts = args
    committed: dict[str, str] = {}
    run_cache: dict = _inherited if _inherited is not None else {}
    with _gc_deferred():  # as runner.run_fix
        return [fix_file(f, opts, committed, run_cache, i == len(files) - 1) for i, f in enumerate(files)]


def run(files: list[Path], opts, jobs: int) -> list:
    """``fix_file`` over ``files`` in ``jobs`` processes; reports in the order of ``files``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .runner import _gc_deferred

    global _inherited
    run_cache: dict = {}
    with _gc_deferred():
        parts = groups(files, opts, run_cache)  # a warm run's locators spare the parent the parses
    parts.sort(key=len, reverse=True)  # the largest group first: it bounds the run's time
    out: list = [None] * len(files)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    _inherited = run_cache if method == "fork" else None  # spawned workers start empty
    try:
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(parts)), mp_context=multiprocessing.get_context(method)
        ) as pool:
            tasks = [([files[i] for i in p], opts) for p in parts]
            for idx, reports in zip(parts, pool.map(_run_group, tasks, chunksize=max(1, len(tasks) // (jobs * 4)))):
                for i, rep in zip(idx, reports):
                    out[i] = rep
    finally:
        _inherited = None
    return out
