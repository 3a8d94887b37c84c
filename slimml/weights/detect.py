"""The Dockerfile side of SLM010: which COPY/ADD/RUN bakes weights, and how to take it out.

``find_bakes`` returns one ``Bake`` per baking step of the image's stages (the final stage and
the stages it is built FROM): a COPY/ADD of weights from the build context or a URL, a download
command in a RUN (``wget``/``curl``, ``huggingface-cli download``, ``git clone`` of a hub repo,
``aws s3``/``gsutil``/``az``), or Python run at build time that downloads (analysed with libcst).
A bake either carries the ``Source`` objects the init script needs and what to remove, or a
``problem`` saying why it cannot be moved out automatically.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction, shell_words
from ..dockerfile.shell import Command, Script, run_scripts
from ..engine import Edit
from ..knowledge import weights as K
from ..rules import _helpers as H
from ..units import human_bytes as human
from .sources import Source
from ..shellvars import VarRefs

_VAR_RE = VarRefs(r"\w+", ":?[-=+?]", op_group=True)  # linear-time \$(?:\{(\w+)(?:(:?[-=+?])([^}]*))?\}|(\w+))
_TRIVIAL = frozenset({"true", ":", "echo", "printf", "set"})


@dataclass
class Bake:
    instr: Instruction
    start: int
    end: int
    label: str  # `COPY models/ /app/models/` -- for messages
    sources: list[Source] = field(default_factory=list)
    size: int | None = None  # bytes taken out of the image, when known (context files)
    ignore: list[str] = field(default_factory=list)  # context paths to exclude in .dockerignore
    problem: str = ""  # set: cannot be moved out automatically (the finding's note)
    caveats: list[str] = field(default_factory=list)  # for the fix's reason
    # what to remove: the whole instruction, source words of a COPY/ADD, or shell commands
    remove_instr: bool = False
    remove_words: list[int] = field(default_factory=list)  # indexes of source words (COPY/ADD)
    remove_cmds: list[Command] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # image paths the step wrote (for later uses)
    kind: str = ""  # "context" | "url" | "run"


# -- small helpers ---------------------------------------------------------------------------------------
def image_stages(doc: Document) -> list[int]:
    """Indexes of the final stage and the stages it is built FROM (oldest first)."""
    return sorted(H.image_stages(doc))


def root_image(doc: Document) -> str:
    """The external base image of the final stage (``python:3.11-slim``), lower-cased."""
    idx = image_stages(doc)
    return doc.stages[idx[0]].image.lower() if idx else ""


def build_env(doc: Document, instr: Instruction) -> dict[str, str]:
    """ENV and ARG values known at ``instr`` (ARGs without a default are unknown: left out)."""
    memo = doc.__dict__.setdefault("_slm010_env", {})  # a document is never edited in place
    if instr.index not in memo:
        memo[instr.index] = _build_env(doc, instr)
    return dict(memo[instr.index])


def _build_env(doc: Document, instr: Instruction) -> dict[str, str]:
    glob: dict[str, str] = {}
    for a in doc.global_args:
        for k, v in H.parse_kv_words(a):
            if v:
                glob[k] = v
    env: dict[str, str] = {}
    stage = doc.stage_of(instr)
    if stage is None:
        return env
    # ENV is inherited from the stages this one is built FROM; ARG is scoped to its own stage.
    lineage = []
    st = stage
    while st is not None and st not in lineage:
        lineage.append(st)
        image = st.image.lower()
        st = next((s for s in doc.stages[: st.index] if s.name == image), None)
    for st in reversed(lineage):
        for i in st.instructions:
            if i.index >= instr.index:
                break
            if i.keyword == "ENV":
                for k, v in H.parse_kv_words(i):
                    env[k] = _strip_quotes(v)
            elif i.keyword == "ARG" and st is stage:
                for k, v in H.parse_kv_words(i):
                    v = _strip_quotes(v)
                    if v:
                        env[k] = v
                    elif glob.get(k):
                        env[k] = glob[k]
    return env


def _strip_quotes(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def expand(text: str, env: dict[str, str], raw: str | None = None) -> str | None:
    """``$VAR``/``${VAR:-x}`` expanded from ``env``; None when a value is unknown."""
    if raw is not None and raw.startswith("'"):
        return text
    if "$(" in text or "`" in text:
        return None
    unknown = False

    def sub(m: re.Match) -> str:
        nonlocal unknown
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-", ":=", "="):
            if val is None or (op.startswith(":") and val == ""):
                val = arg
        elif op in (":+", "+"):
            val = arg if val else ""
        if val is None:
            unknown = True
            return ""
        return val

    out = _VAR_RE.sub(sub, text)
    return None if unknown or "$" in out else out


def _abs(path: str, cwd: str) -> str:
    return posixpath.normpath(posixpath.join(cwd, path))


def _under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


def _url_basename(url: str) -> str:
    return posixpath.basename(urlsplit(url).path.rstrip("/"))


def _hub_repo(url: str) -> tuple[str, str] | None:
    """``https://huggingface.co/org/name(.git)`` -> (repo type, repo id)."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() not in ("huggingface.co", "hf.co"):
        return None
    segs = [s for s in parts.path.strip("/").split("/") if s]
    rtype = "model"
    if segs and segs[0] in ("datasets", "spaces"):
        rtype, segs = segs[0][:-1], segs[1:]
    if not segs or len(segs) > 2 or "resolve" in segs or "blob" in segs:
        return None
    repo = "/".join(segs)
    repo = repo.removesuffix(".git")
    return rtype, repo


def _workdir_is(doc: Document, path: str) -> bool:
    return any(i.keyword == "WORKDIR" and _abs(i.args.strip().strip("'\""), "/") == path.rstrip("/")
               for i in doc.instructions)


# -- the build context -----------------------------------------------------------------------------------
@dataclass
class _Tree:
    files: dict[str, int]  # visible (not .dockerignore'd) files and sizes
    ok: bool  # the context could be read


def context_tree(ctx, ignore_text: str | None) -> _Tree:
    key = ("slm010-tree", str(ctx.context_dir), ignore_text)
    if key in ctx.run_cache:
        return ctx.run_cache[key]
    try:
        pats = DI.parse_patterns(ignore_text or "")
    except DI.PatternError:
        pats = []
    files: dict[str, int] = {}
    ok = ctx.context_dir is not None and ctx.context_dir.is_dir()
    if ok:
        for rel, size in ctx.walk_context():
            if not pats or not DI.is_excluded(rel, pats):
                files[rel] = size
    tree = _Tree(files, ok)
    ctx.run_cache[key] = tree
    return tree


def _is_weight(rel: str) -> bool:
    return K.looks_like_weight_file(rel)


def _is_code(rel: str) -> bool:
    return posixpath.splitext(rel)[1].lower() in K.CODE_EXTENSIONS


# -- COPY / ADD ---------------------------------------------------------------------------------------------
def _copy_words(ins: Instruction) -> list[tuple[str, int, int]]:
    """(word, args start, args end) of a COPY/ADD, quotes removed; exec form has no offsets."""
    if ins.json is not None:
        return [(w, -1, -1) for w in ins.json]
    return shell_words(ins.args, raw=False)


def _dest(ins: Instruction, doc: Document, dest: str) -> tuple[str, bool]:
    """(absolute destination, names a directory)."""
    wd = H.workdir_at(doc, ins)
    ab = _abs(dest, wd)
    return ab, dest.endswith("/") or dest in (".", "./") or _workdir_is(doc, ab)


def _copy_bakes(doc: Document, ctx, ins: Instruction, tree: _Tree, min_bytes: int) -> list[Bake]:
    words = _copy_words(ins)
    if len(words) < 2:
        return []
    env = build_env(doc, ins)
    srcs, (dest_raw, _, _) = words[:-1], words[-1]
    dest_x = expand(dest_raw, env)
    label = f"{ins.keyword_raw.upper()} {' '.join(ins.args.split())}"
    out: list[Bake] = []
    removed: list[int] = []
    for idx, (w, _, _) in enumerate(srcs):
        if w.startswith("<<"):
            continue
        wx = expand(w, env)
        if wx is None:
            continue
        if "://" in wx or wx.startswith("git@"):
            if ins.keyword != "ADD":
                continue
            b = _add_url(doc, ins, wx, dest_x, len(srcs) > 1, label)
            if b:
                b.remove_words = [idx]
                out.append(b)
                removed.append(idx)
            continue
        b = _context_bake(doc, ctx, ins, wx, dest_x, len(srcs) > 1, tree, min_bytes, label)
        if b is not None:
            b.remove_words = [idx] if b.kind == "context" else []
            out.append(b)
            if b.kind == "context" and not b.problem:
                removed.append(idx)
    if removed and len(removed) == len(srcs):
        for b in out:
            if b.remove_words:
                b.remove_instr = True
    return out


def _add_url(doc, ins, url, dest, multi, label) -> Bake | None:
    hub = _hub_repo(url)
    is_git = url.endswith(".git") or url.startswith("git@")
    if not (K.looks_like_weight_file(url) or (hub and is_git)):
        return None
    b = Bake(ins, ins.start, ins.end, label, kind="url")
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, is_dir = _dest(ins, doc, dest)
    if hub and is_git:
        rtype, repo = hub
        b.sources.append(Source("hf", target=dest_abs, is_dir=True, repo=repo, repo_type=rtype, mode="snapshot",
                                origin=f"{label} (line {ins.start_line})"))
        b.targets.append(dest_abs)
        b.caveats.append("the git history of the repository is not recreated, only its files")
        return b
    target = posixpath.join(dest_abs, _url_basename(url)) if (is_dir or multi) else dest_abs
    b.sources.append(Source("uri", target=target, uri=url, origin=f"{label} (line {ins.start_line})"))
    b.targets.append(target)
    if ins.flag("checksum"):
        b.caveats.append("the ADD --checksum verification is not repeated at start")
    return b


def _file_bake(doc, ins, rel, dest, multi, label, origin, size) -> Bake:
    """A bake of one context file copied to ``dest`` (a folder when ``multi`` or ``dest`` is one)."""
    b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel])
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, is_dir = _dest(ins, doc, dest)
    t = posixpath.join(dest_abs, posixpath.basename(rel)) if (is_dir or multi) else dest_abs
    b.sources.append(Source("uri", target=t, context_path=rel, origin=origin))
    b.targets.append(t)
    return b


def _context_bake(doc, ctx, ins, src, dest, multi, tree: _Tree, min_bytes: int, label: str) -> Bake | None:
    rel = DI.context_source(src)
    origin = f"{label} (line {ins.start_line})"
    if rel == ".":
        return _whole_context_bake(doc, ins, dest, tree, min_bytes, label)
    glob = any(c in rel for c in "*?[")
    if glob:
        try:
            pat = DI.Pattern.make(rel)
        except DI.PatternError:
            return None
        if any(pat.match(a) for f in tree.files for a in _ancestors(f)):
            return None  # the glob names folders: their contents land in the destination, mixed
        hits = {f: s for f, s in tree.files.items() if pat.match(f)}
        if not hits or not all(_is_weight(f) for f in hits):
            return None
        size = sum(hits.values())
        if size < min_bytes:
            return None
        b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel])
        if dest is None:
            b.problem = "its destination uses a build argument with no default"
            return b
        dest_abs, _ = _dest(ins, doc, dest)
        for f in sorted(hits):
            t = posixpath.join(dest_abs, posixpath.basename(f))
            b.sources.append(Source("uri", target=t, context_path=f, origin=origin))
            b.targets.append(t)
        return b
    is_file = rel in tree.files
    under = {f: s for f, s in tree.files.items() if f.startswith(rel + "/")}
    if is_file:
        if not _is_weight(rel):
            return None
        size = tree.files[rel]
        if size < min_bytes:
            return None
        return _file_bake(doc, ins, rel, dest, multi, label, origin, size)
    if under:
        weights = {f: s for f, s in under.items() if _is_weight(f)}
        wsize = sum(weights.values())
        if not weights or wsize < min_bytes:
            return None
        size = sum(under.values())
        b = Bake(ins, ins.start, ins.end, label, size=size, kind="context", ignore=[rel + "/"])
        code = sorted(f for f in under if _is_code(f))
        if code:
            b.problem = (f"{rel}/ holds {human(wsize)} of weights together with code ({', '.join(code[:3])}): "
                         f"move the weights to a folder of their own first")
            b.kind = "mixed"
            return b
        if dest is None:
            b.problem = "its destination uses a build argument with no default"
            return b
        dest_abs, _ = _dest(ins, doc, dest)
        if dest_abs == "/" or _workdir_is(doc, dest_abs) or _dest_shared(doc, ins, dest_abs):
            b.problem = (f"the contents of {rel}/ are copied into {dest_abs} itself, next to other files: copy them "
                         f"into a directory of their own (e.g. {posixpath.join(dest_abs, posixpath.basename(rel))}/) "
                         f"so that a volume can be mounted there")
            return b
        b.sources.append(Source("uri", target=dest_abs, is_dir=True, context_path=rel + "/", origin=origin))
        b.targets.append(dest_abs)
        return b
    if not tree.ok and _is_weight(rel):
        # No build context to look at (stdin): the extension is all there is; size unknown.
        return _file_bake(doc, ins, rel, dest, multi, label, origin, None)
    return None


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]


def _dest_shared(doc: Document, ins: Instruction, dest_abs: str) -> bool:
    """Another COPY/ADD of the image writes into ``dest_abs`` itself."""
    chain = image_stages(doc)
    for other in doc.instructions:
        if other is ins or other.keyword not in ("COPY", "ADD") or other.stage not in chain:
            continue
        words = _copy_words(other)
        if len(words) < 2:
            continue
        d, _ = _dest(other, doc, words[-1][0])
        if d.rstrip("/") == dest_abs.rstrip("/"):
            return True
    return False


def _whole_context_bake(doc, ins, dest, tree: _Tree, min_bytes: int, label: str) -> Bake | None:
    """``COPY . .``: the weights inside the context end up in the image with everything else."""
    if not tree.ok:
        return None
    groups: dict[str, list[str]] = {}  # context path (dir/ or file) -> weight files
    for f in sorted(tree.files):
        if not _is_weight(f):
            continue
        parts = f.split("/")
        key = f
        for i in range(len(parts) - 1):
            if parts[i].lower() in K.WEIGHT_DIR_NAMES:
                key = "/".join(parts[: i + 1]) + "/"
                break
        groups.setdefault(key, []).append(f)
    chosen: dict[str, int] = {}
    for key, files in groups.items():
        if key.endswith("/"):
            inside = {f: s for f, s in tree.files.items() if f.startswith(key)}
            if any(_is_code(f) for f in inside):
                for f in files:  # a code folder: only its weight files
                    chosen[f] = tree.files[f]
            else:
                chosen[key] = sum(inside.values())
        else:
            chosen[key] = tree.files[key]
    chosen = {k: v for k, v in chosen.items() if v >= min_bytes or (k.endswith("/") and v >= min_bytes)}
    if not chosen:
        return None
    size = sum(chosen.values())
    b = Bake(ins, ins.start, ins.end, label, size=size, kind="whole", ignore=sorted(chosen))
    if dest is None:
        b.problem = "its destination uses a build argument with no default"
        return b
    dest_abs, _ = _dest(ins, doc, dest)
    origin = f"{label} (line {ins.start_line})"
    for key in sorted(chosen):
        t = posixpath.join(dest_abs, key.rstrip("/"))
        b.sources.append(Source("uri", target=t, is_dir=key.endswith("/"), context_path=key, origin=origin))
        b.targets.append(t)
    return b


# -- RUN --------------------------------------------------------------------------------------------------
def _python_script_args(args: list[str]) -> tuple[str, str | None, list[str]]:
    """(mode, value, rest) of a python command line: ("c", code, argv) | ("m", module, argv) |
    ("file", path, argv) | ("stdin", None, argv)."""
    i = 0
    with_value = {"-W", "-X", "--check-hash-based-pycs"}
    while i < len(args):
        a = args[i]
        if a == "-c" and i + 1 < len(args):
            return "c", args[i + 1], ["-c"] + args[i + 2:]
        if a.startswith("-c") and len(a) > 2 and not a.startswith("--"):
            return "c", a[2:], ["-c"] + args[i + 1:]
        if a == "-m" and i + 1 < len(args):
            return "m", args[i + 1], [args[i + 1]] + args[i + 2:]
        if a in with_value:
            i += 2
            continue
        if a == "-":
            return "stdin", None, ["-"] + args[i + 1:]
        if not a.startswith("-"):
            return "file", a, [a] + args[i + 1:]
        i += 1
    return "stdin", None, [""]


def find_bakes(doc: Document, ctx, min_bytes: int, ignore_text: str | None) -> list[Bake]:
    chain = set(image_stages(doc))
    copies = any(i.keyword in ("COPY", "ADD") and i.flag("from") is None and i.stage in chain for i in doc.instructions)
    tree = context_tree(ctx, ignore_text) if copies else _Tree({}, False)
    out: list[Bake] = []
    for ins in doc.instructions:
        if ins.stage not in chain:
            continue
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
            out.extend(_copy_bakes(doc, ctx, ins, tree, min_bytes))
        elif ins.keyword == "RUN":
            out.extend(_run_bakes(doc, ctx, ins))
    # `COPY . .` next to `COPY models/ ...`: the explicit copy owns those files.
    explicit = [p.rstrip("/") for b in out if b.kind in ("context", "mixed") for p in b.ignore]
    for b in out:
        if b.kind != "whole":
            continue
        keep = [s for s in b.sources if not any(_under(s.context_path.rstrip("/"), e) for e in explicit)]
        if len(keep) != len(b.sources):
            dropped = {s.context_path for s in b.sources} - {s.context_path for s in keep}
            b.sources = keep
            b.ignore = [p for p in b.ignore if p not in dropped]
            b.size = sum(tree.files.get(p, 0) if not p.endswith("/") else
                         sum(v for f, v in tree.files.items() if f.startswith(p)) for p in b.ignore)
    out = [b for b in out if b.kind != "whole" or b.sources]
    for b in out:
        _check_later_uses(doc, b, out, ctx)
    return out


def _run_bakes(doc: Document, ctx, ins: Instruction) -> list[Bake]:
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
            b = _analyse_python(doc, ctx, ins, None, first[2:].split()[-1].rsplit("/", 1)[-1], "c", body, ["-"],
                                wd, env0, label=f"RUN <<{ins.heredocs[0].name} (Python)")
            if b is not None:
                b.remove_instr = True
                out.append(b)
        return out
    for script in scripts:
        cwd: str | None = wd
        for cmd in script.commands:
            words = cmd.words
            eff = words[cmd.unwrapped():]
            if not eff:
                continue
            if H.basename(eff[0].value) != "cd" and not _may_download(eff[0].value):
                continue
            env = {**env0, **cmd.assignments}
            argv = []
            for w in eff:
                x = expand(w.value, env, w.raw)
                argv.append(x)
            prog = H.basename(argv[0] or "")
            if prog == "cd" and _toplevel(cmd):
                target = argv[1] if len(argv) > 1 else None
                cwd = _abs(target, cwd) if (target and cwd) else None
                continue
            b = _analyse_argv(doc, ctx, ins, cmd, argv, eff, cwd, env, script)
            if b is not None and not _in_cache_mount(ins, b):
                used = _arg_refs(doc, ins, [w.raw for w in eff])
                if used and not b.problem:
                    b.caveats.append(f"the source comes from build arguments ({', '.join(used)}): the script has "
                                     f"their defaults; a --build-arg is not seen at run time (override the "
                                     f"{K.ENV_PREFIX}*_URI/_REPO variables instead)")
                if not b.problem:
                    _absorb_cleanup(script, cmd, b)
                out.append(b)
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
        for m in _VAR_RE.finditer(raw):
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
        if not after or not _toplevel(c):
            continue
        eff = c.effective_argv()
        if len(eff) < 2 or H.basename(eff[0]) != "rm":
            continue
        paths = [v for v in eff[1:] if not v.startswith("-")]
        if paths and all(p.startswith("/") and any(_under(posixpath.normpath(p), t) for t in targets) for p in paths):
            b.remove_cmds.append(c)


def _in_cache_mount(ins: Instruction, b: Bake) -> bool:
    """Everything the step wrote went to a cache or tmpfs mount: nothing is baked."""
    if not b.targets or b.problem:
        return False
    dirs = [posixpath.normpath(m.get("target", "")) for m in H.mounts(ins)
            if m.get("type") in ("cache", "tmpfs") and m.get("target")]
    return bool(dirs) and all(any(_under(t, d) for d in dirs) for t in b.targets if t.startswith("/"))


def _toplevel(cmd: Command) -> bool:
    p = cmd.node.parent
    while p is not None:
        if p.type in ("subshell", "command_substitution", "process_substitution", "pipeline", "if_statement",
                      "for_statement", "while_statement", "case_statement", "function_definition",
                      "compound_statement"):
            return False
        p = p.parent
    return True


def _label(ins: Instruction, cmd: Command | None) -> str:
    if cmd is None:
        text = ins.args
    else:
        node = cmd.node
        if node.parent is not None and node.parent.type == "redirected_statement":
            node = node.parent  # `python3 <<PY`: keep the redirect in the label
        text = cmd.script.node_text(node).split("\n", 1)[0]
    return f"RUN {' '.join(text.split())}"


def _new_bake(ins: Instruction, cmd: Command | None, label: str | None = None) -> Bake:
    start, end = (cmd.start, cmd.end) if cmd is not None else (ins.start, ins.end)
    b = Bake(ins, start, end, label or _label(ins, cmd), kind="run")
    if cmd is not None:
        b.remove_cmds = [cmd]
    return b


def _analyse_argv(doc, ctx, ins, cmd, argv, words, cwd, env, script) -> Bake | None:
    raw = [a if a is not None else "" for a in argv]
    prog = H.basename(raw[0]) if raw else ""
    if K.PYTHON_RE.match(prog):
        mode, value, rest = _python_script_args(raw[1:])
        if mode == "m" and value == "huggingface_hub.commands.huggingface_cli" and rest[1:2] == ["download"]:
            return _hf_cli(ins, cmd, rest[2:], rest[2:], cwd, env)
        if mode == "m" and value == "nltk.downloader":
            return _nltk_cli(ins, cmd, raw[0], rest[1:], rest[1:], cwd)
        if mode == "m" and value == "spacy" and "download" in raw:
            b = _new_bake(ins, cmd)
            b.problem = "spaCy models are Python packages (installed into site-packages), not files a volume holds"
            return b
        code, script_argv = None, rest
        if mode == "c":
            code = value
        elif mode == "file":
            if not value:
                return None
            code = _script_text(doc, ctx, ins, value, cwd)
            if code is None:
                return None
        elif mode == "stdin" and script is not None:
            code = _stdin_heredoc(doc, ins, cmd)
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
        return _analyse_python(doc, ctx, ins, cmd, py, mode, code, script_argv, cwd, env)
    if not K.looks_like_weight_download(raw):
        return None
    if any(a is None for a in argv):
        b = _new_bake(ins, cmd)
        b.problem = "an argument uses a variable whose value is unknown at build time (no default)"
        return b
    if prog in ("huggingface-cli", "hf"):
        return _hf_cli(ins, cmd, raw[2:], argv[2:], cwd, env)
    if prog == "wget":
        return _wget(ins, cmd, raw[1:], cwd)
    if prog == "curl":
        return _curl(ins, cmd, raw[1:], cwd)
    if prog == "git":
        return _git(ins, cmd, raw[1:], cwd, env)
    if prog in ("aws", "gsutil", "gcloud"):
        return _object_store(ins, cmd, prog, raw, cwd)
    if prog == "az":
        return _az(ins, cmd, raw, cwd)
    if prog == "spacy":
        b = _new_bake(ins, cmd)
        b.problem = "spaCy models are Python packages (installed into site-packages), not files a volume holds"
        return b
    b = _new_bake(ins, cmd)
    b.problem = "cannot tell statically what this command downloads and where"
    return b


# -- command-line downloaders ----------------------------------------------------------------------------
def _hf_cli(ins, cmd, args, _argv, cwd, env) -> Bake:
    b = _new_bake(ins, cmd)
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
    src = Source("hf", repo=repo, revision=str(opts.get("--revision", "") or ""),
                 repo_type=str(opts.get("--repo-type", "model") or "model"), origin=f"{b.label} (line {ins.start_line})")
    if files:
        src.mode, src.files = "files", files
    else:
        src.include = list(opts.get("--include", []))  # type: ignore[arg-type]
        src.exclude = list(opts.get("--exclude", []))  # type: ignore[arg-type]
    if "--local-dir" in opts:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        src.target = _abs(str(opts["--local-dir"]), cwd)
        src.is_dir = True
        b.targets += [posixpath.join(src.target, f) for f in files] if files else [src.target]
    elif "--cache-dir" in opts:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        src.guard = {"default": _abs(str(opts["--cache-dir"]), cwd)}
        b.targets.append(src.guard["default"])
    else:
        src.cache_env = list(K.HF_CACHE_ENV[""])
        b.targets.append(hf_cache_dir(env))
    b.sources.append(src)
    return b


def hf_cache_dir(env: dict[str, str], names: tuple[str, ...] = K.HF_CACHE_ENV[""], home: str = "/root") -> str:
    """The hub cache a build step used, from the ENV the Dockerfile sets."""
    for n in names:
        if env.get(n):
            return env[n]
    if env.get("HF_HOME"):
        return posixpath.join(env["HF_HOME"], "hub")
    cache = env.get("XDG_CACHE_HOME") or posixpath.join(home, ".cache")
    return posixpath.join(cache, "huggingface", "hub")


def _wget(ins, cmd, args, cwd) -> Bake:
    b = _new_bake(ins, cmd)
    out_file = prefix = None
    urls = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.partition("=") if a.startswith("--") else (a, "", "")
        if a in ("-O", "--output-document"):
            out_file = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        if name == "--output-document" and eq:
            out_file = val
        elif a.startswith("-O") and len(a) > 2 and not a.startswith("--"):
            out_file = a[2:]
        elif a in ("-P", "--directory-prefix"):
            prefix = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        elif name == "--directory-prefix" and eq:
            prefix = val
        elif a.startswith("-P") and len(a) > 2 and not a.startswith("--"):
            prefix = a[2:]
        elif a in K.WGET_HARMLESS or name in K.WGET_HARMLESS:
            pass
        elif name in K.WGET_HARMLESS_VALUE:
            if not eq and not a.startswith("--progress"):
                i += 1
        elif a in ("-qO", "-qO-", "-nvO") or (a.startswith("-q") and "O" in a):
            rest = a[a.index("O") + 1:]
            if rest:
                out_file = rest
            else:
                out_file = args[i + 1] if i + 1 < len(args) else None
                i += 1
        elif a.startswith("-"):
            b.problem = f"wget option {a} cannot be carried over to the init script"
            return b
        else:
            urls.append(a)
        i += 1
    return _http_result(b, urls, out_file, prefix, cwd, ins)


def _curl(ins, cmd, args, cwd) -> Bake:
    b = _new_bake(ins, cmd)
    out_file = out_dir = None
    remote_name = False
    urls = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name == "--output":
                out_file = val if eq else (args[i + 1] if i + 1 < len(args) else None)
                i += 1 if eq else 2
                continue
            if name == "--output-dir":
                out_dir = val if eq else (args[i + 1] if i + 1 < len(args) else None)
                i += 1 if eq else 2
                continue
            if name == "--remote-name":
                remote_name = True
            elif name in K.CURL_HARMLESS:
                pass
            elif name in K.CURL_HARMLESS_VALUE:
                if not eq:
                    i += 1
            elif name == "--url":
                urls.append(val if eq else args[i + 1])
                if not eq:
                    i += 1
            else:
                b.problem = f"curl option {name} cannot be carried over to the init script"
                return b
            i += 1
            continue
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch == "O":
                    remote_name = True
                elif ch in "o":
                    v = a[j + 1:] or (args[i + 1] if i + 1 < len(args) else None)
                    if not a[j + 1:]:
                        i += 1
                    out_file = v
                    break
                elif ch in "Cm":
                    if not a[j + 1:]:
                        i += 1
                    break
                elif "-" + ch in K.CURL_HARMLESS:
                    pass
                else:
                    b.problem = f"curl option -{ch} cannot be carried over to the init script"
                    return b
                j += 1
            i += 1
            continue
        urls.append(a)
        i += 1
    if out_file is None and not remote_name:
        redirect = _stdout_redirect(cmd)
        if redirect is None:
            b.problem = "curl writes to standard output here (a pipe): the downloaded data is processed, not stored"
            return b
        out_file = redirect
    return _http_result(b, urls, out_file, out_dir, cwd, ins)


def _stdout_redirect(cmd: Command | None) -> str | None:
    if cmd is None:
        return None
    p = cmd.node.parent
    if p is None or p.type != "redirected_statement" or _nkey(p.children[0]) != _nkey(cmd.node):
        return None
    for ch in p.children[1:]:
        if ch.type == "file_redirect":
            kids = [c for c in ch.children]
            ops = [c.type for c in kids if not c.is_named]
            fds = [c for c in kids if c.type == "file_descriptor"]
            if ops in ([">"], [">|"]) and not fds:
                tgt = [c for c in kids if c.is_named]
                if tgt:
                    return cmd.script.node_text(tgt[-1]).strip("'\"")
    return None


def _http_result(b: Bake, urls, out_file, out_dir, cwd, ins) -> Bake:
    if len(urls) != 1 or not urls[0].startswith(("http://", "https://")):
        b.problem = "one command downloads several URLs" if len(urls) > 1 else "no http(s) URL found"
        return b
    url = urls[0]
    if out_file == "-":
        b.problem = "the download is written to standard output (a pipe): the data is processed, not stored"
        return b
    if cwd is None:
        b.problem = "the working directory is not known (cd to a computed path)"
        return b
    if out_file:
        target = _abs(out_file, _abs(out_dir, cwd) if out_dir else cwd)
    else:
        name = _url_basename(url)
        if not name:
            b.problem = "the file name cannot be derived from the URL"
            return b
        target = _abs(name, _abs(out_dir, cwd) if out_dir else cwd)
    b.sources.append(Source("uri", target=target, uri=url, origin=f"{b.label} (line {ins.start_line})"))
    b.targets.append(target)
    return b


def _git(ins, cmd, args, cwd, env) -> Bake:
    b = _new_bake(ins, cmd)
    pos: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in K.GIT_OPTS_WITH_VALUE else 1
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
    hub = _hub_repo(pos[0])
    if hub is None:
        b.problem = "not a Hugging Face repository URL"
        return b
    if cmd is not None and (cmd.assignments.get("GIT_LFS_SKIP_SMUDGE") or env.get("GIT_LFS_SKIP_SMUDGE")):
        b.problem = "GIT_LFS_SKIP_SMUDGE: the clone holds pointer files and a later step picks the weights"
        return b
    if cwd is None:
        b.problem = "the working directory is not known (cd to a computed path)"
        return b
    rtype, repo = hub
    target = _abs(pos[1] if len(pos) > 1 else repo.rsplit("/", 1)[-1], cwd)
    b.sources.append(Source("hf", target=target, is_dir=True, repo=repo, repo_type=rtype, revision=branch,
                            origin=f"{b.label} (line {ins.start_line})"))
    b.targets.append(target)
    b.caveats.append("the clone's .git folder is not recreated, only the repository's files")
    return b


def _object_store(ins, cmd, prog, argv, cwd) -> Bake:
    b = _new_bake(ins, cmd)
    if prog == "aws":
        subs, with_value = (("s3", "cp"), ("s3", "sync")), K.AWS_OPTS_WITH_VALUE
        scheme = "s3://"
    elif prog == "gsutil":
        subs, with_value = (("cp",), ("rsync",)), K.GSUTIL_GLOBAL_OPTS_WITH_VALUE
        scheme = "gs://"
    else:
        subs, with_value = (("storage", "cp"), ("storage", "rsync")), frozenset({"--project", "--billing-project"})
        scheme = "gs://"
    # positions of positionals
    pos_idx = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in with_value:
            i += 2
            continue
        if not a.startswith("-"):
            pos_idx.append(i)
        i += 1
    pos = [argv[k] for k in pos_idx]
    for sub in subs:
        for s in range(len(pos) - len(sub) + 1):
            if tuple(pos[s:s + len(sub)]) == sub:
                rest = pos_idx[s + len(sub):]
                if len(rest) != 2 or not argv[rest[0]].startswith(scheme) or "://" in argv[rest[1]]:
                    b.problem = "not a single download from the bucket to a local path"
                    return b
                src_i, dst_i = rest
                if argv[dst_i] == "-":
                    b.problem = "the object is written to standard output (a pipe): the data is processed, not stored"
                    return b
                recursive = sub[-1] in ("sync", "rsync") or any(x in argv for x in ("--recursive", "-r", "-R"))
                uri, dst = argv[src_i], argv[dst_i]
                if cwd is None:
                    b.problem = "the working directory is not known (cd to a computed path)"
                    return b
                dst_abs = _abs(dst, cwd)
                if not recursive and (dst.endswith("/") or dst in (".", "./")):
                    dst_abs = posixpath.join(dst_abs, _url_basename(uri))
                template = ["{URI}" if k == src_i else "{PATH}" if k == dst_i else a for k, a in enumerate(argv)]
                template[0] = prog
                b.sources.append(Source("cmd", target=dst_abs, is_dir=recursive, uri=uri, argv=template,
                                        scheme=scheme, origin=f"{b.label} (line {ins.start_line})"))
                b.targets.append(dst_abs)
                b.caveats.append(f"the container needs the {prog} credentials the build had (e.g. from the "
                                 f"orchestrator's environment or a workload identity)")
                return b
    b.problem = "not a download from a bucket"
    return b


def _az(ins, cmd, argv, cwd) -> Bake:
    b = _new_bake(ins, cmd)
    opts: dict[str, tuple[int, str]] = {}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            opts[a] = (i + 1, argv[i + 1])
            i += 2
            continue
        i += 1
    if "download-batch" in argv:
        dest = opts.get("--destination") or opts.get("-d")
        is_dir = True
    else:
        dest = opts.get("--file") or opts.get("-f")
        is_dir = False
    if dest is None or cwd is None:
        b.problem = "the download's destination is not a plain path"
        return b
    account = (opts.get("--account-name") or ("", ""))[1]
    container = (opts.get("--container-name") or opts.get("-c") or opts.get("--source") or opts.get("-s") or ("", ""))[1]
    name = (opts.get("--name") or opts.get("-n") or ("", ""))[1]
    uri = f"https://{account}.blob.core.windows.net/{container}/{name}" if account and container and name else ""
    target = _abs(dest[1], cwd)
    template = ["{PATH}" if k == dest[0] else a for k, a in enumerate(argv)]
    template[0] = "az"
    b.sources.append(Source("cmd", target=target, is_dir=is_dir, uri=uri, argv=template, scheme="https://",
                            origin=f"{b.label} (line {ins.start_line})"))
    b.targets.append(target)
    b.caveats.append("the container needs the Azure credentials the build had")
    return b


def _nltk_cli(ins, cmd, py, args, _argv, cwd) -> Bake:
    b = _new_bake(ins, cmd)
    ddir = None
    pkgs = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-d", "--dir"):
            ddir = args[i + 1] if i + 1 < len(args) else None
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        pkgs.append(a)
        i += 1
    if not pkgs:
        b.problem = "no NLTK package named"
        return b
    kw = ""
    guard = dict(K.PY_REPLAY_CALLS["nltk.download"][1])
    if ddir:
        if cwd is None:
            b.problem = "the working directory is not known (cd to a computed path)"
            return b
        ddir = _abs(ddir, cwd)
        kw = f", download_dir={_pyq(ddir)}"
        guard = {"default": ddir}
    code = "import nltk\n" + "\n".join(f"nltk.download({_pyq(p)}{kw})" for p in pkgs)
    b.sources.append(Source("python", python=py, code=code, guard=guard, what="NLTK data",
                            origin=f"{b.label} (line {ins.start_line})"))
    b.targets.append(ddir or "~/nltk_data")
    return b


def _pyq(s: str) -> str:
    import json

    return json.dumps(s)


# -- Python run at build time --------------------------------------------------------------------------------
def _script_text(doc: Document, ctx, ins: Instruction, path: str, cwd: str | None) -> str | None:
    """The text of the script ``path`` a RUN executes, from the COPY that put it in the image."""
    if cwd is None:
        return None
    image_path = _abs(path, cwd)
    for m in H.mounts(ins):
        if m.get("type") == "bind" and "from" not in m and m.get("target"):
            t = _abs(m["target"], "/")
            if _under(image_path, t):
                rel = DI.context_source(posixpath.join(m.get("source", m.get("src", ".")) or ".", image_path[len(t):].lstrip("/")))
                return ctx.read_context_file(rel)
    stage = doc.stage_of(ins)
    chain = image_stages(doc)
    stages = [doc.stages[i] for i in chain if stage is not None and i <= stage.index] if stage else []
    if stage is not None and stage.index not in chain:
        stages = [stage]
    copies = [i for st in stages for i in st.instructions
              if i.index < ins.index and i.keyword in ("COPY", "ADD") and i.flag("from") is None]
    for c in reversed(copies):
        words = _copy_words(c)
        if len(words) < 2:
            continue
        dest_abs, dest_dir = _dest(c, doc, words[-1][0])
        multi = len(words) > 2
        for w, _, _ in words[:-1]:
            if w.startswith("<<"):
                name = w.lstrip("<-").strip("'\"")
                h = next((h for h in c.heredocs if h.name == name), None)
                if h is not None and (image_path == dest_abs or image_path == posixpath.join(dest_abs, name)):
                    return h.body(doc.text)
                continue
            rel = DI.context_source(w)
            if rel == "." or ctx.is_dir(rel):
                if _under(image_path, dest_abs) and image_path != dest_abs:
                    sub = image_path[len(dest_abs.rstrip("/")) + 1:]
                    cand = sub if rel == "." else f"{rel}/{sub}"
                    text = ctx.read_context_file(cand)
                    if text is not None:
                        return text
                continue
            target = posixpath.join(dest_abs, posixpath.basename(rel)) if (dest_dir or multi) else dest_abs
            if image_path == target:
                return ctx.read_context_file(rel)
    return None


def _stdin_heredoc(doc: Document, ins: Instruction, cmd: Command) -> str | None:
    p = cmd.node.parent
    if p is None or p.type != "redirected_statement":
        return None
    for ch in p.children:
        if ch.type == "heredoc_redirect":
            start = next((c for c in ch.children if c.type == "heredoc_start"), None)
            if start is None:
                continue
            name = cmd.script.node_text(start).strip("'\"")
            h = next((h for h in ins.heredocs if h.name == name), None)
            if h is not None:
                return h.body(doc.text)
    return None


def _analyse_python(doc, ctx, ins, cmd, py, mode, code, argv, cwd, env, label=None) -> Bake | None:
    from . import pyscan

    if not pyscan.may_download(code):
        return None
    key = ("slm010-pyscan", code, tuple(sorted(env.items())), tuple(argv))
    res = ctx.run_cache.get(key)
    if res is None:
        res = ctx.run_cache[key] = pyscan.scan(code, env, argv)
    if res.error or not res.downloads:
        return None
    b = _new_bake(ins, cmd, label)
    where = "" if mode == "c" else (f"{argv[0]}: " if argv and argv[0] not in ("-", "") else "")
    for dl in res.downloads:
        if dl.problem:
            b.problem = f"{where}line {dl.line}: `{_short(dl.text)}`: {dl.problem}"
            return b
        for bind in dl.bindings:
            err = _python_source(b, dl, bind, py, cwd, env, ins)
            if err:
                b.problem = f"{where}line {dl.line}: `{_short(dl.text)}`: {err}"
                return b
    if not b.sources and not b.problem:
        return None
    b.sources = _merge_sources(b.sources)
    return b


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _str_or_none(v, what: str):
    from .pyscan import Unknown

    if isinstance(v, Unknown):
        return None, f"{what}: {v.why}"
    if v is None or isinstance(v, str):
        return v, ""
    return None, f"{what} is not a string"


def _python_source(b: Bake, dl, bind, py: str, cwd, env, ins) -> str:
    """Append the Source of one call binding to ``b``; an error text when it cannot be done."""
    from .pyscan import Unknown, render_call, replay_spec

    origin = f"{b.label} (line {ins.start_line})"
    root = dl.qualname.split(".", 1)[0]
    if dl.category == "hf-model":
        if dl.qualname in K.HF_PIPELINE_CALLS:
            repo = bind.get(1, "model")
            if repo is None:
                return "pipeline() without model= downloads the task's default model: name the model"
        elif dl.qualname in K.HF_CONSTRUCTORS:
            kw, _, _ = K.HF_CONSTRUCTORS[dl.qualname]
            repo = bind.get(0, kw)
        else:
            repo = bind.get(0, *K.HF_REPO_KWARGS)
        repo, err = _str_or_none(repo, "the model name")
        if err or repo is None:
            return err or "no model name"
        if repo.startswith(("/", "./", "../", "~")):
            return ""  # a local path: not a download
        if dl.qualname in K.HF_CONSTRUCTORS:
            org = K.HF_CONSTRUCTORS[dl.qualname][2]
            if org and "/" not in repo:
                repo = f"{org}/{repo}"
        vals = {}
        for k in ("revision", "subfolder", "variant", "gguf_file"):
            v, err = _str_or_none(bind.get(None, k), k)
            if err:
                return err
            vals[k] = v or ""
        cache_kw = K.HF_CONSTRUCTORS[dl.qualname][1] if dl.qualname in K.HF_CONSTRUCTORS else "cache_dir"
        cache, err = _str_or_none(bind.get(None, cache_kw), cache_kw)
        if err:
            return err
        src = Source("hf", repo=repo, revision=vals["revision"], mode="model", variant=vals["variant"],
                     files=[vals["gguf_file"]] if vals["gguf_file"] else [],
                     include=[vals["subfolder"].rstrip("/") + "/*"] if vals["subfolder"] else [],
                     origin=origin)
        saved = [s for s in dl.saved_to]
        for s in saved:
            if isinstance(s, Unknown):
                return f"it is saved to a path computed at run time ({s.why})"
        if saved:
            if cwd is None:
                return "the working directory is not known"
            for s in saved:
                if not isinstance(s, str):
                    return "it is saved to a path that is not a string"
                t = _abs(s, cwd)
                one = Source(**{**src.__dict__, "target": t, "is_dir": True, "include": list(src.include),
                                "files": list(src.files), "cache_env": [], "guard": {}})
                b.sources.append(one)
                b.targets.append(t)
            return ""
        if cache:
            if cwd is None:
                return "the working directory is not known"
            src.guard = {"default": _abs(cache, cwd)}
            b.targets.append(src.guard["default"])
        else:
            src.cache_env = list(K.HF_CACHE_ENV.get(root, K.HF_CACHE_ENV[""]))
            b.targets.append(hf_cache_dir(env, tuple(src.cache_env)))
        b.sources.append(src)
        return ""
    if dl.category in ("hf-snapshot", "hf-file"):
        repo, err = _str_or_none(bind.get(0, "repo_id"), "repo_id")
        if err or not repo:
            return err or "no repo_id"
        vals = {}
        for k in ("revision", "repo_type", "local_dir", "cache_dir", "subfolder", "filename"):
            idx = 1 if k == "filename" else None
            v, err = _str_or_none(bind.get(idx, k), k)
            if err:
                return err
            vals[k] = v or ""
        src = Source("hf", repo=repo, revision=vals["revision"], repo_type=vals["repo_type"] or "model", origin=origin)
        if dl.category == "hf-file":
            if not vals["filename"]:
                return "no filename"
            src.mode = "files"
            src.files = [posixpath.join(vals["subfolder"], vals["filename"]) if vals["subfolder"] else vals["filename"]]
        else:
            for k, attr in (("allow_patterns", "include"), ("ignore_patterns", "exclude")):
                v = bind.get(None, k)
                if isinstance(v, Unknown):
                    return f"{k}: {v.why}"
                if isinstance(v, str):
                    v = [v]
                if v is not None and not (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)):
                    return f"{k} is not a list of strings"
                setattr(src, attr, list(v or []))
        if vals["local_dir"]:
            if cwd is None:
                return "the working directory is not known"
            src.target = _abs(vals["local_dir"], cwd)
            src.is_dir = True
            b.targets += [posixpath.join(src.target, f) for f in src.files] if src.files else [src.target]
        elif vals["cache_dir"]:
            if cwd is None:
                return "the working directory is not known"
            src.guard = {"default": _abs(vals["cache_dir"], cwd)}
            b.targets.append(src.guard["default"])
        else:
            src.cache_env = list(K.HF_CACHE_ENV[""])
            b.targets.append(hf_cache_dir(env))
        b.sources.append(src)
        return ""
    if dl.category == "url":
        ui, fi = K.PY_URL_CALLS[dl.qualname]
        url, err = _str_or_none(bind.get(ui, "url"), "the URL")
        if err or not url:
            return err or "no URL"
        if not (K.looks_like_weight_file(url) or _hub_repo(url) or "huggingface.co" in url):
            return ""
        dst, err = _str_or_none(bind.get(fi, "filename", "dst"), "the file name")
        if err or not dst:
            return err or "no destination file"
        if cwd is None:
            return "the working directory is not known"
        t = _abs(dst, cwd)
        b.sources.append(Source("uri", target=t, uri=url, origin=origin))
        b.targets.append(t)
        return ""
    if dl.category == "replay":
        key, (what, guard, needs) = replay_spec(dl.qualname)
        if needs:
            flag = None
            for name in needs.split("|"):
                v = bind.get(None, name)
                if v is not None:
                    flag = v
                    break
            if isinstance(flag, Unknown):
                return f"{needs}: {flag.why}"
            if not flag:
                return ""  # no pretrained weights: not a download
        guard = dict(guard)
        dkw = K.PY_REPLAY_DIR_KWARGS.get(key)
        if dkw is not None:
            d, err = _str_or_none(bind.get(None, dkw), dkw)
            if err:
                return err
            if d:
                if cwd is None:
                    return "the working directory is not known"
                guard = {"default": _abs(d, cwd)}
        code = render_call(dl.qualname, bind, drop=frozenset({"device", "map_location", "device_map",
                                                                "torch_dtype", "dtype", "in_memory"}))
        if isinstance(code, Unknown):
            return code.why
        b.sources.append(Source("python", python=py, code=code, guard=guard, what=what, origin=origin))
        b.targets.append(guard.get("default", ""))
        return ""
    return ""


def _merge_sources(sources: list[Source]) -> list[Source]:
    """One source per target: replays into the same cache are one script step, hub downloads of the
    same repository into the same place one download."""
    out: list[Source] = []
    for s in sources:
        twin = None
        for o in out:
            if s.kind == o.kind == "python" and s.guard == o.guard and s.python == o.python:
                twin = o
                break
            if s.kind == o.kind == "hf" and (s.repo, s.revision, s.repo_type, s.target, s.mode, s.guard.get("default")) == \
                    (o.repo, o.revision, o.repo_type, o.target, o.mode, o.guard.get("default")):
                twin = o
                break
            if s.key() == o.key():
                twin = o
                break
        if twin is None:
            out.append(s)
            continue
        if s.kind == "python" and s.code != twin.code:
            imports = [ln for ln in (twin.code + "\n" + s.code).split("\n") if ln.startswith("import ")]
            body = [ln for ln in (twin.code + "\n" + s.code).split("\n") if ln and not ln.startswith("import ")]
            twin.code = "\n".join(dict.fromkeys(imports)) + "\n" + "\n".join(dict.fromkeys(body))
        elif s.kind == "hf":
            twin.files = list(dict.fromkeys(twin.files + s.files))
            twin.include = list(dict.fromkeys(twin.include + s.include)) if twin.include and s.include else []
    return out


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
    o = origin(doc, ctx, ins, _abs(script, cwd))
    rel = o.rel if o.kind == "context" else None
    text = o.text if rel else None
    how = refs.kind(rel, (text or "")[:128].encode("utf-8", "replace")) if text else None
    if not text or how is None:
        return ""
    for s in refs.strings_of(rel, text, how):
        for tok in refs.tokens(s):
            if "\0" in tok:
                continue
            p = _abs(tok, cwd)
            if any(_under(p, t) and p != "/" for t in targets):
                return f"`{rel}`, which names {p}"
    return ""


def _check_later_uses(doc: Document, bake: Bake, all_bakes: list[Bake], ctx=None) -> None:
    """A build step after the bake that reads what it wrote breaks once it is gone."""
    if bake.problem or not bake.targets or bake.kind in ("whole",):
        return
    removed = {(id(c.script), _nkey(c.node)) for b in all_bakes for c in b.remove_cmds}
    chain = set(image_stages(doc))
    targets = [t for t in bake.targets if t.startswith("/")]
    for ins in doc.instructions:
        if ins.index < bake.instr.index or ins.stage not in chain:
            continue
        if ins.keyword == "RUN":
            wd = H.workdir_at(doc, ins)
            for script in run_scripts(doc, ins):
                cwd = wd
                for cmd in script.commands:
                    if (id(cmd.script), _nkey(cmd.node)) in removed or (ins is bake.instr and cmd.start < bake.start):
                        continue
                    eff = cmd.effective_argv()
                    if not eff:
                        continue
                    prog = H.basename(eff[0])
                    if prog == "cd" and len(eff) > 1:
                        cwd = _abs(eff[1], cwd)
                        if any(_under(cwd, t) for t in targets):
                            bake.problem = (f"a later build step works in what it downloaded: "
                                            f"`{_short(' '.join(cmd.text().split()))}` (line {ins.start_line})")
                            return
                        continue
                    if prog in _HARMLESS_LATER:
                        continue
                    for v in eff[1:]:
                        v = v.split("=", 1)[1] if v.startswith("-") and "=" in v else v
                        if not v or v.startswith("-") or "://" in v:
                            continue
                        p = _abs(v, cwd)
                        if any(_under(p, t) and p != "/" for t in targets):
                            bake.problem = (f"a later build step uses what it downloaded: "
                                            f"`{_short(' '.join(cmd.text().split()))}` (line {ins.start_line})")
                            return
                    named = _script_names(doc, ctx, ins, eff, cwd, targets)
                    if named:
                        bake.problem = (f"a later build step reads what it baked: `{_short(' '.join(eff))}` "
                                        f"(line {ins.start_line}) runs {named}")
                        return
        elif ins.keyword in ("COPY", "ADD") and ins.index > bake.instr.index:
            pass
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD") and ins.flag("from") is not None:
            f = (ins.flag("from").value or "").lower()
            st = doc.stage_of(bake.instr)
            if st is not None and (f == (st.name or "") or f == str(st.index)):
                for w, _, _ in _copy_words(ins)[:-1]:
                    p = _abs(w, "/")
                    if any(_under(p, t) or _under(t, p) for t in targets):
                        bake.problem = f"a later stage copies what it downloaded (line {ins.start_line})"
                        return


# -- removal edits --------------------------------------------------------------------------------------------
def removal_edits(doc: Document, bakes: list[Bake]) -> list[Edit] | str:
    """Edits taking every bake of ``bakes`` out of the Dockerfile, or why that cannot be done."""
    edits: list[Edit] = []
    by_instr: dict[int, list[Bake]] = {}
    for b in bakes:
        by_instr.setdefault(b.instr.index, []).append(b)
    for idx, group in by_instr.items():
        ins = doc.instructions[idx]
        if any(b.kind == "whole" for b in group):
            continue  # the COPY stays; the weights go through .dockerignore
        if any(b.remove_instr for b in group):
            edits.append(Edit(_with_comments(doc, ins), ins.line_end, ""))
            continue
        if ins.keyword in ("COPY", "ADD"):
            e = _remove_copy_words(doc, ins, sorted({i for b in group for i in b.remove_words}))
            if isinstance(e, str):
                return e
            edits.extend(e)
            continue
        cmds = [c for b in group for c in b.remove_cmds]
        e = _remove_commands(doc, ins, cmds)
        if isinstance(e, str):
            return e
        edits.extend(e)
    return edits


def _with_comments(doc: Document, ins: Instruction) -> int:
    """Start of ``ins`` including the comment lines right above it (they describe the step that
    goes), except directives for tools (``# slimml:``, ``# hadolint``, ``# syntax=``)."""
    start = ins.line_start
    for t in reversed(doc.preceding_trivia(ins)):
        c = t.content(doc.text).lstrip("#").strip().lower()
        if c.startswith(("slimml:", "hadolint", "syntax=", "escape=", "check=")):
            break
        start = t.line_start
    return start


def _remove_copy_words(doc: Document, ins: Instruction, idxs: list[int]) -> list[Edit] | str:
    words = _copy_words(ins)
    if ins.json is not None:
        import json

        kept = [w for k, (w, _, _) in enumerate(words) if k not in idxs]
        s, e = ins.args_span(0, len(ins.args.rstrip()))
        return [Edit(s, e, json.dumps(kept, ensure_ascii=False))]
    out = []
    for k in idxs:
        _, ws, we = words[k]
        ne = words[k + 1][1]
        s, _ = ins.args_span(ws, we)
        e = ins.args_offset(ne)
        out.append(Edit(s, e, ""))
    return out


@dataclass
class _Elem:
    node: object
    start: int  # file offsets
    end: int


def _flatten(script: Script, node) -> tuple[list[_Elem], list[str]]:
    if node.type == "list":
        kids = node.children
        left, op, right = kids[0], kids[1], kids[-1]
        e1, o1 = _flatten(script, left)
        e2, o2 = _flatten(script, right)
        return e1 + e2, o1 + [op.type] + o2
    if node.type == "redirected_statement" and node.children and node.children[0].type == "list":
        # tree-sitter-bash reads `a && b > f` as `(a && b) > f`; the redirect belongs to b.
        e, o = _flatten(script, node.children[0])
        e[-1] = _Elem(e[-1].node, e[-1].start, script.file_span(node)[1])
        return e, o
    s, e = script.file_span(node)
    return [_Elem(node, s, e)], []


def _nkey(node) -> tuple:
    """tree-sitter hands out a new wrapper object per access: compare nodes by position."""
    return (node.start_byte, node.end_byte, node.type)


def _elem_holds(elem: _Elem, cmd_node) -> bool:
    n = elem.node
    if _nkey(n) == _nkey(cmd_node):
        return True
    return n.type == "redirected_statement" and bool(n.children) and _nkey(n.children[0]) == _nkey(cmd_node)


def _remove_commands(doc: Document, ins: Instruction, cmds: list[Command]) -> list[Edit] | str:
    scripts = {id(c.script): c.script for c in cmds}
    if len(scripts) != 1:
        return "downloads in several shell programs of one RUN"
    script = next(iter(scripts.values()))
    if ins.heredocs and script.heredoc is None:
        stmts = script.statements()
        if len(stmts) == 1 and all(_elem_holds(_Elem(stmts[0], 0, 0), c.node) for c in cmds):
            return [Edit(_with_comments(doc, ins), ins.line_end, "")]
        return "the RUN mixes heredocs and commands"
    targets = {_nkey(c.node) for c in cmds}
    stmts = script.statements()
    plan = []  # per statement: (elements, ops, removed flags)
    found = set()
    for st in stmts:
        elems, ops = _flatten(script, st)
        flags = []
        for el in elems:
            hit = next((c for c in cmds if _elem_holds(el, c.node)), None)
            if hit is not None:
                found.add(_nkey(hit.node))
            flags.append(hit is not None)
        plan.append((st, elems, ops, flags))
    if found != targets:
        return "a download sits inside a pipeline, subshell, condition or loop"
    stmt_removed = []
    edits: list[Edit] = []
    for st, elems, ops, flags in plan:
        if not any(flags):
            stmt_removed.append(False)
            continue
        names = [_elem_name(script, el) for el in elems]
        if all(f or n in _TRIVIAL for f, n in zip(flags, names)):
            stmt_removed.append(True)
            continue
        if any(op != "&&" for op in ops):
            return "the download is joined to other commands with `||`, `|` or `&`"
        stmt_removed.append(False)
        edits.extend(_run_deletions([(el.start, el.end) for el in elems], flags))
    if all(stmt_removed) or all(r or _stmt_trivial(script, st) for r, (st, *_rest) in zip(stmt_removed, plan)):
        return [Edit(_with_comments(doc, ins), ins.line_end, "")]
    spans = [script.file_span(st) for st in stmts]
    edits.extend(_run_deletions(spans, stmt_removed))
    return edits


def _elem_name(script: Script, el: _Elem) -> str:
    n = el.node
    if n.type == "redirected_statement" and n.children:
        n = n.children[0]
    if n.type != "command":
        return ""
    for ch in n.children:
        if ch.type == "command_name":
            return H.basename(script.node_text(ch).strip("'\""))
    return ""


def _stmt_trivial(script: Script, st) -> bool:
    elems, _ = _flatten(script, st)
    return all(_elem_name(script, el) in _TRIVIAL for el in elems)


def _run_deletions(spans: list[tuple[int, int]], removed: list[bool]) -> list[Edit]:
    """Delete the removed items of a sequence, keeping the separators of the kept ones."""
    edits = []
    n = len(spans)
    i = 0
    while i < n:
        if not removed[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and removed[j + 1]:
            j += 1
        if i == 0:
            end = spans[j + 1][0] if j + 1 < n else spans[j][1]
            edits.append(Edit(spans[0][0], end, ""))
        else:
            edits.append(Edit(spans[i - 1][1], spans[j][1], ""))
        i = j + 1
    return edits
