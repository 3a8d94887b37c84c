"""The fix engine: ordering, overlaps, convergence cap, revert of broken output, suppression."""

from __future__ import annotations

import types

import pytest

from slimml.context import Context, Settings
from slimml.engine import STRICT_ENV, Edit, Finding, Fix, NonConvergence, fix_text


def _rule(code, check):
    return types.SimpleNamespace(CODE=code, NAME=code.lower(), check=check)


def test_overlapping_fixes_are_applied_in_later_passes():
    text = "FROM a\nRUN x\n"

    def check(doc, ctx):
        run = doc.instructions[1]
        if "y" not in doc.text:
            yield Finding("T001", "t", "add y", run.start, run.end, Fix.safe(Edit(run.end, run.end, " y")))
        if "z" not in doc.text:
            yield Finding("T001", "t", "add z", run.start, run.end, Fix.safe(Edit(run.end, run.end, " z")))

    r = fix_text(text, Context(), rules=[_rule("T001", check)])
    # Two inserts at one point never land in the same pass (their order would be arbitrary).
    assert r.output in ("FROM a\nRUN x y z\n", "FROM a\nRUN x z y\n")
    assert len(r.applied) == 2


def _grow(doc, ctx):
    yield Finding("T002", "t", "grow", 0, 0, Fix.safe(Edit(len(doc.text), len(doc.text), "# more\n")))


def _once(doc, ctx):
    run = doc.instructions[-1]
    if "y" not in doc.text:
        yield Finding("T005", "t", "add y", run.start, run.end, Fix.safe(Edit(run.end, run.end, " y")))


def test_nonconverging_rule_fails_the_run_in_tests():
    with pytest.raises(NonConvergence, match="T002"):
        fix_text("FROM a\n", Context(), rules=[_rule("T002", _grow)])


def test_nonconverging_rule_is_withheld_and_the_rest_applied(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    r = fix_text("FROM a\nRUN x\n", Context(), rules=[_rule("T002", _grow), _rule("T005", _once)])
    assert r.nonconverged == ["T002"]
    # Never a non-converged text: none of T002's edits is in the output, T005's is.
    assert r.output == "FROM a\nRUN x y\n"
    assert [f.code for f in r.applied] == ["T005"]


def test_fix_that_breaks_the_file_is_reverted_and_others_kept():
    def breaker(doc, ctx):
        if "BROKEN" not in doc.text:
            yield Finding("T003", "t", "break", 0, 0, Fix.safe(Edit(len(doc.text), len(doc.text), "BROKEN thing\n")))

    def shell_breaker(doc, ctx):
        run = doc.instructions[1]
        if "((" not in doc.text:
            yield Finding("T004", "t", "bad shell", run.start, run.end, Fix.safe(Edit(run.end, run.end, " && (( (")))

    def good(doc, ctx):
        if "LABEL" not in doc.text:
            yield Finding("T005", "t", "label", 0, 0, Fix.safe(Edit(len(doc.text), len(doc.text), "LABEL a=b\n")))

    r = fix_text(
        "FROM a\nRUN echo hi\n",
        Context(),
        rules=[_rule("T003", breaker), _rule("T004", shell_breaker), _rule("T005", good)],
    )
    assert r.output == "FROM a\nRUN echo hi\nLABEL a=b\n"
    assert set(r.reverted) == {"T003", "T004"}


def test_unsafe_fixes_need_opt_in():
    def check(doc, ctx):
        if "LABEL" not in doc.text:
            yield Finding(
                "T006", "t", "x", 0, 0, Fix.unsafe(Edit(len(doc.text), len(doc.text), "LABEL a=b\n"), reason="why")
            )

    rules = [_rule("T006", check)]
    r = fix_text("FROM a\n", Context(), rules=rules)
    assert r.output == "FROM a\n" and len(r.unsafe_available) == 1
    r = fix_text("FROM a\n", Context(settings=Settings(unsafe_fixes=True)), rules=rules)
    assert r.output == "FROM a\nLABEL a=b\n" and not r.unsafe_available


def _pip(text, **kw):
    return fix_text(text, Context(settings=Settings(select=("SLM001",), **kw)))


def test_inline_suppression_by_code_prefix_and_all():
    text = (
        "FROM a\n# slimml: ignore[SLM00]\nRUN pip install a\n# slimml: ignore\nRUN pip install b\n"
        "# slimml: ignore[SLM002]\nRUN pip install c\n"
    )
    out = _pip(text).output
    assert "pip install a" in out and "pip install b" in out
    assert "pip install --no-cache-dir c" in out


def test_suppression_needs_the_comment_directly_above():
    text = "FROM a\n# slimml: ignore[SLM001]\n\nRUN pip install a\n"
    assert "--no-cache-dir" in _pip(text).output


def test_file_wide_suppression():
    text = "# slimml: ignore-file\nFROM a\nRUN pip install a\n"
    assert _pip(text).output == text
    text = "FROM a\n# slimml: ignore-file[SLM001]\nRUN pip install a\n"
    assert _pip(text).output == text
    text = "FROM a\n# slimml: ignore-file[SLM002]\nRUN pip install a\n"
    assert _pip(text).output != text


def test_select_and_ignore():
    text = "FROM a\nRUN pip install a\n"
    assert fix_text(text, Context(settings=Settings(ignore=("SLM001",)))).output.count("--no-cache-dir") == 0
    assert fix_text(text, Context(settings=Settings(select=("pip-no-cache",)))).output.count("--no-cache-dir") == 1


def test_unsafe_codes_limit_which_unsafe_fixes_apply():
    def a(doc, ctx):
        if not doc.text.rstrip().endswith(" a"):
            run = doc.instructions[1]
            yield Finding("T006", "t", "a", run.start, run.end, Fix.unsafe(Edit(run.end, run.end, " a"), reason="r"))

    def b(doc, ctx):
        if "#b" not in doc.text:
            run = doc.instructions[1]
            yield Finding(
                "T007", "t", "b", run.start, run.end, Fix.unsafe(Edit(run.start, run.start, "#b\n"), reason="r")
            )

    rules = [_rule("T006", a), _rule("T007", b)]
    only_a = Settings(unsafe_fixes=True, unsafe_codes=frozenset({"T006"}))
    r = fix_text("FROM x\nRUN x\n", Context(settings=only_a), rules=rules)
    assert r.output == "FROM x\nRUN x a\n"
    assert [f.code for f in r.unsafe_available] == ["T007"]
    r = fix_text("FROM x\nRUN x\n", Context(settings=Settings(unsafe_fixes=True)), rules=rules)
    assert r.output == "FROM x\n#b\nRUN x a\n"
