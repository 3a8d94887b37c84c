"""uv: ``uv pip install|sync`` and ``uv sync``.

- ``uv pip install`` (with or without ``--system``): into the planner's virtualenv, by giving each command
  ``--python /opt/venv/bin/python`` (``--system`` and ``UV_SYSTEM_PYTHON`` skip virtualenvs even when first on
  PATH; an explicit interpreter wins over both -- measured with uv 0.13).
- ``uv sync``: the project environment (``UV_PROJECT_ENVIRONMENT``, else ``<project>/.venv``) is copied as it is;
  uv picks a Python it finds or *downloads one* into its own directory, which the copy would not bring along, so
  the split needs the base's Python to satisfy the project (``.python-version``, ``requires-python``) or uv told
  not to download (``UV_PYTHON_DOWNLOADS=never``, ``UV_PYTHON_PREFERENCE=only-system``)."""

from __future__ import annotations

import re

from .base import Use
from .common import absolute, options
from .venv import read_make

_GLOBAL_VALUE = frozenset(
    {
        "--directory",
        "--project",
        "--python",
        "-p",
        "--cache-dir",
        "--color",
        "--config-file",
        "--python-preference",
        "--allow-insecure-host",
    }
)
_PIP_VALUE = frozenset(
    {
        "-r",
        "--requirements",
        "--requirement",
        "-c",
        "--constraint",
        "--constraints",
        "-e",
        "--editable",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--python",
        "-p",
        "--target",
        "--prefix",
        "--index-strategy",
        "--keyring-provider",
        "--resolution",
        "--prerelease",
        "--exclude-newer",
        "--link-mode",
        "--python-version",
        "--python-platform",
        "--override",
        "--overrides",
        "--group",
        "--extra",
        "--config-setting",
        "-C",
        "--index",
        "--default-index",
        "--cache-dir",
        "--torch-backend",
        "--build-constraint",
        "-b",
    }
)
_SYNC_VALUE = frozenset(
    {
        "--extra",
        "--group",
        "--only-group",
        "--no-group",
        "--package",
        "--python",
        "-p",
        "--index",
        "--default-index",
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "-f",
        "--link-mode",
        "--project",
        "--directory",
        "--no-install-package",
        "--config-setting",
        "--cache-dir",
        "--resolution",
        "--prerelease",
        "--exclude-newer",
        "--script",
    }
)


def read(reader, words) -> None:
    gopts, _, k = _global(words)
    sub = words[k].value if k < len(words) else ""
    info = reader.info
    if sub == "venv":
        read_make(reader, words, k + 1, default=".venv")
        return
    if sub == "pip" and k + 1 < len(words):
        cmd = words[k + 1].value
        if cmd in ("install", "sync", "uninstall"):
            opts, pos, _ = options(words, k + 2, _PIP_VALUE)
            opts.update({o: v for o, v in gopts.items() if o in ("--python", "-p")})
            reader.cats.append("build")
            info.installs_python = True
            info.spellings.append("uv")
            use = Use(
                "uv-pip",
                reader.ins.index,
                reader.ins.start_line,
                cwd=reader.cwd,
                sub=cmd,
                words=list(words),
                flags=set(opts),
                path=reader.active,
                names=[p for p in pos if re.match(r"^[A-Za-z0-9]", p) and "/" not in p],
            )
            use.detail["after_sub"] = str(k + 1)  # index of the word the strategy inserts after
            info.uses.append(use)
            for o in ("--target", "--prefix"):
                if o in opts:
                    info.problems.append(f"`uv pip {cmd} {o}` installs outside the interpreter's environment")
            for o in ("-r", "--requirement", "--requirements"):
                v = opts.get(o)
                if v and reader.cwd and "$" not in v:
                    info.req_files.append((absolute(reader, v), reader.cwd))
            return
        if cmd in ("compile", "freeze", "list", "show", "check", "tree"):
            reader.cats.append("harmless" if cmd != "compile" else "setup")
            return
    if sub == "sync":
        opts, _, _ = options(words, k + 1, _SYNC_VALUE)
        opts.update(gopts)
        project = absolute(reader, opts.get("--project") or opts.get("--directory") or ".")
        reader.cats.append("build")
        info.installs_python = True
        info.spellings.append("uv")
        use = Use(
            "uv-sync",
            reader.ins.index,
            reader.ins.start_line,
            path=project,
            cwd=reader.cwd,
            sub="sync",
            words=list(words),
            flags=set(opts),
        )
        for o in ("--python", "-p"):
            if opts.get(o):
                use.detail["python"] = opts[o] or ""
        info.uses.append(use)
        if project is None:
            info.problems.append("`uv sync` runs in a project directory that cannot be told")
        if "--active" in opts:
            use.detail["active"] = "1"
        return
    if sub in ("lock", "export", "tree", "version", "cache", "--version", "-V", "help"):
        reader.cats.append("setup" if sub in ("lock", "export") else "harmless")
        return
    info.problems.append(f"it runs `uv {sub}`, which slimml does not move into a virtualenv")
    reader.cats.append("build")


def _global(words):
    """uv's global options before the subcommand: ({option: value}, _, index of the subcommand)."""
    opts: dict[str, str | None] = {}
    i = 1
    while i < len(words) and words[i].value.startswith("-"):
        v = words[i].value
        if "=" in v:
            a, _, b = v.partition("=")
            opts[a] = b
        elif v in _GLOBAL_VALUE:
            opts[v] = words[i + 1].value if i + 1 < len(words) else None
            i += 1
        else:
            opts[v] = None
        i += 1
    return opts, None, i
