"""The project's own habits: lint and types pass on the tree, one version, a licence that matches, `python -m slimml`,
and a pre-commit configuration whose hooks run. The tools are the virtualenv's (the versions the test extra pins)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

import slimml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
STRICT_MODULES = {
    "slimml/dockerfile/model.py",
    "slimml/dockerignore.py",
    "slimml/units.py",
    "slimml/secrets.py",
    "slimml/jsonout.py",
    "slimml/realpaths.py",
    "slimml/fastexit.py",
    "slimml/clicolor.py",
    "slimml/measure/buildchecks.py",
    "slimml/gitignore.py",
    "slimml/migrate/shard.py",
    "slimml/migrate/state.py",
    "slimml/lsp",
}


def _tool(name: str, *args: str, cwd: Path = ROOT, input: str | None = None, env: dict | None = None):
    exe = BIN / name
    assert exe.is_file(), f"{name} is not installed in the virtualenv (pip install -e '.[test]')"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=600, input=input, env=env)


# -- ruff ----------------------------------------------------------------------------------------------------------
def test_ruff_check_passes_on_the_tree():
    cp = _tool("ruff", "check", "--no-cache", ".")
    assert cp.returncode == 0, cp.stdout[-5000:] + cp.stderr[-2000:]


def test_ruff_is_configured_and_live():
    ruff = PYPROJECT["tool"]["ruff"]
    assert ruff["line-length"] == 120
    assert {"E", "F", "W", "I", "B", "UP", "SIM"} <= set(ruff["lint"]["select"])
    # Each ignored rule carries its reason: the comment line right above it in pyproject.toml.
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("[tool.ruff.lint]") :]
    block = block[block.index("ignore = [") : block.index("]", block.index("ignore = ["))]
    lines = block.splitlines()[1:]
    for i, line in enumerate(lines):
        if line.strip().startswith('"'):
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"ignored rule without a reason: {line.strip()}"
    # The configuration applies: a real violation in a slimml module is reported (and the rule set's I, UP, B fire).
    code = "import sys\nimport os\nfrom typing import List\n\n\ndef f(x: List[int] = []) -> None:\n    pass\n"
    cp = _tool("ruff", "check", "--no-cache", "--stdin-filename", "slimml/_probe.py", "-", input=code)
    assert cp.returncode == 1
    for rule in ("F401", "I001", "UP006", "B006"):
        assert rule in cp.stdout, (rule, cp.stdout)


# -- mypy ----------------------------------------------------------------------------------------------------------
def test_mypy_strict_passes_on_the_core_modules():
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["strict"] is True and set(mypy["files"]) == STRICT_MODULES
    cp = _tool("mypy", "--no-incremental", "--cache-dir", os.devnull)
    assert cp.returncode == 0, cp.stdout[-5000:] + cp.stderr[-2000:]
    n_files = sum(len(list((ROOT / m).rglob("*.py"))) if (ROOT / m).is_dir() else 1 for m in STRICT_MODULES)
    assert f"no issues found in {n_files} source files" in cp.stdout


def test_mypy_strict_reports_an_untyped_function(tmp_path):
    """The same configuration (strict) fails on what the core modules must not contain."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f(x):\n    return x\n")
    cp = _tool(
        "mypy", "--no-incremental", "--cache-dir", os.devnull, "--config-file", str(ROOT / "pyproject.toml"), str(probe)
    )
    assert cp.returncode == 1 and "no-untyped-def" in cp.stdout, cp.stdout


def test_ci_runs_lint_and_types():
    lines = [x.strip() for x in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "ruff check ." in lines and "mypy" in lines


# -- packaging -----------------------------------------------------------------------------------------------------
def test_the_version_has_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "slimml.__version__"}
    assert importlib.metadata.version("slimml") == slimml.__version__
    for flag in ("--version", "-V"):
        cp = subprocess.run([str(BIN / "slimml"), flag], capture_output=True, text=True)
        assert cp.returncode == 0 and cp.stdout.split() == ["slimml,", "version", slimml.__version__], (flag, cp)


def test_license_file_matches_pyproject():
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    assert importlib.metadata.metadata("slimml")["License"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} the slimml authors$", text, re.M)
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_python_m_slimml_is_the_cli():
    cp = subprocess.run([sys.executable, "-m", "slimml", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert cp.returncode == 0, cp.stderr
    script = subprocess.run([str(BIN / "slimml"), "--help"], capture_output=True, text=True)
    assert cp.stdout[cp.stdout.index("Commands:") :] == script.stdout[script.stdout.index("Commands:") :]
    cp = subprocess.run([sys.executable, "-m", "slimml", "rules", "SLM001"], capture_output=True, text=True)
    assert cp.returncode == 0 and "pip-no-cache" in cp.stdout
    cp = subprocess.run([sys.executable, "-m", "slimml", "rules", "SLM999"], capture_output=True, text=True)
    assert cp.returncode == 2


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert versions and versions[0] == "Unreleased"
    kinds = set(re.findall(r"^### (\w+)$", text, re.M))
    assert kinds and kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


# -- pre-commit -----------------------------------------------------------------------------------------------------
def _precommit_hooks() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {h["id"]: {**h, "repo": r["repo"]} for r in config["repos"] for h in r["hooks"]}


def test_pre_commit_config_is_valid_and_its_hooks_exist():
    cp = _tool("pre-commit", "validate-config", ".pre-commit-config.yaml")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    hooks = _precommit_hooks()
    assert {"ruff-check", "ruff-format", "mypy", "slimml-check"} <= set(hooks)
    for hook in hooks.values():
        assert hook["repo"] == "local" and hook["language"] == "system"
        program = hook["entry"].split()[0]
        assert (BIN / program).is_file(), f"hook {hook['id']}: {program} is not installed by the test extra"
    # The slimml hook selects files exactly as the published hook does.
    published = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["slimml-check"]["files"] == published["slimml-check"]["files"]
    assert hooks["slimml-check"]["entry"] == published["slimml-check"]["entry"]
    # ruff format is a check in the hook (the tree is not reformatted by commits).
    assert "--check" in hooks["ruff-format"]["entry"].split()


def test_pre_commit_runs_the_slimml_hook(tmp_path):
    """pre-commit itself, in a scratch repository with this configuration: a Dockerfile with findings fails the
    slimml hook, the same file after `slimml fix --write` passes, and a file the pattern excludes is not checked."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    (repo / "svc").mkdir()
    (repo / "svc" / "Dockerfile").write_text(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nRUN pip install requests==2.32.3\nCMD ["python", "app.py"]\n'
    )
    (repo / "svc" / "app.py").write_text("print('ok')\n")
    (repo / "svc" / "Dockerfile.md").write_text("FROM python:3.11-slim\nRUN pip install requests\n")
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    pre_commit = [str(BIN / "pre-commit"), "run", "slimml-check", "--files"]

    cp = subprocess.run([*pre_commit, "svc/Dockerfile"], cwd=repo, env=env, capture_output=True, text=True)
    assert cp.returncode == 1 and "SLM001" in cp.stdout, cp.stdout + cp.stderr
    cp = subprocess.run([*pre_commit, "svc/Dockerfile.md"], cwd=repo, env=env, capture_output=True, text=True)
    assert cp.returncode == 0 and "no files to check" in cp.stdout.lower(), cp.stdout
    subprocess.run([str(BIN / "slimml"), "fix", "--write", "svc/Dockerfile"], cwd=repo, check=True, capture_output=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    cp = subprocess.run([*pre_commit, "svc/Dockerfile"], cwd=repo, env=env, capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
