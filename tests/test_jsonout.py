"""slimml.jsonout.dumps is json.dumps(indent=2), text for text."""

from __future__ import annotations

import enum
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from slimml.jsonout import dumps


class _Kind(str, enum.Enum):  # like engine.Applicability
    SAFE = "safe"


leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.just(_Kind.SAFE)
)
trees = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.tuples(kids, kids)
        | st.dictionaries(st.text(max_size=8), kids, max_size=4)
        | st.dictionaries(st.integers() | st.booleans() | st.none(), kids, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_same_text_as_json_dumps(obj):
    assert dumps(obj) == json.dumps(obj, indent=2)


def test_unencodable_values_raise_as_json_does():
    import pytest

    with pytest.raises(TypeError):
        dumps({"a": object()})
