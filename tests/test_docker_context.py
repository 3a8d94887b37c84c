"""Real builds (Docker tier): .dockerignore rewrites, the inferred build context and secret mounts,
original against rewritten -- same build outcome, same run output.

Small contexts on the local python stand-ins, no network: each build takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from slimml.runner import Options, run_fix

from .dockerutil import Images, docker

pytestmark = pytest.mark.docker
SLIM = "python:3.11-slim"


@pytest.fixture
def images():
    im = Images()
    yield im
    im.cleanup()


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def _fix(dockerfile: Path, **kw) -> None:
    (rep,) = run_fix([dockerfile], Options(write=True, **kw))
    assert rep.error is None, rep.error


def _before_after(tmp_path: Path, files: dict, dockerfile: str = "Dockerfile", **fix) -> tuple[Path, Path]:
    before = _write(tmp_path / "before", files)
    after = tmp_path / "after"
    shutil.copytree(before, after, symlinks=True)
    _fix(after / dockerfile, **fix)
    return before, after


def test_gitignored_model_stays_in_the_image(tmp_path, images):
    """The checkout holds a gitignored model the app loads by a path from its environment: the safe
    rewrite leaves it in (before: a preventive **/*.onnx dropped it)."""
    files = {
        "Dockerfile": f'FROM {SLIM}\nWORKDIR /app\nENV MODEL=models/m.onnx\nCOPY . .\nCMD ["python", "app.py"]\n',
        "app.py": "import os\nprint(os.path.getsize(os.environ['MODEL']))\n",
        ".gitignore": "models/\n*.onnx\n",
        "models/m.onnx": b"\1" * 321,
        ".venv/junk": "x",
    }
    before, after = _before_after(tmp_path, files)
    assert (after / ".dockerignore").is_file()
    outs = []
    for ctx in (before, after):
        tag, _ = images.build(ctx)
        r = images.run(tag)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
        junk = images.sh(tag, "test -e /app/.venv/junk && echo present || echo absent").stdout.strip()
        assert junk == ("present" if ctx is before else "absent")  # the rewrite did exclude something
    assert outs == ["321\n", "321\n"]


def test_a_file_the_app_names_is_kept_with_unsafe_fixes(tmp_path, images):
    files = {
        "Dockerfile": f'FROM {SLIM}\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n',
        "app.py": "with open('colormodel.h5', 'rb') as fh:\n    print(len(fh.read()))\n",
        "colormodel.h5": b"\2" * 77,
        "notebooks/explore.ipynb": "{}",
    }
    before, after = _before_after(tmp_path, files, unsafe_fixes=True)
    text = (after / ".dockerignore").read_text()
    assert "notebooks/" in text and "**/*.h5" not in text  # the unsafe fix ran, but not on the named file
    outs = [images.run(images.build(ctx)[0]) for ctx in (before, after)]
    assert [(r.returncode, r.stdout) for r in outs] == [(0, "77\n"), (0, "77\n")]


def test_ignore_file_lands_in_the_parent_context_the_build_reads(tmp_path, images):
    files = {
        "app.py": "print('hello')\n",
        ".venv/big": "x" * 1000,
        "__pycache__/app.cpython-311.pyc": "x",
        "svc/Dockerfile": f'FROM {SLIM}\nCOPY ../app.py /app/\nCOPY ../ /src/\nCMD ["python", "/app/app.py"]\n',
    }
    before, after = _before_after(tmp_path, files, dockerfile="svc/Dockerfile", select=("SLM006",))
    assert (after / ".dockerignore").is_file() and not (after / "svc" / ".dockerignore").exists()
    for ctx in (before, after):
        tag, _ = images.build(ctx, ctx / "svc" / "Dockerfile")
        assert images.run(tag).stdout == "hello\n"
        listing = images.sh(tag, "ls -A /src").stdout.split()
        assert ("__pycache__" in listing) is (ctx is before) and (".venv" in listing) is (ctx is before)


def test_secret_mount_is_required_where_the_build_always_had_the_value(tmp_path, images):
    token = "hf_" + "FAKEfake" * 4
    files = {
        "Dockerfile": f"FROM {SLIM}\nENV HF_TOKEN={token}\n"
        'RUN test -n "$HF_TOKEN" && printf %s "$HF_TOKEN" | wc -c > /toklen\n'
        'RUN echo hi > /hi\nCMD ["cat", "/toklen"]\n'
    }
    before, after = _before_after(tmp_path, files, select=("SLM009",), unsafe_fixes=True)
    text = (after / "Dockerfile").read_text()
    assert "--mount=type=secret,id=hf_token,required=true" in text and token not in text
    assert "RUN echo hi > /hi" in text  # never reads it: no mount
    tag = f"slimml-test/{uuid.uuid4().hex[:12]}"
    # Without the secret the rewritten build fails loudly at that step. --no-cache: a secret is not part
    # of BuildKit's cache key, so a step cached by an earlier run (with the secret) would not ask for it.
    r = docker("build", "--no-cache", "-t", tag, str(after), check=False, timeout=600)
    assert r.returncode != 0 and "hf_token" in (r.stderr + r.stdout)
    # ... with it, it builds and the step saw the same value as the original build did.
    secret = tmp_path / "tok"
    secret.write_text(token)
    r = docker("build", "-t", tag, "--secret", f"id=hf_token,src={secret}", str(after), check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    images.tags.append(tag)
    orig, _ = images.build(before)
    assert images.run(tag).stdout == images.run(orig).stdout == f"{len(token)}\n"
    assert "HF_TOKEN" not in str(images.config(tag).get("Env"))


def test_git_metadata_a_step_needs_is_never_excluded(tmp_path, images):
    files = {
        "Dockerfile": "FROM python:3.11\nWORKDIR /src\nCOPY . .\nRUN git describe --tags > /VERSION\n"
        'CMD ["cat", "/VERSION"]\n',
        "app.py": "print(1)\n",
    }
    before = _write(tmp_path / "before", files)
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=before, check=True)
    subprocess.run(["git", "add", "-A"], cwd=before, check=True)
    subprocess.run(["git", *env, "commit", "-qm", "x"], cwd=before, check=True)
    subprocess.run(["git", *env, "tag", "v1.2.3"], cwd=before, check=True)
    after = tmp_path / "after"
    shutil.copytree(before, after, symlinks=True)
    _fix(after / "Dockerfile", unsafe_fixes=True, select=("SLM006",))
    assert ".git\n" not in (after / ".dockerignore").read_text()
    outs = [images.run(images.build(ctx)[0]).stdout for ctx in (before, after)]
    assert outs == ["v1.2.3\n", "v1.2.3\n"]
