"""SLM012 unpinned-install, the pip / uv pip / conda half: what is loose, and every way the lock fix could be wrong."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimml.context import Context, Settings
from slimml.deps import resolve as R
from slimml.engine import Applicability, fix_text

from .oracle import assert_agrees

BASE = "FROM python:3.11-slim\nWORKDIR /app\n"
LOCK = R.Lock((R.Pin("flask", "3.0.0"), R.Pin("werkzeug", "3.0.1")), backend="test")


@pytest.fixture
def resolver(monkeypatch):
    """R.resolve replaced by a recorder returning LOCK (or raising what ``fail`` says)."""

    class Fake:
        calls: list = []
        fail: str | None = None

        def __call__(self, req):
            self.calls.append(req)
            if self.fail:
                raise R.ResolveError(self.fail)
            return LOCK

    fake = Fake()
    fake.calls = []
    monkeypatch.setattr(R, "resolve", fake)
    return fake


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode())


def _run(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None, resolve=True, unsafe=True, **ctx_kw):
    _write(tmp_path, {"Dockerfile": dockerfile, **(files or {})})
    opts = {"SLM012": {"resolve": resolve}}
    ctx = Context(
        settings=Settings(select=("SLM012",), unsafe_fixes=unsafe, rule_options=opts),
        dockerfile=tmp_path / "Dockerfile",
        context_dir=ctx_kw.pop("context_dir", tmp_path),
        **ctx_kw,
    )
    r = fix_text(dockerfile, ctx, str(tmp_path / "Dockerfile"))
    assert not r.reverted and not r.nonconverged
    assert_agrees(r.output)
    return r


def _pip_findings(r):
    return [f for f in r.findings if f.code == "SLM012"]


def _only(r):
    fs = _pip_findings(r)
    assert len(fs) == 1, fs
    return fs[0]


def _side(r, name: str) -> str | None:
    for k, (_, after) in r.side_files.items():
        if Path(k).name == name:
            return after
    return None


# -- detection (offline) ------------------------------------------------------------------------------------------
def test_loose_requirements_are_listed_and_the_note_says_how_to_fix(tmp_path, resolver):
    files = {"requirements.txt": 'flask>=2\nnumpy==1.26.4\nrequests\nfoo; python_version < "3.8"\n'}
    r = _run(tmp_path, BASE + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n", files, resolve=False)
    f = _only(r)
    assert "flask (>=2)" in f.message and "requests (no version)" in f.message
    assert "numpy" not in f.message and "foo" not in f.message
    assert f.fix is None and "slimml fix --resolve --unsafe-fixes" in f.note
    assert r.output == r.original and not resolver.calls  # offline: the resolver is never asked


@pytest.mark.parametrize(
    ("run", "files"),
    [
        ("RUN pip install flask==3.0.0 'numpy===1.26.4'", {}),
        ("RUN pip install -r requirements.txt", {"requirements.txt": "flask==3.0.0 \\\n    --hash=sha256:00\n"}),
        ("RUN pip install -r requirements.txt -c constraints.txt", {"constraints.txt": "flask==3.0.0\n"}),
        (
            "RUN PIP_CONSTRAINT=/app/constraints.txt pip install -r requirements.txt",
            {"constraints.txt": "flask==3.0\n"},
        ),
        ("RUN pip install -U pip setuptools wheel", {}),  # installer tooling
        ("RUN pip install https://example.org/flask-3.0.0-py3-none-any.whl", {}),
        ("RUN pip install 'foo; sys_platform == \"win32\"'", {}),
    ],
)
def test_pinned_installs_are_left_alone(tmp_path, resolver, run, files):
    files = {"requirements.txt": "flask\n", **files}
    r = _run(tmp_path, BASE + "COPY requirements.txt constraints.txt* ./\nCOPY . .\n" + run + "\n", files)
    assert not _pip_findings(r)


def test_pip_conf_constraint_pins(tmp_path, resolver):
    files = {
        "requirements.txt": "flask\n",
        "pip.conf": "[install]\nconstraint = /app/constraints.txt\n",
        "constraints.txt": "flask==3.0.0\n",
    }
    df = BASE + "COPY . .\nCOPY pip.conf /etc/pip.conf\nRUN pip install -r requirements.txt\n"
    assert not _pip_findings(_run(tmp_path, df, files))


def test_only_stages_that_ship_and_every_pip_spelling(tmp_path, resolver):
    df = (
        "FROM python:3.11-slim AS unused\nRUN pip install flask\n"
        "FROM python:3.11-slim\n"
        "RUN python3 -m pip install flask && /opt/venv/bin/pip install numpy && uv pip install --system torch\n"
        "RUN sudo -E pip3.11 install pandas\n"
    )
    r = _run(tmp_path, df, resolve=False)
    labels = sorted(f.message.split("`")[1] for f in _pip_findings(r))
    assert labels == ["/opt/venv/bin/pip install", "pip3.11 install", "python3 -m pip install", "uv pip install"]


def test_local_project_dependencies_are_reported_without_a_fix(tmp_path, resolver):
    files = {"pyproject.toml": '[project]\nname = "x"\nversion = "1"\ndependencies = ["httpx>=0.2", "attrs==23.1.0"]\n'}
    r = _run(tmp_path, BASE + "COPY . .\nRUN pip install -e .\n", files)
    f = _only(r)
    assert "project's unpinned dependencies: httpx (>=0.2)" in f.message
    assert f.fix is None and "local project" in f.note and not resolver.calls


def test_setup_cfg_install_requires(tmp_path, resolver):
    files = {"setup.cfg": "[options]\ninstall_requires =\n    click\n    rich==13.0.0\n"}
    f = _only(_run(tmp_path, BASE + "COPY . .\nRUN pip install .\n", files, resolve=False))
    assert "click (no version)" in f.message and "rich" not in f.message


def test_conda_specs(tmp_path, resolver):
    df = BASE + "RUN conda install -y -c conda-forge numpy 'scipy>=1' pandas=2.1 torch=2.1.0 python=3.11 x==1.0\n"
    f = _only(_run(tmp_path, df))
    assert f.message.endswith("numpy (no version), scipy (>=1), pandas (=2.1 (any 2.1.x))")
    assert f.fix is None and "conda-lock" in f.note


def test_unknown_python_keeps_markers_on_it(tmp_path, resolver):
    df = "FROM ubuntu:22.04\nRUN pip install 'old; python_version < \"3.8\"' 'win; sys_platform == \"win32\"'\n"
    f = _only(_run(tmp_path, df))
    assert "old (no version)" in f.message and "win" not in f.message
    assert "Python version is not known" in f.note and not resolver.calls


# -- the fix ------------------------------------------------------------------------------------------------------
def test_fix_extends_the_copy_adds_the_constraint_and_writes_the_lock(tmp_path, resolver):
    files = {"requirements.txt": "flask>=2\n"}
    df = BASE + "COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\n"
    r = _run(tmp_path, df, files)
    f = _only(r)
    assert f.fix.applicability is Applicability.UNSAFE
    assert r.output == (
        BASE + "COPY requirements.txt requirements.lock ./\n"
        "RUN pip install --no-cache-dir -r requirements.txt -c /app/requirements.lock\nCOPY . .\n"
    )
    lock = _side(r, "requirements.lock")
    assert lock.splitlines()[3:] == ["flask==3.0.0", "werkzeug==3.0.1"]
    (req,) = {c for c in resolver.calls}
    assert req.lines == ("-r app/requirements.txt",) and req.files == (("app/requirements.txt", "flask>=2\n"),)
    assert req.target == R.Target("3.11") and req.hashes is False and req.index == ()
    # Idempotent: on its own output (the lock committed) nothing fires any more.
    again = _run(tmp_path, r.output, {"requirements.lock": lock})
    assert not _pip_findings(again)


def test_without_unsafe_fixes_nothing_is_written(tmp_path, resolver):
    r = _run(
        tmp_path,
        BASE + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        {"requirements.txt": "flask\n"},
        unsafe=False,
    )
    assert r.output == r.original and not r.side_files and _only(r).fix is not None


def test_copy_to_a_file_path_gets_its_own_copy_with_owner_and_mode(tmp_path, resolver):
    files = {"reqs/prod.txt": "flask\n"}
    df = (
        BASE
        + "copy --chown=app:app --chmod=644 reqs/prod.txt /srv/requirements.txt\nrun pip install -r /srv/requirements.txt\n"
    )
    r = _run(tmp_path, df, files)
    assert "copy --chown=app:app --chmod=644 reqs/prod.lock /srv/prod.lock\n" in r.output
    assert "-r /srv/requirements.txt -c /srv/prod.lock" in r.output
    assert _side(r, "prod.lock") is not None


def test_exec_form_copy_into_a_directory(tmp_path, resolver):
    df = BASE + 'COPY ["requirements.txt", "/app/"]\nRUN pip install -r requirements.txt\n'
    r = _run(tmp_path, df, {"requirements.txt": "flask\n"})
    assert 'COPY ["requirements.txt", "requirements.lock", "/app/"]' in r.output


@pytest.mark.parametrize(
    "copy, extended",
    [
        ('COPY ["requirements.txt", "."]', 'COPY ["requirements.txt", "requirements.lock", "./"]'),
        ("COPY requirements.txt '.'", "COPY requirements.txt requirements.lock './'"),
        ("COPY --chown=1000 requirements.txt .", "COPY --chown=1000 requirements.txt requirements.lock ./"),
        ("COPY requirements.txt \\\n     .", "COPY requirements.txt \\\n     requirements.lock ./"),
    ],
    ids=["exec-dot", "quoted", "flags", "continued"],
)
def test_a_second_source_makes_the_destination_end_with_a_slash(tmp_path, resolver, copy, extended):
    """The classic builder refuses `COPY a b .` ("the destination must be a directory and end with a /"); BuildKit
    takes it. The fix adds the slash to a destination it knows is the WORKDIR directory, so both read it the same."""
    df = BASE + copy + "\nRUN pip install -r /app/requirements.txt\n"
    r = _run(tmp_path, df, {"requirements.txt": "flask\n"})
    assert extended + "\n" in r.output, r.output


def test_a_directory_copy_brings_the_lock_along(tmp_path, resolver):
    df = BASE + "COPY . .\nRUN pip install -r deps/requirements.txt\n"
    r = _run(tmp_path, df, {"deps/requirements.txt": "flask\n"})
    assert r.output == BASE + "COPY . .\nRUN pip install -r deps/requirements.txt -c /app/deps/requirements.lock\n"
    assert _side(r, "requirements.lock") is not None


def test_direct_specs_lock_next_to_the_dockerfile_copied_before_the_run(tmp_path, resolver):
    df = BASE + "RUN pip install flask 'werkzeug>=3'\n"
    r = _run(tmp_path, df)
    assert (
        r.output
        == BASE
        + "COPY requirements.lock /app/requirements.lock\nRUN pip install flask 'werkzeug>=3' -c /app/requirements.lock\n"
    )
    assert resolver.calls[0].lines == ("flask", "werkzeug>=3")


def test_crlf_and_heredoc(tmp_path, resolver):
    df = (BASE + "COPY requirements.txt .\nRUN <<EOF\nset -e\npip install -r requirements.txt\nEOF\n").replace(
        "\n", "\r\n"
    )
    r = _run(tmp_path, df, {"requirements.txt": "flask\r\n"})
    assert "pip install -r requirements.txt -c /app/requirements.lock\r\n" in r.output
    assert "COPY requirements.txt requirements.lock ./\r\n" in r.output


def test_index_options_come_from_the_command_env_and_pip_conf(tmp_path, resolver):
    files = {
        "requirements.txt": "flask\n",
        "pip.conf": "[global]\nindex-url = https://conf.example/simple\n"
        "extra-index-url = https://conf-extra.example/simple\n",
    }
    df = (
        BASE
        + "COPY pip.conf /etc/pip.conf\nENV PIP_EXTRA_INDEX_URL=https://env.example/simple\nCOPY requirements.txt .\n"
        "RUN pip install -f https://links.example/ -r requirements.txt\n"
    )
    _run(tmp_path, df, files)
    assert resolver.calls[0].index == (
        "--index-url",
        "https://conf.example/simple",
        "--extra-index-url",
        "https://env.example/simple",  # the environment overrides the config file
        "--find-links",
        "https://links.example/",
    )


def test_an_existing_lock_of_ours_for_the_same_file_is_regenerated_not_a_reason_to_stop(tmp_path, resolver):
    old = LOCK.text("requirements.txt").replace("3.0.0", "2.0.0")
    files = {"requirements.txt": "flask\n", "requirements.lock": old}
    r = _run(tmp_path, BASE + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n", files)
    assert _side(r, "requirements.lock") == LOCK.text("requirements.txt")


# -- attacks: each way the lock could be wrong -> withdrawn, with the reason ----------------------------------------
REQ = {"requirements.txt": "flask\n"}
COPY_RUN = BASE + "COPY requirements.txt .\nRUN {}\n"


@pytest.mark.parametrize(
    ("run", "files", "why"),
    [
        ("pip install --no-deps -r requirements.txt", REQ, "--no-deps"),
        ("pip install -U -r requirements.txt", REQ, "newest versions"),
        ("pip install --upgrade-strategy eager -r requirements.txt", REQ, "newest versions"),
        ("pip install --pre -r requirements.txt", REQ, "pre-releases"),
        (
            "pip install --platform manylinux2014_aarch64 --only-binary=:all: -r requirements.txt",
            REQ,
            "another platform",
        ),
        ("pip install --require-hashes -r requirements.txt", REQ, "hash-checking"),
        ("pip install -r requirements.txt", {"requirements.txt": "flask\nx==1 --hash=sha256:00\n"}, "hash-checking"),
        ("PIP_REQUIRE_HASHES=1 pip install -r requirements.txt", REQ, "hash-checking"),
        ("pip install --no-index -f /wheels -r requirements.txt", REQ, "--no-index"),
        ("pip install -f /wheels -r requirements.txt", REQ, "local directory"),
        ("pip install -r requirements.txt", {"requirements.txt": "-f ./wheels\nflask\n"}, "local directory"),
        (
            "pip install -r requirements.txt",
            {"requirements.txt": "--extra-index-url https://${TOKEN}@x/simple\nflask\n"},
            "uses a variable",
        ),
        ("pip install --index-url $INDEX -r requirements.txt", REQ, "variables"),
        ("pip install -r requirements.txt", {"requirements.txt": "flask\n./vendor/pkg\n"}, "local project"),
        ("pip install -r requirements.txt", {"requirements.txt": "flask\n-e git+https://x.org/y#egg=y\n"}, "VCS"),
        ("pip install -r requirements.txt", {"requirements.txt": "flask\n-r /etc/base.txt\n"}, "absolute path"),
        ("pip install -r requirements.txt", {"requirements.txt": "flask\n-r missing.txt\n"}, "cannot be read"),
        ("pip install -r requirements.txt -e .", REQ, "local project"),
        ("cd $DIR && pip install -r requirements.txt flask", REQ, "working directory unknown"),
        ("--mount=type=secret,id=netrc,target=/root/.netrc pip install -r requirements.txt", REQ, "secret"),
        ("uv pip install --system --extra-index-url https://b.example/simple -r requirements.txt", REQ, "first index"),
    ],
)
def test_attacks_withdraw_the_fix(tmp_path, resolver, run, files, why):
    f = _only(_run(tmp_path, COPY_RUN.format(run), files))
    assert f.fix is None and why in f.note, f.note
    assert not resolver.calls  # withdrawn before asking the index anything


@pytest.mark.parametrize(
    ("pre", "why"),
    [
        ("ARG INDEX=https://pypi.example/simple\nENV PIP_INDEX_URL=$INDEX\n", "build argument"),
        ("ARG CONF=/app/pip.conf\nENV PIP_CONFIG_FILE=$CONF\n", "build argument"),
        ("RUN echo '[global]' > /etc/pip.conf\n", "pip config file"),
        ("RUN pip config set global.index-url https://x.example/simple\n", "pip config file"),
    ],
)
def test_what_the_build_configures_but_slimml_cannot_read_withdraws(tmp_path, resolver, pre, why):
    f = _only(_run(tmp_path, BASE + pre + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n", REQ))
    assert f.fix is None and why in f.note, f.note
    assert not resolver.calls


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"requirements.lock": "flask==1.0\n"}, "was not written by slimml"),
        ({".dockerignore": "*\n!requirements.txt\n"}, "leaves requirements.lock out"),
    ],
)
def test_the_lock_must_be_ours_and_reach_the_build(tmp_path, resolver, files, why):
    f = _only(_run(tmp_path, COPY_RUN.format("pip install -r requirements.txt"), {**REQ, **files}))
    assert f.fix is None and why in f.note, f.note


def test_copy_exclude_that_drops_the_lock_withdraws(tmp_path, resolver):
    df = (
        "# syntax=docker/dockerfile:1.7-labs\n"
        + BASE
        + "COPY --exclude=*.lock . .\nRUN pip install -r requirements.txt\n"
    )
    f = _only(_run(tmp_path, df, REQ))
    assert f.fix is None and "--exclude" in f.note


def test_requirements_from_a_bind_mount_or_a_heredoc_withdraw(tmp_path, resolver):
    df = BASE + "RUN --mount=type=bind,source=requirements.txt,target=/tmp/r.txt pip install -r /tmp/r.txt\n"
    f = _only(_run(tmp_path, df, REQ))
    assert "flask (no version)" in f.message and "bind mount" in f.note
    df = BASE + "COPY <<EOF /app/requirements.txt\nflask\nEOF\nRUN pip install -r requirements.txt\n"
    f = _only(_run(tmp_path, df))
    assert "flask (no version)" in f.message and "heredoc" in f.note


def test_a_guessed_context_gets_no_side_file(tmp_path, resolver):
    f = _only(_run(tmp_path, COPY_RUN.format("pip install -r requirements.txt"), REQ, context_note="guessed"))
    assert f.fix is None and "nowhere certain" in f.note


def test_resolver_failure_keeps_the_finding_and_writes_nothing(tmp_path, resolver):
    resolver.fail = "No matching distribution found for flask==99"
    r = _run(tmp_path, COPY_RUN.format("pip install -r requirements.txt"), REQ)
    f = _only(r)
    assert f.fix is None and f.note == "the resolver failed: No matching distribution found for flask==99"
    assert r.output == r.original and not r.side_files


def test_cli_fix_write_with_a_failing_resolver_leaves_every_file_unchanged(tmp_path, resolver):
    from slimml.cli import main

    resolver.fail = "Could not find a version that satisfies the requirement flask"
    df = COPY_RUN.format("pip install -r requirements.txt")
    _write(tmp_path, {"Dockerfile": df, **REQ})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(
            main,
            ["fix", "--write", "--resolve", "--unsafe-fixes", "--select", "SLM012", "Dockerfile"],
            catch_exceptions=False,
        )
    finally:
        os.chdir(old)
    assert resolver.calls, res.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert "the resolver failed: Could not find a version" in res.output


# -- the real resolver against the local index ---------------------------------------------------------------------
def test_real_resolver_against_the_local_index(tmp_path):
    from .pkgindex import FLASKLIKE_NEW, IndexServer, torch_like

    idx = torch_like(tmp_path / "idx")
    idx.default.add(FLASKLIKE_NEW)
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    with IndexServer(idx.default.root) as server:
        df = BASE + f"COPY requirements.txt .\nRUN pip install --index-url {server.url}/simple -r requirements.txt\n"
        r = _run(ctx_dir, df, {"requirements.txt": "flasklike>=1.0\n"})
    lock = _side(r, "requirements.lock")
    assert [ln for ln in lock.splitlines() if not ln.startswith("#")] == ["flasklike==1.1.0", "werkzeuglike==2.0.0"]
    assert "-c /app/requirements.lock" in r.output


# -- hashes where the project already uses them -----------------------------------------------------------------
HASHED_LOCK = R.Lock(
    (R.Pin("flask", "3.0.0", ("sha256:" + "a" * 64,)), R.Pin("werkzeug", "3.0.1", ("sha256:" + "b" * 64,))),
    backend="test",
)
HASHED_PROJECT = (
    BASE + "COPY base.txt requirements.txt ./\n"
    "RUN pip install --require-hashes -r base.txt\n"
    "RUN pip install --no-cache-dir -r requirements.txt\n"
)
HASHED_FILES = {
    "base.txt": "six==1.16.0 --hash=sha256:" + "c" * 64 + "\n",
    "requirements.txt": "--index-url https://pypi.internal.example/simple\nflask>=2\n",
}


def test_a_project_with_hashes_gets_a_hashed_lock_that_replaces_the_file(tmp_path, monkeypatch):
    """The issue: "with hashes where the project already uses them". A hashed lock cannot go in -c (pip's hash
    mode then rejects the loose top-level requirement), so it replaces the file in the install, carrying the file's
    index options; the requirements file stays for people, and the rule does not fire on its own output."""
    calls = []
    monkeypatch.setattr(R, "resolve", lambda req: calls.append(req) or HASHED_LOCK)
    r = _run(tmp_path, HASHED_PROJECT, HASHED_FILES)
    (f,) = _pip_findings(r)
    assert f.fix is not None and "installs with hashes (line 4)" in f.fix.reason
    assert calls[0].hashes is True
    assert "RUN pip install --no-cache-dir -r /app/requirements.lock\n" in r.output
    assert "COPY base.txt requirements.txt requirements.lock ./\n" in r.output
    lock = _side(r, "requirements.lock")
    body = [ln for ln in lock.splitlines() if not ln.startswith("#")]
    assert body[0] == "--index-url https://pypi.internal.example/simple"
    assert "flask==3.0.0 \\" in body and f"    --hash=sha256:{'a' * 64} \\" not in body
    assert f"    --hash=sha256:{'a' * 64}" in body
    (tmp_path / "requirements.lock").write_text(lock)
    assert not _pip_findings(_run(tmp_path, r.output, {"requirements.lock": lock}))


@pytest.mark.parametrize(
    "install",
    [
        "pip install -r requirements.txt gunicorn",  # a package named on the command line
        "pip install -r requirements.txt -r extra.txt",  # two files
    ],
)
def test_a_hashed_project_whose_install_cannot_take_the_lock_in_place_withdraws(tmp_path, resolver, install):
    df = BASE + "COPY base.txt requirements.txt extra.txt ./\nRUN pip install --require-hashes -r base.txt\n"
    df += f"RUN {install}\n"
    r = _run(tmp_path, df, {**HASHED_FILES, "extra.txt": "click\n"})
    (f,) = _pip_findings(r)
    assert f.fix is None and "installs with hashes (line 4)" in f.note and r.output == r.original


def test_real_pip_installs_the_hashed_lock_in_hash_mode(tmp_path):
    """The lock the real resolver writes for a hashed project, installed the way the fixed RUN does, by a real pip
    from the local index: hash-checking mode passes, the locked versions are installed; a tampered hash fails."""
    import subprocess
    import sys

    from .pkgindex import IndexServer, torch_like

    idx = torch_like(tmp_path / "idx")
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    R._MEMO.clear()
    with IndexServer(idx.default.root) as server:
        files = {
            "base.txt": HASHED_FILES["base.txt"],
            "requirements.txt": f"--index-url {server.url}/simple\nflasklike>=1.0\n",
        }
        r = _run(ctx_dir, HASHED_PROJECT, files)
        lock = _side(r, "requirements.lock")
        assert "-r /app/requirements.lock" in r.output
        (tmp_path / "requirements.lock").write_text(lock)
        target = tmp_path / "site"

        def install(lockfile):
            return subprocess.run(
                [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--disable-pip-version-check",
                 "--target", str(target), "-r", str(lockfile)],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip

        ok = install(tmp_path / "requirements.lock")
        assert ok.returncode == 0, ok.stderr
        assert (target / "flasklike-1.0.0.dist-info").is_dir() and (target / "werkzeuglike-2.0.0.dist-info").is_dir()
        bad = tmp_path / "tampered.lock"
        first = lock.index("--hash=sha256:") + len("--hash=sha256:")
        bad.write_text(lock[:first] + ("0" if lock[first] != "0" else "1") + lock[first + 1 :])
        shutil.rmtree(target)
        broken = install(bad)
        assert broken.returncode != 0 and "HASHES" in broken.stderr.upper(), broken.stderr
    R._MEMO.clear()


# -- fixture pairs of the fix (a fixed resolver: tests/fixture_cases.py runs without the package index) -----------
FIX_CASES = Path(__file__).resolve().parent / "data" / "unpinned-install-fix"
FIXTURE_LOCK = R.Lock(
    (R.Pin("flask", "3.0.0"), R.Pin("gunicorn", "21.2.0"), R.Pin("tomli", "2.0.1"), R.Pin("werkzeug", "3.0.1")),
    backend="test",
)


@pytest.mark.parametrize("case", sorted(p.name for p in FIX_CASES.iterdir()))
def test_fix_fixture_pairs(case, monkeypatch):
    from slimml.io import read_source

    monkeypatch.setattr(R, "resolve", lambda req: FIXTURE_LOCK)
    d = FIX_CASES / case
    text = read_source(d / "Dockerfile").text
    assert_agrees(text)

    def run(text, committed=None):
        ctx = Context(
            settings=Settings(select=("SLM012",), unsafe_fixes=True, rule_options={"SLM012": {"resolve": True}}),
            dockerfile=d / "Dockerfile",
            context_dir=d,
        )
        ctx.committed.update(committed or {})
        r = fix_text(text, ctx, str(d / "Dockerfile"))
        assert not r.reverted and not r.nonconverged
        return r

    r = run(text)
    assert r.output == read_source(d / "expected.Dockerfile").text
    assert_agrees(r.output)
    written = {Path(k).name: after for k, (before, after) in r.side_files.items() if before != after}
    expected = {
        p.name[len("expected.") :]: p.read_text() for p in d.glob("expected.*") if p.name != "expected.Dockerfile"
    }
    assert written == expected and written
    again = run(r.output, {k: v[1] for k, v in r.side_files.items()})
    assert again.output == r.output and not _pip_findings(again)


# -- a lock of ours, later: the requirements changed ---------------------------------------------------------------
WIRED = (
    BASE + "COPY requirements.txt requirements.lock ./\nRUN pip install -r requirements.txt -c /app/requirements.lock\n"
)


def test_a_requirement_the_lock_no_longer_satisfies_is_reported_and_the_lock_regenerated_in_place(tmp_path, resolver):
    old = R.Lock((R.Pin("flask", "2.0.0"), R.Pin("werkzeug", "3.0.1"))).text("requirements.txt")
    files = {"requirements.txt": "flask>=3\n", "requirements.lock": old}
    r = _run(tmp_path, WIRED, files, resolve=False)
    f = _only(r)
    assert "flask (>=3, against ==2.0.0 in requirements.lock:4)" in f.message
    r = _run(tmp_path, WIRED, files)
    assert r.output == WIRED  # no second COPY, no second -c
    assert _side(r, "requirements.lock") == LOCK.text("requirements.txt")
    (req,) = resolver.calls[:1]
    assert req.lines == ("-r app/requirements.txt",)  # the stale lock is not a constraint of its own resolution
    assert [name for name, _ in req.files] == ["app/requirements.txt"]


def test_a_package_added_after_locking_is_reported(tmp_path, resolver):
    files = {"requirements.txt": "flask\nredis\n", "requirements.lock": LOCK.text("requirements.txt")}
    f = _only(_run(tmp_path, WIRED, files, resolve=False))
    assert f.message.endswith("redis (no version)")
    # The fake index resolves no redis: wiring that lock would leave it loose (and fire again) -> withdrawn.
    f = _only(_run(tmp_path, WIRED, files))
    assert f.fix is None and "does not pin redis" in f.note


def test_two_installs_of_specs_do_not_share_one_lock(tmp_path, resolver):
    df = BASE + "RUN pip install flask\nRUN pip install werkzeug\n"
    r = _run(tmp_path, df)
    assert r.output.count("-c /app/requirements.lock") == 1
    assert r.output.count("COPY requirements.lock") == 1
    (left,) = r.remaining
    assert left.fix is None and "already locks the install on line" in left.note


# -- the proof: the locked build keeps its versions when the index moves on --------------------------------------
@pytest.mark.docker
def test_locked_build_installs_the_locked_version_after_a_newer_one_appears(tmp_path):
    """The fix, resolved by the real resolver against the local index over HTTP, then two builds after flasklike
    1.1.0 appears on the index: the original Dockerfile picks it up, the locked one keeps 1.0.0."""
    import uuid

    from slimml.io import read_source

    from . import pkgindex as pi
    from .dockerutil import Images, docker

    idx = pi.torch_like(tmp_path / "idx")
    ip = pi.docker_bridge_ip()
    images = Images()
    try:
        with pi.IndexServer(idx.default.root, ip) as srv:
            ctx = tmp_path / "ctx"
            ctx.mkdir()
            df = (
                "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements.txt .\n"
                f"RUN pip install --no-cache-dir --index-url {srv.url}/simple --trusted-host {ip} -r requirements.txt\n"
                'CMD ["python", "-c", "import importlib.metadata as m; print(m.version(\'flasklike\'))"]\n'
            )
            r = _run(ctx, df, {"requirements.txt": "flasklike>=1.0\n"})
            lock = _side(r, "requirements.lock")
            assert "flasklike==1.0.0" in lock.splitlines()
            idx.default.add(pi.FLASKLIKE_NEW)  # a week later: a new release on the index
            got = {}
            for name, text in (("original", df), ("locked", r.output)):
                d = tmp_path / name
                d.mkdir()
                _write(d, {"Dockerfile": text, "requirements.txt": "flasklike>=1.0\n"})
                if name == "locked":
                    _write(d, {"requirements.lock": lock})
                tag = f"slimml-test/unpinned-{name}-{uuid.uuid4().hex[:8]}"
                b = docker("build", "--no-cache", "-t", tag, str(d), check=False, timeout=600)
                assert b.returncode == 0, b.stderr[-3000:]
                images.tags.append(tag)
                out = images.run(tag)
                assert out.returncode == 0, out.stderr
                got[name] = out.stdout.strip()
        assert got == {"original": "1.1.0", "locked": "1.0.0"}
        assert read_source(ctx / "Dockerfile").text == df  # fix_text wrote nothing itself
    finally:
        images.cleanup()


@pytest.mark.parametrize(
    ("df", "why"),
    [
        ("FROM --platform=$TARGETPLATFORM python:3.11-slim\nWORKDIR /app\n", "platform"),
        ("FROM python:3.11-alpine\nWORKDIR /app\n", "musl"),
        ("FROM python:3.11-slim\nARG APP=/app\nWORKDIR $APP\n", "WORKDIR"),
    ],
)
def test_the_image_the_lock_is_resolved_for_must_be_the_one_built(tmp_path, resolver, df, why):
    f = _only(_run(tmp_path, df + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n", REQ))
    assert f.fix is None and why in f.note, f.note
    assert not resolver.calls


def test_copy_with_parents_withdraws(tmp_path, resolver):
    df = "# syntax=docker/dockerfile:1.7-labs\n" + BASE + "COPY --parents reqs/requirements.txt /app/\n"
    df += "RUN pip install -r /app/requirements.txt\n"  # slimml's COPY reader does not model --parents
    f = _only(_run(tmp_path, df, {"reqs/requirements.txt": "flask\n"}))
    assert f.fix is None and "--parents" in f.note, f.note


@pytest.mark.parametrize(
    ("requirements", "index", "why"),
    [
        ("flasklike>=1.0\nwerkzeuglike<2\n", None, "the resolver failed: "),  # conflicting: flasklike needs >=2.0
        ("nosuchpackage>=1\n", None, "the resolver failed: "),
        ("flasklike\n", "http://127.0.0.1:9/simple", "the resolver failed: "),  # nothing listens on port 9
    ],
)
def test_real_resolver_failures_are_a_note_and_nothing_is_written(tmp_path, requirements, index, why):
    from .pkgindex import IndexServer, torch_like

    idx = torch_like(tmp_path / "idx")
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    with IndexServer(idx.default.root) as server:
        url = index or f"{server.url}/simple"
        df = BASE + f"COPY requirements.txt .\nRUN pip install --index-url {url} -r requirements.txt\n"
        r = _run(ctx_dir, df, {"requirements.txt": requirements})
    f = _only(r)
    assert f.fix is None and f.note.startswith(why) and "\n" not in f.note, f.note
    assert r.output == df and not r.side_files


def test_the_new_copy_goes_above_the_comments_of_the_run(tmp_path, resolver):
    df = BASE + "# slimml: ignore[SLM001]\nRUN pip install flask\n"
    r = _run(tmp_path, df)
    assert r.output == BASE + (
        "COPY requirements.lock /app/requirements.lock\n# slimml: ignore[SLM001]\n"
        "RUN pip install flask -c /app/requirements.lock\n"
    )


def test_conda_spec_files(tmp_path, resolver):
    files = {"conda.txt": "# the stack\nnumpy=1.26.4\nscipy\r\n", "explicit.txt": "@EXPLICIT\nhttps://x/y.conda\n"}
    df = (
        BASE
        + "COPY conda.txt explicit.txt ./\nRUN conda install -y --file conda.txt && conda install --file explicit.txt\n"
    )
    f = _only(_run(tmp_path, df, files))
    assert f.message.endswith("installs unpinned packages: scipy (no version)")


def test_one_requirements_file_for_two_pythons_gets_one_lock_only(tmp_path, monkeypatch):
    by_python = {"3.10": "2.3.3", "3.12": "3.0.0"}
    monkeypatch.setattr(R, "resolve", lambda req: R.Lock((R.Pin("flask", by_python[req.target.python]),)))
    df = (
        "FROM python:3.10-slim AS old\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        "COPY --from=old /usr/local/lib/python3.10 /opt/py310\n"
    )
    r = _run(tmp_path, df, REQ)
    assert r.output.count("-c /app/requirements.lock") == 1
    assert "flask==2.3.3" in _side(r, "requirements.lock")  # resolved for the stage that got it: Python 3.10
    (left,) = r.remaining
    assert left.fix is None and "already serves line 4, built for Python 3.10" in left.note


@pytest.mark.parametrize("copy", ["COPY *.txt ./", "COPY requirements*.txt /app/", "copy ./req*.txt app.py ./"])
def test_a_wildcard_copy_is_read_for_the_finding_and_the_fix_is_withdrawn(tmp_path, resolver, copy):
    """Found by the attack: `COPY *.txt ./` left SLM012 silent (the origin of the file is not traced through a
    wildcard). The file is read for the finding; the fix, which must extend the COPY, is withdrawn with the reason."""
    files = {"requirements.txt": "flask>=2\n", "app.py": ""}
    r = _run(tmp_path, BASE + copy + "\nRUN pip install -r requirements.txt\n", files)
    f = _only(r)
    assert "flask (>=2)" in f.message and f.fix is None, f.message
    assert "wildcard" in f.note, f.note
    assert r.output == r.original and not r.side_files


def test_a_wildcard_copy_of_a_pinned_file_is_quiet(tmp_path, resolver):
    r = _run(tmp_path, BASE + "COPY *.txt ./\nRUN pip install -r requirements.txt\n", {"requirements.txt": "a==1\n"})
    assert not _pip_findings(r)
