"""The lock resolver (slimml/deps/resolve.py) against the local package index (tests/pkgindex.py), with both
backends: the versions and hashes it locks, a newer release appearing, and the one-line errors for the issue's bad
input (no such version, conflicting pins, an unreachable private index whose URL carries a token)."""

from __future__ import annotations

import socket
import sys

import pytest

from slimml.deps import resolve as R

from . import pkgindex as pi

HOST_PY = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> pi.TorchLike:
    return pi.torch_like(tmp_path_factory.mktemp("resolve-index"))


@pytest.fixture(params=["uv", "pip"])
def backend(request, monkeypatch):
    R._MEMO.clear()
    if request.param == "pip":
        monkeypatch.setattr(R, "uv_binary", lambda: None)
    elif R.uv_binary() is None:
        pytest.fail("uv is a test dependency (pyproject [test]); it must be installed")
    yield request.param
    R._MEMO.clear()


def _req(index, lines, files=(), hashes=False, python=HOST_PY):
    return R.Request(tuple(lines), tuple(files), ("--index-url", index), R.Target(python), hashes)


def test_locks_the_whole_closure_with_hashes(indexes, backend):
    lock = R.resolve(
        _req(indexes.default.file_url, ["-r requirements.txt"], [("requirements.txt", "flasklike>=1\n")], hashes=True)
    )
    assert [(p.name, p.version) for p in lock.pins] == [("flasklike", "1.0.0"), ("werkzeuglike", "2.0.0")]
    wheel = next(indexes.default.simple.parent.rglob("flasklike-1.0.0-*.whl"))
    assert lock.pins[0].hashes == (f"sha256:{pi.sha256_file(wheel)}",)
    text = lock.text("requirements.txt")
    assert "flasklike==1.0.0 \\\n    --hash=sha256:" in text
    assert text.count("==") == 2 and text.startswith("# Exact versions for requirements.txt")


def test_includes_between_files_and_markers_for_the_image(indexes, backend):
    files = [
        ("app/requirements.txt", "-r base.txt\nflasklike ; python_version < '3.0'\n"),
        ("app/base.txt", "werkzeuglike\n"),
    ]
    lock = R.resolve(_req(indexes.default.file_url, ["-r /app/requirements.txt"], files))
    # the marker is false for the image's Python: flasklike is not installed, werkzeuglike (from the include) is
    assert [(p.name, p.version) for p in lock.pins] == [("werkzeuglike", "2.0.0")]


def test_a_newer_release_is_what_an_unpinned_resolve_takes(tmp_path, backend):
    t = pi.torch_like(tmp_path)
    before = R.resolve(_req(t.default.file_url, ["flasklike"]))
    t.default.add(pi.FLASKLIKE_NEW)
    R._MEMO.clear()
    after = R.resolve(_req(t.default.file_url, ["flasklike"]))
    pinned = R.resolve(_req(t.default.file_url, ["flasklike", "-c lock.txt"], [("lock.txt", before.text("x"))]))
    assert dict((p.name, p.version) for p in before.pins)["flasklike"] == "1.0.0"
    assert dict((p.name, p.version) for p in after.pins)["flasklike"] == "1.1.0"
    assert dict((p.name, p.version) for p in pinned.pins)["flasklike"] == "1.0.0", "the lock holds the old version"


@pytest.mark.parametrize(
    "lines, says",
    [
        (["nosuchpkg"], "nosuchpkg"),
        (["flasklike==9"], "flasklike==9"),
        (["flasklike==1.0.0", "werkzeuglike==3.0"], "werkzeuglike"),
    ],
    ids=["not-on-the-index", "no-such-version", "conflicting-pins"],
)
def test_what_does_not_resolve_is_one_line(indexes, backend, lines, says):
    with pytest.raises(R.ResolveError) as e:
        R.resolve(_req(indexes.default.file_url, lines))
    msg = str(e.value)
    assert "\n" not in msg and says in msg, msg


def test_conflicting_pins_between_the_file_and_the_command(indexes, backend):
    with pytest.raises(R.ResolveError) as e:
        R.resolve(
            _req(
                indexes.default.file_url,
                ["flasklike==1.0.0", "-r requirements.txt"],
                [("requirements.txt", "flasklike==1.1.0\n")],
            )
        )
    assert "flasklike" in str(e.value)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_unreachable_private_index_is_named_without_its_token(backend):
    url = f"http://deploy:tok3n-s3cr3t@127.0.0.1:{_closed_port()}/simple"
    with pytest.raises(R.ResolveError) as e:
        R.resolve(_req(url, ["flasklike"]))
    msg = str(e.value)
    assert "cannot be reached" in msg and "127.0.0.1" in msg, msg
    assert "tok3n-s3cr3t" not in msg and "deploy:" not in msg


def test_pip_refuses_another_python_rather_than_evaluate_markers_wrongly(indexes, monkeypatch):
    monkeypatch.setattr(R, "uv_binary", lambda: None)
    R._MEMO.clear()
    other = "3.8" if HOST_PY != "3.8" else "3.9"
    with pytest.raises(R.ResolveError, match="markers for the Python it runs on"):
        R.resolve(_req(indexes.default.file_url, ["flasklike"], python=other))


def test_uv_resolves_for_another_python(indexes):
    R._MEMO.clear()
    assert R.uv_binary(), "uv is a test dependency"
    files = [("requirements.txt", "flasklike\nwerkzeuglike ; python_version >= '3.12'\n")]
    lock = R.resolve(_req(indexes.default.file_url, ["-r requirements.txt"], files, python="3.8"))
    names = [p.name for p in lock.pins]
    assert names == ["flasklike", "werkzeuglike"]  # werkzeuglike comes in through flasklike, not the marker line


def test_a_file_outside_the_context_is_refused(indexes, backend):
    with pytest.raises(R.ResolveError, match="outside the build context"):
        R.resolve(_req(indexes.default.file_url, ["-r ../x.txt"], [("../x.txt", "flasklike\n")]))


def test_an_unknown_python_is_refused(indexes, backend):
    with pytest.raises(R.ResolveError, match="not known"):
        R.resolve(_req(indexes.default.file_url, ["flasklike"], python="3"))


def test_results_are_memoised_per_request(indexes, backend, monkeypatch):
    req = _req(indexes.default.file_url, ["flasklike"])
    first = R.resolve(req)
    monkeypatch.setattr(R, "_resolve", lambda r: pytest.fail("resolved twice"))
    assert R.resolve(req) == first
