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
    f = P.features("FROM python:3.11\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\n"
                   "COPY --chmod=755 run.sh /\n")
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
    res = _build_failed("failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: "
                        'failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": '
                        "dial tcp: lookup registry-1.docker.io: no such host", [])
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
    assert argv == ["/usr/bin/docker", "build", "--progress=plain", "-t", "t:1", "-f", "/c/Dockerfile", "--no-cache", "/c"]
    assert env == {"DOCKER_BUILDKIT": "1"}
    new = E.Cli("/usr/local/bin/docker", (28, 2), True)
    argv, env = E.build_command(new, "t:1", "/c/Dockerfile", "/c", no_cache=False)
    assert argv[:4] == ["/usr/local/bin/docker", "buildx", "build", "--load"] and env == {}
    argv, env = E.build_command(new, "t:1", "/c/Dockerfile", "/c", no_cache=False, builder="farm")
    assert argv == ["/usr/local/bin/docker", "buildx", "build", "--builder", "farm", "--load", "--progress=plain",
                    "-t", "t:1", "-f", "/c/Dockerfile", "/c"]


def _fake_cli(folder: Path, version: str, buildx: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "docker"
    p.write_text("#!/bin/sh\n"
                 f'if [ "$1" = "--version" ]; then echo "Docker version {version}, build abc"; exit 0; fi\n'
                 f'if [ "$1" = "buildx" ]; then {"echo github.com/docker/buildx v0.14.0; exit 0" if buildx else "echo unknown command: docker buildx >&2; exit 1"}; fi\n'
                 "exit 3\n")
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
    {"stream": "Step 1/3 : FROM python:3.11-slim"}, {"stream": "\n"}, {"stream": " ---> bdc9cc6a62cc\n"},
    {"stream": "Step 2/3 : COPY . ."}, {"stream": "\n"}, {"stream": " ---> Using cache\n"},
    {"stream": " ---> 1111aaaa2222\n"},
    {"stream": "Step 3/3 : RUN echo hello && echo to-stderr >&2 && false"}, {"stream": "\n"},
    {"stream": " ---> Running in 89aed79c24b5\n"}, {"stream": "\x1b[91mto-stderr\n\x1b[0m"}, {"stream": "hel"},
    {"stream": "lo\n"}, {"stream": "\x1b[0mRemoving intermediate container 89aed79c24b5\n"},
    {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c echo hello && false' returned a non-zero code: 1"},
     "error": "The command '/bin/sh -c echo hello && false' returned a non-zero code: 1"},
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
    for chunk in [{"stream": "Step 1/2 : FROM python:3.11 AS builder\n"}, {"stream": " ---> b5d08a4e7bb2\n"},
                  {"stream": "Step 2/2 : RUN make\n"}, {"stream": " ---> Running in 1234\n"},
                  {"stream": " ---> 5555bbbb6666\n"}, {"aux": {"ID": "sha256:5555"}}]:
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


@pytest.mark.parametrize("created_by, expected", [
    ('/bin/sh -c #(nop)  CMD ["python" "main.py"]', 'CMD ["python" "main.py"]'),
    ("/bin/sh -c #(nop) WORKDIR /srv", "WORKDIR /srv"),
    ("/bin/sh -c pip install -r requirements.txt", "RUN pip install -r requirements.txt"),
    ("|1 VERSION=1.2 /bin/sh -c pip install x==${VERSION}", "RUN pip install x==${VERSION}"),
    ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
    ("COPY . . # buildkit", "COPY . ."),
    ("ENV PATH=/opt/venv/bin:/usr/bin", "ENV PATH=/opt/venv/bin:/usr/bin"),
    ("", "(imported filesystem)"),
])
def test_instruction_of_history_entries(created_by, expected):
    assert E.instruction_of(created_by) == expected


def test_classic_copy_layers_get_their_dockerfile_text():
    layers = [E.Layer("(imported filesystem)", 100, True), E.Layer("WORKDIR /app", 0),
              E.Layer("COPY file:3e2ba2b648c1 in .", 95), E.Layer("RUN pip install -r requirements.txt", 10),
              E.Layer("COPY dir:b1c9e25c3a81 in .", 564)]
    text = "FROM python:3.11 AS b\nCOPY x y\nFROM python:3.11\nWORKDIR /app\ncopy --chown=1:1 requirements.txt .\n" \
           "RUN pip install -r requirements.txt\nCOPY . .\n"
    P.name_copy_layers(layers, text)
    assert [la.instruction for la in layers][2:] == ["COPY --chown=1:1 requirements.txt .",
                                                     "RUN pip install -r requirements.txt", "COPY . ."]


# -- Dockerfile facts ---------------------------------------------------------------------------------------
def test_final_base_image_follows_stages_and_args():
    text = ("ARG CUDA=12.1.0\nFROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS build\nRUN make\n"
            "FROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04 AS base\nFROM base\nCOPY --from=build /x /x\n")
    assert P.final_base_image(text) == "nvidia/cuda:12.1.0-runtime-ubuntu22.04"
    assert P.final_base_image("FROM $UNKNOWN\n") is None


def test_copy_map_and_app_roots(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "main.py").write_text("")
    text = ("FROM python:3.11 AS builder\nCOPY . /build\n"
            "FROM python:3.11-slim\nWORKDIR /srv\nCOPY requirements.txt .\nCOPY src/ src/\nCOPY main.py /opt/run.py\n"
            'COPY ["a.py", "b.py", "/srv/lib/"]\nCOPY --from=builder /opt/venv /opt/venv\nCOPY *.cfg /etc/app/\n')
    entries = P.copy_map(text, tmp_path)
    assert entries == [P.CopyEntry("requirements.txt", "/srv", "into"), P.CopyEntry("src", "/srv/src", "dir"),
                       P.CopyEntry("main.py", "/opt/run.py", "file"), P.CopyEntry("a.py", "/srv/lib", "into"),
                       P.CopyEntry("b.py", "/srv/lib", "into"), P.CopyEntry("*.cfg", "/etc/app", "into")]
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
    (d / "Dockerfile").write_bytes(b"FROM python:3.11\r\nWORKDIR /app\r\nCOPY . .\r\nRUN pip install -r requirements.txt\r\n"
                                   b'CMD ["python", "main.py"]\r\n')
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
    df.write_text("# syntax=docker/dockerfile:1\nFROM python:3.11\nWORKDIR /app\nCOPY . .\n"
                  "RUN pip install -r requirements.txt\n")
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


# -- comparisons ---------------------------------------------------------------------------------------------
CFG = {"Entrypoint": None, "Cmd": ["python", "main.py"], "WorkingDir": "/app", "User": "",
       "ExposedPorts": {"8000/tcp": {}}, "Volumes": None, "Labels": {"org.x": "1"}, "Healthcheck": None,
       "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODEL=small"]}


def _cfg(**kw):
    return {**CFG, **kw}


def test_config_parity_accepts_what_a_rewrite_may_change():
    c = V.compare_config(CFG, _cfg(Env=["PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                        "MODEL=small", "PYTHONUNBUFFERED=1", "WEIGHTS_DIR=/w"]),
                         documented={"WEIGHTS_DIR"})
    assert c.status == V.PASS, c.evidence
    assert any("WEIGHTS_DIR" in e and "documented" in e for e in c.evidence)


@pytest.mark.parametrize("change, needle", [
    ({"Cmd": ["python", "other.py"]}, "ENTRYPOINT/CMD"),
    ({"WorkingDir": "/srv"}, "WORKDIR"),
    ({"User": "nobody"}, "USER"),
    ({"ExposedPorts": None}, "EXPOSE"),
    ({"Labels": {}}, "LABEL org.x"),
    ({"Healthcheck": {"Test": ["CMD", "true"]}}, "HEALTHCHECK"),
    ({"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]}, "ENV MODEL: removed"),
    ({"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODEL=large"]}, "ENV MODEL: 'small' -> 'large'"),
    ({"Env": ["PATH=/usr/bin:/usr/local/bin:/bin", "LANG=C.UTF-8", "MODEL=small"]}, "ENV PATH"),
    ({"Env": [*CFG["Env"], "PYTHONPATH=/x"]}, "ENV PYTHONPATH=/x: added"),
])
def test_config_parity_catches_behaviour_changes(change, needle):
    c = V.compare_config(CFG, _cfg(**change))
    assert c.status == V.FAIL
    assert any(needle in e for e in c.evidence), c.evidence


def test_config_parity_loader_env_fails_even_when_the_rewrite_sets_it_openly():
    c = V.compare_config(CFG, _cfg(Env=[*CFG["Env"], "LD_LIBRARY_PATH=/opt/lib"]), documented={"LD_LIBRARY_PATH"})
    assert c.status == V.FAIL
    assert c.details["failures"] == ["ENV LD_LIBRARY_PATH=/opt/lib: added; it changes what the program loads"]


def test_config_parity_accepts_an_init_script_that_execs_the_original_command():
    files = {"/usr/local/bin/init.sh": '#!/bin/sh\nset -eu\n[ -s /w ] || fetch\nexec "$@"\n',
             "/usr/local/bin/bad.sh": "#!/bin/sh\nfetch\nexec python main.py --other\n"}
    ok = V.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/init.sh"]), read_file_after=files.get)
    assert ok.status == V.PASS and "wrapped by /usr/local/bin/init.sh" in ok.evidence[0]
    sh = V.compare_config(CFG, _cfg(Entrypoint=["/bin/sh", "/usr/local/bin/init.sh"]), read_file_after=files.get)
    assert sh.status == V.PASS
    bad = V.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/bad.sh"]), read_file_after=files.get)
    assert bad.status == V.FAIL
    args = V.compare_config(CFG, _cfg(Entrypoint=["/usr/local/bin/init.sh", "--x"]), read_file_after=files.get)
    assert args.status == V.FAIL


def test_config_parity_env_from_a_new_base_image_is_a_note():
    base_b = {"Env": ["PATH=/usr/bin", "NV_CUDA_LIB_VERSION=12.1.0-1", "LIBRARY_PATH=/usr/local/cuda/lib64/stubs"]}
    base_a = {"Env": ["PATH=/usr/bin"]}
    before = _cfg(Env=[*CFG["Env"], "NV_CUDA_LIB_VERSION=12.1.0-1", "LIBRARY_PATH=/usr/local/cuda/lib64/stubs"])
    c = V.compare_config(before, CFG, base_b=base_b, base_a=base_a)
    assert c.status == V.PASS
    assert sum("comes with the new base image" in e for e in c.evidence) == 2


def _d(name, version, top=()):
    return {"name": name, "version": version, "top": list(top), "location": "/x"}


def test_python_parity():
    before = {"numpy": _d("numpy", "1.26.4", ["numpy"]), "pip": _d("pip", "23.0.1"), "psycopg2": _d("psycopg2", "2.9.9")}
    same = V.compare_dists(before, {"numpy": _d("numpy", "1.26.4"), "psycopg2": _d("psycopg2", "2.9.9"),
                                    "pip": _d("pip", "24.0")})
    assert same.status == V.PASS and any("pip: 23.0.1 -> 24.0 (packaging tool)" in e for e in same.evidence)
    missing = V.compare_dists(before, {"numpy": _d("numpy", "1.26.4")})
    assert missing.status == V.FAIL and missing.details["failures"] == ["psycopg2 2.9.9: missing in the rewrite"]
    moved = V.compare_dists(before, {**before, "numpy": _d("numpy", "2.0.0")})
    assert moved.status == V.FAIL and "numpy: 1.26.4 -> 2.0.0" in moved.evidence
    py = V.compare_dists(before, before, {"version": "3.11.2", "executable": "/usr/bin/python3"},
                         {"version": "3.12.1", "executable": "/opt/venv/bin/python"})
    assert py.status == V.FAIL


def test_modules_to_import_skip_tooling_and_non_modules():
    dists = {"pip": _d("pip", "1", ["pip"]), "scikit-learn": _d("scikit-learn", "1", ["sklearn"]),
             "weird": _d("weird", "1", ["tests", "__pycache__", "ok_mod", "not-valid"])}
    assert V.modules_to_import(dists) == ["ok_mod", "sklearn"]


def test_import_parity():
    b = {"numpy": {"ok": True}, "psycopg2": {"ok": True}, "broken": {"ok": False, "error": "x"}}
    ok = V.compare_imports(b, {"numpy": {"ok": True}, "psycopg2": {"ok": True}})
    assert ok.status == V.PASS and ok.summary == "all 2 top-level modules import"
    bad = V.compare_imports(b, {"numpy": {"ok": True}, "psycopg2": {
        "ok": False, "error": "ImportError: libpq.so.5: cannot open shared object file"}})
    assert bad.status == V.FAIL and "psycopg2: ImportError: libpq.so.5" in bad.evidence[0]


def test_elf_parity_matches_files_across_site_folders():
    info_b = {"real_executable": "/usr/bin/python3.11", "stdlib": ["/usr/lib/python3.11"], "prefix": "/usr"}
    info_a = {**info_b, "prefix": "/opt/venv"}
    so = "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"
    eb = {"python": info_b, "files": {f"/usr/local/lib/python3.11/dist-packages/{so}": {"missing": []},
                                      "/usr/lib/python3.11/lib-dynload/_ssl.so": {"missing": []},
                                      "/app/ops/lib.so": {"missing": ["libgomp.so.1"]}}}
    ea = {"python": info_a, "files": {f"/opt/venv/lib/python3.11/site-packages/{so}": {"missing": ["libpq.so.5"]},
                                      "/usr/lib/python3.11/lib-dynload/_ssl.so": {"missing": []},
                                      "/app/ops/lib.so": {"missing": ["libgomp.so.1"]}}}
    c = V.compare_elf(eb, ea, ["/app"])
    assert c.status == V.FAIL
    assert c.details["failures"] == [f"/opt/venv/lib/python3.11/site-packages/{so}: libpq.so.5 not found"]
    assert any("already had unresolved" in e for e in c.evidence)  # lib.so was broken in the original too
    fixed = {**ea, "files": {**ea["files"], f"/opt/venv/lib/python3.11/site-packages/{so}": {"missing": []}}}
    assert V.compare_elf(eb, fixed, ["/app"]).status == V.PASS


def _f(content="x", mode=0o644, kind="file"):
    return [kind, mode, 0, 0, len(content), hashlib.sha256(content.encode()).hexdigest()]


def test_app_file_parity_lists_deliberate_removals_and_fails_on_others():
    entries = [P.CopyEntry(".", "/app", "dir")]
    opts = V.VerifyOptions(copy_map=entries, dockerignore_before=None, dockerignore_after="notebooks/\n",
                           weights_moved=True, rewrite_changed={"Dockerfile"})
    b = {"/app/main.py": _f("print()"), "/app/Dockerfile": _f("FROM a"), "/app/models/w.safetensors": _f("w"),
         "/app/notebooks/n.ipynb": _f("{}"), "/app/run.sh": _f("#!", 0o755)}
    a = {"/app/main.py": _f("print()"), "/app/Dockerfile": _f("FROM b"), "/app/run.sh": _f("#!", 0o755),
         "/app/.dockerignore": _f("notebooks/")}
    c = V.compare_files({"files": b}, {"files": a}, opts)
    assert c.status == V.PASS, c.evidence
    assert c.details["removed"] == {"model weights moved out of the image (SLM010)": ["/app/models/w.safetensors"],
                                    "excluded by the rewritten .dockerignore": ["/app/notebooks/n.ipynb"]}
    assert c.details["changed_by_rewrite"] == ["/app/Dockerfile"] and c.details["added"] == ["/app/.dockerignore"]
    broken = {**a, "/app/run.sh": _f("#!", 0o644)}
    del broken["/app/main.py"]
    c = V.compare_files({"files": b}, {"files": broken}, opts)
    assert c.status == V.FAIL
    assert c.details["failures"] == ["/app/main.py: missing in the rewrite", "/app/run.sh: mode 755 -> 644"]
    # Without SLM010 a dropped weight file is a failure.
    opts.weights_moved = False
    c = V.compare_files({"files": b}, {"files": a}, opts)
    assert "/app/models/w.safetensors: missing in the rewrite" in c.details["failures"]


def test_missing_ancestors_are_the_highest_missing_folders():
    after = {"/app/main.py": 1, "/app/models/keep.txt": 1}
    paths = ["/app/models/a/w.bin", "/app/models/a/b/x.bin", "/app/data/d.csv", "/app/models/top.bin"]
    assert V._missing_ancestors(paths, after, ["/app"]) == ["/app/models/a", "/app/data", "/app/models/top.bin"]


@pytest.mark.parametrize("argv, resolved, expected", [
    (["uvicorn", "app:app"], {"uvicorn": ("/opt/venv/bin/uvicorn", "#!/opt/venv/bin/python"),
                              "python3": ("/usr/bin/python3", "")}, "/opt/venv/bin/python"),
    (["python3", "-m", "uvicorn", "server:app"], {"python3": ("/usr/bin/python3", "")}, "/usr/bin/python3"),
    (["/bin/sh", "-c", "exec gunicorn -b 0.0.0.0:80 app:app"],
     {"gunicorn": ("/usr/local/bin/gunicorn", "#!/usr/bin/env python3"), "python3": ("/usr/local/bin/python3", "")},
     "/usr/local/bin/python3"),
    (["/usr/local/bin/init.sh", "python", "main.py"],
     {"/usr/local/bin/init.sh": ("/usr/local/bin/init.sh", "#!/bin/sh"), "python": ("/usr/bin/python", "")},
     "/usr/bin/python"),
    (["./server"], {"./server": ("./server", ""), "python3": ("/usr/bin/python3", "")}, "/usr/bin/python3"),
    (["node", "x.js"], {"node": ("/usr/bin/node", "")}, None),
])
def test_pick_interpreter(argv, resolved, expected):
    assert V.pick_interpreter(argv, resolved)[0] == expected


# -- the probe script (run with this interpreter: it is plain Python) ---------------------------------------
def _probe(mode: str, args: dict, env: dict | None = None) -> dict:
    r = subprocess.run([sys.executable, "-c", probes.PROBE_PY, mode], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **(env or {}), "SLIMML_PROBE_ARGS": json.dumps(args)})
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
    assert files[str(tmp_path / "app" / "link.py")][:1] + files[str(tmp_path / "app" / "link.py")][5:] == ["link", "a.py"]


def test_probe_elf_finds_unresolved_libraries(tmp_path):
    if not Path("/usr/bin/ldd").exists() or not Path("/usr/bin/cc").exists():
        pytest.fail("this test needs ldd and a C compiler (both part of the machine image)")
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "use.c").write_text("int dep(void);\nint use(void) { return dep(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / "libdep.so", tmp_path / "dep.c"], check=True)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / "libuse.so", tmp_path / "use.c", "-L", tmp_path, "-ldep"],
                   check=True)
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
    assert r.stderr == (f"error: no Docker engine reachable at unix://{tmp_path}/nothing.sock; "
                        "start dockerd or set DOCKER_HOST\n")
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

    def interrupted_build(client_, context, dockerfile, tag, **kw):
        seen["context"] = Path(context)
        seen["tag"] = tag
        assert Path(context).exists()
        raise KeyboardInterrupt

    monkeypatch.setattr("slimml.measure.run.build_classic", interrupted_build)
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
    plan = P.Plan(dockerfile=Path("/p/Dockerfile"), context=Path("/p"), changed=True, applied={"SLM008": 1, "SLM001": 2},
                  unsafe_applied=["SLM008"], side_files={".dockerignore": (None, ".git\n")})
    layers_b = [E.Layer("(imported filesystem)", 800_000_000, True), E.Layer("RUN pip install -r requirements.txt", 200_000_000)]
    layers_a = [E.Layer("(imported filesystem)", 190_000_000, True), E.Layer("COPY --from=builder /opt/venv /opt/venv", 210_000_000)]
    v = V.Verification("b", "a", [V.Check("config", V.PASS, "match"),
                                  V.Check("native-libs", V.FAIL, "1 ELF file(s) ...", ["/x/_psycopg.so: libpq.so.5 not found"])])
    return MeasureReport(
        dockerfile="/p/Dockerfile", context="/p", plan=plan, builder="classic",
        before=ImageReport("before", "t:before", "sha256:1", 1_000_000_000, 30.0, True, "classic", "python:3.11", layers_b, 3, 0),
        after=ImageReport("after", "t:after", "sha256:2", 400_000_000, 35.5, True, "classic", "python:3.11-slim", layers_a, 5, 0),
        rebuild={"file": "app.py", "before_seconds": 20.0, "after_seconds": 2.0, "speedup": 10.0, "errors": []},
        verification=v, exit_code=1)


def test_reports_carry_sizes_layers_rebuild_and_verdict():
    r = _report()
    text = to_text(r)
    assert "before 1.0 GB (1,000,000,000 B)   after 400.0 MB (400,000,000 B)   -60.0% (-600.0 MB)" in text
    assert "rebuild   after editing app.py: before 20.0 s, after 2.0 s (10.0x faster)" in text
    assert "800.0 MB  base image python:3.11 (1 layer)" in text
    assert "  FAIL  native-libs" in text and "/x/_psycopg.so: libpq.so.5 not found" in text
    assert text.rstrip().endswith("result: FAIL")
    j = to_json(r)
    assert j["size"] == {"before": 1_000_000_000, "after": 400_000_000, "saved": 600_000_000, "saved_percent": 60.0,
                         "ratio": 0.4}
    assert j["verdict"] == "FAIL" and j["verification"]["checks"][1]["evidence"] == ["/x/_psycopg.so: libpq.so.5 not found"]
    assert j["before"]["layers"][1] == {"instruction": "RUN pip install -r requirements.txt", "size": 200_000_000,
                                        "base": False}
    assert j["rewrite"]["side_files"] == [".dockerignore"]
    json.dumps(j)  # serialisable
    md = to_markdown(r)
    assert "| image size | 1.0 GB | 400.0 MB | -60.0% |" in md and "**Verification: FAIL**" in md


def test_measure_module_imports_only_click_at_load_time():
    code = ("import sys; import slimml.measure.command as c; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('docker', 'rich', 'requests')]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("touch", ["../main.py", "/etc/passwd", "nope.py"])
def test_touch_must_name_a_file_of_the_context_and_fails_before_building(project, monkeypatch, touch):
    def no_build(*a, **kw):
        raise AssertionError("must not build")

    monkeypatch.setattr("slimml.measure.run.build_classic", no_build)
    report = run_measure(project, MeasureOptions(touch=touch), client=FakeClient())
    assert report.exit_code == 2 and report.error.startswith(f"--touch {touch}: not a file in the build context")
