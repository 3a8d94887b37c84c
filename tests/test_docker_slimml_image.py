"""slimml's own container image (docker/Dockerfile, docs/container-image.md).

The image is built once per module from the repo root with docker/Dockerfile.dockerignore (shared build cache) and
smoke-tested as a user runs it: the CLI, `check`/`fix` on a mounted fixture (the same answers as slimml on the host,
and the fixture's expected rewrite), git, and the docker client reaching the engine through a mounted socket --
`slimml measure` included, which builds with BuildKit through the docker CLI inside the image. The file-level checks
(slimml's own rules find nothing in its Dockerfile; BuildKit parses it) need no engine.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml import __version__
from slimml.cli import main

from .dockerutil import Images, docker

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
FIXTURE = ROOT / "fixtures" / "pip-no-cache" / "basic"
SOCKET = "/var/run/docker.sock"
BASE = "python:3.11-slim"
# What the image adds to its base, measured (bytes, Docker 20.10 on the bookworm stand-in): git with its perl and
# curl libraries 83.8 MB, the docker CLI 45.6 MB, the venv 44.0 MB -- 173.4 MB. The bound leaves ~7% for dependency
# updates; it fails on the regressions this image was built to avoid: apt's package caches left in the layer
# (+92 MB), pip and setuptools in the venv (+25 MB), the whole docker.io package (dockerd, containerd: +150 MB).
MAX_ADDED = 185 * 10**6


# -- no engine needed ---------------------------------------------------------------------------------------
def test_slimml_finds_nothing_in_its_own_dockerfile():
    for args in (["check", str(DOCKERFILE)], ["check", "--context", str(ROOT), str(DOCKERFILE)]):
        r = CliRunner().invoke(main, [*args, "--format", "json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["summary"] == {"files": 1, "findings": 0, "errors": 0}
    r = CliRunner().invoke(main, ["fix", "--unsafe-fixes", str(DOCKERFILE)], catch_exceptions=False)
    assert r.exit_code == 0 and "nothing to fix" in r.output, r.output


def test_buildkit_parses_the_dockerfile_as_written():
    from dockerfile import parse_string

    cmds = [c.cmd.upper() for c in parse_string(DOCKERFILE.read_text())]
    assert cmds == [
        "FROM",
        "RUN",
        "COPY",
        "COPY",
        "RUN",
        "FROM",
        "RUN",
        "COPY",
        "COPY",
        "COPY",
        "ENV",
        "WORKDIR",
        "USER",
        "ENTRYPOINT",
    ]


# -- the image, built and run ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image():
    images = Images()
    tag = f"ghcr.io/slimml/slimml:{__version__}-test-{uuid.uuid4().hex[:8]}"
    try:
        r = docker("build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT), timeout=1200, check=False)
        assert r.returncode == 0, f"docker build failed:\n{r.stderr[-4000:]}"
        images.tags.append(tag)
        yield images, tag
    finally:
        images.cleanup()


def _socket_gid() -> str:
    return str(os.stat(SOCKET).st_gid)


def _engine(extra_group: bool = True) -> tuple[str, ...]:
    return ("-v", f"{SOCKET}:{SOCKET}", *(("--group-add", _socket_gid()) if extra_group else ()))


@pytest.mark.docker
def test_version_entrypoint_and_user(image):
    images, tag = image
    r = images.run(tag, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"slimml, version {__version__}", r.stdout + r.stderr
    cfg = images.config(tag)
    assert cfg["Entrypoint"] == ["slimml"] and cfg["User"] == "slimml" and cfg["WorkingDir"] == "/work"
    r = images.sh(tag, "id -u; git --version; command -v docker; python -c 'import slimml; print(slimml.__file__)'")
    uid, git, cli, module = r.stdout.split("\n")[:4]
    assert r.returncode == 0 and uid == "10001", r.stdout + r.stderr
    assert git.startswith("git version 2.")
    assert cli == "/usr/local/bin/docker"
    assert module.startswith("/opt/slimml/lib/")  # installed into the venv, not run from a copied source tree


@pytest.mark.docker
def test_check_on_a_mounted_fixture_matches_the_host(image, tmp_path):
    images, tag = image
    d = tmp_path / "fx"
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("expected.*"))
    host = CliRunner().invoke(
        main, ["check", "--format", "json", "--context", str(d), str(d / "Dockerfile")], catch_exceptions=False
    )
    assert host.exit_code == 1
    r = images.run(tag, "check", "--format", "json", "--context", "/fx", "/fx/Dockerfile", extra=("-v", f"{d}:/fx:ro"))
    assert r.returncode == 1, r.stdout + r.stderr
    inside = json.loads(r.stdout)["files"][0]["findings"]
    assert inside == json.loads(host.stdout)["files"][0]["findings"]
    assert {"SLM001", "SLM005", "SLM008"} <= {f["code"] for f in inside}
    # Text output and exit codes as documented: 0 for a clean file, 2 for a missing one.
    r = images.run(tag, "check", "/fx/Dockerfile", extra=("-v", f"{d}:/fx:ro"))
    assert r.returncode == 1 and "/fx/Dockerfile:4:5: SLM001 [pip-no-cache]" in r.stdout
    r = images.run(tag, "check", "/fx/missing.Dockerfile", extra=("-v", f"{d}:/fx:ro"))
    assert r.returncode == 2, r.stdout + r.stderr


@pytest.mark.docker
def test_fix_prints_a_diff_writes_nothing_and_write_gives_the_expected_file(image, tmp_path):
    images, tag = image
    d = tmp_path / "fx"
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("expected.*"))
    d.chmod(0o777)  # the image's user (uid 10001) may write here: a dry run that writes would be seen
    (d / "Dockerfile").chmod(0o666)
    before = (d / "Dockerfile").read_bytes()
    mount = ("-v", f"{d}:/work")  # the image's WORKDIR: paths as the user gives them
    r = images.run(tag, "fix", "--select", "SLM001", "Dockerfile", extra=mount)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("--- a/Dockerfile\n+++ b/Dockerfile\n"), r.stdout
    assert "-RUN pip install -r requirements.txt\n+RUN pip install --no-cache-dir -r requirements.txt" in r.stdout
    assert (d / "Dockerfile").read_bytes() == before and sorted(p.name for p in d.iterdir()) == ["Dockerfile"]
    r = images.run(tag, "fix", "--write", "--select", "SLM001", "Dockerfile", extra=mount)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "Dockerfile").read_bytes() == (FIXTURE / "expected.Dockerfile").read_bytes()


@pytest.mark.docker
def test_the_docker_client_needs_the_sockets_group_and_then_reaches_the_engine(image):
    images, tag = image
    server = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    r = images.sh(tag, "docker version --format '{{.Server.Version}}'", extra=_engine(extra_group=False))
    assert r.returncode != 0 and "permission denied" in r.stderr, r.stdout + r.stderr
    r = images.sh(tag, "docker version --format '{{.Client.Version}} {{.Server.Version}}'", extra=_engine())
    assert r.returncode == 0, r.stderr
    client_version, server_version = r.stdout.split()
    assert server_version == server
    assert int(client_version.split(".")[0]) < 23  # builds with BuildKit natively: no buildx plugin needed ...
    r = images.sh(tag, "ls -A /usr/local/lib/docker/cli-plugins")
    assert r.returncode == 0 and r.stdout == ""  # ... and none is shipped
    r = images.sh(tag, "python -c 'import docker; print(docker.from_env().ping())'", extra=_engine())
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stdout + r.stderr


TINY = """\
FROM python:3.11-slim
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/slimml-image-test echo one > /one
RUN echo two > /two
COPY main.py .
CMD ["python", "main.py"]
"""


@pytest.mark.docker
def test_measure_inside_the_image_builds_with_buildkit_through_the_mounted_socket(image, tmp_path):
    """A no-network project that needs BuildKit (RUN --mount): measure's builds go through the docker CLI in the
    image, its checks through the SDK."""
    images, tag = image
    d = tmp_path / "proj"
    d.mkdir()
    (d / "Dockerfile").write_text(TINY)
    (d / "main.py").write_text("print('ok')\n")
    r = images.run(
        tag,
        "measure",
        "/proj/Dockerfile",
        "--format",
        "json",
        "--quiet",
        "--use-cache",
        "--no-rebuild",
        extra=(*_engine(), "-v", f"{d}:/proj:ro"),
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["builder"] == "buildkit" and out["verdict"] == "PASS", out
    assert any("RUN --mount" in n for n in out["notes"])
    run = next(c for c in out["verification"]["checks"] if c["name"] == "run")
    assert run["details"]["after"]["stdout"].strip() == "ok"
    # Without the socket's group: one clear error, exit code 2.
    r = images.run(
        tag, "measure", "/proj/Dockerfile", "--quiet", extra=(*_engine(extra_group=False), "-v", f"{d}:/proj:ro")
    )
    assert r.returncode == 2 and "no Docker engine reachable" in r.stderr, r.stdout + r.stderr


@pytest.mark.docker
def test_image_size_and_contents(image):
    images, tag = image
    added = images.size(tag) - images.size(BASE)
    assert 0 < added <= MAX_ADDED, f"the image adds {added / 1e6:.1f} MB to {BASE} (bound {MAX_ADDED / 1e6:.0f} MB)"
    r = images.sh(
        tag,
        "ls -A /var/lib/apt/lists /var/cache/apt/archives | grep -v -e '^lock$' -e '^partial$' -e ':$'"
        " -e '^$'; ls /var/cache/apt/*.bin 2>/dev/null; find /usr/share/doc/git -type f;"
        "ls /usr/share/man/man1/git* /usr/share/locale/*/LC_MESSAGES/git.mo 2>/dev/null;"
        "ls /opt/slimml/lib/python3*/site-packages | grep -i -e '^pip' -e '^setuptools' -e '^wheel';"
        "ls /src /root/.cache 2>/dev/null; command -v dockerd containerd gcc cc; true",
    )
    # no apt lists or caches, only git's copyright of its documentation, no pip in the venv, no source, no daemons
    assert r.stdout.split() == ["/usr/share/doc/git/copyright"], r.stdout
    # The installed package is the working tree's slimml (the ignore file sent it whole, and only it).
    ours = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "slimml").rglob("*.py") if "__pycache__" not in p.parts)
    r = images.sh(tag, "cd /opt/slimml/lib/python3*/site-packages && find slimml -name '*.py' | sort")
    assert r.stdout.split() == ours
