"""The Dockerfile side of SLM010: which COPY/ADD/RUN bakes weights, and how to take it out.

``find_bakes`` returns one ``Bake`` per baking step of the image's stages (the final stage and
the stages it is built FROM), and of download stages the image copies from (``COPY --from``).
Each kind of source has its module in ``kinds/`` (the build context, HTTP, the Hugging Face Hub,
object stores, Python run at build time, download stages); this module walks the instructions,
dispatches each download command to its kind, and checks that no later build step reads what a
bake wrote. A bake either carries the ``Source`` objects the init script needs and what to
remove (``removal``), or a ``problem`` saying why it cannot be moved out automatically.
"""

from __future__ import annotations

import posixpath
import re

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, Script, run_scripts
from ..knowledge import weights as K
from ..rules import _helpers as H

# Re-exported: the rule and ``runtime`` read these from here.
from .bake import (  # noqa: F401
    VAR_RE,
    Bake,
    abspath,
    build_env,
    copy_words,
    dest_of,
    expand,
    hf_cache_dir,
    human,
    image_stages,
    new_bake,
    nkey,
    root_image,
    short,
    toplevel,
    under,
)
from .removal import removal_edits  # noqa: F401


def find_bakes(doc: Document, ctx, min_bytes: int, ignore_text: str | None) -> list[Bake]:
    out = bakes_in(doc, ctx, set(image_stages(doc)), min_bytes, ignore_text)
    if any(i.keyword == "COPY" and i.flag("from") is not None for i in doc.instructions):
        from .kinds.stages import stage_bakes

        extra = stage_bakes(doc, ctx, min_bytes, ignore_text, out)
        for b in extra:
            check_later_uses(doc, b, out + extra, ctx)
        out += extra
    return out


def bakes_in(doc: Document, ctx, chain: set[int], min_bytes: int, ignore_text: str | None) -> list[Bake]:
    """The bakes of the stages ``chain`` (a stage and the stages it is built FROM)."""
    from .kinds.context import Tree, context_tree, copy_bakes

    copies = any(i.keyword in ("COPY", "ADD") and i.flag("from") is None and i.stage in chain for i in doc.instructions)
    tree = context_tree(ctx, ignore_text) if copies else Tree({}, False)
    out: list[Bake] = []
    for ins in doc.instructions:
        if ins.stage not in chain:
            continue
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
            out.extend(copy_bakes(doc, ctx, ins, tree, min_bytes))
        elif ins.keyword == "RUN":
            out.extend(_run_bakes(doc, ctx, ins))
    # `COPY . .` next to `COPY models/ ...`: the explicit copy owns those files.
    explicit = [p.rstrip("/") for b in out if b.kind in ("context", "mixed") for p in b.ignore]
    for b in out:
        if b.kind != "whole":
            continue
        keep = [s for s in b.sources if not any(under(s.context_path.rstrip("/"), e) for e in explicit)]
        if len(keep) != len(b.sources):
            dropped = {s.context_path for s in b.sources} - {s.context_path for s in keep}
            b.sources = keep
            b.ignore = [p for p in b.ignore if p not in dropped]
            b.size = sum(
                tree.files.get(p, 0)
                if not p.endswith("/")
                else sum(v for f, v in tree.files.items() if f.startswith(p))
                for p in b.ignore
            )
    out = [b for b in out if b.kind != "whole" or b.sources]
    for b in out:
        check_later_uses(doc, b, out, ctx, chain)
    return out


def _run_bakes(doc: Document, ctx, ins: Instruction) -> list[Bake]:
    from .kinds.python import analyse_python

    out: list[Bake] = []
    scripts = run_scripts(doc, ins) if ins.json is None else []
    if ins.json is None and not ins.heredocs and not any(_may_bake(c) for s in scripts for c in s.commands):
        return out  # the common RUN (apt-get, pip install): no need for its environment
    env0 = build_env(doc, ins)
    wd = H.workdir_at(doc, ins)
    if ins.json is not None:
        argv = list(ins.json)
        b = _analyse_argv(doc, ctx, ins, None, argv, [], wd, env0, None)
        if b is not None:
            b.remove_instr = True
            out.append(b)
        return out
    if not scripts and ins.heredocs and re.fullmatch(r"\s*\d*<<-?\S+\s*", ins.args):
        body = ins.heredocs[0].body(doc.text)
        first = body.split("\n", 1)[0]
        if first.startswith("#!") and "python" in first:
            b = analyse_python(
                doc,
                ctx,
                ins,
                None,
                first[2:].split()[-1].rsplit("/", 1)[-1],
                "c",
                body,
                ["-"],
                wd,
                env0,
                label=f"RUN <<{ins.heredocs[0].name} (Python)",
            )
            if b is not None:
                b.remove_instr = True
                out.append(b)
        return out
    for script in scripts:
        cwd: str | None = wd
        cds: list = []  # (cd command, where it went)
        steps: list = []  # (tar/unzip/rm command, its working directory)
        found: list[Bake] = []
        for cmd in script.commands:
            words = cmd.words
            eff = words[cmd.unwrapped() :]
            if not eff:
                continue
            if H.basename(eff[0].value) in ("tar", "unzip", "rm") and toplevel(cmd):
                steps.append((cmd, cwd))  # may unpack (and remove) what a download fetched
                continue
            if H.basename(eff[0].value) != "cd" and not _may_download(eff[0].value):
                continue
            env = {**env0, **cmd.assignments}
            argv = []
            for w in eff:
                x = expand(w.value, env, w.raw)
                argv.append(x)
            prog = H.basename(argv[0] or "")
            if prog == "cd" and toplevel(cmd):
                target = argv[1] if len(argv) > 1 else None
                cwd = abspath(target, cwd) if (target and cwd) else None
                cds.append((cmd, cwd))
                continue
            b = _analyse_argv(doc, ctx, ins, cmd, argv, eff, cwd, env, script)
            if b is not None and not _in_cache_mount(ins, b):
                used = _arg_refs(doc, ins, [w.raw for w in eff])
                if used and not b.problem:
                    b.caveats.append(
                        f"the source comes from build arguments ({', '.join(used)}): the script has "
                        f"their defaults; a --build-arg is not seen at run time (override the "
                        f"{K.ENV_PREFIX}*_URI/_REPO variables instead)"
                    )
                if not b.problem:
                    _absorb_cleanup(script, cmd, b)
                found.append(b)
        if any(b.lfs_dir for b in found):
            from .kinds.hub import merge_lfs_pull

            found = merge_lfs_pull(script, found, cds)
        if steps and found:
            from .kinds.archives import merge_unpack

            merge_unpack(doc, script, found, steps)
        out.extend(found)
    return out


def _may_bake(cmd: Command) -> bool:
    """Cheap pre-test of a command: its program (as written, when no variable names it) could
    download."""

    def compute() -> bool:
        eff = cmd.effective_argv()
        return bool(eff) and _may_download(eff[0])

    return cmd.cached("slm010-may-bake", compute)


def _may_download(first: str) -> bool:
    if "$" in first or "`" in first:
        return True  # the program comes from a variable: expand it first
    return K.could_download(H.basename(first))


def _arg_refs(doc: Document, ins: Instruction, raws: list[str]) -> list[str]:
    """Build arguments (ARG) that words of a command refer to (an ARG is visible in its stage only)."""
    names: set[str] = set()
    stage = doc.stage_of(ins)
    for i in stage.instructions if stage else []:
        if i.keyword == "ARG" and i.index < ins.index:
            names |= {k for k, _ in H.parse_kv_words(i)}
    out = []
    for raw in raws:
        for m in VAR_RE.finditer(raw):
            n = m.group(1) or m.group(4)
            if n in names and n not in out:
                out.append(n)
    return out


def _absorb_cleanup(script: Script, cmd: Command, b: Bake) -> None:
    """``git clone URL dir && rm -rf dir/.git``: clean-up of what the download wrote goes with it."""
    targets = [t for t in b.targets if t.startswith("/")]
    if not targets:
        return
    after = False
    for c in script.commands:
        if c is cmd:
            after = True
            continue
        if not after or not toplevel(c):
            continue
        eff = c.effective_argv()
        if len(eff) < 2 or H.basename(eff[0]) != "rm":
            continue
        paths = [v for v in eff[1:] if not v.startswith("-")]
        if paths and all(p.startswith("/") and any(under(posixpath.normpath(p), t) for t in targets) for p in paths):
            b.remove_cmds.append(c)


def _in_cache_mount(ins: Instruction, b: Bake) -> bool:
    """Everything the step wrote went to a cache or tmpfs mount: nothing is baked."""
    if not b.targets or b.problem:
        return False
    dirs = [
        posixpath.normpath(m.get("target", ""))
        for m in H.mounts(ins)
        if m.get("type") in ("cache", "tmpfs") and m.get("target")
    ]
    return bool(dirs) and all(any(under(t, d) for d in dirs) for t in b.targets if t.startswith("/"))


def _analyse_argv(doc, ctx, ins, cmd, argv, words, cwd, env, script) -> Bake | None:
    """The bake of one command (its argv expanded; None where a value is unknown), dispatched to
    the module of its kind of source."""
    from .kinds import python as P
    from .kinds.hub import git, hf_cli

    raw = [a if a is not None else "" for a in argv]
    prog = H.basename(raw[0]) if raw else ""
    if K.PYTHON_RE.match(prog):
        mode, value, rest = P.python_script_args(raw[1:])
        if mode == "m" and value == "huggingface_hub.commands.huggingface_cli" and rest[1:2] == ["download"]:
            return hf_cli(ins, cmd, rest[2:], rest[2:], cwd, env)
        if mode == "m" and value == "nltk.downloader":
            return P.nltk_cli(ins, cmd, raw[0], rest[1:], rest[1:], cwd)
        if mode == "m" and value == "spacy" and "download" in raw:
            b = new_bake(ins, cmd)
            b.problem = "spaCy models are Python packages (installed into site-packages), not files a volume holds"
            return b
        code, script_argv = None, rest
        if mode == "c":
            code = value
        elif mode == "file":
            if not value:
                return None
            code = P.script_text(doc, ctx, ins, value, cwd)
            if code is None:
                return None
        elif mode == "stdin" and script is not None:
            code = P.stdin_heredoc(doc, ins, cmd)
            if code is None:
                return None
        if code is None:
            return None
        # Arguments with unknown values stay unknown for sys.argv (None), not "".
        unknown = [k for k, a in enumerate(argv) if a is None]
        if unknown and script_argv and mode in ("file", "c", "stdin"):
            offset = len(argv) - len(script_argv)
            script_argv = [None if (k + offset) in unknown else a for k, a in enumerate(script_argv)]
        py = raw[0]
        return P.analyse_python(doc, ctx, ins, cmd, py, mode, code, script_argv, cwd, env)
    if not K.looks_like_weight_download(raw) and not (prog in K.HTTP_DOWNLOADERS and _model_archive(raw)):
        return None
    if any(a is None for a in argv):
        b = new_bake(ins, cmd)
        b.problem = "an argument uses a variable whose value is unknown at build time (no default)"
        return b
    if prog in ("huggingface-cli", "hf"):
        return hf_cli(ins, cmd, raw[2:], argv[2:], cwd, env)
    if prog in ("wget", "curl"):
        from .kinds import http

        return (http.wget if prog == "wget" else http.curl)(ins, cmd, raw[1:], cwd)
    if prog == "git":
        return git(ins, cmd, raw[1:], cwd, env)
    if prog in ("aws", "gsutil", "gcloud", "az"):
        from .kinds import buckets

        return buckets.az(ins, cmd, raw, cwd) if prog == "az" else buckets.object_store(ins, cmd, prog, raw, cwd)
    if prog == "spacy":
        b = new_bake(ins, cmd)
        b.problem = "spaCy models are Python packages (installed into site-packages), not files a volume holds"
        return b
    b = new_bake(ins, cmd)
    b.problem = "cannot tell statically what this command downloads and where"
    return b


def _model_archive(argv: list[str]) -> bool:
    """``wget``/``curl`` of an archive named like a model (``bert-model.tar.gz``): weights, like
    ``ADD`` of one (kinds.archives)."""
    from .kinds.archives import is_model_archive_url

    return any("://" in a and is_model_archive_url(a) for a in argv[1:])


# -- later uses of what a step downloaded ----------------------------------------------------------------
_HARMLESS_LATER = frozenset({"rm", "mkdir", "echo", "printf", "true", ":"})


def _script_names(doc: Document, ctx, ins: Instruction, argv: list[str], cwd: str, targets: list[str]) -> str:
    """The script a command runs from the build context (``python x.py``, ``sh x.sh``, ``./x``), when
    its text names a path under ``targets``: "`x.py`, which names /models/m.onnx"; else ""."""
    from .. import refs
    from ..semantics.files import origin

    if ctx is None or ctx.context_dir is None:
        return ""
    prog = H.basename(argv[0])
    if prog.startswith("python") or prog in ("sh", "bash", "dash", "ash", "zsh"):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script is None or "-c" in argv[1:] or "-m" in argv[1:]:
            return ""
    elif "/" in argv[0]:
        script = argv[0]
    else:
        return ""
    o = origin(doc, ctx, ins, abspath(script, cwd))
    rel = o.rel if o.kind == "context" else None
    text = o.text if rel else None
    how = refs.kind(rel, (text or "")[:128].encode("utf-8", "replace")) if text else None
    if not text or how is None:
        return ""
    for s in refs.strings_of(rel, text, how):
        for tok in refs.tokens(s):
            if "\0" in tok:
                continue
            p = abspath(tok, cwd)
            if any(under(p, t) and p != "/" for t in targets):
                return f"`{rel}`, which names {p}"
    return ""


def _made_elsewhere(doc: Document, chain: set[int], path: str, bake: Bake, removed: set, user: Command) -> bool:
    """``path`` (a folder above what ``bake`` wrote) exists without the bake when ``user`` runs: a
    system folder, or one an earlier WORKDIR, COPY/ADD that stays or remaining ``mkdir`` made."""
    if path == "/" or any(under(path, d) for d in K.SYSTEM_DIRS) or path in ("/root", "/home", "/tmp"):
        return True
    for ins in doc.instructions:
        if ins.stage not in chain or ins is bake.instr and bake.remove_instr or ins.start > user.start:
            continue
        made: list[str] = []
        if ins.keyword == "WORKDIR":
            made = [abspath(ins.args.strip().strip("'\""), H.workdir_at(doc, ins))]
        elif ins.keyword in ("COPY", "ADD") and ins is not bake.instr:
            words = copy_words(ins)
            made = [dest_of(ins, doc, words[-1][0])[0]] if len(words) > 1 else []
        elif ins.keyword == "RUN":
            wd = H.workdir_at(doc, ins)
            for script in run_scripts(doc, ins):
                for cmd in script.commands:
                    eff = cmd.effective_argv()
                    if (
                        eff[:1] == ["mkdir"]
                        and (id(cmd.script), nkey(cmd.node)) not in removed
                        and cmd.start < user.start
                    ):
                        made += [abspath(a, wd) for a in eff[1:] if not a.startswith("-")]
        if any(under(m, path) for m in made):
            return True
    return False


def check_later_uses(doc: Document, bake: Bake, all_bakes: list[Bake], ctx=None, chain: set[int] | None = None) -> None:
    """A build step after the bake that reads what it wrote breaks once it is gone."""
    if bake.problem or not bake.targets or bake.kind in ("whole",):
        return
    removed = {(id(c.script), nkey(c.node)) for b in all_bakes for c in b.remove_cmds}
    chain = set(image_stages(doc)) if chain is None else chain
    targets = [t for t in bake.targets if t.startswith("/")]
    for ins in doc.instructions:
        if ins.index < bake.instr.index or ins.stage not in chain:
            continue
        if ins.keyword == "RUN":
            wd = H.workdir_at(doc, ins)
            for script in run_scripts(doc, ins):
                cwd = wd
                for cmd in script.commands:
                    if (id(cmd.script), nkey(cmd.node)) in removed or (ins is bake.instr and cmd.start < bake.start):
                        continue
                    eff = cmd.effective_argv()
                    if not eff:
                        continue
                    prog = H.basename(eff[0])
                    if prog == "cd" and len(eff) > 1:
                        cwd = abspath(eff[1], cwd)
                        if (
                            any(under(cwd, t) for t in targets)
                            or any(under(t, cwd) for t in targets)
                            and not _made_elsewhere(doc, chain, cwd, bake, removed, cmd)
                        ):
                            bake.problem = (
                                f"a later build step works in what it downloaded: "
                                f"`{short(' '.join(cmd.text().split()))}` (line {ins.start_line})"
                            )
                            return
                        continue
                    if prog == "rm" and not any(
                        a.startswith("-") and "f" in a.lstrip("-")[:3] or a == "--force" for a in eff[1:]
                    ):
                        gone = [abspath(a, cwd) for a in eff[1:] if not a.startswith("-")]
                        if any(under(g, t) for g in gone for t in targets):  # fails on a missing file
                            bake.problem = (
                                f"a later build step removes what it downloaded without -f: "
                                f"`{short(' '.join(cmd.text().split()))}` (line {ins.start_line})"
                            )
                            return
                    if prog in _HARMLESS_LATER:
                        continue
                    for v in eff[1:]:
                        v = v.split("=", 1)[1] if v.startswith("-") and "=" in v else v
                        if not v or v.startswith("-") or "://" in v:
                            continue
                        p = abspath(v, cwd)
                        # `python -c "...load('/models/m')..."`: the path inside a longer word
                        if any(under(p, t) and p != "/" for t in targets) or any(
                            re.search(re.escape(t) + r"(?![\w.-])", v) for t in targets if t != "/"
                        ):
                            bake.problem = (
                                f"a later build step uses what it downloaded: "
                                f"`{short(' '.join(cmd.text().split()))}` (line {ins.start_line})"
                            )
                            return
                        if any(under(t, p) and p != t for t in targets) and not _made_elsewhere(
                            doc, chain, p, bake, removed, cmd
                        ):
                            bake.problem = (
                                f"a later build step uses {p}, which only the download created: "
                                f"`{short(' '.join(cmd.text().split()))}` (line {ins.start_line})"
                            )
                            return
                    named = _script_names(doc, ctx, ins, eff, cwd, targets)
                    if named:
                        bake.problem = (
                            f"a later build step reads what it baked: `{short(' '.join(eff))}` "
                            f"(line {ins.start_line}) runs {named}"
                        )
                        return
        elif ins.keyword in ("COPY", "ADD") and ins.index > bake.instr.index:
            pass
    if chain != set(image_stages(doc)):
        return  # a download stage: the image's COPY --from of it is a bake of its own (kinds.stages)
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is not None:
            f = (ins.flag("from").value or "").lower()
            st = doc.stage_of(bake.instr)
            if st is not None and (f == (st.name or "") or f == str(st.index)):
                for w, _, _ in copy_words(ins)[:-1]:
                    p = abspath(w, "/")
                    if any(under(p, t) or under(t, p) for t in targets):
                        bake.problem = f"a later stage copies what it downloaded (line {ins.start_line})"
                        return
