"""The project's GPU use: code and configuration in the build context and next to the Dockerfile.

Python is parsed with libcst (a string ``"cuda"``, an attribute ``.cuda``, an import of ``cupy``
count; a comment does not); configuration and scripts are matched as text
(``knowledge.gpu_use.CONFIG_PATTERNS``). The walk is capped (``gpu_use.MAX_*``): when a cap cuts it
short, ``Scan.cut`` says so and the rule offers no fix, since evidence could hide in what was not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...knowledge import gpu_use as G


@dataclass(frozen=True)
class Evidence:
    path: str  # relative to the scanned root, or the Dockerfile's name
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.what})"


@dataclass
class Scan:
    evidence: list[Evidence] = field(default_factory=list)
    cut: str = ""  # non-empty: the scan stopped early (why)
    files: int = 0  # files read


# -- Python -----------------------------------------------------------------------------------------
def python_evidence(code: str) -> list[tuple[int, str]] | None:
    """(line, what) of the GPU uses in Python ``code``; None when it does not parse."""
    low = code.lower()
    if not any(h in low for h in G.PYTHON_HINTS):
        return []
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        wrapper = MetadataWrapper(cst.parse_module(code))
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    pos = wrapper.resolve(PositionProvider)
    found: list[tuple[int, str]] = []

    def add(node, what: str) -> None:
        found.append((pos[node].start.line, what))

    def string_value(node) -> str | None:
        if isinstance(node, cst.SimpleString):
            try:
                v = node.evaluated_value
            except Exception:  # noqa: BLE001 - an odd literal (bytes, escapes) is simply not a device name
                return None
            return v if isinstance(v, str) else None
        return None

    def dotted(node) -> str:
        if isinstance(node, cst.Name):
            return node.value
        if isinstance(node, cst.Attribute):
            return f"{dotted(node.value)}.{node.attr.value}"
        return ""

    def module_hit(name: str) -> bool:
        parts = name.split(".")
        return parts[0] in G.GPU_MODULES or name in G.GPU_MODULES or "cuda" in parts or "cudnn" in parts

    class V(cst.CSTVisitor):
        def visit_SimpleString(self, node) -> None:
            v = string_value(node)
            if v is None:
                return
            if G.CUDA_DEVICE_STRING_RE.match(v):
                add(node, f"the device string {v!r}")
            elif v in G.GPU_ENV_NAMES:
                add(node, v)

        def visit_FormattedString(self, node) -> None:
            first = node.parts[0] if node.parts else None
            if isinstance(first, cst.FormattedStringText) and first.value.lower().startswith("cuda:"):
                add(node, "a cuda:<n> device string")

        def visit_Attribute(self, node) -> None:
            if node.attr.value in G.CUDA_ATTRIBUTES:
                add(node, f"`.{node.attr.value}`")

        def visit_Import(self, node) -> None:
            for a in node.names:
                name = dotted(a.name)
                if module_hit(name):
                    add(node, f"import {name}")

        def visit_ImportFrom(self, node) -> None:
            mod = dotted(node.module) if node.module is not None else ""
            if mod and module_hit(mod):
                add(node, f"from {mod} import")
                return
            if not isinstance(node.names, cst.ImportStar):
                for a in node.names:
                    n = dotted(a.name)
                    if n in ("cuda", "cudnn") or f"{mod}.{n}" in G.GPU_MODULES:
                        add(node, f"from {mod} import {n}")

        def visit_Call(self, node) -> None:
            for arg in node.args:
                v = string_value(arg.value)
                kw = arg.keyword.value if arg.keyword is not None else None
                if v is not None and G.GPU_DEVICE_STRING_RE.match(v):
                    add(arg, f"{kw + '=' if kw else ''}{v!r} passed to a call")
                if kw in G.DEVICE_MAP_KEYWORDS and not (v is not None and v.lower() == "cpu"):
                    add(arg, f"{kw}= (accelerate places the model on the GPUs it finds)")
                if kw in G.GPU_ORDINAL_KEYWORDS and isinstance(arg.value, cst.Integer):
                    n = int(arg.value.value, 0)
                    ordinal = kw in ("device", "gpu_id", "gpu_ids")
                    if n > 0 or (ordinal and n == 0):
                        add(arg, f"{kw}={n}")

    wrapper.module.visit(V())
    return found


def text_evidence(text: str) -> list[tuple[int, str]]:
    """(line, what) of the configuration patterns in ``text``."""
    out = []
    for rx, what in G.CONFIG_PATTERNS:
        for m in rx.finditer(text):
            out.append((text.count("\n", 0, m.start()) + 1, what))
    return out


# -- the walk -----------------------------------------------------------------------------------------
def _kind(name: str) -> str | None:
    if G.SKIP_NAMES_RE.match(name):
        return None
    if name.endswith(G.PYTHON_SUFFIXES):
        return "python"
    if name in G.CONFIG_NAMES or name.startswith(G.CONFIG_PREFIXES) or name.endswith(G.CONFIG_SUFFIXES):
        return "config"
    return None


def _is_dockerfile(name: str) -> bool:
    # Other Dockerfiles describe other images (a Dockerfile.gpu next to this CPU one): not this image's use.
    low = name.lower()
    return low == "dockerfile" or low.startswith("dockerfile.") or low.endswith(".dockerfile")


class _Walker:
    def __init__(self) -> None:
        self.scan = Scan()
        self.bytes = 0
        self.seen: set[str] = set()

    def file(self, path: str, label: str) -> None:
        if self.scan.cut:
            return
        real = os.path.realpath(path)
        if real in self.seen:
            return
        self.seen.add(real)
        name = os.path.basename(path)
        kind = _kind(name)
        if kind is None or _is_dockerfile(name):
            return
        try:
            size = os.path.getsize(path)
        except OSError:
            return
        if size > G.MAX_FILE_BYTES:
            if not name.endswith(G.DATA_SUFFIXES):
                self.scan.cut = f"`{label}` is larger than {G.MAX_FILE_BYTES // 1024} kB and was not read"
            return
        if self.scan.files >= G.MAX_FILES or self.bytes + size > G.MAX_TOTAL_BYTES:
            self.scan.cut = (
                f"the scan stopped after {self.scan.files} files ({self.bytes // (1024 * 1024)} MB), "
                "before the whole project was read"
            )
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return  # binary or not utf-8: not code or configuration slimml can read
        if "\0" in text:
            return
        self.scan.files += 1
        self.bytes += size
        hits = None
        if kind == "python":
            hits = python_evidence(text)
        if hits is None:  # configuration, or Python that does not parse (Python 2...): as text
            hits = text_evidence(text)
        for line, what in hits:
            self.scan.evidence.append(Evidence(label, line, what))

    def tree(self, root: str, prefix: str = "") -> None:
        for dirpath, dirnames, filenames in os.walk(root):
            if self.scan.cut:
                return
            if "pyvenv.cfg" in filenames:  # a virtual environment: third-party code
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if d not in G.SKIP_DIRS)
            rel_dir = os.path.relpath(dirpath, root)
            for fn in sorted(filenames):
                rel = fn if rel_dir == "." else f"{rel_dir}/{fn}".replace(os.sep, "/")
                self.file(os.path.join(dirpath, fn), prefix + rel)


def scan_project(context_dir: Path | None, dockerfile: Path | None) -> Scan:
    """Evidence in the build context (recursively) and in the Dockerfile's own folder."""
    w = _Walker()
    if context_dir is not None and context_dir.is_dir():
        w.tree(str(context_dir))
    if dockerfile is not None:
        folder = os.path.dirname(os.path.abspath(dockerfile))
        inside = context_dir is not None and (os.path.realpath(folder) + os.sep).startswith(
            os.path.realpath(str(context_dir)).rstrip(os.sep) + os.sep
        )
        if not inside and os.path.isdir(folder):
            for fn in sorted(os.listdir(folder)):
                p = os.path.join(folder, fn)
                if os.path.isfile(p):
                    w.file(p, fn)
    w.scan.evidence.sort(key=lambda e: (e.path, e.line))
    return w.scan


def cached_scan(ctx) -> Scan:
    """``scan_project`` once per run for a (context, Dockerfile folder) pair."""
    folder = os.path.dirname(os.path.abspath(ctx.dockerfile)) if ctx.dockerfile is not None else None
    key = ("gpu-evidence", str(ctx.context_dir), folder)
    found = ctx.run_cache.get(key)
    if found is None:
        found = ctx.run_cache[key] = scan_project(ctx.context_dir, ctx.dockerfile)
    return found
