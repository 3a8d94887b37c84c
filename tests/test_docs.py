"""docs/rules/ is generated from the rule docstrings and must be current."""

from pathlib import Path

from slimml.docsgen import pages
from slimml.rules import all_rules
from slimml.rules.docs import SECTIONS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules"


def test_rule_docs_are_current():
    for name, text in pages().items():
        page = DOCS / name
        assert page.exists() and page.read_text(encoding="utf-8") == text, (
            f"docs/rules/{name} is stale: run `python -m slimml.docsgen`"
        )


def test_every_rule_documents_all_sections():
    for r in all_rules():
        doc = r.__doc__ or ""
        for s in SECTIONS:
            assert f"\n{s}\n" in doc, f"{r.CODE}: docstring lacks the '{s}' section"
        assert r.CODE.startswith("SLM") and len(r.CODE) == 6 and r.NAME and r.SUMMARY
