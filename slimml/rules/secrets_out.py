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
      first line of a heredoc script). Where the original build always had the value (an ENV
      value, an ARG default) the mount is ``required=true``: a build without ``--secret`` fails at
      that step instead of running it without (a private index silently replaced by public PyPI);
      a build arg without a default stays optional. RUNs that never read the variable get no
      mount (``python -m pip`` reads ``PIP_*`` like ``pip``). The ``/run/secrets/<id>`` form works
      with the Dockerfile frontend built into Docker 20.10+, so no ``# syntax=`` line is added.

    * ``COPY``/``ADD`` of secrets files (``.env``, ``.env.*`` but not ``.env.example``,
      ``id_rsa``, private-key ``*.pem``/``*.key``, ``.netrc``, ``credentials``, ``.aws/``,
      service-account JSON, ``.npmrc``/``.pypirc`` holding tokens): the source is removed (the
      instruction when it copied nothing else) and the file is added to ``.dockerignore``
      under ``# added by slimml (SLM009)``. ``COPY . .`` of a context holding such files gets
      the ``.dockerignore`` lines only (``.env`` and ``.env.*`` for dotenv files). A file that the
      copied code, a script or a config names (``load_dotenv('.env')``) is reported, not taken
      out: the app reads it from the image. With an unknown build context no ``.dockerignore``
      line is written.

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
    RUN --mount=type=secret,id=hf_token,required=true export HF_TOKEN="$(cat /run/secrets/hf_token)" && huggingface-cli download org/model --local-dir /models

    built with ``docker build --secret id=hf_token,env=HF_TOKEN .``, run with
    ``docker run --env-file .env ...``, and ``.env`` in ``.dockerignore``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from ..dockerfile import Document, Instruction, Stage, shell_words
from ..dockerfile.shell import run_scripts
from ..engine import Edit, Fix
from ..knowledge import secrets as K
from ..secrets import is_secret_name, looks_secret_value, mask, required_text
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
@lru_cache(maxsize=1)
def _value_kinds() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    """``K.VALUE_KINDS`` with the text each pattern's matches contain (a search of a value without
    it is skipped: a ``\\b`` at the start defeats re's own literal-prefix scan)."""
    return tuple((rx, label, required_text(rx)) for rx, label in K.VALUE_KINDS)


@lru_cache(maxsize=8192)  # pure, and asked again for the same instruction text on every pass
def value_kind(value: str) -> str | None:
    """What kind of secret a value looks like ("Hugging Face token", ...), or None."""
    for rx, label, text in _value_kinds():
        if text in value and rx.search(value):
            return label
    return "secret-looking value" if looks_secret_value(value) else None


def _is_reference(value: str) -> bool:
    return bool(K.PURE_REFERENCE.fullmatch(value))


def _refs(text: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in K.REFERENCE.finditer(text)}


def unmaskable(doc: Document, pair: Pair) -> bool:
    """A secret value of the pair's instruction would survive ``slimml.secrets.mask`` on the lines
    the diff of removing the pair shows (the whole instruction)."""
    values = [
        q.value
        for q in pairs(pair.instr)
        if q.value and (is_secret_name(q.name) or value_kind(q.value)) and not _is_reference(q.value)
    ]
    parts = [x for v in values for x in re.split(r"[\s\\\"'`]+", v) if len(x) >= 2]
    lines = doc.text[pair.instr.line_start : pair.instr.line_end].splitlines()
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
        rest = instr.args[raw[0][2] :].strip()
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
    before = text[ls : pair.start]
    after = text[pair.end : le].rstrip("\r")
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
    between = text[pair.end : nxt.start]
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
        for s in doc.stages[st.index + 1 :]:
            if s.image.lower() == st.name and s not in out:
                out.append(s)
                todo.append(s)
    return out


def _overrides(instr: Instruction, name: str, kind: str) -> bool:
    """``instr`` gives ``name`` a new value that does not come from the old one."""
    if instr.keyword not in ("ENV", "ARG") or (instr.keyword == "ARG" and kind == "ENV"):
        return False
    return any(p.name == name and p.value is not None and name not in _refs(p.value) for p in pairs(instr))


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
                    run_from(st.instructions[k + 1 :], "ARG")
                    break
        return out
    stage = doc.stages[instr.stage]
    pos = stage.instructions.index(instr)
    alive = run_from(stage.instructions[pos + 1 :], instr.keyword)
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
        prog = H.basename(argv[0])
        if prog.startswith("python") and "-m" in argv[1:-1]:
            prog = argv[argv.index("-m", 1) + 1]  # `python -m pip` is pip: it reads PIP_* like pip does
        pats = K.ENV_CONSUMERS.get(prog, ())
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


def conversion(
    doc: Document, run: Instruction, name: str, sid: str, required: bool = False
) -> tuple[list[Edit] | None, str]:
    """Edits that give one RUN ``name`` from a secret mount, or (None, why not). ``required``: the
    original build always had a value, so the mount is ``required=true`` -- a build without
    ``--secret`` fails at that step instead of running it without (a private index silently
    replaced by public PyPI)."""
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
        edits.append(Edit(at, at, f" --mount=type=secret,id={sid}" + (",required=true" if required else "")))
    export = f'export {name}="$(cat {_secret_path(m, sid)})"'
    body = next((s for s in scripts if s.heredoc is not None), None) if alone else None
    if alone and body is None:
        return None, f"the RUN at line {run.start_line} has several heredoc scripts"
    if body is not None:
        h = body.heredoc
        at = h.body_start
        text = doc.text[h.body_start : h.body_end]
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


def _always_set(doc: Document, sec: Secret) -> bool:
    """The original build always had a non-empty value: a literal ENV value or ARG default, or an
    ENV copying a build arg that has a default."""
    if sec.kind in ("env", "arg-default"):
        return True
    if sec.kind != "env-ref":
        return False
    from ..discovery import env_at

    known = env_at(doc, sec.pair.instr)
    return all(known.get(r) for r in _refs(sec.pair.value or ""))


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
        blockers = [
            i
            for i in sc
            if (i.keyword in K.BUILD_TIME_EXPANSION and _references(i.args, name))
            or (i.keyword == "ARG" and any(q.value and _references(q.value, name) for q in pairs(i)))
        ]
        if p.instr.stage < 0:
            blockers += [st.from_instruction for st in doc.stages if _references(st.from_instruction.args, name)]
        kw = p.instr.keyword
        if sec.kind == "arg" and not runs_after:
            yield H.finding(
                _RULE,
                f"build arg `{name}` looks like a secret; no RUN follows it, so nothing records it",
                p.start,
                p.end,
                note="if a RUN needs it later, use a secret mount (`RUN --mount=type=secret,id="
                f"{sid}`) instead: every RUN after a build arg records its value in `docker history`",
            )
            continue
        lines = ", ".join(str(u.start_line) for u in uses)
        if kw == "ENV":
            stage_note = "" if p.instr.stage in image else f" of {_where(doc, p)}"
            if sec.kind == "env-ref":
                msg = (
                    f"`ENV {name}` copies a secret build value into the image config{stage_note}: "
                    f"`docker inspect` shows it"
                )
            else:
                msg = (
                    f"`{name}` ({sec.what}) is set by ENV: it is stored in the image config{stage_note} "
                    f"(`docker inspect` shows it) and in every container's environment"
                )
        elif sec.kind == "arg-default":
            msg = (
                f"build arg `{name}` has a secret default ({sec.what}): it is in the Dockerfile and in the "
                f"layer history (`docker history`) of every RUN after it"
            )
        else:
            msg = (
                f"build arg `{name}` is recorded in the layer history (`docker history`) of every RUN after it "
                f"when passed with --build-arg"
            )
        if uses:
            msg += f"; RUN at line {lines} reads it at build time"
        problems = []
        edits = [removal(doc, p)]
        required = _always_set(doc, sec)
        for u in pending:
            conv, why = conversion(doc, u, name, sid, required)
            if conv is None:
                problems.append(why)
            else:
                edits.extend(conv)
        for b in blockers:
            problems.append(f"{b.keyword} at line {b.start_line} expands it at build time")
        if unmaskable(doc, p):
            problems.append(
                "slimml cannot mask this value in the diff it would print (spaces, quotes or an unusual shape)"
            )
        if problems:
            yield H.finding(
                _RULE,
                msg,
                p.start,
                p.end,
                note="; ".join(problems) + " -- take it out by hand (secret mount at build time, "
                "variable at run time) and rotate it",
            )
            continue
        reason = []
        if pending:
            # (worded so that slimml.secrets.mask, which hides whatever follows `--secret `, keeps it)
            reason.append(
                f"the build must now provide the BuildKit secret `{sid}`: `docker build` with `--secret` "
                f"`id={sid},env={name}` (or `src=<file>`; compose: `build.secrets`)"
            )
            if required:
                reason.append(
                    "the mount is `required=true` (the build always had the value): a build without it "
                    "fails at that step instead of running it without the secret"
                )
            else:
                reason.append(
                    f"`{name}` was optional (a build arg without a default): a build without the secret "
                    "runs the step without it, as a build without `--build-arg` did"
                )
        if sec.kind in ("arg", "arg-default"):
            reason.append(f"`--build-arg {name}` no longer has any effect")
        if kw == "ENV":
            reason.append(
                f"the container no longer gets `{name}` from the image: pass it at run time with "
                f"`docker run -e {name}` or `--env-file`, compose `environment:`/`env_file:`, or a "
                f"Kubernetes `secretKeyRef`"
            )
        if sec.kind in ("env", "arg-default"):
            reason.append("the value is already in the Dockerfile and in images built from it: rotate it")
        what = f"remove `{name}` from {kw}"
        if pending:
            what += (
                f" and read it from a BuildKit secret in RUN at line {', '.join(str(u.start_line) for u in pending)}"
            )
        yield H.finding(_RULE, msg, p.start, p.end, Fix.unsafe(*edits, reason="; ".join(reason), description=what))


# -- literal secrets and logins -------------------------------------------------------------------------
def _literal_findings(doc: Document):
    for instr in doc.instructions:
        if instr.keyword in ("ENV", "ARG"):
            continue
        text = doc.text[instr.start : instr.end]
        kind = value_kind(text)
        if kind is None:
            continue
        where = {
            "RUN": "the layer history (`docker history`)",
            "LABEL": "the image config (`docker inspect`)",
            "CMD": "the image config (`docker inspect`)",
            "ENTRYPOINT": "the image config (`docker inspect`)",
            "HEALTHCHECK": "the image config (`docker inspect`)",
        }.get(instr.keyword, "the Dockerfile and the build")
        yield H.finding(
            _RULE,
            f"a {kind} is written literally in {instr.keyword} (line {instr.start_line}): it is stored in {where}",
            instr.start,
            instr.end,
            note="replace it by a BuildKit secret (`RUN --mount=type=secret,id=...`) or a run-time "
            "variable by hand, and rotate it",
        )


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
                    yield H.finding(
                        _RULE,
                        f"`{' '.join(cmd)}` in RUN (line {instr.start_line}) stores the credential "
                        f"in the layer ({path})",
                        instr.start,
                        instr.end,
                        note="let the download read the token from its environment (a secret mount "
                        "exported for that RUN) instead of logging in, or delete the file in the "
                        "same RUN",
                    )


def file_kind(ctx, rel: str):
    """(kind, certain) of a context path (see ``_secret_files.file_kind``)."""
    from ._secret_files import file_kind as kind

    return kind(ctx, rel)


# -- the rule ---------------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    if not doc.stages:
        return
    yield from _pair_findings(doc)
    yield from _literal_findings(doc)
    yield from _login_findings(doc)
    from ._secret_files import file_findings

    yield from file_findings(doc, ctx)
