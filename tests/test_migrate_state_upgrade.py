"""An older migration state keeps working after an upgrade: a schema-2 database (written before pull requests,
shards and engine pools existed) gains the new columns in place, keeps every row, and a report reads it."""

from __future__ import annotations

import sqlite3

from slimml.migrate import state

# The schema as slimml wrote it at version 2 (verbatim, minus comments).
V2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE repos (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, url TEXT, path TEXT NOT NULL,
    name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'pending', reason TEXT,
    base_sha TEXT, branch TEXT, commit_sha TEXT, patch TEXT, dockerfiles INTEGER NOT NULL DEFAULT 0,
    findings INTEGER NOT NULL DEFAULT 0, fixes INTEGER NOT NULL DEFAULT 0, est_low INTEGER, est_high INTEGER,
    measured_before INTEGER, measured_after INTEGER, attempts INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL);
CREATE TABLE files (repo_id INTEGER NOT NULL REFERENCES repos(id), path TEXT NOT NULL, status TEXT NOT NULL,
    findings TEXT NOT NULL DEFAULT '{}', fixes TEXT NOT NULL DEFAULT '{}', unfixed TEXT NOT NULL DEFAULT '{}',
    est_low INTEGER, est_high INTEGER, measured_before INTEGER, measured_after INTEGER, measure_error TEXT,
    error TEXT, diff TEXT, verification TEXT, PRIMARY KEY (repo_id, path));
INSERT INTO meta VALUES ('schema', '2'), ('id', 'abcdef0123456789'), ('created', '0');
INSERT INTO repos (id, key, path, name, slug, status, dockerfiles, fixes) VALUES (1, '/r/a', '/r/a', 'a', 'a', 'fixed', 1, 2);
INSERT INTO files (repo_id, path, status, fixes) VALUES (1, 'Dockerfile', 'fixed', '{"SLM001": 2}');
"""


def test_schema_2_state_is_upgraded_in_place(tmp_path):
    db = tmp_path / "migrate.db"
    raw = sqlite3.connect(db)
    raw.executescript(V2)
    raw.close()
    conn = state.connect(db)
    assert state.init(conn) == "abcdef0123456789"  # same migration: its id (commit trailers) is kept
    assert state.meta(conn, "schema") == str(state.SCHEMA_VERSION)
    repo_cols = {r[1] for r in conn.execute("PRAGMA table_info(repos)")}
    file_cols = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
    assert {"pushed_sha", "pr_url", "pr_number", "pr_state", "publish_error"} <= repo_cols
    assert {"engine", "engine_retries"} <= file_cols
    assert state.repo(conn, 1)["status"] == "fixed"
    assert state.files(conn, 1)[0]["fixes"] == {"SLM001": 2}
    assert state.files(conn, 1)[0]["engine_retries"] == 0
    # The new columns are written and read like the old ones.
    state.finish(
        conn,
        1,
        [{"path": "Dockerfile", "status": "fixed", "fixes": {"SLM001": 2}, "engine": "e2", "engine_retries": 1}],
        status="fixed",
    )
    state.update(conn, 1, pr_url="https://example.test/pr/1", pr_state="opened")
    assert state.files(conn, 1)[0]["engine"] == "e2" and state.files(conn, 1)[0]["engine_retries"] == 1
    assert state.repo(conn, 1)["pr_state"] == "opened"
    # A second init is a no-op (no duplicate ALTERs).
    state.init(conn)
    conn.close()


def test_a_newer_state_is_refused(tmp_path):
    db = tmp_path / "migrate.db"
    conn = state.connect(db)
    state.init(conn)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema'")
    try:
        state.init(conn)
    except state.StateError as e:
        assert "99" in str(e)
    else:
        raise AssertionError("a state from a newer slimml was accepted")
