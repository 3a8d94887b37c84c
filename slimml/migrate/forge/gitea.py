"""Gitea and Forgejo (``--forge-url https://HOST/api/v1``, no default: always self-hosted or
codeberg.org). Their pull request API has GitHub's shape (same paths and fields), so this is
GitHub's client with Gitea's token header, list and conflict answer.

API v1, the instance's swagger (``/api/swagger``; docs.gitea.com/api): ``GET /repos/{owner}/{repo}``
(default_branch), ``GET /repos/{owner}/{repo}/pulls?state=open&page=&limit=`` (no head filter:
matched here; ``Link`` pagination, ``X-Total-Count``), ``POST /repos/{owner}/{repo}/pulls`` (409
"pull request already exists for these targets"), ``PATCH /repos/{owner}/{repo}/pulls/{index}``.
"""

from __future__ import annotations

from .base import Forge, PullRequest
from .github import GitHub, _pr, _repo
from .http import ForgeError


class Gitea(GitHub):
    kind = "gitea"
    default_url = None

    def __init__(self, api_url: str, token: str, sleep=None, clock=None):
        Forge.__init__(self, api_url, token, sleep, clock)  # without GitHub's media type and version headers

    def auth_header(self, token: str) -> tuple[str, str]:
        return ("Authorization", f"token {token}")

    def list_open(self, project: str, head: str, base: str) -> list[PullRequest]:
        items = self.http.paginate(f"{_repo(project)}/pulls", {"state": "open", "limit": 50, "page": 1})
        return [_pr(d) for d in items]

    def _exists(self, e: ForgeError) -> bool:
        return e.status == 409 or super()._exists(e)
