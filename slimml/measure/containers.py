"""Throw-away containers for the verification: run to completion, start and watch, read files.

Every container is labelled ``slimml.measure=probe``, registered with ``Resources`` while it
exists (so Ctrl-C removes it), and removed as soon as its result is read.
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
import time
from dataclasses import dataclass

LABELS = {"slimml.measure": "probe"}


@dataclass
class RunResult:
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    error: str | None = None


def probe_failure(r: RunResult) -> str:
    """One line saying why a container did not give a result."""
    if r.error:
        # The engine's "exec: ...: no such file" is the part worth reading of a long API error.
        m = re.search(r'exec: "[^"]*": [^:"]*(?:: [^:"]*)?', r.error)
        return m.group(0) if m else r.error[:300]
    if r.timed_out:
        return "timed out"
    tail = " | ".join(r.stderr.strip().splitlines()[-3:])
    return f"exit {r.code}: {tail}" if tail else f"exit {r.code}"


def _forget(client, cid: str, resources) -> None:
    try:
        client.api.remove_container(cid, force=True, v=True)
        if resources is not None and cid in resources.containers:
            resources.containers.remove(cid)
    except Exception:  # noqa: BLE001 - left for Resources.cleanup
        pass


def create(
    client,
    image: str,
    *,
    entrypoint: list[str] | None = None,
    command: list[str] | None = None,
    env: dict | None = None,
    user: str | None = None,
    network_mode: str = "none",
    resources=None,
    inject: list[tuple[str, bytes]] = (),
) -> str:
    """A created (not started) container; ``entrypoint=None`` keeps the image's own ENTRYPOINT/CMD."""
    api = client.api
    kw = {}
    if entrypoint is not None:
        kw["entrypoint"] = entrypoint
        kw["command"] = command or []
    elif command is not None:
        kw["command"] = command
    c = api.create_container(
        image,
        environment=env or {},
        user=user or "",
        labels=LABELS,
        detach=True,
        host_config=api.create_host_config(network_mode=network_mode),
        **kw,
    )
    cid = c["Id"]
    if resources is not None:
        resources.containers.append(cid)
    for parent, data in inject:
        api.put_archive(cid, parent, data)
    return cid


def run_container(
    client,
    image: str,
    *,
    entrypoint: list[str],
    command: list[str] | None = None,
    env: dict | None = None,
    user: str | None = None,
    timeout: float = 120.0,
    resources=None,
    network: bool = False,
    inject: list[tuple[str, bytes]] = (),
) -> RunResult:
    """Run a throw-away container to completion (killed at ``timeout``) and remove it."""
    api = client.api
    try:
        cid = create(
            client,
            image,
            entrypoint=entrypoint,
            command=command,
            env=env,
            user=user,
            network_mode="bridge" if network else "none",
            resources=resources,
            inject=inject,
        )
    except Exception as e:  # noqa: BLE001
        return RunResult(None, "", "", error=f"cannot create a container: {e}")
    try:
        api.start(cid)
        timed_out = False
        try:
            code = api.wait(cid, timeout=timeout)["StatusCode"]
        except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError
            timed_out, code = True, None
            try:
                api.kill(cid)
            except Exception:  # noqa: BLE001
                pass
        out, err = logs(client, cid)
        return RunResult(code, out, err, timed_out)
    except Exception as e:  # noqa: BLE001
        return RunResult(None, "", "", error=f"{type(e).__name__}: {e}")
    finally:
        _forget(client, cid, resources)


def logs(client, cid: str, limit: int = 64_000) -> tuple[str, str]:
    api = client.api
    out = api.logs(cid, stdout=True, stderr=False).decode("utf-8", "replace")
    err = api.logs(cid, stdout=False, stderr=True).decode("utf-8", "replace")
    return out[-limit:], err[-limit:]


def state(client, cid: str) -> dict:
    """``State`` of a container: Running, ExitCode, ... ({} when it is gone)."""
    try:
        return client.api.inspect_container(cid).get("State") or {}
    except Exception:  # noqa: BLE001
        return {}


def wait_until(predicate, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def remove(client, cid: str, resources=None) -> None:
    _forget(client, cid, resources)


def _scratch(client, image: str, resources) -> str | None:
    try:
        cid = client.api.create_container(image, command=["true"], entrypoint=[], labels=LABELS)["Id"]
    except Exception:  # noqa: BLE001
        return None
    if resources is not None:
        resources.containers.append(cid)
    return cid


def read_image_file(client, image: str, path: str, resources=None, limit: int = 1_000_000) -> str | None:
    """Text of a file in an image (via a created, never started container), or None."""
    api = client.api
    cid = _scratch(client, image, resources)
    if cid is None:
        return None
    try:
        for _ in range(5):  # follow symlinks
            stream, _st = api.get_archive(cid, path)
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                member = next(iter(tf.getmembers()), None)
                if member is None:
                    return None
                if member.issym():
                    path = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
                    continue
                if not member.isfile():
                    return None
                fh = tf.extractfile(member)
                return fh.read(limit).decode("utf-8", "replace") if fh else None
        return None
    except Exception:  # noqa: BLE001 - missing file
        return None
    finally:
        _forget(client, cid, resources)


def copy_paths_between(client, src_image: str, paths: list[str], resources=None) -> list[tuple[str, bytes]]:
    """(parent, tar) archives of ``paths`` from ``src_image``, ready for ``put_archive``."""
    api = client.api
    out: list[tuple[str, bytes]] = []
    cid = _scratch(client, src_image, resources)
    if cid is None:
        return out
    try:
        for p in paths:
            try:
                stream, _ = api.get_archive(cid, p)
                out.append((posixpath.dirname(p) or "/", b"".join(stream)))
            except Exception:  # noqa: BLE001
                continue
    finally:
        _forget(client, cid, resources)
    return out
