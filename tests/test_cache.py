"""The per-file result cache (slimml/cache.py): what invalidates an entry, and that a cached run
reports exactly what an uncached one does."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import slimml
from slimml import cache, runner
from slimml.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "reach" / "corpus"

DOCKERFILE = """FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
RUN apt-get update && apt-get install -y curl
ENTRYPOINT ["./entrypoint.sh"]
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text("numpy==1.26.4\n")
    (root / "entrypoint.sh").write_text("#!/bin/sh\nexec python app.py\n")
    (root / "app.py").write_text("print(1)\n")
    store = tmp_path / "store"
    monkeypatch.setenv(cache.CACHE_ENV, str(store))
    monkeypatch.chdir(tmp_path)
    return root


@pytest.fixture
def analyses(monkeypatch):
    """How many files were really analysed (not served from the cache)."""
    calls: list[str] = []

    def counting(real):
        def analyse(text, ctx, path="<string>", rules=None, **kw):
            calls.append(path)
            return real(text, ctx, path, rules, **kw)

        return analyse

    # `check` only checks (check_text); `fix` fixes (fix_text): both are analyses.
    monkeypatch.setattr(runner, "fix_text", counting(runner.fix_text))
    monkeypatch.setattr(runner, "check_text", counting(runner.check_text))
    return calls


def check(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["check", "--format", "json", *args], catch_exceptions=False)
    return r.exit_code, r.stdout


def _bump(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime on, so that even a same-size rewrite within one clock tick shows."""
    st = path.stat() if path.exists() else None
    path.write_text(text)
    if st is not None:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_second_run_is_served_from_the_cache_with_the_same_report(project, analyses):
    first = check(str(project))
    assert analyses == [str(project / "Dockerfile")]
    second = check(str(project))
    assert analyses == [str(project / "Dockerfile")]  # not analysed again
    assert second == first
    assert json.loads(first[1])["summary"]["findings"] > 0
    store = Path(os.environ[cache.CACHE_ENV])
    assert (store / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (store / ".gitignore").read_text().splitlines()[-1] == "*"


def test_no_cache_analyses_again_and_writes_nothing(project, analyses):
    check("--no-cache", str(project))
    check("--no-cache", str(project))
    assert len(analyses) == 2
    assert not Path(os.environ[cache.CACHE_ENV]).exists()


@pytest.mark.parametrize(
    "change",
    [
        "dockerfile",
        "dockerignore",
        "requirements",
        "entrypoint",
        "new-file",
        "config",
        "parent-config",
        "select",
        "version",
    ],
)
def test_a_change_to_what_the_analysis_reads_invalidates(project, analyses, monkeypatch, change):
    before = check(str(project))
    assert len(analyses) == 1
    args: list[str] = []
    if change == "dockerfile":
        _bump(project / "Dockerfile", DOCKERFILE.replace("ENTRYPOINT", "RUN pip install flask\nENTRYPOINT"))
    elif change == "dockerignore":
        _bump(project / ".dockerignore", "tests/\n")
    elif change == "requirements":  # a context file the rules read (deps-before-source, estimates)
        _bump(project / "requirements.txt", "numpy==1.26.5\n")
    elif change == "entrypoint":  # the script the image runs (apt lists readers, weights)
        _bump(project / "entrypoint.sh", "#!/bin/sh\napt-get install -y jq\n")
    elif change == "new-file":  # a new file in the context (what COPY . . takes)
        (project / "model.bin").write_bytes(b"\0" * 100)
    elif change == "config":
        (project / ".slimml.toml").write_text('ignore = ["SLM001"]\n')
    elif change == "parent-config":  # a config above the context (find_config searches up to the root)
        (project.parent / "pyproject.toml").write_text('[tool.slimml]\nignore = ["SLM001"]\n')
    elif change == "select":
        args = ["--select", "SLM001"]
    elif change == "version":
        monkeypatch.setattr(slimml, "__version__", slimml.__version__ + ".post1")
        monkeypatch.setattr(cache, "_code_fp", None)
    check(*args, str(project))
    assert len(analyses) == 2, f"a change to the {change} must be analysed again"
    if change == "dockerfile":
        assert check(str(project))[1] != before[1]


def test_a_changed_rule_module_invalidates(project, analyses, monkeypatch):
    """slimml's own code is part of the key (an edited checkout never serves old results)."""
    check(str(project))
    fp = cache.code_fingerprint()
    rule = Path(slimml.__file__).parent / "rules" / "pip_cache.py"
    st = rule.stat()
    try:
        os.utime(rule, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        monkeypatch.setattr(cache, "_code_fp", None)
        assert cache.code_fingerprint() != fp
        check(str(project))
    finally:
        os.utime(rule, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert len(analyses) == 2


def test_an_upgraded_parser_library_invalidates(project, analyses, monkeypatch, tmp_path):
    """The libraries an analysis runs on (tree-sitter-bash, libcst, ...) are part of the key: their
    installed distribution (name and version) is read from the site folder, not imported."""
    fp = cache.code_fingerprint()
    deps = cache._dependencies()
    assert "tree_sitter_bash-" in deps and "libcst-" in deps and "tree_sitter-0" in deps
    site = tmp_path / "site"
    (site / "tree_sitter_bash").mkdir(parents=True)
    (site / "tree_sitter_bash" / "__init__.py").write_text("")
    (site / "tree_sitter_bash-9.9.9.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "tree_sitter_bash", raising=False)  # found, not the loaded one
    monkeypatch.setattr(cache, "_code_fp", None)
    assert "tree_sitter_bash-9.9.9.dist-info" in cache._dependencies()
    assert cache.code_fingerprint() != fp


def test_corrupt_entries_are_misses(project, analyses):
    first = check(str(project))
    store = Path(os.environ[cache.CACHE_ENV])
    entries = list(store.rglob("*.json"))
    assert entries
    for i, e in enumerate(entries):
        e.write_bytes([b"", b"{not json", b'{"key": "x", "result": {}}'][i % 3])
    assert check(str(project)) == first
    assert len(analyses) == 2
    assert check(str(project)) == first  # the rewritten entry is good again
    assert len(analyses) == 2


def test_an_entry_for_another_key_is_not_used(project, analyses):
    """An entry file whose recorded key differs (copied, planted) is a miss."""
    check(str(project))
    store = Path(os.environ[cache.CACHE_ENV])
    for e in store.rglob("*.json"):
        if "locator" in json.loads(e.read_text()):
            e.unlink()  # its copy of the result would serve the run: the full key's entry is tested here
    (entry,) = [e for e in store.rglob("*.json") if "result" in json.loads(e.read_text())]
    d = json.loads(entry.read_text())
    d["key"] = "0" * 64
    entry.write_text(json.dumps(d))
    check(str(project))
    assert len(analyses) == 2


def test_a_symlinked_folder_in_the_context_is_not_cached(project, analyses, tmp_path):
    """The rules may read through it, and its contents are not fingerprinted."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "vendor").symlink_to(outside, target_is_directory=True)
    check(str(project))
    check(str(project))
    assert len(analyses) == 2


def test_side_files_of_a_cached_result_reach_the_next_dockerfile_of_the_context(project, analyses):
    """Dockerfiles of one context see each other's proposed .dockerignore (Context.committed) whether the
    first one's result came from the cache or not."""
    (project / "models").mkdir()
    (project / "models" / "w.bin").write_bytes(b"\0" * 10)
    (project / "Dockerfile.gpu").write_text(DOCKERFILE.replace("3.11-slim", "3.11"))
    env = {"SLIMML_WORKERS": "1"}
    r1 = CliRunner(env=env).invoke(main, ["check", "--format", "json", str(project)], catch_exceptions=False)
    r2 = CliRunner(env=env).invoke(main, ["check", "--format", "json", str(project)], catch_exceptions=False)
    assert r1.stdout == r2.stdout
    assert len(analyses) == 2


def _corpus_json(tmp_path, *args: str, workers: str) -> str:
    r = CliRunner(env={"SLIMML_WORKERS": workers}).invoke(
        main, ["check", "--format", "json", *args, str(CORPUS)], catch_exceptions=False
    )
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def test_cached_output_is_identical_to_uncached_over_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "store"))
    monkeypatch.chdir(ROOT)
    uncached = _corpus_json(tmp_path, "--no-cache", workers="1")
    cold = _corpus_json(tmp_path, workers="1")
    warm = _corpus_json(tmp_path, workers="1")
    assert json.loads(uncached)["summary"]["files"] >= 90
    assert cold == uncached
    assert warm == uncached
    # Item 4: the process pool gives the same report, in the same order (cached and not).
    assert _corpus_json(tmp_path, "--no-cache", workers="2") == uncached
    assert _corpus_json(tmp_path, workers="2") == uncached


def test_fix_dry_run_uses_the_cache_and_write_never_does(project, analyses):
    def fix(*args: str) -> str:
        return CliRunner().invoke(main, ["fix", "--format", "json", *args, str(project)], catch_exceptions=False).stdout

    dry = fix()
    assert fix() == dry
    fix("--check")  # the same analysis: served from the cache too
    assert len(analyses) == 1
    assert fix("--no-cache") == dry
    assert len(analyses) == 2
    fix("--write")  # analysed afresh, writes the fixes
    assert len(analyses) == 3
    assert (project / "Dockerfile").read_text() != DOCKERFILE


def test_pool_groups_keep_dockerfiles_of_one_context_together_in_order(tmp_path):
    """Dockerfiles whose contexts are the same or nested run in one worker, in the run's order."""
    from slimml import parallel

    for rel in ("a", "a/sub", "b", "c"):
        (tmp_path / rel).mkdir(parents=True, exist_ok=True)
    files = [
        tmp_path / "a/Dockerfile",
        tmp_path / "b/Dockerfile",
        tmp_path / "a/sub/Dockerfile",
        tmp_path / "a/Dockerfile.gpu",
        tmp_path / "c/Dockerfile",
        tmp_path / "c/broken",
    ]
    for f in files[:-1]:
        f.write_text("FROM python:3.11-slim\nCOPY . /app\n")
    files[-1].write_text("NOT AN INSTRUCTION\n")
    # a/sub/Dockerfile copies from its parent folder: its context is `a`, the same as a/Dockerfile's.
    (tmp_path / "a/sub/Dockerfile").write_text("FROM python:3.11-slim\nCOPY ../x /app\n")
    (tmp_path / "a/x").write_text("x\n")
    groups = parallel.groups(files, runner.Options())
    assert sorted(groups) == [[0, 2, 3], [1], [4], [5]]
    assert parallel.groups(files, runner.Options(context=tmp_path)) == [[0, 1, 2, 3, 4, 5]]


def test_pool_groups_nest_by_folder_not_by_string_prefix(tmp_path):
    """`p-x` sorts between `p` and `p/sub`: `p/sub` still nests in `p` (and `p-x` does not)."""
    from slimml import parallel

    files = [tmp_path / "p/Dockerfile", tmp_path / "p-x/Dockerfile", tmp_path / "p/sub/Dockerfile"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("FROM python:3.11-slim\nCOPY . /app\n")
    assert sorted(parallel.groups(files, runner.Options())) == [[0, 2], [1]]


def test_a_cache_inside_the_context_being_checked_is_not_used(project, analyses, monkeypatch):
    """The rules read the context (a `COPY . .` takes the cache folder too): a cache there would change
    what it caches."""
    monkeypatch.setenv(cache.CACHE_ENV, str(project / ".slimml_cache"))
    first = check(str(project))
    assert check(str(project)) == first
    assert len(analyses) == 2
    assert not (project / ".slimml_cache").exists()


def test_default_folder_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "slimml"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "slimml"


def test_concurrent_runs_share_one_cache(project, tmp_path):
    """Two processes filling the same entries at once (temp file + rename): both report what an
    uncached run does, and every entry left behind is whole."""
    import subprocess
    import sys

    for i in range(6):
        d = project.parent / f"svc{i}"
        d.mkdir()
        (d / "Dockerfile").write_text(DOCKERFILE.replace("curl", f"curl jq{i}"))
        (d / "requirements.txt").write_text(f"flask=={i}.0\n")
    cmd = [sys.executable, "-m", "slimml.cli", "check", "--format", "json", str(project.parent)]
    env = {**os.environ, "SLIMML_WORKERS": "1"}
    uncached = subprocess.run([*cmd, "--no-cache"], env=env, capture_output=True, text=True).stdout
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate()[0] for p in procs]
    assert json.loads(uncached)["summary"]["files"] == 7
    assert outs == [uncached] * 3
    entries = list(Path(os.environ[cache.CACHE_ENV]).rglob("*.json"))
    assert len(entries) == 7 * 2  # a result and a locator (with its copy of the result) per file
    assert all(json.loads(e.read_text())["key"] == e.stem for e in entries)
    assert subprocess.run(cmd, env=env, capture_output=True, text=True).stdout == uncached


# -- the locator: a warm run finds a file's entry without parsing it -----------------------------------------
@pytest.fixture
def parses(monkeypatch):
    """Parses and context inferences (the work a valid locator saves)."""
    from slimml import discovery, dockerfile

    calls: list[str] = []

    def counting(real, name):
        def f(*a, **kw):
            calls.append(name)
            return real(*a, **kw)

        return f

    monkeypatch.setattr(runner, "parse", counting(runner.parse, "parse"))
    monkeypatch.setattr(dockerfile, "parse", counting(dockerfile.parse, "parse"))  # parallel imports it late
    monkeypatch.setattr(runner, "infer", counting(runner.infer, "infer"))
    monkeypatch.setattr(discovery, "infer", counting(discovery.infer, "infer"))
    return calls


def test_a_warm_run_neither_parses_nor_infers(project, analyses, parses):
    (project / "Dockerfile.gpu").write_text(DOCKERFILE.replace("3.11-slim", "3.11"))
    first = check(str(project))
    assert parses and len(analyses) == 2
    parses.clear()
    assert check(str(project)) == first
    assert parses == [] and len(analyses) == 2


def test_a_planted_locator_is_not_used(project, analyses, parses):
    """A locator whose recorded key differs, or that names another context, is not followed."""
    first = check(str(project))
    store = Path(os.environ[cache.CACHE_ENV])
    (entry,) = [e for e in store.rglob("*.json") if "locator" in json.loads(e.read_text())]
    d = json.loads(entry.read_text())
    d["locator"]["context_dir"] = str(project.parent)
    entry.write_text(json.dumps(d))
    parses.clear()
    assert check(str(project)) == first  # the context's fingerprint does not match: the usual way
    assert "parse" in parses and len(analyses) == 1
    d["key"] = "0" * 64
    entry.write_text(json.dumps(d))
    assert check(str(project)) == first


def test_a_warm_run_reads_the_locators_copy_of_the_result(project, analyses):
    """The locator carries the result it was stored with (one entry read per file); the copy is used only
    under the full key it was made with."""
    first = check(str(project))
    store = Path(os.environ[cache.CACHE_ENV])
    for e in store.rglob("*.json"):
        if "result" in json.loads(e.read_text()):
            e.unlink()  # only the locator is left
    assert check(str(project)) == first and len(analyses) == 1
    (entry,) = list(store.rglob("*.json"))
    d = json.loads(entry.read_text())
    d["locator"]["result_key"] = "0" * 64
    d["locator"]["result"]["findings"][0]["message"] = "planted"
    entry.write_text(json.dumps(d))
    assert check(str(project)) == first and len(analyses) == 2  # not that copy: analysed again


def test_a_change_that_moves_the_inferred_context_is_seen(tmp_path, monkeypatch, analyses):
    """The locator's context was inferred from that folder's own tree: a change there (a COPY source
    removed) invalidates it, and the file's new context is inferred again."""
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "svc").mkdir()
    (root / "app.py").write_text("print(1)\n")
    (root / "svc" / "app.py").write_text("print(2)\n")
    (root / "svc" / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY app.py /app/\nRUN pip install flask\n")
    first = check(str(root / "svc"))
    assert check(str(root / "svc")) == first and len(analyses) == 1
    (root / "svc" / "app.py").unlink()  # now only the repository root holds app.py: the context moves there
    moved = check(str(root / "svc"))
    assert len(analyses) == 2
    assert moved == check("--no-cache", str(root / "svc"))
