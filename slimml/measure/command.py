"""`slimml measure`: real before/after builds with the Docker engine, and proof that the rewrite kept
the image's behaviour.

Only click is imported at load time: the Docker SDK, rich and the rest load when the command runs.
Exit codes: 0 the verification passed (or nothing to rewrite); 1 the verification failed or the
rewrite (or the ``--after`` file) does not build; 2 no engine, the original does not build, bad
input; 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _split_codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


@click.command()
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option(
    "--context", type=click.Path(path_type=Path, file_okay=False), help="Build context folder (default: inferred)."
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: nearest .slimml.toml / pyproject.toml).",
)
@click.option(
    "--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply fixes that may change what the image does."
)
@click.option(
    "--select", multiple=True, metavar="CODES", help="Only these rules (codes, prefixes or names; comma-separated)."
)
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option(
    "--after",
    "after",
    type=click.Path(path_type=Path),
    metavar="DOCKERFILE",
    help="Verify this other Dockerfile (built from the same context) instead of slimml's rewrite: "
    "a hand edit, or a pull request's Dockerfile against main.",
)
@click.option("--smoke", metavar="CMD", help="A shell command that must exit 0 in both images (run with /bin/sh -c).")
@click.option("--keep", is_flag=True, help="Keep the images and the temporary build folders (printed at the end).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress display (for CI).")
@click.option(
    "--builder",
    metavar="NAME",
    help="Build with `docker buildx build --builder NAME --load` (a remote BuildKit / build farm).",
)
@click.option(
    "--buildkit/--classic",
    "buildkit",
    default=None,
    help="Force BuildKit or the classic builder (default: BuildKit when a Dockerfile needs it).",
)
@click.option(
    "--cold/--use-cache",
    default=True,
    show_default=True,
    help="First builds without the build cache (cold), or with it.",
)
@click.option(
    "--rebuild/--no-rebuild", default=True, show_default=True, help="Time a rebuild of both after a source-only change."
)
@click.option("--touch", metavar="FILE", help="The application file (context-relative) the source-only change edits.")
@click.option(
    "--check-timeout",
    type=click.FloatRange(min=10),
    default=120.0,
    show_default=True,
    help="Seconds each verification container may run.",
)
@click.option(
    "--run/--no-run",
    "run_cmd",
    default=True,
    show_default=True,
    help="Run each image's real ENTRYPOINT/CMD (no network) and compare exit, ports and first answer.",
)
@click.option(
    "--run-timeout",
    type=click.FloatRange(min=5),
    default=60.0,
    show_default=True,
    help="Seconds the command is watched (a server: until its ports settle and it answers).",
)
@click.option(
    "--builtin-frontend",
    is_flag=True,
    help="Build the copies without their `# syntax=` line (the engine's built-in frontend; no registry).",
)
def measure(
    path,
    context,
    config,
    unsafe_fixes,
    select,
    ignore,
    after,
    smoke,
    keep,
    fmt,
    quiet,
    builder,
    buildkit,
    cold,
    rebuild,
    touch,
    check_timeout,
    run_cmd,
    run_timeout,
    builtin_frontend,
):
    """Build the original and the rewritten image, compare them, and verify the rewrite.

    Rewrites a copy of the Dockerfile and its context (your files are never touched), or takes
    the Dockerfile given with --after, builds both with the Docker engine at DOCKER_HOST (with
    BuildKit whenever it has it), and reports the size before/after, the layers, cold build times
    and the rebuild time after a source-only change on a build cache verified warm; then runs
    both images' real command and checks that the second kept the config, the Python environment
    the command uses, imports (the app's own modules too), native libraries, the programs the app
    runs and the files it reads.
    """
    from ..rules import unknown_codes
    from .plan import RewriteOptions
    from .report import to_json, to_markdown, to_text
    from .run import MeasureOptions, default_tmp, run_measure
    from .ui import make_ui

    select, ignore = _split_codes(select), _split_codes(ignore)
    bad = unknown_codes(select + ignore)
    if bad:
        raise click.UsageError(f"unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")
    if builder is not None and buildkit is False:
        raise click.UsageError("--builder builds with BuildKit; it cannot be combined with --classic")
    if context is not None and not context.is_dir():
        click.echo(f"error: --context {context}: not a directory", err=True)
        sys.exit(2)
    if after is not None:
        from .engine import MeasureError
        from .plan import read_dockerfile, resolve_dockerfile

        if unsafe_fixes or select or ignore:
            raise click.UsageError(
                "--after compares two given Dockerfiles: --unsafe-fixes, --select and --ignore "
                "choose slimml's rewrite and do not apply"
            )
        try:  # bad input is one line and exit 2, before any engine is contacted
            read_dockerfile(resolve_dockerfile(path))
            read_dockerfile(after)
        except MeasureError as e:
            click.echo(f"error: {e.message}", err=True)
            sys.exit(2)
    opts = MeasureOptions(
        rewrite=RewriteOptions(select=select, ignore=ignore, unsafe_fixes=unsafe_fixes, context=context, config=config),
        smoke=smoke,
        keep=keep,
        builder=builder,
        buildkit=buildkit,
        cold=cold,
        rebuild=rebuild,
        touch=touch,
        check_timeout=check_timeout,
        run=run_cmd,
        run_timeout=run_timeout,
        builtin_frontend=builtin_frontend,
        tmp_dir=default_tmp(),
        after=after,
    )
    ui = make_ui(quiet or fmt != "text" and not sys.stderr.isatty())
    try:
        report = run_measure(path, opts, ui)
    except KeyboardInterrupt:
        click.echo("slimml measure: interrupted; everything this run created was removed", err=True)
        sys.exit(130)
    if fmt == "json":
        click.echo(json.dumps(to_json(report), indent=2))
    elif fmt == "markdown":
        click.echo(to_markdown(report), nl=False)
    elif report.plan is not None or not report.error:
        click.echo(to_text(report), nl=False)
    if report.error:
        click.echo(f"error: {report.error}", err=True)
        for line in (report.error_detail or "").splitlines()[-25:] if report.before is None and report.plan else ():
            click.echo(f"  | {line}", err=True)
    sys.exit(report.exit_code)
