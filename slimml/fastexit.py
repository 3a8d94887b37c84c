"""Leave the process without tearing down its objects, for commands whose work is done when they return.

A `check` or `fix` of many files (or one long file) builds millions of small objects (parse trees, shell
facts, memos): freeing them one by one when the interpreter shuts down took 0.9 s of a 10,000-RUN file's
5 s, and the last collection of the young generations 0.6 s more -- time the user waits for after the
report is out. A command whose outputs are all written (reports printed, files written atomically,
the process pool joined) calls ``allow()``; the console script then flushes stdout and stderr and ends
with ``os._exit`` (as mypy does). Nothing else is skipped: slimml registers no atexit work, and commands
that build images or clone repositories (measure, migrate, fix --verify) do not allow it. In-process
callers (tests through click's runner, the language server) never get here: only the console script
and ``python -m slimml`` go through ``run``; under a profiler, debugger or coverage tracer (which write
their results at teardown) the process exits normally.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

_allowed = False
_script = False  # running as the console script (``run``), not in another program's process


def allow() -> None:
    """The running command has written everything it will: the process may end without teardown."""
    global _allowed
    _allowed = True


def pause_gc_to_the_end() -> None:
    """For a command that will ``allow()``, run as the console script: the cyclic garbage collector stays
    off until the process ends. Re-enabled after the analysis, its first automatic collections traverse
    everything the run built (0.4 s after a 10,000-RUN file) just before the process ends anyway. Memory
    stays bounded: ``runner.fix_file`` still collects the young generations between files."""
    if _script:
        import gc

        gc.disable()


def run(main: Callable[[], object]) -> None:
    """Run the command line ``main`` (click, standalone): exit as it asks, without teardown if allowed."""
    global _script
    _script = True
    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if not _allowed or sys.getprofile() is not None or sys.gettrace() is not None:
        # A profiler, debugger or coverage tracer writes its results at teardown: leave it to them.
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1 (as the interpreter does)
        print(code, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe (`| head`): the output is gone either way
        pass
    os._exit(status)
