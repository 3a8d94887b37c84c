"""Command line. Thin on purpose: parse options, call the runner, print, map to exit codes.

Exit codes: 0 clean or fixed; 1 ``--check`` found something to change; 2 error (bad input,
bad options) -- in a multi-file run the other files are still processed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from . import __version__, fastexit
from .clicolor import color_options, want_color

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2


def _split_codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


class _Out:
    """stdout or --output-file: what a run prints to stdout, written atomically at the end (so a failed
    run leaves an old report in place rather than half of a new one)."""

    def __init__(self, path: Path | None, color: bool):
        self.path, self.color, self.parts = path, color and path is None, []

    def echo(self, text: str | bytes, nl: bool = True) -> None:
        if self.path is None:
            click.echo(text, nl=nl, color=self.color)
        else:
            self.parts.append(text if isinstance(text, bytes) else (text + ("\n" if nl else "")).encode("utf-8"))

    def close(self) -> None:
        if self.path is not None:
            from .io import atomic_write

            atomic_write(self.path, b"".join(self.parts))


def _usage(message: str) -> NoReturn:
    """Bad options: one line on stderr, exit 2 (before anything is read or written)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _check_output_file(output_file: Path | None) -> None:
    if output_file is not None and not output_file.absolute().parent.is_dir():
        click.echo(f"error: --output-file {output_file}: its folder does not exist", err=True)
        sys.exit(EXIT_ERROR)


class _OneLineUsageError(click.UsageError):
    def show(self, file=None) -> None:
        message = " ".join(self.format_message().split())
        # One pointer per line: a message that already says where to look (`slimml rules`) keeps it.
        where = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None and "(see `" not in message else ""
        click.echo(f"error: {message}{where}", err=True)


class _Group(click.Group):
    """click's usage errors (an unknown option, a bad choice) as one line, like every other bad input."""

    @staticmethod
    def _one_line(e: click.UsageError) -> click.UsageError:
        if isinstance(e, _OneLineUsageError) or type(e).__name__ == "NoArgsIsHelpError":  # `slimml`: the help
            return e
        return _OneLineUsageError(e.format_message(), e.ctx)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as e:
            raise self._one_line(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise self._one_line(e) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="slimml")
def main() -> None:
    """slimml: rewrite ML service Dockerfiles into smaller, faster-to-rebuild images.

    Shell completion: eval "$(_SLIMML_COMPLETE=bash_source slimml)" (zsh_source, fish_source); see docs/cli.md.
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--write",
    "-w",
    is_flag=True,
    help="Apply the fixes (atomic; keeps mode, encoding, line endings; a symlink is written through). "
    "With `-` (stdin): print the fixed text.",
)
@click.option("--check", is_flag=True, help="Exit 1 if anything would change; write nothing.")
@click.option("--diff", "diff_only", is_flag=True, help="Print the unified diff only (never writes: not with --write).")
@click.option(
    "--select", multiple=True, metavar="CODES", help="Only these rules (codes, prefixes or names; comma-separated)."
)
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option(
    "--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply fixes that may change what the image does."
)
@click.option(
    "--cache-mounts/--no-cache-mounts", default=None, help="SLM001: BuildKit cache mounts instead of no-cache flags."
)
@click.option(
    "--resolve/--no-resolve",
    default=None,
    help="SLM012: resolve unpinned installs against the package index (network) and write a lock (an unsafe fix).",
)
@click.option(
    "--context", type=click.Path(path_type=Path, file_okay=False), help="Build context folder (default: inferred)."
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: nearest .slimml.toml / pyproject.toml).",
)
@click.option(
    "--stdin-filename",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="With `-` (or no path): the Dockerfile's path, for the build context, .dockerignore and config.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--output-file",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write what goes to stdout (diff, JSON, statistics, fixed text) to this file.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary: print the diff (or JSON) and errors only.")
@click.option(
    "--exit-zero", is_flag=True, help="With --check: exit 0 even when something would change (errors still exit 2)."
)
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the diff.")
@click.option("--show-fixes", is_flag=True, help="List each fix (rule and line) in the summary, not only the counts.")
@color_options
@click.option(
    "--verify",
    is_flag=True,
    help="Build the original and the rewrites (Docker engine) and keep each rule's unsafe fixes only if "
    "the image still verifies; the safe rewrite is verified too.",
)
@click.option(
    "--build-jobs", type=click.IntRange(min=1), default=2, show_default=True, help="With --verify: builds at a time."
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Analyse every file again instead of reusing results of unchanged "
    "ones (dry runs and --check; cache: ~/.cache/slimml or SLIMML_CACHE_DIR).",
)
def fix(
    paths,
    write,
    check,
    diff_only,
    select,
    ignore,
    unsafe_fixes,
    cache_mounts,
    resolve,
    context,
    config,
    stdin_filename,
    fmt,
    output_file,
    quiet,
    exit_zero,
    statistics,
    show_fixes,
    color,
    no_color,
    verify,
    build_jobs,
    no_cache,
):
    """Fix Dockerfiles (files or folders; `-` reads stdin). Dry run by default: prints the diff and a summary.

    Exit codes: 0 done (or nothing to change); 1 --check and something would change; 2 error.
    """
    from .rules import unknown_codes
    from .runner import Options, run_fix, stdin_paths

    if write and check:
        _usage("--write and --check cannot be combined")
    if write and diff_only:
        _usage("--diff and --write cannot be combined: --diff only shows the change (run --write alone to apply it)")
    if statistics and diff_only:
        _usage("--statistics and --diff cannot be combined")
    try:
        paths, stdin = stdin_paths(list(paths), stdin_filename)
    except ValueError as e:
        _usage(str(e))
    if stdin and verify:
        _usage("--verify builds files: it cannot read stdin")
    if stdin and write and (fmt == "json" or statistics):
        _usage(
            "with `-`, --write prints the fixed text: it cannot be combined with "
            + ("--format json" if fmt == "json" else "--statistics")
        )
    if output_file is not None and any(
        p.is_file() and os.path.samefile(p, output_file) for p in paths if output_file.exists()
    ):
        _usage(f"--output-file {output_file} is one of the Dockerfiles to fix")
    select, ignore = _split_codes(select), _split_codes(ignore)
    bad = unknown_codes(select + ignore)
    if bad:
        _usage(f"unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")
    if context is not None and not context.is_dir():
        click.echo(f"error: --context {context}: not a directory", err=True)
        sys.exit(EXIT_ERROR)
    _check_output_file(output_file)
    color = "never" if no_color else color
    out = _Out(output_file, want_color(color, sys.stdout))
    err_color = want_color(color, sys.stderr)
    opts = Options(
        write=write,
        select=select,
        ignore=ignore,
        unsafe_fixes=unsafe_fixes,
        cache_mounts=cache_mounts,
        resolve=resolve,
        context=context,
        config=config,
        stdin_filename=stdin_filename,
        cache=not no_cache,
    )
    if verify:
        if check:
            _usage("--verify and --check cannot be combined")
        _fix_verified(paths, opts, build_jobs, fmt, write, out, err_color, diff_only, quiet)
    fastexit.pause_gc_to_the_end()
    reports = run_fix(paths, opts)
    _print_fix(reports, out, fmt, write, diff_only, quiet, statistics, show_fixes, err_color)
    fastexit.allow()  # everything is printed and written (atomically): no interpreter teardown needed
    if any(r.error for r in reports):
        sys.exit(EXIT_ERROR)
    if check and not exit_zero and any(r.changed for r in reports):
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


def _stdout_gone() -> None:
    """The reader of stdout went away: later writes (and the interpreter's own flush) go nowhere, as a
    pipe's writer expects; the run's status is unchanged."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _print_fix(
    reports,
    out: _Out,
    fmt: str,
    write: bool,
    diff_only: bool,
    quiet: bool,
    statistics: bool,
    show_fixes: bool,
    err_color: bool,
) -> None:
    from .fixreport import colorize_diff, json_report, statistics_lines, summary_lines
    from .fixreport import statistics as stats_of

    try:
        if fmt == "json":
            out.echo(json.dumps(stats_of(reports) if statistics else json_report(reports, write), indent=2))
        elif statistics:
            for line in statistics_lines(stats_of(reports), write):
                out.echo(line)
        else:
            for rep in reports:
                if rep.stdout is not None and not diff_only:  # stdin with --write: the fixed text
                    out.echo(rep.stdout, nl=False)
                elif rep.diff and not write:
                    out.echo(colorize_diff(rep.diff) if out.color else rep.diff, nl=False)
        out.close()
    except BrokenPipeError:
        if out.path is not None:
            raise
        _stdout_gone()  # `slimml fix . | head`: the reader has what it wanted
    except OSError as e:
        where = f"--output-file {out.path}" if out.path is not None else "stdout"
        click.echo(f"error: {where}: cannot write ({e.strerror or e})", err=True)
        sys.exit(EXIT_ERROR)
    for rep in reports:
        if rep.error or not (quiet or diff_only or statistics or fmt == "json"):
            for line in summary_lines(rep, write, show_fixes, err_color):
                click.echo(line, err=True, color=err_color)


def _fix_verified(
    paths, opts, jobs: int, fmt: str, write: bool, out: _Out, err_color: bool, diff_only: bool, quiet: bool
) -> None:
    from . import proof
    from .fixreport import colorize_diff

    progress = fmt == "json" or quiet
    proofs = proof.run(paths, opts, jobs, None if progress else (lambda text: click.echo(text, err=True)))
    if fmt == "json":
        out.echo(json.dumps({"version": 1, "files": [proof.to_json(p) for p in proofs]}, indent=2))
    else:
        for p in proofs:
            if p.report is not None and p.report.diff and not write:
                out.echo(colorize_diff(p.report.diff) if out.color else p.report.diff, nl=False)
    try:
        out.close()
    except OSError as e:
        click.echo(f"error: --output-file {out.path}: cannot write ({e.strerror or e})", err=True)
        sys.exit(EXIT_ERROR)
    if fmt != "json":
        for p in proofs:
            if (not diff_only and not quiet) or p.error:
                for line in proof.summary_lines(p, write):
                    click.echo(line, err=True)
    sys.exit(max((p.exit_code for p in proofs), default=EXIT_OK))


def rules_table(entries: list[dict]) -> list[str]:
    """Aligned columns, each as wide as its widest cell; the summary last (it may be long)."""
    cols = [[e["code"] for e in entries], [e["name"] for e in entries], [e["fix"] for e in entries]]
    w = [max(len(c) for c in col) for col in cols]
    return [f"{e['code']:<{w[0]}}  {e['name']:<{w[1]}}  {e['fix']:<{w[2]}}  {e['summary']}".rstrip() for e in entries]


@main.command()
@click.argument("code", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules(code, fmt):
    """List the rules, or explain one (by code or name)."""
    from .rules import all_rules, get_rule
    from .rules.docs import rule_entry, rule_markdown

    if code:
        rule = get_rule(code)
        if rule is None:
            click.echo(f"error: unknown rule {code!r} (see `slimml rules`)", err=True)
            sys.exit(EXIT_ERROR)
        if fmt == "json":
            click.echo(json.dumps(rule_entry(rule), indent=2))
        else:
            click.echo(rule_markdown(rule))
        return
    entries = [rule_entry(r) for r in all_rules()]
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
        return
    for line in rules_table(entries):
        click.echo(line)


def _register() -> None:
    # These modules import only click at load time; the Docker SDK, git and sqlite are imported
    # when a command runs, so `slimml fix` stays fast.
    from .measure.command import measure
    from .migrate.commands import check, migrate, report

    for cmd in (measure, migrate, report, check):
        main.add_command(cmd)
    from .lsp.command import server  # `slimml server` (LSP); imports click only, pygls when it runs

    main.add_command(server)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()


def run() -> None:
    """The console script (and ``python -m slimml``): ``main``, ending without teardown where the command
    allows it (slimml.fastexit)."""
    fastexit.run(main)
