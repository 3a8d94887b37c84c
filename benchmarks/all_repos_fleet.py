"""The all-repos autofixer over a generated fleet of local repositories.

    python benchmarks/all_repos_fleet.py [--repos 40] [--jobs 2] [--keep DIR]

Makes REPOS bare git repositories (the "forge") from real-shaped projects -- benchmarks/reach/corpus/
and fixtures/projects/, some with two services in subfolders, a few already clean (committed as
`slimml fix --write` leaves them) and a few without any Dockerfile -- lists them in a
all_repos.source.json_file config pushing with all_repos.push.merge_to_master (fast-forward), runs
`all-repos-clone`, then the real CLI (`python -m slimml.integrations.all_repos`) twice with a fresh
clone in between. It prints the commits made and the time taken, and exits 1 unless every repo
with something to fix got exactly one slimml commit, the others none, and the second run made none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    p for p in (ROOT / "benchmarks" / "reach" / "corpus").iterdir() if (p / "Dockerfile").is_file()
) + sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if (p / "Dockerfile").is_file())
TRAILER = "Slimml-Migrate: all-repos."
SKIP = ("expected.", "case.toml", "source.txt", "project.toml")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def copy_project(src: Path, dest: Path) -> None:
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_file() and not rel.as_posix().startswith(SKIP):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest / rel)


def make_clean(work: Path) -> None:
    """Commit the project as `slimml fix --write` leaves it: nothing left for the autofixer."""
    subprocess.run([sys.executable, "-m", "slimml.cli", "fix", "--write", "."], cwd=work, capture_output=True)


def generate(root: Path, n: int) -> dict[str, str]:
    """{repo name: "fix" | "clean" | "none"} -- the expected outcome (confirmed after the run)."""
    kinds: dict[str, str] = {}
    forge, works = root / "forge", root / "work"
    for i in range(n):
        name = f"svc-{i:03d}"
        work = works / name
        work.mkdir(parents=True)
        git(work, "init", "-q", "-b", "main")
        if i % 10 == 9:
            kinds[name] = "none"
            (work / "README.md").write_text("a library, no Docker\n")
        elif i % 10 in (3, 7):  # two services in one repo
            kinds[name] = "fix"
            copy_project(SOURCES[(2 * i) % len(SOURCES)], work / "api")
            copy_project(SOURCES[(2 * i + 1) % len(SOURCES)], work / "worker")
        else:
            kinds[name] = "clean" if i % 10 == 5 else "fix"
            copy_project(SOURCES[(3 * i) % len(SOURCES)], work)
            if kinds[name] == "clean":
                make_clean(work)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "initial")
        git(root, "init", "-q", "--bare", "-b", "main", str(forge / f"{name}.git"))
        git(work, "push", "-q", str(forge / f"{name}.git"), "main")
    (root / "repos.json").write_text(json.dumps({n: str(forge / f"{n}.git") for n in kinds}))
    cfg = root / "all-repos.json"
    cfg.write_text(
        json.dumps(
            {
                "output_dir": "output",
                "source": "all_repos.source.json_file",
                "source_settings": {"filename": str(root / "repos.json")},
                "push": "all_repos.push.merge_to_master",
                "push_settings": {"fast_forward": True},
            }
        )
    )
    cfg.chmod(0o600)
    return kinds


def slimml_commits(root: Path, name: str) -> int:
    msgs = git(root / "forge" / f"{name}.git", "log", "--format=%B%x00", "main").split("\0")
    return sum(1 for m in msgs if TRAILER in m)


def run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t = time.monotonic()
    cp = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.monotonic() - t, cp


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="generate here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        root = args.keep.resolve()
        root.mkdir(parents=True, exist_ok=False)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="slimml-fleet-")
        root = Path(tmp.name)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "slimml fleet",
        "GIT_AUTHOR_EMAIL": "fleet@localhost",
        "GIT_COMMITTER_NAME": "slimml fleet",
        "GIT_COMMITTER_EMAIL": "fleet@localhost",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("GIT_")})
    try:
        t = time.monotonic()
        kinds = generate(root, args.repos)
        print(
            f"generated {len(kinds)} repos in {time.monotonic() - t:.1f}s: "
            + ", ".join(f"{sum(1 for k in kinds.values() if k == x)} {x}" for x in ("fix", "clean", "none"))
        )
        clone = [sys.executable, "-m", "all_repos.clone", "-C", "all-repos.json", "-j", str(args.jobs)]
        fixer = [
            sys.executable,
            "-m",
            "slimml.integrations.all_repos",
            "--config",
            "all-repos.json",
            "--jobs",
            str(args.jobs),
        ]
        secs, cp = run(clone, root, env)
        print(f"all-repos-clone: {secs:.1f}s")
        secs1, cp1 = run(fixer, root, env)
        print(f"first run:  {secs1:.1f}s  -- {cp1.stderr.strip().splitlines()[-1]}")
        commits = {n: slimml_commits(root, n) for n in kinds}
        run(clone, root, env)
        secs2, cp2 = run(fixer, root, env)
        print(f"second run: {secs2:.1f}s  -- {cp2.stderr.strip().splitlines()[-1]}")
        commits2 = {n: slimml_commits(root, n) for n in kinds}
        made = sum(commits.values())
        n_df = sum(len([p for p in (root / "output" / n).rglob("*Dockerfile*")]) for n in kinds)
        print(
            f"commits: {made} in {len(kinds)} repos ({n_df} Dockerfiles); "
            f"{sum(1 for n in kinds if commits[n] == 0)} repos without a commit; second run: "
            f"{sum(commits2.values()) - made} new commits; {len(kinds) / secs1:.1f} repos/s"
        )
        wrong = [n for n in kinds if commits[n] != (1 if kinds[n] == "fix" else 0)]
        ok = cp1.returncode == 0 and cp2.returncode == 0 and not wrong and commits2 == commits
        if wrong:
            print(f"unexpected commit counts: {', '.join(f'{n} ({kinds[n]}): {commits[n]}' for n in wrong)}")
        if not ok:
            print(cp1.stderr[-2000:], cp2.stderr[-2000:], file=sys.stderr)
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
