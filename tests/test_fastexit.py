"""The console script ends `check` and `fix` without interpreter teardown (slimml.fastexit): the output is
still complete and the exit status the command's; other commands exit normally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from slimml.cli import main

RUNS = "".join(f"RUN echo step{i} && pip install pkg{i}\n" for i in range(300))
DOCKERFILE = f"FROM python:3.11-slim\nCOPY . /app\n{RUNS}"

# Registers an atexit handler (it runs only when the interpreter tears down), then runs the console script.
SCRIPT = """
import atexit, sys
marker = sys.argv[1]
atexit.register(lambda: open(marker, "w").write("teardown"))
sys.argv = ["slimml", *sys.argv[2:]]
from slimml.cli import run
run()
"""


def _script(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, bool]:
    marker = tmp_path / "teardown"
    marker.unlink(missing_ok=True)
    cp = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker), *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    return cp, marker.exists()


def test_check_and_fix_end_without_teardown_and_print_everything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    expected = CliRunner().invoke(main, ["check", "--no-cache", "Dockerfile"], catch_exceptions=False)
    cp, teardown = _script(tmp_path, "check", "--no-cache", "Dockerfile")
    assert not teardown
    assert cp.returncode == 1 == expected.exit_code
    assert cp.stdout == expected.stdout and cp.stdout.count("\n") > 300  # every finding, flushed
    assert cp.stderr.strip().endswith("fixes the safe ones")
    cp, teardown = _script(tmp_path, "fix", "--no-cache", "--write", "Dockerfile")
    assert not teardown and cp.returncode == 0
    assert (tmp_path / "Dockerfile").read_text() != DOCKERFILE  # written before the process ended


def test_other_commands_and_errors_exit_normally(tmp_path):
    cp, teardown = _script(tmp_path, "rules")
    assert cp.returncode == 0 and "SLM001" in cp.stdout
    assert teardown
    cp, teardown = _script(tmp_path, "check", "--format", "nope", "Dockerfile")  # a usage error: before allow()
    assert cp.returncode == 2
    assert teardown


def test_exit_status_of_a_run_with_an_error(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    cp, teardown = _script(tmp_path, "check", "--no-cache", "Dockerfile", "missing")
    assert not teardown and cp.returncode == 2 and "missing: no such file or directory" in cp.stdout


def test_a_profiled_run_tears_down_so_the_profile_is_written(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    out = tmp_path / "run.prof"
    cp = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "slimml", "check", "--no-cache", "Dockerfile"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.stat().st_size > 0, cp.stderr  # (cProfile ends with its own status)


def test_the_collector_stays_off_only_for_the_console_script(tmp_path, monkeypatch):
    import gc

    from slimml import fastexit

    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    try:
        CliRunner().invoke(main, ["check", "--no-cache", "Dockerfile"], catch_exceptions=False)
        assert gc.isenabled()  # in another program's process (tests, the language server): as it was
        monkeypatch.setattr(fastexit, "_script", True)
        CliRunner().invoke(main, ["check", "--no-cache", "Dockerfile"], catch_exceptions=False)
        assert not gc.isenabled()  # the console script: off until os._exit
    finally:
        gc.enable()


def test_fix_piped_into_head_is_not_an_error(tmp_path):
    """`slimml fix . | head`: the reader leaves early; no error, the run's own status."""
    for i in range(40):
        (tmp_path / f"svc{i}").mkdir()
        (tmp_path / f"svc{i}" / "Dockerfile").write_text(DOCKERFILE)
    exe = Path(sys.executable).with_name("slimml")
    p = subprocess.Popen([str(exe), "fix", "--no-cache", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().startswith(b"--- a/")
    p.stdout.close()  # as head does after its lines
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert b"error" not in err and b"Traceback" not in err
