"""System package managers (apt, apk, yum/dnf) leaving package lists and caches in the image.

What it does
    For ``apt-get``/``apt`` (also behind ``sudo``/``env``, ``DEBIAN_FRONTEND=...`` prefixes, in
    ``&&`` chains, ``if`` blocks and heredoc scripts):

    - folds a RUN that only runs ``apt-get update`` into the install RUN right below it;

    - runs ``apt-get update &&`` before an ``apt-get install`` that has no update in its RUN;

    - adds ``-y`` to ``install`` (and the other prompting subcommands) when nothing answers yes;

    - adds ``--no-install-recommends`` (an *unsafe* fix: the recommended packages disappear);

    - runs ``apt-get update &&`` before an ``apt-get upgrade`` that has no update in its RUN
      (without lists, an upgrade silently upgrades nothing);

    - removes ``/var/lib/apt/lists/*`` at the end of every RUN that updates or installs,
      unless a later step may read those lists without an update slimml can add: a later RUN
      of the stage or of a stage built FROM it, an ONBUILD trigger, or the container's own
      CMD/ENTRYPOINT -- directly, or through a script it runs (read through when the build
      context has it: ``sh install.sh``, ``./tools/x``, ``bash -c '...'``, a Makefile, Python
      code). A step that runs code slimml cannot see (``curl ... | bash``, a script a RUN wrote)
      keeps the lists, with the reason.

    ``apk add`` gets ``--no-cache``, ``apk update`` gets ``rm -rf /var/cache/apk/*``;
    ``yum``/``dnf``/``microdnf install`` get ``-y`` and ``<tool> clean all``.

Why
    ``apt-get update`` downloads 20-50 MB of package lists. Deleted in a later RUN they still
    take that space in the earlier layer, so the clean-up must happen in the RUN that downloads
    them -- and an update alone in its own RUN keeps its lists for ever (a cached layer may also
    hand a later install stale lists). Recommended packages often double what an install pulls
    in. The same holds for apk's index and dnf's metadata cache.

Example
    RUN apt-get update
    RUN apt-get install python3-dev

Use instead
    RUN apt-get update && apt-get install -y --no-install-recommends python3-dev \\
        && rm -rf /var/lib/apt/lists/*

Exempt: RUNs with a BuildKit cache mount over ``/var/lib/apt/lists`` (or ``/var/lib/apt``),
``/var/cache/apk`` or the dnf/yum cache; ``--no-install-recommends`` when an earlier RUN of the
stage writes ``APT::Install-Recommends "false"`` into the apt configuration.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from dataclasses import dataclass

from ..dockerfile import Document, Instruction
from ..dockerfile.shell import Command, Script, Word, run_scripts
from ..engine import Edit, Fix, suppressions
from ..knowledge import sizes as S
from ..knowledge import system_packages as K
from ..semantics import apt as A
from ..semantics import build as B
from ..semantics import shellspec
from ..semantics.shellstate import failure_fails
from . import _helpers as H
from . import _ship as SHIP

CODE = "SLM002"
NAME = "apt-hygiene"
SUMMARY = "System package lists and caches (apt, apk, dnf/yum) left in the layer; missing -y/update"
OPTIONS = {}
FIX = "safe+unsafe"

_RULE = H.rule_of(__name__)

RECOMMENDS_REASON = (
    "recommended packages are no longer installed (e.g. ca-certificates, which curl/wget/git need for "
    "HTTPS); check that the image still works, or list the packages you need explicitly"
)


# -- classifying commands ------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One package-manager invocation inside a RUN (frozen: shared by every check of the RUN)."""

    family: str  # "apt" | "apk" | "rpm"
    tool: str  # basename of the program: apt-get, apk, dnf, ...
    sub: str | None  # the subcommand (``install``)
    sub_index: int | None  # its index in ``words``
    words: list[Word]  # the program and its arguments, wrappers stripped
    wrappers: list[Word]  # ``sudo -E`` / ``env A=1`` words before the program
    cmd: Command
    script: Script

    @property
    def sub_word(self) -> Word | None:
        return self.words[self.sub_index] if self.sub_index is not None else None

    @property
    def values(self) -> list[str]:
        return [w.value for w in self.words]

    def label(self) -> str:
        return f"{self.tool} {self.sub}" if self.sub else self.tool

    def privilege_prefix(self) -> str:
        """``sudo `` when the program runs through a privilege wrapper, for commands added next to it."""
        for w in self.wrappers:
            if H.basename(w.value) in K.PRIVILEGE_WRAPPERS:
                return w.raw + " "
        return ""


def _effective(cmd: Command) -> tuple[list[Word], list[Word]]:
    """(wrapper words, the wrapped command's words)."""
    words = cmd.words
    i = cmd.unwrapped(run_wrappers=False)
    return words[:i], words[i:]


def _subcommand(words: list[Word], with_value: set[str]) -> int | None:
    i = 1
    while i < len(words):
        v = words[i].value
        if v in with_value:
            i += 2
            continue
        if v == "--":
            return i + 1 if i + 1 < len(words) else None
        if not v.startswith("-"):
            return i
        i += 1
    return None


def classify(cmd: Command, script: Script) -> Call | None:
    shape = cmd.cached("slm002-classify", lambda: _shape(cmd, script))  # depends on the values only
    if shape is None:
        return None
    family, prog, sub, i = shape
    wrappers, words = _effective(cmd)
    return Call(family, prog, sub, i, words, wrappers, cmd, script)


def _shape(cmd: Command, script: Script) -> tuple[str, str, str | None, int | None] | None:
    c = _classify(cmd, script)
    return None if c is None else (c.family, c.tool, c.sub, c.sub_index)


def _classify(cmd: Command, script: Script) -> Call | None:
    wrappers, words = _effective(cmd)
    if not words:
        return None
    prog = H.basename(words[0].value)
    if prog in K.APT_TOOLS or prog == K.APT_CACHE_TOOL:
        family, opts = "apt", K.APT_OPTS_WITH_VALUE
    elif prog in K.APK_TOOLS:
        family, opts = "apk", K.APK_OPTS_WITH_VALUE
    elif prog in K.RPM_TOOLS:
        family, opts = "rpm", K.RPM_OPTS_WITH_VALUE
    else:
        return None
    i = _subcommand(words, opts)
    sub = words[i].value if i is not None else None
    if family == "rpm" and sub in K.RPM_GROUPING and i is not None:
        j = _subcommand([words[0]] + words[i + 1 :], opts)
        if j is not None and words[i + j].value == "install":
            i, sub = i + j, "install"
    return Call(family, prog, sub, i, words, wrappers, cmd, script)


def run_calls(doc: Document, instr: Instruction) -> list[Call]:
    """Package-manager calls of a shell-form RUN, in file order (found once per instruction:
    the checks below ask for them several times)."""
    memo = instr.__dict__.get("_apt_calls")
    if memo is None:
        memo = instr.__dict__["_apt_calls"] = _run_calls(doc, instr)
    return list(memo)


def _run_calls(doc: Document, instr: Instruction) -> list[Call]:
    out = []
    for script in run_scripts(doc, instr):
        for cmd in script.commands:
            c = classify(cmd, script)
            if c is not None:
                out.append(c)
    out.sort(key=lambda c: c.cmd.start)
    return out


# -- flags ---------------------------------------------------------------------------------------
def _short_cluster(v: str, with_value: set[str]) -> tuple[str, str | None] | None:
    """``-qqy`` -> ("qqy", None); ``-oFoo=1`` -> ("o", "Foo=1"); ``-o`` -> ("o", "") (value is next word)."""
    if not v.startswith("-") or v.startswith("--") or len(v) < 2:
        return None
    letters = []
    for k, ch in enumerate(v[1:], start=1):
        if ch in with_value:
            letters.append(ch)
            return "".join(letters), v[k + 1 :].lstrip("=")
        if not ch.isalpha():
            return None
        letters.append(ch)
    return "".join(letters), None


def _apt_option_values(words: list[Word]) -> list[str]:
    """Values given to ``-o``/``--option`` (``-o A=1``, ``-oA=1``, ``-o=A=1``, ``--option=A=1``)."""
    vals = []
    vs = [w.value for w in words]
    for i, v in enumerate(vs):
        if v in ("-o", "--option"):
            if i + 1 < len(vs):
                vals.append(vs[i + 1])
        elif v.startswith("--option="):
            vals.append(v[len("--option=") :])
        else:
            sc = _short_cluster(v, K.APT_SHORT_WITH_VALUE)
            if sc and sc[0].endswith("o") and sc[1]:
                vals.append(sc[1])
    return vals


def apt_assumes_yes(call: Call) -> bool:
    quiet = 0
    vs = call.values
    skip = False
    for _i, v in enumerate(vs[1:], start=1):
        if skip:
            skip = False
            continue
        if v in K.APT_YES_LONG or any(v.startswith(f + "=") for f in K.APT_YES_LONG):
            return True
        if v in K.APT_OPTS_WITH_VALUE:
            skip = True
            continue
        m = re.fullmatch(r"(?:-q|--quiet)=(\d+)", v)
        if m:
            quiet = max(quiet, int(m.group(1)))
            continue
        if v == K.APT_QUIET_LONG:
            quiet += 1
            continue
        sc = _short_cluster(v, K.APT_SHORT_WITH_VALUE)
        if sc:
            letters, value = sc
            if K.APT_YES_SHORT in letters:
                return True
            quiet += letters.count(K.APT_QUIET_SHORT)
            if value == "":
                skip = True
    if quiet >= K.APT_QUIET_IMPLIES_YES:
        return True
    if any(K.APT_ASSUME_YES_OPTION.match(o) for o in _apt_option_values(call.words)):
        return True
    return _piped_from_yes(call.cmd)


def _piped_from_yes(cmd: Command) -> bool:
    p = cmd.node.parent
    if p is None or p.type != "pipeline":
        return False
    first = p.named_children[0] if p.named_children else None
    if first is None or first == cmd.node or first.type != "command":
        return False
    name = first.child_by_field_name("name")
    return name is not None and H.basename(cmd.script.node_text(name)) == K.YES_COMMAND


def apt_no_action(call: Call) -> bool:
    return any(v in K.APT_NO_ACTION for v in call.values)


def apt_no_recommends(call: Call) -> bool:
    if K.APT_NO_RECOMMENDS_FLAG in call.values:
        return True
    return any(K.APT_NO_RECOMMENDS_OPTION.match(o) for o in _apt_option_values(call.words))


def rpm_assumes_yes(call: Call) -> bool:
    skip = False
    for v in call.values[1:]:
        if skip:
            skip = False
            continue
        if v in K.RPM_YES_LONG or any(v.startswith(f + "=") for f in K.RPM_YES_LONG):
            return True
        if v in K.RPM_OPTS_WITH_VALUE:
            skip = True
            continue
        sc = _short_cluster(v, K.RPM_SHORT_WITH_VALUE)
        if sc:
            if K.RPM_YES_SHORT in sc[0]:
                return True
            if sc[1] == "":
                skip = True
    return False


_YES_WORD_RE = re.compile(r"-[qy]*y[qy]*|-qq+|--yes|--assume-yes")


# -- where things go -----------------------------------------------------------------------------
def insertion_point(cmd: Command) -> int | None:
    """Offset where ``X && `` can go so that X runs right before ``cmd`` (None: no such place).

    ``a || cmd`` has none: ``a || X && cmd`` is ``(a || X) && cmd`` and would skip X.
    """
    node = cmd.node
    while node.parent is not None:
        p = node.parent
        if p.type in ("pipeline", "redirected_statement", "negated_command"):
            node = p
            continue
        if p.type == "list":
            prev = node.prev_sibling
            if prev is not None and not prev.is_named and prev.type == "||":
                return None
        break
    return cmd.script.file_span(node)[0]


def _offline(instr: Instruction) -> bool:
    f = instr.flag("network")
    return f is not None and (f.value or "").strip().lower() == "none"


def _removes(doc: Document, instr: Instruction, paths: tuple[str, ...], after: int) -> bool:
    """A ``rm`` (or ``find -delete``) of one of ``paths`` (or their contents) after offset ``after``."""
    targets = {posixpath.normpath(p) for p in paths}
    for script in run_scripts(doc, instr):
        for cmd in script.commands:
            if cmd.start < after:
                continue
            _, words = _effective(cmd)
            if not words:
                continue
            prog = H.basename(words[0].value)
            if prog == "find" and not any(w.value in ("-delete", "-exec") for w in words):
                continue
            if prog not in ("rm", "find"):
                continue
            for w in words[1:]:
                v = w.value
                if not v.startswith("/"):
                    continue
                v = _strip_glob_tail(v) or "/"
                if posixpath.normpath(v) in targets:
                    return True
    return False


def _rpm_cleaned(calls: list[Call], after: int) -> bool:
    for c in calls:
        if c.family == "rpm" and c.cmd.start >= after and c.sub == K.RPM_CLEAN_WORDS[0]:
            rest = [v for v in c.values[c.sub_index + 1 :] if not v.startswith("-")]
            if rest[:1] == [K.RPM_CLEAN_WORDS[1]]:
                return True
    return False


def _style_trailing_operators(doc: Document, instr: Instruction) -> bool:
    """True when the RUN puts ``&&`` at the end of its continued lines (``a && \\``) rather than
    at the start of the next one (``\\`` then ``&& b``)."""
    lines = doc.text[instr.line_start : instr.end].split("\n")
    trailing = leading = 0
    for k, line in enumerate(lines[:-1]):
        s = line.rstrip("\r").rstrip(" \t")
        if not s.endswith(doc.escape):
            continue
        body = s[:-1].rstrip()
        if body.endswith(("&&", "||")):
            trailing += 1
        nxt = lines[k + 1].lstrip()
        if nxt.startswith(("&&", "||")):
            leading += 1
    return trailing > leading


def _last_operand_start(script: Script) -> int | None:
    stmts = script.statements()
    if not stmts:
        return None
    node = stmts[-1]
    while node.type == "list" and node.named_children:
        node = node.named_children[-1]
    return script.file_span(node)[0]


def append(doc: Document, instr: Instruction, script: Script, command: str) -> Edit | None:
    """``_helpers.append_command``, following the RUN's own continuation style and indentation."""
    edit = H.append_command(doc, instr, script, command)
    if edit is None or script.heredoc is not None or not instr.multiline:
        return edit
    at = edit.start
    op_start = _last_operand_start(script)
    first_line_end = doc.text.find("\n", instr.line_start)
    if op_start is not None and op_start > first_line_end:
        indent = doc.line_indent(op_start)
    elif doc.text.rfind("\n", 0, at) + 1 > instr.line_start:
        indent = doc.line_indent(at)
    else:
        indent = ""
    indent = indent or "    "
    nl = doc.escape + doc.newline + indent
    if _style_trailing_operators(doc, instr):
        return Edit(at, at, f" && {nl}{command}")
    return Edit(at, at, f" {nl}&& {command}")


# -- later RUNs that rely on what we would delete --------------------------------------------------
def _build_chain(doc: Document, instr: Instruction):
    """(stage, index limit): ``instr``'s stage with the instructions before it, then each stage it is built
    FROM, whole."""
    stage = doc.stage_of(instr)
    seen: set[int] = set()
    limit = instr.index
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        yield stage, limit
        parent = next((st for st in doc.stages[: stage.index] if st.name and st.name == stage.image.lower()), None)
        stage, limit = parent, len(doc.instructions)


# (``[^;&|]*`` stops at the next `apk`: the same verdict as ``\bapk\b[^;&|]*\badd\b``, which rescanned the
# rest of the command from every `apk` in it -- quadratic)
_OPAQUE_APK_RE = re.compile(r"\bapk\b(?:(?!\bapk\b)[^;&|])*\badd\b")


class _Checker:
    def __init__(self, doc: Document, ctx):
        self.doc, self.ctx = doc, ctx
        self.per = suppressions(doc)[1]
        self._recommends_memo: dict[int, list[int]] = {}
        self._blockers_memo: dict[int, tuple[list[tuple[Instruction, str]], list[int]]] = {}

    def suppressed(self, instr: Instruction) -> bool:
        if instr.index not in self.per:
            return False
        codes = self.per[instr.index]
        return codes is None or any(CODE.startswith(c) for c in codes)

    def _opaque_text(self, instr: Instruction) -> str | None:
        """The text of a RUN we cannot read as POSIX shell (exec form, other SHELL), else None."""
        if run_scripts(self.doc, instr):
            return None
        if instr.is_exec_form:
            return " ".join(instr.json or ())
        return instr.args

    def first_unupdated_install(self, instr: Instruction) -> Call | None:
        calls = run_calls(self.doc, instr)
        for c in calls:
            if c.family == "apt" and c.sub in K.APT_NEEDS_LISTS:
                if any(u.family == "apt" and u.sub == K.APT_UPDATE and u.cmd.start < c.cmd.start for u in calls):
                    return None
                return c
        return None

    def needs_earlier_lists(self, instr: Instruction) -> str:
        """Why ``instr`` reads the lists an earlier layer left ("" when it does not, or when this
        rule gives it an `apt-get update` of its own before its first reader)."""
        use = A.list_use(self.doc, self.ctx, instr)
        if not use.needs_earlier:
            return ""
        if use.direct and instr.keyword == "RUN":
            c = self.first_unupdated_install(instr)
            if (
                c is not None
                and not self.suppressed(instr)
                and not _offline(instr)
                and insertion_point(c.cmd) is not None
            ):
                return ""  # this rule adds `apt-get update &&` right before it
        return use.needs_earlier

    def needs_earlier_apk_index(self, instr: Instruction) -> bool:
        text = self._opaque_text(instr)
        if text is not None:
            return bool(_OPAQUE_APK_RE.search(text)) and K.APK_NO_CACHE_FLAG not in text
        if not self.suppressed(instr):
            return False  # this rule adds --no-cache, which fetches the index on the fly
        calls = run_calls(self.doc, instr)
        for c in calls:
            if c.family == "apk" and c.sub == K.APK_ADD and K.APK_NO_CACHE_FLAG not in c.values:
                if any(v in ("-U", "--update-cache", "--update") for v in c.values):
                    continue
                if any(u.family == "apk" and u.sub == K.APK_UPDATE and u.cmd.start < c.cmd.start for u in calls):
                    continue
                return True
        return False

    def recommends_off_in_stage(self, instr: Instruction) -> bool:
        """An instruction before ``instr`` in its build writes an apt config that turns recommends off."""
        return any(
            hits and hits[0] < limit
            for st, limit in _build_chain(self.doc, instr)
            for hits in (self._recommends_off(st),)
        )

    def _recommends_off(self, stage) -> list[int]:
        """Indexes of the instructions of ``stage`` that turn recommends off: once per stage (asked for
        every install, a scan per call made long files quadratic)."""
        found = self._recommends_memo.get(stage.index)
        if found is None:
            found = self._recommends_memo[stage.index] = [
                i.index
                for i in stage.instructions
                if i.keyword in ("RUN", "COPY", "ADD")
                and K.APT_CONF_DIR in (t := self.doc.text[i.start : i.end])
                and K.APT_CONF_NO_RECOMMENDS.search(t)
            ]
        return found

    def first_list_blocker(self, instr: Instruction) -> tuple[Instruction, str] | None:
        """The first of ``A.later_users`` that needs the lists an earlier layer left, with why; None when
        none does. Each stage's blockers are found once (asked for every apt RUN)."""
        stage = self.doc.stage_of(instr)
        if stage is None:
            return None
        for st in [stage] + B.descendants(self.doc, stage):
            found = self._blockers_memo.get(st.index)
            if found is None:
                users = A.stage_users(self.doc, st)[0]
                blockers = [(r, why) for r in users if (why := self.needs_earlier_lists(r))]
                found = self._blockers_memo[st.index] = (blockers, [r.index for r, _ in blockers])
            k = bisect.bisect_right(found[1], instr.index) if st is stage else 0
            if k < len(found[0]):
                return found[0][k]
        return None


# -- the lone `apt-get update` RUN ---------------------------------------------------------------
def _is_lone_update(doc: Document, instr: Instruction) -> bool:
    if instr.keyword != "RUN" or instr.heredocs:
        return False
    scripts = run_scripts(doc, instr)
    if not scripts or any(s.has_error for s in scripts):
        return False
    cmds = [c for s in scripts for c in s.commands]
    if not cmds:
        return False
    for cmd in cmds:
        c = classify(cmd, cmd.script)
        if c is None or c.family != "apt" or c.sub != K.APT_UPDATE:
            return False
    return True


def _next_instruction(doc: Document, instr: Instruction) -> Instruction | None:
    """The next instruction when only comments and blank lines stand between the two."""
    pos = doc.items.index(instr)
    for item in doc.items[pos + 1 :]:
        if hasattr(item, "keyword"):
            return item
        if item.kind not in ("comment", "blank"):
            return None
    return None


def _merge_plans(doc: Document, chk: _Checker) -> dict[int, tuple[Instruction, Call | None, int | None]]:
    """lone update RUN index -> (install RUN, its install needing an update or None, insert offset)."""
    plans = {}
    for u in doc.instructions:
        if not _is_lone_update(doc, u) or chk.suppressed(u):
            continue
        nxt = _next_instruction(doc, u)
        if nxt is None or nxt.keyword != "RUN" or nxt.stage != u.stage or chk.suppressed(nxt) or _offline(nxt):
            continue
        if not {f.raw for f in u.flags} <= {f.raw for f in nxt.flags}:
            continue  # the update needs a mount/network setting the install RUN lacks
        calls = run_calls(doc, nxt)
        if not any(c.family == "apt" and c.sub in K.APT_NEEDS_LISTS for c in calls):
            continue
        use = A.list_use(doc, chk.ctx, nxt)
        if use.needs_earlier and not use.direct:
            continue  # something in that RUN reads the lists before its first install
        target = chk.first_unupdated_install(nxt)
        at = None
        if target is not None:
            at = insertion_point(target.cmd)
            if at is None:
                continue
        plans[u.index] = (nxt, target, at)
    return plans


# -- the rule ------------------------------------------------------------------------------------
def check(doc: Document, ctx):
    chk = _Checker(doc, ctx)
    plans = _merge_plans(doc, chk)
    merge_targets = {plan[0].index for plan in plans.values()}
    for instr in doc.instructions:
        if instr.keyword != "RUN":
            continue
        calls = run_calls(doc, instr)
        if not calls:
            continue
        if instr.index in plans:
            yield from _merge_finding(doc, instr, calls, plans[instr.index])
            continue  # the lists move to the install RUN, which cleans them up
        yield from _apt(doc, instr, calls, chk, merged=instr.index in merge_targets)
        yield from _apk(doc, instr, calls, chk)
        yield from _rpm(doc, instr, calls)


def _merge_finding(doc, instr, calls, plan):
    nxt, target, at = plan
    update = calls[0]
    edits = [Edit(instr.line_start, instr.line_end, "")]
    if target is not None:
        # Keep the user's own spelling (``apt-get update -qq``) when it is one command on one line.
        own = doc.text[update.cmd.start : update.cmd.end]
        if len(calls) != 1 or "\n" in own or doc.escape in own:
            own = f"{target.privilege_prefix()}{K.APT_UPDATE_CMD}"
        edits.append(Edit(at, at, f"{own} && "))
        desc = "move `apt-get update` into the install RUN below"
    else:
        desc = "drop the `apt-get update` RUN: the install RUN below updates itself"
    sfx, size = SHIP.size_claim(doc, instr, S.apt_lists_estimate(doc, instr), K.APT_LISTS_DIR)
    yield H.finding(
        _RULE,
        f"`{update.label()}` alone in its own RUN keeps the package lists in that layer "
        f"(nothing saved by removing them later); run it in the install RUN{sfx}",
        update.cmd.start,
        update.cmd.end,
        Fix.safe(*edits, description=desc),
        **size,
    )


def _apt(doc, instr, calls, chk: _Checker, merged: bool):
    apt = [c for c in calls if c.family == "apt"]
    if not apt:
        return
    # 2. install without an update of its own
    if not merged:
        c = chk.first_unupdated_install(instr)
        if c is not None:
            at = insertion_point(c.cmd)
            fix, note = None, ""
            if _offline(instr):
                note = "the RUN has no network (--network=none): `apt-get update` cannot run there"
            elif at is None:
                note = "it runs only when the command before `||` fails; add `apt-get update` by hand"
            else:
                edit = Edit(at, at, f"{c.privilege_prefix()}{K.APT_UPDATE_CMD} && ")
                st = B.state_before(doc, instr)
                sh = shellspec.spec(st.effective_shell, st.values())
                if failure_fails(c.script, c.cmd, sh.errexit if sh.known else None):
                    fix = Fix.safe(
                        edit,
                        description="run `apt-get update` in the same RUN",
                        relies_on=(
                            f"`{c.label()}` failing fails the RUN: with or without lists it either installs from "
                            "current lists or stops the build",
                        ),
                    )
                else:
                    fix = Fix.unsafe(
                        edit,
                        description="run `apt-get update` in the same RUN",
                        reason=f"the failure of `{c.label()}` is ignored: where no earlier layer left "
                        "package lists it silently installs nothing today, and with the update "
                        "it installs -- the image changes",
                    )
            yield H.finding(
                _RULE,
                f"`{c.label()}` without `apt-get update` in the same RUN relies on package "
                "lists from an earlier layer (and fails once they are removed)",
                c.cmd.start,
                c.cmd.end,
                fix,
                note=note,
            )
    recommends_off = None
    for c in apt:
        if c.sub_word is None or apt_no_action(c):
            continue
        # 3. -y
        if c.sub in K.APT_PROMPTS and not apt_assumes_yes(c):
            yield H.finding(
                _RULE,
                f"`{c.label()}` without -y: the build has no terminal and aborts at the confirmation prompt",
                c.cmd.start,
                c.cmd.end,
                _yes_fix(doc, instr, c, K.APT_YES_FLAG),
            )
        # 4. --no-install-recommends
        if c.sub in K.APT_RECOMMENDS and not apt_no_recommends(c):
            if recommends_off is None:
                recommends_off = chk.recommends_off_in_stage(instr)
            if not recommends_off:
                anchor = c.sub_word
                nxt = c.words[c.sub_index + 1] if c.sub_index + 1 < len(c.words) else None
                if nxt is not None and _YES_WORD_RE.fullmatch(nxt.value):
                    anchor = nxt
                yield H.finding(
                    _RULE,
                    f"`{c.label()}` without --no-install-recommends also installs every recommended package",
                    c.cmd.start,
                    c.cmd.end,
                    Fix.unsafe(
                        H.insert_after_word(anchor, K.APT_NO_RECOMMENDS_FLAG),
                        reason=RECOMMENDS_REASON,
                        description="add --no-install-recommends",
                    ),
                )
    # 5. remove the lists in the same RUN
    users = [c for c in apt if c.sub == K.APT_UPDATE or c.sub in K.APT_NEEDS_LISTS]
    if not users or H.cache_mount_covers(instr, K.APT_LISTS_DIR):
        return
    last = users[-1]
    if _removes(doc, instr, K.APT_LISTS_REMOVED_BY, last.cmd.end):
        return
    blocker = chk.first_list_blocker(instr)
    note = ""
    edit = None
    if blocker is not None:
        r, why = blocker
        use = A.list_use(doc, chk.ctx, r)
        if use.reads:
            note = (
                f"the {r.keyword} on line {r.start_line} reads these lists without an `apt-get update` of its "
                f"own ({why}), which slimml cannot add there; update there first"
            )
        else:
            note = (
                f"the {r.keyword} on line {r.start_line} may read these lists and slimml cannot tell ({why}); "
                "remove them by hand once you know it does not"
            )
    else:
        edit = append(doc, instr, last.script, last.privilege_prefix() + K.APT_LISTS_CLEAN)
        if edit is None:
            note = "the RUN mixes heredocs and commands; remove /var/lib/apt/lists/* by hand"
    sfx, size = SHIP.size_claim(doc, instr, S.apt_lists_estimate(doc, instr), K.APT_LISTS_DIR)
    yield H.finding(
        _RULE,
        f"`{last.label()}` leaves the package lists (/var/lib/apt/lists, tens of MB) in the "
        f"layer; remove them in the same RUN{sfx}",
        last.cmd.start,
        last.cmd.end,
        Fix.safe(
            edit,
            description=f"run `{K.APT_LISTS_CLEAN}` at the end of the RUN",
            relies_on=(_no_later_reader(doc, instr),),
        )
        if edit
        else None,
        note=note,
        **size,
    )


def _yes_fix(doc: Document, instr: Instruction, c: Call, flag: str) -> Fix:
    """``-y`` repairs a build that aborts at the prompt; where the abort is swallowed (``|| true``,
    an ``if``, a statement followed by others without errexit) the build succeeded without the
    command's effect, and ``-y`` would now carry it out: unsafe."""
    st = B.state_before(doc, instr)
    sh = shellspec.spec(st.effective_shell, st.values()) if st is not None else shellspec.UNKNOWN
    fails = failure_fails(c.script, c.cmd, sh.errexit if sh.known else None)
    edit = H.insert_after_word(c.sub_word, flag)
    if fails:
        return Fix.safe(
            edit,
            description=f"add {flag}",
            relies_on=(
                f"`{c.label()}` failing fails the RUN, so today the build stops at the prompt whenever there is "
                "something to do: the fix only repairs a build that fails",
            ),
        )
    why = (
        "its failure is ignored"
        if fails is False
        else "whether its failure stops the RUN depends on the base image's SHELL (errexit), which is unknown"
    )
    return Fix.unsafe(
        edit,
        description=f"add {flag}",
        reason=f"{why}: today `{c.label()}` aborts at the prompt and the build goes on without its "
        f"effect; with {flag} it runs, and the image changes",
    )


def _no_later_reader(doc: Document, instr: Instruction) -> str:
    later = A.later_users(doc, instr)
    if not later:
        return "nothing runs after this RUN in the image's build or at start (no later RUN, ONBUILD, CMD or ENTRYPOINT)"
    lines = ", ".join(str(i.start_line) for i in later[:8]) + (" ..." if len(later) > 8 else "")
    return (
        f"no later step reads the apt lists without an update of its own (checked lines {lines}, "
        "and the scripts they run)"
    )


def _apk(doc, instr, calls, chk: _Checker):
    apk = [c for c in calls if c.family == "apk"]
    if not apk or H.cache_mount_covers(instr, *K.APK_CACHE_REMOVED_BY):
        return
    for c in apk:
        if c.sub == K.APK_ADD and K.APK_NO_CACHE_FLAG not in c.values:
            yield H.finding(
                _RULE,
                f"`{c.label()}` without --no-cache keeps the package index in /var/cache/apk",
                c.cmd.start,
                c.cmd.end,
                Fix.safe(
                    H.insert_after_word(c.sub_word, K.APK_NO_CACHE_FLAG), description=f"add {K.APK_NO_CACHE_FLAG}"
                ),
            )
    updates = [c for c in apk if c.sub == K.APK_UPDATE]
    if not updates:
        return
    last = updates[-1]
    if _removes(doc, instr, K.APK_CACHE_REMOVED_BY, last.cmd.end):
        return
    blocker = next(
        (r for r in A.later_users(doc, instr) if r.keyword == "RUN" and chk.needs_earlier_apk_index(r)), None
    )
    edit, note = None, ""
    if blocker is not None:
        note = f"the RUN on line {blocker.start_line} runs `apk add` with the index from this layer"
    else:
        edit = append(doc, instr, last.script, last.privilege_prefix() + K.APK_CACHE_CLEAN)
        if edit is None:
            note = "the RUN mixes heredocs and commands; remove /var/cache/apk/* by hand"
    yield H.finding(
        _RULE,
        "`apk update` leaves the package index in /var/cache/apk; remove it in the same RUN "
        "(or use `apk add --no-cache` instead)",
        last.cmd.start,
        last.cmd.end,
        Fix.safe(edit, description=f"run `{K.APK_CACHE_CLEAN}` at the end of the RUN") if edit else None,
        note=note,
    )


def _rpm(doc, instr, calls):
    rpm = [c for c in calls if c.family == "rpm"]
    if not rpm:
        return
    installs = [c for c in rpm if c.sub in K.RPM_INSTALLS]
    for c in installs:
        if not rpm_assumes_yes(c):
            yield H.finding(
                _RULE,
                f"`{c.label()}` without -y: the build has no terminal and aborts at the confirmation prompt",
                c.cmd.start,
                c.cmd.end,
                _yes_fix(doc, instr, c, K.RPM_YES_FLAG),
            )
    if not installs or H.cache_mount_covers(instr, *K.RPM_CACHE_DIRS):
        return
    last_by_tool: dict[str, Call] = {}
    for c in installs:
        last_by_tool[c.tool] = c
    for tool, last in last_by_tool.items():
        if _rpm_cleaned(calls, last.cmd.end) or _removes(doc, instr, K.RPM_CACHE_DIRS, last.cmd.end):
            continue
        clean = K.RPM_CLEAN.format(tool=tool)
        edit = append(doc, instr, last.script, last.privilege_prefix() + clean)
        yield H.finding(
            _RULE,
            f"`{last.label()}` leaves its metadata and package cache in the layer; run `{clean}` in the same RUN",
            last.cmd.start,
            last.cmd.end,
            Fix.safe(edit, description=f"run `{clean}` at the end of the RUN") if edit else None,
            note="" if edit else f"the RUN mixes heredocs and commands; add `{clean}` by hand",
        )


def _strip_glob_tail(v: str) -> str:
    """``re.sub(r"(/\\*|/\\.\\*|/)+$", "", v)`` in linear time (the regex rescans from every `/`): the
    trailing ``/*``, ``/.*`` and ``/`` pieces, peeled from the right (each suffix peels one way only)."""
    while True:
        for tail in ("/*", "/.*", "/"):
            if v.endswith(tail):
                v = v[: -len(tail)]
                break
        else:
            return v
