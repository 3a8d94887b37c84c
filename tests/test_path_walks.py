"""realpaths.realpath gives os.path.realpath's answer, with folders resolved once per run."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from slimml.realpaths import realpath

NAMES = ["a", "b", "c", "link", "up"]
TARGETS = ["a", "b/c", "../a", "..", ".", "missing", "link", "/", "a/../b", "up/a"]


@settings(max_examples=150, deadline=None)
@given(
    dirs=st.lists(st.lists(st.sampled_from(NAMES[:3]), min_size=1, max_size=3), max_size=6),
    links=st.lists(
        st.tuples(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3), st.sampled_from(TARGETS), st.booleans()),
        max_size=5,
    ),
    queries=st.lists(st.lists(st.sampled_from([*NAMES, "..", ".", "f"]), min_size=1, max_size=5), max_size=8),
)
def test_same_answer_as_os_realpath(tmp_path_factory, dirs, links, queries):
    root = tmp_path_factory.mktemp("tree")
    for parts in dirs:
        (root.joinpath(*parts)).mkdir(parents=True, exist_ok=True)
    for parts, target, absolute in links:
        where = root.joinpath(*parts)
        # Only inside the tree: through an earlier `up -> ..` a link would land in pytest's shared base folder
        # (a `a -> a` loop there broke a later test's Path.resolve).
        inside = os.path.realpath(where.parent) == str(root) or os.path.realpath(where.parent).startswith(f"{root}/")
        if inside and where.parent.is_dir() and not os.path.lexists(where):
            os.symlink(str(root / target) if absolute and target != "/" else target, where)
    memo: dict[str, str] = {}  # one memo for the whole "run", as the runner uses it
    for q in queries:
        for path in (str(root.joinpath(*q)), os.path.relpath(root.joinpath(*q))):
            assert realpath(path, memo) == os.path.realpath(path)
            assert realpath(path, None) == os.path.realpath(path)


def test_a_symlink_loop_resolves_as_realpath_does(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    memo: dict[str, str] = {}
    for p in (tmp_path / "a", tmp_path / "a" / "x", tmp_path / "b" / "y" / "z"):
        assert realpath(p, memo) == os.path.realpath(p)


# -- discovery's scandir walk answers as the os.walk/fnmatch definitions it replaced -----------------------
def _find_by_os_walk(root, spec):
    import fnmatch
    from pathlib import Path

    from slimml.discovery import _NOT_DOCKERFILE, DOCKERFILE_GLOBS, SKIP_DIRS

    def is_name(n):
        return not _NOT_DOCKERFILE.search(n) and any(
            fnmatch.fnmatchcase(n, g) or fnmatch.fnmatchcase(n.lower(), g.lower()) for g in DOCKERFILE_GLOBS
        )

    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [
            d
            for d in sorted(dirnames)
            if d not in SKIP_DIRS and not (spec and spec.match_file((d if rel_dir == "." else f"{rel_dir}/{d}") + "/"))
        ]
        for f in sorted(filenames):
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            if is_name(f) and not (spec and spec.match_file(rel)):
                out.append(Path(dirpath) / f)
    return out


FILE_NAMES = [
    "Dockerfile",
    "dockerfile.GPU",
    "x.Dockerfile",
    "Dockerfile.md",
    "Containerfile-dev",
    "app.py",
    "İDockerfile",
]


@settings(max_examples=80, deadline=None)
@given(
    files=st.lists(
        st.tuples(
            st.lists(st.sampled_from(["a", "b", ".git", "node_modules", "build"]), max_size=3),
            st.sampled_from(FILE_NAMES),
        ),
        max_size=12,
    ),
    links=st.lists(
        st.tuples(st.sampled_from(["la", "b/lb"]), st.sampled_from(["a", "b", "missing", "Dockerfile"])), max_size=2
    ),
    gitignore=st.sampled_from(["", "build/\n", "*.Dockerfile\n!a/x.Dockerfile\n", "a\n"]),
)
def test_find_dockerfiles_as_os_walk(tmp_path_factory, files, links, gitignore):
    from slimml.discovery import _gitignore, find_dockerfiles

    root = tmp_path_factory.mktemp("repo")
    for parts, name in files:
        folder = root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / name).is_dir():
            (folder / name).write_text("FROM x\n")
    for where, target in links:
        w = root / where
        if w.parent.is_dir() and not os.path.lexists(w):
            os.symlink(target, w)
    if gitignore:
        (root / ".gitignore").write_text(gitignore)
    assert find_dockerfiles(root) == _find_by_os_walk(root, _gitignore(root))


def test_a_symlink_loop_gets_realpaths_answer_for_each_spelling(tmp_path, monkeypatch):
    """Found by hypothesis: `up -> <root>/up/a` loops; os.path.realpath then answers differently for the relative
    and the absolute spelling of the same path, and a memo filled by one must not answer the other."""
    monkeypatch.chdir(tmp_path)
    os.symlink(str(tmp_path / "up" / "a"), tmp_path / "up")
    memo: dict[str, str] = {}
    for path in (str(tmp_path / "up"), "up", str(tmp_path / "up" / "x"), "up/x"):
        assert realpath(path, memo) == os.path.realpath(path), path
