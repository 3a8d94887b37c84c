"""A tiny, deterministic local Python package index for tests (standard library only).

The pin/lock and CPU-wheel rules (issue 14) are about what an installer resolves. PyPI's versions move and real
torch/CUDA wheels weigh gigabytes, so tests resolve against stand-ins built here instead:

- `build_wheel(Dist(...), outdir)`: a pure-Python wheel (METADATA with Requires-Dist, WHEEL, RECORD with sha256
  hashes), optionally carrying N MB of incompressible bytes from a seeded PRNG so that sizes are stable and image
  layers really grow by that much. The same Dist always gives byte-identical wheels (fixed zip timestamps), so hashes
  can be pinned across runs.
- `LocalIndex(root)`: a PEP 503 "simple" index folder (one index.html per project, links with #sha256= fragments),
  usable by pip as `--index-url file:///.../simple` and, served over HTTP, by pip or uv inside `docker build`.
  Wheels can be added later (a newer version "appearing" between two builds).
- `IndexServer(root, host)`: a threaded static HTTP server (http.server) with clean shutdown; `docker_bridge_ip()`
  is the host's address on the docker0 bridge, the one a `docker build` RUN step reaches the host on.
- `torch_like(root)`: the torch stand-in set -- a default index where `torch==2.1.0` pulls `nvidia-cublas-cu12` and
  `nvidia-cudnn-cu12` payload wheels, a "cpu" index with `torch==2.1.0+cpu` and no CUDA dependencies -- plus
  `flasklike` 1.0.0 / 1.1.0 (over `werkzeuglike`) for "a newer version appeared".
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import http.server
import io
import json
import random
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

MB = 1024 * 1024
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: fixed timestamps keep wheels byte-identical


def normalize(name: str) -> str:
    """PEP 503 project name normalization (the simple index's folder names)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_name_part(name: str) -> str:
    # Wheel file and dist-info names: runs of -_. become a single underscore (binary distribution format spec).
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass(frozen=True)
class Dist:
    """A stand-in distribution. `files` are extra package files (path inside site-packages -> text); the payload
    (`payload_mb` MB of incompressible bytes) lands at `payload_path` (default: <package>/_payload.bin)."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    payload_mb: float = 0
    payload_path: str | None = None
    files: tuple[tuple[str, str], ...] = ()
    requires_python: str | None = None
    summary: str = "A stand-in package for slimml's tests"

    @property
    def package(self) -> str:
        return _wheel_name_part(self.name)

    @property
    def filename(self) -> str:
        return f"{_wheel_name_part(self.name)}-{self.version}-py3-none-any.whl"

    @property
    def dist_info(self) -> str:
        return f"{_wheel_name_part(self.name)}-{self.version}.dist-info"


def payload_bytes(n: int, seed: str) -> bytes:
    """n bytes that deflate cannot shrink, the same for the same seed on every run and platform."""
    return random.Random(seed).randbytes(n)


def _metadata(d: Dist) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {d.name}", f"Version: {d.version}", f"Summary: {d.summary}"]
    if d.requires_python:
        lines.append(f"Requires-Python: {d.requires_python}")
    lines += [f"Requires-Dist: {r}" for r in d.requires]
    return "\n".join(lines) + "\n"


_WHEEL = "Wheel-Version: 1.0\nGenerator: slimml-tests-pkgindex\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(d: Dist, outdir: Path) -> Path:
    """Write d's wheel into outdir and return its path (byte-identical for equal Dists)."""
    files: dict[str, bytes] = {}
    init = f"{d.package}/__init__.py"
    files[init] = f'__version__ = "{d.version}"\n'.encode()
    for path, text in d.files:
        files[path] = text.encode()
    if d.payload_mb:
        files[d.payload_path or f"{d.package}/_payload.bin"] = payload_bytes(
            int(d.payload_mb * MB), f"{d.name}=={d.version}"
        )
    files[f"{d.dist_info}/METADATA"] = _metadata(d).encode()
    files[f"{d.dist_info}/WHEEL"] = _WHEEL.encode()
    record = [f"{p},{_record_hash(b)},{len(b)}" for p, b in files.items()]
    record.append(f"{d.dist_info}/RECORD,,")
    files[f"{d.dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()

    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / d.filename
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            # Stored, not deflated: the bytes then depend on no zlib build (hashes stay the same across machines),
            # and the random payload would not deflate anyway.
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    out.write_bytes(buf.getvalue())
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(MB), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LocalIndex:
    """A PEP 503 simple index under root/simple, wheels under root/files. Pages are rewritten on every add, so a
    version added later appears to installers exactly as a new upload to PyPI would."""

    root: Path
    wheels: dict[str, list[Path]] = field(default_factory=dict)  # normalized project -> wheel files
    requires_python: dict[Path, str] = field(default_factory=dict)  # wheel -> its Requires-Python, for the page

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        self._write()

    @property
    def simple(self) -> Path:
        return self.root / "simple"

    @property
    def file_url(self) -> str:
        return self.simple.resolve().as_uri()

    def add(self, *dists: Dist) -> list[Path]:
        paths = []
        for d in dists:
            w = build_wheel(d, self.root / "files")
            ws = self.wheels.setdefault(normalize(d.name), [])
            if w not in ws:
                ws.append(w)
            if d.requires_python:
                self.requires_python[w] = d.requires_python
            paths.append(w)
        self._write()
        return paths

    def _write(self) -> None:
        self.simple.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(self.wheels))
        (self.simple / "index.html").write_text(_page("Simple index", links))
        for project, wheels in self.wheels.items():
            rows = []
            for w in sorted(wheels, key=lambda p: p.name):
                # A local version's '+' is percent-encoded in links, as download.pytorch.org does.
                href = f"../../files/{quote(w.name)}#sha256={sha256_file(w)}"
                rp = self.requires_python.get(w)
                attr = f' data-requires-python="{html.escape(rp)}"' if rp else ""
                rows.append(f'<a href="{html.escape(href)}"{attr}>{html.escape(w.name)}</a>\n')
            (self.simple / project).mkdir(exist_ok=True)
            (self.simple / project / "index.html").write_text(_page(f"Links for {project}", "".join(rows)))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}</body></html>\n"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class IndexServer:
    """Serves a folder over HTTP from a background thread; a context manager that shuts down cleanly.

    `with IndexServer(root, docker_bridge_ip()) as srv: srv.url + "/simple"`. Port 0 picks a free port."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pkgindex", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> IndexServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()


def docker_bridge_ip() -> str:
    """The host's IPv4 address on the docker0 bridge (where build containers reach the host); the bridge
    network's gateway from the engine when `ip` is missing or docker0 has another name."""
    ip = shutil.which("ip")
    if ip:
        r = subprocess.run([ip, "-4", "-j", "addr", "show", "docker0"], capture_output=True, text=True, check=False)
        if r.returncode == 0 and r.stdout.strip():
            for link in json.loads(r.stdout):
                for a in link.get("addr_info", []):
                    if a.get("family") == "inet":
                        return a["local"]
    import docker

    net = docker.from_env(timeout=10).networks.get("bridge")
    return net.attrs["IPAM"]["Config"][0]["Gateway"]


def pip(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """The test venv's pip, isolated from the machine's pip configuration and PIP_* variables (which add extra
    indexes, find-links and constraints here), so only the index a test names is consulted."""
    cmd = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def resolve(index_url: str, *requirements: str) -> dict[str, str]:
    """What pip would install for the requirements from that index alone: {normalized name: version}."""
    r = pip(
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        "--index-url",
        index_url,
        *requirements,
    )
    if r.returncode != 0:
        raise RuntimeError(f"pip could not resolve {requirements} from {index_url}:\n{r.stderr[-2000:]}")
    report = json.loads(r.stdout)
    return {normalize(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}


# -- the torch-like stand-in set --------------------------------------------------------------------------------------

CUBLAS_MB = 6
CUDNN_MB = 8
TORCH_MB = 1
NVIDIA_MB = CUBLAS_MB + CUDNN_MB  # what the CPU index saves, by construction


def _torch(version: str, cuda: str | None, requires: tuple[str, ...]) -> Dist:
    return Dist(
        "torch",
        version,
        requires=requires,
        payload_mb=TORCH_MB,
        payload_path="torch/lib/libtorch_cpu.so",
        files=(
            ("torch/version.py", f'__version__ = "{version}"\ncuda = {cuda!r}\n'),
            ("torch/cuda/__init__.py", "def is_available():\n    return False\n"),
        ),
        requires_python=">=3.8",
    )


TORCH = _torch(
    "2.1.0",
    "12.1",
    (
        'nvidia-cublas-cu12==12.1.3.1; platform_system == "Linux" and platform_machine == "x86_64"',
        'nvidia-cudnn-cu12==8.9.2.26; platform_system == "Linux" and platform_machine == "x86_64"',
    ),
)
TORCH_CPU = _torch("2.1.0+cpu", None, ())
CUBLAS = Dist(
    "nvidia-cublas-cu12",
    "12.1.3.1",
    payload_mb=CUBLAS_MB,
    payload_path="nvidia/cublas/lib/libcublas.so.12",
    files=(("nvidia/cublas/__init__.py", ""),),
)
CUDNN = Dist(
    "nvidia-cudnn-cu12",
    "8.9.2.26",
    requires=("nvidia-cublas-cu12",),
    payload_mb=CUDNN_MB,
    payload_path="nvidia/cudnn/lib/libcudnn.so.8",
    files=(("nvidia/cudnn/__init__.py", ""),),
)
WERKZEUGLIKE = Dist("werkzeuglike", "2.0.0")
FLASKLIKE_OLD = Dist("flasklike", "1.0.0", requires=("werkzeuglike>=2.0",))
FLASKLIKE_NEW = Dist("flasklike", "1.1.0", requires=("werkzeuglike>=2.0",))


@dataclass
class TorchLike:
    default: LocalIndex  # PyPI-like: torch 2.1.0 + nvidia-* stand-ins, flasklike 1.0.0 (add FLASKLIKE_NEW later)
    cpu: LocalIndex  # download.pytorch.org/whl/cpu-like: torch 2.1.0+cpu only


def torch_like(root: Path) -> TorchLike:
    """Both indexes under root/default and root/cpu (about 16 MB of wheels, built in well under a second)."""
    default = LocalIndex(Path(root) / "default")
    default.add(TORCH, CUBLAS, CUDNN, WERKZEUGLIKE, FLASKLIKE_OLD)
    cpu = LocalIndex(Path(root) / "cpu")
    cpu.add(TORCH_CPU)
    return TorchLike(default, cpu)
