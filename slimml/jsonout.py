"""``json.dumps(obj, indent=2)``, faster, for the reports `slimml check` prints.

With ``indent`` the standard library encodes in pure Python, one generator step per item (a fifth of a warm
`check --format json` over 240 files). This builds the same text with one list append per token and the C
string encoder json itself uses. Anything but str-keyed dicts, lists, tuples, str, int, float, bool and None
falls back to ``json.dumps``, so the text is always json's own (tests/test_jsonout.py compares them).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _string  # json.dumps' (ensure_ascii=True) encoder


class _Unusual(Exception):
    """A value json.dumps would encode by rules this module does not repeat."""


def dumps(obj: object) -> str:
    """Exactly ``json.dumps(obj, indent=2)``."""
    out: list[str] = []
    try:
        _encode(obj, out, "\n")
    except _Unusual:
        return json.dumps(obj, indent=2)
    return "".join(out)


def _encode(o: object, out: list[str], nl: str) -> None:
    if isinstance(o, str):
        out.append(_string(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(json.dumps(o))  # repr, or NaN / Infinity as json writes them
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        for v in o:
            out.append(sep)
            _encode(v, out, inner)
            sep = "," + inner
        out.append(nl + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        for k, v in o.items():
            if not isinstance(k, str):
                raise _Unusual  # json turns int/float/bool/None keys into strings: leave that to it
            out.append(sep)
            out.append(_string(k))
            out.append(": ")
            _encode(v, out, inner)
            sep = "," + inner
        out.append(nl + "}")
    else:
        raise _Unusual
