"""SLM004 deps-before-source: the tricky parts (pip's path rules, manifests, when not to move)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import Applicability, fix_text
from slimml.rules import deps_before_source as R

BASE = "FROM python:3.11-slim\nWORKDIR /app\n"


def _ctx(tmp_path: Path | None, files: dict[str, str | None] | None = None, unsafe: bool = False) -> Context:
    if tmp_path is not None:
        for rel, text in (files or {}).items():
            p = tmp_path / rel
            if text is None:
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
    return Context(settings=Settings(select=("SLM004",), unsafe_fixes=unsafe), context_dir=tmp_path)


def _fix(text: str, ctx: Context):
    r = fix_text(text, ctx)
    assert not r.reverted and not r.nonconverged
    return r


def _only(r):
    assert len(r.findings) == 1, r.findings
    return r.findings[0]


# -- pure helpers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, expected",
    [
        ("numpy==1.26", None),
        ("uvicorn[standard]>=0.30", None),
        ("torch; platform_machine == 'x86_64'", None),
        ("git+https://github.com/org/repo.git@v1#egg=x", None),
        ("pkg @ https://example.com/pkg.whl", None),
        (".", (".", [])),
        (".[serve,gpu]", (".", ["serve", "gpu"])),
        ("./libs/foo", ("./libs/foo", [])),
        ("libs/foo", ("libs/foo", [])),
        ("dist/mypkg-1.0-py3-none-any.whl", ("dist/mypkg-1.0-py3-none-any.whl", [])),
        ("file:./vendor/x#egg=x", ("./vendor/x", [])),
        ("mylib @ file:///app/libs/mylib", ("/app/libs/mylib", [])),
        ("$PKG", "?"),
    ],
)
def test_local_path(spec, expected):
    assert R.local_path(spec) == expected


def test_requirement_lines_join_continuations_and_drop_comments():
    text = "# top\nnumpy==1.0  # pinned\nonnx==1.16 \\\n    --hash=sha256:ab\n\nurl#frag\n-r base.txt\n"
    assert R.requirement_lines(text) == ["numpy==1.0", "onnx==1.16      --hash=sha256:ab", "url#frag", "-r base.txt"]


def test_conda_pip_entries_block_and_flow():
    text = (
        'name: x\ndependencies:\n  - python=3.11\n  - pip:\n      - -r reqs.txt  # c\n      - "-e ./pkg"\n'
        "  - numpy\n  - pip: [a, 'b==1']\n"
    )
    assert R.conda_pip_entries(text) == ["-r reqs.txt", "-e ./pkg", "a", "b==1"]


def test_static_deps():
    data = {"project": {"name": "x", "dependencies": ["a"], "optional-dependencies": {"s": ["b", "a"]}}}
    assert R._static_deps(data, ["s"]) == ["a", "b"]
    assert R._static_deps(data, ["unknown"]) == ["a"]
    assert R._static_deps({"project": {"name": "x", "dynamic": ["dependencies"]}}, []) is None
    assert R._static_deps({"tool": {}}, []) is None


# -- the rule ----------------------------------------------------------------------------------------
def test_includes_are_relative_to_the_file_but_local_dirs_to_the_working_dir(tmp_path):
    ctx = _ctx(
        tmp_path,
        {
            "requirements/prod.txt": "-r base.txt\n./libs/a\n",
            "requirements/base.txt": "numpy\n",
            "libs/a/setup.py": "",
            "requirements/libs/a/setup.py": "",  # a decoy: pip resolves ./libs/a against the cwd
        },
    )
    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements/prod.txt\n", ctx)
    assert r.output == BASE + (
        "COPY requirements/prod.txt requirements/base.txt ./requirements/\n"
        "COPY libs/a ./libs/a/\n"
        "RUN pip install -r requirements/prod.txt\n"
        "COPY . .\n"
    )


def test_manifests_already_copied_are_not_copied_again(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n"})
    src = BASE + 'COPY requirements.txt .\nCOPY . .\nRUN pip install -r requirements.txt\nCMD ["x"]\n'
    r = _fix(src, ctx)
    assert r.output == BASE + 'COPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nCMD ["x"]\n'


def test_no_trailing_newline_and_exec_form_copy(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n"})
    r = _fix(BASE + 'COPY [".", "."]\nRUN pip install -r requirements.txt', ctx)
    assert r.output == BASE + 'COPY requirements.txt ./\nRUN pip install -r requirements.txt\nCOPY [".", "."]'
    parse(r.output)


def test_missing_file_and_unknown_context_are_said(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n"})
    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements.txt -r requirements-dev.txt\n", ctx)
    f = _only(r)
    assert "not found in the build context: requirements-dev.txt" in f.fix.description
    assert "COPY requirements.txt requirements-dev.txt ./\n" in r.output

    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements.txt\n", _ctx(None))
    assert "build context unknown" in _only(r).fix.description
    assert r.output.startswith(BASE + "COPY requirements.txt ./\n")


def test_pyproject_fix_is_unsafe_and_not_applied_by_default(tmp_path):
    files = {"pyproject.toml": "[project]\nname = 'svc'\nversion = '1'\ndependencies = ['httpx>=0.27']\n"}
    src = BASE + "COPY . .\nRUN pip install --no-cache-dir .\n"
    r = _fix(src, _ctx(tmp_path, files))
    f = _only(r)
    assert f.fix.applicability is Applicability.UNSAFE and "pyproject.toml" in f.fix.reason
    assert r.output == src
    r = _fix(src, _ctx(tmp_path, unsafe=True))
    assert r.output == BASE + (
        "COPY pyproject.toml ./\nRUN pip install --no-cache-dir 'httpx>=0.27'\nCOPY . .\n"
        "RUN pip install --no-cache-dir .\n"
    )


def test_project_depending_on_itself_is_not_flattened(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname = 'Svc_X'\nversion = '1'\ndependencies = []\n"
        "[project.optional-dependencies]\nall = ['svc-x[gpu]']\ngpu = ['torch']\n"
    }
    r = _fix(BASE + "COPY . .\nRUN pip install '.[all]'\n", _ctx(tmp_path, files, unsafe=True))
    f = _only(r)
    assert f.fix is None and "depends on the project itself" in f.note


def test_setup_py_project_gets_a_note(tmp_path):
    r = _fix(
        BASE + "COPY . .\nRUN pip install -r requirements.txt && pip install -e .\n",
        _ctx(tmp_path, {"requirements.txt": "x\n", "setup.py": ""}),
    )
    f = _only(r)
    assert f.fix is None and "installs the project itself" in f.note


def test_project_venv_in_the_context_blocks_unless_dockerignored(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname = 'a'\nversion = '1'\ndependencies = []\n",
        "uv.lock": "",
        ".venv/pyvenv.cfg": "",
    }
    src = BASE + "COPY . .\nRUN uv sync --locked\n"
    f = _only(_fix(src, _ctx(tmp_path, files)))
    assert f.fix is None and ".dockerignore" in f.note
    (tmp_path / ".dockerignore").write_text("**/.venv/\n")
    r = _fix(src, _ctx(tmp_path))
    # no [build-system]: uv does not install the project, so the install just moves
    assert r.output == BASE + "COPY pyproject.toml uv.lock ./\nRUN uv sync --locked\nCOPY . .\n"


def test_two_step_install_refuses_commands_that_fail_twice(tmp_path):
    files = {"pyproject.toml": "[tool.poetry]\nname = 'a'\n[build-system]\nrequires = ['poetry-core']\n"}
    f = _only(_fix(BASE + "COPY . .\nRUN useradd app && poetry install\n", _ctx(tmp_path, files)))
    assert f.fix is None and "useradd" in f.note


def test_between_instructions(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n"})
    ok = _fix(
        BASE + "COPY . .\nENV A=1\nRUN apt-get update && apt-get install -y gcc\nRUN pip install torch\n"
        "RUN pip install -r requirements.txt\n",
        ctx,
    )
    assert ok.output.endswith("RUN pip install -r requirements.txt\nCOPY . .\n")
    for between, word in [
        ("USER app", "user"),
        ("WORKDIR /app/sub", "directory"),
        ("COPY x.cfg .", "COPY"),
        ("RUN python setup.py build_ext", "python setup.py"),
        ("RUN cd src && make", "cd"),
    ]:
        f = _only(_fix(BASE + f"COPY . .\n{between}\nRUN pip install -r /app/requirements.txt\n", ctx))
        assert f.fix is None and word in f.note and "line 4" in f.note


def test_writes_into_the_sources_block(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n", "config.ini": "a"})
    f = _only(_fix(BASE + "COPY . .\nRUN pip install -r requirements.txt && echo b > config.ini\n", ctx))
    assert f.fix is None and "config.ini" in f.note
    # a file the context does not have is not overwritten by the moved COPY
    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements.txt && echo b > build.log\n", ctx)
    assert r.output.endswith("build.log\nCOPY . .\n")


def test_already_ordered_two_step_and_garbage_copy_are_left_alone(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n", "setup.py": ""})
    src = (
        BASE + "COPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n"
        "RUN pip install --no-deps -e .\n"
    )
    assert _fix(src, ctx).findings == []
    src = BASE + "COPY . . || true\nRUN pip install -r requirements.txt\n"
    assert _fix(src, ctx).findings == []
    src = BASE + "COPY --from=build . .\nRUN pip install -r requirements.txt\n"
    assert _fix(src, ctx).findings == []


def test_only_the_first_install_per_stage_each_pass_but_converges(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n", "requirements-dev.txt": "y\n"})
    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements.txt\nRUN pip install -r requirements-dev.txt\n", ctx)
    assert r.output == BASE + (
        "COPY requirements.txt ./\nRUN pip install -r requirements.txt\n"
        "COPY requirements-dev.txt ./\nRUN pip install -r requirements-dev.txt\nCOPY . .\n"
    )


def test_workdir_between_is_fine_only_for_an_absolute_plain_copy(tmp_path):
    ctx = _ctx(tmp_path, {"requirements.txt": "x\n"})
    head = "FROM python:3.11-slim\n"
    r = _fix(head + "COPY . /srv\nWORKDIR /srv\nRUN pip install -r requirements.txt\n", ctx)
    assert (
        r.output
        == head + "COPY requirements.txt /srv/\nWORKDIR /srv\nRUN pip install -r requirements.txt\nCOPY . /srv\n"
    )
    for copy in ("COPY --chown=app . /srv", "COPY . srv"):
        f = _only(_fix(head + f"{copy}\nWORKDIR /srv\nRUN pip install -r requirements.txt\n", ctx))
        assert f.fix is None and "directory the install runs in" in f.note


# -- what the installer reads besides its command line (semantics.installers) ----------------------------
def _early_copy(out: str) -> str:
    """The COPY lines before the first RUN (what the move copies early)."""
    head = out.split("\nRUN ", 1)[0]
    return "\n".join(line for line in head.splitlines() if line.upper().startswith("COPY"))


REQ = {"requirements.txt": "flask\n"}


@pytest.mark.parametrize(
    "pre,files,early",
    [
        # a constraints file named by the environment (absolute, relative to WORKDIR, exported in the RUN)
        ("ENV PIP_CONSTRAINT=/app/constraints.txt\n", {"constraints.txt": "flask<3\n"}, ["constraints.txt"]),
        ("ENV PIP_CONSTRAINT=constraints.txt\n", {"constraints.txt": "flask<3\n"}, ["constraints.txt"]),
        # pip.conf named by PIP_CONFIG_FILE: a private index, no-index + find-links into the sources
        (
            "ENV PIP_CONFIG_FILE=/app/pip.conf\n",
            {"pip.conf": "[global]\nindex-url = https://pypi.internal.example/simple\n"},
            ["pip.conf"],
        ),
        (
            "ENV PIP_CONFIG_FILE=/app/pip.conf\n",
            {
                "pip.conf": "[global]\nno-index = true\nfind-links =\n    /app/wheels\n",
                "wheels/flask-3.0-py3-none-any.whl": "x",
            },
            ["pip.conf", "wheels/"],
        ),
        ("ENV PIP_FIND_LINKS=/app/wheels PIP_NO_INDEX=1\n", {"wheels/flask-3.0-py3-none-any.whl": "x"}, ["wheels/"]),
    ],
)
def test_the_early_copy_brings_what_the_installer_config_names(tmp_path, pre, files, early):
    text = BASE + pre + "COPY . .\nRUN pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, **files}))
    f = _only(r)
    assert f.fix is not None and f.fix.applicability is Applicability.SAFE, f.note
    copied = _early_copy(r.output)
    for name in ["requirements.txt", *early]:
        assert name in copied, r.output


def test_an_installer_setting_from_a_build_arg_withdraws_the_move(tmp_path):
    text = BASE + "ARG PIP_CONSTRAINT=/app/constraints.txt\nCOPY . .\nRUN pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "constraints.txt": "flask<3\n"}))
    f = _only(r)
    assert f.fix is None and "build argument" in f.note


def test_an_exported_setting_in_the_install_run_counts(tmp_path):
    text = BASE + "COPY . .\nRUN export PIP_CONSTRAINT=/app/c.txt && pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "c.txt": "flask<3\n"}))
    assert "c.txt" in _early_copy(r.output), r.output


def test_a_pip_conf_copied_earlier_can_point_into_the_sources(tmp_path):
    text = (
        "FROM python:3.11-slim\nCOPY pip.conf /etc/pip.conf\nWORKDIR /app\n"
        "COPY . .\nRUN pip install -r requirements.txt\n"
    )
    r = _fix(text, _ctx(tmp_path, {**REQ, "pip.conf": "[global]\nfind-links = /app/vendor\n", "vendor/x.whl": "x"}))
    assert "vendor/" in _early_copy(r.output.split("WORKDIR /app\n", 1)[1]), r.output


def test_a_pip_conf_written_by_an_earlier_run_withdraws_the_move(tmp_path):
    text = (
        "FROM python:3.11-slim\nRUN printf '[global]\\nfind-links=/app/w\\n' > /etc/pip.conf\nWORKDIR /app\n"
        "COPY . .\nRUN pip install -r requirements.txt\n"
    )
    r = _fix(text, _ctx(tmp_path, REQ))
    assert _only(r).fix is None and "pip.conf" in _only(r).note


@pytest.mark.parametrize(
    "files,early",
    [
        (
            {
                "pyproject.toml": '[project]\nname="x"\nversion="0"\n[tool.uv]\nindex-url = "https://pypi.internal/simple"\n'
            },
            ["pyproject.toml"],
        ),
        ({"uv.toml": 'find-links = ["./vendor"]\n', "vendor/x.whl": "x"}, ["uv.toml", "vendor/"]),
    ],
)
def test_uv_project_config_is_copied_early(tmp_path, files, early):
    text = BASE + "COPY . .\nRUN uv pip install --system --no-cache -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, **files}))
    copied = _early_copy(r.output)
    for name in early:
        assert name in copied, r.output


def test_a_pyproject_without_uv_settings_is_not_copied_for_uv_pip(tmp_path):
    text = BASE + "COPY . .\nRUN uv pip install --system --no-cache -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "pyproject.toml": '[project]\nname="x"\nversion="0"\n'}))
    assert "pyproject.toml" not in _early_copy(r.output)


def test_poetry_local_config_is_copied_early(tmp_path):
    text = BASE + "COPY . .\nRUN poetry install --no-root\n"
    files = {
        "pyproject.toml": '[tool.poetry]\nname="x"\nversion="0"\n[[tool.poetry.source]]\nname="corp"\n'
        'url="https://pypi.corp/simple"\npriority="primary"\n',
        "poetry.lock": "",
        "poetry.toml": "[virtualenvs]\nin-project = true\n",
    }
    r = _fix(text, _ctx(tmp_path, files))
    copied = _early_copy(r.output)
    assert "pyproject.toml" in copied and "poetry.toml" in copied, r.output


@pytest.mark.parametrize(
    "pre,files,early",
    [
        # a CA bundle for a private index, and credentials in the home the sources fill
        ("ENV REQUESTS_CA_BUNDLE=/app/certs/corp.pem\n", {"certs/corp.pem": "PEM"}, ["certs/corp.pem"]),
        ("ENV PIP_CERT=certs/corp.pem\n", {"certs/corp.pem": "PEM"}, ["certs/corp.pem"]),
        ("ENV NETRC=/app/.netrc\n", {".netrc": "machine pypi.corp login x password y\n"}, [".netrc"]),
    ],
)
def test_credentials_and_ca_bundles_in_the_sources_are_copied_early(tmp_path, pre, files, early):
    text = BASE + pre + "COPY . .\nRUN pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, **files}))
    copied = _early_copy(r.output)
    for name in early:
        assert name in copied, r.output


@pytest.mark.parametrize(
    "pre,run,module",
    [
        # PYTHONPATH puts the sources before the standard library: a build with `logging.py` there
        # fails (checked with the engine: pip exits 1), the moved install would not.
        ("ENV PYTHONPATH=/app\n", "python -m pip install -r requirements.txt", "email.py"),
        ("ENV PYTHONPATH=/app:/opt/lib\n", "pip3 install -r requirements.txt", "tokenize.py"),
        ("ENV PYTHONPATH=/app\n", "pip install -r requirements.txt", "sitecustomize.py"),
        ("ENV PYTHONPATH=/app\n", "pip install -r requirements.txt", "logging/__init__.py"),
    ],
)
def test_a_source_module_that_shadows_what_the_installer_imports_withdraws_the_move(tmp_path, pre, run, module):
    text = BASE + pre + f"COPY . .\nRUN {run}\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, module: "x = 1\n"}))
    f = _only(r)
    assert f.fix is None and "sys.path" in f.note, r.output


def test_a_module_pip_never_imports_does_not_withdraw_the_move(tmp_path):
    text = BASE + "ENV PYTHONPATH=/app\nCOPY . .\nRUN python -m pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "test.py": "x = 1\n", "code.py": "y = 2\n"}))
    assert _only(r).fix is not None


@pytest.mark.parametrize("run", ["pip install -r requirements.txt", "python -m pip install -r requirements.txt"])
def test_pip_does_not_see_the_working_directory(tmp_path, run):
    # `python -m pip` drops the working directory from sys.path before importing (pip/__main__.py).
    text = BASE + f"COPY . .\nRUN {run}\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "logging.py": "x = 1\n"}))
    assert _only(r).fix is not None


def test_pip_target_inside_the_sources_withdraws_the_move(tmp_path):
    text = BASE + "ENV PIP_TARGET=/app/vendor\nCOPY . .\nRUN pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {**REQ, "vendor/keep.txt": "x"}))
    f = _only(r)
    assert f.fix is None and "vendor" in f.note


@pytest.mark.parametrize(
    "setup,static",
    [
        ("from setuptools import setup\nsetup(name='x', version='1', packages=['x'])\n", True),
        (
            "from setuptools import setup, find_packages\nNAME = 'x'\nsetup(name=NAME, packages=find_packages('src'))\n",
            True,
        ),
        ("import setuptools\nif __name__ == '__main__':\n    setuptools.setup(name='x')\n", True),
        (
            "from pathlib import Path\nfrom setuptools import setup\n"
            "setup(name='x', version=(Path(__file__).parents[2] / 'VERSION').read_text())\n",
            False,
        ),
        ("from setuptools import setup\nsetup(name='x', version=open('../VERSION').read())\n", False),
        ("import os\nfrom setuptools import setup\nsetup(name='x')\n", False),
    ],
)
def test_static_setup_py(setup, static):
    assert R.static_setup_py(setup) is static


@pytest.mark.parametrize(
    "files",
    [
        {
            "libs/core/setup.py": "from pathlib import Path\nfrom setuptools import setup\n"
            "setup(name='core', version=(Path(__file__).parents[2] / 'VERSION').read_text())\n"
        },
        {
            "libs/core/pyproject.toml": '[project]\nname = "core"\ndynamic = ["version"]\n'
            '[tool.setuptools.dynamic]\nversion = {file = "../../VERSION"}\n'
        },
    ],
)
def test_a_local_package_whose_build_reads_outside_its_folder_withdraws_the_move(tmp_path, files):
    text = BASE + "COPY . .\nRUN pip install -r requirements.txt\n"
    r = _fix(text, _ctx(tmp_path, {"requirements.txt": "./libs/core\n", "VERSION": "1.0\n", **files}))
    f = _only(r)
    assert f.fix is None and "libs/core" in f.note


def test_a_local_index_and_the_files_its_pages_link_to_are_copied_early(tmp_path):
    files = {
        "requirements.txt": "--index-url file:///app/pypi/simple\nacme\n",
        "pypi/simple/acme/index.html": '<a href="../../packages/acme-1.0-py3-none-any.whl#sha256=0">acme</a>',
        "pypi/packages/acme-1.0-py3-none-any.whl": "x",
    }
    r = _fix(BASE + "COPY . .\nRUN pip install -r requirements.txt\n", _ctx(tmp_path, files))
    copied = _early_copy(r.output)
    assert "pypi/simple/" in copied and "acme-1.0-py3-none-any.whl" in copied, r.output


def test_uv_reads_path_sources_of_a_pyproject_given_with_r(tmp_path):
    files = {
        "pyproject.toml": '[project]\nname = "app"\nversion = "1"\ndependencies = ["geo"]\n'
        '[tool.uv.sources]\ngeo = { path = "libs/geo" }\n',
        "libs/geo/pyproject.toml": '[project]\nname = "geo"\nversion = "1"\n',
    }
    r = _fix(BASE + "COPY . .\nRUN uv pip install --system --no-cache -r pyproject.toml\n", _ctx(tmp_path, files))
    assert "libs/geo" in _early_copy(r.output), r.output


def test_uv_sync_of_a_dynamic_project_without_a_lock_keeps_the_sources_first(tmp_path):
    files = {
        "pyproject.toml": '[project]\nname = "api"\ndynamic = ["version"]\ndependencies = ["six"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[tool.hatch.version]\npath = "src/api/__about__.py"\n'
    }
    r = _fix(BASE + "COPY . .\nRUN uv sync --no-cache\n", _ctx(tmp_path, files))
    f = _only(r)
    assert f.fix is None and "dynamic" in f.note


def test_xdg_config_home_moves_pip_conf_into_the_sources(tmp_path):
    files = {
        **REQ,
        ".config/pip/pip.conf": "[global]\nno-index = true\nfind-links = /app/wheels\n",
        "wheels/x.whl": "x",
    }
    r = _fix(
        BASE + "ENV XDG_CONFIG_HOME=/app/.config\nCOPY . .\nRUN pip install -r requirements.txt\n",
        _ctx(tmp_path, files),
    )
    copied = _early_copy(r.output)
    assert ".config/pip/pip.conf" in copied and "wheels/" in copied, r.output


# -- local package sources named by a project manifest (found by building the split's adversarial cases) --------
@pytest.mark.parametrize(
    "tool,manifest,text",
    [
        ("pipenv", "Pipfile", '[packages]\ntinygreet = {file = "wheels/tinygreet-1.0-py3-none-any.whl"}\n'),
        (
            "pipenv",
            "Pipfile",
            '[[source]]\nurl = "file:///app/wheels"\nverify_ssl = false\nname = "l"\n[packages]\ntinygreet = "*"\n',
        ),
        (
            "poetry",
            "pyproject.toml",
            '[tool.poetry]\nname = "a"\nversion = "0"\npackage-mode = false\n'
            '[tool.poetry.dependencies]\ntinygreet = "*"\n'
            '[[tool.poetry.source]]\nname = "l"\nurl = "file:///app/wheels"\n',
        ),
        (
            "pdm",
            "pyproject.toml",
            '[project]\nname = "a"\nversion = "0"\ndependencies = ["tinygreet"]\n'
            '[[tool.pdm.source]]\nname = "l"\nurl = "file:///${PROJECT_ROOT}/wheels"\n'
            'type = "find_links"\n',
        ),
    ],
)
def test_a_local_source_or_file_dependency_in_the_manifest_is_copied_early(tmp_path, tool, manifest, text):
    files = {manifest: text, "wheels/tinygreet-1.0-py3-none-any.whl": "x", "main.py": "print(1)\n"}
    install = {"pipenv": "pipenv install --skip-lock", "poetry": "poetry install --no-root", "pdm": "pdm install"}
    df = f'FROM python:3.11\nRUN pip install {tool}\nWORKDIR /app\nCOPY . .\nRUN {install[tool]}\nCMD ["python", "main.py"]\n'
    r = _fix(df, _ctx(tmp_path, files))
    out = r.output
    if out == df:  # no move is fine; a move without the wheels is not
        return
    early = out[: out.index(f"RUN {install[tool]}")]
    assert "wheels" in early, out
