"""Shared pieces for rules: building findings and edits, reading stage state."""

from __future__ import annotations

import os
import posixpath
import sys
from types import ModuleType

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction, shell_words
from ..dockerfile.shell import Script, Word
from ..engine import Edit, Finding, Fix
from ..semantics import build as B

TRUTHY = {"1", "true", "yes", "on", "y"}


def rule_of(module_name: str) -> ModuleType:
    return sys.modules[module_name]


def finding(rule: ModuleType, message: str, start: int, end: int, fix: Fix | None = None, **kw) -> Finding:
    return Finding(code=rule.CODE, name=rule.NAME, message=message, start=start, end=end, fix=fix, **kw)


def insert_after_word(word: Word, text: str) -> Edit:
    return Edit(word.end, word.end, " " + text)


def dest_as_directory(copy: Instruction) -> Edit | None:
    """The edit ending a COPY/ADD destination with ``/`` (None when it does), for a fix that adds a second
    source: the classic builder refuses several sources into a destination without the slash ("When using
    COPY with more than one source file, the destination must be a directory and end with a /"), BuildKit
    does not. Call it only for a destination known to be a directory: the slash changes nothing else."""
    if copy.is_exec_form:
        close = copy.args.rstrip().rfind('"')
        if close <= 0 or copy.args[close - 1] == "/":
            return None
        at = copy.args_offset(close)
        return Edit(at, at, "/")
    words = shell_words(copy.args, raw=True)
    if not words:
        return None
    w, _, end = words[-1]
    quoted = w[-1:] in ("'", '"') and len(w) > 1
    last = w[-2] if quoted else w[-1]
    if last == "/":
        return None
    at = copy.args_offset(end - 1) if quoted else copy.args_span(words[-1][1], end)[1]
    return Edit(at, at, "/")


def continuation_joiner(doc: Document, instr: Instruction, at: int) -> str:
    """Text that starts a new continued line inside ``instr`` at offset ``at``.

    Multi-line instructions keep the indentation of the line being continued (four spaces
    when that is the instruction's first line); single-line ones are joined with a space.
    """
    if not instr.multiline:
        return " "
    line_start = doc.text.rfind("\n", 0, at) + 1
    indent = doc.line_indent(at) if line_start > instr.line_start else ""
    return f" {doc.escape}{doc.newline}{indent or '    '}"


def append_command(doc: Document, instr: Instruction, script: Script, command: str) -> Edit | None:
    """An edit that runs ``command`` after everything else in the script, if it succeeded.

    ``(a; b) && cmd`` semantics come for free: ``&&`` binds looser than nothing in sh, so
    ``a || b && cmd`` is ``(a || b) && cmd``. Heredoc scripts get a new last line instead.
    """
    if script.heredoc is not None:
        return Edit(script.heredoc.body_end, script.heredoc.body_end, command + doc.newline)
    if instr.heredocs:
        return None  # `cat <<EOF ...`: the line and the bodies interleave; no safe place
    at = script.last_statement_end()
    if instr.multiline:
        return Edit(at, at, continuation_joiner(doc, instr, at) + "&& " + command)
    return Edit(at, at, " && " + command)


def parse_kv_words(instr: Instruction) -> list[tuple[str, str]]:
    """Key/value pairs of ENV, ARG or LABEL (``K=V ...`` and legacy ``ENV K V``)."""
    memo = instr.__dict__.get("_kv")
    if memo is None:
        memo = instr.__dict__["_kv"] = _parse_kv_words(instr)
    return list(memo)


def _parse_kv_words(instr: Instruction) -> list[tuple[str, str]]:
    words = shell_words(instr.args, raw=False)
    if not words:
        return []
    if instr.keyword == "ENV" and "=" not in words[0][0]:
        key = words[0][0]
        rest = instr.args[words[0][2] :].strip()
        return [(key, rest)]
    out = []
    for w, _, _ in words:
        k, eq, v = w.partition("=")
        out.append((k, v if eq else ""))
    return out


def stage_env(doc: Document, instr: Instruction) -> dict[str, str]:
    """ENV and ARG values in effect for ``instr``: its stage's and, for ENV, the stages it is built
    FROM (the external base image's are unknown). See ``semantics.build`` for certainty."""
    st = B.state_before(doc, instr)
    return st.values() if st is not None else {}


def env_truthy(env: dict[str, str], name: str) -> bool:
    v = env.get(name)
    return v is not None and v.strip().strip("'\"").lower() in TRUTHY


def workdir_at(doc: Document, instr: Instruction) -> str:
    """The WORKDIR in effect for ``instr``, inherited from parent stages ("/" when none is set)."""
    st = B.state_before(doc, instr)
    return st.workdir if st is not None else "/"


def user_at(doc: Document, instr: Instruction) -> str | None:
    st = B.state_before(doc, instr)
    return st.user if st is not None else None


def copy_excludes(instr: Instruction) -> list[DI.Pattern]:
    """The ``--exclude`` patterns of a COPY/ADD (a pattern Docker would reject is left out)."""
    out = []
    for f in instr.flags_of("exclude"):
        try:
            out.append(DI.Pattern.make(DI.clean((f.value or "").lstrip("/") or ".")))
        except DI.PatternError:
            pass
    return out


def mounts(instr: Instruction) -> list[dict[str, str]]:
    """Parsed ``--mount`` flags: [{'type': 'cache', 'target': '/root/.cache/pip', ...}]."""
    out = []
    for f in instr.flags_of("mount"):
        d: dict[str, str] = {}
        for part in (f.value or "").split(","):
            k, eq, v = part.partition("=")
            d[k.strip().lower()] = v.strip() if eq else "true"
        d.setdefault("type", "bind")
        if "dst" in d and "target" not in d:
            d["target"] = d["dst"]
        if "destination" in d and "target" not in d:
            d["target"] = d["destination"]
        out.append(d)
    return out


def cache_mount_covers(instr: Instruction, *paths: str) -> bool:
    """True when a cache mount on ``instr`` is at (or above) one of ``paths``."""
    for m in mounts(instr):
        if m.get("type") != "cache":
            continue
        t = posixpath.normpath(m.get("target", "/") or "/")
        for p in paths:
            p = posixpath.normpath(p)
            if p == t or p.startswith(t.rstrip("/") + "/"):
                return True
    return False


def basename(cmd: str) -> str:
    return cmd.rsplit("/", 1)[-1]


def add_syntax_directive(doc: Document) -> Edit | None:
    """Insert ``# syntax=docker/dockerfile:1`` at the top when there is none."""
    if "syntax" in doc.directives:
        return None
    return Edit(0, 0, "# syntax=docker/dockerfile:1" + doc.newline)


image_stages = B.image_stages


def ignore_file(ctx) -> str | None:
    """The ignore file BuildKit reads for this Dockerfile, relative to the context: the
    Dockerfile's own ``<name>.dockerignore`` when it exists, else ``.dockerignore``; None when
    the context is unknown or BuildKit would read a file outside it (nothing we may edit)."""
    if ctx.context_dir is None:
        return None
    if "ignore-file" not in ctx.cache:
        ctx.cache["ignore-file"] = _find_ignore_file(ctx)
    return ctx.cache["ignore-file"]


def _find_ignore_file(ctx) -> str | None:
    if ctx.dockerfile is not None:
        per = os.fspath(ctx.dockerfile) + ".dockerignore"  # <name>.dockerignore next to it
        rel = ctx.relative(per)
        if rel is None:
            return None if os.path.isfile(per) else ".dockerignore"
        if ctx.read_context_file(rel) is not None:
            return rel
    return ".dockerignore"


def ignore_block(current: str, lines: list[str], header: str) -> str:
    """Text appended to an ignore file: ``lines`` under ``header`` (written once per file), in the
    file's own line-ending style, after a final newline and a blank line when needed."""
    nl = "\r\n" if "\r\n" in current else "\n"
    out = []
    if current and not current.endswith("\n"):
        out.append(nl)
    existing = current.splitlines()
    if not any(line.strip() == header for line in existing):
        if existing and existing[-1].strip():
            out.append(nl)
        out.append(header + nl)
    out.extend(line + nl for line in lines)
    return "".join(out)


def norm_path(p: str) -> str:
    """``posixpath.normpath`` that keeps a leading ``/`` single (``//x`` -> ``/x``)."""
    p = posixpath.normpath(p)
    return "/" + p.lstrip("/") if p.startswith("/") else p


def join_path(base: str, p: str) -> str:
    return norm_path(posixpath.join(base, p))


def path_under(p: str, root: str) -> bool:
    return root == "/" or p == root or p.startswith(root.rstrip("/") + "/")
