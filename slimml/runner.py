"""Running ``fix`` over files: discovery, config, context, diffs and (atomic) writes.

No exit codes and no printing here -- cli.py maps these reports to output and exit status.
"""

from __future__ import annotations

import difflib
import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, FileConfig, find_config, load_file
from .context import Context, Settings
from .discovery import find_dockerfiles, infer
from .dockerfile import DockerfileError, parse, require_stages
from .engine import Result, check_text, fix_text
from .io import InputError, Source, atomic_write, read_source, read_stdin
from .realpaths import realpath
from .secrets import mask

STDIN = "-"  # the path that means "read the Dockerfile from stdin"


@dataclass
class Options:
    write: bool = False
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    unsafe_codes: frozenset[str] | None = None  # with unsafe_fixes: only these rules' unsafe fixes
    cache_mounts: bool | None = None
    resolve: bool | None = None  # SLM012: resolve a lock against the package index (network)
    context: Path | None = None
    config: Path | None = None
    # With `-`: the Dockerfile's path as the build sees it (context, .dockerignore, config); need not exist.
    stdin_filename: Path | None = None
    # Reuse results of unchanged files (slimml.cache); never with --write (or for stdin).
    cache: bool = False
    # `slimml check`: only the findings of each file as it is are reported, so a file is not fixed
    # (engine.check_text) unless a later file of the run reads the side files its fixes propose.
    findings_only: bool = False


@dataclass
class FileReport:
    path: Path
    display: str
    result: Result | None = None
    error: str | None = None
    diff: str = ""  # masked unified diff of the Dockerfile and its side files
    new_files: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    context_dir: Path | None = None
    stdout: bytes | None = None  # stdin with --write: the fixed Dockerfile (its own encoding), for stdout

    @property
    def changed(self) -> bool:
        return bool(self.result and self.result.changed)


def display_path(p: Path) -> str:
    try:
        return os.path.relpath(p)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(p)


def stdin_paths(paths: list[Path], stdin_filename: Path | None) -> tuple[list[Path], bool]:
    """The paths to run on and whether stdin is read: `-`, or no path with --stdin-filename (as ruff).
    A bad combination raises ValueError with the one-line message."""
    stdin = any(str(p) == STDIN for p in paths) or (stdin_filename is not None and not paths)
    if stdin and len(paths) > 1:
        raise ValueError("`-` (stdin) cannot be combined with other paths")
    if stdin_filename is not None and not stdin:
        raise ValueError("--stdin-filename is for `-` (a Dockerfile read from stdin)")
    return ([Path(STDIN)] if stdin else (list(paths) or [Path(".")])), stdin


def collect(paths: list[Path]) -> tuple[list[Path], list[FileReport]]:
    """Expand directories; a missing path or a folder without Dockerfiles is an error report."""
    files: list[Path] = []
    errors: list[FileReport] = []
    seen: set[str] = set()
    memo: dict[str, str] = {}  # the folders' real paths (realpaths.realpath)
    for p in paths:
        if str(p) == STDIN:
            files.append(p)
            continue
        if not p.exists():
            errors.append(FileReport(p, display_path(p), error=f"{p}: no such file or directory"))
            continue
        if p.is_dir():
            found = find_dockerfiles(p)
            if not found:
                errors.append(FileReport(p, display_path(p), error=f"{p}: no Dockerfile found in this directory"))
        else:
            found = [p]
        for f in found:
            real = realpath(f, memo)
            if real not in seen:
                seen.add(real)
                files.append(f)
    return files, errors


def _settings(opts: Options, cfg: FileConfig) -> Settings:
    rule_options = {k: dict(v) for k, v in cfg.rule_options.items()}
    if opts.cache_mounts is not None:
        rule_options.setdefault("SLM001", {})["cache-mounts"] = opts.cache_mounts
    if opts.resolve is not None:
        rule_options.setdefault("SLM012", {})["resolve"] = opts.resolve
    return Settings(
        select=opts.select or cfg.select,
        ignore=tuple(cfg.ignore) + tuple(opts.ignore),
        unsafe_fixes=opts.unsafe_fixes if opts.unsafe_fixes is not None else bool(cfg.unsafe_fixes),
        unsafe_codes=opts.unsafe_codes,
        rule_options=rule_options,
    )


def _diff_lines(before: str | None, after: str, name: str) -> list[str]:
    a = (before or "").splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(a, b, "/dev/null" if before is None else f"a/{name}", f"b/{name}"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return out


def make_diff(report: FileReport) -> str:
    r = report.result
    if r is None:
        return ""
    lines = []
    if r.output != r.original:
        lines += _diff_lines(r.original, r.output, report.display)
    for path, (before, after) in r.side_files.items():
        if before != after:
            lines += _diff_lines(before, after, display_path(Path(path)))
    return mask("".join(lines))


def _link_path(path: Path, run_cache: dict | None = None) -> Path:
    """Absolute, with the folders resolved but not the file: a symlinked Dockerfile is built from the
    symlink's folder (`docker build -f link .`), so its context and config are looked up there."""
    memo = None if run_cache is None else run_cache.setdefault("realpaths", {})
    return Path(realpath(path.absolute().parent, memo)) / path.name


def _analyse(source: Source, ctx: Context, given: str, use_cache: bool, findings_only: bool, doc) -> Result:
    """``fix_text`` (``check_text`` for ``findings_only``, on the ``doc`` parsed for the context), or its
    cached result when nothing it reads changed (slimml.cache)."""

    def analyse(text: str, ctx: Context, given: str) -> Result:
        return check_text(text, ctx, given, doc=doc) if findings_only else fix_text(text, ctx, given)

    if not use_cache:
        return analyse(source.text, ctx, given)
    from . import cache

    store = _store(ctx.run_cache)
    fp = cache.context_fingerprint(ctx.context_dir, ctx.dockerfile, ctx.run_cache, store.root)
    if fp is None:  # a context that cannot be fingerprinted is analysed every time
        return analyse(source.text, ctx, given)
    k = cache.key(
        text_bytes=source.text.encode("utf-8", "surrogatepass"),
        given=given,
        dockerfile=ctx.dockerfile,
        context_dir=ctx.context_dir,
        context_note=ctx.context_note,
        settings=ctx.settings,
        committed=_committed_in(ctx.context_dir, ctx.committed),
        context_fp=fp,
        findings_only=findings_only,
    )
    result = store.get(k, source.text)
    if result is not None:
        ctx.commit_overlay({p: after for p, (_before, after) in result.side_files.items()})
        return result
    result = analyse(source.text, ctx, given)
    body = store.put(k, result)
    if body is not None:  # for _remember: the locator carries the result too (one read on a warm run)
        ctx.run_cache.setdefault("analysed", {})[given] = (k, body)
    return result


def _store(run_cache: dict):
    from . import cache

    store = run_cache.get("result-cache")
    if store is None:
        store = run_cache["result-cache"] = cache.Store()
    return store


def _committed_in(context_dir: Path | None, committed: dict[str, str]) -> dict[str, str]:
    """The side files of earlier Dockerfiles this one can read: those in its context (keyed by absolute
    path; other contexts' do not change its result, so a run in one process and one split over a pool
    share cache entries)."""
    if context_dir is None:
        return dict(committed)
    root = os.path.abspath(context_dir).rstrip(os.sep) + os.sep
    return {k: v for k, v in committed.items() if not os.path.isabs(k) or k.startswith(root)}


# -- a cached result found without parsing the file ---------------------------------------------------------
@dataclass
class Located:
    """What a stored locator says about a file, re-validated: its context and settings as last found."""

    source: Source
    link: Path
    context_dir: Path
    settings_text: str
    context_fp: str
    result_key: str | None = None  # the full key of the result the locator carries, if any
    result: dict | None = None


def _options_text(opts: Options) -> str:
    """The options that decide the settings and the context (with the config files and the disk)."""
    codes = sorted(opts.unsafe_codes) if opts.unsafe_codes is not None else None
    config = os.path.abspath(opts.config) if opts.config else None
    return repr((opts.select, opts.ignore, opts.unsafe_fixes, codes, opts.cache_mounts, opts.resolve, config))


def _config_stats(link: Path, opts: Options, run_cache: dict) -> str:
    from . import cache

    if opts.config:
        return cache._stat_line(os.path.abspath(opts.config))
    return cache.config_stats(str(link.parent), run_cache)  # where config.find_config searches


def located(path: Path, opts: Options, run_cache: dict) -> Located | None:
    """The context and settings a stored analysis of ``path`` was made with, when they still hold: found
    from the file's bytes, paths and options (``cache.locator_key``) and checked by the stats of the config
    files and the context's fingerprint, without parsing the file, reading the config or inferring the
    context (a warm run's largest costs). None: analyse as usual. Once per file and run."""
    memo = run_cache.setdefault("located", {})
    if str(path) not in memo:
        memo[str(path)] = _locate(path, opts, run_cache)
    return memo[str(path)]


def _locate(path: Path, opts: Options, run_cache: dict) -> Located | None:
    if not opts.cache or opts.write or opts.context is not None or str(path) == STDIN:
        return None
    from . import cache

    try:
        source = read_source(path)
    except InputError:
        return None
    link = _link_path(path, run_cache)
    store = _store(run_cache)
    k1 = cache.locator_key(source.text.encode("utf-8", "surrogatepass"), str(path), link, _options_text(opts))
    run_cache.setdefault("locator-keys", {})[str(path)] = k1
    loc = store.get_locator(k1)
    try:
        context_dir, settings_text, config, fp = loc["context_dir"], loc["settings"], loc["config"], loc["context_fp"]
    except (KeyError, TypeError):
        return None
    if config != _config_stats(link, opts, run_cache):
        return None
    context = Path(context_dir)
    if cache.context_fingerprint(context, link, run_cache, store.root) != fp:
        return None  # the context changed: so may the inferred context itself
    inline = loc.get("result")
    return Located(
        source, link, context, settings_text, fp, loc.get("result_key"), inline if isinstance(inline, dict) else None
    )


def _from_located(loc: Located, given: str, committed: dict[str, str], run_cache: dict, findings_only: bool):
    from . import cache

    k = cache.key(
        text_bytes=loc.source.text.encode("utf-8", "surrogatepass"),
        given=given,
        dockerfile=loc.link,
        context_dir=loc.context_dir,
        context_note="",  # a settled inference has no note
        settings=loc.settings_text,
        committed=_committed_in(loc.context_dir, committed),
        context_fp=loc.context_fp,
        findings_only=findings_only,
    )
    result = None
    if loc.result is not None and loc.result_key == k:  # the locator's own copy, made under this very key
        result = cache.load_entry(loc.result, loc.source.text)
    if result is None:
        result = _store(run_cache).get(k, loc.source.text)
    if result is not None:
        committed.update({p: after for p, (_before, after) in result.side_files.items()})  # as Context does
    return result


def _remember(path: Path, opts: Options, ctx: Context, run_cache: dict, settled: bool) -> None:
    """Store the locator of a file just analysed (or served by the full key), when its context was inferred
    from the folder's own tree (``Inference.settled``) and can be fingerprinted."""
    from . import cache

    k1 = run_cache.get("locator-keys", {}).get(str(path))
    if k1 is None or not settled or ctx.context_dir is None:
        return
    store = _store(run_cache)
    fp = cache.context_fingerprint(ctx.context_dir, ctx.dockerfile, run_cache, store.root)
    if fp is None:
        return
    locator = {
        "context_dir": os.fspath(ctx.context_dir),
        "settings": cache.settings_text(ctx.settings),
        "config": _config_stats(ctx.dockerfile, opts, run_cache),
        "context_fp": fp,
    }
    analysed = run_cache.get("analysed", {}).pop(str(path), None)
    if analysed is not None:
        locator["result_key"], locator["result"] = analysed
    store.put_locator(k1, locator)


def fix_file(
    path: Path,
    opts: Options,
    committed: dict[str, str],
    run_cache: dict | None = None,
    last: bool = True,
    collect: bool = True,
) -> FileReport:
    """``last``: no later file of the run reads this one's side files (with ``opts.findings_only`` the
    file is then only checked, not fixed; see ``last_of_context``). ``collect``: free this file's garbage
    cycles after it (not after a run's last file: the process ends, slimml.fastexit)."""
    with _gc_deferred(collect):
        return _fix_file(path, opts, committed, run_cache, last)


GC_YOUNG_LIMIT = 200_000  # objects allocated (net) since the last collection before one is run


@contextmanager
def _gc_deferred(collect: bool = True):
    """Python's cyclic garbage collector paused while a file is analysed. The analysis allocates millions
    of small objects and keeps many in memos; automatic collections (every 700 allocations) kept
    re-traversing them: 44% of a 10,000-RUN file's CPU time, measured with gc.callbacks (4.3 of 9.9 s).
    After the file, once GC_YOUNG_LIMIT objects have piled up, the young generations are collected
    (everything allocated while paused is young): the garbage cycles of the files analysed so far are
    freed, so memory stays bounded as with automatic collection, at one collection per ~100 small files."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collect and gc.get_count()[0] > GC_YOUNG_LIMIT:
            gc.collect(1)
        if was:
            gc.enable()


def _fix_file(path: Path, opts: Options, committed: dict[str, str], run_cache: dict | None, last: bool) -> FileReport:
    stdin = str(path) == STDIN
    if stdin:
        named = opts.stdin_filename or Path("Dockerfile")  # unnamed: a Dockerfile in the current folder
        report = FileReport(path, display_path(opts.stdin_filename) if opts.stdin_filename else STDIN)
        path = named
    else:
        report = FileReport(path, display_path(path))
    findings_only = opts.findings_only and last and not opts.write
    loc = located(path, opts, run_cache) if run_cache is not None and not stdin else None
    if loc is not None:
        report.result = _from_located(loc, str(path), committed, run_cache, findings_only)
    if report.result is not None:
        report.context_dir = loc.context_dir
        return _finish(report, opts, stdin, loc.source, loc.link)
    read = _analyse_file(report, path, stdin, opts, committed, run_cache, findings_only)
    if read is None:  # report.error says why
        return report
    return _finish(report, opts, stdin, *read)


def _analyse_file(
    report: FileReport, path: Path, stdin: bool, opts: Options, committed, run_cache, findings_only: bool
) -> tuple[Source, Path] | None:
    """Read, parse, configure, infer the context and analyse (or find the result by the full cache key);
    (the source, the path as the build names it), or None with ``report.error`` set."""
    try:
        source: Source = read_stdin(report.display) if stdin else read_source(path)
        given, path = path, _link_path(path, run_cache)
        # parallel.last_of_context may have parsed this text and inferred its context already: reuse them.
        pre = run_cache.pop(("parsed", str(path)), None) if run_cache is not None else None
        if pre is not None and pre[0] != source.text:
            pre = None
        doc = require_stages(pre[1] if pre is not None else parse(source.text))
        cfg = load_file(opts.config) or FileConfig() if opts.config else find_config(path)
        settings = _settings(opts, cfg)
        # An inferred context may be a guess (discovery.infer): rules then place no side files.
        guess = None if opts.context else pre[2] if pre is not None else infer(path, doc)
        context_dir = opts.context.resolve() if opts.context else guess.path
        report.context_dir = context_dir
        # The Dockerfile as the build names it (a symlink stays the link: `<name>.dockerignore` and
        # the init script sit next to it); Context resolves it where it needs the file itself.
        ctx = Context(
            settings=settings,
            dockerfile=path,
            context_dir=context_dir,
            committed=committed,
            run_cache=run_cache if run_cache is not None else {},
            context_note=guess.reason if guess is not None else "",
        )
        # A lock resolved against the index is today's answer, not a function of the files: never cached.
        resolving = bool(settings.rule_options.get("SLM012", {}).get("resolve"))
        use_cache = opts.cache and not opts.write and not stdin and not resolving
        report.result = _analyse(source, ctx, str(given), use_cache, findings_only, doc)
        if use_cache and run_cache is not None:
            _remember(given, opts, ctx, run_cache, guess is not None and guess.settled)
    except InputError as e:
        report.error = mask(str(e))
        return None
    except DockerfileError as e:
        report.error = mask(f"{report.display}: not a valid Dockerfile: {e}")
        return None
    except ConfigError as e:
        report.error = mask(str(e))
        return None
    return source, path


def _finish(report: FileReport, opts: Options, stdin: bool, source: Source, path: Path) -> FileReport:
    """The diff, new files and (with --write) the writes of an analysed file."""
    r = report.result
    report.new_files = [display_path(Path(p)) for p, (b, a) in r.side_files.items() if b is None and a]
    # `check` prints findings only: no diff (difflib and secret masking were a tenth of a long file's time).
    report.diff = "" if opts.findings_only else make_diff(report)
    if opts.write and r.changed:
        shared = _linked_out_of_context(r, report.context_dir)
        if shared:
            report.error = mask(f"{report.display}: nothing written: {shared}")
            return report
        try:
            if not stdin and r.output != r.original:
                atomic_write(path, source.encode(r.output))
                report.written.append(report.display)
            for p, (before, after) in r.side_files.items():
                if before != after:
                    # A generated script (init script for weights) must be executable; an existing
                    # file keeps its own mode.
                    mode = 0o755 if before is None and after.startswith("#!") else None
                    Path(p).parent.mkdir(parents=True, exist_ok=True)
                    atomic_write(Path(p), after.encode("utf-8"), mode=mode)
                    report.written.append(display_path(Path(p)))
        except OSError as e:
            report.error = f"{report.display}: cannot write ({e.strerror or e})"
            return report
    if stdin and opts.write:
        report.stdout = source.encode(r.output)  # printed whole (unmasked: it is the user's own file)
    return report


def _linked_out_of_context(r: Result, context_dir: Path | None) -> str | None:
    """Why a side file must not be written: it is a symlink to a file outside the build context. Writing
    through it would change a file other builds may read (the fix was checked against this context only);
    replacing the link would quietly stop the sharing. A symlink within the context is written through."""
    root = os.path.realpath(context_dir) if context_dir is not None else None
    for p, (before, after) in r.side_files.items():
        if before != after and os.path.islink(p):
            target = os.path.realpath(p)
            if root is None or not (target == root or target.startswith(root.rstrip(os.sep) + os.sep)):
                return (
                    f"{display_path(Path(p))} is a symlink to {display_path(Path(target))}, outside the build "
                    "context (other builds may read it): add the change there by hand, or replace the link"
                )
    return None


def run_fix(paths: list[Path], opts: Options) -> list[FileReport]:
    files, reports = collect(paths)
    committed: dict[str, str] = {}  # side files shared by Dockerfiles of one context
    run_cache: dict = {}  # context walks and sibling Dockerfiles, read once per run
    from . import parallel

    jobs = parallel.workers(len(files))
    if jobs > 1 and opts.cache and not opts.write:
        # A warm run reads stored results: cheaper in one process than forking a pool. Three in four files
        # with a valid locator say it is one (the others -- a context that is only a guess, a changed
        # file -- are usually served by the full key too, after a parse).
        with _gc_deferred():
            hits = sum(located(f, opts, run_cache) is not None for f in files)
        if hits * 4 >= len(files) * 3:
            jobs = 1
    if jobs > 1 and not any(str(f) == STDIN for f in files):
        return reports + parallel.run(files, opts, jobs)
    # Paused for the whole run (fix_file collects the young generations between files when they are
    # large): re-enabled between files, the first allocation would collect at once anyway. The last
    # file's garbage is left to the next automatic collection: none when the process ends (fastexit).
    with _gc_deferred(collect=False):
        last = parallel.last_of_context(files, opts, run_cache)
        for i, f in enumerate(files):
            reports.append(fix_file(f, opts, committed, run_cache, last[i], collect=i < len(files) - 1))
    return reports
