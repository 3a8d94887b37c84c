"""SLM003 merge-runs: the merged RUN is one RUN to BuildKit and behaves like the RUNs it replaces."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.dockerfile.shell import run_scripts, unwrap
from slimml.engine import Applicability, Finding, _suppressed, fix_text, suppressions
from slimml.knowledge.weights import could_download, looks_like_weight_download, looks_like_weight_file
from slimml.rules import merge_runs

from .oracle import assert_agrees, buildkit_boundaries


def _fix(text: str, unsafe: bool = False):
    ctx = Context(settings=Settings(select=("merge-runs",), unsafe_fixes=unsafe))
    return fix_text(text, ctx)


def _runs(text: str):
    doc = parse(text)
    return doc, [i for i in doc.instructions if i.keyword == "RUN"]


# -- the merged text -------------------------------------------------------------------------------
def test_merged_output_is_one_run_for_buildkit_and_keeps_each_command_verbatim():
    src = (
        "FROM python:3.11\n"
        "RUN apt-get update \\\n"
        "      && apt-get install -y curl\n"
        "# between\n"
        "\n"
        "RUN pip install x \\\n"
        "  # inner comment\n"
        "  y\n"
        "RUN echo done\n"
    )
    out = _fix(src).output
    assert_agrees(out)
    assert [k for k, _, _ in buildkit_boundaries(out)] == ["FROM", "RUN"]
    doc, runs = _runs(out)
    assert len(runs) == 1
    # BuildKit joins continuation lines with nothing and drops comment lines.
    assert runs[0].args == (
        "apt-get update       && apt-get install -y curl       && pip install x   y       && echo done"
    )
    # The indentation of the first RUN's continuation lines is reused; the comment stays.
    assert "\n# between\n      && pip install x \\\n  # inner comment\n  y \\\n      && echo done\n" in out
    assert "\n\n" not in out  # the blank line between the RUNs is gone
    assert not run_scripts(doc, runs[0])[0].has_error


def test_crlf_and_escape_directive_are_respected():
    src = "# escape=`\r\nFROM x\r\nrun echo a\r\n\r\nRUN echo b\r\n"
    out = _fix(src).output
    assert out == "# escape=`\r\nFROM x\r\nrun echo a `\r\n    && echo b\r\n"
    assert_agrees(out)


def test_different_flags_and_stages_are_never_merged():
    src = (
        "FROM a AS one\nRUN --mount=type=cache,target=/x echo 1\nRUN --mount=type=cache,target=/y echo 2\n"
        "FROM b\nRUN echo 3\n"
    )
    res = _fix(src)
    assert res.output == src
    assert not res.findings


# -- semantics: run the shell ----------------------------------------------------------------------
def _sequential(scripts: list[str], cwd, shell=("/bin/sh", "-c")) -> tuple[bool, str]:
    out = ""
    for s in scripts:  # every RUN is a fresh `/bin/sh -c`, the next one only if this one succeeded
        p = subprocess.run([*shell, s], capture_output=True, text=True, cwd=cwd, timeout=10)
        out += p.stdout
        if p.returncode != 0:
            return False, out
    return True, out


FIRST = [
    "false; echo a",
    "echo a || false",
    "cd / && echo a",
    "X=1; echo a",
    "echo a;",
    "exit 3",
    "set -e; false; echo no",
    "export X=2",
    "echo a && false || echo rescued",
    "umask 077; echo a",
    "if true; then cd /; fi",
    "(cd /) && pwd",
    "true &",
]
SECOND = [
    "echo b; false",
    "echo b || false",
    'echo "x=$X"; pwd',
    "false && echo b",
    "echo b | cat",
    "set -e; echo b",
    "false || echo b",
    "umask",
]


@pytest.mark.parametrize("a", FIRST)
@pytest.mark.parametrize("b", SECOND)
def test_merged_run_behaves_like_the_separate_runs(a, b, tmp_path):
    # debian keeps Docker's default SHELL (/bin/sh -c without -e): known, so only a RUN that sets
    # errexit itself stops a merge (it may only come last).
    src = f"FROM debian:bookworm\nRUN {a}\nRUN {b}\nRUN echo end\n"
    res = _fix(src, unsafe=True)
    assert_agrees(res.output)
    _, runs = _runs(res.output)
    assert len(runs) == 1 + ("set -e" in a) + ("set -e" in b), res.output
    merged = _sequential([r.args for r in runs], tmp_path)
    assert merged == _sequential([a, b, "echo end"], tmp_path), res.output


ERREXIT_SHELLS = {
    # SHELL with -e set in a parent stage: inherited through `FROM base`.
    "inherited": ('FROM debian:bookworm AS base\nSHELL ["/bin/sh", "-e", "-c"]\nFROM base\n', ("/bin/sh", "-e", "-c")),
    "own": ('FROM debian:bookworm\nSHELL ["/bin/sh", "-eu", "-c"]\n', ("/bin/sh", "-eu", "-c")),
}


@pytest.mark.parametrize("shell", sorted(ERREXIT_SHELLS))
@pytest.mark.parametrize("a", FIRST)
@pytest.mark.parametrize("b", SECOND)
def test_merge_under_an_errexit_shell_keeps_failing_where_the_runs_failed(shell, a, b, tmp_path):
    head, argv = ERREXIT_SHELLS[shell]
    src = f"{head}RUN {a}\nRUN {b}\nRUN echo end\n"
    res = _fix(src, unsafe=True)
    assert_agrees(res.output)
    _, runs = _runs(res.output)
    merged = _sequential([r.args for r in runs if r.stage == runs[-1].stage], tmp_path, argv)
    assert merged == _sequential([a, b, "echo end"], tmp_path, argv), res.output


@pytest.mark.parametrize("a", FIRST)
@pytest.mark.parametrize("b", SECOND)
def test_merge_on_an_unknown_base_image_holds_with_and_without_errexit(a, b, tmp_path):
    # `FROM x`: the base image's SHELL is unknown; the merge must mean the same either way.
    res = _fix(f"FROM x\nRUN {a}\nRUN {b}\nRUN echo end\n", unsafe=True)
    assert_agrees(res.output)
    _, runs = _runs(res.output)
    for argv in (("/bin/sh", "-c"), ("/bin/sh", "-e", "-c")):
        merged = _sequential([r.args for r in runs], tmp_path, argv)
        assert merged == _sequential([a, b, "echo end"], tmp_path, argv), (argv, res.output)


def test_the_reported_errexit_case_is_not_merged_into_a_subshell():
    # `A && ( B ) && C` would switch -e off inside B: the check in B must still fail the build.
    src = (
        'FROM debian:bookworm AS base\nSHELL ["/bin/bash", "-e", "-c"]\nFROM base\n'
        "RUN echo a\nRUN false; echo checked\nRUN echo c\n"
    )
    res = _fix(src)
    assert "RUN false; echo checked\nRUN echo c" in res.output or "&& ( false; echo checked )\n" in res.output
    assert "( false; echo checked ) \\" not in res.output
    [note] = [f for f in res.remaining if f.fix is None]
    assert "errexit" in note.note


def test_a_login_shell_does_not_merge_a_run_that_writes_a_startup_file():
    src = (
        'FROM debian:bookworm\nSHELL ["/bin/bash", "--login", "-c"]\n'
        "RUN conda init bash\nRUN conda activate env && python -V\n"
    )
    res = _fix(src)
    assert res.output == src
    [note] = res.findings
    assert "startup file" in note.note


@pytest.mark.parametrize("shell", ['["pwsh", "-Command"]', '["cmd", "/S", "/C"]'])
def test_a_non_posix_shell_is_never_merged(shell):
    src = f"FROM debian:bookworm\nSHELL {shell}\nRUN echo a\nRUN echo b\n"
    res = _fix(src)
    assert res.output == src


def test_a_merged_run_stays_under_64_kib_of_shell_text():
    big = "echo " + "x" * 40_000
    src = f"FROM debian:bookworm\nRUN {big}\nRUN {big}\nRUN echo small\n"
    res = _fix(src)
    _, runs = _runs(res.output)
    assert all(len(r.args.encode()) <= merge_runs.MAX_MERGED_BYTES for r in runs)
    assert len(runs) == 2  # the second big RUN and the small one still merge
    assert any("64 KiB" in f.note for f in res.remaining if f.fix is None)


def test_reads_of_shell_history_start_a_new_merge():
    src = "FROM debian:bookworm\nRUN echo a\nRUN echo $_\n"
    res = _fix(src)
    assert res.output == src


@pytest.mark.parametrize(
    "heavy",
    [
        "pip install flash-attn --no-build-isolation",
        "git clone https://github.com/NVIDIA/apex && cd apex && pip install -v --no-build-isolation .",
        "cd /src/pytorch && python setup.py install",
        "TORCH_CUDA_ARCH_LIST=8.0 pip install git+https://github.com/facebookresearch/detectron2.git",
        "DS_BUILD_OPS=1 pip install deepspeed",
        "cmake --build build -j8",
    ],
)
def test_separately_cached_source_builds_are_not_merged(heavy):
    src = f"FROM debian:bookworm\nRUN pip install numpy\nRUN {heavy}\nRUN pip install einops\n"
    res = _fix(src)
    assert res.output == src
    assert not [f for f in res.findings if f.fix is not None]


def test_a_cleanup_of_what_a_source_build_wrote_is_still_merged():
    src = (
        "FROM debian:bookworm\nRUN git clone https://github.com/NVIDIA/apex /tmp/apex && cd /tmp/apex && make\n"
        "RUN rm -rf /tmp/apex\n"
    )
    res = _fix(src)
    assert len(_runs(res.output)[1]) == 1
    src = (
        "FROM debian:bookworm\nRUN git clone https://github.com/NVIDIA/apex /tmp/apex && cd /tmp/apex && make\n"
        "RUN rm -rf /var/log/unrelated\n"
    )
    assert _fix(src).output == src


def test_errexit_run_only_comes_last():
    src = "FROM x\nRUN a\nRUN set -eux; b\nRUN c\nRUN d\n"
    res = _fix(src)
    assert res.output == "FROM x\nRUN a \\\n    && ( set -eux; b )\nRUN c \\\n    && d\n"
    [note] = [f for f in res.remaining if f.fix is None]
    assert "errexit" in note.note


@pytest.mark.parametrize(
    "last", ["set -e; false; echo no", "set -o errexit; false; echo no", "(set -e; false; echo no)"]
)
def test_errexit_run_as_last_part_keeps_failing(last, tmp_path):
    res = _fix(f"FROM x\nRUN echo a\nRUN {last}\n")
    _, runs = _runs(res.output)
    assert len(runs) == 1
    assert _sequential([runs[0].args], tmp_path) == _sequential(["echo a", last], tmp_path) == (False, "a\n")
    # ... but never before another RUN.
    res = _fix(f"FROM x\nRUN {last}\nRUN echo b\n")
    assert len(_runs(res.output)[1]) == 2


def _facts(cmd):
    from slimml.semantics.shellstate import facts

    doc = parse(f"FROM x\nRUN {cmd}\n")
    return facts(run_scripts(doc, doc.instructions[1])[0])


def test_errexit_detection():
    def errexit(cmd):
        return _facts(cmd).sets_errexit

    for cmd in [
        "set -eux",
        "set -Eeuo pipefail",
        "set -o errexit",
        "f() { set -e; }",
        "trap 'exit 1' ERR",
        "command set -e",
    ]:
        assert errexit(cmd), cmd
    for cmd in ["set -x", "set -o pipefail", "set +e", "set -- -e", "bash -c 'set -e; x'", "echo set -e"]:
        assert not errexit(cmd), cmd


def test_wrapping_decisions():
    src = "FROM x\nRUN a || b\nRUN c && d | e\nRUN f || g\n"
    out = _fix(src).output
    # `a || b && ...` is `(a || b) && ...`: no parentheses needed for the first RUN;
    # a middle RUN that is one and-chain needs none; `f || g` as a later RUN does.
    assert out == "FROM x\nRUN a || b \\\n    && c && d | e \\\n    && ( f || g )\n"


def test_state_detection():
    def state(cmd):
        return bool(_facts(cmd).leaves_state)

    for cmd in [
        "cd /x",
        "if true; then cd /x; fi",
        "X=1",
        "export A=1",
        "declare -x A",
        "unset A",
        ". /etc/profile",
        "source x",
        "set -o pipefail",
        "command cd /x",
        "f() { :; }",
        "a && umask 0",
        "for f in a b; do echo $f; done",
        ': "${VAR:=default}"',
        "echo ${B=x}",
        "echo $((i=1))",
        "((i++))",
        "let x=1",
        "printf -v X %s a",
        "read x < /etc/hostname",
        "mapfile -t L < f",
    ]:
        assert state(cmd), cmd
    for cmd in ["(cd /x && make)", "echo $(cd /x; pwd)", "X=1 make", "echo a | read b", "pip install x"]:
        assert not state(cmd), cmd


def test_background_job_makes_the_fix_unsafe_but_not_in_the_last_run():
    res = _fix("FROM x\nRUN sleep 100 &\nRUN echo b\n")
    [f] = res.findings
    assert f.fix.applicability is Applicability.UNSAFE and "background" in f.fix.reason
    assert res.output.count("RUN") == 2  # not applied without --unsafe-fixes
    [f] = _fix("FROM x\nRUN echo a\nRUN sleep 100 &\n").findings
    assert f.fix.applicability is Applicability.SAFE


def test_blocked_runs_are_reported_without_a_fix():
    src = "FROM x\nRUN echo a # why\nRUN echo b\n"
    res = _fix(src)
    assert res.output == src
    [f] = res.findings
    assert f.fix is None and "comment" in f.note


# -- suppression -----------------------------------------------------------------------------------
def test_engine_drops_a_finding_that_touches_a_suppressed_second_run_so_the_rule_splits():
    src = "FROM x\nRUN a\nRUN b\n# slimml: ignore[SLM003]\nRUN c\nRUN d\nRUN e\n"
    doc = parse(src)
    file_codes, per = suppressions(doc)
    a, b, c, d, e = doc.instructions[1:]
    # The engine alone would drop a finding over A..E (it touches C) ...
    assert _suppressed(Finding("SLM003", "merge-runs", "m", a.start, e.end), doc, file_codes, per)
    # ... so the rule splits the sequence around C and A+B, D+E still merge.
    spans = [(f.start, f.end) for f in merge_runs.check(doc, Context())]
    assert spans == [(a.start, b.end), (d.start, e.end)]
    out = _fix(src).output
    assert out == "FROM x\nRUN a \\\n    && b\n# slimml: ignore[SLM003]\nRUN c\nRUN d \\\n    && e\n"


# -- weights knowledge ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cmd,expected",
    [
        ("huggingface-cli download TheBloke/x --local-dir /models", True),
        ("hf download org/model", True),
        ("huggingface-cli login", False),
        ("git lfs pull", True),
        ("git lfs install", False),
        ("git clone https://huggingface.co/bert-base-uncased /models/bert", True),
        ("git clone https://github.com/org/repo", False),
        ("aws --region us-east-1 s3 cp s3://bucket/model.pt /models/", True),
        ("aws s3 ls s3://bucket", False),
        ("gsutil -m cp -r gs://bucket/m /m", True),
        ("az storage blob download -c c -n model.onnx -f /m/model.onnx", True),
        ("wget -q https://example.com/x/model.safetensors?download=true", True),
        ("curl -L -o /models/llama.gguf https://example.com/dl?id=3", True),
        ("curl -fsSL https://deb.nodesource.com/setup_20.x", False),
        ("curl -o /usr/local/bin/tini https://github.com/krallin/tini/releases/download/v0.19.0/tini", False),
        ("python -c 'from transformers import AutoModel; AutoModel.from_pretrained(\"bert\")'", True),
        ("python3 -c 'import nltk; nltk.download(\"punkt\")'", True),
        ('python -c \'import torch; torch.hub.load("pytorch/vision", "resnet18")\'', True),
        ("python -c 'import whisper; whisper.load_model(\"base\")'", True),
        ("python -c 'import sklearn.pipeline'", False),
        ("python -m spacy download en_core_web_sm", True),
        ("spacy download en_core_web_sm", True),
        ("python -m pip install torch", False),
        ("sudo -u app env HF_HOME=/m huggingface-cli download x", True),
        ("bash -c 'cd /m && huggingface-cli download x'", True),
    ],
)
def test_looks_like_weight_download(cmd, expected):
    argv = shlex.split(cmd)
    assert looks_like_weight_download(argv) is expected
    if expected:  # the cheap pre-test SLM010 runs first must let every download through
        assert could_download(argv[unwrap(argv) :][0].rsplit("/", 1)[-1])


def test_looks_like_weight_file():
    assert looks_like_weight_file("/models/model.SafeTensors")
    assert looks_like_weight_file("https://x/y/tokenizer.model?raw=1")
    assert not looks_like_weight_file("/usr/local/bin")
    assert not looks_like_weight_file("requirements.txt")


def test_a_run_that_sources_a_file_turning_on_errexit_only_comes_last(tmp_path):
    (tmp_path / "strict.sh").write_text("# stop at the first error\nset -eu\n")
    src = (
        "FROM debian:bookworm\nCOPY strict.sh /etc/strict.sh\nRUN echo a\n"
        "RUN . /etc/strict.sh; false; echo verified\nRUN touch /ready\n"
    )
    ctx = Context(settings=Settings(select=("merge-runs",)), dockerfile=tmp_path / "Dockerfile", context_dir=tmp_path)
    out = fix_text(src, ctx).output
    _, runs = _runs(out)
    # `echo a` and the sourcing RUN merge (it comes last there); `touch` stays apart
    assert [r.args for r in runs] == ["echo a     && ( . /etc/strict.sh; false; echo verified )", "touch /ready"], out


def test_sourcing_an_unreadable_file_is_treated_as_turning_on_errexit():
    src = "FROM debian:bookworm\nRUN . /opt/vendor/env.sh; make\nRUN echo b\n"
    res = _fix(src)
    assert res.output == src
    assert any("sources" in f.note for f in res.findings if f.fix is None)


def test_sourcing_a_venv_activate_script_does_not_stop_a_merge():
    src = "FROM debian:bookworm\nRUN . /opt/venv/bin/activate && pip install x\nRUN echo b\n"
    assert len(_runs(_fix(src).output)[1]) == 1
