"""slimml.deps.requirements: requirement files read as pip reads them, with packaging."""

from __future__ import annotations

import pytest
from packaging.markers import Marker

from slimml.deps import requirements as RQ

PY311 = RQ.Target("3.11")
UNKNOWN = RQ.Target(None)


def _read(files: dict[str, str]):
    return lambda p: files.get(p)


@pytest.mark.parametrize(
    ("spec", "loose"),
    [
        ("flask", "no version"),
        ("flask>=2", ">=2"),
        ("flask~=2.0", "~=2.0"),
        ("flask==2.*", "==2.*"),
        ("flask<3", "<3"),
        ("flask!=2.0.1", "!=2.0.1"),
        ("flask==2.0.1", ""),
        ("Flask == 2.0.1", ""),
        ("flask>=2,==2.0.1", ""),  # one exact version among the specifiers
        ("flask===2.0.1-local", ""),
        ("flask[async]==2.0.1", ""),
        ("flask @ https://example.org/flask-2.0.1-py3-none-any.whl", ""),
        ("https://example.org/flask-2.0.1-py3-none-any.whl", ""),
        ("./wheels/flask-2.0.1-py3-none-any.whl", ""),
        ("git+https://github.com/pallets/flask#egg=flask", ""),
    ],
)
def test_pinned_means_one_exact_version(spec, loose):
    r = RQ.parse_spec(spec, "x", PY311)
    assert isinstance(r, RQ.Req)
    assert r.loose == loose


def test_names_are_canonical_and_invalid_lines_are_said():
    r = RQ.parse_spec("Scikit_Learn>=1", "x", PY311)
    assert r.name == "scikit-learn"
    assert isinstance(RQ.parse_spec("flask>>2", "x", PY311), str)


@pytest.mark.parametrize(
    ("marker", "target", "applies"),
    [
        ('python_version < "3.8"', PY311, False),
        ('python_version >= "3.8"', PY311, True),
        ('python_version < "3.8"', UNKNOWN, True),  # unknown Python: only the platform can rule it out
        ('sys_platform == "win32"', UNKNOWN, False),
        ('sys_platform == "linux" and platform_machine == "x86_64"', PY311, True),
        ('platform_machine == "aarch64"', PY311, False),
        ('platform_machine == "aarch64"', RQ.Target("3.11", "aarch64"), True),
        ('python_full_version >= "3.11.4"', PY311, True),  # some 3.11 patch release has it
        ('python_full_version < "3.11.0"', PY311, False),
        ('extra == "dev"', PY311, False),
    ],
)
def test_markers_for_the_image(marker, target, applies):
    assert RQ.marker_applies(Marker(marker), target) is applies


def test_logical_lines_join_continuations_strip_comments_and_crlf():
    text = "flask>=2 \\\r\n  # a comment ends the join\r\nnumpy==1.26.4 # pinned\r\n\r\n#only comment\r\npandas \\\r\n>=2\r\n"
    assert RQ.logical_lines(text) == [(1, "flask>=2"), (3, "numpy==1.26.4"), (6, "pandas >=2")]


def test_a_hash_fragment_in_a_url_is_not_a_comment():
    assert RQ.logical_lines("https://x.org/a.whl#sha256=abc\n") == [(1, "https://x.org/a.whl#sha256=abc")]


def test_recursive_includes_relative_to_the_including_file_and_options():
    files = {
        "/app/requirements.txt": "--index-url https://pypi.example/simple\n-r sub/base.txt\n-c constraints.txt\nflask\n",
        "/app/sub/base.txt": "-r ../common.txt\nrequests>=2 --hash=sha256:aa\n",
        "/app/common.txt": "numpy\n-r sub/base.txt\n",  # a cycle: read once
        "/app/constraints.txt": "numpy==1.26.4\n",
    }
    p = RQ.read_install([("-r", "requirements.txt")], _read(files), PY311, cwd="/app")
    assert sorted(p.files) == sorted(files)
    assert [r.name for r in p.requirements] == ["numpy", "requests", "flask"]
    assert [r.name for r in p.constraints] == ["numpy"]
    assert p.options == [("--index-url", "https://pypi.example/simple", "requirements.txt:1")]
    assert [r.name for r in p.loose()] == ["requests", "flask"]  # numpy pinned by the constraint
    assert p.uses_hashes
    assert p.requirements[1].hashes == ("sha256:aa",)


def test_unread_files_markers_skipped_and_options_forms():
    files = {"/r.txt": '--requirement=missing.txt\n-rother.txt\nfoo; sys_platform == "win32"\nbar==1\n'}
    p = RQ.read_install([("-r", "/r.txt"), ("req", "baz")], _read(files), PY311)
    assert p.unread == ["/missing.txt", "/other.txt"]
    assert p.skipped == 1
    assert [r.name for r in p.loose()] == ["baz"]


def test_absolute_includes_and_variables_are_recorded():
    files = {"/r.txt": "-r /etc/base.txt\nflask==${FLASK_VERSION}\n", "/etc/base.txt": "x==1\n"}
    p = RQ.read_install([("-r", "/r.txt")], _read(files), PY311)
    assert p.absolute == ["r.txt:1: /etc/base.txt"]
    assert p.invalid  # packaging rejects an unexpanded ${VAR} as a version


def test_describe_is_short():
    reqs = [RQ.parse_spec(f"p{i}", "x", PY311) for i in range(9)]
    assert RQ.describe(reqs) == ", ".join(f"p{i} (no version)" for i in range(6)) + ", and 3 more"


def test_comments_after_long_runs_of_blanks():
    """pip's comment regex, ``(^|\\s+)#.*$``, backtracks through every run of blanks (quadratic: tests/test_fuzz.py's
    requirements-blanks context timed out); the scan that replaces it cuts at the same place."""
    text = "flask" + " " * 50_000 + "x\n" + "a" + " " * 50_000 + "#c\n" + "b#not-a-comment\n"
    assert RQ.logical_lines(text)[1:] == [(2, "a"), (3, "b#not-a-comment")]
