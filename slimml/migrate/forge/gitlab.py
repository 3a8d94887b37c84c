"""GitLab (gitlab.com and self-managed, ``--forge-url https://HOST/api/v4``): merge requests.

REST API v4, docs.gitlab.com/api/merge_requests and /api/projects: ``GET /projects/:id``
(default_branch; ``:id`` the URL-encoded path, subgroups included), ``GET /projects/:id/
merge_requests?state=opened&source_branch=`` (``X-Next-Page`` pagination; the target branch and the
source project -- not a fork -- are matched here),
``POST /projects/:id/merge_requests`` (409 "Another open merge request already exists for this
source branch"), ``PUT /projects/:id/merge_requests/:merge_request_iid``.
"""

from __future__ import annotations

from urllib.parse import quote

from .base import AlreadyExists, Forge, PullRequest, RemoteError
from .http import ForgeError


def _project(project: str) -> str:
    return f"projects/{quote(project, safe='')}"


def _mr(d: dict) -> PullRequest:
    head = d.get("source_branch") or ""
    if d.get("source_project_id") != d.get("target_project_id"):
        head = f"fork:{head}"  # a fork's branch of the same name is not ours
    return PullRequest(
        int(d["iid"]),
        d.get("web_url") or "",
        d.get("title") or "",
        d.get("description") or "",
        head,
        d.get("target_branch") or "",
    )


class GitLab(Forge):
    kind = "gitlab"
    default_url = "https://gitlab.com/api/v4"

    def auth_header(self, token: str) -> tuple[str, str]:
        return ("PRIVATE-TOKEN", token)

    def project(self, path: str) -> str:
        if len([p for p in path.split("/") if p]) < 2:
            raise RemoteError(f"{path!r} is not a group/project path on gitlab")
        return path

    def default_branch(self, project: str) -> str:
        return self.http.request("GET", _project(project)).data["default_branch"]

    def list_open(self, project: str, head: str, base: str) -> list[PullRequest]:
        items = self.http.paginate(
            f"{_project(project)}/merge_requests", {"state": "opened", "source_branch": head, "per_page": 100}
        )
        return [_mr(d) for d in items]

    def create(self, project: str, head: str, base: str, title: str, body: str) -> PullRequest:
        try:
            r = self.http.request(
                "POST",
                f"{_project(project)}/merge_requests",
                json={"source_branch": head, "target_branch": base, "title": title, "description": body},
            )
        except ForgeError as e:
            if e.status == 409:
                raise AlreadyExists(str(e), e.status, e.data) from None
            raise
        return _mr(r.data)

    def update(self, project: str, pr: PullRequest, title: str, body: str) -> PullRequest:
        r = self.http.request(
            "PUT", f"{_project(project)}/merge_requests/{pr.number}", json={"title": title, "description": body}
        )
        return _mr(r.data)
