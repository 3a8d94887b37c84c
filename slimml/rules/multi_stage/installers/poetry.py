"""poetry: ``poetry install|sync``. Poetry installs into the virtualenv ``VIRTUAL_ENV`` names whatever its
``virtualenvs.create`` / ``virtualenvs.in-project`` settings say (measured with poetry 2.5), so the split sets
``VIRTUAL_ENV=/opt/venv`` next to PATH: the packages land in the planner's virtualenv, and ``poetry run`` in the
runtime stage finds them there."""

from __future__ import annotations

from .base import Use
from .common import options

_VALUE = frozenset({"--with", "--without", "--only", "-E", "--extras", "-C", "--directory", "-P", "--project",
                    "--format", "-f", "--output", "-o"})


def read(reader, words) -> None:
    opts, pos, _ = options(words, 1, _VALUE)
    sub = pos[0] if pos else ""
    info = reader.info
    if sub in ("install", "sync"):
        reader.cats.append("build")
        info.installs_python = True
        info.spellings.append("poetry")
        info.uses.append(Use("poetry", reader.ins.index, reader.ins.start_line, cwd=reader.cwd, sub=sub,
                             words=list(words), flags=set(opts)))
        return
    if sub in ("config", "self", "lock", "check", "--version", "-V", "about", "show", "env") or not sub:
        reader.cats.append("setup" if sub in ("config", "self", "lock") else "harmless")
        return
    if sub == "export" and ("-o" in opts or "--output" in opts):
        reader.cats.append("build")  # writes a requirements file the builder's pip reads
        return
    info.problems.append(f"it runs `poetry {sub}`, which slimml does not move into a virtualenv")
    reader.cats.append("build")
