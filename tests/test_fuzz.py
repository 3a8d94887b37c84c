"""Bounded work: every rule, on generated and mutated Dockerfiles (and build contexts), finishes within a
per-file time limit or the test fails -- it never hangs CI.

Each file runs in a worker process; a file that takes longer than LIMIT seconds kills the worker and fails
the test with the file. Inputs are sized so that quadratic work on one line would blow the limit many times
over (a 60 KB line: ~3.6e9 steps), while linear work takes well under a second; the limit is generous so a
loaded 2-core machine does not fail an honest run. The timing figure lives in benchmarks/long_line.py.
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIMIT = 30.0  # seconds per file (linear analysis of the largest file here: ~1 s)
BIG = 60_000  # characters of one pathological line
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


# -- the worker ----------------------------------------------------------------------------------------
def _serve(conn) -> None:
    from slimml.context import Context, Settings
    from slimml.dockerfile import DockerfileError
    from slimml.engine import fix_text

    def one(text: str, files: dict[str, str], unsafe: bool):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for rel, body in files.items():
                p = root / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(body)
            (root / "Dockerfile").write_text(text)
            ctx = Context(settings=Settings(unsafe_fixes=unsafe), dockerfile=root / "Dockerfile", context_dir=root)
            try:
                r = fix_text(text, ctx, str(root / "Dockerfile"))
            except DockerfileError as e:
                return ("refused", str(e)[:200])
            return ("ok", len(r.output))

    one(
        'FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD ["python", "a.py"]\n',
        {"requirements.txt": "flask\n", "a.py": "import flask\n"},
        True,
    )  # imports everything once, untimed
    conn.send(("ready", None))
    while True:
        job = conn.recv()
        if job is None:
            return
        if job[0] == "__sleep__":  # the test of the time limit itself
            import time

            time.sleep(job[1])
            conn.send(("ok", 0))
            continue
        try:
            conn.send(one(*job))
        except BaseException:  # noqa: BLE001 - a crash is a finding, reported with its traceback
            conn.send(("crash", traceback.format_exc()[-3000:]))


class _Worker:
    def __init__(self):
        self.proc = None
        self.conn = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        if not self.conn.poll(120):
            raise RuntimeError("the fuzz worker did not start")
        self.conn.recv()

    def run(
        self,
        text: str,
        files: dict[str, str] | None = None,
        unsafe: bool = True,
        limit: float | None = None,
        job: tuple | None = None,
    ) -> tuple[str, object]:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.conn.send(job or (text, files or {}, unsafe))
        if self.conn.poll(LIMIT if limit is None else limit):
            return self.conn.recv()
        self.proc.kill()  # a hang: this worker is gone, the next file gets a fresh one
        self.proc.join()
        self.proc = None
        return ("timeout", LIMIT)

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


@pytest.fixture(scope="module")
def worker():
    w = _Worker()
    yield w
    w.close()


def _check(worker, text: str, files: dict[str, str] | None = None, unsafe: bool = True) -> None:
    status, detail = worker.run(text, files, unsafe)
    shown = text if len(text) < 600 else text[:300] + f"... ({len(text)} chars) ..." + text[-200:]
    assert status in ("ok", "refused"), f"{status}: {detail}\nfile:\n{shown}\ncontext: {sorted(files or {})}"


# -- hand-picked shapes: each the worst case of some regex or walk -----------------------------------------
def _rep(unit: str, n: int = BIG) -> str:
    return unit * max(1, n // len(unit))


SHAPES = {
    "issue-10-device-properties": 'FROM python:3.11\nRUN pip install torch && python -c "import torch; '
    'print(torch.cuda.get_device_properties(0))"\n',
    "python-c-long-call": 'FROM python:3.11\nRUN pip install x && python -c "print(' + _rep("a") + '(0))"\n',
    "python-c-nested-parens": 'FROM python:3.11\nRUN pip install x && python -c "print('
    + "(" * 3000
    + ")" * 3000
    + ')"\n',
    "python-c-many-prints": 'FROM python:3.11\nRUN pip install x && python -c "' + _rep("print(a.b, 'c'); ") + '"\n',
    "long-identifier": "FROM python:3.11\nRUN pip install " + _rep("a") + "\n",
    "blanks-then-hash": "FROM python:3.11\nRUN pip install x" + _rep(" ") + "#y\n",
    "many-space-hash": "FROM python:3.11\nRUN pip install x" + _rep(" #") + "\n",
    "var-refs-unclosed": "FROM python:3.11\nENV A=" + _rep("${A:-") + "\n",
    "from-var-unclosed": "ARG B=python:3.11\nFROM ${B" + _rep(":-x") + "\n",
    "command-substitution-deep": "FROM python:3.11\nRUN echo " + "$(" * 400 + "x" + ")" * 400 + "\n",
    "backticks": "FROM python:3.11\nRUN echo " + _rep("`a` ") + "\n",
    "quotes": "FROM python:3.11\nRUN echo " + _rep("'a' \"b\" ") + "\n",
    "quote-nesting": 'FROM python:3.11\nRUN echo "' + "'\\\"" * 2000 + '"\n',
    "continuations": "FROM python:3.11\nRUN true" + _rep(" \\\n && : x", 40_000) + "\n",
    "url-scheme-word": "FROM python:3.11\nRUN pip install --index-url " + _rep("a1") + "://\n",
    "apk-words": "FROM alpine:3.19\nRUN " + _rep("apk ") + "\n",
    "apt-words": "FROM python:3.11\nRUN " + _rep("apt-get -o ") + "update\n",
    "extras-brackets": "FROM python:3.11\nRUN pip install -e " + _rep("[") + "]\n",
    "glob-tail": "FROM python:3.11\nRUN apt-get update && rm -rf " + _rep("*/") + "x/\n",
    "legacy-env-secret": "FROM python:3.11\nENV SECRET_TOKEN " + _rep(" ") + "x" + _rep(" ") + "\\y\n",
    "directive-blanks": "# syntax=x" + _rep(" ") + "y\nFROM python:3.11\n",
    "history-like-equals": "FROM python:3.11\nARG A\nRUN echo " + _rep("=") + "\n",
    "label-long": 'FROM python:3.11\nLABEL a="' + _rep("x y ") + '"\n',
    "many-stages": "".join(
        f"FROM python:3.11 AS s{i}\nRUN pip install a{i}\nCOPY --from=s{max(i - 1, 0)} /a /a\n" for i in range(400)
    ),
    "many-runs": "FROM python:3.11\n" + "".join(f"RUN apt-get update && apt-get install -y p{i}\n" for i in range(800)),
    "copy-many-stars": 'FROM python:3.11\nWORKDIR /app\nCOPY *a*a*a*a*a*a*a*a*a*a*a*a*b /app/\nCMD ["python", "x.py"]\n',
    "pip-word-newlines": 'FROM python:3.11\nRUN pip install "a' + _rep(" [ ", 3000) + '"\n',
}
CONTEXTS = {
    "requirements-blanks": {"requirements.txt": "flask" + _rep(" ") + "x\n" + "-r " + _rep(" ") + "\n"},
    "requirements-extras": {"requirements.txt": "-e ./pkg" + _rep("[") + "]\n" + _rep("a @ ") + "\n"},
    "dockerignore-stars": {
        ".dockerignore": "*a*a*a*a*a*a*a*a*a*a*a*a*b\n**/*x*x*x*x*x*x*x*y\n",
        "a" * 200: "x",
        "x" * 200: "y",
    },
    "conda-env": {
        "environment.yml": "dependencies:\n  - pip:"
        + _rep(" ")
        + "x"
        + _rep(" ")
        + "y\n    - "
        + _rep(" ")
        + "a"
        + _rep(" ")
        + "#\n"
    },
    "script-long-line": {"start.sh": "#!/bin/sh\n" + _rep("a #") + "\nexec python app.py\n"},
    "pypirc-blank-lines": {".pypirc": _rep("\n") + "x\n"},
    "app-long-line": {"app.py": "x = '" + _rep("model.bin ") + "'\nopen('w.onnx')\n"},
}
_CONTEXT_DOCKERFILE = (
    "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt\n"
    'RUN conda env update -f environment.yml || true\nCMD ["sh", "start.sh"]\n'
)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_pathological_dockerfiles_finish(worker, name):
    _check(worker, SHAPES[name])


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_pathological_build_contexts_finish(worker, name):
    _check(worker, _CONTEXT_DOCKERFILE, CONTEXTS[name])


# -- generated files --------------------------------------------------------------------------------------
_UNITS = [
    "a",
    " ",
    "\t",
    "${A:-",
    "$(",
    ")",
    "`",
    "'",
    '"',
    "[",
    "]",
    "#",
    " #",
    "\\\\",
    "=",
    "://",
    "a1",
    "@",
    "apk ",
    "apt-get ",
    "-r ",
    "pip ",
    "*/",
    "/.*",
    ",",
    ":-",
    "(",
    "print(",
    "x.y",
    "import ",
    ";",
    "&&",
    "|",
    "<<",
    "-o ",
    "requirements",
    ".txt",
    "--",
    "*a",
    "}",
    "{",
    "sk-",
    "hf_",
]


@st.composite
def _long_text(draw, max_len: int = 20_000):
    units = draw(st.lists(st.sampled_from(_UNITS), min_size=1, max_size=3))
    n = draw(st.integers(1, max_len))
    out = "".join(u * max(1, n // (len(u) * len(units))) for u in units)
    return out.replace("\n", " ")


_SLOTS = [
    "RUN {}",
    "RUN pip install {}",
    'RUN pip install x && python -c "{}"',
    "RUN apt-get update && apt-get install -y {}",
    "ENV A={}",
    "ENV SECRET_KEY {}",
    "ARG X={}",
    'LABEL a="{}"',
    "COPY {} /app/",
    "CMD {}",
    "HEALTHCHECK CMD {}",
    "WORKDIR /{}",
    "# {}",
    "RUN echo $({})",
    'RUN sh -c "{}"',
    "USER {}",
]


@st.composite
def _dockerfiles(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["# syntax={}", "# escape={}", "# check={}"])).format(draw(_long_text(2000))))
    for s in range(draw(st.integers(1, 4))):
        lines.append(
            draw(
                st.sampled_from(
                    [
                        "FROM python:3.11",
                        "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04",
                        "FROM ${BASE:-python:3.11-slim}",
                        "FROM ubuntu:22.04",
                    ]
                )
            )
            + f" AS s{s}"
        )
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.integers(0, 4))
            if kind == 0:  # a huge continuation chain
                body = " \\\n    && ".join(
                    ["true"]
                    + [
                        draw(st.sampled_from(["pip install a", "echo x", "cd /app"]))
                        for _ in range(draw(st.integers(1, 2000)))
                    ]
                )
                lines.append("RUN " + body)
            elif kind == 1:  # deep nesting
                d = draw(st.integers(1, 300))
                op, cl = draw(st.sampled_from([("$(", ")"), ("(", ")"), ("\"$(echo '", "')\""), ("`", "`")]))
                lines.append("RUN echo " + op * d + "x" + cl * d)
            else:
                lines.append(draw(st.sampled_from(_SLOTS)).format(draw(_long_text())))
    lines.append(draw(st.sampled_from(['CMD ["python", "app.py"]', "CMD python app.py", "EXPOSE 8000"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=_dockerfiles(), unsafe=st.booleans())
def test_generated_dockerfiles_finish(worker, text, unsafe):
    _check(worker, text, unsafe=unsafe)


# -- mutated fixture files ---------------------------------------------------------------------------------
_FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*/*/Dockerfile") if p.is_file())


@st.composite
def _mutated(draw):
    path = draw(st.sampled_from(_FIXTURE_FILES))
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.integers(0, 3))
        if how == 0:  # a long stretch inside an existing line
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(_long_text()) + lines[i][j:]
        elif how == 1:  # the line many times
            lines[i : i + 1] = [lines[i]] * draw(st.integers(2, 300))
        elif how == 2:  # a pathological instruction
            lines.insert(i + 1, draw(st.sampled_from(_SLOTS)).format(draw(_long_text())))
        else:  # the line as one huge continuation
            lines[i] = " \\\n  ".join([lines[i]] * draw(st.integers(2, 500)))
    files = {
        p.name: p.read_text(errors="replace")
        for p in path.parent.iterdir()
        if p.is_file() and p.name not in ("Dockerfile", "expected.Dockerfile", "case.toml")
    }
    return "\n".join(lines) + "\n", files


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(case=_mutated(), unsafe=st.booleans())
def test_mutated_fixtures_finish(worker, case, unsafe):
    text, files = case
    _check(worker, text, files, unsafe)


def test_the_time_limit_fails_a_hang(worker):
    """The limit is real: a job that outlives it is reported as a timeout, and the next file gets a fresh worker."""
    import time

    start = time.monotonic()
    assert worker.run("", job=("__sleep__", 600), limit=2.0) == ("timeout", LIMIT)
    assert time.monotonic() - start < 60
    status, _ = worker.run("FROM python:3.11\nRUN pip install flask\n")
    assert status == "ok"
