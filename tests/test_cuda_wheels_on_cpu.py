"""SLM013 cuda-wheels-on-cpu: which installs bring CUDA wheels, what counts as GPU use, when the CPU-index fix is
offered and -- attacker first -- every way the fix could be wrong, each of which must withdraw it."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.knowledge import gpu_use as G
from slimml.knowledge import sizes as S
from slimml.rules import cuda_wheels_on_cpu as R
from slimml.rules.cuda_wheels_on_cpu import evidence as E

from . import pkgindex as pi
from .oracle import assert_agrees

SLIM = "python:3.11-slim"
CPU = "https://download.pytorch.org/whl/cpu"
APP = {"app.py": "import torch\nprint(torch.ones(2))\n"}


def _ctx(tmp: Path | None, files: dict[str, str] | None = None, options: dict | None = None) -> Context:
    if tmp is not None:
        for rel, text in (files if files is not None else APP).items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    return Context(
        settings=Settings(select=("SLM013",), unsafe_fixes=True, rule_options={"SLM013": options or {}}),
        dockerfile=(tmp / "Dockerfile") if tmp is not None else None,
        context_dir=tmp,
    )


def _findings(text: str, tmp: Path | None, files: dict[str, str] | None = None, options: dict | None = None):
    return list(R.check(parse(text), _ctx(tmp, files, options)))


def _one(text: str, tmp: Path | None, files: dict[str, str] | None = None, options: dict | None = None):
    fs = _findings(text, tmp, files, options)
    assert len(fs) == 1, [f.message for f in fs]
    return fs[0]


def _fix(text: str, tmp: Path, files: dict[str, str] | None = None, options: dict | None = None) -> str:
    ctx = _ctx(tmp, files, options)
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    assert_agrees(result.output)
    again = fix_text(result.output, ctx)
    assert again.output == result.output
    assert not [f for f in again.findings if f.fix is not None], "the rule fires on its own output"
    return result.output


# -- detection --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "run, expected",
    [
        ("pip install torch", f"pip install --index-url {CPU} torch && pip install torch"),
        (
            "pip3 install torch==2.1.0 flask",
            f"pip3 install --index-url {CPU} torch==2.1.0 && pip3 install torch==2.1.0 flask",
        ),
        (
            "python3 -m pip install --no-cache-dir 'torch>=2.1' torchvision",
            f"python3 -m pip install --no-cache-dir --index-url {CPU} 'torch>=2.1' torchvision && "
            "python3 -m pip install --no-cache-dir 'torch>=2.1' torchvision",
        ),
        (
            "/opt/venv/bin/pip install --user --break-system-packages torchaudio==2.1.0",
            f"/opt/venv/bin/pip install --user --break-system-packages --index-url {CPU} torchaudio==2.1.0 && "
            "/opt/venv/bin/pip install --user --break-system-packages torchaudio==2.1.0",
        ),
        (
            "uv pip install --system --no-cache torch==2.1.0",
            f"uv pip install --system --no-cache --index-url {CPU} torch==2.1.0 && uv pip install --system --no-cache torch==2.1.0",
        ),
        (
            "apt-get update && pip install torch[opt-einsum]==2.1.0",
            f"apt-get update && pip install --index-url {CPU} 'torch[opt-einsum]==2.1.0' && pip install torch[opt-einsum]==2.1.0",
        ),
        (
            "PIP_NO_INPUT=1 pip install -c constraints.txt torch",
            f"PIP_NO_INPUT=1 pip install -c constraints.txt --index-url {CPU} torch && PIP_NO_INPUT=1 pip install -c constraints.txt torch",
        ),
        (
            "pip install torch > /tmp/pip.log 2>&1",
            f"pip install --index-url {CPU} torch && pip install torch > /tmp/pip.log 2>&1",
        ),
    ],
)
def test_inline_installs_get_the_cpu_index_first(run, expected, tmp_path):
    files = {**APP, "constraints.txt": "numpy<2\n"}
    out = _fix(f"FROM {SLIM}\nCOPY constraints.txt .\nRUN {run}\n", tmp_path, files)
    assert out == f"FROM {SLIM}\nCOPY constraints.txt .\nRUN {expected}\n"


def test_requirements_files_are_followed_recursively_and_their_specifiers_kept(tmp_path):
    files = {
        **APP,
        "requirements.txt": "flask>=2\n-r requirements/ml.txt\n",
        "requirements/ml.txt": "# ml\ntorch==2.1.0 ; platform_machine == 'x86_64'\ntorchvision>=0.16,<0.17\n",
    }
    text = f"FROM {SLIM}\nWORKDIR /app\nCOPY requirements.txt .\nCOPY requirements/ requirements/\nRUN pip install -r requirements.txt\n"
    out = _fix(text, tmp_path, files)
    assert (
        f"RUN pip install --index-url {CPU} torch==2.1.0 'torchvision<0.17,>=0.16' && pip install -r requirements.txt"
        in out
    )


def test_markers_are_evaluated_for_the_image_python(tmp_path):
    files = {**APP, "requirements.txt": 'torch==1.13.1 ; python_version < "3.8"\nflask\n'}
    text = f"FROM {SLIM}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    assert _findings(text, tmp_path, files) == []


@pytest.mark.parametrize(
    "base",
    [
        "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04",
        "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
        "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
        "tensorflow/tensorflow:2.15.0-gpu",
        "nvcr.io/nvidia/pytorch:24.01-py3",
        "ghcr.io/acme/ml-gpu:1.0",
        "nvidia/cuda:${CUDA}-cudnn8-runtime-ubuntu22.04",  # a variable tag of a CUDA repository
        "pytorch/pytorch:${TORCH_TAG}",
    ],
)
def test_cuda_bases_are_left_alone(base, tmp_path):
    args = "ARG CUDA=12.1.0\nARG TORCH_TAG=2.1.0-cuda12.1-cudnn8-runtime\n"
    assert _findings(f"{args}FROM {base}\nRUN pip install torch\n", tmp_path) == []


def test_cuda_final_image_over_a_cpu_builder_is_left_alone(tmp_path):
    text = (
        f"FROM {SLIM} AS build\nRUN python -m venv /venv && /venv/bin/pip install torch\n"
        "FROM nvidia/cuda:12.1.0-runtime-ubuntu22.04\nCOPY --from=build /venv /venv\n"
    )
    assert _findings(text, tmp_path) == []


@pytest.mark.parametrize(
    "base, why",
    [
        ("mycorp/base:1.2", "does not know whether the base image"),
        ("${BASE}", "build argument"),
        ("${REGISTRY}/python:3.11-slim", "build argument"),
        ("tensorflow/tensorflow:${TF}", "build argument"),
    ],
)
def test_unknown_or_variable_base_reports_without_fix(base, why, tmp_path):
    text = f"ARG BASE={SLIM}\nARG REGISTRY=docker.io\nARG TF=2.15.0\nFROM {base}\nRUN pip install torch\n"
    f = _one(text, tmp_path)
    assert f.fix is None and why in f.note


def test_a_variable_python_tag_is_still_a_python_image(tmp_path):
    out = _fix("ARG PY=3.11\nFROM python:${PY}-slim\nRUN pip install torch==2.1.0\n", tmp_path)
    assert f"--index-url {CPU} torch==2.1.0 && pip install torch==2.1.0" in out


def test_arm64_only_builds_are_left_alone(tmp_path):
    assert _findings(f"FROM --platform=linux/arm64 {SLIM}\nRUN pip install torch\n", tmp_path) == []
    assert len(_findings(f"FROM --platform=linux/amd64 {SLIM}\nRUN pip install torch\n", tmp_path)) == 1


def test_a_stage_that_does_not_ship_is_left_alone_one_that_partly_ships_is_not(tmp_path):
    unused = f"FROM {SLIM} AS scratchpad\nRUN pip install torch\nFROM {SLIM}\nRUN echo hi\n"
    assert _findings(unused, tmp_path) == []
    copied = (
        f"FROM {SLIM} AS build\nRUN python -m venv /venv && /venv/bin/pip install torch==2.1.0\n"
        f"FROM {SLIM}\nCOPY --from=build /venv /venv\n"
    )
    out = _fix(copied, tmp_path)
    assert f"/venv/bin/pip install --index-url {CPU} torch==2.1.0 && /venv/bin/pip install torch==2.1.0" in out


@pytest.mark.parametrize(
    "setup, run, files",
    [
        ("", f"pip install --index-url {CPU} torch", {}),
        ("", f"pip install --extra-index-url={CPU} torch torchvision", {}),
        ("", "pip install torch==2.1.0+cpu -f https://download.pytorch.org/whl/torch_stable.html", {}),
        ("COPY requirements.txt .\n", "pip install -r requirements.txt", {"requirements.txt": f"-i {CPU}\ntorch\n"}),
        (f"ENV PIP_INDEX_URL={CPU}\n", "pip install torch", {}),
        (f"ENV PIP_EXTRA_INDEX_URL={CPU}/\n", "pip3 install torch", {}),
        ("COPY pip.conf /etc/pip.conf\n", "pip install torch", {"pip.conf": f"[global]\nextra-index-url = {CPU}\n"}),
        ("", f"pip config set global.index-url {CPU} && pip install torch", {}),
        (f"RUN pip config set global.extra-index-url {CPU}\n", "pip install torch", {}),
        (f"RUN pip install --index-url {CPU} torch==2.1.0\n", "pip install torch==2.1.0 flask", {}),
        ("", f"uv pip install --system --index-url {CPU} torch", {}),
        (
            "",
            "pip install 'torch @ https://download.pytorch.org/whl/cpu/torch-2.1.0%2Bcpu-cp311-cp311-linux_x86_64.whl'",
            {},
        ),
    ],
)
def test_installs_already_from_the_cpu_index_are_left_alone(setup, run, files, tmp_path):
    assert _findings(f"FROM {SLIM}\n{setup}RUN {run}\n", tmp_path, {**APP, **files}) == []


def test_the_cpu_index_option_names_a_mirror_and_installs_from_it_count_as_cpu(tmp_path):
    mirror = "https://nexus.example.com/repository/torch-cpu/simple"
    out = _fix(f"FROM {SLIM}\nRUN pip install torch==2.1.0\n", tmp_path, options={"cpu-index-url": mirror})
    assert f"pip install --index-url {mirror} torch==2.1.0 && pip install torch==2.1.0" in out
    assert (
        _findings(f"FROM {SLIM}\nRUN pip install -i {mirror} torch\n", tmp_path, options={"cpu-index-url": mirror})
        == []
    )


def test_the_option_is_read_from_the_project_config(tmp_path):
    mirror = "https://artifactory.example.com/api/pypi/pytorch-cpu/simple"
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / ".slimml.toml").write_text(f'[rules.SLM013]\ncpu-index-url = "{mirror}"\n')
    (tmp_path / "Dockerfile").write_text(f"FROM {SLIM}\nRUN pip install torch\n")
    r = subprocess.run(
        [sys.executable, "-m", "slimml", "fix", "--select", "SLM013", "--unsafe-fixes", "Dockerfile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"--index-url {mirror} torch && pip install torch" in r.stdout, r.stdout + r.stderr


def test_tensorflow_jax_and_onnxruntime_lose_their_cuda_builds(tmp_path):
    text = f"FROM {SLIM}\nRUN pip install 'tensorflow[and-cuda]==2.15.0' \"jax[cuda12,cpu]>=0.4\" onnxruntime-gpu==1.17.1\n"
    out = _fix(text, tmp_path)
    assert out == f"FROM {SLIM}\nRUN pip install 'tensorflow==2.15.0' \"jax[cpu]>=0.4\" onnxruntime==1.17.1\n"


def test_a_requirements_file_is_edited_for_the_extras(tmp_path):
    files = {**APP, "requirements.txt": "flask\ntensorflow[and-cuda]==2.15.0  # model\n"}
    ctx = _ctx(tmp_path, files)
    text = f"FROM {SLIM}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    result = fix_text(text, ctx)
    ((before, after),) = result.side_files.values()
    assert after == "flask\ntensorflow==2.15.0  # model\n" and result.output == text


def test_cupy_is_reported_only(tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install cupy-cuda12x\n", tmp_path)
    assert f.fix is None and "cupy-cuda12x" in f.message
    # torch named too: the CPU torch satisfies sentence-transformers as well, and nothing more is pulled
    out = _fix(f"FROM {SLIM}\nRUN pip install torch sentence-transformers\n", tmp_path)
    assert f"pip install --index-url {CPU} torch && pip install torch sentence-transformers" in out


# -- packages that pull torch in: torch (and the torchvision/torchaudio they pull) from the CPU index first ----------
@pytest.mark.parametrize(
    "pkgs, cpu",
    [
        ("sentence-transformers", "torch"),
        ("openai-whisper==20231117", "torch"),
        ("accelerate peft", "torch"),
        ("lightning", "torch"),
        ("timm", "torch torchvision"),
        ("easyocr", "torch torchvision"),
        ("ultralytics fastapi", "torch torchvision"),
        # named torchvision: the pulled torch comes along (loose; torchvision's own pin decides it)
        ("torchvision==0.16.0 timm", "torch torchvision==0.16.0"),
    ],
)
def test_packages_that_pull_torch_get_the_cpu_torch_first(pkgs, cpu, tmp_path):
    text = f"FROM {SLIM}\nRUN pip install --no-cache-dir {pkgs}\n"
    f = _one(text, tmp_path)
    assert f.fix is not None and f.fix.applicability.name == "UNSAFE", f.note
    assert "pulled in by" in f.message and f.estimate is not None and "it saves" in f.fix.reason
    assert "does not read offline" in f.fix.reason and "saving does not happen" in f.fix.reason
    out = _fix(text, tmp_path)
    assert f"RUN pip install --no-cache-dir --index-url {CPU} {cpu} && pip install --no-cache-dir {pkgs}\n" in out


def test_a_pinned_puller_is_said_to_maybe_need_an_older_torch(tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install sentence-transformers==2.2.2\n", tmp_path)
    assert "an older release (sentence-transformers==2.2.2) may require an older torch, or none" in f.fix.reason
    f = _one(f"FROM {SLIM}\nRUN pip install sentence-transformers\n", tmp_path)
    assert "older release" not in f.fix.reason


def test_the_saving_of_a_pulled_torch_is_the_named_torchs(tmp_path):
    named = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path)
    pulled = _one(f"FROM {SLIM}\nRUN pip install sentence-transformers\n", tmp_path)
    assert pulled.estimate == named.estimate
    assert "150 MB-250 MB for the CPU wheel" in pulled.message


def test_what_the_requirements_say_about_torch_is_what_the_cpu_install_asks_for(tmp_path):
    files = {**APP, "requirements.txt": "sentence-transformers==2.6.1\ntorch==2.1.0\ntimm\n"}
    text = f"FROM {SLIM}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    f = _one(text, tmp_path, files)
    out = _fix(text, tmp_path, files)
    # torch named: its pin; torchvision pulled by timm and not named: from the CPU index too, loose
    assert f"RUN pip install --index-url {CPU} torch==2.1.0 torchvision && pip install -r requirements.txt\n" in out
    assert "does not name torchvision" in f.fix.reason


@pytest.mark.parametrize(
    "run, why",
    [
        # one torch release exactly: the CPU index's newest would be replaced by PyPI's CUDA build
        ("pip install vllm", "requires one torch release exactly"),
        ("pip install xformers fastapi", "requires one torch release exactly"),
        ("pip install torchtext", "requires one torch release exactly"),
        # every withdrawal of the torch case holds for the pulled torch (the same code path)
        ("uv pip install --system -U openai-whisper", "upgrades"),  # uv's -U upgrades every package
        ("pip install -U --upgrade-strategy eager openai-whisper", "upgrades"),
        ("pip install -U torch openai-whisper", "upgrades"),  # a named torch is upgraded
        ("pip install --no-deps sentence-transformers", "no-deps"),
        ("pip install --target /deps timm", "--target"),
        ("pip install sentence-transformers; echo done", "followed by another statement"),
        ("pip install sentence-transformers || true", "`||`"),
        ("pip install sentence-transformers==$ST_VERSION", "variables"),
        ("pip install 'sentence-transformers; python_version >= \"3.9\"'", "marker"),
    ],
)
def test_the_pulled_torch_fix_is_withdrawn_when_it_cannot_be_proven(run, why, tmp_path):
    base = "debian:bookworm-slim" if "python_version" in run else SLIM  # no python tag: the marker is unknown
    f = _one(f"FROM {base}\nRUN {run}\n", tmp_path)
    assert f.fix is None and why in f.note, f.note


@pytest.mark.parametrize(
    "setup",
    ["ENV PIP_UPGRADE_STRATEGY=eager\n", "COPY pip.conf /etc/pip.conf\n"],
)
def test_an_eager_upgrade_strategy_from_the_environment_withdraws_the_upgrade(setup, tmp_path):
    files = {**APP, "pip.conf": "[install]\nupgrade-strategy = eager\n"}
    f = _one(f"FROM {SLIM}\n{setup}RUN pip install -U openai-whisper\n", tmp_path, files)
    assert f.fix is None and "eager" in f.note, f.note
    f = _one(f"FROM {SLIM}\n{setup}RUN pip install openai-whisper\n", tmp_path, files)  # without -U it changes nothing
    assert f.fix is not None, f.note


def test_pips_upgrade_of_a_package_that_pulls_torch_keeps_the_cpu_torch(tmp_path):
    """pip's -U (only-if-needed, the default) upgrades the packages named, and torch only where it does not satisfy
    them: the fix stays (the real-pip test below proves the CPU torch is kept)."""
    text = f"FROM {SLIM}\nRUN pip install -qU openai-whisper\n"
    f = _one(text, tmp_path)
    assert f.fix is not None and "only-if-needed" in f.fix.reason, f.note
    assert f"RUN pip install -q --index-url {CPU} torch && pip install -qU openai-whisper\n" in _fix(text, tmp_path)
    # a later install that upgrades is not taken to keep an earlier CPU torch
    cpu = f"FROM {SLIM}\nRUN pip install --index-url {CPU} torch\n"
    assert _one(cpu + "RUN pip install -U torch\n", tmp_path).fix is None


def test_a_puller_found_only_by_name_in_the_context_withdraws(tmp_path):
    files = {**APP, "requirements.txt": "sentence-transformers\n"}
    f = _one(f"FROM {SLIM}\nRUN pip install -r requirements.txt\n", tmp_path, files)
    assert f.fix is None and "found by name" in f.note, f.note


def test_an_exact_torch_next_to_a_puller_that_pins_it_is_fixed(tmp_path):
    out = _fix(f"FROM {SLIM}\nRUN pip install torch==2.1.0 torchtext==0.16.0\n", tmp_path)
    assert f"pip install --index-url {CPU} torch==2.1.0 && " in out


def test_a_puller_after_a_cpu_torch_is_left_alone_and_with_gpu_use_is_kept(tmp_path):
    text = f"FROM {SLIM}\nRUN pip install --index-url {CPU} torch==2.1.0\nRUN pip install sentence-transformers\n"
    assert _findings(text, tmp_path) == []
    f = _one(f"FROM {SLIM}\nRUN pip install sentence-transformers\n", tmp_path, {"app.py": "m.to('cuda')\n"})
    assert f.fix is None and f.severity == "info" and "pulled in by sentence-transformers" in f.message
    # the fix's own output does not fire again (also across RUNs of one stage)
    out = _fix(f"FROM {SLIM}\nRUN pip install sentence-transformers\nRUN pip install accelerate\n", tmp_path)
    assert out.count(f"--index-url {CPU}") == 2


@pytest.mark.parametrize(
    "run, manifest",
    [
        ("uv sync --frozen", 'dependencies = ["torch==2.1.0", "fastapi"]'),
        ("poetry install --no-root", '[tool.poetry.dependencies]\ntorch = "2.1.0"'),
    ],
)
def test_lock_based_installs_are_reported_with_the_pyproject_advice(run, manifest, tmp_path):
    files = {**APP, "pyproject.toml": f'[project]\nname = "x"\nversion = "1"\n{manifest}\n'}
    f = _one(f"FROM {SLIM}\nWORKDIR /app\nCOPY pyproject.toml .\nRUN {run}\n", tmp_path, files)
    assert f.fix is None and "pyproject.toml" in f.note and "CPU index" in f.note
    cpu = {**files, "pyproject.toml": files["pyproject.toml"] + f'[[tool.uv.index]]\nname = "cpu"\nurl = "{CPU}"\n'}
    assert _findings(f"FROM {SLIM}\nWORKDIR /app\nCOPY pyproject.toml .\nRUN {run}\n", tmp_path, cpu) == []


# -- the saving ------------------------------------------------------------------------------------------------
def test_the_saving_comes_from_the_wheel_figures(tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install torch==2.1.0\n", tmp_path)
    lo, hi = f.estimate
    nvidia = S.add(*(S.WHEELS[n].download for n in S.TORCH_CUDA_DEPS))
    torch_diff = S.subtract(S.WHEELS["torch"].download, S.TORCH_CPU.download)
    assert (lo, hi) == S.add(nvidia, torch_diff)
    assert 1.5 * S.GB < lo < hi < 5 * S.GB
    assert "150 MB-250 MB for the CPU wheel" in f.message and "it saves" in f.fix.reason


# -- evidence -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        'model.to("cuda")\n',
        "model = model.cuda()\n",
        "device = torch.device('cuda:0')\n",
        'device = "cuda" if torch.cuda.is_available() else "cpu"\n',
        "torch.backends.cudnn.benchmark = True\n",
        'm = AutoModel.from_pretrained("x", device_map="auto")\n',
        'p = pipeline("sentiment-analysis", device=0)\n',
        "import cupy as cp\n",
        "from numba import cuda\n",
        'gpus = tf.config.list_physical_devices("GPU")\n',
        'd = jax.devices("gpu")\n',
        'os.environ["CUDA_VISIBLE_DEVICES"] = "0"\n',
        'dev = f"cuda:{rank}"\n',
        'trainer = Trainer(accelerator="gpu", devices=1)\n',
    ],
)
def test_gpu_use_in_python_keeps_the_cuda_wheels(code, tmp_path):
    f = _one(f"FROM {SLIM}\nCOPY . .\nRUN pip install torch\n", tmp_path, {"src/model.py": "import torch\n" + code})
    assert f.fix is None and f.severity == "info" and "src/model.py:2" in f.message
    assert "GB of CUDA wheels" in f.message  # says what they cost


@pytest.mark.parametrize(
    "code",
    [
        "# this runs on cuda\nprint(1)\n",
        '"""Serves the model (trained on CUDA GPUs)."""\n',
        'device = "cpu"\n',
        'p = pipeline("x", device=-1)\n',
        "num_gpus = 0\nTrainer(gpus=0)\n",
        'label = "GPU"\n',  # a string that is not passed as a device
    ],
)
def test_no_gpu_use_in_comments_prose_or_cpu_devices(code, tmp_path):
    f = _one(f"FROM {SLIM}\nCOPY . .\nRUN pip install torch\n", tmp_path, {"app.py": code})
    assert f.fix is not None, f.message


@pytest.mark.parametrize(
    "rel, text",
    [
        ("docker-compose.yml", "services:\n  app:\n    runtime: nvidia\n"),
        (
            "compose.yaml",
            "services:\n  app:\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - capabilities: [gpu]\n",
        ),
        ("k8s/deployment.yaml", "resources:\n  limits:\n    nvidia.com/gpu: 1\n"),
        (".env", "CUDA_VISIBLE_DEVICES=0\n"),
        ("scripts/run.sh", "#!/bin/sh\ndocker run --gpus all myimage\n"),
        ("Makefile", "serve:\n\tpython serve.py --device cuda\n"),
        ("Procfile", "web: python serve.py --device=cuda:0\n"),
        ("config/model.json", '{"device": "cuda"}\n'),
        ("config.toml", 'device = "cuda"\n'),
        ("README.md", "Run it with `docker run --gpus all -p 8000:8000 app`.\n"),
        ("legacy.py", "print 'python 2'\nmodel.cuda()\n"),  # does not parse: read as text
    ],
)
def test_gpu_use_in_configuration_keeps_the_cuda_wheels(rel, text, tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, {**APP, rel: text})
    assert f.fix is None and rel in f.message


@pytest.mark.parametrize(
    "extra",
    [
        "ENV NVIDIA_VISIBLE_DEVICES=all\n",
        "ENV CUDA_VISIBLE_DEVICES 0\n",
        'CMD ["python", "serve.py", "--device", "cuda"]\n',
        "ENTRYPOINT python serve.py --device=cuda\n",
    ],
)
def test_gpu_use_in_the_dockerfile_keeps_the_cuda_wheels(extra, tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n{extra}", tmp_path)
    assert f.fix is None and f.severity == "info"


def test_compose_file_next_to_the_dockerfile_outside_the_context_counts(tmp_path):
    ctx_dir = tmp_path / "src"
    ctx_dir.mkdir()
    (ctx_dir / "app.py").write_text("print(1)\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    build: src\n    runtime: nvidia\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {SLIM}\nRUN pip install torch\n")
    ctx = Context(
        settings=Settings(select=("SLM013",), unsafe_fixes=True),
        dockerfile=tmp_path / "Dockerfile",
        context_dir=ctx_dir,
    )
    (f,) = list(R.check(parse((tmp_path / "Dockerfile").read_text()), ctx))
    assert f.fix is None and "docker-compose.yml" in f.message


def test_files_that_are_not_the_projects_own_code_are_not_evidence(tmp_path):
    files = {
        **APP,
        "requirements.txt": "nvidia-cudnn-cu12==8.9.2.26  # --gpus\n",  # names packages, not how the code runs
        ".venv/pyvenv.cfg": "home = /usr\n",
        ".venv/lib/python3.11/site-packages/torch/cuda.py": "x.cuda()\n",
        "node_modules/x/index.yml": "runtime: nvidia\n",
        "Dockerfile.gpu": "FROM nvidia/cuda:12.1.0-base-ubuntu22.04\nCMD --gpus all\n",  # another image
        "weights.bin": "",
    }
    (tmp_path / "weights.bin").parent.mkdir(parents=True, exist_ok=True)
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, files)
    (tmp_path / "latin1.py").write_bytes("model.to('cuda')  # caf\xe9\n".encode("latin-1"))
    (tmp_path / "blob.json").write_bytes(b'{"device": "cuda"}\x00\xff\xfe')
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, files)
    assert f.fix is not None, f.note


def test_python_evidence_is_exact():
    assert E.python_evidence("x = 1  # cuda\n") == []
    assert [w for _, w in E.python_evidence("a = 'cuda'\nb = t.cuda\n")] == ["the device string 'cuda'", "`.cuda`"]
    assert E.python_evidence("def (:\n  cuda") is None


# -- the scan's caps ------------------------------------------------------------------------------------------
def test_a_scan_cut_short_by_the_file_cap_withdraws_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(G, "MAX_FILES", 5)
    files = {f"pkg/m{i}.py": "print(1)\n" for i in range(8)}
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, files)
    assert f.fix is None and "cut short" in f.note and "stopped after 5 files" in f.note


def test_a_large_code_file_cuts_the_scan_a_large_data_file_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(G, "MAX_FILE_BYTES", 1000)
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, {**APP, "vocab.json": '{"a": 1}' * 500})
    assert f.fix is not None
    f = _one(f"FROM {SLIM}\nRUN pip install torch\n", tmp_path, {**APP, "generated.py": "x = 1\n" * 500})
    assert f.fix is None and "generated.py" in f.note


def test_unknown_context_withdraws_the_fix():
    (f,) = list(R.check(parse(f"FROM {SLIM}\nRUN pip install torch\n"), _ctx(None)))
    assert f.fix is None and "build context is unknown" in f.note


# -- withdrawals: each way the rewrite could be wrong ------------------------------------------------------------
@pytest.mark.parametrize(
    "run, why",
    [
        ("pip install -U torch", "upgrades"),
        ("pip install --upgrade torch", "upgrades"),
        ("pip install -qU torch", "upgrades"),
        ("pip install --force-reinstall torch", "force-reinstall"),
        ("pip install -I torch", "ignore-installed"),
        ("pip install --no-deps torch", "no-deps"),
        ("pip install --target /deps torch", "--target"),
        ("pip install -t /deps torch", "--target"),
        ("pip install --prefix=/install torch", "--prefix"),
        ("pip install --root /r torch", "--root"),
        ("pip install --no-index --find-links /wheels torch", "no-index"),
        ("pip install --require-hashes torch==2.1.0", "require-hashes"),
        ("uv pip install --system --reinstall torch", "reinstall"),
        ("uv pip install --system --offline torch", "offline"),
        ("pip install torch==$TORCH_VERSION", "variables"),
        ("pip install 'torch @ https://example.com/torch-2.1.0-cp311-cp311-linux_x86_64.whl'", "URL"),
        ("pip install torch==2.1.0+cu121 -f https://download.pytorch.org/whl/torch_stable.html", "CUDA"),
        ("true || pip install torch", "`||`"),
        ("pip install torch || echo failed", "`||`"),
        ("pip install torch | tee /tmp/log", "pipeline"),
        ("(pip install torch)", "subshell"),
        ("if true; then pip install torch; fi", "if statement"),
        ("pip install torch &", "background"),
        ("for p in a; do pip install torch; done", "runs inside"),
    ],
)
def test_the_fix_is_withdrawn_when_it_cannot_be_proven(run, why, tmp_path):
    f = _one(f"FROM {SLIM}\nRUN {run}\n", tmp_path)
    assert f.fix is None and why in f.note, f.note


def test_cuda_local_version_pin_is_never_rewritten(tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install torch==2.1.0+cu121\n", tmp_path)
    assert f.fix is None and "CUDA" in f.note


@pytest.mark.parametrize(
    "req, why",
    [
        ("torch==2.1.0 --hash=sha256:" + "0" * 64 + "\n", "hash"),
        ("--require-hashes\ntorch==2.1.0\n", "require-hashes"),
        ("torch>=2.1.*\n", "parse"),
        ("-r missing.txt\ntorch\n", "missing.txt"),
        # a package that pulls torch in, in hash-checking mode: torch must come with a hash
        ("sentence-transformers==2.6.1 --hash=sha256:" + "0" * 64 + "\n", "checks hashes"),
        ("--require-hashes\nsentence-transformers==2.6.1\n", "require-hashes"),
    ],
)
def test_requirements_files_that_make_the_rewrite_unprovable(req, why, tmp_path):
    files = {**APP, "requirements.txt": req}
    f = _one(f"FROM {SLIM}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n", tmp_path, files)
    assert f.fix is None and why in f.note, f.note


def test_a_requirements_file_not_copied_into_the_image_is_only_guessed(tmp_path):
    files = {**APP, "requirements.txt": "torch==2.1.0\n"}
    f = _one(f"FROM {SLIM}\nRUN pip install -r /opt/requirements.txt\n", tmp_path, files)
    assert f.fix is None and "found by name" in f.note


def test_an_unreadable_requirements_file_withdraws(tmp_path):
    f = _one(f"FROM {SLIM}\nRUN pip install torch -r $REQS\n", tmp_path)
    assert f.fix is None


def test_a_marker_needing_an_unknown_python_withdraws(tmp_path):
    files = {**APP, "requirements.txt": 'torch==2.1.0 ; python_version >= "3.8"\n'}
    text = "FROM ubuntu:22.04\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    f = _one(text, tmp_path, files)
    assert f.fix is None and "Python version" in f.note


def test_a_constraint_pinning_a_cuda_build_withdraws(tmp_path):
    files = {**APP, "c.txt": "torch==2.1.0+cu121\n"}
    f = _one(f"FROM {SLIM}\nCOPY c.txt .\nRUN pip install -c c.txt torch\n", tmp_path, files)
    assert f.fix is None and "CUDA build" in f.note


@pytest.mark.parametrize(
    "setup, files",
    [
        ("ENV PIP_EXTRA_INDEX_URL=https://pypi.example.com/simple\n", {}),
        (
            "COPY pip.conf /etc/pip.conf\n",
            {"pip.conf": "[global]\nextra-index-url = https://pypi.example.com/simple\n"},
        ),
    ],
)
def test_an_extra_index_from_the_environment_withdraws(setup, files, tmp_path):
    f = _one(f"FROM {SLIM}\n{setup}RUN pip install torch\n", tmp_path, {**APP, **files})
    assert f.fix is None and "extra index" in f.note


def test_pip_config_written_by_a_run_withdraws(tmp_path):
    f = _one(
        f"FROM {SLIM}\nRUN pip config set global.index-url https://mirror.example.com/simple\nRUN pip install torch\n",
        tmp_path,
    )
    assert f.fix is None and "configuration" in f.note


def test_suppression(tmp_path):
    out = fix_text(f"FROM {SLIM}\n# slimml: ignore[SLM013]\nRUN pip install torch\n", _ctx(tmp_path)).output
    assert "download.pytorch.org" not in out


def test_multiline_run_with_comments_keeps_buildkit_boundaries(tmp_path):
    text = (
        f"FROM {SLIM}\nRUN apt-get update \\\n    # torch for the model\n    && pip install --no-cache-dir \\\n"
        '        torch==2.1.0 \\\n        numpy\nCMD ["python"]\n'
    )
    out = _fix(text, tmp_path)
    assert f"&& pip install --no-cache-dir --index-url {CPU} torch==2.1.0 && pip install --no-cache-dir \\\n" in out


# -- the fix's claim, with a real pip: the original install keeps the CPU wheels -------------------------------------
@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> pi.TorchLike:
    return pi.torch_like(tmp_path_factory.mktemp("pkgindex"))


def test_pip_keeps_the_cpu_torch_the_fix_installs_first(indexes, tmp_path):
    """The rewritten RUN, run by a real pip in a fresh venv against the local indexes: the CPU install and then the
    original `pip install torch==2.1.0` (default index), which must find 2.1.0+cpu satisfying it -- no nvidia-*."""
    text = f"FROM {SLIM}\nRUN pip install torch==2.1.0\n"
    out = _fix(text, tmp_path, options={"cpu-index-url": indexes.cpu.file_url})
    freeze = _run_fixed(out, indexes.default.file_url, tmp_path / "venv")
    assert "torch==2.1.0+cpu" in freeze and "nvidia" not in freeze, freeze


def test_a_later_install_is_kept_only_when_it_keeps_the_earlier_cpu_torch(tmp_path):
    base = f"FROM {SLIM}\nRUN pip install --index-url {CPU} torch==2.1.0\n"
    assert _findings(base + "RUN pip install torch flask\n", tmp_path) == []
    assert _findings(base + "RUN pip install torch==2.1.0 flask\n", tmp_path) == []
    # An unpinned CPU install may pick another version than a later pin, which pip then fetches from PyPI.
    unpinned = f"FROM {SLIM}\nRUN pip install --index-url {CPU} torch\nRUN pip install torch==2.1.0\n"
    assert len(_findings(unpinned, tmp_path)) == 1
    # An upgrade replaces it with PyPI's CUDA build.
    f = _one(base + "RUN pip install -U torch\n", tmp_path)
    assert f.fix is None
    # Two CUDA installs of one stage each get their own CPU install, and the result is stable.
    out = _fix(f"FROM {SLIM}\nRUN pip install torch\nRUN pip install torch==2.1.0 torchvision\n", tmp_path)
    assert out.count(f"--index-url {CPU}") == 2


def test_lock_install_with_gpu_code_is_not_reported(tmp_path):
    files = {
        "app.py": "import torch\nx = torch.zeros(1).cuda()\n",
        "pyproject.toml": '[project]\nname = "x"\nversion = "1"\ndependencies = ["torch"]\n',
    }
    assert _findings(f"FROM {SLIM}\nCOPY pyproject.toml .\nRUN uv sync\n", tmp_path, files) == []


def test_a_cd_before_a_relative_requirements_file_withdraws(tmp_path):
    files = {**APP, "requirements.txt": "torch==2.1.0\n"}
    text = f"FROM {SLIM}\nCOPY requirements.txt /app/\nRUN cd /app && pip install -r requirements.txt\n"
    f = _one(text, tmp_path, files)
    assert f.fix is None and "changes directory" in f.note


@pytest.mark.parametrize("spec", ["torch==2.1.0", "torch"])
def test_uv_keeps_the_cpu_torch_the_fix_installs_first(spec, indexes, tmp_path):
    """The same claim for `uv pip install`: uv takes the installed 2.1.0+cpu as satisfying `torch==2.1.0` / `torch`."""
    uv = Path(sys.executable).with_name("uv")
    assert uv.exists(), "uv is installed with slimml's `lock` extra in the test environment"
    out = _fix(f"FROM {SLIM}\nRUN uv pip install {spec}\n", tmp_path, options={"cpu-index-url": indexes.cpu.file_url})
    first, second = out.splitlines()[1][len("RUN ") :].split(" && ")
    assert first == f"uv pip install --index-url {indexes.cpu.file_url} {spec}" and second == f"uv pip install {spec}"
    env_dir = tmp_path / "venv"
    subprocess.run([str(uv), "venv", "-q", str(env_dir)], check=True, timeout=120)
    py = str(env_dir / "bin" / "python")
    env = {"UV_NO_CONFIG": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for cmd, index in ((first, None), (second, indexes.default.file_url)):
        args = cmd.split()[3:]  # after `uv pip install`
        extra = [] if index is None else ["--index-url", index]
        r = subprocess.run(
            [str(uv), "pip", "install", "--no-cache", "--python", py, *extra, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    listed = subprocess.run([str(uv), "pip", "list", "--python", py], capture_output=True, text=True, env=env).stdout
    assert "2.1.0+cpu" in listed and "nvidia" not in listed, listed


def test_exec_form_is_reported_never_rewritten(tmp_path):
    f = _one(f'FROM {SLIM}\nRUN ["pip", "install", "--no-cache-dir", "torch==2.1.0"]\n', tmp_path)
    assert f.fix is None and "exec form" in f.note
    f = _one(f'FROM {SLIM}\nRUN ["python", "-m", "pip", "install", "torch"]\n', tmp_path, {"app.py": "x.cuda()\n"})
    assert f.severity == "info"


def test_check_reports_a_gpu_projects_cuda_wheels_without_failing(tmp_path):
    """The GPU project's finding is pure information (info, no fix): `slimml check` prints it and exits 0; the same
    install in a project with no GPU use is a finding to act on (exit 1)."""
    from click.testing import CliRunner

    from slimml.cli import main

    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install --no-cache-dir torch==2.1.0\n")
    (tmp_path / "app.py").write_text("import torch\nprint(torch.ones(2))\n")
    args = ["check", "--no-cache", "--select", "SLM013", str(tmp_path / "Dockerfile")]
    cpu = CliRunner().invoke(main, args)
    assert cpu.exit_code == 1 and "SLM013" in cpu.output, cpu.output
    (tmp_path / "app.py").write_text("import torch\nprint(torch.ones(2).to('cuda'))\n")
    gpu = CliRunner().invoke(main, args)
    assert gpu.exit_code == 0 and "SLM013" in gpu.output and "kept" in gpu.output, gpu.output


# -- the pulled torch's claim, with a real pip: the stand-in for sentence-transformers keeps the CPU torch ------------
@pytest.fixture(scope="module")
def puller_indexes(tmp_path_factory) -> pi.TorchLike:
    """The torch stand-ins plus, on this test's own default index, packages that pull torch in: `sentlike` (torch>=2.0,
    as sentence-transformers), `pinlike` (torch==2.1.0 exactly), `oldlike` (torch<2.1: an old release capping torch
    below the CPU index's newest) and an older CUDA `torch 2.0.0` for it."""
    indexes = pi.torch_like(tmp_path_factory.mktemp("pkgindex-pullers"))
    indexes.default.add(
        pi.Dist("sentlike", "1.0.0", requires=("torch>=2.0",)),
        pi.Dist("pinlike", "1.0.0", requires=("torch==2.1.0",)),
        pi.Dist("oldlike", "1.0.0", requires=("torch<2.1",)),
        pi._torch("2.0.0", "11.8", pi.TORCH.requires),
    )
    return indexes


def _run_fixed(out: str, default_index: str, venv_dir: Path) -> str:
    """Run the rewritten RUN's two installs with a real pip in a fresh venv -- the CPU install as written, the original
    against the stand-in "PyPI" -- and return `pip freeze`."""
    first, second = out.splitlines()[1][len("RUN ") :].split(" && ")
    venv.create(venv_dir, with_pip=True)
    py = str(venv_dir / "bin" / "python")
    for cmd, index in ((first, None), (second, default_index)):
        args = [a.strip("'") for a in cmd.split()[2:]]  # after `pip install`
        r = subprocess.run(
            [py, "-m", "pip", "--isolated", "--disable-pip-version-check", "install", "--no-cache-dir"]
            + ([] if index is None else ["--index-url", index])
            + args,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    return subprocess.run([py, "-m", "pip", "--isolated", "freeze"], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    "pkg, torch, cuda",
    [
        ("sentlike", "torch==2.1.0+cpu", False),  # torch>=2.0: the CPU torch satisfies it
        ("pinlike", "torch==2.1.0+cpu", False),  # torch==2.1.0 matches the local version 2.1.0+cpu (PEP 440)
        ("oldlike", "torch==2.0.0", True),  # torch<2.1: pip replaces it with PyPI's CUDA 2.0.0 -- the build succeeds
        ("-U sentlike", "torch==2.1.0+cpu", False),  # -U, only-if-needed: torch satisfies sentlike, so it is kept
    ],
)
def test_pip_keeps_the_cpu_torch_a_puller_accepts(pkg, torch, cuda, puller_indexes, tmp_path, monkeypatch):
    name = pkg.split()[-1]
    monkeypatch.setattr(S, "HEAVY_DEPS", {**S.HEAVY_DEPS, name: ("torch",)})  # the rule knows the stand-in pulls torch
    out = _fix(
        f"FROM {SLIM}\nRUN pip install {pkg}\n", tmp_path, options={"cpu-index-url": puller_indexes.cpu.file_url}
    )
    assert f"RUN pip install --index-url {puller_indexes.cpu.file_url} torch && pip install {pkg}\n" in out
    freeze = _run_fixed(out, puller_indexes.default.file_url, tmp_path / "venv")
    assert f"{name}==1.0.0" in freeze and torch in freeze.splitlines(), freeze
    assert ("nvidia-cudnn-cu12" in freeze) is cuda, freeze


def test_a_constraint_inside_the_requirements_file_is_what_the_cpu_install_asks_for(tmp_path):
    """`-c` inside a requirements file is not passed on to the CPU install: its torch pin is, or the CPU index's newest
    torch would miss the constraint and the install would replace it with PyPI's CUDA build."""
    files = {
        **APP,
        "requirements.txt": "-c constraints.txt\nsentence-transformers\n",
        "constraints.txt": "torch==2.1.0\nnumpy<2\n",
    }
    text = f"FROM {SLIM}\nCOPY requirements.txt constraints.txt ./\nRUN pip install -r requirements.txt\n"
    out = _fix(text, tmp_path, files)
    assert f"RUN pip install --index-url {CPU} torch==2.1.0 && pip install -r requirements.txt\n" in out
    files["requirements.txt"] = "-c constraints.txt\ntorch>=2.0\n"
    out = _fix(text, tmp_path, files)
    assert f"RUN pip install --index-url {CPU} 'torch>=2.0,==2.1.0' && pip install -r requirements.txt\n" in out
