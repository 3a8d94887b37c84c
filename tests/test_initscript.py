"""The generated init script really works: run with /bin/sh (dash here) against a loopback server.

Every test writes the script, runs it as the container would (``sh script CMD ARGS...``) and checks
what it downloaded, what it exec'd, and what the server saw. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from slimml.weights.initscript import generate, manifest, merge
from slimml.weights.sources import Source

SH = "/bin/sh"
PAYLOAD = b"\x00weights\x01" * 100


class _Server:
    """A loopback HTTP server serving ``files`` and counting the requests per path."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as t:
        for name, data in (("config.json", b"{}"), ("sub/model.safetensors", PAYLOAD)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    s = _Server(
        {
            "/w/model.bin": PAYLOAD,
            "/w/other.bin": b"other" * 10,
            "/w/models.tar.gz": tgz.getvalue(),
            "/org/repo/resolve/main/a.gguf": PAYLOAD,
            "/org/repo/resolve/v2/dir/b.json": b"{}",
        }
    )
    yield s
    s.close()


def _write(tmp_path: Path, sources: list[Source]) -> Path:
    script = tmp_path / "docker-entrypoint-weights.sh"
    script.write_text(generate(sources))
    script.chmod(0o755)
    return script


def _run(script: Path, *cmd: str, env: dict | None = None, path: str | None = None):
    e = {"HOME": str(script.parent / "home"), "PATH": path or os.environ["PATH"]}
    e.update(env or {})
    return subprocess.run([SH, str(script), *cmd], env=e, capture_output=True, text=True, timeout=60)


def _toolbox(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the basic utilities the script needs plus ``tools`` (python3: this
    interpreter, whatever the machine's shims are)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for t in ("ls", "mkdir", "mv", "rm", "cat", "cp", "true", *tools):
        p = os.path.realpath(sys.executable) if t == "python3" else shutil.which(t)
        assert p, f"{t} is needed for this test"
        if not (d / t).exists():
            (d / t).symlink_to(p)
    return str(d)


# -- a URL source ---------------------------------------------------------------------------------------
def test_first_start_downloads_then_execs_and_second_start_reuses(tmp_path, server):
    target = tmp_path / "models" / "model.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    r = _run(script, "sh", "-c", 'echo "ran with $# args: $*"', "argv0", "a b", "c")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ran with 2 args: a b c\n"  # "$@" passed through intact, by exec
    assert target.read_bytes() == PAYLOAD
    assert not list(target.parent.glob("*.part"))
    assert server.requests == ["/w/model.bin"]

    r2 = _run(script, "cat", str(target))
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == PAYLOAD.decode()
    assert server.requests == ["/w/model.bin"]  # no second request


def test_exec_replaces_the_shell(tmp_path, server):
    """The command runs *as* the script's process (exec): same PID, so it gets the signals."""
    target = tmp_path / "m.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    p = subprocess.Popen(
        [SH, str(script), "sh", "-c", "echo $$"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert int(out) == p.pid


def test_empty_file_counts_as_missing(tmp_path, server):
    target = tmp_path / "m.bin"
    target.write_bytes(b"")
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    r = _run(script, "true")
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == PAYLOAD


def test_failed_download_fails_the_start_and_leaves_no_file(tmp_path, server):
    target = tmp_path / "m.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/nope.bin")])
    r = _run(script, "echo", "must not run")
    assert r.returncode != 0
    assert "must not run" not in r.stdout
    assert "download of " + server.url + "/w/nope.bin failed" in r.stderr
    assert not target.exists() and not (tmp_path / "m.bin.part").exists()


@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_downloads_without_python(tmp_path, server, tool):
    if not shutil.which(tool):
        pytest.fail(f"{tool} is not installed on this machine")
    target = tmp_path / "m" / "model.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    r = _run(script, "true", path=_toolbox(tmp_path, tool))
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == PAYLOAD


def test_no_download_tool_is_a_clear_error(tmp_path, server):
    target = tmp_path / "m" / "model.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    r = _run(script, "true", path=_toolbox(tmp_path))
    assert r.returncode != 0
    assert "neither python3, curl nor wget" in r.stderr
    assert server.requests == []


def test_uri_override(tmp_path, server):
    target = tmp_path / "m.bin"
    src = Source("uri", target=str(target), uri=server.url + "/w/model.bin")
    script = _write(tmp_path, [src])
    r = _run(script, "true", env={f"WEIGHTS_{src.name}_URI": server.url + "/w/other.bin"})
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == b"other" * 10
    assert server.requests == ["/w/other.bin"]


def test_path_override(tmp_path, server):
    src = Source("uri", target=str(tmp_path / "default.bin"), uri=server.url + "/w/model.bin")
    script = _write(tmp_path, [src])
    elsewhere = tmp_path / "vol" / "x.bin"
    r = _run(script, "true", env={f"WEIGHTS_{src.name}_PATH": str(elsewhere)})
    assert r.returncode == 0, r.stderr
    assert elsewhere.read_bytes() == PAYLOAD and not (tmp_path / "default.bin").exists()


def test_offline_mode_refuses_to_download(tmp_path, server):
    target = tmp_path / "m.bin"
    script = _write(tmp_path, [Source("uri", target=str(target), uri=server.url + "/w/model.bin")])
    r = _run(script, "true", env={"WEIGHTS_OFFLINE": "1"})
    assert r.returncode != 0 and str(target) in r.stderr and "WEIGHTS_OFFLINE=1" in r.stderr
    assert server.requests == []


# -- weights that came from the build context -----------------------------------------------------------
def test_local_weights_missing_fail_with_a_message_naming_the_path(tmp_path, server):
    target = tmp_path / "app" / "models"
    src = Source("uri", target=str(target), is_dir=True, context_path="models/")
    script = _write(tmp_path, [src])
    r = _run(script, "echo", "must not run")
    assert r.returncode != 0
    assert "must not run" not in r.stdout
    assert f"{target} does not exist or is empty" in r.stderr
    assert "models/ in the build context" in r.stderr
    assert f"WEIGHTS_{src.name}_URI" in r.stderr
    assert server.requests == []


def test_local_weights_mounted_are_used(tmp_path):
    target = tmp_path / "app" / "models"
    target.mkdir(parents=True)
    (target / "w.safetensors").write_bytes(PAYLOAD)
    script = _write(tmp_path, [Source("uri", target=str(target), is_dir=True, context_path="models/")])
    r = _run(script, "echo", "served")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "served\n"


def test_local_weights_uri_archive_is_unpacked(tmp_path, server):
    target = tmp_path / "app" / "models"
    src = Source("uri", target=str(target), is_dir=True, context_path="models/")
    script = _write(tmp_path, [src])
    r = _run(script, "true", env={f"WEIGHTS_{src.name}_URI": server.url + "/w/models.tar.gz"})
    assert r.returncode == 0, r.stderr
    assert (target / "sub" / "model.safetensors").read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "sub"]  # no marker, no archive left
    r2 = _run(script, "true", env={f"WEIGHTS_{src.name}_URI": server.url + "/w/models.tar.gz"})
    assert r2.returncode == 0 and server.requests == ["/w/models.tar.gz"]


def test_local_file_uri_from_a_path(tmp_path):
    store = tmp_path / "store.bin"
    store.write_bytes(PAYLOAD)
    target = tmp_path / "m" / "model.onnx"
    src = Source("uri", target=str(target), context_path="model.onnx")
    script = _write(tmp_path, [src])
    r = _run(script, "true", env={f"WEIGHTS_{src.name}_URI": "file://" + str(store)})
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == PAYLOAD


def test_interrupted_directory_download_is_retried(tmp_path, server):
    target = tmp_path / "models"
    src = Source("uri", target=str(target), is_dir=True, uri=server.url + "/w/models.tar.gz")
    script = _write(tmp_path, [src])
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / ".weights-download-incomplete").write_text("")
    r = _run(script, "true")
    assert r.returncode == 0, r.stderr
    assert server.requests == ["/w/models.tar.gz"]
    assert (target / "sub" / "model.safetensors").exists()


# -- Hugging Face -------------------------------------------------------------------------------------------
def test_hf_files_without_huggingface_hub_use_the_resolve_urls(tmp_path, server):
    """No huggingface_hub in the image (this machine's python3 has none on a clean PYTHONPATH):
    explicit files come from <endpoint>/<repo>/resolve/<revision>/<file>."""
    target = tmp_path / "models"
    src = Source("hf", repo="org/repo", target=str(target), mode="files", files=["a.gguf"])
    script = _write(tmp_path, [src])
    r = _run(
        script,
        "true",
        env={"HF_ENDPOINT": server.url, "PYTHONPATH": str(tmp_path / "empty")},
        path=_toolbox(tmp_path, "curl"),
    )
    assert r.returncode == 0, r.stderr
    assert (target / "a.gguf").read_bytes() == PAYLOAD
    r2 = _run(script, "true", env={"HF_ENDPOINT": server.url}, path=_toolbox(tmp_path, "curl"))
    assert r2.returncode == 0 and server.requests == ["/org/repo/resolve/main/a.gguf"]
    # revision override
    src2 = Source("hf", repo="org/repo", target=str(tmp_path / "m2"), mode="files", files=["dir/b.json"])
    (tmp_path / "second").mkdir()
    script2 = _write(tmp_path / "second", [src2])
    r3 = _run(
        script2,
        "true",
        env={"HF_ENDPOINT": server.url, f"WEIGHTS_{src2.name}_REVISION": "v2"},
        path=_toolbox(tmp_path, "curl"),
    )
    assert r3.returncode == 0, r3.stderr
    assert (tmp_path / "m2" / "dir" / "b.json").read_text() == "{}"


_FAKE_HUB = '''
import json, os
LOG = os.environ["FAKE_HUB_LOG"]
FILES = ["config.json", "tokenizer.json", "tokenizer.model", "model.safetensors", "pytorch_model.bin",
         "tf_model.h5", "flax_model.msgpack", "onnx/model.onnx", "original/consolidated.00.pth",
         "model.fp16.safetensors", "README.md"]
class HfApi:
    def list_repo_files(self, repo, revision=None, repo_type=None):
        return list(FILES)
def snapshot_download(**kw):
    """Writes what the real one writes: files into local_dir, or the hub-cache layout
    (refs/<branch> holding the commit, snapshots/<commit>/...)."""
    with open(LOG, "a") as f:
        f.write(json.dumps(kw, sort_keys=True) + "\\n")
    if kw.get("local_dir"):
        folder = kw["local_dir"]
    else:
        repo_dir = os.path.join(kw["cache_dir"], "models--" + kw["repo_id"].replace("/", "--"))
        rev = kw.get("revision") or "main"
        commit = rev if len(rev) == 40 else "c0ffee" * 6 + "abcd"
        if commit != rev:
            os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
            open(os.path.join(repo_dir, "refs", rev), "w").write(commit)
        folder = os.path.join(repo_dir, "snapshots", commit)
    os.makedirs(folder, exist_ok=True)
    for name in kw.get("allow_patterns") or FILES:
        p = os.path.join(folder, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write("x")
    return folder
'''


@pytest.fixture
def fake_hub(tmp_path):
    pkg = tmp_path / "fakehub" / "huggingface_hub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_FAKE_HUB)
    log = tmp_path / "hub.log"
    return {"PYTHONPATH": str(pkg.parent), "FAKE_HUB_LOG": str(log), "_log": log}


def _calls(fake_hub) -> list[dict]:
    import json

    log = fake_hub["_log"]
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_hf_model_into_the_cache_takes_one_weight_format(tmp_path, fake_hub):
    src = Source("hf", repo="org/bert", mode="model", cache_env=["TRANSFORMERS_CACHE", "HF_HUB_CACHE"])
    script = _write(tmp_path, [src])
    env = {k: v for k, v in fake_hub.items() if not k.startswith("_")}
    env["HF_HOME"] = str(tmp_path / "hf")
    py = _toolbox(tmp_path, "python3")
    r = _run(script, "true", env=env, path=py)
    assert r.returncode == 0, r.stderr
    (call,) = _calls(fake_hub)
    assert call["cache_dir"] == str(tmp_path / "hf" / "hub")
    assert call["repo_id"] == "org/bert" and call["revision"] is None
    assert sorted(call["allow_patterns"]) == [
        "README.md",
        "config.json",
        "model.fp16.safetensors",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer.model",
    ]
    assert (tmp_path / "hf" / "hub" / "models--org--bert" / "refs" / "main").exists()
    assert not (tmp_path / "hf" / "hub" / "models--org--bert" / ".weights-download-incomplete").exists()
    r2 = _run(script, "true", env=env, path=py)
    assert r2.returncode == 0 and len(_calls(fake_hub)) == 1  # cached: no second download
    # TRANSFORMERS_CACHE wins over HF_HOME, as in transformers
    env["TRANSFORMERS_CACHE"] = str(tmp_path / "tc")
    r3 = _run(script, "true", env=env, path=py)
    assert r3.returncode == 0 and _calls(fake_hub)[-1]["cache_dir"] == str(tmp_path / "tc")


def test_hf_two_revisions_of_one_repo_are_both_fetched(tmp_path, fake_hub):
    """The tokenizer from main, the model pinned to a commit: one cache folder, two snapshots."""
    pinned = "86b5e0934494bd15c9632b12f734a8a67f723594"
    srcs = [Source("hf", repo="org/bert", mode="model"), Source("hf", repo="org/bert", revision=pinned, mode="model")]
    script = _write(tmp_path, srcs)
    env = {k: v for k, v in fake_hub.items() if not k.startswith("_")}
    env["HF_HOME"] = str(tmp_path / "hf")
    py = _toolbox(tmp_path, "python3")
    r = _run(script, "true", env=env, path=py)
    assert r.returncode == 0, r.stderr
    assert [c["revision"] for c in _calls(fake_hub)] == [None, pinned]
    assert (tmp_path / "hf" / "hub" / "models--org--bert" / "snapshots" / pinned / "config.json").exists()
    r2 = _run(script, "true", env=env, path=py)
    assert r2.returncode == 0 and len(_calls(fake_hub)) == 2


def test_hf_model_variant_and_offline_env_of_the_image(tmp_path, fake_hub):
    src = Source("hf", repo="org/sd", mode="model", variant="fp16")
    script = _write(tmp_path, [src])
    env = {k: v for k, v in fake_hub.items() if not k.startswith("_")}
    env.update({"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})  # baked images often set it
    r = _run(script, "true", env=env, path=_toolbox(tmp_path, "python3"))
    assert r.returncode == 0, r.stderr
    (call,) = _calls(fake_hub)
    assert [f for f in call["allow_patterns"] if f.endswith(".safetensors")] == ["model.fp16.safetensors"]


def test_hf_snapshot_into_a_local_dir_with_patterns(tmp_path, fake_hub):
    target = tmp_path / "models" / "llama"
    src = Source(
        "hf",
        repo="org/llama",
        revision="abc123",
        target=str(target),
        include=["*.json", "*.safetensors"],
        exclude=["original/*"],
    )
    script = _write(tmp_path, [src])
    env = {k: v for k, v in fake_hub.items() if not k.startswith("_")}
    r = _run(script, "true", env=env, path=_toolbox(tmp_path, "python3"))
    assert r.returncode == 0, r.stderr
    (call,) = _calls(fake_hub)
    assert call == {
        "allow_patterns": ["*.json", "*.safetensors"],
        "ignore_patterns": ["original/*"],
        "local_dir": str(target),
        "repo_id": "org/llama",
        "repo_type": "model",
        "revision": "abc123",
    }


def test_hf_without_python_or_hub_is_a_clear_error(tmp_path):
    src = Source("hf", repo="org/bert", mode="model")
    script = _write(tmp_path, [src])
    r = _run(script, "true", env={"HF_HOME": str(tmp_path / "hf")}, path=_toolbox(tmp_path, "curl"))
    assert r.returncode != 0 and "needs Python with huggingface_hub" in r.stderr and "org/bert" in r.stderr


# -- replayed Python calls and CLI commands ------------------------------------------------------------------
def test_python_replay_runs_once(tmp_path):
    cache = tmp_path / "torch"
    code = 'import os, sys\nd = os.path.join(os.environ["TORCH_HOME"], "hub")\nopen(os.path.join(d, "w.pth"), "w").write("x")\nprint("replayed", file=sys.stderr)'
    src = Source(
        "python",
        python=sys.executable,
        code=code,
        what="torch hub",
        guard={"env": ["TORCH_HOME"], "default": "~cache/torch", "suffix": "hub"},
    )
    script = _write(tmp_path, [src])
    r = _run(script, "echo", "ok", env={"TORCH_HOME": str(cache)})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n" and r.stderr.count("replayed") == 1
    assert sorted(p.name for p in (cache / "hub").iterdir()) == ["w.pth"]
    r2 = _run(script, "true", env={"TORCH_HOME": str(cache)})
    assert r2.returncode == 0 and "replayed" not in r2.stderr


def test_cmd_replay_keeps_the_build_flags_and_falls_back_to_fetch(tmp_path, server):
    bindir = tmp_path / "fake"
    bindir.mkdir()
    (bindir / "aws").write_text('#!/bin/sh\necho "$@" >> "$AWS_LOG"\nmkdir -p "$5" && echo x > "$5/w.bin"\n')
    (bindir / "aws").chmod(0o755)
    target = tmp_path / "models" / "x"
    src = Source(
        "cmd",
        target=str(target),
        is_dir=True,
        uri="s3://bucket/x/",
        argv=["aws", "s3", "sync", "--no-sign-request", "{URI}", "{PATH}"],
    )
    script = _write(tmp_path, [src])
    log = tmp_path / "aws.log"
    r = _run(script, "true", env={"AWS_LOG": str(log)}, path=_toolbox(tmp_path) + ":" + str(bindir))
    assert r.returncode == 0, r.stderr
    assert log.read_text() == f"s3 sync --no-sign-request s3://bucket/x/ {target}\n"
    # Overridden to an archive URL: the generic fetch is used instead of the replay.
    t2 = tmp_path / "other"
    r2 = _run(
        script,
        "true",
        env={f"WEIGHTS_{src.name}_URI": server.url + "/w/models.tar.gz", f"WEIGHTS_{src.name}_PATH": str(t2)},
    )
    assert r2.returncode == 0, r2.stderr
    assert (t2 / "config.json").exists() and log.read_text().count("\n") == 1


# -- the text itself -----------------------------------------------------------------------------------------
def test_values_with_shell_metacharacters_stay_literal(tmp_path, server):
    odd = tmp_path / 'we"ird $HOME `x` }dir'
    src = Source("uri", target=str(odd / "m.bin"), uri=server.url + "/w/model.bin")
    script = _write(tmp_path, [src])
    r = _run(script, "true")
    assert r.returncode == 0, r.stderr
    assert (odd / "m.bin").read_bytes() == PAYLOAD


def test_script_is_posix_lf_and_documents_its_variables():
    srcs = [
        Source("uri", target="/models/a.onnx", uri="https://example.com/a.onnx"),
        Source("uri", target="/app/models", is_dir=True, context_path="models/"),
        Source("hf", repo="org/a.onnx", mode="model"),
    ]
    text = generate(srcs)
    assert text.startswith("#!/bin/sh\n") and "\r" not in text and text.endswith('exec "$@"\n')
    header = text.split("\nset -eu\n")[0]
    for name in ("WEIGHTS_A_PATH", "WEIGHTS_A_URI", "WEIGHTS_MODELS_URI", "WEIGHTS_A_ONNX_REPO", "HF_HOME", "HF_TOKEN"):
        assert f"#   {name} " in header, name
    subprocess.run([SH, "-n"], input=text, text=True, check=True)
    if shutil.which("bash"):
        subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_manifest_round_trip_and_merge_keep_names():
    a = Source("uri", target="/models/a.bin", uri="https://example.com/a.bin")
    text = generate([a])
    old = manifest(text)
    assert [s.to_json() for s in old] == [a.to_json()]
    b = Source("uri", target="/models/b/a.bin", uri="https://example.com/b/a.bin")
    merged = merge(old, [Source("uri", target="/models/a.bin", uri="https://example.com/a.bin"), b])
    assert len(merged) == 2
    generate(merged)
    assert [s.name for s in merged] == ["A", "A_2"]  # the old name kept, the new one made unique
    assert manifest("#!/bin/sh\necho hi\n") is None


def test_every_fixture_script_is_valid_sh():
    """The scripts the model-weights fixtures expect parse with dash (and bash)."""
    scripts = sorted((Path(__file__).parent.parent / "fixtures" / "model-weights").glob("*/expected.*.sh"))
    assert scripts
    for s in scripts:
        r = subprocess.run([SH, "-n", str(s)], capture_output=True, text=True)
        assert r.returncode == 0, f"{s}: {r.stderr}"
