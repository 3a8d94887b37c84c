"""Weights from the Hugging Face Hub on the command line: ``huggingface-cli download``/``hf
download`` and ``git clone`` of a hub repository (with ``git lfs``)."""

from __future__ import annotations

import posixpath

from ...knowledge import weights as K
from ..bake import Bake, abspath, hf_cache_dir, hub_repo, new_bake
from ..sources import Source


# -- command-line downloaders ----------------------------------------------------------------------------
def hf_cli(ins, cmd, args, _argv, cwd, env) -> Bake:
    b = new_bake(ins, cmd)
    pos: list[str] = []
    opts: dict[str, object] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            spec = K.HF_CLI_OPTIONS.get(name)
            if spec is None:
                b.problem = f"unknown option {name} of huggingface-cli download"
                return b
            if spec == 0:
                opts[name] = True
                i += 1
            elif spec == 1:
                if eq:
                    opts[name] = val
                    i += 1
                else:
                    opts[name] = args[i + 1] if i + 1 < len(args) else ""
                    i += 2
            else:
                vals = [val] if eq else []
                i += 1
                while i < len(args) and not args[i].startswith("-"):
                    vals.append(args[i])
                    i += 1
                opts.setdefault(name, [])
                opts[name].extend(vals)  # type: ignore[union-attr]
        elif a.startswith("-") and a != "-":
            b.problem = f"unknown option {a} of huggingface-cli download"
            return b
        else:
            pos.append(a)
            i += 1
    if not pos:
        b.problem = "no repository named"
        return b
    repo, files = pos[0], pos[1:]
    if "--token" in opts:
        b.caveats.append("the build passed --token: give the container HF_TOKEN instead")
    src = Source(
        "hf",
        repo=repo,
        revision=str(opts.get("--revision", "") or ""),
        repo_type=str(opts.get("--repo-type", "model") or "model"),
        origin=f"{b.label} (line {ins.start_line})",
    )
    if files:
        src.mode, src.files = "files", files
    else:
        src.include = list(opts.get("--include", []))  # type: ignore[arg-type]
        src.exclude = list(opts.get("--exclude", []))  # type: ignore[arg-type]
    if "--local-dir" in opts:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        src.target = abspath(str(opts["--local-dir"]), cwd)
        src.is_dir = True
        b.targets += [posixpath.join(src.target, f) for f in files] if files else [src.target]
    elif "--cache-dir" in opts:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        src.guard = {"default": abspath(str(opts["--cache-dir"]), cwd)}
        b.targets.append(src.guard["default"])
    else:
        src.cache_env = list(K.HF_CACHE_ENV[""])
        b.targets.append(hf_cache_dir(env))
    b.sources.append(src)
    return b


def git(ins, cmd, args, cwd, env) -> Bake:
    b = new_bake(ins, cmd)
    pos: list[str] = []
    i = 0
    gdir = None
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "-C" and i + 1 < len(args):
            gdir = args[i + 1]
        i += 2 if args[i] in K.GIT_OPTS_WITH_VALUE else 1
    if gdir is not None:  # `git -C dir ...` works in dir
        cwd = abspath(gdir, cwd) if cwd else None
    if args[i : i + 2] == ["lfs", "clone"]:  # the old `git lfs clone`: a clone
        i += 1
    elif args[i : i + 2] == ["lfs", "pull"]:
        # Paired with the clone it completes by ``merge_lfs_pull``; alone it stays a note.
        rest = args[i + 2 :]
        b.lfs_dir = cwd or ""
        b.lfs_filtered = any(
            a in ("-I", "-X", "--include", "--exclude") or a.startswith(("--include=", "--exclude=")) for a in rest
        ) or any(not a.startswith("-") for a in rest)
        b.problem = (
            "git lfs pull fetches the LFS objects of a repository the build already has: move the weights by hand"
        )
        return b
    if i >= len(args) or args[i] != "clone":
        b.problem = "git lfs fetches the LFS objects of a repository the build already has: move the weights by hand"
        return b
    branch = ""
    i += 1
    while i < len(args):
        a = args[i]
        if a in ("-b", "--branch"):
            branch = args[i + 1] if i + 1 < len(args) else ""
            i += 2
            continue
        if a.startswith("--branch="):
            branch = a.split("=", 1)[1]
        elif a in ("--depth", "--filter", "--origin", "-o", "--jobs", "-j", "--reference"):
            i += 2
            continue
        elif a.startswith("-"):
            pass
        else:
            pos.append(a)
        i += 1
    if not pos:
        b.problem = "no repository URL"
        return b
    hub = hub_repo(pos[0])
    if hub is None:
        b.problem = "not a Hugging Face repository URL"
        return b
    if cwd is None:
        b.problem = "the working directory is not known (cd to a computed path)"
        return b
    rtype, repo = hub
    target = abspath(pos[1] if len(pos) > 1 else repo.rsplit("/", 1)[-1], cwd)
    b.sources.append(
        Source(
            "hf",
            target=target,
            is_dir=True,
            repo=repo,
            repo_type=rtype,
            revision=branch,
            origin=f"{b.label} (line {ins.start_line})",
        )
    )
    b.targets.append(target)
    b.caveats.append("the clone's .git folder is not recreated, only the repository's files")
    if cmd is not None and (cmd.assignments.get("GIT_LFS_SKIP_SMUDGE") or env.get("GIT_LFS_SKIP_SMUDGE")):
        # (a `git lfs pull` of the whole clone later in the RUN lifts this: merge_lfs_pull)
        b.problem = "GIT_LFS_SKIP_SMUDGE: the clone holds pointer files and a later step picks the weights"
    return b


def merge_lfs_pull(script, bakes: list[Bake], cds: list) -> list[Bake]:
    """``git clone URL dir && cd dir && git lfs pull`` (or ``git -C dir lfs pull``), also after
    ``GIT_LFS_SKIP_SMUDGE=1``: the pull completes the clone, and both are one download of the
    whole repository. A pull with --include/--exclude leaves pointer files the init script would
    not reproduce: it stays a note. ``cds``: (cd command, directory it went to) in script order."""
    from ..bake import toplevel

    for pull in [b for b in bakes if b.lfs_dir and not b.lfs_filtered]:
        clone = next(
            (
                c
                for c in bakes
                if c is not pull
                and c.sources
                and c.sources[0].kind == "hf"
                and c.targets == [pull.lfs_dir]
                and c.start < pull.start
            ),
            None,
        )
        if clone is None or (clone.problem and not clone.problem.startswith("GIT_LFS_SKIP_SMUDGE")):
            continue
        pull_cmd = pull.remove_cmds[0]
        cd, where = next(((c, d) for c, d in reversed(cds) if clone.start < c.start < pull_cmd.start), (None, None))
        if cd is not None:
            later = [c for c in script.commands if c.start > pull_cmd.start and toplevel(c)]
            if later and not (
                later[0].effective_argv()[:1] == ["cd"] and (later[0].effective_argv()[1:2] or [""])[0].startswith("/")
            ):
                continue  # the commands after it run inside the clone
            if where != pull.lfs_dir:
                continue
        clone.problem = ""
        clone.remove_cmds += [pull_cmd] + ([cd] if cd is not None else [])
        clone.caveats.append("the clone's git lfs pull is part of the download: the init script fetches every file")
        bakes.remove(pull)
    return bakes
