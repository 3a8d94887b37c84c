"""poetry: ``poetry install|sync``. Poetry installs into the virtualenv ``VIRTUAL_ENV`` names whatever its
``virtualenvs.create`` / ``virtualenvs.in-project`` settings say (measured with poetry 2.5), so the split sets
``VIRTUAL_ENV=/opt/venv`` next to PATH: the packages land in the planner's virtualenv, and ``poetry run`` in the
runtime stage finds them there."""

from __future__ import annotations

from .common import not_moved, options, record_install

_VALUE = frozenset(
    {
        "--with",
        "--without",
        "--only",
        "-E",
        "--extras",
        "-C",
        "--directory",
        "-P",
        "--project",
        "--format",
        "-f",
        "--output",
        "-o",
    }
)


def read(reader, words) -> None:
    opts, pos, _ = options(words, 1, _VALUE)
    sub = pos[0] if pos else ""
    if sub in ("install", "sync"):
        record_install(reader, "poetry", words, sub, opts)
        return
    if sub in ("config", "self", "lock", "check", "--version", "-V", "about", "show", "env") or not sub:
        reader.cats.append("setup" if sub in ("config", "self", "lock") else "harmless")
        return
    if sub == "export" and ("-o" in opts or "--output" in opts):
        reader.cats.append("build")  # writes a requirements file the builder's pip reads
        return
    not_moved(reader, "poetry", sub)
