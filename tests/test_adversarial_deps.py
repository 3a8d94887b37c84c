"""Attacks on SLM012 (unpinned-install) and SLM013 (cuda-wheels-on-cpu): inputs on which a fix would change the
build's outcome or what the image holds in a way its reason does not say, or would not converge. Each case was
found wrong first; the rule must now withdraw the fix (with the reason) or get it right."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.deps import resolve as RS
from slimml.dockerfile import parse
from slimml.engine import fix_text
from slimml.rules import cuda_wheels_on_cpu as R13

from . import pkgindex as pi
from .oracle import assert_agrees

SLIM = "python:3.11-slim"
CPU = "https://download.pytorch.org/whl/cpu"
APP = {"app.py": "import torch\nprint(torch.ones(2))\n"}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode())


def _ctx(tmp: Path, code: str, options: dict | None = None) -> Context:
    return Context(
        settings=Settings(select=(code,), unsafe_fixes=True, rule_options={code: options or {}}),
        dockerfile=tmp / "Dockerfile",
        context_dir=tmp,
    )


# -- SLM013 ------------------------------------------------------------------------------------------------------
def _slm013(tmp: Path, dockerfile: str, files: dict[str, str] | None = None):
    _write(tmp, {"Dockerfile": dockerfile, **(files if files is not None else APP)})
    fs = list(R13.check(parse(dockerfile), _ctx(tmp, "SLM013")))
    assert len(fs) == 1, [f.message for f in fs]
    return fs[0]


@pytest.mark.parametrize(
    ("env", "why"),
    [
        # pip reads every long option from PIP_<OPTION>: the same options that withdraw the fix on the command line
        ("PIP_TARGET=/deps", "PIP_TARGET"),
        ("PIP_PREFIX=/usr/local/alt", "PIP_PREFIX"),
        ("PIP_ROOT=/staging", "PIP_ROOT"),
        ("PIP_UPGRADE=1", "PIP_UPGRADE"),
        ("PIP_FORCE_REINSTALL=true", "PIP_FORCE_REINSTALL"),
        ("PIP_IGNORE_INSTALLED=yes", "PIP_IGNORE_INSTALLED"),
        ("PIP_NO_DEPS=1", "PIP_NO_DEPS"),
        ("PIP_REQUIRE_HASHES=1", "PIP_REQUIRE_HASHES"),
        ("PIP_NO_INDEX=1", "PIP_NO_INDEX"),
    ],
)
def test_slm013_pip_options_from_the_environment_withdraw_like_their_flags(tmp_path, env, why):
    f = _slm013(tmp_path, f"FROM {SLIM}\nENV {env}\nRUN pip install torch==2.1.0\n")
    assert f.fix is None and why in f.note, f.note


@pytest.mark.parametrize(
    ("conf", "why"),
    [
        ("[install]\nupgrade = true\n", "upgrade"),
        ("[global]\ntarget = /deps\n", "target"),
        ("[install]\nforce-reinstall = yes\n", "force-reinstall"),
    ],
)
def test_slm013_pip_options_from_a_copied_pip_conf_withdraw(tmp_path, conf, why):
    df = f"FROM {SLIM}\nCOPY pip.conf /etc/pip.conf\nRUN pip install torch==2.1.0\n"
    f = _slm013(tmp_path, df, {**APP, "pip.conf": conf})
    assert f.fix is None and why in f.note, f.note


@pytest.mark.parametrize(
    ("setup", "files"),
    [
        ("COPY c.txt /c.txt\nENV PIP_CONSTRAINT=/c.txt\n", {"c.txt": "torch==2.1.0+cu121\n"}),
        (
            "COPY pip.conf /etc/pip.conf\nCOPY c.txt /c.txt\n",
            {"pip.conf": "[install]\nconstraint = /c.txt\n", "c.txt": "torch==2.1.0+cu121\n"},
        ),
    ],
)
def test_slm013_a_cuda_build_pinned_by_an_inherited_constraint_withdraws(tmp_path, setup, files):
    # The CPU install inherits PIP_CONSTRAINT / pip.conf: `torch==2.1.0+cu121` has no CPU wheel -- the build fails.
    f = _slm013(tmp_path, f"FROM {SLIM}\n{setup}RUN pip install torch\n", {**APP, **files})
    assert f.fix is None and "CUDA build" in f.note, f.note


@pytest.mark.parametrize(
    "req",
    [
        "torch==2.1.0\nnvidia-cublas-cu12==12.1.3.1\nnvidia-cudnn-cu12==8.9.2.26\n",
        "torch==2.1.0\ntriton==2.1.0\n",
    ],
)
def test_slm013_an_install_naming_torchs_cuda_libraries_withdraws(tmp_path, req):
    # A pip-compiled lock names the nvidia-* wheels itself: the original install still brings them after the CPU
    # torch, so the claimed saving would not happen.
    df = f"FROM {SLIM}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    f = _slm013(tmp_path, df, {**APP, "requirements.txt": req})
    assert f.fix is None and "names torch's CUDA libraries" in f.note, f.note


@pytest.mark.parametrize(
    "run",
    [
        "RUN pip install torch; echo done\n",
        "RUN pip install torch && echo ok; echo done\n",
        "RUN <<EOF\npip install torch\necho done\nEOF\n",
        "RUN <<EOF\nset -e\npip install torch\necho done\nEOF\n",
    ],
)
def test_slm013_an_install_followed_by_another_statement_withdraws(tmp_path, run):
    # `cpu && install; next`: the CPU install's failure is masked (even under set -e, a failure left of && does not
    # exit) and the original install is skipped -- the build succeeds without torch.
    f = _slm013(tmp_path, f"FROM {SLIM}\n{run}")
    assert f.fix is None and "statement" in f.note, f.note


@pytest.mark.parametrize(
    "run",
    ["RUN echo start; pip install torch\n", "RUN <<EOF\nset -e\necho start\npip install torch\nEOF\n"],
)
def test_slm013_an_install_that_is_the_last_statement_is_still_fixed(tmp_path, run):
    f = _slm013(tmp_path, f"FROM {SLIM}\n{run}")
    assert f.fix is not None, f.note


def test_slm013_torch_split_over_two_requirement_lines_converges(tmp_path):
    # `torch>=2.0` in base.txt and `torch<2.3` in requirements.txt: the CPU install asks for both at once; the
    # rule must then see the original install as kept (it used to fire again and again, and the engine dropped it).
    files = {**APP, "requirements.txt": "-r base.txt\ntorch<2.3\n", "base.txt": "torch>=2.0\n"}
    df = f"FROM {SLIM}\nCOPY requirements.txt base.txt ./\nRUN pip install -r requirements.txt\n"
    _write(tmp_path, {"Dockerfile": df, **files})
    ctx = _ctx(tmp_path, "SLM013")
    r = fix_text(df, ctx)
    assert not r.nonconverged and not r.reverted
    assert f"--index-url {CPU} 'torch>=2.0,<2.3' && pip install -r requirements.txt" in r.output, r.output
    again = fix_text(r.output, ctx)
    assert again.output == r.output and not [f for f in again.findings if f.fix is not None]
    assert_agrees(r.output)


# -- SLM012 ------------------------------------------------------------------------------------------------------
_LOCK = RS.Lock((RS.Pin("flask", "3.0.0"), RS.Pin("werkzeug", "3.0.1")), backend="test")


@pytest.fixture
def resolver(monkeypatch):
    calls: list = []

    def fake(req):
        calls.append(req)
        return _LOCK

    monkeypatch.setattr(RS, "resolve", fake)
    return calls


def _slm012(tmp: Path, dockerfile: str, files: dict[str, str]):
    _write(tmp, {"Dockerfile": dockerfile, **files})
    r = fix_text(dockerfile, _ctx(tmp, "SLM012", {"resolve": True}), str(tmp / "Dockerfile"))
    fs = [f for f in r.findings if f.code == "SLM012"]
    assert len(fs) == 1, [f.message for f in fs]
    return fs[0], r


_REQ = {"requirements.txt": "flask\n"}
_BASE12 = f"FROM {SLIM}\nWORKDIR /app\n"


@pytest.mark.parametrize(
    ("pre", "run", "files", "why"),
    [
        # what the command-line forms already withdraw, given through pip's environment
        ("ENV PIP_PRE=1\n", "pip install -r requirements.txt", _REQ, "pre-releases"),
        ("ENV PIP_UPGRADE=1\n", "pip install -r requirements.txt", _REQ, "newest versions"),
        ("ENV PIP_UPGRADE_STRATEGY=eager\n", "pip install -r requirements.txt", _REQ, "newest versions"),
        # binary/source choices change which versions pip takes; the resolver is not told about them
        ("", "pip install --only-binary :all: -r requirements.txt", _REQ, "--only-binary"),
        ("", "pip install --only-binary=:all: -r requirements.txt", _REQ, "--only-binary"),
        ("", "pip install --no-binary :all: -r requirements.txt", _REQ, "--no-binary"),
        ("", "pip install --prefer-binary -r requirements.txt", _REQ, "--prefer-binary"),
        ("", "pip install -r requirements.txt", {"requirements.txt": "--only-binary :all:\nflask\n"}, "--only-binary"),
        ("", "pip install -r requirements.txt", {"requirements.txt": "--prefer-binary\nflask\n"}, "--prefer-binary"),
        ("ENV PIP_ONLY_BINARY=:all:\n", "pip install -r requirements.txt", _REQ, "--only-binary"),
        ("ENV PIP_PREFER_BINARY=1\n", "pip install -r requirements.txt", _REQ, "--prefer-binary"),
    ],
)
def test_slm012_what_the_resolver_is_not_told_withdraws(tmp_path, resolver, pre, run, files, why):
    f, r = _slm012(tmp_path, _BASE12 + pre + f"COPY requirements.txt .\nRUN {run}\n", files)
    assert f.fix is None and why in f.note, f.note
    assert r.output == r.original and not resolver


# -- on a real build ---------------------------------------------------------------------------------------------
@pytest.mark.docker
def test_slm013_a_masked_cpu_install_is_not_offered_where_it_would_build_without_torch(tmp_path):
    """Before the fix: `pip install torch; echo done` with a CPU index that does not answer would have built
    an image WITHOUT torch and reported success. Now the fix is withdrawn; the same build with the rewrite as the
    rule used to write it proves the silent loss (so the withdrawal is about a real outcome)."""
    from .dockerutil import Images, docker

    indexes = pi.torch_like(tmp_path / "pkgindex")
    ip = pi.docker_bridge_ip()
    images = Images()
    try:
        with pi.IndexServer(indexes.default.root.parent, ip) as srv:
            default = f"{srv.url}/default/simple"
            dead = f"http://{ip}:9/simple"  # discard port: nothing answers
            ctx_dir = tmp_path / "app"
            ctx_dir.mkdir()
            (ctx_dir / "app.py").write_text("import torch\n")
            run = f"pip install --no-cache-dir --index-url {default} --trusted-host {ip} torch==2.1.0; echo done"
            before = f"FROM {SLIM}\nRUN {run}\n"
            ctx = Context(
                settings=Settings(
                    select=("SLM013",), unsafe_fixes=True, rule_options={"SLM013": {"cpu-index-url": dead}}
                ),
                dockerfile=ctx_dir / "Dockerfile",
                context_dir=ctx_dir,
            )
            assert fix_text(before, ctx).output == before  # withdrawn
            old_rewrite = (
                f"FROM {SLIM}\nRUN pip install --no-cache-dir --trusted-host {ip} --index-url {dead} "
                f"--retries 0 --timeout 2 torch==2.1.0 && {run}\n"
            )
            results = {}
            for name, text in (("before", before), ("old-rewrite", old_rewrite)):
                (ctx_dir / "Dockerfile").write_text(text)
                tag = f"slimml-test/adv-deps-{name}-{uuid.uuid4().hex[:8]}"
                r = docker("build", "--no-cache", "-t", tag, str(ctx_dir), check=False, timeout=600)
                assert r.returncode == 0, r.stderr[-3000:]
                images.tags.append(tag)
                p = docker("run", "--rm", tag, "python", "-c", "import torch", check=False, timeout=120)
                results[name] = p.returncode
            assert results["before"] == 0  # the original build has torch
            assert results["old-rewrite"] != 0  # the old rewrite built 'successfully' without it
    finally:
        images.cleanup()


@pytest.mark.parametrize("run", ["pip install torch xformers", "pip install 'torch>=2' torchtext"])
def test_slm013_a_loose_torch_next_to_a_package_that_pins_torch_withdraws(tmp_path, run):
    # The CPU install picks the CPU index's newest torch; xformers (built against one torch release) may then need
    # another one, and the original install replaces the CPU torch with PyPI's CUDA build -- no saving, twice the
    # download, where the fix says it saves gigabytes.
    f = _slm013(tmp_path, f"FROM {SLIM}\nRUN {run}\n")
    assert f.fix is None and "requires one torch release exactly" in f.note, f.note


def test_slm013_an_exact_torch_next_to_a_package_that_needs_torch_is_still_fixed(tmp_path):
    f = _slm013(tmp_path, f"FROM {SLIM}\nRUN pip install torch==2.1.0 xformers\n")
    assert f.fix is not None, f.note


@pytest.mark.parametrize(
    ("setup", "run"),
    [
        ("", "uv pip install --system --torch-backend=cpu torch"),
        ("", "uv pip install --system --torch-backend cpu torch==2.1.0"),
        ("ENV UV_TORCH_BACKEND=cpu\n", "uv pip install --system torch"),
    ],
)
def test_slm013_uv_torch_backend_cpu_already_installs_the_cpu_build(tmp_path, setup, run):
    df = f"FROM {SLIM}\n{setup}RUN {run}\n"
    _write(tmp_path, {"Dockerfile": df, **APP})
    assert list(R13.check(parse(df), _ctx(tmp_path, "SLM013"))) == []


@pytest.mark.parametrize(
    ("setup", "run"),
    [
        ("", "uv pip install --system --torch-backend=auto torch"),
        ("ENV UV_TORCH_BACKEND=cu121\n", "uv pip install --system torch"),
    ],
)
def test_slm013_uv_choosing_the_torch_build_itself_withdraws(tmp_path, setup, run):
    f = _slm013(tmp_path, f"FROM {SLIM}\n{setup}RUN {run}\n")
    assert f.fix is None and "torch-backend" in f.note, f.note
