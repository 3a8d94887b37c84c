"""Installs that do not pin what they install: the image changes whenever the package index does.

What it does
    Finds the installs of every stage that reaches the final image and lists, per command, the packages
    nothing pins to one version:

    - ``pip install`` (``pip3``, ``pip3.11``, a venv's pip, ``python -m pip``) and ``uv pip install``: the specs on
      the command line and in the requirement files it reads from the build context (``-r``/``-c``,
      recursively, through the COPY or bind mount that put them there), read with ``packaging``; markers that are
      false for the image's Python (``python:X.Y`` bases) on linux/x86_64 are skipped (with the Python unknown,
      only the platform rules a marker out). *Pinned* is ``==X`` without a wildcard, ``===X`` or a direct URL or
      wheel; a constraint that pins a package (``-c``, ``PIP_CONSTRAINT``, a pip.conf ``constraint``) pins it.
      Installer tooling (``pip``, ``setuptools``, ``wheel``) is not listed.

    - ``pip install .`` / ``-e .`` / ``uv pip install -r pyproject.toml``: the project's static dependencies
      (pyproject ``[project].dependencies``, setup.cfg ``install_requires``); reported, no fix.

    - ``conda``/``mamba``/``micromamba install|create`` specs without an exact version (``numpy``,
      ``numpy>=1``, ``numpy=1.2``), on the command line and in ``--file`` spec files; reported, no fix: pin with
      ``=X.Y.Z`` or use conda-lock. (environment.yml files are not read.)

    - Projects with a uv.lock, poetry.lock, pdm.lock or Pipfile.lock whose install does not use it
      (``--locked``/``--frozen``, ``--deploy``, ``--check``), or re-locks in the build.

    With the option ``resolve`` (``slimml fix --resolve --unsafe-fixes``: it needs the package index), the
    pip fix resolves the install with the installers' own resolver for the image's Python and platform and
    writes the result next to the requirements file as ``requirements.lock`` (``<name>.lock`` for another
    file name; next to the Dockerfile for specs on the command line), COPYs it into the image beside the
    requirements file and adds ``-c <lock>`` to the install. The requirements file stays the one people edit.
    Where the project already uses hashes (another install of the Dockerfile in pip's hash-checking mode), the
    lock carries ``--hash`` lines and the file's index options and replaces the requirements file in the
    install (``-r requirements.lock``): a hashed lock in ``-c`` would turn hash-checking on for the loose
    requirements it does not replace, which then fail. That needs an install of exactly one requirements
    file with nothing named on the command line. The fix is unsafe -- the build installs today's versions from then on -- and withdrawn, with the reason,
    when the lock could not mean what the build does: the Python version unknown; an index, constraint or
    file the resolver cannot be given as the build's pip sees it (a build argument, a secret mount, a local
    ``--find-links``, a config file an earlier RUN wrote); ``--no-deps``, ``-U``, ``--upgrade-strategy
    eager``, ``--pre`` (on the line, in the file, or as ``PIP_*`` / pip.conf), ``--only-binary``,
    ``--no-binary``, ``--prefer-binary`` (the resolver is not told them), another ``--platform``; an install already in
    hash-checking mode (its requirements are pinned when it builds at all); a local project or VCS requirement; a lock name
    taken by a file slimml did not write; a ``.dockerignore`` that leaves the lock out; the resolver failing
    (no network, an unreachable index, conflicting pins: its one-line reason is the note, nothing is written).

Why
    ``flask`` or ``numpy>=1.20`` installs whatever is newest on the day of the build: the same Dockerfile
    builds a different image each week, and a new major release breaks the app with no change in the
    repository (two of eight real ML repositories built for slimml's evidence no longer work for this
    reason). A lock makes rebuilds reproducible and the layer cache mean what it says.

Example
    WORKDIR /app
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt

Use instead
    WORKDIR /app
    COPY requirements.txt requirements.lock ./
    RUN pip install --no-cache-dir -r requirements.txt -c /app/requirements.lock
"""

from __future__ import annotations

from ...engine import Finding
from .. import _helpers as H

CODE = "SLM012"
NAME = "unpinned-install"
SUMMARY = "Installs whose packages are not pinned to exact versions (no lock, or a lock the install ignores)"
FIX = "unsafe"
OPTIONS = {"resolve": (False, "resolve against the package index (needs network) to write a lock")}

_RULE = H.rule_of(__name__)
_HOW = (
    "`slimml fix --resolve --unsafe-fixes` resolves a lock from the package index (needs the network) and "
    "installs with -c <lock>"
)


def check(doc, ctx):
    from . import locks

    theirs = list(locks.check(doc, ctx))
    taken = {(f.start, f.end) for f in theirs}
    for f in _pip(doc, ctx):
        if (f.start, f.end) not in taken:
            yield f
    yield from _conda(doc, ctx)
    yield from theirs


def _pip(doc, ctx):
    from . import pip as PIP

    want_fix = bool(ctx.settings.option(CODE, NAME, "resolve", False))
    for ins in PIP.installs(doc, ctx):
        loose = ins.loose()
        if not loose:
            continue
        from ...deps import requirements as RQ

        only_project = all(r.where in ("pyproject.toml", "setup.cfg") for r in loose)
        what = "the project's unpinned dependencies" if only_project else "unpinned requirements"
        msg = f"`{ins.label}` installs {what}: {RQ.describe(loose)}"
        fix, note = None, ""
        if want_fix:
            from ...deps import resolve as R
            from . import lockfix

            fix, why = lockfix.plan(doc, ctx, ins, R)
            note = why if fix is None else ""
        elif only_project:
            note = "pin them where the project declares them, or install with -c <a lock>; " + _HOW
        else:
            note = _HOW
        if ins.notes and fix is None:
            note += f" ({'; '.join(ins.notes)})"
        yield Finding(code=CODE, name=NAME, message=msg, start=ins.cmd.start, end=ins.cmd.end, fix=fix, note=note)


def _conda(doc, ctx):
    from . import conda

    for c in conda.installs(doc, ctx):
        yield H.finding(
            _RULE,
            f"`{c.label}` installs unpinned packages: {conda.describe(c.loose)}",
            c.cmd.start,
            c.cmd.end,
            None,
            note="pin with =X.Y.Z (or ==X.Y.Z), or use conda-lock; no automatic fix for conda",
        )
