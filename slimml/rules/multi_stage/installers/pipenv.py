"""pipenv: ``pipenv install|sync``. With ``--system`` pipenv installs into the first ``python`` on PATH, the
planner's virtualenv; without it into the active virtualenv (``VIRTUAL_ENV``), which the split sets -- both
measured with pipenv 2026.10. ``PIPENV_IGNORE_VIRTUALENVS`` would send it elsewhere: refused."""

from __future__ import annotations

from .common import not_moved, options, record_install

_VALUE = frozenset({"--python", "--categories", "-r", "--requirements", "--index", "-i", "--extra-index-url"})


def read(reader, words) -> None:
    opts, pos, _ = options(words, 1, _VALUE)
    sub = pos[0] if pos else ""
    info = reader.info
    if sub in ("install", "sync"):
        record_install(reader, "pipenv", words, sub, opts)
        if "--python" in opts:
            info.problems.append("`pipenv --python` chooses its own interpreter")
        return
    if sub in ("lock", "--version", "verify", "check", "graph") or not sub:
        reader.cats.append("setup" if sub == "lock" else "harmless")
        return
    not_moved(reader, "pipenv", sub)
