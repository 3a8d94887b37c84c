"""`slimml migrate --measure`: real before/after image sizes through the `slimml measure` package.

Each changed Dockerfile is measured from a pristine snapshot of the repo's base commit (the
measure package rewrites its own copy), against the engine at DOCKER_HOST or a buildx builder
(``--builder``), with a process-shared semaphore capping concurrent measurements at
``--build-jobs``; or, with ``--docker-host``/``--docker-context``, on an engine leased from the
run's pool (engines.py: least-loaded first, ``--build-jobs`` per engine, a build retried once on
another engine when its engine dies). A failed build is recorded for that file and reported; it
never stops the migration.
"""

from __future__ import annotations

from pathlib import Path


def unavailable(endpoints=None) -> str | None:
    """Why measuring cannot run here, or None (checked once, before any repo is touched). With
    ``endpoints`` (the pool's engines) those are what must answer, not DOCKER_HOST."""
    try:
        from ..measure.engine import MeasureError, connect
        from ..measure.plan import RewriteOptions  # noqa: F401
        from ..measure.run import MeasureOptions, run_measure  # noqa: F401
    except ImportError as e:
        return f"this slimml has no measuring API ({e})"
    if endpoints:
        from .engines import EngineError, check

        try:
            check(endpoints)
        except EngineError as e:
            return str(e)
        return None
    try:
        client = connect(ping_timeout=10)
        client.close()
    except MeasureError as e:
        return e.message
    return None


def _is_pool(gate) -> bool:
    from .engines import Pool

    return isinstance(gate, Pool)


def measure_one(
    dockerfile: Path,
    config: Path,
    select,
    ignore,
    unsafe_fixes,
    builder: str | None,
    semaphore=None,
    cold: bool = False,
) -> dict:
    """{"before": bytes, "after": bytes, "builds": {...}} or {"error": "..."} for one Dockerfile. ``semaphore``: the
    single engine's semaphore, or the engine pool (then also "engine" and "engine_retries"). ``cold``:
    both builds without the build cache (``--cold-builds``), so their times can be judged."""
    if _is_pool(semaphore):
        from . import engines

        leased = engines.run(
            semaphore,
            lambda ep: _measure(dockerfile, config, select, ignore, unsafe_fixes, builder, ep, cold),
            lambda out: bool(out.get("error")),
        )
        out = leased.result if leased.result is not None else {"error": leased.error}
        return {**out, "engine": leased.engine, "engine_retries": leased.retries}
    if semaphore is not None:
        semaphore.acquire()
    try:
        return _measure(dockerfile, config, select, ignore, unsafe_fixes, builder, None, cold)
    finally:
        if semaphore is not None:
            semaphore.release()


def _measure(
    dockerfile: Path, config: Path, select, ignore, unsafe_fixes, builder: str | None, endpoint, cold: bool = False
) -> dict:
    from ..measure.plan import RewriteOptions
    from ..measure.run import MeasureOptions, run_measure
    from ..secrets import mask

    opts = MeasureOptions(
        rewrite=RewriteOptions(select=tuple(select), ignore=tuple(ignore), unsafe_fixes=unsafe_fixes, config=config),
        builder=builder,
        cold=cold,  # default: with the cache (faster); build times are then not judged
        rebuild=False,
        keep=False,
        endpoint=endpoint,
    )
    rep = run_measure(dockerfile, opts)
    sc = rep.size_change
    out: dict = {}
    if sc:
        out["before"], out["after"] = int(sc["before"]), int(sc["after"])
        # build times, for the seed's "cold build < 5 min" (judged only when the build was cold)
        out["builds"] = {
            img.label: {"seconds": img.build_seconds, "cold": img.cold} for img in (rep.before, rep.after) if img
        }
    problems = []
    if rep.error:
        problems.append(rep.error)
    if rep.failure:
        problems.append(
            f"the rewritten Dockerfile does not build: {rep.failure.get('step') or ''} "
            f"{rep.failure.get('error') or ''}".strip()
        )
    verdict = getattr(rep.verification, "verdict", None)
    if verdict is not None and verdict != "PASS":
        problems.append(f"verification {verdict}")
    if problems:
        out["error"] = mask("; ".join(problems))
    if not sc and not problems:
        out["error"] = "nothing was measured: " + ("; ".join(rep.notes) or "no size reported")
    return out


def prove_one(dockerfile: Path, opts, jobs: int, semaphore=None):
    """``slimml fix --verify``'s proof for one Dockerfile under the gate (semaphore or engine pool):
    (proof.Proof, {"engine": name, "engine_retries": n} on a pool, else {})."""
    from .. import proof

    if _is_pool(semaphore):
        from . import engines

        leased = engines.run(
            semaphore,
            lambda ep: proof.prove(dockerfile, opts, jobs=jobs, endpoint=ep),
            lambda p: bool(p.error or p.exit_code != 0 or p.dropped),
        )
        p = (
            leased.result
            if leased.result is not None
            else proof.Proof(dockerfile, str(dockerfile), error=f"{dockerfile}: {leased.error}", exit_code=2)
        )
        return p, {"engine": leased.engine, "engine_retries": leased.retries}
    if semaphore is not None:
        semaphore.acquire()
    try:
        return proof.prove(dockerfile, opts, jobs=jobs), {}
    finally:
        if semaphore is not None:
            semaphore.release()
