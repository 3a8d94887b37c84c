"""The Python interpreter the image's command really runs, and the probe run with it.

The ENTRYPOINT/CMD words are looked up in the image (``command -v`` under the image's PATH and
USER, first line for shebangs); ``sh -c "..."`` strings are split; ``poetry run``/``uv run``/
``conda run``/... are asked for their interpreter (they pick a virtualenv of their own); an
entrypoint script that names no Python program itself is read and its commands looked up too.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

from . import probes
from .configparity import SHELLS, effective_argv
from .containers import RunResult, read_image_file, run_container

PY_RE = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?$")
# An entrypoint script that changes the environment before it execs the command (a venv or conda
# env activated, PATH exported): the command's words are looked up through it.
ACTIVATES_RE = re.compile(r"\b(export|activate|source|conda|micromamba|mamba)\b|\bPATH=|^\s*\.\s+\S", re.MULTILINE)
RUNNER_MARK = "SLIMML-PY "
RUNNER_PROBE = f"import sys; print({RUNNER_MARK!r} + sys.executable)"


def command_words(argv: list[str]) -> list[str]:
    """The words that may name the program: a ``sh -c "..."`` string is split into its words."""
    if argv and posixpath.basename(argv[0]) in SHELLS and "-c" in argv[1:]:
        i = argv.index("-c")
        script = argv[i + 1] if i + 1 < len(argv) else ""
        try:
            words = shlex.split(script)
        except ValueError:
            words = script.split()
        words = [w for w in words if w not in ("exec", "&&", "||", ";", "|") and not re.match(r"^\w+=", w)]
        return words + argv[i + 2 :]
    return list(argv)


def _shebang_program(first: str) -> str:
    parts = first[2:].strip().split()
    if not parts:
        return ""
    prog = parts[0]
    if posixpath.basename(prog) == "env":
        rest = [p for p in parts[1:] if not p.startswith("-") and "=" not in p]
        prog = rest[0] if rest else ""
    return prog


def pick_interpreter(
    argv: list[str], resolved: dict[str, tuple[str, str]], fallback: bool = True
) -> tuple[str | None, str]:
    """(interpreter path, how it was found) from the CMD words and their resolution in the image."""
    for w in command_words(argv)[:10]:
        if w.startswith("-"):
            continue
        base = posixpath.basename(w)
        path, first = resolved.get(w, ("", ""))
        if PY_RE.match(base):
            if path:
                return path, f"the CMD runs {w}"
            continue
        if first.startswith("#!"):
            prog = _shebang_program(first)
            if PY_RE.match(posixpath.basename(prog)):
                if prog.startswith("/"):
                    return prog, f"the CMD runs {w} ({first.strip()})"
                p = resolved.get(prog, ("", ""))[0]
                if p:
                    return p, f"the CMD runs {w} ({first.strip()})"
    if fallback:
        for name in ("python3", "python"):
            p = resolved.get(name, ("", ""))[0]
            if p:
                return p, f"{name} on the image's PATH (the CMD names no Python program)"
    return None, "no Python interpreter found"


def runner_prefix(words: list[str]) -> list[str] | None:
    """``["poetry", "run"]`` for ``poetry run python app.py`` (any RUN_WRAPPERS tool with its
    options), after ``env``/``exec``/... wrappers; None when the command is not run by one."""
    from ..dockerfile.shell import unwrap
    from ..knowledge.shell import RUN_WRAPPERS

    i = unwrap(words, run_wrappers=False)
    rest = words[i:]
    if len(rest) >= 2 and posixpath.basename(rest[0]) in RUN_WRAPPERS and rest[1] == "run":
        j = unwrap(rest, run_wrappers=True)
        return rest[:j] if j > 2 else rest[:2]
    return None


def resolve_words(
    client, image: str, words: list[str], user: str | None, timeout: float, resources=None
) -> dict[str, tuple[str, str]] | None:
    """word -> (path on the image's PATH, first line) for each word; None when the image has no sh."""
    r = run_container(
        client,
        image,
        entrypoint=["/bin/sh", "-c", probes.RESOLVE_SH, "sh"],
        command=words,
        user=user,
        timeout=timeout,
        resources=resources,
    )
    resolved = probes.parse_resolve(r.stdout)
    return resolved or None


def _ask_runner(client, image: str, prefix: list[str], user: str | None, timeout: float, resources) -> str | None:
    r = run_container(
        client,
        image,
        entrypoint=[*prefix, "python", "-c", RUNNER_PROBE],
        user=user,
        timeout=min(timeout, 90.0),
        resources=resources,
    )
    for line in reversed(r.stdout.splitlines()):
        if line.startswith(RUNNER_MARK) and line[len(RUNNER_MARK) :].startswith("/"):
            return line[len(RUNNER_MARK) :].strip()
    return None


@dataclass
class Resolution:
    interpreter: str | None
    how: str
    resolved: dict[str, tuple[str, str]] = field(default_factory=dict)  # CMD word -> (path, first line)

    @property
    def fallback(self) -> str | None:
        """python3/python on the image's PATH (what the file and ELF probes can run with)."""
        return next((self.resolved[n][0] for n in ("python3", "python") if self.resolved.get(n, ("", ""))[0]), None)

    def scripts(self) -> list[str]:
        """Shell scripts among the command's programs (entrypoint scripts), by path in the image."""
        return [
            p
            for p, first in self.resolved.values()
            if p.startswith("/") and first.startswith("#!") and posixpath.basename(_shebang_program(first)) in SHELLS
        ]


def resolve_interpreter(client, image: str, cfg: dict, timeout: float, resources=None) -> Resolution:
    argv = effective_argv(cfg)
    user = cfg.get("User") or None
    cw = command_words(argv)
    words = [w for w in cw[:10] if not w.startswith("-")]
    resolved = resolve_words(client, image, [*words, "python3", "python"], user, timeout, resources)
    if resolved is None:
        # No shell in the image: try the CMD's program if it names Python.
        first = next((w for w in cw if PY_RE.match(posixpath.basename(w))), None)
        return (
            Resolution(first, "the CMD's program (no /bin/sh to check it)")
            if first
            else Resolution(None, "no /bin/sh to look up the interpreter")
        )
    prefix = runner_prefix(cw)
    if prefix:
        path = _ask_runner(client, image, prefix, user, timeout, resources)
        if path:
            # A runner that finds no environment makes one, in its own throw-away container: only
            # an interpreter the image itself has is the command's.
            there = (resolve_words(client, image, [path], user, timeout, resources) or {}).get(path, ("", ""))[0]
            if there:
                return Resolution(path, f"the CMD runs under `{' '.join(prefix)}`, whose Python is {path}", resolved)
            return Resolution(
                None,
                f"`{' '.join(prefix)}` finds no environment in the image and makes a new, empty "
                f"one at every start ({path})",
                resolved,
            )
    through = _through_entrypoint(client, image, cfg, resolved, words, user, timeout, resources)
    if through:
        py, how = pick_interpreter(argv, through, fallback=False)
        if py:
            return Resolution(py, f"{how}, with the PATH its entrypoint script sets", {**resolved, **through})
    py, how = pick_interpreter(argv, resolved, fallback=False)
    if py:
        return Resolution(py, how, resolved)
    # An entrypoint script that runs Python itself (`exec gunicorn app:app`, no "$@"): its commands.
    res = Resolution(None, "", resolved)
    inner: list[str] = []
    for path in res.scripts():
        inner += _script_words(read_image_file(client, image, path, resources))
    if inner:
        more = resolve_words(client, image, inner[:20], user, timeout, resources) or {}
        py, how = pick_interpreter(inner[:20], {**resolved, **more}, fallback=False)
        if py:
            return Resolution(py, f"{how} (in the entrypoint script)", resolved)
    py, how = pick_interpreter(argv, resolved)
    return Resolution(py, how, resolved)


def _through_entrypoint(
    client, image: str, cfg: dict, resolved: dict, words: list[str], user: str | None, timeout: float, resources
) -> dict | None:
    """The command's words looked up by a shell the image's ENTRYPOINT script execs (``exec "$@"``)
    after changing the environment; None when the entrypoint is no such script or the lookup fails
    (an entrypoint that needs the network, say)."""
    from .configparity import EXEC_ARGS_RE

    entry = list(cfg.get("Entrypoint") or [])
    if not entry:
        return None
    path, first = resolved.get(entry[0], ("", ""))
    if not (path.startswith("/") and first.startswith("#!")):
        return None
    text = read_image_file(client, image, path, resources) or ""
    if not (EXEC_ARGS_RE.search(text) and ACTIVATES_RE.search(text)):
        return None
    r = run_container(
        client,
        image,
        entrypoint=entry,
        command=["/bin/sh", "-c", probes.RESOLVE_SH, "sh", *words, "python3", "python"],
        user=user,
        timeout=min(timeout, 60.0),
        resources=resources,
    )
    return probes.parse_resolve(r.stdout) or None


def _script_words(text: str | None) -> list[str]:
    from .appscan import shell_commands

    if not text:
        return []
    out = []
    try:
        for _argv, eff, _a, _s in shell_commands(text):
            out += [w for w in eff[:3] if w and "$" not in w and not w.startswith("-")]
    except Exception:  # noqa: BLE001 - a script tree-sitter cannot read
        return []
    return list(dict.fromkeys(out))


def run_probe(
    client,
    image: str,
    interpreter: str,
    mode: str,
    args: dict,
    *,
    user: str | None,
    timeout: float,
    resources=None,
    inject: list[tuple[str, bytes]] = (),
) -> tuple[dict | None, RunResult]:
    args = {**args, "budget": max(10.0, timeout - 10)}
    r = run_container(
        client,
        image,
        entrypoint=[interpreter, "-c", probes.PROBE_PY],
        command=[mode],
        env={"SLIMML_PROBE_ARGS": json.dumps(args), "PYTHONDONTWRITEBYTECODE": "1"},
        user=user,
        timeout=timeout,
        resources=resources,
        inject=inject,
    )
    return probes.parse_output(r.stdout), r
