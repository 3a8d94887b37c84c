"""Shards: ``slimml migrate --shard I/N`` takes a stable 1/N of the repositories.

A repo's shard is a hash of its *identity*, never of where it was cloned to (a Kubernetes pod or a
CI runner clones into its own work folder), so every machine and every retry agrees on it:

* a URL entry: the URL normalized -- scheme, credentials (``user:token@``), a trailing ``/`` and
  ``.git`` dropped, the host lower-cased, the port and path kept -- so ``https://GitHub.com/org/x.git``,
  ``ssh://git@github.com/org/x`` and ``git@github.com:org/x`` are the same repo
  (``github.com/org/x``);
* a local repo: its name relative to its ROOT (as in the report: ``team/svc`` for ROOT/team/svc,
  ``rootname/team/svc`` when several ROOTs are given), or the line of the ``--repos`` file as
  written (relative paths stay relative to that file).

``shard = sha256(identity) mod N`` (first 8 bytes, big-endian), 1-based. ``hash()`` is not used:
Python salts it per process.

Each shard keeps its own state (``WORKDIR/.slimml/migrate-shard-I-of-N.db``) and writes its own
reports; ``slimml report --merge`` combines the states (:func:`load`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_SCP = re.compile(r"^(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.*)$")  # user@host:path (git's scp-like syntax)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
MAX_SHARDS = 100_000


class ShardError(Exception):
    """Bad --shard value or states that cannot be merged (one line, for the user)."""


def parse(spec: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; I is 1-based."""
    m = _SPEC.match(spec or "")
    if not m:
        raise ShardError(f"--shard {spec!r}: expected I/N, e.g. 1/4 (shard I of N, 1-based)")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= n <= MAX_SHARDS:
        raise ShardError(f"--shard {spec}: N must be between 1 and {MAX_SHARDS}")
    if not 1 <= i <= n:
        raise ShardError(f"--shard {spec}: I must be between 1 and {n} (shards are numbered from 1)")
    return i, n


def text(shard: tuple[int, int]) -> str:
    return f"{shard[0]}/{shard[1]}"


def suffix(shard: tuple[int, int]) -> str:
    """``shard-I-of-N``: in the default state's and the reports' file names."""
    return f"shard-{shard[0]}-of-{shard[1]}"


def default_state_name(shard: tuple[int, int]) -> str:
    return f"migrate-{suffix(shard)}.db"


def normalize_url(url: str) -> str:
    """The repo a git URL names, the same however it is spelled (see the module docstring)."""
    u = url.strip()
    if _SCHEME.match(u):
        rest = _SCHEME.sub("", u, count=1)
        authority, _, path = rest.partition("/")
        authority = authority.rsplit("@", 1)[-1]  # drop user:password@
        host = authority.lower()
        path = "/" + path
    else:
        m = _SCP.match(u)
        if m is None:  # not a URL git knows: keep it as written
            return u.rstrip("/")
        host, path = m.group(1).lower(), "/" + m.group(2).lstrip("/")
    path = re.sub(r"/+", "/", path).rstrip("/")
    if path.endswith(".git"):
        path = path[:-4].rstrip("/")
    return host + path


def identity(name: str, url: str | None) -> str:
    """The stable identity of a registered repo (its ``url`` and ``name`` as stored in the state)."""
    if url:
        return "url:" + normalize_url(url)
    n = name.strip().replace("\\", "/")
    while n.startswith("./"):
        n = n[2:]
    return "local:" + (n.rstrip("/") or n)


def shard_of(ident: str, n: int) -> int:
    digest = hashlib.sha256(ident.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def owns(shard: tuple[int, int] | None, name: str, url: str | None) -> bool:
    return shard is None or shard_of(identity(name, url), shard[1]) == shard[0]


# -- merging states ---------------------------------------------------------------------------------
@dataclass
class Merged:
    """Repos and files of several shard states, ids renumbered (files point at the new ids)."""

    repos: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    of: int = 1
    present: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def state_shard(conn: sqlite3.Connection) -> tuple[int, int] | None:
    from . import state

    value = state.meta(conn, "shard")
    return parse(value) if value else None


def coverage(of: int, present: list[int]) -> dict[str, Any]:
    return {"of": of, "present": sorted(set(present)), "missing": [i for i in range(1, of + 1) if i not in present]}


def _comparable(repo: dict[str, Any], files: list[dict[str, Any]]) -> str:
    """What must agree when two states hold the same repo: its outcome, not where it lives."""
    keep = (
        "name",
        "url",
        "status",
        "reason",
        "base_sha",
        "branch",
        "commit_sha",
        "dockerfiles",
        "findings",
        "fixes",
        "est_low",
        "est_high",
        "measured_before",
        "measured_after",
        "pr_url",
        "pr_state",
        "publish_error",
    )
    fkeep = (
        "path",
        "status",
        "findings",
        "fixes",
        "unfixed",
        "est_low",
        "est_high",
        "measured_before",
        "measured_after",
        "measure_error",
        "error",
        "diff",
        "verification",
    )
    return json.dumps(
        [{k: repo.get(k) for k in keep}, [{k: f.get(k) for k in fkeep} for f in files]], sort_keys=True, default=str
    )


def load(paths: list[Path]) -> Merged:
    """Read shard states for ``slimml report --merge``. Refuses (ShardError) a file that is not a
    migration state, states of migrations with other options, shards of different splits (N), and
    the same repo in two states with different outcomes; the same shard given twice with the same
    rows (a copy) is merged once."""
    import sqlite3

    from . import state

    out = Merged()
    seen: dict[str, tuple[str, str]] = {}  # repo name -> (comparable outcome, source)
    first_opts: tuple[str, dict[str, Any]] | None = None
    next_id = 1
    read: set[Path] = set()
    for p in paths:
        if not Path(p).is_file():
            raise ShardError(f"{p}: no migration state here")
        if Path(p).resolve() in read:  # the same file named twice
            continue
        read.add(Path(p).resolve())
        conn = None
        try:
            conn = state.connect(p, readonly=True)
            if state.meta(conn, "schema") is None:
                raise ShardError(f"{p}: not a slimml migration state")
            opts = json.loads(state.meta(conn, "options") or "{}")
            try:
                shard = state_shard(conn) or (1, 1)
            except ShardError as e:
                raise ShardError(f"{p}: bad shard in the state ({e})") from None
            repos, files = state.repos(conn), state.files(conn)
        except (sqlite3.Error, ValueError, KeyError) as e:
            raise ShardError(f"{p}: not a readable migration state ({e})") from None
        finally:
            if conn is not None:
                conn.close()
        opts.pop("shard", None)
        if first_opts is None:
            first_opts = (str(p), opts)
            out.options, out.of = opts, shard[1]
        elif opts != first_opts[1]:
            diff = ", ".join(
                f"{k}: {first_opts[1].get(k)!r} -> {opts.get(k)!r}"
                for k in sorted(set(opts) | set(first_opts[1]))
                if opts.get(k) != first_opts[1].get(k)
            )
            raise ShardError(f"{p}: a migration with other options than {first_opts[0]} ({diff})")
        elif shard[1] != out.of:
            raise ShardError(
                f"{p}: shard {text(shard)} is not one of the {out.of} shards of the states before it "
                "(every state must come from the same --shard I/N split)"
            )
        by_repo: dict[int, list[dict[str, Any]]] = {}
        for f in files:
            by_repo.setdefault(f["repo_id"], []).append(f)
        for r in repos:
            if shard[1] > 1 and not owns(shard, r["name"], r["url"]):
                raise ShardError(
                    f"{p}: repo {r['name']!r} is recorded in shard {text(shard)} but hashes to shard "
                    f"{shard_of(identity(r['name'], r['url']), shard[1])}/{shard[1]}"
                )
            rf = by_repo.get(r["id"], [])
            mine = _comparable(r, rf)
            other = seen.get(r["name"])
            if other is not None and other[1] != str(p):  # the same repo in an earlier state
                if other[0] != mine:
                    raise ShardError(
                        f"{p}: repo {r['name']!r} is also in {other[1]} with another outcome "
                        "(overlapping shards that disagree; merge each shard's latest state once)"
                    )
                continue
            seen.setdefault(r["name"], (mine, str(p)))
            rid, next_id = next_id, next_id + 1
            out.repos.append({**r, "id": rid})
            out.files += [{**f, "repo_id": rid} for f in rf]
        out.present.append(shard[0])
        out.sources.append(str(p))
    out.repos.sort(key=lambda r: r["name"])
    return out
