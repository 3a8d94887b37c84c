"""conda / mamba / micromamba ``install`` and ``create``: package specs without an exact version.

conda's match specs (https://docs.conda.io/projects/conda/en/latest/user-guide/concepts/pkg-specs.html):
``numpy`` (any), ``numpy=1.11`` (fuzzy: ``1.11.*``), ``numpy=1.11.1`` (``1.11.1*``, no later release
matches it), ``numpy==1.11.1`` (exact), ``numpy 1.11.1`` (exact), ``numpy>=1.8,<2`` (a range),
``numpy=1.11.1=py311h...`` (version and build), ``conda-forge::numpy=1.11.1`` (a channel). *Pinned* here is
an exact version (``==``, the space form, or ``=`` with a full ``X.Y.Z`` version or a build string);
``python=3.11`` counts as pinned too -- the interpreter's patch level is the base image's business.
There is no automatic fix: a conda lock is conda-lock's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ...dockerfile import Document
from ...dockerfile.shell import Command, Word
from ...knowledge import manifests as M
from ...knowledge import python_tools as P
from .. import _helpers as H

# conda/mamba/micromamba options that take a value (so the value is not read as a package spec): SLM004's
# list and the solver/category options it does not need.
OPTS_WITH_VALUE = frozenset(M.CONDA_OPTS_WITH_VALUE) | {
    "--solver",
    "--experimental-solver",
    "--category",
    "--chdir",
    "--clone",
}
_SPEC_RE = re.compile(r"^(?:[^:\s]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<rest>.*)$")
_INTERPRETERS = frozenset({"python", "pip"})


@dataclass(frozen=True)
class Loose:
    name: str
    loose: str  # what is loose: "no version", ">=1", "=1.2 (any 1.2.x)"


@dataclass
class CondaInstall:
    cmd: Command
    words: list[Word]
    sub: int
    loose: list[Loose]
    variables: bool

    @property
    def label(self) -> str:
        return " ".join(w.value for w in self.words[: self.sub + 1])


def spec_loose(spec: str) -> Loose | None:
    """What is loose about a conda match spec; None when it pins one version (or is not a spec)."""
    m = _SPEC_RE.match(spec.strip())
    if not m:
        return None
    name, rest = m.group("name").lower(), m.group("rest").strip()
    if not rest:
        return Loose(name, "no version")
    if rest.startswith("["):
        return Loose(name, rest)  # bracket specs (version=..., build=...): not read here, said as written
    if rest.startswith("=="):
        v = rest[2:]
        return None if _exact(v) else Loose(name, rest)
    if rest.startswith("="):
        version, _, build = rest[1:].partition("=")
        if not _exact(version):
            return Loose(name, rest)
        if build or version.count(".") >= 2 or (name in _INTERPRETERS and version.count(".") >= 1):
            return None
        return Loose(name, f"{rest} (any {version}.x)")
    if rest[0].isdigit():  # the space form: "numpy 1.11.1"
        return None if _exact(rest.split()[0]) else Loose(name, rest)
    return Loose(name, rest)


def _exact(v: str) -> bool:
    return bool(v) and not any(c in v for c in "*,|<>!~ ") and v[0].isdigit()


def file_specs(text: str) -> list[str]:
    """The specs of a conda spec file (``conda install --file``): one per line, ``#`` comments; none for an
    ``@EXPLICIT`` file (URLs of exact builds: pinned by construction)."""
    if "@EXPLICIT" in text:
        return []
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def installs(doc: Document, ctx=None) -> Iterator[CondaInstall]:
    from .pip import _cwd, reader, shipped_commands

    for instr, cmd, hit in shipped_commands(doc):
        if hit[0] not in P.CONDA_TOOLS:
            continue
        _, words, sub = hit
        if words[sub].value not in ("install", "create") or words[sub - 1].value == "env":
            continue  # `conda env create -f environment.yml`: a file this rule does not read
        loose: list[Loose] = []
        variables = False
        i = sub + 1
        while i < len(words):
            v = words[i].value
            if v in OPTS_WITH_VALUE:
                if v in ("--file", "-f") and i + 1 < len(words) and ctx is not None:
                    name = words[i + 1].value
                    cwd = _cwd(doc, instr, cmd)
                    text = None
                    if cwd is not None and "$" not in name and not name.endswith((".yml", ".yaml")):
                        text = reader(doc, ctx, instr)(H.join_path(cwd, name))
                    for spec in file_specs(text or ""):
                        got = spec_loose(spec)
                        if got is not None:
                            loose.append(got)
                i += 2
                continue
            i += 1
            if v.startswith("-"):
                continue
            if "$" in v:
                variables = True
                continue
            got = spec_loose(v)
            if got is not None:
                loose.append(got)
        if loose:
            yield CondaInstall(cmd, words, sub, loose, variables)


def describe(loose: list[Loose], limit: int = 6) -> str:
    parts = [f"{x.name} ({x.loose})" for x in loose[:limit]]
    if len(loose) > limit:
        parts.append(f"and {len(loose) - limit} more")
    return ", ".join(parts)
