"""Images of installer vendors that come in a full and a slim flavour with the same Python at the same path.

uv's images (https://docs.astral.sh/uv/guides/integration/docker/#available-images): ``python3.X-bookworm``
is built on ``python:3.X-bookworm`` and ``python3.X-bookworm-slim`` on ``python:3.X-slim-bookworm``; both have uv
in /usr/local/bin and Python in /usr/local/bin."""

from __future__ import annotations

import re

# repository -> (full tag pattern, how to make the slim tag)
SLIM_TAGS: dict[str, tuple[re.Pattern[str], str]] = {
    "ghcr.io/astral-sh/uv": (re.compile(r"^(python3\.\d+-)?(bookworm|trixie|bullseye|debian)$"), "{tag}-slim"),
}
# Installers the images themselves carry (in the full and the slim flavour).
TOOLS: dict[str, frozenset[str]] = {"ghcr.io/astral-sh/uv": frozenset({"uv", "uvx"})}
PYTHON_IN_TAG = re.compile(r"^python(3\.\d+)-")


def slim_tag(repo: str, tag: str | None) -> str | None:
    spec = SLIM_TAGS.get(repo)
    if spec is None or tag is None or not spec[0].match(tag):
        return None
    return spec[1].format(tag=tag)


def python_version(repo: str, tag: str | None) -> str | None:
    if repo not in SLIM_TAGS or tag is None:
        return None
    m = PYTHON_IN_TAG.match(tag)
    return m.group(1) if m else None
