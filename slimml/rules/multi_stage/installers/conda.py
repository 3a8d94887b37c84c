"""conda / mamba / micromamba: a named environment (``create -n NAME``, ``env create -f environment.yml`` with its
``name:``) or a prefix (``-p /env``) is copied to the same path in a runtime stage on the same base image. What
stays behind: the build-only apt packages and conda's package cache (``<root>/pkgs``, hundreds of MB when the file
does not ``conda clean``). Installs into the base environment are refused: it is part of the base image, and
copying it would store it twice."""

from __future__ import annotations

import re

from .base import Use
from .common import absolute, options

_VALUE = frozenset(
    {
        "-n",
        "--name",
        "-p",
        "--prefix",
        "-f",
        "--file",
        "-c",
        "--channel",
        "--override-channels",
        "-r",
        "--root-prefix",
        "--platform",
        "--subdir",
    }
)
_VALUE = _VALUE - {"--override-channels"}
# Images whose conda lives in /opt/conda (and MAMBA_ROOT_PREFIX there for micromamba).
ROOT_BY_IMAGE = (("continuumio/", "/opt/conda"), ("condaforge/", "/opt/conda"), ("mambaorg/micromamba", "/opt/conda"))


def read(reader, words) -> None:
    tool = words[0].value.rsplit("/", 1)[-1]
    opts, pos, _ = options(words, 1, _VALUE)
    sub = " ".join(pos[:2]) if pos[:1] == ["env"] else (pos[0] if pos else "")
    info = reader.info
    if sub in ("create", "install", "update", "env create", "env update"):
        reader.cats.append("build")
        use = Use(
            "conda",
            reader.ins.index,
            reader.ins.start_line,
            cwd=reader.cwd,
            sub=sub,
            words=list(words),
            flags=set(opts),
        )
        use.detail["tool"] = tool
        if opts.get("-p") or opts.get("--prefix"):
            use.path = absolute(reader, opts.get("-p") or opts.get("--prefix"))
            if use.path is None:
                info.problems.append(f"`{tool} {sub}` installs into a prefix that cannot be told")
        name = opts.get("-n") or opts.get("--name")
        if name:
            use.detail["name"] = name
        f = opts.get("-f") or opts.get("--file")
        if f:
            use.detail["file"] = absolute(reader, f) or ""
        info.uses.append(use)
        return
    if sub in ("clean",):
        reader.cats.append("harmless")
        info.uses.append(Use("conda-clean", reader.ins.index, reader.ins.start_line))
        return
    if sub in ("config", "init", "info", "list", "--version", "activate", "shell") or not sub:
        reader.cats.append("setup" if sub in ("config", "init") else "harmless")
        return
    info.problems.append(f"it runs `{tool} {sub}`")
    reader.cats.append("build")


def env_name_from_file(text: str) -> str | None:
    """The ``name:`` of an environment.yml (top level)."""
    m = re.search(r"(?m)^name:\s*['\"]?([A-Za-z0-9_.-]+)['\"]?\s*(#.*)?$", text)
    return m.group(1) if m else None
