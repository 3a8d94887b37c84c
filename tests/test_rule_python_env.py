"""SLM005 python-env: which images count as Python, where the variables go, what is left alone."""

from __future__ import annotations

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.rules import python_env
from slimml.rules._helpers import parse_kv_words

from .oracle import assert_agrees


def _fix(text: str) -> tuple[str, list]:
    ctx = Context(settings=Settings(select=("SLM005",)))
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    return result.output, result.findings


def _final_env(text: str) -> dict[str, str]:
    doc = parse(text)
    env: dict[str, str] = {}
    for ins in doc.final_stage.instructions:
        if ins.keyword == "ENV":
            env.update(parse_kv_words(ins))
    return env


def test_stage_named_like_python_is_not_a_python_image():
    # "python-deps" is a stage name, not an image: its root is node, and nothing runs Python.
    text = 'FROM node:20 AS python-deps\nRUN npm ci\n\nFROM python-deps\nCMD ["node", "x.js"]\n'
    out, findings = _fix(text)
    assert findings == [] and out == text


def test_base_image_from_global_arg_default():
    text = "ARG BASE=python:3.12-slim\nFROM ${BASE}\nCOPY . /app\n"
    out, findings = _fix(text)
    assert len(findings) == 1
    assert _final_env(out) == {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    "run",
    [
        'RUN ["pip3", "install", "--no-cache-dir", "flask"]',
        "RUN sudo -E /opt/venv/bin/pip install --no-cache-dir flask",
        "RUN set -eux; env PIP_X=1 python3.11 -m pip install --no-cache-dir flask",
        "RUN uv pip install --system --no-cache flask",
    ],
)
def test_python_detected_from_run(run):
    text = f"FROM debian:bookworm-slim\n{run}\nCOPY app /app\n"
    out, findings = _fix(text)
    assert [f.code for f in findings] == ["SLM005"]
    assert _final_env(out)["PYTHONUNBUFFERED"] == "1"


def test_env_of_an_unrelated_stage_does_not_count_but_the_base_stage_does():
    text = (
        "FROM python:3.11 AS a\nENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n\n"
        "FROM python:3.11-slim AS b\nENV PYTHONUNBUFFERED=1\n\n"
        'FROM b\nCOPY --from=a /x /x\nCMD ["python", "/x"]\n'
    )
    out, findings = _fix(text)
    assert len(findings) == 1
    # Only the missing variable, in a new ENV right after the final FROM.
    assert out.endswith('FROM b\nENV PYTHONDONTWRITEBYTECODE=1\nCOPY --from=a /x /x\nCMD ["python", "/x"]\n')


def test_other_value_is_the_authors_choice():
    text = "FROM python:3.11\nENV PYTHONUNBUFFERED=0 A=1\nCMD python app.py\n"
    out, _ = _fix(text)
    assert _final_env(out) == {"PYTHONUNBUFFERED": "0", "A": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def test_merges_into_first_key_value_env_not_the_legacy_one():
    text = "FROM python:3.11\nENV LANG C.UTF-8\nRUN true\nENV A=1\nENV B=2\nCOPY . .\n"
    out, _ = _fix(text)
    assert out == (
        "FROM python:3.11\nENV LANG C.UTF-8\nRUN true\n"
        "ENV A=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\nENV B=2\nCOPY . .\n"
    )
    assert _final_env(out)["LANG"] == "C.UTF-8"


def test_keyword_case_follows_the_majority():
    mostly_lower = "from python:3.11\nrun pip install --no-cache-dir x\nCOPY . .\ncmd python app.py\n"
    out, _ = _fix(mostly_lower)
    assert "\nenv PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1\n" in out
    mostly_upper = "from python:3.11\nRUN pip install --no-cache-dir x\nCOPY . .\n"
    out, _ = _fix(mostly_upper)
    assert "\nENV PYTHONDONTWRITEBYTECODE=1 \\\n" in out


def test_multiline_merge_uses_the_continuation_indent_and_escape():
    text = "# escape=`\nFROM python:3.11\nENV A=1 `\n\tB=2\nCOPY . .\n"
    out, _ = _fix(text)
    assert out == (
        "# escape=`\nFROM python:3.11\nENV A=1 `\n\tB=2 `\n\tPYTHONDONTWRITEBYTECODE=1 `\n"
        "\tPYTHONUNBUFFERED=1\nCOPY . .\n"
    )
    assert _final_env(out) == {"A": "1", "B": "2", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def test_only_the_final_stage_is_changed():
    text = (
        "FROM python:3.11 AS build\nENV X=1\nRUN pip wheel --no-cache-dir .\nFROM python:3.11-slim\nCMD python app.py\n"
    )
    out, _ = _fix(text)
    assert out.startswith("FROM python:3.11 AS build\nENV X=1\n")
    assert "FROM python:3.11-slim\nENV PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1\nCMD python app.py\n" in out


def test_finding_spans_the_final_from():
    text = "FROM python:3.11 AS a\nFROM python:3.11-slim\n"
    doc = parse(text)
    (f,) = list(python_env.check(doc, Context()))
    assert text[f.start : f.end] == "FROM python:3.11-slim"


# -- base images (issue: the variables reached every image built FROM them) -------------------------
@pytest.mark.parametrize(
    "text,why",
    [
        ('FROM python:3.11-slim\nRUN pip install --no-cache-dir x\nONBUILD COPY . /app\nCMD ["python3"]\n', "ONBUILD"),
        (
            'FROM debian:bookworm\nRUN ./configure --enable-optimizations && make install\nCMD ["python3"]\n',
            "builds Python",
        ),
    ],
)
def test_base_images_get_a_note_not_a_fix(text, why):
    out, findings = _fix(text)
    assert out == text
    [f] = findings
    assert f.fix is None and why in f.note


@pytest.mark.parametrize("cmd", ['CMD ["python3"]', "CMD bash", ""])
def test_an_image_without_an_application_gets_only_an_unsafe_fix(cmd):
    text = f"FROM python:3.11-slim\nRUN pip install --no-cache-dir numpy\n{cmd}\n"
    out, findings = _fix(text)
    assert out == text
    [f] = findings
    assert f.fix is not None and f.fix.applicability.value == "unsafe" and "base image" in f.fix.reason


def test_bytecode_removal_keeps_pythondontwritebytecode_out():
    text = 'FROM python:3.11-slim\nCOPY . /app\nRUN find / -name \'*.pyc\' -delete\nCMD ["python", "/app/x.py"]\n'
    out, findings = _fix(text)
    assert "PYTHONDONTWRITEBYTECODE" not in out and "PYTHONUNBUFFERED=1" in out
    assert "recompile" in findings[0].note


def test_no_run_of_the_build_sees_the_variables():
    # a warm-up import writes .pyc files into the image; PYTHONDONTWRITEBYTECODE before it would not
    text = (
        "FROM python:3.11-slim\nENV APP=1\nWORKDIR /app\nCOPY app/ /app/app/\n"
        'RUN python -c "import app.main"\nCMD ["python", "-m", "app.main"]\n'
    )
    out, _ = _fix(text)
    assert out == (
        "FROM python:3.11-slim\nENV APP=1\nWORKDIR /app\nCOPY app/ /app/app/\n"
        'RUN python -c "import app.main"\nENV PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1\n'
        'CMD ["python", "-m", "app.main"]\n'
    )
