"""The fleet drivers in docs/drivers/: a Kubernetes Indexed Job and a GitHub Actions matrix workflow.

The manifests are validated against the official Kubernetes JSON schemas bundled by kubernetes-validate (strict:
an unknown field is an error), for pinned Kubernetes versions; the workflow against SchemaStore's github-workflows
schema vendored by check-jsonschema, read as GitHub reads YAML (1.2: `on` is a key, not a boolean). The shell the
drivers run is run with sh for every shard, with recorders named `slimml` and `docker` first on PATH that write down
the argv they get: every slimml invocation must parse with slimml's own click CLI (so option names follow the real
CLI), the shards must be exactly 1..N, the merge must read every state the shards write, and the image must be
ghcr.io/slimml/slimml:<slimml.__version__>.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import posixpath
import re
import stat
import subprocess
from pathlib import Path

import click
import kubernetes_validate
import pytest
import yaml

from slimml import __version__
from slimml.cli import main
from slimml.migrate import shard as shards

from .dockerutil import docker
from .test_docker_slimml_image import image  # noqa: F401 - the image build fixture (module-scoped, shared build cache)

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "docs" / "drivers" / "kubernetes"
WORKFLOW = ROOT / "docs" / "drivers" / "github-actions" / "slimml-fleet.yml"
IMAGE = f"ghcr.io/slimml/slimml:{__version__}"
# The oldest version README.md supports (backoffLimitPerIndex and podReplacementPolicy are on by default from 1.29)
# and a current one; both pinned, so a kubernetes-validate upgrade cannot move the goalposts.
K8S_VERSIONS = ("1.29", "1.33")
RECORD = "\0\n"  # one recorded argv per line, arguments NUL-separated


def _yaml_docs(path: Path) -> list[dict]:
    """Manifests as kubectl reads them (YAML 1.1, PyYAML as kubernetes-validate uses it); the workflow as GitHub and
    check-jsonschema read it (YAML 1.2: `on` is a key, not a boolean), with check-jsonschema's own loader."""
    if path.suffix == ".yml":
        from check_jsonschema.parsers.yaml import construct_yaml_implementation

        return [d for d in construct_yaml_implementation().load_all(path.read_text()) if d is not None]
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _manifests() -> dict[str, dict]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _yaml_docs(path):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def _job(name: str) -> dict:
    return _manifests()[f"Job/{name}"]


def _container(job: dict) -> dict:
    (c,) = job["spec"]["template"]["spec"]["containers"]
    return c


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _k8s_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' own expansion of command/args: `$(VAR)` becomes VAR's value when the container defines VAR,
    `$$` is a literal `$`, anything else stays as written (the shell sees it)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1 and text[i + 2 : end] in env:
            out.append(env[text[i + 2 : end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# -- schemas --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_against_the_official_schemas(version):
    docs = [(p.name, d) for p in sorted(K8S.glob("*.yaml")) for d in _yaml_docs(p)]
    assert sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in docs) == [
        "ConfigMap/slimml-fleet-repos",
        "Job/slimml-fleet",
        "Job/slimml-fleet-merge",
        "PersistentVolumeClaim/slimml-fleet",
    ]
    for name, doc in docs:
        assert kubernetes_validate.validate(doc, version, strict=True) == version, name


def test_the_schema_check_is_strict():
    """A misspelt field and a wrong type are errors (what the validation above would catch in the drivers)."""
    job = _job("slimml-fleet")
    typo = copy.deepcopy(job)
    typo["spec"]["completionMod"] = typo["spec"].pop("completionMode")
    wrong = copy.deepcopy(job)
    wrong["spec"]["completions"] = "four"
    for bad in (typo, wrong):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


def _workflow_schema_validator():
    import importlib.resources

    import jsonschema

    ref = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    schema = json.loads(ref.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())


def test_the_workflow_is_valid_against_schemastores_schema():
    validator = _workflow_schema_validator()
    (doc,) = _yaml_docs(WORKFLOW)
    assert "on" in doc
    assert [e.message for e in validator.iter_errors(doc)] == []
    broken = copy.deepcopy(doc)
    broken["jobs"]["migrate"]["strategy"]["matrix"] = "shard"  # a matrix is a mapping (or an expression)
    assert list(validator.iter_errors(broken))


# -- the Kubernetes Job -----------------------------------------------------------------------------------------
def test_the_indexed_job_runs_one_pod_per_shard():
    job = _job("slimml-fleet")
    spec, c = job["spec"], _container(job)
    n = int(_env(c)["SHARDS"])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == n
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # backoffLimitPerIndex and podFailurePolicy need it
    assert spec["podReplacementPolicy"] == "Failed"  # one pod per index at a time: one writer per shard state
    assert int(_env(_container(_job("slimml-fleet-merge")))["SHARDS"]) == n


def test_volumes_and_names_fit_together():
    m = _manifests()
    pvc_name = m["PersistentVolumeClaim/slimml-fleet"]["metadata"]["name"]
    assert "ReadWriteMany" in m["PersistentVolumeClaim/slimml-fleet"]["spec"]["accessModes"]
    for job in (_job("slimml-fleet"), _job("slimml-fleet-merge")):
        pod = job["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = {mt["mountPath"]: mt["name"] for mt in _container(job)["volumeMounts"]}
        assert vols[mounts["/fleet"]]["persistentVolumeClaim"]["claimName"] == pvc_name
        if "/config" in mounts:
            cm = vols[mounts["/config"]]["configMap"]["name"]
            assert "repos.txt" in m[f"ConfigMap/{cm}"]["data"]
        # readOnlyRootFilesystem: /tmp (HOME, temporary folders) is a volume
        assert _container(job)["securityContext"]["readOnlyRootFilesystem"] is True and "/tmp" in mounts
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_token_only_comes_from_a_secret():
    m = _manifests()
    assert not [k for k in m if k.startswith("Secret/")]
    c = _container(_job("slimml-fleet"))
    token = next(e for e in c["env"] if e["name"] == "GITHUB_TOKEN")
    assert token == {
        "name": "GITHUB_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "slimml-forge-token", "key": "token"}},
    }
    for key, doc in m.items():
        for text in _strings(doc):
            assert not re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|glpat-", text), key


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


# -- running the drivers' shell ------------------------------------------------------------------------------------
@pytest.fixture
def recorder(tmp_path):
    """`slimml` and `docker` executables that append their argv to a file; the scripts run in an empty folder (so
    a glob the script passes on stays a glob, as in the pod or on the runner before any state exists)."""
    bin_dir, log, cwd = tmp_path / "bin", tmp_path / "argv.log", tmp_path / "cwd"
    bin_dir.mkdir()
    cwd.mkdir()
    for name in ("slimml", "docker"):
        exe = bin_dir / name
        exe.write_text(f"#!/bin/sh\nprintf '%s\\0' {name} \"$@\" >>'{log}'\nprintf '\\n' >>'{log}'\n")
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)

    def run(script: str, env: dict[str, str]) -> list[list[str]]:
        log.write_text("")
        full = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **env}
        r = subprocess.run(["/bin/sh", "-ec", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [line.rstrip("\0").split("\0") for line in log.read_text().split(RECORD) if line]

    return run


def _k8s_run(recorder, job: dict, index: int | None) -> list[list[str]]:
    c = _container(job)
    env = _env(c)
    assert c["command"] == ["/bin/sh", "-ec"] and len(c["args"]) == 1
    script = _k8s_expand(c["args"][0], env)
    if index is not None:
        env = {**env, "JOB_COMPLETION_INDEX": str(index)}  # set by the Job controller for Indexed Jobs
    return recorder(script, env)


def _parse(argv: list[str]) -> click.Context:
    """slimml's click CLI parses argv (options, types, choices) without running the command."""
    assert argv[0] == "slimml" and len(argv) > 1
    parent = click.Context(main, info_name="slimml")
    cmd = main.get_command(parent, argv[1])
    assert cmd is not None, f"no slimml command {argv[1]!r}"
    return cmd.make_context(argv[1], argv[2:], parent=parent)


def test_job_indexes_become_shards_1_to_n_and_every_call_parses(recorder):
    job = _job("slimml-fleet")
    c = _container(job)
    n = job["spec"]["completions"]
    seen = []
    for index in range(n):
        (argv,) = _k8s_run(recorder, job, index)
        ctx = _parse(argv)
        assert ctx.command.name == "migrate"
        seen.append(shards.parse(ctx.params["shard_spec"]))
        # the paths it names are the mounted ones
        mounts = {mt["mountPath"] for mt in c["volumeMounts"]}
        assert str(ctx.params["repos_file"]).startswith("/config/") and str(ctx.params["workdir"]) in mounts
        assert ctx.params["open_pr"] == "github"  # the forge whose token the Secret holds (GITHUB_TOKEN)
    assert seen == [(i, n) for i in range(1, n + 1)]


def test_the_merge_job_reads_every_state_the_shards_write(recorder):
    shard_job = _job("slimml-fleet")
    n = shard_job["spec"]["completions"]
    states = []
    for index in range(n):
        (argv,) = _k8s_run(recorder, shard_job, index)
        p = _parse(argv).params
        states.append(
            posixpath.join(str(p["workdir"]), ".slimml", shards.default_state_name(shards.parse(p["shard_spec"])))
        )
    calls = _k8s_run(recorder, _job("slimml-fleet-merge"), None)
    assert [c[:2] for c in calls] == [["slimml", "report"]] * len(calls) and calls
    formats = set()
    for argv in calls:
        ctx = _parse(argv)
        assert ctx.params["merge"] is True
        (pattern,) = [str(p) for p in ctx.params["merge_paths"]]  # one glob, expanded by the shell in the pod
        assert [s for s in states if fnmatch.fnmatchcase(s, pattern)] == states
        assert not fnmatch.fnmatchcase(states[0].replace(f"-of-{n}.db", f"-of-{n + 1}.db"), pattern)
        formats.add(ctx.params["fmt"])
    assert formats == {"html", "markdown"}


def _workflow() -> dict:
    (doc,) = _yaml_docs(WORKFLOW)
    return doc


def _gha_expand(text: str, values: dict[str, str]) -> str:
    """GitHub's `${{ expr }}` substitution (textual, before the shell runs) for the expressions the workflow uses."""

    def sub(m):
        expr = m.group(1).strip()
        assert expr in values, f"unexpected expression in a run step: {expr}"
        return values[expr]

    return re.sub(r"\$\{\{(.*?)\}\}", sub, text)


def _gha_run(recorder, tmp_path, job: str, shard: int | None) -> list[list[str]]:
    wf = _workflow()
    env = {k: str(v) for k, v in wf["env"].items()}
    values = {f"env.{k}": v for k, v in env.items()}
    if shard is not None:
        values["matrix.shard"] = str(shard)
    calls = []
    for step in wf["jobs"][job]["steps"]:
        if "run" not in step:
            continue
        step_env = {
            k: ("<secret>" if "secrets." in str(v) else _gha_expand(str(v), values))
            for k, v in step.get("env", {}).items()
        }
        summary = tmp_path / "summary.md"
        calls += recorder(_gha_expand(step["run"], values), {**env, **step_env, "GITHUB_STEP_SUMMARY": str(summary)})
    return calls


def _image_args(argv: list[str]) -> list[str]:
    """`docker run [options] IMAGE ARGS...` -> ["slimml", *ARGS] (the image's ENTRYPOINT is slimml)."""
    assert argv[:2] == ["docker", "run"], argv
    assert argv.count(IMAGE) == 1, f"the image must be {IMAGE}: {argv}"
    return ["slimml", *argv[argv.index(IMAGE) + 1 :]]


def test_the_workflow_matrix_runs_shards_1_to_n_and_every_call_parses(recorder, tmp_path):
    wf = _workflow()
    n = int(wf["env"]["SHARDS"])
    matrix = wf["jobs"]["migrate"]["strategy"]["matrix"]["shard"]
    assert matrix == list(range(1, n + 1))
    assert wf["jobs"]["migrate"]["strategy"]["fail-fast"] is False  # one failing shard must not cancel the others
    seen = []
    for shard in matrix:
        (argv,) = _gha_run(recorder, tmp_path, "migrate", shard)
        ctx = _parse(_image_args(argv))
        assert ctx.command.name == "migrate"
        seen.append(shards.parse(ctx.params["shard_spec"]))
        assert "GITHUB_TOKEN" in argv and not any("<secret>" in a for a in argv)  # passed by name, never by value
    assert seen == [(i, n) for i in matrix]


def test_the_workflow_uploads_each_state_and_merges_them_into_the_summary(recorder, tmp_path):
    wf = _workflow()
    n = int(wf["env"]["SHARDS"])
    values = {"env.SHARDS": str(n)}
    steps = wf["jobs"]["migrate"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"  # a failed shard's state still reaches the merge
    merge = wf["jobs"]["merge"]
    assert merge["needs"] == "migrate" and "!cancelled()" in merge["if"]
    download = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["merge-multiple"] is True
    assert fnmatch.fnmatchcase(
        _gha_expand(upload["with"]["name"], {**values, "matrix.shard": "1"}), download["with"]["pattern"]
    )
    calls = _gha_run(recorder, tmp_path, "merge", None)
    parsed = [_parse(_image_args(argv)) for argv in calls]
    assert {c.params["fmt"] for c in parsed} == {"html", "markdown"}
    for shard in range(1, n + 1):
        # where the shard's run writes its state (on the runner: the mounted fleet-work folder) ...
        (argv,) = _gha_run(recorder, tmp_path, "migrate", shard)
        p = _parse(_image_args(argv)).params
        state = posixpath.join(str(p["workdir"]), ".slimml", shards.default_state_name((shard, n)))
        mount = next(a for a in argv if a.endswith(":" + str(p["workdir"])))
        on_runner = posixpath.join(
            mount.split(":")[0].replace(str(tmp_path / "cwd") + "/", ""), posixpath.relpath(state, str(p["workdir"]))
        )
        uploaded = _gha_expand(upload["with"]["path"], {**values, "matrix.shard": str(shard)})
        assert fnmatch.fnmatchcase(on_runner, uploaded) and fnmatch.fnmatchcase(on_runner + "-wal", uploaded)
        # ... and the merge reads it under its own name in the downloaded folder
        downloaded = posixpath.join(download["with"]["path"], posixpath.basename(state))
        for c in parsed:
            (pattern,) = [str(x) for x in c.params["merge_paths"]]
            assert fnmatch.fnmatchcase(downloaded, pattern), (downloaded, pattern)
    markdown = next(a for a in calls if "markdown" in a)
    assert markdown  # its stdout is appended to $GITHUB_STEP_SUMMARY by the step
    assert '>> "$GITHUB_STEP_SUMMARY"' in next(s["run"] for s in merge["steps"] if "run" in s)


def test_the_workflow_token_is_a_secret_passed_by_name():
    wf = _workflow()
    (step,) = [s for s in wf["jobs"]["migrate"]["steps"] if "run" in s]
    assert step["env"]["GITHUB_TOKEN"] == "${{ secrets.SLIMML_FLEET_TOKEN }}"
    for text in _strings(wf):
        assert not re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|glpat-", text)
    assert wf["permissions"] == {"contents": "read"}


def test_every_driver_uses_the_image_of_this_version():
    refs = [_container(j)["image"] for j in (_job("slimml-fleet"), _job("slimml-fleet-merge"))]
    refs.append(_workflow()["env"]["SLIMML_IMAGE"])
    assert refs == [IMAGE] * 3
    # ... and no other version of it is named anywhere in the drivers or their READMEs
    for path in [*K8S.glob("*"), *WORKFLOW.parent.glob("*")]:
        for ref in re.findall(r"ghcr\.io/slimml/slimml:[\w.\-]+", path.read_text()):
            assert ref == IMAGE, f"{path.name}: {ref}"


def test_the_credential_helper_gives_git_the_token_from_the_environment(tmp_path):
    """The helper the drivers configure (GIT_CONFIG_*): git asks it, it answers with the token from the
    environment; the token appears in no git config file and no command line."""
    c = _container(_job("slimml-fleet"))
    env = _env(c)
    wf_env = next(s for s in _workflow()["jobs"]["migrate"]["steps"] if "run" in s)["env"]
    assert {k: wf_env[k] for k in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0")} == {
        k: env[k] for k in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0")
    }
    git_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        **{k: env[k] for k in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0")},
        "GITHUB_TOKEN": "t0ken-from-the-secret",
        "GIT_TERMINAL_PROMPT": "0",
    }
    r = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=github.com\npath=org/x.git\n\n",
        capture_output=True,
        text=True,
        env=git_env,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert "username=x-access-token\n" in r.stdout and "password=t0ken-from-the-secret\n" in r.stdout
    assert "t0ken" not in env["GIT_CONFIG_VALUE_0"]


# -- the Job's pods, run in the real image ---------------------------------------------------------------------

SERVICE = 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD ["python", "app.py"]\n'


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.docker
def test_the_job_pods_and_the_merge_run_in_the_image_as_the_manifests_say(image, tmp_path):  # noqa: F811 - fixture
    """Each index of the Indexed Job as a container of the real image -- the manifest's script, env, user,
    read-only root file system, /tmp volume and mounts -- over local bare repositories (file:// URLs), then the
    merge Job's script. Only `--open-pr github` is taken out (no forge here; tests/test_migrate_forge.py covers
    it): every repo is migrated by exactly one shard, and the merged report covers them all."""
    images, tag = image
    remotes, config, fleet = tmp_path / "remotes", tmp_path / "config", tmp_path / "fleet"
    for d in (remotes, config, fleet):
        d.mkdir()
    names = [f"svc-{i}" for i in range(8)]
    for name in names:
        work = tmp_path / "src" / name
        work.mkdir(parents=True)
        (work / "Dockerfile").write_text(SERVICE)
        (work / "requirements.txt").write_text("flask\n")
        (work / "app.py").write_text("print('hi')\n")
        _git("init", "-q", "-b", "main", cwd=work)
        _git("add", ".", cwd=work)
        _git("commit", "-q", "-m", "service", cwd=work)
        _git("clone", "-q", "--bare", str(work), str(remotes / f"{name}.git"), cwd=tmp_path)
    (config / "repos.txt").write_text("".join(f"file:///remotes/{n}.git\n" for n in names))
    for p in [fleet, *remotes.rglob("*"), remotes]:
        os.chown(p, 10001, 10001)  # the volume as fsGroup/the export makes it: writable by the pods' user

    def pod(job: dict, index: int | None, drop: str = "") -> subprocess.CompletedProcess:
        c = _container(job)
        pod_spec = job["spec"]["template"]["spec"]
        sec = pod_spec["securityContext"]
        env = {**_env(c), "GITHUB_TOKEN": "not-used-here"}
        if index is not None:
            env["JOB_COMPLETION_INDEX"] = str(index)
        script = _k8s_expand(c["args"][0], _env(c))
        if drop:
            assert drop in script
            script = script.replace(drop, "")
        mounts = {"/config": f"{config}:/config:ro", "/fleet": f"{fleet}:/fleet", "/tmp": None}
        args = [
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            f"{sec['runAsUser']}:{sec['runAsGroup']}",
            "--group-add",
            str(sec["fsGroup"]),
            "--read-only",
            "--tmpfs",
            "/tmp:rw,exec",
            "-v",
            f"{remotes}:/remotes:ro",
            "--entrypoint",
            c["command"][0],
        ]
        for mt in c["volumeMounts"]:
            if mounts[mt["mountPath"]]:
                args += ["-v", mounts[mt["mountPath"]]]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        return docker(*args, tag, *c["command"][1:], script, timeout=600, check=False)

    shard_job = _job("slimml-fleet")
    n = shard_job["spec"]["completions"]
    owned = {}
    for index in range(n):
        r = pod(shard_job, index, drop=" --open-pr github")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        db = fleet / ".slimml" / shards.default_state_name((index + 1, n))
        owned[index + 1] = {r["name"] for r in _report("--state", str(db))["repos"]}
    assert sorted(x for s in owned.values() for x in s) == sorted(f"file:///remotes/{n_}.git" for n_ in names)
    r = pod(_job("slimml-fleet-merge"), None)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert all(f"file:///remotes/{n_}.git" in r.stdout for n_ in names), r.stdout  # the markdown, to the pod's log
    assert (fleet / "fleet-report.html").is_file()
    data = _report("--merge", *sorted(map(str, (fleet / ".slimml").glob("*.db"))))
    assert sorted(r["name"] for r in data["repos"]) == sorted(f"file:///remotes/{n_}.git" for n_ in names)
    assert {r["status"] for r in data["repos"]} == {"fixed"}


def _report(*args: str) -> dict:
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["report", *args, "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)
