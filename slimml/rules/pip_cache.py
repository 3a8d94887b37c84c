"""Package caches left in the image by pip, uv, conda/mamba and poetry.

What it does
    Finds every ``pip install|wheel|download`` (``pip``, ``pip3``, ``pip3.11``, ``/opt/venv/bin/pip``,
    ``python -m pip``, ``python3.11 -m pip``, behind ``sudo``/``env``/``xargs``, env-prefixed, after
    ``&&``/``;``/``|``, inside ``if``/``for`` and heredoc scripts) and adds ``--no-cache-dir``;
    ``uv pip install``/``uv sync`` get ``--no-cache``; ``conda``/``mamba``/``micromamba``
    install/create/update get their ``clean`` command at the end of the same RUN; ``poetry install``
    gets its cache directory removed in the same RUN.

Why
    The download cache is written into the same layer as the packages and stays in the image for
    ever: for ML stacks (torch, CUDA wheels) that is hundreds of MB to several GB of nothing.

Example
    RUN pip install -r requirements.txt

Use instead
    RUN pip install --no-cache-dir -r requirements.txt

    With ``--cache-mounts`` (option ``cache-mounts = true``), a BuildKit cache mount keeps the cache
    *outside* the image and across builds, for faster rebuilds:

    RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt

Exempt: ``PIP_NO_CACHE_DIR``/``UV_NO_CACHE`` set truthy in the stage or on the command (uv's
``--no-cache-dir``/``-n`` spellings included: uv refuses the option twice), RUNs with a cache mount
over the tool's cache directory, and installs whose cache a later install reads without the network
(``uv ... --offline``, ``UV_OFFLINE=1``, ``conda install --offline``, ``RUN --network=none``):
those keep their cache, with a note.
"""

from __future__ import annotations

import bisect

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, Word, run_scripts
from ..engine import Edit, Fix
from ..knowledge import python_tools as K
from ..knowledge import sizes as S
from ..semantics import build as B
from . import _helpers as H
from . import _ship as SHIP

CODE = "SLM001"
NAME = "pip-no-cache"
SUMMARY = "Package-manager download caches (pip, uv, conda, poetry) left in the layer"
OPTIONS = {"cache-mounts": (False, "use BuildKit cache mounts instead of disabling the cache")}

_RULE = H.rule_of(__name__)


def _effective(cmd: Command) -> list[Word]:
    """The command's words with wrappers (``sudo -E``, ``env A=1``, ``micromamba run -n x``) stripped."""
    return cmd.words[cmd.unwrapped() :]


def _subcommand(words: list[Word], start: int, with_value=frozenset()) -> int | None:
    i = start
    while i < len(words):
        v = words[i].value
        if v in with_value:
            i += 2
            continue
        if not v.startswith("-"):
            return i
        i += 1
    return None


def classify(cmd: Command) -> tuple[str, list[Word], int] | None:
    """(tool, words, index of the subcommand word whose invocation caches) or None."""
    shape = cmd.cached("slm001-classify", lambda: _shape(cmd))  # depends on the values only
    if shape is None:
        return None
    tool, i = shape
    return tool, _effective(cmd), i


def _shape(cmd: Command) -> tuple[str, int] | None:
    hit = _classify(cmd)
    return None if hit is None else (hit[0], hit[2])


def _classify(cmd: Command) -> tuple[str, list[Word], int] | None:
    words = _effective(cmd)
    if not words:
        return None
    prog = H.basename(words[0].value)
    if K.PIP_RE.match(prog):
        i = _subcommand(words, 1, K.PIP_GLOBAL_OPTS_WITH_VALUE)
        if i is not None and words[i].value in K.PIP_CACHING_SUBCOMMANDS:
            return "pip", words, i
        return None
    if K.PYTHON_RE.match(prog):
        i = 1
        while i < len(words):
            v = words[i].value
            if v == "-m" and i + 1 < len(words) and words[i + 1].value == "pip":
                j = _subcommand(words, i + 2, K.PIP_GLOBAL_OPTS_WITH_VALUE)
                break
            if v == "-mpip":
                j = _subcommand(words, i + 1, K.PIP_GLOBAL_OPTS_WITH_VALUE)
                break
            if not v.startswith("-") or v in ("-c", "-m"):
                return None  # a script, -c code or another module
            i += 1
        else:
            return None
        if j is not None and words[j].value in K.PIP_CACHING_SUBCOMMANDS:
            return "pip", words, j
        return None
    if prog == "uv":
        rest = [w.value for w in words[1:] if not w.value.startswith("-")]
        for sub in K.UV_CACHING:
            if tuple(rest[: len(sub)]) == sub:
                idx = next(k for k, w in enumerate(words) if k > 0 and w.value == sub[-1])
                return "uv", words, idx
        return None
    if prog in K.CONDA_TOOLS:
        rest = [w.value for w in words[1:] if not w.value.startswith("-")]
        for sub in K.CONDA_CACHING:
            if tuple(rest[: len(sub)]) == sub:
                idx = next(k for k, w in enumerate(words) if k > 0 and w.value == sub[-1])
                return prog, words, idx
        return None
    if prog == "poetry":
        i = _subcommand(words, 1)
        if i is not None and (words[i].value,) in K.POETRY_CACHING:
            return "poetry", words, i
    return None


def _home(doc: Document, instr: Instruction) -> str | None:
    user = H.user_at(doc, instr)
    return "/root" if user in (None, "root", "0") else None


def _exempt(tool: str, cmd: Command, words: list[Word], env: dict, instr: Instruction, doc: Document) -> bool:
    env = {**env, **cmd.assignments}
    home = _home(doc, instr) or "/home"
    values = [w.value for w in words]
    if tool == "pip":
        if K.PIP_NO_CACHE_FLAG in values or any(v.startswith(K.PIP_NO_CACHE_FLAG + "=") for v in values):
            return True
        if H.env_truthy(env, "PIP_NO_CACHE_DIR"):
            return True
        cache_dirs = [K.PIP_CACHE_DIR.format(home=home)]
        if env.get("PIP_CACHE_DIR"):
            cache_dirs.append(env["PIP_CACHE_DIR"])
        if "--cache-dir" in values and values.index("--cache-dir") + 1 < len(values):
            cache_dirs = [values[values.index("--cache-dir") + 1]]
        return H.cache_mount_covers(instr, *cache_dirs)
    if tool == "uv":
        if _uv_no_cache(values) or H.env_truthy(env, "UV_NO_CACHE"):
            return True
        dirs = [K.UV_CACHE_DIR.format(home=home)] + ([env["UV_CACHE_DIR"]] if env.get("UV_CACHE_DIR") else [])
        return H.cache_mount_covers(instr, *dirs)
    if tool == "poetry":
        dirs = [K.POETRY_CACHE_DIR.format(home=home)] + (
            [env["POETRY_CACHE_DIR"]] if env.get("POETRY_CACHE_DIR") else []
        )
        return "--no-cache" in values or H.cache_mount_covers(instr, *dirs)
    # conda family
    dirs = [d.format(home=home) for d in K.CONDA_PKGS_DIRS]
    if env.get("CONDA_PKGS_DIRS"):
        dirs.append(env["CONDA_PKGS_DIRS"].split(",")[0])
    return H.cache_mount_covers(instr, *dirs)


def _uv_no_cache(values: list[str]) -> bool:
    """uv already has its no-cache option in one of its spellings (adding it again is an error)."""
    for v in values:
        if v == "--":
            return False
        if v in K.UV_NO_CACHE_SPELLINGS or v.split("=", 1)[0] in K.UV_NO_CACHE_SPELLINGS:
            return True
        if (
            v.startswith("-")
            and not v.startswith("--")
            and len(v) > 2
            and "n" in v[1:]
            and set(v[1:]) <= K.UV_SHORT_BOOLEAN_FLAGS
        ):
            return True
    return False


def _cleaned(doc: Document, instr: Instruction, tool: str) -> bool:
    """The RUN already cleans the tool's cache after installing."""
    for s in run_scripts(doc, instr):
        for c in s.commands:
            w = [x.value for x in _effective(c)]
            if not w:
                continue
            prog = H.basename(w[0])
            if prog in K.CONDA_TOOLS and tool in K.CONDA_TOOLS and "clean" in w:
                return True
            if tool == "poetry" and prog == "rm" and any("pypoetry" in x or "cache-dir" in x for x in w):
                return True
    return False


def _cache_paths(
    doc: Document, instr: Instruction, tool: str, cmd: Command, words: list[Word], env: dict
) -> tuple[str | None, ...]:
    """Where ``cmd`` leaves its cache (None: a place slimml cannot tell), for the size claim."""
    env = {**env, **cmd.assignments}
    values = [w.value for w in words]
    if "--cache-dir" in values and values.index("--cache-dir") + 1 < len(values):
        return (values[values.index("--cache-dir") + 1],)
    given = next((v.split("=", 1)[1] for v in values if v.startswith("--cache-dir=")), None)
    if given is not None:
        return (given if "$" not in given else None,)
    spec = {
        "pip": ("PIP_CACHE_DIR", K.PIP_CACHE_DIR),
        "uv": ("UV_CACHE_DIR", K.UV_CACHE_DIR),
        "poetry": ("POETRY_CACHE_DIR", K.POETRY_CACHE_DIR),
    }.get(tool)
    if spec is None:  # conda family: <root prefix>/pkgs, and the root prefix is not known
        return (env["CONDA_PKGS_DIRS"].split(",")[0],) if env.get("CONDA_PKGS_DIRS") else (None,)
    return (SHIP.cache_dir(doc, instr, env, *spec),)


_MOUNT_TARGETS = {"pip": K.PIP_CACHE_DIR, "uv": K.UV_CACHE_DIR, "poetry": K.POETRY_CACHE_DIR}


def _offline_reader(doc: Document, instr: Instruction, cmd: Command, tool: str) -> str:
    """A later install of the same tool that reads its cache instead of the network (``--offline``,
    ``UV_OFFLINE=1``, a RUN with ``--network=none``): "" when there is none."""
    if tool == "pip":
        return ""  # pip never installs from its HTTP cache without an index
    # The same commands, in the same order, as walking this RUN's later commands and then every RUN of
    # ``A.later_users`` (which come in file order: this stage's later ones, then the stages built FROM it);
    # only the offline installs are looked at, found once per document.
    stage = doc.stage_of(instr)
    family = {stage.index} | {st.index for st in B.descendants(doc, stage)} if stage is not None else set()
    offline, indexes = _offline_installs(doc)
    for ins, c, hit in offline[bisect.bisect_left(indexes, instr.index) :]:
        if ins.index == instr.index:
            if c.start <= cmd.end:
                continue
        elif ins.stage not in family:
            continue
        if hit[0] != tool and not (tool in K.CONDA_TOOLS and hit[0] in K.CONDA_TOOLS):
            continue
        values = [w.value for w in hit[1]]
        return f"`{' '.join(values[:3])}` on line {ins.start_line} installs from this cache without the network"
    return ""


def _offline_installs(doc: Document) -> tuple[list[tuple[Instruction, Command, tuple]], list[int]]:
    """Every install command of a RUN that reads its tool's cache instead of the network, in file order,
    with the RUNs' indexes: once per document (``_offline_reader`` is asked for every install)."""
    found = doc.__dict__.get("_pip_cache_offline")
    if found is None:
        out = []
        for ins in doc.instructions:
            if ins.keyword != "RUN":
                continue
            for s in run_scripts(doc, ins):
                for c in s.commands:
                    hit = classify(c)
                    if hit is not None and _offline(doc, ins, c, hit[0], hit[1]):
                        out.append((ins, c, hit))
        found = doc.__dict__["_pip_cache_offline"] = (out, [ins.index for ins, _, _ in out])
    return found


def _offline(doc: Document, ins: Instruction, c: Command, tool: str, words: list[Word]) -> bool:
    """``c`` installs from the tool's cache instead of the network."""
    env = {**H.stage_env(doc, ins), **c.assignments}
    net = ins.flag("network")
    return (
        any(w.value in K.OFFLINE_FLAGS.get(tool, ()) for w in words)
        or any(H.env_truthy(env, var) for var in K.OFFLINE_VARS.get(tool, ()))
        or (net is not None and (net.value or "").strip().lower() == "none")
    )


def check(doc: Document, ctx):
    use_mounts = bool(ctx.settings.option(CODE, NAME, "cache-mounts", False))
    for instr in doc.instructions:
        if instr.keyword != "RUN":
            continue
        env = H.stage_env(doc, instr)
        mount_tools: dict[str, list[Command]] = {}
        appended: set[str] = set()
        for script in run_scripts(doc, instr):
            for cmd in script.commands:
                hit = classify(cmd)
                if hit is None:
                    continue
                tool, words, sub = hit
                if _exempt(tool, cmd, words, env, instr, doc):
                    continue
                if tool == "uv" and _offline(doc, instr, cmd, tool, words):
                    continue  # it reads the cache: --no-cache would leave it nothing to install from
                if tool not in ("pip", "uv") and _cleaned(doc, instr, tool):
                    continue
                sfx, size = SHIP.size_claim(doc, instr, None, *_cache_paths(doc, instr, tool, cmd, words, env))
                offline = _offline_reader(doc, instr, cmd, tool)
                if offline:
                    yield H.finding(
                        _RULE,
                        f"`{' '.join(w.value for w in words[: sub + 1])}` keeps its package cache in the layer{sfx}",
                        cmd.start,
                        cmd.end,
                        None,
                        note=f"kept: {offline}",
                        **size,
                    )
                    continue
                home = _home(doc, instr)
                if use_mounts and home and tool in _MOUNT_TARGETS:
                    mount_tools.setdefault(tool, []).append(cmd)
                    continue
                label = " ".join(w.value for w in words[: sub + 1])
                if tool == "pip":
                    fix = Fix.safe(
                        H.insert_after_word(words[sub], K.PIP_NO_CACHE_FLAG),
                        description=f"add {K.PIP_NO_CACHE_FLAG}",
                        relies_on=("pip never installs from its HTTP cache without an index",),
                    )
                    if size:  # the stage does not ship: no size to estimate
                        yield H.finding(
                            _RULE,
                            f"`{label}` keeps pip's download cache in the layer; add --no-cache-dir{sfx}",
                            cmd.start,
                            cmd.end,
                            fix,
                            **size,
                        )
                    else:
                        yield H.finding(
                            _RULE,
                            f"`{label}` keeps pip's download cache in the layer; add --no-cache-dir",
                            cmd.start,
                            cmd.end,
                            fix,
                            **S.pip_cache_estimate(ctx, words, sub, doc, instr),
                        )
                elif tool == "uv":
                    fix = Fix.safe(
                        H.insert_after_word(words[sub], K.UV_NO_CACHE_FLAG),
                        description=f"add {K.UV_NO_CACHE_FLAG}",
                        relies_on=(
                            "the command has none of uv's no-cache spellings (--no-cache, --no-cache-dir, -n)",
                            "no later uv install reads the cache offline",
                        ),
                    )
                    yield H.finding(
                        _RULE,
                        f"`{label}` keeps uv's cache in the layer; add --no-cache{sfx}",
                        cmd.start,
                        cmd.end,
                        fix,
                        **size,
                    )
                else:
                    if tool in appended or _cleaned(doc, instr, tool):
                        continue
                    appended.add(tool)
                    prog = words[0].raw
                    clean = (
                        f"{prog} {K.CONDA_TOOLS[tool]}" if tool in K.CONDA_TOOLS else K.POETRY_CLEAN.format(poetry=prog)
                    )
                    edit = H.append_command(doc, instr, script, clean)
                    fix = Fix.safe(edit, description=f"run `{clean}` at the end of the RUN") if edit else None
                    yield H.finding(
                        _RULE,
                        f"`{label}` leaves its package cache in the layer; clean it in the same RUN{sfx}",
                        cmd.start,
                        cmd.end,
                        fix,
                        note="" if fix else "RUN mixes heredocs and commands; add the clean-up by hand",
                        **size,
                    )
        if mount_tools:
            edits: list[Edit] = []
            have = {m.get("target") for m in H.mounts(instr)}
            targets = []
            for tool in mount_tools:
                t = _MOUNT_TARGETS[tool].format(home="/root")
                if t not in have:
                    targets.append(t)
            if not targets:
                continue
            flag_text = "".join(f"--mount=type=cache,target={t} " for t in targets)
            kw_end = instr.start + len(instr.keyword_raw)
            edits.append(Edit(kw_end, kw_end, " " + flag_text.rstrip()))
            directive = H.add_syntax_directive(doc)
            if directive:
                edits.append(directive)
            first = next(iter(mount_tools.values()))[0]
            yield H.finding(
                _RULE,
                f"package cache written into the layer; mount it as a BuildKit cache ({', '.join(targets)})",
                first.start,
                first.end,
                Fix.safe(*edits, description="add a BuildKit cache mount"),
            )
