"""Docker tier of SLM012's lock half: what `uv sync` does with a stale uv.lock, before and after slimml's fix.

A uv project on the slim stand-in locks flasklike 1.0.0 from the local index (tests/pkgindex.py); then its
pyproject.toml asks for flasklike>=1.1, which the index now has. The original `uv sync` re-locks silently and the
image gets 1.1.0 -- not what uv.lock says. The fixed `uv sync --locked` fails the build loudly. With a current lock
the fixed build installs exactly the locked 1.0.0 (the fix does not break a good lock). uv itself comes from PyPI
through the TLS gateway (pinned; SSL_CERT_FILE/PIP_CERT point at the stand-in's CA bundle)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slimml.context import Context, Settings
from slimml.engine import fix_text
from slimml.rules.unpinned_install import locks

from . import pkgindex as pi
from .dockerutil import Images, docker

pytestmark = pytest.mark.docker

UV_VERSION = "0.13.9"
CA = "/etc/ssl/certs/ca-certificates.crt"


def _pyproject(dep: str) -> str:
    return f'[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["{dep}"]\n'


def _head(url: str) -> str:
    return (
        "FROM python:3.11-slim\n"
        f"ENV PIP_CERT={CA} SSL_CERT_FILE={CA} REQUESTS_CA_BUNDLE={CA}\n"
        f"RUN pip install --no-cache-dir --disable-pip-version-check uv=={UV_VERSION}\n"
        f"ENV UV_DEFAULT_INDEX={url}/simple UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1\n"
        "WORKDIR /app\n"
    )


def _version_of(images: Images, tag: str) -> str:
    r = images.sh(tag, "/app/.venv/bin/python -c \"import importlib.metadata as m; print(m.version('flasklike'))\"")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _build(ctx_dir: Path, images: Images) -> tuple[str | None, str]:
    import uuid

    tag = f"slimml-test/locks-{uuid.uuid4().hex[:12]}"
    r = docker("build", "-t", tag, str(ctx_dir), timeout=900, check=False)
    if r.returncode == 0:
        images.tags.append(tag)
        return tag, r.stderr
    return None, r.stderr


def test_stale_uv_lock_relocks_silently_and_fails_loudly_with_the_fix(tmp_path):
    index = pi.LocalIndex(tmp_path / "index")
    index.add(pi.WERKZEUGLIKE, pi.FLASKLIKE_OLD)
    images = Images()
    try:
        with pi.IndexServer(index.root, pi.docker_bridge_ip()) as srv:
            proj = tmp_path / "proj"
            proj.mkdir()
            # 1. lock the project as its developer did: flasklike 1.0.0
            (proj / "pyproject.toml").write_text(_pyproject("flasklike==1.0.0"))
            (proj / "Dockerfile").write_text(_head(srv.url) + "COPY pyproject.toml ./\nRUN uv lock\n")
            tag, err = _build(proj, images)
            assert tag, err[-3000:]
            lock = docker("run", "--rm", tag, "cat", "/app/uv.lock").stdout
            assert 'name = "flasklike"\nversion = "1.0.0"' in lock
            (proj / "uv.lock").write_text(lock)

            # 2. the Dockerfile under test, and slimml's fix of it
            original = _head(srv.url) + "COPY pyproject.toml uv.lock ./\nRUN uv sync --no-install-project\n"
            df = proj / "Dockerfile"
            df.write_text(original)
            ctx = Context(settings=Settings(unsafe_fixes=True), dockerfile=df, context_dir=proj)
            rule = type("R", (), {"CODE": "SLM012", "NAME": "unpinned-install", "check": staticmethod(locks.check)})
            res = fix_text(original, ctx, str(df), rules=[rule])
            assert len(res.findings) == 1 and res.findings[0].fix is not None
            fixed = res.output
            assert fixed == original.replace("uv sync --no-install-project", "uv sync --locked --no-install-project")

            # 3. a current lock: the fix installs exactly the lock
            df.write_text(fixed)
            tag, err = _build(proj, images)
            assert tag, err[-3000:]
            assert _version_of(images, tag) == "1.0.0"

            # 4. the project moves on (flasklike>=1.1 appears on the index) but nobody re-locks
            index.add(pi.FLASKLIKE_NEW)
            (proj / "pyproject.toml").write_text(_pyproject("flasklike>=1.1"))
            df.write_text(original)
            tag, err = _build(proj, images)
            assert tag, err[-3000:]  # the original build succeeds ...
            assert _version_of(images, tag) == "1.1.0"  # ... with versions uv.lock does not have
            df.write_text(fixed)
            tag, err = _build(proj, images)
            assert tag is None  # the fixed one stops at the stale lock
            assert "--locked" in err and "uv.lock" in err and "needs to be updated" in err
            print(next(line for line in err.splitlines() if "needs to be updated" in line))
    finally:
        images.cleanup()
        shutil.rmtree(tmp_path / "proj", ignore_errors=True)
