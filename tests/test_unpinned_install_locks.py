"""SLM012's lock-file half (rules/unpinned_install/locks.py): installs of uv/poetry/pdm/pipenv projects must
install from the committed lock. Each test is a way the finding or its fix could be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from slimml.context import Context, Settings
from slimml.engine import Applicability, fix_text
from slimml.rules.unpinned_install import locks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "unpinned-install"
PYPROJECT = '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["flasklike>=1.0"]\n'


def run(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None, unsafe: bool = True, context=True):
    for name, text in (files or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    df = tmp_path / "Dockerfile"
    df.write_bytes(dockerfile.encode())
    ctx = Context(settings=Settings(unsafe_fixes=unsafe), dockerfile=df, context_dir=tmp_path if context else None)
    # only this module's findings: the pip half of the rule judges other commands
    rule = SimpleNamespace(CODE="SLM012", NAME="unpinned-install", check=locks.check)
    return fix_text(dockerfile, ctx, str(df), rules=[rule])


UV_FILES = {"pyproject.toml": PYPROJECT, "uv.lock": "version = 1\n"}
UV_BASE = "FROM python:3.11-slim\nCOPY --from=ghcr.io/astral-sh/uv:0.9.0 /uv /bin/uv\nWORKDIR /app\n"


def only(res):
    assert len(res.findings) == 1, [f.message for f in res.findings]
    return res.findings[0]


# -- uv sync ------------------------------------------------------------------------------------------------------
def test_uv_sync_without_locked_gets_unsafe_locked(tmp_path):
    res = run(tmp_path, UV_BASE + "COPY pyproject.toml uv.lock ./\nRUN uv sync --no-dev\n", UV_FILES)
    f = only(res)
    assert "re-lock" in f.message and f.fix.applicability is Applicability.UNSAFE
    assert "stale" in f.fix.reason and "cannot tell statically" in f.fix.reason
    assert "version in the image cannot be told" not in f.fix.reason  # uv 0.9.0 is pinned by the COPY --from
    assert "RUN uv sync --locked --no-dev\n" in res.output
    again = run(tmp_path, res.output, UV_FILES)
    assert again.findings == []  # idempotent


def test_not_offered_without_unsafe_fixes(tmp_path):
    res = run(tmp_path, UV_BASE + "COPY . .\nRUN uv sync\n", UV_FILES, unsafe=False)
    assert len(res.findings) == 1 and res.output == res.original


@pytest.mark.parametrize(
    "line",
    [
        "RUN uv sync --frozen",
        "RUN uv sync --locked --no-dev",
        "RUN uv --directory /app sync --frozen",
        "RUN UV_FROZEN=1 uv sync",
        "RUN export UV_LOCKED=true && uv sync",
        "ENV UV_FROZEN=1\nRUN uv sync",
        "ARG SYNC=--locked\nRUN uv sync $SYNC",
        "ENV FLAGS=--frozen\nRUN uv sync ${FLAGS}",
    ],
)
def test_already_from_the_lock(tmp_path, line):
    res = run(tmp_path, UV_BASE + "COPY . .\n" + line + "\n", UV_FILES)
    assert res.findings == [] and res.output == res.original


def test_uv_frozen_from_a_build_arg_gets_no_fix(tmp_path):
    # `--build-arg UV_FROZEN=1` plus an added --locked: uv refuses the two together
    res = run(tmp_path, UV_BASE + "ARG UV_FROZEN\nENV UV_FROZEN=$UV_FROZEN\nCOPY . .\nRUN uv sync\n", UV_FILES)
    f = only(res)
    assert f.fix is None and "build argument" in f.note


def test_variable_options_without_a_known_value_get_no_fix(tmp_path):
    res = run(tmp_path, UV_BASE + "ARG SYNC_FLAGS\nCOPY . .\nRUN uv sync $SYNC_FLAGS\n", UV_FILES)
    f = only(res)
    assert f.fix is None and "$SYNC_FLAGS" in f.note


def test_lock_left_out_by_dockerignore(tmp_path):
    res = run(tmp_path, UV_BASE + "COPY . .\nRUN uv sync\n", {**UV_FILES, ".dockerignore": "*.lock\n"})
    f = only(res)
    assert ".dockerignore" in f.message and f.fix is None and "drop uv.lock from .dockerignore" in f.note


def test_lock_not_in_the_context(tmp_path):
    res = run(tmp_path, UV_BASE + "COPY . .\nRUN uv sync\n", {"pyproject.toml": PYPROJECT})
    f = only(res)
    assert "no uv.lock in the build context" in f.message and f.fix is None and "commit a uv.lock" in f.note


def test_lock_copied_after_the_install_is_added_to_the_manifest_copy_then_locked(tmp_path):
    df = UV_BASE + "COPY pyproject.toml ./\nRUN uv sync --no-install-project\nCOPY . .\n"
    res = run(tmp_path, df, UV_FILES)
    f = only(res)
    assert "copies it only afterwards" in f.message and "line 6" in f.message
    assert f.fix.applicability is Applicability.UNSAFE
    # first pass copies the lock, the next adds --locked (the flag is never offered while the lock is missing)
    assert "COPY pyproject.toml uv.lock ./\nRUN uv sync --locked --no-install-project\n" in res.output
    assert run(tmp_path, res.output, UV_FILES).findings == []


def test_manifest_copied_to_a_file_name_gets_no_copy_fix(tmp_path):
    df = UV_BASE + "COPY pyproject.toml /app/pyproject.toml\nRUN uv sync\n"
    f = only(run(tmp_path, df, UV_FILES))
    assert f.fix is None and "second source" in f.note


def test_bind_mounted_lock_counts_as_present(tmp_path):
    df = UV_BASE + (
        "RUN --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
        "    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n"
        "    uv sync --no-install-project\n"
    )
    res = run(tmp_path, df, UV_FILES)
    f = only(res)
    assert f.fix is not None and "bind-mounted" in " ".join(f.fix.relies_on)
    assert "uv sync --locked --no-install-project" in res.output


def test_two_step_pattern_flags_only_the_unlocked_step(tmp_path):
    df = UV_BASE + (
        "COPY pyproject.toml uv.lock ./\nRUN uv sync --locked --no-install-project\nCOPY . .\nRUN uv sync --no-dev\n"
    )
    res = run(tmp_path, df, UV_FILES)
    f = only(res)
    assert res.original[f.start : f.end] == "uv sync --no-dev"
    assert "RUN uv sync --locked --no-dev\n" in res.output


def test_second_stage_without_the_lock(tmp_path):
    df = (
        "FROM python:3.11-slim AS build\nCOPY --from=ghcr.io/astral-sh/uv:0.9.0 /uv /bin/uv\nWORKDIR /app\n"
        "COPY pyproject.toml uv.lock ./\nRUN uv sync --locked\n"
        "FROM build AS test\nRUN uv sync --locked --group test\n"
        "FROM python:3.11-slim\nCOPY --from=ghcr.io/astral-sh/uv:0.9.0 /uv /bin/uv\nWORKDIR /srv\n"
        "COPY pyproject.toml ./\nRUN uv sync\n"
    )
    res = run(tmp_path, df, UV_FILES)
    f = only(res)  # the `test` stage inherits /app/uv.lock from `build`; the last stage has none
    assert res.original[f.start : f.end] == "uv sync" and "not copied before this install" in f.message


def test_lock_from_another_stage_is_unknown_no_fix(tmp_path):
    df = UV_BASE + "COPY --from=src /app/uv.lock ./\nCOPY pyproject.toml ./\nRUN uv sync\n"
    df = "FROM python:3.11-slim AS src\n" + df
    f = only(run(tmp_path, df, UV_FILES))
    assert f.fix is None and "cannot be told" in f.note


def test_unknown_context_gives_no_fix(tmp_path):
    f = only(run(tmp_path, UV_BASE + "COPY . .\nRUN uv sync\n", UV_FILES, context=False))
    assert f.fix is None and "cannot be told" in f.note


@pytest.mark.parametrize(
    "install, offered",
    [
        ("RUN pip install uv==0.2.5", False),  # before uv sync had --locked
        ('RUN pip install "uv<0.3"', False),
        ("RUN pip install uv==0.5.1", True),
        ("RUN pip install uv", True),  # today's uv
        ("RUN curl -LsSf https://astral.sh/uv/0.2.9/install.sh | sh", False),
    ],
)
def test_tool_version_gates_the_flag(tmp_path, install, offered):
    df = f"FROM python:3.11-slim\n{install}\nWORKDIR /app\nCOPY . .\nRUN uv sync\n"
    f = only(run(tmp_path, df, UV_FILES))
    assert (f.fix is not None) is offered
    if not offered:
        assert "older than 0.3.0" in f.note or "before 0.3.0" in f.note


def test_unknown_tool_version_is_said(tmp_path):
    f = only(run(tmp_path, "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN uv sync\n", UV_FILES))
    assert "version in the image cannot be told" in f.fix.reason and "0.3.0" in f.fix.reason


def test_uv_image_tag_version(tmp_path):
    df = "FROM ghcr.io/astral-sh/uv:0.2.0-python3.11-bookworm\nWORKDIR /app\nCOPY . .\nRUN uv sync\n"
    assert only(run(tmp_path, df, UV_FILES)).fix is None


def test_wrapper_script_is_not_guessed(tmp_path):
    files = {**UV_FILES, "install.sh": "#!/bin/sh\nuv sync\n"}
    res = run(tmp_path, UV_BASE + "COPY . .\nRUN ./install.sh\nRUN sh -c 'uv sync'\n", files)
    assert res.findings == [] and res.output == res.original


def test_upgrade_and_lock_in_the_build(tmp_path):
    res = run(
        tmp_path, UV_BASE + "COPY . .\nRUN uv lock && uv sync --locked --upgrade\nRUN uv lock --check\n", UV_FILES
    )
    msgs = [f.message for f in res.findings]
    assert len(msgs) == 2 and "`uv lock`" in msgs[0] and "upgrades the locked versions" in msgs[1]
    assert all(f.fix is None for f in res.findings)


def test_uv_pip_install_pyproject_ignores_the_lock(tmp_path):
    df = UV_BASE + "COPY . .\nRUN uv pip install --system -r pyproject.toml\nRUN uv pip install --system -e .\n"
    res = run(tmp_path, df, UV_FILES)
    assert len(res.findings) == 2 and all("does not read uv.lock" in f.message for f in res.findings)
    assert all(f.fix is None for f in res.findings)
    # no lock in the context: nothing of this half's to say
    assert run(tmp_path / "nolock", df, {"pyproject.toml": PYPROJECT}).findings == []


# -- messy files ---------------------------------------------------------------------------------------------------
def test_lowercase_crlf_continuation_with_comment(tmp_path):
    df = (
        "from python:3.11-slim\r\ncopy --from=ghcr.io/astral-sh/uv:0.9.0 /uv /bin/uv\r\nworkdir /app\r\n"
        "copy pyproject.toml uv.lock ./\r\nrun uv sync \\\r\n# the project too\r\n    --no-dev\r\n"
    )
    res = run(tmp_path, df, UV_FILES)
    only(res)
    assert "run uv sync --locked \\\r\n# the project too\r\n    --no-dev\r\n" in res.output


def test_heredoc_run(tmp_path):
    df = UV_BASE + "COPY . .\nRUN <<EOF\nset -e\nuv sync --no-dev\nEOF\n"
    res = run(tmp_path, df, UV_FILES)
    only(res)
    assert "RUN <<EOF\nset -e\nuv sync --locked --no-dev\nEOF\n" in res.output


# -- pipenv --------------------------------------------------------------------------------------------------------
PIPFILE = '[packages]\nflasklike = "*"\n\n[requires]\npython_version = "3.11"\n'


def _pipfile_lock(py="3.11"):
    return json.dumps({"_meta": {"hash": {"sha256": "x"}, "requires": {"python_version": py}}, "default": {}})


PIPENV_BASE = "FROM python:3.11-slim\nRUN pip install pipenv==2024.0.1\nWORKDIR /app\n"


def test_pipenv_install_gets_deploy(tmp_path):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock()}
    res = run(tmp_path, PIPENV_BASE + "COPY Pipfile Pipfile.lock ./\nRUN pipenv install --system\n", files)
    f = only(res)
    assert "--deploy" in f.message and "python_version" in f.fix.reason
    assert "RUN pipenv install --deploy --system\n" in res.output
    assert run(tmp_path, res.output, files).findings == []


@pytest.mark.parametrize(
    "line",
    ["RUN pipenv install --system --deploy", "RUN pipenv sync --system", "RUN pipenv install --ignore-pipfile"],
)
def test_pipenv_from_the_lock(tmp_path, line):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock()}
    assert run(tmp_path, PIPENV_BASE + "COPY . .\n" + line + "\n", files).findings == []


def test_pipenv_python_version_mismatch_withdraws_deploy(tmp_path):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock("3.9")}
    f = only(run(tmp_path, PIPENV_BASE + "COPY . .\nRUN pipenv install --system\n", files))
    assert f.fix is None and "wants Python 3.9" in f.note


def test_pipenv_adding_packages_relocks(tmp_path):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock()}
    res = run(tmp_path, PIPENV_BASE + "COPY . .\nRUN pipenv install --system gunicorn\nRUN pipenv lock\n", files)
    assert len(res.findings) == 2 and all(f.fix is None for f in res.findings)


def test_pipenv_skip_lock(tmp_path):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock()}
    f = only(run(tmp_path, PIPENV_BASE + "COPY . .\nRUN pipenv install --system --skip-lock\n", files))
    assert "ignores Pipfile.lock" in f.message and f.fix is None


def test_pipenv_too_old_for_deploy(tmp_path):
    files = {"Pipfile": PIPFILE, "Pipfile.lock": _pipfile_lock()}
    df = "FROM python:3.11-slim\nRUN pip install pipenv==11.0.0\nWORKDIR /app\nCOPY . .\nRUN pipenv install --system\n"
    assert only(run(tmp_path, df, files)).fix is None


# -- pdm -----------------------------------------------------------------------------------------------------------
PDM_FILES = {"pyproject.toml": PYPROJECT, "pdm.lock": "[metadata]\n"}
PDM_BASE = "FROM python:3.11-slim\nRUN pip install pdm==2.26.0\nWORKDIR /app\nCOPY . .\n"


def test_pdm_install_gets_check(tmp_path):
    res = run(tmp_path, PDM_BASE + "RUN pdm install --prod\n", PDM_FILES)
    f = only(res)
    assert "RUN pdm install --check --prod\n" in res.output and f.fix.applicability is Applicability.UNSAFE


def test_pdm_frozen_lockfile_still_resolves(tmp_path):
    res = run(tmp_path, PDM_BASE + "RUN pdm install --frozen-lockfile\n", PDM_FILES)
    f = only(res)
    assert "still resolves" in f.message and "pdm install --check --frozen-lockfile" in res.output


@pytest.mark.parametrize("line", ["RUN pdm sync --prod", "RUN pdm install --check"])
def test_pdm_from_the_lock(tmp_path, line):
    assert run(tmp_path, PDM_BASE + line + "\n", PDM_FILES).findings == []


# -- poetry --------------------------------------------------------------------------------------------------------
POETRY_FILES = {"pyproject.toml": PYPROJECT, "poetry.lock": "# poetry lock\n"}
POETRY_BASE = "FROM python:3.11-slim\nRUN pip install poetry==2.1.0\nWORKDIR /app\n"


@pytest.mark.parametrize(
    "copy", ["COPY pyproject.toml poetry.lock ./", "COPY pyproject.toml poetry.lock* ./", "COPY . ."]
)
def test_poetry_with_the_lock_is_fine(tmp_path, copy):
    res = run(tmp_path, POETRY_BASE + copy + "\nRUN poetry install --no-root\n", POETRY_FILES)
    assert res.findings == []


def test_poetry_lock_left_behind_gets_copy_fix(tmp_path):
    res = run(tmp_path, POETRY_BASE + "COPY pyproject.toml ./\nRUN poetry install --no-root\nCOPY . .\n", POETRY_FILES)
    f = only(res)
    assert "poetry 2 fail" in f.fix.reason
    assert "COPY pyproject.toml poetry.lock ./\n" in res.output
    assert run(tmp_path, res.output, POETRY_FILES).findings == []


@pytest.mark.parametrize(
    "copy, extended",
    [("COPY pyproject.toml .", "COPY pyproject.toml poetry.lock ./"), ('COPY ["pyproject.toml", "."]', None)],
)
def test_the_lock_as_a_second_source_gets_a_directory_destination(tmp_path, copy, extended):
    """`COPY a b .` builds with BuildKit but not with the classic builder (the destination must end with /)."""
    res = run(tmp_path, POETRY_BASE + copy + "\nRUN poetry install --no-root\nCOPY . .\n", POETRY_FILES)
    if extended is None:  # exec form: this fix leaves it alone (the note says so)
        assert res.output == res.original
    else:
        assert extended + "\n" in res.output, res.output


def test_poetry_optional_lock_glob_without_a_lock(tmp_path):
    f = only(
        run(
            tmp_path,
            POETRY_BASE + "COPY pyproject.toml poetry.lock* ./\nRUN poetry install\n",
            {"pyproject.toml": PYPROJECT},
        )
    )
    assert "no poetry.lock in the build context" in f.message and "commit a poetry.lock" in f.note


def test_poetry_lock_in_the_build_is_reported_once(tmp_path):
    res = run(
        tmp_path,
        POETRY_BASE + "COPY pyproject.toml ./\nRUN poetry lock && poetry install\n",
        {"pyproject.toml": PYPROJECT},
    )
    f = only(res)
    assert "`poetry lock`" in f.message and f.fix is None


def test_poetry_check_lock_is_not_a_relock(tmp_path):
    res = run(tmp_path, POETRY_BASE + "COPY . .\nRUN poetry lock --check && poetry install\n", POETRY_FILES)
    assert res.findings == []


# -- fixture cases ---------------------------------------------------------------------------------------------------
def _lock_cases():
    return sorted(p for p in FIXTURES.glob("lock-*") if p.is_dir()) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("case", _lock_cases(), ids=lambda p: p.name)
def test_fixture_case(case):
    df = case / "Dockerfile"
    text = df.read_bytes().decode()
    ctx = Context(settings=Settings(unsafe_fixes=True), dockerfile=df, context_dir=case)
    rule = SimpleNamespace(CODE="SLM012", NAME="unpinned-install", check=locks.check)
    res = fix_text(text, ctx, str(df), rules=[rule])
    exp = case / "expected.Dockerfile"
    assert res.output == (exp.read_bytes().decode() if exp.exists() else text)
    assert (
        fix_text(
            res.output,
            Context(settings=Settings(unsafe_fixes=True), dockerfile=df, context_dir=case),
            str(df),
            rules=[rule],
        ).applied
        == []
    )


# -- more ways to be wrong -------------------------------------------------------------------------------------------
def test_workspace_member_reads_the_root_lock_no_finding_of_absence(tmp_path):
    files = {**UV_FILES, "packages/api/pyproject.toml": PYPROJECT}
    res = run(tmp_path, UV_BASE + "COPY . .\nWORKDIR /app/packages/api\nRUN uv sync --package api\n", files)
    f = only(res)  # still unlocked, but whether it reads /app/uv.lock (a workspace) is not read: no fix
    assert "re-lock" in f.message and f.fix is None and "parent of the project directory" in f.note


def test_cd_in_the_run_moves_the_project(tmp_path):
    files = {"svc/pyproject.toml": PYPROJECT, "svc/uv.lock": "version = 1\n"}
    res = run(tmp_path, UV_BASE + "COPY svc/ /srv/\nRUN cd /srv && uv sync\n", files)
    assert "cd /srv && uv sync --locked\n" in res.output
    res = run(tmp_path / "other", UV_BASE + "COPY svc/pyproject.toml /srv/\nRUN cd /srv && uv sync\n", files)
    assert "not copied before this install" in only(res).message


def test_pipenv_deploy_without_a_lock_still_locks_afresh(tmp_path):
    f = only(run(tmp_path, PIPENV_BASE + "COPY . .\nRUN pipenv install --system --deploy\n", {"Pipfile": PIPFILE}))
    assert "no Pipfile.lock in the build context" in f.message


@pytest.mark.parametrize("line", ["RUN uv sync --dry-run", "RUN uv sync --script tool.py", "RUN uv sync --check"])
def test_uv_sync_that_installs_no_project(tmp_path, line):
    assert run(tmp_path, UV_BASE + "COPY . .\n" + line + "\n", UV_FILES).findings == []


def test_stage_that_does_not_ship_is_left_to_itself(tmp_path):
    df = UV_BASE.replace("FROM python:3.11-slim", "FROM python:3.11-slim AS lint") + "COPY . .\nRUN uv sync\n"
    df += 'FROM python:3.11-slim\nCMD ["python"]\n'
    assert run(tmp_path, df, UV_FILES).findings == []


def test_fix_does_not_touch_other_commands_of_the_run(tmp_path):
    df = UV_BASE + "COPY . .\nRUN uv sync --no-dev && uv run python -c 'import app' && uv sync --frozen --group x\n"
    res = run(tmp_path, df, UV_FILES)
    only(res)
    assert (
        "RUN uv sync --locked --no-dev && uv run python -c 'import app' && uv sync --frozen --group x\n" in res.output
    )


def test_global_options_before_the_subcommand(tmp_path):
    res = run(
        tmp_path, UV_BASE + "COPY pyproject.toml ./\nRUN uv --directory /app sync\n", {"pyproject.toml": PYPROJECT}
    )
    assert only(res).message.startswith("`uv sync` runs without uv.lock")
    res = run(tmp_path / "b", UV_BASE + "COPY . .\nRUN uv --directory /app --no-progress sync\n", UV_FILES)
    assert "RUN uv --directory /app --no-progress sync --locked\n" in res.output
