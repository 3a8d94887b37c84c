"""The stage chain and the build state before each instruction.

A stage built ``FROM <an earlier stage>`` starts with that stage's ENV, WORKDIR, USER and SHELL
(BuildKit copies the parent's image config); ARG values do not cross stages. A stage built from
an external image starts from what slimml knows of that image (knowledge.image_config): for an
unknown image its SHELL -- and so the meaning of every RUN's options -- is unknown.

Values carry whether they are *certain*: an ARG (or an ENV derived from one) can be changed by
``--build-arg`` at build time, so a fix must not rely on its default.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..dockerfile import Document, Instruction, Stage, shell_words

DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class Var:
    value: str  # as far as it is known ("" for an ARG without a default)
    kind: str  # "env" | "arg"
    certain: bool  # False: a build arg can change it


@dataclass(frozen=True)
class BuildState:
    env: Mapping[str, Var]
    workdir: str
    user: str | None
    shell: tuple[str, ...] | None  # None: Docker's default /bin/sh -c
    shell_known: bool  # False: the base image is unknown and no SHELL of this file overrides it
    root_image: str | None  # the external image at the root of the chain (expanded), None for scratch
    root_known: bool  # the root image is one slimml knows (its SHELL at least)
    stage_index: int

    @property
    def effective_shell(self) -> tuple[str, ...] | None:
        """The SHELL argv every shell-form RUN runs through; None when it cannot be known."""
        if self.shell is not None:
            return self.shell
        return DEFAULT_SHELL if self.shell_known else None

    def values(self) -> dict[str, str]:
        return {k: v.value for k, v in self.env.items()}

    def value(self, name: str) -> str | None:
        v = self.env.get(name)
        return v.value if v is not None else None

    def certain(self, name: str) -> bool:
        """``name`` is unset or set to a value no build arg can change."""
        v = self.env.get(name)
        return v is None or v.certain


# -- word expansion (BuildKit's shell lexer: quotes, escapes, $VAR, ${VAR}, ${VAR:-w}, ${VAR:+w}) ---------
@dataclass
class Expansion:
    value: str
    unknown: list[str] = field(default_factory=list)  # variables unset, or settable by a build arg
    unsupported: bool = False  # a modifier slimml does not model

    @property
    def certain(self) -> bool:
        return not self.unknown and not self.unsupported


def expand(raw: str, env: Mapping[str, Var | str], escape: str = "\\") -> Expansion:
    """Expand one word as BuildKit does for ENV/WORKDIR/USER/COPY/FROM (no command substitution).

    Unsupported modifiers (``${V#p}``, ``${V/a/b}``) and variables that are unset or may change
    make the result uncertain."""
    out = Expansion("")
    buf: list[str] = []
    i, n = 0, len(raw)
    quote = None

    def lookup(name: str) -> str | None:
        v = env.get(name)
        if v is None:
            return None
        if isinstance(v, Var):
            if not v.certain:
                out.unknown.append(name)
            return v.value
        return v

    while i < n:
        ch = raw[i]
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                buf.append(ch)
            i += 1
            continue
        if ch == escape and i + 1 < n:
            nxt = raw[i + 1]
            if quote == '"' and nxt not in ('"', "$", escape):
                buf.append(ch)
            buf.append(nxt)
            i += 2
            continue
        if ch in "'\"" and (quote is None or quote == ch):
            if ch == "'" and quote is None:
                quote = "'"
            else:
                quote = None if quote == ch else ch
            i += 1
            continue
        if ch == "$" and i + 1 < n:
            j, text = _expand_var(raw, i, lookup, out, env, escape)
            if j > i:
                buf.append(text)
                i = j
                continue
        buf.append(ch)
        i += 1
    out.value = "".join(buf)
    return out


def _name_end(s: str, i: int) -> int:
    j = i
    while j < len(s) and (s[j].isalnum() or s[j] == "_"):
        j += 1
    return j


def _expand_var(raw: str, i: int, lookup, out: Expansion, env, escape: str) -> tuple[int, str]:
    """(end, text) of the reference at ``raw[i] == '$'``; end == i when it is no reference."""
    if raw[i + 1] == "{":
        close = raw.find("}", i + 2)
        if close < 0:
            return i, ""
        body = raw[i + 2 : close]
        k = _name_end(body, 0)
        name, rest = body[:k], body[k:]
        if not name:
            out.unsupported = True
            return close + 1, ""
        val = lookup(name)
        if val is None:
            out.unknown.append(name)  # unset here; the base image may set it
        if rest == "":
            return close + 1, val or ""
        for op in (":-", ":+", "-", "+"):
            if rest.startswith(op):
                inner = expand(rest[len(op) :], env, escape)
                use = {":-": not val, "-": val is None, ":+": bool(val), "+": val is not None}[op]
                if use:
                    out.unknown.extend(inner.unknown)
                    out.unsupported |= inner.unsupported
                if op in (":-", "-"):
                    return close + 1, inner.value if use else val
                return close + 1, inner.value if use else ""
        out.unsupported = True  # ${V:?msg}, ${V#p}, ${V%p}, ${V/a/b}: not modelled
        return close + 1, val or ""
    k = _name_end(raw, i + 1)
    if k == i + 1:
        return i, ""
    name = raw[i + 1 : k]
    val = lookup(name)
    if val is None:
        out.unknown.append(name)
    return k, val or ""


# -- the chain --------------------------------------------------------------------------------------
def global_args(doc: Document) -> dict[str, Var]:
    """ARGs before the first FROM: their defaults (uncertain: ``--build-arg`` may set them)."""
    memo = doc.__dict__.get("_global_args")
    if memo is None:
        memo = {}
        for a in doc.global_args:
            for k, v in _kv(a):
                # BuildKit processes the default as a word: quotes go, earlier global ARGs expand
                memo[k] = Var(expand(v, memo, doc.escape).value if v is not None else "", "arg", False)
        doc.__dict__["_global_args"] = memo
    return memo


def from_image(doc: Document, stage: Stage) -> str:
    """The FROM reference with global ARG defaults expanded (as written when nothing to expand)."""
    if "$" not in stage.image:
        return stage.image
    return expand(stage.image, global_args(doc), doc.escape).value


def parent_stage(doc: Document, stage: Stage) -> Stage | None:
    """The earlier stage this one is built FROM by name, if any (names compare case-insensitively)."""
    memo = doc.__dict__.setdefault("_parent_stage", {})
    if stage.index not in memo:
        image = from_image(doc, stage).lower()
        memo[stage.index] = next((s for s in reversed(doc.stages[: stage.index]) if s.name == image), None)
    return memo[stage.index]


def stage_chain(doc: Document, stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM by name, nearest first."""
    out = [stage]
    p = parent_stage(doc, stage)
    while p is not None and p not in out:
        out.append(p)
        p = parent_stage(doc, p)
    return out


def descendants(doc: Document, stage: Stage) -> list[Stage]:
    """Stages built FROM ``stage`` by name, directly or through others, in file order."""
    out: list[Stage] = []
    family = {stage.index}
    for st in doc.stages[stage.index + 1 :]:
        p = parent_stage(doc, st)
        if p is not None and p.index in family:
            family.add(st.index)
            out.append(st)
    return out


def image_stages(doc: Document) -> set[int]:
    """Indexes of the final stage and the stages it is built FROM (what ends up in the image)."""
    st = doc.final_stage
    return {s.index for s in stage_chain(doc, st)} if st is not None else set()


# -- the state fold -----------------------------------------------------------------------------------
def _kv(instr: Instruction) -> list[tuple[str, str | None]]:
    """Key/raw-value pairs of ENV/ARG (``K=V``, legacy ``ENV K V``; ARG without ``=``: None)."""
    words = shell_words(instr.args, raw=True)
    if not words:
        return []
    if instr.keyword == "ENV" and "=" not in words[0][0]:
        key = words[0][0]
        return [(key, instr.args[words[0][2] :].strip())]
    out = []
    for w, _, _ in words:
        k, eq, v = w.partition("=")
        out.append((k, v if eq else None))
    return out


def _root_state(doc: Document, stage: Stage) -> BuildState:
    from ..knowledge import image_config as IC
    from ..knowledge.images import parse_image

    ref = from_image(doc, stage)
    if ref.lower() == IC.SCRATCH:
        return BuildState(MappingProxyType({}), "/", None, None, True, None, True, stage.index)
    known = False
    shell = None
    if "$" not in ref:
        repo = parse_image(ref).normalized
        if repo in IC.KNOWN_SHELLS:
            known, shell = True, IC.KNOWN_SHELLS[repo]
        elif repo in IC.DEFAULT_SHELL_REPOS:
            known = True
    return BuildState(MappingProxyType({}), "/", None, shell, known, ref, known, stage.index)


def _step(doc: Document, state: BuildState, ins: Instruction) -> BuildState:
    kw = ins.keyword
    if kw == "ENV":
        env = dict(state.env)
        for k, raw in _kv(ins):
            e = expand(raw or "", env, doc.escape)
            env[k] = Var(e.value, "env", e.certain)
        return _replace(state, env=MappingProxyType(env))
    if kw == "ARG":
        env = dict(state.env)
        glob = global_args(doc)
        for k, raw in _kv(ins):
            if raw is None:
                default = glob[k].value if k in glob else ""
            else:
                default = expand(raw, env, doc.escape).value
            env[k] = Var(default, "arg", False)
        return _replace(state, env=MappingProxyType(env))
    if kw == "WORKDIR" and ins.args.strip():
        e = expand(ins.args.strip(), state.env, doc.escape)
        return _replace(state, workdir=posixpath.normpath(posixpath.join(state.workdir, e.value or ".")))
    if kw == "USER" and ins.args.strip():
        e = expand(ins.args.strip(), state.env, doc.escape)
        return _replace(state, user=e.value.split(":")[0] or None)
    if kw == "SHELL" and ins.json:
        return _replace(state, shell=tuple(ins.json), shell_known=True)
    return state


def _replace(state: BuildState, **kw) -> BuildState:
    d = {f: getattr(state, f) for f in BuildState.__dataclass_fields__}
    d.update(kw)
    return BuildState(**d)


def _states(doc: Document) -> tuple[dict[int, BuildState], dict[int, BuildState]]:
    """({instruction index: state before it}, {stage index: state at its end}), once per document."""
    memo = doc.__dict__.get("_build_states")
    if memo is None:
        before: dict[int, BuildState] = {}
        end: dict[int, BuildState] = {}
        for st in doc.stages:
            parent = parent_stage(doc, st)
            if parent is not None and parent.index in end:
                p = end[parent.index]
                # ARGs are per stage: only ENV crosses.
                env = MappingProxyType({k: v for k, v in p.env.items() if v.kind == "env"})
                state = _replace(p, env=env, stage_index=st.index)
            else:
                state = _root_state(doc, st)
            for ins in st.instructions:
                before[ins.index] = state
                state = _step(doc, state, ins)
            end[st.index] = state
        memo = doc.__dict__["_build_states"] = (before, end)
    return memo


def state_before(doc: Document, instr: Instruction) -> BuildState | None:
    """The build state ``instr`` sees (None for global ARGs)."""
    if instr.stage < 0:
        return None
    return _states(doc)[0].get(instr.index)


def state_at_end(doc: Document, stage: Stage) -> BuildState:
    return _states(doc)[1][stage.index]
