"""What the installer strategies share: a recorded use of an installer, and the environment a split copies."""

from __future__ import annotations

from dataclasses import dataclass, field

from ....dockerfile.shell import Word


@dataclass
class Use:
    """One command of an installer, as a RUN runs it.

    ``tool``: pip | venv (makes a virtualenv) | activate | uv-pip | uv-sync | poetry | pipenv | pdm | conda.
    ``path``: where it installs when the command says so (a virtualenv's prefix, a project directory, a conda
    prefix); None when the command leaves it to the environment (PATH, VIRTUAL_ENV ...)."""

    tool: str
    ins_index: int
    line: int
    path: str | None = None
    cwd: str | None = None
    sub: str = ""
    words: list[Word] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # packages named on the command line (pip)
    flags: set[str] = field(default_factory=set)  # the options it was given (names only)
    detail: dict[str, str] = field(default_factory=dict)  # per tool: -n NAME, -f FILE, --python X ...


@dataclass
class Env:
    """The Python environment of the split: built in the builder, copied to the same paths in the runtime stage.

    ``make``: the planner creates its own virtualenv (``/opt/venv``) before the first install; otherwise the
    paths are environments the file makes itself (a virtualenv, a uv/pdm project environment, a conda prefix).
    ``env_lines``: ENV the builder needs for the installers to use that environment, and the runtime stage for
    the app to find it. ``after``: the index of an instruction the runtime stage's copy must follow (a COPY that
    filled the environment's directory before the environment was made). ``edits``: splices into install RUNs
    (file offsets) that point an installer at the environment."""

    kind: str  # pip | venv | uv | poetry | pipenv | pdm | conda (the strategy that made this plan)
    paths: list[str]
    make: bool
    env_lines: list[tuple[str, str]] = field(default_factory=list)
    after: int | None = None
    edits: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    tools: set[str] = field(default_factory=set)  # installer tools the copied environment contains
    desc: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gain: str = ""  # what the split leaves behind besides packages and the base (e.g. conda's package cache)

    def splice(self, ins_index: int, at: int, end: int, text: str) -> None:
        self.edits.setdefault(ins_index, []).append((at, end, text))
