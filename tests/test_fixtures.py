"""Every fixture: expected output, idempotence, BuildKit agreement, untouched text kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.dockerfile import parse
from slimml.engine import fixable
from slimml.io import read_source
from slimml.rules import get_rule

from .fixture_cases import discover
from .oracle import assert_agrees

CASES = discover()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case):
    source = read_source(case.dockerfile)
    assert_agrees(source.text)
    result = case.run()
    assert result.output == case.expected_output()
    assert not result.reverted and not result.nonconverged
    if case.findings is not None:
        doc = parse(source.text)
        assert sorted(f"{f.code}:{doc.line_col(f.start)[0]}" for f in result.findings) == sorted(case.findings)

    # Side files: each changed one equals expected.<name> (`.dockerignore` -> expected.dockerignore),
    # and every expected.<name> is produced; nothing else changes.
    changed = {Path(k).name: after for k, (before, after) in result.side_files.items() if before != after}
    expected = {
        (
            p.name[len("expected") :] if p.name == "expected.dockerignore" else p.name[len("expected.") :]
        ): p.read_bytes().decode("utf-8")
        for p in case.dir.glob("expected.*")
        if p.name != "expected.Dockerfile"
    }
    assert changed == expected

    # The output is read by BuildKit exactly as we think, and a second run changes nothing.
    assert_agrees(result.output)
    again = case.run(result.output, committed={k: v[1] for k, v in result.side_files.items()})
    assert again.output == result.output
    assert not [f for f in again.findings if fixable(f, case.settings.unsafe_fixes)]
    assert all(after == (again.side_files.get(k, (None, after))[1]) for k, (_, after) in result.side_files.items())

    # Instructions that no applied edit touched are kept byte for byte.
    doc = parse(source.text)
    touched = [(e.start, e.end) for f in result.applied for e in f.fix.edits if e.path is None]
    for ins in doc.instructions:
        if not any(s <= ins.end and ins.line_start <= e for s, e in touched):
            assert ins.text(source.text) in result.output


def test_every_rule_has_fixtures_and_a_noop_case():
    from slimml.rules import all_rules

    by_rule: dict[str, list] = {}
    for c in CASES:
        by_rule.setdefault(c.rule, []).append(c)
    for rule in all_rules():
        cases = by_rule.get(rule.NAME, [])
        assert len(cases) >= 3, f"{rule.NAME}: needs several fixture pairs"
        assert any(not (c.dir / "expected.Dockerfile").exists() for c in cases), f"{rule.NAME}: no no-op case"
        if getattr(rule, "FIX", "safe") == "none":  # report only: a case must show what it finds
            assert any(c.findings for c in cases), f"{rule.NAME}: no case with findings"
            continue
        assert any(list(c.dir.glob("expected.*")) for c in cases), f"{rule.NAME}: no fix case"


def test_fixture_folders_name_real_rules():
    for c in CASES:
        assert c.rule == "all" or get_rule(c.rule) is not None, c.id


@pytest.mark.parametrize("unsafe", [False, True])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_all_rules_together_on_every_fixture(case, unsafe):
    """Rules interact (merge-runs after apt-hygiene, deps-before-source moving RUNs ...): with every
    rule on, each fixture still converges, never reverts, agrees with BuildKit and is idempotent."""
    from slimml.context import Settings

    case.settings = Settings(unsafe_fixes=unsafe, rule_options=case.settings.rule_options)
    result = case.run()
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    again = case.run(result.output, committed={k: v[1] for k, v in result.side_files.items()})
    assert again.output == result.output
    assert not [f for f in again.findings if fixable(f, unsafe)]
