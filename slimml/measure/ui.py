"""Progress for ``slimml measure`` on stderr: a live rich display on a terminal, plain lines
otherwise (CI logs), nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time

from .run import _UI


class QuietUI(_UI):
    pass


class PlainUI(_UI):
    """One line per phase and per build step (no cursor tricks: fit for CI logs)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.started: dict[str, float] = {}

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def phase(self, text: str) -> None:
        self._say(f"slimml measure: {text}")

    def build_start(self, label: str, detail: str) -> None:
        self.started[label] = time.monotonic()
        self._say(f"  build {label} ({detail})")

    def build_event(self, label: str, kind: str, text: str) -> None:
        if kind == "step":
            self._say(f"    {label}: {text[:110]}")

    def build_end(self, label: str, result) -> None:
        state = "done" if result.ok else f"FAILED at {result.failed_step or 'build'}"
        self._say(f"  build {label}: {state} in {result.seconds:.1f} s")


class RichUI(_UI):
    """A live display: a spinner per build with its current step and latest output line."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[label]}[/bold]"),
            TextColumn("{task.description}", style="cyan"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.tasks: dict[str, int] = {}
        self.phase_task = self.progress.add_task("", label="measure", total=None)
        self.last_step: dict[str, str] = {}

    def phase(self, text: str) -> None:
        self.progress.update(self.phase_task, description=text)

    def build_start(self, label: str, detail: str) -> None:
        self.tasks[label] = self.progress.add_task(f"starting ({detail})", label=f"build {label}", total=None)

    def build_event(self, label: str, kind: str, text: str) -> None:
        task = self.tasks.get(label)
        if task is None:
            return
        if kind == "step":
            self.last_step[label] = text[:70]
            self.progress.update(task, description=self.last_step[label])
        else:
            step = self.last_step.get(label, "")
            self.progress.update(task, description=f"{step}  [dim]{text[:50]}[/dim]")

    def build_end(self, label: str, result) -> None:
        task = self.tasks.get(label)
        if task is None:
            return
        desc = (
            f"done ({result.steps and len(result.steps)} steps, {result.cached_steps} cached)"
            if result.ok
            else f"[red]failed at {result.failed_step or 'build'}[/red]"
        )
        self.progress.update(task, description=desc, total=1, completed=1)

    def close(self) -> None:
        self.progress.update(self.phase_task, description="done", total=1, completed=1)
        self.progress.stop()


def make_ui(quiet: bool) -> _UI:
    if quiet:
        return QuietUI()
    if sys.stderr.isatty():
        try:
            return RichUI()
        except Exception:  # noqa: BLE001 - no usable terminal: plain lines
            return PlainUI()
    return PlainUI()
