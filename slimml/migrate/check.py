"""`slimml check`: detect only, for CI -- text, JSON, SARIF 2.1.0 (GitHub code scanning) and GitHub
workflow annotations. Every message goes through ``mask``.

SARIF notes: one run, tool ``slimml`` with every rule in ``tool.driver.rules`` (id, name, short
and full description, markdown help from the rule docs); results point at the instruction with
1-based lines and columns counted in Unicode code points (``columnKind``); paths are relative to
the current directory under ``%SRCROOT%`` -- run ``slimml check`` from the repository root, as
GitHub's upload action expects. Files that could not be checked become tool execution
notifications (``executionSuccessful: false``).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from ..secrets import mask

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def actionable(findings) -> bool:
    """Whether findings fail `slimml check`: every one does except pure information -- severity info with no
    fix (SLM013's "this project uses a GPU: the CUDA wheels stay, and cost this much")."""
    return any(f.severity != "info" or f.fix is not None for f in findings)


@lru_cache(maxsize=4)
def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts: once per text (a count per finding made long files quadratic)."""
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _lc(text: str, off: int) -> tuple[int, int]:
    off = max(0, min(off, len(text)))
    starts = _line_starts(text)
    line = bisect.bisect_right(starts, off)
    return line, off - starts[line - 1] + 1


def span(text: str, start: int, end: int) -> dict:
    """1-based start/end line and column (end column exclusive); never empty, never ending on
    the next line's column 1."""
    while end > start and text[end - 1] in "\r\n":
        end -= 1
    if end <= start:
        nl = text.find("\n", start)
        line_end = len(text) if nl < 0 else nl
        if line_end > start and text[line_end - 1] == "\r":
            line_end -= 1
        end = min(start + 1, line_end) if line_end > start else start
    sl, sc = _lc(text, start)
    el, ec = _lc(text, end)
    if (el, ec) == (sl, sc):
        ec = sc + 1
    return {"line": sl, "column": sc, "end_line": el, "end_column": ec}


def collect(paths: list[Path], opts) -> list:
    from ..runner import run_fix

    return run_fix(paths, opts)


def findings_json(reports) -> dict:
    files = []
    n = 0
    for rep in reports:
        entry: dict = {"path": rep.display, "error": rep.error, "findings": []}
        if rep.result is not None:
            text = rep.result.original
            for f in rep.result.findings:
                s = span(text, f.start, f.end)
                entry["findings"].append(
                    {
                        "code": f.code,
                        "name": f.name,
                        "severity": f.severity,
                        "message": mask(f.message),
                        **s,
                        "fix": None if f.fix is None else f.fix.applicability.value,
                        "note": mask(f.note) or None,
                        "estimate": None
                        if f.estimate is None
                        else {"low": f.estimate[0], "high": f.estimate[1], "basis": f.estimate_basis},
                    }
                )
            n += len(entry["findings"])
        files.append(entry)
    return {
        "version": 1,
        "files": files,
        "summary": {"files": len(reports), "findings": n, "errors": sum(1 for r in reports if r.error)},
    }


def text_lines(reports, color: bool = False) -> list[str]:
    """One line per finding (``path:line:col: CODE [name] message (fix kind)``); ``color``: as ruff's."""
    if color:
        import click

        def paint(text: str, **style) -> str:
            return click.style(text, **style)
    else:

        def paint(text: str, **style) -> str:
            return text

    kind_style = {"safe fix": {"fg": "green"}, "unsafe fix": {"fg": "yellow"}, "no fix": {"dim": True}}
    out = []
    for rep in reports:
        if rep.error:
            out.append(f"{paint('error', fg='red', bold=True)}: {mask(rep.error)}")  # it names the file
            continue
        text = rep.result.original
        for f in rep.result.findings:
            s = span(text, f.start, f.end)
            fix = "no fix" if f.fix is None else f"{f.fix.applicability.value} fix"
            note = f" -- {mask(f.note)}" if f.note and f.fix is None else ""
            where = paint(f"{rep.display}:{s['line']}:{s['column']}:", bold=True)
            out.append(
                f"{where} {paint(f.code, fg='red', bold=True)} [{f.name}] {mask(f.message)} "
                f"({paint(fix, **kind_style[fix])}){note}"
            )
    return out


def _gh_prop(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _gh_msg(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_lines(reports) -> list[str]:
    """GitHub Actions workflow commands: one ``::warning`` annotation per finding, ``::error`` per
    file that could not be checked."""
    out = []
    for rep in reports:
        path = Path(rep.display).as_posix()
        if rep.error:
            out.append(f"::error file={_gh_prop(path)},title=slimml::{_gh_msg(mask(rep.error))}")
            continue
        text = rep.result.original
        for f in rep.result.findings:
            s = span(text, f.start, f.end)
            props = [f"file={_gh_prop(path)}", f"line={s['line']}", f"endLine={s['end_line']}"]
            if s["line"] == s["end_line"]:
                props += [f"col={s['column']}", f"endColumn={s['end_column']}"]
            props.append(f"title={_gh_prop(f'{f.code} {f.name}')}")
            fix = (
                ""
                if f.fix is None
                else (
                    " (fix: `slimml fix --write`)"
                    if f.fix.applicability.value == "safe"
                    else " (fix: `slimml fix --write --unsafe-fixes`, review it)"
                )
            )
            level = {"error": "error", "info": "notice"}.get(f.severity, "warning")
            out.append(f"::{level} {','.join(props)}::{_gh_msg(mask(f.message) + fix)}")
    return out


def _uri(display: str) -> tuple[str, str | None]:
    p = Path(display)
    if p.is_absolute() or display.startswith(".."):
        return Path(os.path.abspath(display)).as_uri(), None
    return quote(p.as_posix()), "%SRCROOT%"


def _rule_descriptor(rule) -> dict:
    from ..rules.docs import rule_markdown

    return {
        "id": rule.CODE,
        "name": rule.NAME,
        "shortDescription": {"text": rule.SUMMARY},
        "fullDescription": {"text": rule.SUMMARY + "."},
        "help": {
            "text": f"{rule.SUMMARY}. Run `slimml rules {rule.CODE}` for details.",
            "markdown": rule_markdown(rule),
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["docker", "image-size", "maintainability"],
            "precision": "high",
            "fix": getattr(rule, "FIX", "safe"),
        },
    }


def sarif(reports, version: str) -> dict:
    from ..rules import all_rules

    rules = list(all_rules())
    index = {r.CODE: i for i, r in enumerate(rules)}
    results, notes = [], []
    for rep in reports:
        uri, base = _uri(rep.display)
        loc = {"uri": uri, **({"uriBaseId": base} if base else {})}
        if rep.error:
            notes.append(
                {
                    "level": "error",
                    "message": {"text": mask(rep.error)},
                    "locations": [{"physicalLocation": {"artifactLocation": loc}}],
                }
            )
            continue
        text = rep.result.original
        for f in rep.result.findings:
            s = span(text, f.start, f.end)
            snippet = text[f.start : f.end]
            fp = hashlib.sha256(
                f"{f.code}\0{Path(rep.display).as_posix()}\0{' '.join(snippet.split())}".encode()
            ).hexdigest()
            res = {
                "ruleId": f.code,
                "level": {"error": "error", "info": "note"}.get(f.severity, "warning"),
                "message": {
                    "text": mask(f.message)
                    + (f" Not fixed automatically: {mask(f.note)}" if f.fix is None and f.note else "")
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": loc,
                            "region": {
                                "startLine": s["line"],
                                "startColumn": s["column"],
                                "endLine": s["end_line"],
                                "endColumn": s["end_column"],
                            },
                        }
                    }
                ],
                "partialFingerprints": {"slimmlFinding/v1": fp[:32]},
                "properties": {"fix": None if f.fix is None else f.fix.applicability.value},
            }
            if f.code in index:
                res["ruleIndex"] = index[f.code]
            if f.estimate is not None:
                res["properties"]["estimatedSavingBytes"] = {"low": f.estimate[0], "high": f.estimate[1]}
            results.append(res)
    run = {
        "tool": {
            "driver": {
                "name": "slimml",
                "version": version,
                "semanticVersion": version,
                "rules": [_rule_descriptor(r) for r in rules],
            }
        },
        "columnKind": "unicodeCodePoints",
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
        "invocations": [{"executionSuccessful": not notes, "toolExecutionNotifications": notes}],
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def statistics(reports) -> list[dict]:
    """Per rule over all files: findings, and how many have a safe fix, an unsafe fix, no fix (as ruff's
    ``--statistics``), most frequent first."""
    stats: dict[str, dict] = {}
    for rep in reports:
        for f in rep.result.findings if rep.result is not None else ():
            e = stats.setdefault(
                f.code, {"code": f.code, "name": f.name, "count": 0, "safe": 0, "unsafe": 0, "none": 0}
            )
            e["count"] += 1
            e["none" if f.fix is None else f.fix.applicability.value] += 1
    return sorted(stats.values(), key=lambda e: (-e["count"], e["code"]))


def statistics_lines(stats: list[dict]) -> list[str]:
    from ..fixreport import statistics_table

    rows = []
    for e in stats:
        what = [
            f"{e[k]} {label}"
            for k, label in (("safe", "safe fix"), ("unsafe", "unsafe fix"), ("none", "no fix"))
            if e[k]
        ]
        rows.append((str(e["count"]), e["code"], e["name"], ", ".join(what)))
    return statistics_table(rows)


def error_lines(reports) -> list[str]:
    return [f"error: {mask(r.error)}" for r in reports if r.error]


def render(reports, fmt: str, version: str, statistics: bool = False, color: bool = False) -> tuple[str, str]:
    """(stdout text, stderr summary). ``statistics``: per-rule counts (text or json) instead of findings;
    ``color``: the text format's findings coloured."""
    n = sum(len(r.result.findings) for r in reports if r.result is not None)
    errors = sum(1 for r in reports if r.error)
    files = sum(1 for r in reports if r.result is not None and r.result.findings)
    summary = (
        f"{n} finding(s) in {files} of {len(reports)} file(s)"
        + (f", {errors} error(s)" if errors else "")
        + ("; `slimml fix --write` fixes the safe ones" if n else "")
    )
    from ..jsonout import dumps  # json.dumps(..., indent=2), text for text, without its pure-Python encoder

    if statistics:
        stats = globals()["statistics"](reports)  # the function, not this flag
        if fmt == "json":
            return dumps(stats) + "\n", summary  # as `fix --statistics --format json`; errors go to stderr
        lines = [*error_lines(reports), *statistics_lines(stats)]
        return ("\n".join(lines) + "\n") if lines else "", summary
    if fmt == "json":
        return dumps(findings_json(reports)) + "\n", summary
    if fmt == "sarif":
        return dumps(sarif(reports, version)) + "\n", summary
    if fmt == "github":
        lines = github_lines(reports)
        return ("\n".join(lines) + "\n") if lines else "", summary
    lines = text_lines(reports, color)
    return ("\n".join(lines) + "\n") if lines else "", summary
