"""SLM008's installer strategies (slimml/rules/multi_stage/installers/): where each installer's environment lives,
that the split copies exactly that, and the cases where an install would land outside it (refused, with why)."""

from __future__ import annotations

import pytest

from .test_rule_multi_stage import _run, _runtime_text, _stages

PY = "FROM python:3.11\n"


def _builder_text(out: str) -> str:
    st = _stages(out)[0]
    return "".join(i.text(out) + "\n" for i in st.instructions)


def _fix(text, tmp_path=None, files=None):
    r = _run(text, tmp_path, files)
    assert len(r.findings) == 1, r.findings
    return r.findings[0], r.output


# -- a virtualenv the file makes -------------------------------------------------------------------------------
def test_own_virtualenv_on_path_is_copied_whole_and_no_second_venv_is_made():
    f, out = _fix(
        PY + "RUN python -m venv /opt/app-venv\nENV PATH=/opt/app-venv/bin:$PATH\n"
        'RUN pip install flask\nCOPY . /app\nCMD ["python", "/app/app.py"]\n'
    )
    assert f.fix is not None
    rt = _runtime_text(out)
    assert "COPY --from=builder /opt/app-venv /opt/app-venv" in rt and "/opt/venv" not in out
    assert "ENV PATH=/opt/app-venv/bin:$PATH" in rt  # the file's own line, kept


@pytest.mark.parametrize(
    "install",
    [
        "RUN . /opt/v/bin/activate && pip install flask\n",
        "RUN /opt/v/bin/pip install flask\n",
        "RUN /opt/v/bin/python -m pip install flask\n",
    ],
)
def test_installs_that_name_the_virtualenv_land_in_it(install):
    f, out = _fix(PY + "RUN virtualenv /opt/v\n" + install + 'CMD ["/opt/v/bin/python", "-m", "flask"]\n')
    assert f.fix is not None and "COPY --from=builder /opt/v /opt/v" in _runtime_text(out)


@pytest.mark.parametrize(
    "body,why",
    [
        # PATH puts the base's Python first: pip installs there, not into the virtualenv
        (
            "RUN python -m venv /opt/v\nENV PATH=/usr/local/bin:/opt/v/bin:$PATH\nRUN pip install flask\n",
            "base's Python",
        ),
        ("RUN python -m venv /opt/v\nRUN pip install flask\n", "base's Python"),
        ("ARG V=/opt/v\nRUN python -m venv $V\n", "cannot be told"),
        ("ENV VIRTUAL_ENV=/opt/elsewhere\nRUN pip install flask\n", "VIRTUAL_ENV"),
        ("RUN . /opt/other/bin/activate && pip install flask\n", "does not make"),
    ],
)
def test_installs_outside_the_copied_environment_are_refused(body, why):
    f, out = _fix(PY + body)
    assert f.fix is None and why in f.note, f.note


def test_a_build_tool_installed_into_the_base_python_does_not_block_the_split():
    # `pip install uv` lands in the base's Python in the builder; nothing at run time needs it
    f, out = _fix(
        PY + "RUN pip install uv\nRUN python -m venv /opt/v\nENV VIRTUAL_ENV=/opt/v PATH=/opt/v/bin:$PATH\n"
        'RUN uv pip install flask\nCMD ["flask", "run"]\n'
    )
    assert f.fix is not None and "COPY --from=builder /opt/v /opt/v" in _runtime_text(out)


# -- uv -------------------------------------------------------------------------------------------------------
def test_uv_pip_system_is_pointed_at_the_virtualenv():
    # --system (and UV_SYSTEM_PYTHON) skip virtualenvs even first on PATH; an explicit --python wins over both
    f, out = _fix(
        PY + 'ENV UV_SYSTEM_PYTHON=1\nRUN pip install uv\nRUN uv pip install --system flask\nCMD ["flask", "run"]\n'
    )
    assert f.fix is not None
    assert "RUN uv pip install --python /opt/venv/bin/python --system flask\n" in _builder_text(out)


def test_uv_sync_copies_the_project_environment_after_the_copy_that_filled_its_directory(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname='a'\nversion='0'\nrequires-python='>=3.10'\n",
        "uv.lock": "",
        "app.py": "print(1)\n",
    }
    f, out = _fix(
        PY + 'RUN pip install uv\nWORKDIR /app\nCOPY . .\nRUN uv sync --frozen\nCMD [".venv/bin/python", "app.py"]\n',
        tmp_path,
        files,
    )
    assert f.fix is not None
    rt = _runtime_text(out)
    # a .venv in the context would have been overwritten by the sync in the original: the copy comes after it
    assert rt.index("COPY . .") < rt.index("COPY --from=builder /app/.venv /app/.venv")


def test_uv_sync_project_environment_variable(tmp_path):
    files = {"pyproject.toml": "[project]\nname='a'\nversion='0'\n", "uv.lock": ""}
    f, out = _fix(
        PY + "ENV UV_PROJECT_ENVIRONMENT=/opt/env\nRUN pip install uv\nWORKDIR /app\n"
        "COPY pyproject.toml uv.lock ./\nRUN uv sync --frozen\nCOPY . .\n",
        tmp_path,
        files,
    )
    assert "COPY --from=builder /opt/env /opt/env" in _runtime_text(out)


@pytest.mark.parametrize(
    "files,why",
    [
        ({"pyproject.toml": "[project]\nname='a'\nversion='0'\nrequires-python='>=3.12'\n"}, "requires Python"),
        ({"pyproject.toml": "[project]\nname='a'\nversion='0'\n", ".python-version": "3.12\n"}, "wants Python 3.12"),
    ],
)
def test_uv_sync_that_would_download_its_own_python_is_refused(tmp_path, files, why):
    f, _ = _fix(PY + "RUN pip install uv\nWORKDIR /app\nCOPY . .\nRUN uv sync\n", tmp_path, files)
    assert f.fix is None and why in f.note, f.note


def test_uv_sync_with_downloads_disabled_needs_no_proof_of_the_python(tmp_path):
    files = {"pyproject.toml": "[project]\nname='a'\nversion='0'\nrequires-python='>=3.12'\n"}
    f, _ = _fix(
        PY + "ENV UV_PYTHON_DOWNLOADS=never\nRUN pip install uv\nWORKDIR /app\nCOPY . .\nRUN uv sync\n", tmp_path, files
    )
    assert f.fix is not None  # the build fails as before if no Python fits; nothing is downloaded


def test_uv_run_at_run_time_needs_uv_in_the_runtime_stage(tmp_path):
    files = {"pyproject.toml": "[project]\nname='a'\nversion='0'\n", "uv.lock": ""}
    base = 'WORKDIR /app\nCOPY . .\nRUN uv sync --frozen\nCMD ["uv", "run", "app.py"]\n'
    f, out = _fix(PY + "RUN pip install uv\n" + base, tmp_path, files)
    assert f.fix is not None and "RUN pip install uv\n" in _runtime_text(out)  # re-run there: uv is at hand
    f, _ = _fix(PY + "RUN pip install uv && uv --version > /uv.txt\n" + base, tmp_path, files)
    assert f.fix is None
    f, out = _fix(PY + "COPY --from=ghcr.io/astral-sh/uv:0.5.0 /uv /uvx /bin/\n" + base, tmp_path, files)
    assert f.fix is not None and "COPY --from=ghcr.io/astral-sh/uv:0.5.0 /uv /uvx /bin/" in _runtime_text(out)
    assert "COPY . ." in _runtime_text(out) and "pyproject.toml" not in _builder_text(out).split("COPY . .")[0]


# -- poetry / pipenv / pdm --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tool,install", [("poetry", "poetry install --no-root"), ("pipenv", "pipenv install --deploy")]
)
def test_poetry_and_pipenv_install_into_the_virtualenv_through_virtual_env(tool, install):
    f, out = _fix(
        PY + f"RUN pip install {tool}\nWORKDIR /app\nCOPY . .\nRUN {install}\n"
        f'CMD ["{tool}", "run", "python", "app.py"]\n'
    )
    assert f.fix is not None
    b, rt = _builder_text(out), _runtime_text(out)
    assert "ENV VIRTUAL_ENV=/opt/venv" in b and "ENV VIRTUAL_ENV=/opt/venv" in rt
    # the tool was pip-installed after the virtualenv was made: it is in it, so `<tool> run` works at run time
    assert b.index("RUN python -m venv /opt/venv") < b.index(f"RUN pip install {tool}")


def test_poetry_from_its_own_installer_is_not_in_the_runtime_stage():
    f, _ = _fix(
        PY + 'RUN pipx install poetry\nWORKDIR /app\nCOPY . .\nRUN poetry install\nCMD ["poetry", "run", "app"]\n'
    )
    assert f.fix is None


def test_pipenv_told_to_ignore_virtualenvs_is_refused():
    f, _ = _fix(PY + "ENV PIPENV_IGNORE_VIRTUALENVS=1\nRUN pip install pipenv\nCOPY . .\nRUN pipenv install\n")
    assert f.fix is None and "PIPENV_IGNORE_VIRTUALENVS" in f.note


def test_pdm_project_environment_is_copied_and_pep582_is_refused():
    f, out = _fix(
        PY + 'RUN pip install pdm\nWORKDIR /app\nCOPY . .\nRUN pdm install --prod\nCMD [".venv/bin/python", "app.py"]\n'
    )
    assert f.fix is not None and "COPY --from=builder /app/.venv /app/.venv" in _runtime_text(out)
    f, _ = _fix(
        PY + "RUN pip install pdm && pdm config python.use_venv false\nWORKDIR /app\nCOPY . .\nRUN pdm install\n"
    )
    assert f.fix is None and "pdm config" in f.note


# -- conda --------------------------------------------------------------------------------------------------------
CONDA = "FROM continuumio/miniconda3:24.1.2-0\n"


def test_conda_named_environment_from_the_file_is_copied(tmp_path):
    files = {"environment.yml": "name: serve  # the env\ndependencies:\n  - python=3.11\n"}
    f, out = _fix(
        CONDA + "WORKDIR /app\nCOPY environment.yml .\nRUN conda env create -f environment.yml\n"
        'COPY . .\nCMD ["conda", "run", "-n", "serve", "python", "app.py"]\n',
        tmp_path,
        files,
    )
    assert f.fix is not None
    rt = _runtime_text(out)
    assert rt.startswith("FROM continuumio/miniconda3:24.1.2-0\n")  # conda is needed at run time: same base
    assert "COPY --from=builder /opt/conda/envs/serve /opt/conda/envs/serve" in rt
    assert "package cache" in f.message


def test_conda_prefix_and_cleaned_cache():
    f, out = _fix(
        CONDA + "RUN apt-get update && apt-get install -y gcc\n"
        "RUN conda create -y -p /env python=3.11 && conda clean -afy\nENV PATH=/env/bin:$PATH\n"
        'RUN pip install cython\nCMD ["python"]\n'
    )
    assert f.fix is not None and "COPY --from=builder /env /env" in _runtime_text(out)
    # cleaned cache and no build-only package: nothing to gain
    r = _run(CONDA + "RUN conda create -y -n x python=3.11 && conda clean -afy\n")
    assert r.findings == []


@pytest.mark.parametrize(
    "body,why",
    [
        ("RUN conda install -y numpy\n", "base environment"),
        ("RUN micromamba install -y -n base numpy\n", "base environment"),
        ("RUN conda create -y -n x python=3.11\nRUN pip install flask\n", "conda environment"),
    ],
)
def test_conda_refusals(body, why):
    f, _ = _fix(CONDA + "RUN apt-get update && apt-get install -y gcc\n" + body)
    assert f.fix is None and why in f.note, f.note


# -- install RUNs that also clone, download or link ---------------------------------------------------------------
CUDA = "FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\nRUN apt-get update && apt-get install -y python3 python3-pip git\n"


def test_a_clone_the_install_reads_stays_in_the_builder_and_a_link_moves_to_the_runtime():
    f, out = _fix(
        CUDA + "WORKDIR /opt\nRUN git clone https://github.com/NVIDIA/apex && cd apex && "
        "pip3 install --no-build-isolation ./ && ln -s /usr/bin/python3 /usr/bin/python\n"
        'WORKDIR /app\nCOPY . .\nCMD ["python", "serve.py"]\n'
    )
    assert f.fix is not None
    rt = _runtime_text(out)
    assert "git clone" not in rt and "RUN ln -s /usr/bin/python3 /usr/bin/python\n" in rt
    assert rt.index("COPY --from=builder /opt/venv") < rt.index("RUN ln -s") < rt.index("CMD")
    assert "/opt/apex" in f.fix.description and "stays in the builder" in f.fix.description


def test_an_editable_install_of_a_clone_copies_the_clone():
    f, out = _fix(
        PY + "WORKDIR /opt\nRUN git clone https://github.com/x/lib.git && pip install -e lib\n"
        'WORKDIR /app\nCOPY . .\nCMD ["python", "serve.py"]\n'
    )
    assert "COPY --from=builder /opt/lib /opt/lib" in _runtime_text(out)


@pytest.mark.parametrize(
    "body,why",
    [
        # the app runs from the clone: it cannot stay in the builder
        (
            'WORKDIR /opt\nRUN git clone https://github.com/x/lib.git && pip install ./lib\nCMD ["python", "lib/serve.py"]\n',
            "uses /opt/lib",
        ),
        ("RUN wget -O /opt/m.whl https://x/m.whl && pip install /opt/m.whl\nENV WHEEL=/opt/m.whl\n", "uses /opt/m.whl"),
        # relative links and `ln` with variables are not placed
        ("WORKDIR /app\nRUN pip install flask && ln -s bin/x y\n", "also runs `ln`"),
        ("RUN curl https://x/install.sh | sh && pip install flask\n", "also runs"),
    ],
)
def test_clones_downloads_and_links_that_cannot_be_placed(body, why):
    f, _ = _fix(PY + body)
    assert f.fix is None and why in f.note, f.note


def test_a_download_to_a_path_nothing_else_names_stays_in_the_builder():
    f, out = _fix(PY + 'RUN wget -O /opt/m.whl https://x/m.whl && pip install /opt/m.whl\nCMD ["python"]\n')
    assert f.fix is not None and "m.whl" not in _runtime_text(out)


# -- compiling at run time ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code,why",
    [
        ("import torch\nm = torch.compile(model)\n", "torch.compile"),
        ("from torch.utils.cpp_extension import load\nops = load(name='ops', sources=['ops.cu'])\n", "cpp_extension"),
        ("import triton\n", "Triton"),
        ("import cupy as cp\nk = cp.RawKernel(src, 'f')\n", "CuPy"),
        ("from numba import cuda\n@cuda.jit\ndef f(x):\n    pass\n", "Numba"),
    ],
)
def test_an_app_that_compiles_when_it_runs_keeps_devel_and_compilers(tmp_path, code, why):
    text = CUDA + 'RUN pip3 install torch\nWORKDIR /app\nCOPY . .\nCMD ["python3", "app.py"]\n'
    f, _ = _fix(text, tmp_path, {"app.py": code})
    assert f.fix is None and why in f.note and "devel image" in f.note, f.note


def test_code_that_only_mentions_compilation_in_a_string_is_not_a_compile(tmp_path):
    text = CUDA + 'RUN pip3 install torch\nWORKDIR /app\nCOPY . .\nCMD ["python3", "app.py"]\n'
    f, _ = _fix(text, tmp_path, {"app.py": "print('we do not use triton here')\n"})
    assert f.fix is not None


def test_an_openmp_extension_gets_libgomp_in_the_runtime_stage(tmp_path):
    files = {
        "ext/setup.py": "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('m', ['m.c'], "
        "extra_compile_args=['-fopenmp'])])\n",
        "ext/m.c": "int x;\n",
    }
    text = PY + 'WORKDIR /app\nCOPY ext/ ext/\nRUN pip install ./ext\nCMD ["python", "-c", "import m"]\n'
    f, out = _fix(text, tmp_path, files)
    assert "libgomp1" in _runtime_text(out) and "OpenMP" in f.fix.description
    f, out = _fix(text, tmp_path / "plain", {"ext/setup.py": "from setuptools import setup\nsetup()\n"})
    assert "libgomp1" not in out


# -- bases, variables and tools the corpus showed -------------------------------------------------------------------
def test_a_virtualenv_path_from_env_is_expanded():
    f, out = _fix(
        PY + 'ENV VIRTUAL_ENV=/opt/venv\nRUN python3 -m venv $VIRTUAL_ENV\nENV PATH="$VIRTUAL_ENV/bin:$PATH"\n'
        'RUN pip install flask\nCMD ["python", "app.py"]\n'
    )
    assert f.fix is not None and "COPY --from=builder /opt/venv /opt/venv" in _runtime_text(out)
    assert out.count("venv /opt/venv") == 1  # the file's own venv, not a second one
    f, _ = _fix("FROM python:3.11\nARG V=/opt/v\nRUN python3 -m venv $V\nRUN $V/bin/pip install flask\n")
    assert f.fix is None  # a build argument can change it


def test_a_base_written_with_variables_keeps_them_in_the_runtime_variant():
    f, out = _fix(
        "ARG CUDA_VERSION=12.1.0\nFROM nvidia/cuda:${CUDA_VERSION}-cudnn8-devel-ubuntu22.04\n"
        "RUN apt-get update && apt-get install -y python3-pip python3-venv\nRUN pip3 install flask\n"
    )
    assert "FROM nvidia/cuda:${CUDA_VERSION}-cudnn8-runtime-ubuntu22.04\n" in out


def test_uv_image_splits_onto_its_slim_flavour_which_carries_uv(tmp_path):
    files = {"pyproject.toml": "[project]\nname='a'\nversion='0'\nrequires-python='>=3.12'\n", "uv.lock": ""}
    f, out = _fix(
        "FROM ghcr.io/astral-sh/uv:python3.12-bookworm\nWORKDIR /app\nCOPY . .\nRUN uv sync --frozen\n"
        'CMD ["uv", "run", "app.py"]\n',
        tmp_path,
        files,
    )
    assert f.fix is not None and "FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim\n" in out


def test_mim_installs_like_pip_and_a_kept_installer_run_provides_its_tool():
    f, out = _fix(PY + 'RUN pip install openmim && mim install mmcv\nCMD ["python"]\n')
    assert f.fix is not None and "mim install mmcv" in _builder_text(out)
    f, out = _fix(
        "FROM python:3.10\nRUN curl -sSL https://install.python-poetry.org | python3 - && poetry config "
        'virtualenvs.create false\nWORKDIR /app\nCOPY . .\nRUN poetry install\nCMD ["poetry", "run", "x"]\n'
    )
    assert f.fix is not None and "install.python-poetry.org" in _runtime_text(out)


def test_a_download_the_install_does_not_consume_runs_in_the_runtime_stage_and_mkdir_moves():
    f, out = _fix(
        PY + "RUN pip install onnxruntime && mkdir -p /models && wget -O /models/m.onnx https://x/m.onnx "
        "&& ln -s /models/m.onnx /app/m.onnx\n"
    )
    rt = _runtime_text(out)
    assert f.fix is not None and "RUN mkdir -p /models && wget -O /models/m.onnx https://x/m.onnx && ln -s " in rt
    assert "install -y --no-install-recommends wget" in rt  # the slim base has no wget
    f, _ = _fix(PY + "WORKDIR /app\nRUN pip install onnxruntime && wget -O m.onnx https://x/m.onnx\n")
    assert f.fix is None and "download to /app/m.onnx" in f.note  # a relative target is not re-placed
    f, out = _fix(PY + 'RUN pip install flask && mkdir -p /data/cache\nCMD ["flask", "run"]\n')
    assert f.fix is not None and "RUN mkdir -p /data/cache\n" in _runtime_text(out)


def test_pdm_pep582_is_refused():
    f, _ = _fix(PY + "RUN pip install pdm\nWORKDIR /p\nCOPY . .\nRUN mkdir __pypackages__ && pdm install\n")
    assert f.fix is None and "PEP 582" in f.note


@pytest.mark.parametrize(
    "cmd,new",
    [
        ('CMD ["/usr/local/bin/python", "app.py"]\n', 'CMD ["/opt/venv/bin/python", "app.py"]\n'),
        ("CMD /usr/local/bin/python3 app.py\n", "CMD /opt/venv/bin/python3 app.py\n"),
        ("RUN /usr/local/bin/python -c 'import flask'\n", "RUN /opt/venv/bin/python -c 'import flask'\n"),
    ],
)
def test_the_base_interpreter_by_absolute_path_becomes_the_virtualenvs(cmd, new):
    f, out = _fix(PY + "RUN pip install flask\n" + cmd)
    assert f.fix is not None and new in _runtime_text(out), out


@pytest.mark.parametrize(
    "cmd",
    [
        'CMD ["/usr/local/bin/python3.9", "app.py"]\n',  # another Python than the one the virtualenv is made from
        "RUN ln -s /usr/local/bin/python /usr/bin/py && /usr/bin/py -V\n",  # not a program word: refused as before
        'CMD ["sh", "-c", "/opt/other/bin/python app.py"]\n',
    ],
)
def test_other_absolute_interpreters_are_still_refused(cmd):
    f, out = _fix(PY + "RUN pip install flask\n" + cmd)
    assert f.fix is None or "/usr/local/bin/python3.9" not in out


def test_an_absolute_pip_upgrade_in_the_builder_upgrades_the_virtualenvs_pip():
    f, out = _fix(PY + "RUN /usr/local/bin/python -m pip install --upgrade pip\nRUN pip install flask\n")
    assert "RUN /opt/venv/bin/python -m pip install --upgrade pip\n" in _builder_text(out)


# -- the CUDA base ladder for the runtime stage ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "pkgs,image",
    [
        ("torch==2.3.1 fastapi", "nvidia/cuda:12.1.0-base-ubuntu22.04"),  # CUDA libraries come with the wheels
        ("onnxruntime-gpu fastapi", "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"),  # needs the system cuDNN/cuBLAS
        ("some-unknown-package", "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"),  # unknown: no step below runtime
    ],
)
def test_the_runtime_stage_goes_as_low_as_the_installs_prove(tmp_path, pkgs, image):
    # the app's code is read too (a literal libcudart.so would need the system CUDA)
    f, out = _fix(
        "FROM nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04\n"
        "RUN apt-get update && apt-get install -y python3 python3-pip python3-venv git\n"
        f'RUN pip3 install {pkgs}\nWORKDIR /app\nCOPY . .\nCMD ["python3", "serve.py"]\n',
        tmp_path,
        {"serve.py": "import fastapi\n"},
    )
    assert f.fix is not None and _stages(out)[-1].image == image, out


def test_the_builder_installs_as_root_whatever_user_the_base_runs_as():
    # mambaorg/micromamba runs as mambauser: the file's own `USER root` before apt went to the runtime stage only,
    # and the builder's apt-get ran as mambauser
    f, out = _fix(
        "FROM python:3.11\nUSER root\nRUN apt-get update && apt-get install -y gcc\nUSER app\n"
        'RUN pip install flask\nCMD ["flask", "run"]\n'
    )
    b = _builder_text(out)
    assert b.splitlines()[1] == "USER root" and "USER app" not in b
    assert "USER app" in _runtime_text(out)


def test_a_clone_only_run_whose_checkout_is_copied_built_stays_in_the_builder():
    f, out = _fix(
        PY + "RUN apt-get update && apt-get install -y git gcc\n"
        "RUN git clone https://github.com/facebookresearch/detectron2 /d2\n"
        'RUN pip install -e /d2\nWORKDIR /d2\nCMD ["python", "predict.py"]\n'
    )
    rt = _runtime_text(out)
    assert "git clone" not in rt and "COPY --from=builder /d2 /d2" in rt and " git" not in rt.split("COPY")[0]
    assert "git clone" in _builder_text(out)


def test_an_installer_the_runtime_stage_runs_is_installed_there_too():
    f, out = _fix(
        "FROM python:3.12-slim\nRUN apt-get update && apt-get install -y gcc\nRUN pip install pdm\n"
        'WORKDIR /app\nCOPY . .\nRUN pdm install --prod\nCMD ["pdm", "run", "start"]\n'
    )
    rt = _runtime_text(out)
    assert f.fix is not None and "RUN pip install pdm\n" in rt and "gcc" not in rt
    # the RUN is re-run whole, so whatever it installs next to the tool is in the runtime stage as it was
    f, out = _fix(
        "FROM python:3.12-slim\nRUN apt-get update && apt-get install -y gcc\nRUN pip install pdm flask\n"
        'WORKDIR /app\nCOPY . .\nRUN pdm install --prod\nCMD ["pdm", "run", "start"]\n'
    )
    assert "RUN pip install pdm flask\n" in _runtime_text(out)
    # a RUN that does more than the tool's install is not re-run: refused as before
    f, _ = _fix(
        "FROM python:3.12-slim\nRUN apt-get update && apt-get install -y gcc\n"
        "RUN pip install pdm && pdm config check_update false\nWORKDIR /app\nCOPY . .\nRUN pdm install\n"
        'CMD ["pdm", "run", "start"]\n'
    )
    assert f.fix is None and "runs `pdm`" in f.note
