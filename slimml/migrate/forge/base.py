"""What every forge does for `slimml migrate --open-pr`: find the open pull request of a branch,
create one, or update it -- and the facts a forge is reached with (token, project path)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .http import Client, ForgeError

TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
OVERRIDE_ENV = "SLIMML_FORGE_TOKEN"


def token(kind: str, environ=None) -> str | None:
    """The API token for ``kind``: SLIMML_FORGE_TOKEN, else the forge's usual variable."""
    env = os.environ if environ is None else environ
    value = (env.get(OVERRIDE_ENV) or "").strip() or (env.get(TOKEN_ENV[kind]) or "").strip()
    return value or None


class RemoteError(Exception):
    """The remote URL names no project on a forge (a local path, a file:// URL, ...)."""


_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/\[\]]+):(?P<path>.+)$")  # git@host:owner/repo.git


def parse_remote(url: str) -> tuple[str, str]:
    """(host, project path) of a git remote URL: https://, ssh://, git://, or scp-like
    ``user@host:path``. Credentials in the URL are ignored (and never shown)."""
    from ...secrets import mask

    url = url.strip()
    if _SCHEME.match(url):
        u = urlsplit(url)
        if u.scheme.lower() not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            raise RemoteError(f"remote URL {mask(url)!r} is not on a forge ({u.scheme}://)")
        host, path = u.hostname or "", u.path
    else:
        m = _SCP.match(url)
        if not m:
            raise RemoteError(f"remote URL {mask(url)!r} is a local path, not a forge project")
        host, path = m.group("host"), m.group("path")
    path = unquote(path).strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or not path:
        raise RemoteError(f"cannot tell the project from remote URL {mask(url)!r}")
    return host.lower(), path


def web_prefix(api_url: str) -> str:
    """The path a forge is installed under (``https://host/gitea/api/v1`` -> ``gitea``), which its
    clone URLs carry too."""
    path = urlsplit(api_url).path.rstrip("/")
    path = re.sub(r"/api/v\d+$", "", path)
    return path.strip("/")


@dataclass
class PullRequest:
    number: int
    url: str
    title: str
    body: str
    head: str
    base: str


class AlreadyExists(ForgeError):
    """Create refused: an open pull request for this head and base exists (GitHub 422, GitLab and
    Gitea 409)."""


def _same(a: str | None, b: str | None) -> bool:
    norm = lambda s: (s or "").replace("\r\n", "\n").strip()  # noqa: E731 - forges may normalise line ends
    return norm(a) == norm(b)


class Forge:
    kind = ""
    default_url: str | None = None

    def __init__(self, api_url: str, token: str, sleep=None, clock=None):
        self.api_url = api_url
        self.http = Client(api_url, token, self.auth_header(token), sleep=sleep, clock=clock)

    # -- per forge ---------------------------------------------------------------------------------
    def auth_header(self, token: str) -> tuple[str, str]:
        raise NotImplementedError

    def project(self, path: str) -> str:
        """The project path as this forge names it (checked: GitHub and Gitea need owner/repo)."""
        parts = path.split("/")
        if len(parts) != 2 or not all(parts):
            raise RemoteError(f"{path!r} is not an owner/repo path on {self.kind}")
        return path

    def default_branch(self, project: str) -> str:
        raise NotImplementedError

    def list_open(self, project: str, head: str, base: str) -> list[PullRequest]:
        raise NotImplementedError

    def create(self, project: str, head: str, base: str, title: str, body: str) -> PullRequest:
        raise NotImplementedError

    def update(self, project: str, pr: PullRequest, title: str, body: str) -> PullRequest:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def find_open(self, project: str, head: str, base: str) -> PullRequest | None:
        for pr in self.list_open(project, head, base):
            if pr.head == head and pr.base == base:
                return pr
        return None

    def ensure(self, project: str, head: str, base: str, title: str, body: str) -> tuple[PullRequest, str]:
        """One open pull request from ``head`` into ``base`` with this title and body:
        (it, "opened" | "updated" | "unchanged")."""
        pr = self.find_open(project, head, base)
        if pr is None:
            try:
                return self.create(project, head, base, title, body), "opened"
            except AlreadyExists:
                # Opened meanwhile (or the list lagged behind): update that one, never a second.
                pr = self.find_open(project, head, base)
                if pr is None:
                    raise ForgeError(
                        f"the forge says a pull request from {head} into {base} exists, "
                        "but it is not among the open ones"
                    ) from None
        if _same(pr.title, title) and _same(pr.body, body):
            return pr, "unchanged"
        return self.update(project, pr, title, body), "updated"

    def close(self) -> None:
        self.http.close()
