"""`slimml fix --verify` (slimml.proof): which unsafe fixes are kept, with a stand-in for the builds.

The Docker tier (tests/test_proof_docker.py) runs the same decisions against real builds; here a
fake session decides what "verifies" so that every branch of the decision is exercised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from slimml import proof
from slimml.runner import Options

# Two rules with unsafe fixes on this file: SLM002 (--no-install-recommends) and SLM006 (exclude
# data/, copied by COPY . .); the safe rewrite adds -y/update/lists clean-up and python-env.
DOCKERFILE = (
    "FROM python:3.11-slim\nWORKDIR /app\nRUN apt-get update && apt-get install -y curl\n"
    'COPY . .\nCMD ["python3", "app.py"]\n'
)


@dataclass
class FakeResult:
    label: str
    verified: bool
    size: int
    reasons: list[str] = field(default_factory=list)


class FakeSession:
    """Verifies a candidate unless its text/side files show one of the ``breaks`` markers; sizes
    shrink with every marker present, so the kept set is visible in the size."""

    built: list[str] = []

    def __init__(self, breaks, together_breaks=()):
        self.breaks, self.together_breaks = breaks, together_breaks

    def __call__(self, context, before_text, **kw):
        self.before_text = before_text
        FakeSession.built = []
        self.client = None
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def _markers(self, cand) -> set[str]:
        text = cand.text + "".join(cand.side_files.values())
        out = set()
        if "--no-install-recommends" in text:
            out.add("SLM002")
        if "\ndata/" in "\n" + "".join(cand.side_files.values()):
            out.add("SLM006")
        return out

    def verify(self, cand):
        FakeSession.built.append(cand.label)
        m = self._markers(cand)
        bad = [c for c in m if c in self.breaks]
        if set(self.together_breaks) <= m and self.together_breaks:
            bad.append("+".join(self.together_breaks))
        return FakeResult(cand.label, not bad, 1000 - 100 * len(m), [f"breaks: {b}" for b in bad])

    def verify_many(self, cands):
        return [self.verify(c) for c in cands]

    def original(self):
        return None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    # the path is built at run time: slimml cannot see that the app reads data/ (the exclusion is unsafe)
    (tmp_path / "app.py").write_text(
        'import os\nprint(open(os.path.join("".join(map(chr, [100, 97, 116, 97])), "x")).read())\n'
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x").write_text("x")
    return tmp_path


def _prove(project, session):
    proof._size = lambda s, b: 1000  # noqa: SLF001 - the fake has no engine
    return proof.prove(project / "Dockerfile", Options(context=project), jobs=1, session_factory=session)


def _decisions(p):
    return {d.code: d.kept for d in p.decisions}


def test_every_unsafe_fix_that_verifies_is_kept(project):
    p = _prove(project, FakeSession(breaks=()))
    assert _decisions(p) == {"SLM002": True, "SLM006": True}
    assert p.kept == {"SLM002", "SLM006"} and p.exit_code == 0
    assert "--no-install-recommends" in p.report.result.output


def test_a_fix_that_breaks_the_image_is_dropped_with_its_evidence(project):
    p = _prove(project, FakeSession(breaks=("SLM006",)))
    assert _decisions(p) == {"SLM002": True, "SLM006": False}
    dropped = next(d for d in p.decisions if d.code == "SLM006")
    assert "breaks: SLM006" in dropped.why
    # the final rewrite has the kept fix and not the dropped one
    out = p.report.result.output
    sides = "".join(a for _, a in p.report.result.side_files.values())
    assert "--no-install-recommends" in out and "\ndata/" not in "\n" + sides


def test_fixes_that_verify_alone_but_not_together_are_added_one_at_a_time(project):
    p = _prove(project, FakeSession(breaks=(), together_breaks=("SLM002", "SLM006")))
    assert sorted(_decisions(p).values()) == [False, True]  # one of the two is kept
    assert "kept-together" in FakeSession.built
    dropped = next(d for d in p.decisions if not d.kept)
    assert "not together" in dropped.why


def test_when_the_safe_rewrite_does_not_verify_nothing_is_changed(project):
    class SafeBreaks(FakeSession):
        def verify(self, cand):
            r = super().verify(cand)
            if cand.label == "safe":
                return FakeResult("safe", False, 1000, ["run: exit code 1 instead of 0"])
            return r

    p = _prove(project, SafeBreaks(breaks=()))
    assert p.exit_code == 1 and p.report is None and not p.kept
    assert p.safe_reasons == ["run: exit code 1 instead of 0"]


def test_write_applies_exactly_the_kept_fixes(project):
    p = _prove(project, FakeSession(breaks=("SLM002",)))
    rep = proof.write(p, Options(context=project), {}, {})
    text = (project / "Dockerfile").read_text()
    assert rep.written and "--no-install-recommends" not in text and "apt-get update" in text
    assert "data/" in (project / ".dockerignore").read_text()


def test_unknown_context_is_an_error_not_a_guess(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY $SRC /app\nRUN pip install -r /app/r.txt\n")
    p = proof.prove(tmp_path / "Dockerfile", Options(), session_factory=FakeSession(()))
    assert p.exit_code in (0, 2)
    if p.exit_code == 2:
        assert "--context" in p.error
