"""Pull/merge requests on GitHub, GitLab and Gitea through their REST APIs (`slimml migrate --open-pr`).

Importing this package is cheap (``requests`` is imported on the first API call).
"""

from __future__ import annotations

from .base import OVERRIDE_ENV, TOKEN_ENV, Forge, RemoteError, parse_remote, token, web_prefix
from .http import ForgeError

KINDS = ("github", "gitlab", "gitea")


def forge_class(kind: str) -> type[Forge]:
    if kind == "github":
        from .github import GitHub

        return GitHub
    if kind == "gitlab":
        from .gitlab import GitLab

        return GitLab
    if kind == "gitea":
        from .gitea import Gitea

        return Gitea
    raise ValueError(kind)


def api_url(kind: str, given: str | None) -> str | None:
    """The API base: ``--forge-url`` or the forge's public default (none for Gitea)."""
    return (given or forge_class(kind).default_url or "").rstrip("/") or None


def make(kind: str, url: str, tok: str, sleep=None, clock=None) -> Forge:
    return forge_class(kind)(url, tok, sleep=sleep, clock=clock)


__all__ = [
    "KINDS",
    "OVERRIDE_ENV",
    "TOKEN_ENV",
    "Forge",
    "ForgeError",
    "RemoteError",
    "api_url",
    "forge_class",
    "make",
    "parse_remote",
    "token",
    "web_prefix",
]
