"""GitHub (github.com and GitHub Enterprise Server, ``--forge-url https://HOST/api/v3``).

REST API version 2022-11-28, docs.github.com/en/rest/pulls/pulls and /repos/repos:
``GET /repos/{owner}/{repo}`` (default_branch), ``GET /repos/{owner}/{repo}/pulls?state=open&head=
owner:branch`` (Link pagination; the base is matched here, a branch may have PRs into several bases), ``POST /repos/{owner}/{repo}/pulls`` (422 "A pull request
already exists for owner:branch."), ``PATCH /repos/{owner}/{repo}/pulls/{pull_number}``.
"""

from __future__ import annotations

from urllib.parse import quote

from .base import AlreadyExists, Forge, PullRequest
from .http import ForgeError


def _repo(project: str) -> str:
    owner, name = project.split("/")
    return f"repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _pr(d: dict) -> PullRequest:
    return PullRequest(
        int(d["number"]),
        d.get("html_url") or "",
        d.get("title") or "",
        d.get("body") or "",
        (d.get("head") or {}).get("ref") or "",
        (d.get("base") or {}).get("ref") or "",
    )


class GitHub(Forge):
    kind = "github"
    default_url = "https://api.github.com"

    def __init__(self, api_url: str, token: str, sleep=None, clock=None):
        super().__init__(api_url, token, sleep, clock)
        self.http._headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})

    def auth_header(self, token: str) -> tuple[str, str]:
        return ("Authorization", f"Bearer {token}")

    def default_branch(self, project: str) -> str:
        return self.http.request("GET", _repo(project)).data["default_branch"]

    def list_open(self, project: str, head: str, base: str) -> list[PullRequest]:
        owner = project.split("/")[0]
        items = self.http.paginate(
            f"{_repo(project)}/pulls", {"state": "open", "head": f"{owner}:{head}", "per_page": 100}
        )
        return [_pr(d) for d in items]

    def create(self, project: str, head: str, base: str, title: str, body: str) -> PullRequest:
        try:
            r = self.http.request(
                "POST", f"{_repo(project)}/pulls", json={"title": title, "head": head, "base": base, "body": body}
            )
        except ForgeError as e:
            if self._exists(e):
                raise AlreadyExists(str(e), e.status, e.data) from None
            raise
        return _pr(r.data)

    def _exists(self, e: ForgeError) -> bool:
        return e.status == 422 and "already exists" in str(e)

    def update(self, project: str, pr: PullRequest, title: str, body: str) -> PullRequest:
        r = self.http.request("PATCH", f"{_repo(project)}/pulls/{pr.number}", json={"title": title, "body": body})
        return _pr(r.data)
