"""Which stages -- and which of their paths -- end up in the final image.

A stage *ships* wholesale when the image is built on it (the final stage and the stages it is
built ``FROM`` by name) or when a shipping stage takes its whole filesystem (``COPY --from=x /
/``, a bind mount of its root). Otherwise only the paths shipping stages copy out of it ship
(``COPY --from=builder /opt/venv /opt/venv``): its other files -- a pip cache in a builder stage --
are build-cache hygiene, not image size.

Whatever cannot be told statically counts as shipping (the safe side for size claims): a
``--from`` with a variable, a wildcard or variable source path, a stage a partly shipped stage
copies from. ``docker build --target`` picks another final image; like the rest of slimml this
assumes the last stage is the image.

Computed once per document (``Document.__dict__``); rules ask ``path_ships``/``stage_ships``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ..dockerfile import Document, Instruction, Stage, shell_words
from . import build as B

WHOLE = "/"


@dataclass(frozen=True)
class Ship:
    ships: bool
    reason: str  # why it ships, or why it does not


@dataclass
class _StageShip:
    whole: str = ""  # non-empty: the stage ships wholesale, for this reason
    paths: list[tuple[str, str]] = field(default_factory=list)  # (absolute source path, reason)


def _norm(p: str) -> str:
    p = posixpath.normpath("/" + p.lstrip("/"))
    return "/" + p.lstrip("/")


def _resolve_from(doc: Document, ref: str, before: int) -> Stage | None | str:
    """The stage ``--from=ref`` names (by name or index, defined before stage ``before``); None for
    an external image; "?" when it cannot be known (a variable)."""
    if "$" in ref:
        return "?"
    r = ref.strip().lower()
    for st in doc.stages[:before]:
        if st.name == r:
            return st
    if r.isdigit() and int(r) < before:
        return doc.stages[int(r)]
    return None


def _copy_sources(ins: Instruction) -> list[str]:
    if ins.json is not None:
        words = list(ins.json)
    else:
        words = [w for w, _, _ in shell_words(ins.args, raw=False)]
    return words[:-1] if len(words) >= 2 else []


def _mount_froms(ins: Instruction) -> list[tuple[str, str]]:
    """(from, source) of the RUN's mounts that read another stage."""
    out = []
    for f in ins.flags_of("mount"):
        d: dict[str, str] = {}
        for part in (f.value or "").split(","):
            k, eq, v = part.partition("=")
            d[k.strip().lower()] = v.strip() if eq else ""
        if d.get("from"):
            out.append((d["from"], d.get("source") or d.get("src") or "/"))
    return out


def _uses(doc: Document, stage: Stage) -> list[tuple[Instruction, str, list[str]]]:
    """(instruction, --from value, source paths) for every read of another stage in ``stage``."""
    out = []
    for ins in stage.instructions:
        if ins.keyword in ("COPY", "ADD"):
            f = ins.flag("from")
            if f is not None and f.value:
                out.append((ins, f.value, _copy_sources(ins)))
        elif ins.keyword == "RUN":
            for frm, src in _mount_froms(ins):
                out.append((ins, frm, [src]))
    return out


def _compute(doc: Document) -> dict[int, _StageShip]:
    memo = doc.__dict__.get("_ship")
    if memo is not None:
        return memo
    out: dict[int, _StageShip] = {i: _StageShip() for i in range(len(doc.stages))}
    final = doc.final_stage
    if final is None:
        doc.__dict__["_ship"] = out
        return out
    for i in B.image_stages(doc):
        out[i].whole = (
            "it is the final image"
            if i == final.index
            else f"the final image is built FROM it (line {doc.stages[i].from_instruction.start_line})"
        )

    def mark_whole(st: Stage, reason: str) -> bool:
        changed = False
        for s in B.stage_chain(doc, st):
            if not out[s.index].whole:
                out[s.index].whole = reason if s is st else f"{reason}, and that stage is built FROM it"
                changed = True
        return changed

    changed = True
    while changed:  # to a fixpoint: a stage that ships passes shipping on to what it copies from
        changed = False
        for st in doc.stages:
            me = out[st.index]
            if not me.whole and not me.paths:
                continue
            for ins, frm, sources in _uses(doc, st):
                target = _resolve_from(doc, frm, st.index)
                if target is None:
                    continue  # an external image: not a stage of this file
                where = f"line {ins.start_line}"
                if target == "?":
                    for other in doc.stages[: st.index]:
                        changed |= mark_whole(other, f"`--from={frm}` on {where} may name it")
                    continue
                if not me.whole:
                    # The consumer ships only partly: what it copies lands somewhere that may or may
                    # not ship. Not modelled: count the source stage as shipping.
                    changed |= mark_whole(
                        target, f"stage `{st.name or st.index}`, which partly ships, copies from it on {where}"
                    )
                    continue
                for src in sources:
                    if "$" in src or any(c in src for c in "*?["):
                        changed |= mark_whole(target, f"{where} copies `{src}` from it (not resolved statically)")
                        continue
                    p = _norm(src)
                    if p == WHOLE:
                        changed |= mark_whole(target, f"{where} copies its whole filesystem")
                        continue
                    for s in B.stage_chain(doc, target):
                        entry = (p, f"{where} copies `{p}` from it")
                        if entry not in out[s.index].paths:
                            out[s.index].paths.append(entry)
                            changed = True
    doc.__dict__["_ship"] = out
    return out


def stage_ships(doc: Document, stage: Stage | int) -> Ship:
    """Does any of the stage's filesystem reach the final image?"""
    return path_ships(doc, stage, None)


def path_ships(doc: Document, stage: Stage | int, path: str | None) -> Ship:
    """Does ``path`` (absolute, in the stage's filesystem) reach the final image? A copy of an
    ancestor, the path itself or anything below it counts. ``None``: a place slimml cannot tell
    (and for ``stage_ships``: anything of the stage)."""
    idx = stage if isinstance(stage, int) else stage.index
    s = _compute(doc).get(idx)
    if s is None:
        return Ship(True, "unknown stage")
    if s.whole:
        return Ship(True, s.whole)
    if not s.paths:
        return Ship(False, "no shipping stage is built FROM it or copies from it")
    if path is None:
        return Ship(True, s.paths[0][1])
    p = _norm(path)
    for src, why in s.paths:
        if src == p or p.startswith(src.rstrip("/") + "/") or src.startswith(p.rstrip("/") + "/"):
            return Ship(True, why)
    return Ship(False, "only " + ", ".join(f"`{src}`" for src, _ in s.paths) + " is copied out of it")
