"""`slimml migrate --push REMOTE` against real local bare remotes, and `--open-pr github|gitlab|gitea`
against tests/fakeforge.py (the documented REST endpoints, served locally), run through the CLI as
a user runs it.

The forge runs use click's runner in-process (``--jobs 1``, so the worker runs inline) only so
that the client's sleep can be replaced: rate-limit and retry waits are recorded, never slept.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.migrate import forge as forge_pkg
from slimml.migrate import publish as pub
from slimml.migrate.forge import http as forge_http

from .fakeforge import FakeForge
from .test_migrate import APT, FIXABLE, IDENT, db_rows, git, isolated_env, mkrepo, run_migrate

BRANCH = "slimml/slim-images"
TOKEN = "f3c9a0d4b7e21c5a9e8f00d1c2b3a4e5f6a7b8c9"  # hex: no secret *shape*, so only explicit redaction hides it
ENV_OF = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
EXISTS_STATUS = {"github": 422, "gitlab": 409, "gitea": 409}


def make_fleet(base: Path, names: list[str], env_home: Path | None = None) -> dict:
    """Repos under base/repos, each with a bare remote under base/remotes reached through the URL
    https://forge.test/<name>.git (rewritten to the bare repo by url.insteadOf), as on a forge."""
    home = env_home or base / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = isolated_env(home)
    remotes = base / "remotes"
    subprocess.run(
        [
            "git",
            "config",
            "--file",
            str(home / "gitconfig"),
            f"url.{remotes.as_uri()}/.insteadOf",
            "https://forge.test/",
        ],
        check=True,
    )
    for i, name in enumerate(names):
        repo = mkrepo(
            base / "repos" / name.replace("/", "__"),
            {
                "Dockerfile": FIXABLE if i % 2 == 0 else APT + "COPY . /app\n",
                "requirements.txt": "numpy\n",
                "app.py": f"print({i})\n",
            },
        )
        bare = remotes / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        git(base, "clone", "-q", "--bare", str(repo), str(bare))
        git(repo, "remote", "add", "origin", f"https://forge.test/{name}.git")
    return {"base": base, "env": env, "remotes": remotes, "repos": base / "repos", "work": base / "work"}


def remote_refs(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def state_rows(work: Path) -> dict[str, dict]:
    return db_rows(work / ".slimml" / "migrate.db")


# -- --push against real bare remotes ----------------------------------------------------------------
def test_push_creates_refuses_foreign_and_updates_its_own_branch(tmp_path):
    f = make_fleet(tmp_path, ["org/svc-a", "org/svc-b", "org/svc-c"])
    env = f["env"]
    # svc-c's remote already has the branch, with someone else's commit on it
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(f["remotes"] / "org/svc-c.git"), str(other))
    (other / "notes.txt").write_text("mine\n")
    git(other, "add", "notes.txt")
    git(other, *IDENT, "commit", "-q", "-m", "a colleague's work")
    git(other, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}", env=env)
    foreign = git(other, "rev-parse", "HEAD")

    args = [f["repos"], "--workdir", f["work"], "--push", "origin", "--jobs", "2", "--quiet"]
    cp = run_migrate(args, env)
    assert cp.returncode == 2, cp.stderr  # a publish failure: exit 2, everything else done
    rows = state_rows(f["work"])
    for name in ("org__svc-a", "org__svc-b"):
        r = rows[name]
        assert r["status"] == "fixed" and r["publish_error"] is None
        assert r["pushed_sha"] == r["commit_sha"]
        bare = f["remotes"] / f"{name.replace('__', '/')}.git"
        assert remote_refs(bare)[f"refs/heads/{BRANCH}"] == r["commit_sha"]
        assert set(remote_refs(bare)) == {"refs/heads/main", f"refs/heads/{BRANCH}"}
        # the pushed commit is the migration's one commit on top of the remote's main
        assert git(bare, "rev-parse", f"{r['commit_sha']}^") == remote_refs(bare)["refs/heads/main"]
    c = rows["org__svc-c"]
    assert c["status"] == "fixed" and c["pushed_sha"] is None  # the fix stands, unpublished
    assert "commits this migration did not make; not overwritten" in c["publish_error"]
    assert remote_refs(f["remotes"] / "org/svc-c.git")[f"refs/heads/{BRANCH}"] == foreign
    assert "publish failed org__svc-c" in cp.stderr and "1 failed" in cp.stderr
    assert "published: 2 branch(es) pushed to origin" in cp.stderr
    # the report shows it
    md = (f["work"] / ".slimml" / "migrate-report.md").read_text()
    assert "not overwritten" in md

    # A re-run retries only the unpublished repo; the fix is not redone, the foreign branch still untouched.
    cp = run_migrate(args, env)
    assert cp.returncode == 2 and "(1 processed" in cp.stderr, cp.stderr
    rows2 = state_rows(f["work"])
    assert {n: (r["commit_sha"], r["attempts"]) for n, r in rows2.items()} == {
        n: (r["commit_sha"], r["attempts"]) for n, r in rows.items()
    }
    assert remote_refs(f["remotes"] / "org/svc-c.git")[f"refs/heads/{BRANCH}"] == foreign

    # The remote already holds exactly our commit (pushed, then the record was lost): nothing to push.
    db = f["work"] / ".slimml" / "migrate.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE repos SET pushed_sha=NULL WHERE name='org__svc-b'")
    cp = run_migrate(args, env)
    assert "(2 processed" in cp.stderr, cp.stderr
    assert state_rows(f["work"])["org__svc-b"]["pushed_sha"] == rows["org__svc-b"]["commit_sha"]

    # svc-a is redone on a moved main (its repo failed after the push, e.g. a worker died): the new commit
    # carries the same migration trailer, so the remote branch is ours and is replaced, not duplicated.
    a = f["repos"] / "org__svc-a"
    old = rows["org__svc-a"]["commit_sha"]
    (a / "app.py").write_text("print('moved on')\n")
    git(a, "add", "app.py")
    git(a, *IDENT, "commit", "-q", "-m", "main moves on")
    git(a, "branch", "-D", BRANCH)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE repos SET status='failed', reason='worker process died' WHERE name='org__svc-a'")
    cp = run_migrate([*args, "--retry-failed"], env)
    ra = state_rows(f["work"])["org__svc-a"]
    assert ra["status"] == "fixed" and ra["commit_sha"] != old and ra["publish_error"] is None
    bare = f["remotes"] / "org/svc-a.git"
    assert remote_refs(bare)[f"refs/heads/{BRANCH}"] == ra["commit_sha"] == ra["pushed_sha"]
    assert set(remote_refs(bare)) == {"refs/heads/main", f"refs/heads/{BRANCH}"}
    assert git(bare, "rev-parse", f"{ra['commit_sha']}^") == git(a, "rev-parse", "main")


def test_push_to_a_missing_remote_is_recorded_not_fatal(tmp_path):
    f = make_fleet(tmp_path, ["org/svc-a"])
    cp = run_migrate([f["repos"], "--workdir", f["work"], "--push", "upstream", "--quiet"], f["env"])
    assert cp.returncode == 2
    r = state_rows(f["work"])["org__svc-a"]
    assert r["status"] == "fixed" and r["publish_error"] == "push: no remote named 'upstream' in this repo"
    assert git(f["repos"] / "org__svc-a", "rev-parse", BRANCH) == r["commit_sha"]


# -- --open-pr against the fake forges ---------------------------------------------------------------
@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(forge_http, "SLEEP", waited.append)
    return waited


@pytest.fixture
def forge_env(monkeypatch):
    def setup(tmp_path: Path, kind: str, names: list[str], page_size: int = 100, **kw) -> dict:
        f = make_fleet(tmp_path, names)
        for k, v in f["env"].items():  # the in-process run sees the isolated git config and the token
            monkeypatch.setenv(k, v)
        for k in (*ENV_OF.values(), forge_pkg.OVERRIDE_ENV):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv(ENV_OF[kind], TOKEN)
        fake = FakeForge(kind, TOKEN, page_size=page_size, **kw)
        for name in names:
            fake.add_repo(name, git_dir=f["remotes"] / f"{name}.git")
        f["fake"] = fake
        f["args"] = [
            "migrate",
            str(f["repos"]),
            "--workdir",
            str(f["work"]),
            "--jobs",
            "1",
            "--quiet",
            "--open-pr",
            kind,
            "--forge-url",
            fake.url,
        ]
        return f

    made: list[dict] = []

    def wrapped(*a, **kw):
        made.append(setup(*a, **kw))
        return made[-1]

    yield wrapped
    for f in made:
        f["fake"].stop()


def cli(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def names_for(kind: str) -> list[str]:
    # GitLab projects may sit in subgroups; GitHub and Gitea are owner/repo
    return (
        ["org/svc-a", "org/svc-b", "org/team/svc-c"] if kind == "gitlab" else ["org/svc-a", "org/svc-b", "acme/svc-c"]
    )


def head_of(kind: str, pr: dict) -> tuple[str, str]:
    if kind == "gitlab":
        return pr["source_branch"], pr["target_branch"]
    return pr["head"]["ref"], pr["base"]["ref"]


def body_of(kind: str, pr: dict) -> str:
    return pr["description"] if kind == "gitlab" else pr["body"]


def add_decoys(fake: FakeForge, kind: str, path: str, n: int, tag: str) -> None:
    """Open PRs that are not ours: same head into other bases (GitHub/GitLab allow that), or other
    heads (Gitea's list has no head filter)."""
    for i in range(n):
        if kind == "gitea":
            fake.add_pull(path, f"feature/{tag}-{i}", "main")
        else:
            fake.add_pull(path, BRANCH, f"release-{tag}-{i}")


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_first_run_opens_one_pr_per_repo_second_run_updates_it(kind, tmp_path, forge_env, sleeps):
    names = names_for(kind)
    f = forge_env(tmp_path, kind, names, page_size=2)
    fake = f["fake"]
    fake.repos[names[1]].default_branch = "develop"  # the base comes from the forge's repo data
    git(f["remotes"] / f"{names[1]}.git", "branch", "develop", "main")
    add_decoys(fake, kind, names[0], 3, "old")  # listed (newest first) before ours is created

    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    rows = state_rows(f["work"])
    for name in names:
        row = rows[name.replace("/", "__")]
        assert row["status"] == "fixed" and row["pr_state"] == "opened" and row["publish_error"] is None, row
        assert row["pushed_sha"] == row["commit_sha"]
        ours = [
            p for p in fake.open_pulls(name) if head_of(kind, p) == (BRANCH, "develop" if name == names[1] else "main")
        ]
        assert len(ours) == 1
        pr = ours[0]
        assert row["pr_number"] == (pr["iid"] if kind == "gitlab" else pr["number"])
        assert row["pr_url"] == (pr["web_url"] if kind == "gitlab" else pr["html_url"])
        # title and body: the migration's commit message (fixes per Dockerfile, the estimate), no trailer
        message = git(f["repos"] / name.replace("/", "__"), "log", "-1", "--format=%B", row["commit_sha"])
        assert pr["title"] == message.splitlines()[0] and pr["title"].startswith("slimml: slimmer Docker images")
        body = body_of(kind, pr)
        for line in message.splitlines()[1:]:
            if line and not line.startswith("Slimml-Migrate:"):
                assert line in body
        assert "Slimml-Migrate" not in body and "Dockerfile:" in body and "Estimated saving" in body
        assert "SLM" in body
    assert "pull requests: 3 opened, 0 updated, 0 unchanged" in r.output
    # the list was paged through (3 decoys + page size 2) before creating
    assert any(q["query"].get("page") == "2" for q in fake.requests("GET", "pulls|merge_requests"))
    n_open = {n: len(fake.open_pulls(n)) for n in names}

    # Second run, after a crash lost the PR records (pr_state NULL) and a human edited one title;
    # newer decoys now list first, so our PR is on page 2.
    with sqlite3.connect(f["work"] / ".slimml" / "migrate.db") as conn:
        conn.execute("UPDATE repos SET pr_state=NULL, pr_url=NULL, pr_number=NULL")
    ours_a = [p for p in fake.open_pulls(names[0]) if head_of(kind, p) == (BRANCH, "main")][0]
    ours_a["title"] = "edited by a human"
    add_decoys(fake, kind, names[0], 2, "new")
    n_open[names[0]] += 2
    before = len(fake.log)
    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    rows2 = state_rows(f["work"])
    states = {n: rows2[n.replace("/", "__")]["pr_state"] for n in names}
    assert states == {names[0]: "updated", names[1]: "unchanged", names[2]: "unchanged"}
    assert {n: len(fake.open_pulls(n)) for n in names} == n_open  # nothing duplicated
    assert ours_a["title"].startswith("slimml: slimmer Docker images")
    second = fake.log[before:]
    assert not [q for q in second if q["method"] == "POST"]
    assert len([q for q in second if q["method"] in ("PATCH", "PUT")]) == 1
    page2 = [
        q
        for q in second
        if q["method"] == "GET" and q["query"].get("page") == "2" and f"{names[0].split('/')[1]}" in q["path"]
    ]
    assert page2  # found on page 2
    assert {n: rows2[n.replace("/", "__")]["pr_number"] for n in names} == {
        n: rows[n.replace("/", "__")]["pr_number"] for n in names
    }
    assert sleeps == []

    # A third run: everything is done, nothing is processed, no request is made.
    before = len(fake.log)
    r = cli(f["args"])
    assert r.exit_code == 0 and "(0 processed" in r.output, r.output
    assert len(fake.log) == before


def test_gitlab_pagination_by_x_next_page_alone(tmp_path, forge_env, sleeps):
    f = forge_env(tmp_path, "gitlab", ["org/svc-a"], page_size=1, gitlab_link=False)
    fake = f["fake"]
    fake.add_pull("org/svc-a", BRANCH, "main", title="old title", body="old")  # ours, from an earlier run...
    add_decoys(fake, "gitlab", "org/svc-a", 2, "x")  # ...listed third
    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    assert state_rows(f["work"])["org__svc-a"]["pr_state"] == "updated"
    assert len(fake.open_pulls("org/svc-a")) == 3
    assert [q["query"].get("page") for q in fake.requests("GET", "merge_requests")] == [None, "2", "3"]


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_create_conflict_falls_back_to_find_and_update(kind, tmp_path, forge_env, sleeps):
    f = forge_env(tmp_path, kind, ["org/svc-a"])
    fake = f["fake"]
    fake.add_pull("org/svc-a", BRANCH, "main", title="stale", body="stale")  # opened by an earlier, crashed run
    fake.lag_lists = 1  # the first list does not show it yet
    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    row = state_rows(f["work"])["org__svc-a"]
    assert row["pr_state"] == "updated" and row["pr_number"] == 1
    assert len(fake.open_pulls("org/svc-a")) == 1
    assert body_of(kind, fake.open_pulls("org/svc-a")[0]).startswith("Applied by `slimml migrate`")
    methods = [q["method"] for q in fake.log if "pulls" in q["path"] or "merge_requests" in q["path"]]
    assert methods == ["GET", "POST", "GET", "PUT" if kind == "gitlab" else "PATCH"]


RATE_LIMITS = {
    # GitHub primary limit: 403 + x-ratelimit-remaining 0, wait until x-ratelimit-reset (epoch seconds)
    "github": lambda now: (
        403,
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(now) + 30),
            "x-ratelimit-resource": "core",
        },
        {"message": "API rate limit exceeded for user ID 1."},
    ),
    # GitLab: 429 + Retry-After (and RateLimit-* headers)
    "gitlab": lambda now: (
        429,
        {
            "Retry-After": "7",
            "RateLimit-Limit": "600",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(now) + 7),
        },
        {"message": "Retry later"},
    ),
    "gitea": lambda now: (429, {"Retry-After": "5"}, {"message": "rate limited"}),
}


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_rate_limited_once_and_5xx_retried(kind, tmp_path, forge_env, sleeps):
    import time

    f = forge_env(tmp_path, kind, ["org/svc-a"])
    fake = f["fake"]
    status, headers, body = RATE_LIMITS[kind](time.time())
    fake.fail("GET", r"pulls|merge_requests", status, headers, body)
    if kind == "github":  # a secondary limit: 403 with retry-after
        fake.fail(
            "POST", r"pulls", 403, {"retry-after": "60"}, {"message": "You have exceeded a secondary rate limit."}
        )
    fake.fail("POST", r"pulls|merge_requests", 502, {}, {"message": "Bad Gateway"})
    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    assert state_rows(f["work"])["org__svc-a"]["pr_state"] == "opened"
    assert len(fake.open_pulls("org/svc-a")) == 1
    if kind == "github":
        assert 25 <= sleeps[0] <= 32 and sleeps[1:] == [60.0, 4.0]
    else:
        assert sleeps == [float(headers["Retry-After"]), 2.0]


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_failed_pr_is_retried_by_a_rerun_without_redoing_the_fix(kind, tmp_path, forge_env, sleeps):
    f = forge_env(tmp_path, kind, ["org/svc-a", "org/svc-b"])
    fake = f["fake"]
    fake.fail("POST", r"svc-b.*(pulls|merge_requests)", 503, {}, {"message": "down"}, times=5)  # MAX_ATTEMPTS
    r = cli(f["args"])
    assert r.exit_code == 2, r.output
    rows = state_rows(f["work"])
    b = rows["org__svc-b"]
    assert b["status"] == "fixed" and b["pr_state"] == "failed" and "HTTP 503" in b["publish_error"]
    assert b["pushed_sha"] == b["commit_sha"]  # the push is recorded: the re-run only retries the PR
    assert rows["org__svc-a"]["pr_state"] == "opened"
    assert sleeps == [2.0, 4.0, 8.0, 16.0]  # bounded: 5 attempts
    assert "publish failed org__svc-b" in r.output

    sleeps.clear()
    before = len(fake.log)
    r = cli(f["args"])
    assert r.exit_code == 0, r.output
    assert "(1 processed" in r.output
    rows2 = state_rows(f["work"])
    assert rows2["org__svc-b"]["pr_state"] == "opened" and rows2["org__svc-b"]["publish_error"] is None
    assert {n: (x["commit_sha"], x["attempts"]) for n, x in rows2.items()} == {
        n: (x["commit_sha"], x["attempts"]) for n, x in rows.items()
    }
    assert all("svc-b" in q["path"] for q in fake.log[before:])
    assert len(fake.open_pulls("org/svc-b")) == 1 and sleeps == []


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_token_never_printed_stored_or_sent_in_a_body(kind, tmp_path, forge_env, sleeps):
    f = forge_env(tmp_path, kind, ["org/svc-a"])
    fake = f["fake"]
    # a forge error that echoes the credential back
    fake.fail("POST", r"pulls|merge_requests", 400, {}, {"message": f"invalid request for token {TOKEN}"})
    r1 = cli(f["args"])
    assert r1.exit_code == 2
    err = state_rows(f["work"])["org__svc-a"]["publish_error"]
    assert "HTTP 400" in err and "****" in err and TOKEN not in err
    r2 = cli(f["args"])
    assert r2.exit_code == 0, r2.output
    # the token was really used (in the header the forge documents), and nowhere else
    auth = fake.log[0]["headers"]
    assert TOKEN in (auth.get("private-token") if kind == "gitlab" else auth.get("authorization"))
    for text in (r1.output, r2.output):
        assert TOKEN not in text
    for p in (f["work"] / ".slimml").rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p
    for pr in fake.repos["org/svc-a"].pulls:
        assert TOKEN not in str(pr)
    for q in fake.log:
        assert TOKEN not in str(q["json"]) and TOKEN not in q["path"] and TOKEN not in str(q["query"])


# -- options -----------------------------------------------------------------------------------------
def test_bad_publish_options_are_one_line_errors_and_write_nothing(tmp_path):
    f = make_fleet(tmp_path, ["org/svc-a"])
    env = {k: v for k, v in f["env"].items() if k not in (*ENV_OF.values(), forge_pkg.OVERRIDE_ENV)}
    base = [f["repos"], "--workdir", f["work"], "--quiet"]
    cases = [
        (["--open-pr", "github"], "needs a token: set GITHUB_TOKEN (or SLIMML_FORGE_TOKEN)"),
        (["--open-pr", "gitea"], "needs --forge-url"),
        (["--push", "origin", "--dry-run"], "cannot be combined with --dry-run"),
        (["--forge-url", "https://x/api/v4"], "are for --open-pr"),
    ]
    for extra, msg in cases:
        cp = run_migrate([*base, *extra], env)
        assert cp.returncode == 2 and msg in cp.stderr and len(cp.stderr.strip().splitlines()) == 1, (extra, cp.stderr)
    env_tok = dict(env, GITLAB_TOKEN=TOKEN)
    for extra, msg in [
        (["--open-pr", "gitlab", "--patches", tmp_path / "p"], "cannot be combined with --patches"),
        (["--open-pr", "gitlab", "--forge-url", "http://gitlab.example.com/api/v4"], "https://"),
        (["--open-pr", "gitlab", "--pr-base", "bad..name"], "not a valid branch name"),
    ]:
        cp = run_migrate([*base, *extra], env_tok)
        assert cp.returncode == 2 and msg in cp.stderr and TOKEN not in cp.stderr, (extra, cp.stderr)
    assert not f["work"].exists() and not (tmp_path / "p").exists()


# -- pieces ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, expected",
    [
        ("git@github.com:org/svc.git", ("github.com", "org/svc")),
        ("https://github.com/org/svc.git", ("github.com", "org/svc")),
        ("https://user:s3cret@gitlab.example.com/group/sub/proj.git/", ("gitlab.example.com", "group/sub/proj")),
        ("ssh://git@gitea.example.com:2222/org/svc.git", ("gitea.example.com", "org/svc")),
        ("git@work-alias:/org/svc", ("work-alias", "org/svc")),
    ],
)
def test_remote_urls(url, expected):
    assert forge_pkg.parse_remote(url) == expected


@pytest.mark.parametrize("url", ["/srv/git/svc.git", "file:///srv/git/svc.git", "../svc"])
def test_local_remotes_name_no_project(url):
    with pytest.raises(forge_pkg.RemoteError):
        forge_pkg.parse_remote(url)


def test_gitea_under_a_path_prefix(tmp_path, forge_env, sleeps, monkeypatch):
    """Gitea served under /gitea: clone URLs carry the prefix, the project path does not."""
    f = forge_env(tmp_path, "gitea", ["org/svc-a"])
    fake = f["fake"]
    repo = f["repos"] / "org__svc-a"
    git(repo, "remote", "set-url", "origin", "https://forge.test/gitea/org/svc-a.git")
    (f["remotes"] / "gitea").mkdir()
    os.symlink(f["remotes"] / "org", f["remotes"] / "gitea" / "org")
    from . import fakeforge

    monkeypatch.setitem(fakeforge.API_PREFIX, "gitea", "/gitea/api/v1")
    args = [a if a != fake.url.replace("/gitea/api/v1", "/api/v1") else fake.url for a in f["args"]]
    r = cli(args)
    assert r.exit_code == 0, r.output
    assert state_rows(f["work"])["org__svc-a"]["pr_state"] == "opened"


def test_measured_sizes_replace_the_estimate_in_the_body():
    message = (
        "slimml: slimmer Docker images (2 fixes in 1 Dockerfile)\n\nApplied by `slimml migrate`. Fixes:\n\n"
        "Dockerfile:\n- SLM001 pip-no-cache: no pip cache\n- SLM005 multi-stage (unsafe, verified by a build): x\n"
        "- SLM007 not applied: its unsafe fixes -- the build did not verify (exit 1: ls: cannot access)\n\n"
        "Estimated saving: 100 MB-200 MB (offline estimate from the applied fixes; ...).\n\n"
        "Slimml-Migrate: abc.1\n"
    )
    files = [{"path": "Dockerfile", "measured_before": 1_000_000_000, "measured_after": 400_000_000}]
    title, body = pub.pr_text(message, files, None)
    assert title == "slimml: slimmer Docker images (2 fixes in 1 Dockerfile)"
    assert "Image size, measured" in body and "| `Dockerfile` |" in body and "(60%)" in body
    assert "Estimated saving" not in body and "Slimml-Migrate" not in body
    assert "SLM005 multi-stage (unsafe, verified by a build)" in body
    assert "SLM007 not applied: its unsafe fixes -- the build did not verify (exit 1: ls: cannot access)" in body
    _, est_body = pub.pr_text(message, [{"path": "Dockerfile", "measured_before": None, "measured_after": None}], None)
    assert "Estimated saving: 100 MB-200 MB" in est_body and "Image size, measured" not in est_body


def test_redirect_to_another_host_is_not_followed_with_the_token(sleeps):
    a, b = FakeForge("gitea", TOKEN), FakeForge("gitea", TOKEN)
    try:
        a.add_repo("org/svc")
        a.fail("GET", r"/repos/org/svc$", 301, {"Location": b.url + "/repos/org/svc"})
        fg = forge_pkg.make("gitea", a.url, TOKEN)
        with pytest.raises(forge_pkg.ForgeError, match="redirected to another host"):
            fg.default_branch("org/svc")
        assert b.log == []
        # within the same origin a redirect is followed (a renamed repository)
        a.add_repo("org/renamed", default_branch="trunk")
        a.fail("GET", r"/repos/org/svc$", 301, {"Location": a.url + "/repos/org/renamed"})
        assert fg.default_branch("org/svc") == "trunk"
    finally:
        a.stop()
        b.stop()


def test_too_long_a_rate_limit_fails_instead_of_hanging(sleeps):
    import time

    fake = FakeForge("github", TOKEN)
    try:
        fake.add_repo("org/svc")
        fake.fail(
            "GET",
            r"/repos/org/svc$",
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3600)},
        )
        fg = forge_pkg.make("github", fake.url, TOKEN)
        with pytest.raises(forge_pkg.ForgeError, match="re-run later"):
            fg.default_branch("org/svc")
        assert sleeps == []
    finally:
        fake.stop()


def test_worker_processes_open_prs_with_the_token_from_the_environment(tmp_path):
    """The real command line with worker processes (--jobs 2): each worker reads the token itself."""
    names = ["org/svc-a", "org/svc-b", "org/svc-c"]
    f = make_fleet(tmp_path, names)
    fake = FakeForge("gitlab", TOKEN)
    try:
        for name in names:
            fake.add_repo(name, git_dir=f["remotes"] / f"{name}.git")
        env = {k: v for k, v in f["env"].items() if k not in (*ENV_OF.values(), forge_pkg.OVERRIDE_ENV)}
        env[forge_pkg.OVERRIDE_ENV] = TOKEN  # the override works for any forge
        cp = run_migrate(
            [
                f["repos"],
                "--workdir",
                f["work"],
                "--jobs",
                "2",
                "--quiet",
                "--open-pr",
                "gitlab",
                "--forge-url",
                fake.url,
            ],
            env,
        )
        assert cp.returncode == 0, cp.stderr
        assert {r["pr_state"] for r in state_rows(f["work"]).values()} == {"opened"}
        assert all(len(fake.open_pulls(n)) == 1 for n in names)
        assert TOKEN not in cp.stdout + cp.stderr
    finally:
        fake.stop()


def test_a_fresh_runner_with_the_state_but_not_the_clone_redoes_the_fix_and_pushes(tmp_path):
    """A job engine restores the state (CI cache, a new pod) but not the workdir's clones: a repo whose commit was
    made but never pushed has lost that commit. The re-run clones again, redoes the fix and pushes it; a remote
    branch an earlier attempt did push is replaced (same migration trailer), never duplicated."""
    f = make_fleet(tmp_path, ["org/svc-a", "org/svc-b"])
    env = f["env"]
    repos_file = tmp_path / "repos.txt"
    repos_file.write_text("https://forge.test/org/svc-a.git\nhttps://forge.test/org/svc-b.git\n")
    args = ["--repos", repos_file, "--workdir", f["work"], "--quiet"]
    cp = run_migrate(args, env)  # no --push yet: committed in the clones only
    assert cp.returncode == 0, cp.stderr
    first = state_rows(f["work"])
    assert all(r["status"] == "fixed" and r["pushed_sha"] is None for r in first.values())
    import shutil

    shutil.rmtree(f["work"] / ".slimml" / "clones")  # the runner died: the state survives, the clones do not
    cp = run_migrate([*args, "--push", "origin"], env)
    assert cp.returncode == 0, cp.stderr
    rows = state_rows(f["work"])
    for url, r in rows.items():
        name = url.removeprefix("https://forge.test/").removesuffix(".git")
        bare = f["remotes"] / f"{name}.git"
        assert r["status"] == "fixed" and r["publish_error"] is None
        assert r["pushed_sha"] == r["commit_sha"] == remote_refs(bare)[f"refs/heads/{BRANCH}"]
        assert git(bare, "rev-parse", f"{r['commit_sha']}^") == remote_refs(bare)["refs/heads/main"]
        assert "Dockerfile" in git(bare, "show", "--name-only", "--format=", r["commit_sha"])
    # Once more from scratch after a push: the remote branch is ours and is replaced by the redone commit.
    shutil.rmtree(f["work"] / ".slimml" / "clones")
    with sqlite3.connect(f["work"] / ".slimml" / "migrate.db") as conn:
        conn.execute("UPDATE repos SET pushed_sha=NULL")
    cp = run_migrate([*args, "--push", "origin"], env)
    assert cp.returncode == 0, cp.stderr
    for url, r in state_rows(f["work"]).items():
        bare = f["remotes"] / f"{url.removeprefix('https://forge.test/').removesuffix('.git')}.git"
        assert set(remote_refs(bare)) == {"refs/heads/main", f"refs/heads/{BRANCH}"}
        assert remote_refs(bare)[f"refs/heads/{BRANCH}"] == r["pushed_sha"] == r["commit_sha"]
