"""SLM013 on a real build: a CPU-only app on the slim stand-in installs the torch stand-in from the local default index
(torch 2.1.0 + nvidia-* payload wheels, tests/pkgindex.py); slimml's fix, with the rule option cpu-index-url pointed at
the local CPU index, makes the image smaller by the CUDA stand-ins' payload, and torch still imports."""

from __future__ import annotations

import uuid

import pytest

from slimml.context import Context, Settings
from slimml.engine import fix_text

from . import pkgindex as pi
from .dockerutil import Images, docker
from .oracle import assert_agrees

SLIM = "python:3.11-slim"


@pytest.mark.docker
def test_cpu_index_fix_makes_the_image_smaller_and_torch_still_imports(tmp_path):
    indexes = pi.torch_like(tmp_path / "pkgindex")
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
                f"RUN pip install --no-cache-dir --index-url {default} --trusted-host {ip} torch==2.1.0\n"
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
            assert (
                f"RUN pip install --no-cache-dir --trusted-host {ip} --index-url {cpu} torch==2.1.0 && "
                f"pip install --no-cache-dir --index-url {default} --trusted-host {ip} torch==2.1.0\n"
            ) in after
            assert_agrees(after)

            sizes, versions = {}, {}
            for name, text in (("before", before), ("after", after)):
                (ctx_dir / "Dockerfile").write_text(text)
                tag = f"slimml-test/slm013-{name}-{uuid.uuid4().hex[:8]}"
                # --no-cache: a cached layer would hide an index that no longer answers
                r = docker("build", "--no-cache", "-t", tag, str(ctx_dir), check=False, timeout=600)
                assert r.returncode == 0, r.stderr[-3000:]
                images.tags.append(tag)
                sizes[name] = images.size(tag)
                out = images.run(tag, "python", "-c", "import torch; print(torch.__version__)")
                assert out.returncode == 0, out.stderr
                versions[name] = out.stdout.strip()
                listed = images.run(tag, "python", "-m", "pip", "list", "--format=freeze")
                versions[name + "-pkgs"] = listed.stdout
        assert versions["before"] == "2.1.0" and versions["after"] == "2.1.0+cpu"
        assert "nvidia-cudnn-cu12" in versions["before-pkgs"] and "nvidia" not in versions["after-pkgs"]
        saved = sizes["before"] - sizes["after"]
        print(f"SLM013 docker: before {sizes['before']} B, after {sizes['after']} B, saved {saved} B")
        assert abs(saved - pi.NVIDIA_MB * pi.MB) < 0.5 * pi.MB, (saved, pi.NVIDIA_MB * pi.MB)
    finally:
        images.cleanup()
