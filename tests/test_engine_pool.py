"""`slimml migrate --measure/--verify --docker-host ... --docker-context ...`: builds on a pool of engines.

Without Docker: the lease logic (least-loaded engine, capacity per engine, dead engines skipped,
a build retried once on another engine when its engine dies, a lost build recorded as the file's
error), the pool shared by real forkserver processes (a holder killed mid-lease does not leak its
slot), naming engines (no credentials shown), Docker contexts read from DOCKER_CONFIG, and the
command line's up-front validation.

With Docker (``@pytest.mark.docker``): two real dockerd instances started here
(tests/enginepool.py); a migration's builds split across both; one engine killed while a build
runs on it; the run completes, the interrupted build was retried on the other engine and recorded.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from slimml.measure.engine import Endpoint
from slimml.migrate import engines, measuring
from slimml.migrate.engines import EngineError, Pool

IDENT = ["-c", "user.name=Test Author", "-c", "user.email=test@example.com"]


class FakePool(Pool):
    """A pool whose engines' answers to a ping are set by the test (the only I/O the lease logic does)."""

    down: set

    def __init__(self, n: int, capacity: int, ctx=None):
        super().__init__([Endpoint(f"e{i}", f"unix:///nonexistent/e{i}.sock") for i in range(n)], capacity, ctx)
        self.down = set()

    def answers(self, i: int) -> bool:
        return i not in self.down


def engine_of(pool: Pool, slot: int) -> int:
    return slot // pool.capacity


# -- leases -----------------------------------------------------------------------------------------
def test_least_loaded_engine_first_and_equals_take_turns():
    pool = FakePool(3, capacity=2)
    slots = [pool.lease() for _ in range(3)]
    assert [engine_of(pool, s) for s in slots] == [0, 1, 2]  # every engine gets one before any gets two
    pool.release(slots[1])
    assert engine_of(pool, pool.lease()) == 1  # the engine with nothing in flight
    pool.release(slots[0])
    pool.release(slots[2])
    # e0 and e2 are both idle now; e0 was handed 1 lease, e1 2, e2 1: the lower index of the idle ones
    assert engine_of(pool, pool.lease()) == 0
    assert [pool.in_flight(i) for i in range(3)] == [1, 1, 0]
    assert engine_of(pool, pool.lease()) == 2


def test_capacity_per_engine_blocks_until_a_release():
    pool = FakePool(2, capacity=1)
    a, b = pool.lease(), pool.lease()
    assert {engine_of(pool, a), engine_of(pool, b)} == {0, 1}
    got = []
    t = threading.Thread(target=lambda: got.append(pool.lease(wait=0.05)), daemon=True)
    t.start()
    time.sleep(0.4)
    assert got == []  # both engines are full: the third build waits
    pool.release(b)
    t.join(5)
    assert got == [b]  # and gets the freed slot, on the engine that freed it
    assert max(pool.in_flight(i) for i in range(2)) == 1


def test_dead_engines_are_skipped_and_all_dead_gives_none():
    pool = FakePool(2, capacity=2)
    pool.mark_dead(0)
    assert [engine_of(pool, pool.lease()) for _ in range(2)] == [1, 1]
    pool.mark_dead(1)
    assert pool.lease() is None  # no live engine: never blocks


def test_a_waiting_lease_wakes_when_the_last_engine_dies():
    pool = FakePool(1, capacity=1)
    pool.lease()
    got = []
    t = threading.Thread(target=lambda: got.append(pool.lease(wait=0.05)), daemon=True)
    t.start()
    time.sleep(0.2)
    pool.mark_dead(0)
    t.join(5)
    assert got == [None]


# -- one build on the pool ----------------------------------------------------------------------------
def _attempt(pool: FakePool, log: list, dies_on: set, result="built"):
    def attempt(ep):
        i = int(ep.name[1:])
        log.append(ep.name)
        assert pool.in_flight(i) == 1  # the build runs under its lease
        if i in dies_on:
            pool.down.add(i)  # the engine stops during the build
            return {"error": "the original Dockerfile does not build: error during connect"}
        return {"size": result}

    return attempt


def failed(out) -> bool:
    return bool(out.get("error"))


def test_engine_dies_mid_build_the_build_is_retried_once_on_another_engine():
    pool = FakePool(2, capacity=1)
    log: list = []
    leased = engines.run(pool, _attempt(pool, log, dies_on={0}), failed)
    assert log == ["e0", "e1"]
    assert leased.result == {"size": "built"} and leased.engine == "e1" and leased.retries == 1
    assert leased.error is None
    counts = {c["engine"]: c for c in pool.counts()}
    assert counts["e0"] == {"engine": "e0", "builds": 0, "lost": 1, "dead": True}
    assert counts["e1"] == {"engine": "e1", "builds": 1, "lost": 0, "dead": False}
    assert pool.retried == 1
    assert [pool.in_flight(i) for i in range(2)] == [0, 0]  # both leases released
    # later builds never go to the dead engine
    log.clear()
    assert engines.run(pool, _attempt(pool, log, dies_on=set()), failed).engine == "e1" and log == ["e1"]
    assert "e0 0 (stopped during the run, 1 build cut short)" in pool.summary()
    assert pool.summary().endswith("1 build retried on another engine")


def test_a_build_that_fails_on_a_live_engine_is_its_own_result_never_retried():
    pool = FakePool(2, capacity=1)
    calls: list = []

    def attempt(ep):
        calls.append(ep.name)
        return {"error": "the rewritten Dockerfile does not build: RUN false"}

    leased = engines.run(pool, attempt, failed)
    assert calls == ["e0"] and leased.retries == 0 and leased.engine == "e0"
    assert leased.result == {"error": "the rewritten Dockerfile does not build: RUN false"}
    assert not any(c["dead"] for c in pool.counts())


def test_an_exception_is_reraised_when_the_engine_answers_and_retried_when_it_does_not():
    pool = FakePool(2, capacity=1)

    def boom(ep):
        raise RuntimeError("a bug, not the engine")

    with pytest.raises(RuntimeError, match="a bug"):
        engines.run(pool, boom, failed)
    assert [pool.in_flight(i) for i in range(2)] == [0, 0] and not pool.retried

    pool = FakePool(2, capacity=1)
    calls: list = []

    def socket_gone(ep):
        calls.append(ep.name)
        if ep.name == "e0":
            pool.down.add(0)
            raise ConnectionResetError("connection reset by peer")
        return {"size": 1}

    leased = engines.run(pool, socket_gone, failed)
    assert calls == ["e0", "e1"] and leased.result == {"size": 1} and leased.retries == 1


def test_second_engine_lost_too_is_recorded_not_retried_again():
    pool = FakePool(3, capacity=1)
    log: list = []
    leased = engines.run(pool, _attempt(pool, log, dies_on={0, 1}), failed)
    assert log == ["e0", "e1"]  # retried once only, although e2 is live
    assert leased.result is None and leased.retries == 1 and leased.engine == "e1"
    assert leased.error == "Docker engines e0 and e1 both stopped during this build"


def test_engine_lost_and_no_other_live_engine():
    pool = FakePool(1, capacity=1)
    log: list = []
    leased = engines.run(pool, _attempt(pool, log, dies_on={0}), failed)
    assert leased.result is None and leased.retries == 0 and log == ["e0"]
    assert leased.error == "Docker engine e0 stopped during the build and no other engine is live"


def test_all_engines_dead_is_a_recorded_measure_error_not_a_crash(tmp_path):
    pool = FakePool(2, capacity=1)
    pool.mark_dead(0)
    pool.mark_dead(1)
    df = tmp_path / "Dockerfile"
    df.write_text("FROM python:3.11-slim\n")
    out = measuring.measure_one(df, tmp_path / "empty.toml", (), (), None, None, pool)
    assert out == {"error": "no live Docker engine left (e0, e1 stopped)", "engine": None, "engine_retries": 0}
    p, where = measuring.prove_one(df, None, 1, pool)
    assert p.exit_code == 2 and p.error.endswith("no live Docker engine left (e0, e1 stopped)")
    assert where == {"engine": None, "engine_retries": 0}


# -- across processes -------------------------------------------------------------------------------
def _hammer(pool: Pool, rounds: int, seen, lock, start) -> None:
    start.wait(60)
    for _ in range(rounds):
        slot = pool.lease(wait=0.01)
        i = slot // pool.capacity
        with lock:
            seen[i] = max(seen[i], pool.in_flight(i))
        time.sleep(0.02)  # a build holds its lease a while: the first four overlap
        pool.release(slot)


def _hold_forever(pool: Pool, ready) -> None:
    pool.lease()
    ready.set()
    time.sleep(600)


def test_pool_is_shared_by_forkserver_workers_and_a_killed_holder_does_not_leak_its_slot():
    ctx = multiprocessing.get_context("forkserver")
    pool = FakePool(2, capacity=2, ctx=ctx)
    seen = ctx.RawArray("i", 2)
    lock = ctx.Lock()
    start = ctx.Barrier(5)
    procs = [ctx.Process(target=_hammer, args=(pool, 10, seen, lock, start)) for _ in range(5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert list(seen) == [2, 2]  # five processes, two engines of two slots: full, never over
    assert [pool.in_flight(i) for i in range(2)] == [0, 0]
    total = sum(pool._leases)
    assert total == 50 and min(pool._leases) >= 15  # spread over both engines

    small = FakePool(1, capacity=1, ctx=ctx)
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_forever, args=(small, ready))
    holder.start()
    try:
        assert ready.wait(30)
        assert small.in_flight(0) == 1
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        got = []
        t = threading.Thread(target=lambda: got.append(small.lease(wait=0.05)), daemon=True)
        t.start()
        t.join(10)
        assert got == [0]  # the dead holder's slot was reclaimed
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


# -- naming and resolving engines ---------------------------------------------------------------------
def test_display_names_never_show_credentials():
    assert engines.display_name("tcp://bob:s3cret@build-1.example:2376") == "tcp://build-1.example:2376"
    assert engines.display_name("ssh://deploy@10.0.0.5") == "ssh://10.0.0.5"
    assert engines.display_name("unix:///run/user/1000/docker.sock") == "unix:///run/user/1000/docker.sock"
    eps = engines.resolve(["ssh://a@host", "ssh://b@host"], [], environ={})
    assert [e.name for e in eps] == ["ssh://host", "ssh://host#2"]
    with pytest.raises(EngineError, match="given twice"):
        engines.resolve(["unix:///x.sock", "unix:///x.sock"], [], environ={})
    for bad in ("foo", "http://", "unix://", "ftp://h", "tcp://h:notaport"):
        with pytest.raises(EngineError, match="not a Docker host URL"):
            engines.from_host(bad, {})


def test_tcp_host_takes_tls_material_from_the_environment_like_the_cli():
    ep = engines.from_host("tcp://h:2376", {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"})
    assert (ep.cert_dir, ep.tls_verify) == ("/certs", True)
    assert engines.from_host("tcp://h:2375", {}).cert_dir is None
    assert engines.from_host("unix:///s.sock", {"DOCKER_CERT_PATH": "/certs"}).cert_dir is None


def _write_context(cfg: Path, name: str, host: str, tls: bool, skip_verify: bool = False) -> Path:
    cid = hashlib.sha256(name.encode()).hexdigest()
    meta = cfg / "contexts" / "meta" / cid
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}}}
        )
    )
    tls_dir = cfg / "contexts" / "tls" / cid / "docker"
    if tls:
        tls_dir.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (tls_dir / f).write_text("x")
    return tls_dir


def test_docker_contexts_are_read_from_docker_config_with_their_tls_material(tmp_path):
    cfg = tmp_path / "dockercfg"  # no config.json at all: the CLI still finds contexts here
    tls_dir = _write_context(cfg, "farm-1", "tcp://farm-1.example:2376", tls=True)
    _write_context(cfg, "local", "unix:///tmp/x.sock", tls=False)
    env = {"DOCKER_CONFIG": str(cfg), "HOME": str(tmp_path / "home")}
    farm, local = engines.resolve([], ["farm-1", "local"], environ=env)
    assert (farm.name, farm.base_url, farm.cert_dir, farm.tls_verify) == (
        "farm-1",
        "tcp://farm-1.example:2376",
        str(tls_dir),
        True,
    )
    assert (local.name, local.base_url, local.cert_dir) == ("local", "unix:///tmp/x.sock", None)
    with pytest.raises(EngineError, match="no such Docker context"):
        engines.from_context("missing", env)
    default = engines.from_context("default", {"DOCKER_HOST": "unix:///run/d.sock"})
    assert default.base_url == "unix:///run/d.sock" and default.name == "default (unix:///run/d.sock)"
    # the docker CLI of a build on this engine is pointed at it, TLS included, whatever the caller's env says
    os.environ["DOCKER_CONTEXT"] = "something-else"
    try:
        env_cli = farm.cli_env()
    finally:
        del os.environ["DOCKER_CONTEXT"]
    assert env_cli["DOCKER_HOST"] == "tcp://farm-1.example:2376" and "DOCKER_CONTEXT" not in env_cli
    assert env_cli["DOCKER_CERT_PATH"] == str(tls_dir) and env_cli["DOCKER_TLS_VERIFY"] == "1"
    assert "DOCKER_TLS_VERIFY" not in local.cli_env()


# -- the command line ---------------------------------------------------------------------------------
def _git_repo(path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        (path / rel).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", *IDENT, "commit", "-q", "-m", "initial"], cwd=path, check=True)
    return path


def test_an_unreachable_engine_stops_the_run_up_front_naming_it_without_credentials(tmp_path):
    repo = _git_repo(tmp_path / "repos" / "a", "FROM python:3.11-slim\nCOPY . /app\n")
    before = subprocess.run(["git", "for-each-ref"], cwd=repo, capture_output=True, text=True).stdout
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "slimml.cli",
            "migrate",
            str(tmp_path / "repos"),
            "--workdir",
            str(tmp_path / "w"),
            "--measure",
            "--docker-host",
            "tcp://bob:s3cret@127.0.0.1:9",
            "--docker-host",
            f"unix://{tmp_path}/gone.sock",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cp.returncode == 2
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --measure: Docker engine ")
    assert "s3cret" not in cp.stderr and "bob" not in cp.stderr
    assert "tcp:// takes host:port, no user or password" in cp.stderr  # why, not just the exception's class
    assert not (tmp_path / "w").exists()  # nothing written
    assert subprocess.run(["git", "for-each-ref"], cwd=repo, capture_output=True, text=True).stdout == before
    cp = subprocess.run(
        [sys.executable, "-m", "slimml.cli", "migrate", str(tmp_path / "repos"), "--docker-host", "unix:///x.sock"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cp.returncode == 2 and "are for --measure/--verify" in cp.stderr


# -- two real engines -----------------------------------------------------------------------------------
@pytest.fixture
def engine_pair():
    """Two dockerd instances of their own (tests/enginepool.py), always removed afterwards."""
    from .enginepool import start_pair

    pair = start_pair()
    try:
        yield pair
    finally:
        problems = [p for e in pair for p in e.cleanup()]
        assert not problems, problems


SLOW = 'FROM python:3.11-slim\nRUN echo {tag} && sleep {secs}\nWORKDIR /app\nCOPY . /app\nCMD ["python", "app.py"]\n'


def _files(db: Path) -> list[dict]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # never creates the migration's state
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT f.*, r.name AS repo FROM files f JOIN repos r ON r.id=f.repo_id")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


@pytest.mark.docker
def test_builds_spread_over_two_engines_and_survive_one_being_killed_mid_build(tmp_path, engine_pair):
    a, b = engine_pair
    root = tmp_path / "repos"
    run_id = os.urandom(4).hex()
    for i in range(6):  # unique steps: nothing comes from another repo's cache
        _git_repo(root / f"svc-{i}", SLOW.format(tag=f"{run_id}-{i}", secs=6), {"app.py": f"print({i})\n"})
    work = tmp_path / "w"
    env = dict(os.environ, HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    env.pop("DOCKER_HOST", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slimml.cli",
            "migrate",
            str(root),
            "--workdir",
            str(work),
            "--measure",
            "--build-jobs",
            "1",
            "-j",
            "2",
            "-q",
            "--docker-host",
            a.url,
            "--docker-host",
            b.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    db = work / ".slimml" / "migrate.db"
    try:
        # B finishes one build first (the builds split), then is killed while its next build runs.
        deadline = time.monotonic() + 600
        while not any(f["engine"] == b.url for f in _files(db)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.5)
        victim = None
        while victim is None:
            assert proc.poll() is None and time.monotonic() < deadline, "no second build on engine B"
            victim = b.building()
            time.sleep(0.2)
        killed_at = time.monotonic() - started
        b.kill()
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    seconds = time.monotonic() - started
    assert proc.returncode == 0, err
    rows = _files(db)
    assert len(rows) == 6 and all(r["status"] == "fixed" for r in rows), rows
    by_engine: dict = {}
    for r in rows:
        by_engine.setdefault(r["engine"], []).append(r)
    assert set(by_engine) == {a.url, b.url}, by_engine.keys()
    assert len(by_engine[b.url]) >= 1 and len(by_engine[a.url]) >= 2
    retried = [r for r in rows if r["engine_retries"]]
    assert len(retried) == 1 and retried[0]["engine"] == a.url  # the interrupted build, finished on A
    assert all(r["measured_before"] and r["measured_after"] and r["measure_error"] is None for r in rows), rows
    summary = [line for line in err.splitlines() if line.startswith("builds per engine:")]
    assert summary == [
        f"builds per engine: {a.url} {len(by_engine[a.url])}, {b.url} {len(by_engine[b.url])} "
        "(stopped during the run, 1 build cut short); 1 build retried on another engine"
    ], err
    print(
        f"\nengine pool: {len(by_engine[a.url])} builds on A, {len(by_engine[b.url])} on B (killed at "
        f"{killed_at:.0f}s mid-build), 1 retried; {seconds:.0f}s total"
    )
