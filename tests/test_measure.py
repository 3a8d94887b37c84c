"""`slimml measure` without a Docker engine: planning, parsing, comparisons, reports, clean-up.

The Docker-marked end-to-end tests are in test_measure_docker.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.cli import main
from slimml.measure import engine as E
from slimml.measure import plan as P
from slimml.measure import probes
from slimml.measure import verify as V
from slimml.measure.report import to_json, to_markdown, to_text
from slimml.measure.run import (
    ImageReport,
    MeasureOptions,
    MeasureReport,
    run_measure,
    syntax_failure_message,
)


# -- builder choice, syntax directive ---------------------------------------------------------------------
def test_features_tell_which_files_need_buildkit():
    assert P.features("FROM python:3.11\nRUN pip install x\nCOPY . /app\n").buildkit == ()
    f = P.features(
        "FROM python:3.11\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\nCOPY --chmod=755 run.sh /\n"
    )
    assert f.buildkit == ("RUN --mount (line 2)", "COPY --chmod (line 3)")
    assert f.newer_frontend == ()  # the engine's built-in frontend has both
    h = P.features("# syntax=docker/dockerfile:1.7\nFROM alpine\nRUN <<EOF\necho hi\nEOF\nCOPY --link a /a\n")
    assert "# syntax=docker/dockerfile:1.7" in h.buildkit
    assert h.newer_frontend == ("heredoc (line 3)", "COPY --link (line 6)")


def test_strip_syntax_directive_keeps_other_directives_and_line_endings():
    text = "# escape=`\r\n# syntax=docker/dockerfile:1\r\nFROM alpine\r\n# syntax=not-a-directive-here\r\n"
    out = P.strip_syntax_directive(text)
    assert out == "# escape=`\r\nFROM alpine\r\n# syntax=not-a-directive-here\r\n"
    assert P.strip_syntax_directive("FROM alpine\n") == "FROM alpine\n"
    assert P.syntax_directive(text) == "docker/dockerfile:1"


def _build_failed(error: str, tail: list[str]) -> E.BuildResult:
    return E.BuildResult(ok=False, tag="t", error=error, log_tail=tail, failed_step=None)


def test_syntax_failure_message_explains_the_registry_and_the_way_out():
    text = "# syntax=docker/dockerfile:1\nFROM python:3.11\nRUN pip install x\n"
    res = _build_failed(
        "failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: "
        'failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": '
        "dial tcp: lookup registry-1.docker.io: no such host",
        [],
    )
    msg = syntax_failure_message("original", text, text, res)
    assert "`# syntax=docker/dockerfile:1`" in msg and "registry" in msg
    assert "--builtin-frontend" in msg  # nothing in the files needs the newer frontend
    heredoc = "# syntax=docker/dockerfile:1\nFROM alpine\nRUN <<EOF\necho hi\nEOF\n"
    msg = syntax_failure_message("rewritten", heredoc, text, res)
    assert "--builtin-frontend" not in msg and "heredoc (line 3)" in msg
    # No directive, or an unrelated failure: not a syntax problem.
    assert syntax_failure_message("original", "FROM alpine\n", text, res) is None
    assert syntax_failure_message("original", text, text, _build_failed("exit code: 1", ["gcc: not found"])) is None


def test_build_command_lines():
    old = E.Cli("/usr/bin/docker", (20, 10), False)
    argv, env = E.build_command(old, "t:1", "/c/Dockerfile", "/c", no_cache=True)
    assert argv == [
        "/usr/bin/docker",
        "build",
        "--progress=plain",
        "-t",
        "t:1",
        "-f",
        "/c/Dockerfile",
        "--no-cache",
        "/c",
    ]
    assert env == {"DOCKER_BUILDKIT": "1"}
    new = E.Cli("/usr/local/bin/docker", (28, 2), True)
    argv, env = E.build_command(new, "t:1", "/c/Dockerfile", "/c", no_cache=False)
    assert argv[:4] == ["/usr/local/bin/docker", "buildx", "build", "--load"] and env == {}
    argv, env = E.build_command(new, "t:1", "/c/Dockerfile", "/c", no_cache=False, builder="farm")
    assert argv == [
        "/usr/local/bin/docker",
        "buildx",
        "build",
        "--builder",
        "farm",
        "--load",
        "--progress=plain",
        "-t",
        "t:1",
        "-f",
        "/c/Dockerfile",
        "/c",
    ]


def _fake_cli(folder: Path, version: str, buildx: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "docker"
    p.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "Docker version {version}, build abc"; exit 0; fi\n'
        f'if [ "$1" = "buildx" ]; then {"echo github.com/docker/buildx v0.14.0; exit 0" if buildx else "echo unknown command: docker buildx >&2; exit 1"}; fi\n'
        "exit 3\n"
    )
    p.chmod(0o755)
    return p


def test_find_cli_picks_a_capable_docker_and_explains_a_missing_buildx(tmp_path):
    new = _fake_cli(tmp_path / "new", "28.2.2", buildx=False)
    old = _fake_cli(tmp_path / "old", "20.10.24+dfsg1", buildx=False)
    env = {"PATH": f"{new.parent}{os.pathsep}{old.parent}"}
    assert E.find_cli("buildkit", env).path == str(old)  # 28 without buildx cannot run BuildKit builds
    with pytest.raises(E.MeasureError) as e:
        E.find_cli("buildx", env)
    assert "--builder needs the docker buildx plugin" in e.value.message and "28.2" in e.value.message
    with pytest.raises(E.MeasureError) as e:
        E.find_cli("buildkit", {"PATH": str(new.parent)})
    assert "buildx plugin" in e.value.message and "SLIMML_DOCKER" in e.value.message
    with_buildx = _fake_cli(tmp_path / "bx", "27.0.1", buildx=True)
    assert E.find_cli("buildx", {"PATH": str(with_buildx.parent)}).buildx
    assert E.find_cli("buildkit", {"PATH": str(new.parent), "SLIMML_DOCKER": str(old)}).path == str(old)


# -- build output parsing -----------------------------------------------------------------------------------
CLASSIC_FAIL = [
    {"stream": "Step 1/3 : FROM python:3.11-slim"},
    {"stream": "\n"},
    {"stream": " ---> bdc9cc6a62cc\n"},
    {"stream": "Step 2/3 : COPY . ."},
    {"stream": "\n"},
    {"stream": " ---> Using cache\n"},
    {"stream": " ---> 1111aaaa2222\n"},
    {"stream": "Step 3/3 : RUN echo hello && echo to-stderr >&2 && false"},
    {"stream": "\n"},
    {"stream": " ---> Running in 89aed79c24b5\n"},
    {"stream": "\x1b[91mto-stderr\n\x1b[0m"},
    {"stream": "hel"},
    {"stream": "lo\n"},
    {"stream": "\x1b[0mRemoving intermediate container 89aed79c24b5\n"},
    {
        "errorDetail": {
            "code": 1,
            "message": "The command '/bin/sh -c echo hello && false' returned a non-zero code: 1",
        },
        "error": "The command '/bin/sh -c echo hello && false' returned a non-zero code: 1",
    },
]


def test_classic_stream_failing_step_and_tail():
    events = []
    p = E.ClassicStream(lambda k, t: events.append((k, t)))
    for chunk in CLASSIC_FAIL:
        p.feed(chunk)
    p.finish()
    assert p.failed_step == "Step 3/3 : RUN echo hello && echo to-stderr >&2 && false"
    assert p.tail() == ["to-stderr", "hello"]
    assert p.error.endswith("returned a non-zero code: 1")
    assert p.created == [] and p.cached == 1  # the base image's id and the cached step are not ours
    assert ("step", "[3/3] RUN echo hello && echo to-stderr >&2 && false") in events


def test_classic_stream_records_the_images_it_created():
    p = E.ClassicStream()
    for chunk in [
        {"stream": "Step 1/2 : FROM python:3.11 AS builder\n"},
        {"stream": " ---> b5d08a4e7bb2\n"},
        {"stream": "Step 2/2 : RUN make\n"},
        {"stream": " ---> Running in 1234\n"},
        {"stream": " ---> 5555bbbb6666\n"},
        {"aux": {"ID": "sha256:5555"}},
    ]:
        p.feed(chunk)
    assert p.created == ["5555bbbb6666"] and p.error is None and p.image_id == "sha256:5555"


BUILDKIT_FAIL = """\
#1 [internal] load build definition from Dockerfile
#1 sha256:abc
#1 DONE 0.0s
#5 [1/3] FROM docker.io/library/python:3.11-slim
#5 CACHED
#6 [2/3] COPY requirements.txt .
#6 DONE 0.1s
#7 [3/3] RUN pip install -r requirements.txt
#7 0.512 Collecting psycopg2==2.9.9
#7 3.101   Error: pg_config executable not found.
#7 ERROR: executor failed running [/bin/sh -c pip install -r requirements.txt]: exit code: 1
------
 > [3/3] RUN pip install -r requirements.txt:
------
executor failed running [/bin/sh -c pip install -r requirements.txt]: exit code: 1
"""


def test_buildkit_log_failing_step_and_tail():
    log = E.BuildkitLog()
    for line in BUILDKIT_FAIL.splitlines(keepends=True):
        log.feed_line(line)
    step, error, tail = log.failure()
    assert step == "[3/3] RUN pip install -r requirements.txt"
    assert error == "executor failed running [/bin/sh -c pip install -r requirements.txt]: exit code: 1"
    assert tail == ["Collecting psycopg2==2.9.9", "  Error: pg_config executable not found."]
    assert log.cached == 1
    assert "[2/3] COPY requirements.txt ." in log.steps


@pytest.mark.parametrize(
    "created_by, expected",
    [
        ('/bin/sh -c #(nop)  CMD ["python" "main.py"]', 'CMD ["python" "main.py"]'),
        ("/bin/sh -c #(nop) WORKDIR /srv", "WORKDIR /srv"),
        ("/bin/sh -c pip install -r requirements.txt", "RUN pip install -r requirements.txt"),
        ("|1 VERSION=1.2 /bin/sh -c pip install x==${VERSION}", "RUN pip install x==${VERSION}"),
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
        ("COPY . . # buildkit", "COPY . ."),
        ("ENV PATH=/opt/venv/bin:/usr/bin", "ENV PATH=/opt/venv/bin:/usr/bin"),
        ("", "(imported filesystem)"),
    ],
)
def test_instruction_of_history_entries(created_by, expected):
    assert E.instruction_of(created_by) == expected


def test_classic_copy_layers_get_their_dockerfile_text():
    layers = [
        E.Layer("(imported filesystem)", 100, True),
        E.Layer("WORKDIR /app", 0),
        E.Layer("COPY file:3e2ba2b648c1 in .", 95),
        E.Layer("RUN pip install -r requirements.txt", 10),
        E.Layer("COPY dir:b1c9e25c3a81 in .", 564),
    ]
    text = (
        "FROM python:3.11 AS b\nCOPY x y\nFROM python:3.11\nWORKDIR /app\ncopy --chown=1:1 requirements.txt .\n"
        "RUN pip install -r requirements.txt\nCOPY . .\n"
    )
    P.name_copy_layers(layers, text)
    assert [la.instruction for la in layers][2:] == [
        "COPY --chown=1:1 requirements.txt .",
        "RUN pip install -r requirements.txt",
        "COPY . .",
    ]


# -- Dockerfile facts ---------------------------------------------------------------------------------------
def test_final_base_image_follows_stages_and_args():
    text = (
        "ARG CUDA=12.1.0\nFROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS build\nRUN make\n"
        "FROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04 AS base\nFROM base\nCOPY --from=build /x /x\n"
    )
    assert P.final_base_image(text) == "nvidia/cuda:12.1.0-runtime-ubuntu22.04"
    assert P.final_base_image("FROM $UNKNOWN\n") is None


def test_copy_map_and_app_roots(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "main.py").write_text("")
    text = (
        "FROM python:3.11 AS builder\nCOPY . /build\n"
        "FROM python:3.11-slim\nWORKDIR /srv\nCOPY requirements.txt .\nCOPY src/ src/\nCOPY main.py /opt/run.py\n"
        'COPY ["a.py", "b.py", "/srv/lib/"]\nCOPY --from=builder /opt/venv /opt/venv\nCOPY *.cfg /etc/app/\n'
    )
    entries = P.copy_map(text, tmp_path)
    assert entries == [
        P.CopyEntry("requirements.txt", "/srv", "into"),
        P.CopyEntry("src", "/srv/src", "dir"),
        P.CopyEntry("main.py", "/opt/run.py", "file"),
        P.CopyEntry("a.py", "/srv/lib", "into"),
        P.CopyEntry("b.py", "/srv/lib", "into"),
        P.CopyEntry("*.cfg", "/etc/app", "into"),
    ]
    assert P.image_to_context("/srv/src/pkg/mod.py", entries) == "src/pkg/mod.py"
    assert P.image_to_context("/srv/requirements.txt", entries) == "requirements.txt"
    assert P.image_to_context("/opt/run.py", entries) == "main.py"
    assert P.image_to_context("/etc/app/x.cfg", entries) == "x.cfg"
    assert P.image_to_context("/srv/ops/lib.so", entries) is None  # made by a RUN
    assert P.app_roots("/srv", entries) == ["/srv", "/etc/app", "/opt/run.py"]
    assert P.app_roots("/", P.copy_map("FROM x\nCOPY . .\n")) == []  # "/" is no app folder


def test_documented_env_is_what_the_rewrite_adds():
    before = "FROM x\nENV A=1\nENV LEGACY value\n"
    after = "FROM x\nENV A=1 PYTHONUNBUFFERED=1\nENV LEGACY value\nENV WEIGHTS_DIR=/w\n"
    assert P.documented_env(before, after) == {"PYTHONUNBUFFERED", "WEIGHTS_DIR"}


# -- copies of the context: the user's files are never touched -----------------------------------------------
def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
    return out


@pytest.fixture
def project(tmp_path):
    d = tmp_path / "proj"
    (d / "models").mkdir(parents=True)
    (d / "Dockerfile").write_bytes(
        b"FROM python:3.11\r\nWORKDIR /app\r\nCOPY . .\r\nRUN pip install -r requirements.txt\r\n"
        b'CMD ["python", "main.py"]\r\n'
    )
    (d / "requirements.txt").write_text("numpy==1.26.4\n")
    (d / "main.py").write_text("print('hi')\n")
    (d / "util.py").write_text("X = 1\n")
    (d / "run.sh").write_text("#!/bin/sh\nexec python main.py\n")
    (d / "run.sh").chmod(0o755)
    (d / "models" / "w.bin").write_bytes(b"\0" * 100)
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return d


def test_rewrite_and_materialize_never_touch_the_users_files(project):
    before = _tree_digest(project)
    plan = P.rewrite(project, P.RewriteOptions(unsafe_fixes=False))
    res = E.Resources()
    P.materialize(plan, res)
    try:
        assert plan.changed and plan.dockerfile_rel == "Dockerfile"
        assert _tree_digest(project) == before  # nothing written in the user's tree
        # The original copy is the original; the rewrite copy has the rewritten Dockerfile and side files.
        assert (plan.before_context / "Dockerfile").read_bytes() == (project / "Dockerfile").read_bytes()
        after_df = (plan.after_context / "Dockerfile").read_bytes()
        assert after_df != (project / "Dockerfile").read_bytes() and b"\r\n" in after_df
        assert ".dockerignore" in plan.side_files and not (plan.before_context / ".dockerignore").exists()
        assert (plan.after_context / ".dockerignore").read_text() == plan.side_files[".dockerignore"][1]
        assert plan.rewrite_changed == {"Dockerfile", ".dockerignore"}
        assert os.stat(plan.after_context / "run.sh").st_mode & stat.S_IXUSR  # modes kept
        # Editing one twin (write + rename) leaves the other twin and the user's file alone.
        P.apply_source_change(plan.after_context, "main.py", "n1")
        assert (plan.after_context / "main.py").read_text() == "print('hi')\n# slimml measure: source-only change n1\n"
        assert (plan.before_context / "main.py").read_text() == "print('hi')\n"
        assert (project / "main.py").read_text() == "print('hi')\n"
        root = plan.root
    finally:
        res.cleanup()
    assert not root.exists()


def test_context_copy_skips_what_both_dockerignores_exclude(tmp_path):
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "big.csv").write_text("x")
    (src / "keep.py").write_text("")
    (src / "junk.log").write_text("")
    os.mkfifo(src / "a-fifo")  # would block a plain copy
    n = P.copy_context(src, tmp_path / "out", ["data/\n*.log\n", "data/\n"])
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["junk.log", "keep.py"]
    assert n == 2


def test_builtin_frontend_strips_the_directive_only_when_nothing_needs_it(project):
    df = project / "Dockerfile"
    df.write_text(
        "# syntax=docker/dockerfile:1\nFROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n"
    )
    plan = P.rewrite(project, P.RewriteOptions())
    res = E.Resources()
    try:
        P.materialize(plan, res, builtin_frontend=True)
        assert not plan.before_dockerfile.read_text().startswith("# syntax")
        assert any("--builtin-frontend" in n for n in plan.notes)
        assert df.read_text().startswith("# syntax")  # the user's file keeps it
    finally:
        res.cleanup()
    df.write_text("# syntax=docker/dockerfile:1\nFROM python:3.11\nRUN <<EOF\npip install numpy\nEOF\n")
    plan = P.rewrite(project, P.RewriteOptions())
    with pytest.raises(E.MeasureError) as e:
        P.materialize(plan, res, builtin_frontend=True)
    assert "heredoc" in e.value.message
    res.cleanup()


def test_choose_source_file_prefers_the_cmd_module_and_skips_manifests(project):
    text = (project / "Dockerfile").read_text()
    assert P.choose_source_file(project, text, text, None, None) == "main.py"
    gunicorn = text.replace('CMD ["python", "main.py"]', 'CMD ["gunicorn", "util:app"]')
    assert P.choose_source_file(project, gunicorn, gunicorn, None, None) == "util.py"
    only_req = "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    assert P.choose_source_file(project, only_req, only_req, None, None) is None
    # A file the rewrite's .dockerignore excludes is not a source both images copy.
    assert P.choose_source_file(project, text, text, None, "main.py\n") == "util.py"


# -- the probe script (run with this interpreter: it is plain Python) ---------------------------------------
def _probe(mode: str, args: dict, env: dict | None = None) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", probes.PROBE_PY, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {}), "SLIMML_PROBE_ARGS": json.dumps(args)},
    )
    out = probes.parse_output(r.stdout)
    assert out is not None, r.stderr
    return out


def test_probe_imports_survives_crashing_and_hanging_modules(tmp_path):
    (tmp_path / "good_a.py").write_text("print('noise on stdout')\n")
    (tmp_path / "crashes.py").write_text("import os\nos._exit(7)\n")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "raises.py").write_text("raise ImportError('libpq.so.5: cannot open shared object file')\n")
    (tmp_path / "good_b.py").write_text("")
    mods = ["good_a", "crashes", "hangs", "raises", "good_b"]
    out = _probe("imports", {"modules": mods, "per_module": 2, "budget": 60}, {"PYTHONPATH": str(tmp_path)})
    r = out["imports"]
    assert r["good_a"]["ok"] and r["good_b"]["ok"]
    assert r["crashes"]["ok"] is False and "exit 7" in r["crashes"]["error"]
    assert r["hangs"]["ok"] is False and "did not finish" in r["hangs"]["error"]
    assert r["raises"]["error"] == "ImportError: libpq.so.5: cannot open shared object file"


def test_probe_dists_and_files(tmp_path):
    out = _probe("dists", {})
    assert out["dists"]["click"]["top"] == ["click"] and out["info"]["executable"]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.py").write_text("hello")
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    os.symlink("a.py", tmp_path / "app" / "link.py")
    files = _probe("files", {"roots": [str(tmp_path / "app")], "excludes": list(V.FILE_EXCLUDES)})["files"]
    assert sorted(files) == [str(tmp_path / "app" / "a.py"), str(tmp_path / "app" / "link.py")]
    assert files[str(tmp_path / "app" / "a.py")][5] == hashlib.sha256(b"hello").hexdigest()
    assert files[str(tmp_path / "app" / "link.py")][:1] + files[str(tmp_path / "app" / "link.py")][5:] == [
        "link",
        "a.py",
    ]


def test_probe_elf_finds_unresolved_libraries(tmp_path):
    if not Path("/usr/bin/ldd").exists() or not Path("/usr/bin/cc").exists():
        pytest.fail("this test needs ldd and a C compiler (both part of the machine image)")
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "use.c").write_text("int dep(void);\nint use(void) { return dep(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / "libdep.so", tmp_path / "dep.c"], check=True)
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-o", tmp_path / "libuse.so", tmp_path / "use.c", "-L", tmp_path, "-ldep"],
        check=True,
    )
    subprocess.run(["cc", "-c", "-o", tmp_path / "use.o", tmp_path / "use.c"], check=True)
    (tmp_path / "libdep.so").unlink()
    out = _probe("elf", {"roots": [str(tmp_path)], "budget": 100})
    assert out["files"][str(tmp_path / "libuse.so")]["missing"] == ["libdep.so"]
    assert str(tmp_path / "use.o") not in out["files"]  # an object file is never loaded


# -- the command: no engine, interrupts, reports --------------------------------------------------------------
def test_no_engine_is_one_clear_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nRUN pip install numpy\n")
    r = CliRunner().invoke(main, ["measure", str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: no Docker engine reachable at unix://{tmp_path}/nothing.sock; start dockerd or set DOCKER_HOST\n"
    )
    assert r.stdout == ""


class FakeAPI:
    def __init__(self):
        self.removed_images: list[tuple[str, bool]] = []
        self.removed_containers: list[str] = []
        self.tagged = {"sha256:base": ["python:3.11"], "sha256:dangling": []}

    def remove_image(self, ref, force=False):
        self.removed_images.append((ref, force))

    def remove_container(self, cid, force=False, v=False):
        self.removed_containers.append(cid)

    def inspect_image(self, ref):
        if ref not in self.tagged:
            raise LookupError(ref)
        return {"RepoTags": self.tagged[ref]}


class FakeClient:
    def __init__(self):
        self.api = FakeAPI()


def test_ctrl_c_during_a_build_removes_everything(project, monkeypatch):
    client = FakeClient()
    seen = {}

    def interrupted_build(client_, *args, **kw):
        context, dockerfile, tag = args[-3:]  # build_buildkit also takes the CLI first
        seen["context"] = Path(context)
        seen["tag"] = tag
        assert Path(context).exists()
        raise KeyboardInterrupt

    monkeypatch.setattr("slimml.measure.run.build_classic", interrupted_build)
    monkeypatch.setattr("slimml.measure.run.build_buildkit", interrupted_build)
    with pytest.raises(KeyboardInterrupt):
        run_measure(project, MeasureOptions(keep=True), client=client)
    assert not seen["context"].exists()  # the temp copies are gone (even with --keep)
    assert (seen["tag"], True) in client.api.removed_images  # the tag it was building is removed


def test_resources_cleanup_never_removes_tagged_images(tmp_path):
    client = FakeClient()
    res = E.Resources(client)
    res.tags = ["slimml-measure/x:before"]
    res.image_ids = ["sha256:base", "sha256:dangling", "sha256:gone"]
    res.containers = ["c1"]
    res.dirs = [str(tmp_path / "d")]
    (tmp_path / "d").mkdir()
    res.cleanup()
    assert client.api.removed_images == [("slimml-measure/x:before", True), ("sha256:dangling", False)]
    assert client.api.removed_containers == ["c1"] and not (tmp_path / "d").exists()


def test_builder_option_without_buildx_is_a_clear_error(project, tmp_path, monkeypatch):
    new = _fake_cli(tmp_path / "bin", "28.2.2", buildx=False)
    monkeypatch.setenv("PATH", f"{new.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLIMML_DOCKER", str(new))
    report = run_measure(project, MeasureOptions(builder="farm"), client=FakeClient())
    assert report.exit_code == 2 and "--builder needs the docker buildx plugin" in report.error
    assert report.builder == "buildx:farm"


def _report() -> MeasureReport:
    plan = P.Plan(
        dockerfile=Path("/p/Dockerfile"),
        context=Path("/p"),
        changed=True,
        applied={"SLM008": 1, "SLM001": 2},
        unsafe_applied=["SLM008"],
        side_files={".dockerignore": (None, ".git\n")},
    )
    layers_b = [
        E.Layer("(imported filesystem)", 800_000_000, True),
        E.Layer("RUN pip install -r requirements.txt", 200_000_000),
    ]
    layers_a = [
        E.Layer("(imported filesystem)", 190_000_000, True),
        E.Layer("COPY --from=builder /opt/venv /opt/venv", 210_000_000),
    ]
    v = V.Verification(
        "b",
        "a",
        [
            V.Check("config", V.PASS, "match"),
            V.Check("native-libs", V.FAIL, "1 ELF file(s) ...", ["/x/_psycopg.so: libpq.so.5 not found"]),
        ],
    )
    return MeasureReport(
        dockerfile="/p/Dockerfile",
        context="/p",
        plan=plan,
        builder="classic",
        before=ImageReport(
            "before", "t:before", "sha256:1", 1_000_000_000, 30.0, True, "classic", "python:3.11", layers_b, 3, 0
        ),
        after=ImageReport(
            "after", "t:after", "sha256:2", 400_000_000, 35.5, True, "classic", "python:3.11-slim", layers_a, 5, 0
        ),
        rebuild={
            "file": "app.py",
            "verified": True,
            "before_seconds": 20.0,
            "after_seconds": 2.0,
            "speedup": 10.0,
            "no_speedup_reason": None,
            "before_steps": 4,
            "before_cached_steps": 2,
            "after_steps": 6,
            "after_cached_steps": 5,
            "warnings": [],
            "errors": [],
        },
        verification=v,
        exit_code=1,
    )


def test_reports_carry_sizes_layers_rebuild_and_verdict():
    r = _report()
    text = to_text(r)
    assert "before 1.0 GB (1,000,000,000 B)   after 400.0 MB (400,000,000 B)   -60.0% (-600.0 MB)" in text
    assert (
        "rebuild   after editing app.py: before 20.0 s (2 of 4 steps cached), after 2.0 s (5 of 6 steps cached), "
        "10.0x faster (warm cache verified)"
    ) in text
    assert "800.0 MB  base image python:3.11 (1 layer)" in text
    assert "  FAIL  native-libs" in text and "/x/_psycopg.so: libpq.so.5 not found" in text
    assert text.rstrip().endswith("result: FAIL")
    j = to_json(r)
    assert j["size"] == {
        "before": 1_000_000_000,
        "after": 400_000_000,
        "saved": 600_000_000,
        "saved_percent": 60.0,
        "ratio": 0.4,
    }
    assert j["verdict"] == "FAIL" and j["verification"]["checks"][1]["evidence"] == [
        "/x/_psycopg.so: libpq.so.5 not found"
    ]
    assert j["before"]["layers"][1] == {
        "instruction": "RUN pip install -r requirements.txt",
        "size": 200_000_000,
        "base": False,
    }
    assert j["rewrite"]["side_files"] == [".dockerignore"]
    json.dumps(j)  # serialisable
    md = to_markdown(r)
    assert "| image size | 1.0 GB | 400.0 MB | -60.0% |" in md and "**Verification: FAIL**" in md


def test_measure_module_imports_only_click_at_load_time():
    code = (
        "import sys; import slimml.measure.command as c; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('docker', 'rich', 'requests')]; print(bad)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("touch", ["../main.py", "/etc/passwd", "nope.py"])
def test_touch_must_name_a_file_of_the_context_and_fails_before_building(project, monkeypatch, touch):
    def no_build(*a, **kw):
        raise AssertionError("must not build")

    monkeypatch.setattr("slimml.measure.run.build_classic", no_build)
    report = run_measure(project, MeasureOptions(touch=touch), client=FakeClient())
    assert report.exit_code == 2 and report.error.startswith(f"--touch {touch}: not a file in the build context")


# -- `--after`: any two Dockerfiles -------------------------------------------------------------------------
def _two(tmp_path: Path) -> Path:
    d = tmp_path / "ctx"
    d.mkdir()
    (d / "Dockerfile").write_text('FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "main.py"]\n')
    (d / "main.py").write_text("print('hi')\n")
    return d


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.Dockerfile", None, "missing.Dockerfile: no such file"),
        ("", None, "ctx: is a directory"),
        ("bin.Dockerfile", b"FROM x\x00\x01", "bin.Dockerfile: binary file (contains NUL bytes), not a Dockerfile"),
        ("empty.Dockerfile", b"\n  \n", "empty.Dockerfile: empty file"),
        ("notes.txt", b"hello world\n", "notes.txt: not a valid Dockerfile: line 1: unknown instruction 'hello'"),
    ],
)
def test_after_bad_input_is_one_line_exit_2_and_nothing_written(name, content, message, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")  # checked before any engine is needed
    d = _two(tmp_path)
    other = d / name if name else d
    if content is not None:
        other.write_bytes(content)
    before = _tree_digest(d)
    r = CliRunner().invoke(main, ["measure", str(d / "Dockerfile"), "--after", str(other)], catch_exceptions=False)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and r.stderr.rstrip().endswith(message)
    assert _tree_digest(d) == before


def test_after_with_rewrite_options_is_a_usage_error(tmp_path):
    d = _two(tmp_path)
    r = CliRunner().invoke(main, ["measure", str(d), "--after", str(d / "Dockerfile"), "--unsafe-fixes"])
    assert r.exit_code == 2 and "--after compares two given Dockerfiles" in r.stderr


def test_pair_plan_reads_both_files_and_their_own_ignore_files(tmp_path):
    d = _two(tmp_path)
    (d / "docker").mkdir()
    (d / "docker" / "slim.Dockerfile").write_text(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY main.py .\nCMD ["python", "main.py"]\n'
    )
    (d / ".dockerignore").write_text(".git\n")
    (d / "docker" / "slim.Dockerfile.dockerignore").write_text("*.md\n")
    plan = P.pair(d / "Dockerfile", d / "docker" / "slim.Dockerfile", d)
    assert plan.changed and plan.other_rel == "docker/slim.Dockerfile" and plan.dockerfile_rel == "Dockerfile"
    assert (plan.dockerignore_before, plan.dockerignore_after) == (".git\n", "*.md\n")
    assert plan.rewrite_changed == set()  # both files come from the user: neither is "the rewrite's"
    assert "-COPY . .\n+COPY main.py .\n" in plan.diff
    # The same text with another .dockerignore is another image: something to measure.
    (d / "same.Dockerfile").write_text((d / "Dockerfile").read_text())
    (d / "same.Dockerfile.dockerignore").write_text("main.py\n")
    assert P.pair(d / "Dockerfile", d / "same.Dockerfile", d).changed
    (d / "same.Dockerfile.dockerignore").unlink()
    assert not P.pair(d / "Dockerfile", d / "same.Dockerfile", d).changed
    res = E.Resources()
    try:
        P.materialize(plan, res)
        assert plan.after_dockerfile == plan.after_context / "docker" / "slim.Dockerfile"
        assert plan.after_dockerfile.read_text() == (d / "docker" / "slim.Dockerfile").read_text()
    finally:
        res.cleanup()


def test_builder_is_buildkit_whenever_the_engine_has_it(tmp_path, monkeypatch):
    from slimml.measure.run import choose_builder

    old = _fake_cli(tmp_path / "old", "20.10.24", buildx=False)  # builds with DOCKER_BUILDKIT=1
    monkeypatch.setenv("SLIMML_DOCKER", str(old))
    plain = "FROM python:3.11\nCOPY ../requirements.txt .\n"
    mode, reasons, cli, notes = choose_builder([plain])
    assert (mode, reasons, notes) == ("buildkit", [], []) and cli.path == str(old)
    assert choose_builder([plain], buildkit=False)[0] == "classic"  # only when asked
    mount = "FROM python:3.11\nRUN --mount=type=cache,target=/root/.cache pip install x\n"
    with pytest.raises(E.MeasureError):
        choose_builder([mount], buildkit=False)
    monkeypatch.setenv("SLIMML_DOCKER", str(_fake_cli(tmp_path / "new", "28.2.2", buildx=False)))
    mode, _, _, notes = choose_builder([plain])  # no BuildKit here, and the file does not need it
    assert mode == "classic" and notes[0].startswith("BuildKit is not available")
    with pytest.raises(E.MeasureError):
        choose_builder([mount])


def test_rebuild_line_withholds_an_unverified_speedup():
    r = _report()
    r.rebuild.update(
        verified=False,
        speedup=None,
        warnings=["before: 1 step(s) expected from the cache were rebuilt: [2/4] RUN pip install -r requirements.txt"],
        no_speedup_reason="the build cache was not verified warm: no speed-up is reported",
    )
    text = to_text(r)
    assert "after 2.0 s (5 of 6 steps cached); the build cache was not verified warm: no speed-up is reported" in text
    assert "  warning: before: 1 step(s) expected from the cache were rebuilt: [2/4] RUN pip install" in text
    assert "x faster" not in text and "x faster" not in to_markdown(r)


def test_probe_sources_reads_small_text_sources_only(tmp_path):
    app = tmp_path / "app"
    (app / "conf").mkdir(parents=True)
    (app / "main.py").write_text("load('m.h5')\n")
    (app / "conf" / "app.yaml").write_text("model: m.h5\n")
    (app / "run").write_text("#!/bin/sh\nexec python main.py\n")
    (app / "weights.bin").write_bytes(b"\x00" * 100)
    (app / "big.py").write_text("x = 1\n" * 200_000)
    (app / "notes.md").write_text("m.h5\n")
    extra = tmp_path / "entrypoint.sh"
    extra.write_text('#!/bin/sh\nexec "$@"\n')
    out = _probe("sources", {"roots": [str(app)], "extra": [str(extra)], "exts": [".py", ".yaml"], "max_file": 100_000})
    assert sorted(out["sources"]) == sorted(
        str(p) for p in (app / "main.py", app / "conf" / "app.yaml", app / "run", extra)
    )
    assert out["sources"][str(app / "main.py")] == "load('m.h5')\n" and not out["truncated"]


def test_probe_dists_reports_which_paths_exist_and_imports_use_extra_paths(tmp_path):
    out = _probe("dists", {"exists": [str(tmp_path), str(tmp_path / "nope")]})
    assert out["exists"] == {str(tmp_path): True, str(tmp_path / "nope"): False}
    (tmp_path / "own_mod_for_test.py").write_text("VALUE = 1\n")
    got = _probe("imports", {"modules": ["own_mod_for_test"], "per_module": 10, "paths": [str(tmp_path)], "budget": 30})
    assert got["imports"]["own_mod_for_test"]["ok"] is True


def test_netwatch_reads_listening_ports_and_the_first_answer():
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = b'{"label": "cat", "scores": [0.1, 0.9]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    port = str(srv.server_address[1])
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = subprocess.run(
            [sys.executable, "-c", probes.NETWATCH_PY],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SLIMML_PROBE_ARGS": json.dumps({"expected": [port], "only": [port], "budget": 20})},
        )
    finally:
        srv.shutdown()
    out = probes.parse_output(r.stdout)
    assert out is not None, r.stderr
    assert out["ports"] == {port: ["127.0.0.1"]}
    answer = out["responses"][port]
    assert answer["status"] == 200 and answer["ctype"] == "application/json"
    assert answer["shape"] == {"label": "string", "scores": ["number"]}


# -- rebuild timing on a verified warm cache (the build function faked: which steps hit the cache) ----------
REB = "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n"
REB_STEPS = [
    "[1/5] FROM docker.io/library/python:3.11-slim",
    "[2/5] WORKDIR /app",
    "[3/5] COPY requirements.txt .",
    "[4/5] RUN pip install -r requirements.txt",
    "[5/5] COPY . .",
]


def _rebuild_plan(tmp_path: Path) -> P.Plan:
    for side in ("b", "a"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "main.py").write_text("print(1)\n")
        (tmp_path / side / "requirements.txt").write_text("six\n")
    return P.Plan(
        dockerfile=tmp_path / "Dockerfile",
        context=tmp_path,
        before_context=tmp_path / "b",
        after_context=tmp_path / "a",
        before_text=REB,
        after_text=REB,
        changed=True,
    )


def _fake_builds(misses: dict[str, set[int]], seconds: dict[str, float]):
    """A build function: (label) -> BuildResult whose steps miss the cache as ``misses[label]`` says."""
    calls = []

    def build(label, side, tag, no_cache):
        calls.append(label)
        kind = "warm" if "warm" in label else "rebuild"
        miss = misses.get(f"{side} {kind}", set())
        steps = [(s, i + 1 not in miss and i > 0) for i, s in enumerate(REB_STEPS)]
        return E.BuildResult(ok=True, tag=tag, seconds=seconds.get(side, 1.0), step_cache=steps)

    return build, calls


def test_rebuild_speedup_comes_from_a_verified_warm_cache(tmp_path):
    from slimml.measure.run import _UI, _rebuild

    plan, report = _rebuild_plan(tmp_path), MeasureReport(dockerfile="x")
    build, calls = _fake_builds({"before rebuild": {5}, "after rebuild": {5}}, {"before": 12.0, "after": 1.5})
    _rebuild(plan, MeasureOptions(touch="main.py"), _UI(), build, report)
    rb = report.rebuild
    assert rb["verified"] and rb["speedup"] == 8.0 and rb["warnings"] == []
    assert (rb["before_steps"], rb["before_cached_steps"]) == (4, 3)
    assert calls == ["before (warm)", "after (warm)", "before (rebuild)", "after (rebuild)"]
    # The two copies got different edits: a step both files share is not built once for both.
    assert (tmp_path / "b" / "main.py").read_text() != (tmp_path / "a" / "main.py").read_text()


def test_rebuild_says_when_the_cache_did_not_hold_and_gives_no_speedup(tmp_path):
    from slimml.measure.run import _UI, _rebuild

    plan, report = _rebuild_plan(tmp_path), MeasureReport(dockerfile="x")
    build, _ = _fake_builds({"after warm": {4}, "before rebuild": {5}, "after rebuild": {5}}, {"before": 12.0})
    _rebuild(plan, MeasureOptions(touch="main.py"), _UI(), build, report)
    rb = report.rebuild
    assert not rb["verified"] and rb["speedup"] is None
    assert rb["warm"]["after"]["rebuilt"] == ["[4/5] RUN pip install -r requirements.txt"]
    assert rb["warnings"] == [
        "after: 1 step(s) rebuilt without any change (the build cache did not hold): "
        "[4/5] RUN pip install -r requirements.txt"
    ]


def test_rebuild_retries_once_when_a_step_expected_cached_was_rebuilt(tmp_path):
    from slimml.measure.run import _UI, _rebuild

    plan, report = _rebuild_plan(tmp_path), MeasureReport(dockerfile="x")
    # The install step misses the cache on both rebuild attempts (a cache pruned meanwhile, say).
    build, calls = _fake_builds({"before rebuild": {4, 5}, "after rebuild": {5}}, {"before": 12.0})
    _rebuild(plan, MeasureOptions(touch="main.py"), _UI(), build, report)
    rb = report.rebuild
    assert calls.count("before (rebuild)") == 2 and rb["speedup"] is None and not rb["verified"]
    assert rb["unexpected"] == {"before": ["[4/5] RUN pip install -r requirements.txt"], "after": []}
    assert rb["no_speedup_reason"] == "the build cache was not verified warm: no speed-up is reported"
