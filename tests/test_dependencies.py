"""Every third-party module slimml imports is a declared runtime dependency: `pip install .` (the README's install
command, without the test extras) must give a working tool. `packaging` was once only installed by the test extras'
dependencies, and a uv file crashed `slimml fix` after a plain install."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _imported() -> set[str]:
    out: set[str] = set()
    for p in (ROOT / "slimml").rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Import):
                out |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                out.add(n.module.split(".")[0])
    return {m for m in out if m not in sys.stdlib_module_names and m != "slimml"}


def test_every_third_party_import_is_a_runtime_dependency():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].strip().lower().replace("-", "_") for d in deps}
    assert _imported() - declared == set()
