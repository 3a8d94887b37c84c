"""The all-repos autofixer end to end with real git: local bare repositories are the source
(all_repos.source.json_file), all-repos' own clone step makes the checkouts, and the autofixer
pushes with all_repos.push.merge_to_master (or opens pull requests through
all_repos.push.github_pull_request against a local HTTP server).

Expected contents come from outside the autofixer: the fixture's expected.Dockerfile, or
`slimml fix --write` (the single-file path) run on a plain copy of the repo.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from slimml.runner import Options, run_fix

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT / "benchmarks" / "reach" / "corpus"
BRANCH = "all-repos_autofix_slimml"


def git(cwd, *args, check=True) -> str:
    cp = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and cp.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {cwd}: {cp.stderr}")
    return cp.stdout.strip()


@pytest.fixture(autouse=True)
def git_identity(monkeypatch, tmp_path):
    for k in ("NAME", "EMAIL"):
        monkeypatch.setenv(f"GIT_AUTHOR_{k}", "Fleet Bot" if k == "NAME" else "bot@example.com")
        monkeypatch.setenv(f"GIT_COMMITTER_{k}", "Fleet Bot" if k == "NAME" else "bot@example.com")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no user git config (hooks, signing) in the way
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("ALL_REPOS_CONFIG_FILENAME", raising=False)


def files_of(folder: Path, rename: dict[str, str] | None = None) -> dict[str, bytes]:
    """A fixture or corpus folder as repo files (its expectations and notes left out)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not rel.startswith("expected.") and rel not in ("case.toml", "source.txt"):
            out[(rename or {}).get(rel, rel)] = p.read_bytes()
    return out


def make_bare(root: Path, name: str, files: dict[str, bytes]) -> Path:
    """A bare repository (the "forge") holding one commit with ``files`` on main."""
    work = root / "work" / name
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for rel, data in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "initial")
    bare = root / "forge" / f"{name}.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "push", "-q", str(bare), "main")
    return bare


def make_config(
    root: Path, repos: dict[str, Path], push: str = "all_repos.push.merge_to_master", push_settings: dict | None = None
) -> Path:
    (root / "repos.json").write_text(json.dumps({n: str(p) for n, p in repos.items()}))
    cfg = root / "all-repos.json"
    cfg.write_text(
        json.dumps(
            {
                "output_dir": "output",
                "source": "all_repos.source.json_file",
                "source_settings": {"filename": str(root / "repos.json")},
                "push": push,
                "push_settings": {"fast_forward": True} if push_settings is None else push_settings,
            }
        )
    )
    cfg.chmod(0o600)  # all-repos refuses a config others can read (it may hold a token)
    return cfg


def clone(cfg: Path) -> None:
    from all_repos import clone as ar_clone

    assert ar_clone.main(["-C", str(cfg), "-j", "1"]) == 0


def autofix(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slimml.integrations.all_repos", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        cwd=cfg.parent,
        timeout=300,
    )


def log(bare: Path) -> list[str]:
    return git(bare, "log", "--format=%H", "main").splitlines()


def show(bare: Path, rel: str, rev: str = "main") -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=bare, capture_output=True, check=True).stdout


def refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)")


def expected_fix(files: dict[str, bytes], tmp: Path, opts: Options) -> dict[str, bytes]:
    """What `slimml fix --write` makes of a plain copy of the repo: {path: bytes} of every file."""
    tmp.mkdir(parents=True)
    for rel, data in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)
    (tmp / ".git").mkdir()  # the repo root, for the build-context inference (as in a clone)
    empty = tmp.parent / f"{tmp.name}-empty.toml"
    empty.write_text("")
    from dataclasses import replace

    run_fix([tmp], replace(opts, write=True, config=empty))
    return {
        p.relative_to(tmp).as_posix(): p.read_bytes()
        for p in tmp.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(tmp).parts
    }


def test_one_commit_per_repo_then_nothing_to_do(tmp_path):
    basic, conda = FIXTURES / "pip-no-cache" / "basic", FIXTURES / "pip-no-cache" / "conda"
    repos = {
        "svc-pip": make_bare(tmp_path, "svc-pip", files_of(basic)),
        "team/svc-conda": make_bare(
            tmp_path, "svc-conda", {"docker/Dockerfile": (conda / "Dockerfile").read_bytes(), "README.md": b"conda\n"}
        ),
        "svc-clean": make_bare(tmp_path, "svc-clean", {"Dockerfile": (basic / "expected.Dockerfile").read_bytes()}),
        "docs-only": make_bare(tmp_path, "docs-only", {"README.md": b"no Docker here\n"}),
    }
    before = {n: log(b) for n, b in repos.items()}
    cfg = make_config(tmp_path, repos)
    clone(cfg)

    cp = autofix(cfg, "--select", "SLM001")
    assert cp.returncode == 0, cp.stderr
    assert "4 repo(s), 2 with Dockerfiles to fix: 2 pushed, 0 unchanged" in cp.stderr

    for name, df, fixture in (("svc-pip", "Dockerfile", basic), ("team/svc-conda", "docker/Dockerfile", conda)):
        bare = repos[name]
        assert log(bare)[1:] == before[name], f"{name}: exactly one new commit on top of the base"
        assert show(bare, df) == (fixture / "expected.Dockerfile").read_bytes()
        changed = git(bare, "diff-tree", "--no-commit-id", "--name-only", "-r", "main").splitlines()
        assert changed == [df]
        msg = git(bare, "log", "-1", "--format=%B", "main")
        assert msg.startswith("slimml: slimmer Docker images (")
        assert "Applied by `python -m slimml.integrations.all_repos` (all-repos). Fixes:" in msg
        assert f"| `{df}` | SLM001" in msg  # this repo's own table row
        assert msg.rstrip().endswith("Slimml-Migrate: all-repos.slimml")
        assert git(bare, "log", "-1", "--format=%an <%ae>", "main") == "Fleet Bot <bot@example.com>"
    conda_msg = git(repos["team/svc-conda"], "log", "-1", "--format=%B", "main")
    assert "| `Dockerfile` |" not in conda_msg  # no other repo's rows
    for name in ("svc-clean", "docs-only"):
        assert log(repos[name]) == before[name], f"{name}: nothing to fix, no commit"
        assert git(repos[name], "branch", "--list") == "* main"

    after_first = {n: refs(b) for n, b in repos.items()}
    # Stale checkouts: the candidates are found again, but their fresh clones have nothing left to fix.
    cp = autofix(cfg, "--select", "SLM001")
    assert cp.returncode == 0, cp.stderr
    assert "2 with Dockerfiles to fix: 0 pushed, 2 unchanged" in cp.stderr
    # Refreshed checkouts: the checker finds nothing at all.
    clone(cfg)
    cp = autofix(cfg, "--select", "SLM001")
    assert cp.returncode == 0, cp.stderr
    assert "4 repo(s), 0 with Dockerfiles to fix" in cp.stderr
    assert {n: refs(b) for n, b in repos.items()} == after_first


def test_all_rules_commit_what_slimml_fix_writes_including_new_files(tmp_path):
    multi = {
        **{f"api/{k}": v for k, v in files_of(CORPUS / "cuda-runtime-clean").items()},
        **{f"worker/{k}": v for k, v in files_of(CORPUS / "alpine-build-base").items()},
    }
    single = files_of(FIXTURES / "pip-no-cache" / "basic")
    repos = {"multi": make_bare(tmp_path, "multi", multi), "single": make_bare(tmp_path, "single", single)}
    cfg = make_config(tmp_path, repos)
    clone(cfg)
    cp = autofix(cfg)
    assert cp.returncode == 0, cp.stderr
    for name, files in (("multi", multi), ("single", single)):
        bare = repos[name]
        want = expected_fix(files, tmp_path / "expected" / name, Options())
        assert want != files, "the case must have something to fix"
        got = {p: show(bare, p) for p in git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()}
        assert got == want
        assert len(log(bare)) == 2
    # slimml's new .dockerignore files are in the commit (autofix_lib's `commit -a` would drop them)
    tree = git(repos["multi"], "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "api/.dockerignore" in tree and "api/.dockerignore" not in multi
    msg = git(repos["multi"], "log", "-1", "--format=%B", "main")
    assert "| `api/Dockerfile` |" in msg and "| `worker/Dockerfile` |" in msg


def test_dry_run_changes_nothing(tmp_path):
    basic = FIXTURES / "pip-no-cache" / "basic"
    repos = {
        "a": make_bare(tmp_path, "a", files_of(basic)),
        "b": make_bare(tmp_path, "b", {"svc/Dockerfile": (basic / "Dockerfile").read_bytes()}),
    }
    cfg = make_config(tmp_path, repos)
    clone(cfg)
    forge = {n: refs(b) for n, b in repos.items()}
    checkouts = {
        n: (git(tmp_path / "output" / n, "rev-parse", "HEAD"), git(tmp_path / "output" / n, "branch", "-a"))
        for n in repos
    }
    cp = autofix(cfg, "--dry-run")
    assert cp.returncode == 0, cp.stderr
    assert "2 with Dockerfiles to fix: 2 would commit" in cp.stderr
    assert "slimml: slimmer Docker images (" in cp.stdout  # the message each PR would get
    assert "| `svc/Dockerfile` |" in cp.stdout
    assert {n: refs(b) for n, b in repos.items()} == forge
    for n in repos:
        out = tmp_path / "output" / n
        assert (git(out, "rev-parse", "HEAD"), git(out, "branch", "-a")) == checkouts[n]
        assert git(out, "status", "--porcelain", "--untracked-files=all") == ""


class _FakeGitHub(http.server.BaseHTTPRequestHandler):
    """POST /repos/<slug>/pulls as the GitHub REST API answers it (201 + the PR)."""

    pulls: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).pulls.append({"path": self.path, "auth": self.headers["Authorization"], **body})
        data = json.dumps({"html_url": f"http://forge.invalid/pull/{len(self.pulls)}", "number": len(self.pulls)})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *a):
        pass


def test_each_pull_request_gets_its_own_repos_message(tmp_path):
    basic, conda = FIXTURES / "pip-no-cache" / "basic", FIXTURES / "pip-no-cache" / "conda"
    repos = {
        "svc-pip": make_bare(tmp_path, "svc-pip", files_of(basic)),
        "svc-conda": make_bare(tmp_path, "svc-conda", {"env/Dockerfile": (conda / "Dockerfile").read_bytes()}),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    _FakeGitHub.pulls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = make_config(
            tmp_path,
            repos,
            push="all_repos.push.github_pull_request",
            push_settings={
                "username": "bot",
                "api_key": "test-token",
                "base_url": f"http://127.0.0.1:{server.server_port}",
            },
        )
        clone(cfg)
        cp = autofix(cfg, "--select", "SLM001")
        opened = list(_FakeGitHub.pulls)
        heads = {n: refs(b) for n, b in repos.items()}
        # A re-run while the PRs are open: the remote branches already hold these changes.
        same = autofix(cfg, "--select", "SLM001")
        # Another change (all rules now): all-repos pushes without force, so the push is refused
        # and the repo reported -- no second branch, no second PR.
        other = autofix(cfg)
    finally:
        server.shutdown()
    assert cp.returncode == 0, cp.stderr
    assert "test-token" not in cp.stdout + cp.stderr + same.stdout + same.stderr + other.stdout + other.stderr
    assert same.returncode == 0 and "0 pushed, 0 unchanged, 2 already pushed, 0 failed" in same.stderr, same.stderr
    assert other.returncode == 2 and "0 pushed, 0 unchanged, 2 failed" in other.stderr, other.stderr
    assert _FakeGitHub.pulls == opened
    assert {n: refs(b) for n, b in repos.items()} == heads
    by_repo = {p["path"].split("/repos/", 1)[1].rsplit("/pulls", 1)[0]: p for p in _FakeGitHub.pulls}
    assert set(by_repo) == {str(b) for b in repos.values()}
    for name, df in (("svc-pip", "Dockerfile"), ("svc-conda", "env/Dockerfile")):
        bare = repos[name]
        pr = by_repo[str(bare)]
        assert (pr["head"], pr["base"], pr["auth"]) == (BRANCH, "main", "token test-token")
        # the PR is the pushed commit's subject and body, and the body is this repo's table
        assert pr["title"] == git(bare, "log", "-1", "--format=%s", BRANCH)
        assert pr["body"] == git(bare, "log", "-1", "--format=%b", BRANCH)
        assert f"| `{df}` | SLM001" in pr["body"]
        other = "env/Dockerfile" if df == "Dockerfile" else "Dockerfile"
        assert f"| `{other}` |" not in pr["body"]
        assert len(git(bare, "log", "--format=%H", BRANCH).splitlines()) == 2
        assert len(log(bare)) == 1  # main untouched: the change waits in the PR


def test_interactive_no_commits_nothing(tmp_path):
    repos = {"a": make_bare(tmp_path, "a", files_of(FIXTURES / "pip-no-cache" / "basic"))}
    cfg = make_config(tmp_path, repos)
    clone(cfg)
    before = refs(repos["a"])
    cp = subprocess.run(
        [sys.executable, "-m", "slimml.integrations.all_repos", "-C", str(cfg), "-i"],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cp.returncode == 0, cp.stderr
    assert "Looks good" in cp.stdout and "1 declined" in cp.stderr
    assert refs(repos["a"]) == before


@pytest.mark.parametrize(
    "case", ["missing-config", "bad-code", "readable-config", "not-cloned", "bad-json", "bad-push-module"]
)
def test_bad_input_is_one_line_exit_2(tmp_path, case, capfd):
    from slimml.integrations.all_repos import main

    repos = {"a": make_bare(tmp_path, "a", files_of(FIXTURES / "pip-no-cache" / "basic"))}
    cfg = make_config(tmp_path, repos)
    args = ["--config", str(cfg)]
    if case == "missing-config":
        args = ["--config", str(tmp_path / "nope.json")]
    elif case == "bad-code":
        clone(cfg)
        args += ["--select", "SLM001,NOPE99"]
    elif case == "readable-config":
        cfg.chmod(0o644)
    elif case == "bad-json":
        cfg.write_text("{not json")
    elif case == "bad-push-module":
        data = json.loads(cfg.read_text())
        cfg.write_text(json.dumps({**data, "push": "all_repos.push.no_such_module"}))
    capfd.readouterr()
    before = refs(repos["a"])
    assert main(args) == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("python -m slimml.integrations.all_repos: error: ")
    assert {
        "missing-config": "no such all-repos config",
        "bad-code": "unknown rule code(s): NOPE99",
        "readable-config": "too-permissive permissions",
        "not-cloned": "nothing cloned yet",
        "bad-json": "not valid JSON",
        "bad-push-module": "no_such_module",
    }[case] in err
    assert refs(repos["a"]) == before


def test_bad_option_is_one_line_exit_2(capfd):
    from slimml.integrations.all_repos import main

    with pytest.raises(SystemExit) as e:
        main(["--no-such-option"])
    assert e.value.code == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unrecognized arguments: --no-such-option" in err


@pytest.mark.docker
def test_verify_puts_measured_sizes_in_the_commit(tmp_path):
    # No network: only python:3.11-slim (the local stand-in) and files of the repo itself.
    dockerfile = (
        b"FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\n"
        b"RUN python -c \"open('/app/built.txt', 'w').write('ok')\"\n"
        b'RUN python -m compileall -q /app\nCMD ["python", "app.py"]\n'
    )
    repos = {"tiny": make_bare(tmp_path, "tiny", {"Dockerfile": dockerfile, "app.py": b"print('hello')\n"})}
    cfg = make_config(tmp_path, repos)
    clone(cfg)
    cp = autofix(cfg, "--verify")
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr
    bare = repos["tiny"]
    assert len(log(bare)) == 2
    msg = git(bare, "log", "-1", "--format=%B", "main")
    assert "Per Dockerfile (built before and after, verified by `slimml fix --verify`):" in msg
    row = next(line for line in msg.splitlines() if line.startswith("| `Dockerfile` |"))
    assert "(measured," in row and " → " in row
    assert show(bare, "Dockerfile") != dockerfile


def test_sourcegraph_batch_spec_runs_this_slimml_image():
    """The keys and shapes src-cli's batch spec schema allows (schema/batch_spec.schema.json in
    sourcegraph/src-cli: no other top-level or step keys, name pattern, required template fields), the
    image tag of this slimml version, and a branch name git accepts."""
    import re

    import yaml

    from slimml import __version__

    spec = yaml.safe_load((ROOT / "docs" / "drivers" / "sourcegraph-batch-spec.yaml").read_text())
    assert set(spec) <= {
        "name",
        "description",
        "on",
        "workspaces",
        "steps",
        "transformChanges",
        "importChangesets",
        "changesetTemplate",
    }
    assert re.fullmatch(r"[\w.-]+", spec["name"])
    assert all(
        set(o) == {"repositoriesMatchingQuery"} and isinstance(o["repositoriesMatchingQuery"], str) for o in spec["on"]
    )
    [step] = spec["steps"]
    assert set(step) <= {"run", "container", "outputs", "env", "files", "if", "allow_network"}
    assert step["run"] == "slimml fix . --write"
    assert step["container"] == f"ghcr.io/slimml/slimml:{__version__}"
    assert all(set(v) <= {"value", "format"} and isinstance(v["value"], str) for v in step["outputs"].values())
    tpl = spec["changesetTemplate"]
    assert set(tpl) <= {"title", "body", "branch", "commit", "published"}
    assert {"title", "branch", "commit", "published"} <= set(tpl) and set(tpl["commit"]) == {"message"}
    for name in step["outputs"]:
        assert f"${{{{ outputs.{name} }}}}" in tpl["body"]
    assert subprocess.run(["git", "check-ref-format", "--branch", tpl["branch"]], capture_output=True).returncode == 0
    assert tpl["published"] is False
