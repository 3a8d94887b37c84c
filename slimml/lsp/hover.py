"""Hover on a finding's range: the rule's documentation, as `slimml rules CODE` prints it."""

from __future__ import annotations

from lsprotocol import types

from ..rules import get_rule
from ..rules.docs import rule_markdown
from .analysis import Analysis
from .positions import LineIndex


def hover(a: Analysis, pos: types.Position, encoding: str) -> types.Hover | None:
    index = LineIndex(a.text, encoding)
    offset = index.offset(pos)
    hits = [f for f in a.findings if f.start <= offset <= f.end]
    if not hits:
        return None
    docs, seen = [], set()
    for f in hits:
        rule = get_rule(f.code)
        if rule is not None and f.code not in seen:
            seen.add(f.code)
            docs.append(rule_markdown(rule).rstrip())
    if not docs:
        return None
    first = min(hits, key=lambda f: f.end - f.start)  # the innermost finding under the cursor
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(docs)),
        range=index.range(first.start, first.end),
    )
