"""SLM010 on weights a download stage fetched (``COPY --from=<stage>``), archives ``ADD`` unpacks or
not, ``git lfs``, and base images that ship huggingface_hub. The breaking cases come first."""

from __future__ import annotations

import io
import tarfile

import pytest

from slimml.engine import Applicability
from slimml.weights.initscript import manifest

from .test_rule_model_weights import _fix, _notes

SCRIPT = "docker-entrypoint-weights.sh"
DL = (
    "FROM python:3.11-slim AS download\n"
    "RUN pip install --no-cache-dir huggingface_hub\n"
    "RUN huggingface-cli download org/m --local-dir /models/m\n\n"
)


def _final(copy: str, rest: str = "") -> str:
    return (
        "FROM python:3.11-slim\nRUN pip install --no-cache-dir transformers\n"
        + copy
        + "\n"
        + rest
        + 'CMD ["python", "app.py"]\n'
    )


# -- COPY --from=<download stage>: what must stay a note --------------------------------------------
@pytest.mark.parametrize(
    "stage, copy, rest, why",
    [
        # the stage also writes into the copied folder
        (DL + "COPY config.json /models/m/\n", "COPY --from=download /models /models", "", "also writes there"),
        (
            DL.replace("\n\n", "\nRUN python quantize.py /models/m /models/q\n\n"),
            "COPY --from=download /models /models",
            "",
            "quantize.py",
        ),
        (
            DL.replace("\n\n", "\nRUN echo done > /models/m/READY\n\n"),
            "COPY --from=download /models /models",
            "",
            "READY",
        ),
        (DL.replace("\n\n", "\nRUN rm -f /models/m/*.bin\n\n"), "COPY --from=download /models /models", "", "rm -f"),
        # a build step after the COPY reads the weights (conversion, warm-up)
        (
            DL,
            "COPY --from=download /models /models",
            "RUN python -c \"import x; x.load('/models/m')\"\n",
            "later build step",
        ),
        (
            DL,
            "COPY --from=download /models /models",
            "RUN python convert.py /models/m/model.safetensors /app/q.bin\n",
            "later build step",
        ),
        # a variable with no default in the COPY's source
        (DL, "ARG MODEL_DIR\nCOPY --from=download ${MODEL_DIR} /models", "", "no default"),
        # part of the download only
        (DL, "COPY --from=download /models/m/model.safetensors /app/", "", "part of what"),
        # a stage base that may hold files there
        (
            DL.replace("python:3.11-slim AS", "example.com/ml/tools:1 AS"),
            "COPY --from=download /models /models",
            "",
            "may already hold",
        ),
        # the stage copies the whole HOME: pip's cache and more go with it
        (
            DL.replace("--no-cache-dir ", "").replace(
                "huggingface-cli download org/m --local-dir /models/m", "huggingface-cli download org/m"
            ),
            "COPY --from=download /root /root",
            "",
            "fill",
        ),
        (
            DL.replace("\n\n", "\nRUN pip install --no-cache-dir --target /models/lib tokenizers\n\n"),
            "COPY --from=download /models /models",
            "",
            "pip install",
        ),
        (
            DL.replace("RUN pip", "WORKDIR /models\nCOPY download.py .\nRUN pip"),
            "COPY --from=download /models /models",
            "",
            "COPY download.py",
        ),
        (DL, "COPY --from=download / /", "", "fill"),
        (DL, "COPY --from=download --parents /models /", "", "--parents"),
        # an unknown download in the stage
        (
            DL.replace("huggingface-cli download org/m --local-dir /models/m", "./fetch-weights.sh /models/m"),
            "COPY --from=download /models /models",
            "",
            "",
        ),
    ],
)
def test_stage_copies_that_cannot_move_get_a_note_and_no_edit(tmp_path, stage, copy, rest, why):
    src = stage + _final(copy, rest)
    result, side = _fix(
        tmp_path, src, {"config.json": "{}", "app.py": "", "quantize.py": "", "convert.py": "", "download.py": ""}
    )
    assert result.output == src and not side
    if why:
        assert any(why in n for n in _notes(result)), _notes(result)


def test_the_download_stage_becomes_the_init_script_recipe_and_is_dropped(tmp_path):
    src = "# syntax=docker/dockerfile:1\n" + DL + _final("COPY --from=download /models /models")
    result, side = _fix(tmp_path, src)
    assert result.output == (
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim\n"
        "RUN pip install --no-cache-dir transformers\n"
        "COPY docker-entrypoint-weights.sh /usr/local/bin/\n"
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh"]\n'
        'CMD ["python", "app.py"]\n'
    )
    (s,) = manifest(side[SCRIPT])
    assert (s.kind, s.repo, s.target, s.is_dir) == ("hf", "org/m", "/models/m", True)
    (fix,) = {f.fix for f in result.findings if f.fix}
    assert fix.applicability is Applicability.UNSAFE and "stage" in fix.reason


@pytest.mark.parametrize(
    "copy, target",
    [
        ("COPY --from=download /models/m /srv/weights", "/srv/weights"),
        ("COPY --from=download /models/ /opt/models/", "/opt/models/m"),
        ("ARG WEIGHTS=/models\nCOPY --from=download ${WEIGHTS} /w", "/w/m"),
        ("COPY --from=0 /models /models", "/models/m"),
    ],
)
def test_targets_follow_the_copy(tmp_path, copy, target):
    result, side = _fix(tmp_path, DL + _final(copy))
    (s,) = manifest(side[SCRIPT])
    assert s.target == target
    assert "FROM python:3.11-slim AS download" not in result.output


def test_a_stage_that_also_builds_what_the_image_copies_stays_without_its_download(tmp_path):
    stage = DL.replace(
        "RUN pip install --no-cache-dir huggingface_hub\n",
        "RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir huggingface_hub flask\n",
    )
    src = stage + _final("COPY --from=download /venv /venv\nCOPY --from=download /models /models")
    result, side = _fix(tmp_path, src)
    out = result.output
    assert "FROM python:3.11-slim AS download" in out and "COPY --from=download /venv /venv" in out
    assert "huggingface-cli download" not in out and "COPY --from=download /models" not in out
    assert manifest(side[SCRIPT])[0].repo == "org/m"


def test_a_stage_another_stage_builds_on_keeps_its_download(tmp_path):
    src = DL + "FROM download AS quantized\nRUN python /q.py\n\n" + _final("COPY --from=download /models /models")
    result, side = _fix(tmp_path, src)
    assert "huggingface-cli download org/m" in result.output
    assert "COPY --from=download /models" not in result.output
    (fix,) = {f.fix for f in result.findings if f.fix}
    assert "still downloads the weights at build time" in fix.reason


def test_the_download_stages_packages_do_not_count_for_the_image(tmp_path):
    """The stage installs huggingface_hub; the image does not: no fix (the script could not download)."""
    src = (
        DL + "FROM python:3.11-slim\nRUN pip install --no-cache-dir flask\nCOPY --from=download /models /models\n"
        'CMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side
    assert "huggingface_hub" in _notes(result)[0]


@pytest.mark.parametrize(
    "redirect, moved",
    [
        ("> /dev/null 2>&1", True),
        ("2>/dev/null", True),
        ("< /dev/null", True),
        ("&& echo ok > /w/STATUS", False),
        ('&& echo ok >> "$LOG"', False),
    ],
)
def test_redirections_in_the_stage(tmp_path, redirect, moved):
    src = (
        "FROM alpine:3.20 AS weights\nRUN apk add --no-cache curl\n"
        f"RUN curl -fsSL -o /w/model.onnx https://x.io/model.onnx {redirect}\n"
        'FROM python:3.11-slim\nCOPY --from=weights /w /w\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert (SCRIPT in side) is moved, _notes(result)


def test_curl_and_mkdir_in_an_alpine_stage(tmp_path):
    src = (
        "FROM alpine:3.20 AS weights\n"
        "RUN apk add --no-cache curl && mkdir -p /w && curl -fsSL -o /w/model.onnx https://x.io/model.onnx\n"
        'FROM python:3.11-slim\nCOPY --from=weights /w/model.onnx /app/model.onnx\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert (s.uri, s.target) == ("https://x.io/model.onnx", "/app/model.onnx")
    assert "alpine" not in result.output


def test_hub_cache_copied_whole(tmp_path):
    src = (
        "FROM python:3.11-slim AS dl\nRUN pip install --no-cache-dir huggingface_hub\n"
        "RUN python -c \"from huggingface_hub import snapshot_download; snapshot_download('org/m')\"\n"
        + _final("COPY --from=dl /root/.cache/huggingface /root/.cache/huggingface")
    )
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert s.repo == "org/m" and not s.target and s.cache_env  # the image's own hub cache, as before
    (tmp_path / "b").mkdir()
    moved = _fix(
        tmp_path / "b", src.replace("/root/.cache/huggingface /root/.cache/huggingface", "/root/.cache/huggingface /hf")
    )[1]
    (s,) = manifest(moved[SCRIPT])
    assert s.guard == {"default": "/hf/hub"} and not s.cache_env


# -- base images that ship huggingface_hub -----------------------------------------------------------------
_HF = "RUN huggingface-cli download org/m --local-dir /models/m\n"


def test_vllm_with_its_own_entrypoint_gets_the_fix_not_a_false_hf_hub_note(tmp_path):
    dl = "RUN python3 -c \"from huggingface_hub import snapshot_download as s; s('org/m', local_dir='/models/m')\"\n"
    src = (
        "FROM vllm/vllm-openai:v0.6.3\n" + dl + 'ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]\n'
        'CMD ["--model", "/models/m"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert not _notes(result)
    assert (
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh", "python3", "-m", '
        '"vllm.entrypoints.openai.api_server"]\nCMD ["--model", "/models/m"]\n'
    ) in result.output


def test_vllm_without_an_entrypoint_is_a_note_its_entrypoint_depends_on_the_version(tmp_path):
    src = "FROM vllm/vllm-openai:latest\n" + _HF + 'CMD ["--model", "/models/m"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side
    (note,) = _notes(result)
    assert "depends on the image's version" in note and "huggingface_hub" not in note


def test_tgi_keeps_its_launcher_and_its_cmd(tmp_path):
    src = "FROM ghcr.io/huggingface/text-generation-inference:2.4.0\n" + _HF
    result, side = _fix(tmp_path, src)
    assert result.output.endswith(
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint-weights.sh", "text-generation-launcher"]\n'
        'CMD ["--json-output"]\n'
    )


def test_pytorch_image_has_python_but_not_huggingface_hub(tmp_path):
    # (a `huggingface-cli` that ran at build time proves the package; Python code does not)
    dl = "RUN python -c \"from huggingface_hub import snapshot_download; snapshot_download('org/m')\"\n"
    src = "FROM pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n" + dl + 'CMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src
    assert "huggingface_hub" in _notes(result)[0]
    with_hub = src.replace(dl, "RUN pip install --no-cache-dir huggingface_hub\n" + dl)
    (tmp_path / "b").mkdir()
    result, side = _fix(tmp_path / "b", with_hub)
    assert SCRIPT in side


# -- archives ----------------------------------------------------------------------------------------------------
def _tgz(files: dict[str, bytes], mode: str = "w:gz", links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


_W = {"bert/model.safetensors": b"\0" * 4096, "bert/config.json": b"{}"}


def _add(line: str) -> str:
    return (
        f"FROM python:3.11-slim\nRUN pip install --no-cache-dir transformers\n{line}\nCOPY app.py /app/\n"
        'CMD ["python", "/app/app.py"]\n'
    )


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_a_local_archive_add_unpacks_is_moved_out(tmp_path, mode):
    src = _add("ADD bert.tar.gz /models/")
    result, side = _fix(tmp_path, src, {"bert.tar.gz": _tgz(_W, mode), "app.py": ""})
    assert "ADD bert.tar.gz" not in result.output
    (s,) = manifest(side[SCRIPT])
    assert (s.target, s.is_dir, s.context_path, s.uri) == ("/models/bert", True, "bert.tar.gz", "")
    assert "bert.tar.gz" in side[".dockerignore"]
    (fix,) = {f.fix for f in result.findings if f.fix}
    assert "tar -xf bert.tar.gz" in fix.reason


@pytest.mark.parametrize(
    "archive, line, why",
    [
        (_tgz({**_W, "bert/handler.py": b"print(1)"}), "ADD bert.tar.gz /models/", "code"),
        (_tgz(_W, links={"bert/latest": "/etc/passwd"}), "ADD bert.tar.gz /models/", "links"),
        (_tgz({"model.safetensors": b"\0" * 4096}), "ADD bert.tar.gz /app/", "next to other files"),
    ],
)
def test_archives_that_cannot_move(tmp_path, archive, line, why):
    src = _add(line)
    result, side = _fix(tmp_path, src, {"bert.tar.gz": archive, "app.py": ""})
    assert result.output == src and not side
    assert why in _notes(result)[0]


@pytest.mark.parametrize(
    "files",
    [
        {"bert.tar.gz": b"\x1f\x8b" + b"not a tar at all"},  # gzip magic, not a tar: ADD copies it as it is
        {"bert.tar.gz": _tgz({"notes/readme.txt": b"hi"})},  # an archive without weights
    ],
)
def test_adds_that_are_no_weight_archives_are_left_alone(tmp_path, files):
    src = _add("ADD bert.tar.gz /models/")
    result, side = _fix(tmp_path, src, {**files, "app.py": ""})
    assert result.output == src and not result.findings


def test_add_unpack_false_copies_the_archive_as_it_is(tmp_path):
    src = "# syntax=docker/dockerfile:1.17\n" + _add("ADD --unpack=false bert.tar.gz /models/")
    result, side = _fix(tmp_path, src, {"bert.tar.gz": _tgz(_W), "app.py": ""})
    assert result.output == src and not result.findings


def test_a_remote_archive_is_not_unpacked_by_docker_and_the_script_fetches_the_file(tmp_path):
    src = _add("ADD https://example.com/files/bert-model.tar.gz /models/")
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert (s.uri, s.target, s.is_dir) == (
        "https://example.com/files/bert-model.tar.gz",
        "/models/bert-model.tar.gz",
        False,
    )
    unpacked = _add("ADD --unpack=true https://example.com/files/bert-model.tar.gz /models/bert/")
    (tmp_path / "u").mkdir()
    result, side = _fix(tmp_path / "u", unpacked)
    (s,) = manifest(side[SCRIPT])
    assert (s.target, s.is_dir) == ("/models/bert", True)


def test_a_remote_archive_a_later_step_unpacks_is_a_note(tmp_path):
    src = _add("ADD https://example.com/bert-model.tar.gz /tmp/\nRUN tar -xzf /tmp/bert-model.tar.gz -C /models")
    result, side = _fix(tmp_path, src)
    assert result.output == src and "later build step" in _notes(result)[0]
    other = _add("ADD https://github.com/org/tool/archive/v1.tar.gz /src/")  # not a model archive
    (tmp_path / "o").mkdir()
    assert not _fix(tmp_path / "o", other)[0].findings


# -- git lfs ------------------------------------------------------------------------------------------------------
_CLONE = "https://huggingface.co/org/m"


@pytest.mark.parametrize(
    "run",
    [
        f"RUN GIT_LFS_SKIP_SMUDGE=1 git clone {_CLONE} /models/m && cd /models/m && git lfs pull",
        f"RUN git lfs install && git clone {_CLONE} /models/m && git -C /models/m lfs pull",
        f"RUN git lfs install && git lfs clone {_CLONE} /models/m",
        f"RUN git clone {_CLONE} /models/m && cd /models/m && git lfs pull && cd /",
    ],
)
def test_a_clone_completed_by_git_lfs_pull_is_one_hub_download(tmp_path, run):
    src = "FROM python:3.11-slim\nRUN pip install --no-cache-dir transformers\n" + run + '\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert "clone" not in result.output and "lfs pull" not in result.output
    (s,) = manifest(side[SCRIPT])
    assert (s.kind, s.repo, s.target) == ("hf", "org/m", "/models/m")


@pytest.mark.parametrize(
    "run, why",
    [
        # only some LFS files are fetched: the others stay pointer files
        (
            f"RUN GIT_LFS_SKIP_SMUDGE=1 git clone {_CLONE} /models/m && cd /models/m && git lfs pull --include '*.onnx'",
            "GIT_LFS_SKIP_SMUDGE",
        ),
        # the commands after the pull run inside the clone
        (f"RUN git clone {_CLONE} /models/m && cd /models/m && git lfs pull && python convert.py", "works in"),
        # a repository that is no hub repository (code and LFS files)
        ("RUN git clone https://github.com/org/app /app && cd /app && git lfs pull", "git lfs pull"),
    ],
)
def test_lfs_pulls_that_cannot_move(tmp_path, run, why):
    src = "FROM python:3.11-slim\nRUN pip install --no-cache-dir transformers\n" + run + '\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side
    assert any(why in n for n in _notes(result)), _notes(result)


def test_git_lfs_in_a_download_stage(tmp_path):
    src = (
        "FROM alpine/git:2.45.2 AS weights\nRUN git lfs install && git clone "
        + _CLONE
        + " /w/m\n\n"
        + _final("COPY --from=weights /w/m /models/m")
    )
    result, side = _fix(tmp_path, src)
    assert "alpine/git" not in result.output
    (s,) = manifest(side[SCRIPT])
    assert (s.repo, s.target) == ("org/m", "/models/m")


def test_a_stage_built_on_an_image_stage_that_downloads_there_too(tmp_path):
    src = (
        "FROM python:3.11-slim AS base\nRUN pip install --no-cache-dir transformers huggingface_hub\n"
        "RUN huggingface-cli download org/a --local-dir /models/a\n"
        "FROM base AS dl\nRUN huggingface-cli download org/m --local-dir /models/m\n"
        'FROM base\nCOPY --from=dl /models /models\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    # First the image's own download goes (the stage's COPY would take it too: a note); once it
    # is gone, the stage's COPY takes only the stage's download and goes as well.
    assert any("also downloads there" in n for n in _notes(result))
    assert "COPY --from=dl" not in result.output and "huggingface-cli" not in result.output
    assert {s.repo for s in manifest(side[SCRIPT])} == {"org/a", "org/m"}


def test_a_build_secret_of_the_download_stage_is_named_in_the_reason(tmp_path):
    src = DL.replace("RUN huggingface-cli", "RUN --mount=type=secret,id=hf,env=HF_TOKEN huggingface-cli") + _final(
        "COPY --from=download /models /models"
    )
    result, side = _fix(tmp_path, "# syntax=docker/dockerfile:1\n" + src)
    (fix,) = {f.fix for f in result.findings if f.fix}
    assert "build secret" in fix.reason


# -- later steps that need what only the download made ------------------------------------------------------
@pytest.mark.parametrize(
    "later, moved",
    [
        ("RUN chown -R nobody /models", False),  # /models existed only through the download
        ("RUN cd /models && ls", False),
        ("RUN rm /models/m/README.md", False),  # rm without -f fails once the file is gone
        ("RUN rm -rf /models/m/.git", True),
        ("RUN mkdir -p /models && chown -R nobody /models", True),  # made again by the step itself
        ("WORKDIR /models\nRUN chown -R nobody /models", True),
        ("RUN chown -R nobody /models && mkdir -p /models", False),  # made again, but too late
    ],
)
def test_later_steps_on_the_folder_the_download_made(tmp_path, later, moved):
    src = (
        "FROM python:3.11-slim\nRUN pip install --no-cache-dir huggingface_hub\n"
        "RUN huggingface-cli download org/m --local-dir /models/m\n" + later + '\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    assert (SCRIPT in side) is moved, _notes(result)
    staged = DL + _final("COPY --from=download /models /models", later + "\n")
    (tmp_path / "s").mkdir()
    result, side = _fix(tmp_path / "s", staged)
    assert (SCRIPT in side) is moved, _notes(result)


def test_a_bucket_download_in_a_stage_needs_the_cli_in_the_image(tmp_path):
    stage = "FROM amazon/aws-cli:2.17.0 AS dl\nRUN aws s3 cp s3://bucket/m.onnx /w/m.onnx\n"
    src = stage + 'FROM python:3.11-slim\nCOPY --from=dl /w /w\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and "no aws CLI" in _notes(result)[0]
    with_cli = src.replace("COPY --from", "RUN pip install --no-cache-dir awscli\nCOPY --from")
    (tmp_path / "b").mkdir()
    result, side = _fix(tmp_path / "b", with_cli)
    (s,) = manifest(side[SCRIPT])
    assert (s.kind, s.uri, s.target) == ("cmd", "s3://bucket/m.onnx", "/w/m.onnx")


def test_a_hub_login_in_the_stage_writes_only_its_token_and_asks_for_hf_token(tmp_path):
    stage = DL.replace(
        "RUN huggingface-cli download",
        "ARG HF_TOKEN=x\nRUN huggingface-cli login --token $HF_TOKEN\nRUN huggingface-cli download",
    )
    result, side = _fix(tmp_path, stage + _final("COPY --from=download /models /models"))
    (fix,) = {f.fix for f in result.findings if f.fix}
    assert "HF_TOKEN" in fix.reason
    # ... but a COPY of the Hub's home takes the token too
    cache = stage.replace(" --local-dir /models/m", "")
    (tmp_path / "c").mkdir()
    result, side = _fix(tmp_path / "c", cache + _final("COPY --from=download /root/.cache/huggingface /hf"))
    assert not side and "login" in _notes(result)[0]


def test_a_pipe_into_tee_in_a_dropped_stage(tmp_path):
    stage = DL.replace("--local-dir /models/m", "--local-dir /models/m | tee /tmp/download.log")
    result, side = _fix(tmp_path, stage + _final("COPY --from=download /models /models"))
    assert manifest(side[SCRIPT])[0].target == "/models/m" and "AS download" not in result.output


def test_an_add_of_remote_weights_in_a_scratch_stage(tmp_path):
    src = (
        "FROM scratch AS w\nADD https://x.io/m.safetensors /m/\n"
        'FROM python:3.11-slim\nCOPY --from=w /m /opt/m\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert (s.uri, s.target) == ("https://x.io/m.safetensors", "/opt/m/m.safetensors")
    assert "scratch" not in result.output


@pytest.mark.parametrize("where", ["download", "copy"])
def test_a_suppression_on_the_download_or_the_copy_keeps_the_weights(tmp_path, where):
    src = DL + _final("COPY --from=download /models /models")
    line = "RUN huggingface-cli" if where == "download" else "COPY --from"
    src = src.replace(line, "# slimml: ignore[SLM010]\n" + line)
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side


# -- download, unpack, remove ------------------------------------------------------------------------------------
_GET = "wget -q https://x.io/bert-model.tar.gz -O /tmp/m.tar.gz"


@pytest.mark.parametrize(
    "run",
    [
        f"RUN {_GET} && tar -xzf /tmp/m.tar.gz -C /models/bert && rm /tmp/m.tar.gz",
        f"RUN {_GET} && mkdir -p /models/bert && tar xzf /tmp/m.tar.gz --directory=/models/bert && rm -f /tmp/m.tar.gz",
        f"RUN {_GET} && tar --extract --gzip --file /tmp/m.tar.gz --directory /models/bert && rm /tmp/m.tar.gz",
        "RUN wget -q https://x.io/bert-model.zip -O /tmp/m.zip && unzip -q /tmp/m.zip -d /models/bert && rm /tmp/m.zip",
    ],
)
def test_a_downloaded_archive_unpacked_and_removed_is_one_archive_download(tmp_path, run):
    src = "FROM python:3.11-slim\nRUN pip install --no-cache-dir onnxruntime\n" + run + '\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert "x.io" not in result.output and "tar" not in result.output.split("CMD")[0].split("onnxruntime")[1]
    (s,) = manifest(side[SCRIPT])
    assert (s.target, s.is_dir, s.uri.split("/")[-1]) == ("/models/bert", True, run.split("x.io/")[1].split()[0])


@pytest.mark.parametrize(
    "run",
    [
        f"RUN {_GET} && tar -xzf /tmp/m.tar.gz -C /models/bert",  # the archive stays in the image too
        f"RUN {_GET} && tar -xzf /tmp/m.tar.gz --strip-components=1 -C /models/bert && rm /tmp/m.tar.gz",
        f"RUN {_GET} && tar -xzf /tmp/m.tar.gz -C /models/bert bert/model.onnx && rm /tmp/m.tar.gz",  # one member
        f"RUN {_GET} && tar -xzf /tmp/m.tar.gz -C / && rm /tmp/m.tar.gz",  # into / itself
        f"RUN {_GET} && tar -tzf /tmp/m.tar.gz && rm /tmp/m.tar.gz",  # lists, does not unpack
        f"RUN mkdir -p /models/bert && {_GET} && cd /models/bert && tar -xzf /tmp/m.tar.gz && rm /tmp/m.tar.gz",
    ],
)
def test_unpacks_that_are_not_exactly_an_archive_download_stay_notes(tmp_path, run):
    src = "FROM python:3.11-slim\nRUN pip install --no-cache-dir onnxruntime\n" + run + '\nCMD ["python", "app.py"]\n'
    result, side = _fix(tmp_path, src)
    assert result.output == src and not side, side.get(SCRIPT, "")[-300:]
    assert _notes(result)


def test_an_unpacked_archive_in_a_download_stage(tmp_path):
    src = (
        "FROM python:3.11 AS w\n"
        f"RUN {_GET} && mkdir -p /w/bert && tar -xzf /tmp/m.tar.gz -C /w/bert && rm /tmp/m.tar.gz\n"
        'FROM python:3.11-slim\nCOPY --from=w /w /models\nCMD ["python", "app.py"]\n'
    )
    result, side = _fix(tmp_path, src)
    (s,) = manifest(side[SCRIPT])
    assert (s.target, s.is_dir, s.uri) == ("/models/bert", True, "https://x.io/bert-model.tar.gz")


def test_a_download_stage_with_weights_delivered_as_an_image(tmp_path):
    """weights-delivery = "image": the service loses the stage and the COPY; the weights image
    fetches the same repository into the same place."""
    src = DL + _final("COPY --from=download /models /models")
    result, side = _fix(tmp_path, src, options={"min-bytes": 0, "weights-delivery": "image"})
    assert "AS download" not in result.output and "COPY --from" not in result.output
    assert SCRIPT not in side and "docker-entrypoint" not in result.output
    weights = side["weights.Dockerfile"]
    assert '"repo": "org/m"' in weights and '"target": "/models/m"' in weights
