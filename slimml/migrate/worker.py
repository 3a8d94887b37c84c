"""One repo, start to finish: recover, inspect, snapshot, fix, commit, publish, record.

Runs in a worker process (or inline with ``--jobs 1``). Each step that matters is recorded in the
state database *before* the next one runs:

1. ``in-progress`` with the base commit and branch, before anything is created;
2. the slimml commit's sha and the per-file results, before the branch is created;
3. the final status, after the branch (or patch) exists.

The user's checkout is never edited (see ``gitops``), so an interrupted repo has nothing to roll
back: on the next run it is either *adopted* (its branch points at the commit recorded in step 2,
or at a commit carrying this migration's trailer and base) or redone from scratch. Nothing is
done twice: the branch is created with an atomic "must not exist yet" ``update-ref``.
"""

from __future__ import annotations

import difflib
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from ..secrets import mask
from . import gitops, state
from .fmt import counts_text, human_range

_CONN: dict[str, object] = {}
_MEASURE = None  # set by the pool initializer when --measure is on


@dataclass
class Job:
    repo_id: int
    state_path: str
    state_id: str
    mode: str  # "branch" | "patch" | "dry-run"
    branch: str
    patches: str | None
    tmp_root: str
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    cache_mounts: bool | None = None
    measure: dict | None = None  # {"build_jobs": N, "builder": ...} when --measure
    own_dirs: tuple[str, ...] = ()  # slimml's own output folders (state, reports, patches, clones)
    publish: dict | None = None  # --push/--open-pr: slimml.migrate.publish; never holds the token


def init_worker(measure_cfg: dict | None = None, semaphore=None, main_pid: int | None = None) -> None:
    """Pool initializer. With ``main_pid``: exit as soon as that process is gone, so a killed
    migrate (even ``kill -9``) leaves no worker running on. (Parent-death signals do not help
    here: forkserver workers are children of the fork server, which itself only exits once
    every worker has.)"""
    global _MEASURE
    if measure_cfg is not None:
        _MEASURE = (measure_cfg, semaphore)
    if main_pid is not None:
        import threading

        threading.Thread(target=_watch, args=(main_pid,), name="slimml-watchdog", daemon=True).start()


def serve(conn, measure_cfg, semaphore, main_pid: int) -> None:
    """A worker process: run the jobs received on ``conn`` until ``None``. Ctrl-C is the
    parent's business (it terminates the workers)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker(measure_cfg, semaphore, main_pid)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(run(job))


def _watch(pid: int) -> None:
    try:
        import select

        fd = os.pidfd_open(pid)  # readable once the process has exited
        select.select([fd], [], [])
    except (AttributeError, OSError):  # pragma: no cover - no pidfd (old kernel, not Linux)
        while True:
            time.sleep(0.2)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                continue
    os._exit(70)  # state changes are transactions; an interrupted repo is recovered next run


def _conn(path: str):
    c = _CONN.get(path)
    if c is None:
        c = _CONN[path] = state.connect(path)
    return c


def run(job: Job) -> dict:
    """Process one repo; never raises (a failure is recorded and returned)."""
    conn = _conn(job.state_path)
    try:
        res = _run(job, conn)
        if job.publish and res["status"] == "fixed":  # push / PR; a failure is recorded, the fix stands
            from .publish import publish

            publish(conn, job)
            res["publish_error"] = state.repo(conn, job.repo_id)["publish_error"]
        return res
    except gitops.GitError as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 - one repo's failure must never stop the others
        reason = f"internal error: {type(e).__name__}: {e}"
    state.finish(conn, job.repo_id, [], status="failed", reason=reason)
    row = state.repo(conn, job.repo_id)
    return _result(row)


def _result(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "status": row["status"], "reason": row["reason"]}


def _skip(conn, job: Job, reason: str, **fields) -> dict:
    state.finish(conn, job.repo_id, [], status="skipped", reason=reason, **fields)
    return _result(state.repo(conn, job.repo_id))


def _trailer(job: Job) -> str:
    return f"{job.state_id}.{job.repo_id}"


def _ours(repo: Path, sha: str, job: Job, base: str | None) -> bool:
    """Is ``sha`` the commit this migration made for this repo (on ``base`` when known)?"""
    info = gitops.commit_info(repo, sha)
    if info is None:
        return False
    parents, message = info
    if gitops.trailer_value(message) != _trailer(job):
        return False
    return base is None or parents == [base]


def recover(conn, job: Job, row: dict, repo: Path) -> dict | None:
    """An interrupted repo (``in-progress`` from an earlier run): adopt what was published, else
    let it be redone. Returns the final result when adopted."""
    if job.mode != "branch" or row["status"] != "in-progress":
        return None
    existing = gitops.ref_sha(repo, f"refs/heads/{job.branch}")
    if existing is None:
        return None  # the branch was never created: redo from scratch (nothing was edited)
    if existing == row["commit_sha"] or _ours(repo, existing, job, row["base_sha"]):
        state.update(conn, job.repo_id, status="fixed", commit_sha=existing, reason=None, finished=time.time())
        return _result(state.repo(conn, job.repo_id))
    return None  # someone else's branch: the normal checks below skip the repo


def _run(job: Job, conn) -> dict:
    row = state.repo(conn, job.repo_id)
    repo = Path(row["path"])
    if job.publish and row["status"] == "fixed":  # selected only to retry publishing; the fix stands
        if not row["url"] or _has_commit(repo, row["commit_sha"]):
            return {**_result(row), "publish_only": True}
        # A fresh job runner with the state but not the clone (a CI cache, a new pod): the unpushed commit is
        # gone with the clone. The fix is redone from a new clone; its commit carries the same trailer, so a
        # remote branch an earlier attempt pushed is ours and is replaced.
    if row["url"] and not gitops.is_repo_dir(repo):
        gitops.clone(row["url"], repo)
    if not repo.is_dir():
        return _skip(conn, job, "no such directory")
    if not gitops.is_repo_dir(repo):
        return _skip(conn, job, "not a git repository")

    adopted = recover(conn, job, row, repo)
    if adopted is not None:
        return adopted

    rels = _own_rels(repo, job.own_dirs)
    st = gitops.inspect(repo, untracked_files="all" if rels else "normal")
    if st.head is None:
        return _skip(conn, job, "no commits yet")
    if st.busy:
        return _skip(conn, job, f"{st.busy} (never touching uncommitted work)")
    dirty = _not_ours(st.dirty, rels)
    if dirty:
        st.dirty = dirty
        shown = ", ".join(e[3:] for e in st.dirty[:3]) + (", ..." if len(st.dirty) > 3 else "")
        return _skip(conn, job, f"dirty working tree: {len(st.dirty)} uncommitted change(s) ({shown})")
    if job.mode == "branch":
        existing = gitops.ref_sha(repo, f"refs/heads/{job.branch}")
        if existing is not None:
            if _ours(repo, existing, job, st.head):
                state.update(conn, job.repo_id, status="fixed", commit_sha=existing, finished=time.time())
                return _result(state.repo(conn, job.repo_id))
            return _skip(conn, job, f"branch {job.branch} already exists")

    # Step 1: recorded before anything is created.
    state.update(
        conn,
        job.repo_id,
        status="in-progress",
        base_sha=st.head,
        commit_sha=None,
        patch=None,
        branch=job.branch if job.mode == "branch" else None,
        reason=None,
        started=time.time(),
        attempts=row["attempts"] + 1,
    )

    work = Path(job.tmp_root) / f"{job.repo_id}-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    try:
        snap = gitops.Snapshot(
            repo, st.git_dir, st.common_dir, st.head, st.head_tree, work, private_objects=job.mode != "branch"
        )
        # A .git marker stops the build-context inference from climbing out of the snapshot.
        (snap.tree / ".git").mkdir(exist_ok=True)
        (work / "empty.slimml.toml").write_text("", encoding="utf-8")
        rows, written, applied = fix_tree(snap.tree, job, work / "empty.slimml.toml")
        if _MEASURE is not None and not _verifying() and any(r["status"] == "fixed" for r in rows):
            measure_rows(repo, st, work, rows)
        return _publish(conn, job, repo, snap, rows, written, applied)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _has_commit(repo: Path, sha: str | None) -> bool:
    return bool(sha) and gitops.is_repo_dir(repo) and gitops.commit_info(repo, sha) is not None


def _own_rels(repo: Path, own_dirs: tuple[str, ...]) -> list[str]:
    """slimml's own folders inside this repo (running `slimml migrate .` inside a repo must not
    make that repo dirty), relative to it."""
    rels = []
    root = repo.resolve()
    for d in own_dirs:
        p = Path(d).resolve()
        if p != root and root in p.parents:
            rels.append(p.relative_to(root).as_posix())
    return rels


def _not_ours(entries: list[str], rels: list[str]) -> list[str]:
    """Status entries (listed file by file) minus those under slimml's own folders."""
    return [e for e in entries if not any(e[3:] == r or e[3:].startswith(r + "/") for r in rels)]


def _publish(conn, job: Job, repo: Path, snap, rows: list[dict], written: list[str], applied: list) -> dict:
    totals = _totals(rows)
    if not rows:
        return _skip(conn, job, "no Dockerfile found", **totals)
    failed = [r for r in rows if r["status"] == "failed"]
    if not written:
        if len(failed) == len(rows):
            state.finish(conn, job.repo_id, rows, status="failed", reason=_failures_text(failed), **totals)
        else:
            state.finish(
                conn, job.repo_id, rows, status="unchanged", reason=_failures_text(failed) if failed else None, **totals
            )
        return _result(state.repo(conn, job.repo_id))

    message = commit_message(rows, applied, _trailer(job))
    if job.mode == "dry-run":
        state.finish(
            conn, job.repo_id, rows, status="fixed", reason=_failures_text(failed) if failed else None, **totals
        )
        return _result(state.repo(conn, job.repo_id))

    sha = snap.commit(written, message, gitops.user_config(repo))
    if sha is None:  # the fixes only touched what git ignores as no change (e.g. same content)
        state.finish(conn, job.repo_id, rows, status="unchanged", **totals)
        return _result(state.repo(conn, job.repo_id))
    # Step 2: the commit and the file results are recorded before anything is published.
    state.finish(conn, job.repo_id, rows, status="in-progress", commit_sha=sha, finished=None, **totals)

    fields: dict = {}
    if job.mode == "branch":
        try:
            gitops.create_branch(repo, job.branch, sha)
        except gitops.GitError:
            existing = gitops.ref_sha(repo, f"refs/heads/{job.branch}")
            if existing is not None and _ours(repo, existing, job, snap.base):
                sha = existing  # a concurrent (orphaned) attempt published first: adopt it
            elif existing is not None:
                state.finish(
                    conn,
                    job.repo_id,
                    rows,
                    status="skipped",
                    commit_sha=None,
                    reason=f"branch {job.branch} already exists",
                    **totals,
                )
                return _result(state.repo(conn, job.repo_id))
            else:
                raise
    else:
        from ..io import atomic_write

        patch_dir = Path(job.patches)
        patch_dir.mkdir(parents=True, exist_ok=True)
        slug = state.repo(conn, job.repo_id)["slug"]
        target = patch_dir / f"{slug}.patch"
        atomic_write(target, snap.format_patch(sha))
        fields["patch"] = str(target)
    # Step 3.
    state.update(
        conn,
        job.repo_id,
        status="fixed",
        commit_sha=sha,
        finished=time.time(),
        reason=_failures_text(failed) if failed else None,
        **fields,
    )
    return _result(state.repo(conn, job.repo_id))


def _failures_text(failed: list[dict]) -> str:
    return "; ".join(
        r["error"] if r["error"].startswith(r["path"] + ":") else f"{r['path']}: {r['error']}" for r in failed
    )


def _totals(rows: list[dict]) -> dict:
    lows = [r["est_low"] for r in rows if r.get("est_low") is not None]
    highs = [r["est_high"] for r in rows if r.get("est_high") is not None]
    mb = [r for r in rows if r.get("measured_before") is not None and r.get("measured_after") is not None]
    return {
        "dockerfiles": len(rows),
        "findings": sum(sum(r["findings"].values()) for r in rows),
        "fixes": sum(sum(r["fixes"].values()) for r in rows),
        "est_low": sum(lows) if lows else None,
        "est_high": sum(highs) if highs else None,
        "measured_before": sum(r["measured_before"] for r in mb) if mb else None,
        "measured_after": sum(r["measured_after"] for r in mb) if mb else None,
    }


def _find_config(dockerfile: Path, root: Path, empty: Path) -> Path:
    """The repo's own config nearest to the Dockerfile -- never one above the repo root."""
    from ..config import load_file

    folder = dockerfile.parent
    while True:
        for name in (".slimml.toml", "pyproject.toml"):
            p = folder / name
            if p.is_file() and (name == ".slimml.toml" or load_file(p) is not None):
                return p
        if folder == root or root not in folder.parents:
            return empty
        folder = folder.parent


def _diff(before: str | None, after: str, name: str) -> str:
    a = (before or "").splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(a, b, "/dev/null" if before is None else f"a/{name}", f"b/{name}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def fix_tree(tree: Path, job: Job, empty_cfg: Path) -> tuple[list[dict], list[str], list]:
    """Fix every Dockerfile of the snapshot in place. Returns (file rows, changed paths relative to
    the tree, [(rel path, applied findings)])."""
    from ..config import ConfigError
    from ..discovery import find_dockerfiles
    from ..runner import Options, fix_file

    rows: list[dict] = []
    written: list[str] = []
    applied: list = []
    committed: dict[str, str] = {}
    run_cache: dict = {}
    root = tree.resolve()
    for df in find_dockerfiles(tree):
        if df.is_symlink():
            continue  # its target is fixed where it lives; replacing a link by a file is not a fix
        rel = df.relative_to(tree).as_posix()
        try:
            cfg = _find_config(df.resolve(), root, empty_cfg)
        except ConfigError as e:
            rows.append({"path": rel, "status": "failed", "error": str(e), "findings": {}, "fixes": {}, "unfixed": {}})
            continue
        opts = Options(
            write=True,
            select=job.select,
            ignore=job.ignore,
            unsafe_fixes=job.unsafe_fixes,
            cache_mounts=job.cache_mounts,
            config=cfg,
        )
        verification = None
        try:
            if _verifying():
                verification, rep = _verified(df, opts, committed, run_cache)
            else:
                rep = fix_file(df, opts, committed, run_cache)
        except Exception as e:  # noqa: BLE001 - a rule bug on one file must not sink the repo
            rows.append(
                {
                    "path": rel,
                    "status": "failed",
                    "error": f"internal error: {type(e).__name__}: {e}",
                    "findings": {},
                    "fixes": {},
                    "unfixed": {},
                }
            )
            continue
        if rep is None:  # --verify could not prove even the safe rewrite: the file stays as it is
            rows.append(
                {
                    "path": rel,
                    "status": "failed",
                    "error": _relative(verification.pop("error"), tree),
                    "findings": {},
                    "fixes": {},
                    "unfixed": {},
                    "verification": verification,
                    **{k: verification.get(k) for k in ("measured_before", "measured_after")},
                    **_engine_of(verification),
                }
            )
            continue
        r = rep.result
        row: dict = {"path": rel, "findings": {}, "fixes": {}, "unfixed": {}}
        if verification is not None:
            row.update(_engine_of(verification))
            row["verification"] = verification
            row["measured_before"], row["measured_after"] = (
                verification.get("measured_before"),
                verification.get("measured_after"),
            )
        if r is not None:
            row["findings"] = dict(Counter(f.code for f in r.findings))
            row["fixes"] = dict(r.applied_counts())
            row["unfixed"] = dict(Counter(f.code for f in r.remaining))
            est = r.estimated_savings()
            if est:
                row["est_low"], row["est_high"] = est[0], est[1]
        if rep.error:
            row.update(status="failed", error=_relative(rep.error, tree))
            rows.append(row)
            continue
        row["status"] = "fixed" if rep.changed else "unchanged"
        if rep.changed:
            diffs = []
            if r.output != r.original:
                diffs.append(_diff(r.original, r.output, rel))
                written.append(rel)
            for p, (before, after) in r.side_files.items():
                if before == after:
                    continue
                ap = Path(p).resolve()
                if root != ap and root not in ap.parents:  # pragma: no cover - contexts stay inside
                    raise RuntimeError(f"{rel}: a fix wrote outside the repo ({p})")
                srel = ap.relative_to(root).as_posix()
                diffs.append(_diff(before, after, srel))
                if srel not in written:
                    written.append(srel)
            row["diff"] = mask("".join(diffs))
            applied.append((rel, list(r.applied)))
        rows.append(row)
    return rows, written, applied


def _verifying() -> bool:
    return _MEASURE is not None and bool(_MEASURE[0].get("verify"))


def _verified(df: Path, opts, committed: dict, run_cache: dict):
    """``slimml fix --verify`` for one Dockerfile of the snapshot: (verification record, the written
    report), or (record with an "error", None) when not even the safe rewrite could be proven."""
    from .. import proof
    from .measuring import prove_one

    cfg, sem = _MEASURE
    # sem: the engine's semaphore, or the --docker-host pool (engines.py) -> where = engine, engine_retries
    p, where = prove_one(df, replace(opts, write=False), max(1, cfg.get("build_jobs") or 1), sem)
    record = {
        "kept": sorted(p.kept),
        "safe_verified": p.safe_verified,
        "dropped": [{"code": d.code, "what": "; ".join(d.descriptions), "why": d.why} for d in p.dropped],
        "measured_before": p.size_before,
        "measured_after": p.size_after,
        # runtime packages a kept rule's rewrite needed, found from the built images (measure.repair)
        "repaired": [
            {"code": d.code, "packages": d.repair["packages"], "reasons": d.repair["reasons"]}
            for d in p.decisions
            if d.kept and d.repair and d.repair.get("packages")
        ],
        **where,
    }
    if p.error or p.exit_code != 0:
        record["error"] = p.error or ("the safe rewrite did not verify: " + "; ".join(p.safe_reasons[:5]))
        return record, None
    return record, proof.write(p, opts, committed, run_cache)


def _engine_of(verification: dict) -> dict:
    """The file row's build engine fields (--docker-host pool), taken out of the verification record."""
    return {k: verification.pop(k) for k in ("engine", "engine_retries") if k in verification}


def _relative(msg: str, tree: Path) -> str:
    """Errors name the file relative to the repo, not the snapshot folder."""
    # Longest first: "../../tmp/x/tree/" contains "/tmp/x/tree/"; a set's order varies per process.
    for p in sorted({str(tree.resolve()), str(tree), os.path.relpath(tree)}, key=len, reverse=True):
        msg = msg.replace(p + os.sep, "")
    return msg


def commit_message(
    rows: list[dict], applied: list, trailer: str, via: str = "`slimml migrate`", extra: tuple[str, ...] = ()
) -> str:
    """``via``: the tool named in the body; ``extra``: lines placed before the trailer (the all-repos
    integration's per-repo table)."""
    from ..rules import get_rule

    n_fixes = sum(sum(r["fixes"].values()) for r in rows)
    changed = [r for r in rows if r["status"] == "fixed"]
    lines = [
        (
            f"slimml: slimmer Docker images ({n_fixes} fix{'es' if n_fixes != 1 else ''} "
            f"in {len(changed)} Dockerfile{'s' if len(changed) != 1 else ''})"
        ),
        "",
    ]
    lines.append(f"Applied by {via}. Fixes:")
    by_path = dict(applied)
    for r in changed:
        lines.append("")
        lines.append(f"{r['path']}:")
        seen = set()
        for f in sorted(by_path.get(r["path"], []), key=lambda f: f.code):
            rule = get_rule(f.code)
            what = (f.fix.description or f.message).strip().rstrip(".")
            key = (f.code, what)
            if key in seen:
                continue
            seen.add(key)
            unsafe = ""
            if f.fix.applicability.value == "unsafe":
                kept = (r.get("verification") or {}).get("kept") or []
                unsafe = " (unsafe, verified by a build)" if f.code in kept else " (unsafe: review)"
            lines.append(f"- {f.code} {rule.NAME if rule else ''}{unsafe}: {what}")
        for d in (r.get("verification") or {}).get("repaired") or []:
            lines.append(
                f"- {d['code']} repaired from the built images: the runtime stage installs "
                f"{', '.join(d['packages'])} ({'; '.join(d['reasons'])[:300]})"
            )
        for d in (r.get("verification") or {}).get("dropped") or []:
            lines.append(
                f"- {d['code']} not applied: {d['what'] or 'its unsafe fixes'} -- the build did not verify "
                f"({d['why'][:200]})"
            )
        if r.get("est_low") is not None and len(changed) > 1:
            lines.append(f"  estimated saving: {human_range(r['est_low'], r['est_high'])}")
    lows = [r["est_low"] for r in rows if r.get("est_low") is not None]
    if lows:
        highs = [r["est_high"] for r in rows if r.get("est_high") is not None]
        lines += [
            "",
            (
                f"Estimated saving: {human_range(sum(lows), sum(highs))} (offline estimate from the "
                "applied fixes; `slimml measure` builds both images for the real number)."
            ),
        ]
    left = Counter()
    for r in rows:
        left.update(r["unfixed"])
    if left:
        lines += ["", f"Not fixed automatically (see `slimml fix`): {counts_text(dict(left))}"]
    lines += [*extra, "", f"{gitops.TRAILER}: {trailer}", ""]
    return mask("\n".join(lines))


def measure_rows(repo: Path, st, work: Path, rows: list[dict]) -> None:
    """Real sizes for every changed Dockerfile, built from a second, pristine snapshot (the
    measure package rewrites its own copy)."""
    from .measuring import measure_one

    cfg, sem = _MEASURE
    orig = gitops.Snapshot(
        repo, st.git_dir, st.common_dir, st.head, st.head_tree, work / "measure", private_objects=True
    )
    (orig.tree / ".git").mkdir(exist_ok=True)
    root = orig.tree.resolve()
    for row in rows:
        if row["status"] != "fixed":
            continue
        df = root / row["path"]
        try:
            res = measure_one(
                df,
                _find_config(df, root, work / "empty.slimml.toml"),
                cfg.get("select", ()),
                cfg.get("ignore", ()),
                cfg.get("unsafe_fixes"),
                cfg.get("builder"),
                sem,
                cold=bool(cfg.get("cold")),
            )
        except Exception as e:  # noqa: BLE001 - a build problem never stops the migration
            res = {"error": f"{type(e).__name__}: {e}"}
        if "before" in res:
            row["measured_before"], row["measured_after"] = res["before"], res["after"]
            row["builds"] = res.get("builds")
        row["engine"], row["engine_retries"] = res.get("engine"), res.get("engine_retries") or 0  # --docker-host pool
        if res.get("error"):
            row["measure_error"] = _relative(res["error"], orig.tree)
