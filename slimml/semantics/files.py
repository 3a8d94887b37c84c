"""Which files COPY/ADD put where, and where a file a RUN runs came from.

``copies(doc, instr)`` reads one COPY/ADD as (context source, image destination, how) entries;
``origin(doc, ctx, instr, path)`` walks back from ``instr`` through its stage and the stages it is
built FROM to the instruction that last put ``path`` into the image: a context file (its text can
be read), a heredoc (its body), or something slimml cannot see (a RUN wrote it, a URL, another
stage, the base image).
"""

from __future__ import annotations

import bisect
import posixpath
from dataclasses import dataclass

from ..dockerfile import Document, Instruction, shell_words
from . import build as B


@dataclass(frozen=True)
class CopyEntry:
    src: str  # context-relative (".", "scripts", "install.sh"); for heredocs the heredoc name
    dest: str  # absolute path in the image
    how: str  # "file" (dest is the file), "into" (dest is a directory receiving it), "dir" (contents)
    heredoc: str | None = None  # the body, for ``COPY <<EOF``


@dataclass(frozen=True)
class Origin:
    kind: str  # "context" | "heredoc" | "unknown"
    rel: str | None = None  # context-relative path (kind "context")
    text: str | None = None  # heredoc body, or the context file's text when readable
    why: str = ""  # for "unknown": what put it there
    instr: Instruction | None = None
    from_stage: bool = False  # "unknown" because a COPY --from (another stage or image) put it there


def operands(instr: Instruction) -> list[str]:
    """The words of a COPY/ADD (sources and destination), quotes removed as BuildKit does."""
    if instr.is_exec_form:
        return list(instr.json or ())
    return [w for w, _, _ in shell_words(instr.args, raw=False)]


def copies(doc: Document, instr: Instruction) -> list[CopyEntry] | None:
    """The entries of a COPY/ADD from the build context; None when they cannot be told (a
    variable, a URL, ``--from``, a wildcard). Once per document and instruction (``origin`` asks
    about every earlier COPY for each path it traces)."""
    memo = doc.__dict__.setdefault("_files_copies", {})
    # By identity (an ONBUILD's inner COPY shares its index), holding the instruction so the id stays its own.
    hit = memo.get(id(instr))
    if hit is None:
        hit = memo[id(instr)] = (instr, _copies(doc, instr))
    return None if hit[1] is None else list(hit[1])


def _copies(doc: Document, instr: Instruction) -> list[CopyEntry] | None:
    if instr.keyword not in ("COPY", "ADD") or instr.flag("from") is not None:
        return None
    ops = operands(instr)
    if not ops or len(ops) < 2:
        return None
    st = B.state_before(doc, instr)
    workdir = st.workdir if st else "/"
    dest_raw = ops[-1]
    if "$" in dest_raw:
        e = B.expand(dest_raw, st.env if st else {}, doc.escape)
        if not e.certain:
            return None
        dest_raw = e.value
    dest = posixpath.normpath(posixpath.join(workdir, dest_raw))
    srcs = ops[:-1]
    as_dir = dest_raw.endswith("/") or len(srcs) > 1 or dest_raw in (".", "./")
    if instr.heredocs:
        bodies = {h.name: h.body(doc.text) for h in instr.heredocs}
        out = []
        for s in srcs:
            name = s.lstrip("<-").strip("'\"")
            if name in bodies:
                out.append(CopyEntry(name, posixpath.join(dest, name) if as_dir else dest, "file", bodies[name]))
        return out
    out = []
    for s in srcs:
        if "$" in s or "://" in s or s.startswith("git@") or any(c in s for c in "*?["):
            return None
        rel = posixpath.normpath(s.lstrip("/")) if s.strip("/") else "."
        while rel.startswith("../"):
            rel = rel[3:]
        if rel in ("..", "."):
            rel = "."
        out.append(CopyEntry(rel, dest, "dir" if rel == "." else ("into" if as_dir else "file?")))
    return out


def _stage_copies(doc: Document, stage) -> tuple[list[Instruction], list[int]]:
    """The COPY/ADD instructions of ``stage`` and their indexes, once per document and stage."""
    memo = doc.__dict__.setdefault("_files_stage_copies", {})
    found = memo.get(stage.index)
    if found is None:
        ins = [i for i in stage.instructions if i.keyword in ("COPY", "ADD")]
        found = memo[stage.index] = (ins, [i.index for i in ins])
    return found


def _earlier_copies(doc: Document, instr: Instruction) -> list[Instruction]:
    """The COPY/ADD instructions before ``instr`` in its stage and in the stages it is built FROM, nearest
    first (only those: ``origin`` is asked for many RUNs, and a walk over every earlier instruction per call
    made long files quadratic)."""
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    copies_, indexes = _stage_copies(doc, stage)
    out = copies_[: bisect.bisect_left(indexes, instr.index)][::-1]
    for parent in B.stage_chain(doc, stage)[1:]:
        out.extend(reversed(_stage_copies(doc, parent)[0]))
    return out


def origin(doc: Document, ctx, instr: Instruction, path: str) -> Origin:
    """Where ``path`` (absolute, in the image) came from, as seen by ``instr``."""
    path = posixpath.normpath(path)
    for ins in _earlier_copies(doc, instr):
        entries = copies(doc, ins)
        if entries is None:
            if _may_cover(doc, ins, path):
                if ins.flag("from") is not None:
                    return Origin(
                        "unknown",
                        why=f"line {ins.start_line} copies it from another stage or image",
                        instr=ins,
                        from_stage=True,
                    )
                return Origin(
                    "unknown",
                    why=f"line {ins.start_line} ({ins.keyword} with a variable, a URL or a "
                    "wildcard) may have put it there",
                    instr=ins,
                )
            continue
        for e in reversed(entries):
            rel = _match(ctx, e, path)
            if rel is None:
                continue
            if e.heredoc is not None:
                return Origin("heredoc", text=e.heredoc, instr=ins)
            text = ctx.read_context_file(rel) if ctx is not None and ctx.context_dir is not None else None
            if text is None:
                return Origin("unknown", rel=rel, why=f"`{rel}` could not be read from the build context", instr=ins)
            return Origin("context", rel=rel, text=text, instr=ins)
    return Origin("unknown", why=f"`{path}` is not copied from the build context (the base image or a RUN made it)")


def _match(ctx, e: CopyEntry, path: str) -> str | None:
    """The context path of ``path`` if entry ``e`` put it there."""
    if e.heredoc is not None:
        return e.src if path == e.dest else None
    if e.how == "dir":
        if path == e.dest or not path.startswith(e.dest.rstrip("/") + "/"):
            return None
        return path[len(e.dest.rstrip("/")) + 1 :]
    if e.how == "into":
        if ctx is not None and ctx.context_dir is not None and ctx.is_dir(e.src):
            # a directory source: its contents land in the destination (COPY never copies the directory itself)
            if path.startswith(e.dest.rstrip("/") + "/"):
                return posixpath.join(e.src, path[len(e.dest.rstrip("/")) + 1 :])
            return None
        base = posixpath.join(e.dest, posixpath.basename(e.src))
        if path == base:
            return e.src
        if path.startswith(base + "/"):
            return posixpath.join(e.src, path[len(base) + 1 :])
        return None
    # "file?": a file to exactly dest, or a directory copied to dest, or a file into an existing dir
    is_dir = ctx is not None and ctx.context_dir is not None and ctx.is_dir(e.src)
    if is_dir:
        if path.startswith(e.dest.rstrip("/") + "/"):
            return posixpath.join(e.src, path[len(e.dest.rstrip("/")) + 1 :])
        return None
    if path == e.dest or path == posixpath.join(e.dest, posixpath.basename(e.src)):
        return e.src
    return None


def _may_cover(doc: Document, ins: Instruction, path: str) -> bool:
    ops = operands(ins) or []
    if not ops:
        return True
    dest = ops[-1]
    if "$" in dest:
        return True
    st = B.state_before(doc, ins)
    d = posixpath.normpath(posixpath.join(st.workdir if st else "/", dest))
    return path == d or path.startswith(d.rstrip("/") + "/") or posixpath.dirname(path) == d
