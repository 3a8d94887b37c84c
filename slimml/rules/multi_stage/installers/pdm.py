"""pdm: ``pdm install|sync`` installs into the project's ``.venv`` (pdm's defaults ``python.use_venv`` and
``venv.in_project``), which the split copies as it is. ``python.use_venv false`` (PEP 582 ``__pypackages__``)
and ``--global`` are refused."""

from __future__ import annotations

from .common import absolute, not_moved, options, record_install

_VALUE = frozenset(
    {"-G", "--group", "-p", "--project", "-L", "--lockfile", "--venv", "-o", "--output", "-f", "--format"}
)


def read(reader, words) -> None:
    opts, pos, _ = options(words, 1, _VALUE)
    sub = pos[0] if pos else ""
    info = reader.info
    if sub in ("install", "sync"):
        project = absolute(reader, opts.get("-p") or opts.get("--project") or ".")
        record_install(reader, "pdm", words, sub, opts, path=project)
        if project is None:
            info.problems.append("`pdm install` runs in a project directory that cannot be told")
        if "__pypackages__" in reader.doc.text:
            info.problems.append("pdm's PEP 582 mode (`__pypackages__`): the packages are not in a virtualenv")
        for o in ("-g", "--global", "--venv"):
            if o in opts:
                info.problems.append(f"`pdm {sub} {o}` installs outside the project's environment")
        return
    if sub == "config":
        reader.cats.append("setup")
        if any(p in ("python.use_venv", "venv.in_project", "python.path", "venv.location") for p in pos[1:]):
            info.problems.append("`pdm config` changes where pdm installs")
        return
    if sub in ("lock", "--version", "-V", "info", "list", "export"):
        reader.cats.append("setup" if sub in ("lock", "export") else "harmless")
        return
    not_moved(reader, "pdm", sub)
