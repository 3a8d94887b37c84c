"""`slimml check` reports the findings of each file as it is, so it only checks (engine.check_text) instead of
fixing to a fixpoint -- except a file whose proposed side files a later file of the same context reads.
These tests hold the shortcut to what the full analysis reports."""

from __future__ import annotations

import pytest

from slimml import parallel, runner
from slimml.engine import check_text, fix_text
from slimml.io import read_source
from slimml.migrate import check as chk

from .fixture_cases import discover
from .test_cache import DOCKERFILE

CASES = discover()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_text_finds_what_the_first_pass_of_fix_text_finds(case):
    text = read_source(case.dockerfile).text
    full = fix_text(text, case.context(), str(case.dockerfile))
    only = check_text(text, case.context(), str(case.dockerfile))
    assert only.findings == full.findings
    assert not only.fixed and full.fixed
    assert only.output == text and not only.applied and not only.side_files


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """Two Dockerfiles in one context: the first proposes a .dockerignore (the weights folder), which the
    second one reads."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLIMML_CACHE_DIR", str(tmp_path / "store"))
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "models" / "w.bin").write_bytes(b"\0" * 10)
    (root / "requirements.txt").write_text("numpy==1.26.4\n")
    (root / "entrypoint.sh").write_text("#!/bin/sh\nexec python app.py\n")
    (root / "app.py").write_text("print(1)\n")
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "Dockerfile.gpu").write_text(DOCKERFILE.replace("3.11-slim", "3.11"))
    return root


def _json(reports) -> str:
    return chk.render(reports, "json", "0")[0]


def test_a_file_whose_side_files_a_later_file_reads_is_still_fixed(shared):
    files = [shared / "Dockerfile", shared / "Dockerfile.gpu"]
    assert parallel.last_of_context(files, runner.Options(findings_only=True)) == [False, True]
    only = runner.run_fix(files, runner.Options(findings_only=True))
    full = runner.run_fix(files, runner.Options())
    assert [r.result.fixed for r in only] == [True, False]
    assert _json(only) == _json(full)
    # The shortcut matters here: the second file checked alone (nothing proposed before it) differs.
    assert full[0].result.side_files
    alone = runner.run_fix([files[1]], runner.Options(findings_only=True))
    assert alone[0].result.findings != full[1].result.findings


def test_check_prints_no_diff_and_fix_still_does(shared):
    only = runner.run_fix([shared / "Dockerfile"], runner.Options(findings_only=True))
    full = runner.run_fix([shared / "Dockerfile"], runner.Options())
    assert only[0].diff == "" and full[0].diff.startswith("--- a/")
    assert only[0].result.findings == full[0].result.findings


def test_a_cached_check_result_is_not_served_to_fix(shared):
    """check_text's result holds no fixes: its cache entry has its own key."""
    df = shared / "Dockerfile"
    runner.run_fix([df], runner.Options(findings_only=True, cache=True))
    fixed = runner.run_fix([df], runner.Options(cache=True))
    assert fixed[0].result.fixed and fixed[0].result.applied and fixed[0].diff
