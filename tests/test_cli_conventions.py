"""The command-line conventions a ruff/black user types without thinking (issue 13, item 3).

stdin (`-`, --stdin-filename), --quiet, --exit-zero, --statistics, --show-fixes, --output-file, -V,
--color that works when piped, --diff with --write refused, the aligned `rules` table, reasons
wrapped and shown once per rule, original line numbers, symlinks written through, config codes
validated, shell completion.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main, rules_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXE = Path(sys.executable).with_name("slimml")
PIP_ONLY = ["--select", "SLM001"]

# Lines 2-5 are merged/rewritten by safe fixes (the file gets shorter); the heredoc RUN on line 7
# keeps a finding without a fix. Before issue 13 it was reported at "line 9".
SHRINKS = (
    "FROM python:3.11\n"
    "RUN apt-get update\n"
    "RUN apt-get install -y curl\n"
    "RUN pip install x\n"
    "RUN pip install y\n"
    "COPY .env /app/.env\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends git <<EOF\n"
    "EOF\n"
    'CMD ["python"]\n'
)
HEREDOC_RUN = "RUN apt-get update && apt-get install -y --no-install-recommends git <<EOF"


def run(*args, cwd=None, input=None, env=None):
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def sh(*args, cwd=None, input=None, env=None):
    full = {**os.environ, **(env or {})}
    for k in [k for k, v in (env or {}).items() if v is None]:
        full.pop(k)
    return subprocess.run([str(EXE), *map(str, args)], cwd=cwd, input=input, env=full, capture_output=True, timeout=120)


def one_line_error(r, needle: str) -> None:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert lines[0].startswith("error: ")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.11\r\nRUN pip install -r requirements.txt\r\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    return tmp_path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- stdin ---------------------------------------------------------------------------------------------
def test_fix_stdin_dry_run_prints_the_diff(project):
    r = run("fix", "-", *PIP_ONLY, cwd=project, input=b"FROM python:3.11\nRUN pip install x\n")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("--- a/-\n+++ b/-\n")
    assert "+RUN pip install --no-cache-dir x" in r.stdout
    assert "-: would fix 1 (SLM001)" in r.stderr


def test_fix_stdin_write_prints_the_fixed_text_keeping_bytes_and_writes_no_dockerfile(project):
    before = _snapshot(project)
    data = b"\xef\xbb\xbfFROM python:3.11\r\nRUN pip install x\r\n"
    r = run("fix", "--write", "-", *PIP_ONLY, cwd=project, input=data)
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == b"\xef\xbb\xbfFROM python:3.11\r\nRUN pip install --no-cache-dir x\r\n"
    assert _snapshot(project) == before  # the Dockerfile on disk is not the one that was fixed


def test_fix_stdin_write_with_nothing_to_fix_prints_the_text_unchanged(project):
    data = b"FROM python:3.11\nRUN pip install --no-cache-dir x\n"
    r = run("fix", "--write", "-", *PIP_ONLY, cwd=project, input=data)
    assert r.exit_code == 0 and r.stdout_bytes == data


def test_stdin_filename_gives_config_and_context(tmp_path):
    sub = tmp_path / "svc"
    sub.mkdir()
    (sub / ".slimml.toml").write_text('ignore = ["SLM001"]\n')
    (sub / "requirements.txt").write_text("numpy\n")
    (sub / "app.py").write_text("print(1)\n")
    text = (
        b'FROM python:3.11-slim\nCOPY . /app\nRUN pip install -r /app/requirements.txt\nCMD ["python", "/app/app.py"]\n'
    )
    # Without a name: the current folder (no config there) -> SLM001 fires.
    r = run("fix", "-", "--select", "SLM001,SLM006", cwd=tmp_path, input=text)
    assert "SLM001" in r.stderr
    # Named: svc/.slimml.toml applies, and the .dockerignore goes into svc/ (the build context).
    r = run("fix", "--stdin-filename", "svc/Dockerfile", "--select", "SLM001,SLM006", cwd=tmp_path, input=text)
    assert r.exit_code == 0, r.output
    assert "SLM001" not in r.stderr and "svc/Dockerfile: would fix 1 (SLM006)" in r.stderr
    assert "+++ b/svc/.dockerignore" in r.stdout
    r = run(
        "fix",
        "--write",
        "-",
        "--stdin-filename",
        "svc/Dockerfile",
        "--select",
        "SLM001,SLM006",
        cwd=tmp_path,
        input=text,
    )
    assert r.exit_code == 0 and r.stdout_bytes == text
    assert (sub / ".dockerignore").is_file() and not (tmp_path / ".dockerignore").exists()
    assert not (sub / "Dockerfile").exists()


def test_check_reads_stdin(project):
    r = run(
        "check",
        "-",
        "--stdin-filename",
        "svc/Dockerfile",
        *PIP_ONLY,
        cwd=project,
        input=b"FROM python:3.11\nRUN pip install x\n",
    )
    assert r.exit_code == 1
    assert r.stdout.startswith("svc/Dockerfile:2:5: SLM001 [pip-no-cache]")
    r = run("check", "-", *PIP_ONLY, "--format", "json", cwd=project, input=b"FROM python:3.11\nRUN pip install x\n")
    assert json.loads(r.stdout)["files"][0]["path"] == "-"


@pytest.mark.parametrize(
    "args,data,needle",
    [
        (["fix", "-"], b"", "empty input on stdin"),
        (["fix", "-"], b"\x7fELF\x00\x01", "binary"),
        (["fix", "-"], b"hello world\n", "not a valid Dockerfile"),
        (["fix", "-", "Dockerfile"], b"FROM a\n", "cannot be combined with other paths"),
        (["fix", "Dockerfile", "--stdin-filename", "x/Dockerfile"], b"", "--stdin-filename is for `-`"),
        (["fix", "-", "--verify"], b"FROM a\n", "cannot read stdin"),
        (["check", "-", "Dockerfile"], b"FROM a\n", "cannot be combined with other paths"),
        (["fix", "-", "--format", "json"], b"FROM a\n", "--write prints the fixed text"),
        (["fix", "-", "--statistics"], b"FROM a\n", "--write prints the fixed text"),
        (["fix", "Dockerfile", "-o", "Dockerfile"], b"", "is one of the Dockerfiles to fix"),
    ],
)
def test_stdin_bad_input_is_one_line_exit_2_nothing_written(project, args, data, needle):
    before = _snapshot(project)
    r = run(*args, "--write" if args[0] == "fix" and "--verify" not in args else "--exit-zero", cwd=project, input=data)
    one_line_error(r, needle)
    assert r.stdout == ""
    assert _snapshot(project) == before


# -- --quiet, --exit-zero, --statistics, --show-fixes, --output-file, -V -------------------------------
def test_quiet_prints_no_summary_but_errors(project):
    r = run("fix", "-q", project / "Dockerfile", *PIP_ONLY)
    assert r.exit_code == 0 and "+RUN pip install --no-cache-dir" in r.stdout and r.stderr == ""
    r = run("fix", "--quiet", "--write", project / "Dockerfile", project / "nope", *PIP_ONLY)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: {project / 'nope'}: no such file or directory"]


def test_exit_zero_with_check(project):
    assert run("fix", "--check", project / "Dockerfile", *PIP_ONLY).exit_code == 1
    assert run("fix", "--check", "--exit-zero", project / "Dockerfile", *PIP_ONLY).exit_code == 0
    # errors still exit 2
    assert run("fix", "--check", "--exit-zero", project / "nope").exit_code == 2


def test_statistics_counts_per_rule_aligned(tmp_path):
    (tmp_path / "Dockerfile").write_text(SHRINKS)
    (tmp_path / "Dockerfile.two").write_text("FROM python:3.11-slim\nRUN pip install a\nRUN pip install b\n")
    r = run("fix", "--statistics", tmp_path, "--select", "SLM001,SLM002")
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    rows = {line.split()[1]: line for line in lines}
    assert rows["SLM001"].split()[0] == "4" and "4 would fix" in rows["SLM001"]
    assert "1 no fix" in rows["SLM002"] and "unsafe fix available" in rows["SLM002"]
    assert len({line.index("SLM0") for line in lines}) == 1  # the code column is aligned
    assert len({re.search(r"SLM\d+\s+\S+\s+", line).end() for line in lines}) == 1
    data = json.loads(run("fix", "--statistics", "--format", "json", tmp_path, "--select", "SLM001,SLM002").stdout)
    slm001 = next(e for e in data if e["code"] == "SLM001")
    assert slm001 == {
        "code": "SLM001",
        "name": "pip-no-cache",
        "count": 4,
        "fixed": 4,
        "unsafe_available": 0,
        "unfixed": 0,
        "other": 0,
    }


def test_check_statistics_and_quiet(tmp_path):
    """`check --statistics` counts each rule's findings by fix kind, as the JSON report lists them;
    `--quiet` drops the summary line, never an error."""
    (tmp_path / "Dockerfile").write_text(SHRINKS)
    (tmp_path / "Dockerfile.two").write_text("FROM python:3.11-slim\nRUN pip install a\nRUN pip install b\n")
    findings = [
        f for e in json.loads(run("check", "--format", "json", tmp_path).stdout)["files"] for f in e["findings"]
    ]
    r = run("check", "--statistics", tmp_path)
    assert r.exit_code == 1 and r.stderr.startswith(f"{len(findings)} finding(s)")
    rows = {line.split()[1]: line for line in r.stdout.splitlines()}
    assert set(rows) == {f["code"] for f in findings}
    for code, line in rows.items():
        assert int(line.split()[0]) == sum(f["code"] == code for f in findings)
    stats = json.loads(run("check", "--statistics", "--format", "json", tmp_path).stdout)
    assert sum(e["count"] for e in stats) == len(findings)
    assert all(e["safe"] + e["unsafe"] + e["none"] == e["count"] for e in stats)
    assert [e["count"] for e in stats] == sorted((e["count"] for e in stats), reverse=True)
    r = run("check", "--statistics", "--format", "sarif", tmp_path)
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0 and "--statistics" in r.stderr
    q = run("check", "-q", tmp_path, tmp_path / "nope")
    assert q.exit_code == 2 and q.stderr == ""
    assert f"error: {tmp_path / 'nope'}: no such file or directory" in q.stdout.splitlines()
    r = run("check", "--statistics", "--format", "json", "-q", tmp_path, tmp_path / "nope")
    assert r.exit_code == 2 and f"error: {tmp_path / 'nope'}: no such file or directory" in r.stderr


def test_show_fixes_lists_each_fix_at_its_line(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text(SHRINKS)
    r = run("fix", df, "--select", "SLM001")
    assert "(would fix)" not in r.stderr  # counts only by default
    r = run("fix", "--show-fixes", df, "--select", "SLM001")
    assert "  SLM001 lines 4, 5 (would fix): add --no-cache-dir" in r.stderr.splitlines()
    r = run("fix", "--show-fixes", "--write", df, "--select", "SLM001")
    assert "  SLM001 lines 4, 5 (fixed): add --no-cache-dir" in r.stderr.splitlines()


def test_output_file_gets_stdout(project):
    out = project / "report.diff"
    r = run("fix", "-o", out, project / "Dockerfile", *PIP_ONLY)
    assert r.exit_code == 0 and r.stdout == ""
    assert "+RUN pip install --no-cache-dir" in out.read_text() and "would fix 1" in r.stderr
    r = run("fix", "--output-file", out, "--format", "json", project / "Dockerfile", *PIP_ONLY)
    assert json.loads(out.read_text())["summary"]["fixes"] == 1
    r = run(
        "fix",
        "--write",
        "-",
        "--output-file",
        out,
        *PIP_ONLY,
        cwd=project,
        input=b"FROM python:3.11\nRUN pip install x\n",
    )
    assert out.read_bytes() == b"FROM python:3.11\nRUN pip install --no-cache-dir x\n" and r.stdout == ""


def test_output_file_in_a_missing_folder_is_one_line_error(project):
    before = _snapshot(project)
    one_line_error(run("fix", "--write", "-o", project / "no" / "r.txt", project / "Dockerfile"), "does not exist")
    assert _snapshot(project) == before


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    from slimml import __version__

    r = run(flag)
    assert r.exit_code == 0 and r.stdout.strip() == f"slimml, version {__version__}"


# -- colour --------------------------------------------------------------------------------------------
def test_color_always_emits_ansi_when_piped(project):
    cp = sh("fix", "--color", "always", "Dockerfile", *PIP_ONLY, cwd=project)
    assert cp.returncode == 0
    assert b"\x1b[32m+RUN pip install --no-cache-dir" in cp.stdout  # green added line
    assert b"\x1b[" in cp.stderr  # the summary's rule codes
    bare = sh("fix", "Dockerfile", *PIP_ONLY, "--color", cwd=project)  # bare --color (as before) means always
    assert bare.stdout == cp.stdout


@pytest.mark.parametrize(
    "args,env,colored",
    [
        ([], {"NO_COLOR": None, "FORCE_COLOR": None}, False),  # auto, piped
        ([], {"FORCE_COLOR": "1", "NO_COLOR": None}, True),
        ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # explicit beats the environment
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        (["--no-color"], {"FORCE_COLOR": "1"}, False),
        (["--color=auto"], {"FORCE_COLOR": "1", "NO_COLOR": None}, True),
    ],
)
def test_color_choices_and_environment(project, args, env, colored):
    cp = sh("fix", *args, "Dockerfile", *PIP_ONLY, cwd=project, env=env)
    assert cp.returncode == 0
    assert (b"\x1b[" in cp.stdout) is colored
    assert (
        ANSI.sub("", cp.stdout.decode())
        == sh("fix", "--color", "never", "Dockerfile", *PIP_ONLY, cwd=project).stdout.decode()
    )


@pytest.mark.parametrize(
    "args,env,colored",
    [
        ([], {"NO_COLOR": None, "FORCE_COLOR": None}, False),  # auto, piped
        ([], {"FORCE_COLOR": "1", "NO_COLOR": None}, True),
        (["--color", "always"], {"NO_COLOR": "1"}, True),
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        (["--color", "always", "--format", "json"], {}, False),  # reports for machines stay plain
    ],
)
def test_check_colors_its_findings_as_fix_does(project, args, env, colored):
    cp = sh("check", "--no-cache", *args, "Dockerfile", cwd=project, env=env)
    assert cp.returncode == 1 and cp.stdout
    assert (b"\x1b[" in cp.stdout) is colored
    plain = sh("check", "--no-cache", "--color", "never", *args[2:], "Dockerfile", cwd=project).stdout.decode()
    assert ANSI.sub("", cp.stdout.decode()) == plain
    if colored:
        assert b"\x1b[31m\x1b[1mSLM001\x1b[0m" in cp.stdout  # the rule code, as ruff shows it


def test_check_never_colors_an_output_file(project):
    assert sh("check", "--color", "always", "-o", "report.txt", "Dockerfile", cwd=project).returncode == 1
    assert b"\x1b[" not in (project / "report.txt").read_bytes() and (project / "report.txt").read_bytes()


def test_bad_color_value_exits_2(project):
    assert run("fix", "--color", "sometimes", project / "Dockerfile").exit_code == 2


# -- --diff --write ------------------------------------------------------------------------------------
def test_diff_with_write_is_refused_and_writes_nothing(project):
    before = _snapshot(project)
    one_line_error(run("fix", "--diff", "--write", project / "Dockerfile", *PIP_ONLY), "--diff and --write")
    assert _snapshot(project) == before


# -- rules table ---------------------------------------------------------------------------------------
def test_rules_table_is_aligned_with_wide_cells():
    entries = [
        {"code": "SLM001", "name": "pip-no-cache", "fix": "safe", "summary": "a"},
        {"code": "SLM1234", "name": "a-very-long-rule-name-indeed", "fix": "safe+unsafe", "summary": "b"},
        {"code": "SLM3", "name": "x", "fix": "unsafe", "summary": "c"},
    ]
    lines = rules_table(entries)
    for i, e in enumerate(entries):
        assert lines[i].index(e["name"]) == lines[0].index("pip-no-cache")
        assert lines[i].index(e["fix"] + " ") == lines[1].index("safe+unsafe")
        assert lines[i].endswith(e["summary"])
    assert lines[1].index("safe+unsafe") > lines[1].index("a-very-long-rule-name-indeed") + 28


def test_rules_command_columns_line_up():
    lines = run("rules").stdout.splitlines()
    assert len(lines) >= 10
    name_col = {len(re.match(r"\S+\s+", line).group(0)) for line in lines}
    fix_col = {len(re.match(r"\S+\s+\S+\s+", line).group(0)) for line in lines}
    summary_col = {len(re.match(r"\S+\s+\S+\s+\S+\s+", line).group(0)) for line in lines}
    assert len(name_col) == len(fix_col) == len(summary_col) == 1, lines


# -- reasons: wrapped, once per rule -------------------------------------------------------------------
def test_unsafe_reason_wrapped_and_shown_once_per_rule(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text(
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
        "COPY app.py /app.py\n"
        "RUN apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*\n"
        'CMD ["python", "/app.py"]\n'
    )
    (tmp_path / "app.py").write_text("print(1)\n")
    r = run("fix", df, "--select", "SLM002", env={"COLUMNS": "200"})
    err = r.stderr
    assert "2 unsafe fix(es) available" in err
    reason = "recommended packages are no longer installed"
    assert err.count(reason) == 1, err
    assert "SLM002 lines 2, 4 (unsafe fix)" in err
    assert max(len(line) for line in err.splitlines()[1:]) <= 100  # wrapped (COLUMNS is capped at 100)
    narrow = run("fix", df, "--select", "SLM002", env={"COLUMNS": "70"}).stderr
    assert max(len(line) for line in narrow.splitlines()[1:]) <= 70
    assert " ".join(narrow.split()).count(reason) == 1


def test_wrapping_never_breaks_a_secret_out_of_its_mask(tmp_path):
    df = tmp_path / "Dockerfile"
    token = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3"
    df.write_text(f'FROM python:3.11-slim\nENV HF_TOKEN={token}\nCMD ["python"]\n')
    for cols in ("60", "80", "100"):
        r = run("fix", df, "--select", "SLM009", "--show-fixes", env={"COLUMNS": cols})
        flat = r.stderr.replace("\n", "").replace(" ", "")
        assert token not in flat and token[3:12] not in flat


# -- original line numbers -----------------------------------------------------------------------------
def test_unfixed_finding_line_after_fixes_shrink_the_file(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text(SHRINKS)
    r = run("fix", df, "--select", "SLM001,SLM002,SLM003")
    assert "  SLM002 line 7 (no fix):" in r.stderr, r.stderr
    data = json.loads(run("fix", df, "--select", "SLM001,SLM002,SLM003", "--format", "json").stdout)
    (f,) = data["files"]
    (unfixed,) = f["unfixed"]
    assert unfixed["start"] == [7, 23]
    original = next(x for x in f["findings"] if x["message"] == unfixed["message"] and x["fix"] is None)
    assert original["start"] == unfixed["start"] and original["end"] == unfixed["end"]
    lines = SHRINKS.splitlines()
    for fx in f["fixes"] + f["unsafe"]:
        assert 1 <= fx["start"][0] <= fx["end"][0] <= len(lines)


def test_unfixed_finding_line_after_a_fix_inserts_lines_before_it(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    df = tmp_path / "Dockerfile"
    text = (
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nRUN pip install --no-cache-dir -r requirements.txt\n"
        f'{HEREDOC_RUN}\nEOF\nCMD ["python", "app.py"]\n'
    )
    df.write_text(text)
    r = run("fix", df, "--select", "SLM004,SLM002", "--show-fixes")
    assert "+COPY requirements.txt /app/" in r.stdout  # a line is inserted above the unfixed RUN
    assert "  SLM002 line 5 (no fix):" in r.stderr, r.stderr
    (f,) = json.loads(run("fix", df, "--select", "SLM004,SLM002", "--format", "json").stdout)["files"]
    assert f["unfixed"][0]["start"] == [5, 23]
    assert text.splitlines()[4] == HEREDOC_RUN


def test_positions_map_through_several_passes():
    """Unit level: insertions, deletions and replacements of two passes, mapped back exactly."""
    from slimml.engine import Edit, Finding, Fix, Result
    from slimml.positions import OriginalPositions

    original = "a\nb\nc\nd\n"
    # pass 0: insert two lines before "b", delete "c\n"
    p0 = Finding("X1", "x", "", 2, 2, Fix.safe(Edit(2, 2, "i1\ni2\n"), Edit(4, 6, "")))
    after0 = "a\ni1\ni2\nb\nd\n"
    # pass 1: replace "i1" with "I1-long"
    p1 = Finding("X2", "x", "", 2, 4, Fix.safe(Edit(2, 4, "I1-long")))
    final = "a\nI1-long\ni2\nb\nd\n"
    left = Finding("X3", "x", "", final.index("d"), final.index("d") + 1)
    r = Result("Dockerfile", original, final, [], applied=[p0, p1], remaining=[left], applied_pass=[0, 1])
    pos = OriginalPositions(r)
    assert pos.remaining_span(left) == ((4, 1), (4, 2))  # "d" is line 4 of the original
    assert pos.line_col(final.index("b")) == (2, 1)
    assert pos.line_col(final.index("i2")) == (2, 1)  # inserted text: where it was inserted
    assert pos.applied_span(p1) == ((2, 1), (2, 1))  # pass-1 offsets are in after0
    assert pos.applied_span(p0) == ((2, 1), (2, 1))
    assert after0.index("b") == 8 and pos.line_col(8, 1) == (2, 1)


# -- symlinks ------------------------------------------------------------------------------------------
def _symlinked(tmp_path: Path) -> tuple[Path, Path, Path]:
    """app/Dockerfile -> ../shared/Dockerfile.app; the build runs in app/ (`docker build app`)."""
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    target = shared / "Dockerfile.app"
    target.write_bytes(
        b"\xef\xbb\xbfFROM python:3.11-slim\r\nCOPY . /app\r\nRUN pip install -r /app/requirements.txt\r\n"
        b'CMD ["python", "/app/main.py"]\r\n'
    )
    os.chmod(target, 0o640)
    (app / "requirements.txt").write_text("numpy\n")
    (app / "main.py").write_text("print(1)\n")
    link = app / "Dockerfile"
    link.symlink_to(Path("..") / "shared" / "Dockerfile.app")
    return app, link, target


def test_symlinked_dockerfile_written_through_and_stays_a_link(tmp_path):
    app, link, target = _symlinked(tmp_path)
    r = run("fix", "--write", link, *PIP_ONLY)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "shared" / "Dockerfile.app")
    assert target.read_bytes() == (
        b"\xef\xbb\xbfFROM python:3.11-slim\r\nCOPY . /app\r\n"
        b"RUN pip install --no-cache-dir -r /app/requirements.txt\r\n"
        b'CMD ["python", "/app/main.py"]\r\n'
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["Dockerfile.app"]  # no temp file left
    assert run("fix", "--check", link, *PIP_ONLY).exit_code == 0


def test_symlinked_dockerfile_side_files_go_to_the_links_context(tmp_path):
    app, link, target = _symlinked(tmp_path)
    r = run("fix", "--write", link, "--select", "SLM006")
    assert r.exit_code == 0, r.output
    assert (app / ".dockerignore").is_file()
    assert not (target.parent / ".dockerignore").exists()
    assert link.is_symlink()
    data = json.loads(run("fix", link, "--format", "json", "--select", "SLM006").stdout)
    assert data["files"][0]["context"] == str(app.resolve())


def test_symlinked_dockerfile_uses_the_links_config(tmp_path):
    app, link, target = _symlinked(tmp_path)
    (app / ".slimml.toml").write_text('ignore = ["SLM001"]\n')
    (target.parent / ".slimml.toml").write_text('select = ["SLM001"]\n')
    r = run("fix", "--check", link, "--select", "SLM001")
    assert r.exit_code == 0, r.output


# -- config codes --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,content,needle",
    [
        (".slimml.toml", 'select = ["SLM999"]\n', "unknown rule code(s) in 'select': SLM999 (see `slimml rules`)"),
        (".slimml.toml", 'ignore = ["SLM001", "nope-rule"]\n', "unknown rule code(s) in 'ignore': nope-rule"),
        ("pyproject.toml", '[tool.slimml]\nselect = ["SLM999"]\n', "unknown rule code(s) in 'select': SLM999"),
        (".slimml.toml", "[rules.SLM777]\ncache-mounts = true\n", "unknown rule(s) in [rules]: SLM777"),
    ],
)
@pytest.mark.parametrize("command", ["fix", "check"])
def test_config_codes_validated_like_cli_codes(project, name, content, needle, command):
    cfg = project / name
    cfg.write_text(content)
    before = _snapshot(project)
    if command == "fix":
        r = run("fix", "--write", project / "Dockerfile")
        one_line_error(r, needle)
        assert str(cfg) in r.stderr
    else:  # check reports per file on stdout (the error too) and its one-line total on stderr
        r = run("check", project / "Dockerfile")
        assert r.exit_code == 2
        (line,) = r.stdout.strip().splitlines()
        assert line.startswith(f"error: {cfg}: ") and needle in line
    assert _snapshot(project) == before


def test_config_codes_by_name_and_prefix_are_accepted(project):
    (project / ".slimml.toml").write_text(
        'select = ["SLM0", "pip-no-cache"]\nignore = ["ALL"]\n[rules.pip-no-cache]\ncache-mounts = false\n'
    )
    assert run("fix", project / "Dockerfile").exit_code == 0


# -- shell completion ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shell,needle",
    [("bash", b"_slimml_completion"), ("zsh", b"#compdef slimml"), ("fish", b"complete --no-files --command slimml")],
)
def test_completion_script_generation(shell, needle):
    cp = sh(env={"_SLIMML_COMPLETE": f"{shell}_source"})
    assert cp.returncode == 0 and needle in cp.stdout, cp.stdout + cp.stderr


def test_completion_completes_commands_and_options():
    cp = sh(env={"_SLIMML_COMPLETE": "bash_complete", "COMP_WORDS": "slimml fi", "COMP_CWORD": "1"})
    assert b"plain,fix" in cp.stdout.splitlines()
    cp = sh(env={"_SLIMML_COMPLETE": "bash_complete", "COMP_WORDS": "slimml fix --stat", "COMP_CWORD": "2"})
    assert b"plain,--statistics" in cp.stdout.splitlines()
    cp = sh(env={"_SLIMML_COMPLETE": "bash_complete", "COMP_WORDS": "slimml fix --color ", "COMP_CWORD": "3"})
    assert {b"plain,auto", b"plain,always", b"plain,never"} <= set(cp.stdout.splitlines())


def test_completion_is_documented():
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert "_SLIMML_COMPLETE=bash_source slimml" in docs and "zsh_source" in docs and "fish_source" in docs


# -- startup stays lazy --------------------------------------------------------------------------------
def test_fix_on_one_file_imports_no_heavy_module(project):
    code = (
        "import sys\nfrom slimml.cli import main\n"
        "try:\n    main(['fix', '--color', 'always', '--show-fixes', 'Dockerfile'])\nexcept SystemExit:\n    pass\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'docker', 'rich', 'requests', 'sqlite3'})\n"
        "print('BAD', bad, file=sys.stderr)\n"
    )
    cp = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert "BAD []" in cp.stderr, cp.stderr


def test_positions_over_every_fixture_case():
    """Every finding left after fixing, mapped back, starts on the same word of the original as in the
    rewritten text (a finding whose span the fixes rewrote still starts where it did); fixes of pass 0 are
    findings of the original text, at their own offsets."""
    import dataclasses

    from slimml.engine import fix_text
    from slimml.io import read_source
    from slimml.positions import OriginalPositions
    from tests.fixture_cases import discover

    checked = moved = 0
    for case in discover():
        for unsafe in (False, True):
            ctx = case.context()
            ctx.settings = dataclasses.replace(ctx.settings, unsafe_fixes=unsafe)
            r = fix_text(read_source(case.dockerfile).text, ctx, str(case.dockerfile))
            pos = OriginalPositions(r)
            for f in r.remaining:
                s = pos.offset(f.start)
                word = r.output[f.start :].split(None, 1)[0] if r.output[f.start :].strip() else ""
                assert r.original[s : s + len(word)] == word, (case.id, f.code, word, r.original[s : s + 40])
                checked += 1
                moved += s != f.start
            for f, n in zip(r.applied, r.applied_pass):
                if n == 0:
                    assert f in r.findings
                    assert pos.applied_span(f)[0] == pos.line_col(f.start, 0)
    assert checked > 100 and moved >= 5  # the corpus exercises findings that moved


def test_symlinked_dockerfile_reads_the_links_own_dockerignore(tmp_path):
    """`docker build -f app/Dockerfile app` reads app/Dockerfile.dockerignore (named after the link), which
    wins over app/.dockerignore: slimml extends that file and creates no .dockerignore the build ignores."""
    app, link, target = _symlinked(tmp_path)
    own = app / "Dockerfile.dockerignore"
    own.write_text("*.log\n")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    r = run("fix", "--write", link, "--select", "SLM006")
    assert r.exit_code == 0, r.output
    assert not (app / ".dockerignore").exists() and not (target.parent / ".dockerignore").exists()
    assert own.read_text().startswith("*.log\n") and "**/__pycache__" in own.read_text().splitlines()


def test_symlinked_dockerfile_init_script_goes_next_to_the_link(tmp_path):
    """The weights init script a fix writes is COPYed by the fixed Dockerfile from the build context: it
    goes next to the link (in the context the build reads), not next to the target outside it."""
    fixture = Path(__file__).parents[1] / "fixtures" / "model-weights" / "chained-run"
    app, shared = tmp_path / "app", tmp_path / "shared"
    app.mkdir()
    shared.mkdir()
    (shared / "Dockerfile.gpu").write_bytes((fixture / "Dockerfile").read_bytes())
    (app / "app.py").write_bytes((fixture / "app.py").read_bytes())
    link = app / "Dockerfile"
    link.symlink_to(shared / "Dockerfile.gpu")
    r = run("fix", "--write", "--unsafe-fixes", "--select", "SLM010", link)
    assert r.exit_code == 0, r.output
    script = app / "docker-entrypoint-weights.sh"
    assert script.read_bytes() == (fixture / "expected.docker-entrypoint-weights.sh").read_bytes()
    assert os.access(script, os.X_OK)
    assert link.is_symlink() and sorted(p.name for p in shared.iterdir()) == ["Dockerfile.gpu"]
    assert (shared / "Dockerfile.gpu").read_bytes() == (fixture / "expected.Dockerfile").read_bytes()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["fix", "--colr", "Dockerfile"], "No such option '--colr'"),
        (["fix", "--color", "sometimes", "Dockerfile"], "Invalid value for '--color'"),
        (["fix", "--build-jobs", "0", "Dockerfile"], "Invalid value for '--build-jobs'"),
        (["--bogus"], "No such option '--bogus'"),
        (["nope"], "No such command 'nope'"),
        (["check", "--format", "xml", "."], "Invalid value for '--format'"),
    ],
)
def test_click_usage_errors_are_one_line(project, args, needle):
    before = _snapshot(project)
    r = run(*args, cwd=project)
    one_line_error(r, needle)
    assert "--help`)" in r.stderr and r.stdout == ""
    assert _snapshot(project) == before


def test_no_command_still_prints_the_help():
    r = run()
    assert r.output.startswith("Usage: ") and "Commands:" in r.output


def test_side_file_symlinked_inside_the_context_is_written_through(tmp_path):
    app, link, target = _symlinked(tmp_path)
    (app / "docker").mkdir()
    shared_in = app / "docker" / "ignore"
    shared_in.write_text("*.log\n")
    (app / ".dockerignore").symlink_to("docker/ignore")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    r = run("fix", "--write", link, "--select", "SLM006")
    assert r.exit_code == 0, r.output
    assert (app / ".dockerignore").is_symlink() and "**/__pycache__" in shared_in.read_text().splitlines()


@pytest.mark.parametrize("stdin", [False, True])
def test_side_file_symlinked_out_of_the_context_is_refused_and_nothing_written(tmp_path, stdin):
    """A .dockerignore shared with other projects (a link out of the context) is not rewritten under them,
    and not silently unshared: one-line error, exit 2, and the Dockerfile is not written either."""
    app, link, target = _symlinked(tmp_path)
    common = tmp_path / "common.dockerignore"
    common.write_text("*.log\n")
    (app / ".dockerignore").symlink_to(common)
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    before = _snapshot(tmp_path)
    if stdin:
        r = run("fix", "--write", "-", "--stdin-filename", link, "--select", "SLM001,SLM006", input=target.read_bytes())
    else:
        r = run("fix", "--write", link, "--select", "SLM001,SLM006")
    one_line_error(r, "is a symlink to")
    assert "outside the build context" in r.stderr and r.stdout == ""
    assert _snapshot(tmp_path) == before and (app / ".dockerignore").is_symlink()
    dry = run("fix", link, "--select", "SLM001,SLM006")  # the dry run still shows the change
    assert dry.exit_code == 0 and "**/__pycache__" in dry.stdout


def test_position_mapping_against_applied_random_edits():
    """Random non-overlapping edits (inserts, deletions, replacements), applied: every character of the new
    text an edit did not write maps back to the same character of the old text; one an edit wrote maps
    into what that edit replaced (an insert: its point)."""
    import random

    from slimml.engine import Edit, _apply_edits
    from slimml.positions import _Pass

    rng = random.Random(13)
    for _ in range(300):
        old = "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 40)))
        points = sorted(rng.sample(range(len(old) + 1), k=min(len(old) + 1, rng.randint(0, 8))))
        edits = []
        for a, b in zip(points[::2], points[1::2] + [None]):
            if rng.random() < 0.3:  # an insert right before a range (engine._overlaps allows it)
                edits.append(Edit(a, a, "I"))
            end = a if b is None or rng.random() < 0.3 else b
            if end == a and edits and edits[-1].start == edits[-1].end == a:
                continue  # two inserts at one point are never both chosen (engine._overlaps)
            edits.append(Edit(a, end, "".join(rng.choice("XY\n") for _ in range(rng.randint(0, 5)))))
            if end > a and b is not None and rng.random() < 0.3:  # an insert right after it
                edits.append(Edit(end, end, "J"))
        new = _apply_edits(old, edits)
        p = _Pass(edits)
        written = set()
        for e, ns in zip(p.edits, p.new_starts):
            written.update(range(ns, ns + len(e.text)))
            for k in range(len(e.text)):
                assert e.start <= p.back(ns + k) <= max(e.start, e.end - 1)
        for pos in range(len(new) + 1):
            if pos not in written:
                back = p.back(pos)
                assert old[back : back + 1] == new[pos : pos + 1], (old, edits, pos)


def test_a_usage_error_that_points_somewhere_gets_no_second_pointer(tmp_path):
    r = run("check", "--select", "SLM999", tmp_path)
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: unknown rule code(s): SLM999 (see `slimml rules`)"
