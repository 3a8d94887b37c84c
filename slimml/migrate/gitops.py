"""The git operations `slimml migrate` needs -- all plumbing, none touching the user's checkout.

A repo is fixed in a *snapshot*: ``git read-tree -u`` of the base commit into a private work
tree with a private index (``GIT_INDEX_FILE``). The commit is made with ``write-tree`` +
``commit-tree`` and published with one atomic ``update-ref`` that also checks the branch does
not exist yet. The user's HEAD, index, working tree and current branch are never touched; a
process killed at any point leaves at most unreferenced objects (``git gc`` prunes them).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Variables that would point git somewhere else (set inside git hooks, for instance).
_SCRUB = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
)
DEFAULT_NAME, DEFAULT_EMAIL = "slimml", "slimml@localhost"
TRAILER = "Slimml-Migrate"


class GitError(Exception):
    """A git command failed; the message is one line for the report."""


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # `git status` must not rewrite the user's index
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password
    env["GIT_LFS_SKIP_SMUDGE"] = "1"  # snapshots need no LFS content (and no network)
    env.setdefault("LC_ALL", "C")
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # fail, never prompt, in unattended runs
    return env


def git(
    args: list[str],
    cwd: Path | str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    try:
        cp = subprocess.run(
            ["git", *args],
            cwd=str(cwd),
            env=env or base_env(),
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if check and cp.returncode != 0:
        msg = cp.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = msg[-1] if msg else f"exit status {cp.returncode}"
        raise GitError(f"git {args[0]} failed: {tail}")
    return cp


def out(cp: subprocess.CompletedProcess) -> str:
    return cp.stdout.decode("utf-8", "replace").strip()


@dataclass
class RepoState:
    git_dir: Path  # per-worktree git dir (MERGE_HEAD & co live here)
    common_dir: Path  # refs and objects
    head: str | None  # None: no commit yet
    head_tree: str | None
    busy: str | None  # "merge in progress", "rebase in progress", ...
    dirty: list[str]  # porcelain status lines (tracked changes and untracked files)


_BUSY = (
    ("rebase-merge", "rebase in progress"),
    ("rebase-apply", "rebase or am in progress"),
    ("MERGE_HEAD", "merge in progress"),
    ("CHERRY_PICK_HEAD", "cherry-pick in progress"),
    ("REVERT_HEAD", "revert in progress"),
    ("BISECT_LOG", "bisect in progress"),
    ("sequencer", "cherry-pick/revert sequence in progress"),
)


def is_repo_dir(path: Path) -> bool:
    return (path / ".git").exists()


def inspect(repo: Path, untracked_files: str = "normal") -> RepoState:
    env = base_env()
    cp = git(
        ["rev-parse", "--absolute-git-dir", "--git-common-dir", "HEAD^{commit}", "HEAD^{tree}"], repo, env, check=False
    )
    if cp.returncode == 0:
        git_dir, common, head, head_tree = out(cp).splitlines()
    else:  # no commit yet (or not a repository: this one raises)
        git_dir, common = out(git(["rev-parse", "--absolute-git-dir", "--git-common-dir"], repo, env)).splitlines()
        head = head_tree = None
    git_dir, common = Path(git_dir), Path(common)
    if not common.is_absolute():
        common = (repo / common).resolve()
    busy = next((why for name, why in _BUSY if (git_dir / name).exists()), None)
    st = git(
        ["status", "--porcelain=v1", "-z", f"--untracked-files={untracked_files}", "--ignore-submodules=none"],
        repo,
        env,
    )
    dirty = [e for e in st.stdout.decode("utf-8", "replace").split("\0") if e]
    return RepoState(git_dir, common, head, head_tree, busy, dirty)


def user_config(repo: Path) -> list[str]:
    """``-c`` options giving slimml's identity when the repo (or the user) has none."""
    cp = git(["config", "--get-regexp", r"^user\.(name|email)$"], repo, check=False)
    have = {line.split(" ", 1)[0] for line in out(cp).splitlines()}
    opts = []
    if "user.name" not in have:
        opts += ["-c", f"user.name={DEFAULT_NAME}"]
    if "user.email" not in have:
        opts += ["-c", f"user.email={DEFAULT_EMAIL}"]
    return opts


def valid_branch(name: str) -> bool:
    cp = subprocess.run(["git", "check-ref-format", "--branch", name], check=False, capture_output=True, env=base_env())
    return cp.returncode == 0


def ref_sha(repo: Path, ref: str) -> str | None:
    cp = git(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], repo, check=False)
    return out(cp) or None


def commit_info(repo: Path, sha: str) -> tuple[list[str], str] | None:
    """(parents, message) of a commit, or None when it does not exist."""
    cp = git(["cat-file", "commit", sha], repo, check=False)
    if cp.returncode != 0:
        return None
    text = cp.stdout.decode("utf-8", "replace")
    header, _, message = text.partition("\n\n")
    parents = [line.split()[1] for line in header.splitlines() if line.startswith("parent ")]
    return parents, message


def trailer_value(message: str) -> str | None:
    m = re.search(rf"^{TRAILER}: (\S+)\s*$", message, re.MULTILINE)
    return m.group(1) if m else None


class Snapshot:
    """The base commit checked out into ``tree`` with a private index; objects go to the repo,
    or to a private object directory (``private_objects``) so that nothing is written to it."""

    def __init__(
        self, repo: Path, git_dir: Path, common_dir: Path, base: str, base_tree: str, root: Path, private_objects: bool
    ):
        self.repo, self.base, self.base_tree, self.root = repo, base, base_tree, root
        self.tree = root / "tree"
        self.tree.mkdir(parents=True)
        self.env = base_env()
        self.env["GIT_DIR"] = str(git_dir)
        self.env["GIT_WORK_TREE"] = str(self.tree)
        self.env["GIT_INDEX_FILE"] = str(root / "index")
        if private_objects:
            objects = root / "objects"
            objects.mkdir()
            self.env["GIT_OBJECT_DIRECTORY"] = str(objects)
            self.env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(common_dir / "objects")
        git(["read-tree", "--reset", "-u", base], self.tree, self.env)

    def commit(self, paths: list[str], message: str, identity: list[str]) -> str | None:
        """Commit ``paths`` (relative to the tree) on top of the base; None when the tree is unchanged."""
        if paths:
            git(
                ["update-index", "--add", "--remove", "-z", "--stdin"],
                self.tree,
                self.env,
                input="\0".join(paths).encode("utf-8") + b"\0",
            )
            # A generated script must be executable in the commit even with core.fileMode=false.
            executable = [p for p in paths if os.access(self.tree / p, os.X_OK) and (self.tree / p).is_file()]
            if executable:
                git(["update-index", "--chmod=+x", "--", *executable], self.tree, self.env)
        tree = out(git(["write-tree"], self.tree, self.env))
        if tree == self.base_tree:
            return None
        cp = git(
            [*identity, "commit-tree", tree, "-p", self.base, "-F", "-"],
            self.tree,
            self.env,
            input=message.encode("utf-8"),
        )
        return out(cp)

    def format_patch(self, sha: str) -> bytes:
        cp = git(["format-patch", "--stdout", "--no-signature", "--binary", f"{self.base}..{sha}"], self.tree, self.env)
        return cp.stdout


def create_branch(repo: Path, branch: str, sha: str) -> None:
    """Create ``refs/heads/<branch>`` at ``sha`` atomically; fails when the branch exists."""
    git(["update-ref", "-m", "slimml migrate", f"refs/heads/{branch}", sha, ""], repo)


def clone(url: str, dest: Path) -> None:
    """Clone into ``dest`` atomically: a crash mid-clone leaves only a temp folder (removed on the
    next run), never a half-cloned ``dest``."""
    tmp = dest.with_name(f".{dest.name}.cloning")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(["clone", "--quiet", "--no-recurse-submodules", "--", url, str(tmp)], dest.parent, timeout=3600)
    os.replace(tmp, dest)
