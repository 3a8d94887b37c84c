"""Focused tests for SLM007 cuda-runtime-base: what counts as compiling, stage chains, variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.rules import cuda_runtime_base as R

DEVEL = "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"
RUNTIME = "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"
BASE = "nvidia/cuda:12.1.0-base-ubuntu22.04"  # the ladder's step when the wheels bring every CUDA library


def _ctx(tmp: Path | None, files: dict[str, str] | None = None) -> Context:
    if tmp is not None:
        for rel, text in (files or {}).items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    return Context(settings=Settings(select=("SLM007",), unsafe_fixes=True), context_dir=tmp)


def _findings(text: str, tmp: Path | None = None, files: dict[str, str] | None = None):
    return list(R.check(parse(text), _ctx(tmp, files)))


def _fix(text: str, tmp: Path | None = None, files: dict[str, str] | None = None) -> str:
    ctx = _ctx(tmp, files)
    result = fix_text(text, ctx)
    assert not result.reverted and not result.nonconverged
    assert fix_text(result.output, ctx).output == result.output
    return result.output


@pytest.mark.parametrize(
    "run, image",
    [
        ("pip install --no-cache-dir xformers", BASE),  # a prebuilt wheel on torch's CUDA libraries
        ("pip install --no-cache-dir deepspeed", RUNTIME),  # ops JIT-compiled later: the unsafe reason says so
        ("DS_BUILD_OPS=0 pip install deepspeed", RUNTIME),
        (
            "pip install torch-scatter -f https://data.pyg.org/whl/torch-2.1.0+cu121.html",
            RUNTIME,
        ),  # unknown to the ladder
        ("python3 -m pip install -e /opt/tools", RUNTIME),  # no .cu files in the context; its dependencies unread
        ("echo CUDA is great", BASE),
    ],
)
def test_swapped_when_nothing_compiles(run, image, tmp_path):
    text = f"FROM {DEVEL}\nRUN {run}\n"
    out = _fix(text, tmp_path, {"app.py": "print(1)\n"})
    assert out == f"FROM {image}\nRUN {run}\n"


@pytest.mark.parametrize("run", ["pip install --no-cache-dir vllm==0.4.2", "pip install sglang[all]"])
def test_packages_that_compile_when_they_run_keep_devel(run, tmp_path):
    # triton needs a C compiler, FlashInfer nvcc, when the server runs: the devel image had both.
    (f,) = _findings(f"FROM {DEVEL}\nRUN {run}\n", tmp_path, {"app.py": "print(1)\n"})
    assert f.fix is None and "compiles when it runs" in f.message


@pytest.mark.parametrize("code", ["model = torch.compile(model)\n", "import triton\n@triton.jit\ndef k(): pass\n"])
def test_app_code_with_triton_or_torch_compile_keeps_devel(code, tmp_path):
    text = f'FROM {DEVEL}\nRUN pip install torch\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n'
    (f,) = _findings(text, tmp_path, {"app.py": code})
    assert f.fix is None and "app.py" in f.message


@pytest.mark.parametrize(
    "body, why",
    [
        ("RUN nvcc --version", "nvcc"),
        ("RUN cmake -B build . && cmake --build build", "cmake"),
        ("RUN make -j8", "make"),
        ("ENV CUDA_HOME=/usr/local/cuda\nRUN pip install my-kernels", "CUDA_HOME"),  # a package slimml cannot vouch for
        ("ARG TORCH_CUDA_ARCH_LIST=8.0\nRUN pip install -r missing.txt", "TORCH_CUDA_ARCH_LIST"),
        ("RUN export FORCE_CUDA=1 && pip install git+https://github.com/facebookresearch/detectron2.git", "FORCE_CUDA"),
        ("RUN pip install git+https://github.com/facebookresearch/detectron2.git", "detectron2"),
        ("RUN pip install git+https://github.com/facebookresearch/xformers.git@main", "xformers"),
        ("RUN pip install xformers --no-build-isolation", "xformers"),
        ("RUN pip install --no-binary bitsandbytes bitsandbytes", "bitsandbytes"),
        ("RUN DS_BUILD_FUSED_ADAM=1 pip install deepspeed", "DS_BUILD_FUSED_ADAM"),
        ("RUN pip install torch-scatter", "torch-scatter"),
        ("RUN sudo -E pip3 install 'flash_attn>=2'", "flash-attn"),
        ("RUN uv pip install --system causal-conv1d", "causal-conv1d"),
        ("RUN pip install --no-build-isolation -e .", "--no-build-isolation"),
    ],
)
def test_not_swapped_when_something_compiles(body, why, tmp_path):
    text = f"FROM {DEVEL}\n{body}\n"
    (f,) = _findings(text, tmp_path, {"app.py": "print(1)\n"})
    assert f.fix is None
    assert why in f.message
    assert "SLM008" in f.note
    assert _fix(text, tmp_path) == text


def test_cuda_sources_in_the_context_make_local_builds_count(tmp_path):
    text = f"FROM {DEVEL}\nWORKDIR /src\nRUN --mount=type=bind,target=/src pip install /src\n"
    # without .cu files the install of the (absolute, unknown) path is pure Python
    assert _findings(text, tmp_path, {"setup.py": ""})[0].fix is not None
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "kernel.cuh").write_text("")
    (f,) = _findings(text, tmp_path)
    assert f.fix is None and "CUDA sources" in f.message


def test_setup_py_build_ext_counts_only_with_cuda_sources(tmp_path):
    text = f"FROM {DEVEL}\nCOPY setup.py /src/\nRUN python3 /src/setup.py build_ext --inplace\n"
    assert _findings(text, tmp_path, {"setup.py": ""})[0].fix is not None
    (tmp_path / "k.cu").write_text("")
    (f,) = _findings(text, tmp_path)
    assert f.fix is None and "setup.py build_ext" in f.message


def test_unknown_context_is_conservative_for_local_builds():
    text = f"FROM {DEVEL}\nCOPY . /app\nRUN pip install /app\n"
    (f,) = _findings(text, None)
    assert f.fix is None


def test_requirements_file_naming_a_cuda_extension(tmp_path):
    text = f"FROM {DEVEL}\nCOPY reqs/ /tmp/reqs/\nRUN pip install -r /tmp/reqs/prod.txt\n"
    files = {"reqs/prod.txt": "-r common.txt\nfastapi\n", "reqs/common.txt": "apex @ git+https://x/apex\n"}
    (f,) = _findings(text, tmp_path, files)
    assert f.fix is None and "apex" in f.message


def test_only_the_final_stage_chain_is_considered(tmp_path):
    text = f"FROM {DEVEL} AS build\nRUN nvcc -o /k.so k.cu\n\nFROM {DEVEL}\nCOPY --from=build /k.so /k.so\n"
    out = _fix(text, tmp_path)
    assert out == (f"FROM {DEVEL} AS build\nRUN nvcc -o /k.so k.cu\n\nFROM {RUNTIME}\nCOPY --from=build /k.so /k.so\n")


def test_a_compiling_stage_built_on_the_same_base_blocks_the_swap(tmp_path):
    text = (
        f"FROM {DEVEL} AS base\nRUN pip install torch\n"
        "FROM base AS ext\nRUN pip install flash-attn --no-build-isolation\n"
        "FROM base\nCOPY --from=ext /usr/local/lib/python3.10 /usr/local/lib/python3.10\n"
    )
    (f,) = _findings(text, tmp_path)
    assert f.fix is None and "flash-attn" in f.message and "through stage `base`" in f.message


def test_chain_root_is_swapped_when_no_descendant_compiles(tmp_path):
    text = f'FROM {DEVEL} AS base\nRUN pip install torch\nFROM base AS test\nRUN pytest\nFROM base\nCMD ["python3"]\n'
    assert _fix(text, tmp_path) == text.replace(DEVEL, BASE, 1)


def test_a_compiling_stage_on_another_base_does_not_block(tmp_path):
    text = f'FROM {DEVEL} AS base\nFROM {DEVEL} AS other\nRUN make\nFROM base\nCMD ["python3"]\n'
    assert _fix(text, tmp_path) == f'FROM {BASE} AS base\nFROM {DEVEL} AS other\nRUN make\nFROM base\nCMD ["python3"]\n'


def test_keyword_case_platform_and_name_are_kept(tmp_path):
    text = f"from  --platform=$BUILDPLATFORM   {DEVEL}   as Serve\nrun pip install numpy\n"
    assert _fix(text, tmp_path) == text.replace(DEVEL, BASE)


@pytest.mark.parametrize("body", ["ENV CUDA_HOME=/usr/local/cuda", "ARG TORCH_CUDA_ARCH_LIST=8.0"])
def test_a_build_variable_alone_compiles_nothing_when_every_package_is_a_known_wheel(body, tmp_path):
    text = f"FROM {DEVEL}\n{body}\nRUN pip install torch fastapi\n"
    (f,) = _findings(text, tmp_path)
    assert f.fix is not None and "nothing to build" in f.fix.reason
    assert _fix(text, tmp_path) == text.replace(DEVEL, BASE)


def test_build_argument_default_is_rewritten_when_only_the_final_from_uses_it(tmp_path):
    text = f"ARG BASE={DEVEL}\nFROM ${{BASE}}\nRUN pip install numpy\n"
    (f,) = _findings(text, tmp_path)
    assert "--build-arg" in f.fix.reason
    assert _fix(text, tmp_path) == f"ARG BASE={BASE}\nFROM ${{BASE}}\nRUN pip install numpy\n"


def test_build_argument_default_used_by_another_stage_is_reported_not_rewritten(tmp_path):
    text = f"ARG BASE={DEVEL}\nFROM ${{BASE}} AS build\nRUN nvcc -o /k k.cu\nFROM ${{BASE}}\nCOPY --from=build /k /k\n"
    (f,) = _findings(text, tmp_path)
    assert f.fix is None and "build argument" in f.note
    assert _findings("ARG BASE=python:3.11\nFROM ${BASE}\n", tmp_path) == []


def test_estimate_uses_the_argument_default(tmp_path):
    text = "ARG CUDA=12.1.0\nFROM nvidia/cuda:${CUDA}-devel-ubuntu22.04\nRUN pip install numpy\n"
    (f,) = _findings(text, tmp_path)
    assert f.fix is not None and f.estimate is not None and f.estimate[0] > 1_000_000_000
    (g,) = _findings("FROM nvidia/cuda:${CUDA}-devel-ubuntu22.04\n", tmp_path)
    assert g.fix is not None and g.estimate is None  # no default: the CUDA major is unknown


def test_final_stage_from_a_stage_name_only(tmp_path):
    assert _findings("FROM python:3.11 AS a\nFROM a\n", tmp_path) == []


def test_unreadable_requirements_are_named_in_the_unsafe_reason(tmp_path):
    text = f"FROM {DEVEL}\nRUN pip install -r /deps/prod.txt\n"
    (f,) = _findings(text, tmp_path)
    assert f.fix is not None and "/deps/prod.txt" in f.fix.reason
    (tmp_path / "prod.txt").write_text("numpy\n")  # found by its file name
    (g,) = _findings(text, tmp_path)
    assert "not found" not in g.fix.reason


def test_requirements_found_through_a_glob_copy(tmp_path):
    text = f"FROM {DEVEL}\nWORKDIR /app\nCOPY deps/requirements*.txt ./\nRUN pip install -r requirements-gpu.txt\n"
    (f,) = _findings(text, tmp_path, {"deps/requirements-gpu.txt": "flash-attn==2.5.8\n"})
    assert f.fix is None and "flash-attn" in f.message


def test_a_false_build_switch_does_not_hide_a_real_one(tmp_path):
    (f,) = _findings(f"FROM {DEVEL}\nRUN DS_BUILD_OPS=0 CUDA_HOME=/usr/local/cuda pip install deepspeed\n", tmp_path)
    assert f.fix is None and "CUDA_HOME" in f.message


def test_exec_form_and_commands_that_run_nvcc(tmp_path):
    assert _findings(f'FROM {DEVEL}\nRUN ["cmake", "--build", "build"]\n', tmp_path)[0].fix is None
    assert _findings(f'FROM {DEVEL}\nCMD ["nvcc", "--version"]\n', tmp_path)[0].fix is None
    assert _findings(f'FROM {DEVEL}\nCMD ["python3", "serve.py"]\n', tmp_path)[0].fix is not None


@pytest.mark.parametrize(
    "files,tail",
    [
        (
            {"kernel.c": "int add(int a, int b) { return a + b; }\n"},
            'COPY kernel.c ./\nCMD ["sh", "-c", "gcc -shared -o /tmp/k.so kernel.c && python3 -c 1"]\n',
        ),
        (
            {"app.py": "from torch.utils.cpp_extension import load\nops = load(name='ops', sources=['ops.cu'])\n"},
            'COPY . /app\nCMD ["python3", "/app/app.py"]\n',
        ),
        (
            {"start.sh": '#!/bin/sh\nnvcc -o /tmp/k k.cu && exec "$@"\n'},
            'COPY start.sh /start.sh\nENTRYPOINT ["/start.sh"]\nCMD ["python3"]\n',
        ),
    ],
)
def test_no_runtime_base_for_a_container_that_compiles_when_it_runs(tmp_path, files, tail):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    src = "FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\nRUN pip install --no-cache-dir torch\n" + tail
    (tmp_path / "Dockerfile").write_text(src)
    ctx = Context(
        settings=Settings(select=("SLM007",), unsafe_fixes=True),
        dockerfile=tmp_path / "Dockerfile",
        context_dir=tmp_path,
    )
    r = fix_text(src, ctx)
    assert r.output == src
    [f] = r.findings
    assert f.fix is None and "compiles when it runs" in f.message
