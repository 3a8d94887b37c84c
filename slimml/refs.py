"""Paths that the build's own files name: what a ``.dockerignore`` exclusion must never take away.

An application loads ``load_model('colormodel.h5')``, a start script runs ``python serve.py
--model models/m.onnx``, a config says ``model_path: weights/m.onnx``: excluding such a file from
the build context breaks the image even though nothing in the Dockerfile names it. slimml reads
the files the build copies and collects every string that could be a path:

- Python: string literals, parsed with libcst (f-strings with their holes as wildcards: ``f"models/
  {name}.onnx"`` is ``models/*.onnx``); a file libcst cannot parse is read for quoted strings;
- shell scripts (``*.sh`` and ``#!`` scripts): every word, parsed with tree-sitter-bash (``$VAR``
  parts as wildcards);
- configuration (``.yaml .yml .json .toml .ini .cfg .conf .env .properties``, Makefile, Procfile):
  every value (JSON strings; tokens of the other formats);
- the Dockerfile's own RUN/CMD/ENTRYPOINT/ENV/ARG/HEALTHCHECK words.

A string is split into path-like tokens (on whitespace, ``=``, ``,``, ``;``); URLs are skipped.
A candidate exclusion is *named* when it selects a path a token can name, the token read relative
to any folder (``colormodel.h5`` is ``**/colormodel.h5``). Reading is bounded: files are only
parsed when their text contains a fragment of the candidate (``.onnx`` for ``**/*.onnx``) -- a path
the candidate selects must spell it somewhere -- and the total read is capped; past the cap the
answer is "cannot know" (``truncated``).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import dockerignore as DI

MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 48_000_000
MAX_FILES = 6000
MAX_TOKEN = 400

PYTHON = (".py", ".pyw")
SHELL = (".sh", ".bash", ".zsh", ".ksh")
CONFIG = (".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties")
CONFIG_NAMES = frozenset({"Makefile", "makefile", "GNUmakefile", "Procfile", "justfile", "Justfile", ".env"})
_HOLE = "\0"  # an unknown part of a string (an f-string expression, a $VAR)
_SPLIT = re.compile(r"[\s=,;]+")
_VAR = re.compile(r"\$(?:\{[^}\n]{0,200}\}|\([^)\n]{0,400}\)|[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])")
# Quoted strings, for Python that libcst cannot parse (linear: no nested quantifiers over one class).
_QUOTED = re.compile(
    r"'([^'\\\n]{0,%d}(?:\\.[^'\\\n]{0,%d}){0,64})'|\"([^\"\\\n]{0,%d}(?:\\.[^\"\\\n]{0,%d}){0,64})\""
    % ((MAX_TOKEN,) * 4)
)
_TOKEN = re.compile(r"[^\s\"'`=:,;\[\]{}()#]{1,%d}" % MAX_TOKEN)


@dataclass(frozen=True)
class Ref:
    segs: tuple  # Docker-pattern segments of the token (wildcards for unknown parts)
    origin: str  # "app.py" or "Dockerfile:7"
    text: str  # the token as shown in messages ("" when the origin may hold secrets)


def kind(rel: str, head: bytes = b"") -> str | None:
    """How to read a context file for path names: "python", "shell", "config" or None."""
    base = posixpath.basename(rel)
    low = base.lower()
    if low.endswith(PYTHON):
        return "python"
    if low.endswith(SHELL):
        return "shell"
    if low.endswith(CONFIG) or base in CONFIG_NAMES or low.startswith(".env."):
        return "config"
    if "." not in base and head.startswith(b"#!"):
        first = head.split(b"\n", 1)[0]
        if b"python" in first:
            return "python"
        if any(s in first for s in (b"sh", b"bash")):
            return "shell"
    return None


def tokens(value: str) -> list[str]:
    """Path-like tokens of one string (holes kept)."""
    out = []
    for t in _SPLIT.split(value):
        t = t.strip("'\"`")
        if not t or len(t) > MAX_TOKEN or "://" in t:
            continue
        out.append(t)
    return out


@lru_cache(maxsize=16384)  # pure; the same tokens (`install`, `/app`, ...) recur in every RUN and file
def token_segs(token: str) -> tuple | None:
    """Segments of a token; None when it names nothing specific (no literal character)."""
    t = token
    lead_hole = t.startswith(_HOLE)
    t = t.replace(_HOLE, "*")
    while t.startswith("./"):
        t = t[2:]
    t = t.lstrip("/~")
    if not t:
        return None
    segs = list(DI.segments(DI.clean(t)))
    segs = [s for s in segs if s != ".."]
    if not any(s is not DI.STAR2 and s.strip("*?") for s in segs):
        return None
    if lead_hole and segs and segs[0] is not DI.STAR2:
        segs.insert(0, DI.STAR2)  # the unknown start may hold folders
    return tuple(segs)


def covers(pattern: list, ref: tuple) -> bool:
    """Does the exclusion ``pattern`` select a path ``ref`` may name (the token read relative to any
    folder: every suffix of it is tried against the root-anchored pattern)?"""
    return _covers(tuple(pattern), ref)


@lru_cache(maxsize=65536)  # pure; the candidates meet the same refs (`/app`, `requirements.txt`) in every file
def _covers(pattern: tuple, ref: tuple) -> bool:
    for k in range(len(ref)):
        if ref[k] is DI.STAR2 and k:
            continue
        if k and not any(_literal(seg) for seg in ref[k:]):
            continue  # a bare wildcard tail (`/var/lib/apt/lists/*` -> `*`) names no path of its own
        if DI.overlap(pattern, list(ref[k:]))[0]:
            return True
    return False


@lru_cache(maxsize=16384)  # pure; token_segs hands out the same tuples for the same tokens
def _seg_text(segs: tuple) -> tuple[str, bool]:
    """A ref's literal segments joined, and whether it has a wildcard (``Names._df_candidates``)."""
    return (
        "/".join(s for s in segs if s is not DI.STAR2),
        any(s is DI.STAR2 or "*" in s or "?" in s or "[" in s for s in segs),
    )


def _literal(seg) -> bool:
    """A path segment with at least one literal character (not only `*`, `?`, `**`)."""
    return seg is not DI.STAR2 and isinstance(seg, str) and bool(seg.replace("*", "").replace("?", ""))


# -- extraction ------------------------------------------------------------------------------------------
def _python_strings(text: str) -> list[str]:
    try:
        import libcst as cst

        module = cst.parse_module(text)
    except Exception:  # noqa: BLE001 - libcst raises several kinds; fall back to quoted strings
        return [a or b for a, b in _QUOTED.findall(text)]
    out: list[str] = []

    class Strings(cst.CSTVisitor):
        def visit_SimpleString(self, node) -> None:
            try:
                v = node.evaluated_value
            except Exception:  # noqa: BLE001 - an escape libcst cannot evaluate
                v = node.value.strip("'\"bBrRuU")
            out.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else v)

        def visit_FormattedString(self, node) -> bool:
            parts = []
            for p in node.parts:
                parts.append(p.value if isinstance(p, cst.FormattedStringText) else _HOLE)
            out.append("".join(parts))
            return False

    module.visit(Strings())
    return out


def _shell_strings(text: str) -> list[str]:
    from .dockerfile.shell import _parser, _unquote_text, _walk

    try:
        tree = _parser().parse(text.encode("utf-8"))
    except Exception:  # noqa: BLE001 - tree-sitter never should; read words instead
        return _TOKEN.findall(text)
    data = text.encode("utf-8")
    out = []
    for n in _walk(tree.root_node):
        if n.type in ("word", "string", "raw_string", "concatenation") and (
            n.parent is None or n.parent.type not in ("concatenation", "string")
        ):
            raw = data[n.start_byte : n.end_byte].decode("utf-8", "replace")
            out.append(_unquote_text(_VAR.sub(_HOLE, raw)))
    return out


def _json_strings(value, out: list[str], depth: int = 0) -> None:
    if depth > 64:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _json_strings(v, out, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _json_strings(v, out, depth + 1)


def _config_strings(rel: str, text: str) -> list[str]:
    if rel.lower().endswith(".json"):
        try:
            out: list[str] = []
            _json_strings(json.loads(text), out)
            return out
        except (ValueError, RecursionError):
            pass
    quoted = [a or b for a, b in _QUOTED.findall(text)]
    return quoted + [_VAR.sub(_HOLE, t) for t in _TOKEN.findall(_QUOTED.sub(" ", text))]


def strings_of(rel: str, text: str, how: str) -> list[str]:
    return list(_strings_of(rel, text, how))


@lru_cache(maxsize=256)  # pure; model-weights asks for the same script's strings once per earlier download
def _strings_of(rel: str, text: str, how: str) -> tuple[str, ...]:
    if how == "python":
        return tuple(_python_strings(text))
    if how == "shell":
        return tuple(_shell_strings(text))
    return tuple(_config_strings(rel, text))


def dockerfile_strings(doc) -> list[tuple[int, str]]:
    """(line, string) of the words of RUN/CMD/ENTRYPOINT/ENV/ARG/HEALTHCHECK (heredoc bodies too)."""
    out = []
    for ins in doc.instructions:
        if ins.keyword not in ("RUN", "CMD", "ENTRYPOINT", "ENV", "ARG", "HEALTHCHECK"):
            continue
        words = list(ins.json) if ins.json is not None else [ins.args]
        words += [h.body(doc.text) for h in ins.heredocs]
        for w in words:
            out.append((ins.start_line, _VAR.sub(_HOLE, w)))
    return out


# -- the names a build's files hold ----------------------------------------------------------------------------
@dataclass
class Names:
    """The path tokens of a set of context files and Dockerfiles, read on demand."""

    ctx: object
    files: list[str]  # context-relative paths of files the build copies
    dockerfiles: list[tuple[str, object]]  # (label, Document)
    truncated: bool = False
    _texts: dict[str, str | None] = field(default_factory=dict)
    _refs: dict[str, list[Ref]] = field(default_factory=dict)
    _budget: int = MAX_TOTAL_BYTES

    def __post_init__(self):
        readable = []
        for rel in self.files:
            how = kind(rel)
            if how is None and "." not in posixpath.basename(rel):
                how = kind(rel, self._head(rel))
            if how is not None:
                readable.append((rel, how))
        if len(readable) > MAX_FILES:
            readable, self.truncated = readable[:MAX_FILES], True
        self._readable = readable
        # The Dockerfiles' refs as (segments, label, line, token): the Ref is made for the one
        # ``naming`` returns (a 10,000-RUN file holds 100,000 tokens).
        self._df_refs: list[tuple[tuple, str, int, str]] = []
        for label, doc in self.dockerfiles:
            for line, s in dockerfile_strings(doc):
                for t in tokens(s):
                    segs = token_segs(t)
                    if segs:
                        self._df_refs.append((segs, label, line, t))

    @staticmethod
    def _df_ref(raw: tuple[tuple, str, int, str]) -> Ref:
        segs, label, line, t = raw
        return Ref(segs, f"{label}:{line}", t.replace(_HOLE, "$…"))

    def _df_candidates(self, needles: tuple[str, ...]) -> list[tuple[tuple, str, int, str]]:
        """The Dockerfile refs (``_df_refs`` rows) a pattern with these literal parts may select: a
        literal path that does not spell one of them cannot be (refs with wildcards always may).
        Once per needle."""
        memo = self.__dict__.setdefault("_df_by_needle", {})
        if needles not in memo:
            idx = self.__dict__.get("_df_idx")
            if idx is None:  # (ref, its literal segments joined, has a wildcard); all literal text
                rows = [(r, *_seg_text(r[0])) for r in self._df_refs]
                idx = self.__dict__["_df_idx"] = (
                    rows,
                    "\n".join(j for _, j, w in rows if not w),
                    [r for r, _, w in rows if w],
                )
            rows, blob, wild_refs = idx
            if needles and not any(n in blob for n in needles):
                memo[needles] = wild_refs  # the common case: no literal ref spells it
            elif len(needles) == 1:  # (the usual case, spelled out: a document may hold 100,000 refs)
                n = needles[0]
                memo[needles] = [r for r, joined, wild in rows if wild or n in joined]
            else:
                memo[needles] = [
                    r for r, joined, wild in rows if not needles or wild or any(n in joined for n in needles)
                ]
        return memo[needles]

    def _head(self, rel: str) -> bytes:
        p = self.ctx.context_path(rel)
        try:
            with open(p, "rb") as fh:
                return fh.read(128)
        except (OSError, TypeError):
            return b""

    def _text(self, rel: str) -> str | None:
        if rel not in self._texts:
            p = self.ctx.context_path(rel)
            text = None
            try:
                size = os.path.getsize(p)
                if size > MAX_FILE_BYTES or size > self._budget:
                    self.truncated = True
                else:
                    self._budget -= size
                    text = self.ctx.read_context_file(rel, overlay=False, limit=MAX_FILE_BYTES)
            except (OSError, TypeError):
                text = None
            self._texts[rel] = text
        return self._texts[rel]

    def _file_refs(self, rel: str, how: str) -> list[Ref]:
        if rel not in self._refs:
            text = self._text(rel) or ""
            secretish = how == "config" and posixpath.basename(rel).lower().startswith(".env")
            refs = []
            for s in strings_of(rel, text, how):
                for t in tokens(s):
                    segs = token_segs(t)
                    if segs:
                        refs.append(Ref(segs, rel, "" if secretish else t.replace(_HOLE, "…")))
            self._refs[rel] = refs
        return self._refs[rel]

    def naming(self, pattern: list, needles: list[str]) -> Ref | None:
        """A token that names a path ``pattern`` selects. Only files whose text contains one of
        ``needles`` (fragments any such path must spell) are parsed."""
        pat = tuple(pattern)
        for raw in self._df_candidates(tuple(needles)):
            if _covers(pat, raw[0]):
                return self._df_ref(raw)
        for rel, how in self._readable:
            text = self._text(rel)
            if not text or (needles and not any(n in text for n in needles)):
                continue
            for r in self._file_refs(rel, how):
                if _covers(pat, r.segs):
                    return r
        return None


def needles(pattern: str) -> list[str]:
    """Fragments every path the Docker pattern selects spells: the longest literal run of its last
    named segment (``.onnx`` for ``**/*.onnx``, ``models`` for ``models``)."""
    return list(_needles(pattern))


@lru_cache(maxsize=4096)  # pure; asked for every candidate pattern of every Dockerfile
def _needles(pattern: str) -> tuple[str, ...]:
    segs = [s for s in DI.segments(pattern) if s is not DI.STAR2]
    if not segs:
        return ()
    runs = [r for r in re.split(r"[*?\[\]\\]", segs[-1]) if r]
    if not runs:
        return ()
    return (max(runs, key=len),)
