"""Repair a split from evidence: the runtime libraries and programs a rewritten image lacks, added back.

A rewrite that moves the install into a builder stage and ships a smaller runtime base loses what the
old base had: ``lightgbm`` needs ``libgomp.so.1`` (gcc's OpenMP runtime, in the full ``python`` image
because of build-essential, absent from ``-slim``). The table of pip -> apt libraries cannot know
every wheel. With the two images built, nothing needs to be guessed:

1. ``elfdeps.scan`` the rewrite's image under what its final stage copied from the builder: the
   ELF files' NEEDED libraries the image cannot resolve;
2. the programs the app runs that the rewrite lacks (the ``programs`` check of the verification);
3. ``elfdeps.lookup`` each in the original image: the file the loader (``command -v``) finds there and
   the Debian/Ubuntu package that ships it (``dpkg -S``);
4. those packages are installed at the top of the runtime stage, the image is rebuilt and verified
   again -- at most ``MAX_ITERATIONS`` times (a package's own files can need more).

A library or program the original has but no package ships, or a rebuild that fails, ends the
repair: the caller drops the rewrite as before, now with this evidence. Something missing in the
original too is not the rewrite's doing and is ignored (noted). A rewrite that verifies is never
touched: the loop only runs on a failed verification.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .elfdeps import ElfScan, Owner, copied_roots, lookup, scan

MAX_ITERATIONS = 3
_PKG_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_PROGRAM_FAIL_RE = re.compile(
    r"^(?P<name>[^:\s]+): (?P<path>/\S*) in the original, not found in the rewrite"
    r" \(run at (?P<where>.*)\)$"
)


@dataclass
class Iteration:
    number: int
    scan: dict  # files, dynamic, seconds, missing (soname -> needers)
    programs: dict[str, list[str]]  # missing program -> where the app runs it
    owners: list[dict]
    added: list[str]  # packages this iteration added
    lookup_seconds: float = 0.0
    outcome: str = ""  # "verified", or why the next build did not verify


@dataclass
class Repair:
    """What the repair tried and found; ``packages`` with ``reasons`` is what the rewrite gained."""

    packages: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # "libgomp1: library libgomp.so.1 (needed by ...) ..."
    iterations: list[Iteration] = field(default_factory=list)
    verified: bool = False
    evidence: list[str] = field(default_factory=list)  # why it could not be repaired
    notes: list[str] = field(default_factory=list)
    text: str | None = None  # the repaired Dockerfile (when packages were added)
    result: object | None = None  # the last attempt's result (PairResult or the caller's)

    @property
    def tried(self) -> bool:
        return bool(self.iterations)

    def summary(self) -> str:
        if self.verified and self.packages:
            return "repaired: runtime stage installs " + ", ".join(self.packages) + " (" + "; ".join(self.reasons) + ")"
        return "; ".join(self.evidence) if self.evidence else ""

    def to_json(self) -> dict:
        return {
            "packages": self.packages,
            "reasons": self.reasons,
            "verified": self.verified,
            "evidence": self.evidence,
            "notes": self.notes,
            "iterations": [
                {
                    "number": i.number,
                    "scan": i.scan,
                    "programs": i.programs,
                    "owners": i.owners,
                    "added": i.added,
                    "lookup_seconds": i.lookup_seconds,
                    "outcome": i.outcome,
                }
                for i in self.iterations
            ],
        }


# -- the Dockerfile edit ---------------------------------------------------------------------------------
def add_runtime_packages(text: str, packages: list[str]) -> str:
    """``text`` with ``packages`` installed at the top of the final stage: appended to its apt install when
    the stage's first RUN is one (SLM008 puts the runtime stage's system packages there: one ``apt-get
    update``), else in a new apt RUN right after its FROM (before anything the stage does, so a code edit
    never re-runs it and it runs as root with the default shell)."""
    from ..dockerfile import parse
    from ..rules.multi_stage.common import APT_CLEAN, APT_INSTALL_DEFAULT  # what SLM008's runtime installs say

    if not packages:
        return text
    bad = [p for p in packages if not _PKG_RE.match(p)]
    if bad:
        raise ValueError(f"not a package name: {bad[0]!r}")
    doc = parse(text)
    at = _install_end(doc)
    if at is not None:
        return text[:at] + "".join(" " + p for p in packages) + text[at:]
    fi = doc.stages[-1].from_instruction
    run = f"RUN apt-get update && {APT_INSTALL_DEFAULT} {' '.join(packages)} && {APT_CLEAN}"
    before = text[: fi.line_end]
    if not before.endswith(("\n", "\r")):
        before += doc.newline
    return before + run + doc.newline + text[fi.line_end :]


_AND_RE = re.compile(r"^(?:\s|\\\r?\n)*&&(?:\s|\\\r?\n)*$")
_BLANK_RE = re.compile(r"^(?:\s|\\\r?\n)*$")


def _and_chain(script) -> bool:
    """The script's commands run one after another, each only if the one before succeeded (``a && b``):
    nothing around or between them (``;``, ``||``, ``if``, a loop, a substitution) that could skip the
    install or ignore its failure."""
    spans = sorted(script.src_span(c.node) for c in script.commands)
    if not spans:
        return False
    src = script.source
    if not (_BLANK_RE.match(src[: spans[0][0]]) and _BLANK_RE.match(src[spans[-1][1] :])):
        return False
    return all(_AND_RE.match(src[a[1] : b[0]]) for a, b in zip(spans, spans[1:]))


_PLAIN_WORD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+:=~_/-]*$|^-[A-Za-z-]+$")


def _install_end(doc) -> int | None:
    """File offset after the last package of the apt install in the final stage's first RUN (the place to
    add packages), or None: that RUN is not a plain apt install (exec form, heredoc, another program
    first, words that are not plain package names and flags)."""
    from ..dockerfile.shell import run_scripts
    from ..knowledge.system_packages import APT_OPTS_WITH_VALUE, APT_TOOLS

    run = next((i for i in doc.stages[-1].instructions if i.keyword == "RUN"), None)
    if run is None or run.json is not None or run.heredocs or run.flags:
        return None
    scripts = run_scripts(doc, run)
    if len(scripts) != 1 or not _and_chain(scripts[0]):
        return None
    for cmd in scripts[0].commands:
        words = cmd.words
        argv = [w.value for w in words]
        if not argv or argv[0] not in APT_TOOLS:
            continue
        subs = [
            v for i, v in enumerate(argv[1:], 1) if not v.startswith("-") and argv[i - 1] not in APT_OPTS_WITH_VALUE
        ]
        if not subs or subs[0] != "install":
            continue
        if (
            not all(_PLAIN_WORD_RE.match(w.raw) for w in words[1:])
            or any(v in APT_OPTS_WITH_VALUE for v in argv)
            or len(subs) < 2
        ):
            return None
        return words[-1].end
    return None


def missing_programs(verification) -> dict[str, list[str]]:
    """Programs the app runs that the original has and the rewrite lacks (the ``programs`` check)."""
    out: dict[str, list[str]] = {}
    for c in getattr(verification, "checks", None) or []:
        if getattr(c, "name", None) != "programs":
            continue
        for line in (c.details or {}).get("failures") or []:
            m = _PROGRAM_FAIL_RE.match(line)
            if m:
                out[m.group("name")] = [m.group("where")]
    return out


def applies(before_text: str, after_text: str) -> bool:
    """The rewrite ships another base than the original (a split's runtime stage, a runtime CUDA image):
    what it lacks may be what the old base had. A rewrite on the same base lost nothing a package of that
    base should bring back -- repairing it would undo the rule's own change."""
    from .plan import final_base_image

    after = final_base_image(after_text)
    return after is not None and after != final_base_image(before_text)


# -- the loop --------------------------------------------------------------------------------------------
Attempt = Callable[[str, str], tuple[str | None, object, bool, list[str]]]
# attempt(text, label) -> (image ref or None when it did not build, result, verified, reasons)


def repair(
    client,
    before_ref: str,
    text: str,
    after_ref: str,
    verification,
    attempt: Attempt,
    *,
    resources=None,
    max_iterations: int = MAX_ITERATIONS,
    progress=None,
) -> Repair:
    """Add what the rewrite's image (``after_ref``, built from ``text``, which did not verify) lacks and the
    original (``before_ref``) has from a package, rebuild with ``attempt``, repeat (see the module doc)."""
    say = progress or (lambda s: None)
    rep = Repair()
    roots = copied_roots(text)
    added: list[str] = []
    owners_by_pkg: dict[str, Owner] = {}
    ref = after_ref
    for n in range(1, max_iterations + 1):
        sc: ElfScan = scan(client, ref, roots, resources=resources)
        if sc.error:
            rep.evidence.append(sc.error)
            break
        programs = missing_programs(verification)
        say(
            f"repair {n}: {sc.files} ELF files scanned in {sc.seconds:.1f} s, {len(sc.missing)} unresolved "
            f"librar{'y' if len(sc.missing) == 1 else 'ies'}, {len(programs)} missing program(s)"
        )
        it = Iteration(
            n,
            {
                "files": sc.files,
                "dynamic": sc.dynamic,
                "seconds": round(sc.seconds, 2),
                "missing": sc.missing,
                "truncated": sc.truncated,
                "roots": roots,
            },
            programs,
            [],
            [],
        )
        rep.iterations.append(it)
        if not sc.missing and not programs:
            if n == 1:
                rep.notes.append("no unresolved library and no missing program in the rewrite: nothing to repair")
            else:
                rep.evidence.append(
                    "still does not verify, with every library and program resolved: " + it_outcome(rep, -2)
                )
            break
        t = time.monotonic()
        owners, meta = lookup(client, before_ref, sc.missing, programs, machine=sc.machine, resources=resources)
        it.lookup_seconds = round(time.monotonic() - t, 2)
        it.owners = [o.to_json() for o in owners]
        if meta.get("error"):
            rep.evidence.append(meta["error"])
            break
        absent = [o for o in owners if o.path is None]
        if absent:
            rep.notes.append(
                "missing in the original too (not the rewrite's doing): " + ", ".join(o.name for o in absent[:10])
            )
        unowned = [o for o in owners if o.path is not None and o.package is None]
        if unowned:
            if not meta.get("dpkg"):
                rep.evidence.append("the original has no dpkg to tell which package ships " + unowned[0].name)
            rep.evidence += [o.why() for o in unowned[:10]]
            break
        new = [o for o in owners if o.package and o.package not in added]
        stuck = [o for o in owners if o.package and o.package in added]
        if stuck:
            rep.evidence += [o.why() + ", installed and still missing" for o in stuck[:10]]
            break
        if not new:
            if programs or sc.missing:
                rep.evidence.append(
                    "what the rewrite lacks is missing in the original too: " + ", ".join(o.name for o in absent[:10])
                )
            break
        if not sc.apt:
            rep.evidence.append(
                f"the runtime image has no apt-get to install {', '.join(sorted({o.package for o in new}))}"
            )
            break
        if (
            sc.os
            and meta.get("os")
            and (sc.os.get("id"), sc.os.get("version_id")) != (meta["os"].get("id"), meta["os"].get("version_id"))
        ):
            rep.notes.append(
                f"package names come from the original ({meta['os'].get('id')} "
                f"{meta['os'].get('version_id')}), the runtime is {sc.os.get('id')} {sc.os.get('version_id')}"
            )
        for o in new:
            if o.package not in added:
                added.append(o.package)
                it.added.append(o.package)
                owners_by_pkg.setdefault(o.package, o)
            rep.reasons.append(f"{o.package}: {o.why()}")
        rep.text = add_runtime_packages(text, added)
        say(f"repair {n}: adding {', '.join(it.added)} to the runtime stage and building again")
        ref, result, ok, reasons = attempt(rep.text, f"repair-{n}")
        rep.result = result
        it.outcome = "verified" if ok else "; ".join(reasons)[:500]
        if ok:
            rep.verified = True
            break
        if ref is None:
            rep.evidence.append(f"with {', '.join(added)} added: " + it.outcome)
            break
        verification = getattr(result, "verification", None)
    else:
        rep.evidence.append(f"not verified after {max_iterations} repair(s): " + it_outcome(rep, -1))
    rep.packages = added
    return rep


def it_outcome(rep: Repair, i: int) -> str:
    try:
        return rep.iterations[i].outcome or "did not verify"
    except IndexError:
        return "did not verify"


# -- on a measure.pair.Session ---------------------------------------------------------------------------
def repair_candidate(session, cand, result, *, max_iterations: int = MAX_ITERATIONS, progress=None):
    """Repair a ``Candidate`` whose ``PairResult`` did not verify, on the session's builds: the Repair
    (``repair.result`` is the last PairResult) or None when there is nothing to try (it verified, or it
    did not build: there is no image to read; or it keeps the original's base, see ``applies``)."""
    from .pair import Candidate

    build = getattr(result, "build", None)
    if result.verified or build is None or not build.ok or getattr(result, "verification", None) is None:
        return None
    if not applies(session.before_text, cand.text):
        return None
    before = session.original()

    def attempt(text: str, label: str):
        r = session.verify(Candidate(text, dict(cand.side_files), label=f"{cand.label}-{label}"))
        ok_build = r.build is not None and r.build.ok
        return (r.build.tag if ok_build else None), r, r.verified, r.reasons

    return repair(
        session.client,
        before.tag,
        cand.text,
        build.tag,
        result.verification,
        attempt,
        resources=session.res,
        max_iterations=max_iterations,
        progress=progress,
    )
