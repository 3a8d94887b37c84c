"""A virtualenv the file makes itself (``python -m venv P``, ``virtualenv P``, ``uv venv P``): the split copies P.

The file's own ``ENV PATH=P/bin:$PATH`` / ``VIRTUAL_ENV=P`` lines are kept in both stages, so nothing is added.
Every install must land in P (P's pip, an activated P, or P/bin first on PATH): an install into the base's
Python would stay in the builder."""

from __future__ import annotations

from .base import Use
from .common import absolute, options

_VENV_VALUE_OPTS = frozenset(
    {
        "--prompt",
        "-p",
        "--python",
        "--activators",
        "--seeder",
        "--app-data",
        "--extra-search-dir",
        "--pip",
        "--setuptools",
        "--wheel",
        "--index-url",
        "--extra-index-url",
        "-i",
        "--cache-dir",
        "--link-mode",
        "--relocatable-no",
    }
)


def read_make(reader, words, start: int, default: str | None = None) -> None:
    """``words[start:]`` are the arguments after ``-m venv`` / ``virtualenv`` / ``uv venv``."""
    _, pos, _ = options(words, start, _VENV_VALUE_OPTS)
    targets = pos or ([default] if default else [])
    reader.cats.append("build")
    for t in targets or [None]:
        path = absolute(reader, t)
        reader.info.uses.append(Use("venv", reader.ins.index, reader.ins.start_line, path=path, cwd=reader.cwd))
        if path is None:
            reader.info.problems.append(f"it makes a virtualenv at `{t}`, a path that cannot be told")


def read_activate(reader, words) -> bool:
    """``. P/bin/activate`` / ``source P/bin/activate``: later commands of the RUN use P."""
    if len(words) < 2 or not words[1].value.endswith("/bin/activate") and words[1].value != "bin/activate":
        return False
    path = (
        absolute(reader, words[1].value[: -len("/bin/activate")] or ".")
        if words[1].value != "bin/activate"
        else reader.cwd
    )
    reader.active = path
    reader.info.uses.append(Use("activate", reader.ins.index, reader.ins.start_line, path=path, cwd=reader.cwd))
    reader.cats.append("harmless")
    return True
