"""Projects with a lock file -- uv.lock, poetry.lock, pdm.lock, Pipfile.lock -- must install from it.

An install that can re-lock (``uv sync`` without ``--locked``/``--frozen``, ``pdm install`` without ``--check``,
``pipenv install`` without ``--deploy``/``--ignore-pipfile``) installs whatever the index serves the day a stale
lock meets a changed project file; an install that runs before the lock is in the image resolves afresh every build;
a ``poetry lock`` / ``uv lock`` / ``pipenv lock`` in the build throws the committed lock away; ``uv pip install -r
pyproject.toml`` never reads uv.lock. What each tool does is in knowledge/lock_flags.py, with its sources.

Fixes are unsafe and say why: adding ``--locked``/``--check``/``--deploy`` turns a stale lock into a failed build
(slimml cannot prove a lock current without resolving), and copying a lock that was left behind changes what gets
installed. No fix is offered when the image's installer may predate the flag, when a build argument may already
set it (``uv`` refuses ``--locked`` with ``UV_FROZEN``), when a variable in the command may carry it, or when
whether the lock is in the image cannot be told.

Commands are recognised by the multi-stage rule's installer readers (runs.RunReader and installers/*): the same
wrappers, ``cd``, options with values and project directories."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from ...dockerfile import Document, Instruction
from ...dockerfile.shell import Command, Word, run_scripts
from ...engine import Finding, Fix
from ...knowledge import lock_flags as LF
from ...semantics import build as B
from ...semantics import files as F
from ...semantics import installers as SI
from .. import _helpers as H
from ..multi_stage.installers import pdm as PDM
from ..multi_stage.installers import pipenv as PIPENV
from ..multi_stage.installers import poetry as POETRY
from ..multi_stage.installers import uv as UV
from ..multi_stage.installers.common import absolute, options
from . import lock_files as LK

# The rule's identity lives in the package; these stand in when this module is used on its own.
_CODE, _NAME = "SLM012", "unpinned-install"

_VALUES = {"uv": UV._SYNC_VALUE, "poetry": POETRY._VALUE, "pdm": PDM._VALUE, "pipenv": PIPENV._VALUE}
_TRUTHY = frozenset({"1", "true", "yes", "on", "y"})


def _finding(message: str, start: int, end: int, fix: Fix | None = None, note: str = "") -> Finding:
    pkg = sys.modules.get(__package__ or "")
    return Finding(
        code=getattr(pkg, "CODE", _CODE),
        name=getattr(pkg, "NAME", _NAME),
        message=message,
        start=start,
        end=end,
        fix=fix,
        note=note,
    )


@dataclass
class _Cmd:
    """One command of a RUN, with what the installer readers made of it."""

    ins: Instruction
    cmd: Command
    words: list[Word]  # wrappers stripped
    uses: list  # installers.Use records the command produced
    reader: object  # the RunReader (working directory, for ``absolute``)

    @property
    def label(self) -> str:
        """``uv sync``, ``pdm install`` ... (global options left out)."""
        if self.uses:
            return f"{self.uses[0].tool.split('-')[0]} {self.uses[0].sub}"
        return " ".join(w.value for w in self.words[:2])


@dataclass
class _Seen:
    relocks: list[tuple[int, int, str]] = field(default_factory=list)  # (stage, instruction index, tool)


def _commands(doc: Document):
    from ...semantics import ship as SH
    from ..multi_stage.runs import RunReader

    for ins in doc.instructions:
        if ins.keyword != "RUN" or ins.json is not None:
            continue
        stage = doc.stage_of(ins)
        if stage is None or not SH.stage_ships(doc, stage).ships:
            continue  # as the pip half: only what reaches the final image
        reader = RunReader(doc, ins)
        for s in run_scripts(doc, ins):
            for cmd in s.commands:
                if s.heredoc is None and ins.heredocs and cmd.start >= ins.heredocs[0].body_start:
                    continue  # a heredoc body fed to a command: data
                n = len(reader.info.uses)
                reader.command(cmd, s)
                words = cmd.words[cmd.unwrapped(run_wrappers=False) :]
                if words:
                    yield _Cmd(ins, cmd, words, reader.info.uses[n:], reader)


def check(doc: Document, ctx):
    seen = _Seen()
    for c in _commands(doc):
        prog = H.basename(c.words[0].value)
        if prog in _VALUES:
            yield from _relock(doc, c, prog, seen)
        for u in c.uses:
            if u.tool == "uv-sync":
                yield from _uv_sync(doc, ctx, c, u, seen)
            elif u.tool == "uv-pip" and u.sub in ("install", "sync"):
                yield from _uv_pip(doc, ctx, c, u)
            elif u.tool in ("poetry", "pdm", "pipenv") and u.sub in ("install", "sync"):
                yield from _project_install(doc, ctx, c, u, seen)


# -- commands that resolve again --------------------------------------------------------------------------------
def _sub_index(words: list[Word], start: int, with_value) -> int | None:
    i = start
    while i < len(words):
        v = words[i].value
        if v in with_value:
            i += 2
        elif v.startswith("-"):
            i += 1
        else:
            return i
    return None


def _sub(words: list[Word], tool: str) -> int | None:
    if tool == "uv":
        _, _, k = UV._global(words)
        return k if k < len(words) else None
    return _sub_index(words, 1, _VALUES[tool])


def _relock(doc: Document, c: _Cmd, tool: str, seen: _Seen):
    k = _sub(c.words, tool)
    if k is None:
        return
    sub = c.words[k].value
    checks = LF.RELOCKS.get((tool, sub))
    if checks is None:
        return
    opts, pos, _ = options(c.words, k + 1, _VALUES[tool])
    if set(opts) & checks:
        return
    if tool == "pipenv" and sub == "lock" and "-r" in opts:
        return  # `pipenv lock -r` (old pipenv) prints requirements
    seen.relocks.append((c.ins.stage, c.ins.index, tool))
    lock = LF.BY_TOOL[tool].lock
    what = f"`{tool} {sub}{' ' + ' '.join(pos) if pos and sub != 'lock' else ''}`"
    yield _finding(
        f"{what} resolves the dependencies again during the build: the image gets whatever the package index "
        f"serves that day instead of the committed {lock}; commit the lock and install from it",
        c.cmd.start,
        c.cmd.end,
        note="without this command a build whose lock is missing or stale would install something else",
    )


def _relocked_before(doc: Document, ins: Instruction, tool: str, seen: _Seen) -> bool:
    stage = doc.stage_of(ins)
    chain = {s.index for s in B.stage_chain(doc, stage)} if stage is not None else set()
    return any(st in chain and i <= ins.index and t == tool for st, i, t in seen.relocks)


# -- what the command's environment and variables say ----------------------------------------------------------------
def _env_flag(env: dict, names) -> tuple[str, str]:
    """("set" | "maybe" | "unset", variable): a truthy one sets it; one a build argument can change is "maybe"."""
    maybe = ""
    for n in names:
        v = env.get(n)
        if v is None:
            continue
        truthy = v.value.strip().strip("'\"").lower() in _TRUTHY
        if truthy and v.certain:
            return "set", n
        if not v.certain:
            if truthy:
                return "set", n  # its default sets it: the default build is locked
            maybe = maybe or n
    return ("maybe", maybe) if maybe else ("unset", "")


def _variable_words(doc: Document, c: _Cmd, env: dict) -> tuple[set[str], str]:
    """(option words the command's variables expand to, why a variable's value cannot be relied on or "")."""
    out: set[str] = set()
    why = ""
    for w in c.words[1:]:
        if "$" not in w.raw or w.raw.startswith("'"):
            continue
        e = B.expand(w.raw, env, doc.escape)
        out.update(e.value.split())
        if not e.certain:
            why = why or f"`{w.raw}` may expand to other options (a build argument or an unset variable)"
    return out, why


# -- uv ---------------------------------------------------------------------------------------------------------
def _uv_sync(doc: Document, ctx, c: _Cmd, u, seen: _Seen):
    words = u.words
    gopts, _, k = UV._global(words)
    opts, _, _ = options(words, k + 1, UV._SYNC_VALUE)
    opts.update(gopts)
    if set(opts) & {"--script", "--dry-run", "--check"}:
        return  # a script's own dependencies (no uv.lock), or no install at all
    env = SI.command_env(doc, c.ins, c.cmd)
    expanded, var_why = _variable_words(doc, c, env)
    given = (set(opts) | expanded) & (LF.UV.from_lock | LF.UV_SYNC_UPGRADE)
    if given & LF.UV_SYNC_UPGRADE:
        yield _finding(
            f"`uv sync {sorted(given & LF.UV_SYNC_UPGRADE)[0]}` upgrades the locked versions during the build: the "
            "image gets whatever the index serves that day instead of uv.lock",
            c.cmd.start,
            c.cmd.end,
            note="dropping the upgrade changes what the build installs",
        )
        return
    if given:
        return
    version = LK.tool_version(doc, c.ins, "uv")
    env_state, var = _env_flag(env, LF.UV.env)
    if env_state == "set" and not LK.may_lack(version, LF.UV_ENV_SINCE):
        return
    if u.path is None:
        return  # the project directory cannot be told
    notes = []
    if env_state == "maybe":
        notes.append(f"{var} comes from a build argument: uv refuses --locked together with a truthy UV_FROZEN")
    yield from _flagged(doc, ctx, c, u, LF.UV, u.path, words[k], version, notes + ([var_why] if var_why else []), seen)


def _uv_pip(doc: Document, ctx, c: _Cmd, u):
    """``uv pip install -r pyproject.toml`` / ``uv pip install .``: uv's pip interface never reads a lock."""
    after = int(u.detail.get("after_sub", "1"))
    opts, pos, _ = options(u.words, after + 1, UV._PIP_VALUE)
    projects: list[tuple[str, str]] = []  # (directory in the image, how the command names it)
    for o in ("-r", "--requirement", "--requirements"):
        v = opts.get(o)
        if v and v.rsplit("/", 1)[-1] == "pyproject.toml":
            p = absolute(c.reader, v)
            if p:
                projects.append((p.rsplit("/", 1)[0] or "/", f"-r {v}"))
    for v in pos + [opts.get("-e") or "", opts.get("--editable") or ""]:
        bare = v.split("[", 1)[0]
        if bare in (".", "./") or bare.startswith(("./", "/", "../")):
            p = absolute(c.reader, bare)
            if p:
                projects.append((p, v))
    for project, named in projects:
        o = F.origin(doc, ctx, c.ins, H.join_path(project, "pyproject.toml"))
        if o.kind != "context" or o.rel is None:
            continue
        base = o.rel.rsplit("/", 1)[0] if "/" in o.rel else ""
        for flags, use in ((LF.UV, "uv sync --locked"), (LF.POETRY, "poetry install"), (LF.PDM, "pdm sync")):
            lock_rel = f"{base}/{flags.lock}" if base else flags.lock
            if LK.in_context(ctx, lock_rel):
                yield _finding(
                    f"`uv pip {u.sub} {named}` does not read {flags.lock}: it resolves the project's dependencies "
                    f"afresh, ignoring the lock in the build context; use {use}",
                    c.cmd.start,
                    c.cmd.end,
                    note=f"`{use}` installs into the project's environment, not where `uv pip` installs",
                )
                break


# -- poetry, pdm, pipenv ---------------------------------------------------------------------------------------------
def _project_install(doc: Document, ctx, c: _Cmd, u, seen: _Seen):
    tool = u.tool
    flags = LF.BY_TOOL[tool]
    words = u.words
    k = _sub_index(words, 1, _VALUES[tool])
    if k is None:
        return
    opts, pos, _ = options(words, k + 1, _VALUES[tool])
    env = SI.command_env(doc, c.ins, c.cmd)
    expanded, var_why = _variable_words(doc, c, env)
    given = set(opts) | expanded
    notes = [var_why] if var_why else []
    project = u.path if tool == "pdm" else c.reader.cwd
    if tool == "poetry":
        for o in ("-C", "--directory", "-P", "--project"):
            if opts.get(o):
                project = absolute(c.reader, opts[o])
    if project is None:
        return
    lock = H.join_path(project, flags.lock)
    if tool == "pipenv":
        if pos or given & {"-r", "--requirements"}:
            if u.sub == "install":
                yield _finding(
                    f"`pipenv install {' '.join(pos) or '-r ...'}` adds packages to the Pipfile and re-locks during "
                    "the build: the image gets whatever the index serves that day; add them to the Pipfile and "
                    "commit Pipfile.lock",
                    c.cmd.start,
                    c.cmd.end,
                    note="the packages are not in the committed lock",
                )
            return
        if "--skip-lock" in given:
            yield _finding(
                "`pipenv install --skip-lock` ignores Pipfile.lock and installs what the Pipfile's ranges resolve to "
                "that day; install from the lock (`pipenv install --deploy` or `pipenv sync`)",
                c.cmd.start,
                c.cmd.end,
                note="dropping --skip-lock changes what the build installs",
            )
            return
        pipfile = env.get("PIPENV_PIPFILE")
        if pipfile is not None:
            if not pipfile.certain or "$" in pipfile.value:
                return
            lock = H.join_path(project, pipfile.value).rsplit("/", 1)[0] + "/Pipfile.lock"
    if tool == "pdm":
        named = opts.get("-L") or opts.get("--lockfile")
        env_lock = env.get("PDM_LOCKFILE")
        if named:
            p = absolute(c.reader, named)
            if p is None:
                return
            lock = p
        elif env_lock is not None:
            if not env_lock.certain:
                return
            lock = H.join_path(project, env_lock.value)
    if u.sub == "sync":
        return  # `pdm sync`, `pipenv sync`, `poetry sync` install the lock as it is (a missing one fails)
    if tool == "poetry":
        missing = _lock_needed(doc, ctx, c, flags, project, lock, seen)[1]
        if missing is not None:
            yield missing
        return
    if given & flags.from_lock or (flags.env and _env_flag(env, flags.env)[0] != "unset"):
        if tool == "pipenv":  # `pipenv install --deploy` without a Pipfile.lock locks afresh (pypa/pipenv#4758)
            missing = _lock_needed(doc, ctx, c, flags, project, lock, seen)[1]
            if missing is not None:
                yield missing
        return  # from the lock (or an environment variable may make it so: a finding would be a guess)
    version = LK.tool_version(doc, c.ins, tool)
    yield from _flagged(doc, ctx, c, u, flags, project, words[k], version, notes, seen, lock=lock, given=given)


# -- the lock in the image, and the flag ---------------------------------------------------------------------------
def _lock_needed(doc: Document, ctx, c: _Cmd, flags: LF.LockFlags, project: str, lock: str, seen: _Seen):
    """(where the lock is at the install, a finding when it is not in the image: the install resolves afresh).
    No finding when a re-lock of the same tool ran before (that one is reported)."""
    pres = LK.presence(doc, ctx, c.ins, lock)
    d = lock.rsplit("/", 1)[0] or "/"
    while pres.state == "absent" and d != "/":
        # the tools look upwards for their project (a uv workspace's lock is at its root): a lock in a parent
        # directory may be the one the install reads
        d = d.rsplit("/", 1)[0] or "/"
        up = LK.presence(doc, ctx, c.ins, H.join_path(d, flags.lock))
        if up.state != "absent":
            # whether the project is that workspace's member is not read: presence unknown, no fix
            pres = LK.Presence("unknown", f"{flags.lock} is in {d}, a parent of the project directory", up.rel)
    if pres.state != "absent" or _relocked_before(doc, c.ins, flags.tool, seen):
        return pres, None
    manifest = H.join_path(project, flags.manifest)
    m = F.origin(doc, ctx, c.ins, manifest)
    lock_rel = None
    if m.kind == "context" and m.rel is not None:
        base = m.rel.rsplit("/", 1)[0] if "/" in m.rel else ""
        lock_rel = f"{base}/{flags.lock}" if base else flags.lock
    elif pres.rel is not None:
        lock_rel = pres.rel
    fix = None
    note = ""
    if lock_rel is not None and LK.in_context(ctx, lock_rel):
        why = f"{flags.lock} is in the build context but not copied before this install"
        later = _copied_later(doc, ctx, c.ins, lock)
        if later:
            why += f" (line {later} copies it only afterwards)"
        hit = LK.copy_fix(doc, ctx, c.ins, manifest, flags.lock)
        if hit is not None:
            fix = Fix.unsafe(
                *hit[0],
                reason=f"the install then uses {hit[1]} instead of resolving afresh: other versions than the build "
                f"installed so far, and a lock that no longer matches {flags.manifest} makes "
                f"{'poetry 2 fail' if flags.tool == 'poetry' else flags.tool + ' re-lock or fail'}",
                description=f"copy {hit[1]} with {flags.manifest}",
                relies_on=(f"{hit[1]} is in the build context next to {m.rel}",),
            )
        else:
            note = f"the COPY that brings {flags.manifest} cannot take {flags.lock} as a second source here"
    else:
        excluded = LK.excluded_by(ctx, lock_rel) if lock_rel and ctx.context_dir is not None else None
        if excluded:
            why = f"{lock_rel} is left out of the build context by {excluded}"
            note = f"drop {lock_rel} from {excluded} so that the build can read it"
        else:
            why = f"there is no {flags.lock} in the build context"
            note = f"commit a {flags.lock} (`{flags.tool} lock`) and copy it with {flags.manifest}"
    return pres, _finding(
        f"`{c.label}` runs without {flags.lock} in the image ({why}): it resolves the dependencies afresh, so "
        "each build can install different versions",
        c.cmd.start,
        c.cmd.end,
        fix,
        note="" if fix else note,
    )


def _copied_later(doc: Document, ctx, ins: Instruction, path: str) -> int | None:
    """The line of a later COPY of the same stage that puts ``path`` there (after the install needed it)."""
    stage = doc.stage_of(ins)
    for i in stage.instructions if stage is not None else ():
        if i.index > ins.index and i.keyword in ("COPY", "ADD"):
            if any(F._match(ctx, e, path) for e in F.copies(doc, i) or ()):
                return i.start_line
    return None


def _flagged(
    doc: Document,
    ctx,
    c: _Cmd,
    u,
    flags: LF.LockFlags,
    project: str,
    sub_word: Word,
    version: LK.ToolVersion,
    notes: list[str],
    seen: _Seen,
    lock: str | None = None,
    given: set[str] | None = None,
):
    lock = lock or H.join_path(project, flags.lock)
    pres, missing = _lock_needed(doc, ctx, c, flags, project, lock, seen)
    if missing is not None:
        yield missing
    if pres.state == "absent":
        return  # reported as missing (or a re-lock before it is)
    label = f"{flags.tool} {sub_word.value}"
    frozen = flags.tool == "pdm" and given is not None and given & {"--frozen-lockfile", "--no-lock"}
    if frozen:
        msg = (
            f"`{label} {sorted(frozen)[0]}` still resolves when pdm.lock no longer matches pyproject.toml (the "
            "option only stops pdm writing the lock): the image gets the new resolution, not the lock"
        )
    else:
        others = " or ".join(sorted(flags.from_lock - {flags.fix}))
        msg = (
            f"`{label}` may re-lock during the build: without {flags.fix}{' (or ' + others + ')' if others else ''}, "
            f"{flags.tool} resolves again when {flags.lock} no longer matches {flags.manifest} and installs that "
            "instead of the lock"
        )
    why_not = list(notes)
    lacks = LK.may_lack(version, flags.since)
    if lacks:
        why_not.insert(0, f"{lacks}, the first {flags.tool} with {flags.fix}")
    if pres.state == "unknown":
        why_not.append(f"whether {flags.lock} is in the image at this install cannot be told ({pres.why})")
    if flags.tool == "pipenv" and pres.text:
        mismatch = _pipenv_python_mismatch(doc, c.ins, pres.text)
        if mismatch:
            why_not.append(mismatch)
    if why_not:
        yield _finding(msg, c.cmd.start, c.cmd.end, None, note="; ".join(why_not))
        return
    reason = (
        f"with {flags.fix}, {flags.fix_does}: a build whose lock is stale fails where it used to succeed (slimml "
        f"cannot tell statically whether {flags.lock} matches {flags.manifest}; that takes a resolution)"
    )
    if version.state == "unknown":
        reason += (
            f"; the {flags.tool} version in the image cannot be told from the Dockerfile and {flags.fix} needs "
            f"{flags.tool} {flags.since} or later"
        )
    if flags.tool == "pipenv":
        reason += "; --deploy also aborts when the lock's python_version is not the image's Python"
    fix = Fix.unsafe(
        H.insert_after_word(sub_word, flags.fix),
        reason=reason,
        description=f"add {flags.fix}",
        relies_on=(f"{flags.lock} is in the image at the install ({pres.why})", f"documented: {flags.source}"),
    )
    yield _finding(msg, c.cmd.start, c.cmd.end, fix)


def _pipenv_python_mismatch(doc: Document, ins: Instruction, lock_text: str) -> str | None:
    """Why ``--deploy`` would abort on the lock's ``python_version`` (the image's Python differs), or None."""
    try:
        want = ((json.loads(lock_text).get("_meta") or {}).get("requires") or {}).get("python_version")
    except (ValueError, AttributeError):
        return "Pipfile.lock does not parse as JSON"
    if not want:
        return None
    have = _image_python(doc, ins)
    if have is not None and have != str(want):
        return f"--deploy aborts because Pipfile.lock wants Python {want} and the image has {have}"
    return None


def _image_python(doc: Document, ins: Instruction) -> str | None:
    from ...knowledge import images as IMG

    stage = doc.stage_of(ins)
    if stage is None:
        return None
    root = B.stage_chain(doc, stage)[-1]
    ref = B.from_image(doc, root)
    img = IMG.parse_image(ref)
    if IMG.family(img) != "python":
        return None
    pt = IMG.python_tag(img.tag)
    if pt is None or not pt.version or pt.version.count(".") < 1:
        return None
    return ".".join(pt.version.split(".")[:2])
