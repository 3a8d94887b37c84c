"""The migration's state: one SQLite database (WAL), one transaction per state change.

Every worker process opens its own connection and writes its repo's rows; the parent reads them
for progress and reports. Nothing stored here contains a secret: messages, errors and diffs go
through ``slimml.secrets.mask`` before they are written.

Repo status: ``pending`` -> ``in-progress`` -> ``fixed`` | ``unchanged`` | ``skipped`` | ``failed``.
A repo found ``in-progress`` by a later run was interrupted (crash, ``kill -9``); see
``worker.recover``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from ..secrets import mask

SCHEMA_VERSION = 4  # 2: files.verification (slimml migrate --verify); 3: pull requests, shards, build engines;
# 4: files.builds (build times, for the < 5 min target)
FINAL = ("fixed", "unchanged", "skipped", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,           -- resolved path, or the URL as given
    url TEXT,                           -- git URL (cloned into the workdir) or NULL
    path TEXT NOT NULL,                 -- the local checkout
    name TEXT NOT NULL,                 -- display name (path relative to its ROOT, or the URL)
    slug TEXT NOT NULL UNIQUE,          -- file-name-safe name (patch files)
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,                        -- why skipped / failed (masked)
    base_sha TEXT,                      -- HEAD the fixes were made on
    branch TEXT,
    commit_sha TEXT,                    -- the slimml commit (recorded before the branch is created)
    patch TEXT,                         -- patch file written
    dockerfiles INTEGER NOT NULL DEFAULT 0,
    findings INTEGER NOT NULL DEFAULT 0,
    fixes INTEGER NOT NULL DEFAULT 0,
    est_low INTEGER, est_high INTEGER,  -- offline estimate of bytes saved (applied fixes)
    measured_before INTEGER, measured_after INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL, finished REAL,
    pushed_sha TEXT,                    -- commit pushed to the remote (--push)
    pr_url TEXT, pr_number INTEGER,     -- the pull/merge request opened or updated (--open-pr)
    pr_state TEXT,                      -- opened | updated | unchanged | failed
    publish_error TEXT                  -- why pushing or opening the PR failed (masked), the fix itself stands
);
CREATE TABLE IF NOT EXISTS files (
    repo_id INTEGER NOT NULL REFERENCES repos(id),
    path TEXT NOT NULL,                 -- relative to the repo root
    status TEXT NOT NULL,               -- fixed | unchanged | failed
    findings TEXT NOT NULL DEFAULT '{}',-- {code: count} found in the original
    fixes TEXT NOT NULL DEFAULT '{}',   -- {code: count} applied
    unfixed TEXT NOT NULL DEFAULT '{}', -- {code: count} left (no fix, or unsafe not enabled)
    est_low INTEGER, est_high INTEGER,
    measured_before INTEGER, measured_after INTEGER,
    measure_error TEXT,
    error TEXT,
    diff TEXT,                          -- masked unified diff
    verification TEXT,                  -- JSON: unsafe fixes kept/dropped by --verify, and why
    engine TEXT,                        -- the Docker engine that built it (--docker-host pool)
    engine_retries INTEGER NOT NULL DEFAULT 0,  -- builds retried on another engine after one died
    builds TEXT,                        -- JSON: {"before"|"after": {"seconds", "cold"}} of the measured builds
    PRIMARY KEY (repo_id, path)
);
"""


class StateError(Exception):
    pass


def connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:  # reports: never create or convert a file
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True, timeout=60)
        conn.row_factory = sqlite3.Row
        return conn
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)  # autocommit; explicit BEGINs
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 60000")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a committed state change survives a power cut
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def init(conn: sqlite3.Connection) -> str:
    """Create the tables; returns the state id (a random id written into every slimml commit)."""
    with transaction(conn):
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT INTO meta VALUES ('id', ?)", (uuid.uuid4().hex[:16],))
            conn.execute("INSERT INTO meta VALUES ('created', ?)", (str(time.time()),))
        elif int(row[0]) < SCHEMA_VERSION:  # older states gain the new columns, keep everything else
            _upgrade(conn)
            conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StateError(f"state file has schema version {row[0]}, this slimml needs {SCHEMA_VERSION}")
    return cast(str, meta(conn, "id"))  # written above or by the run that created the state


_ADDED = {  # columns added after version 1, by table
    "files": (
        ("verification", "TEXT"),
        ("engine", "TEXT"),
        ("engine_retries", "INTEGER NOT NULL DEFAULT 0"),
        ("builds", "TEXT"),
    ),
    "repos": (
        ("pushed_sha", "TEXT"),
        ("pr_url", "TEXT"),
        ("pr_number", "INTEGER"),
        ("pr_state", "TEXT"),
        ("publish_error", "TEXT"),
    ),
}


def _upgrade(conn: sqlite3.Connection) -> None:
    for table, cols in _ADDED.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in cols:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))


def check_options(conn: sqlite3.Connection, options: dict[str, Any]) -> None:
    """The options that decide *what* is written must be the same on a re-run."""
    text = json.dumps(options, sort_keys=True)
    old = meta(conn, "options")
    if old is None:
        set_meta(conn, "options", text)
    elif old != text:
        before, now = json.loads(old), options
        diff = ", ".join(
            f"{k}: {before.get(k)!r} -> {now.get(k)!r}"
            for k in sorted(set(before) | set(now))
            if before.get(k) != now.get(k)
        )
        raise StateError(
            f"this state file belongs to a migration with other options ({diff}); "
            "re-run with the same options, or use another --state file"
        )


def add_repo(conn: sqlite3.Connection, key: str, path: str, name: str, url: str | None) -> int:
    row = conn.execute("SELECT id FROM repos WHERE key=?", (key,)).fetchone()
    if row:
        return cast(int, row[0])
    slug = _slug(name)
    n = 1
    candidate = slug
    while conn.execute("SELECT 1 FROM repos WHERE slug=?", (candidate,)).fetchone():
        n += 1
        candidate = f"{slug}-{n}"
    cur = conn.execute(
        "INSERT INTO repos (key, url, path, name, slug) VALUES (?, ?, ?, ?, ?)", (key, url, path, name, candidate)
    )
    return cast(int, cur.lastrowid)  # set by the INSERT


def _slug(name: str) -> str:
    import re

    s = re.sub(r"^[a-z][a-z0-9+.-]*://", "", name.strip())
    s = re.sub(r"\.git$", "", s)
    s = re.sub(r"[^A-Za-z0-9._-]+", "__", s).strip("_.-")
    return s[:120] or "repo"


def repo(conn: sqlite3.Connection, repo_id: int) -> dict[str, Any]:
    return dict(conn.execute("SELECT * FROM repos WHERE id=?", (repo_id,)).fetchone())


def repos(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute("SELECT * FROM repos ORDER BY name")]


def files(conn: sqlite3.Connection, repo_id: int | None = None) -> list[dict[str, Any]]:
    if repo_id is None:
        rows = conn.execute("SELECT * FROM files ORDER BY repo_id, path")
    else:
        rows = conn.execute("SELECT * FROM files WHERE repo_id=? ORDER BY path", (repo_id,))
    out = []
    for r in rows:
        d = dict(r)
        for k in ("findings", "fixes", "unfixed"):
            d[k] = json.loads(d[k] or "{}")
        d["verification"] = json.loads(d["verification"]) if d.get("verification") else None
        d["builds"] = json.loads(d["builds"]) if d.get("builds") else None
        out.append(d)
    return out


def update(conn: sqlite3.Connection, repo_id: int, **fields: Any) -> None:
    """One state change of one repo, in one transaction."""
    with transaction(conn):
        _update(conn, repo_id, fields)


def _update(conn: sqlite3.Connection, repo_id: int, fields: dict[str, Any]) -> None:
    for k in ("reason", "publish_error"):
        if fields.get(k):
            fields[k] = mask(fields[k])
    cols = ", ".join(f"{k}=?" for k in fields)
    conn.execute(f"UPDATE repos SET {cols} WHERE id=?", (*fields.values(), repo_id))


def finish(conn: sqlite3.Connection, repo_id: int, file_rows: list[dict[str, Any]], **fields: Any) -> None:
    """Final status of a repo and its file rows, atomically."""
    with transaction(conn):
        conn.execute("DELETE FROM files WHERE repo_id=?", (repo_id,))
        for f in file_rows:
            conn.execute(
                "INSERT INTO files (repo_id, path, status, findings, fixes, unfixed, est_low, est_high, "
                "measured_before, measured_after, measure_error, error, diff, verification, engine, engine_retries, "
                "builds) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    repo_id,
                    f["path"],
                    f["status"],
                    json.dumps(f.get("findings", {})),
                    json.dumps(f.get("fixes", {})),
                    json.dumps(f.get("unfixed", {})),
                    f.get("est_low"),
                    f.get("est_high"),
                    f.get("measured_before"),
                    f.get("measured_after"),
                    mask(f.get("measure_error") or "") or None,
                    mask(f.get("error") or "") or None,
                    mask(f.get("diff") or "") or None,
                    mask(json.dumps(f["verification"])) if f.get("verification") is not None else None,
                    f.get("engine"),
                    f.get("engine_retries") or 0,
                    json.dumps(f["builds"]) if f.get("builds") else None,
                ),
            )
        fields.setdefault("finished", time.time())
        _update(conn, repo_id, fields)


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM repos GROUP BY status")}
