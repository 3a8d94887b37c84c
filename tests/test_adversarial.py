"""The adversarial suite (tests/adversarial/README.md): small projects that attack slimml's safe fixes.

Static tier (no Docker): slimml in the default mode and with --unsafe-fixes on each case; the
case's expectations and the invariants of every rewrite must hold.
Docker tier: the original and the default-mode rewrite are built and run; they must behave the
same. The per-class figure ("safe rewrites that changed behaviour") is printed at the end.
"""

from __future__ import annotations

import os

import pytest

from .adversarial import harness

CASES = harness.load_cases()
IDS = [c.name for c in CASES]


def test_suite_covers_every_class():
    counts = {k: sum(1 for c in CASES if c.klass == k) for k in harness.CLASSES}
    assert len(CASES) >= 60
    assert all(counts.values()), f"classes without a case: {[k for k, n in counts.items() if not n]}"


def test_expectations_are_consistent(tmp_path):
    """A forbidden pattern must not match the original (the case would blame slimml for the
    author's text); kept, copied and absent paths must be what the case says; codes must exist."""
    import re

    from slimml.rules import all_rules

    codes = {r.CODE for r in all_rules()}
    bad = []
    for c in CASES:
        root = harness.prepare(c, tmp_path / c.name)
        text = "\n".join((root / df).read_text(encoding="utf-8-sig", errors="replace") for df in c.dockerfiles)
        exp = c.expect
        for rx in exp.get("forbid", []) + exp.get("unsafe_forbid", []):
            if re.search(rx, text, re.M):
                bad.append(f"{c.name}: forbidden pattern {rx!r} already matches the original")
        for key in ("not_safe", "applied", "not_offered"):
            bad += [f"{c.name}: unknown code {x}" for x in exp.get(key, []) if x not in codes]
        for rel in exp.get("kept", []) + exp.get("unsafe_kept", []):
            if not (root / rel).exists():
                bad.append(f"{c.name}: kept path {rel} is not in the case")
        for spec in exp.get("copied_before", []):
            bad += [
                f"{c.name}: copied_before file {f} is not in the case" for f in spec["files"] if not (root / f).exists()
            ]
        for rel in exp.get("absent", []):
            if (root / rel).exists():
                bad.append(f"{c.name}: {rel} should be absent but the case has it")
        for df in c.dockerfiles + list(filter(None, [c.docker.get("child"), c.docker.get("parent")])):
            if not (root / df).is_file():
                bad.append(f"{c.name}: no {df}")
    assert not bad, "\n".join(bad)


def test_dockerignore_oracle():
    """The harness's own .dockerignore matcher (Docker's semantics), checked on known answers."""
    text = "*.onnx\n!keep.onnx\n**/__pycache__\nmodels/\n/data\n**/*.pyc\n"
    ex = harness.dockerignore_excludes
    assert ex(text, "a.onnx") and not ex(text, "keep.onnx") and not ex(text, "sub/a.onnx")
    assert ex(text, "x/y/__pycache__/m.pyc") and ex(text, "models/m.bin") and ex(text, "data/d.csv")
    assert ex(text, "licensing.pyc") and not ex(text, "app.py") and not ex(text, "src/models.py")
    assert ex(".git\n", ".git/HEAD") and not ex(".git\n", "src/.git/HEAD")
    assert not ex("*\n!src/\n", "src/app.py") and ex("*\n!src/\n", "README.md")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_static(case):
    problems = harness.static_problems(case)
    assert not problems, f"{case.name}: {case.description}\n" + "\n".join(f"  - {p}" for p in problems)


@pytest.fixture(scope="session")
def differential_outcomes(request):
    """Builds every selected case once, on a small thread pool sharing the BuildKit cache."""
    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.originalname == "test_differential" and hasattr(item, "callspec")
    }
    cases = [c for c in CASES if c.name in selected]
    jobs = int(os.environ.get("SLIMML_ADVERSARIAL_JOBS", "3"))
    outcomes = harness.run_differential(cases, jobs=jobs)
    yield outcomes
    report = os.environ.get("SLIMML_ADVERSARIAL_REPORT")
    if report:
        import json

        with open(report, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    n: {
                        "status": o.status,
                        "class": o.klass,
                        "rules": o.rules,
                        "detail": o.detail,
                        "seconds": round(o.seconds, 1),
                    }
                    for n, o in outcomes.items()
                },
                fh,
                indent=2,
            )
    if outcomes:  # printed in pytest's terminal summary (output of a fixture teardown is captured)
        request.config.pluginmanager.register(_Summary(list(outcomes.values())), "slimml-adversarial-summary")


class _Summary:
    def __init__(self, outcomes):
        self.outcomes = outcomes

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("slimml adversarial suite: safe rewrites, original vs rewrite")
        for line in harness.summary_lines(self.outcomes):
            terminalreporter.write_line(line)


@pytest.mark.docker
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_differential(case, differential_outcomes):
    o = differential_outcomes[case.name]
    assert o.status in ("same", "unchanged-rewrite"), (
        f"{case.name} [{o.status}]: {case.description}\n{o.detail}\n--- the rewrite ---\n{o.rewrite_diff[-3000:]}"
    )
