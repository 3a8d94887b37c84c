"""Findings -> LSP diagnostics (ranges in the client's position encoding, codes linked to the rule docs)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from ..engine import Finding
from ..secrets import mask
from .analysis import Analysis
from .positions import LineIndex

SOURCE = "slimml"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
# The rule pages live in the repository (docs/rules/, generated from the rule docstrings).
_DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "rules"


def rule_doc_url(code: str, docs_url: str | None) -> str | None:
    """``docsUrl`` + ``CODE.md`` when the editor names where the docs are published, else the page in this checkout."""
    if docs_url:
        return docs_url.rstrip("/") + f"/{code}.md"
    page = _DOCS_DIR / f"{code}.md"
    return page.as_uri() if page.is_file() else None


def message(f: Finding) -> str:
    text = f.message
    if f.fix is None:
        text += f" (not fixed automatically: {f.note})" if f.note else " (no automatic fix)"
    elif f.fix.applicability.value == "unsafe":
        text += " (unsafe fix available)"
    return mask(text)


def to_diagnostic(f: Finding, index: LineIndex, docs_url: str | None) -> types.Diagnostic:
    url = rule_doc_url(f.code, docs_url)
    return types.Diagnostic(
        range=index.range(f.start, f.end),
        # Rules may carry a severity (e.g. info for layers that never ship); slimml's findings are warnings.
        severity=_SEVERITY.get(getattr(f, "severity", "warning"), types.DiagnosticSeverity.Warning),
        code=f.code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=SOURCE,
        message=message(f),
        data={"code": f.code, "start": f.start, "end": f.end},
    )


def diagnostics(a: Analysis, encoding: str, docs_url: str | None = None) -> list[types.Diagnostic]:
    index = LineIndex(a.text, encoding)
    if a.error:
        # A config error is shown on the first line of the Dockerfile it stops from being checked.
        line = max((a.error_line or 1) - 1, 0)
        start = types.Position(line, 0)
        end = index.position(index.content_ends[min(line, len(index.content_ends) - 1)])
        return [
            types.Diagnostic(
                range=types.Range(start, end),
                severity=types.DiagnosticSeverity.Error,
                source=SOURCE,
                message=mask(a.error),
            )
        ]
    return [to_diagnostic(f, index, docs_url) for f in a.findings]
