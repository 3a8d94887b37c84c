"""benchmarks/reach.py: its table adds up, and its "needs a structural rewrite" test says what it should.

No Docker: the script runs slimml in-process as a dry run. The outcome per file (rewritten or refused)
is not asserted -- it changes as the rules improve -- only that every count in the report agrees with
the per-file records and with itself.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THREE = ["pip-psycopg-feature-api", "poetry-no-venv-full", "pip-slim-sklearn-clean"]


@pytest.fixture(scope="module")
def reach():
    spec = importlib.util.spec_from_file_location("reach_bench", ROOT / "benchmarks" / "reach.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reach_bench"] = mod  # dataclasses look their module up while the file runs
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def three(reach):
    rows = reach.run(THREE)
    return rows, reach.summarise(rows)


def test_counts_add_up(three):
    rows, s = three
    assert [r.name for r in rows] == sorted(THREE)
    need = [r for r in rows if r.needs]
    assert s["files"] == 3
    assert s["need"] == len(need)
    assert s["rewritten"] + s["refused"] == s["need"]
    assert s["rewritten"] == sum(1 for r in need if r.applied)
    assert sum(x["files"] for x in s["reasons"]) == s["refused"]
    assert all(x["mentions"] >= x["files"] for x in s["reasons"])
    assert s["ratio"] == round(s["rewritten"] / s["need"], 3)
    assert sum(s["by_code"].values()) >= s["rewritten"]
    for key in ("files", "need", "rewritten", "refused"):
        assert sum(v[key] for v in s["stacks"].values()) == s[key if key != "files" else "files"]


def test_every_needing_file_is_rewritten_or_has_a_reason(three):
    rows, _ = three
    for r in rows:
        if not r.needs:
            assert r.primary is None
        elif r.applied:
            assert r.primary is None and set(r.applied) <= {"SLM007", "SLM008"}
            assert r.after_base
        else:
            code, reason = r.primary
            assert code in {"SLM007", "SLM008", "-", "ERR"} and reason


def test_classifier_matches_the_hand_labels(three):
    rows, s = three
    assert {r.name: r.needs for r in rows} == {r.name: r.label for r in rows}
    assert s["label_disagreements"] == []
    by = {r.name: r for r in rows}
    assert by["pip-psycopg-feature-api"].why == ["build packages: gcc, libpq-dev"]
    assert by["poetry-no-venv-full"].why == ["full python base python:3.10"]
    assert by["pip-slim-sklearn-clean"].why == []


def test_markdown_header_and_json_agree(reach, capsys):
    reach.main(["--only", ",".join(THREE), "--json"])
    data = json.loads(capsys.readouterr().out)
    s = data["summary"]
    reach.main(["--only", ",".join(THREE)])
    md = capsys.readouterr().out
    row = re.search(r"^\| (\d+) \| (\d+) \| (\d+) \((\d+) / (\d+)\) \| (\d+) \| (\S+) \|$", md, re.M)
    assert row, md
    files, need, rewritten, by8, by7, refused, pct = row.groups()
    assert (int(files), int(need), int(rewritten), int(refused)) == (
        s["files"],
        s["need"],
        s["rewritten"],
        s["refused"],
    )
    assert (int(by8), int(by7)) == (s["by_code"].get("SLM008", 0), s["by_code"].get("SLM007", 0))
    assert pct == f"{s['ratio']:.0%}"
    # one line per file in the Files table
    assert sum(1 for name in THREE if re.search(rf"^\| {re.escape(name)} \|", md, re.M)) == 3


def test_final_image_test_follows_stage_chains_and_args(reach):
    needs = reach.final_image_needs
    assert needs("FROM python:3.11-slim\nRUN pip install flask\n") == (False, [])
    assert needs("FROM python:3.11\n")[0]
    # the final stage is what ships: build tools in a builder stage do not count ...
    multi = "FROM python:3.11 AS b\nRUN apt-get install -y gcc\nFROM python:3.11-slim\nCOPY --from=b /x /x\n"
    assert needs(multi) == (False, [])
    # ... but a final stage built FROM that builder inherits them
    chained = "FROM python:3.11-slim AS b\nRUN apt-get install -y --no-install-recommends gcc\nFROM b\n"
    assert needs(chained) == (True, ["build packages: gcc"])
    arg = "ARG CUDA=12.1.0\nFROM nvidia/cuda:${CUDA}-cudnn8-devel-ubuntu22.04\n"
    assert needs(arg) == (True, ["CUDA devel base nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"])
    assert needs("FROM nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04\nRUN apt-get install -y libgomp1\n")[0] is False
    # git alone is not a build tool; git that clones something to build is
    assert needs("FROM python:3.11-slim\nRUN apt-get install -y git\n")[0] is False
    assert needs("FROM python:3.11-slim\nRUN apt-get install -y git && git clone https://x/y && pip install ./y\n")[0]


def test_reasons_are_normalised(reach):
    n = reach.normalise
    a = n("not split automatically: the install RUN at line 4 also runs `git clone`: what it writes ... stays")
    b = n("not split automatically: the install RUN at line 12 also runs `git clone`: other advice")
    assert a == b == "the install RUN at line N also runs `…`"
    assert reach.details("the install RUN at line 4 also runs `git clone`: ...") == ["git clone"]
    assert n("single-stage build keeps build-only packages (gcc, libpq-dev) in the image") == n(
        "single-stage build keeps build-only packages (g++, make) in the image"
    )


def test_bad_input_is_one_line_and_exit_2(reach, capsys, tmp_path):
    assert reach.main(["--only", "no-such-project"]) == 2
    assert reach.main(["--corpus", str(tmp_path / "missing")]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.splitlines() == [
        "reach: no such corpus project: no-such-project",
        f"reach: {tmp_path / 'missing'}: not a directory",
    ]


def test_every_corpus_file_is_labelled_and_the_classifier_agrees(reach):
    import tomllib

    labels = tomllib.loads(reach.LABELS.read_text())
    dirs = sorted(p for p in reach.CORPUS.iterdir() if (p / "Dockerfile").is_file())
    assert len(dirs) >= 70 and {d.name for d in dirs} == set(labels)
    wrong = [
        d.name for d in dirs if reach.final_image_needs((d / "Dockerfile").read_text(), d)[0] != labels[d.name]["needs"]
    ]
    assert wrong == []
    for d in dirs:  # each project says which public pattern it follows, in one line
        assert len((d / "source.txt").read_text().strip().splitlines()) == 1, d.name
