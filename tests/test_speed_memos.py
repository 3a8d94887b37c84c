"""Shortcuts taken for speed answer exactly what the long way answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slimml import refs


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
