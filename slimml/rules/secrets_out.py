"""Secrets baked into the image: ENV/ARG values, build args recorded by RUN, copied key files.

What it does
    Finds secrets that end up in the image or its metadata and takes them out:

    * ``ENV`` pairs whose name looks secret (``HF_TOKEN``, ``*_TOKEN``, ``*_KEY``, ``*SECRET*``,
      ``*PASSWORD*``, ``AWS_ACCESS_KEY_ID``, ...) or whose value does (``hf_...``, ``sk-...``,
      ``AKIA...``, ``ghp_...``, ``glpat-...``, ``xoxb-...``, private keys, ``https://user:pass@host``),
      and ``ENV HF_TOKEN=${HF_TOKEN}``, which copies a build arg into the image config: the pair
      is removed (just that pair when the ENV sets several; the legacy ``ENV NAME value`` form too).

    * ``ARG`` with a secret default, and a secret-named ``ARG`` without default in a stage with a
      later RUN: removed. Without any RUN after it nothing records it; that is reported only.

    * Every RUN that reads the variable at build time -- ``$HF_TOKEN``, ``${HF_TOKEN}``, or a
      program that reads it from its environment (``huggingface-cli``, ``aws``, ``pip`` for
      ``PIP_*``, interpreters and scripts) -- gets it from a BuildKit secret instead:
      ``--mount=type=secret,id=hf_token`` after ``RUN`` and
      ``export HF_TOKEN="$(cat /run/secrets/hf_token)"`` as the first command of its shell (the
      first line of a heredoc script). The ``/run/secrets/<id>`` form works with the Dockerfile
      frontend built into Docker 20.10+, so no ``# syntax=`` line is added.

    * ``COPY``/``ADD`` of secrets files (``.env``, ``.env.*`` but not ``.env.example``,
      ``id_rsa``, private-key ``*.pem``/``*.key``, ``.netrc``, ``credentials``, ``.aws/``,
      service-account JSON, ``.npmrc``/``.pypirc`` holding tokens): the source is removed (the
      instruction when it copied nothing else) and the file is added to ``.dockerignore``
      under ``# added by slimml (SLM009)``. ``COPY . .`` of a context holding such files gets
      the ``.dockerignore`` lines only (``.env`` and ``.env.*`` for dotenv files).

    All fixes are unsafe: the build and the container must now receive the secret from outside
    (``docker build --secret id=hf_token,env=HF_TOKEN``; ``docker run -e HF_TOKEN`` /
    ``--env-file``, compose ``environment:``/``env_file:``, Kubernetes ``secretKeyRef``) and the
    app may read a removed file at run time. Reported without a fix: a RUN that reads a copied
    secrets file at build time (it needs a secret mount with that file's path), a secret read by
    an exec-form RUN or a non-shell heredoc, a secret expanded into ``LABEL``/``COPY``/...,
    secret-looking values written literally into RUN/CMD/LABEL, and ``huggingface-cli login``
    and friends, which store the token in the layer. Values are never printed: messages name
    the variable or file only. A secret that was committed must be rotated.

Why
    ``ENV`` values are part of the image config: ``docker inspect`` shows them to anyone who can
    pull the image, and every container gets them. Build args are recorded with every RUN after
    them in ``docker history``. A copied file stays in its layer for ever, even if a later RUN
    deletes it.

Example
    FROM python:3.11-slim
    ENV HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxx
    RUN pip install --no-cache-dir huggingface_hub
    RUN huggingface-cli download org/model --local-dir /models
    COPY .env .

Use instead
    FROM python:3.11-slim
    RUN pip install --no-cache-dir huggingface_hub
    RUN --mount=type=secret,id=hf_token export HF_TOKEN="$(cat /run/secrets/hf_token)" && huggingface-cli download org/model --local-dir /models

    built with ``docker build --secret id=hf_token,env=HF_TOKEN .``, run with
    ``docker run --env-file .env ...``, and ``.env`` in ``.dockerignore``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from .. import dockerignore as DI
from ..dockerfile import Document, Instruction, Stage, shell_words
from ..dockerfile.shell import run_scripts
from ..engine import Edit, Fix
from ..knowledge import secrets as K
from ..secrets import is_secret_name
from ..secrets import looks_secret_value, mask
from . import _helpers as H

CODE = "SLM009"
NAME = "secrets"
SUMMARY = "Secrets in the image: ENV/ARG values, build args recorded by RUN, copied .env and key files"
FIX = "unsafe"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)
_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}
_HEREDOC_ONLY = re.compile(r"\s*\d*<<-?\S+\s*")
_LOGIN_PROGRAMS = frozenset(cmd[0] for cmd in K.LOGIN_COMMANDS)
_PY_MODULES_NOT_CODE = frozenset({"pip", "venv", "ensurepip", "compileall", "py_compile", "site", "virtualenv"})


# -- names and values ---------------------------------------------------------------------------------
@lru_cache(maxsize=8192)  # pure, and asked again for the same instruction text on every pass
def value_kind(value: str) -> str | None:
    """What kind of secret a value looks like ("Hugging Face token", ...), or None."""
    for rx, label in K.VALUE_KINDS:
        if rx.search(value):
            return label
    return "secret-looking value" if looks_secret_value(value) else None


def _is_reference(value: str) -> bool:
    return bool(K.PURE_REFERENCE.fullmatch(value))


def _refs(text: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in K.REFERENCE.finditer(text)}


def unmaskable(doc: Document, pair: Pair) -> bool:
    """A secret value of the pair's instruction would survive ``slimml.secrets.mask`` on the lines
    the diff of removing the pair shows (the whole instruction)."""
    values = [q.value for q in pairs(pair.instr)
              if q.value and (is_secret_name(q.name) or value_kind(q.value)) and not _is_reference(q.value)]
    parts = [x for v in values for x in re.split(r"[\s\\\"'`]+", v) if len(x) >= 2]
    lines = doc.text[pair.instr.line_start:pair.instr.line_end].splitlines()
    masked = "\n".join(mask(pre + line) for line in lines for pre in ("-", "+", " "))
    return any(x in masked for x in parts)


def _references(text: str, name: str) -> bool:
    return re.search(r"\$\{?" + re.escape(name) + r"(?![A-Za-z0-9_])", text) is not None


# -- ENV/ARG pairs ------------------------------------------------------------------------------------
@dataclass
class Pair:
    instr: Instruction
    index: int
    name: str
    value: str | None  # None: ARG without default
    start: int  # file span of the pair
    end: int
    legacy: bool = False


def pairs(instr: Instruction) -> list[Pair]:
    memo = instr.__dict__.get("_slm009_pairs")
    if memo is None:
        memo = instr.__dict__["_slm009_pairs"] = _pairs(instr)
    return memo


def _pairs(instr: Instruction) -> list[Pair]:
    if instr.keyword not in ("ENV", "ARG"):
        return []
    raw = shell_words(instr.args, raw=True)
    plain = shell_words(instr.args, raw=False)
    if not raw:
        return []
    if instr.keyword == "ENV" and "=" not in raw[0][0]:
        rest = instr.args[raw[0][2]:].strip()
        if not rest:
            return []
        value = " ".join(w for w, _, _ in shell_words(rest, raw=False))
        start, end = instr.args_span(raw[0][1], len(instr.args.rstrip()))
        return [Pair(instr, 0, plain[0][0], value, start, end, legacy=True)]
    out = []
    for k, ((_, a, b), (word, _, _)) in enumerate(zip(raw, plain)):
        name, eq, value = word.partition("=")
        start, end = instr.args_span(a, b)
        out.append(Pair(instr, k, name, value if eq else None, start, end))
    return out


def _line_bounds(text: str, at: int) -> tuple[int, int]:
    """(start of the physical line holding ``at``, end of its content before ``\\n``)."""
    ls = text.rfind("\n", 0, at) + 1
    le = text.find("\n", at)
    return ls, (len(text) if le < 0 else le)


def removal(doc: Document, pair: Pair) -> Edit:
    """The edit that deletes ``pair`` from its ENV/ARG, keeping the rest of it as written."""
    instr = pair.instr
    ps = pairs(instr)
    if len(ps) == 1:
        return Edit(instr.line_start, instr.line_end, "")
    text, i = doc.text, pair.index
    ls, le = _line_bounds(text, pair.start)
    before = text[ls:pair.start]
    after = text[pair.end:le].rstrip("\r")
    if not before.strip() and after.strip() == doc.escape:
        return Edit(ls, min(le + 1, len(text)), "")  # alone on a continued line: drop the line
    nxt = ps[i + 1] if i + 1 < len(ps) else None
    prv = ps[i - 1] if i > 0 else None
    if nxt is not None and nxt.start <= le:
        return Edit(pair.start, nxt.start, "")  # `A=1 SECRET=x B=2` -> `A=1 B=2`
    if prv is not None:
        return Edit(prv.end, pair.end, "")  # last on its line: take the separator before it
    # First pair, the next one on a later line: `ENV SECRET=x \ <nl> B=2` -> `ENV B=2`, or
    # `ENV \` when comment lines sit in between (they stay).
    between = text[pair.end:nxt.start]
    if "#" not in between:
        return Edit(pair.start, nxt.start, "")
    ws = len(after) - len(after.lstrip())
    return Edit(pair.start, pair.end + ws, "")


# -- stages and scope -----------------------------------------------------------------------------------
def _children(doc: Document, stage: Stage) -> list[Stage]:
    out, todo = [], [stage]
    while todo:
        st = todo.pop()
        if not st.name:
            continue
        for s in doc.stages[st.index + 1:]:
            if s.image.lower() == st.name and s not in out:
                out.append(s)
                todo.append(s)
    return out


def _overrides(instr: Instruction, name: str, kind: str) -> bool:
    """``instr`` gives ``name`` a new value that does not come from the old one."""
    if instr.keyword not in ("ENV", "ARG") or (instr.keyword == "ARG" and kind == "ENV"):
        return False
    for p in pairs(instr):
        if p.name == name and p.value is not None and name not in _refs(p.value):
            return True
    return False


def scope(doc: Document, pair: Pair) -> list[Instruction]:
    """Instructions that see the variable ``pair`` sets (in order)."""
    instr, name = pair.instr, pair.name
    out: list[Instruction] = []

    def run_from(instrs, kind) -> bool:
        for i in instrs:
            if _overrides(i, name, kind):
                return False
            out.append(i)
        return True

    if instr.stage < 0:  # global ARG: seen by the stages that declare it again
        for st in doc.stages:
            for k, i in enumerate(st.instructions):
                if i.keyword == "ARG" and any(p.name == name and p.value is None for p in pairs(i)):
                    run_from(st.instructions[k + 1:], "ARG")
                    break
        return out
    stage = doc.stages[instr.stage]
    pos = stage.instructions.index(instr)
    alive = run_from(stage.instructions[pos + 1:], instr.keyword)
    if instr.keyword == "ENV" and alive:
        for child in _children(doc, stage):
            run_from(child.instructions, "ENV")
    return out


# -- RUN analysis ---------------------------------------------------------------------------------------
def _run_source(doc: Document, run: Instruction) -> str:
    return run.args + "".join("\n" + h.body(doc.text) for h in run.heredocs)


def _programs(doc: Document, run: Instruction) -> list[list[str]]:
    """argv of every command a RUN runs (wrappers such as ``sudo``/``uv run`` stripped)."""
    memo = run.__dict__.get("_slm009_programs")  # asked by several checks of one pass
    if memo is None:
        memo = run.__dict__["_slm009_programs"] = _find_programs(doc, run)
    return [list(a) for a in memo]


def _find_programs(doc: Document, run: Instruction) -> list[list[str]]:
    out: list[list[str]] = []
    if run.json is not None:
        out.append(list(run.json))
    scripts = run_scripts(doc, run)
    body_parsed = any(s.heredoc is not None for s in scripts)
    for s in scripts:
        for c in s.commands:
            argv = c.effective_argv()
            if argv and body_parsed and s.heredoc is None and H.basename(argv[0]) in _SHELLS:
                continue  # `bash <<EOF`: the body is one of the scripts, read as such
            out.append(argv)
    if run.heredocs and not body_parsed:
        body = run.heredocs[0].body(doc.text)
        if body.startswith("#!"):
            interp = body[2:].split("\n", 1)[0].split()
            if interp:
                out.append((interp[1:] if interp[0].endswith("/env") else interp) + ["<heredoc>"])
    return [a for a in out if a]


def _runs_code(argv: list[str]) -> bool:
    prog = H.basename(argv[0])
    if not K.CODE_RUNNERS.match(prog):
        return False
    rest = argv[1:]
    if prog.startswith("python"):
        if "-m" in rest:
            k = rest.index("-m")
            return k + 1 < len(rest) and rest[k + 1] not in _PY_MODULES_NOT_CODE
        return not rest or any(a not in ("-V", "-VV", "--version") for a in rest)
    return True


def run_uses(doc: Document, run: Instruction, name: str) -> bool:
    """The RUN reads ``name``: ``$name`` in its shell, or a program that reads it by itself."""
    if _references(_run_source(doc, run), name):
        return True
    up = name.upper()
    for argv in _programs(doc, run):
        if _runs_code(argv):
            return True
        pats = K.ENV_CONSUMERS.get(H.basename(argv[0]), ())
        if any(fnmatchcase(up, p.upper()) for p in pats):
            return True
    return False


def _secret_mount(run: Instruction, sid: str, name: str) -> dict | None:
    for m in H.mounts(run):
        if m.get("type") != "secret":
            continue
        mid = (m.get("id") or posixpath.basename(m.get("target", ""))).lower()
        if mid == sid or m.get("env") == name:
            return m
    return None


def _secret_path(m: dict | None, sid: str) -> str:
    if m and m.get("target"):
        return m["target"]
    return f"/run/secrets/{(m or {}).get('id') or sid}"


def handled(doc: Document, run: Instruction, name: str, sid: str) -> bool:
    """The RUN already takes ``name`` from a secret mount (``env=`` or reading its file)."""
    m = _secret_mount(run, sid, name)
    if m is None:
        return False
    return m.get("env") == name or _secret_path(m, sid) in _run_source(doc, run)


def conversion(doc: Document, run: Instruction, name: str, sid: str) -> tuple[list[Edit] | None, str]:
    """Edits that give one RUN ``name`` from a secret mount, or (None, why not)."""
    if run.is_exec_form:
        return None, f"the exec-form RUN at line {run.start_line} has no shell to read the secret in"
    scripts = run_scripts(doc, run)
    alone = run.heredocs and _HEREDOC_ONLY.fullmatch(run.args) is not None
    if not scripts:
        what = "a heredoc script for another interpreter" if alone else "not run by a POSIX shell"
        return None, f"the RUN at line {run.start_line} is {what}"
    m = _secret_mount(run, sid, name)
    edits: list[Edit] = []
    if m is None:
        at = run.start + len(run.keyword_raw)
        edits.append(Edit(at, at, f" --mount=type=secret,id={sid}"))
    export = f'export {name}="$(cat {_secret_path(m, sid)})"'
    body = next((s for s in scripts if s.heredoc is not None), None) if alone else None
    if alone and body is None:
        return None, f"the RUN at line {run.start_line} has several heredoc scripts"
    if body is not None:
        h = body.heredoc
        at = h.body_start
        text = doc.text[h.body_start:h.body_end]
        if text.startswith("#!"):
            nl = text.find("\n")
            if nl < 0:
                return None, f"the heredoc script of the RUN at line {run.start_line} has only a shebang line"
            at += nl + 1
        edits.append(Edit(at, at, export + doc.newline))
        return edits, ""
    if run.args.lstrip().startswith("<<"):
        return None, f"the RUN at line {run.start_line} starts with a heredoc"
    first = len(run.args) - len(run.args.lstrip())
    at = run.args_offset(first)
    sep = "; " if "&" in scripts[0].toplevel_operators() else " && "
    edits.append(Edit(at, at, export + sep))
    return edits, ""


# -- ENV/ARG findings ----------------------------------------------------------------------------------
@dataclass
class Secret:
    pair: Pair
    kind: str  # "env" | "env-ref" | "arg-default" | "arg"
    what: str  # why it is secret, for the message (never the value)


def classify(doc: Document) -> list[Secret]:
    out: list[Secret] = []
    flagged: dict[int, set[str]] = {}  # stage -> secret names set in it (ENV ones also for children)
    for instr in doc.instructions:
        if instr.keyword not in ("ENV", "ARG"):
            continue
        stage = doc.stage_of(instr)
        args_in_scope = set()
        secret_in_scope = set(flagged.get(instr.stage, set()))
        if stage is not None:
            for i in stage.instructions:
                if i is instr:
                    break
                if i.keyword == "ARG":
                    args_in_scope |= {p.name for p in pairs(i)}
        for p in pairs(instr):
            sec = _classify_pair(p, args_in_scope, secret_in_scope)
            if sec is None:
                continue
            out.append(sec)
            flagged.setdefault(instr.stage, set()).add(p.name)
            if instr.keyword == "ENV" and stage is not None:
                for child in _children(doc, stage):
                    flagged.setdefault(child.index, set()).add(p.name)
    return out


def _classify_pair(p: Pair, args_in_scope: set[str], secret_in_scope: set[str]) -> Secret | None:
    kw = p.instr.keyword
    if p.value is None:
        if kw == "ARG" and p.instr.stage >= 0 and is_secret_name(p.name):
            return Secret(p, "arg", "its name says it is a secret")
        return None
    if not p.value:
        return None
    if _is_reference(p.value):
        if kw != "ENV":
            return None
        refs = _refs(p.value)
        if refs & secret_in_scope or (refs & args_in_scope and any(is_secret_name(r) for r in refs)):
            return Secret(p, "env-ref", "it copies a secret")
        if is_secret_name(p.name):
            return Secret(p, "env-ref", "it copies a secret")
        return None
    kind = value_kind(p.value)
    if kind is None and is_secret_name(p.name) and p.value.lower() not in K.HARMLESS_VALUES:
        kind = "a secret by its name"
    if kind is None:
        return None
    return Secret(p, "env" if kw == "ENV" else "arg-default", kind)


def _where(doc: Document, pair: Pair) -> str:
    if pair.instr.stage < 0:
        return "global ARG"
    st = doc.stages[pair.instr.stage]
    label = f"stage `{st.name}`" if st.name else f"stage {st.index}"
    return label


def _pair_findings(doc: Document):
    image = H.image_stages(doc)
    for sec in classify(doc):
        p = sec.pair
        name = p.name
        sid = name.lower()
        sc = scope(doc, p)
        runs_after = [i for i in sc if i.keyword == "RUN"]
        uses = [i for i in runs_after if run_uses(doc, i, name)]
        pending = [u for u in uses if not handled(doc, u, name, sid)]
        blockers = [i for i in sc if (i.keyword in K.BUILD_TIME_EXPANSION and _references(i.args, name))
                    or (i.keyword == "ARG" and any(q.value and _references(q.value, name) for q in pairs(i)))]
        if p.instr.stage < 0:
            blockers += [st.from_instruction for st in doc.stages if _references(st.from_instruction.args, name)]
        kw = p.instr.keyword
        if sec.kind == "arg" and not runs_after:
            yield H.finding(_RULE, f"build arg `{name}` looks like a secret; no RUN follows it, so nothing records it",
                            p.start, p.end,
                            note="if a RUN needs it later, use a secret mount (`RUN --mount=type=secret,id="
                                 f"{sid}`) instead: every RUN after a build arg records its value in `docker history`")
            continue
        lines = ", ".join(str(u.start_line) for u in uses)
        if kw == "ENV":
            stage_note = "" if p.instr.stage in image else f" of {_where(doc, p)}"
            if sec.kind == "env-ref":
                msg = (f"`ENV {name}` copies a secret build value into the image config{stage_note}: "
                       f"`docker inspect` shows it")
            else:
                msg = (f"`{name}` ({sec.what}) is set by ENV: it is stored in the image config{stage_note} "
                       f"(`docker inspect` shows it) and in every container's environment")
        elif sec.kind == "arg-default":
            msg = (f"build arg `{name}` has a secret default ({sec.what}): it is in the Dockerfile and in the "
                   f"layer history (`docker history`) of every RUN after it")
        else:
            msg = (f"build arg `{name}` is recorded in the layer history (`docker history`) of every RUN after it "
                   f"when passed with --build-arg")
        if uses:
            msg += f"; RUN at line {lines} reads it at build time"
        problems = []
        edits = [removal(doc, p)]
        for u in pending:
            conv, why = conversion(doc, u, name, sid)
            if conv is None:
                problems.append(why)
            else:
                edits.extend(conv)
        for b in blockers:
            problems.append(f"{b.keyword} at line {b.start_line} expands it at build time")
        if unmaskable(doc, p):
            problems.append("slimml cannot mask this value in the diff it would print (spaces, quotes or an "
                            "unusual shape)")
        if problems:
            yield H.finding(_RULE, msg, p.start, p.end,
                            note="; ".join(problems) + " -- take it out by hand (secret mount at build time, "
                                 "variable at run time) and rotate it")
            continue
        reason = []
        if pending:
            # (worded so that slimml.secrets.mask, which hides whatever follows `--secret `, keeps it)
            reason.append(f"the build must now provide the BuildKit secret `{sid}`: `docker build` with `--secret` "
                          f"`id={sid},env={name}` (or `src=<file>`; compose: `build.secrets`)")
        if sec.kind in ("arg", "arg-default"):
            reason.append(f"`--build-arg {name}` no longer has any effect")
        if kw == "ENV":
            reason.append(f"the container no longer gets `{name}` from the image: pass it at run time with "
                          f"`docker run -e {name}` or `--env-file`, compose `environment:`/`env_file:`, or a "
                          f"Kubernetes `secretKeyRef`")
        if sec.kind in ("env", "arg-default"):
            reason.append("the value is already in the Dockerfile and in images built from it: rotate it")
        what = f"remove `{name}` from {kw}"
        if pending:
            what += f" and read it from a BuildKit secret in RUN at line {', '.join(str(u.start_line) for u in pending)}"
        yield H.finding(_RULE, msg, p.start, p.end,
                        Fix.unsafe(*edits, reason="; ".join(reason), description=what))


# -- literal secrets and logins -------------------------------------------------------------------------
def _literal_findings(doc: Document):
    for instr in doc.instructions:
        if instr.keyword in ("ENV", "ARG"):
            continue
        text = doc.text[instr.start:instr.end]
        kind = value_kind(text)
        if kind is None:
            continue
        where = {"RUN": "the layer history (`docker history`)", "LABEL": "the image config (`docker inspect`)",
                 "CMD": "the image config (`docker inspect`)", "ENTRYPOINT": "the image config (`docker inspect`)",
                 "HEALTHCHECK": "the image config (`docker inspect`)"}.get(instr.keyword, "the Dockerfile and the build")
        yield H.finding(_RULE, f"a {kind} is written literally in {instr.keyword} (line {instr.start_line}): it is "
                               f"stored in {where}", instr.start, instr.end,
                        note="replace it by a BuildKit secret (`RUN --mount=type=secret,id=...`) or a run-time "
                             "variable by hand, and rotate it")


def _login_findings(doc: Document):
    for instr in doc.instructions:
        if instr.keyword != "RUN":
            continue
        for argv in _programs(doc, instr):
            if not argv or H.basename(argv[0]) not in _LOGIN_PROGRAMS:
                continue
            words = [H.basename(argv[0])] + [a for a in argv[1:] if not a.startswith("-")]
            for cmd, path in K.LOGIN_COMMANDS.items():
                if tuple(words[: len(cmd)]) == cmd:
                    yield H.finding(_RULE, f"`{' '.join(cmd)}` in RUN (line {instr.start_line}) stores the credential "
                                           f"in the layer ({path})", instr.start, instr.end,
                                    note="let the download read the token from its environment (a secret mount "
                                         "exported for that RUN) instead of logging in, or delete the file in the "
                                         "same RUN")


# -- files ------------------------------------------------------------------------------------------------
def _glob(s: str) -> bool:
    return any(c in s for c in "*?[")


@lru_cache(maxsize=4096)  # pure: file names repeat across Dockerfiles and passes
def _name_kind(base: str) -> K.SecretFile | bool | None:
    """The secret-file kind a file name matches; False for an example/template file (never a
    secret, wherever it is); None when no pattern matches."""
    if any(fnmatchcase(base, p) for p in K.NOT_SECRET_FILES):
        return False
    return next((kind for kind in K.SECRET_FILES if any(fnmatchcase(base, p) for p in kind.patterns)), None)


def file_kind(ctx, rel: str) -> tuple[K.SecretFile | None, bool]:
    """(kind, certain) of a context path: certain=False when its content could not be checked."""
    base = posixpath.basename(rel)
    if base in K.SECRET_DIRS:
        return K.SECRET_DIRS[base], True
    kind = _name_kind(base)
    if kind is False:
        return None, True
    if kind is not None:
        if kind.marker is None:
            return kind, True
        text = ctx.read_context_file(rel, limit=200_000) if ctx is not None and ctx.context_dir is not None else None
        if text is None:
            return (kind, True) if kind.unreadable_is_secret else (kind, False)
        return (kind, True) if kind.marker.search(text) else (None, True)
    parts = rel.split("/")
    for d in parts[:-1]:
        if d in K.SECRET_DIRS:
            return K.SECRET_DIRS[d], True
    return None, True


@dataclass
class Source:
    word: str
    rel: str | None  # normalized context path; None for URLs, heredocs, variables
    start: int | None  # file span of the word (None in exec form)
    end: int | None


def copy_sources(instr: Instruction) -> tuple[list[Source], str]:
    """(sources, destination) of a COPY/ADD from the build context."""
    if instr.json is not None:
        words = [(w, None, None) for w in instr.json]
    else:
        raw = shell_words(instr.args, raw=True)
        plain = shell_words(instr.args, raw=False)
        words = []
        for (_, a, b), (w, _, _) in zip(raw, plain):
            s, e = instr.args_span(a, b)
            words.append((w, s, e))
    if len(words) < 2:
        return [], ""
    out = []
    for w, s, e in words[:-1]:
        if w.startswith(("<<", "git@")) or "://" in w or "$" in w:
            out.append(Source(w, None, s, e))
        else:
            out.append(Source(w, DI.context_source(w), s, e))
    return out, words[-1][0]


def _after(doc: Document, instr: Instruction) -> list[Instruction]:
    stage = doc.stage_of(instr)
    if stage is None:
        return []
    pos = stage.instructions.index(instr)
    out = list(stage.instructions[pos + 1:])
    for child in _children(doc, stage):
        out.extend(child.instructions)
    return out


def file_used(doc: Document, instr: Instruction, names: set[str], kind: K.SecretFile) -> Instruction | None:
    """A RUN after ``instr`` that reads the copied file at build time (names it or runs its reader)."""
    pats = [re.compile(r"(?<![\w.\-])" + re.escape(n) + r"(?![\w.\-])") for n in names if n and n not in (".", "/")]
    for i in _after(doc, instr):
        if i.keyword != "RUN":
            continue
        src = _run_source(doc, i)
        if any(p.search(src) for p in pats):
            return i
        for argv in _programs(doc, i):
            if H.basename(argv[0]) in kind.consumers:
                return i
    return None


def _ignore_state(ctx):
    """(ignore file relative path, its text, its patterns) or None when it cannot be edited."""
    if ctx is None or ctx.context_dir is None or ctx.context_note:
        return None
    rel = H.ignore_file(ctx)
    if rel is None:
        return None
    text = ctx.read_context_file(rel) or ""
    try:
        pats = DI.parse_patterns(text)
    except DI.PatternError:
        return None
    return rel, text, pats


def _ignore_edit(state, lines: list[str]) -> Edit | None:
    if state is None:
        return None
    rel, text, pats = state
    present = {p.text for p in pats if not p.exclusion}
    new = []
    for line in lines:
        norm = DI.normalize_line(line)
        if norm is None or norm in present or norm in new:
            continue
        if not _glob(norm) and DI.is_excluded(norm, pats):
            continue
        new.append(norm)
    if not new:
        return None
    return Edit(len(text), len(text), H.ignore_block(text, new, K.DOCKERIGNORE_HEADER), path=rel)


def _explicit_paths(doc: Document, ctx) -> set[str]:
    """Context paths that some COPY/ADD (here or in a sibling Dockerfile) names literally."""
    docs = [doc]
    if ctx is not None and ctx.context_dir is not None:
        rel = H.ignore_file(ctx)
        if rel == ".dockerignore":
            docs += [d for _, d in ctx.sibling_dockerfiles()]
    out: set[str] = set()
    for d in docs:
        for i in d.instructions:
            if i.keyword in ("COPY", "ADD") and i.flag("from") is None:
                for s in copy_sources(i)[0]:
                    if s.rel and not _glob(s.rel):
                        out.add(s.rel)
    return out


def _escape(path: str) -> bool:
    return not any(c in path for c in "*?[\\!#") and not path.startswith(" ")


def _file_findings(doc: Document, ctx):
    state = _ignore_state(ctx)
    whole: list[tuple[Instruction, Source]] = []
    copies = [i for i in doc.instructions if i.keyword in ("COPY", "ADD") and i.flag("from") is None]
    for instr in copies:
        sources, dest = copy_sources(instr)
        secret: list[tuple[Source, K.SecretFile]] = []
        unsure: list[tuple[Source, K.SecretFile]] = []
        for s in sources:
            if s.rel is None:
                continue
            if s.rel == "." or _glob(s.rel) or (ctx is not None and ctx.is_dir(s.rel) and
                                                posixpath.basename(s.rel) not in K.SECRET_DIRS):
                whole.append((instr, s))
                continue
            kind, certain = file_kind(ctx, s.rel)
            if kind is None:
                continue
            (secret if certain else unsure).append((s, kind))
        for s, kind in unsure:
            yield H.finding(_RULE, f"`{s.word}` may be a {kind.label}: {instr.keyword} would put it into a filesystem "
                                   f"layer", instr.start, instr.end,
                            note="its content could not be read to tell; if it holds a secret, "
                                 f"{kind.advice} and add it to .dockerignore")
        if not secret:
            continue
        names_desc = ", ".join(f"`{s.word}` ({k.label})" for s, k in secret)
        it = "them" if len(secret) > 1 else "it"
        msg = (f"{instr.keyword} puts {names_desc} into a filesystem layer: anyone who can pull the image can read "
               f"{it}, even if a later RUN deletes {it}")
        dest_base = posixpath.basename(dest.rstrip("/")) if dest and not dest.endswith("/") else ""
        users = []
        for s, kind in secret:
            names = {posixpath.basename(s.rel)}
            if len(sources) == 1 and any(fnmatchcase(dest_base, pat) for pat in kind.patterns):
                names.add(dest_base)
            u = file_used(doc, instr, names, kind)
            if u is not None:
                users.append((s, kind, u))
        if users:
            s, kind, u = users[0]
            yield H.finding(_RULE, msg, instr.start, instr.end,
                            note=f"the RUN at line {u.start_line} reads `{s.word}` at build time: {kind.advice}, "
                                 "then remove this COPY by hand")
            continue
        edits: list[Edit] = []
        if len(secret) == len(sources):
            edits.append(Edit(instr.line_start, instr.line_end, ""))
        elif instr.json is not None:
            yield H.finding(_RULE, msg, instr.start, instr.end,
                            note="remove the secrets file from the JSON source list by hand and add it to .dockerignore")
            continue
        else:
            order = [s for s in sources] + [None]
            words = shell_words(instr.args, raw=True)
            dest_start = instr.args_span(words[-1][1], words[-1][2])[0]
            for s, _ in secret:
                k = order.index(s)
                nxt = order[k + 1]
                edits.append(Edit(s.start, nxt.start if nxt is not None else dest_start, ""))
        lines = [s.rel for s, _ in secret if _escape(s.rel)]
        side = _ignore_edit(state, lines)
        if side is not None:
            edits.append(side)
        gone = ", ".join(f"`{s.word}`" for s, _ in secret)
        advice = "; ".join(f"for `{s.word}`: {k.advice}" for s, k in secret) if len(secret) > 1 else secret[0][1].advice
        yield H.finding(_RULE, msg, instr.start, instr.end,
                        Fix.unsafe(*edits, reason=f"the image no longer contains {gone}; if the app reads {it} at run "
                                                  f"time, {advice}. Rotate what {'they' if len(secret) > 1 else 'it'} "
                                                  f"held: images built before contain {it}" + (
                                                      "" if side is not None else
                                                      f". Not added to .dockerignore: {ctx.side_files_problem()}"
                                                      if ctx is not None and ctx.side_files_problem() else ""),
                                   description=f"remove {gone} from {instr.keyword}" + (
                                       f" and add {it} to .dockerignore" if side is not None else "")))
    if whole and state is not None:
        yield from _whole_context(doc, ctx, state, whole)


def _context_files(ctx) -> list[str]:
    """Paths of the context's files (walked once per run: the disk does not change meanwhile)."""
    key = ("slm009-files", str(ctx.context_dir))
    if key not in ctx.run_cache:
        ctx.run_cache[key] = [p for p, _ in ctx.walk_context()]
    return ctx.run_cache[key]


def _secret_files(ctx, files: list[str]) -> list[tuple[str, K.SecretFile]]:
    """The context files that certainly are secrets files (once per run)."""
    key = ("slm009-secret-files", str(ctx.context_dir))
    if key not in ctx.run_cache:
        out = []
        for path in files:
            kind, certain = file_kind(ctx, path)
            if kind is not None and certain:
                out.append((path, kind))
        ctx.run_cache[key] = out
    return ctx.run_cache[key]


def _whole_context(doc: Document, ctx, state, whole: list[tuple[Instruction, Source]]):
    rel_ignore, _text, pats = state
    explicit = _explicit_paths(doc, ctx)
    found: dict[str, tuple[K.SecretFile, Instruction]] = {}
    files = _context_files(ctx)
    for path, kind in _secret_files(ctx, files):
        if DI.is_excluded(path, pats):
            continue
        for instr, src in whole:
            if any(x.matches_or_parent(path) for x in H.copy_excludes(instr)):
                continue
            if src.rel == "." or DI.Pattern.make(src.rel).matches_or_parent(path):
                found.setdefault(path, (kind, instr))
                break
    kept: list[tuple[str, Instruction]] = []
    lines: list[str] = []
    for path, (kind, instr) in sorted(found.items()):
        if path in explicit or any(path.startswith(e.rstrip("/") + "/") for e in explicit) or not _escape(path):
            continue
        u = file_used(doc, instr, {posixpath.basename(path)}, kind)
        if u is not None:
            kept.append((path, u))
            continue
        lines.append(path)
    if kept:
        path, u = kept[0]
        first = next(i for i, _ in whole)
        yield H.finding(_RULE, f"`{path}` (a secrets file in the build context) is copied into a filesystem layer",
                        first.start, first.end,
                        note=f"the RUN at line {u.start_line} reads it at build time: give that RUN a secret mount "
                             "with the file's path instead, then add it to .dockerignore")
    if not lines:
        return
    root_env = [p for p in lines if "/" not in p and (p == ".env" or p.startswith(".env."))]
    out_lines = [p for p in lines if p not in root_env]
    if root_env:
        visible_root = [p for p in files if "/" not in p and p.startswith(".env.")
                        and not DI.is_excluded(p, pats)]
        star_ok = all(p in root_env for p in visible_root) and not any(
            e.startswith(".env.") and "/" not in e for e in explicit)
        head = [".env"] if ".env" in root_env else []
        if star_ok:
            head.append(".env.*")
        else:
            head += [p for p in root_env if p != ".env"]
        out_lines = head + out_lines
    edit = _ignore_edit(state, out_lines)
    if edit is None:
        return
    instr = found[lines[0]][1]
    copied = ", ".join(f"`{p}`" for p in lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    summary = " ".join(instr.args.split())
    env_note = ""
    if root_env:
        env_note = ("the app may read `.env` at run time: pass its variables with `docker run --env-file .env`, "
                    "compose `env_file:` or a Kubernetes secret instead; ")
    yield H.finding(_RULE, f"`{instr.keyword} {summary}` copies secrets files from the build context into a "
                           f"filesystem layer: {copied}", instr.start, instr.end,
                    Fix.unsafe(edit, reason=f"{env_note}excluding them from the context removes them from the image "
                                            "-- mount what the app needs at run time; rotate what they hold",
                               description=f"exclude {', '.join(out_lines)} in {rel_ignore}"))


# -- the rule ---------------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    if not doc.stages:
        return
    yield from _pair_findings(doc)
    yield from _literal_findings(doc)
    yield from _login_findings(doc)
    yield from _file_findings(doc, ctx)
