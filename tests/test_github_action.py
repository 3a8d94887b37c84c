"""slimml's GitHub Action (action.yml + .github/action/slimml_action.py).

action.yml is validated against SchemaStore's github-action schema (vendored by check-jsonschema) and read as GitHub
reads it; its steps are run here as GitHub runs them -- the step script with the inputs in INPUT_* variables and
GITHUB_WORKSPACE, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH, GITHUB_EVENT_PATH (a pull_request payload) and
GITHUB_BASE_REF set -- over a temporary git repository whose pull request changes Dockerfiles. The real slimml runs
the check and fix steps; the measure step's plumbing (which files, which arguments, what reaches the summary) is
tested with a recorder named `slimml` first on PATH, and once for real with the Docker engine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import slimml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / ".github" / "action" / "slimml_action.py"
VENV_BIN = Path(sys.executable).parent  # the real slimml of this checkout

BASE_DOCKERFILE = 'FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nCMD ["python", "app.py"]\n'
# Findings with safe fixes: SLM003 (two RUNs), SLM002 (apt lists), SLM001 (pip cache), SLM005, SLM006.
PR_DOCKERFILE = (
    "FROM python:3.11-slim\nRUN apt-get update\nRUN apt-get install -y curl\nWORKDIR /app\n"
    'COPY app.py .\nRUN pip install requests\nCMD ["python", "app.py"]\n'
)


def _load_yaml(path: Path):
    """As GitHub reads it (YAML 1.2: `on` is a key), with check-jsonschema's own loader."""
    from check_jsonschema.parsers.yaml import construct_yaml_implementation

    return construct_yaml_implementation().load(path.read_text())


def _git(cwd: Path, *args: str) -> str:
    cp = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def _write(root: Path, files: dict[str, str | None]) -> None:
    for rel, text in files.items():
        p = root / rel
        if text is None:
            p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)


class Runner:
    """One GitHub job: a workspace, the files GitHub gives each step, and the step script run as action.yml runs it."""

    def __init__(
        self,
        tmp: Path,
        workspace: Path,
        event: dict | None,
        event_name: str = "pull_request",
        base_ref: str = "main",
        path_prefix: Path | None = None,
    ):
        self.tmp, self.workspace = tmp, workspace
        self.output, self.summary, self.path_file = tmp / "github_output", tmp / "step_summary", tmp / "github_path"
        for f in (self.output, self.summary, self.path_file):
            f.write_text("")
        self.event_path = tmp / "event.json"
        self.event_path.write_text(json.dumps(event or {}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
        self.env.update(
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_OUTPUT=str(self.output),
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_PATH=str(self.path_file),
            GITHUB_EVENT_PATH=str(self.event_path),
            GITHUB_EVENT_NAME=event_name,
            GITHUB_BASE_REF=base_ref,
            GITHUB_ACTION_PATH=str(ROOT),
            RUNNER_TEMP=str(tmp / "runner-temp"),
            PATH=os.pathsep.join(
                [*([str(path_prefix)] if path_prefix else []), str(VENV_BIN), os.environ.get("PATH", "")]
            ),
        )
        (tmp / "runner-temp").mkdir(exist_ok=True)

    def step(self, command: str, timeout: int = 600, **inputs: str) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        env.update({"INPUT_" + k.upper(): v for k, v in inputs.items()})
        return subprocess.run(
            [sys.executable, str(SCRIPT), command],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def outputs(self) -> dict[str, str]:
        """GITHUB_OUTPUT parsed as GitHub parses it (name=value, and name<<DELIM ... DELIM)."""
        out, lines, i = {}, self.output.read_text().split("\n"), 0
        while i < len(lines):
            line = lines[i]
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delim = line.split("<<", 1)
                j = lines.index(delim, i + 1)
                out[name] = "\n".join(lines[i + 1 : j])
                i = j + 1
            elif "=" in line:
                name, value = line.split("=", 1)
                out[name] = value
                i += 1
            else:
                i += 1
        return out


@pytest.fixture
def pr_repo(tmp_path):
    """A repository whose branch `pr` (checked out) changes svc/Dockerfile, adds gpu/Dockerfile.cuda, deletes
    old/Dockerfile and edits README.md and a non-Dockerfile named like one (docs/Dockerfile.md)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    _git(ws, "init", "-q", "-b", "main")
    _write(
        ws,
        {
            "svc/Dockerfile": BASE_DOCKERFILE,
            "svc/app.py": "print('ok')\n",
            "old/Dockerfile": BASE_DOCKERFILE,
            "legacy/Dockerfile": PR_DOCKERFILE,  # findings, untouched by the pull request
            "README.md": "# demo\n",
            "docs/Dockerfile.md": "notes\n",
        },
    )
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "base")
    base = _git(ws, "rev-parse", "HEAD")
    _git(ws, "checkout", "-qb", "pr")
    _write(
        ws,
        {
            "svc/Dockerfile": PR_DOCKERFILE,
            "gpu/Dockerfile.cuda": BASE_DOCKERFILE,
            "old/Dockerfile": None,
            "README.md": "# demo, changed\n",
            "docs/Dockerfile.md": "more notes\n",
        },
    )
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "pr")
    event = {
        "action": "opened",
        "number": 7,
        "pull_request": {"number": 7, "base": {"ref": "main", "sha": base}, "head": {"ref": "pr"}},
    }
    return ws, base, event


# -- action.yml ---------------------------------------------------------------------------------------------------
def test_action_yml_is_a_valid_composite_action():
    import jsonschema
    from check_jsonschema.builtin_schemas import get_builtin_schema

    schema = get_builtin_schema("vendor.github-actions")
    action = _load_yaml(ACTION)
    jsonschema.validate(action, schema)
    assert action["runs"]["using"] == "composite"
    # A broken action is rejected by the same check (the test can fail).
    broken = {**action, "runs": {"using": "composite", "steps": [{"run": "true"}]}}  # a run step needs a shell
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_action_inputs_outputs_and_steps_agree_with_the_script():
    action = _load_yaml(ACTION)
    text, script = ACTION.read_text(), SCRIPT.read_text()
    inputs = set(action["inputs"])
    # Every ${{ inputs.x }} is declared; every declared input is used.
    used = set(re.findall(r"inputs\.([a-z0-9-]+)", text))
    assert used <= inputs, used - inputs
    assert inputs <= used, inputs - used
    # Inputs reach the script only through env (no ${{ }} in run: text -- script injection).
    steps = action["runs"]["steps"]
    for step in steps:
        assert "${{" not in step.get("run", ""), step
    # Every INPUT_* the script reads is set by some step, from the input of the same name (or a step output).
    read = set(re.findall(r'_(?:input|flag|words)\("([a-z0-9-]+)"', script))
    env = {k: v for step in steps for k, v in (step.get("env") or {}).items() if k.startswith("INPUT_")}
    for name in read:
        key = "INPUT_" + name.upper().replace("-", "_")
        assert key in env, f"the script reads input {name!r} but no step sets {key}"
        assert env[key] in (f"${{{{ inputs.{name} }}}}", f"${{{{ steps.run.outputs.{name} }}}}"), (key, env[key])
    # Every action output comes from a step output the script writes.
    written = set(re.findall(r'set_output\("([a-z0-9-]+)"', script))
    ids = {s.get("id") for s in steps}
    for name, out in action["outputs"].items():
        m = re.fullmatch(r"\$\{\{ steps\.([a-z]+)\.outputs\.([a-z0-9-]+) \}\}", out["value"])
        assert m and m.group(1) in ids and m.group(2) in written, (name, out["value"])
    # The SARIF upload is the official action and runs even when the check step recorded findings.
    (upload,) = [s for s in steps if "uses" in s]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["if"].startswith("always()")


def test_the_docs_example_workflow_is_valid_and_uses_real_inputs():
    import jsonschema
    from check_jsonschema.builtin_schemas import get_builtin_schema
    from check_jsonschema.parsers.yaml import construct_yaml_implementation

    inputs = set(_load_yaml(ACTION)["inputs"])
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "github-action.md").read_text(), re.S)
    loader = construct_yaml_implementation()
    workflow = loader.load(blocks[0])
    jsonschema.validate(workflow, get_builtin_schema("vendor.github-workflows"))
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    for fragment in blocks[1:]:  # step fragments
        steps += loader.load(fragment)
    ours = [s for s in steps if s.get("uses", "").startswith("slimml/slimml@")]
    assert len(ours) == len(blocks)
    for step in ours:
        assert set(step.get("with") or {}) <= inputs, set(step["with"]) - inputs
    # every input is documented in the inputs table
    table = set(re.findall(r"^\| `([a-z-]+)` \|", (ROOT / "docs" / "github-action.md").read_text(), re.M))
    assert inputs <= table, inputs - table


def test_findings_are_counted_at_every_severity_and_file_errors_are_not(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import slimml_action as A
    finally:
        sys.path.remove(str(SCRIPT.parent))
    # Real annotations: a Dockerfile whose COPY the .dockerignore excludes (an error finding), and one that
    # cannot be read (the file-level error, not a finding).
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Dockerfile").write_text(PR_DOCKERFILE)
    (tmp_path / "a" / "app.py").write_text("print(1)\n")
    (tmp_path / "a" / ".dockerignore").write_text("app.py\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "Dockerfile").write_text("FROM\n")
    cp = subprocess.run(
        [str(VENV_BIN / "slimml"), "check", "--format", "github", "a", "b"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    lines = cp.stdout.splitlines()
    file_errors = [x for x in lines if x.startswith("::error ") and "title=slimml::" in x]
    findings = [x for x in lines if x not in file_errors]
    assert file_errors and findings and len(A.finding_annotations(cp.stdout)) == len(findings)
    levels = {x.split(" ", 1)[0] for x in findings}
    assert "::warning" in levels and "::error" in levels, levels  # the excluded COPY breaks the build: an error
    assert len(A.finding_annotations("::notice file=x,line=1,title=SLM001 pip-no-cache::m\n")) == 1


def test_the_default_install_pins_the_actions_own_version(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import slimml_action as A
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert A.install_spec("") == f"slimml=={slimml.__version__}"
    assert A.install_spec("0.3.1") == "slimml==0.3.1"
    assert A.install_spec("v0.3.1") == "slimml==0.3.1"
    assert A.install_spec("latest") == "slimml"
    assert A.install_spec("source") == str(ROOT)
    assert A.install_spec("slimml>=0.2,<0.4") == "slimml>=0.2,<0.4"
    assert A.install_spec("git+https://example.com/slimml.git@v1") == "git+https://example.com/slimml.git@v1"
    with pytest.raises(A.ActionError):
        A.install_spec("--index-url=https://evil.example/simple")


# -- check and fix --------------------------------------------------------------------------------------------------
def test_check_mode_writes_sarif_annotations_outputs_and_summary(pr_repo, tmp_path):
    ws, _, event = pr_repo
    gh = Runner(tmp_path, ws, event)
    cp = gh.step("run", mode="check", paths="svc")
    assert cp.returncode == 0, cp.stderr  # findings do not stop the job before the SARIF upload
    out = gh.outputs()
    assert out["exit-code"] == "1"
    sarif = json.loads((ws / out["sarif-file"]).read_text())
    results = [r for run in sarif["runs"] for r in run["results"]]
    assert int(out["findings"]) == len(results) > 0
    warnings = [x for x in cp.stdout.splitlines() if re.match(r"::(error|warning|notice) file=", x)]
    assert len(warnings) == len(results)
    assert any("file=svc/Dockerfile,line=2,endLine=3" in w and "SLM003" in w for w in warnings), warnings
    assert {r["ruleId"] for r in results} >= {"SLM001", "SLM002", "SLM003"}
    assert f"{len(results)} finding(s) in `svc`" in gh.summary.read_text()
    # finish fails the job on findings, unless told not to
    assert gh.step("finish", exit_code=out["exit-code"]).returncode == 1
    assert gh.step("finish", exit_code=out["exit-code"], fail_on_findings="false").returncode == 0


def test_check_mode_annotations_only_and_args_are_passed(pr_repo, tmp_path):
    ws, _, event = pr_repo
    gh = Runner(tmp_path, ws, event)
    cp = gh.step("run", mode="check", paths="svc gpu", sarif="false", args="--select SLM003")
    assert cp.returncode == 0, cp.stderr
    warnings = [x for x in cp.stdout.splitlines() if re.match(r"::(error|warning|notice) file=", x)]
    assert warnings and all("SLM003" in w for w in warnings), warnings
    out = gh.outputs()
    assert out["findings"] == str(len(warnings)) and out["exit-code"] == "1"
    assert "sarif-file" not in out and not (ws / "slimml.sarif").exists()


def test_fix_mode_reports_the_diff_and_writes_nothing(pr_repo, tmp_path):
    ws, _, event = pr_repo
    gh = Runner(tmp_path, ws, event)
    cp = gh.step("run", mode="fix", paths="svc")
    assert cp.returncode == 0, cp.stderr
    assert (ws / "svc" / "Dockerfile").read_text() == PR_DOCKERFILE  # --check writes nothing
    assert not (ws / "svc" / ".dockerignore").exists()
    out = gh.outputs()
    assert out["exit-code"] == "1"
    assert out["changed-files"].splitlines() == ["svc/Dockerfile", "svc/.dockerignore"]
    assert "+RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*" in cp.stdout
    summary = gh.summary.read_text()
    assert "2 file(s) would change" in summary and "```diff\n--- a/svc/Dockerfile" in summary
    assert int(out["findings"]) > 0 and any(
        x.startswith("::warning file=svc/Dockerfile") for x in cp.stdout.splitlines()
    )
    assert gh.step("finish", exit_code="1").returncode == 1
    # After `slimml fix --write` the same step passes.
    subprocess.run([str(VENV_BIN / "slimml"), "fix", "--write", "svc"], cwd=ws, check=True, capture_output=True)
    (tmp_path / "again").mkdir()
    gh2 = Runner(tmp_path / "again", ws, event)
    cp = gh2.step("run", mode="fix", paths="svc")
    assert cp.returncode == 0 and gh2.outputs()["exit-code"] == "0", cp.stderr
    assert "Nothing to fix." in gh2.summary.read_text()
    assert gh2.step("finish", exit_code="0").returncode == 0


def test_changed_only_checks_the_dockerfiles_the_pull_request_changes(pr_repo, tmp_path):
    ws, base, event = pr_repo

    def annotated(cp):
        return {re.search(r"file=([^,]+)", x).group(1) for x in cp.stdout.splitlines() if re.match(r"::\w+ file=", x)}

    runs = {}
    for name, inputs in {
        "all": {},
        "changed": {"changed_only": "true"},
        "changed-gpu": {"changed_only": "true", "paths": "gpu"},
    }.items():
        (tmp_path / name).mkdir()
        gh = Runner(tmp_path / name, ws, event)
        cp = gh.step("run", mode="check", sarif="false", **inputs)
        assert cp.returncode == 0, cp.stderr
        runs[name] = annotated(cp)
    assert "legacy/Dockerfile" in runs["all"]
    assert runs["changed"] == {"svc/Dockerfile", "gpu/Dockerfile.cuda"}
    assert runs["changed-gpu"] == {"gpu/Dockerfile.cuda"}
    # on a push, changed-only has no base to compare with: everything under paths is checked
    (tmp_path / "push").mkdir()
    gh = Runner(tmp_path / "push", ws, {}, event_name="push", base_ref="")
    assert annotated(gh.step("run", mode="check", sarif="false", changed_only="true")) == runs["all"]
    # a pull request that changes no Dockerfile: nothing to check, exit code 0
    _git(ws, "checkout", "-qb", "docs-only", base)
    _write(ws, {"README.md": "# only docs\n"})
    _git(ws, "commit", "-qam", "docs")
    (tmp_path / "docs").mkdir()
    gh = Runner(tmp_path / "docs", ws, event)
    cp = gh.step("run", mode="fix", changed_only="true")
    assert cp.returncode == 0 and gh.outputs()["exit-code"] == "0" and "::warning" not in cp.stdout
    assert "changes no Dockerfile" in gh.summary.read_text()


def test_secrets_in_a_dockerfile_reach_no_log_summary_output_or_sarif(pr_repo, tmp_path):
    ws, _, event = pr_repo
    token = "hf_" + "Zq8" * 12
    _write(
        ws,
        {
            "svc/Dockerfile": PR_DOCKERFILE.replace(
                "RUN apt-get update\n", f"ENV HF_TOKEN={token}\nRUN apt-get update\n"
            )
        },
    )
    _git(ws, "commit", "-qam", "a token")
    for mode in ("check", "fix"):
        (tmp_path / mode).mkdir()
        gh = Runner(tmp_path / mode, ws, event)
        cp = gh.step("run", mode=mode, paths="svc")
        assert cp.returncode == 0 and gh.outputs()["exit-code"] == "1", cp.stderr
        seen = cp.stdout + cp.stderr + gh.summary.read_text() + gh.output.read_text()
        if mode == "check":
            seen += (ws / "slimml.sarif").read_text()
        else:
            assert "ENV HF_TOKEN=****" in cp.stdout  # the diff shows the line, masked
        assert token not in seen


def test_bad_input_is_one_error_line_and_exit_2(pr_repo, tmp_path):
    ws, _, event = pr_repo
    gh = Runner(tmp_path, ws, event)
    cp = gh.step("run", mode="lint")
    assert cp.returncode == 2
    assert cp.stdout.strip().splitlines() == ["::error title=slimml::input mode: expected check or fix, got 'lint'"]
    assert gh.outputs() == {}
    cp = gh.step("run", mode="check", annotations="maybe")
    assert cp.returncode == 2 and "input annotations: expected true or false" in cp.stdout
    # slimml's own exit 2 (a path that does not exist) is recorded and fails the job even with fail-on-findings off
    cp = gh.step("run", mode="check", paths="no/such/Dockerfile")
    assert cp.returncode == 0, cp.stderr
    assert gh.outputs()["exit-code"] == "2" and "::error " in cp.stdout
    assert gh.step("finish", exit_code="2", fail_on_findings="false").returncode == 2


# -- measure ---------------------------------------------------------------------------------------------------------
FAKE_SLIMML = """#!{python}
# A recorder standing in for slimml: writes down its argv and cwd, prints a markdown report (or fails for gpu/).
import json, os, sys
with open({record!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
path = sys.argv[-1]
if path.startswith("gpu/"):
    print("### slimml measure: `%s`\\n\\n**Verification: FAIL**\\n" % path)
    sys.exit(1)
print("### slimml measure: `%s`\\n\\n| | before | after | change |\\n|---|---:|---:|---:|\\n"
      "| image size | 1.0 GB | 400 MB | -60.0%% |\\n" % path)
"""


def _fake_slimml(tmp_path: Path) -> tuple[Path, Path]:
    bindir, record = tmp_path / "fakebin", tmp_path / "calls.jsonl"
    bindir.mkdir()
    exe = bindir / "slimml"
    exe.write_text(FAKE_SLIMML.format(python=sys.executable, record=str(record)))
    exe.chmod(0o755)
    return bindir, record


def _calls(record: Path) -> list[dict]:
    return [json.loads(x) for x in record.read_text().splitlines()] if record.exists() else []


def test_measure_runs_on_the_dockerfiles_the_pull_request_changes(pr_repo, tmp_path):
    ws, _, event = pr_repo
    bindir, record = _fake_slimml(tmp_path)
    gh = Runner(tmp_path, ws, event, path_prefix=bindir)
    cp = gh.step("measure", measure_args="--no-rebuild --smoke 'python -c \"import app\"'")
    assert cp.returncode == 0, cp.stderr  # a failed verification warns; measure-strict makes it fail
    calls = _calls(record)
    assert [c["argv"][-1] for c in calls] == ["gpu/Dockerfile.cuda", "svc/Dockerfile"]  # not deleted, not *.md
    for c in calls:
        assert c["argv"][:5] == ["measure", "--format", "markdown", "--quiet", "--no-rebuild"]
        assert c["argv"][5:8] == ["--smoke", 'python -c "import app"', "--"]
        assert Path(c["cwd"]) == ws
    out = gh.outputs()
    assert out["changed-dockerfiles"].splitlines() == ["gpu/Dockerfile.cuda", "svc/Dockerfile"]
    assert out["measured"] == "2" and out["measure-exit-code"] == "1"
    summary = gh.summary.read_text()
    assert summary.startswith("## slimml measure")
    assert "### slimml measure: `svc/Dockerfile`" in summary and "| image size | 1.0 GB | 400 MB | -60.0% |" in summary
    assert "**Verification: FAIL**" in summary
    assert "::warning title=slimml measure gpu/Dockerfile.cuda::" in cp.stdout
    assert gh.step("measure", measure_strict="true").returncode == 1


def test_measure_on_a_shallow_checkout_fetches_the_base(pr_repo, tmp_path):
    """actions/checkout's default: depth 1, the base commit absent. The step fetches it from origin."""
    src, base, event = pr_repo
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--branch", "pr", f"file://{src}", str(clone)],
        check=True,
        capture_output=True,
    )
    assert subprocess.run(["git", "cat-file", "-e", base], cwd=clone, capture_output=True).returncode != 0
    bindir, record = _fake_slimml(tmp_path)
    gh = Runner(tmp_path, clone, event, path_prefix=bindir)
    cp = gh.step("measure")
    assert cp.returncode == 0, cp.stderr + cp.stdout
    assert [c["argv"][-1] for c in _calls(record)] == ["gpu/Dockerfile.cuda", "svc/Dockerfile"]


def test_measure_falls_back_to_github_base_ref(pr_repo, tmp_path):
    src, _, _ = pr_repo
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--branch", "pr", f"file://{src}", str(clone)], check=True, capture_output=True
    )
    bindir, record = _fake_slimml(tmp_path)
    gh = Runner(tmp_path, clone, {"pull_request": {"number": 7}}, base_ref="main", path_prefix=bindir)
    assert gh.step("measure").returncode == 0
    assert [c["argv"][-1] for c in _calls(record)] == ["gpu/Dockerfile.cuda", "svc/Dockerfile"]


def test_measure_does_nothing_outside_pull_requests_or_without_dockerfile_changes(pr_repo, tmp_path):
    ws, base, event = pr_repo
    bindir, record = _fake_slimml(tmp_path)
    push = Runner(tmp_path, ws, {"ref": "refs/heads/main"}, event_name="push", base_ref="", path_prefix=bindir)
    cp = push.step("measure")
    assert cp.returncode == 0 and push.outputs()["measured"] == "0" and not _calls(record)
    # a pull request that changes only README.md
    _git(ws, "checkout", "-qb", "docs-only", base)
    _write(ws, {"README.md": "# only docs\n"})
    _git(ws, "commit", "-qam", "docs")
    (tmp_path / "docs").mkdir()
    gh = Runner(tmp_path / "docs", ws, event, path_prefix=bindir)
    cp = gh.step("measure")
    assert cp.returncode == 0 and gh.outputs()["measured"] == "0" and not _calls(record)
    assert "changes no Dockerfile" in cp.stdout


# -- install ----------------------------------------------------------------------------------------------------------
def test_install_puts_the_requested_slimml_on_github_path(tmp_path):
    """The real install step (pip, a fresh virtualenv under RUNNER_TEMP): `version: source` installs this checkout."""
    gh = Runner(tmp_path, tmp_path, None, event_name="push")
    cp = gh.step("install", version="source", timeout=900)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    (bindir,) = gh.path_file.read_text().splitlines()
    assert Path(bindir).is_relative_to(tmp_path / "runner-temp")
    assert gh.outputs()["version"] == slimml.__version__
    v = subprocess.run([str(Path(bindir) / "slimml"), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and slimml.__version__ in v.stdout
    # a requirement pip cannot satisfy is an error line and exit 2, and nothing is added to PATH
    gh.path_file.write_text("")
    cp = gh.step("install", version="slimml==0.0.0.dev0", pip_args="--no-index", timeout=300)
    assert cp.returncode == 2 and "::error title=slimml::pip could not install slimml==0.0.0.dev0" in cp.stdout
    assert gh.path_file.read_text() == ""


@pytest.mark.docker
def test_measure_step_for_real_on_a_tiny_dockerfile(tmp_path):
    """The real `slimml measure` through the step: a no-network Dockerfile on the local python:3.11-slim stand-in."""
    ws = tmp_path / "ws"
    ws.mkdir()
    _git(ws, "init", "-q", "-b", "main")
    _write(ws, {"README.md": "demo\n"})
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "base")
    base = _git(ws, "rev-parse", "HEAD")
    _git(ws, "checkout", "-qb", "pr")
    _write(
        ws,
        {
            "svc/Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nRUN python -c "print(1)"\n'
            'RUN python -c "print(2)"\nCMD ["python", "app.py"]\n',
            "svc/app.py": "print('hello from the app')\n",
        },
    )
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "add a service")
    event = {"pull_request": {"number": 1, "base": {"ref": "main", "sha": base}}}
    gh = Runner(tmp_path, ws, event)
    cp = gh.step("measure", measure_args="--no-rebuild", timeout=1200)
    assert cp.returncode == 0, cp.stderr[-3000:]
    out = gh.outputs()
    assert out["measured"] == "1" and out["changed-dockerfiles"] == "svc/Dockerfile"
    summary = gh.summary.read_text()
    assert re.search(r"^### slimml measure: `[^`]*/svc/Dockerfile`$", summary, re.M), summary
    assert re.search(r"\| image size \| [\d.]+ [kMG]?B \| [\d.]+ [kMG]?B \| [+-]\d+\.\d% \|", summary), summary
    assert out["measure-exit-code"] == "0", summary
    assert "**Verification: PASS**" in summary
