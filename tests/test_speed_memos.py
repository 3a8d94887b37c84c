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


def _known_call_names() -> list[str]:
    from slimml.knowledge import weights as K

    names = [
        *K.HF_HUB_CALLS,
        *K.HF_CONSTRUCTORS,
        *K.HF_PIPELINE_CALLS,
        *K.PY_URL_CALLS,
        *K.PY_PACKAGE_DOWNLOADS,
        *(k for k in K.PY_REPLAY_CALLS if not k.endswith(".")),
        *(k + "resnet50" for k in K.PY_REPLAY_CALLS if k.endswith(".")),
    ]
    return names + [f"{root}.AutoModel.from_pretrained" for root in K.HF_FROM_PRETRAINED_ROOTS]


def test_pyscan_pretest_passes_every_known_call_in_every_import_form():
    """``may_download`` now also asks for a known call's last name: each import form libcst
    resolves still spells it, so every known download passes the pre-test and is found."""
    from slimml.weights.pyscan import may_download, scan

    for qn in _known_call_names():
        parts = qn.split(".")
        mod, attr = ".".join(parts[:-1]), parts[-1]
        forms = [
            f"from {mod} import {attr} as z\nz('org/model', 'out', pretrained=True, weights='x')\n",
            f"import {parts[0]} as m\nm.{'.'.join(parts[1:])}('org/model', 'out', pretrained=True, weights='x')\n",
            f"import {mod}\n{qn}('org/model', 'out', pretrained=True, weights='x')\n",
        ]
        if len(parts) > 2:
            head, sub = ".".join(parts[:-2]), parts[-2]
            forms.append(f"from {head} import {sub} as q\nq.{attr}('org/model', 'out', pretrained=True, weights='x')\n")
        for code in forms:
            found = scan(code, {}, None).downloads
            if found:  # (every form that scan resolves must pass the pre-test)
                assert may_download(code), (qn, code)
        assert scan(forms[0], {}, None).downloads, qn


def test_pyscan_pretest_skips_code_naming_a_package_but_no_download():
    from slimml.weights.pyscan import may_download

    assert not may_download("import torch; print(48973)")
    assert not may_download("import transformers; print(transformers.__version__)")
    assert may_download("import torch; torch.hub.load('a/b', 'm')")
