"""`slimml migrate`: find the repos, record them, hand them to worker processes, show progress.

The parent holds an exclusive lock on the state file for the whole run (two migrations on one
state would race) and never writes a repo's row itself: each worker records its own repo's state
changes. Re-running the same command continues with the repos that are not final yet.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..discovery import SKIP_DIRS
from . import shard as shards
from . import state
from .worker import Job

_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


class MigrateError(Exception):
    """Bad input for the whole run (one line, for the user)."""


@dataclass
class Plan:
    roots: list[Path] = field(default_factory=list)
    repos_file: Path | None = None
    workdir: Path = Path(".")
    state_path: Path | None = None
    mode: str = "branch"  # branch | patch | dry-run
    branch: str = "slimml/slim-images"
    patches: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    cache_mounts: bool | None = None
    jobs: int = 0
    retry_failed: bool = False
    retry_skipped: bool = False
    quiet: bool = False
    measure: dict | None = None
    report_dir: Path | None = None
    shard: tuple[int, int] | None = None  # --shard I/N (slimml.migrate.shard): only this shard's repos
    publish: dict | None = None  # --push/--open-pr: {"remote", "forge", "forge_url", "pr_base"}


def is_url(s: str) -> bool:
    return bool(_URL.match(s))


def find_repos(root: Path) -> list[Path]:
    """Git repos under ``root`` (itself included), nested ones too, in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames or ".git" in filenames:
            found.append(Path(dirpath))
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d)))
    return found


def read_repos_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MigrateError(f"--repos {path}: cannot read ({e.strerror or e})") from None
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line)
    return entries


def register(conn, plan: Plan, clones: Path) -> None:
    """Record every repo of the plan (new ones as pending; known ones keep their state)."""
    entries: list[tuple[str, str, str, str | None]] = []  # key, path, name, url
    for root in plan.roots:
        if not root.is_dir():
            raise MigrateError(f"{root}: not a directory")
        rroot = root.resolve()
        for repo in find_repos(rroot):
            rel = repo.relative_to(rroot).as_posix()
            name = rroot.name if rel == "." else rel
            if len(plan.roots) > 1 and rel != ".":
                name = f"{rroot.name}/{rel}"
            entries.append((str(repo), str(repo), name, None))
    if plan.repos_file is not None:
        base = plan.repos_file.resolve().parent
        for entry in read_repos_file(plan.repos_file):
            if is_url(entry):
                entries.append((entry, "", entry, entry))
            else:
                p = (base / entry).resolve()
                entries.append((str(p), str(p), entry, None))
    if not entries and not state.repos(conn):
        raise MigrateError(
            "no git repository found" + (f" under {', '.join(map(str, plan.roots))}" if plan.roots else "")
        )
    if plan.shard is not None:  # --shard: only the repos whose identity hashes to this shard
        entries = [e for e in entries if shards.owns(plan.shard, e[2], e[3])]
    with state.transaction(conn):
        for key, path, name, url in entries:
            rid = state.add_repo(conn, key, path or "?", name, url)
            if url and path == "":
                slug = conn.execute("SELECT slug FROM repos WHERE id=?", (rid,)).fetchone()[0]
                conn.execute("UPDATE repos SET path=? WHERE id=? AND path='?'", (str(clones / slug), rid))


def _lock(path: Path):
    fh = open(path, "a+")  # noqa: SIM115 - held (locked) for the whole run
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise MigrateError(f"another `slimml migrate` is using {path.with_suffix('')} right now") from None
    return fh


def options_fingerprint(plan: Plan) -> dict:
    return {
        "mode": plan.mode,
        "branch": plan.branch if plan.mode == "branch" else None,
        "patches": str(plan.patches.resolve()) if plan.patches else None,
        "select": sorted(plan.select),
        "ignore": sorted(plan.ignore),
        "unsafe_fixes": plan.unsafe_fixes,
        "cache_mounts": plan.cache_mounts,
    } | ({"shard": shards.text(plan.shard)} if plan.shard else {})  # unsharded states keep their old text


@dataclass
class Outcome:
    state_path: Path
    counts: dict[str, int]
    processed: int
    seconds: float
    interrupted: bool = False
    reports: list[Path] = field(default_factory=list)
    publish: dict = field(default_factory=dict)  # publish.counts (pushed, pr_opened, ..., failed)
    report_text: str = ""


def migrate(plan: Plan) -> Outcome:
    from . import gitops

    if plan.mode == "branch" and not gitops.valid_branch(plan.branch):
        raise MigrateError(f"--branch {plan.branch!r} is not a valid branch name")
    for root in plan.roots:  # bad input is refused before anything is written
        if not root.is_dir():
            raise MigrateError(f"{root}: not a directory")
    if plan.repos_file is not None:
        read_repos_file(plan.repos_file)
    workdir = plan.workdir.resolve()
    tmpdir_obj = None
    if plan.mode == "dry-run":
        # Nothing written at all: the state lives in a temporary folder for the run.
        tmpdir_obj = tempfile.TemporaryDirectory(prefix="slimml-migrate-")
        state_path = Path(tmpdir_obj.name) / "migrate.db"
        tmp_root = Path(tmpdir_obj.name) / "work"
    else:
        state_path = (
            plan.state_path
            or workdir / ".slimml" / (shards.default_state_name(plan.shard) if plan.shard else "migrate.db")
        ).resolve()
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_root = state_path.parent / f"{state_path.stem}.tmp"
    plan = replace(plan, workdir=workdir)
    lock = _lock(state_path.with_name(state_path.name + ".lock"))
    try:
        conn = state.connect(state_path)
        try:
            state_id = state.init(conn)
            state.check_options(conn, options_fingerprint(plan))
            if plan.shard is not None:
                state.set_meta(conn, "shard", shards.text(plan.shard))
        except state.StateError as e:
            raise MigrateError(str(e)) from None
        # --dry-run writes nothing, not even clones outside the temporary folder.
        clones = (Path(tmpdir_obj.name) if tmpdir_obj else workdir / ".slimml") / "clones"
        register(conn, plan, clones)
        # Leftover snapshots of an interrupted run: ours (we hold the lock), safe to remove.
        if tmp_root.exists():
            shutil.rmtree(tmp_root, ignore_errors=True)
        tmp_root.mkdir(parents=True, exist_ok=True)

        todo_status = (
            ["pending", "in-progress"]
            + (["failed"] if plan.retry_failed else [])
            + (["skipped"] if plan.retry_skipped else [])
        )
        rows = conn.execute(
            f"SELECT id, name FROM repos WHERE status IN ({','.join('?' * len(todo_status))}) ORDER BY id", todo_status
        ).fetchall()
        total = conn.execute("SELECT COUNT(*) FROM repos").fetchone()[0]
        base = Job(
            0,
            str(state_path),
            state_id,
            plan.mode,
            plan.branch,
            str(plan.patches.resolve()) if plan.patches else None,
            str(tmp_root),
            tuple(plan.select),
            tuple(plan.ignore),
            plan.unsafe_fixes,
            plan.cache_mounts,
            plan.measure,
            own_dirs=tuple(
                str(d)
                for d in (state_path.parent, plan.report_dir, plan.patches, workdir / ".slimml" / "clones")
                if d is not None
            ),
        )
        if plan.publish:  # fixed repos whose push / PR is not done are retried (the fix is not redone)
            from .publish import pending_sql

            rows += conn.execute(f"SELECT id, name FROM repos WHERE {pending_sql(plan.publish)} ORDER BY id").fetchall()
            base = replace(base, publish=plan.publish)
        jobs = [replace(base, repo_id=r["id"]) for r in rows]
        started = time.time()
        interrupted, completed = _execute(jobs, plan, conn, total)
        shutil.rmtree(tmp_root, ignore_errors=True)
        outcome = Outcome(state_path, state.counts(conn), completed, time.time() - started, interrupted)
        if plan.publish:
            from .publish import counts as publish_counts

            outcome.publish = publish_counts(conn, plan.publish)
        if not interrupted:
            _reports(conn, plan, outcome, state_path)
        conn.close()
        return outcome
    finally:
        lock.close()
        if tmpdir_obj is not None:
            tmpdir_obj.cleanup()


def _reports(conn, plan: Plan, outcome: Outcome, state_path: Path) -> None:
    from . import report

    data = report.collect(conn, state_path=None if plan.mode == "dry-run" else state_path)
    if plan.mode == "dry-run":
        outcome.report_text = report.markdown(data)
        return
    out_dir = (plan.report_dir or state_path.parent).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    from ..io import atomic_write

    suffix = "-" + shards.suffix(plan.shard) if plan.shard else ""  # shards may share one report folder
    for ext, render in (("md", report.markdown), ("json", report.to_json), ("html", report.html)):
        target = out_dir / f"migrate-report{suffix}.{ext}"
        atomic_write(
            target, render(data, base=out_dir).encode("utf-8") if ext == "html" else render(data).encode("utf-8")
        )
        outcome.reports.append(target)


def _execute(jobs: list[Job], plan: Plan, conn, total: int) -> tuple[bool, int]:
    """Run the jobs; (interrupted by Ctrl-C, repos completed)."""
    from . import worker

    counts = state.counts(conn)
    done0 = total - len(jobs)
    progress = None
    if not plan.quiet:
        progress = _Progress(total, done0, counts, len(jobs))
    n_workers = max(1, plan.jobs or os.cpu_count() or 1)
    completed = [0]

    def done(res: dict) -> None:
        completed[0] += 1
        if progress:
            progress.advance(res)
        elif res.get("status") == "failed":
            print(f"failed {res['name']}: {res.get('reason') or ''}", file=sys.stderr, flush=True)
        if res.get("publish_error") and not progress:  # the fix stands, publishing failed
            print(f"publish failed {res['name']}: {res['publish_error']}", file=sys.stderr, flush=True)

    try:
        if n_workers == 1 or len(jobs) <= 1:
            worker.init_worker(plan.measure, _semaphore(plan, None))
            for job in jobs:
                done(worker.run(job))
        else:
            _pool(jobs, plan, n_workers, done)
    except KeyboardInterrupt:
        if progress:
            progress.stop()
        print(
            "interrupted: re-run the same command to continue (interrupted repos are redone or adopted)",
            file=sys.stderr,
        )
        return True, completed[0]
    if progress:
        progress.stop()
    return False, completed[0]


def _semaphore(plan: Plan, ctx):
    if plan.measure is None:
        return None
    import multiprocessing

    if plan.measure.get("engines"):  # --docker-host/--docker-context: a pool of engines (engines.py)
        from .engines import pool_for

        return pool_for(plan.measure["engines"], max(1, plan.measure.get("build_jobs") or 1), ctx)
    return (ctx or multiprocessing).BoundedSemaphore(max(1, plan.measure.get("build_jobs") or 1))


def _pool(jobs: list[Job], plan: Plan, n_workers: int, done_cb) -> None:
    """Worker processes, one job at a time each, over pipes.

    Not ``ProcessPoolExecutor``: its shutdown can hang after Ctrl-C. Here the workers ignore
    SIGINT; the parent alone handles Ctrl-C by terminating them (an interrupted repo is crash-safe
    and recovered by the next run). A worker that dies marks its repo failed and is replaced.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    from . import state, worker

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["slimml.migrate.worker", "slimml.runner", "slimml.rules"])
    sem = _semaphore(plan, ctx)
    queue = list(reversed(jobs))
    procs: dict = {}  # conn -> (process, job or None)

    def start():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker.serve, args=(child, plan.measure, sem, os.getpid()), daemon=True)
        p.start()
        child.close()
        procs[parent] = [p, None]
        feed(parent)

    def feed(conn):
        if queue:
            job = queue.pop()
            procs[conn][1] = job
            conn.send(job)
        else:
            procs[conn][1] = None
            conn.send(None)

    conn_db = None
    try:
        for _ in range(min(n_workers, len(jobs))):
            start()
        while any(j is not None for _, j in procs.values()):
            busy = {c: pj for c, pj in procs.items() if pj[1] is not None}
            ready = wait(list(busy) + [pj[0].sentinel for pj in busy.values()])
            for conn, (proc, job) in list(busy.items()):
                if conn in ready:
                    try:
                        res = conn.recv()
                    except (EOFError, OSError):
                        res = None
                    if res is not None:
                        done_cb(res)
                        feed(conn)
                        continue
                elif proc.sentinel not in ready:
                    continue
                # The worker died on this job: record it, replace the worker.
                proc.join(5)
                if conn_db is None:
                    conn_db = state.connect(job.state_path)
                state.finish(
                    conn_db,
                    job.repo_id,
                    [],
                    status="failed",
                    reason=f"worker process died (exit code {proc.exitcode}) while migrating this repo",
                )
                done_cb(
                    {
                        "id": job.repo_id,
                        "name": state.repo(conn_db, job.repo_id)["name"],
                        "status": "failed",
                        "reason": "worker process died",
                    }
                )
                conn.close()
                del procs[conn]
                if queue:
                    start()
    finally:
        for proc, job in procs.values():
            if proc.is_alive() and job is not None:
                proc.terminate()  # interrupted: its repo stays in-progress and is recovered next run
        for proc, _ in procs.values():
            proc.join(10)
            if proc.is_alive():  # pragma: no cover - stuck in a system call
                proc.kill()
                proc.join()
            conn.close()
        if conn_db is not None:
            conn_db.close()


class _Progress:
    """A rich progress bar: repos done / failed / skipped and an ETA (on stderr)."""

    def __init__(self, total: int, done0: int, counts: dict[str, int], todo: int):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.c = {k: counts.get(k, 0) for k in ("fixed", "unchanged", "skipped", "failed")}
        self.console = Console(stderr=True)
        self.p = Progress(
            TextColumn("[bold]migrate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]{task.fields[fixed]} fixed[/] · {task.fields[unchanged]} unchanged · "
                "[yellow]{task.fields[skipped]} skipped[/] · [red]{task.fields[failed]} failed[/]"
            ),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.p.add_task("repos", total=total, completed=done0, **self.c)
        self.p.start()
        self.last = ""

    def advance(self, res: dict) -> None:
        st = res.get("status")
        if st in self.c and not res.get("publish_only"):  # a publish retry is already counted
            self.c[st] += 1
        self.p.update(self.task, advance=1, **self.c)
        if st == "failed":
            from rich.markup import escape

            self.p.console.print(
                f"[red]failed[/] {escape(res['name'])}: {escape(res.get('reason') or '')}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
        if res.get("publish_error"):  # the fix stands, its push / pull request did not happen
            from rich.markup import escape

            self.p.console.print(
                f"[yellow]publish failed[/] {escape(res['name'])}: {escape(res['publish_error'])}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )

    def stop(self) -> None:
        self.p.stop()
