"""Does the app compile native code when it runs? Read from the Python sources in the build context."""

from __future__ import annotations

from ...knowledge import runtime_compile as RC


def runtime_compiles(ctx) -> tuple[str, str] | None:
    """(file, what it does) for the first context ``.py`` file that compiles at run time, or None.

    Unknown context: None, and the caller keeps its general warning about run-time compilation."""
    if ctx is None:
        return None
    for rel, text in ctx.texts(lambda rel: rel.endswith(".py"), RC.MAX_FILES, RC.MAX_BYTES):
        why = RC.find(text)
        if why:
            return rel, why
    return None
