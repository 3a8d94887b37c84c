"""SLM010 model-weights: what is detected, what the rewrite does, and that the result runs."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.engine import Applicability, fix_text
from slimml.rules import model_weights
from slimml.weights.initscript import manifest

from .oracle import assert_agrees

SCRIPT = "docker-entrypoint-weights.sh"


def _fix(
    tmp_path: Path,
    dockerfile: str,
    files: dict[str, str | bytes] | None = None,
    unsafe: bool = True,
    options: dict | None = None,
    name: str = "Dockerfile",
    context: Path | None = None,
):
    for rel, content in (files or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    df = tmp_path / name
    df.parent.mkdir(parents=True, exist_ok=True)
    df.write_text(dockerfile)
    settings = Settings(select=("SLM010",), unsafe_fixes=unsafe, rule_options={"SLM010": options or {"min-bytes": 0}})
    ctx = Context(settings=settings, dockerfile=df, context_dir=context or tmp_path)
    result = fix_text(dockerfile, ctx, str(df))
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    side = {Path(k).name: a for k, (b, a) in result.side_files.items() if a != b}
    return result, side


def _notes(result) -> list[str]:
    return [f.note for f in result.findings if f.fix is None]


# -- removing the download from a RUN ---------------------------------------------------------------
@pytest.mark.parametrize(
    "run, expected",
    [
        ("RUN wget -q https://x.io/m.onnx -O /m/m.onnx && pip install x && echo ok", "RUN pip install x && echo ok"),
        ("RUN pip install x && wget -q https://x.io/m.onnx -O /m/m.onnx && echo ok", "RUN pip install x && echo ok"),
        ("RUN pip install x && wget -q https://x.io/m.onnx -O /m/m.onnx", "RUN pip install x"),
        ("RUN pip install x; wget -q https://x.io/m.onnx -O /m/m.onnx; echo ok", "RUN pip install x; echo ok"),
        (
            "RUN set -e; wget -q https://x.io/m.onnx -O /m/m.onnx > /dev/null 2>&1 && pip install x",
            "RUN set -e; pip install x",
        ),
        (
            "RUN pip install x \\\n    && wget -q https://x.io/m.onnx -O /m/m.onnx \\\n    && echo ok",
            "RUN pip install x \\\n    && echo ok",
        ),
        ("RUN wget -q https://x.io/m.onnx -O /m/m.onnx || true", None),  # the whole RUN goes
    ],
)
def test_the_download_is_cut_out_of_the_chain(tmp_path, run, expected):
    src = f'FROM python:3.11\n{run}\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    body = result.output.split("\n", 1)[1]
    if expected is None:
        assert body.startswith("COPY " + SCRIPT)
    else:
        assert body.startswith(expected + "\nCOPY " + SCRIPT + " /usr/local/bin/\n")
    assert manifest(side[SCRIPT])[0].uri == "https://x.io/m.onnx"


@pytest.mark.parametrize(
    "run, why",
    [
        ("RUN wget -q https://x.io/m.onnx -O /m/m.onnx || echo failed && pip install x", "`||`"),
        ("RUN if true; then wget -q https://x.io/m.onnx -O /m/m.onnx; fi", "condition or loop"),
        ("RUN (cd /m && wget -q https://x.io/m.onnx)", "subshell"),
        ("RUN wget -q -O- https://x.io/m.onnx | gzip -9 > /m/m.gz", "standard output"),
        ("RUN curl --header 'Authorization: Bearer x' -o /m/m.onnx https://x.io/m.onnx", "--header"),
        ("RUN wget -q https://x.io/m.tar.gz.onnx -O /m/a.onnx && tar -xf /m/a.onnx -C /m", "later build step"),
    ],
)
def test_downloads_that_cannot_be_cut_out_get_a_note(tmp_path, run, why):
    src = f'FROM python:3.11\n{run}\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side
    (note,) = _notes(result)
    assert why in note


def test_a_later_rm_of_the_clone_goes_with_it_but_a_later_user_blocks(tmp_path):
    src = (
        "FROM python:3.11\nRUN pip install transformers\n"
        "RUN git clone https://huggingface.co/org/m /m/x && rm -rf /m/x/.git && pip list\n"
        'CMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert "RUN pip list\n" in result.output
    (src_,) = manifest(side[SCRIPT])
    assert (src_.kind, src_.repo, src_.target) == ("hf", "org/m", "/m/x")
    blocked = src.replace("&& pip list", "&& python /m/x/convert.py")
    result, side = _fix(tmp_path / "b", blocked)
    assert result.output == blocked and "later build step" in _notes(result)[0]


# -- ENTRYPOINT and CMD ---------------------------------------------------------------------------------------
_DL = "RUN wget -q https://x.io/m.onnx -O /m/m.onnx\n"


def test_shell_form_entrypoint_keeps_its_shell_and_ignores_cmd_as_before(tmp_path):
    src = (
        "FROM python:3.11\n"
        + _DL
        + 'SHELL ["/bin/bash", "-c"]\nENTRYPOINT exec python serve.py "$PORT"\nCMD ["ignored"]\n'
    )
    result, _ = _fix(tmp_path, src)
    assert result.output.endswith(
        "COPY docker-entrypoint-weights.sh /usr/local/bin/\n"
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh", "/bin/bash", "-c", '
        '"exec python serve.py \\"$PORT\\""]\nCMD ["ignored"]\n'
    )
    # `sh -c CMD ARGS`: CMD words become $0.. of the shell, unused by the command -- as before.


def test_empty_exec_entrypoint(tmp_path):
    src = "FROM python:3.11\n" + _DL + 'ENTRYPOINT []\nCMD ["python", "app.py"]\n'
    result, _ = _fix(tmp_path, src)
    assert 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh"]\nCMD ["python", "app.py"]\n' in result.output


def test_entrypoint_and_cmd_inherited_from_a_parent_stage(tmp_path):
    src = 'FROM python:3.11 AS base\nENTRYPOINT ["python"]\nCMD ["app.py"]\n\nFROM base\n' + _DL
    result, _ = _fix(tmp_path, src)
    # A new ENTRYPOINT resets the inherited CMD: it is repeated.
    assert result.output.endswith(
        "FROM base\nCOPY docker-entrypoint-weights.sh /usr/local/bin/\n"
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh", "python"]\nCMD ["app.py"]\n'
    )


def test_no_command_in_the_dockerfile_means_no_fix(tmp_path):
    src = "FROM python:3.11\n" + _DL
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side and "base image" in _notes(result)[0]


def test_the_base_image_entrypoint_is_mentioned(tmp_path):
    src = (
        "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN apt-get update && apt-get install -y python3\n"
        + _DL
        + 'CMD ["python3", "app.py"]\n'
    )
    result, _ = _fix(tmp_path, src)
    (f,) = result.applied
    assert "/opt/nvidia/nvidia_entrypoint.sh" in f.fix.reason


# -- what the image can download with ------------------------------------------------------------------------
def test_no_download_tool_in_the_image_means_no_fix(tmp_path):
    src = 'FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nADD https://x.io/model.onnx /models/\nCMD ["/opt/server"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and "no python3, curl or wget" in _notes(result)[0]
    ok = src.replace("ADD", "RUN apt-get update && apt-get install -y curl\nADD")
    result, side = _fix(tmp_path / "ok", ok)
    assert "ADD" not in result.output and SCRIPT in side


def test_hub_downloads_need_huggingface_hub_in_the_image(tmp_path):
    src = (
        "FROM python:3.11-slim\nRUN pip install onnxruntime\n"
        "RUN python -c \"from huggingface_hub import snapshot_download; snapshot_download('org/x')\"\n"
        'CMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert not side and "huggingface_hub" in _notes(result)[0]
    # a requirements file in the context that brings it counts
    _, side = _fix(
        tmp_path / "r",
        src.replace("pip install onnxruntime", "pip install -r requirements.txt"),
        files={"requirements.txt": "onnxruntime\nsentence-transformers>=3\n"},
    )
    assert SCRIPT in side


def test_distroless_base_has_no_shell_for_the_script(tmp_path):
    src = 'FROM gcr.io/distroless/python3\nADD https://x.io/model.onnx /models/\nCMD ["app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert not side and "no /bin/sh" in _notes(result)[0]


# -- the build context ---------------------------------------------------------------------------------------
def test_real_byte_count_and_min_bytes(tmp_path):
    files = {"models/a.safetensors": b"x" * 3000, "models/config.json": b"{}", "app.py": "print(1)\n"}
    src = 'FROM python:3.11\nCOPY models/ /srv/models/\nCOPY app.py /srv/\nCMD ["python", "/srv/app.py"]\n'
    result, side = _fix(tmp_path, src, files, options={"min-bytes": 2000})
    (f,) = result.findings
    assert f.estimate == (3002, 3002) and "3.0 KB" in f.message
    assert side[".dockerignore"] == "# added by slimml (SLM010)\nmodels/\n"
    result, side = _fix(tmp_path / "big", src, files, options={"min-bytes": 4000})
    assert result.findings == [] and not side


def test_script_excluded_by_dockerignore_is_re_included(tmp_path):
    files = {"w.onnx": b"x" * 10, ".dockerignore": "*.sh\n", "app.py": ""}
    src = 'FROM python:3.11\nCOPY w.onnx app.py /srv/\nCMD ["python", "/srv/app.py"]\n'
    result, side = _fix(tmp_path, src, files)
    assert "COPY app.py /srv/\n" in result.output
    assert side[".dockerignore"] == "*.sh\n\n# added by slimml (SLM010)\nw.onnx\n!docker-entrypoint-weights.sh\n"


def test_dockerfile_in_a_subfolder_and_outside_the_context(tmp_path):
    src = "FROM python:3.11\n" + _DL + 'CMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src, name="docker/gpu.Dockerfile")
    assert "COPY docker/docker-entrypoint-weights-gpu.sh /usr/local/bin/\n" in result.output
    assert "docker-entrypoint-weights-gpu.sh" in side
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    result, side = _fix(tmp_path, src, name="elsewhere/Dockerfile", context=ctx_dir)
    assert not side and "outside the build context" in _notes(result)[0]


def test_a_script_not_written_by_slimml_is_left_alone(tmp_path):
    src = "FROM python:3.11\n" + _DL + 'CMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src, files={SCRIPT: '#!/bin/sh\nexec "$@"\n'})
    assert not side and "not written by slimml" in _notes(result)[0]


def test_suppression_and_safe_mode(tmp_path):
    src = "FROM python:3.11\n# slimml: ignore[SLM010]\n" + _DL + 'CMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.findings == [] and not side
    src = "FROM python:3.11\n" + _DL + 'CMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path / "safe", src, unsafe=False)
    assert result.output == src and not side
    (f,) = result.findings
    assert f.fix.applicability is Applicability.UNSAFE
    for needle in (
        "docker run -v model-weights:/m",
        "compose: volumes:",
        "PersistentVolumeClaim",
        "slimml: ignore[SLM010]",
        "separate weights image",
    ):
        assert needle in f.fix.reason


def test_cache_mounts_and_builder_stages_bake_nothing(tmp_path):
    src = (
        "FROM python:3.11 AS convert\nRUN wget -q https://x.io/m.onnx -O /m/m.onnx\n\n"
        "FROM python:3.11\nRUN --mount=type=cache,target=/m wget -q https://x.io/m.onnx -O /m/m.onnx\n"
        'CMD ["python", "app.py"]\n'
    )
    result, _ = _fix(tmp_path, src)
    assert result.findings == []


def test_build_args_in_the_source_are_called_out(tmp_path):
    src = (
        "FROM python:3.11\nRUN pip install awscli\nARG VERSION=7\n"
        'RUN aws s3 cp s3://b/ranker-v${VERSION}.onnx /m/ranker.onnx\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert s.uri == "s3://b/ranker-v7.onnx" and s.argv == ["aws", "s3", "cp", "{URI}", "{PATH}"]
    assert "build arguments (VERSION)" in result.applied[0].fix.reason


def test_docs_sections():
    doc = model_weights.__doc__
    for section in ("What it does", "Why", "Example", "Use instead"):
        assert f"\n{section}\n" in doc


# -- end to end: the rewritten Dockerfile's script really fetches what the build did --------------------------
def test_end_to_end_the_generated_script_fetches_the_same_file(tmp_path):
    payload = b"weights!" * 64
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/m/model.bin"
        src = (
            f"FROM python:3.11\nWORKDIR /srv\nRUN mkdir -p /models && wget -q {url} -P /models && chmod -R a+r /models\n"
            'CMD ["python", "app.py"]\n'
        )
        result, side = _fix(tmp_path, src)
        assert "RUN mkdir -p /models && chmod -R a+r /models\n" in result.output
        script = tmp_path / "out.sh"
        script.write_text(side[SCRIPT])
        (s,) = manifest(side[SCRIPT])
        assert s.target == "/models/model.bin" and s.uri == url
        target = tmp_path / "vol" / "model.bin"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), f"WEIGHTS_{s.name}_PATH": str(target)}
        r = subprocess.run(["/bin/sh", str(script), "cat", str(target)], env=env, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == payload and hits == ["/m/model.bin"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_python_module_downloaders(tmp_path):
    src = (
        "FROM python:3.11\nRUN pip install nltk huggingface_hub\n"
        "RUN python -m nltk.downloader -d /usr/local/share/nltk_data punkt wordnet\n"
        "RUN python3 -m huggingface_hub.commands.huggingface_cli download org/m cfg.json --local-dir /m\n"
        'CMD ["python", "app.py"]\n'
    )
    _, side = _fix(tmp_path, src)
    nltk_src, hf_src = manifest(side[SCRIPT])
    assert nltk_src.kind == "python" and nltk_src.guard == {"default": "/usr/local/share/nltk_data"}
    assert nltk_src.code == (
        'import nltk\nnltk.download("punkt", download_dir="/usr/local/share/nltk_data")\n'
        'nltk.download("wordnet", download_dir="/usr/local/share/nltk_data")'
    )
    assert (hf_src.repo, hf_src.mode, hf_src.files, hf_src.target) == ("org/m", "files", ["cfg.json"], "/m")


def test_arg_values_do_not_cross_stages_but_env_does(tmp_path):
    src = (
        "FROM python:3.11 AS base\nARG REPO=org/from-base-arg\nENV CACHE=/hf\nRUN pip install huggingface_hub\n\n"
        "FROM base\nRUN huggingface-cli download ${REPO:-org/default} --cache-dir $CACHE\n"
        'CMD ["python", "app.py"]\n'
    )
    _, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert s.repo == "org/default" and s.guard == {"default": "/hf"}


def test_weights_copied_next_to_code_are_not_moved(tmp_path):
    files = {"app/model.pt": b"x" * 50, "app/main.py": "print(1)\n"}
    src = 'FROM python:3.11\nCOPY app/ /app/\nCMD ["python", "/app/main.py"]\n'
    result, side = _fix(tmp_path, src, files)
    assert not side and "together with code (app/main.py)" in _notes(result)[0]
    src2 = 'FROM python:3.11\nWORKDIR /app\nCOPY weights/ .\nCOPY main.py .\nCMD ["python", "main.py"]\n'
    result, side = _fix(tmp_path / "w", src2, {"weights/model.pt": b"x" * 50, "main.py": "print(1)\n"})
    assert not side and "into /app itself" in _notes(result)[0]


def test_script_arguments_from_unknown_build_args_are_unknown(tmp_path):
    files = {"dl.py": "import sys\nfrom huggingface_hub import snapshot_download\nsnapshot_download(sys.argv[1])\n"}
    src = (
        "FROM python:3.11\nARG MODEL\nRUN pip install huggingface_hub\nCOPY dl.py .\nRUN python dl.py $MODEL\n"
        'CMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src, files)
    assert not side and "sys.argv[1]" in _notes(result)[0]
    result, side = _fix(tmp_path / "known", src.replace("ARG MODEL", "ARG MODEL=org/known"), files)
    assert manifest(side[SCRIPT])[0].repo == "org/known"


def test_a_later_step_whose_script_names_the_weights_blocks_the_fix(tmp_path):
    files = {
        "models/encoder.onnx": "w" * 64,
        "check_model.py": "import onnx\nonnx.load('/models/encoder.onnx')\n",
        "serve.py": "print(1)\n",
    }
    src = (
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY models/ /models/\nCOPY check_model.py serve.py ./\n"
        'RUN python check_model.py\nCMD ["python", "serve.py"]\n'
    )
    result, side = _fix(tmp_path, src, files)
    assert result.output == src and not side
    assert any("`check_model.py`, which names /models/encoder.onnx" in f.note for f in result.findings)
