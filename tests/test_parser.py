"""The lossless model: round-trip, BuildKit agreement (hand-written and generated files), shell mapping."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimml.context import Context, Settings
from slimml.dockerfile import DockerfileError, parse, require_stages
from slimml.dockerfile.shell import run_commands, run_scripts
from slimml.engine import fix_text
from slimml.io import InputError, decode

from .oracle import assert_agrees, buildkit_boundaries

MESSY = [
    "FROM a\nRUN echo a\\\\\nRUN b\n",  # escaped escape: no continuation
    "FROM a\nRUN echo a \\   \n  b\n",  # trailing spaces after the backslash
    "FROM a\r\nRUN x \\\r\n  y\r\n",  # CRLF
    "FROM a\nRUN cat<<EOF\n",  # `cat<<EOF` is not a heredoc for BuildKit
    'FROM a\nRUN cat <<EOF >x && cat <<-"E2"\nhi\nEOF\n\tyo\n\tE2\nRUN z\n',
    "# escape=`\nFROM a\nRUN a `\n  b\n",
    "FROM a\n  run  --mount=type=cache,target=/x   echo hi\n",
    "FROM a\nRUN a \\\n\n  # c\n  b\n",  # blank and comment lines inside a continuation
    "FROM a\nRUN a \\\n",  # continuation at EOF
    "FROM a\nCMD ['python']\n",  # odd JSON quoting: shell form for BuildKit
    "FROM a\nONBUILD RUN <<EOF\nx\nEOF\n",
    "ARG V=1\n# comment\n\nFROM a:${V} AS b\nCOPY --from=b --chown=1:1 /x /y\n",
    "# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a\n",
    "FROM a\n\\\nRUN x\n",  # a lone escape line starts the instruction
    "FROM a\nCOPY <<EOF /etc/x\nline\nEOF\nRUN <<-EOT bash\n\techo hi\n\tEOT\n",
    "FROM a\nRUN echo hi # not a comment for BuildKit\n",
    "FROM a\nHEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1\n",
    "FROM a\nRUN echo 'multi \\\n  # not skipped? \\\n  x'\n",
    "FROM a\nLABEL a=b \\\n\tc=d\nEXPOSE 80/tcp 443\n",
    "FROM a\nENV A=1\\\n B=2\n",
]


@pytest.mark.parametrize("text", MESSY)
def test_boundaries_agree_with_buildkit(text):
    assert_agrees(text)


@pytest.mark.parametrize("text", MESSY)
def test_items_cover_the_file_in_order(text):
    doc = parse(text)
    pos = 0
    for item in doc.items:
        assert item.line_start == pos, (item, pos)
        pos = item.line_end
    assert pos == len(text)


def test_spans_and_flags():
    text = "ARG X=1\nFROM --platform=$BUILDPLATFORM python:3.11 AS Build\n  run --mount=type=cache,target=/root/.cache/pip \\\n  pip install x\n"
    doc = parse(text)
    frm = doc.instructions[1]
    assert doc.stages[0].name == "build" and doc.stages[0].platform == "$BUILDPLATFORM"
    assert doc.stages[0].image == "python:3.11"
    s, e = doc.stages[0].image_span
    assert text[s:e] == "python:3.11"
    run = doc.instructions[2]
    assert run.keyword == "RUN" and run.keyword_raw == "run" and run.multiline
    assert run.flags[0].name == "mount" and run.flags[0].value == "type=cache,target=/root/.cache/pip"
    assert text[run.flags[0].start : run.flags[0].end] == run.flags[0].raw
    assert doc.global_args[0].args == "X=1" and frm.stage == 0


def test_heredoc_bodies_and_exec_form():
    text = 'FROM a\nRUN <<EOF\npip install x\nEOF\nCMD ["python", "app.py"]\n'
    doc = parse(text)
    run, cmd = doc.instructions[1], doc.instructions[2]
    assert run.heredocs[0].body(text) == "pip install x\n"
    assert cmd.json == ("python", "app.py")
    (c,) = run_commands(doc, run)
    assert text[c.start : c.end] == "pip install x"


def test_shell_words_map_across_continuations_and_comments():
    text = "FROM a\r\nRUN apt-get update && \\  \r\n    # comment\r\n    FOO=1 pip3 \\\r\n  install -r r.txt\r\n"
    doc = parse(text)
    run = doc.instructions[1]
    cmds = run_commands(doc, run)
    assert [c.argv[0] for c in cmds] == ["apt-get", "pip3"]
    pip = cmds[1]
    assert pip.assignments == {"FOO": "1"}
    install = pip.args[0]
    assert install.value == "install" and text[install.start : install.end] == "install"
    assert text[pip.args[-1].start : pip.args[-1].end] == "r.txt"


def test_non_ascii_offsets():
    text = "FROM a\nRUN echo 'héllo wörld' && pip install x\n"
    doc = parse(text)
    cmds = run_commands(doc, doc.instructions[1])
    w = cmds[1].args[0]
    assert text[w.start : w.end] == "install"


def test_non_posix_shell_is_not_parsed():
    doc = parse('FROM a\nSHELL ["powershell", "-Command"]\nRUN pip install x\n')
    assert run_scripts(doc, doc.instructions[2]) == []


@pytest.mark.parametrize(
    "text,msg",
    [
        ("FROM a\nFOO bar\n", "unknown instruction"),
        ("FROM a\nRUN <<EOF\nx\n", "unterminated heredoc"),
        ("RUN x\n", "before the first FROM"),
        ("# just a comment\n", "no instructions"),
        ("ARG X=1\n", "no FROM"),
    ],
)
def test_not_a_dockerfile(text, msg):
    with pytest.raises(DockerfileError, match=msg):
        require_stages(parse(text))


def test_decode_bom_and_binary(tmp_path):
    src = decode(b"\xef\xbb\xbfFROM a\r\n", tmp_path / "Dockerfile")
    assert src.bom and src.text == "FROM a\r\n" and src.encode(src.text) == b"\xef\xbb\xbfFROM a\r\n"
    latin = decode(b"FROM a\n# caf\xe9\n", tmp_path / "Dockerfile")
    assert latin.encoding == "latin-1" and latin.encode(latin.text) == b"FROM a\n# caf\xe9\n"
    with pytest.raises(InputError, match="binary"):
        decode(b"\x7fELF\x00\x00", tmp_path / "x")


# -- generated Dockerfiles -------------------------------------------------------------------------
_WORDS = st.sampled_from(
    [
        "pip",
        "install",
        "-r",
        "requirements.txt",
        "apt-get",
        "update",
        "-y",
        "curl",
        "echo",
        "hi",
        "&&",
        ";",
        "||",
        "true",
        "x",
        "numpy==1.26",
        "$HOME",
        "'a b'",
        '"c d"',
        "--no-cache-dir",
        "python",
        "-m",
        "cd",
        "/app",
        "conda",
        "uv",
        "|",
        "cat",
    ]
)


@st.composite
def _run_body(draw):
    n = draw(st.integers(1, 8))
    parts = [draw(_WORDS) for _ in range(n)]
    seps = []
    for _ in parts[:-1]:
        seps.append(draw(st.sampled_from([" ", " ", " ", " \\\n    ", " \\  \n  ", " \\\n# note\n  ", " \\\n\n  "])))
    if parts[0].startswith("--"):
        parts.insert(0, "pip")  # a leading --word is a RUN flag for BuildKit (an unknown one: refused)
        seps.insert(0, " ")
    out = parts[0]
    for sep, p in zip(seps, parts[1:]):
        out += sep + p
    return out


@st.composite
def dockerfiles(draw):
    lines = []
    if draw(st.booleans()):
        lines.append("# syntax=docker/dockerfile:1")
    if draw(st.booleans()):
        lines.append("ARG BASE=python:3.11")
    kw = lambda k: draw(st.sampled_from([k, k.lower(), k.capitalize()]))  # noqa: E731
    indent = lambda: draw(st.sampled_from(["", "", "  ", "\t"]))  # noqa: E731
    lines.append(
        f"{indent()}{kw('FROM')} {draw(st.sampled_from(['python:3.11', '${BASE}', 'nvidia/cuda:12.1.0-devel-ubuntu22.04']))}"
        + draw(st.sampled_from(["", " AS build", " as app"]))
    )
    for _ in range(draw(st.integers(0, 10))):
        choice = draw(st.integers(0, 9))
        if choice <= 3:
            flags = draw(st.sampled_from(["", "--mount=type=cache,target=/root/.cache/pip ", "--network=host "]))
            lines.append(f"{indent()}{kw('RUN')} {flags}{draw(_run_body())}")
        elif choice == 4:
            body = draw(_run_body()).replace("\\\n", "\n")
            lines.append(f"{kw('RUN')} <<EOF\n{body}\nEOF")
        elif choice == 5:
            lines.append(draw(st.sampled_from(["# a comment", "", "   ", "# slimml: ignore[SLM001]"])))
        elif choice == 6:
            src = draw(st.sampled_from([". .", "requirements.txt .", "--chown=1:1 . /app", "--from=build /a /b"]))
            lines.append(f"{kw('COPY')} {src}")
        elif choice == 7:
            env = draw(st.sampled_from(["A=1", "PIP_NO_CACHE_DIR=1", "A=1 \\\n    B=2", "LEGACY value here"]))
            lines.append(f"{kw('ENV')} {env}")
        elif choice == 8:
            lines.append(f"{kw('WORKDIR')} /app")
        else:
            lines.append(
                draw(
                    st.sampled_from(
                        ['CMD ["python", "app.py"]', "CMD python app.py", "ENTRYPOINT ['x']", "EXPOSE 8000"]
                    )
                )
            )
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))
    return text.replace("\n", nl)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles())
def test_generated_files_agree_with_buildkit(text):
    assert_agrees(text)
    doc = parse(text)
    assert "".join(text[i.line_start : i.line_end] for i in doc.items) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles(), st.booleans())
def test_generated_files_fix_without_crash_and_stay_valid(text, unsafe):
    ctx = Context(settings=Settings(unsafe_fixes=unsafe))
    result = fix_text(text, ctx)
    assert not result.reverted, result.reverted
    assert not result.nonconverged
    assert_agrees(result.output)
    again = fix_text(result.output, Context(settings=Settings(unsafe_fixes=unsafe)))
    assert again.output == result.output
    # Our boundaries of the output agree with BuildKit's, instruction for instruction.
    assert [k for k, _, _ in buildkit_boundaries(result.output)] == [
        i.keyword for i in parse(result.output).instructions
    ]


def test_same_run_text_at_two_places_shares_analysis_but_not_offsets():
    """Commands are built once per shell source (an offset-free template) and mapped to each
    instruction's own file offsets, through continuations and non-ASCII text."""
    run = "RUN é=1 pip install a && \\\n    sudo pip install b\n"
    text = "FROM x\n" + run + "ENV A=1\n  " + run
    doc = parse(text)
    r1, r2 = [i for i in doc.instructions if i.keyword == "RUN"]
    c1, c2 = run_scripts(doc, r1)[0].commands, run_scripts(doc, r2)[0].commands
    assert [c.argv for c in c1] == [c.argv for c in c2] == [["pip", "install", "a"], ["sudo", "pip", "install", "b"]]
    assert c1[0].template is c2[0].template
    for a, b in zip(c1, c2):
        assert b.start > a.start and text[a.start : a.end] == text[b.start : b.end]
        for wa, wb in zip(a.words, b.words):
            assert text[wa.start : wa.end] == text[wb.start : wb.end] == wa.raw
    assert c1[1].unwrapped() == c2[1].unwrapped() == 1


@pytest.mark.parametrize(
    "line",
    [
        'CMD ["a"] hi',
        'CMD ["a"] ["b"]',
        'CMD ["a",] x',
        'CMD ["a"',
        'CMD  ["a"]  ',
        'RUN ["a"] && b',
        "ENTRYPOINT ['x']",
        'SHELL ["/bin/bash", "-c"] extra',
    ],
)
def test_exec_form_is_read_as_buildkit_reads_it(line):
    import dockerfile

    bk = dockerfile.parse_string(f"FROM x\n{line}\n")[1]
    ours = parse(f"FROM x\n{line}\n").instructions[1]
    assert (ours.json is not None) is bk.json
    if bk.json:
        assert ours.json == bk.value


def test_global_arg_defaults_are_words_as_buildkit_reads_them():
    from slimml.semantics import build as B

    d = parse('ARG PYTORCH="1.13.1"\nARG TAG=${PYTORCH}-cuda11.6\nFROM pytorch/pytorch:${TAG}-cudnn8-devel\nRUN true\n')
    assert B.from_image(d, d.stages[0]) == "pytorch/pytorch:1.13.1-cuda11.6-cudnn8-devel"
