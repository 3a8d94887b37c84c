"""Does the app compile native code when it runs? Read from the Python sources in the build context."""

from __future__ import annotations

from ...knowledge import runtime_compile as RC


def runtime_compiles(ctx) -> tuple[str, str] | None:
    """(file, what it does) for the first context ``.py`` file that compiles at run time, or None.

    Unknown context: None, and the caller keeps its general warning about run-time compilation."""
    if ctx is None or ctx.context_dir is None:
        return None
    seen = 0
    for rel, size in ctx.walk_context():
        if not rel.endswith(".py") or size > RC.MAX_BYTES:
            continue
        seen += 1
        if seen > RC.MAX_FILES:
            break
        text = ctx.read_context_file(rel)
        if not text:
            continue
        why = RC.find(text)
        if why:
            return rel, why
    return None
