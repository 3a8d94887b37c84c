"""The build context inferred from the COPY sources, and side files placed where the build reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.discovery import infer, infer_context
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.runner import Options, fix_file


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    """A repository root (the inference never climbs above it)."""
    return _write(tmp_path, {".git/HEAD": "ref: refs/heads/main\n", **files})


def test_copy_from_the_parent_means_the_parent_is_the_context(tmp_path):
    root = _repo(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": "x",
            "svc/requirements.txt": "other\n",
            "svc/Dockerfile": "FROM python:3.11-slim\nCOPY ../requirements.txt .\nCOPY ../app.py .\n",
        },
    )
    df = root / "svc" / "Dockerfile"
    guess = infer(df, parse(df.read_text()))
    # BuildKit clamps `..` at the context root: from svc/ it would copy svc/requirements.txt, and
    # svc/app.py does not exist. Only the parent builds it.
    assert guess.path == root.resolve() and guess.certain
    assert infer_context(df, parse(df.read_text())) == root.resolve()


def test_the_ignore_file_goes_where_docker_reads_it(tmp_path):
    root = _repo(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "svc/Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY ../requirements.txt .\nCOPY .. .\n",
        },
    )
    rep = fix_file(root / "svc" / "Dockerfile", Options(select=("SLM006",)), committed={})
    assert rep.error is None and rep.context_dir == root.resolve()
    (written,) = [p for p, (b, a) in rep.result.side_files.items() if a]
    assert Path(written) == root.resolve() / ".dockerignore"  # not svc/.dockerignore, which Docker never reads


@pytest.mark.parametrize("arg,certain", [("ARG SRC=src", True), ("ARG SRC", False)])
def test_variables_in_sources_are_resolved_from_arg_defaults(tmp_path, arg, certain):
    root = _repo(
        tmp_path, {"src/app.py": "x", "docker/Dockerfile": f"FROM python:3.11-slim\n{arg}\nCOPY ${{SRC}} /app\n"}
    )
    df = root / "docker" / "Dockerfile"
    guess = infer(df, parse(df.read_text()))
    assert guess.certain is certain
    if certain:
        assert guess.path == root.resolve()
    else:
        assert "`COPY ${SRC}` (line 3) names a variable without a default" in guess.reason


def test_global_arg_default_reaches_the_stage(tmp_path):
    root = _repo(
        tmp_path,
        {"src/app.py": "x", "docker/Dockerfile": "ARG SRC=src\nFROM python:3.11-slim\nARG SRC\nCOPY $SRC /app\n"},
    )
    df = root / "docker" / "Dockerfile"
    assert infer(df, parse(df.read_text())).path == root.resolve()


def test_sources_no_folder_holds_make_the_context_unknown(tmp_path):
    root = _repo(tmp_path, {"svc/Dockerfile": "FROM python:3.11-slim\nCOPY dist/app.whl /tmp/\n"})
    df = root / "svc" / "Dockerfile"
    guess = infer(df, parse(df.read_text()))
    assert not guess.certain and "`dist/app.whl` is missing" in guess.reason
    # ... unless the repository says it is generated: gitignored at the folder that would hold it.
    _write(root, {".gitignore": "/dist/\n"})
    guess = infer(df, parse(df.read_text()))
    assert guess.certain and guess.path == root.resolve()


def test_an_unknown_context_gets_no_side_files_and_a_note_asking_for_context(tmp_path):
    root = _repo(
        tmp_path,
        {
            "app.py": "x",
            "svc/Dockerfile": "FROM python:3.11-slim\nARG APP\nCOPY $APP /app/\nCOPY . /src\nCMD python /app/app.py\n",
        },
    )
    df = root / "svc" / "Dockerfile"
    rep = fix_file(df, Options(select=("SLM006",), unsafe_fixes=True), committed={})
    assert rep.error is None and not rep.result.side_files
    (f,) = rep.result.findings
    assert f.fix is None and "--context" in f.note and "`COPY $APP`" in f.note
    # A source no folder holds (generated before the build): the same, until told where the context is.
    df.write_text("FROM python:3.11-slim\nCOPY generated/config.json /app/\nCOPY . /src\n")
    rep = fix_file(df, Options(select=("SLM006",)), committed={})
    assert not rep.result.side_files and "`generated/config.json` is missing" in rep.result.findings[0].note
    rep = fix_file(df, Options(select=("SLM006",), context=root), committed={})
    assert [Path(p) for p in rep.result.side_files] == [root.resolve() / ".dockerignore"]


def test_an_unknown_context_gets_no_init_script(tmp_path):
    root = _repo(
        tmp_path,
        {
            "svc/model.safetensors": "w" * 64,
            "svc/Dockerfile": "FROM python:3.11-slim\nARG CFG\nCOPY $CFG /etc/app.cfg\nCOPY model.safetensors /models/\n"
            'CMD ["python", "-m", "http.server"]\n',
        },
    )
    df = root / "svc" / "Dockerfile"
    ctx = Context(
        settings=Settings(select=("SLM010",), unsafe_fixes=True, rule_options={"SLM010": {"min-bytes": 0}}),
        dockerfile=df,
        context_dir=df.parent,
        context_note=infer(df, parse(df.read_text())).reason,
    )
    r = fix_text(df.read_text(), ctx, str(df))
    assert not r.changed
    assert any("--context" in f.note for f in r.findings)
    # The same file with the context known: the weights move out and the script is written.
    ctx = Context(settings=ctx.settings, dockerfile=df, context_dir=df.parent)
    assert fix_text(df.read_text(), ctx, str(df)).side_files


def test_measure_plans_still_get_a_folder_for_an_unknown_context(tmp_path):
    from slimml.measure.plan import RewriteOptions, rewrite

    root = _repo(tmp_path, {"svc/Dockerfile": "FROM python:3.11-slim\nARG APP\nCOPY $APP /app/\n"})
    plan = rewrite(root / "svc" / "Dockerfile", RewriteOptions(select=("SLM006",)))
    assert plan.context == (root / "svc").resolve() and not plan.side_files
