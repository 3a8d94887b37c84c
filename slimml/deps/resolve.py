"""Resolve an install's requirements to exact versions for the image's Python and platform: the lock
SLM012 writes.

Two backends, both the installers' own resolvers (no resolver of ours):

- **uv** (``uv pip compile``), used when ``uv`` is installed (``pip install 'slimml[lock]'``): it
  resolves for another Python and platform exactly (``--python-version``, ``--python-platform``), markers
  included. ``--index-strategy unsafe-best-match`` makes it choose across indexes the way pip does
  (uv's default takes the first index that has the name).
- **pip** (``pip install --dry-run --report``) otherwise. pip evaluates environment markers against the
  Python it runs on, not ``--python-version``; so it is used only when that Python's major.minor is the
  image's, and it sees wheels only (``--only-binary=:all:``, required with ``--platform``).

The request is resolved once per process. Errors are one line, with credentials masked: no network,
an unreachable index, no matching version, conflicting pins.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .requirements import canonical  # PEP 503 names, as SLM012 compares them

TIMEOUT = 300  # seconds: a cold resolve of a large ML stack downloads metadata of hundreds of wheels


class ResolveError(Exception):
    """The requirements could not be resolved; ``str(e)`` is one line, credentials masked."""


@dataclass(frozen=True)
class Target:
    python: str  # the image's Python, major.minor ("3.11")
    machine: str = "x86_64"
    glibc: str = "2.28"  # the oldest glibc the lock's wheels may need (manylinux_2_28 covers Debian 10+)


@dataclass(frozen=True)
class Request:
    lines: tuple[str, ...]  # as pip reads them: specs, "-r FILE", "-c FILE"
    files: tuple[tuple[str, str], ...]  # (relative name as written in lines, text), recursively
    index: tuple[str, ...]  # index options: --index-url URL, --extra-index-url URL, --find-links URL
    target: Target
    hashes: bool = False


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    hashes: tuple[str, ...] = ()  # "sha256:..."


@dataclass(frozen=True)
class Lock:
    pins: tuple[Pin, ...]
    backend: str = field(default="", compare=False)

    def text(self, source: str) -> str:
        """The lock file: a header naming ``source`` and how it was made, then one ``name==version`` per line."""
        out = [
            f"# Exact versions for {source}, resolved by slimml ({self.backend}) for this image's Python",
            f"# and platform. After changing what {source} installs, regenerate it with",
            f"# `slimml fix --resolve --unsafe-fixes`; edit {source}, not this file.",
        ]
        for p in self.pins:
            if p.hashes:
                out.append(f"{p.name}=={p.version} \\")
                out += [f"    --hash={h}" + (" \\" if i < len(p.hashes) - 1 else "") for i, h in enumerate(p.hashes)]
            else:
                out.append(f"{p.name}=={p.version}")
        return "\n".join(out) + "\n"


_MEMO: dict[Request, Lock | ResolveError] = {}


def resolve(req: Request) -> Lock:
    """The exact versions ``req`` resolves to now. Raises ResolveError."""
    hit = _MEMO.get(req)
    if hit is None:
        try:
            hit = _resolve(req)
        except ResolveError as e:
            hit = e
        _MEMO[req] = hit
    if isinstance(hit, ResolveError):
        raise ResolveError(str(hit))
    return hit


def uv_binary() -> str | None:
    """uv on PATH, or the one installed next to this Python (``pip install 'slimml[lock]'`` into a
    virtualenv that is not activated puts it in that venv's bin folder)."""
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def backend() -> str:
    return "uv" if uv_binary() else "pip"


def _resolve(req: Request) -> Lock:
    if not re.fullmatch(r"\d+\.\d+", req.target.python):
        raise ResolveError(f"the image's Python version is not known as major.minor ({req.target.python!r})")
    with tempfile.TemporaryDirectory(prefix="slimml-resolve-") as tmp:
        root = Path(tmp)
        lines = _materialise(req, root / "in")
        uv = uv_binary()
        if uv:
            return _uv(uv, req, lines, root)
        return _pip(req, lines, root)


def _materialise(req: Request, root: Path) -> list[str]:
    """Write the requirement files under ``root`` (by their relative names, so includes between them
    keep working) and return the request's lines with file options pointing there."""
    root.mkdir()
    for name, text in req.files:
        rel = posixpath.normpath(name.lstrip("/"))
        if rel.startswith("../") or rel == "..":
            raise ResolveError(f"requirements file outside the build context: {name}")
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    out = []
    for line in req.lines:
        m = re.match(r"^(-r|-c|--requirement|--constraint)(?:\s+|=)(.+)$", line.strip())
        if m:
            rel = posixpath.normpath(m.group(2).strip().lstrip("/"))
            out.append(f"{m.group(1)} {root / rel}")
        else:
            out.append(line)
    return out


def _env() -> dict[str, str]:
    """The resolver's environment: no user pip/uv settings of this machine leak in (the build's are
    passed as options); a CA bundle for TLS when the host names one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False)
    except subprocess.TimeoutExpired:
        raise ResolveError(f"{what} did not finish within {TIMEOUT} s (is the package index reachable?)") from None
    except OSError as e:
        raise ResolveError(f"{what} could not start: {e.strerror or e}") from None


# -- uv -------------------------------------------------------------------------------------------
def _uv(uv: str, req: Request, lines: list[str], root: Path) -> Lock:
    infile = root / "requirements.in"
    infile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    platform = f"{req.target.machine}-manylinux_{req.target.glibc.replace('.', '_')}"
    argv = [
        uv,
        "pip",
        "compile",
        str(infile),
        "--no-config",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--no-strip-extras",
        "--python-version",
        req.target.python,
        "--python-platform",
        platform,
        "--index-strategy",
        "unsafe-best-match",
        "--cache-dir",
        str(root / "uv-cache"),
        "--output-file",
        str(root / "out.txt"),
    ]
    if os.environ.get("SSL_CERT_FILE") or os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        argv.append("--native-tls")  # the system's CA store, as pip uses (a TLS gateway's CA lives there)
    if req.hashes:
        argv.append("--generate-hashes")
    argv += list(req.index)
    cp = _run(argv, "uv pip compile")
    if cp.returncode != 0:
        raise ResolveError(_reason(cp.stderr, cp.stdout, req.index))
    return Lock(_parse_compiled((root / "out.txt").read_text(encoding="utf-8")), backend="uv pip compile")


def _parse_compiled(text: str) -> tuple[Pin, ...]:
    pins: dict[str, Pin] = {}
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if not m:
            continue
        hashes = tuple(re.findall(r"--hash=(\S+)", line))
        name = canonical(m.group(1))
        pins[name] = Pin(name, m.group(2), hashes)
    return tuple(pins[k] for k in sorted(pins))


# -- pip ------------------------------------------------------------------------------------------
def _pip_platforms(t: Target) -> list[str]:
    minor = int(t.glibc.split(".")[1])
    tags = [f"manylinux_2_{m}_{t.machine}" for m in range(minor, 16, -1)]
    return tags + [f"manylinux2014_{t.machine}", f"manylinux2010_{t.machine}", f"manylinux1_{t.machine}"]


def _pip(req: Request, lines: list[str], root: Path) -> Lock:
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if host != req.target.python:
        raise ResolveError(
            f"pip evaluates markers for the Python it runs on ({host}), not the image's {req.target.python}; "
            "install uv (pip install 'slimml[lock]') to resolve for another Python"
        )
    report = root / "report.json"
    infile = root / "requirements.in"
    infile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--isolated",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        str(report),
        "--target",
        str(root / "target"),
        "--python-version",
        req.target.python,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--cache-dir",
        str(root / "pip-cache"),
        "--retries",
        "1",  # an unreachable index fails in seconds, not after pip's five backed-off retries
        "-r",
        str(infile),
    ]
    for tag in _pip_platforms(req.target):
        argv += ["--platform", tag]
    argv += list(req.index)
    cp = _run(argv, "pip's resolver")
    if cp.returncode != 0:
        raise ResolveError(_reason(cp.stderr, cp.stdout, req.index))
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ResolveError(f"pip wrote no readable report ({e})") from None
    pins: dict[str, Pin] = {}
    for item in data.get("install", []):
        meta = item.get("metadata") or {}
        name, version = canonical(meta.get("name", "")), meta.get("version", "")
        if not name or not version:
            continue
        hashes: tuple[str, ...] = ()
        if req.hashes:
            h = ((item.get("download_info") or {}).get("archive_info") or {}).get("hashes") or {}
            hashes = tuple(f"{k}:{v}" for k, v in sorted(h.items()) if k == "sha256")
            if not hashes:
                raise ResolveError(f"the index gave no sha256 for {name} {version}: cannot lock with hashes")
        pins[name] = Pin(name, version, hashes)
    if not pins:
        raise ResolveError("the requirements resolve to nothing to install")
    return Lock(tuple(pins[k] for k in sorted(pins)), backend="pip's resolver")


# -- errors ---------------------------------------------------------------------------------------
_UNREACHABLE = re.compile(
    r"Connection refused|Name or service not known|Temporary failure in name resolution|No route to host"
    r"|Network is unreachable|timed out|Max retries exceeded|certificate verify failed|Failed to (?:fetch|download|query)"
)
_TELLING = (
    re.compile(r"No matching distribution found for .*"),
    re.compile(r"Could not find a version that satisfies the requirement .*"),
    re.compile(r"(?:Because|because) .* (?:we can conclude|is unsatisfiable).*"),
    re.compile(r"Cannot install .* because these package versions have conflicting dependencies.*"),
    re.compile(r"The conflict is caused by:.*"),
    re.compile(r"No solution found when resolving dependencies.*"),
    re.compile(r"Could not open requirements file.*"),
    re.compile(r"Invalid requirement.*"),
    re.compile(r"Double requirement given.*"),
)


def _reason(stderr: str, stdout: str = "", index: tuple[str, ...] = ()) -> str:
    """The line that says why, masked: an index URL can carry a token."""
    from ..secrets import mask

    text = "\n".join(x for x in (stderr, stdout) if x)
    m = _UNREACHABLE.search(text)
    if m:
        urls = [v for k, v in zip(index, index[1:]) if k in ("--index-url", "-i", "--extra-index-url")]
        where = ", ".join(urls) if urls else "the default index (PyPI)"
        return _mask_urls(mask(f"the package index cannot be reached ({m.group(0)}): {where}"))[:300]
    lines = [ln.strip(" ×╰─▶│").strip() for ln in text.splitlines() if ln.strip()]
    pick = ""
    for rx in _TELLING:
        for ln in lines:
            if rx.search(ln):
                pick = ln
                break
        if pick:
            break
    if not pick:
        errs = [ln for ln in lines if ln.lower().startswith(("error", "×"))]
        pick = errs[-1] if errs else (lines[-1] if lines else "the resolver failed without a message")
    pick = re.sub(r"^(?:(?:ERROR|error|cause|WARNING):\s*)+", "", pick)
    return _mask_urls(mask(pick))[:300]


def _mask_urls(text: str) -> str:
    """``https://user:token@host`` -> ``https://****@host``: credentials in an index URL."""
    return re.sub(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@", r"\1****@", text)
