"""`slimml migrate --measure/--verify` on a pool of Docker engines (``--docker-host``, ``--docker-context``).

Each measured (or verified) Dockerfile leases the least-loaded live engine -- the fewest builds in
flight, then the fewest handed out so far -- up to ``--build-jobs`` builds at a time per engine,
and releases it when done. The pool's state lives in shared memory created by the parent process
and handed to the worker processes when they start (like the single-engine semaphore), so every
worker sees the same loads and the same dead engines.

An engine that stops answering during a build (connection refused or reset, socket gone, daemon
stopped) is marked dead for the rest of the run and that build is retried once on another live
engine; a second loss is recorded as the file's measure error. A build that fails while its
engine still answers is the build's own result, never retried. A dead engine is not tried again
in the same run (a re-run of the migration validates every engine afresh).

A worker that dies holding a lease (killed, crashed) does not leak it: a lease records its
holder's pid, and slots of holders that are gone are reclaimed while others wait.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..measure.engine import Endpoint

PING_TIMEOUT = 10
_SCHEMES = ("unix", "tcp", "ssh", "http", "https")


class EngineError(Exception):
    """A bad or unreachable engine given on the command line (one line, for the user)."""


# -- naming the engines -----------------------------------------------------------------------------
def display_name(url: str) -> str:
    """``url`` without credentials: ``tcp://user:pw@host:2376`` -> ``tcp://host:2376``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: shown as given (it cannot hold a credential)
        port = ":" + parts.netloc.rsplit(":", 1)[-1]
    return f"{parts.scheme}://{host}{port}{parts.path if parts.path not in ('', '/') else ''}"


def _tls_from_env(environ: dict) -> tuple[str | None, bool]:
    """TLS material for a tcp:// ``--docker-host``, as the docker CLI takes it with ``-H``:
    ``DOCKER_CERT_PATH`` (default ~/.docker) when ``DOCKER_TLS_VERIFY`` or ``DOCKER_CERT_PATH`` is set."""
    verify = bool(environ.get("DOCKER_TLS_VERIFY"))
    path = environ.get("DOCKER_CERT_PATH")
    if not (verify or path):
        return None, True
    return path or str(Path(environ.get("HOME") or Path.home()) / ".docker"), verify


def from_host(url: str, environ: dict | None = None) -> Endpoint:
    env = os.environ if environ is None else environ
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise EngineError(
            f"--docker-host {display_name(url) if '://' in url else url!r}: not a Docker host URL"
        ) from None
    if (
        parts.scheme not in _SCHEMES
        or (parts.scheme == "unix" and not parts.path)
        or (parts.scheme != "unix" and not parts.hostname)
    ):
        raise EngineError(
            f"--docker-host {display_name(url) if parts.scheme else url!r}: not a Docker host URL "
            "(unix:///path, tcp://host:port or ssh://[user@]host)"
        )
    cert_dir, verify = _tls_from_env(env) if parts.scheme in ("tcp", "https") else (None, True)
    return Endpoint(display_name(url), url, cert_dir, verify)


def docker_config_dir(environ: dict | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path(env.get("HOME") or Path.home()) / ".docker"


def from_context(name: str, environ: dict | None = None) -> Endpoint:
    """A Docker CLI context's engine: its meta.json and TLS folder, where the docker CLI keeps them
    (``$DOCKER_CONFIG`` or ~/.docker, ``contexts/{meta,tls}/<sha256 of the name>/``). Read here rather
    than through the SDK's ContextAPI, which finds that folder next to a config.json and so misses
    contexts when none exists (it then looks under the current directory)."""
    env = os.environ if environ is None else environ
    if name == "default":  # the CLI's built-in context: the environment's engine
        url = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        ep = from_host(url, env)
        return Endpoint(f"default ({ep.name})", ep.base_url, ep.cert_dir, ep.tls_verify)
    cid = hashlib.sha256(name.encode("utf-8")).hexdigest()
    root = docker_config_dir(env) / "contexts"
    meta_file = root / "meta" / cid / "meta.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        docker_ep = (meta.get("Endpoints") or {}).get("docker") or {}
    except FileNotFoundError:
        raise EngineError(f"--docker-context {name}: no such Docker context (looked in {root / 'meta'})") from None
    except (OSError, ValueError, AttributeError) as e:
        raise EngineError(f"--docker-context {name}: unreadable context ({type(e).__name__})") from None
    host = docker_ep.get("Host")
    if not isinstance(host, str) or not host:
        raise EngineError(f"--docker-context {name}: the context names no Docker endpoint")
    tls = root / "tls" / cid / "docker"
    cert_dir = str(tls) if (tls / "ca.pem").is_file() or (tls / "cert.pem").is_file() else None
    verify = not docker_ep.get("SkipTLSVerify", False)
    try:
        from_host(host, {})  # the same URL checks as --docker-host
    except EngineError:
        raise EngineError(f"--docker-context {name}: its endpoint is not a Docker host URL") from None
    return Endpoint(name, host, cert_dir, verify)


def resolve(
    hosts: tuple[str, ...] | list[str], contexts: tuple[str, ...] | list[str], environ: dict | None = None
) -> list[Endpoint]:
    """The engines named on the command line, in order; the same engine twice is refused, and two
    display names that coincide (e.g. two users on one host) are numbered."""
    eps = [from_host(h, environ) for h in hosts] + [from_context(c, environ) for c in contexts]
    seen: dict[str, str] = {}
    for ep in eps:
        if ep.base_url in seen:
            raise EngineError(f"the Docker engine {ep.name} is given twice ({seen[ep.base_url]} and {ep.name})")
        seen[ep.base_url] = ep.name
    names: dict[str, int] = {}
    out = []
    for ep in eps:
        names[ep.name] = names.get(ep.name, 0) + 1
        out.append(
            ep
            if names[ep.name] == 1
            else Endpoint(f"{ep.name}#{names[ep.name]}", ep.base_url, ep.cert_dir, ep.tls_verify)
        )
    return out


def ping(ep: Endpoint, timeout: int = PING_TIMEOUT) -> str | None:
    """None when the engine answers, else why not (no URL, no credentials in it)."""
    client = None
    try:
        client = ep.client(timeout)
        client.ping()
        return None
    except Exception as e:  # noqa: BLE001 - every failure means: not usable
        return _why(e)
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass


def _why(e: BaseException) -> str:
    """A short reason from a connection error chain, without the URL (which may hold credentials)."""
    seen = []
    while e is not None and len(seen) < 8:
        seen.append(e)
        e = e.__cause__ or e.__context__ or (e.args[0] if e.args and isinstance(e.args[0], BaseException) else None)
    for x in reversed(seen):
        if isinstance(x, OSError) and x.strerror:
            return x.strerror.lower()
        low = str(x).lower()
        if "invalid bind address" in low:  # the SDK's message repeats the URL, credentials included
            return "not an address the Docker client accepts: tcp:// takes host:port, no user or password"
        for phrase in (
            "connection refused",
            "connection reset",
            "no such file or directory",
            "timed out",
            "name or service not known",
            "certificate verify failed",
            "permission denied",
        ):
            if phrase in low:
                return phrase
    return type(seen[0]).__name__ if seen else "no answer"


def check(endpoints: list[Endpoint]) -> None:
    """Every engine must answer before the migration starts (EngineError naming the first that does not)."""
    for ep in endpoints:
        why = ping(ep)
        if why is not None:
            raise EngineError(f"Docker engine {ep.name} does not answer ({why})")


# -- the pool ---------------------------------------------------------------------------------------
class Pool:
    """Engines shared by the worker processes: leases, dead engines, per-engine counts."""

    def __init__(self, endpoints: list[Endpoint], capacity: int, ctx=None):
        ctx = ctx or multiprocessing
        if not endpoints:
            raise ValueError("an engine pool needs at least one engine")
        self.endpoints = tuple(endpoints)
        self.capacity = max(1, capacity)
        n = len(self.endpoints)
        self._cond = ctx.Condition()
        self._holders = ctx.RawArray("i", n * self.capacity)  # pid holding each build slot, 0 when free
        self._dead = ctx.RawArray("b", n)
        self._leases = ctx.RawArray("i", n)  # leases handed out: spreads builds evenly among equals
        self._built = ctx.RawArray("i", n)  # builds each engine finished (whatever their outcome)
        self._lost = ctx.RawArray("i", n)  # builds cut short by the engine's death
        self._retried = ctx.RawValue("i", 0)

    # slots [i*capacity, (i+1)*capacity) belong to engine i
    def in_flight(self, i: int) -> int:
        c = self.capacity
        return sum(1 for pid in self._holders[i * c : (i + 1) * c] if pid)

    def is_dead(self, i: int) -> bool:
        return bool(self._dead[i])

    def lease(self, exclude=(), wait: float = 2.0) -> int | None:
        """A build slot on the least-loaded live engine (blocks while every live engine is full);
        None when no live engine is left. The engine is ``slot // capacity``."""
        with self._cond:
            while True:
                live = [i for i in range(len(self.endpoints)) if not self._dead[i] and i not in exclude]
                if not live:
                    return None
                free = [i for i in live if self.in_flight(i) < self.capacity]
                if free:
                    i = min(free, key=lambda i: (self.in_flight(i), self._leases[i], i))
                    c = self.capacity
                    slot = next(s for s in range(i * c, (i + 1) * c) if not self._holders[s])
                    self._holders[slot] = os.getpid()
                    self._leases[i] += 1
                    return slot
                if not self._reap():
                    self._cond.wait(wait)

    def release(self, slot: int) -> None:
        with self._cond:
            self._holders[slot] = 0
            self._cond.notify_all()

    def _reap(self) -> bool:
        """Free the slots of holders that no longer exist (a worker killed mid-build)."""
        freed = False
        for s, pid in enumerate(self._holders):
            if pid and pid != os.getpid() and not process_alive(pid):
                self._holders[s] = 0
                freed = True
        return freed

    def mark_dead(self, i: int) -> None:
        with self._cond:
            self._dead[i] = 1
            self._cond.notify_all()

    def note(self, i: int, *, built: bool = False, lost: bool = False, retried: bool = False) -> None:
        with self._cond:
            self._built[i] += built
            self._lost[i] += lost
            self._retried.value += retried

    def answers(self, i: int) -> bool:
        return ping(self.endpoints[i]) is None

    def counts(self) -> list[dict]:
        with self._cond:
            return [
                {"engine": ep.name, "builds": self._built[i], "lost": self._lost[i], "dead": bool(self._dead[i])}
                for i, ep in enumerate(self.endpoints)
            ]

    @property
    def retried(self) -> int:
        return self._retried.value

    def summary(self) -> str:
        """One line for stderr: builds per engine, engines lost, builds retried."""
        parts = []
        for c in self.counts():
            extra = []
            if c["dead"]:
                extra.append("stopped during the run")
            if c["lost"]:
                extra.append(f"{c['lost']} build{'s' if c['lost'] != 1 else ''} cut short")
            parts.append(f"{c['engine']} {c['builds']}" + (f" ({', '.join(extra)})" if extra else ""))
        r = self.retried
        return f"builds per engine: {', '.join(parts)}; {r} build{'s' if r != 1 else ''} retried on another engine"


def process_alive(pid: int) -> bool:
    """Is ``pid`` a running process? (A zombie -- killed, not yet reaped -- is not.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: the signal said it exists


_LAST: list[Pool] = []  # the parent's pool of the current run, for the end-of-run summary


def pool_for(endpoints: list[Endpoint], capacity: int, ctx=None) -> Pool:
    """The run's pool (created in the parent, before the workers start)."""
    pool = Pool(endpoints, capacity, ctx)
    _LAST[:] = [pool]
    return pool


def last_summary() -> str | None:
    return _LAST[0].summary() if _LAST else None


# -- one build on the pool --------------------------------------------------------------------------
@dataclass
class Leased:
    result: object | None  # the attempt's result (None when every engine it was tried on was lost)
    engine: str | None  # display name of the engine that built it (or was last lost)
    retries: int  # builds retried on another engine after one died (0 or 1)
    error: str | None = None  # why there is no result


def run(pool: Pool, attempt: Callable[[Endpoint], object], failed: Callable[[object], bool]) -> Leased:
    """``attempt(endpoint)`` on a leased engine. When it fails (``failed(result)`` or an exception)
    and the engine no longer answers, the engine is marked dead and the build is tried once more on
    another live engine. A failure on an engine that still answers is the build's own: returned (or
    the exception re-raised) as it is."""
    exclude: list[int] = []
    lost: list[str] = []
    retries = 0
    while True:
        slot = pool.lease(exclude)
        if slot is None:
            if lost:
                why = f"Docker engine {lost[-1]} stopped during the build and no other engine is live"
            else:
                dead = [c["engine"] for c in pool.counts() if c["dead"]]
                why = f"no live Docker engine left ({', '.join(dead)} stopped)"
            return Leased(None, lost[-1] if lost else None, retries, why)
        i = slot // pool.capacity
        ep = pool.endpoints[i]
        if lost:
            retries += 1
            pool.note(i, retried=True)
        exc = None
        try:
            result = attempt(ep)
        except Exception as e:  # noqa: BLE001 - classified below; re-raised when the engine is fine
            result, exc = None, e
        finally:
            pool.release(slot)
        if (exc is None and not failed(result)) or pool.answers(i):
            pool.note(i, built=True)
            if exc is not None:
                raise exc
            return Leased(result, ep.name, retries)
        pool.mark_dead(i)
        pool.note(i, lost=True)
        lost.append(ep.name)
        exclude.append(i)
        if retries:
            return Leased(
                None, ep.name, retries, f"Docker engines {lost[0]} and {ep.name} both stopped during this build"
            )
