"""`slimml fix --verify`: keep the unsafe fixes a real build proves, drop the others, say why.

For one Dockerfile:

1. the safe rewrite, and every rule whose *unsafe* fixes would apply, are worked out offline;
2. the original, the safe rewrite and "safe + one rule's unsafe fixes" for each such rule are
   built and verified against the original (``measure.pair.Session``: one context copy, a shared
   build cache, up to ``jobs`` builds at a time);
3. the rules that passed alone are combined and verified together; if the combination fails,
   they are added one at a time, largest saving first, each kept only while the build still
   verifies;
   a rule's rewrite that builds but does not verify is first repaired from evidence (measure.repair:
   the runtime libraries and programs its image lacks, from the packages that ship them in the
   original), rebuilt and verified again; the packages it needed stay with the rule's fixes;
4. the result is the rewrite with exactly the kept rules' unsafe fixes -- or, when even the safe
   rewrite does not verify, the original file untouched (a slimml defect, reported).

Every decision carries its evidence: the failing step or the failing checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from .engine import Applicability
from .runner import FileReport, Options, fix_file

# Larger expected savings first when unsafe fixes are added one at a time.
ORDER = ("SLM008", "SLM007", "SLM010", "SLM006", "SLM002", "SLM004", "SLM003", "SLM005", "SLM009", "SLM001")


@dataclass
class Decision:
    code: str
    kept: bool
    why: str  # "verified", or the evidence for dropping it
    descriptions: list[str] = field(default_factory=list)
    size: int | None = None  # bytes of "safe + this rule" (when built)
    repair: dict | None = None  # measure.repair.Repair.to_json(): packages added from evidence, or why not


@dataclass
class Proof:
    path: Path
    display: str
    error: str | None = None
    exit_code: int = 0  # 0 verified (or nothing to prove); 1 the safe rewrite did not verify; 2 error
    size_before: int | None = None
    size_safe: int | None = None
    size_after: int | None = None
    safe_verified: bool | None = None
    safe_reasons: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    kept: frozenset[str] = frozenset()
    packages: list[str] = field(default_factory=list)  # runtime packages the kept rules' repairs added
    report: FileReport | None = None  # the final rewrite (written with --write)

    @property
    def dropped(self) -> list[Decision]:
        return [d for d in self.decisions if not d.kept]


Progress = Callable[[str], None]


def _variant(
    path: Path, opts: Options, codes: frozenset[str] | None, every: bool = False, run_cache: dict | None = None
) -> FileReport:
    """The rewrite with the unsafe fixes of ``codes`` (``every``: of every rule), computed, never
    written. ``run_cache``: the disk reads of one prove, shared by its variants (the disk does not
    change while they are computed; each gets its own side-file overlay)."""
    if every:
        o = replace(opts, write=False, unsafe_fixes=True, unsafe_codes=None)
    else:
        o = replace(opts, write=False, unsafe_fixes=bool(codes), unsafe_codes=codes or None)
    return fix_file(path, o, {}, run_cache if run_cache is not None else {})


def _side_files(rep: FileReport) -> dict[str, str]:
    """Side files of a rewrite, keyed relative to its context (what the candidate build gets)."""
    out: dict[str, str] = {}
    ctx = rep.context_dir
    for p, (before, after) in rep.result.side_files.items():
        if before != after and ctx is not None:
            try:
                out[str(Path(p).resolve().relative_to(ctx))] = after
            except ValueError:
                continue
    return out


def _unsafe_codes(rep: FileReport) -> list[str]:
    codes = {f.code for f in rep.result.applied if f.fix.applicability is Applicability.UNSAFE}
    return sorted(codes, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))


def prove(
    path: Path, opts: Options, jobs: int = 2, progress: Progress | None = None, session_factory=None, endpoint=None
) -> Proof:
    """Decide which unsafe fixes ``path`` keeps, by building and verifying (see the module doc);
    ``endpoint``: the engine to build on (measure.engine.Endpoint; default: DOCKER_HOST)."""
    say = progress or (lambda text: None)
    disk: dict = {}
    variant = partial(_variant, run_cache=disk)
    safe = variant(path, opts, None)
    proof = Proof(path, safe.display)
    if safe.error:
        proof.error, proof.exit_code = safe.error, 2
        return proof
    codes = _unsafe_codes(variant(path, opts, None, every=True)) if opts.unsafe_fixes is not False else []
    if not safe.changed and not codes:
        proof.report = safe
        return proof
    context = safe.context_dir
    if context is None:
        proof.error = f"{safe.display}: the build context is unknown; pass --context to verify"
        proof.exit_code = 2
        return proof
    try:
        rel = str(path.resolve().relative_to(context))
    except ValueError:
        rel = None  # the Dockerfile lives outside its context
    if session_factory is None:
        from .measure.pair import Session as session_factory  # noqa: N813 - the Docker SDK loads here
    from .measure.engine import MeasureError
    from .measure.pair import Candidate

    repairs: dict = {}  # code -> measure.repair.Repair that verified

    def cand(rep: FileReport, label: str, codes=()):
        return Candidate(_with_packages(rep.result.output, _packages(repairs, codes)), _side_files(rep), label=label)

    def events(label: str, event: str, text: str) -> None:
        if event in ("build-end", "done"):
            say(f"  {label}: {text}")

    try:
        on = {"endpoint": endpoint} if endpoint is not None else {}
        with session_factory(context, safe.result.original, dockerfile_rel=rel, jobs=jobs, progress=events, **on) as s:
            say(
                f"{safe.display}: building the original, the safe rewrite and {len(codes)} variant(s) with unsafe fixes"
            )
            singles = {c: variant(path, opts, frozenset({c})) for c in codes}
            cands = [cand(singles[c], f"with-{c}") for c in codes]
            results = s.verify_many([cand(safe, "safe")] + cands)
            proof.size_before = _size(s, s.original())
            safe_r, single_r = results[0], dict(zip(codes, results[1:]))
            proof.safe_verified, proof.size_safe = safe_r.verified, safe_r.size
            if not safe_r.verified:
                proof.safe_reasons = safe_r.reasons
                proof.exit_code = 1
                proof.decisions = [
                    Decision(
                        c, False, "not tried: the safe rewrite itself did not verify", _descriptions(singles[c], c)
                    )
                    for c in codes
                ]
                return proof
            tried = {}
            for c, cd in zip(codes, cands):
                r = _repair(s, cd, single_r[c], say)
                if r is not None:
                    tried[c] = r
                    if r.verified:
                        repairs[c], single_r[c] = r, r.result
            for c in codes:
                if not single_r[c].verified:
                    why = "; ".join(single_r[c].reasons) or "did not verify"
                    if c in tried and tried[c].evidence:
                        why += " -- not repairable: " + "; ".join(tried[c].evidence)
                    proof.decisions.append(
                        Decision(
                            c,
                            False,
                            why,
                            _descriptions(singles[c], c),
                            single_r[c].size,
                            tried[c].to_json() if c in tried else None,
                        )
                    )
            passed = [c for c in codes if single_r[c].verified]
            kept, final_r = _combine(variant, path, opts, s, cand, passed, single_r, singles, proof)
            proof.size_after = final_r.size if final_r is not None else safe_r.size
    except MeasureError as e:
        proof.error, proof.exit_code = f"{safe.display}: {e.message}", e.exit_code
        return proof
    proof.decisions.sort(key=lambda d: codes.index(d.code))
    for d in proof.decisions:
        if d.kept and d.code in repairs:
            d.repair = repairs[d.code].to_json()
            d.why = "verified after " + repairs[d.code].summary()
    proof.kept = frozenset(kept)
    proof.packages = _packages(repairs, kept)
    proof.report = _patched(variant(path, opts, proof.kept), proof.packages) if kept else safe
    return proof


def _repair(session, candidate, result, say):
    """measure.repair on a rule's rewrite that built but did not verify (None: nothing to try)."""
    from .measure.repair import repair_candidate

    return repair_candidate(session, candidate, result, progress=lambda t: say(f"  {candidate.label}: {t}"))


def _packages(repairs: dict, codes) -> list[str]:
    """The packages the repairs of ``codes`` added, in order, once each."""
    return list(dict.fromkeys(p for c in sorted(codes) if c in repairs for p in repairs[c].packages))


def _with_packages(text: str, packages: list[str]) -> str:
    if not packages:
        return text
    from .measure.repair import add_runtime_packages

    return add_runtime_packages(text, packages)


def _patched(rep: FileReport, packages: list[str]) -> FileReport:
    """The report with the repair's packages in its rewrite (and its diff)."""
    if packages and rep.result is not None:
        from .runner import make_diff

        rep.result.output = _with_packages(rep.result.output, packages)
        rep.diff = make_diff(rep)
    return rep


def _combine(variant, path, opts, s, cand, passed, single_r, singles, proof):
    """The rules that verified alone, kept together if that verifies, else one at a time (largest
    saving first) while the build still verifies: (kept codes, the last verified result)."""
    if not passed:
        return [], None
    if len(passed) == 1:
        proof.decisions.append(
            Decision(
                passed[0], True, "verified", _descriptions(singles[passed[0]], passed[0]), single_r[passed[0]].size
            )
        )
        return passed, single_r[passed[0]]
    together = s.verify(cand(variant(path, opts, frozenset(passed)), "kept-together", passed))
    if together.verified:
        for c in passed:
            proof.decisions.append(Decision(c, True, "verified", _descriptions(singles[c], c), single_r[c].size))
        return passed, together
    kept: list[str] = []
    last = None
    for c in sorted(passed, key=lambda c: single_r[c].size or 0):
        r = (
            single_r[c]
            if not kept
            else s.verify(cand(variant(path, opts, frozenset(kept + [c])), f"plus-{c}", kept + [c]))
        )
        if r.verified:
            kept.append(c)
            last = r
            proof.decisions.append(Decision(c, True, "verified", _descriptions(singles[c], c), single_r[c].size))
        else:
            proof.decisions.append(
                Decision(
                    c,
                    False,
                    f"verified alone, but not together with {', '.join(kept)}: " + "; ".join(r.reasons),
                    _descriptions(singles[c], c),
                    single_r[c].size,
                )
            )
    return kept, last


def _size(session, build) -> int | None:
    try:
        return int(session.client.api.inspect_image(build.image_id).get("Size") or 0)
    except Exception:  # noqa: BLE001 - a size is a nicety; the verdict does not depend on it
        return None


def _descriptions(rep: FileReport, code: str) -> list[str]:
    return sorted(
        {
            f.fix.description or f.message
            for f in rep.result.applied
            if f.code == code and f.fix.applicability is Applicability.UNSAFE
        }
    )


def write(proof: Proof, opts: Options, committed: dict, run_cache: dict) -> FileReport:
    """Apply the proven rewrite (the kept unsafe fixes and every safe one) to the file."""
    o = replace(opts, write=True, unsafe_fixes=bool(proof.kept), unsafe_codes=proof.kept or None)
    rep = fix_file(proof.path, o, committed, run_cache)
    if proof.packages and rep.result is not None and rep.error is None:
        from .io import atomic_write, read_source

        rep = _patched(rep, proof.packages)
        try:
            atomic_write(proof.path, read_source(proof.path).encode(rep.result.output))
        except OSError as e:
            rep.error = f"{rep.display}: cannot write ({e.strerror or e})"
    return rep


def run(
    paths: list[Path], opts: Options, jobs: int = 2, progress: Progress | None = None, session_factory=None
) -> list[Proof]:
    """Prove every Dockerfile found under ``paths``; with ``opts.write`` apply each proven rewrite."""
    from .runner import collect

    files, errors = collect(paths)
    out = [Proof(r.path, r.display, error=r.error, exit_code=2) for r in errors]
    committed: dict[str, str] = {}
    run_cache: dict = {}
    for f in files:
        p = prove(f, opts, jobs, progress, session_factory)
        if opts.write and p.report is not None and p.exit_code == 0 and p.error is None:
            p.report = write(p, opts, committed, run_cache)
        out.append(p)
    return out


def _human(n: int | None) -> str:
    from .units import human_bytes

    return human_bytes(n) if n is not None else "?"


def summary_lines(p: Proof, write: bool) -> list[str]:
    from .secrets import mask

    if p.error:
        return [mask(f"error: {p.error}")]
    if p.safe_verified is None and not p.decisions:
        changed = p.report is not None and p.report.changed
        return [f"{p.display}: {'nothing to fix' if not changed else 'unchanged'} (no build needed)"]
    lines = [
        f"{p.display}: before {_human(p.size_before)}, safe rewrite {_human(p.size_safe)}, "
        f"{'written' if write and p.exit_code == 0 else 'proven'} {_human(p.size_after)}"
    ]
    if p.safe_verified is False:
        lines.append("  the SAFE rewrite did not verify -- nothing is changed (a slimml defect; please report it):")
        lines += [f"    {r}" for r in p.safe_reasons[:10]]
    for d in p.decisions:
        what = "; ".join(d.descriptions)[:160] or d.code
        if d.kept:
            lines.append(f"  kept    {d.code} (unsafe, verified by a build): {what}")
            if d.repair and d.repair.get("packages"):
                lines.append(f"          + runtime packages from evidence: {'; '.join(d.repair['reasons'])[:400]}")
        else:
            lines.append(f"  dropped {d.code}: {what} -- {d.why[:300]}")
    return [mask(x) for x in lines]


def to_json(p: Proof) -> dict:
    from .secrets import mask

    return {
        "path": p.display,
        "error": mask(p.error) if p.error else None,
        "exit_code": p.exit_code,
        "size": {"before": p.size_before, "safe": p.size_safe, "after": p.size_after},
        "safe_verified": p.safe_verified,
        "safe_reasons": [mask(r) for r in p.safe_reasons],
        "fixes": [
            {
                "code": d.code,
                "kept": d.kept,
                "why": mask(d.why),
                "descriptions": [mask(x) for x in d.descriptions],
                "size": d.size,
                "repair": d.repair,
            }
            for d in p.decisions
        ],
        "packages_added": p.packages,
        "diff": p.report.diff if p.report is not None else "",
    }
