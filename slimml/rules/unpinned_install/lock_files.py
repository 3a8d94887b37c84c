"""Where a project's lock file is when its install runs, how to bring it there, and which installer version the
image has: the facts locks.py judges an install by.

``presence``: the lock is in the image at the install (copied from the build context and not left out by the
ignore file, a heredoc, or bind-mounted into the RUN), absent (with why: not in the context, excluded, not copied
before the install) or unknown (another stage, a variable or wildcard COPY, an unknown build context).
``copy_fix``: the lock added to the COPY that brings the project file, where that COPY's shape lets a second source
land next to it. ``tool_version``: the installer's version as the Dockerfile pins it (``pip install uv==0.2.5``,
``COPY --from=ghcr.io/astral-sh/uv:0.4.0``, ``FROM ghcr.io/astral-sh/uv:0.4.0-python3.11-bookworm``, astral's
versioned install script)."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

from ... import dockerignore as DI
from ...dockerfile import Document, Instruction, shell_words
from ...dockerfile.shell import run_scripts
from ...engine import Edit
from ...semantics import build as B
from ...semantics import files as F
from .. import _helpers as H


@dataclass(frozen=True)
class Presence:
    state: str  # "image" | "absent" | "unknown"
    why: str = ""
    rel: str | None = None  # the lock's context path (when it is, or could be, copied from the context)
    text: str | None = None  # its text, when it is in the image and readable
    in_context: bool = False  # the context holds it and the ignore file lets it through


def excluded_by(ctx, rel: str) -> str | None:
    """The ignore file leaving ``rel`` out of the build context, or None."""
    from ..copy_ignored import _ignore  # the ignore file BuildKit reads, parsed as copy-ignored reads it

    ign = _ignore(ctx)
    if ign is not None and DI.is_excluded(rel, ign[1]):
        return ign[0]
    return None


def in_context(ctx, rel: str) -> bool:
    return ctx.context_dir is not None and ctx.is_file(rel) and excluded_by(ctx, rel) is None


def _bind_mounted(doc: Document, ins: Instruction, path: str) -> str | None:
    """The context path a ``RUN --mount=type=bind`` (no ``from``) puts at ``path``, or None."""
    if ins.keyword != "RUN":
        return None
    workdir = H.workdir_at(doc, ins)
    for m in H.mounts(ins):
        if m.get("type") != "bind" or m.get("from") or "$" in m.get("target", "$") + m.get("source", ""):
            continue
        target = H.join_path(workdir, m["target"])
        src = DI.context_source(m.get("source") or m.get("src") or ".")
        if path == target:
            return src
        if H.path_under(path, target) and path != target:
            sub = path[len(target.rstrip("/")) + 1 :]
            return posixpath.normpath(posixpath.join(src, sub)) if src != "." else sub
    return None


def _glob_copy(doc: Document, ctx, c: Instruction, path: str) -> str | None:
    """The context path a wildcard COPY (``COPY pyproject.toml poetry.lock* ./``) puts at ``path``, or None."""
    if c.keyword not in ("COPY", "ADD") or c.flag("from") is not None or c.json is not None or c.heredocs:
        return None
    ops = F.operands(c)
    if len(ops) < 2 or "$" in "".join(ops):
        return None
    st = B.state_before(doc, c)
    dest = H.join_path(st.workdir if st else "/", ops[-1])
    if not (ops[-1].endswith("/") or len(ops) > 2 or ops[-1] in (".", "./")):
        return None
    if posixpath.dirname(path) != dest:
        return None
    for s in ops[:-1]:
        rel = DI.context_source(s)
        cand = posixpath.normpath(posixpath.join(posixpath.dirname(rel), posixpath.basename(path)))
        if fnmatch.fnmatchcase(cand, rel):
            return cand
    return None


def presence(doc: Document, ctx, ins: Instruction, path: str) -> Presence:
    """Whether the lock file at ``path`` (absolute, in the image) is there when ``ins`` runs."""
    src = _bind_mounted(doc, ins, path)
    if src is not None:
        return _from_context(ctx, src, "bind-mounted into the RUN")
    o = F.origin(doc, ctx, ins, path)
    if o.kind == "heredoc":
        return Presence("image", "written by a heredoc", text=o.text)
    if o.kind == "context" and o.rel is not None:
        return _from_context(ctx, o.rel, f"copied at line {o.instr.start_line}" if o.instr else "copied")
    if o.instr is not None:
        rel = _glob_copy(doc, ctx, o.instr, path)
        if rel is not None:
            if ctx.context_dir is None:
                return Presence("unknown", "the build context is unknown", rel=rel)
            # a wildcard that matches nothing copies nothing (BuildKit allows it): absent then
            return _from_context(ctx, rel, f"copied at line {o.instr.start_line}")
        if o.rel is not None and ctx.context_dir is not None and not ctx.exists(o.rel):
            return _from_context(ctx, o.rel, "")
        if o.rel is None or ctx.context_dir is None:
            return Presence("unknown", o.why or "the build context is unknown", rel=o.rel)
        return Presence("unknown", o.why, rel=o.rel)
    return Presence("absent", "not copied into the image before the install")


def _from_context(ctx, rel: str, how: str) -> Presence:
    if ctx.context_dir is None:
        return Presence("unknown", "the build context is unknown", rel=rel)
    if not ctx.is_file(rel):
        return Presence("absent", f"`{rel}` is not in the build context", rel=rel)
    ign = excluded_by(ctx, rel)
    if ign is not None:
        return Presence("absent", f"`{rel}` is left out of the build context by {ign}", rel=rel)
    return Presence("image", how, rel=rel, text=ctx.read_context_file(rel), in_context=True)


# -- bringing the lock in with the project file ------------------------------------------------------------------
_SAFE_COPY_FLAGS = frozenset({"chown", "chmod", "link"})


def copy_fix(doc: Document, ctx, ins: Instruction, manifest: str, lock_name: str) -> tuple[list[Edit], str] | None:
    """(edit, context path of the lock) adding the lock to the COPY that puts ``manifest`` (absolute, in the image)
    there before ``ins``, when the lock is in the context next to the project file and that COPY copies *into* a
    directory, from the context, in shell form, with plain words; None otherwise."""
    if ctx.context_dir is None or ctx.context_note:
        return None
    o = F.origin(doc, ctx, ins, manifest)
    c = o.instr
    if o.kind != "context" or c is None or o.rel is None or c.keyword != "COPY" or c.json is not None or c.heredocs:
        return None
    if any(f.name not in _SAFE_COPY_FLAGS for f in c.flags):
        return None
    lock_rel = posixpath.normpath(posixpath.join(posixpath.dirname(o.rel), lock_name))
    if not in_context(ctx, lock_rel):
        return None
    entries = F.copies(doc, c) or []
    hit = [e for e in entries if e.src == o.rel]
    if len(hit) != 1 or hit[0].how != "into":
        return None  # a file copied to a file name, or a directory: a second source would not land next to it
    lock_path = posixpath.join(posixpath.dirname(manifest), lock_name)
    if posixpath.join(hit[0].dest, lock_name) != lock_path:
        return None
    for w, a, b in shell_words(c.args, raw=True):
        if w != w.strip("'\"\\$`") or any(ch in w for ch in "'\"\\$`*?["):
            continue
        if DI.context_source(w) == o.rel:
            s, e = c.args_span(a, b)
            spelled = w[: len(w) - len(posixpath.basename(w))] + lock_name
            slash = H.dest_as_directory(c)  # two sources need `dest/` (the classic builder)
            return [Edit(e, e, " " + spelled), *([slash] if slash else [])], lock_rel
    return None


# -- the installer's version ---------------------------------------------------------------------------------------
_UV_IMAGE = "ghcr.io/astral-sh/uv"
_UV_SCRIPT = re.compile(r"astral\.sh/uv/(\d+\.\d+\.\d+)/install\.sh")
_VERSION_TAG = re.compile(r"^(\d+\.\d+(?:\.\d+)?)(?:-|$)")


@dataclass(frozen=True)
class ToolVersion:
    state: str  # "pinned" | "range" (version holds the specifier) | "newest" (unpinned: today's release) | "unknown"
    version: str = ""
    how: str = ""


def _image_version(ref: str) -> ToolVersion | None:
    from ...knowledge import images as IMG

    img = IMG.parse_image(ref)
    if img.normalized != _UV_IMAGE:
        return None
    m = _VERSION_TAG.match(img.tag or "")
    if m:
        return ToolVersion("pinned", m.group(1), f"the image {ref}")
    return ToolVersion("newest", how=f"the image {ref} (its newest uv)")


def tool_version(doc: Document, ins: Instruction, tool: str) -> ToolVersion:
    """The version of ``tool`` the stage of ``ins`` has, as the instructions before it pin it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from ...knowledge import sizes as S

    stage = doc.stage_of(ins)
    if stage is None:
        return ToolVersion("unknown")
    found = ToolVersion("unknown")
    chain = list(reversed(B.stage_chain(doc, stage)))
    if tool == "uv":
        v = _image_version(B.from_image(doc, chain[0]))
        if v is not None:
            found = v
    for st in chain:
        for i in st.instructions:
            if i.index >= ins.index and st is stage:
                break
            if tool == "uv" and i.keyword == "COPY" and i.flag("from") is not None:
                v = _image_version(i.flag("from").value or "")
                if v is not None:
                    found = v
            if i.keyword != "RUN":
                continue
            for s in run_scripts(doc, i):
                m = _UV_SCRIPT.search(s.source) if tool == "uv" else None
                if m:
                    found = ToolVersion("pinned", m.group(1), f"astral's install script for {m.group(1)}")
                for cmd in s.commands:
                    argv = cmd.effective_argv()
                    if not argv or not re.match(r"^(pip[\d.]*|pipx|python[\d.]*|uv)$", H.basename(argv[0])):
                        continue
                    if "install" not in argv:
                        continue
                    for w in argv[argv.index("install") + 1 :]:
                        r = S.parse_requirement(w)
                        if r is None or r.name != tool:
                            continue
                        spec = r.spec.split(";", 1)[0].strip()
                        if not spec:
                            found = ToolVersion("newest", how=f"`{' '.join(argv[:2])} {w}` (unpinned)")
                            continue
                        try:
                            ss = SpecifierSet(spec)
                        except InvalidSpecifier:
                            found = ToolVersion("unknown", how=f"`{w}`")
                            continue
                        pins = [x.version for x in ss if x.operator in ("==", "===") and "*" not in x.version]
                        if pins:
                            found = ToolVersion("pinned", pins[0], f"`{w}` at line {i.start_line}")
                        else:
                            found = ToolVersion("range", spec, f"`{w}` at line {i.start_line}")
    return found


def may_lack(v: ToolVersion, since: str) -> str | None:
    """Why the tool may be older than ``since`` (the first version with the option), or None when it is not."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        floor = Version(since)
        if v.state == "pinned":
            return f"{v.how} pins {v.version}, older than {since}" if Version(v.version) < floor else None
        if v.state == "range":
            ss = SpecifierSet(v.version)
            # pip installs the newest version the range allows: an upper bound below the floor keeps it older.
            uppers = [Version(x.version) for x in ss if x.operator in ("<", "<=") and "*" not in x.version]
            if uppers and min(uppers) <= floor:
                return f"{v.how} allows only versions before {since}"
            return None
    except InvalidVersion:
        return f"{v.how} does not name a version slimml can compare"
    return None
