"""An all-repos autofixer: ``python -m slimml.integrations.all_repos --config all-repos.json``.

all-repos (https://github.com/asottile/all-repos) clones every repository of an organisation (or a
list) and pushes through its push modules: GitHub/GitLab/Bitbucket pull requests, or
``merge_to_master``. This autofixer finds the clones whose Dockerfiles ``slimml fix`` would change
(slimml's checker, nothing written), then applies the fixes in a fresh clone of each -- the same
per-file logic as ``slimml migrate`` (``worker.fix_tree``) -- and makes one commit per repo whose
message carries that repo's table: fixes per Dockerfile, unsafe fixes kept or dropped and why,
and the estimated saving (measured sizes with ``--verify``). The PR push modules take the PR's
title and body from that commit (``git log -1 --format=%s`` / ``%b``), so each PR describes its
own repo.

Why not ``autofix_lib.fix``: it commits every repo with the one ``Commit.msg`` given up front and
calls the push right after the commit, so there is no point at which a per-repo message (known
only once the fixes ran in that repo) could be amended in; and its ``git commit -a`` would leave
out the files slimml creates (a new .dockerignore). So ``fix_repo`` drives autofix_lib's own
primitives in the order ``autofix_lib._fix_inner`` uses them -- ``repo_context`` (fresh clone of
the all-repos checkout, origin set to the real remote), the ``all-repos_autofix_<branch>`` branch
from ``origin/HEAD``, the diff shown, the interactive prompt, ``--author``, ``--dry-run`` (commit in
the temporary clone, never pushed) and ``config.push(config.push_settings, branch)`` -- with the
commit message made in the repo. The arguments are autofix_lib's (``add_fixer_args``) plus
slimml's ``--select/--ignore/--unsafe-fixes/--cache-mounts/--verify``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

PROG = "python -m slimml.integrations.all_repos"
BRANCH = "slimml"  # all-repos names the pushed branch all-repos_autofix_<this>
ALL_REPOS_URL = "https://github.com/asottile/all-repos"


class UsageError(Exception):
    """Bad input for the whole run: one line, exit 2, nothing cloned or written."""


class Fixer(NamedTuple):
    """slimml's options for every repo (picklable: it travels to all-repos' worker processes)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    cache_mounts: bool | None = None
    verify: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line (argparse would print the usage first), exit 2
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    from all_repos import autofix_lib

    p = _Parser(
        prog=PROG,
        description="Apply `slimml fix` to every repository of an all-repos config: one "
        "commit per repo (pushed as a pull request or merged, per the config's "
        "push module) whose message lists the fixes and the estimated or measured "
        "saving per Dockerfile.",
    )
    autofix_lib.add_fixer_args(p)  # -C/--config-filename (--config), --dry-run, -i, -j, --limit, --author, --repos
    p.add_argument(
        "--branch",
        default=BRANCH,
        help="branch suffix: the pushed branch is all-repos_autofix_BRANCH (default %(default)s).",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="CODES",
        help="only these rules (codes, prefixes or names; comma-separated), as for `slimml fix`.",
    )
    p.add_argument("--ignore", action="append", default=[], metavar="CODES", help="skip these rules.")
    p.add_argument(
        "--unsafe-fixes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also apply unsafe fixes (default: each repo's own slimml config).",
    )
    p.add_argument(
        "--cache-mounts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SLM001: BuildKit cache mounts instead of no-cache flags.",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="build before and after (`slimml fix --verify`): keep each rule's unsafe fixes only "
        "where the build verifies them, leave a Dockerfile unchanged when even its safe rewrite "
        "does not verify, and put the measured sizes in the commit.",
    )
    return p


def _codes(values: list[str]) -> tuple[str, ...]:
    from ..migrate.commands import _split_codes

    return _split_codes(tuple(values))


def load(args) -> tuple[object, Fixer]:
    """The all-repos config and slimml's options, or UsageError (one line)."""
    from all_repos.config import load_config

    from ..rules import unknown_codes

    select, ignore = _codes(args.select), _codes(args.ignore)
    bad = unknown_codes(select + ignore)
    if bad:
        raise UsageError(f"unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")
    from ..migrate.gitops import valid_branch

    if not valid_branch(f"all-repos_autofix_{args.branch}"):
        raise UsageError(f"--branch {args.branch!r} is not a valid branch name")
    if args.verify:
        from ..migrate import measuring

        why = measuring.unavailable()
        if why:
            raise UsageError(f"--verify is not available: {why}")
    name = args.config_filename
    if not os.path.isfile(name):
        raise UsageError(f"{name}: no such all-repos config (give one with --config)")
    try:
        config = load_config(name)
    except SystemExit as e:  # all-repos' own checks (file mode 0600, output_dir contents)
        raise UsageError(f"{name}: {e.code}") from None
    except KeyError as e:
        raise UsageError(f"{name}: missing key {e}") from None
    except ValueError as e:  # JSON
        raise UsageError(f"{name}: not valid JSON ({e})") from None
    except (ImportError, TypeError, OSError) as e:  # unknown source/push module, bad settings
        raise UsageError(f"{name}: {type(e).__name__}: {e}") from None
    return config, Fixer(select, ignore, args.unsafe_fixes, args.cache_mounts, args.verify)


def cloned_repos(config) -> list[str]:
    """Paths of the all-repos checkouts (as all-repos' own autofixers find them)."""
    try:
        names = config.get_cloned_repos()
    except (OSError, ValueError):
        raise UsageError(
            f"{config.output_dir}: nothing cloned yet (run `all-repos-clone` with this config first)"
        ) from None
    return [os.path.join(config.output_dir, name) for name in names]


def _job(fixer: Fixer):
    """The options fix_tree reads, as the Job `slimml migrate` hands it."""
    from ..migrate.worker import Job

    return Job(
        repo_id=0,
        state_path="",
        state_id="",
        mode="dry-run",
        branch="",
        patches=None,
        tmp_root="",
        select=fixer.select,
        ignore=fixer.ignore,
        unsafe_fixes=fixer.unsafe_fixes,
        cache_mounts=fixer.cache_mounts,
    )


def fixable(repo: str, fixer: Fixer) -> bool:
    """slimml's checker: would `slimml fix` change a Dockerfile of this checkout? Nothing is written.
    Each Dockerfile's config is found as fix_tree finds it (never above the repo root)."""
    from ..config import ConfigError
    from ..discovery import find_dockerfiles
    from ..migrate.worker import _find_config
    from ..runner import Options, fix_file

    root = Path(repo).resolve()
    committed: dict[str, str] = {}
    run_cache: dict = {}
    with tempfile.TemporaryDirectory(prefix="slimml-check-") as tmp:
        empty = Path(tmp) / "empty.slimml.toml"
        empty.write_text("", encoding="utf-8")
        for df in find_dockerfiles(root):
            if df.is_symlink():
                continue  # fix_tree fixes a link's target where it lives
            try:
                cfg = _find_config(df.resolve(), root, empty)
            except ConfigError:
                continue  # fix_tree would record this file as failed, never change it
            opts = Options(
                write=False,
                select=fixer.select,
                ignore=fixer.ignore,
                unsafe_fixes=fixer.unsafe_fixes,
                cache_mounts=fixer.cache_mounts,
                config=cfg,
            )
            if fix_file(df, opts, committed, run_cache).changed:
                return True
    return False


def find_repos(repos: list[str], fixer: Fixer, jobs: int = 1) -> list[str]:
    """The repos (all-repos checkouts) with at least one Dockerfile slimml would change."""
    from all_repos import mapper

    with mapper.process_mapper(jobs) as do_map:
        flags = list(do_map(functools.partial(fixable, fixer=fixer), repos))
    return [r for r, f in zip(repos, flags) if f]


@contextlib.contextmanager
def _verifying(fixer: Fixer):
    """fix_tree verifies by a build (as `slimml migrate --verify`) while the worker's measure
    settings are set; they are restored after, so an in-process run leaves nothing behind."""
    if not fixer.verify:
        yield
        return
    from ..migrate import worker

    prev = worker._MEASURE
    worker.init_worker(
        {
            "verify": True,
            "build_jobs": 1,
            "builder": None,
            "select": fixer.select,
            "ignore": fixer.ignore,
            "unsafe_fixes": fixer.unsafe_fixes,
        }
    )
    try:
        yield
    finally:
        worker._MEASURE = prev


def apply(tree: Path, fixer: Fixer) -> tuple[list[dict], list[str], list]:
    """`slimml migrate`'s per-repo fix on a checkout: (file rows, changed paths, applied findings).
    Repos without a slimml config get an empty one (kept in .git, never committed)."""
    from ..migrate.worker import fix_tree

    empty = tree / ".git" / "slimml-empty.toml"
    empty.write_text("", encoding="utf-8")
    with _verifying(fixer):
        return fix_tree(tree, _job(fixer), empty)


def fix_repo(repo: str, *, config, commit, settings, fixer: Fixer) -> dict:
    """One repo through autofix_lib's primitives (see the module docstring); never raises."""
    from all_repos import autofix_lib

    result: dict = {"repo": repo, "status": "failed", "reason": None, "fixes": 0, "dockerfiles": 0}
    try:
        with autofix_lib.repo_context(repo, use_color=settings.color):
            try:
                _fix_in_clone(result, config, commit, settings, fixer)
            except Exception as e:
                result.update(status="failed", reason=_one_line(e))
                raise  # repo_context prints "***Errored" and the traceback, as for any autofixer
    except Exception as e:  # noqa: BLE001 - the clone itself failed: repo_context printed why
        result["reason"] = result["reason"] or _one_line(e)
    return result


def _one_line(e: BaseException) -> str:
    from ..secrets import mask

    text = str(e).strip().splitlines()
    return mask(f"{type(e).__name__}: {text[0] if text else ''}")


def _fix_in_clone(result: dict, config, commit, settings, fixer: Fixer) -> None:
    from all_repos import autofix_lib

    from ..migrate.worker import _failures_text

    branch_name = f"all-repos_autofix_{commit.branch_name}"
    autofix_lib.run("git", "checkout", "--quiet", "origin/HEAD", "-b", branch_name)
    rows, written, applied = apply(Path.cwd(), fixer)
    result["dockerfiles"] = len(rows)
    result["fixes"] = sum(sum(r["fixes"].values()) for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        result["reason"] = _failures_text(failed)[:500]
    if not written:
        result["status"] = "unchanged"
        return
    # `git add` (not autofix_lib's `commit -a`): slimml may create files (a .dockerignore).
    autofix_lib.run("git", "add", "--", *written)
    if not autofix_lib.run("git", "diff", "origin/HEAD", "--exit-code", check=False).returncode:
        result["status"] = "unchanged"
        return
    if settings.interactive and not autofix_lib._interactive_check(use_color=settings.color):
        result["status"] = "declined"
        return
    msg = message(rows, applied, commit.branch_name, verified=fixer.verify)
    cmd = ("git", "commit", "--quiet", "--cleanup=whitespace", "-F", "-")
    if commit.author:
        cmd += ("--author", commit.author)
    autofix_lib.run(*cmd, input=msg, text=True)
    if settings.dry_run:
        print(msg, flush=True)
        result["status"] = "would-commit"
        return
    if _already_pushed(branch_name):
        result["status"] = "already-pushed"
        return
    config.push(config.push_settings, branch_name)
    result["status"] = "pushed"


def _already_pushed(branch_name: str) -> bool:
    """Does the remote's branch (an open pull request's) already hold exactly this change? A re-run
    then leaves it alone instead of pushing again (all-repos pushes without force, and a second
    pull request for the branch would be refused). A branch holding another change still goes to
    the push, which refuses it and reports the repo."""
    from all_repos import autofix_lib

    ref = f"refs/heads/{branch_name}"
    if not autofix_lib.run("git", "ls-remote", "--heads", "origin", ref, capture_output=True, text=True).stdout.strip():
        return False
    autofix_lib.run("git", "fetch", "--quiet", "origin", ref)
    trees = autofix_lib.run("git", "rev-parse", "FETCH_HEAD^{tree}", "HEAD^{tree}", capture_output=True, text=True)
    theirs, ours = trees.stdout.split()
    return theirs == ours


def message(rows: list[dict], applied: list, branch: str, verified: bool) -> str:
    """`slimml migrate`'s commit message, with this repo's table and all-repos' line before the trailer."""
    from ..migrate.worker import commit_message

    extra = ("", *table_lines(rows, applied, verified), "", f"Committed via {ALL_REPOS_URL}")
    return commit_message(rows, applied, f"all-repos.{branch}", via=f"`{PROG}` (all-repos)", extra=extra)


def table_lines(rows: list[dict], applied: list, verified: bool) -> list[str]:
    """Markdown (PR bodies render it): one row per Dockerfile changed or left unchanged by an error."""
    from ..migrate.fmt import counts_text, human_range
    from ..migrate.report import _md
    from ..units import human_bytes

    unsafe_applied = {
        path: sorted({f.code for f in fs if f.fix.applicability.value == "unsafe"}) for path, fs in applied
    }
    head = (
        "Per Dockerfile (built before and after, verified by `slimml fix --verify`):"
        if verified
        else "Per Dockerfile (estimated offline from the applied fixes; `--verify` builds for measured sizes):"
    )
    out = [head, "", "| Dockerfile | fixes | unsafe fixes | saving |", "|---|---|---|---|"]
    for r in rows:
        if r["status"] not in ("fixed", "failed"):
            continue
        v = r.get("verification") or {}
        if r["status"] == "failed":
            fixes = f"left unchanged: {r.get('error') or 'failed'}"[:300]
        else:
            fixes = counts_text(r["fixes"]) or "-"
        unsafe = []
        if verified:
            if v.get("kept"):
                unsafe.append(f"kept, verified by a build: {', '.join(v['kept'])}")
            for d in v.get("dropped") or []:
                unsafe.append(f"dropped {d['code']}: {(d.get('why') or 'did not verify')[:160]}")
        elif unsafe_applied.get(r["path"]):
            unsafe.append(f"applied, review: {', '.join(unsafe_applied[r['path']])}")
        before, after = r.get("measured_before"), r.get("measured_after")
        if before is not None and after is not None:
            saving = f"{human_bytes(before)} → {human_bytes(after)} (measured, {human_bytes(before - after)} less)"
        elif r.get("est_low") is not None:
            saving = f"{human_range(r['est_low'], r.get('est_high'))} (estimated)"
        else:
            saving = "-"
        out.append(f"| `{_md(r['path'])}` | {_md(fixes)} | {_md('; '.join(unsafe) or '-')} | {_md(saving)} |")
    return out


def run(argv: list[str] | None = None) -> int:
    from all_repos import autofix_lib, mapper

    args = parser().parse_args(argv)
    try:
        config, fixer = load(args)
        started = time.monotonic()
        if args.repos is not None:  # autofix_lib's --repos: these repos as given, no search
            repos = list(args.repos)
            checked = len(repos)
        else:
            cloned = cloned_repos(config)
            checked = len(cloned)
            repos = find_repos(cloned, fixer, args.jobs)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    repos = repos[: args.limit]
    commit = autofix_lib.Commit(msg="", branch_name=args.branch, author=args.author)  # msg: made per repo
    settings = autofix_lib.AutofixSettings.from_cli(args)
    assert not settings.interactive or settings.jobs == 1  # argparse makes -i and -j exclusive
    func = functools.partial(fix_repo, config=config, commit=commit, settings=settings, fixer=fixer)
    with mapper.process_mapper(settings.jobs) as do_map:
        results = list(do_map(func, repos))
    counts = Counter(r["status"] for r in results)
    for r in results:
        if r["status"] == "failed" or r["reason"]:
            print(f"{r['repo']}: {r['status']}: {r['reason']}", file=sys.stderr)
    done = "would commit" if args.dry_run else "pushed"
    print(
        f"slimml: {checked} repo(s), {len(repos)} with Dockerfiles to fix: "
        f"{counts['would-commit' if args.dry_run else 'pushed']} {done}, {counts['unchanged']} unchanged, "
        + (f"{counts['declined']} declined, " if counts["declined"] else "")
        + (f"{counts['already-pushed']} already pushed, " if counts["already-pushed"] else "")
        + f"{counts['failed']} failed ({time.monotonic() - started:.1f}s)",
        file=sys.stderr,
    )
    return 2 if counts["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    try:
        import all_repos.autofix_lib  # noqa: F401
    except ImportError as e:  # pragma: no cover - a runtime dependency; only a broken install lacks it
        print(f"{PROG}: error: all-repos is not installed ({e}); `pip install all-repos`", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
