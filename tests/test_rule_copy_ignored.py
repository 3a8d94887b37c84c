"""SLM011 copy-ignored: a COPY/ADD source the build context's ignore file leaves out."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.engine import fix_text


def _ctx(tmp_path: Path, files: dict[str, str], note: str = "") -> Context:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Context(
        settings=Settings(select=("SLM011",)),
        dockerfile=tmp_path / "Dockerfile",
        context_dir=tmp_path,
        context_note=note,
    )


def _found(tmp_path: Path, dockerfile: str, files: dict[str, str], note: str = "") -> list:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    result = fix_text(dockerfile, _ctx(tmp_path, files, note), str(tmp_path / "Dockerfile"))
    assert result.output == dockerfile  # report only
    return result.findings


def _lines(text: str, findings) -> list[int]:
    return [text.count("\n", 0, f.start) + 1 for f in findings]


def test_excluded_file_is_an_error_naming_the_pattern(tmp_path):
    text = "FROM python:3.11-slim\nCOPY config/settings.json /app/\n"
    found = _found(tmp_path, text, {".dockerignore": "# x\n*.md\nconfig/\n", "config/settings.json": "{}"})
    assert [(f.code, f.severity) for f in found] == [("SLM011", "error")]
    assert "line 3: `config/`" in found[0].message and found[0].fix is None
    assert text[found[0].start : found[0].end] == "config/settings.json"


def test_only_the_excluded_source_of_several_is_reported(tmp_path):
    text = "FROM python:3.11-slim\nCOPY a.txt b.txt \\\n  c.txt /app/\n"
    found = _found(tmp_path, text, {".dockerignore": "b.txt\n", "a.txt": "", "b.txt": "", "c.txt": ""})
    assert [text[f.start : f.end] for f in found] == ["b.txt"]


def test_directory_partly_excluded_is_fine_wholly_excluded_is_not(tmp_path):
    files = {".dockerignore": "src/**/*.pyc\ncache\n", "src/a.py": "", "src/sub/a.pyc": "", "cache/x.bin": ""}
    text = "FROM python:3.11-slim\nCOPY src /app/src\nCOPY cache /app/cache\n"
    found = _found(tmp_path, text, files)
    assert _lines(text, found) == [3] and "directory" in found[0].message


def test_reinclude_below_an_excluded_directory_keeps_it(tmp_path):
    files = {".dockerignore": "data\n!data/labels.txt\n", "data/labels.txt": "", "data/big.bin": ""}
    text = "FROM python:3.11-slim\nCOPY data /app/data\nCOPY data/labels.txt /app/\nCOPY data/big.bin /app/\n"
    assert _lines(text, _found(tmp_path, text, files)) == [4]


def test_last_matching_pattern_wins(tmp_path):
    files = {".dockerignore": "!keep.txt\n*.txt\n", "keep.txt": ""}  # the later *.txt excludes it again
    text = "FROM python:3.11-slim\nCOPY keep.txt /app/\n"
    assert _lines(text, _found(tmp_path, text, files)) == [2]


def test_json_form_and_lowercase_keyword(tmp_path):
    text = 'FROM python:3.11-slim\ncopy ["secret.env", "/app/"]\nadd secret.env /app/\n'
    found = _found(tmp_path, text, {".dockerignore": "*.env\n", "secret.env": "X=1"})
    assert _lines(text, found) == [2, 3]


def test_not_from_the_context(tmp_path):
    files = {".dockerignore": "models\n", "models/m.txt": ""}
    text = (
        "FROM python:3.11-slim AS b\nRUN mkdir /models\nFROM python:3.11-slim\n"
        "COPY --from=b /models /models\n"
        "COPY <<EOF /models/x\nmodels\nEOF\n"
        "ADD https://example.com/models /models/\n"
        "COPY missing.txt /app/\n"
    )
    assert _found(tmp_path, text, files) == []


def test_arg_paths_are_skipped_env_paths_resolved(tmp_path):
    files = {".dockerignore": "models\n", "models/m.txt": ""}
    text = (
        "FROM python:3.11-slim\nARG DIR=models\nCOPY ${DIR} /a\nCOPY $DIR/m.txt /b\nENV M=models\nCOPY ${M}/m.txt /c\n"
    )
    assert _lines(text, _found(tmp_path, text, files)) == [6]


def test_wildcard_matching_only_excluded_paths_copies_nothing(tmp_path):
    files = {".dockerignore": "*.md\n", "README.md": "", "NOTES.md": "", "app.py": ""}
    text = "FROM python:3.11-slim\nCOPY *.md /docs/\nCOPY *.py /app/\nCOPY *.json /cfg/\n"
    found = _found(tmp_path, text, files)
    assert _lines(text, found) == [2] and found[0].severity == "warning"
    assert "copies nothing" in found[0].message and "NOTES.md" in found[0].message


def test_wildcard_with_one_kept_match_is_fine(tmp_path):
    files = {".dockerignore": "*.md\n!README.md\n", "README.md": "", "NOTES.md": ""}
    assert _found(tmp_path, "FROM python:3.11-slim\nCOPY *.md /docs/\n", files) == []


def test_no_ignore_file_or_unknown_context(tmp_path):
    text = "FROM python:3.11-slim\nCOPY a.txt /app/\n"
    assert _found(tmp_path, text, {"a.txt": ""}) == []
    result = fix_text(text, Context(settings=Settings(select=("SLM011",))))
    assert result.findings == []


def test_inferred_context_is_a_warning_that_says_so(tmp_path):
    text = "FROM python:3.11-slim\nCOPY a.txt /app/\n"
    found = _found(tmp_path, text, {".dockerignore": "a.txt\n", "a.txt": ""}, note="guessed from the COPY sources")
    assert found[0].severity == "warning" and "inferred" in found[0].message


def test_per_dockerfile_ignore_file_wins(tmp_path):
    files = {".dockerignore": "a.txt\n", "Dockerfile.dockerignore": "b.txt\n", "a.txt": "", "b.txt": ""}
    text = "FROM python:3.11-slim\nCOPY a.txt /app/\nCOPY b.txt /app/\n"
    assert _lines(text, _found(tmp_path, text, files)) == [3]


def test_ignore_file_docker_rejects_is_left_to_docker(tmp_path):
    files = {".dockerignore": "!\n", "a.txt": ""}
    assert _found(tmp_path, "FROM python:3.11-slim\nCOPY a.txt /app/\n", files) == []


def test_severity_reaches_sarif_github_and_json(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from slimml.cli import main

    _ctx(tmp_path, {".dockerignore": "a.txt\n", "a.txt": ""})
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11 AS b\nRUN pip install x\nFROM python:3.11-slim\nCOPY a.txt /app/\n"
    )
    monkeypatch.chdir(tmp_path)
    out = {
        fmt: CliRunner().invoke(main, ["check", "--format", fmt, "Dockerfile"]).output
        for fmt in ("sarif", "github", "json")
    }
    levels = {r["ruleId"]: r["level"] for r in json.loads(out["sarif"])["runs"][0]["results"]}
    assert levels["SLM011"] == "error" and levels["SLM001"] == "note"
    assert any(x.startswith("::error ") and "SLM011" in x for x in out["github"].splitlines())
    assert any(x.startswith("::notice ") and "SLM001" in x for x in out["github"].splitlines())
    sev = {f["code"]: f["severity"] for f in json.loads(out["json"])["files"][0]["findings"]}
    assert sev["SLM011"] == "error" and sev["SLM001"] == "info"


@pytest.mark.docker
def test_buildkit_agrees(tmp_path):
    """The claim checked against the real builder: the excluded file's COPY fails as slimml says,
    the partly excluded directory and the all-excluded wildcard build (no network needed)."""
    from .dockerutil import Images

    files = {
        ".dockerignore": "config/\nsrc/**/*.pyc\n*.md\n",
        "config/settings.json": "{}",
        "src/app.py": "x = 1\n",
        "src/sub/app.pyc": "junk",
        "NOTES.md": "n",
    }
    ctx = _ctx(tmp_path, files)
    images = Images()
    try:
        cases = {
            "COPY config/settings.json /app/\n": False,
            "RUN --mount=type=bind,source=config,target=/c ls /c\n": False,
            "COPY src /app/src\nRUN test -f /app/src/app.py && test ! -e /app/src/sub/app.pyc\n": True,
            "COPY *.md /docs/\nRUN test ! -e /docs/NOTES.md\n": True,
        }
        for body, builds in cases.items():
            text = "FROM python:3.11-slim\n" + body
            (tmp_path / "Dockerfile").write_text(text)
            errors = [f for f in fix_text(text, ctx, str(tmp_path / "Dockerfile")).findings if f.severity == "error"]
            assert bool(errors) == (not builds), body
            if builds:
                images.build(tmp_path)
            else:
                with pytest.raises(
                    AssertionError,
                    match=r"failed to compute cache key: .*config(/settings\.json)?\W+(not found|no such file or directory)",
                ):
                    images.build(tmp_path)
    finally:
        images.cleanup()


@pytest.mark.parametrize("unsafe", [False, True])
def test_no_fix_of_slimml_excludes_what_a_fixture_copies(unsafe):
    """SLM006 (and every other rule writing .dockerignore) must never exclude a COPY source: after
    fixing each fixture with every rule, SLM011 finds nothing the original did not have."""
    from .fixture_cases import discover

    def slm011(case, text: str, side: dict) -> set[str]:
        ctx = Context(settings=Settings(select=("SLM011",)), dockerfile=case.dockerfile, context_dir=case.dir)
        ctx.committed.update(side)
        return {f.message for f in fix_text(text, ctx, str(case.dockerfile)).findings}

    for case in discover():
        if case.rule == "copy-ignored":
            continue
        case.settings = Settings(unsafe_fixes=unsafe, rule_options=case.settings.rule_options)
        result = case.run()
        committed = {k: v[1] for k, v in result.side_files.items()}
        new = slm011(case, result.output, committed) - slm011(case, case.dockerfile.read_text(), {})
        assert not new, f"{case.id}: {sorted(new)}"


def test_run_bind_mount_from_the_context(tmp_path):
    files = {".dockerignore": "data\nsrc/*.pyc\n", "data/raw.csv": "", "src/a.py": "", "src/a.pyc": ""}
    text = (
        "FROM python:3.11-slim AS b\nRUN true\nFROM python:3.11-slim\n"
        "RUN --mount=type=bind,source=data,target=/data cat /data/raw.csv\n"
        "RUN --mount=type=bind,from=b,source=/data,target=/d true\n"  # another stage: not the context
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=src=src,target=/s true\n"  # partly excluded: fine
        "RUN --mount=type=bind,target=/ctx ls /ctx\n"  # the whole context
    )
    found = _found(tmp_path, text, files)
    assert _lines(text, found) == [4] and found[0].severity == "error" and "RUN --mount" in found[0].message
