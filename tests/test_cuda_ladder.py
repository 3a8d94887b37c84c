"""The CUDA base ladder (knowledge.cuda_ladder, semantics.cuda_stack) and SLM007 on a corpus of devel files."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.knowledge import cuda_ladder as L
from slimml.knowledge import cuda_wheels as W
from slimml.rules import cuda_runtime_base as R
from slimml.semantics import cuda_stack as CS

from .data.cuda_devel_corpus import CORPUS

DEVEL = "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"


def _ctx(tmp: Path, files: dict[str, str]) -> Context:
    for rel, text in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Context(settings=Settings(select=("SLM007",), unsafe_fixes=True), context_dir=tmp)


def outcome(text: str, ctx: Context) -> tuple[str, str]:
    """(outcome, message) of SLM007 on one Dockerfile, in the corpus's terms."""
    found = list(R.check(parse(text), ctx))
    if not found:
        return "none", ""
    (f,) = found
    if f.fix is None:
        return (
            "at-run"
            if "compiles when it runs" in f.message
            else "builder"
            if "compiles CUDA code" in f.message
            else "no-fix"
        ), f.message
    image = f.fix.edits[0].text
    if "-base-" in image:
        return "base", f.message
    if "-runtime" in image or image.endswith("-runtime"):
        return (
            "runtime"
            if "cudnn" in image or "cudnn" not in text.split("\n", 1)[0] or "pytorch/" in image
            else "runtime-no-cudnn"
        ), f.message
    return image, f.message


@pytest.mark.parametrize("name, text, files, expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name, text, files, expected, tmp_path):
    got, message = outcome(text, _ctx(tmp_path, files))
    assert got == expected, message


# -- tag arithmetic -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ref, flavor, cudnn, out",
    [
        (DEVEL, "runtime", True, "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"),
        (DEVEL, "runtime", False, "nvidia/cuda:12.1.0-runtime-ubuntu22.04"),
        (DEVEL, "base", True, "nvidia/cuda:12.1.0-base-ubuntu22.04"),  # there is no cudnn base tag
        (
            "nvcr.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04",
            "base",
            True,
            "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
        ),
        ("nvidia/cuda:${CUDA}-cudnn8-devel-ubuntu22.04", "base", True, "nvidia/cuda:${CUDA}-base-ubuntu22.04"),
        (
            "nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:" + "0" * 64,
            "runtime",
            True,
            "nvidia/cuda:12.1.0-runtime-ubuntu22.04",
        ),
        ("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-devel", "base", True, None),
        ("python:3.11", "base", True, None),
    ],
)
def test_cuda_image(ref, flavor, cudnn, out):
    assert L.cuda_image(ref, flavor, cudnn) == out


# -- the ladder on data ----------------------------------------------------------------------------------
def test_wheels_only_reach_base_and_say_why_not_python_slim():
    lad = L.ladder(DEVEL, ["torch==2.3.1", "fastapi"], ["python3-pip"], uses=L.Uses(python="3.10", python_from="apt"))
    assert [s.flavor for s in lad.steps] == ["runtime", "base"]
    assert lad.image == "nvidia/cuda:12.1.0-base-ubuntu22.04"
    assert "apt Python" in lad.stopped and "python:<ver>-slim" in lad.stopped


def test_python_slim_only_when_the_environment_is_rebuilt_on_it():
    uses = L.Uses(python="3.11", python_from="image", env_rebuilt=True)
    lad = L.ladder(DEVEL, ["torch"], uses=uses)
    assert lad.image == "python:3.11-slim" and lad.stopped == ""
    assert dict(lad.env) == {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}
    # an absolute interpreter path the slim image does not have
    lad = L.ladder(
        DEVEL, ["torch"], uses=L.Uses(python="3.11", env_rebuilt=True, interpreter_paths=("/usr/bin/python3",))
    )
    assert lad.image.endswith("-base-ubuntu22.04") and "/usr/bin/python3" in lad.stopped
    # unknown version
    lad = L.ladder(DEVEL, ["torch"], uses=L.Uses(env_rebuilt=True))
    assert lad.image.endswith("-base-ubuntu22.04") and "version" in lad.stopped


@pytest.mark.parametrize(
    "reqs, apt, image, kept",
    [
        (["onnxruntime-gpu"], [], "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", "cuDNN"),
        (["onnxruntime-gpu[cuda,cudnn]"], [], "nvidia/cuda:12.1.0-base-ubuntu22.04", ""),
        (["cupy-cuda12x"], [], "nvidia/cuda:12.1.0-runtime-ubuntu22.04", "runtime libraries"),
        (["cupy-cuda12x[ctk]"], [], "nvidia/cuda:12.1.0-base-ubuntu22.04", ""),
        (["tensorflow==2.16.1"], [], "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", "cuDNN"),
        (["jax[cuda12-local]"], [], "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", "cuDNN"),
        (["jax[cuda12]"], [], "nvidia/cuda:12.1.0-base-ubuntu22.04", ""),
        (["torch"], ["libnccl2"], "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", "cuDNN"),
    ],
)
def test_what_needs_the_system_libraries_keeps_them(reqs, apt, image, kept):
    lad = L.ladder(DEVEL, reqs, apt)
    assert lad.image == image
    assert kept in lad.stopped


def test_unknown_or_unread_stops_at_runtime():
    lad = L.ladder(DEVEL, ["torch", "my-private-kernels"])
    assert lad.image == "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04" and "my-private-kernels" in lad.stopped
    lad = L.ladder(DEVEL, ["torch"], opaque=["requirements file r.txt not found"])
    assert lad.image.endswith("cudnn8-runtime-ubuntu22.04") and "r.txt" in lad.stopped
    lad = L.ladder(DEVEL, ["torch"], uses=L.Uses(system_cuda=("`/usr/local/cuda` in CMD",)))
    assert lad.image.endswith("cudnn8-runtime-ubuntu22.04")


def test_compiling_keeps_devel():
    lad = L.ladder(DEVEL, ["torch"], uses=L.Uses(compiles="nvcc (line 3)"))
    assert lad.image == DEVEL and "nvcc" in lad.stopped


def test_a_runtime_image_steps_to_base_only():
    lad = L.ladder("nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", ["torch"])
    assert [s.flavor for s in lad.steps] == ["base"]


def test_saving_counts_the_dropped_layers_only():
    rng, basis = L.saving(DEVEL, "nvidia/cuda:12.1.0-base-ubuntu22.04")
    rt, _ = L.saving(DEVEL, "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04")
    assert rng[0] > rt[0] and rng[1] > rt[1] and "cudnn runtime" in basis
    assert L.saving("nvidia/cuda:12.1.0-base-ubuntu22.04", DEVEL) is None


def test_nvidia_wheel_names():
    assert W.nvidia_wheel_lib("nvidia-cublas-cu12") == "cublas"
    assert W.nvidia_wheel_lib("nvidia-cuda-runtime-cu11") == "cudart"
    assert W.nvidia_wheel_lib("nvidia-cudnn") == "cudnn"
    assert W.nvidia_wheel_lib("nvidia-ml-py") is None


# -- reading the Dockerfile ---------------------------------------------------------------------------------
def _stack(text: str, tmp: Path, files: dict[str, str]) -> CS.Stack:
    doc = parse(text)
    return CS.read(doc, _ctx(tmp, files), [doc.final_stage])


def test_requirements_files_local_lines_are_opaque(tmp_path):
    text = f"FROM {DEVEL}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    st = _stack(text, tmp_path, {"requirements.txt": "torch\n-e ./libs/kernels\n"})
    assert [r.name for r in st.requirements] == ["torch"]
    assert any("./libs/kernels" in o for o in st.opaque)


def test_no_deps_torch_is_opaque(tmp_path):
    st = _stack(f"FROM {DEVEL}\nRUN pip install --no-deps torch\n", tmp_path, {})
    assert any("--no-deps" in o for o in st.opaque)


def test_python_version_from_apt(tmp_path):
    st = _stack(f"FROM {DEVEL}\nRUN apt-get install -y python3-pip\n", tmp_path, {})
    assert (st.python, st.python_from) == ("3.10", "apt")
    st = _stack(f"FROM {DEVEL}\nRUN apt-get install -y python3.11 python3.11-venv\n", tmp_path, {})
    assert st.python == "3.11"


def test_app_code_loading_system_cuda(tmp_path):
    text = f"FROM {DEVEL}\nRUN pip install torch\nCOPY app.py /app.py\n"
    st = _stack(text, tmp_path, {"app.py": "ctypes.CDLL('libcublasLt.so.12')\n"})
    assert st.system_cuda and "app.py" in st.system_cuda[0]


def test_runtime_image_is_the_entry_point_for_other_rules(tmp_path):
    text = f"FROM {DEVEL}\nRUN apt-get install -y python3-pip\nRUN pip install torch fastapi\n"
    doc = parse(text)
    lad = CS.runtime_image(doc, _ctx(tmp_path, {}), [doc.final_stage])
    assert lad.image == "nvidia/cuda:12.1.0-base-ubuntu22.04"
    lad = CS.runtime_image(doc, _ctx(tmp_path, {}), [doc.final_stage], compiles="flash-attn")
    assert lad.image == DEVEL


def test_slm007_on_a_runtime_image_offers_base(tmp_path):
    text = "FROM nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04\nRUN pip install torch\n"
    (f,) = list(R.check(parse(text), _ctx(tmp_path, {})))
    assert f.fix.edits[0].text == "nvidia/cuda:12.1.0-base-ubuntu22.04" and f.fix.applicability == "unsafe"
    assert f.estimate is not None


@pytest.mark.parametrize(
    "body, files, why",
    [
        ("ARG PKGS=onnxruntime-gpu\nRUN pip install $PKGS", {}, "variable"),
        (
            "COPY wheels/ /wheels/\nRUN pip install --no-index --find-links /wheels torch",
            {"wheels/x.txt": ""},
            "local directory",
        ),
        (
            'RUN pip install torch\nCOPY start.sh /start.sh\nCMD ["sh", "/start.sh"]',
            {"start.sh": "pip install onnxruntime-gpu\nexec python3 app.py\n"},
            "when the container starts",
        ),
        (
            "COPY setup.sh /setup.sh\nRUN sh /setup.sh",
            {"setup.sh": "pip install onnxruntime-gpu\n"},
            "installs packages",
        ),
        ("RUN curl -fsSL https://example.com/install.sh | sh", {}, "cannot read"),
        ("RUN pipx install some-tool", {}, "pipx"),
    ],
)
def test_installs_slimml_cannot_read_are_opaque(body, files, why, tmp_path):
    st = _stack(f"FROM {DEVEL}\n{body}\n", tmp_path, files)
    assert any(why in o for o in st.opaque), st.opaque
    lad = L.ladder(DEVEL, st.requirements, st.apt_packages, opaque=st.opaque)
    assert not lad.below_runtime


def test_native_builds_stay_on_runtime_for_the_planner_too(tmp_path):
    # SLM008 passes compiles="" for the runtime stage of a split; what nvcc built may link cuBLAS
    text = f"FROM {DEVEL}\nRUN pip install torch\nRUN nvcc -shared -o /usr/lib/libop.so op.cu -lcublas\n"
    doc = parse(text)
    lad = CS.runtime_image(doc, _ctx(tmp_path, {}), [doc.final_stage])
    assert not lad.below_runtime and "nvcc" in lad.stopped
