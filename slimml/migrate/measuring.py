"""`slimml migrate --measure`: real before/after image sizes through the `slimml measure` package.

Each changed Dockerfile is measured from a pristine snapshot of the repo's base commit (the
measure package rewrites its own copy), against the engine at DOCKER_HOST or a buildx builder
(``--builder``). A process-shared semaphore caps concurrent measurements at ``--build-jobs``.
A failed build is recorded for that file and reported; it never stops the migration.
"""

from __future__ import annotations

from pathlib import Path


def unavailable() -> str | None:
    """Why measuring cannot run here, or None (checked once, before any repo is touched)."""
    try:
        from ..measure.engine import MeasureError, connect
        from ..measure.plan import RewriteOptions  # noqa: F401
        from ..measure.run import MeasureOptions, run_measure  # noqa: F401
    except ImportError as e:
        return f"this slimml has no measuring API ({e})"
    try:
        client = connect(ping_timeout=10)
        client.close()
    except MeasureError as e:
        return e.message
    return None


def measure_one(dockerfile: Path, config: Path, select, ignore, unsafe_fixes, builder: str | None,
                semaphore=None) -> dict:
    """{"before": bytes, "after": bytes} or {"error": "..."} for one Dockerfile."""
    from ..measure.plan import RewriteOptions
    from ..measure.run import MeasureOptions, run_measure
    from ..secrets import mask

    opts = MeasureOptions(
        rewrite=RewriteOptions(select=tuple(select), ignore=tuple(ignore), unsafe_fixes=unsafe_fixes, config=config),
        builder=builder, cold=False, rebuild=False, keep=False)
    if semaphore is not None:
        semaphore.acquire()
    try:
        rep = run_measure(dockerfile, opts)
    finally:
        if semaphore is not None:
            semaphore.release()
    sc = rep.size_change
    out: dict = {}
    if sc:
        out["before"], out["after"] = int(sc["before"]), int(sc["after"])
    problems = []
    if rep.error:
        problems.append(rep.error)
    if rep.failure:
        problems.append(f"the rewritten Dockerfile does not build: {rep.failure.get('step') or ''} "
                        f"{rep.failure.get('error') or ''}".strip())
    verdict = getattr(rep.verification, "verdict", None)
    if verdict is not None and verdict != "PASS":
        problems.append(f"verification {verdict}")
    if problems:
        out["error"] = mask("; ".join(problems))
    if not sc and not problems:
        out["error"] = "nothing was measured: " + ("; ".join(rep.notes) or "no size reported")
    return out
