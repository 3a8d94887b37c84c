"""Shortcuts taken for speed answer exactly what the long way answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slimml import refs
from slimml.knowledge import secrets as K
from slimml.rules import secrets_out
from slimml.secrets import looks_secret_value

_FRAGMENTS = [
    "hf_",
    "sk-",
    "sk-proj-",
    "AKIA",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "AIza",
    "npm_",
    "pypi-",
    "-----BEGIN RSA PRIVATE KEY-----",
    "https://",
    "user:pw@",
    "$TOKEN@",
    "a" * 20,
    "A1b2C3d4E5f6G7h8I9j0K1l2",
    "ABCDEFGHIJKLMNOP",
    "-",
    "_",
    " ",
    "/",
    "=",
    "'",
]


def _value_kind_long_way(value: str) -> str | None:
    for rx, label in K.VALUE_KINDS:
        if rx.search(value):
            return label
    return "secret-looking value" if looks_secret_value(value) else None


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=8)), max_size=8))
def test_value_kind_prefilter_agrees_with_each_pattern_in_turn(parts):
    value = "".join(parts)
    assert secrets_out.value_kind.__wrapped__(value) == _value_kind_long_way(value)


def test_value_kind_finds_each_kind():
    samples = {
        "Hugging Face token": "HF_TOKEN=hf_" + "a" * 30,
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "private key": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "password in a URL": "pip install --index-url https://me:s3cret@pypi.example.com/simple x",
    }
    for label, value in samples.items():
        assert secrets_out.value_kind(value) == label == _value_kind_long_way(value)
    assert secrets_out.value_kind("pip install torch") is None


@given(st.text(alphabet="ab/.*?~$_{}-", max_size=12))
def test_token_segs_memo_returns_the_computed_segments(token):
    assert refs.token_segs(token) == refs.token_segs.__wrapped__(token)


_SEGS = ["a", "src", "__pycache__", "x.pyc", "m.pt", "models", "data", ".env", ".env.local", ".git", "nb.ipynb"]
_SEGS += [".venv", "w.safetensors", "htmlcov", ".DS_Store", "node_modules", "y.onnx", "z.h5", "q.tflite", "pyc"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_SEGS), st.text(alphabet="a._-", min_size=1, max_size=4)), min_size=1, max_size=5
    )
)
def test_dockerignore_candidate_hits_always_spell_the_needle(parts):
    """``_Tree.hits`` skips files whose path lacks ``_spelled(norm)``: no path a candidate (or its
    parent) matches may lack it."""
    from slimml.rules import dockerignore as R

    path = "/".join(parts)
    ancestry = [path] + ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    for _cand, _content, norm, pat, _segs in R._candidates():
        spelled = R._spelled(norm)
        assert spelled is not None, norm  # every standard candidate has a needle
        if any(pat.match(a) for a in ancestry):
            assert spelled in path, (norm, path)


def test_dockerignore_spelled_declines_classes_and_escapes():
    from slimml.rules import dockerignore as R

    assert R._spelled("**/*.py[co]") is None
    assert R._spelled("a\\*b") is None
    assert R._spelled("**/*.onnx") == ".onnx"
