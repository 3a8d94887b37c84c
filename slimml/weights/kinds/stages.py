"""Weights a download stage fetched and the image copies: ``COPY --from=<stage> /models /models``.

The stage's downloads are found like the image's own (``huggingface-cli download``, ``curl``,
Python, ``git clone``, bucket copies, ``ADD https://...``); the COPY becomes their recipe in the
init script, with the targets moved to where the COPY put them. Moving it is only offered when
what the COPY takes is exactly what the downloads wrote:

- the COPY takes the download's folder (or a folder holding only downloads), not part of it;
- nothing else in the stage writes there (another COPY, a conversion or extraction step, a
  package installer's prefix, a redirect), and the stage's base image is one known to hold
  nothing there;
- no build step after the COPY reads the weights (checked by ``detect`` like any bake).

The stage itself is dropped when nothing else uses it; when another step still copies from it,
only the download commands go (if what remains never reads them), else the stage stays as it is.
"""

from __future__ import annotations

import posixpath

from ...dockerfile import Document, Instruction
from ...dockerfile.shell import run_scripts
from ...knowledge import weights as K
from ...rules import _helpers as H
from ..bake import Bake, abspath, build_env, copy_words, dest_of, expand, hf_cache_dir, image_stages, nkey, under
from ..sources import Source

_GLOB = "*?["


def _overlap(a: str, b: str) -> bool:
    return under(a, b) or under(b, a)


def _stage_ref(doc: Document, ref: str) -> int | None:
    ref = ref.lower()
    if ref.isdigit():
        return int(ref) if int(ref) < len(doc.stages) else None
    return next((s.index for s in doc.stages if s.name == ref), None)


def stage_bakes(doc: Document, ctx, min_bytes: int, ignore_text: str | None, chain_bakes: list[Bake]) -> list[Bake]:
    """One bake per ``COPY --from=<stage>`` of the image's stages that takes weights the stage
    downloaded (or a note why it cannot be moved)."""
    from ...semantics.build import stage_chain
    from .. import detect

    chain = set(image_stages(doc))
    copies: list[tuple[Instruction, int]] = []
    for ins in doc.instructions:
        if ins.stage in chain and ins.keyword == "COPY" and ins.flag("from") is not None:
            idx = _stage_ref(doc, ins.flag("from").value or "")
            if idx is not None and idx < ins.stage and idx not in chain:
                copies.append((ins, idx))
    out: list[Bake] = []
    inner_of: dict[int, tuple[set[int], list[Bake]]] = {}
    for ins, idx in copies:
        if idx not in inner_of:
            lineage = {s.index for s in stage_chain(doc, doc.stages[idx])}
            inner_of[idx] = (lineage, detect.bakes_in(doc, ctx, lineage, min_bytes, ignore_text))
        lineage, inner = inner_of[idx]
        if inner:
            b = _copy_bake(doc, ins, idx, lineage, inner)
            if b is not None:
                out.append(b)
    _plan_stage_removal(doc, out, inner_of)
    return out


def _copy_bake(doc: Document, ins: Instruction, idx: int, lineage: set[int], inner: list[Bake]) -> Bake | None:
    st = doc.stages[idx]
    sname = st.name or str(idx)
    b = Bake(
        ins, ins.start, ins.end, f"COPY --from={ins.flag('from').value} {' '.join(ins.args.split())}", kind="stage"
    )
    b.stage = idx
    words = copy_words(ins)
    if len(words) < 2:
        return None
    chain = set(image_stages(doc))
    shared = [x for x in inner if x.instr.stage in chain]  # the image's own stages: bakes of the image
    inner = [x for x in inner if x.instr.stage not in chain]
    ok = [x for x in inner if not x.problem]
    bad = [x for x in inner if x.problem]
    targets = [t for x in ok for t in x.targets if t.startswith("/")]
    env = build_env(doc, ins)
    hits: list[tuple[int, str]] = []
    for k, (w, _, _) in enumerate(words[:-1]):
        x = expand(w, env)
        if x is None:
            b.problem = (
                f"its source {w} uses a build argument with no default: what it takes from stage {sname} is unknown"
            )
            return b
        p = posixpath.normpath("/" + x.lstrip("/")) if not x.startswith("/") else posixpath.normpath(x)
        stem = p
        if any(c in p for c in _GLOB):
            stem = posixpath.dirname(p[: min(p.index(c) for c in _GLOB if c in p)] + "x")
        ov = [t for t in targets if _overlap(t, stem)]
        if not ov:
            near = [y for y in bad if any(_overlap(t, stem) for t in y.targets)] or (bad if _weighty(p) else [])
            if near:
                b.problem = (
                    f"it copies weights stage {sname} downloads at `{near[0].label}` (line "
                    f"{near[0].instr.start_line}), which cannot be moved: {near[0].problem}"
                )
                return b
            continue
        if stem != p:
            b.problem = f"its source {w} is a pattern: which of the downloaded files it takes is not certain"
            return b
        if not x.startswith("/"):
            b.problem = f"its source {w} is a relative path in stage {sname}"
            return b
        part = [t for t in ov if under(p, t) and p != t]
        if part:
            b.problem = (
                f"it copies {p}, part of what stage {sname} downloaded into {part[0]}: the init script "
                f"would fetch all of it"
            )
            return b
        hits.append((k, p))
    if not hits:
        return None
    for flag in ("parents", "exclude"):
        if ins.flag(flag) is not None:
            b.problem = f"COPY --{flag} changes what lands where: move the weights by hand"
            return b
    for flag in ("chown", "chmod"):
        if ins.flag(flag) is not None:
            b.caveats.append(
                f"the COPY set --{flag}={ins.flag(flag).value}: the init script writes the files as "
                f"the container's user"
            )
    paths = [p for _, p in hits]
    both = next((x for x in shared if any(_overlap(t, p) for t in x.targets for p in paths)), None)
    if both is not None:
        b.problem = (
            f"stage {sname} is built on a stage of the image that also downloads there (line {both.instr.start_line})"
        )
        return b
    why = _base_problem(doc, lineage, paths) or _writer(doc, lineage, paths, ok)
    if why:
        b.problem = f"stage {sname} {why}: the COPY takes more than the downloaded weights"
        return b
    if _logs_in(doc, lineage):
        b.caveats.append(
            f"stage {sname} logged in to the Hugging Face Hub: give the container HF_TOKEN (a secret "
            f"of the orchestrator) for private or gated repositories"
        )
    dest_raw = words[-1][0]
    dest = expand(dest_raw, env)
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, dest_dir = dest_of(ins, doc, dest)
    multi = len(words) > 2
    final_env = build_env(doc, doc.final_stage.instructions[-1]) if doc.final_stage.instructions else {}
    for x in ok:
        xenv = build_env(doc, x.instr)
        for s in x.sources:
            path = _source_path(s, xenv)
            if path is None:
                b.problem = (
                    f"`{x.label}` (line {x.instr.start_line}) caches {s.what or 'its download'} where the "
                    f"init script cannot follow it across stages"
                )
                return b
            src_p = next((p for p in paths if under(path, p)), None)
            if src_p is None:
                continue
            if _home_changed(doc, lineage) and not s.target and s.kind in ("hf", "python"):
                b.problem = f"stage {sname} runs as another USER: its download cache is not where it seems"
                return b
            is_dir = path != src_p or s.is_dir or s.kind in ("hf", "python")
            if path == src_p:
                into = dest_dir or multi
                new = posixpath.join(dest_abs, posixpath.basename(path)) if (into and not is_dir) else dest_abs
            else:
                new = posixpath.join(dest_abs, posixpath.relpath(path, src_p))
            b.sources.append(_moved(s, new, final_env, b.label, ins))
            b.targets.append(new)
        b.ignore += x.ignore if x.kind == "context" else []
        b.caveats += x.caveats
        b.inner.append(x)
    if not b.sources:
        return None
    b.remove_words = [k for k, _ in hits]
    b.remove_instr = len(hits) == len(words) - 1
    return b


def _weighty(path: str) -> bool:
    low = path.lower()
    return (
        K.looks_like_weight_file(path)
        or any(seg in K.WEIGHT_DIR_NAMES for seg in low.split("/"))
        or "huggingface" in low
    )


def _source_path(s: Source, env: dict[str, str]) -> str | None:
    """Where the source's files are in the download stage."""
    if s.target:
        return s.target
    if s.kind == "hf":
        return s.guard.get("default") or hf_cache_dir(env, tuple(s.cache_env) or K.HF_CACHE_ENV[""])
    return None


def _moved(s: Source, new: str, final_env: dict[str, str], label: str, ins: Instruction) -> Source:
    d = {
        **s.__dict__,
        "files": list(s.files),
        "include": list(s.include),
        "exclude": list(s.exclude),
        "cache_env": list(s.cache_env),
        "guard": dict(s.guard),
        "argv": list(s.argv),
    }
    out = Source(**d)
    out.origin = f"{s.origin}, copied by {label} (line {ins.start_line})"
    if s.target:
        out.target = new
    elif s.kind == "hf" and not (s.cache_env and hf_cache_dir(final_env, tuple(s.cache_env)) == new):
        out.cache_env, out.guard = [], {"default": new}
    return out


def _home_changed(doc: Document, lineage: set[int]) -> bool:
    for i in sorted(lineage):
        for ins in doc.stages[i].instructions:
            if ins.keyword == "USER" and ins.args.strip().split(":")[0] not in ("root", "0"):
                return True
    return False


def _base_problem(doc: Document, lineage: set[int], paths: list[str]) -> str:
    from ...semantics.build import from_image

    root = doc.stages[min(lineage)]
    image = from_image(doc, root).lower()
    repo = image.split("@", 1)[0]
    repo = repo.rsplit(":", 1)[0] if ":" in repo.split("/")[-1] else repo
    repo = repo.removeprefix("docker.io/").removeprefix("library/")
    if not any(repo == p or (p.endswith(("/", "-")) and repo.startswith(p)) for p in K.PLAIN_BASES):
        return f"starts from {image}, an image that may already hold files there"
    for p in paths:
        if p == "/" or any(under(p, d) for d in K.SYSTEM_DIRS) or p in ("/root", "/home", "/tmp"):
            return f"copies {p}, a directory the base image and package installers fill"
    return ""


def _writer(doc: Document, lineage: set[int], paths: list[str], ok: list[Bake]) -> str:
    """The first step of the stage other than the downloads that may write under ``paths``."""
    removed = {(id(c.script), nkey(c.node)) for x in ok for c in x.remove_cmds}
    whole = {x.instr.index for x in ok if x.remove_instr}
    words = {(x.instr.index, w) for x in ok for w in x.remove_words}
    for i in sorted(lineage):
        for ins in doc.stages[i].instructions:
            where = f"(line {ins.start_line})"
            if ins.index in whole:
                continue
            if ins.keyword in ("COPY", "ADD"):
                ws = copy_words(ins)
                if len(ws) < 2 or all((ins.index, k) in words for k in range(len(ws) - 1)):
                    continue
                d = expand(ws[-1][0], build_env(doc, ins))
                if d is None or any(_overlap(dest_of(ins, doc, d)[0], p) for p in paths):
                    return f"also writes there with `{ins.keyword} {' '.join(ins.args.split())}` {where}"
            elif ins.keyword == "VOLUME":
                return f"declares a VOLUME {where}"
            elif ins.keyword == "RUN":
                why = _run_writer(doc, ins, paths, removed, [t for x in ok for t in x.targets])
                if why:
                    return f"also runs `{why}` {where}, which may write there"
    return ""


def _run_writer(doc: Document, ins: Instruction, paths: list[str], removed: set, targets: list[str]) -> str:
    if ins.json is not None:
        writes = _command_writes(list(ins.json), H.workdir_at(doc, ins), build_env(doc, ins))
        return " ".join(ins.json) if writes is None or _hits(writes, paths) else ""
    scripts = run_scripts(doc, ins)
    if not scripts:
        return ins.args.strip().split("\n", 1)[0]
    for script in scripts:
        for node in script.nodes("file_redirect"):
            ops = [script.node_text(c) for c in node.children if not c.is_named]
            tgt = [c for c in node.children if c.is_named and c.type != "file_descriptor"]
            t = script.node_text(tgt[-1]).strip("'\"") if tgt else ""
            if any(op in ("<", "<&", "<>") for op in ops) or (
                any(op in (">&",) for op in ops) and (t.isdigit() or t == "-")
            ):
                continue  # reads, or duplicates a descriptor: no file written
            if t in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                continue
            if not t.startswith("/") or "$" in t or _hits([t], paths):
                return script.node_text(node)
        cwd: str | None = H.workdir_at(doc, ins)
        env = build_env(doc, ins)
        for cmd in script.commands:
            if (id(cmd.script), nkey(cmd.node)) in removed:
                continue
            eff = cmd.effective_argv()
            if not eff:
                continue
            if H.basename(eff[0]) == "cd":
                cwd = abspath(eff[1], cwd) if len(eff) > 1 and cwd and "$" not in eff[1] else None
                continue
            writes = _command_writes(eff, cwd, env)
            if writes and H.basename(eff[0]) == "mkdir":  # folders on the way to a target are no content
                writes = [w for w in writes if not any(under(t, w) for t in targets)]
            if writes is None or _hits(writes, paths):
                return " ".join(cmd.text().split())[:80]
    return ""


def _logs_in(doc: Document, lineage: set[int]) -> bool:
    for i in sorted(lineage):
        for ins in doc.stages[i].instructions:
            if ins.keyword == "RUN":
                for script in run_scripts(doc, ins):
                    for cmd in script.commands:
                        eff = cmd.effective_argv()
                        if eff and H.basename(eff[0]) in ("huggingface-cli", "hf") and "login" in eff[1:3]:
                            return True
    return False


def _hits(writes: list[str], paths: list[str]) -> bool:
    return any(_overlap(w, p) for w in writes for p in paths)


def _command_writes(argv: list[str], cwd: str | None, env: dict[str, str]) -> list[str] | None:
    """Paths a command may write (None: anywhere, as far as slimml knows)."""
    prog, args = H.basename(argv[0]), argv[1:]
    if prog in K.NO_WRITE_COMMANDS:
        return []
    if prog in ("huggingface-cli", "hf") and (args[:1] == ["login"] or args[:2] == ["auth", "login"]):
        home = env.get("HF_HOME") or posixpath.join(env.get("XDG_CACHE_HOME") or "/root/.cache", "huggingface")
        return [posixpath.join(home, "token"), posixpath.join(home, "stored_tokens")]
    operands = [a for a in args if not a.startswith("-")]
    if any("$" in a or "`" in a for a in operands):
        return None
    if prog in ("mkdir", "rm", "chmod", "chown", "touch", "tee"):
        if cwd is None and any(not a.startswith("/") for a in operands):
            return None
        return [abspath(a, cwd or "/") for a in operands]
    venv = (
        args[2:]
        if K.PYTHON_RE.match(prog) and args[:2] == ["-m", "venv"]
        else args[1:]
        if prog == "uv" and args[:1] == ["venv"]
        else args
        if prog == "virtualenv"
        else None
    )
    if venv is not None:
        dirs = [a for a in venv if not a.startswith("-")]
        return [abspath(d, cwd) for d in dirs] if cwd and dirs else None
    pip = (
        prog in K.PACKAGE_INSTALLERS or K.PYTHON_RE.match(prog) and args[:2] == ["-m", "pip"] or prog.startswith("pip")
    )
    if pip:
        out = list(K.SYSTEM_DIRS) + list(K.PACKAGE_WRITES)
        for k, a in enumerate(args):
            name, eq, val = a.partition("=")
            if name in ("-t", "--target", "--prefix", "--root", "-p", "--prefix-path") and (eq or k + 1 < len(args)):
                out.append(abspath(val if eq else args[k + 1], cwd or "/"))
            elif name in ("-e", "--editable") or a in (".", "./", "sync") or a.startswith("./"):
                if cwd is None:
                    return None
                out.append(cwd)
        return out
    if prog == "git" and (args[:2] == ["lfs", "install"] or args[:1] == ["config"]):
        return ["/root/.gitconfig", "/etc/gitconfig"]
    return None


def _plan_stage_removal(doc: Document, bakes: list[Bake], inner_of: dict) -> None:
    """Drop each download stage nothing else uses; else remove only its downloads, or keep it."""
    from ...semantics.build import parent_stage
    from ..removal import stage_span

    moving = [b for b in bakes if not b.problem]
    numeric = _numeric_refs(doc)
    for idx in dict.fromkeys(b.stage for b in moving):
        group = [b for b in moving if b.stage == idx]
        lineage, inner = inner_of[idx]
        ok = [x for x in inner if not x.problem]
        targets = [t for x in ok for t in x.targets if t.startswith("/")]
        sname = doc.stages[idx].name or str(idx)
        refs: list[tuple[Instruction, list[str] | None]] = []  # (instruction, paths it takes; None: anything)
        for ins in doc.instructions:
            if (
                ins.keyword == "COPY"
                and ins.flag("from") is not None
                and _stage_ref(doc, ins.flag("from").value or "") == idx
            ):
                mine = next((b for b in group if b.instr is ins), None)
                ws = copy_words(ins)[:-1]
                rest = [w for k, (w, _, _) in enumerate(ws) if mine is None or k not in mine.remove_words]
                if rest:
                    refs.append((ins, [posixpath.normpath("/" + w.lstrip("/")) for w in rest]))
            elif ins.keyword == "RUN" and any(
                _stage_ref(doc, m.get("from", "")) == idx for m in H.mounts(ins) if m.get("from")
            ):
                refs.append((ins, None))
        refs += [(s.from_instruction, None) for s in doc.stages if parent_stage(doc, s) is doc.stages[idx]]
        first = group[0]
        if not refs and not any(n > idx for n in numeric):
            first.drop = stage_span(doc, idx)
            first.gone = [i.index for i in doc.stages[idx].instructions] + [doc.stages[idx].from_instruction.index]
            continue
        if refs and all(p is not None and not any(_overlap(q, t) for q in p for t in targets) for _, p in refs):
            # Others copy other things from the stage: its downloads go, the stage stays.
            for b in group:
                b.inner_remove = b is first
            continue
        why = (
            f"other steps use stage {sname} (line {refs[0][0].start_line})"
            if refs
            else "a later stage is named by its number"
        )
        for b in group:
            b.caveats.append(
                f"stage {sname} still downloads the weights at build time ({why}): the image no longer holds them"
            )


def _numeric_refs(doc: Document) -> list[int]:
    out = []
    for ins in doc.instructions:
        vals = [ins.flag("from").value or ""] if ins.keyword == "COPY" and ins.flag("from") is not None else []
        if ins.keyword == "RUN":
            vals += [m.get("from", "") for m in H.mounts(ins)]
        out += [int(v) for v in vals if v.isdigit()]
    return out
