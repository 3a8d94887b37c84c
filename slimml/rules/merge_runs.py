"""Consecutive RUN instructions that could be one layer.

What it does
    Finds runs of consecutive shell-form RUN instructions in a stage (only comment and blank
    lines between them) and merges each run into one RUN: the first RUN is kept as written and
    every following RUN is joined with ``&&`` on its own continuation line, its text verbatim.
    Comments between the RUNs stay where they were (BuildKit skips comment lines inside a
    continuation); blank lines between them are dropped.

    The merge keeps what the build does. ``RUN A`` then ``RUN B`` runs B only when A succeeded
    and fails the build when either fails: ``A && B`` does the same when B is one ``&&`` chain,
    otherwise B becomes ``( B )``. Each RUN starts in a fresh shell, so a RUN that changes shell
    state (``cd``, ``export``, ``umask``, a bare ``X=1``, ``${X:=1}``, ``$((i=1))``, ``read``,
    a function, ...) and is followed by another one runs in a subshell ``( A )``, and so does a
    first RUN ending in ``;`` or ``&``; a RUN reading what earlier commands left (``$_``,
    ``$SECONDS``, ``$OLDPWD``) starts a new merge.

    The effective SHELL decides the rest -- the stage's own, or the one inherited through
    ``FROM <stage>``, or the base image's. POSIX shells ignore ``-e`` in every command of an
    AND-OR list but the last, subshells included: where the SHELL runs with errexit (``-e``),
    or where the base image's SHELL is unknown, only a RUN that is one ``&&``/``||`` chain of
    simple commands may come before ``&&``; a RUN that turns on errexit itself (``set -e``)
    can only be the *last* RUN of a merge. A SHELL that reads startup files (``--login``,
    ``-i``, ``BASH_ENV``; the micromamba image's activating SHELL) never merges a RUN that
    writes one (``conda init``, ``>> ~/.bashrc``) with the RUN after it. A non-POSIX SHELL
    (pwsh, cmd) is never merged.

    Merging pays where a later RUN removes what an earlier one wrote, or joins ordinary steps;
    separately cached source builds (a build system or compiler, CUDA extensions such as
    flash-attn/apex/detectron2/DeepSpeed ops, VCS packages, ``--no-build-isolation``) are kept
    apart -- one failure or one edit would re-run all of them -- unless the next RUN only cleans
    up what they wrote. A merged RUN stays under 64 KiB of shell text (Linux refuses a single
    argument over 128 KiB).

    Never merged: exec-form and heredoc RUNs, RUNs whose flags (``--mount``, ``--network``,
    ``--security``) differ, RUNs that download model weights (they must stay separable so the
    weights can be moved out of the image), RUNs with a ``# slimml: ignore`` comment, and
    ``ONBUILD RUN``. RUNs whose shell has a trailing ``#`` comment or does not parse are
    reported without a fix. Merging a RUN that leaves a background job or a started service
    running is offered as an unsafe fix only: the process would now live on while the following
    commands run.

Why
    Every RUN is a layer. Files a later RUN deletes stay in the earlier layer and in the image
    (the classic ``apt-get update`` / cleanup split), and each layer costs metadata, push and
    pull time.

Example
    RUN apt-get update \\
        && apt-get install -y curl
    # tools
    RUN pip install --no-cache-dir -r requirements.txt
    RUN cd /app && make

Use instead
    RUN apt-get update \\
        && apt-get install -y curl \\
    # tools
        && pip install --no-cache-dir -r requirements.txt \\
        && cd /app && make
"""

from __future__ import annotations

import re

from ..dockerfile import Document, Instruction
from ..dockerfile.model import Trivia
from ..dockerfile.shell import parse_script_text, run_scripts
from ..engine import Edit, Fix, suppressions
from ..knowledge import shell as SK
from ..knowledge.weights import looks_like_weight_download
from ..semantics import build as B
from ..semantics import shellspec, steps
from ..semantics.programs import resolve
from ..semantics.shellstate import facts
from . import _helpers as H

CODE = "SLM003"
NAME = "merge-runs"
SUMMARY = "Consecutive RUN instructions that could be merged into one layer"
FIX = "safe+unsafe"
OPTIONS: dict = {}

_RULE = H.rule_of(__name__)

# Linux limits one argument -- a RUN's whole `sh -c` string -- to 128 KiB (MAX_ARG_STRLEN); a merged
# RUN stays at half of that.
MAX_MERGED_BYTES = 64 * 1024
_SLIMML_COMMENT_RE = re.compile(r"#\s*slimml\s*:", re.IGNORECASE)


# -- per-RUN analysis ------------------------------------------------------------------------------
def _odd_trailing_backslashes(s: str) -> bool:
    n = len(s) - len(s.rstrip("\\"))
    return n % 2 == 1


def _shell(doc: Document, instr: Instruction) -> shellspec.ShellSpec:
    st = B.state_before(doc, instr)
    return shellspec.spec(st.effective_shell, st.values())


def _status(doc: Document, instr: Instruction, suppressed: dict) -> tuple[str, str]:
    """("ok" | "blocked" | "never", reason). Blocked RUNs could be merged by hand."""
    if instr.keyword != "RUN":
        return "never", "not a RUN"
    if instr.index in suppressed:
        return "never", "has a slimml suppression comment"
    if instr.is_exec_form:
        return "never", "exec form"
    if instr.heredocs:
        return "never", "heredoc"
    if not instr.args.strip():
        return "never", "no command"
    scripts = run_scripts(doc, instr)
    if any(
        c.cached("weights-download", lambda c=c: looks_like_weight_download(c.argv))
        for s in scripts
        for c in s.commands
    ):
        return "never", "downloads model weights (kept in its own RUN so they can be moved out)"
    sh = _shell(doc, instr)
    if sh.known and not sh.posix:
        return "blocked", sh.reason
    if len(scripts) != 1:
        return "blocked", "its command line is not one shell script"
    script = scripts[0]
    if script.has_error:
        return "blocked", "its shell does not parse"
    if script.has_comment():
        return "blocked", "it ends with a shell `#` comment that would swallow the following commands"
    if _odd_trailing_backslashes(instr.args):
        return "blocked", "it ends with a backslash"
    if len(instr.args.encode("utf-8")) > MAX_MERGED_BYTES:
        return "never", "its shell text alone is over 64 KiB"
    return "ok", ""


def _sourced_errexit(doc: Document, ctx, instr: Instruction, script, depth: int = 0) -> str:
    """A file the script sources (``. x``, ``source x``) that turns on errexit, or may: "" when none."""
    for cmd in script.commands:  # (inside a subshell too: a merged RUN holds `( . x; ... )`)
        argv = cmd.argv
        if len(argv) < 2 or argv[0] not in (".", "source"):
            continue
        r = resolve(doc, ctx, instr, argv)
        if r is None:
            continue
        if r.kind == "opaque":
            if r.opacity == "absent" and argv[1].endswith(SK.SOURCED_WITHOUT_ERREXIT):
                continue  # an activation/profile script of the base image or a RUN
            return f"it sources `{argv[1]}`, which may turn on errexit ({r.why})"
        sub = parse_script_text(instr, r.text or "")
        if sub.has_error:
            return f"it sources `{argv[1]}`, whose shell does not parse"
        if facts(sub).sets_errexit:
            return f"it sources `{argv[1]}`, which turns on errexit (`set -e`)"
        if depth < 3:
            nested = _sourced_errexit(doc, ctx, instr, sub, depth + 1)
            if nested:
                return nested
    return ""


def _last_only(doc: Document, ctx, instr: Instruction) -> str:
    """Why ``instr`` can only be the *last* RUN of a merge ("" when it can be anywhere)."""
    sh = _shell(doc, instr)
    script = run_scripts(doc, instr)[0]
    f = facts(script)
    if f.sets_errexit:
        return "it sets errexit (`set -e`), which `&&` after it would switch off"
    sourced = _sourced_errexit(doc, ctx, instr, script)
    if sourced:
        return f"{sourced}, which `&&` after it would switch off"
    if (sh.errexit or not sh.known) and not f.flat:
        why = "the SHELL runs with errexit (-e)" if sh.known else "the base image's SHELL may run with errexit (-e)"
        return (
            f"{why}, and its commands are not one `&&` chain: followed by `&&`, the shell would "
            "ignore -e inside it and go on after a failing command"
        )
    if (sh.startup_files or not sh.known) and steps.writes_startup_files(doc, instr):
        why = sh.reason if sh.known else "the base image's SHELL may read startup files"
        return f"it writes a shell startup file, and {why}: the next RUN starts from it"
    return ""


def _first_only(doc: Document, instr: Instruction) -> str:
    """Why ``instr`` must start a merge ("" when it may follow another RUN)."""
    f = facts(run_scripts(doc, instr)[0])
    if f.reads_history:
        return f"it reads ${f.reads_history[0]}, which depends on what ran before it in the same shell"
    return ""


def _cost_split(doc: Document, group: list[Instruction], nxt: Instruction) -> bool:
    """Merging ``nxt`` into ``group`` joins independent expensive steps without removing anything
    they wrote (no byte saved; one edit or failure would re-run all of them)."""
    heavy = [i for i in group + [nxt] if steps.source_build(doc, i)]
    if not heavy:
        return False
    removed = steps.cleanup(doc, nxt)
    if removed is None:
        return True
    written: set[str] = set()
    for i in group:
        written |= steps.written_paths(doc, i)
    return not steps.removes_written(removed, written)


# -- building the fix ------------------------------------------------------------------------------
def _continuation_indent(doc: Document, first: Instruction) -> str:
    first_line_end = doc.text.find("\n", first.start)
    if first.multiline and first_line_end >= 0:
        for off in first.args_map:
            if off > first_line_end:
                indent = doc.line_indent(off)
                if indent:
                    return indent
                break
    return "    "


def _comment_lines_in(doc: Document, start: int, end: int) -> list[str]:
    """Whole comment lines (verbatim, no line break) that start inside ``[start, end)``."""
    out = []
    pos = doc.text.find("\n", start)
    while 0 <= pos < end:
        ls = pos + 1
        nl = doc.text.find("\n", ls)
        le = len(doc.text) if nl < 0 else nl
        line = doc.text[ls:le].rstrip("\r")
        if ls < end and line.lstrip(" \t").startswith("#"):
            out.append(line)
        pos = nl
    return out


def _merge_fix(doc: Document, group: list[Instruction], between: list[list[Trivia]]) -> Fix:
    scripts = [run_scripts(doc, i)[0] for i in group]
    fs = [facts(sc) for sc in scripts]
    n = len(group)
    wrap = []
    for k, f in enumerate(fs):
        w = k < n - 1 and bool(f.leaves_state)
        if k == 0:
            w = w or f.ends_with_terminator
        else:
            w = w or bool(f.toplevel_ops & {";", "||", "&"})
        wrap.append(w)
    indent = _continuation_indent(doc, group[0])
    nl, esc = doc.newline, doc.escape
    edits: list[Edit] = []
    if wrap[0]:
        a0 = group[0].args_offset(0)
        edits.append(Edit(a0, a0, "( "))
    for k in range(1, n):
        prev, cur = group[k - 1], group[k]
        prev_args_end = prev.args_offset(len(prev.args))
        text = ""
        if wrap[k - 1]:
            if prev_args_end == prev.end:
                text += " )"
            else:
                edits.append(Edit(prev_args_end, prev_args_end, " )"))
        cur_args = cur.args_offset(0)
        comments = [doc.text[t.line_start : t.content_end] for t in between[k - 1] if t.kind == "comment"]
        comments += _comment_lines_in(doc, cur.start, cur_args)
        text += f" {esc}{nl}" + "".join(c + nl for c in comments) + indent + "&& " + ("( " if wrap[k] else "")
        edits.append(Edit(prev.end, cur_args, text))
    if wrap[-1]:
        last = group[-1]
        e = last.args_offset(len(last.args))
        edits.append(Edit(e, e, " )"))
    description = f"merge {n} RUN instructions into one"
    lingering = [k for k in range(n - 1) if fs[k].background or fs[k].daemon]
    if lingering:
        lines = ", ".join(str(group[k].start_line) for k in lingering)
        return Fix.unsafe(
            *edits,
            description=description,
            reason=f"the RUN on line {lines} leaves a background process or service running; "
            "once merged it keeps running while the following commands run "
            "(separate RUNs stop it at the end of its RUN)",
        )
    return Fix.safe(*edits, description=description, relies_on=_facts_relied_on(doc, group, wrap))


def _facts_relied_on(doc: Document, group: list[Instruction], wrap: list[bool]) -> tuple[str, ...]:
    st = B.state_before(doc, group[0])
    sh = _shell(doc, group[0])
    if sh.known:
        where = "SHELL instruction" if st.shell is not None else f"`{st.root_image}` keeps Docker's default SHELL"
        shell = " ".join(st.effective_shell)
        facts = [f"every RUN runs through `{shell}` ({where}){', with errexit' if sh.errexit else ''}"]
        if sh.errexit:
            facts.append("every RUN but the last is one `&&`/`||` chain, so `-e` being ignored there changes nothing")
    else:
        facts = [
            "the base image's SHELL is unknown: every RUN but the last is one `&&`/`||` chain (its outcome "
            "is the same with or without errexit) and no RUN writes a shell startup file; a POSIX shell is "
            "assumed, as for reading any RUN"
        ]
    kept = [str(group[k].start_line) for k, w in enumerate(wrap) if w]
    facts.append(
        "each RUN's shell state stays its own"
        + (f" (lines {', '.join(kept)} run in a subshell)" if kept else " (none changes its shell's state)")
    )
    facts.append(f"the merged RUN is {sum(len(i.args.encode()) for i in group)} bytes of shell text (limit 64 KiB)")
    return tuple(facts)


# -- the rule --------------------------------------------------------------------------------------
def _report(doc: Document, ctx, members: list[tuple[Instruction, str, str]], between: list[list[Trivia]]):
    """Findings for one maximal sequence of adjacent, compatible RUNs."""
    if len(members) < 2:
        return
    groups: list[tuple[int, int]] = []  # member index ranges, inclusive
    splits: list[str] = []  # why adjacent mergeable RUNs were kept apart (reported)
    cur: int | None = None
    size = 0
    for k, (ins, status, _) in enumerate(members):
        if status != "ok":
            if cur is not None:
                groups.append((cur, k - 1))
            cur = None
            continue
        own = len(ins.args.encode("utf-8")) + 16
        if cur is not None:
            prev = members[k - 1][0]
            last_only = _last_only(doc, ctx, prev)
            why = last_only or _first_only(doc, ins)
            if why:
                splits.append(f"line {prev.start_line if last_only else ins.start_line}: {why}")
            elif size + own > MAX_MERGED_BYTES:
                splits.append(
                    f"line {ins.start_line}: the merged RUN would pass 64 KiB of shell text "
                    "(Linux refuses a single argument over 128 KiB)"
                )
                why = "size"
            elif _cost_split(doc, [m[0] for m in members[cur:k]], ins):
                why = "cost"  # the right structure: separately cached builds (not reported)
            if why:
                groups.append((cur, k - 1))
                cur = None
        if cur is None:
            cur, size = k, 0
        size += own
    if cur is not None:
        groups.append((cur, len(members) - 1))
    for start, end in groups:
        if end > start:
            group = [m[0] for m in members[start : end + 1]]
            fix = _merge_fix(doc, group, between[start:end])
            yield H.finding(
                _RULE,
                f"{len(group)} consecutive RUN instructions make {len(group)} layers; merge them into one RUN",
                group[0].start,
                group[-1].end,
                fix,
            )
    reasons = [f"line {i.start_line}: {r}" for i, st, r in members if st == "blocked"] + splits
    if reasons:
        yield H.finding(
            _RULE,
            f"{len(members)} consecutive RUN instructions could be one layer",
            members[0][0].start,
            members[-1][0].end,
            note=f"not merged automatically ({'; '.join(dict.fromkeys(reasons))}); merge them by hand",
        )


def check(doc: Document, ctx):
    _, suppressed = suppressions(doc)
    members: list[tuple[Instruction, str, str]] = []
    between: list[list[Trivia]] = []  # trivia between members[k] and members[k + 1]
    pending: list[Trivia] = []
    for item in doc.items:
        if isinstance(item, Trivia):
            pending.append(item)
            continue
        status, reason = _status(doc, item, suppressed)
        if status == "never":
            yield from _report(doc, ctx, members, between)
            members, between, pending = [], [], []
            continue
        compatible = (
            bool(members)
            and members[-1][0].stage == item.stage
            and tuple(f.raw for f in members[-1][0].flags) == tuple(f.raw for f in item.flags)
            and not any(t.kind == "comment" and _SLIMML_COMMENT_RE.search(t.content(doc.text)) for t in pending)
        )
        if compatible:
            between.append(pending)
        else:
            yield from _report(doc, ctx, members, between)
            members, between = [], []
        members.append((item, status, reason))
        pending = []
    yield from _report(doc, ctx, members, between)
