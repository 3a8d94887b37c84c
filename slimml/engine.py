"""Findings, fixes as data, and the one engine that applies them.

A rule never touches text: it returns Findings whose Fix is a list of Edits. The engine sorts
them, drops overlapping ones, applies a pass, re-parses, and repeats until nothing changes
(capped). A pass whose output no longer parses -- or whose RUNs no longer parse as shell --
is reverted and its fixes retried one by one, so a buggy rule cannot emit a broken Dockerfile.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from .context import Context
from .dockerfile import DockerfileError, Document, parse, require_stages
from .dockerfile.shell import run_scripts

MAX_PASSES = 12
# Tests set this (tests/conftest.py): a rule that keeps firing on its own output is a defect that
# must fail the run, not be papered over.
STRICT_ENV = "SLIMML_STRICT_CONVERGENCE"


class NonConvergence(RuntimeError):
    """Fixes kept producing new fixes (a rule fires on its own output)."""


class Applicability(str, Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str
    path: str | None = None  # None: the Dockerfile; else a side file (e.g. ".dockerignore") in the context


@dataclass(frozen=True)
class Fix:
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE
    reason: str = ""  # why it is unsafe / what the user should check
    description: str = ""  # what the fix does, for the summary
    # The facts the fix relies on, as established from the Dockerfile and the build context
    # (a fact that cannot be established makes the fix unsafe or withdraws it instead).
    relies_on: tuple[str, ...] = ()

    @staticmethod
    def safe(*edits: Edit, description: str = "", relies_on: tuple[str, ...] = ()) -> Fix:
        return Fix(tuple(edits), Applicability.SAFE, "", description, tuple(relies_on))

    @staticmethod
    def unsafe(*edits: Edit, reason: str, description: str = "", relies_on: tuple[str, ...] = ()) -> Fix:
        return Fix(tuple(edits), Applicability.UNSAFE, reason, description, tuple(relies_on))


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    start: int
    end: int
    fix: Fix | None = None
    note: str = ""  # why no (safe) fix was offered
    estimate: tuple[int, int] | None = None  # bytes saved (low, high), an offline estimate
    estimate_basis: str = ""
    # "error": the build fails as written; "warning": the image is larger/slower than it needs to be;
    # "info": hygiene only (e.g. a cache in a stage that never ships). SARIF/LSP levels map from it.
    severity: str = "warning"


@dataclass
class Result:
    path: str
    original: str
    output: str
    findings: list[Finding]  # found in the original text
    applied: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # still there after fixing
    side_files: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # path -> (before, after)
    nonconverged: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)  # codes whose fix broke the file
    error: str | None = None
    # The pass (0 = on the original text) each ``applied`` finding was found and applied in: a later
    # pass's offsets are in the text the earlier passes made (the report maps them back; positions.py).
    applied_pass: list[int] = field(default_factory=list)
    # False: ``check_text`` -- only ``findings`` (of the original) were computed; nothing was fixed, so
    # ``output``, ``applied`` and ``remaining`` say nothing about what fixing would do.
    fixed: bool = True

    @property
    def changed(self) -> bool:
        return self.output != self.original or any(b != a for b, a in self.side_files.values())

    @property
    def unsafe_available(self) -> list[Finding]:
        return [f for f in self.remaining if f.fix and f.fix.applicability is Applicability.UNSAFE]

    def applied_counts(self) -> Counter:
        return Counter(f.code for f in self.applied)

    def estimated_savings(self) -> tuple[int, int, list[str]] | None:
        """Summed offline estimate (low, high bytes, bases) of the applied fixes; None when none has one."""
        est = [f for f in self.applied if f.estimate is not None]
        if not est:
            return None
        return (
            sum(f.estimate[0] for f in est),
            sum(f.estimate[1] for f in est),
            sorted({f"{f.code}: {f.estimate_basis}" for f in est if f.estimate_basis}),
        )


# -- suppression ---------------------------------------------------------------------------------
_IGNORE_RE = re.compile(r"#\s*slimml:\s*ignore(-file)?(?:\[([A-Za-z0-9_,\s-]*)\])?\s*$")


def _codes(spec: str | None) -> frozenset[str] | None:
    if spec is None:
        return None  # everything
    return frozenset(c.strip().upper() for c in spec.split(",") if c.strip())


def _matches(code: str, codes: frozenset[str] | None) -> bool:
    return codes is None or any(code.startswith(c) for c in codes)


def suppressions(doc: Document) -> tuple[frozenset[str] | None | bool, dict[int, frozenset[str] | None]]:
    """(file-wide codes or False, {instruction index: codes}) from ``# slimml: ignore`` comments."""
    file_codes: frozenset[str] | None | bool = False
    per: dict[int, frozenset[str] | None] = {}
    pending: list[frozenset[str] | None] = []
    for item in doc.items:
        if hasattr(item, "keyword"):
            if pending:
                merged = None if any(p is None for p in pending) else frozenset().union(*pending)
                per[item.index] = merged
            pending = []
            continue
        if item.kind != "comment":
            pending = []
            continue
        m = _IGNORE_RE.search(item.content(doc.text))
        if not m:
            continue
        codes = _codes(m.group(2))
        if m.group(1):
            if file_codes is False or codes is None:
                file_codes = codes
            elif file_codes is not None:
                file_codes = file_codes | codes
        else:
            pending.append(codes)
    return file_codes, per


def _suppressed(f: Finding, doc: Document, file_codes, per) -> bool:
    if file_codes is not False and _matches(f.code, file_codes):
        return True
    if not per:
        return False
    for ins in doc.instructions:
        if (
            ins.index in per
            and ins.line_start <= max(f.start, f.end - 1)
            and f.start < max(ins.line_end, ins.line_start + 1)
        ):
            if _matches(f.code, per[ins.index]):
                return True
    return False


# -- checking ------------------------------------------------------------------------------------
def check(doc: Document, ctx: Context, rules=None) -> list[Finding]:
    """Findings of the selected rules (or of ``rules``), suppressions applied."""
    if rules is None:
        from .rules import selected_rules

        rules = selected_rules(ctx.settings)
    file_codes, per = suppressions(doc)
    out: list[Finding] = []
    for rule in rules:
        if file_codes is not False and _matches(rule.CODE, file_codes):
            continue
        for f in rule.check(doc, ctx):
            if not _suppressed(f, doc, file_codes, per):
                out.append(f)
    out.sort(key=lambda f: (f.start, f.code))
    return out


def _apply_edits(text: str, edits: Iterable[Edit]) -> str:
    parts, pos = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        parts.append(text[pos : e.start])
        parts.append(e.text)
        pos = e.end
    parts.append(text[pos:])
    return "".join(parts)


def _overlaps(a: Edit, b: Edit) -> bool:
    if a.path != b.path:
        return False
    if a.start == a.end and b.start == b.end:
        return a.start == b.start  # two inserts at one point: order would be arbitrary
    return (
        a.start < b.end
        and b.start < a.end
        or (a.start == a.end and b.start < a.start < b.end)
        or (b.start == b.end and a.start < b.start < a.end)
    )


class _Taken:
    """The edits chosen so far, indexed by path and start, so that testing one more edit against
    them looks at the few near it (``_overlaps`` on those) instead of at every one: choosing among
    n fixes is then O(n log n), not O(n^2) (a 10,000-RUN file has thousands of fixes)."""

    def __init__(self) -> None:
        # path -> (sorted range starts, the ranges, sorted insert points, the inserts, longest range)
        self._by_path: dict[str | None, tuple[list[int], list[Edit], list[int], list[Edit], list[int]]] = {}

    def overlaps(self, e: Edit) -> bool:
        idx = self._by_path.get(e.path)
        if idx is None:
            return False
        starts, ranges, points, inserts, longest = idx
        # A range overlaps only when it starts before e ends (or at e, for an insert at its start it does
        # not) and ends after e starts: it starts after ``e.start - longest``.
        j = bisect.bisect_left(starts, max(e.end, e.start + 1)) - 1
        while j >= 0 and starts[j] > e.start - longest[0]:
            if _overlaps(e, ranges[j]):
                return True
            j -= 1
        # An insert overlaps only when it lies in [e.start, e.end].
        lo, hi = bisect.bisect_left(points, e.start), bisect.bisect_right(points, e.end)
        return any(_overlaps(e, inserts[k]) for k in range(lo, hi))

    def add(self, e: Edit) -> None:
        starts, ranges, points, inserts, longest = self._by_path.setdefault(e.path, ([], [], [], [], [0]))
        if e.start == e.end:
            k = bisect.bisect_right(points, e.start)
            points.insert(k, e.start)
            inserts.insert(k, e)
        else:
            k = bisect.bisect_right(starts, e.start)
            starts.insert(k, e.start)
            ranges.insert(k, e)
            longest[0] = max(longest[0], e.end - e.start)


def _choose(fixes: list[Finding]) -> list[Finding]:
    chosen: list[Finding] = []
    taken = _Taken()
    for f in sorted(fixes, key=lambda f: (min(e.start for e in f.fix.edits), f.code)):
        if any(taken.overlaps(e) for e in f.fix.edits):
            continue
        chosen.append(f)
        for e in f.fix.edits:
            taken.add(e)
    return chosen


def _shell_errors(doc: Document) -> int:
    return sum(1 for ins in doc.instructions for s in run_scripts(doc, ins) if s.has_error)


def _valid(text: str, baseline_errors: int) -> Document | None:
    try:
        doc = require_stages(parse(text))
    except DockerfileError:
        return None
    if _shell_errors(doc) > baseline_errors:
        return None
    return doc


def fixable(f: Finding, unsafe: bool, unsafe_codes: frozenset[str] | None = None) -> bool:
    if f.fix is None:
        return False
    if f.fix.applicability is Applicability.SAFE:
        return True
    return unsafe and (unsafe_codes is None or f.code in unsafe_codes)


def fix_text(text: str, ctx: Context, path: str = "<string>", rules=None) -> Result:
    """Check and fix ``text``; pure apart from reading the build context through ``ctx``.

    When fixes do not converge, the rules that kept firing are withheld and the text is fixed again
    without them: a non-converged text is never returned (``Result.nonconverged`` names them).
    Raises DockerfileError when the input itself is not a Dockerfile.
    """
    withheld: set[str] = set()
    committed = dict(ctx.committed)
    while True:
        result = _fix_text(text, ctx, path, rules, withheld)
        if not result.nonconverged:
            break
        if os.environ.get(STRICT_ENV):
            raise NonConvergence(
                f"{path}: fixes of {', '.join(result.nonconverged)} did not converge in {MAX_PASSES} passes"
            )
        withheld |= set(result.nonconverged)
        ctx.committed.clear()
        ctx.committed.update(committed)
    result.nonconverged = sorted(withheld)
    return result


def check_text(text: str, ctx: Context, path: str = "<string>", rules=None, doc: Document | None = None) -> Result:
    """The findings of ``text`` as it is, without fixing it: the findings ``fix_text`` reports (its first
    pass, same context and overlay), at the cost of one pass instead of two or more -- what ``slimml check``
    reports. Nothing is committed to ``ctx`` (no fix is applied), so use ``fix_text`` for a Dockerfile whose
    proposed side files a later Dockerfile of the run reads. Raises DockerfileError as ``fix_text`` does.
    ``doc``: ``text`` already parsed by the caller, not yet checked (rules memoise on a document; one
    checked with another context must not be passed)."""
    doc = require_stages(doc if doc is not None else parse(text))
    ctx.overlay_view = {}  # as in fix_text's first pass: no side file of this file changed yet
    try:
        findings = check(doc, ctx, rules)
    finally:
        ctx.overlay_view = None
    return Result(path=path, original=text, output=text, findings=findings, fixed=False)


def _fix_text(text: str, ctx: Context, path: str, rules, banned_codes: set[str]) -> Result:
    doc = require_stages(parse(text))
    baseline_errors = _shell_errors(doc)
    unsafe = ctx.settings.unsafe_fixes
    side: dict[str, str] = {}
    side_before: dict[str, str | None] = {}
    ctx.overlay_view = side
    result = Result(path=path, original=text, output=text, findings=[])
    banned: set[str] = set(banned_codes)
    current = text
    for npass in range(MAX_PASSES + 1):
        findings = check(doc, ctx, rules)
        if npass == 0:
            result.findings = findings
        todo = [f for f in findings if fixable(f, unsafe, ctx.settings.unsafe_codes) and f.code not in banned]
        if not todo:
            result.remaining = findings
            break
        if npass == MAX_PASSES:
            result.nonconverged = sorted({f.code for f in todo})
            result.remaining = findings
            break
        chosen = _choose(todo)
        new_text, new_side, new_doc = _try_apply(current, side, chosen, ctx, baseline_errors)
        if new_doc is None:
            # Revert the pass; keep the fixes that are fine alone.
            kept = []
            for f in chosen:
                t, s, d = _try_apply(current, side, kept + [f], ctx, baseline_errors)
                if d is None:
                    banned.add(f.code)
                    result.reverted.append(f.code)
                else:
                    kept.append(f)
            chosen = kept
            new_text, new_side, new_doc = _try_apply(current, side, kept, ctx, baseline_errors)
            if new_doc is None:  # pragma: no cover - kept fixes were each verified
                break
        for f in chosen:
            for e in f.fix.edits:
                key = ctx.side_key(e.path) if e.path is not None else None
                if key is not None and key not in side_before:
                    side_before[key] = ctx.read_context_file(e.path, overlay=False)
        side.clear()
        side.update(new_side)
        result.applied.extend(chosen)
        result.applied_pass.extend([npass] * len(chosen))
        current, doc = new_text, new_doc
    result.output = current
    result.side_files = {p: (side_before.get(p), c) for p, c in side.items()}
    ctx.commit_overlay(side)
    ctx.overlay_view = None
    return result


def _try_apply(text: str, side: dict[str, str], chosen: list[Finding], ctx: Context, baseline: int):
    edits = [e for f in chosen for e in f.fix.edits]
    main = [e for e in edits if e.path is None]
    new_text = _apply_edits(text, main)
    new_side = dict(side)
    by_path: dict[str, list[Edit]] = {}
    for e in edits:
        if e.path is not None:
            by_path.setdefault(e.path, []).append(e)
    for rel, es in by_path.items():
        key = ctx.side_key(rel)
        base = new_side.get(key)
        if base is None:
            base = ctx.read_context_file(rel, overlay=False) or ""
        new_side[key] = _apply_edits(base, es)
    doc = _valid(new_text, baseline)
    return new_text, new_side, doc
