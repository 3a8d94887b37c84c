"""SLM013 on a real build: a CPU-only app on the slim stand-in installs the torch stand-in from the local default index
(torch 2.1.0 + nvidia-* payload wheels, tests/pkgindex.py) -- named, or pulled in by a package that requires it;
slimml's fix, with the rule option cpu-index-url pointed at the local CPU index, makes the image smaller by the CUDA
stand-ins' payload, and torch still imports, as the CPU build."""

from __future__ import annotations

import uuid

import pytest

from slimml.context import Context, Settings
from slimml.engine import fix_text
from slimml.knowledge import sizes as S

from . import pkgindex as pi
from .dockerutil import Images, docker
from .oracle import assert_agrees

SLIM = "python:3.11-slim"


def _build_pair(tmp_path, install: str, expected_run, dists=()) -> dict:
    """Build the Dockerfile installing `install` (pip options and requirements, against the local default index) and
    slimml's rewrite of it; `expected_run(cpu, default, ip)` is the rewritten RUN. Returns sizes, torch versions and
    pip's package lists of both images."""
    indexes = pi.torch_like(tmp_path / "pkgindex")
    if dists:
        indexes.default.add(*dists)  # this test's own index, not pkgindex's shared sets
    ip = pi.docker_bridge_ip()
    images = Images()
    try:
        with pi.IndexServer(indexes.default.root.parent, ip) as srv:
            default, cpu = f"{srv.url}/default/simple", f"{srv.url}/cpu/simple"
            ctx_dir = tmp_path / "app"
            ctx_dir.mkdir()
            (ctx_dir / "app.py").write_text("import torch\n\nprint(torch.__version__)\n")  # no GPU use
            before = (
                f"FROM {SLIM}\n"
                f"RUN pip install --no-cache-dir --index-url {default} --trusted-host {ip} {install}\n"
                "COPY app.py /app/app.py\n"
                'CMD ["python", "/app/app.py"]\n'
            )
            ctx = Context(
                settings=Settings(
                    select=("SLM013",), unsafe_fixes=True, rule_options={"SLM013": {"cpu-index-url": cpu}}
                ),
                dockerfile=ctx_dir / "Dockerfile",
                context_dir=ctx_dir,
            )
            result = fix_text(before, ctx)
            after = result.output
            assert [f.code for f in result.applied] == ["SLM013"]
            assert f"RUN {expected_run(cpu, default, ip)}\n" in after, after
            assert_agrees(after)

            out: dict = {}
            for name, text in (("before", before), ("after", after)):
                (ctx_dir / "Dockerfile").write_text(text)
                tag = f"slimml-test/slm013-{name}-{uuid.uuid4().hex[:8]}"
                # --no-cache: a cached layer would hide an index that no longer answers
                r = docker("build", "--no-cache", "-t", tag, str(ctx_dir), check=False, timeout=600)
                assert r.returncode == 0, r.stderr[-3000:]
                images.tags.append(tag)
                got = images.run(tag, "python", "-c", "import torch; print(torch.__version__)")
                assert got.returncode == 0, got.stderr
                listed = images.run(tag, "python", "-m", "pip", "list", "--format=freeze")
                out[name] = {"size": images.size(tag), "torch": got.stdout.strip(), "pkgs": listed.stdout}
        return out
    finally:
        images.cleanup()


def _assert_saved(out: dict, what: str) -> None:
    assert out["before"]["torch"] == "2.1.0" and out["after"]["torch"] == "2.1.0+cpu"
    assert "nvidia-cudnn-cu12" in out["before"]["pkgs"] and "nvidia" not in out["after"]["pkgs"]
    saved = out["before"]["size"] - out["after"]["size"]
    print(f"SLM013 docker ({what}): before {out['before']['size']} B, after {out['after']['size']} B, saved {saved} B")
    assert abs(saved - pi.NVIDIA_MB * pi.MB) < 0.5 * pi.MB, (saved, pi.NVIDIA_MB * pi.MB)


@pytest.mark.docker
def test_cpu_index_fix_makes_the_image_smaller_and_torch_still_imports(tmp_path):
    out = _build_pair(
        tmp_path,
        "torch==2.1.0",
        lambda cpu, default, ip: (
            f"pip install --no-cache-dir --trusted-host {ip} --index-url {cpu} torch==2.1.0 && "
            f"pip install --no-cache-dir --index-url {default} --trusted-host {ip} torch==2.1.0"
        ),
    )
    _assert_saved(out, "torch named")


@pytest.mark.docker
def test_a_torch_pulled_in_by_another_package_comes_from_the_cpu_index_too(tmp_path, monkeypatch):
    """`sentlike` (a sentence-transformers stand-in requiring torch>=2.0) names no torch: the fix installs torch from
    the CPU index before it, unpinned, and the install keeps it."""
    monkeypatch.setattr(S, "HEAVY_DEPS", {**S.HEAVY_DEPS, "sentlike": ("torch",)})
    out = _build_pair(
        tmp_path,
        "sentlike==1.0.0",
        lambda cpu, default, ip: (
            f"pip install --no-cache-dir --trusted-host {ip} --index-url {cpu} torch && "
            f"pip install --no-cache-dir --index-url {default} --trusted-host {ip} sentlike==1.0.0"
        ),
        dists=(pi.Dist("sentlike", "1.0.0", requires=("torch>=2.0",)),),
    )
    assert "sentlike==1.0.0" in out["before"]["pkgs"] and "sentlike==1.0.0" in out["after"]["pkgs"]
    _assert_saved(out, "torch pulled in")
