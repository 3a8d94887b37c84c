"""`slimml migrate --push REMOTE [--open-pr github|gitlab|gitea]`: publish a fixed repo's branch.

Runs in the worker after the branch exists (or on a re-run, for a fixed repo whose push or pull
request is not done yet). Publishing never undoes or redoes the fix: a failure is recorded in
``publish_error`` (and ``pr_state = failed``) and the next run retries it.

Push: the branch goes to ``REMOTE`` with ``--force-with-lease`` pinned to the remote tip read just
before, so a remote branch is created, left alone when already there, or replaced only when its
tip is a commit of *this* migration (its ``Slimml-Migrate`` trailer) -- someone else's branch, or
a reviewer's commit on top of ours, is never overwritten.

Pull request: one per repo, found by its head branch (and base) and updated in place on later
runs. The token is read from the environment by the process that uses it; it is never written to
the state, the reports, the PR body or an error message.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..secrets import MASK, mask
from . import gitops, state

PUSH_TIMEOUT = 600
MAX_BODY = 60000  # GitHub refuses bodies over 65536 characters
_FORGES: dict = {}  # (kind, api url, token) -> Forge: one HTTP session per worker process


class PublishError(Exception):
    """One line for the report (masked by state.update)."""


def publish(conn, job, sleep=None) -> None:
    """Push (and open or update the pull request for) ``job``'s repo; never raises."""
    cfg = job.publish or {}
    row = state.repo(conn, job.repo_id)
    if row["status"] != "fixed" or not row["commit_sha"] or job.mode != "branch":
        return
    tok = None
    try:
        if cfg.get("forge"):
            from . import forge

            tok = forge.token(cfg["forge"])
        repo, sha = Path(row["path"]), row["commit_sha"]
        trailer = f"{job.state_id}.{job.repo_id}"
        if row["pushed_sha"] != sha:
            push(repo, cfg["remote"], job.branch, sha, trailer)
            # Recorded before the pull request: a re-run then only retries the PR.
            state.update(conn, job.repo_id, pushed_sha=sha, publish_error=None)
        if cfg.get("forge"):
            pr, pr_state = open_pr(conn, job, repo, row, cfg, tok, sleep)
            state.update(conn, job.repo_id, pr_url=pr.url, pr_number=pr.number, pr_state=pr_state, publish_error=None)
    except Exception as e:  # noqa: BLE001 - a publish failure never undoes the fix or stops the run
        msg = (
            str(e)
            if isinstance(e, (PublishError, gitops.GitError)) or _is_forge_error(e)
            else (f"internal error while publishing: {type(e).__name__}: {e}")
        )
        if tok:
            msg = msg.replace(tok, MASK)
        fields = {"publish_error": mask(msg)[:1000]}
        if cfg.get("forge"):
            fields["pr_state"] = "failed"
        state.update(conn, job.repo_id, **fields)


def _is_forge_error(e: Exception) -> bool:
    from .forge import ForgeError, RemoteError

    return isinstance(e, (ForgeError, RemoteError))


# -- push ------------------------------------------------------------------------------------------
def remote_branch_sha(repo: Path, remote: str, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    cp = gitops.git(["ls-remote", "--", remote, ref], repo, timeout=PUSH_TIMEOUT)
    for line in gitops.out(cp).splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return None


def _remote_tip_is_ours(repo: Path, remote: str, branch: str, tip: str, trailer: str) -> bool:
    info = gitops.commit_info(repo, tip)
    if info is None:  # not here: fetch its objects only (no ref written, not even remote-tracking ones)
        gitops.git(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
                "--refmap=",
                "--",
                remote,
                f"refs/heads/{branch}",
            ],
            repo,
            timeout=PUSH_TIMEOUT,
        )
        info = gitops.commit_info(repo, tip)
    return info is not None and gitops.trailer_value(info[1]) == trailer


def push(repo: Path, remote: str, branch: str, sha: str, trailer: str) -> None:
    if gitops.git(["config", "--get", f"remote.{remote}.url"], repo, check=False).returncode != 0:
        raise PublishError(f"push: no remote named {remote!r} in this repo")
    tip = remote_branch_sha(repo, remote, branch)
    if tip == sha:
        return
    if tip is not None and not _remote_tip_is_ours(repo, remote, branch, tip, trailer):
        raise PublishError(
            f"push: {remote} already has a branch {branch} (at {tip[:10]}) with commits this "
            "migration did not make; not overwritten"
        )
    ref = f"refs/heads/{branch}"
    # The lease pins the tip just read ("" = must not exist): a concurrent push in between fails ours.
    gitops.git(
        ["push", "--quiet", "--porcelain", f"--force-with-lease={ref}:{tip or ''}", "--", remote, f"{sha}:{ref}"],
        repo,
        timeout=PUSH_TIMEOUT,
    )


# -- pull request ----------------------------------------------------------------------------------
def open_pr(conn, job, repo: Path, row: dict, cfg: dict, tok: str | None, sleep=None):
    from . import forge

    if not tok:
        raise PublishError(f"no token: set {forge.TOKEN_ENV[cfg['forge']]} (or {forge.OVERRIDE_ENV})")
    url = gitops.out(gitops.git(["config", "--get", f"remote.{cfg['remote']}.url"], repo))
    _, path = forge.parse_remote(url)
    api = forge.api_url(cfg["forge"], cfg.get("forge_url"))
    prefix = forge.web_prefix(api)
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) + 1 :]
    key = (cfg["forge"], api, tok)
    fg = _FORGES.get(key)
    if fg is None:
        fg = _FORGES[key] = forge.make(cfg["forge"], api, tok, sleep=sleep)
    project = fg.project(path)
    base = cfg.get("pr_base") or fg.default_branch(project)
    if base == job.branch:
        raise PublishError(f"pull request: the base branch is {base}, the migration's own branch")
    info = gitops.commit_info(repo, row["commit_sha"])
    if info is None:
        raise PublishError(f"pull request: commit {row['commit_sha'][:10]} is gone from the repo")
    title, body = pr_text(info[1], state.files(conn, job.repo_id), row["reason"])
    return fg.ensure(project, job.branch, base, title.replace(tok, MASK), body.replace(tok, MASK))


def pr_text(message: str, files: list[dict], reason: str | None) -> tuple[str, str]:
    """Title and body of the pull request: the commit message `slimml migrate` wrote (fixes per
    Dockerfile, unsafe fixes kept or dropped and why, the estimate), with the measured sizes
    instead of the estimate when the run measured them."""
    from .fmt import human

    lines = [ln for ln in message.rstrip("\n").splitlines() if not ln.startswith(f"{gitops.TRAILER}: ")]
    title, rest = lines[0], lines[1:]
    measured = [f for f in files if f.get("measured_before") is not None and f.get("measured_after") is not None]
    parts: list[str] = []
    if measured:
        # Measured sizes replace the offline estimate (one number per kind, never both).
        rest = [ln for ln in rest if not re.match(r"^\s*estimated saving: ", ln, re.IGNORECASE)]
        tb = sum(f["measured_before"] for f in measured)
        ta = sum(f["measured_after"] for f in measured)
        table = [
            "**Image size, measured** (both images built by `slimml migrate --measure`):",
            "",
            "| Dockerfile | before | after | saved |",
            "|---|---:|---:|---:|",
        ]
        for f in measured:
            b, a = f["measured_before"], f["measured_after"]
            table.append(f"| `{f['path']}` | {human(b)} | {human(a)} | {human(b - a)}{_pct(b, a)} |")
        if len(measured) > 1:
            table.append(f"| **total** | {human(tb)} | {human(ta)} | {human(tb - ta)}{_pct(tb, ta)} |")
        for f in files:
            if f.get("measure_error") and f not in measured:
                table.append(f"| `{f['path']}` | - | - | not measured: {_cell(f['measure_error'][:200])} |")
        parts.append("\n".join(table))
    parts.append(re.sub(r"\n{3,}", "\n\n", "\n".join(rest).strip()))
    if reason:
        parts.append(f"Not changed: {reason[:1000]}")
    parts.append(
        "---\n_Opened by `slimml migrate`. Running the migration again updates this pull request "
        "instead of opening another; the branch is only ever rewritten with this migration's own commits._"
    )
    body = "\n\n".join(p for p in parts if p)
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n(truncated: see the migration report for the rest)"
    return mask(title), mask(body)


def _pct(before: int, after: int) -> str:
    return f" ({100 * (before - after) / before:.0f}%)" if before else ""


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


# -- selection and totals for run.py -----------------------------------------------------------------
def pending_sql(cfg: dict) -> str:
    """Fixed repos whose publishing is not done: not pushed (or pushed an older commit), or, with
    --open-pr, no pull request recorded yet or the last attempt failed."""
    cond = "pushed_sha IS NULL OR pushed_sha != commit_sha"
    if cfg.get("forge"):
        cond += " OR pr_state IS NULL OR pr_state = 'failed'"
    return f"status = 'fixed' AND commit_sha IS NOT NULL AND ({cond})"


def counts(conn, cfg: dict) -> dict[str, int]:
    """What publishing achieved over the whole state (for the final line and the exit code)."""
    c = {
        "pushed": conn.execute(
            "SELECT COUNT(*) FROM repos WHERE status='fixed' AND pushed_sha = commit_sha"
        ).fetchone()[0],
        "failed": conn.execute(
            "SELECT COUNT(*) FROM repos WHERE status='fixed' AND publish_error IS NOT NULL"
        ).fetchone()[0],
    }
    if cfg.get("forge"):
        for st, n in conn.execute(
            "SELECT pr_state, COUNT(*) FROM repos WHERE status='fixed' AND pr_state IS NOT NULL GROUP BY pr_state"
        ):
            c[f"pr_{st}"] = n
    return c


def summary(c: dict[str, int], cfg: dict) -> str:
    line = f"published: {c.get('pushed', 0)} branch(es) pushed to {cfg['remote']}"
    if cfg.get("forge"):
        line += (
            f"; pull requests: {c.get('pr_opened', 0)} opened, {c.get('pr_updated', 0)} updated, "
            f"{c.get('pr_unchanged', 0)} unchanged"
        )
    if c.get("failed"):
        line += f"; {c['failed']} failed (the fixes stand; see the report, re-run to retry)"
    return line
