"""Rendering a measurement: text (terminal), markdown (PR comments, docs) and JSON (bulk use)."""

from __future__ import annotations

from ..knowledge import targets
from ..units import human_bytes as human
from .run import ImageReport, MeasureReport

JSON_VERSION = 1
TOP_LAYERS = 3


def _secs(s: float | None) -> str:
    return "-" if s is None else f"{s:.1f} s"


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _pipe(text: str) -> str:
    return text.replace("|", "\\|")


def layer_rows(img: ImageReport) -> list[tuple[str, int, bool]]:
    """(instruction, size, is_base) with the base image's layers folded into one row."""
    rows = []
    base = [la for la in img.layers if la.base]
    if base:
        n = len(base)
        rows.append((f"base image {img.base} ({n} layer{'' if n == 1 else 's'})", sum(la.size for la in base), True))
    rows += [(la.instruction, la.size, False) for la in img.layers if not la.base]
    return rows


def largest(img: ImageReport, n: int = TOP_LAYERS) -> list[tuple[str, int]]:
    own = [(la.instruction, la.size) for la in img.layers if not la.base]
    return sorted(own, key=lambda r: -r[1])[:n]


def image_targets(img: ImageReport) -> dict:
    """The seed's targets (< 3 GB, cold build < 5 min) for one measured image."""
    return targets.judge(img.size, img.build_seconds, img.cold)


def _targets_text(r: MeasureReport) -> list[str]:
    return [
        f"targets   {'before' if img.label == 'before' else 'after '}  {targets.line(image_targets(img))}"
        for img in (r.before, r.after)
        if img is not None
    ]


def _verdict_lines(v) -> list[str]:
    out = []
    for c in v.checks:
        out.append(f"  {c.status.upper():<5} {c.name:<12} {c.summary}")
        for e in c.evidence:
            out.append(f"        {e}")
    out.append(f"result: {v.verdict}")
    return out


def _rebuild_text(rb: dict) -> list[str]:
    def side(name: str) -> str:
        n, k = rb.get(f"{name}_steps"), rb.get(f"{name}_cached_steps")
        cached = f" ({k} of {n} steps cached)" if n is not None else ""
        return f"{_secs(rb.get(f'{name}_seconds'))}{cached}"

    if rb.get("speedup"):
        tail = f", {rb['speedup']}x faster (warm cache verified)"
    else:
        tail = f"; {rb['no_speedup_reason']}" if rb.get("no_speedup_reason") else ""
    out = [f"rebuild   after editing {rb['file']}: before {side('before')}, after {side('after')}{tail}"]
    out += [f"  warning: {w}" for w in rb.get("warnings") or []]
    return out


def _other_line(r: MeasureReport) -> str | None:
    plan = r.plan
    if plan is not None and plan.other is not None:
        return f"comparing with: {plan.other}; builder: {r.builder or '-'}"
    if plan is not None and plan.applied:
        codes = ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in sorted(plan.applied.items()))
        unsafe = f" (unsafe: {', '.join(plan.unsafe_applied)})" if plan.unsafe_applied else ""
        return f"rewrite: {codes}{unsafe}; builder: {r.builder or '-'}"
    return None


def to_text(r: MeasureReport) -> str:
    lines = [f"slimml measure: {r.dockerfile}" + (f" (context {r.context})" if r.context else "")]
    other = _other_line(r)
    if other:
        lines.append(other)
    for n in r.notes:
        lines.append(f"note: {n}")
    if r.before:
        lines.append("")
        sc = r.size_change
        if r.after and sc:
            lines.append(
                f"size      before {human(sc['before'])} ({sc['before']:,} B)   after {human(sc['after'])} "
                f"({sc['after']:,} B)   {-sc['saved_percent']:+.1f}% ({human(-sc['saved'])})"
            )
            lines.append(
                f"build     {'cold' if r.before.cold else 'with cache'}: before "
                f"{_secs(r.before.build_seconds)}, after {_secs(r.after.build_seconds)}"
            )
        else:
            lines.append(f"size      before {human(r.before.size)} ({r.before.size:,} B)")
        lines += _targets_text(r)
        if r.rebuild:
            lines += _rebuild_text(r.rebuild)
        for img in (r.before, r.after):
            if img is None:
                continue
            lines += [
                "",
                f"layers of the {'original' if img.label == 'before' else r.other_label} ({img.tag})",
                f"  {'SIZE':>9}  INSTRUCTION",
            ]
            for instr, size, _ in layer_rows(img):
                lines.append(f"  {human(size):>9}  {_short(instr)}")
            top = largest(img)
            if top:
                lines.append("  largest: " + "; ".join(f"{_short(i, 50)} ({human(s)})" for i, s in top))
    if r.failure:
        what = "the other Dockerfile" if r.other_label != "rewrite" else "the rewritten Dockerfile"
        lines += ["", f"{what} does not build: {r.failure.get('step') or 'build'}", f"  {r.failure.get('error')}"]
        lines += [f"  | {x}" for x in r.failure.get("log_tail") or []]
        lines.append(f"result: FAIL (the {r.other_label} does not build)")
    if r.verification is not None:
        lines += ["", "verification"] + _verdict_lines(r.verification)
    if r.kept:
        lines += ["", "kept: " + ", ".join(r.kept)]
    return "\n".join(lines) + "\n"


def to_markdown(r: MeasureReport) -> str:
    out = [f"### slimml measure: `{r.dockerfile}`", ""]
    if r.plan is not None and r.plan.other is not None:
        out += [f"Compared with `{r.plan.other}`; builder: {r.builder or '-'}.", ""]
    elif r.plan is not None and r.plan.applied:
        codes = ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in sorted(r.plan.applied.items()))
        out.append(
            f"Rewrite: {codes}"
            + (f" (unsafe: {', '.join(r.plan.unsafe_applied)})" if r.plan.unsafe_applied else "")
            + f"; builder: {r.builder or '-'}."
        )
        out.append("")
    for n in r.notes:
        out += [f"> {n}", ""]
    if r.error:
        out += [f"**Error:** {r.error}", ""]
    sc = r.size_change
    if r.before and r.after and sc:
        out += [
            "| | before | after | change |",
            "|---|---:|---:|---:|",
            f"| image size | {human(sc['before'])} | {human(sc['after'])} | {-sc['saved_percent']:+.1f}% |",
            f"| build ({'cold' if r.before.cold else 'cached'}) | {_secs(r.before.build_seconds)} | "
            f"{_secs(r.after.build_seconds)} | |",
        ]
        tb, ta = image_targets(r.before), image_targets(r.after)
        for key, name in (("size", targets.SIZE_TARGET_TEXT), ("build", targets.BUILD_TARGET_TEXT)):
            out.append(f"| {name} | {_target_cell(tb[key])} | {_target_cell(ta[key])} | |")
        if r.rebuild:
            rb = r.rebuild
            change = f"{rb['speedup']}x faster" if rb.get("speedup") else (rb.get("no_speedup_reason") or "-")
            out.append(
                f"| rebuild after editing `{rb['file']}` | {_secs(rb['before_seconds'])} | "
                f"{_secs(rb['after_seconds'])} | {_pipe(change)} |"
            )
        out.append("")
        if r.rebuild and r.rebuild.get("warnings"):
            out += [f"> warning: {w}" for w in r.rebuild["warnings"]] + [""]
        for img in (r.before, r.after):
            out += [
                f"<details><summary>Layers of the {'original' if img.label == 'before' else r.other_label}</summary>",
                "",
                "| size | instruction |",
                "|---:|---|",
            ]
            out += [f"| {human(s)} | `{_pipe(_short(i))}` |" for i, s, _ in layer_rows(img)]
            out += ["", "</details>", ""]
    if r.failure:
        what = "other" if r.other_label != "rewrite" else "rewritten"
        out += [
            f"**The {what} Dockerfile does not build:** `{r.failure.get('step')}`",
            "",
            "```",
            *(r.failure.get("log_tail") or []),
            "```",
            "",
        ]
    if r.verification is not None:
        v = r.verification
        out += [f"**Verification: {v.verdict}**", "", "| check | result | |", "|---|---|---|"]
        for c in v.checks:
            out.append(f"| {c.name} | {c.status.upper()} | {_pipe(c.summary)} |")
        ev = [(c.name, e) for c in v.checks if c.status in ("fail", "warn") for e in c.evidence]
        if ev:
            out += ["", "Evidence:", ""] + [f"- {n}: {e}" for n, e in ev]
        out.append("")
    return "\n".join(out) + "\n"


def _target_cell(v: dict) -> str:
    return targets.mark(v["met"]) if v["met"] is not None else v["why"]


def _image_json(img: ImageReport | None) -> dict | None:
    if img is None:
        return None
    return {
        "tag": img.tag,
        "id": img.image_id,
        "size": img.size,
        "build_seconds": img.build_seconds,
        "cold": img.cold,
        "builder": img.builder,
        "base": img.base,
        "steps": img.steps,
        "cached_steps": img.cached_steps,
        "layers": [{"instruction": la.instruction, "size": la.size, "base": la.base} for la in img.layers],
        "largest": [{"instruction": i, "size": s} for i, s in largest(img)],
        "targets": image_targets(img),
    }


def to_json(r: MeasureReport) -> dict:
    plan = r.plan
    return {
        "version": JSON_VERSION,
        "dockerfile": r.dockerfile,
        "context": r.context,
        "exit_code": r.exit_code,
        "error": r.error,
        "error_detail": r.error_detail or None,
        "notes": r.notes,
        "mode": "after" if plan is not None and plan.other is not None else "rewrite",
        "other": str(plan.other) if plan is not None and plan.other is not None else None,
        "rewrite": None
        if plan is None
        else {
            "changed": plan.changed,
            "applied": plan.applied,
            "unsafe_applied": plan.unsafe_applied,
            "side_files": sorted(rel for rel, (b, a) in plan.side_files.items() if b != a),
            "diff": plan.diff,
        },
        "builder": r.builder,
        "before": _image_json(r.before),
        "after": _image_json(r.after),
        "size": r.size_change,
        "rebuild": r.rebuild,
        "build_failure": r.failure,
        "verification": None if r.verification is None else r.verification.to_json(),
        "verdict": ("FAIL" if r.failure else r.verification.verdict if r.verification is not None else None),
        "kept": r.kept,
        "repair": r.repair,
    }
