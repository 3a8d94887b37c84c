"""Weights copied from the build context: ``COPY``/``ADD`` of weight files or folders (sizes
measured in the context), what a ``COPY . .`` takes along, and local archives ``ADD`` unpacks."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ... import dockerignore as DI
from ...dockerfile import Document, Instruction
from ...knowledge import weights as K
from ...units import human_bytes as human
from ..bake import Bake, build_env, copy_words, dest_of, expand, image_stages, workdir_is
from ..sources import Source


# -- the build context -----------------------------------------------------------------------------------
@dataclass
class Tree:
    files: dict[str, int]  # visible (not .dockerignore'd) files and sizes
    ok: bool  # the context could be read


def context_tree(ctx, ignore_text: str | None) -> Tree:
    key = ("slm010-tree", str(ctx.context_dir), ignore_text)
    if key in ctx.run_cache:
        return ctx.run_cache[key]
    try:
        pats = DI.parse_patterns(ignore_text or "")
    except DI.PatternError:
        pats = []
    files: dict[str, int] = {}
    ok = ctx.context_dir is not None and ctx.context_dir.is_dir()
    if ok:
        for rel, size in ctx.walk_context():
            if not pats or not DI.is_excluded(rel, pats):
                files[rel] = size
    tree = Tree(files, ok)
    ctx.run_cache[key] = tree
    return tree


def is_weight(rel: str) -> bool:
    return K.looks_like_weight_file(rel)


def is_code(rel: str) -> bool:
    return posixpath.splitext(rel)[1].lower() in K.CODE_EXTENSIONS


def copy_bakes(doc: Document, ctx, ins: Instruction, tree: Tree, min_bytes: int) -> list[Bake]:
    words = copy_words(ins)
    if len(words) < 2:
        return []
    env = build_env(doc, ins)
    srcs, (dest_raw, _, _) = words[:-1], words[-1]
    dest_x = expand(dest_raw, env)
    label = f"{ins.keyword_raw.upper()} {' '.join(ins.args.split())}"
    out: list[Bake] = []
    removed: list[int] = []
    for idx, (w, _, _) in enumerate(srcs):
        if w.startswith("<<"):
            continue
        wx = expand(w, env)
        if wx is None:
            continue
        if "://" in wx or wx.startswith("git@"):
            if ins.keyword != "ADD":
                continue
            from .http import add_url

            b = add_url(doc, ins, wx, dest_x, len(srcs) > 1, label)
            if b:
                b.remove_words = [idx]
                out.append(b)
                removed.append(idx)
            continue
        b = None
        if ins.keyword == "ADD" and DI.context_source(wx) in tree.files:
            from .archives import local_archive_bake

            b = local_archive_bake(doc, ctx, ins, DI.context_source(wx), dest_x, min_bytes, label)
        if b is None:
            b = _context_bake(doc, ctx, ins, wx, dest_x, len(srcs) > 1, tree, min_bytes, label)
        if b is not None:
            b.remove_words = [idx] if b.kind in ("context", "archive") else []
            out.append(b)
            if b.kind in ("context", "archive") and not b.problem:
                removed.append(idx)
    if removed and len(removed) == len(srcs):
        for b in out:
            if b.remove_words:
                b.remove_instr = True
    return out


def _file_bake(doc, ins, rel, dest, multi, label, origin, size) -> Bake:
    """A bake of one context file copied to ``dest`` (a folder when ``multi`` or ``dest`` is one)."""
    b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel])
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, is_dir = dest_of(ins, doc, dest)
    t = posixpath.join(dest_abs, posixpath.basename(rel)) if (is_dir or multi) else dest_abs
    b.sources.append(Source("uri", target=t, context_path=rel, origin=origin))
    b.targets.append(t)
    return b


def _context_bake(doc, ctx, ins, src, dest, multi, tree: Tree, min_bytes: int, label: str) -> Bake | None:
    rel = DI.context_source(src)
    origin = f"{label} (line {ins.start_line})"
    if rel == ".":
        return _whole_context_bake(doc, ins, dest, tree, min_bytes, label)
    glob = any(c in rel for c in "*?[")
    if glob:
        try:
            pat = DI.Pattern.make(rel)
        except DI.PatternError:
            return None
        if any(pat.match(a) for f in tree.files for a in _ancestors(f)):
            return None  # the glob names folders: their contents land in the destination, mixed
        hits = {f: s for f, s in tree.files.items() if pat.match(f)}
        if not hits or not all(is_weight(f) for f in hits):
            return None
        size = sum(hits.values())
        if size < min_bytes:
            return None
        b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel])
        if dest is None:
            b.problem = "its destination uses a build argument with no default"
            return b
        dest_abs, _ = dest_of(ins, doc, dest)
        for f in sorted(hits):
            t = posixpath.join(dest_abs, posixpath.basename(f))
            b.sources.append(Source("uri", target=t, context_path=f, origin=origin))
            b.targets.append(t)
        return b
    is_file = rel in tree.files
    under = {f: s for f, s in tree.files.items() if f.startswith(rel + "/")}
    if is_file:
        if not is_weight(rel):
            return None
        size = tree.files[rel]
        if size < min_bytes:
            return None
        return _file_bake(doc, ins, rel, dest, multi, label, origin, size)
    if under:
        weights = {f: s for f, s in under.items() if is_weight(f)}
        wsize = sum(weights.values())
        if not weights or wsize < min_bytes:
            return None
        size = sum(under.values())
        b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel + "/"])
        code = sorted(f for f in under if is_code(f))
        if code:
            b.problem = (
                f"{rel}/ holds {human(wsize)} of weights together with code ({', '.join(code[:3])}): "
                f"move the weights to a folder of their own first"
            )
            b.kind = "mixed"
            return b
        if dest is None:
            b.problem = "its destination uses a build argument with no default"
            return b
        dest_abs, _ = dest_of(ins, doc, dest)
        if dest_abs == "/" or workdir_is(doc, dest_abs) or dest_shared(doc, ins, dest_abs):
            b.problem = (
                f"the contents of {rel}/ are copied into {dest_abs} itself, next to other files: copy them "
                f"into a directory of their own (e.g. {posixpath.join(dest_abs, posixpath.basename(rel))}/) "
                f"so that a volume can be mounted there"
            )
            return b
        b.sources.append(Source("uri", target=dest_abs, is_dir=True, context_path=rel + "/", origin=origin))
        b.targets.append(dest_abs)
        return b
    if not tree.ok and is_weight(rel):
        # No build context to look at (stdin): the extension is all there is; size unknown.
        return _file_bake(doc, ins, rel, dest, multi, label, origin, None)
    return None


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]


def dest_shared(doc: Document, ins: Instruction, dest_abs: str) -> bool:
    """Another COPY/ADD of the image writes into ``dest_abs`` itself."""
    chain = image_stages(doc)
    if ins.stage not in chain:  # a download stage: its own lineage
        from ...semantics.build import stage_chain

        chain = [s.index for s in stage_chain(doc, doc.stages[ins.stage])]
    for other in doc.instructions:
        if other is ins or other.keyword not in ("COPY", "ADD") or other.stage not in chain:
            continue
        words = copy_words(other)
        if len(words) < 2:
            continue
        d, _ = dest_of(other, doc, words[-1][0])
        if d.rstrip("/") == dest_abs.rstrip("/"):
            return True
    return False


def _whole_context_bake(doc, ins, dest, tree: Tree, min_bytes: int, label: str) -> Bake | None:
    """``COPY . .``: the weights inside the context end up in the image with everything else."""
    if not tree.ok:
        return None
    groups: dict[str, list[str]] = {}  # context path (dir/ or file) -> weight files
    for f in sorted(tree.files):
        if not is_weight(f):
            continue
        parts = f.split("/")
        key = f
        for i in range(len(parts) - 1):
            if parts[i].lower() in K.WEIGHT_DIR_NAMES:
                key = "/".join(parts[: i + 1]) + "/"
                break
        groups.setdefault(key, []).append(f)
    chosen: dict[str, int] = {}
    for key, files in groups.items():
        if key.endswith("/"):
            inside = {f: s for f, s in tree.files.items() if f.startswith(key)}
            if any(is_code(f) for f in inside):
                for f in files:  # a code folder: only its weight files
                    chosen[f] = tree.files[f]
            else:
                chosen[key] = sum(inside.values())
        else:
            chosen[key] = tree.files[key]
    chosen = {k: v for k, v in chosen.items() if v >= min_bytes or (k.endswith("/") and v >= min_bytes)}
    if not chosen:
        return None
    size = sum(chosen.values())
    b = Bake(ins, ins.start, ins.end, label, size=size, kind="whole", ignore=sorted(chosen))
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, _ = dest_of(ins, doc, dest)
    origin = f"{label} (line {ins.start_line})"
    for key in sorted(chosen):
        t = posixpath.join(dest_abs, key.rstrip("/"))
        b.sources.append(Source("uri", target=t, is_dir=key.endswith("/"), context_path=key, origin=origin))
        b.targets.append(t)
    return b
