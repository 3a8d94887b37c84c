"""A Python image's final stage without ``PYTHONDONTWRITEBYTECODE=1`` / ``PYTHONUNBUFFERED=1``.

What it does
    In the final stage of a Python image -- its base image is a Python, PyTorch, TensorFlow or
    conda/mamba image, or it (or a stage it is built ``FROM`` by name) runs pip, python, uv,
    poetry or conda in a RUN, or its CMD/ENTRYPOINT runs Python -- adds whichever of
    ``PYTHONDONTWRITEBYTECODE=1`` and ``PYTHONUNBUFFERED=1`` no ENV of that stage (or of the
    stages it is built from) sets.

    No RUN sees them: they join the first ``ENV KEY=value`` after the stage's last RUN (same
    line, or a new continued line with the same indentation), else a new ``ENV`` goes right after
    that RUN (after the ``FROM`` when the stage has no RUN). A RUN that imports code to warm its
    bytecode, or ``setup.py install`` (which skips byte-compiling under the variable), builds the
    same image as before. Keyword case, indentation, escape character and CRLF line endings
    follow the file; legacy ``ENV KEY value`` instructions cannot hold more pairs and are never
    merged into.

    A variable already set to another value (``PYTHONUNBUFFERED=0``) is left alone: that is the
    author's choice. Builder stages are not touched: the settings matter where the service runs.
    Base images are not touched either: a file with ONBUILD triggers, or one that builds Python
    itself, gets a note, not a fix (the variables would reach every image built FROM it); a
    final image with no application command (none, or a bare ``python3``/``bash``) that copies no
    code from the build context may be one, so there the fix is *unsafe*. A file that deletes
    compiled bytecode (``find ... -name '*.pyc' -delete``) never gets PYTHONDONTWRITEBYTECODE:
    every process would recompile those modules at each start.

Why
    Without ``PYTHONDONTWRITEBYTECODE`` the service writes ``__pycache__/*.pyc`` files at run
    time into the container's writable layer. Without ``PYTHONUNBUFFERED`` stdout/stderr are
    block-buffered when not a terminal: logs show up late in ``docker logs`` and the last lines
    are lost when the process crashes.

Example
    FROM python:3.11-slim
    RUN pip install --no-cache-dir flask
    COPY . /app
    CMD ["python", "/app/serve.py"]

Use instead
    FROM python:3.11-slim
    RUN pip install --no-cache-dir flask
    ENV PYTHONDONTWRITEBYTECODE=1 \\
        PYTHONUNBUFFERED=1
    COPY . /app
    CMD ["python", "/app/serve.py"]
"""

from __future__ import annotations

import re

from ..dockerfile import Document, Instruction, Stage, shell_words
from ..dockerfile.shell import run_scripts, unwrap
from ..engine import Edit, Fix
from ..knowledge import python_env as K
from ..semantics import build as B
from . import _helpers as H

CODE = "SLM005"
NAME = "python-env"
SUMMARY = "Python image without PYTHONDONTWRITEBYTECODE=1 and PYTHONUNBUFFERED=1"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)
_PROGRAM_RES = tuple(re.compile(r) for r in K.PYTHON_PROGRAM_RES)


def _is_python_program(word: str) -> bool:
    prog = H.basename(word)
    return prog in K.PYTHON_PROGRAMS or any(r.match(prog) for r in _PROGRAM_RES)


def _effective(words: list[str]) -> list[str]:
    """Drop wrappers (``sudo -E``, ``env A=1``, ``conda run -n x``) in front of the real program."""
    return words[unwrap(words) :]


def _runs_python(doc: Document, ins: Instruction) -> bool:
    if ins.keyword == "RUN":
        if ins.json is not None:
            words = _effective(list(ins.json))
            return bool(words) and _is_python_program(words[0])
        for script in run_scripts(doc, ins):
            for cmd in script.commands:
                words = _effective(cmd.argv)
                if words and _is_python_program(words[0]):
                    return True
        return False
    if ins.keyword in ("CMD", "ENTRYPOINT"):
        words = list(ins.json) if ins.json is not None else [w for w, _, _ in shell_words(ins.args, raw=False)]
        words = _effective(words)
        return bool(words) and _is_python_program(words[0])
    return False


def _image(doc: Document, stage: Stage) -> str:
    """The base image reference with global ARG defaults expanded (lower-cased, no digest)."""
    return B.from_image(doc, stage).split("@", 1)[0].lower()


_chain = B.stage_chain


def _is_python(doc: Document, chain: list[Stage]) -> bool:
    # Only the root of the chain names a real image; the others name stages.
    if any(h in _image(doc, chain[-1]) for h in K.PYTHON_IMAGE_HINTS):
        return True
    for st in chain:
        for ins in st.instructions:
            if ins.keyword == "RUN" and _runs_python(doc, ins):
                return True
    return any(_runs_python(doc, ins) for ins in chain[0].instructions if ins.keyword in ("CMD", "ENTRYPOINT"))


def _set_vars(chain: list[Stage]) -> set[str]:
    names: set[str] = set()
    for st in chain:
        for ins in st.instructions:
            if ins.keyword == "ENV":
                names.update(k for k, _ in H.parse_kv_words(ins))
    return names


def _kv_form(ins: Instruction) -> bool:
    words = shell_words(ins.args, raw=False)
    return bool(words) and "=" in words[0][0]


def _lowercase_file(doc: Document) -> bool:
    lower = sum(1 for i in doc.instructions if i.keyword_raw == i.keyword_raw.lower())
    return lower * 2 > len(doc.instructions)


def _fix(doc: Document, stage: Stage, pairs: list[str]) -> tuple[Edit, str]:
    """The variables go where no RUN of the build sees them -- after the stage's last RUN: a RUN
    that imports code to warm its bytecode (``python -c "import app"``) or ``setup.py install``
    (which skips byte-compiling under PYTHONDONTWRITEBYTECODE) would otherwise ship without .pyc
    files. They join an ENV there, else a new ENV follows that RUN (or the FROM)."""
    nl, esc = doc.newline, doc.escape
    runs = [i for i in stage.instructions if i.keyword in ("RUN", "ONBUILD")]
    after = runs[-1] if runs else stage.from_instruction
    target = next(
        (
            i
            for i in stage.instructions
            if i.index > after.index and i.keyword == "ENV" and i.args.strip() and _kv_form(i)
        ),
        None,
    )
    if target is not None:
        at = target.args_offset(len(target.args))
        if target.multiline:
            join = H.continuation_joiner(doc, target, at)
            return Edit(at, at, "".join(join + p for p in pairs)), f"add {' '.join(pairs)} to the ENV"
        return Edit(at, at, " " + " ".join(pairs)), f"add {' '.join(pairs)} to the ENV"
    indent = doc.line_indent(stage.from_instruction.start)
    kw = "env" if _lowercase_file(doc) else "ENV"
    body = f" {esc}{nl}{indent}    ".join(pairs)
    lead = "" if doc.text[after.line_end - 1 : after.line_end] == "\n" else nl
    where = "after the last RUN" if runs else "after the FROM"
    return Edit(
        after.line_end, after.line_end, f"{lead}{indent}{kw} {body}{nl}"
    ), f"add `ENV {' '.join(pairs)}` {where}"


def _run_texts(doc: Document, chain: list[Stage]) -> list[str]:
    return [doc.text[i.start : i.end] for st in chain for i in st.instructions if i.keyword == "RUN"]


def _base_image(doc: Document, chain: list[Stage]) -> str:
    """Why the image is one others are built FROM ("" when nothing says so)."""
    if any(i.keyword == "ONBUILD" for st in chain for i in st.instructions):
        return "it has ONBUILD triggers: it is an image meant to be built FROM"
    if any(m in t for t in _run_texts(doc, chain) for m in K.BUILDS_PYTHON_MARKERS):
        return "it builds Python itself: a base image"
    return ""


def _deletes_bytecode(doc: Document, chain: list[Stage]) -> bool:
    return any(
        any(m in t for m in K.PYC_MARKERS) and any(r in t for r in K.PYC_REMOVERS) for t in _run_texts(doc, chain)
    )


def _application(doc: Document, chain: list[Stage]) -> bool:
    """The final image runs an application: its command is more than an interpreter or a shell, or
    it copies code from the build context."""
    cmd = None
    for st in chain:
        for ins in reversed(st.instructions):
            if ins.keyword in ("CMD", "ENTRYPOINT") and cmd is None:
                cmd = ins
        if cmd is not None:
            break
    if cmd is not None:
        words = list(cmd.json) if cmd.json is not None else [w for w, _, _ in shell_words(cmd.args, raw=False)]
        words = _effective(words)
        if words and not (len(words) == 1 and H.basename(words[0]) in K.BARE_COMMANDS):
            return True
    return any(i.keyword in ("COPY", "ADD") and i.flag("from") is None for st in chain for i in st.instructions)


def check(doc: Document, ctx):
    stage = doc.final_stage
    if stage is None:
        return
    chain = _chain(doc, stage)
    if not _is_python(doc, chain):
        return
    have = _set_vars(chain)
    missing = [(k, v) for k, v in K.ENV_SETTINGS if k not in have]
    fi = stage.from_instruction
    base = _base_image(doc, chain)
    if base:
        if missing:
            yield H.finding(
                _RULE,
                f"Python image without {' and '.join(f'{k}={v}' for k, v in missing)}",
                fi.start,
                fi.end,
                None,
                note=f"{base}; these variables would apply to every image built FROM it -- set them "
                "in the application images instead",
            )
        return
    notes = []
    if _deletes_bytecode(doc, chain) and any(k == "PYTHONDONTWRITEBYTECODE" for k, _ in missing):
        missing = [(k, v) for k, v in missing if k != "PYTHONDONTWRITEBYTECODE"]
        notes.append(
            "PYTHONDONTWRITEBYTECODE is left out: the file removes compiled bytecode, which every process "
            "would then recompile at each start"
        )
    if not missing:
        if notes:
            yield H.finding(
                _RULE, "Python image without PYTHONDONTWRITEBYTECODE=1", fi.start, fi.end, None, note=notes[0]
            )
        return
    pairs = [f"{k}={v}" for k, v in missing]
    edit, desc = _fix(doc, stage, pairs)
    names = " and ".join(k for k, _ in missing)
    if _application(doc, chain):
        fix = Fix.safe(
            edit,
            description=desc,
            relies_on=(
                "the final image runs an application (its command, or code copied from the build context), not an "
                "environment that others are built FROM",
            ),
        )
    else:
        fix = Fix.unsafe(
            edit,
            description=desc,
            reason="the image has no application command and copies no code, so it may be a base image: "
            "the variables would apply to every image built FROM it",
        )
    yield H.finding(
        _RULE,
        f"Python image without {' and '.join(pairs)}: set {names} in the final stage",
        fi.start,
        fi.end,
        fix,
        note="; ".join(notes),
    )
