"""What `slimml fix` prints: the per-file summary, ``--show-fixes``, ``--statistics`` and the JSON report.

Every position is a line (and column) of the file the user has: findings of later fix passes and
those still there after fixing are mapped back to the original text (positions.py). Long reasons
are wrapped under the finding, and a reason that several findings of a rule share is shown once.
Every message goes through ``mask`` before it is wrapped (a wrapped secret could escape the mask).
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from functools import lru_cache

import click

from .units import human_bytes as _human

MAX_WIDTH = 100


def width() -> int:
    """Wrap width: the terminal's (COLUMNS when set), between 60 and 100 columns."""
    return max(60, min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH))


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    # Never break inside a word or at a hyphen: options (--no-install-recommends), paths and
    # commands stay whole, so they can be searched for and copied.
    return textwrap.wrap(
        text,
        width(),
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def fmt_counts(c: Counter) -> str:
    return ", ".join(f"{code} ×{n}" if n > 1 else code for code, n in sorted(c.items()))


def colorize_diff(diff: str) -> str:
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(click.style(line, bold=True))
        elif line.startswith("+"):
            out.append(click.style(line, fg="green"))
        elif line.startswith("-"):
            out.append(click.style(line, fg="red"))
        elif line.startswith("@@"):
            out.append(click.style(line, fg="cyan"))
        else:
            out.append(line)
    return "".join(out)


@lru_cache(maxsize=4096)
def _masked(text: str) -> str:
    """``mask``, once per text: the same messages, reasons and facts recur across the thousands of findings of
    a large file."""
    from .secrets import mask

    return mask(text)


def _code(code: str, color: bool) -> str:
    return click.style(code, fg="red", bold=True) if color else code


def _grouped(items, reason_of, label: str, color: bool, reason_prefix: str) -> list[str]:
    """Findings of one kind, grouped by (rule, reason): each finding (same message: one line with
    all its line numbers), then the shared reason once, wrapped."""
    from .positions import lines_label

    mask = _masked
    groups: dict[tuple[str, str], dict[str, list[int]]] = {}
    for f, line, message in sorted(items, key=lambda i: (i[1], i[0].code)):
        groups.setdefault((f.code, mask(reason_of(f))), {}).setdefault(mask(message), []).append(line)
    out = []
    for (code, reason), messages in groups.items():
        for message, lines in messages.items():
            head = f"  {code} {lines_label(lines)} ({label}): "
            wrapped = _wrap(head + message, "      ", first="")
            out += [wrapped[0].replace(f"  {code} ", f"  {_code(code, color)} ", 1), *wrapped[1:]]
        if reason:
            out += _wrap(reason, "      ", first="      " + reason_prefix)
    return out


def summary_lines(report, write: bool, show_fixes: bool = False, color: bool = False) -> list[str]:
    from .engine import Applicability
    from .positions import OriginalPositions
    from .secrets import mask

    if report.error:
        return [(click.style("error", fg="red", bold=True) if color else "error") + f": {mask(report.error)}"]
    r = report.result
    pos = OriginalPositions(r)
    applied = r.applied_counts()
    verb = "fixed" if write else "would fix"
    parts = []
    if applied:
        parts.append(f"{verb} {sum(applied.values())} ({fmt_counts(applied)})")
    unsafe = Counter(f.code for f in r.unsafe_available)
    if unsafe:
        parts.append(f"{sum(unsafe.values())} unsafe fix(es) available with --unsafe-fixes ({fmt_counts(unsafe)})")
    nofix = [f for f in r.remaining if f.fix is None]
    if not parts and not nofix:
        parts.append("nothing to fix")
    name = click.style(report.display, bold=True) if color else report.display
    lines = [mask(f"{name}: " + "; ".join(parts)) if parts else mask(f"{name}:")]
    if show_fixes:
        lines += _grouped(
            [
                (f, pos.applied_span(f)[0][0], f.fix.description or f.message)
                for f in r.applied
                if f.fix.applicability is Applicability.SAFE
            ],
            lambda f: "",
            "fixed" if write else "would fix",
            color,
            "",
        )
    lines += _grouped(
        [
            (f, pos.applied_span(f)[0][0], f.fix.description or f.message)
            for f in r.applied
            if f.fix.applicability is Applicability.UNSAFE
        ],
        lambda f: f.fix.reason,
        "unsafe fix " + ("applied" if write else "would apply"),
        color,
        "check: ",
    )
    lines += _grouped(
        [(f, pos.remaining_span(f)[0][0], f.message) for f in r.unsafe_available],
        lambda f: f.fix.reason,
        "unsafe fix",
        color,
        "unsafe: ",
    )
    lines += _grouped(
        [(f, pos.remaining_span(f)[0][0], f.message) for f in nofix], lambda f: f.note, "no fix", color, "not fixed: "
    )
    if report.new_files:
        lines += _wrap(
            mask(f"{'created' if write else 'would create'}: {', '.join(report.new_files)}"), "    ", first="  "
        )
    saved = r.estimated_savings()
    if saved:
        lines.append(
            f"  estimated saving (offline estimate; `slimml measure` gives the real number): "
            f"{_human(saved[0])}-{_human(saved[1])}"
        )
    if r.nonconverged:
        lines += _wrap(
            f"warning: fixes of {', '.join(r.nonconverged)} were withheld: they kept producing new fixes "
            "(a slimml defect; please report it); the other fixes were applied",
            "    ",
            first="  ",
        )
    if r.reverted:
        lines += _wrap(
            f"warning: fixes from {', '.join(sorted(set(r.reverted)))} were reverted: they broke the file "
            "(please report this)",
            "    ",
            first="  ",
        )
    return lines


def statistics(reports) -> list[dict]:
    """Per rule over all files: findings fixed (or that would be), with an unsafe fix left, with no fix."""
    from .engine import Applicability

    stats: dict[str, dict] = {}

    def entry(f) -> dict:
        return stats.setdefault(
            f.code,
            {"code": f.code, "name": f.name, "count": 0, "fixed": 0, "unsafe_available": 0, "unfixed": 0, "other": 0},
        )

    for rep in reports:
        r = rep.result
        if r is None:
            continue
        for f in r.applied:
            e = entry(f)
            e["count"] += 1
            e["fixed"] += 1
        for f in r.remaining:
            e = entry(f)
            e["count"] += 1
            if f.fix is None:
                e["unfixed"] += 1
            elif f.fix.applicability is Applicability.UNSAFE:
                e["unsafe_available"] += 1
            else:  # a safe fix withheld (did not converge / reverted)
                e["other"] += 1
    return sorted(stats.values(), key=lambda e: (-e["count"], e["code"]))


def statistics_lines(stats: list[dict], write: bool) -> list[str]:
    if not stats:
        return []
    verb = "fixed" if write else "would fix"
    rows = []
    for e in stats:
        what = [f"{e['fixed']} {verb}"] if e["fixed"] else []
        if e["unsafe_available"]:
            what.append(f"{e['unsafe_available']} unsafe fix available")
        if e["unfixed"]:
            what.append(f"{e['unfixed']} no fix")
        if e["other"]:
            what.append(f"{e['other']} fix withheld")
        rows.append((str(e["count"]), e["code"], e["name"], ", ".join(what)))
    return statistics_table(rows)


def statistics_table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """(count, code, name, what) rows as aligned lines: counts right-aligned, codes and names padded
    (``fix --statistics`` and ``check --statistics``)."""
    w = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    return [f"{c:>{w[0]}}  {code:<{w[1]}}  {name:<{w[2]}}  {what}" for c, code, name, what in rows]


def json_report(reports, write: bool) -> dict:
    from .positions import OriginalPositions

    mask = _masked

    files = []
    for rep in reports:
        entry: dict = {"path": rep.display, "error": mask(rep.error) if rep.error else None}
        if rep.result is not None:
            r = rep.result
            pos = OriginalPositions(r)
            est = r.estimated_savings()

            def fix_json(f) -> dict | None:
                return (
                    None
                    if f.fix is None
                    else {
                        "applicability": f.fix.applicability.value,
                        "description": mask(f.fix.description),
                        "reason": mask(f.fix.reason) or None,
                        "relies_on": [mask(x) for x in f.fix.relies_on],
                    }
                )

            def at(span) -> dict:
                return {"start": list(span[0]), "end": list(span[1])}

            entry.update(
                status=("fixed" if write else "would-fix") if rep.changed else "unchanged",
                context=str(rep.context_dir) if rep.context_dir else None,
                # Found in the original text: positions are the original's.
                findings=[
                    {
                        "code": f.code,
                        "name": f.name,
                        "message": mask(f.message),
                        **at(pos.span(f, 0)),
                        "note": mask(f.note) or None,
                        "fix": fix_json(f),
                        "estimate": None
                        if f.estimate is None
                        else {"low": f.estimate[0], "high": f.estimate[1], "basis": f.estimate_basis},
                    }
                    for f in r.findings
                ],
                # Each fix applied (or that would be), also those of later passes, at its original position.
                fixes=[
                    {"code": f.code, "name": f.name, **at(pos.applied_span(f)), "fix": fix_json(f)} for f in r.applied
                ],
                applied=dict(r.applied_counts()),
                unsafe_available=dict(Counter(f.code for f in r.unsafe_available)),
                unsafe=[
                    {
                        "code": f.code,
                        "name": f.name,
                        "message": mask(f.message),
                        **at(pos.remaining_span(f)),
                        "fix": fix_json(f),
                    }
                    for f in r.unsafe_available
                ],
                unfixed=[
                    {
                        "code": f.code,
                        "name": f.name,
                        "message": mask(f.message),
                        "note": mask(f.note) or None,
                        **at(pos.remaining_span(f)),
                    }
                    for f in r.remaining
                    if f.fix is None
                ],
                estimate=None
                if est is None
                else {"low": est[0], "high": est[1], "basis": est[2], "kind": "offline estimate"},
                new_files=rep.new_files,
                written=rep.written,
                nonconverged=r.nonconverged,
                reverted=sorted(set(r.reverted)),
                diff=rep.diff,
            )
        else:
            entry["status"] = "error"
        files.append(entry)
    return {
        "version": 1,
        "files": files,
        "summary": {
            "files": len(reports),
            "changed": sum(1 for r in reports if r.changed),
            "errors": sum(1 for r in reports if r.error),
            "fixes": sum(sum(r.result.applied_counts().values()) for r in reports if r.result),
        },
    }
