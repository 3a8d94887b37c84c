"""SLM010 with ``weights-delivery = "image"``: the weights image, its deployment snippets, the option.

The weights leave the service image as with the init script, but go into an image of their own
(FROM scratch) that Kubernetes mounts as an image volume, KServe as a modelcar, Docker as an image
mount or through a volume container. The Docker build and run is in test_docker_weights_image.py.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import dockerfile as buildkit
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from slimml import dockerignore as DI
from slimml.cli import main
from slimml.engine import Applicability
from slimml.rules import model_weights
from slimml.weights import artifact
from slimml.weights.initscript import manifest
from slimml.weights.sources import Source

from .oracle import assert_agrees
from .test_rule_model_weights import _fix as fix_rule

IMAGE = {"weights-delivery": "image", "min-bytes": 0}

# The part of the Kubernetes API the snippet relies on (core/v1 Volume, ImageVolumeSource,
# VolumeMount; apps/v1 Deployment), written from the API reference: unknown keys are errors, so a
# misspelt field (mountpath, pullpolicy) fails here rather than in the cluster.
_VOLUME_MOUNT = {
    "type": "object",
    "required": ["name", "mountPath"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "mountPath": {"type": "string", "pattern": "^/"},
        "readOnly": {"type": "boolean"},
        "subPath": {"type": "string", "pattern": "^[^/]"},
    },
}
_IMAGE_VOLUME = {
    "type": "object",
    "required": ["name", "image"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "image": {
            "type": "object",
            "required": ["reference"],
            "additionalProperties": False,
            "properties": {
                "reference": {"type": "string", "minLength": 1},
                "pullPolicy": {"enum": ["Always", "Never", "IfNotPresent"]},
            },
        },
    },
}
_ENV = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
    },
}
_CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "env": _ENV,
        "volumeMounts": {"type": "array", "items": _VOLUME_MOUNT},
    },
}
DEPLOYMENT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "apps/v1"},
        "kind": {"const": "Deployment"},
        "spec": {
            "type": "object",
            "required": ["selector", "template"],
            "properties": {
                "selector": {"type": "object", "required": ["matchLabels"]},
                "template": {
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["containers"],
                            "properties": {
                                "containers": {"type": "array", "minItems": 1, "items": _CONTAINER},
                                "volumes": {"type": "array", "items": _IMAGE_VOLUME},
                            },
                        }
                    },
                },
            },
        },
    },
}
INFERENCE_SERVICE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "properties": {
                "predictor": {
                    "type": "object",
                    "required": ["containers"],
                    "properties": {"containers": {"type": "array", "minItems": 1, "items": _CONTAINER}},
                }
            },
        },
    },
}
COMPOSE_IMAGE_VOLUME = {
    "type": "object",
    "required": ["type", "source", "target"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "image"},
        "source": {"type": "string"},
        "target": {"type": "string", "pattern": "^/"},
        "read_only": {"const": True},
        "image": {"type": "object", "additionalProperties": False, "properties": {"subpath": {"type": "string"}}},
    },
}


def _fix(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] | None = None, options: dict | None = None):
    """SLM010 on ``dockerfile`` in ``tmp_path`` (image delivery unless ``options`` say otherwise)."""
    return fix_rule(tmp_path, dockerfile, files, options=options or IMAGE)


def _notes(result) -> list[str]:
    return [f.note for f in result.findings if f.fix is None]


SERVICE = (
    "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    'COPY models/ /app/models/\nCOPY serve.py .\nCMD ["python", "serve.py"]\n'
)
FILES = {
    "requirements.txt": "numpy\n",
    "serve.py": "print(open('/app/models/m.safetensors','rb').read(4))\n",
    "models/m.safetensors": b"\x00" * 4096,
    "models/config.json": "{}\n",
}


def _cmds(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The instructions as BuildKit's parser reads them: (keyword, flags + arguments)."""
    return [(c.cmd.upper(), tuple(c.flags) + tuple(c.value)) for c in buildkit.parse_string(text)]


def _k8s_docs(text: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    jsonschema.validate(docs[0], DEPLOYMENT)
    jsonschema.validate(docs[1], INFERENCE_SERVICE)
    return docs


# -- the option --------------------------------------------------------------------------------------------
def test_the_default_delivery_is_unchanged(tmp_path):
    assert model_weights.OPTIONS["weights-delivery"][0] == "init-script"
    result, side = _fix(tmp_path, SERVICE, FILES, options={"min-bytes": 0})
    assert "docker-entrypoint-weights.sh" in side and "weights.Dockerfile" not in side
    result, side = _fix(tmp_path, SERVICE, FILES, options={"min-bytes": 0, "weights-delivery": "init-script"})
    assert "docker-entrypoint-weights.sh" in side


@pytest.mark.parametrize(
    "toml, message",
    [
        ('weights-delivery = "oci"', 'weights-delivery must be one of "init-script", "image" (got "oci")'),
        ("weights-delivery = 1", 'weights-delivery must be one of "init-script", "image" (got 1)'),
        ('weights-delivery = "Image"', '(got "Image")'),
        ('min-bytes = "10MB"', 'min-bytes must be a whole number of bytes (got "10MB")'),
        ("min-bytes = -1", "min-bytes must be a whole number of bytes (got -1)"),
    ],
)
def test_a_bad_option_value_is_a_one_line_error_and_nothing_is_written(tmp_path, toml, message):
    for rel, content in FILES.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "Dockerfile").write_text(SERVICE)
    (tmp_path / ".slimml.toml").write_text(f"[rules.SLM010]\n{toml}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(main, ["fix", "--write", "--unsafe-fixes", str(tmp_path / "Dockerfile")])
    assert r.exit_code == 2
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "Dockerfile").read_text() == SERVICE


# -- the service and the weights image -----------------------------------------------------------------
def test_the_service_loses_the_weights_and_gets_no_init_script(tmp_path):
    result, side = _fix(tmp_path, SERVICE, FILES)
    assert "COPY models/" not in result.output
    assert "ENTRYPOINT" not in result.output and "docker-entrypoint" not in result.output
    assert 'CMD ["python", "serve.py"]' in result.output
    assert set(side) == {
        ".dockerignore",
        "weights.Dockerfile",
        "weights.Dockerfile.dockerignore",
        "weights.k8s.yaml",
        "weights.compose.yaml",
    }
    assert "models/" in side[".dockerignore"].splitlines()
    [fix] = {id(f.fix): f.fix for f in result.findings if f.fix}.values()
    assert fix.applicability == Applicability.UNSAFE
    assert "must mount it read-only at /app/models: without it the service finds no weights" in fix.reason


def test_the_weights_image_is_from_scratch_with_the_same_files(tmp_path):
    _, side = _fix(tmp_path, SERVICE, FILES)
    text = side["weights.Dockerfile"]
    assert_agrees(text)
    cmds = _cmds(text)
    stages = [v for k, v in cmds if k == "FROM"]
    assert stages == [
        ("scratch", "AS", "weights"),
        ("busybox:1.36", "AS", "modelcar"),
        ("scratch", "AS", "docker-volume"),
        ("weights",),
    ]
    # the default target (the last stage) is the weights image: the weights at its root
    first = cmds[: cmds.index(("FROM", ("busybox:1.36", "AS", "modelcar")))]
    assert first == [("FROM", ("scratch", "AS", "weights")), ("COPY", ("models/", "/"))]
    assert ("VOLUME", ("/app/models",)) in cmds and ("COPY", ("--from=weights", "/", "/app/models/")) in cmds
    # only the weights are sent to its build
    assert side["weights.Dockerfile.dockerignore"].splitlines()[1:] == ["*", "!models"]
    # it keeps its sources, and SLM010 leaves it alone
    assert [s.context_path for s in manifest(text, artifact.MARKER)] == ["models/"]
    assert "# slimml: ignore-file[SLM010]" in text.splitlines()


def test_what_the_service_build_left_out_stays_out_of_the_weights_image(tmp_path):
    files = {
        **FILES,
        ".dockerignore": "**/*.md\nmodels/*.tmp\n!models/keep.tmp\n.git\n",
        "models/notes.md": "x\n",
        "models/a.tmp": "x\n",
        "models/keep.tmp": "x\n",
    }
    _, side = _fix(tmp_path, SERVICE, files)
    lines = side["weights.Dockerfile.dockerignore"].splitlines()
    assert lines[1:3] == ["*", "!models"]
    assert lines[4:] == ["**/*.md", "models/*.tmp", "!models/keep.tmp", ".git"]
    # the line SLM010 adds to the service's ignore file is not inherited: it would leave the weights out
    for name, text in side.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "Dockerfile").write_text(SERVICE.replace("COPY models/ /app/models/", "COPY more/ /opt/more/"))
    _, side2 = _fix(
        tmp_path, SERVICE.replace("COPY models/ /app/models/", "COPY more/ /opt/more/"), {"more/w.onnx": b"\x03" * 4096}
    )
    lines = side2["weights.Dockerfile.dockerignore"].splitlines()
    assert "models/" not in lines and "more/" not in lines and {"!models", "!more"} <= set(lines)
    pats = DI.parse_patterns(side2["weights.Dockerfile.dockerignore"])
    for path, out in [
        ("models/m.safetensors", False),
        ("models/notes.md", True),
        ("models/a.tmp", True),
        ("models/keep.tmp", False),
        ("more/w.onnx", False),
        ("serve.py", True),
    ]:
        assert DI.is_excluded(path, pats) is out, path


def test_the_kubernetes_snippet_mounts_the_image_read_only_where_the_app_reads(tmp_path):
    _, side = _fix(tmp_path, SERVICE, FILES)
    text = side["weights.k8s.yaml"]
    assert "ImageVolume" in text and ">= 1.31" in text
    deploy, kserve = _k8s_docs(text)
    spec = deploy["spec"]["template"]["spec"]
    [vol] = spec["volumes"]
    assert vol["image"]["pullPolicy"] == "IfNotPresent"
    ref = vol["image"]["reference"]
    assert f"docker build -f weights.Dockerfile -t {ref} ." in side["weights.Dockerfile"]
    [mount] = spec["containers"][0]["volumeMounts"]
    assert mount == {"name": vol["name"], "mountPath": "/app/models", "readOnly": True}
    assert deploy["spec"]["selector"]["matchLabels"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    env = {e["name"]: e["value"] for e in kserve["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"].startswith("oci://" + ref)
    assert "HF_HUB_OFFLINE" not in env and "env" not in spec["containers"][0]


def test_the_compose_snippet(tmp_path):
    _, side = _fix(tmp_path, SERVICE, FILES)
    doc = yaml.safe_load(side["weights.compose.yaml"])
    [service] = doc["services"].values()
    [vol] = service["volumes"]
    jsonschema.validate(vol, COMPOSE_IMAGE_VOLUME)
    assert vol["target"] == "/app/models" and "image" not in vol
    text = side["weights.compose.yaml"]
    assert f"--mount type=image,source={vol['source']},target=/app/models" in text
    assert "--target docker-volume" in text and "--volumes-from" in text


def test_several_places_get_sub_paths_and_need_kubernetes_1_33(tmp_path):
    files = {**FILES, "ckpt/head.pt": b"\x01" * 4096, "app.py": "x = 1\n"}
    df = SERVICE.replace("COPY serve.py .", "COPY ckpt/head.pt /app/\nCOPY serve.py .")
    result, side = _fix(tmp_path, df, files)
    deploy, _ = _k8s_docs(side["weights.k8s.yaml"])
    mounts = deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    # /app holds the service's code: the file is mounted by itself, not the folder over the code
    assert {m["mountPath"]: m["subPath"] for m in mounts} == {"/app/models": "models", "/app/head.pt": "head.pt"}
    assert ">= 1.33" in side["weights.k8s.yaml"]
    cmds = _cmds(side["weights.Dockerfile"])
    assert ("COPY", ("models/", "/models/")) in cmds and ("COPY", ("ckpt/head.pt", "/head.pt")) in cmds
    assert ("VOLUME", ("/app/models",)) in cmds  # no volume can be a single file
    compose = yaml.safe_load(side["weights.compose.yaml"])
    for vol in next(iter(compose["services"].values()))["volumes"]:
        jsonschema.validate(vol, COMPOSE_IMAGE_VOLUME)
        assert vol["image"]["subpath"] in ("models", "head.pt")
    assert "docker cp" in side["weights.compose.yaml"]


def test_nothing_runs_at_start_so_shell_less_bases_and_inherited_commands_are_fine(tmp_path):
    # the init-script form needs /bin/sh and a command to wrap; the image form needs neither
    for df in (
        "FROM gcr.io/distroless/python3-debian12\nCOPY models/ /app/models/\nCOPY serve.py /app/\n"
        'CMD ["/app/serve.py"]\n',
        "FROM python:3.11-slim\nCOPY models/ /app/models/\n",
    ):
        result, _ = _fix(tmp_path, df, FILES, options={"min-bytes": 0})
        assert _notes(result) and "COPY models/" in result.output
        result, side = _fix(tmp_path, df, FILES)
        assert not _notes(result) and "COPY models/" not in result.output and "weights.Dockerfile" in side


# -- downloads ------------------------------------------------------------------------------------------------
HF = (
    "FROM python:3.11-slim\nRUN pip install --no-cache-dir huggingface_hub transformers\n"
    "RUN python -c \"from transformers import AutoModel; AutoModel.from_pretrained('bert-base-uncased')\"\n"
    'COPY serve.py .\nCMD ["python", "serve.py"]\n'
)


def test_downloads_go_through_a_download_stage_running_the_init_scripts_recipe(tmp_path):
    df = (
        "FROM python:3.11-slim\nRUN mkdir -p /opt/det && wget -q -O /opt/det/yolo.pt https://x.io/yolo.pt\n"
        'COPY serve.py .\nCMD ["python", "serve.py"]\n'
    )
    result, side = _fix(tmp_path, df, {"serve.py": "pass\n"})
    assert "yolo" not in result.output and "ENTRYPOINT" not in result.output
    text = side["weights.Dockerfile"]
    cmds = _cmds(text)
    assert ("FROM", ("${WEIGHTS_DOWNLOAD_IMAGE}", "AS", "download")) in cmds
    assert ("ARG", ("WEIGHTS_YOLO_URI",)) in cmds
    assert ("RUN", ("sh /tmp/weights-fetch.sh true",)) in cmds
    assert ("COPY", ("--from=download", "/opt/det/yolo.pt", "/yolo.pt")) in cmds
    script = side["weights-fetch.sh"]
    assert "download stage of weights.Dockerfile" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    [src] = manifest(script)
    assert (src.uri, src.target) == ("https://x.io/yolo.pt", "/opt/det/yolo.pt")
    assert "!weights-fetch.sh" in side["weights.Dockerfile.dockerignore"].splitlines()
    deploy, _ = _k8s_docs(side["weights.k8s.yaml"])
    assert deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "/opt/det"


def test_a_hub_cache_is_mounted_with_hf_hub_offline(tmp_path):
    result, side = _fix(tmp_path, HF, {"serve.py": "pass\n"})
    assert "from_pretrained" not in result.output
    text = side["weights.Dockerfile"]
    assert "RUN python3 -m pip install --no-cache-dir huggingface_hub" in text
    assert "COPY --from=download /root/.cache/huggingface/ /" in text
    deploy, kserve = _k8s_docs(side["weights.k8s.yaml"])
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"][0]["mountPath"] == "/root/.cache/huggingface"
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in container["env"]
    compose = next(iter(yaml.safe_load(side["weights.compose.yaml"])["services"].values()))
    assert compose["environment"] == {"HF_HUB_OFFLINE": "1"}
    [fix] = {id(f.fix): f.fix for f in result.findings if f.fix}.values()
    assert "HF_HUB_OFFLINE=1" in fix.reason


def test_a_hub_download_into_a_folder_is_not_made_offline(tmp_path):
    df = (
        "FROM python:3.11-slim\nRUN pip install huggingface_hub\n"
        "RUN huggingface-cli download org/m m.gguf --local-dir /models --revision main\n"
        'CMD ["python", "-m", "srv"]\n'
    )
    _, side = _fix(tmp_path, df)
    assert "HF_HUB_OFFLINE" not in side["weights.k8s.yaml"] and "HF_HUB_OFFLINE" not in side["weights.compose.yaml"]
    assert {"ARG WEIGHTS_M_REPO", "ARG WEIGHTS_M_REVISION"} <= set(side["weights.Dockerfile"].splitlines())


def test_downloads_the_download_stage_cannot_replay_keep_the_init_script_path(tmp_path):
    df = (
        "FROM python:3.11-slim\nRUN pip install awscli torch\n"
        "RUN aws s3 cp s3://bucket/m.pt /opt/m/m.pt\n"
        "RUN wget -q -O /opt/w/w.onnx https://x.io/w.onnx\n"
        'CMD ["python", "-m", "srv"]\n'
    )
    result, side = _fix(tmp_path, df)
    [note] = _notes(result)
    assert "s3://bucket/m.pt is fetched with aws" in note and 'weights-delivery = "init-script"' in note
    assert "aws s3 cp" in result.output and "w.onnx" not in result.output  # the http download still moves
    assert "WEIGHTS_W_URI" in side["weights.Dockerfile"]


# -- files already there ------------------------------------------------------------------------------------
def test_a_weights_dockerfile_not_written_by_slimml_is_left_alone(tmp_path):
    result, side = _fix(tmp_path, SERVICE, {**FILES, "weights.Dockerfile": "FROM scratch\nCOPY x /\n"})
    assert result.output == SERVICE and not side
    assert any("weights.Dockerfile exists and was not written by slimml" in n for n in _notes(result))


def test_a_second_run_adds_its_sources_to_the_weights_image(tmp_path):
    result, side = _fix(tmp_path, SERVICE, FILES)
    for name, text in side.items():  # written, as `slimml fix --write` does
        (tmp_path / name).write_text(text)
    again = result.output.replace("COPY serve.py .", "COPY extra.onnx /opt/extra/\nCOPY serve.py .")
    result2, side2 = _fix(tmp_path, again, {**FILES, "extra.onnx": b"\x02" * 4096})
    assert "extra.onnx" not in result2.output
    srcs = manifest(side2["weights.Dockerfile"], artifact.MARKER)
    assert [s.context_path for s in srcs] == ["models/", "extra.onnx"]
    deploy, _ = _k8s_docs(side2["weights.k8s.yaml"])
    paths = {m["mountPath"] for m in deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert paths == {"/app/models", "/opt/extra"}


def test_a_sibling_with_its_own_ignore_file_does_not_keep_weights_in_the_shared_context(tmp_path):
    files = {
        **FILES,
        "weights.Dockerfile": "FROM scratch\nCOPY models/ /\n",
        "weights.Dockerfile.dockerignore": "*\n!models\n",
    }
    _, side = _fix(tmp_path, SERVICE, files, options={"min-bytes": 0})
    assert "models/" in side[".dockerignore"].splitlines()
    # without its own ignore file it reads .dockerignore: the weights must stay in the context
    (tmp_path / "weights.Dockerfile.dockerignore").unlink()
    result, side = _fix(tmp_path, SERVICE, FILES, options={"min-bytes": 0})
    assert ".dockerignore" not in side


def test_owner_and_mode_flags_are_called_out(tmp_path):
    df = SERVICE.replace("COPY models/ /app/models/", "COPY --chown=1000:1000 models/ /app/models/")
    result, _ = _fix(tmp_path, df, FILES)
    [fix] = {id(f.fix): f.fix for f in result.findings if f.fix}.values()
    assert "set the files' owner or mode" in fix.reason


# -- the layout, from sources ----------------------------------------------------------------------------------
def _plan(*sources, taken=(), archive_top=lambda rel: ""):
    return artifact.plan(
        list(sources),
        taken=list(taken),
        env={},
        home="/root",
        hf_path=lambda s: "/root/.cache/hf",
        base="python:3.11-slim",
        base_has_python=True,
        project="p",
        archive_top=archive_top,
    )


def test_a_local_tar_archive_is_unpacked_in_a_stage_and_its_folder_copied(tmp_path):
    """``ADD classifier.tar.gz models/`` unpacked ``classifier/...`` into /srv/models/classifier: the
    weights image unpacks it the same way (ADD, in a stage) and takes the folder's contents."""
    with tarfile.open(tmp_path / "classifier.tar.gz", "w:gz") as tar:
        for name in ("model.onnx", "labels.json"):
            data = name.encode() * 10
            info = tarfile.TarInfo("classifier/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    src = Source(
        "uri", name="CLASSIFIER", target="/srv/models/classifier", is_dir=True, context_path="classifier.tar.gz"
    )
    p = _plan(src, archive_top=lambda rel: artifact.archive_top(tmp_path / rel))
    names = artifact.names(None, ".")
    cmds = _cmds(artifact.dockerfile(p, names, "Dockerfile", []))
    at = cmds.index(("FROM", ("scratch", "AS", "unpack-classifier")))
    assert cmds[at + 1] == ("ADD", ("classifier.tar.gz", "/"))
    assert ("COPY", ("--from=unpack-classifier", "/classifier/", "/")) in cmds
    assert "!classifier.tar.gz" in artifact.ignore_file(p, names).splitlines()
    assert artifact.archive_top(tmp_path / "missing.tar") == ""
    zipped = _plan(Source("uri", target="/srv/model", is_dir=True, context_path="model.zip"))
    assert isinstance(zipped, str) and "zip" in zipped


def test_a_mount_over_other_files_of_the_image_is_refused():
    p = _plan(Source("uri", target="/app/m.bin", uri="https://x.io/m.bin"), taken=["/app"])
    assert not isinstance(p, str) and p.mounts[0].is_file and p.mounts[0].path == "/app/m.bin"
    p = _plan(Source("hf", repo="org/m"), taken=["/root/.cache/hf/x"])
    assert isinstance(p, str) and "would hide" in p


def test_names_follow_the_dockerfile():
    n = artifact.names(Path("deploy/gpu.Dockerfile"), "deploy")
    assert n.dockerfile == "deploy/weights-gpu.Dockerfile" and n.ignore == "deploy/weights-gpu.Dockerfile.dockerignore"
    assert n.fetch == "deploy/weights-gpu-fetch.sh" and n.k8s == "deploy/weights-gpu.k8s.yaml"
