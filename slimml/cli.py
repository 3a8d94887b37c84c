"""Command line. Thin on purpose: parse options, call the runner, print, map to exit codes.

Exit codes: 0 clean or fixed; 1 ``--check`` found something to change; 2 error (bad input,
bad options) -- in a multi-file run the other files are still processed.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import click

from . import __version__
from .units import human_bytes as _human

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2


def _split_codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


def _fmt_counts(c: Counter) -> str:
    return ", ".join(f"{code} ×{n}" if n > 1 else code for code, n in sorted(c.items()))


def _colorize_diff(diff: str) -> str:
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(click.style(line, bold=True))
        elif line.startswith("+"):
            out.append(click.style(line, fg="green"))
        elif line.startswith("-"):
            out.append(click.style(line, fg="red"))
        elif line.startswith("@@"):
            out.append(click.style(line, fg="cyan"))
        else:
            out.append(line)
    return "".join(out)


def _summary_lines(report, write: bool) -> list[str]:
    from .engine import Applicability
    from .secrets import mask

    if report.error:
        return [f"error: {report.error}"]
    r = report.result
    applied = r.applied_counts()
    verb = "fixed" if write else "would fix"
    parts = []
    if applied:
        parts.append(f"{verb} {sum(applied.values())} ({_fmt_counts(applied)})")
    unsafe = Counter(f.code for f in r.unsafe_available)
    if unsafe:
        parts.append(f"{sum(unsafe.values())} unsafe fix(es) available with --unsafe-fixes ({_fmt_counts(unsafe)})")
    nofix = [f for f in r.remaining if f.fix is None]
    if not parts and not nofix:
        parts.append("nothing to fix")
    lines = [f"{report.display}: " + "; ".join(parts)] if parts else [f"{report.display}:"]
    for f in r.applied:
        if f.fix.applicability is Applicability.UNSAFE:
            lines.append(f"  {f.code} (unsafe) {f.fix.description or f.message}: {f.fix.reason}")
    for f in r.unsafe_available:
        lines.append(f"  {f.code} unsafe: {f.message} -- {f.fix.reason}")
    doc_lines = r.original
    for f in nofix:
        line = doc_lines.count("\n", 0, f.start) + 1
        lines.append(f"  {f.code} line {line}: {f.message}" + (f" (not fixed: {f.note})" if f.note else ""))
    if report.new_files:
        lines.append(f"  {'created' if write else 'would create'}: {', '.join(report.new_files)}")
    saved = r.estimated_savings()
    if saved:
        lines.append(f"  estimated saving (offline estimate; `slimml measure` gives the real number): "
                     f"{_human(saved[0])}-{_human(saved[1])}")
    if r.nonconverged:
        lines.append(f"  warning: fixes of {', '.join(r.nonconverged)} were withheld: they kept producing new fixes "
                     "(a slimml defect; please report it); the other fixes were applied")
    if r.reverted:
        lines.append(f"  warning: fixes from {', '.join(sorted(set(r.reverted)))} were reverted: they broke the file (please report this)")
    return [mask(x) for x in lines]


def _json_report(reports, write: bool) -> dict:
    from .secrets import mask

    files = []
    for rep in reports:
        entry: dict = {"path": rep.display, "error": rep.error}
        if rep.result is not None:
            r = rep.result

            def lc(off: int, text: str = r.original) -> list[int]:
                line = text.count("\n", 0, off) + 1
                return [line, off - (text.rfind("\n", 0, off) + 1) + 1]

            entry.update(
                status=("fixed" if write else "would-fix") if rep.changed else "unchanged",
                context=str(rep.context_dir) if rep.context_dir else None,
                findings=[
                    {
                        "code": f.code, "name": f.name, "message": mask(f.message),
                        "start": lc(f.start), "end": lc(f.end), "note": mask(f.note) or None,
                        "fix": None if f.fix is None else {
                            "applicability": f.fix.applicability.value,
                            "description": mask(f.fix.description),
                            "reason": mask(f.fix.reason) or None,
                            "relies_on": [mask(x) for x in f.fix.relies_on],
                        },
                        "estimate": None if f.estimate is None else {
                            "low": f.estimate[0], "high": f.estimate[1], "basis": f.estimate_basis},
                    }
                    for f in r.findings
                ],
                applied=dict(r.applied_counts()),
                unsafe_available=dict(Counter(f.code for f in r.unsafe_available)),
                unfixed=[{"code": f.code, "message": mask(f.message), "note": mask(f.note) or None}
                         for f in r.remaining if f.fix is None],
                estimate=None if r.estimated_savings() is None else {
                    "low": r.estimated_savings()[0], "high": r.estimated_savings()[1],
                    "basis": r.estimated_savings()[2], "kind": "offline estimate"},
                new_files=rep.new_files,
                written=rep.written,
                nonconverged=r.nonconverged,
                reverted=sorted(set(r.reverted)),
                diff=rep.diff,
            )
        else:
            entry["status"] = "error"
        files.append(entry)
    return {
        "version": 1,
        "files": files,
        "summary": {
            "files": len(reports),
            "changed": sum(1 for r in reports if r.changed),
            "errors": sum(1 for r in reports if r.error),
            "fixes": sum(sum(r.result.applied_counts().values()) for r in reports if r.result),
        },
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slimml")
def main() -> None:
    """slimml: rewrite ML service Dockerfiles into smaller, faster-to-rebuild images."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--write", "-w", is_flag=True, help="Apply the fixes (atomic; keeps mode, encoding, line endings).")
@click.option("--check", is_flag=True, help="Exit 1 if anything would change; write nothing.")
@click.option("--diff", "diff_only", is_flag=True, help="Print the unified diff only.")
@click.option("--select", multiple=True, metavar="CODES", help="Only these rules (codes, prefixes or names; comma-separated).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply fixes that may change what the image does.")
@click.option("--cache-mounts/--no-cache-mounts", default=None, help="SLM001: BuildKit cache mounts instead of no-cache flags.")
@click.option("--context", type=click.Path(path_type=Path, file_okay=False), help="Build context folder (default: inferred).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Config file (default: nearest .slimml.toml / pyproject.toml).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--color/--no-color", default=None, help="Colour the diff (default: when stdout is a terminal).")
@click.option("--verify", is_flag=True,
              help="Build the original and the rewrites (Docker engine) and keep each rule's unsafe fixes only if "
                   "the image still verifies; the safe rewrite is verified too.")
@click.option("--build-jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="With --verify: builds at a time.")
def fix(paths, write, check, diff_only, select, ignore, unsafe_fixes, cache_mounts, context, config, fmt, color,
        verify, build_jobs):
    """Fix Dockerfiles (files or folders). Dry run by default: prints the diff and a summary."""
    from .rules import unknown_codes
    from .runner import Options, run_fix

    if write and check:
        raise click.UsageError("--write and --check cannot be combined")
    select, ignore = _split_codes(select), _split_codes(ignore)
    bad = unknown_codes(select + ignore)
    if bad:
        raise click.UsageError(f"unknown rule code(s): {', '.join(bad)} (see `slimml rules`)")
    if context is not None and not context.is_dir():
        click.echo(f"error: --context {context}: not a directory", err=True)
        sys.exit(EXIT_ERROR)
    opts = Options(write=write, select=select, ignore=ignore, unsafe_fixes=unsafe_fixes,
                   cache_mounts=cache_mounts, context=context, config=config)
    if verify:
        if check:
            raise click.UsageError("--verify and --check cannot be combined")
        _fix_verified(list(paths) or [Path(".")], opts, build_jobs, fmt, write, color, diff_only)
    reports = run_fix(list(paths) or [Path(".")], opts)

    if fmt == "json":
        click.echo(json.dumps(_json_report(reports, write), indent=2))
    else:
        use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
        for rep in reports:
            if rep.diff and not write:
                click.echo(_colorize_diff(rep.diff) if use_color else rep.diff, nl=False)
        for rep in reports:
            if diff_only and not rep.error:
                continue
            for line in _summary_lines(rep, write):
                click.echo(line, err=True)
    if any(r.error for r in reports):
        sys.exit(EXIT_ERROR)
    if check and any(r.changed for r in reports):
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


def _fix_verified(paths, opts, jobs: int, fmt: str, write: bool, color, diff_only: bool) -> None:
    from . import proof

    quiet = fmt == "json"
    proofs = proof.run(paths, opts, jobs, None if quiet else (lambda text: click.echo(text, err=True)))
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "files": [proof.to_json(p) for p in proofs]}, indent=2))
    else:
        use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
        for p in proofs:
            if p.report is not None and p.report.diff and not write:
                click.echo(_colorize_diff(p.report.diff) if use_color else p.report.diff, nl=False)
        for p in proofs:
            if not diff_only or p.error:
                for line in proof.summary_lines(p, write):
                    click.echo(line, err=True)
    sys.exit(max((p.exit_code for p in proofs), default=EXIT_OK))


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
    for e in entries:
        click.echo(f"{e['code']}  {e['name']:<20} {e['fix']:<7} {e['summary']}")


def _register() -> None:
    # These modules import only click at load time; the Docker SDK, git and sqlite are imported
    # when a command runs, so `slimml fix` stays fast.
    from .measure.command import measure
    from .migrate.commands import check, migrate, report

    for cmd in (measure, migrate, report, check):
        main.add_command(cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
