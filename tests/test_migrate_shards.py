"""`slimml migrate --shard I/N` and `slimml report --merge`: shards partition the repos by a stable
hash of each repo's identity; the merged report of concurrent shard processes (one of them killed
with SIGKILL and re-run) equals one unsharded run's report over an identical copy of the repos.

The fleet comes from benchmarks/shards.py (real-shaped projects; the benchmark runs the same flow
over 1,000 repos and 4 shards).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from slimml.migrate import shard

ROOT = Path(__file__).resolve().parent.parent
BRANCH = "slimml/slim-images"
IDENT = ["-c", "user.name=Test Author", "-c", "user.email=test@example.com"]


def _bench():
    spec = importlib.util.spec_from_file_location("shards_bench", ROOT / "benchmarks" / "shards.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _bench()


def slimml(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slimml.cli", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=600,
    )


def git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def names_in(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(r[0] for r in conn.execute("SELECT name FROM repos"))
    finally:
        conn.close()


def expected_shard(ident: str, n: int) -> int:
    """The documented contract, written out independently: sha256, first 8 bytes big-endian, mod N, 1-based."""
    return int.from_bytes(hashlib.sha256(ident.encode()).digest()[:8], "big") % n + 1


# -- the spec and the identity ---------------------------------------------------------------------
@pytest.mark.parametrize("spec, want", [("1/4", (1, 4)), ("4/4", (4, 4)), ("1/1", (1, 1)), (" 2 / 3 ", (2, 3))])
def test_parse_good(spec, want):
    assert shard.parse(spec) == want


@pytest.mark.parametrize("spec", ["0/4", "5/4", "1/0", "-1/4", "1", "1/", "/4", "a/b", "1/4/2", "1.5/4", "", "2of4"])
def test_parse_bad(spec):
    with pytest.raises(shard.ShardError):
        shard.parse(spec)


@pytest.mark.parametrize("spec", ["0/4", "5/4", "x", "1/0", "3"])
def test_bad_shard_is_one_line_exit_2_nothing_written(tmp_path, spec):
    (tmp_path / "r").mkdir()
    cp = slimml("migrate", tmp_path / "r", "--workdir", tmp_path / "w", "--shard", spec, cwd=tmp_path)
    assert cp.returncode == 2
    assert cp.stderr.count("\n") == 1 and cp.stderr.startswith("error: --shard"), cp.stderr
    assert not (tmp_path / "w").exists()


def test_url_identity_is_the_repo_however_spelled():
    same = [
        "https://github.com/Org/Repo.git",
        "https://GitHub.com/Org/Repo/",
        "ssh://git@github.com/Org/Repo",
        "git@github.com:Org/Repo.git",
        "https://user:s3cret-token@github.com/Org/Repo",
        "git://github.com/Org/Repo",
    ]
    assert {shard.normalize_url(u) for u in same} == {"github.com/Org/Repo"}
    # the path's case, the port and the host are part of the identity
    assert shard.normalize_url("https://github.com/org/repo") != "github.com/Org/Repo"
    assert shard.normalize_url("ssh://git@host:2222/a/b.git") == "host:2222/a/b"
    assert shard.normalize_url("https://gitlab.com/Org/Repo") != "github.com/Org/Repo"
    assert shard.normalize_url("file:///srv/git/x.git") == "/srv/git/x"
    assert "s3cret" not in shard.identity("x", "https://user:s3cret@h/x")
    assert shard.identity("./team/svc/", None) == shard.identity("team/svc", None) == "local:team/svc"


def test_shard_is_the_documented_stable_hash_in_every_process():
    idents = [shard.identity(f"team-{i % 7}/svc-{i}", None) for i in range(300)]
    here = [shard.shard_of(i, 4) for i in idents]
    assert here == [expected_shard(i, 4) for i in idents]
    code = (
        "import json,sys; from slimml.migrate import shard; "
        "print(json.dumps([shard.shard_of(i, 4) for i in json.load(sys.stdin)]))"
    )
    for seed in ("1", "12345"):  # Python's own hash() would differ between these processes
        cp = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(idents),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        assert json.loads(cp.stdout) == here
    counts = [here.count(k) for k in (1, 2, 3, 4)]
    assert min(counts) >= 50, counts  # 300 names over 4 shards: none starved


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """40 repos, a byte-identical copy, 3 concurrent shards (shard 2 SIGKILLed, re-run), one unsharded run."""
    base = tmp_path_factory.mktemp("shards")
    a, b = base / "a" / "repos", base / "b" / "repos"
    kinds = bench.generate(a, 40)
    shutil.copytree(a, b, symlinks=True)
    heads = {p.parent.relative_to(a).as_posix(): git(p.parent, "rev-parse", "HEAD") for p in a.glob("*/*/.git")}
    res = bench.run_shards(a, base / "a" / "work", 3, jobs=1, kill=2, kill_after=3)
    single = slimml("migrate", b, "--workdir", base / "b" / "work", "-j", "2", "-q")
    dbs = [bench.shard_db(base / "a" / "work", i, 3) for i in (1, 2, 3)]
    return {"a": a, "b": b, "base": base, "kinds": kinds, "res": res, "single": single, "dbs": dbs, "heads": heads}


def test_fleet_is_varied(fleet):
    k = fleet["kinds"]
    assert sum(k.values()) == 40 and k.get("single") and k.get("multi") and k.get("clean") and k.get("none")
    assert k.get("dirty") and k.get("broken")


def test_the_kill_happened_mid_run_and_the_rerun_completed(fleet):
    res = fleet["res"]
    assert res["killed"]["returncode"] == -9, res["stderr"]
    assert res["killed"]["fixed_at_kill"] >= 3 and res["killed"]["in_progress_at_kill"] >= 1  # killed mid-repo
    assert res["rerun"]["returncode"] in (0, 2), res["rerun"]["stderr"]  # 2: a repo with a broken Dockerfile
    for i in (1, 3):
        assert res["returncodes"][i] in (0, 2), res["stderr"][i]
    conn = sqlite3.connect(fleet["dbs"][1])
    left = conn.execute("SELECT COUNT(*) FROM repos WHERE status IN ('pending','in-progress')").fetchone()[0]
    total = conn.execute("SELECT COUNT(*) FROM repos").fetchone()[0]
    conn.close()
    assert left == 0 and total > res["killed"]["fixed_at_kill"]  # it had more to do when it was killed


def test_shards_partition_the_repos_by_identity(fleet):
    per = [names_in(db) for db in fleet["dbs"]]
    assert sorted(n for names in per for n in names) == sorted(fleet["heads"])  # each repo in exactly one shard
    for i, names in enumerate(per, 1):
        assert names, f"shard {i} is empty"
        assert all(expected_shard("local:" + n, 3) == i for n in names)
        conn = sqlite3.connect(fleet["dbs"][i - 1])
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        conn.close()
        assert meta["shard"] == f"{i}/3" and json.loads(meta["options"])["shard"] == f"{i}/3"


def test_nothing_lost_or_duplicated_after_the_kill(fleet):
    merged = json.loads(slimml("report", "--merge", *fleet["dbs"], "--format", "json").stdout)
    assert bench.once_check(fleet["a"], fleet["dbs"], merged) == []
    # the killed shard's repos fixed before the kill kept their commit (adopted, not redone)
    after = {n: s for db in fleet["dbs"] for n, s in bench._commits(db).items()}
    for name, sha in fleet["res"]["killed"]["commits_at_kill"].items():
        assert after[name] == sha
    for name, head in fleet["heads"].items():  # checkouts untouched; a branch has exactly one commit
        repo = fleet["a"] / name
        assert git(repo, "rev-parse", "HEAD") == head
        tip = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"refs/heads/{BRANCH}"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if tip:
            assert git(repo, "rev-list", "--parents", "-n", "1", tip).split() == [tip, head]


def test_merged_report_equals_the_unsharded_run(fleet):
    assert fleet["single"].returncode in (0, 2), fleet["single"].stderr
    merged = json.loads(slimml("report", "--merge", *fleet["dbs"], "--format", "json").stdout)
    single = json.loads((fleet["base"] / "b" / "work" / ".slimml" / "migrate-report.json").read_text())
    assert [r["name"] for r in merged["repos"]] == sorted(r["name"] for r in merged["repos"])
    assert merged["totals"] == single["totals"]
    assert merged["findings"] == single["findings"] and merged["failures"] == single["failures"]
    drop = {"path", "commit", "attempts"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in merged["repos"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in single["repos"]
    ]
    assert merged["options"] == single["options"]
    assert merged["shards"] == {"of": 3, "present": [1, 2, 3], "missing": []} and single["shards"] is None
    # and the markdown tables are the same once the header line is set aside
    md_m = slimml("report", "--merge", *fleet["dbs"]).stdout
    md_s = slimml("report", "--state", fleet["base"] / "b" / "work" / ".slimml" / "migrate.db").stdout

    def tables(md):  # the result column names the commit: drop it
        return [line.rsplit("@", 1)[0] for line in md.split("## Totals", 1)[1].splitlines()]

    assert tables(md_m) == tables(md_s)
    assert "Shards: 3 of 3 present (1, 2, 3); none missing." in md_m


def test_each_shard_writes_its_own_reports_saying_which_shard(fleet):
    d = fleet["base"] / "a" / "work" / ".slimml"
    for i in (1, 2, 3):
        data = json.loads((d / f"migrate-report-shard-{i}-of-3.json").read_text())
        assert data["shards"] == {"of": 3, "present": [i], "missing": [k for k in (1, 2, 3) if k != i]}
        assert sorted(r["name"] for r in data["repos"]) == names_in(fleet["dbs"][i - 1])
        assert f"Covers shard {i} of 3 only" in (d / f"migrate-report-shard-{i}-of-3.md").read_text()
        assert f"Covers shard {i} of 3 only" in (d / f"migrate-report-shard-{i}-of-3.html").read_text()
    assert not (d / "migrate-report.json").exists()


def test_rerun_of_a_shard_state_with_another_shard_is_refused(fleet, tmp_path):
    db = tmp_path / "s1.db"
    shutil.copy(fleet["dbs"][0], db)
    before = db.read_bytes()
    for other in (["--shard", "2/3"], ["--shard", "1/4"], []):
        cp = slimml("migrate", fleet["a"], "--workdir", tmp_path / "w", "--state", db, "-q", *other)
        assert cp.returncode == 2 and "other options" in cp.stderr and "shard" in cp.stderr, cp.stderr
    assert db.read_bytes() == before


def test_merge_with_a_missing_shard_says_so(fleet, tmp_path):
    dbs = [fleet["dbs"][0], fleet["dbs"][2]]
    js = json.loads(slimml("report", "--merge", *dbs, "--format", "json").stdout)
    assert js["shards"] == {"of": 3, "present": [1, 3], "missing": [2]}
    assert sorted(r["name"] for r in js["repos"]) == sorted(names_in(dbs[0]) + names_in(dbs[1]))
    assert "missing: 2" in slimml("report", "--merge", *dbs).stdout
    out = tmp_path / "m.html"
    assert slimml("report", "--merge", *dbs, "--format", "html", "-o", out).returncode == 0
    assert "missing: 2" in out.read_text()


def test_merge_refusals(fleet, tmp_path):
    dbs = fleet["dbs"]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    foreign = tmp_path / "foreign.db"
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    # the same shard, but another outcome for one of its repos
    conflict = tmp_path / "conflict.db"
    shutil.copy(dbs[0], conflict)
    c = sqlite3.connect(conflict)
    name = c.execute("SELECT name FROM repos WHERE status='fixed' ORDER BY name LIMIT 1").fetchone()[0]
    c.execute("UPDATE repos SET commit_sha=? WHERE name=?", ("f" * 40, name))
    c.commit()
    c.close()
    # another migration's options (a shard of a --select run)
    other = tmp_path / "other"
    assert slimml(
        "migrate",
        fleet["b"],
        "--workdir",
        other,
        "--shard",
        "1/3",
        "--patches",
        tmp_path / "p",
        "--select",
        "SLM001",
        "-q",
    ).returncode in (0, 2)
    # another split: the same migration, but shard 1 of 2
    split = tmp_path / "split.db"
    shutil.copy(dbs[0], split)
    c = sqlite3.connect(split)
    opts = json.loads(c.execute("SELECT value FROM meta WHERE key='options'").fetchone()[0])
    c.execute("UPDATE meta SET value=? WHERE key='options'", (json.dumps({**opts, "shard": "1/2"}, sort_keys=True),))
    c.execute("UPDATE meta SET value='1/2' WHERE key='shard'")
    c.commit()
    c.close()
    cases = [
        ([dbs[0], junk], "not a readable migration state"),
        ([dbs[0], foreign], "not a readable migration state"),
        ([dbs[0], tmp_path / "missing.db"], "no migration state here"),
        ([dbs[0], conflict], f"repo '{name}' is also in"),
        ([dbs[0], other / ".slimml" / "migrate-shard-1-of-3.db"], "other options"),
        ([dbs[0], dbs[1], split], "not one of the 3 shards"),
    ]
    for paths, msg in cases:
        cp = slimml("report", "--merge", *paths, "--format", "json", "-o", tmp_path / "out.json")
        assert cp.returncode == 2 and msg in cp.stderr and cp.stderr.count("\n") == 1, (paths, cp.stderr)
        assert not (tmp_path / "out.json").exists()
    # the same shard twice with the same rows (a copy) is merged once
    copy = tmp_path / "copy.db"
    shutil.copy(dbs[0], copy)
    js = json.loads(slimml("report", "--merge", *dbs, copy, dbs[0], "--format", "json").stdout)
    assert len(js["repos"]) == 40 and js["shards"]["present"] == [1, 2, 3]
    # usage: --merge needs files; files need --merge; not with --state
    assert slimml("report", "--merge").returncode == 2
    assert slimml("report", dbs[0]).returncode == 2
    assert slimml("report", "--state", dbs[0], "--merge", dbs[1]).returncode == 2


def test_url_entries_shard_by_url_not_by_clone_path(tmp_path):
    """Two 'pods' with their own workdirs and differently spelled URL lists agree on every repo's shard."""
    src = tmp_path / "src"
    urls = []
    for i in range(8):
        r = src / f"r{i}"
        r.mkdir(parents=True)
        (r / "Dockerfile").write_text("FROM python:3.11\nRUN pip install flask\n")
        git(r, "init", "-q", "-b", "main")
        git(r, "add", "-A")
        git(r, *IDENT, "commit", "-q", "-m", "i")
        bare = tmp_path / "remotes" / f"r{i}.git"
        git(tmp_path, "clone", "-q", "--bare", str(r), str(bare))
        urls.append(bare.as_uri())
    (tmp_path / "pod1.txt").write_text("\n".join(urls) + "\n")
    (tmp_path / "pod2.txt").write_text("\n".join(u[: -len(".git")] + "/" for u in urls) + "\n")
    got = {}
    for pod in ("pod1", "pod2"):
        got[pod] = {}
        for i in (1, 2):
            cp = slimml(
                "migrate",
                "--repos",
                tmp_path / f"{pod}.txt",
                "--workdir",
                tmp_path / pod,
                "--shard",
                f"{i}/2",
                "--patches",
                tmp_path / pod / "patches",
                "-q",
            )
            assert cp.returncode == 0, cp.stderr
            conn = sqlite3.connect(tmp_path / pod / ".slimml" / f"migrate-shard-{i}-of-2.db")
            for _name, url, path in conn.execute("SELECT name, url, path FROM repos"):
                assert Path(path).is_relative_to(tmp_path / pod)  # cloned into this pod's workdir
                got[pod][Path(url.rstrip("/")).name.removesuffix(".git")] = i
            conn.close()
    assert got["pod1"] == got["pod2"] and len(got["pod1"]) == 8 and set(got["pod1"].values()) == {1, 2}
    for name, i in got["pod1"].items():
        assert i == expected_shard("url:" + (tmp_path / "remotes" / name).as_posix(), 2)


def test_error_paths_are_repo_relative_in_every_process(tmp_path):
    """A failed Dockerfile's error names it relative to the repo whatever the process's string-hash
    seed: the snapshot's cwd-relative path contains its absolute path, so the longer is removed first
    (otherwise the same repo read "../..legacy/Dockerfile" in one shard and "legacy/Dockerfile" in the
    unsharded run, and the merged report differed)."""
    tree = tmp_path / "w" / ".slimml" / "migrate.tmp" / "1-2" / "tree"
    code = (
        "import os,sys; from pathlib import Path; from slimml.migrate.worker import _relative; "
        "t = Path(sys.argv[1]); print(_relative(os.path.relpath(t) + '/legacy/Dockerfile: bad; '"
        " + str(t) + '/Dockerfile: bad', t))"
    )
    for seed in range(8):
        cp = subprocess.run(
            [sys.executable, "-c", code, str(tree)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
        )
        assert cp.stdout.strip() == "legacy/Dockerfile: bad; Dockerfile: bad", (seed, cp.stdout)
