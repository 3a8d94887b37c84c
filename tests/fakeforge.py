"""A local stand-in for the REST endpoints `slimml migrate --open-pr` calls on GitHub, GitLab and
Gitea -- only those, with the request and response shapes, status codes and headers of the
published API documentation (cited per endpoint below), so the client is tested against the
documented behaviour rather than against itself:

* pagination: ``Link: <...>; rel="next"`` (GitHub, Gitea, GitLab) and GitLab's ``X-Next-Page`` /
  ``X-Page`` / ``X-Total`` headers; a page-size cap (``page_size``) to force several pages;
* create conflicts: GitHub 422 ``A pull request already exists for owner:branch.``, GitLab 409
  ``Another open merge request already exists for this source branch: !N``, Gitea 409 ``pull
  request already exists for these targets``;
* a head branch missing from the git remote is refused as the forges refuse it (so a PR can only
  be opened after the push);
* injected faults: rate limits (GitHub 403 + ``x-ratelimit-remaining: 0`` / ``x-ratelimit-reset``,
  GitLab 429 + ``RateLimit-*`` / ``Retry-After``), 5xx, arbitrary bodies; a list that lags behind
  (``lag_lists``) to reach the create-conflict path.

Threaded (``ThreadingHTTPServer``): worker processes call it concurrently.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

API_PREFIX = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass
class Fault:
    method: str
    path: str  # regex on the request path (after the API prefix)
    status: int
    headers: dict = field(default_factory=dict)
    body: object = None
    times: int = 1


@dataclass
class Repo:
    path: str
    default_branch: str = "main"
    git_dir: Path | None = None  # the bare remote: a PR's head must exist there
    pulls: list = field(default_factory=list)  # dicts in this forge's own shape


class FakeForge:
    def __init__(self, kind: str, token: str, page_size: int = 100, gitlab_link: bool = True):
        assert kind in API_PREFIX
        self.kind, self.token, self.page_size, self.gitlab_link = kind, token, page_size, gitlab_link
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.log: list[dict] = []  # every request: method, path, query, json, auth header names
        self.lag_lists = 0  # the next N list calls answer as if no PR were open yet
        self.lock = threading.RLock()
        self._next_id = 1000
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _handle(self):
                forge._dispatch(self)

            do_GET = do_POST = do_PATCH = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- test API ----------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + API_PREFIX[self.kind]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_repo(self, path: str, default_branch: str = "main", git_dir: Path | None = None) -> Repo:
        self.repos[path] = Repo(path, default_branch, git_dir)
        return self.repos[path]

    def add_pull(
        self, path: str, head: str, base: str, title: str = "someone else's", body: str = "", state: str = "open"
    ) -> dict:
        with self.lock:
            return self._new_pull(self.repos[path], head, base, title, body, state)

    def open_pulls(self, path: str) -> list[dict]:
        st = "opened" if self.kind == "gitlab" else "open"
        return [p for p in self.repos[path].pulls if p["state"] == st]

    def fail(self, method: str, path: str, status: int, headers: dict | None = None, body=None, times: int = 1):
        self.faults.append(Fault(method, path, status, headers or {}, body, times))

    def requests(self, method: str | None = None, path: str = "") -> list[dict]:
        return [r for r in self.log if (method is None or r["method"] == method) and re.search(path, r["path"])]

    # -- the server --------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        u = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        prefix = API_PREFIX[self.kind]
        path = u.path[len(prefix) :] if u.path.startswith(prefix) else None
        query = dict(parse_qsl(u.query))
        with self.lock:
            self.log.append(
                {
                    "method": h.command,
                    "path": path or u.path,
                    "query": query,
                    "json": body,
                    "headers": {k.lower(): v for k, v in h.headers.items()},
                }
            )
            if path is None:
                return self._send(h, 404, {"message": "Not Found"})
            if not self._authorized(h):
                return self._send(h, 401, self._unauthorized())
            for f in self.faults:
                if f.times > 0 and f.method == h.command and re.search(f.path, path):
                    f.times -= 1
                    return self._send(h, f.status, f.body if f.body is not None else {"message": "fault"}, f.headers)
            route = getattr(self, f"_{self.kind}")
            status, data, headers = route(h.command, path, query, body or {}, h)
            self._send(h, status, data, headers)

    def _authorized(self, h) -> bool:
        auth = h.headers.get("Authorization") or ""
        if self.kind == "github":  # docs.github.com/en/rest/authentication: "Bearer" or "token"
            return auth in (f"Bearer {self.token}", f"token {self.token}")
        if self.kind == "gitlab":  # docs.gitlab.com/api/rest/authentication: PRIVATE-TOKEN or Bearer
            return h.headers.get("PRIVATE-TOKEN") == self.token or auth == f"Bearer {self.token}"
        return auth in (f"token {self.token}", f"Bearer {self.token}")  # Gitea: "token" or "Bearer"

    def _unauthorized(self) -> dict:
        return {
            "github": {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            "gitlab": {"message": "401 Unauthorized"},
            "gitea": {"message": "user does not exist [uid: 0, name: ]", "url": self.origin + "/api/swagger"},
        }[self.kind]

    def _send(self, h, status: int, data, headers: dict | None = None) -> None:
        raw = json.dumps(data).encode() if data is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.end_headers()
        h.wfile.write(raw)

    def _page(self, items: list, query: dict, h, size_param: str, default_size: int) -> tuple[list, dict]:
        """One page and its pagination headers (Link rel=next/last; GitLab also X-*)."""
        page = max(1, int(query.get("page") or 1))
        size = min(int(query.get(size_param) or default_size), self.page_size)
        pages = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size : page * size]
        base = self.origin + urlsplit(h.path).path

        def link(p: int) -> str:
            return base + "?" + urlencode({**query, "page": p, size_param: size})

        rels = []
        if page < pages:
            rels.append(f'<{link(page + 1)}>; rel="next"')
        rels.append(f'<{link(pages)}>; rel="last"')
        headers = {}
        if self.kind != "gitlab" or self.gitlab_link:
            headers["Link"] = ", ".join(rels)
        if self.kind == "gitlab":  # docs.gitlab.com/api/rest/#pagination-response-headers
            headers.update(
                {
                    "X-Page": page,
                    "X-Per-Page": size,
                    "X-Total": len(items),
                    "X-Total-Pages": pages,
                    "X-Next-Page": page + 1 if page < pages else "",
                    "X-Prev-Page": page - 1 if page > 1 else "",
                }
            )
        if self.kind == "gitea":  # Gitea: X-Total-Count on list endpoints
            headers["X-Total-Count"] = len(items)
        return chunk, headers

    def _branch_exists(self, repo: Repo, branch: str) -> bool:
        if repo.git_dir is None:
            return True
        cp = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
            cwd=repo.git_dir,
            capture_output=True,
            check=False,
        )
        return cp.returncode == 0

    def _new_pull(self, repo: Repo, head: str, base: str, title: str, body: str, state: str = "open") -> dict:
        self._next_id += 1
        n = len(repo.pulls) + 1
        web = f"{self.origin}/{repo.path}"
        if self.kind == "gitlab":
            pr = {
                "id": self._next_id,
                "iid": n,
                "project_id": 1,
                "source_project_id": 1,
                "target_project_id": 1,
                "title": title,
                "description": body,
                "state": "opened" if state == "open" else state,
                "source_branch": head,
                "target_branch": base,
                "web_url": f"{web}/-/merge_requests/{n}",
                "created_at": time.time(),
            }
        else:
            owner = repo.path.split("/")[0]
            pr = {
                "id": self._next_id,
                "number": n,
                "title": title,
                "body": body,
                "state": state,
                "html_url": f"{web}/pull/{n}" if self.kind == "github" else f"{web}/pulls/{n}",
                "head": {"ref": head, "label": f"{owner}:{head}"},
                "base": {"ref": base, "label": f"{owner}:{base}"},
            }
        repo.pulls.append(pr)
        return pr

    def _lagging(self) -> bool:
        if self.lag_lists > 0:
            self.lag_lists -= 1
            return True
        return False

    def _edit(self, repo: Repo, key: str, number: int, body: dict, fields: tuple, ok: int, not_found: dict):
        pr = next((p for p in repo.pulls if p[key] == number), None)
        if pr is None:
            return 404, not_found, {}
        for k in fields:
            if k in body:
                pr[k] = body[k]
        return ok, pr, {}

    def _repo(self, parts: list[str]) -> Repo | None:
        return self.repos.get("/".join(unquote(p) for p in parts))

    # GitHub REST 2022-11-28 -----------------------------------------------------------------------
    def _github(self, method, path, query, body, h):
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/pulls(?:/(\d+))?)?", path)
        repo = self._repo([m.group(1), m.group(2)]) if m else None
        if repo is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}
        if not m.group(3):
            # GET /repos/{owner}/{repo} -- docs.github.com/en/rest/repos/repos#get-a-repository
            if method == "GET":
                return 200, {"full_name": repo.path, "default_branch": repo.default_branch}, {}
        elif m.group(4) is None and method == "GET":
            # GET /repos/{owner}/{repo}/pulls -- docs.github.com/en/rest/pulls/pulls#list-pull-requests
            # (state=open default; head=user:ref-name; base; sort=created, direction=desc; per_page<=100)
            if self._lagging():
                return 200, [], {}
            st = query.get("state", "open")
            items = [p for p in reversed(repo.pulls) if st == "all" or p["state"] == st]
            if "head" in query:
                items = [p for p in items if p["head"]["label"] == query["head"]]
            if "base" in query:
                items = [p for p in items if p["base"]["ref"] == query["base"]]
            chunk, headers = self._page(items, query, h, "per_page", 30)
            return 200, chunk, headers
        elif m.group(4) is None and method == "POST":
            # POST /repos/{owner}/{repo}/pulls -- docs.github.com/en/rest/pulls/pulls#create-a-pull-request
            # 422 Validation Failed: head invalid, or "A pull request already exists for owner:branch."
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            if missing:
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing],
                    },
                    {},
                )
            owner = repo.path.split("/")[0]
            if not self._branch_exists(repo, body["head"]):
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                    },
                    {},
                )
            if any(
                p["state"] == "open" and p["head"]["ref"] == body["head"] and p["base"]["ref"] == body["base"]
                for p in repo.pulls
            ):
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {owner}:{body['head']}.",
                            }
                        ],
                        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                    },
                    {},
                )
            return 201, self._new_pull(repo, body["head"], body["base"], body["title"], body.get("body") or ""), {}
        elif method == "PATCH":
            # PATCH /repos/{owner}/{repo}/pulls/{pull_number} -- #update-a-pull-request (title, body, state, base)
            return self._edit(
                repo, "number", int(m.group(4)), body, ("title", "body", "state"), 200, {"message": "Not Found"}
            )
        return 404, {"message": "Not Found"}, {}

    # GitLab REST v4 -------------------------------------------------------------------------------
    def _gitlab(self, method, path, query, body, h):
        m = re.fullmatch(r"/projects/([^/]+)(/merge_requests(?:/(\d+))?)?", path)
        repo = self._repo([m.group(1)]) if m else None
        if repo is None:
            return 404, {"message": "404 Project Not Found"}, {}
        if not m.group(2):
            # GET /projects/:id (URL-encoded path) -- docs.gitlab.com/api/projects#get-a-single-project
            if method == "GET":
                return 200, {"id": 1, "path_with_namespace": repo.path, "default_branch": repo.default_branch}, {}
        elif m.group(3) is None and method == "GET":
            # GET /projects/:id/merge_requests -- docs.gitlab.com/api/merge_requests#list-project-merge-requests
            # (state=opened|closed|locked|merged; source_branch; target_branch; per_page<=100, default 20)
            if self._lagging():
                return 200, [], {"X-Page": 1, "X-Total": 0, "X-Next-Page": ""}
            st = query.get("state", "all")
            items = [p for p in reversed(repo.pulls) if st == "all" or p["state"] == st]
            for q, k in (("source_branch", "source_branch"), ("target_branch", "target_branch")):
                if q in query:
                    items = [p for p in items if p[k] == query[q]]
            chunk, headers = self._page(items, query, h, "per_page", 20)
            return 200, chunk, headers
        elif m.group(3) is None and method == "POST":
            # POST /projects/:id/merge_requests -- #create-mr; 409 when an open MR has the same branches
            missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
            if missing:
                return 400, {"error": f"{', '.join(missing)} is missing"}, {}
            if not self._branch_exists(repo, body["source_branch"]):
                return 422, {"message": ["Source branch does not exist"]}, {}  # 422 since GitLab 15.x
            dup = next(
                (
                    p
                    for p in repo.pulls
                    if p["state"] == "opened"
                    and p["source_branch"] == body["source_branch"]
                    and p["target_branch"] == body["target_branch"]
                ),
                None,
            )
            if dup is not None:
                return (
                    409,
                    {"message": [f"Another open merge request already exists for this source branch: !{dup['iid']}"]},
                    {},
                )
            return (
                201,
                self._new_pull(
                    repo, body["source_branch"], body["target_branch"], body["title"], body.get("description") or ""
                ),
                {},
            )
        elif method == "PUT":
            # PUT /projects/:id/merge_requests/:merge_request_iid -- #update-mr (title, description, ...)
            return self._edit(
                repo,
                "iid",
                int(m.group(3)),
                body,
                ("title", "description", "target_branch"),
                200,
                {"message": "404 Not found"},
            )
        return 404, {"message": "404 Not Found"}, {}

    # Gitea API v1 (swagger: /api/swagger; docs.gitea.com/api) -------------------------------------
    def _gitea(self, method, path, query, body, h):
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/pulls(?:/(\d+))?)?", path)
        repo = self._repo([m.group(1), m.group(2)]) if m else None
        if repo is None:
            return 404, {"message": "The target couldn't be found.", "errors": []}, {}
        if not m.group(3):
            # GET /repos/{owner}/{repo} -- repoGet
            if method == "GET":
                return 200, {"full_name": repo.path, "default_branch": repo.default_branch}, {}
        elif m.group(4) is None and method == "GET":
            # GET /repos/{owner}/{repo}/pulls -- repoListPullRequests (state=open|closed|all, sort, page, limit);
            # no head filter; Link + X-Total-Count
            if self._lagging():
                return 200, [], {"X-Total-Count": 0}
            st = query.get("state", "open")
            items = [p for p in reversed(repo.pulls) if st == "all" or p["state"] == st]
            chunk, headers = self._page(items, query, h, "limit", 30)
            return 200, chunk, headers
        elif m.group(4) is None and method == "POST":
            # POST /repos/{owner}/{repo}/pulls -- repoCreatePullRequest; 409 "pull request already exists ..."
            if not body.get("head") or not body.get("base") or not body.get("title"):
                return 422, {"message": "[Head]: Required; [Base]: Required; [Title]: Required"}, {}
            if not self._branch_exists(repo, body["head"]):
                return 404, {"message": "GetRefCommitID", "errors": []}, {}
            dup = next(
                (
                    p
                    for p in repo.pulls
                    if p["state"] == "open" and p["head"]["ref"] == body["head"] and p["base"]["ref"] == body["base"]
                ),
                None,
            )
            if dup is not None:
                return (
                    409,
                    {
                        "message": (
                            f"pull request already exists for these targets [id: {dup['id']}, "
                            f"head_branch: {body['head']}, base_branch: {body['base']}]"
                        ),
                        "url": self.origin + "/api/swagger",
                    },
                    {},
                )
            return 201, self._new_pull(repo, body["head"], body["base"], body["title"], body.get("body") or ""), {}
        elif method == "PATCH":
            # PATCH /repos/{owner}/{repo}/pulls/{index} -- repoEditPullRequest (title, body, state, base)
            return self._edit(
                repo,
                "number",
                int(m.group(4)),
                body,
                ("title", "body", "state"),
                201,  # sic: 201
                {"message": "The target couldn't be found."},
            )
        return 404, {"message": "The target couldn't be found."}, {}
