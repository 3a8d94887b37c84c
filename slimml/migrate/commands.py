"""`slimml migrate`, `slimml report`, `slimml check`.

Only click is imported at load time (``slimml fix`` must stay fast): sqlite3, rich, the git
helpers and the runner are imported when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..clicolor import color_options, want_color

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _split_codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


def _check_codes(select, ignore) -> None:
    from ..rules import unknown_codes

    bad = unknown_codes(select + ignore)
    if bad:
        raise click.UsageError(f"unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--repos",
    "repos_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with one repo path or git URL per line (URLs are cloned into --workdir).",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Where clones, the state (.slimml/migrate.db) and the reports go.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="State database (default: WORKDIR/.slimml/migrate.db). Re-run with the same one to resume.",
)
@click.option(
    "--branch",
    default="slimml/slim-images",
    show_default=True,
    help="Branch created in each changed repo (one commit on top of its HEAD).",
)
@click.option(
    "--patches",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write one patch per repo into this folder instead of creating branches.",
)
@click.option("--dry-run", is_flag=True, help="Write nothing at all (no branch, no patch, no state); print the report.")
@click.option("--select", multiple=True, metavar="CODES", help="Only these rules (as for `slimml fix`).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option(
    "--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply unsafe fixes (each repo's config otherwise)."
)
@click.option(
    "--cache-mounts/--no-cache-mounts", default=None, help="SLM001: BuildKit cache mounts instead of no-cache flags."
)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPU count).")
@click.option("--retry-failed", is_flag=True, help="Also redo repos that failed in an earlier run.")
@click.option("--retry-skipped", is_flag=True, help="Also re-check repos skipped earlier (e.g. dirty, now committed).")
@click.option("--measure", is_flag=True, help="Build each changed Dockerfile before and after (`slimml measure`).")
@click.option(
    "--verify",
    is_flag=True,
    help="Keep each rule's unsafe fixes only where a real build verifies them (as `slimml fix --verify`); "
    "the safe rewrite is verified too, and a file that does not verify is left unchanged.",
)
@click.option(
    "--build-jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --measure/--verify: concurrent builds.",
)
@click.option(
    "--builder",
    metavar="NAME",
    help="With --measure: a remote BuildKit builder (default: the local engine / DOCKER_HOST).",
)
@click.option(
    "--cold-builds",
    is_flag=True,
    help="With --measure: build before and after without the build cache (slower), so the report can judge "
    "each image's build time against the < 5 min target; with the cache, build times are not judged.",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where migrate-report.{md,json,html} go (default: next to the state).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (for CI); errors and the final line only.")
# publishing: slimml/migrate/publish.py, docs/pull-requests.md
@click.option(
    "--push",
    "push_remote",
    metavar="REMOTE",
    help="Push each fixed repo's branch to REMOTE (a remote name, e.g. origin); a remote branch is only "
    "replaced when it holds this migration's own commit.",
)
@click.option(
    "--open-pr",
    type=click.Choice(["github", "gitlab", "gitea"]),
    help="Open or update one pull/merge request per fixed repo (implies --push origin). Token from "
    "GITHUB_TOKEN / GITLAB_TOKEN / GITEA_TOKEN or SLIMML_FORGE_TOKEN.",
)
@click.option(
    "--forge-url",
    metavar="URL",
    help="With --open-pr: the API base (GitHub Enterprise https://HOST/api/v3, GitLab https://HOST/api/v4, "
    "Gitea https://HOST/api/v1; required for gitea).",
)
@click.option(
    "--pr-base", metavar="BRANCH", help="With --open-pr: the base branch (default: the repo's default branch)."
)
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Only shard I of N (1-based): a stable 1/N of the repos by a hash of each repo's URL or name, "
    "with its own state (WORKDIR/.slimml/migrate-shard-I-of-N.db); `slimml report --merge` joins them.",
)
@click.option(
    "--docker-host",
    "docker_hosts",
    multiple=True,
    metavar="URL",
    help="With --measure/--verify: build on this engine (unix://, tcp://, ssh://); repeat for a pool: each "
    "build goes to the least-loaded engine, --build-jobs per engine, retried once elsewhere if its engine dies.",
)
@click.option(
    "--docker-context",
    "docker_contexts",
    multiple=True,
    metavar="NAME",
    help="With --measure/--verify: a Docker CLI context's engine joins the pool (repeatable).",
)
def migrate(
    roots,
    repos_file,
    workdir,
    state_path,
    branch,
    patches,
    dry_run,
    select,
    ignore,
    unsafe_fixes,
    cache_mounts,
    jobs,
    retry_failed,
    retry_skipped,
    measure,
    verify,
    build_jobs,
    builder,
    cold_builds,
    report_dir,
    quiet,
    push_remote,
    open_pr,
    forge_url,
    pr_base,
    shard_spec,
    docker_hosts,
    docker_contexts,
):
    """Apply slimml across many git repos: ROOT folders are searched recursively for repos.

    Each clean repo gets a branch with one commit (or a patch file); dirty repos and repos in the
    middle of a merge or rebase are skipped. Resumable: re-run the same command after a crash.
    """
    from .run import MigrateError, Plan
    from .run import migrate as run_migrate

    if not roots and repos_file is None:
        raise click.UsageError("give ROOT folder(s) or --repos FILE")
    if patches is not None and dry_run:
        raise click.UsageError("--patches and --dry-run cannot be combined (--dry-run writes nothing)")
    select, ignore = _split_codes(select), _split_codes(ignore)
    _check_codes(select, ignore)
    shard = _shard(shard_spec)
    measure_cfg = None
    if verify and builder is not None:
        raise click.UsageError(
            "--verify builds on the local engine (DOCKER_HOST) or the --docker-host pool; --builder is for --measure"
        )
    engines = _engines(docker_hosts, docker_contexts, measure or verify, builder)  # engine pool
    if measure or verify:
        measure_cfg = _measure_config(build_jobs, builder, "--verify" if verify else "--measure", engines)
        measure_cfg.update(select=select, ignore=ignore, unsafe_fixes=unsafe_fixes, verify=verify)
    elif builder is not None:
        raise click.UsageError("--builder is for --measure")
    if cold_builds and not measure:
        raise click.UsageError("--cold-builds is for --measure")
    if measure_cfg is not None and cold_builds:
        measure_cfg["cold"] = True
    plan = Plan(
        roots=list(roots),
        repos_file=repos_file,
        workdir=workdir,
        state_path=state_path,
        mode="dry-run" if dry_run else ("patch" if patches is not None else "branch"),
        branch=branch,
        patches=patches,
        select=select,
        ignore=ignore,
        unsafe_fixes=unsafe_fixes,
        cache_mounts=cache_mounts,
        jobs=jobs or 0,
        retry_failed=retry_failed,
        retry_skipped=retry_skipped,
        quiet=quiet,
        measure=measure_cfg,
        report_dir=report_dir,
        shard=shard,
    )
    plan.publish = _publish_config(push_remote, open_pr, forge_url, pr_base, patches, dry_run)
    try:
        outcome = run_migrate(plan)
    except MigrateError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)
    c = outcome.counts
    if outcome.report_text:
        click.echo(outcome.report_text, nl=False)
    line = (
        f"{sum(c.values())} repos: {c.get('fixed', 0)} fixed, {c.get('unchanged', 0)} unchanged, "
        f"{c.get('skipped', 0)} skipped, {c.get('failed', 0)} failed"
        + (
            f", {c.get('in-progress', 0) + c.get('pending', 0)} not finished"
            if c.get("in-progress") or c.get("pending")
            else ""
        )
        + f" ({outcome.processed} processed in {outcome.seconds:.1f}s)"
    )
    click.echo(line, err=True)
    if engines:  # builds per engine of the --docker-host pool
        from .engines import last_summary

        if last_summary():
            click.echo(last_summary(), err=True)
    if plan.publish:  # what --push / --open-pr did
        from .publish import summary

        click.echo(summary(outcome.publish, plan.publish), err=True)
    if outcome.reports:
        click.echo(f"reports: {', '.join(str(p) for p in outcome.reports)}", err=True)
    if outcome.interrupted:
        sys.exit(130)
    sys.exit(EXIT_ERROR if c.get("failed") or outcome.publish.get("failed") else EXIT_OK)


def _shard(spec: str | None) -> tuple[int, int] | None:
    if spec is None:
        return None
    from .shard import ShardError, parse

    try:
        return parse(spec)
    except ShardError as e:  # one line (a job engine's log shows the last line), exit 2, nothing written
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)


def _measure_config(build_jobs: int, builder: str | None, flag: str = "--measure", engines=None) -> dict:
    from . import measuring

    why = measuring.unavailable(engines)
    if why and engines:  # an engine of the pool does not answer: one line naming it, exit 2
        click.echo(f"error: {flag}: {why}", err=True)
        sys.exit(EXIT_ERROR)
    if why:
        raise click.UsageError(f"{flag} is not available: {why}")
    return {"build_jobs": build_jobs, "builder": builder, **({"engines": engines} if engines else {})}


def _engines(hosts: tuple[str, ...], contexts: tuple[str, ...], measuring: bool, builder: str | None) -> list:
    """The engine pool named by --docker-host/--docker-context (engines.py), [] when none."""
    if not (hosts or contexts):
        return []
    if not measuring:
        raise click.UsageError("--docker-host/--docker-context are for --measure/--verify")
    if builder is not None:
        raise click.UsageError(
            "--builder builds on a buildx builder; it cannot be combined with --docker-host/--docker-context"
        )
    from .engines import EngineError, resolve

    try:
        return resolve(hosts, contexts)
    except EngineError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)


@click.command()
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(".slimml/migrate.db"),
    show_default=True,
    help="The migration's state database.",
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json", "html"]), default="markdown", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to this file (default: stdout)."
)
@click.option(
    "--merge",
    is_flag=True,
    help="Combine the shard states given as arguments (`slimml report --merge DB [DB...]`, e.g. the "
    "migrate-shard-*-of-N.db of every `migrate --shard` job) into one report.",
)
@click.argument("merge_paths", nargs=-1, type=click.Path(path_type=Path, dir_okay=False), metavar="[DB...]")
@click.pass_context
def report(ctx, state_path, fmt, output, merge=False, merge_paths=()):
    """Report on a migration: totals, per-repo table, common findings, failures."""
    from . import report as rep
    from . import state

    if merge or merge_paths:
        data = _merged(ctx, merge, merge_paths)
    elif not state_path.is_file():
        click.echo(f"error: {state_path}: no migration state here (see `slimml migrate --state`)", err=True)
        sys.exit(EXIT_ERROR)
    conn = None
    try:
        if not (merge or merge_paths):
            conn = state.connect(state_path, readonly=True)
            if state.meta(conn, "schema") is None:
                raise state.StateError("not a slimml migration state")
            data = rep.collect(conn, state_path=state_path.resolve())
    except Exception as e:  # noqa: BLE001 - sqlite errors on a foreign file
        click.echo(f"error: {state_path}: not a readable migration state ({e})", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        if conn is not None:
            conn.close()
    if fmt == "json":
        text = rep.to_json(data)
    elif fmt == "html":
        text = rep.html(data, base=(output.resolve().parent if output else Path.cwd()))
    else:
        text = rep.markdown(data)
    if output:
        from ..io import atomic_write

        atomic_write(output, text.encode("utf-8"))
    else:
        click.echo(text, nl=False)


def _merged(ctx, merge: bool, paths: tuple[Path, ...]) -> dict:
    """`slimml report --merge DB...`: one report over shard states; a one-line error (exit 2) when they
    do not belong together."""
    from click.core import ParameterSource

    from . import report as rep
    from .shard import ShardError

    if not merge:
        raise click.UsageError("state files as arguments need --merge (or give one with --state)")
    if not paths:
        raise click.UsageError("--merge needs the state files to combine: slimml report --merge DB [DB...]")
    if ctx.get_parameter_source("state_path") is not ParameterSource.DEFAULT:
        raise click.UsageError("--state (one state) and --merge (several) cannot be combined")
    try:
        return rep.collect_merged(list(paths))
    except ShardError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text", show_default=True
)
@click.option(
    "--output",
    "--output-file",
    "-o",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file.",
)
@click.option("--select", multiple=True, metavar="CODES", help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option(
    "--context", type=click.Path(path_type=Path, file_okay=False), help="Build context folder (default: inferred)."
)
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Config file (default: nearest).")
@click.option(
    "--stdin-filename",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="With `-` (or no path): the Dockerfile's path, for the build context, .dockerignore and config.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (errors still exit 2).")
@color_options
@click.option("--quiet", "-q", is_flag=True, help="No summary line: the findings (or report) and errors only.")
@click.option(
    "--statistics", is_flag=True, help="The number of findings per rule instead of each finding (text or json)."
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Analyse every file again instead of reusing results of unchanged ones "
    "(cache: ~/.cache/slimml, or SLIMML_CACHE_DIR).",
)
def check(
    paths,
    fmt,
    output,
    select,
    ignore,
    context,
    config,
    stdin_filename,
    exit_zero,
    color,
    no_color,
    quiet,
    statistics,
    no_cache,
):
    """Detect only (CI): report findings in Dockerfiles (files or folders); exit 1 on findings.

    Exit codes: 0 nothing found; 1 findings; 2 a file could not be checked or bad options.
    """
    from .. import __version__
    from ..runner import Options, stdin_paths
    from . import check as chk

    try:  # `-`: the Dockerfile from stdin (issue 13, CLI conventions)
        paths, _ = stdin_paths(list(paths), stdin_filename)
    except ValueError as e:
        _fail(str(e))
    if statistics and fmt not in ("text", "json"):
        _fail(f"--statistics is a text or json report, not --format {fmt}")
    select, ignore = _split_codes(select), _split_codes(ignore)
    _check_codes(select, ignore)
    if context is not None and not context.is_dir():
        click.echo(f"error: --context {context}: not a directory", err=True)
        sys.exit(EXIT_ERROR)
    opts = Options(
        write=False,
        select=select,
        ignore=ignore,
        context=context,
        config=config,
        stdin_filename=stdin_filename,
        cache=not no_cache,
        findings_only=True,  # check reports the findings of the files as they are
    )
    from .. import fastexit

    fastexit.pause_gc_to_the_end()
    reports = chk.collect(paths, opts)
    colored = fmt == "text" and not output and want_color("never" if no_color else color, sys.stdout)
    text, summary = chk.render(reports, fmt, __version__, statistics=statistics, color=colored)
    if output:
        from ..io import atomic_write

        atomic_write(output, text.encode("utf-8"))
    elif text:
        click.echo(text, nl=False, color=colored)
    fastexit.allow()  # the report is printed or written (atomically): no interpreter teardown needed
    if statistics and fmt == "json":
        for line in chk.error_lines(reports):
            click.echo(line, err=True)  # the counts do not name them
    if quiet:
        pass  # no summary; the report (stdout or the file) names the errors
    elif fmt in ("text", "github") or output:
        click.echo(summary, err=True)
    if any(r.error for r in reports):
        sys.exit(EXIT_ERROR)
    if not exit_zero and any(r.result is not None and chk.actionable(r.result.findings) for r in reports):
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


# -- --push / --open-pr --------------------------------------------------------------------------------
def _publish_config(remote, kind, forge_url, pr_base, patches, dry_run) -> dict | None:
    """Validated publish options; bad ones (or no token) are a one-line error, exit 2, before anything
    is written. The token itself stays in the environment: each worker reads it when it needs it."""
    if remote is None and kind is None:
        if forge_url or pr_base:
            _fail("--forge-url and --pr-base are for --open-pr")
        return None
    flag = "--open-pr" if kind else "--push"
    if dry_run or patches is not None:
        _fail(
            f"{flag} publishes the migration's branches: it cannot be combined with "
            f"{'--dry-run' if dry_run else '--patches'}"
        )
    remote = remote or "origin"
    if not remote.strip() or remote.startswith("-") or any(c.isspace() for c in remote):
        _fail(f"--push {remote!r}: not a remote name")
    if kind is None:
        if forge_url or pr_base:
            _fail("--forge-url and --pr-base are for --open-pr")
        return {"remote": remote}
    from . import forge, gitops

    if pr_base is not None and not gitops.valid_branch(pr_base):
        _fail(f"--pr-base {pr_base!r} is not a valid branch name")
    url = forge.api_url(kind, forge_url)
    if url is None:
        _fail(f"--open-pr {kind} needs --forge-url (the API base, e.g. https://gitea.example.com/api/v1)")
    from urllib.parse import urlsplit

    u = urlsplit(url)
    loopback = (u.hostname or "") in ("localhost", "127.0.0.1", "::1")
    if u.scheme not in ("https", "http") or not u.hostname or (u.scheme == "http" and not loopback):
        _fail(f"--forge-url {url!r}: give an https:// URL (the token must not travel in clear text)")
    if forge.token(kind) is None:
        _fail(f"--open-pr {kind} needs a token: set {forge.TOKEN_ENV[kind]} (or {forge.OVERRIDE_ENV})")
    return {"remote": remote, "forge": kind, "forge_url": url, "pr_base": pr_base}


def _fail(message: str):
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)
