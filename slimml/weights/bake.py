"""What a baking step is (``Bake``) and the helpers every source kind shares: the image's stages,
the build environment (ENV/ARG) at an instruction, variable expansion, paths, COPY operands and
the label of a RUN command.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..dockerfile import Document, Instruction, shell_words
from ..dockerfile.shell import Command
from ..knowledge import weights as K
from ..rules import _helpers as H
from ..shellvars import VarRefs
from ..units import human_bytes as human  # noqa: F401 - re-exported for messages
from .sources import Source

VAR_RE = VarRefs(r"\w+", ":?[-=+?]", op_group=True)  # linear-time \$(?:\{(\w+)(?:(:?[-=+?])([^}]*))?\}|(\w+))


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
    kind: str = ""  # "context" | "whole" | "mixed" | "url" | "run" | "archive" | "stage"
    # kind "stage" (COPY --from=<download stage>): the stage, the stage's bakes the COPY takes,
    # and what happens to the stage: dropped (file span; its instructions), or its downloads
    # removed (inner_remove), or kept.
    stage: int = -1
    inner: list[Bake] = field(default_factory=list)
    drop: tuple[int, int] | None = None
    gone: list[int] = field(default_factory=list)
    inner_remove: bool = False
    # `git lfs pull` in lfs_dir (lfs_filtered: only some files), paired with its clone by kinds.hub
    lfs_dir: str = ""
    lfs_filtered: bool = False


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
        # The values change only at ENV and ARG: instructions with the same ones before them in the stage
        # share the fold (one fold per RUN made long files quadratic).
        stage = doc.stage_of(instr)
        at = None
        if stage is not None:
            setters = doc.__dict__.setdefault("_slm010_setters", {})
            if stage.index not in setters:
                setters[stage.index] = [i.index for i in stage.instructions if i.keyword in ("ENV", "ARG")]
            marks = setters[stage.index]
            k = bisect.bisect_left(marks, instr.index)
            at = (stage.index, marks[k - 1] if k else -1)
        shared = doc.__dict__.setdefault("_slm010_env_at", {})
        if at is None or at not in shared:
            env = _build_env(doc, instr)
            if at is not None:
                shared[at] = env
        memo[instr.index] = shared[at] if at is not None else env
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

    out = VAR_RE.sub(sub, text)
    return None if unknown or "$" in out else out


def abspath(path: str, cwd: str) -> str:
    return posixpath.normpath(posixpath.join(cwd, path))


def under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


def url_basename(url: str) -> str:
    return posixpath.basename(urlsplit(url).path.rstrip("/"))


def hub_repo(url: str) -> tuple[str, str] | None:
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


def workdir_is(doc: Document, path: str) -> bool:
    return any(
        i.keyword == "WORKDIR" and abspath(i.args.strip().strip("'\""), "/") == path.rstrip("/")
        for i in doc.instructions
    )


def copy_words(ins: Instruction) -> list[tuple[str, int, int]]:
    """(word, args start, args end) of a COPY/ADD, quotes removed; exec form has no offsets."""
    if ins.json is not None:
        return [(w, -1, -1) for w in ins.json]
    return shell_words(ins.args, raw=False)


def dest_of(ins: Instruction, doc: Document, dest: str) -> tuple[str, bool]:
    """(absolute destination, names a directory)."""
    wd = H.workdir_at(doc, ins)
    ab = abspath(dest, wd)
    return ab, dest.endswith("/") or dest in (".", "./") or workdir_is(doc, ab)


def toplevel(cmd: Command) -> bool:
    p = cmd.node.parent
    while p is not None:
        if p.type in (
            "subshell",
            "command_substitution",
            "process_substitution",
            "pipeline",
            "if_statement",
            "for_statement",
            "while_statement",
            "case_statement",
            "function_definition",
            "compound_statement",
        ):
            return False
        p = p.parent
    return True


def cmd_label(ins: Instruction, cmd: Command | None) -> str:
    if cmd is None:
        text = ins.args
    else:
        node = cmd.node
        if node.parent is not None and node.parent.type == "redirected_statement":
            node = node.parent  # `python3 <<PY`: keep the redirect in the label
        text = cmd.script.node_text(node).split("\n", 1)[0]
    return f"RUN {' '.join(text.split())}"


def new_bake(ins: Instruction, cmd: Command | None, label: str | None = None) -> Bake:
    start, end = (cmd.start, cmd.end) if cmd is not None else (ins.start, ins.end)
    b = Bake(ins, start, end, label or cmd_label(ins, cmd), kind="run")
    if cmd is not None:
        b.remove_cmds = [cmd]
    return b


def short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def nkey(node) -> tuple:
    """tree-sitter hands out a new wrapper object per access: compare nodes by position."""
    return (node.start_byte, node.end_byte, node.type)


def hf_cache_dir(env: dict[str, str], names: tuple[str, ...] = K.HF_CACHE_ENV[""], home: str = "/root") -> str:
    """The hub cache a build step used, from the ENV the Dockerfile sets."""
    for n in names:
        if env.get(n):
            return env[n]
    if env.get("HF_HOME"):
        return posixpath.join(env["HF_HOME"], "hub")
    cache = env.get("XDG_CACHE_HOME") or posixpath.join(home, ".cache")
    return posixpath.join(cache, "huggingface", "hub")
