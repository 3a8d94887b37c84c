"""Shortcuts taken for speed answer exactly what the long way answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slimml import refs


@given(st.text(alphabet="ab/.*?~$_{}-", max_size=12))
def test_token_segs_memo_returns_the_computed_segments(token):
    assert refs.token_segs(token) == refs.token_segs.__wrapped__(token)


_SEGS = ["a", "src", "__pycache__", "x.pyc", "m.pt", "models", "data", ".env", ".env.local", ".git", "nb.ipynb"]
_SEGS += [".venv", "w.safetensors", "htmlcov", ".DS_Store", "node_modules", "y.onnx", "z.h5", "q.tflite", "pyc"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_SEGS), st.text(alphabet="a._-", min_size=1, max_size=4)), min_size=1, max_size=5
    )
)
def test_dockerignore_candidate_hits_always_spell_the_needle(parts):
    """``_Tree.hits`` skips files whose path lacks ``_spelled(norm)``: no path a candidate (or its
    parent) matches may lack it."""
    from slimml.rules import dockerignore as R

    path = "/".join(parts)
    ancestry = [path] + ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    for _cand, _content, norm, pat, _segs in R._candidates():
        spelled = R._spelled(norm)
        assert spelled is not None, norm  # every standard candidate has a needle
        if any(pat.match(a) for a in ancestry):
            assert spelled in path, (norm, path)


def test_dockerignore_spelled_declines_classes_and_escapes():
    from slimml.rules import dockerignore as R

    assert R._spelled("**/*.py[co]") is None
    assert R._spelled("a\\*b") is None
    assert R._spelled("**/*.onnx") == ".onnx"


def _known_call_names() -> list[str]:
    from slimml.knowledge import weights as K

    names = [
        *K.HF_HUB_CALLS,
        *K.HF_CONSTRUCTORS,
        *K.HF_PIPELINE_CALLS,
        *K.PY_URL_CALLS,
        *K.PY_PACKAGE_DOWNLOADS,
        *(k for k in K.PY_REPLAY_CALLS if not k.endswith(".")),
        *(k + "resnet50" for k in K.PY_REPLAY_CALLS if k.endswith(".")),
    ]
    return names + [f"{root}.AutoModel.from_pretrained" for root in K.HF_FROM_PRETRAINED_ROOTS]


def test_pyscan_pretest_passes_every_known_call_in_every_import_form():
    """``may_download`` now also asks for a known call's last name: each import form libcst
    resolves still spells it, so every known download passes the pre-test and is found."""
    from slimml.weights.pyscan import may_download, scan

    for qn in _known_call_names():
        parts = qn.split(".")
        mod, attr = ".".join(parts[:-1]), parts[-1]
        forms = [
            f"from {mod} import {attr} as z\nz('org/model', 'out', pretrained=True, weights='x')\n",
            f"import {parts[0]} as m\nm.{'.'.join(parts[1:])}('org/model', 'out', pretrained=True, weights='x')\n",
            f"import {mod}\n{qn}('org/model', 'out', pretrained=True, weights='x')\n",
        ]
        if len(parts) > 2:
            head, sub = ".".join(parts[:-2]), parts[-2]
            forms.append(f"from {head} import {sub} as q\nq.{attr}('org/model', 'out', pretrained=True, weights='x')\n")
        for code in forms:
            found = scan(code, {}, None).downloads
            if found:  # (every form that scan resolves must pass the pre-test)
                assert may_download(code), (qn, code)
        assert scan(forms[0], {}, None).downloads, qn


def test_pyscan_pretest_skips_code_naming_a_package_but_no_download():
    from slimml.weights.pyscan import may_download

    assert not may_download("import torch; print(48973)")
    assert not may_download("import transformers; print(transformers.__version__)")
    assert may_download("import torch; torch.hub.load('a/b', 'm')")


_SHELL_SOURCES = [
    "apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
    "cd /app && (make; make install) | tee log && echo $(date) `uname` <(ls) >(cat)",
    "set -e; x=$(a | b); service nginx start; /etc/init.d/ssh restart; /usr/sbin/service x restart",
    "start-stop-daemon --start --exec /bin/x & systemctl start y || dockerd",
    "f() { cd /x; export A=1; }; f; { a; b; } && ((i++)) && echo ${X:=1} $((y=2)) $_ $OLDPWD",
    "cat <<EOF > /x\n$(echo hi) ${A}\nEOF\npip install x",
    "if true; then a | (b; c) | $(d); fi; while read l; do echo $l; done < f; case x in a) b;; esac",
    "rc-service sshd start; service --status-all; service a b start; systemctl",
]


def _corpus_sources() -> list[str]:
    import pathlib

    from slimml.dockerfile.parser import parse

    out = list(_SHELL_SOURCES)
    for p in sorted(pathlib.Path(__file__).parent.parent.joinpath("benchmarks/reach/corpus").rglob("Dockerfile*")):
        doc = parse(p.read_text(encoding="utf-8", errors="replace"))
        out += [i.args for i in doc.instructions if i.keyword == "RUN" and i.json is None]
    return out


def test_shared_walk_gives_the_nodes_and_own_shell_of_separate_walks():
    """``_Parsed._index_nodes`` (one walk) against the walks it replaced: every node in document
    order, the nodes the own shell runs (shellstate's walk), and the own shell's commands."""
    from slimml.dockerfile import shell
    from slimml.knowledge.shell import CHILD_SHELL_NODES
    from slimml.semantics.shellstate import _walk_own_shell

    def key(nodes):
        return [(n.type, n.start_byte, n.end_byte) for n in nodes]

    sources = _corpus_sources()
    assert len(sources) > 50
    for src in sources:
        tree = shell._parser().parse(src.encode())
        parsed = shell._Parsed(tree)
        assert key(parsed.own_shell_nodes()) == key(_walk_own_shell(tree.root_node)), src
        assert key(parsed.nodes(("command", "subshell"))) == key(
            n for n in shell._walk(tree.root_node) if n.type in ("command", "subshell")
        )
        own: set = set()
        stack = [tree.root_node]
        while stack:  # the walk own_shell_commands made before
            n = stack.pop()
            if n.type in CHILD_SHELL_NODES:
                continue
            if n.type == "command":
                own.add((n.start_byte, n.end_byte))
            stack.extend(n.children)
        assert parsed.own_shell_commands() == own, src


def test_daemon_start_by_program_agrees_with_every_pattern_in_turn():
    from slimml.dockerfile.parser import parse
    from slimml.dockerfile.shell import run_scripts
    from slimml.knowledge import shell as K
    from slimml.semantics import shellstate

    def long_way(script) -> bool:
        for cmd in script.commands:
            argv = [cmd.argv[0].rsplit("/", 1)[-1]] + cmd.argv[1:] if cmd.argv else []
            if not argv:
                continue
            if shellstate._INIT_SCRIPT_RE.match(cmd.argv[0]) and len(argv) > 1 and argv[1] in ("start", "restart"):
                return True
            for pat in K.DAEMON_STARTS:
                if len(argv) >= len(pat) and all(p is None or p == a for p, a in zip(pat, argv)):
                    return True
        return False

    assert all(isinstance(p[0], str) for p in K.DAEMON_STARTS)  # the index is by program
    seen = set()
    for src in _corpus_sources():
        if "<<" in src:
            continue  # a heredoc needs its body after the RUN line
        doc = parse("FROM x\nRUN " + src.replace("\n", " \\\n") + "\n")
        for script in run_scripts(doc, doc.instructions[1]):
            got = shellstate._starts_daemon(script)
            assert got == long_way(script), src
            seen.add(got)
    assert seen == {True, False}


def test_shell_spec_memo_keeps_bash_env_apart():
    from slimml.semantics.shellspec import spec

    bash = ("/bin/bash", "-c")
    for _ in range(2):  # the second round answers from the memo
        assert spec(bash, {"BASH_ENV": "/etc/profile"}).startup_files
        assert not spec(bash, {"BASH_ENV": ""}).startup_files
        assert not spec(bash, {"OTHER": "1"}).startup_files
        assert not spec(list(bash), None).startup_files  # a list argv is read like the tuple
        assert not spec(("/bin/sh", "-c"), {"BASH_ENV": "/x"}).startup_files  # only bash reads it
        assert spec(None, {"BASH_ENV": "/x"}) is spec(None)


_SECRET_FRAGMENTS = ["hf_", "sk-", "sk-proj-", "AKIA", "ASIA", "ghp_", "github_pat_", "glpat-", "xoxb-", "AIza"]
_SECRET_FRAGMENTS += ["npm_", "pypi-", "-----BEGIN RSA PRIVATE KEY-----", "https://", "u:pw@", "a" * 20, "-", "_", " "]
_SECRET_FRAGMENTS += ["ABCDEFGHIJKLMNOP", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0", "/", "'", "$X@"]


def _looks_secret_long_way(value: str) -> bool:
    from slimml import secrets as S

    return (
        any(p.search(value) for p in S.VALUE_PATTERNS)
        or bool(S._PRIVATE_KEY.search(value))
        or bool(S.K.URL_CREDENTIALS.search(value))
    )


def _value_kind_long_way(value: str) -> str | None:
    from slimml.knowledge import secrets as K

    for rx, label in K.VALUE_KINDS:
        if rx.search(value):
            return label
    return "secret-looking value" if _looks_secret_long_way(value) else None


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_SECRET_FRAGMENTS), st.text(max_size=6)), max_size=10))
def test_value_kind_text_pretest_agrees_with_each_pattern_in_turn(parts):
    from slimml.rules.secrets_out import value_kind

    value = "".join(parts)
    assert value_kind.__wrapped__(value) == _value_kind_long_way(value)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_SECRET_FRAGMENTS), st.text(max_size=6)), max_size=10))
def test_secret_value_and_mask_pretests_agree_with_each_pattern_in_turn(parts):
    from slimml import secrets as S

    value = "".join(parts)
    assert S.looks_secret_value(value) == _looks_secret_long_way(value)
    masked = value
    for p in S.VALUE_PATTERNS:  # the tail of S._mask without the pre-test
        masked = p.sub(lambda m: m.group(0)[: S._prefix_len(m.group(0))] + S.MASK, masked)
    pre = value
    for p, required in S._value_patterns():
        if required in pre:
            pre = p.sub(lambda m: m.group(0)[: S._prefix_len(m.group(0))] + S.MASK, pre)
    assert pre == masked


def test_required_text_is_in_every_match_and_declines_what_it_cannot_tell():
    import re

    from slimml.knowledge import secrets as K
    from slimml.rules.secrets_out import _value_kinds
    from slimml.secrets import required_text as _required_text

    samples = {
        "Hugging Face token": "x hf_" + "a" * 30,
        "AWS access key id": "AKIAABCDEFGHIJKLMNOP",
        "GitHub token": "ghp_" + "a" * 30,
        "private key": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "password in a URL": "https://me:s3cret@host/x",
    }
    assert [label for _, label, _ in _value_kinds()] == [label for _, label in K.VALUE_KINDS]
    matched = set()
    for rx, label, text in _value_kinds():
        assert text, label  # every kind has a pre-test today
        for sample in samples.values():
            m = rx.search(sample)
            if m is not None:
                assert text in m.group(0), label
                matched.add(label)
    assert matched == set(samples)
    assert _required_text(re.compile(r"\bfoo_[a-z]+", re.IGNORECASE)) == ""
    assert _required_text(re.compile(r"(?:abc|abd)x")) in ("ab", "x")
    assert _required_text(re.compile(r"a|b")) == ""


def test_requirement_and_needle_memos_hand_out_values_callers_cannot_spoil():
    from slimml.knowledge.sizes import parse_requirement

    first = refs.needles("**/*.onnx")
    first.append("spoiled")  # a caller's list is its own
    assert refs.needles("**/*.onnx") == [".onnx"]
    assert refs.needles("**") == [] and refs.needles("**/*") == []
    r = parse_requirement("Torch[CUDA]>=2.1")
    assert r is parse_requirement("Torch[CUDA]>=2.1")  # shared: a frozen dataclass
    assert (r.name, r.extras, r.spec) == ("torch", ("cuda",), ">=2.1")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["**", "*", "a", "models", "*.pt", "data", "x?"]), min_size=1, max_size=4),
    st.text(alphabet="ab/.*~$mdelsoatp", max_size=14),
)
def test_covers_memo_answers_what_the_walk_answers(pattern, token):
    segs = refs.token_segs(token)
    if segs is None:
        return
    assert refs.covers(pattern, segs) == refs._covers.__wrapped__(tuple(pattern), segs)


def test_names_makes_the_dockerfile_ref_it_returns():
    """``Names`` keeps a Dockerfile's tokens as rows and builds the Ref ``naming`` returns: the
    same origin (label and line) and shown text (variables as ``$…``) as a Ref made up front."""
    from slimml import dockerignore as DI
    from slimml.dockerfile.parser import parse

    doc = parse("FROM python:3.11\nENV X=1\nRUN python $APP/models/run.py\n")
    names = refs.Names(object(), [], [("Dockerfile", doc)])
    got = names.naming(list(DI.segments("models")), refs.needles("models"))
    assert got == refs.Ref(refs.token_segs(refs._HOLE + "/models/run.py"), "Dockerfile:3", "$…/models/run.py")
    # (the ref with a hole may name anything under it: a Dockerfile without one for a literal ref)
    names = refs.Names(object(), [], [("Dockerfile", parse("FROM x\nENV A=1\nRUN echo hi\nRUN ls /srv/w.onnx\n"))])
    got = names.naming(list(DI.segments("**/*.onnx")), refs.needles("**/*.onnx"))
    assert got is not None and got.origin == "Dockerfile:4" and got.text == "/srv/w.onnx"
    assert names.naming(list(DI.segments("notebooks")), refs.needles("notebooks")) is None


def test_context_sources_sees_the_copies_before_the_instruction_in_its_stage():
    from slimml.dockerfile.parser import parse
    from slimml.knowledge.sizes import context_sources

    doc = parse(
        "FROM python:3.11 AS a\nCOPY reqs/ /tmp/reqs/\nWORKDIR /app\nRUN pip install -r /tmp/reqs/a.txt\n"
        "COPY other.txt /tmp/reqs/a.txt\nRUN pip install -r /tmp/reqs/a.txt\n"
        "FROM python:3.11\nRUN pip install -r /tmp/reqs/a.txt\nCOPY b.txt requirements.txt\n"
        "RUN pip install -r requirements.txt\n"
    )
    runs = [i for i in doc.instructions if i.keyword == "RUN"]
    assert context_sources(doc, runs[0], "/tmp/reqs/a.txt") == ["reqs/a.txt"]
    assert context_sources(doc, runs[1], "/tmp/reqs/a.txt") == ["other.txt", "reqs/a.txt"]  # latest first
    assert context_sources(doc, runs[2], "/tmp/reqs/a.txt") == []  # another stage's COPYs
    assert context_sources(doc, runs[3], "requirements.txt") == ["b.txt"]  # relative to WORKDIR /
    assert context_sources(doc, runs[0], "/tmp/reqs/a.txt") == ["reqs/a.txt"]  # asked again: the same


def test_strings_of_memo_hands_out_the_callers_own_list():
    text = "import os\nopen('/models/m.onnx')\nprint(\"data/x.csv\")\n"
    first = refs.strings_of("app.py", text, "python")
    assert "/models/m.onnx" in first and "data/x.csv" in first
    first.clear()
    again = refs.strings_of("app.py", text, "python")
    assert again == list(refs._strings_of.__wrapped__("app.py", text, "python")) and "/models/m.onnx" in again
