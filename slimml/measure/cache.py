"""Rebuild times that can be trusted: measured on a warm build cache the measurement has verified.

After the first builds, both files are built once more without any change: every step must come
from the cache (else the cache did not hold -- pruned by someone, or a step that never caches --
and no speed-up is reported). Then one application file is edited and both are rebuilt; each
step's cache hit is compared with what the edit must rebuild (the steps that copy the file, and
every step after them in their stage and in the stages built on it). A step expected from the
cache that was rebuilt is reported, and the speed-up is withheld.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .plan import _doc, copies_from_context, source_covers

STEP_RE = re.compile(r"^\[(?:(?P<label>\S+) )?(?P<i>\d+)/(?P<n>\d+)\] (?P<text>.*)$")
CLASSIC_RE = re.compile(r"^Step (?P<k>\d+)/(?P<n>\d+) : (?P<text>.*)$")
# The instructions BuildKit shows as numbered steps of a stage (FROM is step 1).
STEP_KEYWORDS = ("FROM", "RUN", "COPY", "ADD", "WORKDIR")
MIN_SECONDS = 1.0  # below this on both sides a ratio of two rebuild times is noise


@dataclass
class Step:
    name: str
    cached: bool
    expected_cached: bool | None  # None: the step could not be matched to the Dockerfile

    def to_json(self) -> dict:
        return {"step": self.name, "cached": self.cached, "expected_cached": self.expected_cached}


def _stage_of(doc, ref: str):
    ref_l = ref.lower()
    for st in doc.stages:
        if st.name and st.name.lower() == ref_l:
            return st
    if ref.isdigit() and int(ref) < len(doc.stages):
        return doc.stages[int(ref)]
    return None


def _bind_sources(ins) -> list[tuple[str | None, str]]:
    """(from, source) of the RUN's bind mounts (from=None: the build context)."""
    out = []
    for f in ins.flags_of("mount"):
        opts = dict(p.split("=", 1) if "=" in p else (p, "") for p in (f.value or "").split(","))
        if opts.get("type", "bind") == "bind":
            out.append((opts.get("from"), opts.get("source") or opts.get("src") or "."))
    return out


def rebuilt_by_change(text: str, rel: str) -> set[tuple[int, int]]:
    """(stage index, step number) of every step an edit of the context file ``rel`` rebuilds."""
    doc = _doc(text)
    dirty_stages: set[int] = set()
    out: set[tuple[int, int]] = set()
    for st in doc.stages:
        parent = _stage_of(doc, st.image)
        dirty = parent is not None and parent.index < st.index and parent.index in dirty_stages
        n = 0
        for ins in st.instructions:
            if ins.keyword not in STEP_KEYWORDS:
                continue
            n += 1
            if ins.keyword in ("COPY", "ADD"):
                src_stage = ins.flag("from")
                if src_stage is not None:
                    other = _stage_of(doc, src_stage.value or "")
                    dirty = dirty or (other is not None and other.index in dirty_stages)
                else:
                    dirty = dirty or copies_from_context(ins, rel)
            elif ins.keyword == "RUN":
                for frm, src in _bind_sources(ins):
                    other = _stage_of(doc, frm) if frm else None
                    if (frm is None and source_covers(src, rel)) or (other is not None and other.index in dirty_stages):
                        dirty = True
            if dirty:
                out.add((st.index, n))
        if dirty:
            dirty_stages.add(st.index)
    return out


def _locate(doc, name: str) -> tuple[int, int, str] | None:
    """(stage index, step number, instruction keyword) of a build log's step name."""
    m = STEP_RE.match(name)
    if m:
        label = m.group("label")
        if label is None:
            stage = doc.stages[-1] if len(doc.stages) == 1 else None
        elif label.startswith("stage-") and label[6:].isdigit():
            stage = doc.stages[int(label[6:])] if int(label[6:]) < len(doc.stages) else None
        else:
            stage = _stage_of(doc, label)
        if stage is None:
            return None
        return stage.index, int(m.group("i")), m.group("text").split(None, 1)[0].upper()
    m = CLASSIC_RE.match(name)
    if m:  # the classic builder numbers every instruction of the file
        k = int(m.group("k"))
        flat = [(st, ins) for st in doc.stages for ins in st.instructions]
        if len(flat) != int(m.group("n")) or not 0 < k <= len(flat):
            return None
        st, ins = flat[k - 1]
        if ins.keyword not in STEP_KEYWORDS:
            return st.index, 0, ins.keyword
        n = [i for i in st.instructions if i.keyword in STEP_KEYWORDS].index(ins) + 1
        return st.index, n, ins.keyword
    return None


def classify(step_cache: list[tuple[str, bool]], text: str, rel: str | None) -> list[Step]:
    """The build's steps (FROM left out), each with whether an edit of ``rel`` should leave it
    cached (``rel`` None: nothing changed, every step should be cached)."""
    doc = _doc(text)
    dirty = rebuilt_by_change(text, rel) if rel else set()
    out = []
    for name, cached in step_cache:
        where = _locate(doc, name)
        if where is not None and (where[2] == "FROM" or where[1] == 0):
            continue
        if where is None and name.split("] ", 1)[-1].upper().startswith("FROM "):
            continue
        expected = None if where is None else (where[0], where[1]) not in dirty
        out.append(Step(name, cached, expected))
    return out


def unexpected(steps: list[Step]) -> list[str]:
    """Steps that should have come from the cache and were rebuilt."""
    return [s.name for s in steps if s.expected_cached and not s.cached]


def speedup(before: float | None, after: float | None, verified: bool) -> tuple[float | None, str | None]:
    """The rebuild speed-up, or None with the reason it is not reported."""
    if before is None or after is None:
        return None, "a rebuild failed"
    if not verified:
        return None, "the build cache was not verified warm: no speed-up is reported"
    if max(before, after) < MIN_SECONDS:
        return None, f"both rebuilds take under {MIN_SECONDS:.0f} s: no meaningful difference"
    if after <= 0:
        return None, "no time measured"
    return round(before / after, 1), None
