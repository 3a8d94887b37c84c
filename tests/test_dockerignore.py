"""Docker's .dockerignore semantics (slimml.dockerignore) and the SLM006 rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimml import dockerignore as DI
from slimml.context import Context, Settings
from slimml.dockerfile import parse
from slimml.engine import Applicability, fix_text, fixable
from slimml.io import read_source
from slimml.knowledge import dockerignore as K
from slimml.rules import dockerignore as rule

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dockerignore"

# -- pattern matching: moby/patternmatcher's own test tables ------------------------------------------
# (pattern, path, "exact" | "inexact" | "fail"): exact = the pattern matches the path itself,
# inexact = only a parent directory matches (MatchesOrParentMatches), fail = neither.
MATCHES = [
    ("**", "file", "exact"),
    ("**", "file/", "exact"),
    ("**/", "file", "exact"),
    ("**/", "file/", "exact"),
    ("**", "/", "exact"),
    ("**/", "/", "exact"),
    ("**", "dir/file", "exact"),
    ("**/", "dir/file", "exact"),
    ("**", "dir/file/", "exact"),
    ("**/", "dir/file/", "exact"),
    ("**/**", "dir/file", "exact"),
    ("**/**", "dir/file/", "exact"),
    ("dir/**", "dir/file", "exact"),
    ("dir/**", "dir/file/", "exact"),
    ("dir/**", "dir/dir2/file", "exact"),
    ("dir/**", "dir/dir2/file/", "exact"),
    ("**/dir", "dir", "exact"),
    ("**/dir", "dir/file", "inexact"),
    ("**/dir2/*", "dir/dir2/file", "exact"),
    ("**/dir2/*", "dir/dir2/file/", "inexact"),
    ("**/dir2/**", "dir/dir2/dir3/file", "exact"),
    ("**/dir2/**", "dir/dir2/dir3/file/", "exact"),
    ("**file", "file", "exact"),
    ("**file", "dir/file", "exact"),
    ("**/file", "dir/file", "exact"),
    ("**file", "dir/dir/file", "exact"),
    ("**/file", "dir/dir/file", "exact"),
    ("**/file*", "dir/dir/file", "exact"),
    ("**/file*", "dir/dir/file.txt", "exact"),
    ("**/file*txt", "dir/dir/file.txt", "exact"),
    ("**/file*.txt", "dir/dir/file.txt", "exact"),
    ("**/file*.txt*", "dir/dir/file.txt", "exact"),
    ("**/**/*.txt", "dir/dir/file.txt", "exact"),
    ("**/**/*.txt2", "dir/dir/file.txt", "fail"),
    ("**/*.txt", "file.txt", "exact"),
    ("**/**/*.txt", "file.txt", "exact"),
    ("a**/*.txt", "a/file.txt", "exact"),
    ("a**/*.txt", "a/dir/file.txt", "exact"),
    ("a**/*.txt", "a/dir/dir/file.txt", "exact"),
    ("a/*.txt", "a/dir/file.txt", "fail"),
    ("a/*.txt", "a/file.txt", "exact"),
    ("a/*.txt**", "a/file.txt", "exact"),
    ("a[b-d]e", "ae", "fail"),
    ("a[b-d]e", "ace", "exact"),
    ("a[b-d]e", "aae", "fail"),
    ("a[^b-d]e", "aze", "exact"),
    (".*", ".foo", "exact"),
    (".*", "foo", "fail"),
    ("abc.def", "abcdef", "fail"),
    ("abc.def", "abc.def", "exact"),
    ("abc.def", "abcZdef", "fail"),
    ("abc?def", "abcZdef", "exact"),
    ("abc?def", "abcdef", "fail"),
    ("**/foo/bar", "foo/bar", "exact"),
    ("**/foo/bar", "dir/foo/bar", "exact"),
    ("**/foo/bar", "dir/dir2/foo/bar", "exact"),
    ("abc/**", "abc", "fail"),
    ("abc/**", "abc/def", "exact"),
    ("abc/**", "abc/def/ghi", "exact"),
    ("**/.foo", ".foo", "exact"),
    ("**/.foo", "bar.foo", "fail"),
    ("a(b)c/def", "a(b)c/def", "exact"),
    ("a(b)c/def", "a(b)c/xyz", "fail"),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", "exact"),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"),
    ("a\\\\", "a\\", "exact"),
    ("a\\*b", "a*b", "exact"),
]


@pytest.mark.parametrize("pattern,path,kind", MATCHES)
def test_patternmatcher_table(pattern, path, kind):
    (p,) = DI.parse_patterns(pattern)
    assert p.match(path) == (kind == "exact")
    assert p.matches_or_parent(path) == (kind != "fail")


# Go's filepath.Match table as run through patternmatcher.Matches (None: ErrBadPattern).
FILEPATH_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[^c]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[x\\-]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[-x]", "x", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
]


@pytest.mark.parametrize("pattern,path,expected", FILEPATH_MATCH)
def test_filepath_match_table(pattern, path, expected):
    if expected is None:
        with pytest.raises(DI.PatternError):
            DI.parse_patterns(pattern)
    else:
        assert DI.is_excluded(path, DI.parse_patterns(pattern)) is expected


@pytest.mark.parametrize(
    "patterns,path,expected",
    [
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["*.go", "!fileutils.go"], "fileutils.go", False),
        (["*.go"], ".", False),  # the context root is never excluded
    ],
)
def test_last_match_wins_and_negation(patterns, path, expected):
    assert DI.is_excluded(path, DI.parse_patterns("\n".join(patterns))) is expected


def test_root_anchored_unlike_gitignore():
    import pathspec

    pats = DI.parse_patterns("*.pyc\n")
    assert DI.is_excluded("a.pyc", pats)
    assert not DI.is_excluded("pkg/a.pyc", pats)  # Docker: only at the root ...
    assert pathspec.PathSpec.from_lines("gitignore", ["*.pyc"]).match_file("pkg/a.pyc")  # ... git: anywhere
    deep = DI.parse_patterns("**/*.pyc\n")
    assert DI.is_excluded("pkg/sub/a.pyc", deep) and DI.is_excluded("a.pyc", deep)


def test_directory_pattern_and_reinclusion_below_it():
    pats = DI.parse_patterns("models/\n!models/keep/config.json\n")
    assert DI.is_excluded("models", pats)
    assert DI.is_excluded("models/a/b.bin", pats)
    assert not DI.is_excluded("models/keep/config.json", pats)  # git could not re-include this
    assert not DI.is_excluded("models.txt", pats)


def test_star_does_not_cross_slash_and_double_star_does():
    assert not DI.is_excluded("data/x/y.csv", DI.parse_patterns("data/*.csv"))
    assert DI.is_excluded("data/x/y.csv", DI.parse_patterns("data/**/*.csv"))
    assert DI.is_excluded("data/y.csv", DI.parse_patterns("data/**/*.csv"))


def test_reading_the_file_like_docker():
    text = "\ufeff# comment\n  # not a comment: a pattern\n/abs/\n! ./neg//x/\r\n\n./a/../b\n"
    pats = DI.parse_patterns(text)
    assert [(str(p), p.line) for p in pats] == [("# not a comment: a pattern", 2), ("abs", 3), ("!neg/x", 4), ("b", 6)]
    with pytest.raises(DI.PatternError) as e:
        DI.parse_patterns("ok\n!\n")
    assert e.value.line == 2


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("models", "models", (True, True)),
        ("**/*.pt", "models", (False, True)),  # a weight file could lie inside models/
        ("models", "models/x.bin", (True, False)),  # excluding models/ takes models/x.bin with it
        ("**/*.pt", "*.py", (False, True)),  # no *.py file is a *.pt, but a dir named x.py could hold one
        ("*.pt", "*.py", (False, False)),
        (".git", "src", (False, False)),
        ("**/__pycache__", "src/__pycache__/a.pyc", (True, True)),  # a.pyc could be a dir holding __pycache__
        ("data/*.csv", "data", (False, True)),
        (".env.*", ".env.example", (True, True)),
        (".env", ".env.example", (False, False)),
    ],
)
def test_overlap(a, b, expected):
    assert DI.overlap(DI.segments(a), DI.segments(b)) == expected


# -- the rule -------------------------------------------------------------------------------------------
def _run(ctx_dir: Path, dockerfile: str = "Dockerfile", unsafe: bool = False, committed=None):
    df = ctx_dir / dockerfile
    ctx = Context(settings=Settings(select=("SLM006",), unsafe_fixes=unsafe), dockerfile=df, context_dir=ctx_dir)
    if committed:
        ctx.committed.update(committed)
    return fix_text(read_source(df).text, ctx, str(df))


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def _side(result, root: Path, rel: str) -> str | None:
    return result.side_files.get(str((root / rel).resolve()), (None, None))[1]


def test_no_context_no_finding():
    doc = parse("FROM python:3.11\nCOPY . .\n")
    assert list(rule.check(doc, Context())) == []


def test_crlf_file_stays_crlf_and_second_run_adds_no_header(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\r\nCOPY app.py /app/\r\n",
            "app.py": "x=1\r\n",
            "pkg/__pycache__/a.cpython-311.pyc": b"\0",
            ".dockerignore": "# ours\r\n.git\r\n*.log",
        },
    )
    r = _run(tmp_path)
    out = _side(r, tmp_path, ".dockerignore")
    assert out.startswith("# ours\r\n.git\r\n*.log\r\n\r\n" + K.HEADER + "\r\n**/__pycache__\r\n")
    assert "\n" not in out.replace("\r\n", "")  # every newline is CRLF
    again = _run(tmp_path, committed={k: v[1] for k, v in r.side_files.items()})
    assert again.findings == []
    assert out.count(K.HEADER) == 1


def test_per_dockerfile_ignore_file_is_the_one_edited():
    case = FIXTURES / "per-dockerfile"
    r = _run(case, "Dockerfile.cpu")
    assert (
        _side(r, case, "Dockerfile.cpu.dockerignore")
        == (case / "expected.Dockerfile.cpu.dockerignore").read_bytes().decode()
    )
    assert _side(r, case, ".dockerignore") is None  # BuildKit does not read it for Dockerfile.cpu


def test_unsafe_reason_names_path_size_and_copy(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n",
            "models/clf.bin": b"x" * 1500,
            "models/tok.json": b"{}",
            "src/a.safetensors": b"abc",
        },
    )
    r = _run(tmp_path)
    (unsafe,) = [f for f in r.findings if f.fix.applicability is Applicability.UNSAFE]
    reason = unsafe.fix.reason
    assert "models/ (1.5 KB)" in reason and "**/*.safetensors (1 file, 3 B: src/a.safetensors)" in reason
    assert "`COPY . .`" in reason and "run time" in reason
    safe_text = _side(r, tmp_path, ".dockerignore")
    assert "models/" not in safe_text and "**/*.safetensors" not in safe_text and "data/\n" in safe_text
    # With unsafe fixes: one header, the safe block then the unsafe lines.
    r2 = _run(tmp_path, unsafe=True)
    text = _side(r2, tmp_path, ".dockerignore")
    assert text.count(K.HEADER) == 1 and text.startswith(K.HEADER + "\n.git\n")
    assert text.endswith("**/*.tflite\nmodels/\n**/*.safetensors\n")


def test_content_used_only_by_a_builder_stage_is_worded_as_build_input(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11 AS train\nCOPY . /src\nRUN python /src/train.py\n"
            "FROM python:3.11-slim\nCOPY --from=train /out /out\n",
            "data/train.csv": "a\n",
        },
    )
    r = _run(tmp_path)
    (unsafe,) = [f for f in r.findings if f.fix.applicability is Applicability.UNSAFE]
    assert "data/ (2 B) is used by `COPY . /src`" in unsafe.fix.reason and "build step" in unsafe.fix.reason


def test_copy_exclude_flag_means_not_copied(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "# syntax=docker/dockerfile:1.7-labs\nFROM python:3.11-slim\nCOPY --exclude=models . /app\n",
            "models/x.bin": "w",
        },
    )
    r = _run(tmp_path)
    assert all(f.fix.applicability is Applicability.SAFE for f in r.findings)
    assert "\nmodels/\n" in _side(r, tmp_path, ".dockerignore")


@pytest.mark.parametrize("arg,blocked", [("ARG SRC", True), ("ARG SRC=src", False)])
def test_unknown_variable_source_blocks_everything(tmp_path, arg, blocked):
    _write(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\n{arg}\nCOPY ${{SRC}} /app\n", "src/a.py": "x"})
    r = _run(tmp_path)
    assert (r.findings == []) is blocked


def test_bind_mount_source_is_an_explicit_use(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nRUN --mount=type=bind,source=.env,target=/run/.env cat /run/.env\n",
            ".env": "A=1\n",
        },
    )
    r = _run(tmp_path)
    lines = _side(r, tmp_path, ".dockerignore").splitlines()
    assert ".env" not in lines and ".env.*" in lines


@pytest.mark.parametrize(
    "files,run,verdict",
    [
        (
            {"pyproject.toml": '[build-system]\nrequires = ["setuptools", "setuptools_scm>=8"]\n'},
            "RUN pip install .",
            "needed",
        ),
        ({"pyproject.toml": "[project]\nname='x'\nversion='1'\n"}, "RUN pip install .", "junk"),
        ({}, "RUN git describe --tags > /VERSION", "needed"),
        ({}, "RUN git clone https://github.com/x/y /y && cd /y && git checkout v1", "junk"),
        # A script the build runs, followed into what it runs.
        (
            {
                "scripts/version.sh": "#!/bin/sh\nsh /app/scripts/inner.sh\n",
                "scripts/inner.sh": "git rev-parse HEAD > /V\n",
            },
            "RUN sh scripts/version.sh",
            "needed",
        ),
        ({"scripts/version.sh": "#!/bin/sh\necho 1 > /V\n"}, "RUN ./scripts/version.sh", "junk"),
        (
            {"setup.py": "import subprocess\nv = subprocess.check_output(['git', 'describe'])\n"},
            "RUN pip install .",
            "needed",
        ),
        ({"gen.py": "import os\nos.system('git log -1 > /V')\n"}, "RUN python gen.py", "needed"),
        ({"Makefile": "version:\n\tgit describe --always > VERSION\n"}, "RUN make version", "needed"),
        ({"Makefile": "all:\n\techo hi\n"}, "RUN make", "junk"),
        # A program from the context slimml cannot read: it cannot tell.
        ({"tools/build": b"\x7fELF\0\0\0"}, "RUN ./tools/build", "unknown"),
        # The app itself shows its git version at start (.git is copied into the image).
        ({"app.py": "import git\nprint(git.Repo('.').head.commit)\n"}, "CMD python app.py", "needed"),
    ],
)
def test_git_exclusion_is_never_offered_where_the_build_needs_it(tmp_path, files, run, verdict):
    _write(
        tmp_path,
        {"Dockerfile": f"FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\n{run}\n", ".git/HEAD": "ref: x\n", **files},
    )
    for unsafe_fixes in (False, True):
        r = _run(tmp_path, unsafe=unsafe_fixes)
        unsafe = [f for f in r.findings if f.fix.applicability is Applicability.UNSAFE]
        safe_lines = _side(r, tmp_path, ".dockerignore").splitlines()
        assert (".git" in safe_lines) is (verdict == "junk" or (verdict == "unknown" and unsafe_fixes))
        git_unsafe = [f for f in unsafe if ".git" in f.fix.description]
        assert bool(git_unsafe) is (verdict == "unknown")
        if verdict == "unknown":
            reason = git_unsafe[0].fix.reason
            assert "`./tools/build`" in reason and "a binary" in reason and "cannot read" in reason


def test_invalid_existing_pattern_gets_a_note_and_no_fix(tmp_path):
    _write(tmp_path, {"Dockerfile": "FROM python:3.11-slim\nCOPY . /app\n", ".dockerignore": "ok\n[abc\n"})
    r = _run(tmp_path)
    (f,) = r.findings
    assert f.fix is None and "line 2" in f.message and f.note


def test_dockerfile_outside_the_context_with_its_own_ignore_file(tmp_path):
    _write(
        tmp_path,
        {
            "docker/Dockerfile": "FROM python:3.11\nCOPY . /app\n",
            "docker/Dockerfile.dockerignore": ".git\n",
            "ctx/app.py": "x",
        },
    )
    ctx = Context(
        settings=Settings(select=("SLM006",)), dockerfile=tmp_path / "docker/Dockerfile", context_dir=tmp_path / "ctx"
    )
    assert list(rule.check(parse("FROM python:3.11\nCOPY . /app\n"), ctx)) == []


def test_every_fixture_second_run_is_clean():
    for case in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        df = "Dockerfile.cpu" if (case / "Dockerfile.cpu").exists() else "Dockerfile"
        unsafe = (case / "case.toml").exists() and "unsafe-fixes = true" in (case / "case.toml").read_text()
        r = _run(case, df, unsafe)
        again = _run(case, df, unsafe, committed={k: v[1] for k, v in r.side_files.items()})
        assert not [f for f in again.findings if fixable(f, unsafe)], case.name


def test_ignored_dirs_are_not_walked_and_a_truncated_walk_adds_no_content(tmp_path, monkeypatch):
    monkeypatch.setattr(rule, "MAX_FILES", 4)
    files = {f".venv/lib/f{i}.py": "x" for i in range(6)}
    _write(tmp_path, {"Dockerfile": "FROM python:3.11-slim\nCOPY . /app\n", "data/a.csv": "1", **files})
    # Without an ignore file the walk runs out of budget inside .venv: content patterns are
    # neither added (something might match) nor offered as unsafe (sizes unknown) ...
    r = _run(tmp_path)
    (first,) = r.findings  # found on the original context
    lines = first.fix.edits[0].text.splitlines()
    assert ".venv" in lines and "data/" not in lines and ".env" not in lines
    # ... and once .venv is ignored (next pass) it is no longer entered: the content patterns
    # are checked, .env added, and data/a.csv (copied by COPY . /app) offered as unsafe.
    final = _side(r, tmp_path, ".dockerignore").splitlines()
    assert ".env" in final and "data/" not in final
    (unsafe,) = r.unsafe_available
    assert "data/ (1 B)" in unsafe.fix.reason


# -- minimal and true: an existing file is extended only with what matches something ----------------------
def test_a_curated_file_gets_nothing_for_files_the_context_does_not_have(tmp_path):
    curated = "# ours\n.git\n__pycache__\n*.pyc\n.env\n"
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD python app.py\n",
            "app.py": "print(1)\n",
            "requirements.txt": "flask\n",
            ".dockerignore": curated,
        },
    )
    for unsafe in (False, True):
        r = _run(tmp_path, unsafe=unsafe)
        assert r.findings == [] and not r.changed
    # Once the context holds an editor folder and a notebook, only those patterns are offered.
    _write(tmp_path, {".idea/workspace.xml": "<x/>", "notebooks/a.ipynb": "{}"})
    r = _run(tmp_path)
    assert _side(r, tmp_path, ".dockerignore") == curated + "\n" + K.HEADER + "\n.idea\n"
    (unsafe,) = r.unsafe_available
    assert unsafe.fix.description == "exclude notebooks/, **/*.ipynb"


def test_a_new_file_never_excludes_what_another_dockerfile_of_the_context_copies(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\n",
            "docker/gpu.Dockerfile": "FROM python:3.11-slim\nCOPY notebooks/demo.ipynb /demo.ipynb\n"
            "COPY .env.defaults /app/\n",
            "app.py": "x",
            "notebooks/demo.ipynb": "{}",
            ".env.defaults": "A=1\n",
        },
    )
    r = _run(tmp_path)
    lines = _side(r, tmp_path, ".dockerignore").splitlines()
    assert ".git" in lines and "data/" in lines
    for kept in ("notebooks/", "**/*.ipynb", ".env.*"):
        assert kept not in lines
    pats = DI.parse_patterns(_side(r, tmp_path, ".dockerignore"))
    assert not DI.is_excluded("notebooks/demo.ipynb", pats) and not DI.is_excluded(".env.defaults", pats)


# -- what the build's own files name is never excluded, not even as an unsafe fix ---------------------------
NAMED = [
    ({"app.py": "from keras.models import load_model\nm = load_model('colormodel.h5')\n"}, "**/*.h5", "colormodel.h5"),
    (
        {"app.py": "import onnxruntime\ns = onnxruntime.InferenceSession(f'models/{NAME}.onnx')\n"},
        "**/*.onnx",
        "models/x.onnx",
    ),
    ({"start.sh": '#!/bin/sh\nexec python serve.py --model "$ROOT/weights/m.pt"\n'}, "**/*.pt", "weights/m.pt"),
    ({"start": "#!/bin/bash\npython serve.py --ckpt=ckpt/last.ckpt\n"}, "**/*.ckpt", "ckpt/last.ckpt"),
    (
        {"config.yaml": "serving:\n  model_path: weights/model.safetensors  # the model\n"},
        "**/*.safetensors",
        "weights/model.safetensors",
    ),
    ({"settings.json": '{"model": {"path": "/app/models/m.gguf"}}'}, "**/*.gguf", "models/m.gguf"),
    ({"pyproject.toml": "[tool.app]\nweights = 'w/m.tflite'\n"}, "**/*.tflite", "w/m.tflite"),
    ({"app.ini": "[model]\nfile = data/table.parquet\n"}, "data/", "data/table.parquet"),
    ({"app.py": "from dotenv import load_dotenv\nload_dotenv('.env')\n"}, ".env", ".env"),
]


@pytest.mark.parametrize("files,pattern,target", NAMED)
def test_an_exclusion_of_a_file_the_copied_code_names_is_never_offered(tmp_path, files, pattern, target):
    _write(
        tmp_path,
        {
            "Dockerfile": 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["sh", "start.sh"]\n',
            target: b"\0" * 64,
            **files,
        },
    )
    for unsafe in (False, True):
        r = _run(tmp_path, unsafe=unsafe)
        offered = [f for f in r.findings if f.fix and pattern in f.fix.edits[0].text.splitlines()]
        assert offered == [], (pattern, [f.fix.applicability for f in offered])
        assert not DI.is_excluded(target, DI.parse_patterns(_side(r, tmp_path, ".dockerignore") or ""))
    # The same file, named by nothing: the exclusion is offered (unsafe: COPY . . copies it today).
    for rel in files:
        (tmp_path / rel).write_text("print('nothing named here')\n")
    r = _run(tmp_path)
    assert any(pattern in f.fix.edits[0].text.splitlines() for f in r.unsafe_available)


def test_a_named_file_that_is_not_in_the_tree_is_not_excluded_preventively(tmp_path):
    # CI downloads model.onnx before `docker build`; the committed tree does not have it.
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD python app.py\n",
            "app.py": "import onnxruntime as ort\nsess = ort.InferenceSession('model.onnx')\n",
        },
    )
    r = _run(tmp_path)
    lines = _side(r, tmp_path, ".dockerignore").splitlines()
    assert "**/*.onnx" not in lines and "**/*.pt" in lines
    assert not [f for f in r.findings if f.fix and "**/*.onnx" in f.fix.edits[0].text]


def test_the_dockerfile_itself_names_a_file(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
            'CMD ["python", "serve.py", "--weights", "runs/best.pt"]\n',
            "serve.py": "import sys\n",
            "runs/best.pt": b"\0",
        },
    )
    r = _run(tmp_path, unsafe=True)
    assert not DI.is_excluded("runs/best.pt", DI.parse_patterns(_side(r, tmp_path, ".dockerignore")))


# -- a real checkout holds what .gitignore hides -------------------------------------------------------
def test_gitignored_paths_a_whole_copy_takes_are_never_excluded_as_safe(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD python app.py\n",
            "app.py": "import os\n",
            ".gitignore": "models/\n*.onnx\n.env\n__pycache__/\n.venv/\n",
        },
    )
    r = _run(tmp_path)
    safe_lines = _side(r, tmp_path, ".dockerignore").splitlines()
    for risky in ("models/", "**/*.onnx", ".env"):
        assert risky not in safe_lines
    assert "**/*.gguf" not in safe_lines  # the hidden models/ may hold any weight format
    # Junk stays junk, and content no hidden path can hold stays preventive.
    assert ".git" in safe_lines and "**/__pycache__" in safe_lines and "notebooks/" in safe_lines
    (unsafe,) = r.unsafe_available
    assert (
        "hidden by .gitignore:1 `models/`" in unsafe.fix.reason and ".env (hidden by .gitignore:3" in unsafe.fix.reason
    )


def test_gitignore_overlap_is_about_what_the_pattern_can_select(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n",
            "app.py": "x",
            ".gitignore": "*.csv\nbuild/\n",
            "sub/.gitignore": "*.gguf\n",
        },
    )
    lines = _side(_run(tmp_path), tmp_path, ".dockerignore").splitlines()
    # data/ does not exist and is not hidden: a hidden *.csv elsewhere does not make it risky.
    assert "data/" in lines and ".env" in lines
    # build/ may hold exported weights of any format; sub/ hides *.gguf.
    assert "**/*.onnx" not in lines and "**/*.gguf" not in lines


def test_gitignore_of_the_repository_above_the_context(tmp_path):
    _write(
        tmp_path,
        {
            ".git/HEAD": "ref: x\n",
            ".gitignore": "/svc/weights/\n/other/\n",
            "svc/Dockerfile": "FROM python:3.11-slim\nCOPY . /app\n",
            "svc/app.py": "x",
        },
    )
    ctx_dir = tmp_path / "svc"
    ctx = Context(settings=Settings(select=("SLM006",)), dockerfile=ctx_dir / "Dockerfile", context_dir=ctx_dir)
    r = fix_text((ctx_dir / "Dockerfile").read_text(), ctx, "Dockerfile")
    lines = _side(r, ctx_dir, ".dockerignore").splitlines()
    assert "**/*.pt" not in lines and "data/" in lines  # svc/weights/ may hold weights; /other/ is elsewhere


def test_gitignored_paths_nothing_copies_are_fine_to_exclude(tmp_path):
    _write(
        tmp_path,
        {"Dockerfile": "FROM python:3.11-slim\nCOPY app.py /app/\n", "app.py": "x", ".gitignore": "models/\n.env\n"},
    )
    lines = _side(_run(tmp_path), tmp_path, ".dockerignore").splitlines()
    assert "models/" in lines and ".env" in lines and "**/*.onnx" in lines


# -- SLM006, SLM009 and SLM010 edit one file: one run reaches the fixpoint ------------------------------------
FIXPOINT_CONTEXTS = {
    "weights+secrets+junk": {
        "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nENV HF_TOKEN=hf_FAKEfakeFAKEfakeFAKEfake012\n"
        "RUN pip install --no-cache-dir huggingface_hub\n"
        "RUN huggingface-cli download org/model --local-dir /models\n"
        'COPY . .\nCMD ["python", "serve.py"]\n',
        "serve.py": "import os\nprint(os.listdir('/models'))\n",
        "models/big.safetensors": "w" * 4096,
        ".env": "DB_PASSWORD=FAKEpass\n",
        "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE\n-----END OPENSSH PRIVATE KEY-----\n",
        ".vscode/settings.json": "{}",
        ".slimml.toml": "[rules.SLM010]\nmin-bytes = 0\n",
    },
    "curated+negation": {
        "Dockerfile": 'FROM python:3.11-slim\nCOPY . /srv\nCMD ["python", "/srv/app.py"]\n',
        ".dockerignore": "*.md\n!README.md\nmodels/*\n!models/labels.json\n",
        "app.py": "x",
        "README.md": "r",
        "models/labels.json": "{}",
        "weights/m.onnx": "w" * 4096,
        ".env.production": "API_KEY=FAKE\n",
        "notebooks/a.ipynb": "{}",
        ".DS_Store": "x",
        ".slimml.toml": "[rules.SLM010]\nmin-bytes = 0\n",
    },
}


@pytest.mark.parametrize("name", sorted(FIXPOINT_CONTEXTS))
@pytest.mark.parametrize("unsafe", [False, True])
def test_slimml_fix_twice_changes_nothing_the_second_time(tmp_path, name, unsafe):
    from slimml.runner import Options, run_fix

    _write(tmp_path, FIXPOINT_CONTEXTS[name])
    opts = Options(write=True, select=("SLM006", "SLM009", "SLM010"), unsafe_fixes=unsafe)
    (first,) = run_fix([tmp_path / "Dockerfile"], opts)
    assert first.error is None and first.changed and not first.result.nonconverged
    codes = {f.code for f in first.result.applied}
    assert "SLM006" in codes and (not unsafe or "SLM010" in codes)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    (second,) = run_fix([tmp_path / "Dockerfile"], opts)
    assert second.error is None and not second.changed, second.diff
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot
    # The written ignore file is one Docker accepts, and still ships what the image needs.
    pats = DI.parse_patterns((tmp_path / ".dockerignore").read_text())
    for needed in ("Dockerfile", "app.py", "serve.py", "docker-entrypoint-weights.sh"):
        assert not (tmp_path / needed).exists() or not DI.is_excluded(needed, pats), needed
    if unsafe:  # the secrets files are out (SLM009's or SLM006's line, whichever came first)
        for secret in (".env", "id_rsa", ".env.production"):
            assert not (tmp_path / secret).exists() or DI.is_excluded(secret, pats), secret


def test_sourceless_bytecode_is_not_junk(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD python app.py\n",
            "app.py": "import licensing\n",
            "licensing.pyc": b"\0" * 16,
            "util.py": "x",
            "util.pyc": b"\0",
        },
    )
    r = _run(tmp_path)
    assert not DI.is_excluded("licensing.pyc", DI.parse_patterns(_side(r, tmp_path, ".dockerignore")))
    assert any("licensing.pyc: bytecode without a .py source" in f.fix.reason for f in r.unsafe_available)


def test_versioningit_needs_git_and_dash_named_siblings_are_seen(tmp_path):
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11\nWORKDIR /src\nCOPY . .\nRUN pip install .\n",
            ".git/HEAD": "x",
            "pyproject.toml": "[build-system]\nrequires = ['setuptools', 'versioningit']\n",
            "Dockerfile-train": "FROM python:3.11\nCOPY data/ /data/\n",
            "data/t.csv": "1",
        },
    )
    lines = _side(_run(tmp_path, unsafe=True), tmp_path, ".dockerignore").splitlines()
    assert ".git" not in lines and "data/" not in lines


def test_a_wildcard_system_path_in_a_run_names_nothing_of_the_context(tmp_path):
    # `rm -rf /var/lib/apt/lists/*` used to "name" every context path through its bare `*` tail
    _write(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nRUN rm -rf /var/lib/apt/lists/*\n"
            'COPY . .\nCMD ["python3", "app.py"]\n',
            "app.py": "import os\nprint(os.listdir(os.environ['D']))\n",
            "data/x.json": "{}",
        },
    )
    r = _run(tmp_path, unsafe=True)
    assert "data/" in _side(r, tmp_path, ".dockerignore").splitlines()


def test_a_parent_copy_whose_file_lies_next_to_the_dockerfile_means_the_dockerfile_folder(tmp_path):
    # BuildKit clamps `..` at the context root: built from svc/, `COPY ../r.txt` reads svc/r.txt
    from slimml.discovery import infer
    from slimml.dockerfile import parse

    _write(tmp_path, {"svc/Dockerfile": "FROM python:3.11-slim\nCOPY ../r.txt /r.txt\n", "svc/r.txt": "x\n"})
    df = tmp_path / "svc" / "Dockerfile"
    got = infer(df, parse(df.read_text()))
    assert got.path == (tmp_path / "svc").resolve() and not got.reason


def test_a_copy_source_go_rejects_as_a_pattern_does_not_crash_the_rule(tmp_path):
    # found by tests/test_fuzz.py: `COPY \\ /app/` (a lone backslash) is no valid pattern
    _write(tmp_path, {"Dockerfile": 'FROM python:3.11\nCOPY \\\\ /app/\nCMD ["python", "app.py"]\n'})
    r = _run(tmp_path, unsafe=True)
    assert r.output.startswith("FROM python:3.11\n")
