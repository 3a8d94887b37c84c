"""The image run the way it is deployed: its real ENTRYPOINT/CMD, without network, for a bounded time.

A server must stay up, listen on the same TCP ports and answer the same first request (``GET /``
on each port, from a sidecar container in its network namespace: status, content type and the
shape of the body); a batch command must exit with the same code and comparable output. This is
what catches a rewrite whose container dies at start (``ModuleNotFoundError`` inside a venv, a
model file that is not there, an entrypoint that no longer runs the command).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from . import containers, probes
from .checks import FAIL, PASS, SKIP, WARN, Check

TRACEBACK = "Traceback (most recent call last)"
POLL = 0.25


@dataclass
class Observation:
    state: str  # "exited" | "running" (still up at the end) | "error"
    exit_code: int | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    ports: dict[str, list[str]] = field(default_factory=dict)  # port -> listening addresses
    responses: dict[str, dict] = field(default_factory=dict)  # port -> answer to GET /
    listen_seconds: float | None = None  # when the listening ports settled
    alive_after_request: bool | None = None
    watched: bool = False  # a sidecar watched the network (else: state only)
    error: str | None = None

    def to_json(self) -> dict:
        return {
            "state": self.state,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "ports": self.ports,
            "responses": self.responses,
            "listen_seconds": self.listen_seconds,
            "alive_after_request": self.alive_after_request,
            "stdout": self.stdout[-2000:],
            "stderr": self.stderr[-2000:],
            "error": self.error,
        }


def observe(
    client,
    image: str,
    *,
    prober: tuple[str, str] | None,
    budget: float,
    expected: list[str] | None = None,
    give_up_after: float | None = None,
    inject: list[tuple[str, bytes]] = (),
    resources=None,
    request_timeout: float = 15.0,
) -> Observation:
    """Start ``image`` with its own command (no network) and watch it for up to ``budget`` seconds.

    ``prober`` is (image, interpreter) for the sidecar that reads the listening ports and sends
    the first request; ``expected`` the ports to wait for (the original's); ``give_up_after`` the
    seconds after which other stable ports end the wait."""
    api = client.api
    start = time.monotonic()
    try:
        cid = containers.create(client, image, network_mode="none", inject=inject, resources=resources)
        api.start(cid)
    except Exception as e:  # noqa: BLE001
        return Observation("error", error=f"cannot start the image's command: {e}")
    side = None
    ob = Observation("running")
    try:
        if prober is not None:
            args = {
                "budget": budget,
                "expected": expected,
                "give_up_after": give_up_after,
                "request_timeout": request_timeout,
            }
            try:
                side = containers.create(
                    client,
                    prober[0],
                    entrypoint=[prober[1], "-c", probes.NETWATCH_PY],
                    env={"SLIMML_PROBE_ARGS": json.dumps(args), "PYTHONDONTWRITEBYTECODE": "1"},
                    user="0",
                    network_mode=f"container:{cid}",
                    resources=resources,
                )
                api.start(side)
                ob.watched = True
            except Exception:  # noqa: BLE001 - the command already ended: nothing to join
                side = None
        deadline = start + budget + (8 * request_timeout + 10 if side else 0)
        net = None
        while time.monotonic() < deadline:
            st = containers.state(client, cid)
            if not st.get("Running"):
                ob.state, ob.exit_code = "exited", st.get("ExitCode")
                break
            if side is not None and not containers.state(client, side).get("Running"):
                net = probes.parse_output(containers.logs(client, side)[0]) or {}
                break
            if side is None and time.monotonic() - start >= budget:
                break
            time.sleep(POLL)
        ob.seconds = time.monotonic() - start
        if net is not None:
            ob.ports = net.get("ports") or {}
            ob.responses = net.get("responses") or {}
            ob.listen_seconds = net.get("listen_seconds")
            time.sleep(0.5)  # a server that dies of its first request has had time to do so
            st = containers.state(client, cid)
            ob.alive_after_request = bool(st.get("Running"))
            if not ob.alive_after_request:
                ob.state, ob.exit_code = "exited", st.get("ExitCode")
        ob.stdout, ob.stderr = containers.logs(client, cid)
    except Exception as e:  # noqa: BLE001
        ob.state, ob.error = "error", f"{type(e).__name__}: {e}"
    finally:
        if side is not None:
            containers.remove(client, side, resources)
        containers.remove(client, cid, resources)
    return ob


# -- comparison (pure) ---------------------------------------------------------------------------------
_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,}\b")
_NUM_RE = re.compile(r"\d+(\.\d+)?")


def normalize_output(text: str) -> str:
    """Output with what varies between runs (numbers, ids, addresses) masked."""
    return _NUM_RE.sub("N", _HEX_RE.sub("H", text)).strip()


def _tail(ob: Observation, n: int = 6) -> list[str]:
    lines = (ob.stderr.strip() or ob.stdout.strip()).splitlines()
    return [f"  | {x}" for x in lines[-n:]]


def describe_answer(r: dict) -> str:
    if r.get("kind") != "http":
        return {"timeout": "no answer (timed out)", "refused": "connection refused"}.get(
            r.get("kind"), f"no HTTP answer ({r.get('error') or r.get('kind')})"
        )
    body = r.get("body")
    shape = json.dumps(r.get("shape"), sort_keys=True)[:120] if body == "json" else body
    return f"{r.get('status')} {r.get('ctype') or '-'} {shape}"


def _answer_key(r: dict) -> tuple:
    if r.get("kind") != "http":
        return (r.get("kind"),)
    return (
        "http",
        r.get("status"),
        r.get("ctype"),
        r.get("body"),
        json.dumps(r.get("shape"), sort_keys=True) if r.get("body") == "json" else None,
    )


def compare_runs(ob_b: Observation, ob_a: Observation) -> Check:
    check = Check("run", PASS, "")
    check.details = {"before": ob_b.to_json(), "after": ob_a.to_json()}
    if ob_b.state == "error":
        check.status, check.summary = SKIP, f"cannot run the original's command: {ob_b.error}"
        return check
    if ob_a.state == "error":
        check.status, check.summary = FAIL, f"cannot run the rewrite's command: {ob_a.error}"
        return check
    if ob_b.state == "exited":
        return _compare_batch(check, ob_b, ob_a)
    return _compare_server(check, ob_b, ob_a)


def _compare_batch(check: Check, ob_b: Observation, ob_a: Observation) -> Check:
    if ob_a.state != "exited":
        check.status = FAIL
        check.summary = (
            f"the original's command exits (code {ob_b.exit_code} after {ob_b.seconds:.1f} s); the "
            f"rewrite's still runs after {ob_a.seconds:.0f} s"
        )
        return check
    if ob_a.exit_code != ob_b.exit_code:
        check.status = FAIL
        check.summary = f"the command exits with code {ob_a.exit_code} in the rewrite, {ob_b.exit_code} in the original"
        check.evidence = ["rewrite's output:", *_tail(ob_a)]
        return check
    out_b, out_a = ob_b.stdout + ob_b.stderr, ob_a.stdout + ob_a.stderr
    also = " (the original fails the same way: its command needs what this run lacks)" if ob_b.exit_code else ""
    if out_b == out_a:
        check.summary = f"the command exits with code {ob_b.exit_code} in both, same output{also}"
    elif TRACEBACK in out_a and TRACEBACK not in out_b:
        check.status = FAIL
        check.summary = f"the command exits with code {ob_b.exit_code} in both, but the rewrite prints a traceback"
        check.evidence = _tail(ob_a, 10)
    elif normalize_output(out_b) == normalize_output(out_a):
        check.summary = (
            f"the command exits with code {ob_b.exit_code} in both, same output (numbers and ids aside){also}"
        )
    else:
        check.status = WARN
        check.summary = f"the command exits with code {ob_b.exit_code} in both, but prints something else"
        check.evidence = [f"original: {out_b.strip()[-300:]!r}", f"rewrite:  {out_a.strip()[-300:]!r}"]
    return check


def _compare_server(check: Check, ob_b: Observation, ob_a: Observation) -> Check:
    ports_b = sorted(ob_b.ports, key=int)
    if ob_a.state == "exited" and ob_a.alive_after_request is None:
        check.status = FAIL
        up = f"listening on {', '.join(ports_b)}" if ports_b else "running"
        check.summary = (
            f"the rewrite's container exits with code {ob_a.exit_code} after {ob_a.seconds:.1f} s; "
            f"the original keeps {up}"
        )
        check.evidence = ["rewrite's output:", *_tail(ob_a, 10)]
        return check
    if not ob_b.watched:
        check.summary = "the command keeps running in both (no Python in either image to watch its ports)"
        return check
    fails, notes = [], []
    ports_a = sorted(ob_a.ports, key=int)
    for p in ports_b:
        if p not in ob_a.ports:
            others = f"; the rewrite listens on {', '.join(ports_a)}" if ports_a else "; the rewrite listens on no port"
            fails.append(f"port {p} ({', '.join(ob_b.ports[p])}) is not listened on in the rewrite{others}")
    for p in ports_a:
        if p not in ob_b.ports:
            notes.append(f"port {p}: listened on in the rewrite only")
    for p in ports_b:
        rb, ra = ob_b.responses.get(p), ob_a.responses.get(p)
        if rb is None or ra is None:
            continue
        if _answer_key(rb) != _answer_key(ra):
            fails.append(
                f"GET / on port {p}: {describe_answer(rb)} in the original, {describe_answer(ra)} in the rewrite"
            )
    if ob_b.alive_after_request and ob_a.alive_after_request is False:
        fails.append(f"the rewrite's server exits (code {ob_a.exit_code}) after its first request")
        check.details["after_tail"] = _tail(ob_a, 10)
    if TRACEBACK in ob_a.stderr + ob_a.stdout and TRACEBACK not in ob_b.stderr + ob_b.stdout:
        notes.append("the rewrite's log has a traceback the original's has not:")
        notes += _tail(ob_a, 8)
    check.evidence = fails + notes
    if fails:
        check.status = FAIL
        check.summary = f"the server does not behave the same: {fails[0]}"
        if ob_a.alive_after_request is False:
            check.evidence += _tail(ob_a, 8)
    elif not ports_b:
        check.summary = f"the command keeps running in both for {ob_b.seconds:.0f} s (no listening port)"
    else:
        answers = "; ".join(f"{p}: {describe_answer(ob_b.responses[p])}" for p in ports_b if p in ob_b.responses)
        check.summary = (
            f"the server stays up in both, listens on {', '.join(ports_b)} and answers GET / alike ({answers})"
        )
        if any("traceback" in n for n in notes):
            check.status = WARN
    return check
