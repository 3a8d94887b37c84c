"""`slimml fix` / `slimml rules` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main

PIP_ONLY = ["--select", "SLM001"]


def run(*args, cwd=None):
    runner = CliRunner()
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.11\r\nRUN pip install -r requirements.txt\r\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    return tmp_path


def test_dry_run_prints_diff_and_writes_nothing(project):
    before = (project / "Dockerfile").read_bytes()
    r = run("fix", project / "Dockerfile", *PIP_ONLY)
    assert r.exit_code == 0
    assert "+RUN pip install --no-cache-dir -r requirements.txt" in r.stdout
    assert "would fix 1 (SLM001)" in r.stderr
    assert (project / "Dockerfile").read_bytes() == before


def test_write_keeps_crlf_bom_and_mode_atomically(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_bytes(b"\xef\xbb\xbfFROM python:3.11\r\nRUN pip install x\r\n")
    os.chmod(df, 0o640)
    r = run("fix", "--write", df, *PIP_ONLY)
    assert r.exit_code == 0, r.output
    assert df.read_bytes() == b"\xef\xbb\xbfFROM python:3.11\r\nRUN pip install --no-cache-dir x\r\n"
    assert stat.S_IMODE(df.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile"]  # no temp files left behind
    again = run("fix", "--check", df, *PIP_ONLY)
    assert again.exit_code == 0


def test_check_exit_codes(project):
    assert run("fix", "--check", project / "Dockerfile", *PIP_ONLY).exit_code == 1
    run("fix", "--write", project / "Dockerfile", *PIP_ONLY)
    assert run("fix", "--check", project / "Dockerfile", *PIP_ONLY).exit_code == 0


def test_diff_only(project):
    r = run("fix", "--diff", project / "Dockerfile", *PIP_ONLY)
    assert r.stdout.startswith("--- a/") and r.stderr == ""


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary"),
        (b"hello world, this is not a Dockerfile\n", "not a valid Dockerfile"),
        (b"services:\n  web:\n    image: x\n", "not a valid Dockerfile"),
        (b"FROM a\nRUN <<EOF\nnever ends\n", "unterminated heredoc"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, content, needle):
    df = tmp_path / "Dockerfile"
    if content is not None:
        df.write_bytes(content)
    r = run("fix", "--write", df)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.output
    if content is not None:
        assert df.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["Dockerfile"])


def test_directory_without_dockerfile(tmp_path):
    (tmp_path / "README.md").write_text("x")
    r = run("fix", tmp_path)
    assert r.exit_code == 2 and "no Dockerfile found" in r.stderr


def test_multi_file_run_goes_on_after_a_bad_file(tmp_path):
    good = tmp_path / "Dockerfile"
    good.write_text("FROM python:3.11\nRUN pip install x\n")
    bad = tmp_path / "Dockerfile.broken"
    bad.write_text("FROM a\nNOPE x\n")
    r = run("fix", "--write", tmp_path, *PIP_ONLY)
    assert r.exit_code == 2
    assert "--no-cache-dir" in good.read_text()
    assert bad.read_text() == "FROM a\nNOPE x\n"
    assert "Dockerfile.broken" in r.stderr and "unknown instruction" in r.stderr


def test_discovery_finds_variants_and_skips_ignored(tmp_path):
    for rel in [
        "Dockerfile",
        "Dockerfile.cpu",
        "docker/gpu.Dockerfile",
        "Containerfile",
        ".git/Dockerfile",
        "build/Dockerfile",
        "Dockerfile.j2",
        "node_modules/x/Dockerfile",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("FROM python:3.11\nRUN pip install x\n")
    (tmp_path / ".gitignore").write_text("build/\n")
    r = run("fix", tmp_path, *PIP_ONLY, "--format", "json")
    paths = sorted(
        Path(f["path"]).relative_to(tmp_path).as_posix()
        if os.path.isabs(f["path"])
        else os.path.relpath(os.path.abspath(f["path"]), tmp_path)
        for f in json.loads(r.stdout)["files"]
    )
    assert paths == ["Containerfile", "Dockerfile", "Dockerfile.cpu", "docker/gpu.Dockerfile"]


def test_secrets_are_masked_in_diff_and_json(tmp_path):
    df = tmp_path / "Dockerfile"
    token = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3"
    df.write_text(f"FROM python:3.11\nENV HF_TOKEN={token}\nRUN pip install x\nENV OTHER=1\n")
    for fmt in ("text", "json"):
        r = run("fix", df, *PIP_ONLY, "--format", fmt)
        assert token not in r.output and token[3:] not in r.output
    r = run("fix", df, *PIP_ONLY)
    assert "HF_TOKEN=****" in r.stdout


def test_json_report(project):
    r = run("fix", project / "Dockerfile", *PIP_ONLY, "--format", "json")
    data = json.loads(r.stdout)
    (f,) = data["files"]
    assert f["status"] == "would-fix" and f["applied"] == {"SLM001": 1}
    assert f["findings"][0]["code"] == "SLM001" and f["findings"][0]["start"] == [2, 5]
    assert f["findings"][0]["fix"]["applicability"] == "safe"
    assert data["summary"]["fixes"] == 1


def test_unknown_rule_code_is_an_error(project):
    r = run("fix", project / "Dockerfile", "--select", "SLM999")
    assert r.exit_code == 2 and "unknown rule code" in r.output


def test_config_in_pyproject(project):
    (project / "pyproject.toml").write_text('[tool.slimml]\nignore = ["SLM001"]\n')
    r = run("fix", "--check", project / "Dockerfile", *PIP_ONLY)
    assert r.exit_code == 0
    (project / "pyproject.toml").write_text("[tool.slimml]\nbogus = 1\n")
    r = run("fix", project / "Dockerfile")
    assert r.exit_code == 2 and "unknown slimml setting" in r.stderr


def test_slimml_toml_rule_options(project):
    (project / ".slimml.toml").write_text('select = ["SLM001"]\n[rules.pip-no-cache]\ncache-mounts = true\n')
    r = run("fix", project / "Dockerfile")
    assert "--mount=type=cache,target=/root/.cache/pip" in r.stdout


def test_rules_listing_and_explain():
    r = run("rules")
    assert r.exit_code == 0 and "SLM001" in r.stdout and "pip-no-cache" in r.stdout
    r = run("rules", "SLM001")
    assert "## What it does" in r.stdout and "## Use instead" in r.stdout
    r = run("rules", "SLM999")
    assert r.exit_code == 2


def test_console_script_entry_point(project):
    exe = Path(sys.executable).with_name("slimml")
    out = subprocess.run(
        [str(exe), "fix", "--diff", str(project / "Dockerfile"), *PIP_ONLY], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "--no-cache-dir" in out.stdout
