"""The one HTTP client the forges share: JSON in and out, the token only in a header, rate limits
and server errors retried with bounded waits, and no error text that can carry the token.

``requests`` rather than ``urllib``: it is already installed (the docker SDK depends on it), keeps
one connection per forge across hundreds of repos, parses ``Link`` headers, and honours
``REQUESTS_CA_BUNDLE`` / proxies the way other CLI tools do. Redirects are followed by hand, and
only within the forge's own origin: a redirect to another host must never carry the token
(``requests`` strips ``Authorization`` there, but not GitLab's ``PRIVATE-TOKEN``; ``urllib``
strips neither).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ...secrets import MASK, mask

# Injected by tests (no real sleeping); the client looks them up at call time.
SLEEP = time.sleep
CLOCK = time.time

MAX_ATTEMPTS = 5  # per request: rate limits and server errors together
MAX_WAIT = 900.0  # longest single wait (s); a rate limit resetting later fails the PR, a re-run retries it
BACKOFF = (2.0, 4.0, 8.0, 16.0)  # server errors / connection errors
TIMEOUT = 60.0


class ForgeError(Exception):
    """An API call failed; the message is one line, masked, without the token."""

    def __init__(self, message: str, status: int | None = None, data=None):
        super().__init__(message)
        self.status = status
        self.data = data


@dataclass
class Response:
    status: int
    data: object
    headers: dict
    next_url: str | None  # Link rel="next" (GitHub, Gitea) or built from X-Next-Page (GitLab)


def origin(url: str) -> tuple[str, str, int | None]:
    u = urlsplit(url)
    return (u.scheme.lower(), (u.hostname or "").lower(), u.port)


class Client:
    def __init__(
        self,
        base_url: str,
        token: str,
        auth_header: tuple[str, str],
        sleep=None,
        clock=None,
        user_agent: str = "slimml-migrate",
    ):
        self.base = base_url.rstrip("/") + "/"
        self._token = token
        self._headers = {auth_header[0]: auth_header[1], "Accept": "application/json", "User-Agent": user_agent}
        self._sleep = sleep
        self._clock = clock
        self._session = None
        self.waited: list[float] = []  # every wait, for the report of a run (and the tests)

    def __repr__(self) -> str:  # never the headers
        return f"Client({self.base!r})"

    def clean(self, text: str) -> str:
        """Anything shown to the user: the token replaced wherever it occurs, then the usual masking."""
        if self._token:
            text = text.replace(self._token, MASK)
        return mask(text)

    def url(self, path: str) -> str:
        return urljoin(self.base, path.lstrip("/"))

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, seconds)
        if seconds > MAX_WAIT:
            raise ForgeError(
                f"{why}: the forge asks to wait {seconds:.0f}s (more than {MAX_WAIT:.0f}s); re-run later to retry"
            )
        self.waited.append(seconds)
        (self._sleep or SLEEP)(seconds)

    def request(self, method: str, path_or_url: str, params: dict | None = None, json=None) -> Response:
        import requests

        if self._session is None:
            self._session = requests.Session()
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        home = origin(self.base)
        if origin(url) != home:  # a pagination link elsewhere: the token stays with its forge
            raise ForgeError(
                self.clean(
                    f"{method}: the forge pointed to another host ({origin(url)[1]}); not following with the token"
                )
            )
        redirects = 0
        attempt = 0
        while True:
            attempt += 1
            what = f"{method} {urlsplit(url).path}"
            try:
                r = self._session.request(
                    method, url, params=params, json=json, headers=self._headers, timeout=TIMEOUT, allow_redirects=False
                )
            except requests.RequestException as e:
                if attempt >= MAX_ATTEMPTS:
                    raise ForgeError(self.clean(f"{what}: {type(e).__name__}: {e}")) from None
                self._wait(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)], what)
                continue
            if r.status_code in (301, 302, 303, 307, 308) and "location" in r.headers and redirects < 5:
                target = urljoin(url, r.headers["location"])
                if origin(target) != home:  # the token stays with the forge it was given for
                    raise ForgeError(
                        self.clean(
                            f"{what}: redirected to another host ({origin(target)[1]}); not following with the token"
                        ),
                        r.status_code,
                    )
                redirects += 1
                url, params = target, None  # the Location carries its own query
                if r.status_code == 303:
                    method, json = "GET", None
                continue
            delay = self._retry_delay(r, (self._clock or CLOCK)(), attempt)
            if delay is not None and attempt < MAX_ATTEMPTS:
                self._wait(delay, f"{what}: HTTP {r.status_code}")
                continue
            data = _json(r)
            if r.status_code >= 400:
                raise ForgeError(self.clean(f"{what}: HTTP {r.status_code}: {_message(data, r)}"), r.status_code, data)
            return Response(r.status_code, data, dict(r.headers), _next(r))

    def _retry_delay(self, r, now: float, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the response is final.

        GitHub: 403/429 with ``x-ratelimit-remaining: 0`` waits until ``x-ratelimit-reset`` (epoch s);
        ``retry-after`` (s) on 403/429 (secondary limits). GitLab: 429 with ``Retry-After`` or
        ``RateLimit-Reset`` (epoch s). Gitea: 429 / ``Retry-After``. 5xx: exponential backoff.
        """
        h = r.headers
        code = r.status_code
        if code in (403, 429):
            ra = _number(h.get("retry-after"))
            if ra is not None:
                return ra
            if h.get("x-ratelimit-remaining") == "0" or h.get("ratelimit-remaining") == "0" or code == 429:
                reset = _number(h.get("x-ratelimit-reset") or h.get("ratelimit-reset"))
                if reset is not None:
                    return max(0.0, reset - now) + 1.0  # the reset second itself may still be limited
                if code == 429:
                    return 60.0  # GitHub: "wait at least one minute" when no header says how long
            return None
        if code >= 500:
            return BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
        return None

    def paginate(self, path: str, params: dict) -> list:
        """Every item of a list endpoint, following ``Link: rel=next`` / ``X-Next-Page``."""
        items: list = []
        resp = self.request("GET", path, params=params)
        pages = 1
        while True:
            if not isinstance(resp.data, list):
                raise ForgeError(self.clean(f"GET {path}: expected a list, got {type(resp.data).__name__}"))
            items.extend(resp.data)
            if not resp.next_url or pages >= 100:  # 100 pages x 100: far beyond open PRs per branch
                return items
            resp = self.request("GET", resp.next_url)
            pages += 1

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _number(v) -> float | None:
    try:
        return float(v) if v is not None and str(v).strip() != "" else None
    except ValueError:
        return None


def _json(r):
    if not r.content:
        return None
    try:
        return r.json()
    except ValueError:
        return None


def _message(data, r) -> str:
    """The forge's own error text, one line, bounded (GitHub: message + errors[].message; GitLab:
    message (string, list or dict) / error; Gitea: message)."""
    parts: list[str] = []
    if isinstance(data, dict):
        for key in ("message", "error"):
            v = data.get(key)
            if isinstance(v, str):
                parts.append(v)
            elif isinstance(v, list):
                parts += [str(x) for x in v]
            elif isinstance(v, dict):
                parts += [f"{k}: {x}" for k, x in v.items()]
        for e in data.get("errors") or []:
            parts.append(e.get("message") or e.get("code") or str(e) if isinstance(e, dict) else str(e))
    if not parts:
        parts.append(r.reason or "")
        text = (r.text or "").strip()
        if text:
            parts.append(text)
    return " ".join(" ".join(parts).split())[:300]


def _next(r) -> str | None:
    link = r.links.get("next") if r.headers.get("link") else None
    if link and link.get("url"):
        return link["url"]
    page = r.headers.get("x-next-page")
    if page:  # GitLab: the same request with page=N (offset pagination)
        from urllib.parse import parse_qsl, urlencode, urlunsplit

        u = urlsplit(r.url)
        q = dict(parse_qsl(u.query))
        q["page"] = page
        return urlunsplit((u.scheme, u.netloc, u.path, urlencode(q), ""))
    return None
