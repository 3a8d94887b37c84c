"""Which option makes each project installer install from its lock file as it is, since which version, and where
that is documented. Read by rules/unpinned_install/locks.py.

Per tool:
- ``lock``: the lock file's name, next to the project file (``manifest``).
- ``from_lock``: spellings on an install command after which the install uses the lock as it is (a stale lock is an
  error, or is installed as locked); ``env``: variables that do the same when truthy.
- ``fix``: the option slimml adds, and ``since``: the first version known to have it (an image pinning an older
  tool gets no fix). ``source``: where the behaviour is documented.

What each install does without them (the reason for the rule):
- ``uv sync`` re-locks when pyproject.toml no longer matches uv.lock and installs the new resolution; ``--locked``
  fails instead, ``--frozen`` installs uv.lock without checking it. ``uv pip ...`` never reads uv.lock.
- ``poetry install`` installs poetry.lock when it is there (a stale one is a warning in 1.x, an error in 2.x) and
  resolves afresh, writing a new one, when it is not: the lock has to be in the image, there is no flag to add.
- ``pdm install`` re-locks a stale pdm.lock. ``--frozen-lockfile`` (``--no-lock`` before 2.12) only stops it from
  *writing* the lock: with a stale lock it still resolves and installs the new versions (maintainer's answer in
  pdm discussion #2761), so it does not count. ``--check`` fails on a stale lock; ``pdm sync`` installs the lock.
- ``pipenv install`` re-locks when the Pipfile's hash no longer matches Pipfile.lock; ``--deploy`` aborts instead,
  ``--ignore-pipfile`` installs the lock as it is; ``pipenv sync`` installs the lock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LockFlags:
    tool: str
    lock: str
    manifest: str
    from_lock: frozenset[str]
    env: tuple[str, ...]
    fix: str
    since: str
    source: str
    fix_does: str  # what the added option does, for the fix's reason


UV = LockFlags(
    tool="uv",
    lock="uv.lock",
    manifest="pyproject.toml",
    from_lock=frozenset({"--locked", "--frozen"}),
    env=("UV_LOCKED", "UV_FROZEN"),
    fix="--locked",
    # `uv sync --locked/--frozen`: astral-sh/uv PR #4839 (July 2024, 0.2.x preview); 0.3.0 (Aug 2024) is the first
    # release whose documentation has them, taken as the floor. UV_LOCKED/UV_FROZEN: `attr_added_in("0.4.25")` in
    # uv's crates/uv-static/src/env_vars.rs.
    since="0.3.0",
    source="https://docs.astral.sh/uv/concepts/projects/sync/ (Automatic lock and sync; Checking the lockfile)",
    fix_does="uv fails when uv.lock no longer matches pyproject.toml instead of re-locking",
)
UV_ENV_SINCE = "0.4.25"

POETRY = LockFlags(
    tool="poetry",
    lock="poetry.lock",
    manifest="pyproject.toml",
    from_lock=frozenset(),  # poetry install always uses poetry.lock when it is there
    env=(),
    fix="",
    since="",
    source="https://python-poetry.org/docs/basic-usage/#installing-with-poetrylock",
    fix_does="",
)

PDM = LockFlags(
    tool="pdm",
    lock="pdm.lock",
    manifest="pyproject.toml",
    from_lock=frozenset({"--check"}),
    env=(),
    fix="--check",
    # `pdm install --check`: pdm-project/pdm PR #813 (merged Dec 2021, "Add `install --check` to check if the lock
    # file is up to date"), released in 1.12.0. `--frozen-lockfile` (PDM_FROZEN_LOCKFILE) is 2.12.0's new name for
    # `--no-lock` (pdm 2.12.0 release notes, #2496); neither checks the lock.
    since="1.12.0",
    source="https://pdm-project.org/en/latest/usage/lockfile/ (Install the packages pinned in lock file); "
    "https://github.com/pdm-project/pdm/discussions/2761",
    fix_does="pdm fails when pdm.lock no longer matches pyproject.toml instead of re-locking",
)

PIPENV = LockFlags(
    tool="pipenv",
    lock="Pipfile.lock",
    manifest="Pipfile",
    from_lock=frozenset({"--deploy", "--ignore-pipfile"}),
    # pipenv's click options take PIPENV_-prefixed variables; whether these two are read depends on the version, so
    # a truthy one only means "may already be locked" (no finding), never the reverse.
    env=("PIPENV_DEPLOY", "PIPENV_INSTALL_DEPLOY", "PIPENV_IGNORE_PIPFILE", "PIPENV_INSTALL_IGNORE_PIPFILE"),
    fix="--deploy",
    # `pipenv install --system --deploy` is in pipenv's "Deploying System Dependencies" docs since 2017 (cited in
    # ONSdigital/eq-survey-runner PR #1313, Oct 2017); 2018.5.18, the first calendar-versioned release, is the floor.
    since="2018.5.18",
    source="https://pipenv.pypa.io/en/latest/commands.html#install (--deploy); "
    "https://pipenv.pypa.io/en/latest/commands.html#sync",
    fix_does="pipenv aborts when Pipfile.lock no longer matches the Pipfile instead of re-locking",
)

BY_TOOL = {f.tool: f for f in (UV, POETRY, PDM, PIPENV)}

# Commands that resolve the project's dependencies afresh in the build (report only: dropping them changes what the
# build does when the lock is missing or stale). (tool, subcommand) -> options that make it a check instead.
RELOCKS: dict[tuple[str, str], frozenset[str]] = {
    ("uv", "lock"): frozenset({"--locked", "--check", "--frozen", "--check-exists"}),
    ("uv", "add"): frozenset({"--frozen"}),
    ("uv", "remove"): frozenset({"--frozen"}),
    ("poetry", "lock"): frozenset({"--check"}),
    ("poetry", "update"): frozenset({"--dry-run"}),
    ("poetry", "add"): frozenset({"--dry-run"}),
    ("pdm", "lock"): frozenset({"--check"}),
    ("pdm", "update"): frozenset({"--dry-run"}),
    ("pdm", "add"): frozenset({"--frozen-lockfile", "--no-lock", "--dry-run"}),
    ("pipenv", "lock"): frozenset(),
    ("pipenv", "update"): frozenset({"--dry-run", "--outdated"}),
    ("pipenv", "upgrade"): frozenset(),
}
# `uv sync` options that re-resolve even with a lock (`--upgrade` bumps every locked version).
UV_SYNC_UPGRADE = frozenset({"--upgrade", "-U", "--upgrade-package", "-P"})
