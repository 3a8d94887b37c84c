"""The fix for a loose pip / ``uv pip`` install: a lock resolved from the package index, wired in as ``-c``.

The lock (``requirements.lock`` next to the requirements file, ``<stem>.lock`` for another name, next to
the Dockerfile for specs given on the command line) pins every package the install resolves today for the
image's Python on linux. It is COPY'd where the install can read it -- the COPY that brings the
requirements file is extended when it copies into a directory, a new COPY follows it otherwise -- and the
install gets ``-c <lock>``: pip then installs exactly those versions, and the requirements file stays the
one people edit.

Hashes, where the project already uses them (another install of the Dockerfile is in pip's hash-checking mode):
the lock carries ``--hash`` lines and *replaces* the requirements file in the install (``-r requirements.lock``),
with the file's index options copied into it. ``-c`` cannot carry hashes: pip (23.2, checked against the local
test index) turns on hash-checking mode as soon as a constraints file carries ``--hash``, and then rejects every
requirement that is not itself ``==``-pinned -- even one the constraint pins ("all requirements must have their
versions pinned with =="). The replacement needs an install that reads exactly one requirements file and names
nothing on the command line; other shapes keep the finding without a fix. An install already in hash-checking
mode gets no fix: its requirements are pinned when it builds at all.

Everything the resolver cannot be told the way the build's pip sees it withdraws the fix, with the reason.
"""

from __future__ import annotations

import posixpath
import shlex

from ...deps import requirements as RQ
from ...dockerfile import Document
from ...engine import Edit, Fix
from ...semantics import files as F
from .. import _helpers as H
from . import pip as PIP

LOCK_NAME = "requirements.lock"
_HEADER = "# Exact versions for "
_OURS = "resolved by slimml"


def ours(text: str | None) -> bool:
    """A lock slimml wrote (its first line says so)."""
    if not text:
        return False
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return first.startswith(_HEADER) and _OURS in first


def lock_source(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first[len(_HEADER) :].split(", resolved by slimml", 1)[0]


def lock_name_for(rel: str) -> str:
    """``reqs/requirements.txt`` -> ``reqs/requirements.lock``; ``requirements-prod.txt`` -> ``requirements-prod.lock``."""
    d, base = posixpath.split(rel)
    name = LOCK_NAME if base == "requirements.txt" else (base.rsplit(".", 1)[0] if "." in base else base) + ".lock"
    return posixpath.join(d, name) if d else name


def blockers(doc: Document, ctx, ins: PIP.Install) -> list[str]:
    """Why a lock wired with ``-c`` would not be what this install does (empty: nothing found)."""
    out = list(ins.notes)
    p = ins.parsed
    if any("$" in w.value for w in ins.words[ins.sub + 1 :]):
        out.append("the command uses variables")
    if ins.has("--no-deps"):
        out.append("--no-deps installs no dependencies: a lock of the whole resolution is not what it installs")
    if ins.has(*PIP._UPGRADE) or "eager" in ins.option_values("--upgrade-strategy"):
        out.append("the command asks for the newest versions (-U / --upgrade-strategy eager)")
    if ins.has("--pre") or any(f == "--pre" for f, _ in p.flags):
        out.append("--pre allows pre-releases, which the resolver is not asked for")
    if ins.has(*PIP._OTHER_TARGET):
        out.append("the install targets another platform or Python (--platform/--python-version)")
    if (
        ins.has("--no-index")
        or any(f == "--no-index" for f, _ in p.flags)
        or H.env_truthy({k: v.value for k, v in ins.env.items()}, "PIP_NO_INDEX")
    ):
        out.append("--no-index: it installs from local links the resolver cannot see")
    if (
        ins.has("--require-hashes")
        or p.uses_hashes
        or H.env_truthy({k: v.value for k, v in ins.env.items()}, "PIP_REQUIRE_HASHES")
    ):
        out.append(
            "pip's hash-checking mode: a hashed lock in -c turns it on for requirements the lock does not "
            "replace; lock by hand with `pip-compile --generate-hashes` and install `-r` the lock"
        )
    if ins.projects:
        out.append(
            f"installs the local project `{ins.projects[0]}`: pin its dependencies where it declares them "
            "(pyproject.toml / setup.cfg)"
        )
    for r in p.requirements + p.constraints:
        if r.direct in ("path", "vcs") or r.editable:
            out.append(f"`{r.text}` ({r.where}) is a local path or VCS checkout the resolver cannot see")
            break
    for r in p.requirements + p.constraints:
        if r.variables:
            out.append(f"`{r.text}` ({r.where}) uses a variable")
            break
    if p.absolute:
        out.append(f"{p.absolute[0]} is named by an absolute path: the resolver would read the host's file")
    if p.unread:
        out.append(f"`{p.unread[0]}` cannot be read from the build context")
    if p.invalid:
        out.append(f"packaging rejects {p.invalid[0]}")
    for m in H.mounts(ins.instr):
        if m.get("type") in ("secret", "ssh"):
            out.append(f"the RUN mounts a {m['type']} (credentials the resolver would not have)")
            break
    out += _binary_and_env_blockers(doc, ctx, ins)
    w = PIP.config_writers(doc, ins.instr)
    if w:
        out.append(w)
    out += _image_blockers(doc, ins)
    return out


# Options the resolver is not given that change which versions pip picks, and the pip environment / pip.conf
# forms of the command-line options withdrawn above (pip reads every long option from PIP_<OPTION> and pip.conf).
_BINARY = {
    "--only-binary": "--only-binary makes pip skip versions without a wheel, which the resolver is not told: the lock "
    "may pin a version pip cannot install",
    "--no-binary": "--no-binary makes pip skip versions without an sdist, which the resolver is not told: the lock "
    "may pin a version pip cannot install",
    "--prefer-binary": "--prefer-binary makes pip take an older wheel over a newer sdist, which the resolver is not "
    "told: the lock may pin other versions than the build installs",
}
_ENV_FORMS = {
    "pre": "--pre allows pre-releases, which the resolver is not asked for",
    "upgrade": "the command asks for the newest versions (-U / --upgrade-strategy eager)",
    "only-binary": _BINARY["--only-binary"],
    "no-binary": _BINARY["--no-binary"],
    "prefer-binary": _BINARY["--prefer-binary"],
}
_FALSE = ("", "0", "false", "no", "off")


def _binary_and_env_blockers(doc: Document, ctx, ins: PIP.Install) -> list[str]:
    out = [why for opt, why in _BINARY.items() if ins.has(opt)]
    p = ins.parsed
    out += [_BINARY[o] for o in _BINARY if any(f == o for f, _ in p.flags) or any(o == k for k, _, _ in p.options)]
    if ins.tool != "pip":
        return out
    values: dict[str, list[str]] = {}
    for conf in PIP.pip_config(doc, ctx, ins.instr, ins).values():
        for k, vals in conf.items():
            values.setdefault(k, []).extend(vals)
    for key, why in _ENV_FORMS.items():
        v = ins.env.get("PIP_" + key.upper().replace("-", "_"))
        given = [v.value] if v is not None else values.get(key, [])
        if given and not all(x.strip().strip("'\"").lower() in _FALSE for x in given):
            out.append(f"{why} (set in the environment or pip.conf)")
    strategy = ins.env.get("PIP_UPGRADE_STRATEGY")
    if (strategy is not None and "eager" in strategy.value) or "eager" in values.get("upgrade-strategy", []):
        out.append(f"{_ENV_FORMS['upgrade']} (set in the environment or pip.conf)")
    return out


def _image_blockers(doc: Document, ins: PIP.Install) -> list[str]:
    """The image's platform, C library and working directory as the lock (and the path it is wired by) assume them."""
    from ...knowledge import images as IMG
    from ...semantics import build as B

    stage = doc.stage_of(ins.instr)
    if stage is None:
        return []
    chain = B.stage_chain(doc, stage)
    out = []
    if any("$" in (s.platform or "") for s in chain):
        out.append("a build argument chooses the image's platform: the lock is resolved for one")
    img = IMG.parse_image(B.from_image(doc, chain[-1]))
    pt = IMG.python_tag(img.tag) if IMG.family(img) == "python" else None
    if (
        "alpine" in (img.tag or "")
        or img.normalized.endswith("alpine")
        or (pt and (pt.variant or "").startswith("alpine"))
    ):
        out.append("an Alpine (musl) image: the lock is resolved for glibc (manylinux) wheels")
    for s in chain:
        for i in s.instructions:
            if i.index >= ins.instr.index:
                break
            if i.keyword == "WORKDIR" and "$" in i.args:
                out.append(f"line {i.start_line}: a variable in WORKDIR may move the lock away from where -c names it")
                return out
    return out


def index_options(doc: Document, ctx, ins: PIP.Install) -> tuple[str, ...] | str:
    """The index options the build's installer uses (command line over environment over config file), or
    why they cannot be told."""
    from ...semantics import installers as I

    env = ins.env
    home = "/root" if H.user_at(doc, ins.instr) in (None, "root", "0") else "/home"
    found = I.inputs("pip" if ins.tool == "pip" else "uv", env, ins.cwd or "/", home, PIP.reader(doc, ctx, ins.instr))
    if found.unknown:
        return found.unknown[0]
    if ins.tool == "pip":
        spec = (
            ("--index-url", ("-i", "--index-url"), ("PIP_INDEX_URL",), "index-url"),
            ("--extra-index-url", ("--extra-index-url",), ("PIP_EXTRA_INDEX_URL",), "extra-index-url"),
            ("--find-links", ("-f", "--find-links"), ("PIP_FIND_LINKS",), "find-links"),
            ("--trusted-host", ("--trusted-host",), ("PIP_TRUSTED_HOST",), "trusted-host"),
        )
        config: dict[str, list[str]] = {}
        for values in PIP.pip_config(doc, ctx, ins.instr, ins).values():
            for k, vs in values.items():
                config[k] = vs  # later files override earlier ones, as pip reads them
    else:
        read = PIP.reader(doc, ctx, ins.instr)
        configs = [f for f in found.files if f.endswith((".toml",)) and read(f) is not None]
        if configs:
            return f"uv reads `{configs[0]}` (its settings are not passed to the resolver)"
        spec = (
            ("--index-url", ("-i", "--index-url", "--default-index"), ("UV_INDEX_URL", "UV_DEFAULT_INDEX"), ""),
            ("--extra-index-url", ("--extra-index-url", "--index"), ("UV_EXTRA_INDEX_URL", "UV_INDEX"), ""),
            ("--find-links", ("-f", "--find-links"), ("UV_FIND_LINKS",), ""),
            ("--trusted-host", ("--trusted-host", "--allow-insecure-host"), ("UV_INSECURE_HOST",), ""),
        )
        config = {}
    out: list[str] = []
    for canon, flags, variables, key in spec:
        values = ins.option_values(*flags)
        if not values:
            for var in variables:
                v = env.get(var)
                if v is not None and v.value.strip():
                    if not v.certain:
                        return f"{var} comes from a build argument"
                    values = v.value.split()
                    break
        if not values and key:
            values = config.get(key, [])
        for val in values:
            out += [canon, val]
    for opt, val, where in ins.parsed.options:
        if opt in RQ.INDEX_OPTS or opt in RQ.LINK_OPTS:
            out_opt = RQ.INDEX_OPTS.get(opt) or RQ.LINK_OPTS[opt]
            if "$" in val:
                return f"`{opt}` in {where} uses a variable"
            if not val.startswith(("http://", "https://")):
                return f"`{opt} {val}` in {where} names a local directory the resolver cannot see"
            del out_opt  # the file itself carries it to the resolver
    for i in range(0, len(out), 2):
        val = out[i + 1]
        if "$" in val:
            return f"`{out[i]}` uses a variable"
        if out[i] != "--trusted-host" and not val.startswith(("http://", "https://")):
            return f"`{out[i]} {val}` names a local directory the resolver cannot see"
    if ins.tool == "uv":
        named = [out[i] for i in range(0, len(out), 2) if out[i] in ("--index-url", "--extra-index-url")]
        named += [RQ.INDEX_OPTS[o] for o, _, _ in ins.parsed.options if o in RQ.INDEX_OPTS]
        n = len(named) + (0 if "--index-url" in named else 1)  # PyPI stays the default index
        if n > 1:
            return "uv takes each package from the first index that has it; the lock is resolved across all of them"
    return tuple(out)


def _copy_keyword(raw: str) -> str:
    return "copy" if raw.islower() else "COPY"


def _copy_edits(doc: Document, ctx, ins: PIP.Install, req_img: str, lock_rel: str) -> tuple[list[Edit], str] | str:
    """(edits, the lock's path in the image) putting the lock next to the requirements file, or why not."""
    from ... import dockerignore as DI

    if PIP.bind_source(doc, ins.instr, req_img) is not None:
        return "the requirements file comes from a bind mount: mount the lock next to it by hand"
    o = F.origin(doc, ctx, ins.instr, req_img)
    if o.kind == "heredoc":
        return "the requirements file is written by a heredoc: there is no context file to lock next to"
    if o.kind != "context" or o.instr is None:
        return o.why or "the requirements file does not come from the build context"
    copy = o.instr
    if copy.flag("parents") is not None:
        return f"line {copy.start_line} copies with --parents: where the lock would land is not read here"
    if copy.heredocs:
        return f"line {copy.start_line} mixes heredocs into the COPY"
    if DI.is_excluded(lock_rel, H.copy_excludes(copy)):
        return f"line {copy.start_line}'s --exclude leaves out {lock_rel}"
    lock_img = posixpath.join(posixpath.dirname(req_img), posixpath.basename(lock_rel))
    entry = next((e for e in reversed(F.copies(doc, copy) or []) if F._match(ctx, e, req_img) is not None), None)
    if entry is None:
        return f"line {copy.start_line}: which source brings the requirements file is not clear"
    if entry.how == "dir" or ctx.is_dir(entry.src):
        return [], lock_img  # the directory COPY brings the lock along
    src_word = posixpath.join(posixpath.dirname(entry.src), posixpath.basename(lock_rel))
    if entry.how == "into":
        slash = [e for e in [H.dest_as_directory(copy)] if e is not None]  # a second source needs `dest/`
        if copy.is_exec_form:
            at = copy.args_offset(copy.args.rstrip().rfind(",") + 1)
            return [Edit(at, at, f' "{src_word}",'), *slash], lock_img
        from ...dockerfile import shell_words

        words = shell_words(copy.args, raw=True)
        at = copy.args_offset(words[-1][1])
        return [Edit(at, at, f"{src_word} "), *slash], lock_img
    # A file copied to a file path: a COPY of its own, with the same owner and mode.
    flags = "".join(f"{f.raw} " for f in copy.flags if f.name in ("chown", "chmod"))
    line = f"{_copy_keyword(copy.keyword_raw)} {flags}{src_word} {lock_img}"
    end = copy.line_end
    if end >= len(doc.text) and not doc.text.endswith(("\n", "\r")):
        return [Edit(end, end, doc.newline + line)], lock_img
    return [Edit(end, end, line + doc.newline)], lock_img


def plan(doc: Document, ctx, ins: PIP.Install, resolve) -> tuple[Fix | None, str]:
    """(the fix, "") or (None, why it is withdrawn). ``resolve`` is ``slimml.deps.resolve``."""
    from ... import dockerignore as DI

    problem = ctx.side_files_problem()
    if problem:
        return None, f"the lock has nowhere certain to go: {problem}"
    if ins.target.python is None:
        return None, (
            "the image's Python version is not known (the base is not a python:X.Y image, or a build argument "
            "chooses it): nothing to resolve for"
        )
    why = blockers(doc, ctx, ins)
    if why:
        return None, why[0]
    index = index_options(doc, ctx, ins)
    if isinstance(index, str):
        return None, index
    cwd = ins.cwd or "/"
    first_r = next((v for k, v in ins.specs if k == "-r"), None)
    if first_r is not None:
        req_img = RQ._abs(first_r, cwd)
        if PIP.bind_source(doc, ins.instr, req_img) is not None:
            return None, "the requirements file comes from a bind mount: mount the lock next to it by hand"
        o = F.origin(doc, ctx, ins.instr, req_img)
        if o.kind == "heredoc":
            return None, "the requirements file is written by a heredoc: there is no context file to lock next to"
        rel = o.rel if o.kind == "context" else None
        if rel is None:
            return None, o.why or f"`{first_r}` does not come from the build context"
        lock_rel = lock_name_for(rel)
        source = rel
    else:
        here = ctx.relative(ctx.dockerfile.parent) if ctx.dockerfile is not None else "."
        if here is None:
            return None, "the Dockerfile is outside the build context: a lock next to it could not be COPY'd"
        lock_rel = LOCK_NAME if here in ("", ".") else f"{here}/{LOCK_NAME}"
        source = ctx.dockerfile.name if ctx.dockerfile is not None else "the Dockerfile"
        lock_img = H.join_path(cwd, LOCK_NAME)
        other = next(
            (i for i in doc.instructions if i.keyword == "RUN" and i is not ins.instr and lock_img in i.text(doc.text)),
            None,
        )
        if other is not None:
            return None, f"{lock_rel} already locks the install on line {other.start_line}"
    shared = _shared_with_another_image(doc, ins, posixpath.basename(lock_rel))
    if shared:
        return None, shared
    existing = ctx.read_context_file(lock_rel)
    if existing is not None and not ours(existing):
        return None, f"{lock_rel} exists and was not written by slimml"
    if existing is not None and lock_source(existing) != source:
        return None, f"{lock_rel} already locks {lock_source(existing)}"
    ignore_rel = H.ignore_file(ctx)
    ignore_text = ctx.read_context_file(ignore_rel) if ignore_rel else None
    if ignore_text:
        try:
            patterns = DI.parse_patterns(ignore_text)
        except DI.PatternError:
            return None, f"{ignore_rel} cannot be read as Docker reads it"
        if DI.is_excluded(lock_rel, patterns):
            return None, f"{ignore_rel} leaves {lock_rel} out of the build context: re-include it (`!{lock_rel}`) first"
    if first_r is not None:
        lock_img = posixpath.join(posixpath.dirname(req_img), posixpath.basename(lock_rel))
    placed = F.origin(doc, ctx, ins.instr, lock_img)
    if placed.kind == "context" and placed.rel == lock_rel:
        copy_edits: list[Edit] = []  # the lock is in the image already: regenerate it in place
    elif first_r is not None:
        got = _copy_edits(doc, ctx, ins, req_img, lock_rel)
        if isinstance(got, str):
            return None, got
        copy_edits, lock_img = got
    else:
        kw = _copy_keyword(ins.instr.keyword_raw)
        above = doc.preceding_trivia(ins.instr)  # comments above the RUN stay with it (`# slimml: ignore`)
        at = above[0].line_start if above else ins.instr.line_start
        indent = doc.text[ins.instr.line_start : ins.instr.start]
        copy_edits = [Edit(at, at, f"{indent}{kw} {lock_rel} {lock_img}{doc.newline}")]
    hashed = _project_hashes(doc, ctx, ins)
    replace: Edit | None = None
    if hashed:
        got_r = _replace_requirement(ins, first_r, lock_img) if first_r is not None else None
        if got_r is None:
            return None, (
                f"the project installs with hashes ({hashed}): a hashed lock must replace the requirements file "
                "(-r), which needs an install of exactly one requirements file and nothing named on the command line"
            )
        replace = got_r
    req = _request(ins, resolve, index, hashes=bool(hashed))
    try:
        lock = resolve.resolve(req)
    except resolve.ResolveError as e:
        return None, f"the resolver failed: {e}"
    pinned = {p.name for p in lock.pins}
    missing = [r.name for r in ins.loose() if r.name not in pinned]
    if missing:  # wired in, it would leave them loose: the rule would fire on its own output
        return None, f"the resolved lock does not pin {', '.join(missing[:3])}"
    text = lock.text(source)
    if replace is not None:
        text = _with_index_lines(text, ins)
    edits = list(copy_edits)
    if text != existing:
        edits.append(Edit(0, len(existing or ""), text, path=lock_rel))
    wired = {RQ._abs(v, cwd) for k, v in ins.specs if k == "-c"} | {RQ._abs(c, cwd) for c in ins.env_constraints}
    if replace is not None:
        edits.append(replace)
    elif lock_img not in wired:
        last = ins.words[-1]
        edits.append(Edit(last.end, last.end, f" -c {shlex.quote(lock_img)}"))
    if not edits:
        return None, f"{lock_rel} is current and wired in already"
    fix = Fix.unsafe(
        *edits,
        reason=(
            (
                f"the project installs with hashes ({hashed}), so {lock_rel} carries them and replaces {source} "
                f"in this install (-r): keep it current with {source}; "
                if replace is not None
                else ""
            )
            + f"{lock_rel} pins the {len(lock.pins)} versions the package index resolves today for Python "
            f"{ins.target.python} on linux/{ins.target.machine}; the build installs exactly those from now on "
            "(not the newest): check the app with them (`slimml measure --verify`) and regenerate the lock "
            f"with `slimml fix --resolve --unsafe-fixes` after editing {source}"
        ),
        description=(
            f"lock {source} with hashes in {lock_rel} and install -r {lock_img}"
            if replace is not None
            else f"lock {source} in {lock_rel} and install with -c {lock_img}"
        ),
        relies_on=(
            "the index options the build's installer uses are all known (command line, file, ENV, config)",
            f"the image's Python is {ins.target.python}",
            f"{lock_rel} reaches the image at {lock_img}",
        ),
    )
    return fix, ""


def _shared_with_another_image(doc: Document, ins: PIP.Install, lock_name: str) -> str:
    """Another RUN already installs with a lock of this name for another Python or machine: one lock cannot be
    resolved for both ("" when there is none)."""
    for other in doc.instructions:
        if other.keyword != "RUN" or other is ins.instr or lock_name not in other.text(doc.text):
            continue
        py, machine = PIP.image_python(doc, other), PIP.image_machine(doc, other)
        if (py, machine) != (ins.target.python, ins.target.machine):
            return f"{lock_name} already serves line {other.start_line}, built for Python {py or '(unknown)'}/{machine}"
    return ""


def _request(ins: PIP.Install, resolve, index: tuple[str, ...], hashes: bool = False):
    cwd = ins.cwd or "/"
    lines: list[str] = []
    skip: set[str] = {p for p, t in ins.parsed.files.items() if ours(t)}  # a lock of ours is regenerated
    for k, v in ins.specs:
        if k == "req":
            lines.append(v)
        elif k in ("-r", "-c"):
            p = RQ._abs(v, cwd)
            if p not in skip:
                lines.append(f"{k} {p.lstrip('/')}")
    for c in ins.env_constraints:
        p = RQ._abs(c, cwd)
        if p not in skip:
            lines.append(f"-c {p.lstrip('/')}")
    files = tuple((p.lstrip("/"), t) for p, t in ins.parsed.files.items() if p not in skip)
    return resolve.Request(
        lines=tuple(lines),
        files=files,
        index=index,
        target=resolve.Target(python=ins.target.python, machine=ins.target.machine),
        hashes=hashes,
    )


def _project_hashes(doc: Document, ctx, ins: PIP.Install) -> str:
    """Where the project installs with hashes (another install of this Dockerfile in pip's hash-checking mode:
    ``--hash`` lines or ``--require-hashes``), as "line N"; "" when it does not."""
    for other in PIP.installs(doc, ctx):
        if other.instr is ins.instr and other.cmd.start == ins.cmd.start:
            continue
        if other.tool == "pip" and (other.parsed.uses_hashes or other.has("--require-hashes")):
            return f"line {other.instr.start_line}"
    return ""


def _replace_requirement(ins: PIP.Install, first_r: str, lock_img: str) -> Edit | None:
    """The edit putting the lock in place of the install's only requirements file (``-r FILE`` -> ``-r LOCK``);
    None when the install reads more than that one file or names requirements itself."""
    if [k for k, _ in ins.specs if k != "-c"] != ["-r"] or ins.tool != "pip":
        return None
    words = ins.words[ins.sub + 1 :]
    for i, w in enumerate(words):
        v = w.value
        if v in ("-r", "--requirement") and i + 1 < len(words) and words[i + 1].value == first_r:
            nxt = words[i + 1]
            return Edit(nxt.start, nxt.end, shlex.quote(lock_img))
        for prefix in ("--requirement=", "-r"):
            if v.startswith(prefix) and v[len(prefix) :] == first_r and v != prefix:
                return Edit(w.start, w.end, f"-r {shlex.quote(lock_img)}")
    return None


def _with_index_lines(text: str, ins: PIP.Install) -> str:
    """The lock with the index options the requirements file gave pip (the install no longer reads the file)."""
    lines = [
        f"{RQ.INDEX_OPTS.get(opt) or opt} {val}"
        for opt, val, _ in ins.parsed.options
        if opt in RQ.INDEX_OPTS or opt == "--trusted-host"
    ]
    if not lines:
        return text
    parts = text.split("\n")
    n = next((i for i, ln in enumerate(parts) if not ln.startswith("#")), len(parts))
    return "\n".join(parts[:n] + list(dict.fromkeys(lines)) + parts[n:])
