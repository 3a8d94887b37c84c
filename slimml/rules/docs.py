"""Rule documentation from the rule modules' docstrings (feeds `slimml rules` and docs/rules/)."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

from ..dockerfile.model import KNOWN_INSTRUCTIONS

SECTIONS = ("What it does", "Why", "Example", "Use instead")
_INSTRUCTION_RE = re.compile(r"^\s*(#\s*syntax=|(%s)\b)" % "|".join(sorted(KNOWN_INSTRUCTIONS)), re.IGNORECASE)


def rule_entry(rule: ModuleType) -> dict:
    return {
        "code": rule.CODE,
        "name": rule.NAME,
        "summary": rule.SUMMARY,
        "fix": getattr(rule, "FIX", "safe"),
        "options": {k: {"default": v[0], "help": v[1]} for k, v in getattr(rule, "OPTIONS", {}).items()},
        "doc": inspect.cleandoc(rule.__doc__ or ""),
    }


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paras, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


def rule_markdown(rule: ModuleType) -> str:
    """Markdown: title, summary, the docstring sections as headings; paragraphs that are
    Dockerfile snippets (they start with an instruction) become code blocks."""
    lines = inspect.cleandoc(rule.__doc__ or "").splitlines()
    out = [f"# {rule.CODE} `{rule.NAME}`", "", f"{rule.SUMMARY}.", "", f"Fix: {getattr(rule, 'FIX', 'safe')}", ""]
    body: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in lines[1:]:
        if line.strip() in SECTIONS:
            body.append((line.strip(), []))
        else:
            body[-1][1].append(line[4:] if line.startswith("    ") else line)
    for section, content in body:
        if section:
            out += [f"## {section}", ""]
        for para in _paragraphs(content):
            if _INSTRUCTION_RE.match(para[0]):
                out += ["```dockerfile", *para, "```", ""]
            else:
                out += [" ".join(x.strip() for x in para), ""]
    opts = getattr(rule, "OPTIONS", {})
    if opts:
        out += ["## Options", ""]
        for k, (default, help_) in opts.items():
            out.append(f"- `{k}` (default `{str(default).lower()}`): {help_}")
        out.append("")
    out.append(f"Suppress it on one instruction with `# slimml: ignore[{rule.CODE}]` on the line above.")
    return "\n".join(out).rstrip() + "\n"
