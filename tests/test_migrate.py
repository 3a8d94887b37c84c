"""`slimml migrate` over a folder of real git repos: exactly the right branches, commits and
patches; dirty / mid-merge / mid-rebase repos untouched; a run killed with SIGKILL resumes with no
repo half-edited and nothing done twice.

Expected results are computed independently: for every repo, a fresh clone of its base commit
is fixed with `slimml fix --write` (the single-repo path); the migration's commit must change
exactly those files, to exactly those bytes and modes, in one commit on top of the base.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slimml import dockerignore as DI
from slimml.runner import Options, run_fix

BRANCH = "slimml/slim-images"
IDENT = ["-c", "user.name=Test Author", "-c", "user.email=test@example.com"]

FIXABLE = 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD ["python", "app.py"]\n'
APT = "FROM ubuntu:22.04\nRUN apt-get update\nRUN apt-get install -y curl\n"
CLEAN = "# slimml: ignore-file\nFROM python:3.11\nRUN pip install -r requirements.txt\n"
BROKEN = "this is not a Dockerfile at all\n"
WEIGHTS = (
    'FROM python:3.11-slim\nRUN pip install --no-cache-dir "huggingface_hub[cli]" \\\n'
    "    && huggingface-cli download TheBloke/Llama-2-7B-Chat-GGUF llama-2-7b-chat.Q4_K_M.gguf --local-dir /models\n"
    'COPY app.py /app/\nCMD ["python", "/app/app.py"]\n'
)
SECRET_VALUE = "hf_abcdefghijklmnopqrstuvwxyz012345"
SECRET = f"FROM python:3.11\nENV HF_TOKEN={SECRET_VALUE}\nRUN pip install transformers\n"


def git(repo, *args, env=None, check=True) -> str:
    cp = subprocess.run(["git", *args], cwd=repo, check=False, capture_output=True, text=True, env=env)
    if check and cp.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {repo}: {cp.stderr}")
    return cp.stdout.strip()


def mkrepo(path: Path, files: dict[str, str | bytes], commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel, content in files.items():
        p = path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    if commit:
        git(path, "add", "-A")
        git(path, *IDENT, "commit", "-q", "-m", "initial")
    return path


def fixable_files(i: int) -> dict[str, str]:
    return {
        "Dockerfile": FIXABLE if i % 2 else APT + "COPY . /app\n",
        "requirements.txt": "numpy\n",
        "app.py": f"print({i})\n",
    }


def build_fleet(root: Path) -> dict[str, str]:
    """30+ repos; returns {repo name: expected status}."""
    exp: dict[str, str] = {}
    for i in range(12):  # clean, at several depths
        name = f"svc-{i:02d}" if i < 6 else f"org/team-{i % 3}/svc-{i:02d}"
        mkrepo(root / name, fixable_files(i))
        exp[name] = "fixed"
    for i in range(3):  # several Dockerfiles (one of them already clean)
        name = f"multi-{i}"
        mkrepo(
            root / name,
            {
                "Dockerfile": FIXABLE,
                "requirements.txt": "torch\n",
                "docker/gpu.Dockerfile": APT,
                "worker/Dockerfile": CLEAN,
                "worker/Containerfile.dev": FIXABLE,
            },
        )
        exp[name] = "fixed"
    # dirty: modified tracked file / untracked file / staged change
    r = mkrepo(root / "dirty-modified", fixable_files(1))
    (r / "app.py").write_text("print('local edit')\n")
    r = mkrepo(root / "dirty-untracked", fixable_files(2))
    (r / "notes.txt").write_text("wip\n")
    r = mkrepo(root / "dirty-staged", fixable_files(3))
    (r / "Dockerfile").write_text(FIXABLE + "EXPOSE 80\n")
    git(r, "add", "Dockerfile")
    exp.update({"dirty-modified": "skipped", "dirty-untracked": "skipped", "dirty-staged": "skipped"})
    # mid-rebase with a clean tree (stopped at an `edit`), and a conflicted merge
    r = mkrepo(root / "mid-rebase", fixable_files(4))
    (r / "app.py").write_text("print('second')\n")
    git(r, *IDENT, "commit", "-q", "-am", "second")
    env = dict(os.environ, GIT_SEQUENCE_EDITOR="sed -i 1s/^pick/edit/", GIT_EDITOR="true")
    git(r, *IDENT, "rebase", "-q", "-i", "HEAD~1", env=env)
    assert git(r, "status", "--porcelain") == ""
    r = mkrepo(root / "mid-merge", fixable_files(5))
    git(r, "checkout", "-q", "-b", "other")
    (r / "app.py").write_text("print('other')\n")
    git(r, *IDENT, "commit", "-q", "-am", "other")
    git(r, "checkout", "-q", "main")
    (r / "app.py").write_text("print('main')\n")
    git(r, *IDENT, "commit", "-q", "-am", "main")
    git(r, *IDENT, "merge", "-q", "other", check=False)
    assert (r / ".git" / "MERGE_HEAD").exists()
    exp.update({"mid-rebase": "skipped", "mid-merge": "skipped"})
    # no Dockerfile; no commit at all
    mkrepo(root / "no-dockerfile", {"README.md": "docs\n"})
    mkrepo(root / "empty-repo", {}, commit=False)
    exp.update({"no-dockerfile": "skipped", "empty-repo": "skipped"})
    # broken Dockerfile only -> failed; broken + good -> fixed (the failure is reported)
    mkrepo(root / "broken", {"Dockerfile": BROKEN})
    mkrepo(root / "broken-and-good", {"Dockerfile": FIXABLE, "requirements.txt": "x\n", "legacy/Dockerfile": BROKEN})
    exp.update({"broken": "failed", "broken-and-good": "fixed"})
    # nothing to fix
    mkrepo(root / "already-clean", {"Dockerfile": CLEAN, "requirements.txt": "x\n"})
    exp["already-clean"] = "unchanged"
    # nested: a repo inside a repo (ignored by the outer one); a gitignored Dockerfile
    outer = mkrepo(
        root / "outer", {"Dockerfile": FIXABLE, "requirements.txt": "x\n", ".gitignore": "vendor/\nbuild/\n"}
    )
    mkrepo(outer / "vendor" / "inner", {"Dockerfile": APT})
    (outer / "build").mkdir()
    (outer / "build" / "Dockerfile").write_text(APT)  # ignored: never touched, never committed
    exp.update({"outer": "fixed", "outer/vendor/inner": "fixed"})
    # the repo's own config: only SLM001
    mkrepo(
        root / "configured", {"Dockerfile": APT + "RUN pip install flask\n", ".slimml.toml": 'select = ["SLM001"]\n'}
    )
    exp["configured"] = "fixed"
    # unsafe fixes on by the repo's own config: weights move to a generated, executable init script
    mkrepo(root / "weights", {"Dockerfile": WEIGHTS, "app.py": "print(1)\n", ".slimml.toml": "unsafe-fixes = true\n"})
    git(root / "weights", "config", "core.fileMode", "false")
    exp["weights"] = "fixed"
    # CRLF + a secret value (must never reach the state or the reports)
    mkrepo(root / "crlf-secret", {"Dockerfile": SECRET.replace("\n", "\r\n").encode()})
    exp["crlf-secret"] = "fixed"
    # detached HEAD: the branch starts at HEAD, the checkout stays detached
    r = mkrepo(root / "detached", fixable_files(7))
    git(r, "checkout", "-q", "--detach")
    exp["detached"] = "fixed"
    # the branch name is taken by someone else
    r = mkrepo(root / "branch-taken", fixable_files(8))
    git(r, "branch", BRANCH)
    exp["branch-taken"] = "skipped"
    # its own identity (the others have none: slimml's default is used)
    r = mkrepo(root / "with-identity", fixable_files(9))
    git(r, "config", "user.name", "Repo Owner")
    git(r, "config", "user.email", "owner@example.com")
    exp["with-identity"] = "fixed"
    assert len(exp) >= 30
    return exp


def repo_snapshot(repo: Path) -> dict:
    """What the user sees: HEAD, current branch, status, refs, index bytes, working files."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            p = Path(dirpath) / f
            files[str(p.relative_to(repo))] = (p.read_bytes(), p.stat().st_mode)
    index = repo / ".git" / "index"
    return {
        "head": git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False),
        "symbolic": git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        "status": git(repo, "status", "--porcelain"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "index": index.read_bytes() if index.exists() else None,
        "files": files,
    }


def expected_fix(repo: Path, base: str, tmp: Path) -> dict[str, tuple[bytes, str]]:
    """Files `slimml fix --write` changes in a fresh clone of ``base``: {path: (bytes, git mode)}."""
    clone = tmp / f"clone-{repo.name}-{base[:8]}"
    git(tmp, "clone", "-q", "--no-checkout", str(repo), str(clone))
    git(clone, "checkout", "-q", base)
    run_fix([clone], Options(write=True))
    out = {}
    st = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--untracked-files=all"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for entry in filter(None, st.split("\0")):
        rel = entry[3:]
        mode = "100755" if os.access(clone / rel, os.X_OK) else "100644"
        out[rel] = ((clone / rel).read_bytes(), mode)
    shutil.rmtree(clone)
    return out


def migrate_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "slimml.cli", "migrate", *map(str, args)]


def isolated_env(home: Path) -> dict[str, str]:
    """No global/system git identity, so slimml's default identity is used where a repo has none."""
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / "gitconfig"))
    (home / "gitconfig").write_text("")
    return env


def run_migrate(args: list, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(migrate_cmd(*args), check=False, capture_output=True, text=True, env=env, timeout=timeout)


def db_rows(db: Path) -> dict[str, dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = {r["name"]: dict(r) for r in conn.execute("SELECT * FROM repos")}
    conn.close()
    return rows


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    root = base / "repos"
    exp = build_fleet(root)
    before = {name: repo_snapshot(root / name) for name in exp}
    home = base / "home"
    home.mkdir()
    env = isolated_env(home)
    work = base / "work"
    cp = run_migrate([root, "--workdir", work, "--jobs", "2", "--quiet"], env)
    return {"root": root, "exp": exp, "before": before, "cp": cp, "work": work, "env": env, "base": base}


def test_statuses_are_exactly_right(fleet):
    cp = fleet["cp"]
    assert cp.returncode == 2, cp.stderr  # a repo failed (broken Dockerfile): exit 2, the others done
    rows = db_rows(fleet["work"] / ".slimml" / "migrate.db")
    assert {n: r["status"] for n, r in rows.items()} == fleet["exp"]
    reasons = {n: r["reason"] or "" for n, r in rows.items()}
    assert reasons["dirty-modified"].startswith("dirty working tree") and "app.py" in reasons["dirty-modified"]
    assert "notes.txt" in reasons["dirty-untracked"]
    assert reasons["mid-rebase"].startswith("rebase in progress")
    assert reasons["mid-merge"].startswith("merge in progress")
    assert reasons["no-dockerfile"] == "no Dockerfile found"
    assert reasons["empty-repo"] == "no commits yet"
    assert reasons["branch-taken"] == f"branch {BRANCH} already exists"
    assert "not a valid Dockerfile" in reasons["broken"] and "Dockerfile" in reasons["broken"]
    assert reasons["broken-and-good"].startswith("legacy/Dockerfile:")
    assert "pytest" not in reasons["broken"] and "/tmp" not in reasons["broken"]  # relative to the repo
    assert not any(r["status"] == "in-progress" for r in rows.values())


def test_untouched_repos_are_byte_identical(fleet):
    root = fleet["root"]
    for name, status in fleet["exp"].items():
        after = repo_snapshot(root / name)
        before = fleet["before"][name]
        if status == "fixed":
            # Only a new branch ref: HEAD, checkout, index, status and every file are as they were.
            assert after["refs"] != before["refs"], name
            after = {**after, "refs": before["refs"]}
        assert after == before, name


def test_commits_are_exactly_what_fix_would_write(fleet, tmp_path):
    root = fleet["root"]
    rows = db_rows(fleet["work"] / ".slimml" / "migrate.db")
    for name, status in fleet["exp"].items():
        if status != "fixed":
            assert git(root / name, "rev-parse", "-q", "--verify", f"refs/heads/{BRANCH}", check=False) == (
                "" if name != "branch-taken" else git(root / name, "rev-parse", "HEAD")
            ), name
            continue
        repo = root / name
        base = fleet["before"][name]["head"]
        tip = git(repo, "rev-parse", f"refs/heads/{BRANCH}")
        assert rows[name]["commit_sha"] == tip and rows[name]["base_sha"] == base
        assert git(repo, "rev-list", "--parents", "-n", "1", tip).split() == [tip, base], name  # one commit on base
        changed = git(repo, "diff", "--name-only", base, tip).splitlines()
        expected = expected_fix(repo, base, tmp_path)
        assert expected, f"{name}: the fixture should need fixes"
        assert sorted(changed) == sorted(expected), name
        for rel, (content, mode) in expected.items():
            blob = subprocess.run(["git", "show", f"{tip}:{rel}"], cwd=repo, check=False, capture_output=True).stdout
            assert blob == content, f"{name}:{rel}"
            assert git(repo, "ls-tree", tip, "--", rel).split()[0] == mode, f"{name}:{rel}"
        msg = git(repo, "log", "-1", "--format=%B", tip)
        assert msg.startswith("slimml: slimmer Docker images (")
        assert "Slimml-Migrate: " in msg
        # the branch was created exactly once
        assert len(git(repo, "reflog", "show", "--format=%H", f"refs/heads/{BRANCH}").splitlines()) == 1
        who = git(repo, "log", "-1", "--format=%an <%ae>", tip)
        assert who == ("Repo Owner <owner@example.com>" if name == "with-identity" else "slimml <slimml@localhost>")


def test_specific_repos(fleet):
    root = fleet["root"]
    # outer's commit does not include the nested repo nor the gitignored build/Dockerfile
    changed = git(root / "outer", "diff", "--name-only", "HEAD", BRANCH).splitlines()
    assert not any(p.startswith(("vendor/", "build/")) for p in changed)
    # the repo's own config (select SLM001) is honoured: the apt RUNs stay as they are
    df = git(root / "configured", "show", f"{BRANCH}:Dockerfile")
    assert "RUN apt-get update\nRUN apt-get install -y curl\n" in df and "pip install --no-cache-dir flask" in df
    # CRLF kept
    raw = subprocess.run(
        ["git", "show", f"{BRANCH}:Dockerfile"], cwd=root / "crlf-secret", check=False, capture_output=True
    ).stdout
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    # multi: every Dockerfile listed in the message; the clean one untouched
    msg = git(root / "multi-0", "log", "-1", "--format=%B", BRANCH)
    assert "Dockerfile:" in msg and "docker/gpu.Dockerfile:" in msg and "worker/Containerfile.dev:" in msg
    assert "worker/Dockerfile" not in git(root / "multi-0", "diff", "--name-only", "HEAD", BRANCH)
    # the generated init script is executable in the commit (even with core.fileMode=false)
    tree = git(root / "weights", "ls-tree", "-r", BRANCH).splitlines()
    scripts = [line for line in tree if line.split()[3].endswith(".sh")]
    assert scripts and all(line.startswith("100755 ") for line in scripts), tree
    # detached stays detached
    assert git(root / "detached", "symbolic-ref", "-q", "HEAD", check=False) == ""


def test_no_secret_in_state_or_reports(fleet):
    slimml_dir = fleet["work"] / ".slimml"
    for p in slimml_dir.iterdir():
        assert SECRET_VALUE.encode() not in p.read_bytes(), p.name
    # the committed Dockerfile itself is the user's file: slimml does not edit values it does not own
    rows = db_rows(slimml_dir / "migrate.db")
    assert rows["crlf-secret"]["status"] == "fixed"


def test_reports_written(fleet):
    d = fleet["work"] / ".slimml"
    data = json.loads((d / "migrate-report.json").read_text())
    t = data["totals"]
    exp = fleet["exp"]
    assert t["repos"] == len(exp)
    for s in ("fixed", "unchanged", "skipped", "failed"):
        assert t[s] == sum(1 for v in exp.values() if v == s), s
    assert t["dockerfiles_failed"] == 2
    assert {f["repo"] for f in data["failures"]} == {"broken", "broken-and-good"}
    md = (d / "migrate-report.md").read_text()
    assert "## Most common findings" in md and "| svc-00 | fixed |" in md
    assert "SLM001" in md
    html = (d / "migrate-report.html").read_text()
    assert '<svg id="chart"' in html or "Nothing to chart" in html


def test_rerun_is_a_no_op(fleet):
    root = fleet["root"]
    refs = {n: git(root / n, "for-each-ref") for n in fleet["exp"] if n != "empty-repo"}
    cp = run_migrate([root, "--workdir", fleet["work"], "--jobs", "2", "--quiet"], fleet["env"])
    assert cp.returncode == 2
    assert "(0 processed" in cp.stderr
    assert {n: git(root / n, "for-each-ref") for n in refs} == refs
    # other options on the same state are refused
    cp = run_migrate([root, "--workdir", fleet["work"], "--select", "SLM001", "--quiet"], fleet["env"])
    assert cp.returncode == 2 and "other options" in cp.stderr


def test_retry_failed_and_skipped(fleet, tmp_path):
    root = fleet["root"]
    # the user fixes the broken repo and commits the dirty one; re-running with the flags picks them up
    (root / "broken" / "Dockerfile").write_text(FIXABLE)
    git(root / "broken", *IDENT, "commit", "-q", "-am", "repair")
    git(root / "dirty-untracked", "add", "notes.txt")
    git(root / "dirty-untracked", *IDENT, "commit", "-q", "-m", "notes")
    cp = run_migrate(
        [root, "--workdir", fleet["work"], "--jobs", "1", "--quiet", "--retry-failed", "--retry-skipped"], fleet["env"]
    )
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(fleet["work"] / ".slimml" / "migrate.db")
    assert rows["broken"]["status"] == "fixed" and rows["broken"]["attempts"] == 2
    assert rows["dirty-untracked"]["status"] == "fixed"
    assert rows["dirty-modified"]["status"] == "skipped"  # still dirty
    assert rows["svc-00"]["attempts"] == 1  # final repos are not redone


def _copy_fleet(src: Path, dst: Path, names: list[str]) -> None:
    for n in names:
        shutil.copytree(src / n, dst / n, symlinks=True)


def test_patches_mode_writes_nothing_into_the_repos(tmp_path):
    root = tmp_path / "repos"
    for i in range(4):
        mkrepo(root / f"r{i}", fixable_files(i))
    mkrepo(root / "clean", {"Dockerfile": CLEAN})
    before = {p.name: repo_snapshot(p) for p in root.iterdir()}
    objects = {p.name: sorted(str(x) for x in (p / ".git" / "objects").rglob("*")) for p in root.iterdir()}
    home = tmp_path / "home"
    home.mkdir()
    patches = tmp_path / "patches"
    cp = run_migrate([root, "--workdir", tmp_path / "w", "--patches", patches, "--jobs", "2", "-q"], isolated_env(home))
    assert cp.returncode == 0, cp.stderr
    assert sorted(p.name for p in patches.iterdir()) == [f"r{i}.patch" for i in range(4)]
    for p in root.iterdir():
        assert repo_snapshot(p) == before[p.name]
        assert sorted(str(x) for x in (p / ".git" / "objects").rglob("*")) == objects[p.name]  # not even objects
    # each patch applies with `git am` and gives what `slimml fix --write` gives
    for i in range(4):
        repo = root / f"r{i}"
        clone = tmp_path / f"apply-{i}"
        git(tmp_path, "clone", "-q", str(repo), str(clone))
        git(clone, *IDENT, "am", "-q", str(patches / f"r{i}.patch"))
        expected = expected_fix(repo, before[f"r{i}"]["head"], tmp_path)
        assert sorted(git(clone, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()) == sorted(expected)
        for rel, (content, _) in expected.items():
            assert (clone / rel).read_bytes() == content


def test_dry_run_writes_nothing_at_all(tmp_path):
    root = tmp_path / "repos"
    for i in range(3):
        mkrepo(root / f"r{i}", fixable_files(i))
    before = {p.name: repo_snapshot(p) for p in root.iterdir()}
    objects = {p.name: sorted(str(x) for x in (p / ".git" / "objects").rglob("*")) for p in root.iterdir()}
    work = tmp_path / "w"
    work.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    cp = run_migrate([root, "--workdir", work, "--dry-run", "-j", "2", "-q"], isolated_env(home))
    assert cp.returncode == 0, cp.stderr
    assert "# slimml migration report" in cp.stdout and "would change (dry run)" in cp.stdout
    assert list(work.iterdir()) == []
    for p in root.iterdir():
        assert repo_snapshot(p) == before[p.name]
        assert sorted(str(x) for x in (p / ".git" / "objects").rglob("*")) == objects[p.name]


def test_repos_file_with_paths_and_urls(tmp_path):
    src = tmp_path / "src"
    mkrepo(src / "local", fixable_files(1))
    mkrepo(src / "remote", fixable_files(2))
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(src / "remote"), str(bare))
    listing = tmp_path / "repos.txt"
    listing.write_text(f"# fleet\nsrc/local\n\n{bare.as_uri()}\n/does/not/exist\n")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "w"
    cp = run_migrate(["--repos", listing, "--workdir", work, "-j", "1", "-q"], isolated_env(home))
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(work / ".slimml" / "migrate.db")
    assert rows["src/local"]["status"] == "fixed"
    url_row = rows[bare.as_uri()]
    assert url_row["status"] == "fixed" and Path(url_row["path"]).parent == work / ".slimml" / "clones"
    assert git(Path(url_row["path"]), "rev-parse", BRANCH) == url_row["commit_sha"]
    assert rows["/does/not/exist"]["status"] == "skipped" and rows["/does/not/exist"]["reason"] == "no such directory"


def test_interrupted_repo_is_adopted_not_redone(tmp_path):
    """The window between creating the branch and recording it: simulated exactly by putting the
    recorded state back to what it was at that instant."""
    root = tmp_path / "repos"
    mkrepo(root / "a", fixable_files(1))
    mkrepo(root / "b", fixable_files(2))
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    work = tmp_path / "w"
    assert run_migrate([root, "--workdir", work, "-j", "1", "-q"], env).returncode == 0
    db = work / ".slimml" / "migrate.db"
    first = db_rows(db)
    conn = sqlite3.connect(db)
    # a: branch created, final record lost. b: commit recorded, branch never created.
    conn.execute("UPDATE repos SET status='in-progress', finished=NULL WHERE name='a'")
    conn.execute("UPDATE repos SET status='in-progress', finished=NULL WHERE name='b'")
    conn.commit()
    conn.close()
    git(root / "b", "branch", "-D", BRANCH)
    cp = run_migrate([root, "--workdir", work, "-j", "1", "-q"], env)
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(db)
    assert rows["a"]["status"] == "fixed" and rows["a"]["commit_sha"] == first["a"]["commit_sha"]
    assert rows["a"]["attempts"] == 1  # adopted, not redone
    assert len(git(root / "a", "reflog", "show", f"refs/heads/{BRANCH}").splitlines()) == 1
    assert rows["b"]["status"] == "fixed" and rows["b"]["attempts"] == 2
    assert git(root / "b", "rev-parse", BRANCH) == rows["b"]["commit_sha"]
    assert git(root / "b", "rev-list", "--count", f"main..{BRANCH}") == "1"


def _live_members(pgid: int) -> list[str]:
    """Processes of a process group that are still running (zombies waiting to be reaped by
    init do not count: they do nothing any more)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(stat[: stat.rindex(")") + 1])
    return out


def _wait_group_gone(pgid: int, timeout: float = 15) -> list[str]:
    end = time.time() + timeout
    while time.time() < end:
        live = _live_members(pgid)
        if not live:
            return []
        time.sleep(0.05)
    return live


def test_sigkill_midway_then_resume(tmp_path):
    root = tmp_path / "repos"
    n = 60
    template = mkrepo(tmp_path / "template", fixable_files(1))
    for i in range(n):
        shutil.copytree(template, root / f"r{i:03d}", symlinks=True)
    heads = {f"r{i:03d}": git(root / f"r{i:03d}", "rev-parse", "HEAD") for i in range(n)}
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    work = tmp_path / "w"
    db = work / ".slimml" / "migrate.db"
    args = [root, "--workdir", work, "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(
        migrate_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    done_at_kill = None
    end = time.time() + 120
    while time.time() < end and proc.poll() is None:
        if db.exists():
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                done_at_kill = conn.execute("SELECT COUNT(*) FROM repos WHERE status='fixed'").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                done_at_kill = None
            if done_at_kill and done_at_kill >= 5:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it could be killed: {proc.stderr.read()!r}"
    # the workers die with the parent: nothing goes on writing after a kill -9
    assert _wait_group_gone(proc.pid) == [], "worker processes outlived the killed migrate"

    rows = db_rows(db)
    before = {k: v["commit_sha"] for k, v in rows.items() if v["status"] == "fixed"}
    assert 5 <= len(before) < n
    for name, head in heads.items():  # no repo half-edited: checkouts pristine; a branch is complete or absent
        repo = root / name
        assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "HEAD") == head
        tip = git(repo, "rev-parse", "-q", "--verify", f"refs/heads/{BRANCH}", check=False)
        if tip:
            assert git(repo, "rev-list", "--parents", "-n", "1", tip).split() == [tip, head]

    cp = run_migrate(args, env)
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(db)
    assert all(r["status"] == "fixed" for r in rows.values()), {k: v["status"] for k, v in rows.items()}
    for name, sha in before.items():
        assert rows[name]["commit_sha"] == sha, f"{name} was redone"
    template_tree = None
    for name, head in heads.items():
        repo = root / name
        tip = git(repo, "rev-parse", f"refs/heads/{BRANCH}")
        assert tip == rows[name]["commit_sha"]
        assert git(repo, "rev-list", "--parents", "-n", "1", tip).split() == [tip, head]
        assert len(git(repo, "reflog", "show", f"refs/heads/{BRANCH}").splitlines()) == 1, f"{name}: branch made twice"
        tree = git(repo, "rev-parse", f"{tip}^{{tree}}")
        template_tree = template_tree or tree
        assert tree == template_tree  # identical repos, identical results
        assert git(repo, "status", "--porcelain") == ""
    assert not (work / ".slimml" / "migrate.tmp").exists()


def test_bad_input(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    cp = run_migrate([tmp_path / "nope", "--workdir", tmp_path / "w"], env)
    assert cp.returncode == 2 and "not a directory" in cp.stderr
    assert not (tmp_path / "w").exists()  # nothing written on bad input
    empty = tmp_path / "empty"
    empty.mkdir()
    cp = run_migrate([empty, "--workdir", tmp_path / "w2"], env)
    assert cp.returncode == 2 and "no git repository found" in cp.stderr
    cp = run_migrate([empty, "--branch", "bad..name"], env)
    assert cp.returncode == 2 and "not a valid branch name" in cp.stderr
    cp = run_migrate([empty, "--select", "SLM999"], env)
    assert cp.returncode == 2 and "unknown rule" in cp.stderr


def test_commands_module_imports_only_click():
    code = (
        "import sys; import slimml.migrate.commands; "
        "bad = [m for m in ('sqlite3', 'rich', 'subprocess', 'slimml.migrate.state', 'slimml.runner') "
        "if m in sys.modules]; print(bad)"
    )
    cp = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert cp.stdout.strip() == "[]", cp.stdout + cp.stderr


@pytest.mark.docker
def test_measure_records_real_sizes_and_build_failures(tmp_path):
    root = tmp_path / "repos"
    data = os.urandom(3_000_000)
    mkrepo(
        root / "with-data",
        {
            "Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nCMD ["python", "app.py"]\n',
            "app.py": "print(1)\n",
            "data/train.csv": data,
        },
    )
    mkrepo(
        root / "does-not-build",
        {"Dockerfile": "FROM python:3.11-slim\nRUN false\nCOPY app.py /app/app.py\n", "app.py": "print(1)\n"},
    )
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "w"
    cp = run_migrate(
        [root, "--workdir", work, "--measure", "--build-jobs", "1", "--unsafe-fixes", "-j", "2", "-q"],
        isolated_env(home),
        timeout=1200,
    )
    assert cp.returncode == 0, cp.stderr
    report = json.loads((work / ".slimml" / "migrate-report.json").read_text())
    repos = {r["name"]: r for r in report["repos"]}
    m = repos["with-data"]["measured"]
    assert repos["with-data"]["status"] == "fixed"
    assert m["before"] - m["after"] > 2_500_000  # data/ is no longer sent into the image
    assert repos["does-not-build"]["status"] == "fixed" and repos["does-not-build"]["measured"] is None
    (fail,) = [f for f in report["failures"] if f["repo"] == "does-not-build"]
    assert (
        fail["file"] == "Dockerfile" and fail["reason"].startswith("measure: ") and "does not build" in fail["reason"]
    )
    assert report["totals"]["measured"]["repos"] == 1
    html = (work / ".slimml" / "migrate-report.html").read_text()
    assert 'class="bar measured before"' in html


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path):
    root = tmp_path / "repos"
    template = mkrepo(tmp_path / "template", fixable_files(2))
    for i in range(60):
        shutil.copytree(template, root / f"r{i:03d}", symlinks=True)
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    work = tmp_path / "w"
    db = work / ".slimml" / "migrate.db"
    args = [root, "--workdir", work, "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(
        migrate_cmd(*args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # noqa: PLW1509
    end = time.time() + 120
    while time.time() < end and proc.poll() is None:
        if db.exists():
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                n = conn.execute("SELECT COUNT(*) FROM repos WHERE status='fixed'").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                n = 0
            if n >= 3:
                os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
                break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: re-run the same command to continue" in err
    assert _wait_group_gone(proc.pid) == []
    cp = run_migrate(args, env)
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(db)
    assert all(r["status"] == "fixed" for r in rows.values())
    for name in rows:
        assert len(git(root / name, "reflog", "show", f"refs/heads/{BRANCH}").splitlines()) == 1


def test_context_fixes_are_judged_against_a_real_checkout_not_the_committed_tree(tmp_path):
    """The committed tree lacks what .gitignore hides, but checkouts that build the image hold it:
    weights/ fetched before the build, *.onnx exports, .env. A whole-context COPY copies them, so
    excluding them is never a safe fix -- and an already curated .dockerignore gets no pull request."""
    root = tmp_path / "repos"
    app = "import os\nimport onnxruntime\nsess = onnxruntime.InferenceSession(os.environ['MODEL'])\n"
    r = mkrepo(
        root / "ml-app",
        {
            "Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n',
            "app.py": app,
            ".gitignore": "weights/\n*.onnx\n.env\n",
        },
    )
    (r / "weights").mkdir()
    (r / "weights" / "model.onnx").write_bytes(b"\0" * 128)  # ignored: the repo is not dirty
    (r / ".env").write_text("MODEL=weights/model.onnx\n")
    mkrepo(
        root / "curated",
        {
            "Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n',
            "app.py": "print(1)\n",
            ".dockerignore": "# ours\n.git\n*.md\nnotebooks/\n",
        },
    )
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    cp = run_migrate([root, "--workdir", tmp_path / "work", "--jobs", "1", "--quiet", "--select", "SLM006"], env)
    assert cp.returncode == 0, cp.stderr
    rows = db_rows(tmp_path / "work" / ".slimml" / "migrate.db")
    assert rows["ml-app"]["status"] == "fixed" and rows["curated"]["status"] == "unchanged"
    ignore = git(r, "show", f"{BRANCH}:.dockerignore")
    pats = DI.parse_patterns(ignore)
    for kept in ("weights/model.onnx", ".env", "app.py"):
        assert not DI.is_excluded(kept, pats), kept
    assert DI.is_excluded(".git", pats) and DI.is_excluded("pkg/__pycache__/m.pyc", pats)
    assert git(root / "curated", "branch", "--list", BRANCH) == ""
