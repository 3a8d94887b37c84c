"""Command-line reading the installer strategies share."""

from __future__ import annotations

from ....dockerfile.shell import Word
from ... import _helpers as H
from .. import common as C
from .base import Use


def options(words: list[Word], start: int, with_value: frozenset[str]) -> tuple[dict[str, str | None], list[str], int]:
    """({option: value or None}, positionals, index of the first word after the options' run) from ``words[start:]``.

    ``--opt=value`` and ``--opt value`` (for names in ``with_value``) are both read; ``--`` ends the options."""
    opts: dict[str, str | None] = {}
    pos: list[str] = []
    i = start
    while i < len(words):
        v = words[i].value
        if v == "--":
            pos += [w.value for w in words[i + 1 :]]
            break
        if v.startswith("--") and "=" in v:
            k, _, val = v.partition("=")
            opts[k] = val
        elif v in with_value:
            opts[v] = words[i + 1].value if i + 1 < len(words) else None
            i += 1
        elif v.startswith("-") and len(v) > 1:
            opts[v] = None
        else:
            pos.append(v)
        i += 1
    return opts, pos, i


def absolute(reader, path: str | None) -> str | None:
    """``path`` made absolute against the RUN's working directory, ``$VAR`` of ENV/ARG values no build argument
    can change expanded (the shell sees them as environment variables); None when that cannot be told."""
    if path is not None and C.has_var(path) and "`" not in path and "$(" not in path:
        from ....semantics import build as B

        st = B.state_before(reader.doc, reader.ins)
        e = B.expand(path, st.env, reader.doc.escape) if st is not None else None
        path = e.value if e is not None and e.certain else path
    if path is None or C.has_var(path) or path.startswith("~"):
        return None
    if path.startswith("/"):
        return H.norm_path(path)
    return H.join_path(reader.cwd, path) if reader.cwd else None


def prefix_of(spelled: str) -> str | None:
    """The environment an absolutely spelled interpreter or pip belongs to: ``/opt/venv/bin/pip`` -> ``/opt/venv``."""
    if not spelled.startswith("/") or C.has_var(spelled):
        return None
    d = H.norm_path(spelled).rsplit("/", 1)[0] or "/"
    return (d.rsplit("/", 1)[0] or "/") if d.endswith("/bin") else d


def record_install(reader, tool: str, words: list[Word], sub: str, opts: dict, path: str | None = None) -> Use:
    """An install command of ``tool``: the RUN builds, installs Python packages, and the command is a ``Use``."""
    reader.cats.append("build")
    info = reader.info
    info.installs_python = True
    info.spellings.append(tool.split("-")[0])
    use = Use(
        tool,
        reader.ins.index,
        reader.ins.start_line,
        path=path,
        cwd=reader.cwd,
        sub=sub,
        words=list(words),
        flags=set(opts),
    )
    info.uses.append(use)
    return use


def not_moved(reader, tool: str, sub: str) -> None:
    """A subcommand the split does not know how to place."""
    reader.info.problems.append(f"it runs `{tool} {sub}`, which slimml does not move into a virtualenv")
    reader.cats.append("build")
