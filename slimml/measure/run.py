"""The whole measurement: rewrite a copy (or take the other Dockerfile given with ``--after``), build
both, compare sizes and layers, verify, and time a rebuild after a source-only change on a build
cache verified warm. Everything created is removed at the end (or kept with ``keep``), also on
Ctrl-C and SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .engine import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    BuildResult,
    Layer,
    MeasureError,
    Resources,
    build_buildkit,
    build_classic,
    connect,
    find_cli,
    layers,
)
from .plan import (
    Plan,
    RewriteOptions,
    apply_source_change,
    choose_source_file,
    features,
    final_base_image,
    materialize,
    name_copy_layers,
    pair,
    rewrite,
    syntax_directive,
)


@dataclass
class MeasureOptions:
    rewrite: RewriteOptions = field(default_factory=RewriteOptions)
    smoke: str | None = None
    keep: bool = False
    builder: str | None = None  # a buildx builder (remote BuildKit / build farm)
    buildkit: bool | None = None  # None: BuildKit whenever the engine has it; False: the classic builder
    cold: bool = True  # first builds without the cache
    rebuild: bool = True  # time a rebuild after a source-only change
    touch: str | None = None  # the file that change edits (context-relative); None: chosen
    check_timeout: float = 120.0
    run: bool = True  # run the images' real command
    run_timeout: float = 60.0
    builtin_frontend: bool = False
    tmp_dir: str | None = None
    after: Path | None = None  # verify this other Dockerfile (same context) instead of slimml's rewrite
    repair: bool = True  # a rewrite that does not verify: add the runtime packages its image lacks (repair.py)
    endpoint: object | None = None  # engine.Endpoint to build on (migrate's engine pool); None: DOCKER_HOST
    build_checks: bool = True  # BuildKit's own checks on both files, where the CLI and builder can (buildchecks.py)


@dataclass
class ImageReport:
    label: str
    tag: str
    image_id: str
    size: int
    build_seconds: float
    cold: bool
    builder: str
    base: str | None
    layers: list[Layer]
    steps: int
    cached_steps: int


@dataclass
class MeasureReport:
    dockerfile: str
    context: str | None = None
    plan: Plan | None = None
    builder: str | None = None
    before: ImageReport | None = None
    after: ImageReport | None = None
    rebuild: dict | None = None
    verification: object | None = None  # verify.Verification
    failure: dict | None = None  # the rewrite's failed build
    error: str | None = None
    error_detail: str = ""
    notes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    repair: dict | None = None  # repair.Repair.to_json() when the rewrite was repaired (or tried)
    exit_code: int = EXIT_OK
    interrupted: bool = False

    @property
    def other_label(self) -> str:
        """What the second image is: slimml's rewrite, or the other Dockerfile of ``--after``."""
        return "other Dockerfile" if self.plan is not None and self.plan.other is not None else "rewrite"

    @property
    def size_change(self) -> dict | None:
        if not (self.before and self.after):
            return None
        b, a = self.before.size, self.after.size
        return {
            "before": b,
            "after": a,
            "saved": b - a,
            "saved_percent": round(100.0 * (b - a) / b, 1) if b else 0.0,
            "ratio": round(a / b, 3) if b else None,
        }


class _UI:
    """The progress interface ``run_measure`` reports to (see ui.py for the real ones)."""

    def phase(self, text: str) -> None: ...

    def build_start(self, label: str, detail: str) -> None: ...

    def build_event(self, label: str, kind: str, text: str) -> None: ...

    def build_end(self, label: str, result: BuildResult) -> None: ...

    def close(self) -> None: ...


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    try:
        old = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def syntax_failure_message(label: str, text: str, other_text: str, result: BuildResult) -> str | None:
    """A clear message when a build failed because its ``# syntax=`` frontend could not be fetched."""
    ref = syntax_directive(text)
    if not ref:
        return None
    blob = "\n".join([result.error or "", result.failed_step or "", *result.log_tail])
    low = blob.lower()
    if not (ref.lower() in low or "frontend" in low or "resolve image config" in low):
        return None
    first = next((x.strip() for x in [result.error or "", *result.log_tail] if x.strip()), "")
    newer = features(text).newer_frontend + features(other_text).newer_frontend
    if newer:
        hint = (
            f"The files use {', '.join(newer)}, which needs that frontend: give the builder registry access "
            "(or load the image into it), or build on a builder that has it (--builder NAME)."
        )
    else:
        hint = (
            "Give the builder registry access (or load the image into it), build on a builder that has it "
            "(--builder NAME), or -- neither file uses a feature the engine's built-in frontend lacks -- rerun "
            "with --builtin-frontend to build both copies without the directive."
        )
    return (
        f"the {label} Dockerfile starts with `# syntax={ref}`: BuildKit must fetch the {ref} frontend image "
        f"from a registry, and this builder could not ({first[:300]}). {hint}"
    )


def choose_builder(
    texts: list[str], buildkit: bool | None = None, builder: str | None = None
) -> tuple[str, list[str], object, list[str]]:
    """(mode, why BuildKit is needed, docker CLI or None, notes). BuildKit whenever the engine has it
    (the classic builder reads files differently: ``COPY ../x``, ``RUN --mount``); the classic
    builder only when asked (``--classic``), or when no BuildKit-capable CLI exists and the files
    do not need it."""
    reasons = list(dict.fromkeys(r for t in texts for r in features(t).buildkit))
    if builder:
        return f"buildx:{builder}", reasons, find_cli("buildx"), []
    if buildkit is False:
        if reasons:
            raise MeasureError(f"--classic: the Dockerfiles need BuildKit ({', '.join(reasons)})")
        return "classic", reasons, None, ["built with the classic builder (--classic)"]
    try:
        cli = find_cli("buildkit")
    except MeasureError as e:
        if buildkit or reasons:
            raise
        return "classic", reasons, None, [f"BuildKit is not available ({e.message}); built with the classic builder"]
    return "buildkit", reasons, cli, []


def run_measure(path: Path, opts: MeasureOptions, ui: _UI | None = None, client=None) -> MeasureReport:
    ui = ui or _UI()
    report = MeasureReport(dockerfile=str(path))
    own_client = client is None
    if client is None:
        try:
            client = connect(endpoint=opts.endpoint)
        except MeasureError as e:
            ui.close()
            report.error, report.error_detail, report.exit_code = e.message, e.detail, e.exit_code
            return report
    try:
        return _run(path, opts, ui, client, report)
    finally:
        if own_client:
            with contextlib.suppress(Exception):
                client.close()


def _run(path: Path, opts: MeasureOptions, ui: _UI, client, report: MeasureReport) -> MeasureReport:
    res = Resources(client)
    try:
        with _sigterm_as_interrupt():
            _measure(path, opts, ui, client, res, report)
    except MeasureError as e:
        report.error, report.error_detail, report.exit_code = e.message, e.detail, e.exit_code
    except KeyboardInterrupt:
        report.interrupted = True
        report.error, report.exit_code = "interrupted; everything this run created was removed", 130
        opts.keep = False
        raise
    finally:
        ui.close()
        old = signal.getsignal(signal.SIGINT)
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        try:
            if opts.keep:
                report.kept = [*res.tags, *res.dirs]
            res.cleanup(keep=opts.keep)
        finally:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGINT, old)
        if res.errors:
            report.notes.append("clean-up: " + "; ".join(res.errors[:5]))
    return report


def build_one(
    client,
    res: Resources,
    ui: _UI,
    mode: str,
    cli,
    label: str,
    context: Path,
    dockerfile: Path,
    tag: str,
    no_cache: bool,
    builder: str | None,
    environ: dict | None = None,
) -> BuildResult:
    res.tags.append(tag)  # before the build: an interrupted build's tag is removed too
    ui.build_start(label, f"{mode}{', no cache' if no_cache else ''}")

    def progress(kind: str, text: str) -> None:
        ui.build_event(label, kind, text)

    if mode == "classic":
        result = build_classic(
            client, str(context), str(dockerfile), tag, no_cache=no_cache, progress=progress, resources=res
        )
    else:
        result = build_buildkit(
            client,
            cli,
            str(context),
            str(dockerfile),
            tag,
            no_cache=no_cache,
            builder=builder,
            progress=progress,
            resources=res,
            environ=environ,
        )
    ui.build_end(label, result)
    return result


def _image_report(client, label: str, result: BuildResult, base: str | None, cold: bool, text: str) -> ImageReport:
    info = client.api.inspect_image(result.image_id)
    lays = layers(client, result.image_id, base)
    name_copy_layers(lays, text)
    return ImageReport(
        label=label,
        tag=result.tag,
        image_id=result.image_id,
        size=int(info.get("Size") or 0),
        build_seconds=round(result.seconds, 2),
        cold=cold,
        builder=result.builder,
        base=base,
        layers=lays,
        steps=len(result.steps),
        cached_steps=result.cached_steps,
    )


def _measure(path: Path, opts: MeasureOptions, ui: _UI, client, res: Resources, report: MeasureReport) -> None:
    from .repair import applies
    from .verify import verify

    if opts.after is not None:
        ui.phase("reading both Dockerfiles")
        plan = pair(path, opts.after, opts.rewrite.context)
    else:
        ui.phase("rewriting a copy of the Dockerfile")
        plan = rewrite(path, opts.rewrite)
    report.plan, report.dockerfile, report.context = plan, str(plan.dockerfile), str(plan.context)
    other = report.other_label
    if not plan.changed:
        report.notes.append(
            "the two Dockerfiles are identical: nothing to measure"
            if plan.other is not None
            else "the rewrite changes nothing in this Dockerfile: nothing to measure"
        )
        return
    report.builder = f"buildx:{opts.builder}" if opts.builder else None
    mode, reasons, cli, notes = choose_builder([plan.before_text, plan.after_text], opts.buildkit, opts.builder)
    report.builder = mode
    report.notes.extend(notes)
    if reasons and mode != "classic":
        report.notes.append(f"built with BuildKit: {', '.join(reasons)}")
    materialize(plan, res, builtin_frontend=opts.builtin_frontend, tmp_parent=opts.tmp_dir)
    report.notes.extend(plan.notes)
    if opts.touch is not None:
        rel = Path(opts.touch)
        if rel.is_absolute() or ".." in rel.parts or not (plan.before_context / rel).is_file():
            raise MeasureError(f"--touch {opts.touch}: not a file in the build context (give a path relative to it)")
    run_id = uuid.uuid4().hex[:12]
    repo = f"slimml-measure/{run_id}"
    base_b, base_a = final_base_image(plan.before_text), final_base_image(plan.after_text)
    environ = opts.endpoint.cli_env() if opts.endpoint is not None else None

    def build(label: str, side: str, tag: str, no_cache: bool) -> BuildResult:
        ctx, df = (
            (plan.before_context, plan.before_dockerfile)
            if side == "before"
            else (plan.after_context, plan.after_dockerfile)
        )
        return build_one(client, res, ui, mode, cli, label, ctx, df, f"{repo}:{tag}", no_cache, opts.builder, environ)

    ui.phase("building the original")
    b = build("before", "before", "before", opts.cold)
    if not b.ok:
        msg = syntax_failure_message("original", plan.before_text, plan.after_text, b)
        if msg:
            raise MeasureError(msg, EXIT_ERROR)
        detail = "\n".join(b.log_tail)
        raise MeasureError(
            f"the original Dockerfile does not build (the {other} is not to blame): "
            f"{b.failed_step or 'build'}: {b.error}",
            EXIT_ERROR,
            detail=detail,
        )
    report.before = _image_report(client, "before", b, base_b, opts.cold, plan.before_text)

    ui.phase(f"building the {other}")
    a = build("after", "after", "after", opts.cold)
    if not a.ok:
        msg = syntax_failure_message(
            "other" if plan.other is not None else "rewritten", plan.after_text, plan.before_text, a
        )
        if msg:
            raise MeasureError(msg, EXIT_ERROR)
        report.failure = {"step": a.failed_step, "error": a.error, "log_tail": a.log_tail}
        report.exit_code = EXIT_FAIL
        return
    report.after = _image_report(client, "after", a, base_a, opts.cold, plan.after_text)

    ui.phase(f"verifying the {other}")
    vopts = _verify_options(plan, opts, plan.after_text)
    memo: dict = {}  # the original's probe results, reused when a repaired rewrite is verified again
    report.verification = verify(
        client, b.tag, a.tag, vopts, res, memo=memo, progress=lambda s: ui.phase(f"verifying: {s}")
    )
    report.exit_code = EXIT_OK if report.verification.verdict == "PASS" else EXIT_FAIL
    if (
        report.exit_code == EXIT_FAIL
        and plan.other is None
        and opts.repair
        and applies(plan.before_text, plan.after_text)
    ):
        _repair(plan, opts, ui, client, res, build, report, b, a, memo)
    if opts.build_checks:
        from .buildchecks import attach

        ui.phase("BuildKit build checks on both files")
        attach(report, plan, environ, opts.builder, _engine_version(client))
    if opts.rebuild:
        _rebuild(plan, opts, ui, build, report)


def _engine_version(client) -> str | None:
    try:
        return str(client.version().get("Version") or "") or None
    except Exception:  # noqa: BLE001 - only for the "not available" reason
        return None


def _verify_options(plan, opts, after_text: str):
    """The verification of ``after_text`` against the plan's original (the rewrite, or a repaired variant of it)."""
    from .verify import VerifyOptions

    return VerifyOptions.from_dockerfiles(
        plan.before_text,
        after_text,
        plan.before_context,
        dockerignore_before=plan.dockerignore_before,
        dockerignore_after=plan.dockerignore_after,
        rewrite_changed=plan.rewrite_changed,
        smoke=opts.smoke,
        timeout=opts.check_timeout,
        run=opts.run,
        run_timeout=opts.run_timeout,
        provided_text=_provided_text(plan),
    )


def _provided_text(plan: Plan) -> str:
    from .configparity import provided_text

    return provided_text(a for _, a in plan.side_files.values())


def _repair(
    plan: Plan,
    opts: MeasureOptions,
    ui: _UI,
    client,
    res: Resources,
    build,
    report: MeasureReport,
    b: BuildResult,
    a: BuildResult,
    memo: dict,
) -> None:
    """The rewrite built but does not verify: add the runtime packages its image lacks (repair.py), rebuild,
    verify again. The repaired rewrite replaces the measured one; an unrepairable one stays as it was."""
    from ..io import read_source
    from ..runner import _diff_lines
    from ..secrets import mask
    from .plan import replace_file
    from .repair import repair
    from .verify import verify

    source = read_source(plan.dockerfile)

    def attempt(text: str, label: str):
        replace_file(plan.after_dockerfile, source.encode(text))
        r = build(f"after ({label})", "after", f"after-{label}", opts.cold)
        if not r.ok:
            return None, (r, None), False, [f"does not build: {r.failed_step or 'build'}: {r.error}"]
        vo = _verify_options(plan, opts, text)
        v = verify(client, b.tag, r.tag, vo, res, memo=memo, progress=lambda s: ui.phase(f"verifying: {s}"))
        return r.tag, (r, v), v.verdict == "PASS", v.failures

    ui.phase("the rewrite does not verify: looking for the runtime libraries and programs its image lacks")
    rp = repair(client, b.tag, plan.after_text, a.tag, report.verification, attempt, resources=res, progress=ui.phase)
    report.repair = rp.to_json()
    if rp.verified:
        r, v = rp.result
        first = plan.diff.split("\n", 1)[0]
        name = first[len("--- a/") :] if first.startswith("--- a/") else plan.dockerfile.name
        old = mask("".join(_diff_lines(plan.before_text, plan.after_text, name)))
        rest = plan.diff[len(old) :] if plan.diff.startswith(old) else ""  # the side files' part
        plan.after_text = rp.text
        plan.diff = mask("".join(_diff_lines(plan.before_text, plan.after_text, name))) + rest
        report.after = _image_report(client, "after", r, final_base_image(rp.text), opts.cold, rp.text)
        report.verification, report.exit_code = v, EXIT_OK
        report.notes.append("the rewrite was repaired from evidence: " + rp.summary())
    else:
        replace_file(plan.after_dockerfile, source.encode(plan.after_text))  # the rebuild timing measures the rewrite
        if rp.evidence:
            report.notes.append("the rewrite could not be repaired: " + "; ".join(rp.evidence)[:600])


def _rebuild(plan: Plan, opts: MeasureOptions, ui: _UI, build, report: MeasureReport) -> None:
    """Rebuild times after a source-only change, on a build cache verified warm (see cache.py)."""
    from .cache import classify, speedup, unexpected

    skip = set(plan.rewrite_changed) | {r for r in (plan.dockerfile_rel, plan.other_rel) if r}
    rel = opts.touch or choose_source_file(
        plan.before_context,
        plan.before_text,
        plan.after_text,
        plan.dockerignore_before,
        plan.dockerignore_after,
        skip=skip,
    )
    if rel is None:
        report.notes.append("no application source file to edit for the rebuild timing (use --touch FILE)")
        return
    texts = {"before": plan.before_text, "after": plan.after_text}
    ui.phase("building both again without a change (the build cache must hold every step)")
    warm, warnings = {}, []
    for side in ("before", "after"):
        r = build(f"{side} (warm)", side, f"{side}-warm", False)
        steps = classify(r.step_cache, texts[side], None) if r.ok else []
        warm[side] = {"ok": r.ok, "steps": len(steps), "rebuilt": [s.name for s in steps if not s.cached]}
        if not r.ok:
            warnings.append(f"{side}: the warm build failed ({r.error})")
        elif warm[side]["rebuilt"]:
            warnings.append(
                f"{side}: {len(warm[side]['rebuilt'])} step(s) rebuilt without any change (the build "
                f"cache did not hold): {'; '.join(warm[side]['rebuilt'][:3])}"
            )
    verified = not warnings
    timed: dict = {}
    for attempt in (1, 2):
        ui.phase(f"rebuilding both after a source-only change to {rel}")
        # Different edits on each side: a step both files share must not be built once for both.
        apply_source_change(plan.before_context, rel, uuid.uuid4().hex[:8])
        apply_source_change(plan.after_context, rel, uuid.uuid4().hex[:8])
        timed = {side: build(f"{side} (rebuild)", side, f"{side}-rebuild", False) for side in ("before", "after")}
        steps = {side: classify(r.step_cache, texts[side], rel) for side, r in timed.items()}
        missed = {side: unexpected(st) for side, st in steps.items()}
        if not any(missed.values()) or attempt == 2:
            break
        ui.phase("a step expected from the cache was rebuilt: rebuilding once more")
    for side, names in missed.items():
        if names:
            warnings.append(
                f"{side}: {len(names)} step(s) expected from the cache were rebuilt: {'; '.join(names[:3])}"
            )
    verified = verified and not any(missed.values())
    rb, ra = timed["before"], timed["after"]
    sb, sa = (round(rb.seconds, 2) if rb.ok else None), (round(ra.seconds, 2) if ra.ok else None)
    ratio, why = speedup(sb, sa, verified)
    report.rebuild = {
        "file": rel,
        "verified": verified,
        "before_seconds": sb,
        "after_seconds": sa,
        "speedup": ratio,
        "no_speedup_reason": why,
        "before_cached_steps": sum(s.cached for s in steps["before"]),
        "before_steps": len(steps["before"]),
        "after_cached_steps": sum(s.cached for s in steps["after"]),
        "after_steps": len(steps["after"]),
        "steps": {side: [s.to_json() for s in st] for side, st in steps.items()},
        "warm": warm,
        "unexpected": missed,
        "warnings": warnings,
        "errors": [x for x in (None if rb.ok else f"before: {rb.error}", None if ra.ok else f"after: {ra.error}") if x],
    }


def default_tmp() -> str | None:
    return os.environ.get("SLIMML_MEASURE_TMP") or None
